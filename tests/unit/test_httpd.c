/*
 * httpd on a loopback port, driven by raw client sockets on the same event
 * base: the loop is turned until the client has its answer (or its
 * connection closes), so every case runs in one thread.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "httpd.h"
#include "util.h"

#define LOOP_DEADLINE_MS 3000

static struct event_base *base;
static struct httpd *server;
static int port;

/* What the application saw and does. */
static size_t body_limit;
static int n_requests;
static int n_errors;
static int last_error;
static struct httpd_request *held; /* answered later when hold is set */
static bool hold;
static char last_body[256];
static int last_body_chains;

static bool answer_at_head; /* on_head answers 401 itself */

static size_t on_head(struct httpd_request *req, void *arg)
{
	if (answer_at_head) {
		httpd_send_reply(req, 401, NULL);
		return 0;
	}
	return body_limit;
}

static void on_request(struct httpd_request *req, void *arg)
{
	n_requests++;
	struct evbuffer *body = httpd_request_body(req);
	size_t n = evbuffer_get_length(body);
	if (n >= sizeof(last_body))
		n = sizeof(last_body) - 1;
	evbuffer_copyout(body, last_body, n);
	last_body_chains = evbuffer_peek(body, -1, NULL, NULL, 0);
	last_body[n] = '\0';
	if (hold) {
		held = req;
		return;
	}
	if (strcmp(httpd_request_path(req), "/big") == 0) {
		struct evbuffer *big = evbuffer_new();
		char chunk[65536] = {0};
		for (int i = 0; i < 256; i++)
			evbuffer_add(big, chunk, sizeof(chunk));
		httpd_send_reply(req, 200, big);
		evbuffer_free(big);
		return;
	}
	struct evbuffer *out = evbuffer_new();
	evbuffer_add_printf(out, "%s %s %s", httpd_request_method(req), httpd_request_path(req),
	                    last_body);
	httpd_add_header(req, "X-Test", "a\r\nInjected: yes");
	httpd_send_reply(req, 200, out);
	cr_assert_eq(evbuffer_get_length(out), 0, "the body was not moved");
	evbuffer_free(out);
}

static void on_error(struct httpd_request *req, int status, const char *message, void *arg)
{
	n_errors++;
	last_error = status;
	struct evbuffer *out = evbuffer_new();
	evbuffer_add_printf(out, "%d %s", status, message);
	httpd_send_reply(req, status, out);
	evbuffer_free(out);
}

static struct httpd_limits limits(void)
{
	return (struct httpd_limits){
	    .max_connections = 100,
	    .max_buffered_bytes = 1 << 20,
	    .head_timeout_ms = 2000,
	    .body_timeout_ms = 2000,
	    .body_total_ms = 5000,
	    .idle_timeout_ms = 2000,
	    .write_timeout_ms = 2000,
	};
}

/* A server with limits l on a fresh loopback port. */
static void start(struct httpd_limits l)
{
	base = event_base_new();
	server = httpd_new(base, &l, on_head, on_request, on_error, NULL);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 16), 0);
	socklen_t len = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	port = ntohs(sa.sin_port);
	cr_assert_eq(httpd_listen_fd(server, fd), 0);
}

static void setup(void)
{
	body_limit = 1024;
	n_requests = n_errors = last_error = 0;
	held = NULL;
	hold = false;
	answer_at_head = false;
	last_body[0] = '\0';
	start(limits());
}

static void teardown(void)
{
	server = httpd_free(server);
	event_base_free(base);
}

TestSuite(httpd, .init = setup, .fini = teardown);

