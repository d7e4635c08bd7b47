/*
 * httpc against an in-process evhttp server on the same event base: a
 * loopback TCP port (and a Unix socket) whose handlers answer at once, never,
 * too much, in chunks or in silence.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "httpc.h"
#include "util.h"

#define ERROR_SIZE 256

static struct event_base *base;
static struct evhttp *server;
static struct httpc *client;
static int port;
static char url[256];

/* What the server saw. */
static struct evhttp_connection *last_conn;
static int n_distinct_conns;

static void on_get(struct evhttp_request *req, void *arg)
{
	struct evbuffer *out = evbuffer_new();

	(void)arg;
	if (evhttp_request_get_connection(req) != last_conn) {
		last_conn = evhttp_request_get_connection(req);
		n_distinct_conns++;
	}
	evbuffer_add_printf(out, "hello");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

/* Answers with the method, the content type and the body it got. */
static void on_echo(struct evhttp_request *req, void *arg)
{
	struct evbuffer *out = evbuffer_new();
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	const char *expect = evhttp_find_header(evhttp_request_get_input_headers(req), "Expect");

	(void)arg;
	evbuffer_add_printf(out, "%s %s %s|",
	                    evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST" : "OTHER",
	                    ct ? ct : "-", expect ? expect : "-");
	evbuffer_add_buffer(out, evhttp_request_get_input_buffer(req));
	evhttp_send_reply(req, 201, "Created", out);
	evbuffer_free(out);
}

static void on_never(struct evhttp_request *req, void *arg)
{
	(void)req;
	(void)arg;
}

static void on_big(struct evhttp_request *req, void *arg)
{
	struct evbuffer *out = evbuffer_new();
	static char chunk[1024];

	(void)arg;
	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < 100; i++)
		evbuffer_add(out, chunk, sizeof(chunk));
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

/* Three chunks, 20 ms apart.  A stream the client dropped is freed at teardown. */
struct stream_state {
	struct evhttp_request *req;
	int sent;
	struct event *ev;
	bool over;
};
static struct stream_state *streams[8];
static size_t n_streams;

static void stream_next(evutil_socket_t fd, short what, void *arg)
{
	struct stream_state *st = arg;
	struct evbuffer *out;
	struct timeval tv = {0, 20000};

	(void)fd;
	(void)what;
	if (st->sent == 3) {
		evhttp_send_reply_end(st->req);
		st->over = true;
		return;
	}
	out = evbuffer_new();
	evbuffer_add_printf(out, "chunk%d\n", st->sent++);
	evhttp_send_reply_chunk(st->req, out);
	evbuffer_free(out);
	evtimer_add(st->ev, &tv);
}

static void on_stream(struct evhttp_request *req, void *arg)
{
	struct stream_state *st = xcalloc(1, sizeof(*st));

	(void)arg;
	cr_assert_lt(n_streams, ELEMENTSOF(streams));
	streams[n_streams++] = st;
	st->req = req;
	st->ev = evtimer_new(base, stream_next, st);
	evhttp_send_reply_start(req, 200, "OK");
	stream_next(-1, 0, st);
}

/* Headers, then nothing: the Engine's /events when nothing happens. */
static void on_silent(struct evhttp_request *req, void *arg)
{
	(void)arg;
	evhttp_send_reply_start(req, 200, "OK");
}

static void safety_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	cr_log_error("test loop ran too long");
	event_base_loopbreak(base);
}

static void setup(void)
{
	struct evhttp_bound_socket *bs;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	base = event_base_new();
	server = evhttp_new(base);
	evhttp_set_cb(server, "/get", on_get, NULL);
	evhttp_set_cb(server, "/echo", on_echo, NULL);
	evhttp_set_cb(server, "/never", on_never, NULL);
	evhttp_set_cb(server, "/big", on_big, NULL);
	evhttp_set_cb(server, "/stream", on_stream, NULL);
	evhttp_set_cb(server, "/silent", on_silent, NULL);
	bs = evhttp_bind_socket_with_handle(server, "127.0.0.1", 0);
	cr_assert_not_null(bs);
	getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl);
	port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	client = httpc_new(base);
	cr_assert_not_null(client);
}

