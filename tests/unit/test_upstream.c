/*
 * upstream against a scripted HTTP/1.1 server on the same event base: a
 * loopback listener whose connections read whole requests, record them (with
 * the connection they came on) and answer as the path says: with a length,
 * in chunks, until close, after 100 Continue, with nothing, with garbage,
 * with too much, or by hanging up.  The upstream_dialer suite adds a dialer:
 * the real endpointd-dialer pointed at that server, or the test answering by
 * hand as a fake one.
 *
 * Results live in a static pool rather than on a test's stack: when an
 * assertion ends a test early, teardown's upstream_free() still completes
 * the calls left running, and their done must find live memory.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dialer.h"
#include "upstream.h"
#include "util.h"

/* One connection the server accepted. */
struct srv_conn {
	struct bufferevent *bev; /* NULL once closed */
	int id;                  /* 1 for the first accepted */
	int served;              /* requests read on it */
	bool close_when_flushed;
	struct evbuffer *dribble; /* bytes still to write one at a time */
	struct event *dribble_ev;
	const char *const *pieces; /* written one each PIECE_GAP_MS, NULL-ended */
	size_t next_piece;
	bool close_after_pieces;
	struct event *piece_ev;
};

/* The time between two pieces of a streamed answer. */
#define PIECE_GAP_MS 30

/* One request the server read. */
struct srv_request {
	char *head; /* request line and headers, NUL-ended */
	struct evbuffer *body;
	int conn;        /* srv_conn.id it came on */
	int nth_on_conn; /* 1 for the first request on its connection */
};

static struct event_base *base;
static struct evconnlistener *listener;
static struct upstream *client;
static uint16_t port;

static struct srv_conn *conns[512];
static int n_accepts;
static struct srv_request requests[512];
static int n_requests;

/* What a call's done saw. */
struct result {
	int calls;
	int result;
	int status;
	bool has_error;
	char *body; /* NUL-ended copy of the answer's body */
	size_t body_len;
	const char *want_header; /* looked up from inside done */
	char *header;            /* its value, or NULL */
	bool inside_start;
	uint64_t at_ms;
	int *counter;
};

static struct result results[UPSTREAM_MAX_IDLE + 64];
static size_t n_results;
static bool in_start;

/* Under run_until's 5 s, so a call that hangs ends as -ETIMEDOUT and says so. */
#define CALL_TIMEOUT_MS 3000

#define BIG_BODY_SIZE (3 * 1024 * 1024 + 17)
static unsigned char big_source[BIG_BODY_SIZE];

/* Closes a server connection, at once or with a reset. */
static void srv_conn_close(struct srv_conn *c, bool reset)
{
	if (!c->bev)
		return;
	if (reset) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};

		setsockopt(bufferevent_getfd(c->bev), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	bufferevent_free(c->bev);
	c->bev = NULL;
}

/* Closes every connection the server holds, as a server's idle timeout would. */
static void srv_close_all(bool reset)
{
	for (int i = 0; i < n_accepts; i++)
		srv_conn_close(conns[i], reset);
}

/* Writes an answer as is. */
static void srv_write(struct srv_conn *c, const char *s)
{
	bufferevent_write(c->bev, s, strlen(s));
}

/* Writes one more byte of a dribbled answer each millisecond. */
static void srv_dribble_next(evutil_socket_t fd, short what, void *arg)
{
	struct srv_conn *c = arg;
	char byte;

	(void)fd;
	(void)what;
	if (!c->bev || evbuffer_remove(c->dribble, &byte, 1) != 1)
		return;
	bufferevent_write(c->bev, &byte, 1);
	event_add(c->dribble_ev, &(struct timeval){0, 1000});
}

/* Writes an answer one byte at a time, so the client sees it in pieces. */
static void srv_dribble(struct srv_conn *c, const char *s)
{
	if (!c->dribble) {
		c->dribble = evbuffer_new();
		c->dribble_ev = evtimer_new(base, srv_dribble_next, c);
	}
	evbuffer_add(c->dribble, s, strlen(s));
	srv_dribble_next(-1, 0, c);
}

/* Writes the next piece of a streamed answer, then waits PIECE_GAP_MS. */
static void srv_piece_next(evutil_socket_t fd, short what, void *arg)
{
	struct srv_conn *c = arg;

	(void)fd;
	(void)what;
	if (!c->bev)
		return;
	if (!c->pieces[c->next_piece]) {
		if (c->close_after_pieces)
			srv_conn_close(c, false);
		return;
	}
	bufferevent_write(c->bev, c->pieces[c->next_piece], strlen(c->pieces[c->next_piece]));
	c->next_piece++;
	event_add(c->piece_ev, &(struct timeval){0, PIECE_GAP_MS * 1000});
}

/* Writes pieces (the head first) one at a time, PIECE_GAP_MS apart. */
static void srv_pieces(struct srv_conn *c, const char *const *pieces, bool close_after)
{
	c->pieces = pieces;
	c->next_piece = 0;
	c->close_after_pieces = close_after;
	if (!c->piece_ev)
		c->piece_ev = evtimer_new(base, srv_piece_next, c);
	srv_piece_next(-1, 0, c);
}

static const char *const stream_chunked[] = {
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
    "3\r\none\r\n", "3\r\ntwo\r\n", "5\r\nthree\r\n", "0\r\n\r\n", NULL};
static const char *const stream_length[] = {
    "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n", "ab", "cd", "ef", NULL};
static const char *const stream_until_close[] = {"HTTP/1.1 200 OK\r\n\r\n", "a", "b", "c",
                                                 NULL};
static const char *const stream_stall[] = {
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "3\r\none\r\n", NULL};
static const char *const stream_cut[] = {
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "3\r\none\r\n", NULL};

/* Writes a status line, a Content-Length and a body of n bytes of 'x'. */
static void srv_write_sized(struct srv_conn *c, size_t n)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char chunk[4096];

	memset(chunk, 'x', sizeof(chunk));
	evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
	for (size_t left = n; left > 0;) {
		size_t k = left < sizeof(chunk) ? left : sizeof(chunk);

		evbuffer_add(out, chunk, k);
		left -= k;
	}
}

/* Writes a status line and a few long headers, over UPSTREAM_MAX_HEAD bytes in all. */
static void srv_write_big_head(struct srv_conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char filler[8001];

	memset(filler, 'h', sizeof(filler) - 1);
	filler[sizeof(filler) - 1] = '\0';
	evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\n");
	for (size_t i = 0; i * (sizeof(filler) - 1) <= UPSTREAM_MAX_HEAD; i++)
		evbuffer_add_printf(out, "X-Filler-%zu: %s\r\n", i, filler);
	evbuffer_add_printf(out, "Content-Length: 2\r\n\r\nok");
}

#define CHUNKED_ANSWER                                                                             \
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"                                    \
	"5;ext=1\r\nhello\r\n"                                                                     \
	"1\r\n,\r\n"                                                                               \
	"6;a=b;c\r\n world\r\n"                                                                    \
	"0\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n"

/* Answers a strict client refuses: each is sent for the path /strict/N. */
struct strict_case {
	const char *what;
	const char *answer;
	size_t len; /* 0: strlen(answer) */
	int want;   /* the call's result */
};

#define CHUNKED_HEAD "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
#define OK_HEAD "HTTP/1.1 200 OK\r\n"
static const struct strict_case strict_cases[] = {
    {"a chunk size of -0", CHUNKED_HEAD "2\r\nok\r\n-0\r\n\r\n", 0, -EPROTO},
    {"a chunk size with 0x", CHUNKED_HEAD "0x2\r\nok\r\n0\r\n\r\n", 0, -EPROTO},
    {"a chunk size with +", CHUNKED_HEAD "+2\r\nok\r\n0\r\n\r\n", 0, -EPROTO},
    {"a chunk size after a space", CHUNKED_HEAD " 2\r\nok\r\n0\r\n\r\n", 0, -EPROTO},
    {"a chunk size with a space and no extension", CHUNKED_HEAD "2 \r\nok\r\n0\r\n\r\n", 0,
     -EPROTO},
    {"an empty chunk size", CHUNKED_HEAD "\r\nok\r\n0\r\n\r\n", 0, -EPROTO},
    {"a chunk size of 17 digits", CHUNKED_HEAD "00000000000000002\r\nok\r\n0\r\n\r\n", 0, -EPROTO},
    {"a chunk extension with a bare LF", CHUNKED_HEAD "2;a\nb\r\nok\r\n0\r\n\r\n", 0, -EPROTO},
    {"a Content-Length with +", OK_HEAD "Content-Length: +2\r\n\r\nok", 0, -EPROTO},
    {"a Content-Length of -0", OK_HEAD "Content-Length: -0\r\n\r\n", 0, -EPROTO},
    {"a Content-Length of two numbers", OK_HEAD "Content-Length: 2 2\r\n\r\nok", 0, -EPROTO},
    {"a Content-Length list", OK_HEAD "Content-Length: 2, 2\r\n\r\nok", 0, -EPROTO},
    {"a Content-Length of 20 digits", OK_HEAD "Content-Length: 00000000000000000002\r\n\r\nok", 0,
     -EPROTO},
    {"Content-Length and Transfer-Encoding both",
     OK_HEAD "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 0,
     -EPROTO},
    {"Transfer-Encoding and Content-Length both",
     OK_HEAD "Transfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n2\r\nok\r\n0\r\n\r\n", 0,
     -EPROTO},
    {"Transfer-Encoding twice",
     OK_HEAD "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
     0, -EPROTO},
    {"a header line ended by a bare LF", OK_HEAD "X-A: 1\nContent-Length: 2\r\n\r\nok", 0, -EPROTO},
    {"a header line with a bare CR", OK_HEAD "X-A: 1\rContent-Length: 2\r\n\r\nok", 0, -EPROTO},
    {"a space before the colon", OK_HEAD "Content-Length : 2\r\n\r\nok", 0, -EPROTO},
    {"a folded header line", OK_HEAD "X-A: 1\r\n 2\r\nContent-Length: 2\r\n\r\nok", 0, -EPROTO},
#define NUL_ANSWER OK_HEAD "X-A: a\0b\r\nContent-Length: 2\r\n\r\nok"
    {"a NUL in a header value", NUL_ANSWER, sizeof(NUL_ANSWER) - 1, -EPROTO},
    {"a status line with two spaces", "HTTP/1.1  200 OK\r\nContent-Length: 2\r\n\r\nok", 0,
     -EPROTO},
    {"a status of four digits", "HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok", 0, -EPROTO},
    {"a trailer line that is not a field", CHUNKED_HEAD "2\r\nok\r\n0\r\nnot a field\r\n\r\n", 0,
     -EPROTO},
};