/* A connected, non-blocking client socket. */
static int client(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons(port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static void say(int fd, const char *s)
{
	cr_assert_eq(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Turn the loop for ms (or until pred holds). */
static void turn(unsigned ms)
{
	uint64_t end = now_monotonic_ms() + ms;
	while (now_monotonic_ms() < end) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

/*
 * Read from fd while turning the loop until want bytes of answer text, EOF
 * or the deadline; returns what came (caller frees), *ret_eof says whether
 * the connection was closed.
 */
static char *hear(int fd, size_t want, bool *ret_eof)
{
	struct buf b = {0};
	bool eof = false;
	uint64_t end = now_monotonic_ms() + LOOP_DEADLINE_MS;
	buf_append(&b, "", 0);
	while (now_monotonic_ms() < end && b.len < want && !eof) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		char tmp[4096];
		ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
		if (n > 0)
			buf_append(&b, tmp, (size_t)n);
		else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			eof = true;
		else
			usleep(1000);
	}
	if (ret_eof)
		*ret_eof = eof;
	return b.data;
}

/* The whole exchange on a fresh connection, until the server closes it. */
static char *exchange(const char *request)
{
	int fd = client();
	say(fd, request);
	shutdown(fd, SHUT_WR);
	char *answer = hear(fd, SIZE_MAX, NULL);
	close(fd);
	return answer;
}

Test(httpd, answers_with_status_date_length_and_the_moved_body)
{
	_cleanup_free_ char *a = exchange("POST /x?q=1 HTTP/1.1\r\nHost: h\r\nContent-Length: "
	                                  "3\r\n\r\nabc");
	cr_assert(str_has_prefix(a, "HTTP/1.1 200 OK\r\n"), "%s", a);
	cr_assert(strstr(a, "\r\nDate: ") != NULL, "%s", a);
	cr_assert(strstr(a, "\r\nContent-Length: 11\r\n") != NULL, "%s", a);
	cr_assert(str_has_suffix(a, "\r\n\r\nPOST /x abc"), "%s", a);
}

Test(httpd, raw_path_query_and_header_lines_are_as_sent)
{
	hold = true;
	int fd = client();
	say(fd, "GET /a%2Fb\xff?x=%41&y HTTP/1.1\r\nHost: h\r\nX-A:  one \r\nx-a: two\r\n\r\n");
	for (int i = 0; i < LOOP_DEADLINE_MS / 10 && !held; i++)
		turn(10);
	cr_assert_not_null(held);
	cr_assert_str_eq(httpd_request_raw_path(held), "/a%2Fb\xff");
	cr_assert_str_eq(httpd_request_path(held), "/a%2Fb\xef\xbf\xbd", "repaired for the rest");
	cr_assert_str_eq(httpd_request_raw_query(held), "x=%41&y");
	cr_assert_eq(httpd_request_header_count(held), 3);
	const char *name, *value;
	httpd_request_header_at(held, 1, &name, &value);
	cr_assert_str_eq(name, "X-A");
	cr_assert_str_eq(value, "one");
	httpd_request_header_at(held, 2, &name, &value);
	cr_assert_str_eq(name, "x-a");
	cr_assert_str_eq(value, "two");
	httpd_send_reply(held, 200, NULL);
	close(fd);
}

Test(httpd, header_values_cannot_inject_lines)
{
	_cleanup_free_ char *a = exchange("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert(strstr(a, "\r\nX-Test: a  Injected: yes\r\n") != NULL, "%s", a);
	cr_assert(strstr(a, "\r\nInjected") == NULL, "%s", a);
}

Test(httpd, head_answers_without_a_body)
{
	_cleanup_free_ char *a = exchange("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert(strstr(a, "\r\nContent-Length: 7\r\n") != NULL, "%s", a);
	cr_assert(str_has_suffix(a, "\r\n\r\n"), "%s", a);
}

Test(httpd, malformed_head_goes_to_the_error_callback_and_closes)
{
	_cleanup_free_ char *a = exchange("GET / HTTP/1.1\r\n\r\n");
	cr_assert(str_has_prefix(a, "HTTP/1.1 400 Bad Request\r\n"), "%s", a);
	cr_assert(strstr(a, "\r\nConnection: close\r\n") != NULL, "%s", a);
	cr_assert_eq(n_errors, 1);
	cr_assert_eq(n_requests, 0);
}

Test(httpd, the_head_callback_may_answer_and_the_body_is_never_read)
{
	answer_at_head = true;
	char *a = exchange("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
	cr_assert(str_has_prefix(a, "HTTP/1.1 401 "), "%s", a);
	cr_assert_eq(n_requests, 0);
	free(a);
	answer_at_head = false;
}

Test(httpd, content_length_over_the_limit_is_refused_before_the_body)
{
	int fd = client();
	say(fd, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1025\r\n\r\n");
	bool eof;
	_cleanup_free_ char *a = hear(fd, SIZE_MAX, &eof);
	close(fd);
	cr_assert(str_has_prefix(a, "HTTP/1.1 413 Payload Too Large\r\n"), "%s", a);
	cr_assert(eof, "the connection stayed open");
	cr_assert_eq(n_requests, 0);
}

Test(httpd, expect_100_continue_is_answered_when_the_body_is_wanted)
{
	int fd = client();
	say(fd, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
	_cleanup_free_ char *a = hear(fd, 25, NULL);
	cr_assert_str_eq(a, "HTTP/1.1 100 Continue\r\n\r\n");
	say(fd, "hi");
	_cleanup_free_ char *b = hear(fd, 30, NULL);
	close(fd);
	cr_assert(str_has_prefix(b, "HTTP/1.1 200 OK\r\n"), "%s", b);
	cr_assert_str_eq(last_body, "hi");
}

Test(httpd, chunked_body_is_assembled)
{
	_cleanup_free_ char *a =
	    exchange("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
	             "chunked\r\n\r\n3\r\nabc\r\n2;x\r\nde\r\n0\r\nT: 1\r\n\r\n");
	cr_assert(str_has_prefix(a, "HTTP/1.1 200 OK\r\n"), "%s", a);
	cr_assert_str_eq(last_body, "abcde");
}

Test(httpd, chunked_body_over_the_limit_is_refused)
{
	body_limit = 4;
	_cleanup_free_ char *a = exchange("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
	                                  "chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
	cr_assert(str_has_prefix(a, "HTTP/1.1 413 "), "%s", a);
	cr_assert_eq(n_requests, 0);
	cr_assert_eq(httpd_buffered_bytes(server), 0);
}

Test(httpd, pipelined_requests_are_answered_in_order_on_one_connection)
{
	_cleanup_free_ char *a =
	    exchange("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
	             "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx"
	             "GET /3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
	const char *one = strstr(a, "GET /1 ");
	const char *two = strstr(a, "POST /2 x");
	const char *three = strstr(a, "GET /3 ");
	cr_assert(one && two && three && one < two && two < three, "%s", a);
	cr_assert_eq(n_requests, 3);
}

Test(httpd, http_1_0_closes_after_its_answer)
{
	int fd = client();
	say(fd, "GET / HTTP/1.0\r\n\r\n");
	bool eof;
	_cleanup_free_ char *a = hear(fd, SIZE_MAX, &eof);
	close(fd);
	cr_assert(eof);
	cr_assert(strstr(a, "\r\nConnection: close\r\n") != NULL, "%s", a);
}

Test(httpd, body_budget_refuses_what_does_not_fit_and_comes_back)
{
	teardown();
	struct httpd_limits l = limits();
	l.max_buffered_bytes = 100;
	start(l);
	int a = client(), b = client();
	say(a, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 60\r\n\r\nhalf");
	turn(50);
	cr_assert_eq(httpd_buffered_bytes(server), 60);
	say(b, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 60\r\n\r\n");
	_cleanup_free_ char *refused = hear(b, SIZE_MAX, NULL);
	cr_assert(str_has_prefix(refused, "HTTP/1.1 503 "), "%s", refused);
	say(a, "........................................................");
	_cleanup_free_ char *served = hear(a, 20, NULL);
	cr_assert(str_has_prefix(served, "HTTP/1.1 200 "), "%s", served);
	cr_assert_eq(httpd_buffered_bytes(server), 0);
	close(a);
	close(b);
}

Test(httpd, a_request_whose_client_left_can_still_be_answered)
{
	hold = true;
	int fd = client();
	say(fd, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	turn(50);
	cr_assert_not_null(held);
	close(fd);
	turn(50);
	httpd_send_reply(held, 200, NULL);
	turn(100);
	cr_assert_eq(httpd_connections(server), 0);
}

Test(httpd, a_held_request_is_freed_with_the_server)
{
	hold = true;
	int fd = client();
	say(fd, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	turn(50);
	cr_assert_not_null(held);
	close(fd);
	/* teardown frees the server, and with it the held request */
}

Test(httpd, slow_head_gets_408)
{
	teardown();
	struct httpd_limits l = limits();
	l.head_timeout_ms = 100;
	start(l);
	int fd = client();
	say(fd, "GET / HTTP/1.1\r\n");
	bool eof;
	_cleanup_free_ char *a = hear(fd, SIZE_MAX, &eof);
	close(fd);
	cr_assert(str_has_prefix(a, "HTTP/1.1 408 "), "%s", a);
	cr_assert(eof);
}

Test(httpd, slow_body_gets_408)
{
	teardown();
	struct httpd_limits l = limits();
	l.body_timeout_ms = 100;
	start(l);
	int fd = client();
	say(fd, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nab");
	bool eof;
	_cleanup_free_ char *a = hear(fd, SIZE_MAX, &eof);
	close(fd);
	cr_assert(str_has_prefix(a, "HTTP/1.1 408 "), "%s", a);
	cr_assert_eq(httpd_buffered_bytes(server), 0);
}

Test(httpd, idle_connection_is_closed_silently)
{
	teardown();
	struct httpd_limits l = limits();
	l.idle_timeout_ms = 100;
	start(l);
	int fd = client();
	say(fd, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	_cleanup_free_ char *a = hear(fd, 20, NULL);
	bool eof;
	_cleanup_free_ char *rest = hear(fd, SIZE_MAX, &eof);
	close(fd);
	cr_assert(eof);
	cr_assert(strstr(rest, "HTTP/1.1") == NULL, "%s", rest);
}

Test(httpd, at_the_cap_the_longest_idle_connection_makes_room)
{
	teardown();
	struct httpd_limits l = limits();
	l.max_connections = 2;
	start(l);
	int a = client();
	turn(20);
	int b = client();
	turn(20);
	int c = client();
	turn(50);
	/* Each newcomer at the cap closed the oldest idle one. */
	cr_assert_eq(httpd_connections(server), 1);
	bool eof;
	_cleanup_free_ char *gone = hear(a, SIZE_MAX, &eof);
	cr_assert(eof, "the oldest idle connection is still open");
	say(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	_cleanup_free_ char *served = hear(c, 20, NULL);
	cr_assert(str_has_prefix(served, "HTTP/1.1 200 "), "%s", served);
	close(a);
	close(b);
	close(c);
}

Test(httpd, at_the_cap_with_none_idle_newcomers_wait_in_the_backlog)
{
	teardown();
	struct httpd_limits l = limits();
	l.max_connections = 2;
	start(l);
	int a = client(), b = client();
	say(a, "GET / HTTP/1.1\r\n");
	say(b, "GET / HTTP/1.1\r\n");
	turn(50);
	int c = client();
	say(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	turn(100);
	cr_assert_eq(httpd_connections(server), 2);
	cr_assert_eq(n_requests, 0);
	close(a); /* room: c is accepted and served */
	_cleanup_free_ char *served = hear(c, 20, NULL);
	cr_assert(str_has_prefix(served, "HTTP/1.1 200 "), "%s", served);
	close(b);
	close(c);
}

Test(httpd, serves_a_unix_socket_passed_as_an_fd)
{
	char path[] = "/tmp/test_httpd.XXXXXX";
	int tmp = mkstemp(path);
	close(tmp);
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 4), 0);
	cr_assert_eq(httpd_listen_fd(server, fd), 0);

	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	fcntl(c, F_SETFL, O_NONBLOCK);
	say(c, "GET /u HTTP/1.1\r\nHost: h\r\n\r\n");
	_cleanup_free_ char *a = hear(c, 20, NULL);
	close(c);
	unlink(path);
	cr_assert(str_has_prefix(a, "HTTP/1.1 200 OK\r\n"), "%s", a);
}

Test(httpd, listens_on_a_tcp_host_and_port)
{
	cr_assert_eq(httpd_listen_tcp(server, "127.0.0.1", 0), 0);
	cr_assert_eq(httpd_listen_tcp(server, "192.0.2.1", 1), -EADDRNOTAVAIL); /* not ours */
}

Test(httpd, a_trickled_body_is_stored_densely)
{
	int fd = client();
	say(fd, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 200\r\n\r\n");
	turn(5);
	for (int i = 0; i < 200; i++) {
		say(fd, "x");
		turn(2);
	}
	_cleanup_free_ char *a = hear(fd, 20, NULL);
	close(fd);
	cr_assert(str_has_prefix(a, "HTTP/1.1 200 "), "%s", a);
	cr_assert_eq(strlen(last_body), 200);
	cr_assert_leq(last_body_chains, 2, "200 bytes in %d chains", last_body_chains);
}

Test(httpd, a_client_that_does_not_read_its_answer_is_closed)
{
	teardown();
	struct httpd_limits l = limits();
	l.write_timeout_ms = 100;
	start(l);
	int fd = client();
	int small = 4096;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	say(fd, "GET /big HTTP/1.1\r\nHost: h\r\n\r\n");
	turn(50);
	cr_assert_eq(httpd_connections(server), 1);
	turn(1000); /* 16 MiB cannot fit in the socket buffers */
	cr_assert_eq(httpd_connections(server), 0);
	close(fd);
}

static int drained_calls;

static void on_drained(void *arg)
{
	drained_calls++;
}

Test(httpd, held_listeners_leave_connections_in_the_backlog_until_started)
{
	httpd_hold(server, true);
	int fd = client(); /* the kernel completes the handshake */
	say(fd, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	turn(100);
	cr_assert_eq(httpd_connections(server), 0);
	cr_assert_eq(n_requests, 0);
	httpd_hold(server, false);
	_cleanup_free_ char *a = hear(fd, 20, NULL);
	close(fd);
	cr_assert(str_has_prefix(a, "HTTP/1.1 200 "), "%s", a);
}

Test(httpd, drain_answers_a_request_in_flight_with_connection_close)
{
	drained_calls = 0;
	hold = true;
	int fd = client();
	say(fd, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	turn(50);
	cr_assert_not_null(held);
	httpd_drain(server, on_drained, NULL);
	turn(400); /* past the idle grace: a busy connection is not idle */
	cr_assert_eq(drained_calls, 0);
	httpd_send_reply(held, 200, NULL);
	bool eof;
	_cleanup_free_ char *a = hear(fd, SIZE_MAX, &eof);
	close(fd);
	cr_assert(str_has_prefix(a, "HTTP/1.1 200 "), "%s", a);
	cr_assert(strstr(a, "Connection: close\r\n"), "%s", a);
	cr_assert(eof);
	turn(20);
	cr_assert_eq(drained_calls, 1);
}

Test(httpd, drain_serves_a_request_sent_just_after_it_began)
{
	drained_calls = 0;
	int fd = client();
	say(fd, "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n");
	_cleanup_free_ char *first = hear(fd, 20, NULL);
	cr_assert(str_has_prefix(first, "HTTP/1.1 200 "), "%s", first);
	turn(20);
	httpd_drain(server, on_drained, NULL);
	/* A client under load sends its next call on the kept-alive connection
	 * right away: it is answered, not reset. */
	say(fd, "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
	bool eof;
	_cleanup_free_ char *second = hear(fd, SIZE_MAX, &eof);
	close(fd);
	cr_assert(strstr(second, "HTTP/1.1 200 "), "%s", second);
	cr_assert(strstr(second, "GET /2"), "%s", second);
	cr_assert(strstr(second, "Connection: close\r\n"), "%s", second);
	turn(20);
	cr_assert_eq(drained_calls, 1);
}

Test(httpd, drain_closes_a_connection_left_idle_and_stops_accepting)
{
	drained_calls = 0;
	int fd = client();
	say(fd, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	_cleanup_free_ char *a = hear(fd, 20, NULL);
	turn(20);
	httpd_drain(server, on_drained, NULL);
	bool eof;
	_cleanup_free_ char *rest = hear(fd, SIZE_MAX, &eof);
	close(fd);
	cr_assert(eof, "an idle connection stayed open");
	cr_assert_str_empty(rest);
	cr_assert_eq(drained_calls, 1);
	/* The listener is closed: nothing is accepted any more. */
	int late = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons(port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_neq(connect(late, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(late);
}

Test(httpd, drain_with_no_connection_reports_drained_from_the_loop)
{
	drained_calls = 0;
	httpd_drain(server, on_drained, NULL);
	cr_assert_eq(drained_calls, 0, "called inside httpd_drain()");
	turn(10);
	cr_assert_eq(drained_calls, 1);
}

/* --- streaming answers ------------------------------------------------------ */

static int stream_drained, stream_gone;

/* Counts what the server reports about a streaming answer; ends it when
 * its client has gone. */
static void on_stream(struct httpd_request *req, enum httpd_stream_event ev, void *arg)
{
	if (ev == HTTPD_STREAM_DRAINED) {
		stream_drained++;
		return;
	}
	stream_gone++;
	held = NULL;
	httpd_stream_end(req);
}

/* A request held by the application, from a fresh client (in *ret_fd). */
static struct httpd_request *held_request(const char *request, int *ret_fd)
{
	hold = true;
	stream_drained = stream_gone = 0;
	*ret_fd = client();
	say(*ret_fd, request);
	turn(30);
	cr_assert_not_null(held);
	return held;
}

/* Writes s as one piece. */
static bool stream_say(struct httpd_request *req, const char *s)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, s, strlen(s));
	bool more = httpd_stream_write(req, b);
	cr_assert_eq(evbuffer_get_length(b), 0, "the piece was not moved");
	evbuffer_free(b);
	return more;
}

Test(httpd, a_streaming_answer_goes_out_in_chunks_as_they_are_written)
{
	int fd;
	struct httpd_request *req = held_request("POST /s HTTP/1.1\r\nHost: h\r\n\r\n", &fd);
	httpd_add_header(req, "Content-Type", "application/vnd.amazon.eventstream");
	cr_assert_eq(httpd_stream_begin(req, 200, on_stream, NULL), 0);
	cr_assert(stream_say(req, "first"));
	_cleanup_free_ char *head = hear(fd, 10000, NULL);
	cr_assert(str_has_prefix(head, "HTTP/1.1 200 OK\r\n"), "%s", head);
	cr_assert_not_null(strstr(head, "Transfer-Encoding: chunked\r\n"), "%s", head);
	cr_assert_null(strstr(head, "Content-Length"), "%s", head);
	cr_assert_not_null(strstr(head, "Content-Type: application/vnd.amazon.eventstream\r\n"));
	cr_assert(str_has_suffix(head, "\r\n\r\n5\r\nfirst\r\n"), "the first piece waited: %s",
	          head);
	cr_assert(stream_say(req, "second!"));
	_cleanup_free_ char *second = hear(fd, 12, NULL);
	cr_assert_str_eq(second, "7\r\nsecond!\r\n");
	httpd_stream_end(req);
	_cleanup_free_ char *end = hear(fd, 5, NULL);
	cr_assert_str_eq(end, "0\r\n\r\n");
	cr_assert_eq(httpd_buffered_bytes(server), 0, "the stream's reservation was kept");
	close(fd);
}

Test(httpd, after_a_streaming_answer_the_connection_serves_the_next_request)
{
	int fd;
	struct httpd_request *req = held_request("POST /s HTTP/1.1\r\nHost: h\r\n\r\n", &fd);
	cr_assert_eq(httpd_stream_begin(req, 200, on_stream, NULL), 0);
	stream_say(req, "x");
	httpd_stream_end(req);
	struct buf first = {0};
	for (int i = 0; i < 100 && !(first.len && str_has_suffix(first.data, "0\r\n\r\n")); i++) {
		_cleanup_free_ char *more = hear(fd, 1, NULL);
		buf_append(&first, more, strlen(more));
	}
	cr_assert(str_has_suffix(first.data, "\r\n\r\n1\r\nx\r\n0\r\n\r\n"), "%s", first.data);
	buf_reset(&first);
	hold = false;
	say(fd, "GET /again HTTP/1.1\r\nHost: h\r\n\r\n");
	_cleanup_free_ char *second = hear(fd, 20, NULL);
	cr_assert(str_has_prefix(second, "HTTP/1.1 200 "), "%s", second);
	close(fd);
}

Test(httpd, a_streaming_answer_to_http_1_0_runs_until_the_close)
{
	int fd;
	struct httpd_request *req = held_request("POST /s HTTP/1.0\r\n\r\n", &fd);
	cr_assert_eq(httpd_stream_begin(req, 200, on_stream, NULL), 0);
	stream_say(req, "abc");
	httpd_stream_end(req);
	bool eof = false;
	_cleanup_free_ char *all = hear(fd, SIZE_MAX, &eof);
	cr_assert(eof);
	cr_assert(str_has_suffix(all, "\r\n\r\nabc"), "%s", all);
	cr_assert_null(strstr(all, "chunked"), "%s", all);
	close(fd);
}

Test(httpd, a_slow_reader_makes_the_writer_wait_and_is_told_when_it_drained)
{
	int fd;
	struct httpd_request *req = held_request("POST /s HTTP/1.1\r\nHost: h\r\n\r\n", &fd);
	int small = 4096;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	cr_assert_eq(httpd_stream_begin(req, 200, on_stream, NULL), 0);
	static char piece[16385];
	memset(piece, 'p', sizeof(piece) - 1);
	int writes = 0;
	while (stream_say(req, piece) && writes < 1000) {
		writes++;
		turn(2);
	}
	cr_assert_lt(writes, 1000, "the writer was never told to wait");
	cr_assert_eq(stream_drained, 0);
	_cleanup_free_ char *all = hear(fd, (size_t)(writes + 1) * sizeof(piece), NULL);
	turn(20);
	cr_assert_eq(stream_drained, 1);
	httpd_stream_end(req);
	close(fd);
}

/* The bytes libevent holds, counted through its allocator hooks. */
static long long libevent_held;

static void *counting_malloc(size_t n)
{
	void *p = malloc(n);
	if (p)
		libevent_held += (long long)malloc_usable_size(p);
	return p;
}

static void *counting_realloc(void *old, size_t n)
{
	long long had = old ? (long long)malloc_usable_size(old) : 0;
	void *p = realloc(old, n);
	if (p)
		libevent_held += (long long)malloc_usable_size(p) - had;
	return p;
}

static void counting_free(void *p)
{
	if (p)
		libevent_held -= (long long)malloc_usable_size(p);
	free(p);
}

Test(httpd, a_slow_readers_small_pieces_cost_their_bytes_not_the_chains_they_came_in)
{
	/* A model's pieces are often a few bytes left in a buffer chain made
	 * for a whole socket read; what waits for a slow client must be
	 * bounded by its bytes, as HTTPD_STREAM_HIGH means. */
	teardown();
	event_set_mem_functions(counting_malloc, counting_realloc, counting_free);
	start(limits());
	int fd;
	struct httpd_request *req = held_request("POST /s HTTP/1.1\r\nHost: h\r\n\r\n", &fd);
	cr_assert_eq(httpd_stream_begin(req, 200, on_stream, NULL), 0);
	long long before = libevent_held;
	int writes = 0;
	bool more = true;
	while (more && writes < 100000) {
		struct evbuffer *b = evbuffer_new();
		evbuffer_expand(b, 4096); /* a chain the size of a read */
		evbuffer_add(b, "token 1 ", 8);
		more = httpd_stream_write(req, b);
		evbuffer_free(b);
		writes++;
	}
	cr_assert_not(more, "the writer was never told to wait");
	long long kept = libevent_held - before;
	cr_assert_lt(kept, 4 * HTTPD_STREAM_HIGH,
	             "%d pieces of 8 bytes hold %lld bytes of libevent's memory", writes, kept);
	httpd_stream_end(req);
	close(fd);
}

Test(httpd, a_client_that_hangs_up_mid_stream_is_reported_gone)
{
	int fd;
	struct httpd_request *req = held_request("POST /s HTTP/1.1\r\nHost: h\r\n\r\n", &fd);
	cr_assert_eq(httpd_stream_begin(req, 200, on_stream, NULL), 0);
	stream_say(req, "one");
	turn(20);
	close(fd);
	turn(50);
	cr_assert_eq(stream_gone, 1);
	cr_assert_eq(httpd_connections(server), 0);
	cr_assert_eq(httpd_buffered_bytes(server), 0);
}

Test(httpd, a_stream_that_does_not_fit_the_body_budget_is_refused)
{
	teardown();
	struct httpd_limits l = limits();
	l.max_buffered_bytes = HTTPD_STREAM_RESERVE - 1;
	start(l);
	int fd;
	struct httpd_request *req = held_request("POST /s HTTP/1.1\r\nHost: h\r\n\r\n", &fd);
	cr_assert_eq(httpd_stream_begin(req, 200, on_stream, NULL), -ENOBUFS);
	httpd_send_reply(req, 503, NULL);
	_cleanup_free_ char *answer = hear(fd, 20, NULL);
	cr_assert(str_has_prefix(answer, "HTTP/1.1 503 "), "%s", answer);
	close(fd);
}

Test(httpd, a_stream_holds_its_reservation_in_the_body_budget)
{
	int fd;
	struct httpd_request *req = held_request("POST /s HTTP/1.1\r\nHost: h\r\n\r\n", &fd);
	cr_assert_eq(httpd_stream_begin(req, 200, on_stream, NULL), 0);
	cr_assert_eq(httpd_buffered_bytes(server), HTTPD_STREAM_RESERVE);
	httpd_stream_end(req);
	cr_assert_eq(httpd_buffered_bytes(server), 0);
	close(fd);
}