static void teardown(void)
{
	client = httpc_free(client);
	for (size_t i = 0; i < n_streams; i++) {
		event_free(streams[i]->ev);
		free(streams[i]);
	}
	evhttp_free(server);
	event_base_free(base);
}

TestSuite(httpc, .init = setup, .fini = teardown, .timeout = 30);

/* Runs the loop until *count reaches want (or 10 s pass). */
static void run_until(const int *count, int want)
{
	struct event *safety = evtimer_new(base, safety_timeout, NULL);
	struct timeval tv = {10, 0};

	evtimer_add(safety, &tv);
	while (*count < want && !event_base_got_break(base))
		event_base_loop(base, EVLOOP_ONCE);
	event_free(safety);
}

struct result {
	int calls;
	int result;
	long status;
	char body[64]; /* the start of it */
	size_t body_len;
	char error[ERROR_SIZE];
	bool has_error;
	uint64_t at_ms;
	int *counter;
};

static void on_done(const struct httpc_response *r, void *userdata)
{
	struct result *res = userdata;

	res->calls++;
	res->result = r->result;
	res->status = r->status;
	snprintf(res->body, sizeof(res->body), "%s", r->body);
	res->body_len = r->body_len;
	snprintf(res->error, sizeof(res->error), "%s", r->error ? r->error : "");
	res->has_error = r->error != NULL;
	res->at_ms = now_monotonic_ms();
	if (res->counter)
		(*res->counter)++;
}

static char *path(const char *p)
{
	return xasprintf("%s%s", url, p);
}

Test(httpc, get_returns_status_and_body)
{
	_cleanup_free_ char *u = path("/get");
	struct result res = {0};

	httpc_start(client, &(struct httpc_request){.url = u, .timeout_ms = 5000}, on_done, &res);
	run_until(&res.calls, 1);
	cr_assert_eq(res.calls, 1);
	cr_assert_eq(res.result, 0, "%d %s", res.result, res.error);
	cr_assert_eq(res.status, 200);
	cr_assert_str_eq(res.body, "hello");
	cr_assert_not(res.has_error);
}

Test(httpc, post_body_and_content_type_reach_the_server_without_expect)
{
	_cleanup_free_ char *u = path("/echo");
	struct result res = {0};
	char body[4096];

	/* Big enough that curl would otherwise send Expect: 100-continue. */
	memset(body, 'b', sizeof(body));
	httpc_start(client,
	            &(struct httpc_request){.method = "POST",
	                                    .url = u,
	                                    .content_type = "application/json",
	                                    .body = body,
	                                    .body_len = sizeof(body),
	                                    .timeout_ms = 5000},
	            on_done, &res);
	memset(body, 0, sizeof(body)); /* the body was copied */
	run_until(&res.calls, 1);
	cr_assert_eq(res.result, 0, "%s", res.error);
	cr_assert_eq(res.status, 201);
	cr_assert(str_has_prefix(res.body, "POST application/json -|bbbb"), "%s", res.body);
	cr_assert_eq(res.body_len, strlen("POST application/json -|") + sizeof(body));
}

Test(httpc, total_timeout_fires_at_about_the_set_time)
{
	_cleanup_free_ char *u = path("/never");
	struct result res = {0};
	uint64_t t0 = now_monotonic_ms();

	httpc_start(client, &(struct httpc_request){.url = u, .timeout_ms = 300}, on_done, &res);
	run_until(&res.calls, 1);
	cr_assert_eq(res.result, -ETIMEDOUT, "%d", res.result);
	cr_assert(res.has_error);
	cr_assert(res.at_ms - t0 >= 290 && res.at_ms - t0 < 1000, "took %llu ms",
	          (unsigned long long)(res.at_ms - t0));
}

Test(httpc, connect_to_a_closed_port_is_refused_quickly)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct result res = {0};
	uint64_t t0;
	char u[64];

	/* A port that was just free and has no listener. */
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	close(fd);
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/", ntohs(sin.sin_port));
	t0 = now_monotonic_ms();
	httpc_start(client, &(struct httpc_request){.url = u, .timeout_ms = 5000}, on_done, &res);
	run_until(&res.calls, 1);
	cr_assert_eq(res.result, -ECONNREFUSED, "%d %s", res.result, res.error);
	cr_assert_eq(res.status, 0);
	cr_assert_lt(res.at_ms - t0, 500);
}