/* Writes a strict case's answer. */
static void srv_write_strict(struct srv_conn *c, const struct strict_case *k)
{
	bufferevent_write(c->bev, k->answer, k->len ? k->len : strlen(k->answer));
}

/* Writes a chunked answer of 2 bytes with n trailer fields. */
static void srv_write_trailers(struct srv_conn *c, int n)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	evbuffer_add_printf(out, CHUNKED_HEAD "2\r\nok\r\n0\r\n");
	for (int i = 0; i < n; i++)
		evbuffer_add_printf(out, "X-T-%d: %d\r\n", i, i);
	evbuffer_add_printf(out, "\r\n");
}

/* Writes a chunked answer of 2 bytes whose chunk extension is n bytes. */
static void srv_write_long_extension(struct srv_conn *c, size_t n)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	evbuffer_add_printf(out, CHUNKED_HEAD "2;");
	for (size_t i = 0; i < n; i++)
		evbuffer_add(out, "x", 1);
	evbuffer_add_printf(out, "\r\nok\r\n0\r\n\r\n");
}

/* Answers a request as its path says. */
static void srv_answer(struct srv_conn *c, const struct srv_request *r)
{
	const char *path = r->head + strlen("POST ");
	size_t n = strcspn(path, " ");

#define PATH_IS(p) (n == strlen(p) && strncmp(path, p, n) == 0)
	if (PATH_IS("/never")) {
		/* Nothing. */
	} else if (n > 8 && strncmp(path, "/strict/", 8) == 0) {
		srv_write_strict(c, &strict_cases[atoi(path + 8)]);
	} else if (PATH_IS("/trailers-100")) {
		srv_write_trailers(c, 100);
	} else if (PATH_IS("/trailers-101")) {
		srv_write_trailers(c, 101);
	} else if (PATH_IS("/extension-4000")) {
		srv_write_long_extension(c, 4000);
	} else if (PATH_IS("/extension-5000")) {
		srv_write_long_extension(c, 5000);
	} else if (PATH_IS("/stream-chunked")) {
		srv_pieces(c, stream_chunked, false);
	} else if (PATH_IS("/stream-length")) {
		srv_pieces(c, stream_length, false);
	} else if (PATH_IS("/stream-until-close")) {
		srv_pieces(c, stream_until_close, true);
	} else if (PATH_IS("/stream-stall")) {
		srv_pieces(c, stream_stall, false);
	} else if (PATH_IS("/stream-cut")) {
		srv_pieces(c, stream_cut, true);
	} else if (PATH_IS("/chunked")) {
		srv_write(c, CHUNKED_ANSWER);
	} else if (PATH_IS("/chunked-dribbled")) {
		srv_dribble(c, CHUNKED_ANSWER);
	} else if (PATH_IS("/until-close")) {
		srv_write(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
		c->close_when_flushed = true;
	} else if (PATH_IS("/continue")) {
		srv_write(c, "HTTP/1.1 100 Continue\r\n\r\n"
		             "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	} else if (PATH_IS("/no-content")) {
		srv_write(c, "HTTP/1.1 204 No Content\r\nX-Request-Id: 7\r\n\r\n");
	} else if (PATH_IS("/headers")) {
		srv_write(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
		             "X-Amzn-Invoked-Production-Variant: AllTraffic\r\n\r\n");
	} else if (PATH_IS("/error")) {
		srv_write(c, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom");
	} else if (PATH_IS("/close")) {
		srv_conn_close(c, false);
	} else if (PATH_IS("/reset")) {
		srv_conn_close(c, true);
	} else if (PATH_IS("/truncated")) {
		srv_write(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b");
		c->close_when_flushed = true;
	} else if (PATH_IS("/garbage")) {
		srv_write(c, "SSH-2.0-OpenSSH_9.6\r\n");
	} else if (PATH_IS("/big")) {
		srv_write_sized(c, 100000);
	} else if (PATH_IS("/mib")) {
		srv_write_sized(c, 1024 * 1024);
	} else if (PATH_IS("/big-head")) {
		srv_write_big_head(c);
	} else if (PATH_IS("/connection-list")) {
		srv_write(c, "HTTP/1.1 200 OK\r\nConnection: keep-alive-close, x\r\n"
		             "Content-Length: 2\r\n\r\nok");
	} else if (PATH_IS("/connection-close")) {
		/* Left open: only the client's choice shows. */
		srv_write(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
	} else if (PATH_IS("/answer-then-close")) {
		/* A keep-alive answer, then the server's idle timeout strikes at once. */
		srv_write(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
		c->close_when_flushed = true;
	} else if (PATH_IS("/http10-keep-alive")) {
		srv_write(
		    c, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok");
	} else if (PATH_IS("/http2")) {
		srv_write(c, "HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
	} else if (PATH_IS("/http10")) {
		srv_write(c, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
	} else if (PATH_IS("/close-if-reused")) {
		if (r->nth_on_conn > 1)
			srv_conn_close(c, false);
		else
			srv_write(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
	} else if (PATH_IS("/close-after-first")) {
		if (n_requests > 1)
			srv_conn_close(c, false);
		else
			srv_write(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
	} else {
		srv_write(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
	}
#undef PATH_IS
}

/* The value of header name in a request head (case-insensitive), or NULL; malloc'd. */
static char *srv_header(const char *head, const char *name)
{
	size_t n = strlen(name);

	for (const char *line = strstr(head, "\r\n"); line && line[2] != '\r';
	     line = strstr(line + 2, "\r\n")) {
		const char *v = line + 2;

		if (strncasecmp(v, name, n) == 0 && v[n] == ':') {
			v += n + 1;
			v += strspn(v, " \t");
			return xstrndup(v, strcspn(v, "\r"));
		}
	}
	return NULL;
}

/* Reads every whole request that has arrived and answers each. */
static void srv_read(struct bufferevent *bev, void *arg)
{
	struct srv_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (c->bev) {
		struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
		_cleanup_free_ char *head = NULL, *cl = NULL;
		struct srv_request *r;
		size_t head_len, body_len;

		if (end.pos < 0)
			return;
		head_len = (size_t)end.pos + 4;
		head = xmalloc(head_len + 1);
		evbuffer_copyout(in, head, head_len);
		head[head_len] = '\0';
		cl = srv_header(head, "Content-Length");
		body_len = cl ? strtoul(cl, NULL, 10) : 0;
		if (evbuffer_get_length(in) < head_len + body_len)
			return;
		cr_assert_lt(n_requests, ELEMENTSOF(requests));
		r = &requests[n_requests++];
		evbuffer_drain(in, head_len);
		r->head = TAKE_PTR(head);
		r->body = evbuffer_new();
		evbuffer_remove_buffer(in, r->body, body_len);
		r->conn = c->id;
		r->nth_on_conn = ++c->served;
		srv_answer(c, r);
	}
}

/* Hangs up once an answer marked close-after is all written. */
static void srv_written(struct bufferevent *bev, void *arg)
{
	struct srv_conn *c = arg;

	(void)bev;
	if (c->close_when_flushed)
		srv_conn_close(c, false);
}

/* Closes the server's side when the client hangs up. */
static void srv_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		srv_conn_close(arg, false);
}

/* Takes a new connection and counts it. */
static void srv_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                       void *arg)
{
	struct srv_conn *c = xcalloc(1, sizeof(*c));
	int one = 1;

	(void)l;
	(void)sa;
	(void)salen;
	(void)arg;
	cr_assert_lt(n_accepts, ELEMENTSOF(conns));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->id = n_accepts + 1;
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, srv_read, srv_written, srv_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	conns[n_accepts++] = c;
}

/* Breaks a loop that ran too long, so a hang fails the test instead of blocking it. */
static void safety_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	cr_log_error("test loop ran too long");
	event_base_loopbreak(base);
}

/* A port on 127.0.0.1 that was just free and has no listener. */
static uint16_t closed_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	close(fd);
	return ntohs(sin.sin_port);
}

/* A listener on an ephemeral loopback port and a client, on a new base. */
static void setup(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);

	for (size_t i = 0; i < sizeof(big_source); i++)
		big_source[i] = (unsigned char)(i * 31 + i / 4099);
	base = event_base_new();
	/* A backlog for every connection the cap test opens at once. */
	listener = evconnlistener_new_bind(base, srv_accept, NULL,
	                                   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
	                                   (struct sockaddr *)&sin, sizeof(sin));
	cr_assert_not_null(listener);
	getsockname(evconnlistener_get_fd(listener), (struct sockaddr *)&sin, &sl);
	port = ntohs(sin.sin_port);
	client = upstream_new(base);
	cr_assert_not_null(client);
}

/* The client first: its done callbacks may still write into results. */
static void teardown(void)
{
	client = upstream_free(client);
	for (size_t i = 0; i < n_results; i++) {
		free(results[i].body);
		free(results[i].header);
	}
	for (int i = 0; i < n_requests; i++) {
		free(requests[i].head);
		evbuffer_free(requests[i].body);
	}
	for (int i = 0; i < n_accepts; i++) {
		srv_conn_close(conns[i], false);
		if (conns[i]->dribble) {
			event_free(conns[i]->dribble_ev);
			evbuffer_free(conns[i]->dribble);
		}
		if (conns[i]->piece_ev)
			event_free(conns[i]->piece_ev);
		free(conns[i]);
	}
	evconnlistener_free(listener);
	event_base_free(base);
}

TestSuite(upstream, .init = setup, .fini = teardown, .timeout = 10);

/* Runs the loop until *count reaches want (or 5 s pass). */
static void run_until(const int *count, int want)
{
	struct event *safety = evtimer_new(base, safety_timeout, NULL);

	event_add(safety, &(struct timeval){5, 0});
	while (*count < want && !event_base_got_break(base))
		event_base_loop(base, EVLOOP_ONCE);
	event_free(safety);
}

/* Runs the loop until the client holds want connections (or 5 s pass). */
static void run_until_connections(size_t want)
{
	struct event *safety = evtimer_new(base, safety_timeout, NULL);

	event_add(safety, &(struct timeval){5, 0});
	while (upstream_connections(client) != want && !event_base_got_break(base))
		event_base_loop(base, EVLOOP_ONCE);
	event_free(safety);
}

/* Runs the loop for ms milliseconds, whatever happens. */
static void run_for(long ms)
{
	event_base_loopexit(base, &(struct timeval){ms / 1000, (ms % 1000) * 1000});
	event_base_dispatch(base);
}

/* A fresh result from the pool. */
static struct result *result_new(void)
{
	cr_assert_lt(n_results, ELEMENTSOF(results));
	return &results[n_results++];
}

/* Records what a call ended with, copying what is only valid inside done. */
static void on_done(struct upstream_response *r, void *userdata)
{
	struct result *res = userdata;
	size_t len = r->body ? evbuffer_get_length(r->body) : 0;

	res->calls++;
	res->inside_start = res->inside_start || in_start;
	res->result = r->result;
	res->status = r->status;
	res->has_error = r->error != NULL;
	free(res->body);
	res->body = xmalloc(len + 1);
	if (len)
		evbuffer_remove(r->body, res->body, len);
	res->body[len] = '\0';
	res->body_len = len;
	if (res->want_header) {
		const char *v = upstream_response_header(r, res->want_header);

		free(res->header);
		res->header = v ? xstrdup(v) : NULL;
	}
	res->at_ms = now_monotonic_ms();
	if (res->counter)
		(*res->counter)++;
}

/* Starts a call of path with a body and headers, on the test server. */
static void start_with(const char *path, struct evbuffer *body, const char *const *headers,
                       struct result *res)
{
	upstream_start(client,
	               &(struct upstream_request){.port = port,
	                                          .path = path,
	                                          .headers = headers,
	                                          .body = body,
	                                          .timeout_ms = CALL_TIMEOUT_MS},
	               on_done, res);
}

/* Starts a call of path with no body, on the test server. */
static void start(const char *path, struct result *res)
{
	start_with(path, NULL, NULL, res);
}

/* Calls path and waits for the answer. */
static struct result *call(const char *path)
{
	struct result *res = result_new();

	start(path, res);
	run_until(&res->calls, 1);
	cr_assert_eq(res->calls, 1, "%s: done not called", path);
	return res;
}

/* A body of BIG_BODY_SIZE bytes of big_source in many chains, copied and referenced. */
static struct evbuffer *big_body_new(void)
{
	struct evbuffer *b = evbuffer_new();
	size_t off = 0;

	for (size_t i = 0; off < sizeof(big_source); i++) {
		size_t k = 1 + (i * 977) % 4099;

		if (k > sizeof(big_source) - off)
			k = sizeof(big_source) - off;
		if (i % 2)
			evbuffer_add_reference(b, big_source + off, k, NULL, NULL);
		else
			evbuffer_add(b, big_source + off, k);
		off += k;
	}
	return b;
}

/* Whether b holds exactly n bytes equal to want. */
static bool evbuffer_equals(struct evbuffer *b, const void *want, size_t n)
{
	_cleanup_free_ unsigned char *got = NULL;

	if (evbuffer_get_length(b) != n)
		return false;
	got = xmalloc(n + 1);
	evbuffer_copyout(b, got, n);
	return memcmp(got, want, n) == 0;
}

/* The request line the server read: "METHOD path HTTP/x.y"; malloc'd. */
static char *request_line(const struct srv_request *r)
{
	return xstrndup(r->head, strcspn(r->head, "\r"));
}

/* --- The request on the wire --- */

/* The parser alone, as tests and the fuzzer drive it. */

Test(upstream_parse, a_chunked_answer_read_a_byte_at_a_time_is_whole)
{
	static const char a[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				"5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n";
	int status = 0;
	size_t len = 0;

	cr_assert_eq(upstream_parse_bytes(a, strlen(a), 1, 1024, &status, &len), 0);
	cr_assert_eq(status, 200);
	cr_assert_eq(len, 5);
}

Test(upstream_parse, an_answer_cut_short_is_a_reset)
{
	static const char a[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
	int status = 0;
	size_t len = 0;

	cr_assert_eq(upstream_parse_bytes(a, strlen(a), 0, 1024, &status, &len), -ECONNRESET);
}

Test(upstream_parse, an_answer_over_the_limit_is_e2big)
{
	static const char a[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
	int status = 0;
	size_t len = 0;

	cr_assert_eq(upstream_parse_bytes(a, strlen(a), 0, 9, &status, &len), -E2BIG);
}

Test(upstream, request_line_is_a_post_of_the_path_over_http_1_1)
{
	_cleanup_free_ char *line = NULL;

	call("/invocations?x=1");
	cr_assert_eq(n_requests, 1);
	line = request_line(&requests[0]);
	cr_assert_str_eq(line, "POST /invocations?x=1 HTTP/1.1");
}

Test(upstream, request_carries_a_host_header)
{
	_cleanup_free_ char *host = NULL;

	call("/invocations");
	host = srv_header(requests[0].head, "Host");
	cr_assert_not_null(host, "%s", requests[0].head);
	cr_assert(str_has_prefix(host, "127.0.0.1") || str_has_prefix(host, "localhost"), "%s",
	          host);
}

Test(upstream, request_carries_the_body_length)
{
	struct evbuffer *body = evbuffer_new();
	struct result *res = result_new();
	_cleanup_free_ char *cl = NULL;

	evbuffer_add_printf(body, "{\"x\": 1}");
	start_with("/invocations", body, NULL, res);
	run_until(&res->calls, 1);
	cl = srv_header(requests[0].head, "Content-Length");
	cr_assert_not_null(cl, "%s", requests[0].head);
	cr_assert_str_eq(cl, "8");
	evbuffer_free(body);
}

Test(upstream, request_forwards_the_given_headers)
{
	const char *const headers[] = {"Content-Type: application/json",
	                               "X-Amzn-SageMaker-Custom-Attributes: a=b, c", NULL};
	struct result *res = result_new();
	_cleanup_free_ char *ct = NULL, *attrs = NULL;

	start_with("/invocations", NULL, headers, res);
	run_until(&res->calls, 1);
	ct = srv_header(requests[0].head, "Content-Type");
	attrs = srv_header(requests[0].head, "X-Amzn-SageMaker-Custom-Attributes");
	cr_assert_str_eq(ct ? ct : "(none)", "application/json", "%s", requests[0].head);
	cr_assert_str_eq(attrs ? attrs : "(none)", "a=b, c", "%s", requests[0].head);
}

Test(upstream, missing_body_is_sent_as_content_length_zero)
{
	_cleanup_free_ char *cl = NULL;

	call("/invocations");
	cl = srv_header(requests[0].head, "Content-Length");
	cr_assert_str_eq(cl ? cl : "(none)", "0", "%s", requests[0].head);
	cr_assert_eq(evbuffer_get_length(requests[0].body), 0);
}

Test(upstream, empty_body_is_sent_as_content_length_zero)
{
	struct evbuffer *body = evbuffer_new();
	struct result *res = result_new();
	_cleanup_free_ char *cl = NULL;

	start_with("/invocations", body, NULL, res);
	run_until(&res->calls, 1);
	cr_assert_eq(res->result, 0);
	cl = srv_header(requests[0].head, "Content-Length");
	cr_assert_str_eq(cl ? cl : "(none)", "0", "%s", requests[0].head);
	evbuffer_free(body);
}

Test(upstream, one_byte_body_arrives_whole)
{
	struct evbuffer *body = evbuffer_new();
	struct result *res = result_new();

	evbuffer_add(body, "z", 1);
	start_with("/invocations", body, NULL, res);
	run_until(&res->calls, 1);
	cr_assert_eq(res->result, 0);
	cr_assert(evbuffer_equals(requests[0].body, "z", 1));
	evbuffer_free(body);
}

Test(upstream, three_mib_body_in_many_chains_arrives_byte_exact)
{
	struct evbuffer *body = big_body_new();
	struct result *res = result_new();

	start_with("/invocations", body, NULL, res);
	run_until(&res->calls, 1);
	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert_eq(n_requests, 1);
	cr_assert_eq(evbuffer_get_length(requests[0].body), sizeof(big_source));
	cr_assert(evbuffer_equals(requests[0].body, big_source, sizeof(big_source)));
	evbuffer_free(body);
}

Test(upstream, caller_body_is_left_unchanged_by_the_call)
{
	struct evbuffer *body = big_body_new();
	struct result *res = result_new();

	start_with("/invocations", body, NULL, res);
	run_until(&res->calls, 1);
	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert_eq(evbuffer_get_length(body), sizeof(big_source));
	cr_assert(evbuffer_equals(body, big_source, sizeof(big_source)));
	evbuffer_free(body);
}

Test(upstream, caller_body_can_be_sent_twice)
{
	struct evbuffer *body = evbuffer_new();
	struct result *res[2] = {result_new(), result_new()};

	evbuffer_add_printf(body, "again");
	start_with("/invocations", body, NULL, res[0]);
	run_until(&res[0]->calls, 1);
	start_with("/invocations", body, NULL, res[1]);
	run_until(&res[1]->calls, 1);
	cr_assert_eq(n_requests, 2);
	cr_assert(evbuffer_equals(requests[1].body, "again", 5));
	evbuffer_free(body);
}

/* --- Reading the answer --- */

Test(upstream, content_length_answer_gives_status_and_body)
{
	struct result *res = call("/invocations");

	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert_not(res->has_error);
	cr_assert_eq(res->status, 200);
	cr_assert_str_eq(res->body, "hello");
}

Test(upstream, chunked_answer_with_extensions_and_trailers_is_decoded)
{
	struct result *res = call("/chunked");

	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert_str_eq(res->body, "hello, world");
}

Test(upstream, chunked_answer_arriving_byte_by_byte_is_decoded)
{
	struct result *res = call("/chunked-dribbled");

	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert_str_eq(res->body, "hello, world");
}

Test(upstream, chunked_answer_leaves_the_connection_reusable)
{
	struct result *first = call("/chunked");
	struct result *second = call("/invocations");

	cr_assert_eq(first->result, 0);
	cr_assert_eq(second->result, 0, "%d", second->result);
	cr_assert_str_eq(second->body, "hello");
	cr_assert_eq(n_accepts, 1);
}

Test(upstream, answer_without_length_is_read_until_close)
{
	struct result *res = call("/until-close");

	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert_str_eq(res->body, "until the end");
}

Test(upstream, interim_100_continue_is_skipped)
{
	struct result *res = call("/continue");

	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert_eq(res->status, 200);
	cr_assert_str_eq(res->body, "ok");
}

Test(upstream, no_content_answer_ends_without_waiting_for_a_body)
{
	struct result *res = call("/no-content");

	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert_eq(res->status, 204);
	cr_assert_eq(res->body_len, 0);
}

Test(upstream, response_header_lookup_is_case_insensitive)
{
	struct result *res = result_new();

	res->want_header = "x-amzn-invoked-production-VARIANT";
	start("/headers", res);
	run_until(&res->calls, 1);
	cr_assert_eq(res->result, 0);
	cr_assert_str_eq(res->header ? res->header : "(none)", "AllTraffic");
}

Test(upstream, response_header_not_sent_is_null)
{
	struct result *res = result_new();

	res->want_header = "X-Not-There";
	start("/headers", res);
	run_until(&res->calls, 1);
	cr_assert_eq(res->result, 0);
	cr_assert_null(res->header);
}

Test(upstream, error_status_is_a_completed_call_with_its_body)
{
	struct result *res = call("/error");

	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert_eq(res->status, 500);
	cr_assert_str_eq(res->body, "boom");
}

Test(upstream, one_mib_answer_is_collected_whole)
{
	struct result *res = call("/mib");

	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert_eq(res->body_len, 1024 * 1024);
}

Test(upstream, body_over_max_response_fails_with_e2big)
{
	struct result *res = result_new();

	upstream_start(
	    client,
	    &(struct upstream_request){
	        .port = port, .path = "/big", .timeout_ms = CALL_TIMEOUT_MS, .max_response = 1000},
	    on_done, res);
	run_until(&res->calls, 1);
	cr_assert_eq(res->result, -E2BIG, "%d", res->result);
	cr_assert(res->has_error);
}

Test(upstream, body_at_max_response_is_collected)
{
	struct result *res = result_new();

	upstream_start(client,
	               &(struct upstream_request){.port = port,
	                                          .path = "/big",
	                                          .timeout_ms = CALL_TIMEOUT_MS,
	                                          .max_response = 100000},
	               on_done, res);
	run_until(&res->calls, 1);
	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert_eq(res->body_len, 100000);
}

Test(upstream, head_over_the_limit_fails_with_e2big)
{
	struct result *res = call("/big-head");

	cr_assert_eq(res->result, -E2BIG, "%d", res->result);
}

Test(upstream, answer_that_is_not_http_fails_with_eproto)
{
	struct result *res = call("/garbage");

	cr_assert_eq(res->result, -EPROTO, "%d", res->result);
	cr_assert(res->has_error);
}

Test(upstream, answer_of_another_http_version_fails_with_eproto)
{
	struct result *res = call("/http2");

	cr_assert_eq(res->result, -EPROTO, "%d", res->result);
}

Test(upstream, silent_server_times_out_at_about_the_set_time)
{
	struct result *res = result_new();
	uint64_t t0 = now_monotonic_ms();

	upstream_start(
	    client, &(struct upstream_request){.port = port, .path = "/never", .timeout_ms = 300},
	    on_done, res);
	run_until(&res->calls, 1);
	cr_assert_eq(res->result, -ETIMEDOUT, "%d", res->result);
	cr_assert(res->at_ms - t0 >= 290 && res->at_ms - t0 < 1000, "took %llu ms",
	          (unsigned long long)(res->at_ms - t0));
}

Test(upstream, close_without_answer_fails_with_econnreset)
{
	struct result *res = call("/close");

	cr_assert_eq(res->result, -ECONNRESET, "%d", res->result);
	cr_assert(res->has_error);
}

Test(upstream, reset_without_answer_fails_with_econnreset)
{
	struct result *res = call("/reset");

	cr_assert_eq(res->result, -ECONNRESET, "%d", res->result);
}

Test(upstream, close_on_a_fresh_connection_is_not_retried)
{
	call("/close");
	run_for(50);
	cr_assert_eq(n_requests, 1);
}

Test(upstream, close_in_the_middle_of_the_body_fails_with_econnreset)
{
	struct result *res = call("/truncated");

	cr_assert_eq(res->result, -ECONNRESET, "%d", res->result);
}

Test(upstream, connect_that_does_not_complete_times_out_after_connect_timeout)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fillers[2];
	struct result *res = result_new();
	uint64_t t0;

	/* A listener that never accepts, its queue full: further SYNs are dropped. */
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(lfd, 0), 0);
	getsockname(lfd, (struct sockaddr *)&sin, &sl);
	for (size_t i = 0; i < ELEMENTSOF(fillers); i++) {
		fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fillers[i], (struct sockaddr *)&sin, sizeof(sin));
	}
	t0 = now_monotonic_ms();
	upstream_start(client,
	               &(struct upstream_request){.port = ntohs(sin.sin_port),
	                                          .path = "/",
	                                          .connect_timeout_ms = 200,
	                                          .timeout_ms = 5000},
	               on_done, res);
	run_until(&res->calls, 1);
	for (size_t i = 0; i < ELEMENTSOF(fillers); i++)
		close(fillers[i]);
	close(lfd);
	cr_assert_eq(res->result, -ETIMEDOUT, "%d", res->result);
	cr_assert(res->at_ms - t0 >= 190 && res->at_ms - t0 < 1000, "took %llu ms",
	          (unsigned long long)(res->at_ms - t0));
}

Test(upstream, refused_port_fails_with_econnrefused)
{
	struct result *res = result_new();

	upstream_start(client, &(struct upstream_request){.port = closed_port(), .path = "/"},
	               on_done, res);
	run_until(&res->calls, 1);
	cr_assert_eq(res->result, -ECONNREFUSED, "%d", res->result);
	cr_assert_eq(res->status, 0);
	cr_assert(res->has_error);
}

Test(upstream, a_call_to_a_host_address_goes_there_and_names_it_in_its_host_header)
{
	struct result *res = result_new();

	/* The listener is on 127.0.0.1 only: 127.0.0.2 refuses the same port. */
	upstream_start(client, &(struct upstream_request){.host = "127.0.0.2", .port = port,
	                                                  .path = "/"},
	               on_done, res);
	run_until(&res->calls, 1);
	cr_assert_eq(res->result, -ECONNREFUSED, "%d", res->result);
	cr_assert(res->has_error);
	cr_assert_eq(n_requests, 0);
}

Test(upstream, a_host_that_is_no_ipv4_address_is_loopback)
{
	struct result *res = result_new();
	_cleanup_free_ char *host = NULL;

	upstream_start(client, &(struct upstream_request){.host = "node-1", .port = port,
	                                                  .path = "/"},
	               on_done, res);
	run_until(&res->calls, 1);
	cr_assert_eq(n_requests, 1);
	host = srv_header(requests[0].head, "Host");
	cr_assert_not_null(host);
	cr_assert(str_has_prefix(host, "127.0.0.1:"), "%s", host);
}

/* --- Completion --- */

Test(upstream, done_is_not_called_inside_start_when_the_port_is_refused)
{
	struct result *res = result_new();

	in_start = true;
	upstream_start(client, &(struct upstream_request){.port = closed_port(), .path = "/"},
	               on_done, res);
	in_start = false;
	cr_assert_eq(res->calls, 0);
	run_until(&res->calls, 1);
	cr_assert_eq(res->calls, 1);
	cr_assert_not(res->inside_start);
}

Test(upstream, done_is_not_called_inside_start_on_a_kept_alive_connection)
{
	struct result *res = result_new();

	call("/invocations");
	in_start = true;
	start("/invocations", res);
	in_start = false;
	cr_assert_eq(res->calls, 0);
	run_until(&res->calls, 1);
	cr_assert_not(res->inside_start);
}

Test(upstream, done_runs_exactly_once_for_each_of_50_concurrent_calls)
{
	struct result *res[50];
	int finished = 0;

	for (size_t i = 0; i < ELEMENTSOF(res); i++) {
		res[i] = result_new();
		res[i]->counter = &finished;
		start("/invocations", res[i]);
	}
	run_until(&finished, 50);
	/* A second completion would show up here. */
	run_for(50);
	for (size_t i = 0; i < ELEMENTSOF(res); i++) {
		cr_assert_eq(res[i]->calls, 1, "call %zu: %d calls", i, res[i]->calls);
		cr_assert_eq(res[i]->result, 0, "call %zu: %d", i, res[i]->result);
		cr_assert_str_eq(res[i]->body, "hello");
	}
}

static struct result *chained;

/* Starts the next call from inside the first one's done. */
static void on_done_start_another(struct upstream_response *r, void *userdata)
{
	on_done(r, userdata);
	chained = result_new();
	start("/invocations", chained);
}

Test(upstream, call_started_from_inside_done_completes)
{
	struct result *res = result_new();

	upstream_start(client, &(struct upstream_request){.port = port, .path = "/invocations"},
	               on_done_start_another, res);
	run_until(&res->calls, 1);
	cr_assert_not_null(chained);
	run_until(&chained->calls, 1);
	cr_assert_eq(chained->calls, 1);
	cr_assert_eq(chained->result, 0, "%d", chained->result);
	cr_assert_str_eq(chained->body, "hello");
}

/* --- The pool --- */

Test(upstream, sequential_calls_reuse_one_connection)
{
	call("/invocations");
	call("/invocations");
	cr_assert_eq(n_accepts, 1);
	cr_assert_eq(requests[1].conn, requests[0].conn);
}

Test(upstream, concurrent_calls_open_separate_connections)
{
	struct result *res[2] = {result_new(), result_new()};
	int finished = 0;

	res[0]->counter = res[1]->counter = &finished;
	start("/invocations", res[0]);
	start("/invocations", res[1]);
	run_until(&finished, 2);
	cr_assert_eq(n_accepts, 2);
	cr_assert_neq(requests[0].conn, requests[1].conn);
}

Test(upstream, connection_close_answer_is_not_reused)
{
	call("/connection-close");
	call("/invocations");
	cr_assert_eq(n_accepts, 2);
}

Test(upstream, http_1_0_answer_without_keep_alive_is_not_reused)
{
	call("/http10");
	call("/invocations");
	cr_assert_eq(n_accepts, 2);
}

Test(upstream, http_1_0_answer_with_keep_alive_is_reused)
{
	call("/http10-keep-alive");
	call("/invocations");
	cr_assert_eq(n_accepts, 1);
}

Test(upstream, answer_read_until_close_is_not_reused)
{
	call("/until-close");
	call("/invocations");
	cr_assert_eq(n_accepts, 2);
}

Test(upstream, idle_connections_are_capped_at_upstream_max_idle)
{
	int finished = 0;

	for (int i = 0; i < UPSTREAM_MAX_IDLE + 20; i++) {
		struct result *res = result_new();

		res->counter = &finished;
		start("/invocations", res);
	}
	run_until(&finished, UPSTREAM_MAX_IDLE + 20);
	for (size_t i = 0; i < n_results; i++)
		cr_assert_eq(results[i].result, 0, "call %zu: %d", i, results[i].result);
	cr_assert_eq(upstream_connections(client), UPSTREAM_MAX_IDLE, "%zu open",
	             upstream_connections(client));
}

Test(upstream, pool_closes_an_idle_connection_the_server_closed)
{
	call("/invocations");
	cr_assert_eq(upstream_connections(client), 1);
	srv_close_all(false);
	run_until_connections(0);
	cr_assert_eq(upstream_connections(client), 0);
}

Test(upstream, pool_closes_a_connection_the_server_closed_right_after_answering)
{
	struct result *res = call("/answer-then-close");

	cr_assert_eq(res->result, 0, "%d", res->result);
	run_until_connections(0);
	cr_assert_eq(upstream_connections(client), 0);
}

Test(upstream, call_right_after_the_server_closed_the_idle_connection_succeeds)
{
	struct result *res;

	call("/invocations");
	srv_close_all(false);
	/* No loop turn in between: the client has not seen the close yet. */
	res = call("/invocations");
	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert_str_eq(res->body, "hello");
}

Test(upstream, call_right_after_the_server_reset_the_idle_connection_succeeds)
{
	struct result *res;

	call("/invocations");
	srv_close_all(true);
	res = call("/invocations");
	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert_str_eq(res->body, "hello");
}

Test(upstream, reused_connection_closed_before_answering_is_retried_on_a_fresh_one)
{
	struct result *res;

	call("/close-if-reused");
	res = call("/close-if-reused");
	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert_str_eq(res->body, "hello");
	cr_assert_eq(n_accepts, 2);
}

Test(upstream, stale_connection_is_retried_at_most_once)
{
	struct result *res;

	call("/close-after-first");
	res = call("/close-after-first");
	run_for(50);
	cr_assert_eq(res->result, -ECONNRESET, "%d", res->result);
	cr_assert_eq(n_requests, 3, "the first call, the second and one retry");
}

Test(upstream, failed_call_does_not_leave_its_connection_in_the_pool)
{
	call("/garbage");
	cr_assert_eq(upstream_connections(client), 0);
}

Test(upstream, timed_out_call_does_not_leave_its_connection_in_the_pool)
{
	struct result *res = result_new();

	upstream_start(
	    client, &(struct upstream_request){.port = port, .path = "/never", .timeout_ms = 100},
	    on_done, res);
	run_until(&res->calls, 1);
	cr_assert_eq(res->result, -ETIMEDOUT);
	cr_assert_eq(upstream_connections(client), 0);
}

/* --- Counts and freeing --- */

Test(upstream, active_counts_the_calls_running)
{
	struct result *res[2] = {result_new(), result_new()};
	int finished = 0;

	res[0]->counter = res[1]->counter = &finished;
	start("/invocations", res[0]);
	start("/invocations", res[1]);
	cr_assert_eq(upstream_active(client), 2);
	run_until(&finished, 2);
	cr_assert_eq(upstream_active(client), 0);
}

Test(upstream, connections_counts_idle_ones_kept_after_calls)
{
	struct result *res[2] = {result_new(), result_new()};
	int finished = 0;

	res[0]->counter = res[1]->counter = &finished;
	start("/invocations", res[0]);
	start("/invocations", res[1]);
	run_until(&finished, 2);
	cr_assert_eq(upstream_connections(client), 2);
}

Test(upstream, new_upstream_has_no_calls_and_no_connections)
{
	cr_assert_eq(upstream_active(client), 0);
	cr_assert_eq(upstream_connections(client), 0);
}

Test(upstream, free_completes_a_running_call_with_ecanceled_exactly_once)
{
	struct result *res = result_new();

	start("/never", res);
	run_until(&n_requests, 1);
	cr_assert_eq(n_requests, 1);
	client = upstream_free(client);
	cr_assert_null(client);
	run_for(50);
	cr_assert_eq(res->calls, 1);
	cr_assert_eq(res->result, -ECANCELED, "%d", res->result);
}

Test(upstream, free_completes_a_call_still_connecting_with_ecanceled)
{
	struct result *res = result_new();

	start("/never", res);
	client = upstream_free(client);
	run_for(50);
	cr_assert_eq(res->calls, 1);
	cr_assert_eq(res->result, -ECANCELED, "%d", res->result);
}

/* Frees the client from inside a call's done, as a daemon shutting down might. */
static void on_done_free_client(struct upstream_response *r, void *userdata)
{
	on_done(r, userdata);
	client = upstream_free(client);
}

Test(upstream, free_from_inside_done_cancels_the_other_calls)
{
	struct result *first = result_new(), *other = result_new();

	start("/never", other);
	upstream_start(client, &(struct upstream_request){.port = port, .path = "/invocations"},
	               on_done_free_client, first);
	run_until(&first->calls, 1);
	run_for(50);
	cr_assert_null(client);
	cr_assert_eq(first->result, 0, "%d", first->result);
	cr_assert_eq(other->calls, 1);
	cr_assert_eq(other->result, -ECANCELED, "%d", other->result);
}

Test(upstream, free_of_null_is_a_no_op)
{
	cr_assert_null(upstream_free(NULL));
}

/* --- New connections from a dialer --- */

/* --- Strict parsing of what the model server answers --- */

ParameterizedTestParameters(upstream, strict_parser_refuses_the_answer)
{
	size_t n = ELEMENTSOF(strict_cases);
	size_t *idx = cr_calloc(n, sizeof(*idx));

	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, n, NULL);
}

ParameterizedTest(size_t *i, upstream, strict_parser_refuses_the_answer)
{
	const struct strict_case *k = &strict_cases[*i];
	_cleanup_free_ char *path = xasprintf("/strict/%zu", *i);
	struct result *res = call(path);

	cr_assert_eq(res->result, k->want, "%s: %d", k->what, res->result);
	cr_assert(res->has_error, "%s: no words", k->what);
}

ParameterizedTestParameters(upstream, refused_answer_does_not_leave_its_connection_open)
{
	size_t n = ELEMENTSOF(strict_cases);
	size_t *idx = cr_calloc(n, sizeof(*idx));

	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, n, NULL);
}

ParameterizedTest(size_t *i, upstream, refused_answer_does_not_leave_its_connection_open)
{
	_cleanup_free_ char *path = xasprintf("/strict/%zu", *i);

	call(path);
	cr_assert_eq(upstream_connections(client), 0, "%s", strict_cases[*i].what);
}

Test(upstream, chunk_extension_of_4000_bytes_is_read)
{
	struct result *res = call("/extension-4000");

	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert_str_eq(res->body, "ok");
}

Test(upstream, chunk_extension_over_4096_bytes_fails_with_eproto)
{
	struct result *res = call("/extension-5000");

	cr_assert_eq(res->result, -EPROTO, "%d", res->result);
}

Test(upstream, one_hundred_trailer_fields_are_read)
{
	struct result *res = call("/trailers-100");

	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert_str_eq(res->body, "ok");
}

Test(upstream, over_one_hundred_trailer_fields_fail_with_e2big)
{
	struct result *res = call("/trailers-101");

	cr_assert_eq(res->result, -E2BIG, "%d", res->result);
}

Test(upstream, connection_header_is_read_as_a_list_of_tokens)
{
	/* "keep-alive-close" is neither token: HTTP/1.1 stays kept alive. */
	struct result *res = call("/connection-list");

	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert_eq(upstream_connections(client), 1);
}

/* The dialer's temporary directory and socket, the dialer, and the real
 * endpointd-dialer when one runs. */
static char dialer_dir[64];
static char dialer_sock[128];
static struct dialer *dialer;
static pid_t dialer_pid = -1;
/* A port with no listener: a call to it reaches the server only through the
 * real dialer. */
static uint16_t nowhere;

/* The endpointd-dialer of this build: $ENDPOINTD_DIALER (make check sets
 * it), else daemon/ two levels above this binary (tests/unit/). */
static const char *dialer_binary(void)
{
	static char *path;
	char self[4096];
	ssize_t n;

	if (getenv("ENDPOINTD_DIALER") && *getenv("ENDPOINTD_DIALER"))
		return getenv("ENDPOINTD_DIALER");
	if (!path) {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		cr_assert_gt(n, 0);
		self[n] = '\0';
		*strrchr(self, '/') = '\0';
		path = xasprintf("%s/../../daemon/endpointd-dialer", self);
	}
	return path;
}

/* Runs the loop until the dialer has a process connected (or 5 s pass). */
static void run_until_dialer_ready(void)
{
	struct event *safety = evtimer_new(base, safety_timeout, NULL);

	event_add(safety, &(struct timeval){5, 0});
	while (!dialer_ready(dialer) && !event_base_got_break(base))
		event_base_loop(base, EVLOOP_ONCE);
	event_free(safety);
	cr_assert(dialer_ready(dialer), "no dialer process connected");
}

/* Starts the real endpointd-dialer, dialing the test server, and waits
 * until it is connected. */
static void start_real_dialer(void)
{
	const char *bin = dialer_binary();
	char port_arg[8];
	char *argv[] = {(char *)bin, dialer_sock, port_arg, NULL};
	/* The token in its environment, as the daemon's exec gives it. */
	_cleanup_free_ char *token_env = xasprintf("%s=%s", DIALER_TOKEN_ENV, dialer_token(dialer));
	char *envp[] = {token_env, NULL};
	int r;

	cr_assert_eq(access(bin, X_OK), 0, "%s: %s (build daemon/ first)", bin, strerror(errno));
	snprintf(port_arg, sizeof(port_arg), "%u", (unsigned)port);
	r = posix_spawn(&dialer_pid, bin, NULL, NULL, argv, envp);
	cr_assert_eq(r, 0, "spawning %s: %s", bin, strerror(r));
	dialer_expect_peer(dialer, dialer_pid);
	run_until_dialer_ready();
}

/* Connects to the dialer's socket as a dialer process would, hello first,
 * the test to answer by hand (reads time out after 2 s), and waits until it
 * is taken. */
static int start_fake_dialer(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct timeval tv = {2, 0};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	memcpy(sun.sun_path, dialer_sock, strlen(dialer_sock) + 1);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0, "%s", strerror(errno));
	cr_assert_eq(send(fd, dialer_token(dialer), DIALER_TOKEN_LEN, MSG_NOSIGNAL),
	             DIALER_TOKEN_LEN, "%s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	run_until_dialer_ready();
	return fd;
}

/* Reads one request for a connection on the fake dialer. */
static void fake_dialer_read_request(int fake)
{
	char byte;

	cr_assert_eq(read(fake, &byte, 1), 1, "the dialer was not asked");
}

/* Answers from the fake dialer with value and fd (none when -1). */
static void fake_dialer_answer(int fake, int32_t value, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = {&value, sizeof(value)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

	memset(&ctl, 0, sizeof(ctl));
	if (fd >= 0) {
		struct cmsghdr *c;

		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	cr_assert_eq(sendmsg(fake, &msg, MSG_NOSIGNAL), (ssize_t)sizeof(value), "%s",
	             strerror(errno));
}

/* The test server and client, and a dialer with no process yet.  The
 * server's listener is close-on-exec so that the real dialer does not hold
 * it. */
static void setup_dialer(void)
{
	int r;

	setup();
	signal(SIGPIPE, SIG_IGN);
	fcntl(evconnlistener_get_fd(listener), F_SETFD, FD_CLOEXEC);
	strcpy(dialer_dir, "/tmp/test_upstream.XXXXXX");
	cr_assert_not_null(mkdtemp(dialer_dir));
	snprintf(dialer_sock, sizeof(dialer_sock), "%s/%s", dialer_dir, DIALER_SOCKET_NAME);
	r = dialer_new(base, dialer_dir, port, &dialer);
	cr_assert_eq(r, 0, "dialer_new: %s", strerror(-r));
	/* The fakes are this very process; the real dialer says its own pid. */
	dialer_expect_peer(dialer, getpid());
	nowhere = closed_port();
}

/* The client first (its calls let go of the dialer), then the dialer (its
 * process then exits) and what its requests still hold, then the rest. */
static void teardown_dialer(void)
{
	client = upstream_free(client);
	dialer_close(dialer);
	event_base_loop(base, EVLOOP_NONBLOCK);
	dialer = dialer_unref(dialer);
	if (dialer_pid > 0) {
		int i;

		for (i = 0; i < 300 && waitpid(dialer_pid, NULL, WNOHANG) != dialer_pid; i++)
			usleep(10000);
		if (i == 300) {
			kill(dialer_pid, SIGKILL);
			waitpid(dialer_pid, NULL, 0);
		}
	}
	unlink(dialer_sock);
	rmdir(dialer_dir);
	teardown();
}

TestSuite(upstream_dialer, .init = setup_dialer, .fini = teardown_dialer, .timeout = 10);

/* Starts a call of path to to_port, new connections from the dialer. */
static void start_dialed(const char *path, uint16_t to_port, unsigned connect_timeout_ms,
                         struct result *res)
{
	upstream_start(client,
	               &(struct upstream_request){.port = to_port,
	                                          .dialer = dialer,
	                                          .path = path,
	                                          .connect_timeout_ms = connect_timeout_ms,
	                                          .timeout_ms = CALL_TIMEOUT_MS},
	               on_done, res);
}

/* Calls path through the dialer and waits for the answer.  The call names a
 * port with no listener: only the dialer's connection can reach the server. */
static struct result *call_through_dialer(const char *path)
{
	struct result *res = result_new();

	start_dialed(path, nowhere, 0, res);
	run_until(&res->calls, 1);
	cr_assert_eq(res->calls, 1, "%s: done not called", path);
	return res;
}

Test(upstream_dialer, call_with_a_ready_dialer_reaches_the_server_over_the_dialers_connection)
{
	struct result *res;

	start_real_dialer();
	res = call_through_dialer("/invocations");
	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert_str_eq(res->body, "hello");
	cr_assert_eq(n_accepts, 1);
}

Test(upstream_dialer, connection_from_the_dialer_is_counted)
{
	start_real_dialer();
	call_through_dialer("/invocations");
	cr_assert_eq(upstream_connections(client), 1);
}

Test(upstream_dialer, second_call_reuses_the_dialers_connection)
{
	struct result *second;

	start_real_dialer();
	call_through_dialer("/invocations");
	second = call_through_dialer("/invocations");
	cr_assert_eq(second->result, 0, "%d", second->result);
	cr_assert_eq(n_accepts, 1);
	cr_assert_eq(requests[1].conn, requests[0].conn);
}

Test(upstream_dialer, call_with_no_dialer_process_connected_connects_to_the_port_itself)
{
	struct result *res = result_new();

	start_dialed("/invocations", port, 0, res);
	run_until(&res->calls, 1);
	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert_str_eq(res->body, "hello");
	cr_assert_eq(n_accepts, 1);
}

Test(upstream_dialer, call_whose_dialer_answers_with_an_errno_falls_back_to_the_port)
{
	struct result *res = result_new();
	int fake = start_fake_dialer();

	start_dialed("/invocations", port, 0, res);
	fake_dialer_read_request(fake);
	fake_dialer_answer(fake, ECONNREFUSED, -1);
	run_until(&res->calls, 1);
	close(fake);
	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert_str_eq(res->body, "hello");
	cr_assert_eq(n_accepts, 1);
}

Test(upstream_dialer, call_whose_dialer_never_answers_falls_back_to_the_port)
{
	struct result *res = result_new();
	int fake = start_fake_dialer();

	start_dialed("/invocations", port, 200, res);
	fake_dialer_read_request(fake);
	run_until(&res->calls, 1);
	close(fake);
	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert_str_eq(res->body, "hello");
	cr_assert_eq(n_accepts, 1);
}

Test(upstream_dialer, call_whose_dialer_never_answers_waits_connect_timeout_before_falling_back)
{
	struct result *res = result_new();
	int fake = start_fake_dialer();
	uint64_t t0 = now_monotonic_ms();

	start_dialed("/invocations", port, 200, res);
	fake_dialer_read_request(fake);
	run_until(&res->calls, 1);
	close(fake);
	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert(res->at_ms - t0 >= 190 && res->at_ms - t0 < 1000, "took %llu ms",
	          (unsigned long long)(res->at_ms - t0));
}

Test(upstream_dialer, call_whose_dialer_is_closed_while_it_waits_falls_back_to_the_port)
{
	struct result *res = result_new();
	int fake = start_fake_dialer();

	start_dialed("/invocations", port, 0, res);
	fake_dialer_read_request(fake);
	dialer_close(dialer);
	run_until(&res->calls, 1);
	close(fake);
	cr_assert_eq(res->result, 0, "%d", res->result);
	cr_assert_str_eq(res->body, "hello");
}

Test(upstream_dialer, dialers_answer_after_the_fallback_is_closed_not_used)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	                          .sin_port = htons(port)};
	struct result *res = result_new();
	int fake = start_fake_dialer(), late = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	start_dialed("/invocations", port, 100, res);
	fake_dialer_read_request(fake);
	run_until(&res->calls, 1);
	cr_assert_eq(res->result, 0, "%d", res->result);
	/* The answer comes after all: a connected socket the call no longer wants. */
	cr_assert_eq(connect(late, (struct sockaddr *)&sin, sizeof(sin)), 0);
	fake_dialer_answer(fake, 0, late);
	close(late);
	run_until(&n_accepts, 2);
	run_for(50);
	close(fake);
	cr_assert_eq(upstream_connections(client), 1);
	cr_assert_eq(n_accepts, 2);
	cr_assert_null(conns[1]->bev, "the late socket was left open");
}

Test(upstream_dialer, free_while_a_call_waits_on_the_dialer_completes_it_with_ecanceled_once)
{
	struct result *res = result_new();
	int fake = start_fake_dialer();

	start_dialed("/invocations", port, 0, res);
	fake_dialer_read_request(fake);
	client = upstream_free(client);
	run_for(50);
	close(fake);
	cr_assert_eq(res->calls, 1);
	cr_assert_eq(res->result, -ECANCELED, "%d", res->result);
}

/* A loopback listener that never accepts: what is sent to it is never read.
 * Its port, and *ret_fd. */
static uint16_t black_hole(int *ret_fd)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(fd, 4), 0);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	*ret_fd = fd;
	return ntohs(sin.sin_port);
}

Test(upstream_dialer, socket_the_container_makes_blocking_does_not_block_the_loop)
{
	struct result *res = result_new();
	struct evbuffer *body = evbuffer_new();
	int hole, s, fake, r;
	uint16_t hole_port = black_hole(&hole);
	struct sockaddr_in to = {.sin_family = AF_INET,
	                         .sin_port = htons(hole_port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	pid_t saboteur;

	/* A dialer whose model port is the black hole. */
	dialer_close(dialer);
	dialer = dialer_unref(dialer);
	r = dialer_new(base, dialer_dir, hole_port, &dialer);
	cr_assert_eq(r, 0, "%s", strerror(-r));
	dialer_expect_peer(dialer, getpid());
	fake = start_fake_dialer();
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(s, (struct sockaddr *)&to, sizeof(to)), 0);
	/* The container keeps a copy and clears O_NONBLOCK on it, again and
	 * again: the flag lives in the description both share. */
	saboteur = fork();
	cr_assert_geq(saboteur, 0);
	if (saboteur == 0) {
		for (int i = 0; i < 20000; i++) {
			fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
			usleep(100);
		}
		_exit(0);
	}
	/* More than any socket buffer holds. */
	for (int i = 0; i < 64; i++) {
		static char mib[1024 * 1024];

		evbuffer_add(body, mib, sizeof(mib));
	}
	upstream_start(client,
	               &(struct upstream_request){.port = nowhere,
	                                          .dialer = dialer,
	                                          .path = "/invocations",
	                                          .body = body,
	                                          .timeout_ms = 500},
	               on_done, res);
	fake_dialer_read_request(fake);
	fake_dialer_answer(fake, 0, s);
	close(s);
	run_until(&res->calls, 1);
	kill(saboteur, SIGKILL);
	waitpid(saboteur, NULL, 0);
	client = upstream_free(client);
	evbuffer_free(body);
	close(fake);
	close(hole);
	cr_assert_eq(res->calls, 1);
	cr_assert_eq(res->result, -ETIMEDOUT, "%d", res->result);
}

Test(upstream_dialer, socket_the_container_set_to_linger_is_closed_without_waiting)
{
	struct result *res = result_new();
	struct linger lg = {.l_onoff = 1, .l_linger = 5};
	static char junk[65536];
	int hole, s, fake, r, flags;
	uint16_t hole_port = black_hole(&hole);
	struct sockaddr_in to = {.sin_family = AF_INET,
	                         .sin_port = htons(hole_port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	uint64_t t0;

	dialer_close(dialer);
	dialer = dialer_unref(dialer);
	r = dialer_new(base, dialer_dir, hole_port, &dialer);
	cr_assert_eq(r, 0, "%s", strerror(-r));
	dialer_expect_peer(dialer, getpid());
	fake = start_fake_dialer();
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(s, (struct sockaddr *)&to, sizeof(to)), 0);
	/* Queued bytes the black hole never takes, and a 5 s linger: a close
	 * of the last copy would wait for them. */
	flags = fcntl(s, F_GETFL);
	fcntl(s, F_SETFL, flags | O_NONBLOCK);
	while (send(s, junk, sizeof(junk), MSG_NOSIGNAL) > 0)
		;
	fcntl(s, F_SETFL, flags);
	cr_assert_eq(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	upstream_start(
	    client,
	    &(struct upstream_request){
	        .port = nowhere, .dialer = dialer, .path = "/invocations", .timeout_ms = 200},
	    on_done, res);
	fake_dialer_read_request(fake);
	fake_dialer_answer(fake, 0, s);
	close(s);
	t0 = now_monotonic_ms();
	run_until(&res->calls, 1);
	close(fake);
	close(hole);
	cr_assert_eq(res->result, -ETIMEDOUT, "%d", res->result);
	cr_assert_lt(res->at_ms - t0, 1000, "took %llu ms", (unsigned long long)(res->at_ms - t0));
}

/* --- streaming calls ------------------------------------------------------ */

/* What a streaming call's caller saw, and what it does with each piece. */
struct stream_result {
	struct result done; /* done's record */
	int heads;          /* head deliveries (the first piece) */
	int head_status;
	int pieces;         /* deliveries that held body bytes */
	char got[256];      /* the body bytes delivered, in order */
	size_t got_len;
	size_t max_piece;
	uint64_t piece_at_ms[16];
	struct upstream_call *call;
	bool pause_after_first;  /* pause after the first body piece */
	bool cancel_after_first; /* cancel after the first body piece */
	bool collect_errors;     /* collect an answer that is not 2xx */
};

static struct stream_result stream_results[8];
static size_t n_stream_results;

/* The usual teardown, and what the streaming results hold. */
static void stream_teardown(void)
{
	teardown();
	for (size_t i = 0; i < n_stream_results; i++)
		free(stream_results[i].done.body);
	n_stream_results = 0;
}

TestSuite(upstream_stream, .init = setup, .fini = stream_teardown, .timeout = 10);

/* Takes each piece: records it and drains it. */
static void on_piece(struct upstream_response *r, void *userdata)
{
	struct stream_result *s = userdata;
	size_t n = evbuffer_get_length(r->body);

	if (s->heads++ == 0) {
		s->head_status = r->status;
		if (s->collect_errors && (r->status < 200 || r->status > 299)) {
			upstream_call_collect(s->call, 0);
			return;
		}
	}
	if (n == 0)
		return;
	if (s->pieces < (int)ELEMENTSOF(s->piece_at_ms))
		s->piece_at_ms[s->pieces] = now_monotonic_ms();
	s->pieces++;
	if (n > s->max_piece)
		s->max_piece = n;
	if (s->got_len + n < sizeof(s->got))
		evbuffer_copyout(r->body, s->got + s->got_len, n);
	s->got_len += n;
	evbuffer_drain(r->body, n);
	if (s->pieces == 1 && s->pause_after_first)
		upstream_call_pause(s->call, true);
	if (s->pieces == 1 && s->cancel_after_first)
		upstream_call_cancel(s->call);
}

/* A fresh streaming result. */
static struct stream_result *stream_start(void)
{
	cr_assert_lt(n_stream_results, ELEMENTSOF(stream_results));
	struct stream_result *s = &stream_results[n_stream_results++];

	memset(s, 0, sizeof(*s));
	return s;
}

/* Starts s's call (after the test set what it does with pieces). */
static void stream_go(struct stream_result *s, const char *path, unsigned idle_ms,
                      unsigned total_ms, size_t max_piece)
{
	s->call = upstream_start(client,
	                         &(struct upstream_request){.port = port,
	                                                    .path = path,
	                                                    .timeout_ms = total_ms,
	                                                    .max_response = max_piece,
	                                                    .on_piece = on_piece,
	                                                    .idle_timeout_ms = idle_ms},
	                         on_done, &s->done);
}

/* A streaming call of path with the usual limits, run to its end. */
static struct stream_result *stream_call(const char *path)
{
	struct stream_result *s = stream_start();

	stream_go(s, path, 1000, CALL_TIMEOUT_MS, 0);
	run_until(&s->done.calls, 1);
	cr_assert_eq(s->done.calls, 1, "%s: done not called", path);
	return s;
}

Test(upstream_stream, chunks_are_delivered_one_by_one_as_they_arrive)
{
	struct stream_result *s = stream_call("/stream-chunked");

	cr_assert_eq(s->done.result, 0, "%d", s->done.result);
	cr_assert_eq(s->heads - s->pieces, 1, "the head came once, before the pieces");
	cr_assert_eq(s->head_status, 200);
	cr_assert_eq(s->pieces, 3);
	cr_assert_eq(s->got_len, 11);
	cr_assert_arr_eq(s->got, "onetwothree", 11);
	cr_assert_geq(s->piece_at_ms[1] - s->piece_at_ms[0], PIECE_GAP_MS - 5,
	              "the second piece was held back with the first");
}

Test(upstream_stream, content_length_body_is_delivered_as_it_arrives)
{
	struct stream_result *s = stream_call("/stream-length");

	cr_assert_eq(s->done.result, 0, "%d", s->done.result);
	cr_assert_eq(s->pieces, 3);
	cr_assert_arr_eq(s->got, "abcdef", 6);
}

Test(upstream_stream, body_until_close_is_delivered_and_ends_cleanly)
{
	struct stream_result *s = stream_call("/stream-until-close");

	cr_assert_eq(s->done.result, 0, "%d", s->done.result);
	cr_assert_eq(s->pieces, 3);
	cr_assert_arr_eq(s->got, "abc", 3);
}

Test(upstream_stream, whole_stream_leaves_the_connection_reusable)
{
	stream_call("/stream-chunked");
	cr_assert_eq(upstream_connections(client), 1);
	call("/");
	cr_assert_eq(n_accepts, 1, "the second call opened a new connection");
}

Test(upstream_stream, a_gap_longer_than_the_idle_timeout_fails_with_etimedout)
{
	struct stream_result *s = stream_start();
	uint64_t t0 = now_monotonic_ms();

	stream_go(s, "/stream-stall", 150, CALL_TIMEOUT_MS, 0);
	run_until(&s->done.calls, 1);
	cr_assert_eq(s->done.result, -ETIMEDOUT, "%d", s->done.result);
	cr_assert(s->done.has_error);
	cr_assert_eq(s->pieces, 1, "the piece before the gap was delivered");
	cr_assert_lt(s->done.at_ms - t0, 1000, "took %llu ms",
	             (unsigned long long)(s->done.at_ms - t0));
	cr_assert_eq(upstream_connections(client), 0, "a half-read connection was kept");
}

Test(upstream_stream, the_total_timeout_ends_a_stream_that_keeps_trickling)
{
	struct stream_result *s = stream_start();

	stream_go(s, "/stream-chunked", 1000, PIECE_GAP_MS + PIECE_GAP_MS / 2, 0);
	run_until(&s->done.calls, 1);
	cr_assert_eq(s->done.result, -ETIMEDOUT, "%d", s->done.result);
	cr_assert_lt(s->pieces, 3);
}

Test(upstream_stream, a_container_that_dies_mid_stream_fails_with_econnreset)
{
	struct stream_result *s = stream_call("/stream-cut");

	cr_assert_eq(s->done.result, -ECONNRESET, "%d", s->done.result);
	cr_assert_eq(s->pieces, 1);
	cr_assert_arr_eq(s->got, "one", 3);
}

Test(upstream_stream, a_paused_call_reads_nothing_until_resumed)
{
	struct stream_result *s = stream_start();

	s->pause_after_first = true;
	stream_go(s, "/stream-chunked", 50, CALL_TIMEOUT_MS, 0);
	run_for(6 * PIECE_GAP_MS);
	cr_assert_eq(s->pieces, 1, "pieces came while paused");
	cr_assert_eq(s->done.calls, 0, "the idle timeout ran while paused");
	upstream_call_pause(s->call, false);
	run_until(&s->done.calls, 1);
	cr_assert_eq(s->done.result, 0, "%d", s->done.result);
	cr_assert_eq(s->got_len, 11);
	cr_assert_arr_eq(s->got, "onetwothree", 11);
}

Test(upstream_stream, cancel_ends_the_call_once_and_closes_its_connection)
{
	struct stream_result *s = stream_start();

	s->cancel_after_first = true;
	stream_go(s, "/stream-stall", 1000, CALL_TIMEOUT_MS, 0);
	run_until(&s->done.calls, 1);
	cr_assert_eq(s->done.result, -ECANCELED, "%d", s->done.result);
	cr_assert_eq(upstream_connections(client), 0, "a half-read connection was kept");
	run_for(50);
	cr_assert_null(conns[0]->bev, "the server did not see the connection close");
	cr_assert_eq(s->done.calls, 1);
}

Test(upstream_stream, a_piece_is_never_larger_than_max_response)
{
	struct stream_result *s = stream_start();

	stream_go(s, "/mib", 1000, CALL_TIMEOUT_MS, 4096);
	run_until(&s->done.calls, 1);
	cr_assert_eq(s->done.result, 0, "%d", s->done.result);
	cr_assert_eq(s->got_len, 1024 * 1024, "%zu", s->got_len);
	cr_assert_leq(s->max_piece, 4096);
}

Test(upstream_stream, an_error_answer_can_be_collected_whole_for_done)
{
	struct stream_result *s = stream_start();

	s->collect_errors = true;
	stream_go(s, "/error", 1000, CALL_TIMEOUT_MS, 0);
	run_until(&s->done.calls, 1);
	cr_assert_eq(s->done.result, 0);
	cr_assert_eq(s->done.status, 500);
	cr_assert_eq(s->pieces, 0);
	cr_assert_str_eq(s->done.body, "boom");
}

Test(upstream_parse, a_streamed_chunked_answer_is_delivered_within_the_bound)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	                             "10\r\n0123456789abcdef\r\n3\r\nxyz\r\n0\r\n\r\n";
	int status = 0;
	size_t len = 0, pieces = 0;

	cr_assert_eq(upstream_parse_bytes_streaming(answer, sizeof(answer) - 1, 5, 4, &status,
	                                            &len, &pieces),
	             0);
	cr_assert_eq(status, 200);
	cr_assert_eq(len, 19);
	cr_assert_geq(pieces, 5);
}