Test(httpc, response_over_max_fails_with_e2big)
{
	_cleanup_free_ char *u = path("/big");
	struct result res = {0};

	httpc_start(client,
	            &(struct httpc_request){.url = u, .timeout_ms = 5000, .max_response = 10000},
	            on_done, &res);
	run_until(&res.calls, 1);
	cr_assert_eq(res.result, -E2BIG, "%d %s", res.result, res.error);
	cr_assert_eq(res.status, 200);
}

Test(httpc, response_at_max_is_collected_whole)
{
	_cleanup_free_ char *u = path("/big");
	struct result res = {0};

	httpc_start(client,
	            &(struct httpc_request){.url = u, .timeout_ms = 5000, .max_response = 102400},
	            on_done, &res);
	run_until(&res.calls, 1);
	cr_assert_eq(res.result, 0, "%s", res.error);
	cr_assert_eq(res.body_len, 102400);
}

struct stream_sink {
	struct buf data;
	int chunks;
	int headers_calls;
	long headers_status;
	bool abort_on_headers;
	int abort_after;
	void (*hook)(void);
};

static bool sink_data(const char *data, size_t len, void *userdata)
{
	struct stream_sink *s = userdata;

	buf_append(&s->data, data, len);
	s->chunks++;
	if (s->hook)
		s->hook();
	return !(s->abort_after && s->chunks >= s->abort_after);
}

static bool sink_headers(long status, void *userdata)
{
	struct stream_sink *s = userdata;

	s->headers_calls++;
	s->headers_status = status;
	return !s->abort_on_headers;
}

struct stream_call {
	struct stream_sink sink;
	struct result res;
};

static void on_stream_done(const struct httpc_response *r, void *userdata)
{
	on_done(r, &((struct stream_call *)userdata)->res);
}

static void start_stream(struct stream_call *sc, const char *p)
{
	_cleanup_free_ char *u = path(p);

	httpc_start(
	    client,
	    &(struct httpc_request){.url = u, .on_data = sink_data, .on_headers = sink_headers},
	    on_stream_done, sc);
}

Test(httpc, streaming_hands_over_every_chunk)
{
	struct stream_call sc = {0};

	start_stream(&sc, "/stream");
	run_until(&sc.res.calls, 1);
	cr_assert_eq(sc.res.result, 0, "%s", sc.res.error);
	cr_assert_str_eq(sc.sink.data.data, "chunk0\nchunk1\nchunk2\n");
	free(sc.sink.data.data);
	cr_assert_geq(sc.sink.chunks, 2);
	cr_assert_eq(sc.sink.headers_calls, 1);
	cr_assert_eq(sc.sink.headers_status, 200);
	cr_assert_str_eq(sc.res.body, "", "a stream is not collected");
}

Test(httpc, streaming_reader_that_says_stop_ends_with_ecanceled)
{
	struct stream_call sc = {.sink.abort_after = 1};

	start_stream(&sc, "/stream");
	run_until(&sc.res.calls, 1);
	cr_assert_eq(sc.res.result, -ECANCELED, "%d %s", sc.res.result, sc.res.error);
	cr_assert_eq(sc.sink.chunks, 1);
	free(sc.sink.data.data);
}

Test(httpc, headers_of_a_silent_stream_are_reported)
{
	struct stream_call sc = {.sink.abort_on_headers = true};

	start_stream(&sc, "/silent");
	run_until(&sc.res.calls, 1);
	cr_assert_eq(sc.sink.headers_calls, 1);
	cr_assert_eq(sc.sink.headers_status, 200);
	cr_assert_eq(sc.res.result, -ECANCELED);
	cr_assert_eq(sc.sink.chunks, 0);
}

Test(httpc, done_runs_exactly_once_for_each_of_200_concurrent_requests)
{
	_cleanup_free_ char *u = path("/get");
	struct result res[200] = {{0}};
	int finished = 0;

	for (size_t i = 0; i < ELEMENTSOF(res); i++) {
		res[i].counter = &finished;
		httpc_start(client, &(struct httpc_request){.url = u, .timeout_ms = 10000}, on_done,
		            &res[i]);
	}
	cr_assert_eq(httpc_active(client), 200);
	run_until(&finished, 200);
	/* A few more turns: a second completion would show up here. */
	for (int i = 0; i < 20; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	for (size_t i = 0; i < ELEMENTSOF(res); i++) {
		cr_assert_eq(res[i].calls, 1, "request %zu: %d calls", i, res[i].calls);
		cr_assert_eq(res[i].result, 0, "request %zu: %s", i, res[i].error);
		cr_assert_str_eq(res[i].body, "hello");
	}
	cr_assert_eq(httpc_active(client), 0);
}

static struct result chain_res[2];

static void on_chain_done(const struct httpc_response *r, void *userdata)
{
	on_done(r, userdata);
	if (userdata == &chain_res[0]) {
		_cleanup_free_ char *u = path("/get");

		httpc_start(client, &(struct httpc_request){.url = u, .timeout_ms = 5000},
		            on_chain_done, &chain_res[1]);
	}
}

Test(httpc, sequential_requests_reuse_the_kept_alive_connection)
{
	_cleanup_free_ char *u = path("/get");

	httpc_start(client, &(struct httpc_request){.url = u, .timeout_ms = 5000}, on_chain_done,
	            &chain_res[0]);
	run_until(&chain_res[1].calls, 1);
	cr_assert_eq(chain_res[0].result, 0);
	cr_assert_eq(chain_res[1].result, 0);
	cr_assert_eq(n_distinct_conns, 1);
}

Test(httpc, missing_unix_socket_fails_cleanly)
{
	struct result res = {0};

	httpc_start(client,
	            &(struct httpc_request){.url = "http://localhost/_ping",
	                                    .unix_socket = "/nonexistent/endpointd-test.sock",
	                                    .timeout_ms = 5000},
	            on_done, &res);
	run_until(&res.calls, 1);
	cr_assert_eq(res.calls, 1);
	cr_assert_eq(res.result, -ENOENT, "%d %s", res.result, res.error);
	cr_assert_eq(res.status, 0);
	cr_assert(res.has_error);
}

Test(httpc, requests_go_over_a_unix_socket)
{
	char sockpath[] = "/tmp/httpc-test-XXXXXX";
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct evconnlistener *l;
	struct result res = {0};
	_cleanup_free_ char *sp = NULL;

	cr_assert_not_null(mkdtemp(sockpath));
	sp = xasprintf("%s/s", sockpath);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sp);
	l = evconnlistener_new_bind(base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE, -1,
	                            (struct sockaddr *)&sun, sizeof(sun));
	cr_assert_not_null(l);
	cr_assert_not_null(evhttp_bind_listener(server, l));
	httpc_start(client,
	            &(struct httpc_request){
	                .url = "http://localhost/get", .unix_socket = sp, .timeout_ms = 5000},
	            on_done, &res);
	run_until(&res.calls, 1);
	unlink(sp);
	rmdir(sockpath);
	cr_assert_eq(res.result, 0, "%s", res.error);
	cr_assert_str_eq(res.body, "hello");
}

static bool in_start;
static int done_inside_start;

static void on_done_check_reentry(const struct httpc_response *r, void *userdata)
{
	if (in_start)
		done_inside_start++;
	on_done(r, userdata);
}

Test(httpc, a_request_that_cannot_be_set_up_completes_later_from_the_loop)
{
	struct result res = {0};

	in_start = true;
	httpc_start(client, &(struct httpc_request){.url = NULL}, on_done_check_reentry, &res);
	in_start = false;
	cr_assert_eq(res.calls, 0);
	run_until(&res.calls, 1);
	cr_assert_eq(res.calls, 1);
	cr_assert_eq(done_inside_start, 0);
	cr_assert_eq(res.result, -EINVAL);
}

Test(httpc, cancelled_request_never_completes_and_others_go_on)
{
	_cleanup_free_ char *never = path("/never");
	_cleanup_free_ char *get = path("/get");
	struct result cancelled = {0}, res = {0};
	struct httpc_call *c;

	c = httpc_start_call(client, &(struct httpc_request){.url = never, .timeout_ms = 200},
	                     on_done, &cancelled);
	/* Let it connect and send, then give up on it. */
	for (int i = 0; i < 10; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	httpc_cancel(c);
	cr_assert_eq(httpc_active(client), 0);
	httpc_start(client, &(struct httpc_request){.url = get, .timeout_ms = 5000}, on_done, &res);
	run_until(&res.calls, 1);
	/* Past the cancelled request's own timeout. */
	struct timeval tv = {0, 400000};
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	cr_assert_eq(cancelled.calls, 0);
	cr_assert_eq(res.result, 0);
}

static void free_client_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	client = httpc_free(client);
}

Test(httpc, free_completes_running_requests_with_ecanceled)
{
	_cleanup_free_ char *u = path("/never");
	struct result res[3] = {{0}};
	int finished = 0;
	struct timeval tv = {0, 100000};

	for (size_t i = 0; i < ELEMENTSOF(res); i++) {
		res[i].counter = &finished;
		httpc_start(client, &(struct httpc_request){.url = u, .timeout_ms = 5000}, on_done,
		            &res[i]);
	}
	event_base_once(base, -1, EV_TIMEOUT, free_client_cb, NULL, &tv);
	run_until(&finished, 3);
	cr_assert_null(client);
	for (size_t i = 0; i < ELEMENTSOF(res); i++) {
		cr_assert_eq(res[i].calls, 1);
		cr_assert_eq(res[i].result, -ECANCELED);
	}
}

static void free_client_now(void)
{
	client = httpc_free(client);
}

Test(httpc, free_from_inside_a_stream_reader_is_safe)
{
	_cleanup_free_ char *u = path("/never");
	struct stream_call sc = {.sink.hook = free_client_now};
	struct result other = {0};
	int finished = 0;

	other.counter = &finished;
	sc.res.counter = &finished;
	httpc_start(client, &(struct httpc_request){.url = u, .timeout_ms = 5000}, on_done, &other);
	start_stream(&sc, "/stream");
	run_until(&finished, 2);
	cr_assert_null(client);
	cr_assert_eq(sc.res.calls, 1);
	cr_assert_eq(sc.res.result, -ECANCELED);
	cr_assert_eq(other.calls, 1);
	cr_assert_eq(other.result, -ECANCELED);
	free(sc.sink.data.data);
}

/* --- Answers a strict client refuses, from a raw server --- */

/* A loopback server that answers every request head with the canned answer
 * its path names (/raw/N), keeping the connection open. */
static struct evconnlistener *raw_listener;
static int raw_port;
static int raw_accepts;
static struct bufferevent *raw_bevs[16]; /* NULL once closed */

struct raw_case {
	const char *what;
	const char *answer;
	int want;
};

#define RAW_OK_HEAD "HTTP/1.1 200 OK\r\n"
static const struct raw_case raw_cases[] = {
    {"Content-Length and Transfer-Encoding both",
     RAW_OK_HEAD "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
     -EPROTO},
    {"a Content-Length with +", RAW_OK_HEAD "Content-Length: +2\r\n\r\nok", -EPROTO},
    {"a Content-Length of two numbers", RAW_OK_HEAD "Content-Length: 2 2\r\n\r\nok", -EPROTO},
    {"a header line ended by a bare LF", RAW_OK_HEAD "X-A: 1\nContent-Length: 2\r\n\r\nok",
     -EPROTO},
    /* curl's own chunk parser refuses it, as a receive error. */
    {"a chunk size of -0", RAW_OK_HEAD "Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n-0\r\n\r\n",
     -ECONNRESET},
};

/* Reads request heads and answers each with its case. */
static void raw_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);

	(void)arg;
	for (;;) {
		struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
		char head[512];
		size_t n;
		const char *p;

		if (end.pos < 0)
			return;
		n = (size_t)end.pos + 4 < sizeof(head) - 1 ? (size_t)end.pos + 4 : sizeof(head) - 1;
		evbuffer_remove(in, head, n);
		head[n] = '\0';
		p = strstr(head, "/raw/");
		if (p && (size_t)atoi(p + 5) < ELEMENTSOF(raw_cases)) {
			const char *a = raw_cases[atoi(p + 5)].answer;

			bufferevent_write(bev, a, strlen(a));
		} else {
			static const char ok[] = RAW_OK_HEAD "Content-Length: 5\r\n\r\nhello";

			bufferevent_write(bev, ok, strlen(ok));
		}
	}
}

static void raw_event(struct bufferevent *bev, short what, void *arg)
{
	struct bufferevent **slot = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		bufferevent_free(bev);
		*slot = NULL;
	}
}

static void raw_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                       void *arg)
{
	struct bufferevent *bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);

	(void)l;
	(void)sa;
	(void)salen;
	(void)arg;
	cr_assert_lt(raw_accepts, ELEMENTSOF(raw_bevs));
	raw_bevs[raw_accepts] = bev;
	bufferevent_setcb(bev, raw_read, NULL, raw_event, &raw_bevs[raw_accepts]);
	raw_accepts++;
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* The raw server, on a fresh port. */
static void raw_setup(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);

	setup();
	raw_listener = evconnlistener_new_bind(base, raw_accept, NULL,
	                                       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	                                       (struct sockaddr *)&sin, sizeof(sin));
	cr_assert_not_null(raw_listener);
	getsockname(evconnlistener_get_fd(raw_listener), (struct sockaddr *)&sin, &sl);
	raw_port = ntohs(sin.sin_port);
}

static void raw_teardown(void)
{
	client = httpc_free(client);
	evconnlistener_free(raw_listener);
	for (int i = 0; i < raw_accepts; i++)
		if (raw_bevs[i])
			bufferevent_free(raw_bevs[i]);
	teardown();
}

TestSuite(httpc_raw, .init = raw_setup, .fini = raw_teardown, .timeout = 30);

/* GETs path on the raw server and waits. */
static void raw_get(const char *p, struct result *res)
{
	_cleanup_free_ char *u = xasprintf("http://127.0.0.1:%d%s", raw_port, p);

	httpc_start(client, &(struct httpc_request){.url = u, .timeout_ms = 5000}, on_done, res);
	run_until(&res->calls, 1);
	cr_assert_eq(res->calls, 1);
}

ParameterizedTestParameters(httpc_raw, strict_client_refuses_the_answer)
{
	size_t n = ELEMENTSOF(raw_cases);
	size_t *idx = cr_calloc(n, sizeof(*idx));

	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, n, NULL);
}

ParameterizedTest(size_t *i, httpc_raw, strict_client_refuses_the_answer)
{
	_cleanup_free_ char *p = xasprintf("/raw/%zu", *i);
	struct result res = {0};

	raw_get(p, &res);
	cr_assert_eq(res.result, raw_cases[*i].want, "%s: %d %s", raw_cases[*i].what, res.result,
	             res.error);
	cr_assert(res.has_error);
}

ParameterizedTestParameters(httpc_raw, refused_answer_does_not_leave_its_connection_for_reuse)
{
	size_t n = ELEMENTSOF(raw_cases);
	size_t *idx = cr_calloc(n, sizeof(*idx));

	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, n, NULL);
}

ParameterizedTest(size_t *i, httpc_raw, refused_answer_does_not_leave_its_connection_for_reuse)
{
	_cleanup_free_ char *p = xasprintf("/raw/%zu", *i);
	struct result bad = {0}, next = {0};

	raw_get(p, &bad);
	raw_get("/fine", &next);
	cr_assert_eq(next.result, 0, "%d %s", next.result, next.error);
	cr_assert_str_eq(next.body, "hello");
	cr_assert_eq(raw_accepts, 2, "%s: the connection was reused", raw_cases[*i].what);
}

Test(httpc_raw, plain_answers_reuse_the_connection)
{
	struct result a = {0}, b = {0};

	raw_get("/fine", &a);
	raw_get("/fine", &b);
	cr_assert_eq(b.result, 0, "%d %s", b.result, b.error);
	cr_assert_eq(raw_accepts, 1);
}
