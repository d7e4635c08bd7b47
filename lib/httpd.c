/*
 * The HTTP/1.1 server.
 *
 * DESIGN
 *
 * One struct httpd_conn per accepted socket, on a bufferevent.  A connection
 * is in one phase at a time:
 *
 *   HEAD   bytes are moved into the request's head buffer (at most 64 KiB)
 *          and fed to httpreq_parse(), which resumes where it stopped, so
 *          a trickled head costs O(n); bytes past the head go back.
 *          A fresh connection must send its head within head_timeout of the
 *          accept; a kept-alive one may stay silent for idle_timeout, then
 *          has head_timeout from its first byte.
 *   BODY   the application's head callback said how large the body may be;
 *          a larger Content-Length is refused at once.  Content-Length bytes
 *          are reserved from the daemon-wide budget before any is read (a
 *          chunked body reserves each chunk as it comes); over budget is a
 *          503 at once.  Body bytes gather in the socket's input buffer,
 *          whose chains the reads fill densely, and are moved (not copied)
 *          into the request's 32 KiB at a time; only smaller pieces are
 *          copied, so a body trickled a byte at a time costs a byte a byte.
 *          The body must make progress every body_timeout and end within
 *          body_total.
 *   APP    the application holds the request until httpd_send_reply().
 *          Nothing more is parsed; bytes a client pipelines wait in the
 *          input buffer, which stops growing at the read high-water mark.
 *   STREAM the application sends a streaming answer (httpd_stream_begin):
 *          pieces go out as chunks as the application writes them; it
 *          writes while the output holds less than HTTPD_STREAM_HIGH and
 *          is told when it has drained below HTTPD_STREAM_LOW (the write
 *          low-water mark), so one stream never holds more than
 *          HTTPD_STREAM_RESERVE, which it reserves from the body budget.
 *          The client closing, or reading nothing for write_timeout, is
 *          reported to the application (HTTPD_STREAM_GONE) so that it can
 *          stop producing; a client that shuts down its side mid-stream is
 *          taken as gone, as no HTTP client half-closes to read an answer.
 *   WRITE  the answer is in the output buffer; write_timeout bounds each
 *          step.  When it is written, the next pipelined request is parsed
 *          (HEAD), or the connection closes.
 *   LINGER after an error that left some of a request unread: our side is
 *          shut down and what the client still sends is dropped for
 *          HTTPD_LINGER_MS, so that a close with unread data does not reset
 *          the connection before the client has read the answer.
 *
 * Every refusal by the server goes through the application's error callback
 * so that it has the application's error shape; every refusal closes the
 * connection.
 *
 * Ownership: the server owns connections; a connection owns its current
 * request until it is handed to the application (APP), from then the request
 * lives until httpd_send_reply() even if the connection goes first (its conn
 * pointer is then NULL and the answer is dropped).  Requests are also listed
 * in the server so that httpd_free() can free the ones still held.
 *
 * Connections are capped at max_connections: at the cap, the connection idle
 * longest (no request in progress, no byte waiting in the kernel either) is
 * closed to make room for the next; with none idle,
 * the listeners are disabled (the kernel's backlog holds newcomers) until a
 * connection closes.  An accept error (EMFILE) disables them for a moment
 * instead of spinning the loop.  Connections are freed only from the loop's
 * own callbacks (read, write, event, timer), never inside
 * httpd_send_reply(), so that the application's call stack never sees its
 * connection vanish.
 *
 * TLS.  A listener may carry a struct tls_server (tls.h): its connections
 * are OpenSSL bufferevents, accepting, made under the context current at
 * the accept (a reload swaps the context; the SSL keeps its own).  Above
 * the bufferevent nothing changes: the input holds plain text, the phases,
 * limits and timers are the same.  The handshake is part of HEAD: the
 * accept's head_timeout covers it, so a client that connects and never
 * completes one is closed like one that sends nothing.  A handshake or
 * record that fails (plain HTTP sent to the port, TLS 1.1 or older,
 * garbage) is an error event: the connection closes with one debug line
 * and no answer, since there is no channel to answer on.  An EOF without
 * close_notify counts as an EOF (allow_dirty_shutdown): HTTP/1.1 frames
 * its bodies itself.  Where the code works on the raw socket:
 *   - shutdown(SHUT_WR) before LINGER: the answer is already in the kernel
 *     (the write callback runs once SSL_write took all of it), so a
 *     close_notify is sent first and then the FIN, and what the client
 *     still sends is read through TLS and dropped as before;
 *   - ioctl(FIONREAD) (httpd_conn_has_unread, for the cap's eviction and
 *     the drain): encrypted bytes in the kernel are bytes of a request all
 *     the same; bytes OpenSSL decrypted but the bufferevent has not taken
 *     yet (SSL_pending) count too.
 *
 * Restarts.  A daemon restarted under load must fail no call.  The new one
 * binds (or is handed) its listeners held (httpd_hold): connections wait in
 * the backlog until it can serve them.  The old one drains (httpd_drain):
 * its listeners close, so new connections queue for the next daemon in the
 * socket systemd keeps; a request already begun, or one that comes on a
 * kept-alive connection within HTTPD_DRAIN_IDLE_MS of its last answer, is
 * served with Connection: close, so that its client's next call opens a new
 * connection.  A connection idle longer is closed, unless bytes of a request
 * are already in the kernel.  A client can still race a close with a send
 * on a connection it kept idle for that long: that is the keep-alive race
 * every HTTP/1.1 client handles, the same as at the idle timeout.
 */
#define _GNU_SOURCE
#include "httpd.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "httpreq.h"
#include "log.h"
#include "tls.h"
#include "utf8.h"
#include "util.h"

/* How long the listeners rest after an accept error. */
#define HTTPD_ACCEPT_RETRY_MS 100
/* The read high-water mark: what the input may hold while the application
 * has the request (pipelined bytes), room enough to gather body bytes. */
#define HTTPD_READ_HIGH (HTTPREQ_MAX_HEAD + 1024)
/* The most framing bytes looked at in one go. */
#define HTTPD_CHUNK_PULLUP 4096
#define HTTPD_LISTEN_BACKLOG 1024
/* Body bytes gathered in the input before they are moved on. */
#define HTTPD_BODY_MOVE_MIN (32 * 1024)
/* Idle-looking connections checked for unread bytes before one is closed. */
#define HTTPD_EVICT_ATTEMPTS 8
/* While draining, how long a kept-alive connection may stay idle: a client
 * that sends on it sooner is answered (with Connection: close); one idle
 * longer is not under load, and its pool sees the close before reusing it. */
#define HTTPD_DRAIN_IDLE_MS 250

enum httpd_phase {
	HTTPD_HEAD,
	HTTPD_BODY,
	HTTPD_APP,
	HTTPD_STREAM,
	HTTPD_WRITE,
	HTTPD_LINGER,
};

struct httpd_listener {
	struct evconnlistener *l;
	struct tls_server *tls; /* a reference; NULL: plain HTTP */
};

struct httpd_request {
	struct httpd *server;
	struct httpd_conn *conn; /* NULL once the connection is gone */
	TAILQ_ENTRY(httpd_request) link;
	struct buf head; /* the head's bytes, until parsed */
	struct httpreq parsed;
	char **values; /* parsed header values, repaired to UTF-8 */
	char *raw_path; /* the path as sent, when the parsed one had to be repaired */
	bool have_head;
	bool dispatched; /* handed to the application */
	struct evbuffer *body;
	size_t limit;      /* the most body bytes allowed */
	uint64_t reserved; /* bytes of the server's budget held */
	struct httpreq_chunked chunked;
	struct evbuffer *out_headers;
	httpd_stream_fn stream_cb; /* a streaming answer's, from httpd_stream_begin */
	void *stream_userdata;
	bool stream_chunked;  /* framed in chunks (else until the close) */
	bool stream_waiting;  /* the writer waits for HTTPD_STREAM_DRAINED */
};

struct httpd_conn {
	struct httpd *server;
	TAILQ_ENTRY(httpd_conn) link;
	struct bufferevent *bev;
	SSL *ssl; /* the bufferevent's, on a TLS listener; NULL for plain HTTP */
	struct event *timer;
	enum httpd_phase phase;
	struct httpd_request *req; /* the request being read or served */
	bool head_started;         /* the current head's first byte came */
	bool close_after;          /* close once the answer is written */
	bool linger;               /* and drop what the client still sends */
	bool peer_eof;             /* the client shut down its side */
	uint64_t idle_since;       /* ms; when it last became idle */
	uint64_t body_deadline;    /* ms */
	size_t body_seen;          /* body bytes in the input at the last look */
};

struct httpd {
	struct event_base *base;
	struct httpd_limits limits;
	httpd_head_fn on_head;
	httpd_request_fn on_request;
	httpd_error_fn on_error;
	void *userdata;
	struct httpd_listener *listeners;
	size_t n_listeners;
	bool paused;                  /* listeners disabled: at the connection cap */
	bool held;                    /* listeners disabled: not serving yet (httpd_hold) */
	bool draining;                /* httpd_drain: no listeners, every answer closes */
	httpd_drained_fn drained;     /* called once the last connection closes */
	void *drained_userdata;
	struct event *drained_ev;     /* runs drained from the loop */
	bool accept_error;            /* listeners disabled: an accept error, retry timer armed */
	uint64_t accept_error_logged; /* ms; accept errors are logged once a minute */
	struct event *retry;
	TAILQ_HEAD(, httpd_conn) conns;
	size_t n_conns;
	TAILQ_HEAD(, httpd_request) requests;
	uint64_t buffered;
	char date[64];
	time_t date_at;
};

static void httpd_conn_process(struct httpd_conn *c);
static void httpd_conn_free(struct httpd_conn *c);

const char *httpd_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Payload Too Large";
	case 414:
		return "URI Too Long";
	case 417:
		return "Expectation Failed";
	case 424:
		return "Failed Dependency";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return status >= 500 ? "Internal Server Error" : status >= 400 ? "Error" : "OK";
	}
}

/* --- requests ------------------------------------------------------------- */

/* A new, empty request on c. */
static struct httpd_request *httpd_request_new(struct httpd_conn *c)
{
	struct httpd_request *r = xcalloc(1, sizeof(*r));
	r->server = c->server;
	r->conn = c;
	r->head.max = HTTPREQ_MAX_HEAD + 64;
	httpreq_init(&r->parsed);
	r->body = evbuffer_new();
	r->out_headers = evbuffer_new();
	if (!r->body || !r->out_headers)
		abort();
	TAILQ_INSERT_TAIL(&c->server->requests, r, link);
	return r;
}

/* Free a request and give back its reservation. */
static void httpd_request_free(struct httpd_request *r)
{
	if (!r)
		return;
	r->server->buffered -= r->reserved;
	TAILQ_REMOVE(&r->server->requests, r, link);
	if (r->values)
		strv_free(r->values, r->parsed.n_headers);
	httpreq_clear(&r->parsed);
	free(r->raw_path);
	free(r->head.data);
	evbuffer_free(r->body);
	evbuffer_free(r->out_headers);
	free(r);
}

const char *httpd_request_method(const struct httpd_request *req)
{
	return req->have_head ? req->parsed.method : NULL;
}

const char *httpd_request_path(const struct httpd_request *req)
{
	return req->have_head ? req->parsed.path : NULL;
}

const char *httpd_request_header(const struct httpd_request *req, const char *name)
{
	if (!req->have_head)
		return NULL;
	for (size_t i = 0; i < req->parsed.n_headers; i++)
		if (strcasecmp(req->parsed.headers[i].name, name) == 0)
			return req->values[i];
	return NULL;
}

const char *httpd_request_raw_path(const struct httpd_request *req)
{
	if (!req->have_head)
		return NULL;
	return req->raw_path ? req->raw_path : req->parsed.path;
}

const char *httpd_request_raw_query(const struct httpd_request *req)
{
	return req->have_head ? httpreq_query(&req->parsed) : NULL;
}

size_t httpd_request_header_count(const struct httpd_request *req)
{
	return req->have_head ? req->parsed.n_headers : 0;
}

void httpd_request_header_at(const struct httpd_request *req, size_t i, const char **ret_name,
                             const char **ret_value)
{
	*ret_name = req->parsed.headers[i].name;
	*ret_value = req->parsed.headers[i].value;
}

struct evbuffer *httpd_request_body(struct httpd_request *req)
{
	return req->body;
}

int64_t httpd_request_content_length(const struct httpd_request *req)
{
	return req->have_head ? req->parsed.content_length : -1;
}

void httpd_add_header(struct httpd_request *req, const char *name, const char *value)
{
	_cleanup_free_ char *line = xasprintf("%s: %s", name, value ? value : "");
	for (char *p = line; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	evbuffer_add_printf(req->out_headers, "%s\r\n", line);
}

/* The Date header's value, formatted once a second. */
static const char *httpd_date(struct httpd *h)
{
	time_t now = time(NULL);
	if (now != h->date_at) {
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(h->date, sizeof(h->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		h->date_at = now;
	}
	return h->date;
}

/* (Re)arm c's timer for ms from now. */
static void httpd_conn_arm(struct httpd_conn *c, uint64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(c->timer, &tv);
}

void httpd_send_reply(struct httpd_request *req, int status, struct evbuffer *body)
{
	struct httpd_conn *c = req->conn;
	if (!c) {
		if (body)
			evbuffer_drain(body, evbuffer_get_length(body));
		httpd_request_free(req);
		return;
	}
	struct httpd *h = c->server;
	bool head_only = req->have_head && strcmp(req->parsed.method, "HEAD") == 0;
	size_t len = body ? evbuffer_get_length(body) : 0;
	/* At the cap with listeners paused, a finished connection makes room. */
	if (!req->have_head || !req->parsed.keep_alive || req != c->req || c->phase != HTTPD_APP ||
	    h->paused || h->draining)
		c->close_after = true;
	if (c->phase != HTTPD_APP)
		c->linger = true; /* refused before its body was read */

	struct evbuffer *out = bufferevent_get_output(c->bev);
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Length: %zu\r\n", status,
	                    httpd_reason(status), httpd_date(h), len);
	if (c->close_after)
		evbuffer_add_printf(out, "Connection: close\r\n");
	else if (req->parsed.version == 10)
		evbuffer_add_printf(out, "Connection: keep-alive\r\n");
	evbuffer_add_buffer(out, req->out_headers);
	evbuffer_add(out, "\r\n", 2);
	if (body && !head_only)
		evbuffer_add_buffer(out, body); /* moves the chains */
	else if (body)
		evbuffer_drain(body, len);

	c->phase = HTTPD_WRITE;
	c->req = NULL;
	evtimer_del(c->timer);
	httpd_request_free(req);
	bufferevent_enable(c->bev, EV_WRITE);
}

int httpd_stream_begin(struct httpd_request *req, int status, httpd_stream_fn cb,
                       void *userdata)
{
	struct httpd_conn *c = req->conn;
	if (!c)
		return -ENOTCONN;
	if (c->req != req || c->phase != HTTPD_APP)
		return -EINVAL;
	struct httpd *h = c->server;
	if (h->limits.max_buffered_bytes &&
	    h->buffered + HTTPD_STREAM_RESERVE > h->limits.max_buffered_bytes)
		return -ENOBUFS;
	h->buffered += HTTPD_STREAM_RESERVE;
	req->reserved += HTTPD_STREAM_RESERVE;
	req->stream_cb = cb;
	req->stream_userdata = userdata;
	req->stream_chunked = req->parsed.version == 11;
	if (!req->parsed.keep_alive || h->paused || h->draining || !req->stream_chunked)
		c->close_after = true;

	struct evbuffer *out = bufferevent_get_output(c->bev);
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, httpd_reason(status),
	                    httpd_date(h));
	if (req->stream_chunked)
		evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");
	if (c->close_after)
		evbuffer_add_printf(out, "Connection: close\r\n");
	evbuffer_add_buffer(out, req->out_headers);
	evbuffer_add(out, "\r\n", 2);
	c->phase = HTTPD_STREAM;
	bufferevent_setwatermark(c->bev, EV_WRITE, HTTPD_STREAM_LOW, 0);
	bufferevent_enable(c->bev, EV_WRITE);
	return 0;
}

bool httpd_stream_write(struct httpd_request *req, struct evbuffer *data)
{
	struct httpd_conn *c = req->conn;
	size_t n = evbuffer_get_length(data);
	if (!c || c->phase != HTTPD_STREAM) {
		evbuffer_drain(data, n);
		return true; /* HTTPD_STREAM_GONE says the rest */
	}
	if (n == 0)
		return !req->stream_waiting;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	if (req->stream_chunked)
		evbuffer_add_printf(out, "%zx\r\n", n);
	/* Copied, not moved: a piece is often a few bytes left in a chain the
	 * size of a socket read, and a slow client's output would hold that
	 * whole chain for each of its pieces (a MiB and more per stream where
	 * HTTPD_STREAM_HIGH means 128 KiB). */
	while (evbuffer_get_length(data) > 0) {
		size_t k = evbuffer_get_contiguous_space(data);
		evbuffer_add(out, evbuffer_pullup(data, (ev_ssize_t)k), k);
		evbuffer_drain(data, k);
	}
	if (req->stream_chunked)
		evbuffer_add(out, "\r\n", 2);
	bufferevent_enable(c->bev, EV_WRITE);
	if (evbuffer_get_length(out) >= HTTPD_STREAM_HIGH)
		req->stream_waiting = true;
	return !req->stream_waiting;
}

void httpd_stream_end(struct httpd_request *req)
{
	struct httpd_conn *c = req->conn;
	if (c && c->phase == HTTPD_STREAM) {
		struct evbuffer *out = bufferevent_get_output(c->bev);
		if (req->stream_chunked)
			evbuffer_add(out, "0\r\n\r\n", 5);
		if (c->server->draining || c->server->paused)
			c->close_after = true;
		c->phase = HTTPD_WRITE;
		c->req = NULL;
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
		bufferevent_enable(c->bev, EV_WRITE);
		if (evbuffer_get_length(out) == 0) /* all written: finish from the loop */
			bufferevent_trigger(c->bev, EV_WRITE,
			                    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	}
	httpd_request_free(req);
}

/* The server refuses c's request: answer through the application, close after. */
static void httpd_conn_refuse(struct httpd_conn *c, int status, const char *message)
{
	if (!c->req)
		c->req = httpd_request_new(c);
	struct httpd_request *req = c->req;
	c->close_after = true;
	log_debug("http: refusing a request with %d: %s", status, message);
	c->server->on_error(req, status, message, c->server->userdata);
	if (c->req == req) /* the application did not answer */
		httpd_send_reply(req, status, NULL);
}

/* --- connections ---------------------------------------------------------- */

/* Hand the complete request to the application. */
static void httpd_conn_dispatch(struct httpd_conn *c)
{
	struct httpd_request *req = c->req;
	c->phase = HTTPD_APP;
	evtimer_del(c->timer);
	req->dispatched = true;
	c->server->on_request(req, c->server->userdata);
}

/* The head was parsed: decide about the body. */
static void httpd_conn_head_done(struct httpd_conn *c)
{
	struct httpd *h = c->server;
	struct httpd_request *req = c->req;
	struct httpreq *p = &req->parsed;

	req->have_head = true;
	req->values = xcalloc(p->n_headers ? p->n_headers : 1, sizeof(*req->values));
	for (size_t i = 0; i < p->n_headers; i++)
		req->values[i] = utf8_sanitize_str(p->headers[i].value);
	if (!utf8_valid(p->path, strlen(p->path))) {
		char *fixed = utf8_sanitize_str(p->path);
		req->raw_path = p->pathbuf; /* a signature covers the bytes as sent */
		p->pathbuf = fixed;
		p->path = fixed;
	}
	free(req->head.data);
	req->head = (struct buf){0};

	/* The callback may answer (and so free req): look before touching it. */
	size_t limit = h->on_head(req, h->userdata);
	if (c->req != req)
		return; /* answered */
	req->limit = limit;
	if (p->content_length > 0 && (uint64_t)p->content_length > req->limit) {
		_cleanup_free_ char *msg =
		    xasprintf("Request body of %lld bytes is over the limit of %zu bytes.",
		              (long long)p->content_length, req->limit);
		httpd_conn_refuse(c, 413, msg);
		return;
	}
	if (p->content_length > 0) {
		uint64_t need = (uint64_t)p->content_length;
		if (h->limits.max_buffered_bytes &&
		    h->buffered + need > h->limits.max_buffered_bytes) {
			httpd_conn_refuse(c, 503,
			                  "The server holds as many request bodies as it can; "
			                  "try again later.");
			return;
		}
		h->buffered += need;
		req->reserved = need;
	}
	if (p->content_length <= 0 && !p->chunked) {
		httpd_conn_dispatch(c);
		return;
	}
	if (p->chunked)
		httpreq_chunked_init(&req->chunked);
	if (p->expect_continue && p->version == 11 &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) == 0)
		bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	c->phase = HTTPD_BODY;
	c->body_seen = 0;
	c->body_deadline = now_monotonic_ms() + h->limits.body_total_ms;
	httpd_conn_arm(c, h->limits.body_timeout_ms);
}

/* Parse what has come of a head. */
static void httpd_conn_read_head(struct httpd_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len = evbuffer_get_length(in);
	if (len == 0)
		return;
	if (!c->req)
		c->req = httpd_request_new(c);
	struct httpd_request *req = c->req;
	if (!c->head_started) {
		c->head_started = true;
		httpd_conn_arm(c, c->server->limits.head_timeout_ms);
	}
	/* Move the bytes into the head buffer: one copy of a head, however
	 * it is trickled; what follows the head goes back to the input. */
	size_t n = len < req->head.max - req->head.len ? len : req->head.max - req->head.len;
	if (n > 0) {
		_cleanup_free_ char *tmp = xmalloc(n);
		ev_ssize_t got = evbuffer_remove(in, tmp, n);
		if (got > 0)
			buf_append(&req->head, tmp, (size_t)got);
	}
	size_t consumed = 0;
	switch (httpreq_parse(&req->parsed, req->head.data, req->head.len, &consumed)) {
	case HTTPREQ_NEED_MORE:
		return;
	case HTTPREQ_ERROR:
		httpd_conn_refuse(c, req->parsed.error_status, req->parsed.error_reason);
		return;
	case HTTPREQ_DONE:
		if (consumed < req->head.len)
			evbuffer_prepend(in, req->head.data + consumed, req->head.len - consumed);
		httpd_conn_head_done(c);
		return;
	default:
		httpd_conn_refuse(c, 500, "unexpected parser state");
		return;
	}
}

/* Reserve n more body bytes for a chunked body; false (answered) when over. */
static bool httpd_conn_reserve(struct httpd_conn *c, size_t n)
{
	struct httpd *h = c->server;
	struct httpd_request *req = c->req;
	size_t have = evbuffer_get_length(req->body);
	if (have + n > req->limit) {
		_cleanup_free_ char *msg =
		    xasprintf("Request body of more than %zu bytes is over the limit of %zu "
		              "bytes.",
		              have + n - 1, req->limit);
		httpd_conn_refuse(c, 413, msg);
		return false;
	}
	if (have + n <= req->reserved)
		return true;
	uint64_t more = have + n - req->reserved;
	if (h->limits.max_buffered_bytes && h->buffered + more > h->limits.max_buffered_bytes) {
		httpd_conn_refuse(c, 503,
		                  "The server holds as many request bodies as it can; try again "
		                  "later.");
		return false;
	}
	h->buffered += more;
	req->reserved += more;
	return true;
}

/*
 * Take n body bytes from in.  Many are moved, chains and all; a few are
 * copied: a read makes a chain of 8 KiB however few bytes came, and moving
 * chains of one byte each would let a trickled body cost 8 KiB a byte.
 */
static void httpd_take(struct evbuffer *in, struct evbuffer *body, size_t n)
{
	if (n >= HTTPD_BODY_MOVE_MIN) {
		evbuffer_remove_buffer(in, body, n);
		return;
	}
	char tmp[4096];
	while (n > 0) {
		size_t k = n < sizeof(tmp) ? n : sizeof(tmp);
		int got = evbuffer_remove(in, tmp, k);
		if (got <= 0)
			return;
		evbuffer_add(body, tmp, (size_t)got);
		n -= (size_t)got;
	}
}

/* Move what has come of a body. */
static void httpd_conn_read_body(struct httpd_conn *c)
{
	struct httpd *h = c->server;
	struct httpd_request *req = c->req;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	bool progress = false;

	if (!req->parsed.chunked) {
		size_t want = (size_t)req->parsed.content_length - evbuffer_get_length(req->body);
		size_t avail = evbuffer_get_length(in);
		progress = avail > c->body_seen;
		/* Let the input gather what the reads bring (they fill its chains
		 * densely) and move it on in big pieces. */
		size_t step = want < HTTPD_BODY_MOVE_MIN ? want : HTTPD_BODY_MOVE_MIN;
		if (avail >= step) {
			size_t n = avail < want ? avail : want;
			httpd_take(in, req->body, n);
			if (n == want) {
				httpd_conn_dispatch(c);
				return;
			}
		}
		c->body_seen = evbuffer_get_length(in);
	} else {
		while (evbuffer_get_length(in) > 0) {
			size_t avail = evbuffer_get_length(in);
			size_t look = avail < HTTPD_CHUNK_PULLUP ? avail : HTTPD_CHUNK_PULLUP;
			const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)look);
			size_t used = 0;
			enum httpreq_result r =
			    httpreq_chunked_parse(&req->chunked, p, look, &used);
			evbuffer_drain(in, used);
			progress = progress || used > 0;
			if (r == HTTPREQ_ERROR) {
				httpd_conn_refuse(c, req->chunked.error_status,
				                  req->chunked.error_reason);
				return;
			}
			if (r == HTTPREQ_DONE) {
				httpd_conn_dispatch(c);
				return;
			}
			if (r != HTTPREQ_DATA)
				continue;
			avail = evbuffer_get_length(in);
			size_t n = avail < req->chunked.left ? avail : (size_t)req->chunked.left;
			if (n == 0)
				break;
			if (!httpd_conn_reserve(c, n))
				return;
			httpd_take(in, req->body, n);
			httpreq_chunked_data(&req->chunked, n);
			progress = true;
		}
	}
	if (progress) {
		uint64_t now = now_monotonic_ms();
		if (now >= c->body_deadline) {
			httpd_conn_refuse(c, 408, "The request body took too long.");
			return;
		}
		uint64_t left = c->body_deadline - now;
		httpd_conn_arm(c,
		               left < h->limits.body_timeout_ms ? left : h->limits.body_timeout_ms);
	}
}

/* Do what the bytes that came allow. */
static void httpd_conn_process(struct httpd_conn *c)
{
	enum httpd_phase before;
	do {
		before = c->phase;
		switch (c->phase) {
		case HTTPD_HEAD:
			httpd_conn_read_head(c);
			break;
		case HTTPD_BODY:
			httpd_conn_read_body(c);
			break;
		case HTTPD_LINGER: {
			struct evbuffer *in = bufferevent_get_input(c->bev);
			evbuffer_drain(in, evbuffer_get_length(in));
			break;
		}
		case HTTPD_APP:
		case HTTPD_STREAM:
		case HTTPD_WRITE:
			break;
		}
	} while (c->phase != before && (c->phase == HTTPD_HEAD || c->phase == HTTPD_BODY));
}

/* Bytes came. */
static void httpd_conn_read_cb(struct bufferevent *bev, void *arg)
{
	httpd_conn_process(arg);
}

/* Begin waiting for the next request on a kept-alive connection. */
static void httpd_conn_next(struct httpd_conn *c)
{
	c->phase = HTTPD_HEAD;
	c->head_started = false;
	c->idle_since = now_monotonic_ms();
	httpd_conn_arm(c, c->server->draining ? HTTPD_DRAIN_IDLE_MS
	                                      : c->server->limits.idle_timeout_ms);
	httpd_conn_process(c);
}

/*
 * Tell a TLS client that the answer is complete (close_notify) before the
 * connection closes, so that it can tell the end from a cut.  Best effort:
 * the socket does not block, and the alert is a few bytes after an answer
 * the kernel took.
 */
static void httpd_conn_close_notify(struct httpd_conn *c)
{
	if (!c->ssl || !SSL_is_init_finished(c->ssl))
		return;
	SSL_shutdown(c->ssl);
	ERR_clear_error();
}

/* The output is written. */
static void httpd_conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct httpd_conn *c = arg;
	if (c->phase == HTTPD_STREAM) {
		struct httpd_request *req = c->req;
		if (req->stream_waiting &&
		    evbuffer_get_length(bufferevent_get_output(bev)) <= HTTPD_STREAM_LOW) {
			req->stream_waiting = false;
			req->stream_cb(req, HTTPD_STREAM_DRAINED, req->stream_userdata);
		}
		return;
	}
	if (c->phase != HTTPD_WRITE)
		return;
	if (!c->close_after) {
		httpd_conn_next(c);
		/* A client that shut down its side sends no more requests than
		 * those already here. */
		if (c->peer_eof && (c->phase == HTTPD_HEAD || c->phase == HTTPD_BODY))
			httpd_conn_free(c);
		return;
	}
	/* Unread bytes at close() would reset the connection, and the client
	 * could lose the answer before reading it. */
	httpd_conn_close_notify(c);
	if ((c->linger || evbuffer_get_length(bufferevent_get_input(bev)) > 0) && !c->peer_eof) {
		c->phase = HTTPD_LINGER;
		shutdown(bufferevent_getfd(bev), SHUT_WR);
		bufferevent_enable(bev, EV_READ);
		httpd_conn_arm(c, HTTPD_LINGER_MS);
		httpd_conn_process(c);
		return;
	}
	httpd_conn_free(c);
}

/* A TLS connection failed (a handshake most often: plain HTTP, an old
 * protocol version, garbage): say why at debug, once. */
static void httpd_conn_log_tls_error(struct httpd_conn *c)
{
	struct buf why = {.max = 1024};
	unsigned long e;
	char line[256];

	while ((e = bufferevent_get_openssl_error(c->bev)) != 0) {
		if (ERR_GET_LIB(e) == 0)
			continue; /* libevent queues SSL_get_error()'s code as well */
		ERR_error_string_n(e, line, sizeof(line));
		buf_printf(&why, "%s%s", why.len ? "; " : "", line);
	}
	int se = EVUTIL_SOCKET_ERROR();
	log_debug("http: closing a TLS connection %s: %s",
	          SSL_is_init_finished(c->ssl) ? "after an error" : "whose handshake failed",
	          why.len ? why.data : se ? strerror(se) : "the client closed it");
	buf_reset(&why);
	ERR_clear_error();
}

/* EOF, an error, a write timeout, or a TLS handshake done. */
static void httpd_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct httpd_conn *c = arg;
	if (what & BEV_EVENT_CONNECTED)
		return; /* a TLS handshake completed */
	if (c->ssl && (what & BEV_EVENT_ERROR))
		httpd_conn_log_tls_error(c);
	if ((what & BEV_EVENT_EOF) && (c->phase == HTTPD_APP || c->phase == HTTPD_WRITE)) {
		/* Half-closed, perhaps: answer what came, then close. */
		c->peer_eof = true;
		return;
	}
	httpd_conn_free(c);
}

/* Whether the kernel holds bytes of c's that were not read yet. */
static bool httpd_conn_has_unread(const struct httpd_conn *c)
{
	int pending = 0;
	if (c->ssl && SSL_pending(c->ssl) > 0)
		return true; /* decrypted, not yet in the input */
	return ioctl(bufferevent_getfd(c->bev), FIONREAD, &pending) == 0 && pending > 0;
}

/* A phase's deadline passed. */
static void httpd_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpd_conn *c = arg;
	switch (c->phase) {
	case HTTPD_HEAD:
		if (c->head_started) {
			httpd_conn_refuse(c, 408, "The request head took too long.");
			return;
		}
		if (c->server->draining && httpd_conn_has_unread(c)) {
			/* A request is arriving: the read callback takes it. */
			httpd_conn_arm(c, HTTPD_DRAIN_IDLE_MS);
			return;
		}
		httpd_conn_free(c); /* idle */
		return;
	case HTTPD_BODY:
		httpd_conn_refuse(c, 408, "The request body is too slow.");
		c->linger = false;
		return;
	case HTTPD_LINGER:
	case HTTPD_APP:
	case HTTPD_STREAM:
	case HTTPD_WRITE:
		httpd_conn_free(c);
		return;
	}
}

/* Whether c holds no request and no byte of one. */
static bool httpd_conn_idle(const struct httpd_conn *c)
{
	return c->phase == HTTPD_HEAD && !c->head_started && !c->req &&
	       evbuffer_get_length(bufferevent_get_input(c->bev)) == 0;
}

/* Enable or disable every listener. */
static void httpd_listeners_enable(struct httpd *h, bool on)
{
	for (size_t i = 0; i < h->n_listeners; i++)
		if (h->listeners[i].l) {
			if (on)
				evconnlistener_enable(h->listeners[i].l);
			else
				evconnlistener_disable(h->listeners[i].l);
		}
}

/* Listen again if nothing holds the listeners back. */
static void httpd_maybe_resume(struct httpd *h)
{
	if (h->paused && (!h->limits.max_connections || h->n_conns < h->limits.max_connections)) {
		h->paused = false;
		if (!h->accept_error && !h->held)
			httpd_listeners_enable(h, true);
	}
}

static void httpd_conn_free(struct httpd_conn *c)
{
	struct httpd *h = c->server;
	struct httpd_request *streaming = NULL;
	if (c->req) {
		if (c->req->dispatched && c->phase == HTTPD_STREAM)
			streaming = c->req;
		if (c->req->dispatched)
			c->req->conn = NULL; /* the application answers into the void */
		else
			httpd_request_free(c->req);
	}
	bufferevent_free(c->bev);
	event_free(c->timer);
	TAILQ_REMOVE(&h->conns, c, link);
	h->n_conns--;
	free(c);
	httpd_maybe_resume(h);
	if (h->draining && h->n_conns == 0)
		event_active(h->drained_ev, EV_TIMEOUT, 0);
	/* Last: the application may end (free) the stream from here. */
	if (streaming)
		streaming->stream_cb(streaming, HTTPD_STREAM_GONE, streaming->stream_userdata);
}

/* At the cap: close the connection idle longest other than keep; false if none. */
static bool httpd_evict_idle(struct httpd *h, const struct httpd_conn *keep)
{
	for (int attempt = 0; attempt < HTTPD_EVICT_ATTEMPTS; attempt++) {
		struct httpd_conn *c, *oldest = NULL;
		TAILQ_FOREACH(c, &h->conns, link)
		{
			if (c != keep && httpd_conn_idle(c) &&
			    (!oldest || c->idle_since < oldest->idle_since))
				oldest = c;
		}
		if (!oldest)
			return false;
		/* Accepted or kept alive, but with bytes not read yet: busy. */
		if (httpd_conn_has_unread(oldest)) {
			oldest->idle_since = now_monotonic_ms();
			continue;
		}
		httpd_conn_free(oldest);
		return true;
	}
	return false;
}

/* A connection came. */
static void httpd_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                            int socklen, void *arg)
{
	struct httpd *h = arg;
	struct tls_server *tls = NULL;
	for (size_t i = 0; i < h->n_listeners; i++)
		if (h->listeners[i].l == l)
			tls = h->listeners[i].tls;
	struct bufferevent *bev;
	SSL *ssl = NULL;
	if (tls) {
		ssl = tls_server_new_ssl(tls);
		if (!ssl) {
			close(fd);
			return;
		}
		/* The bufferevent frees ssl and closes fd with itself.  It
		 * fails only out of memory, and then its own error path has
		 * them (which differs between libevent versions). */
		bev = bufferevent_openssl_socket_new(h->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
		                                     BEV_OPT_CLOSE_ON_FREE);
		if (bev)
			bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	} else {
		bev = bufferevent_socket_new(h->base, fd, BEV_OPT_CLOSE_ON_FREE);
		if (!bev)
			close(fd);
	}
	if (!bev)
		return;
	struct httpd_conn *c = xcalloc(1, sizeof(*c));
	c->server = h;
	c->bev = bev;
	c->ssl = ssl;
	c->phase = HTTPD_HEAD;
	c->idle_since = now_monotonic_ms();
	c->timer = evtimer_new(h->base, httpd_conn_timer_cb, c);
	if (!c->timer)
		abort();
	TAILQ_INSERT_TAIL(&h->conns, c, link);
	h->n_conns++;
	bufferevent_setcb(bev, httpd_conn_read_cb, httpd_conn_write_cb, httpd_conn_event_cb, c);
	bufferevent_setwatermark(bev, EV_READ, 0, HTTPD_READ_HIGH);
	struct timeval wt = {(time_t)(h->limits.write_timeout_ms / 1000),
	                     (suseconds_t)(h->limits.write_timeout_ms % 1000) * 1000};
	bufferevent_set_timeouts(bev, NULL, &wt);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	httpd_conn_arm(c, h->limits.head_timeout_ms);

	if (h->limits.max_connections && h->n_conns >= h->limits.max_connections &&
	    !httpd_evict_idle(h, c)) {
		if (!h->paused)
			log_notice("http: %zu connections open, none idle: not accepting more "
			           "until one closes",
			           h->n_conns);
		h->paused = true;
		httpd_listeners_enable(h, false);
	}
}

/* The listeners rested: listen again. */
static void httpd_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpd *h = arg;
	h->accept_error = false;
	if (!h->paused && !h->held)
		httpd_listeners_enable(h, true);
}

/* accept() failed (EMFILE, ENFILE, ENOBUFS…): rest instead of spinning. */
static void httpd_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct httpd *h = arg;
	int e = EVUTIL_SOCKET_ERROR();
	if (e == EINTR || e == EAGAIN || e == ECONNABORTED)
		return;
	uint64_t now = now_monotonic_ms();
	if (!h->accept_error_logged || now - h->accept_error_logged >= 60000) {
		log_warning("http: accept failed: %s; pausing the listeners for %d ms at a time",
		            strerror(e), HTTPD_ACCEPT_RETRY_MS);
		h->accept_error_logged = now;
	}
	/* Room for the next one, if a connection is only idling. */
	httpd_evict_idle(h, NULL);
	h->accept_error = true;
	httpd_listeners_enable(h, false);
	struct timeval tv = {0, HTTPD_ACCEPT_RETRY_MS * 1000};
	evtimer_add(h->retry, &tv);
}

/* --- the server ----------------------------------------------------------- */

/* The last connection closed while draining: say so, once. */
static void httpd_drained_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpd *h = arg;
	httpd_drained_fn cb = h->drained;
	h->drained = NULL;
	if (cb && h->n_conns == 0)
		cb(h->drained_userdata);
}

struct httpd *httpd_new(struct event_base *base, const struct httpd_limits *limits,
                        httpd_head_fn on_head, httpd_request_fn on_request, httpd_error_fn on_error,
                        void *userdata)
{
	struct httpd *h = xcalloc(1, sizeof(*h));
	h->base = base;
	h->limits = *limits;
	h->on_head = on_head;
	h->on_request = on_request;
	h->on_error = on_error;
	h->userdata = userdata;
	TAILQ_INIT(&h->conns);
	TAILQ_INIT(&h->requests);
	h->retry = evtimer_new(base, httpd_retry_cb, h);
	h->drained_ev = event_new(base, -1, 0, httpd_drained_cb, h);
	if (!h->retry || !h->drained_ev)
		abort();
	return h;
}

void httpd_set_limits(struct httpd *h, const struct httpd_limits *limits)
{
	h->limits = *limits;
	httpd_maybe_resume(h);
}

struct httpd *httpd_free(struct httpd *h)
{
	if (!h)
		return NULL;
	httpd_close_listeners(h);
	struct httpd_conn *c;
	while ((c = TAILQ_FIRST(&h->conns)))
		httpd_conn_free(c);
	struct httpd_request *r;
	while ((r = TAILQ_FIRST(&h->requests)))
		httpd_request_free(r);
	event_free(h->retry);
	event_free(h->drained_ev);
	free(h->listeners);
	free(h);
	return NULL;
}

/* Add a listener on fd (listening already), with TLS when tls is not NULL. */
static int httpd_add_listener(struct httpd *h, int fd, struct tls_server *tls)
{
	struct evconnlistener *l = evconnlistener_new(
	    h->base, httpd_accept_cb, h, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (!l)
		return -errno ? -errno : -ENOMEM;
	evconnlistener_set_error_cb(l, httpd_accept_error_cb);
	if (h->paused || h->accept_error || h->held)
		evconnlistener_disable(l);
	h->listeners = xreallocarray(h->listeners, h->n_listeners + 1, sizeof(*h->listeners));
	h->listeners[h->n_listeners++] =
	    (struct httpd_listener){.l = l, .tls = tls_server_ref(tls)};
	return 0;
}

int httpd_listen_fd(struct httpd *h, int fd)
{
	return httpd_listen_fd_tls(h, fd, NULL);
}

int httpd_listen_fd_tls(struct httpd *h, int fd, struct tls_server *tls)
{
	if (evutil_make_socket_nonblocking(fd) < 0)
		return -errno;
	return httpd_add_listener(h, fd, tls);
}

int httpd_listen_tcp(struct httpd *h, const char *host, uint16_t port)
{
	return httpd_listen_tcp_tls(h, host, port, NULL);
}

int httpd_listen_tcp_tls(struct httpd *h, const char *host, uint16_t port, struct tls_server *tls)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	char service[8];
	snprintf(service, sizeof(service), "%u", (unsigned)port);
	int r = getaddrinfo(host, service, &hints, &res);
	if (r != 0)
		return r == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, HTTPD_LISTEN_BACKLOG) < 0) {
		r = -errno;
		close(fd);
		goto out;
	}
	r = httpd_add_listener(h, fd, tls);
	if (r < 0)
		close(fd);
out:
	freeaddrinfo(res);
	return r;
}

void httpd_close_listeners(struct httpd *h)
{
	for (size_t i = 0; i < h->n_listeners; i++)
		if (h->listeners[i].l) {
			evconnlistener_free(h->listeners[i].l);
			h->listeners[i].l = NULL;
			h->listeners[i].tls = tls_server_unref(h->listeners[i].tls);
		}
}

void httpd_hold(struct httpd *h, bool hold)
{
	h->held = hold;
	if (!hold && !h->paused && !h->accept_error)
		httpd_listeners_enable(h, true);
	else if (hold)
		httpd_listeners_enable(h, false);
}

void httpd_drain(struct httpd *h, httpd_drained_fn cb, void *userdata)
{
	httpd_close_listeners(h);
	h->draining = true;
	h->drained = cb;
	h->drained_userdata = userdata;
	uint64_t now = now_monotonic_ms();
	struct httpd_conn *c, *next;
	for (c = TAILQ_FIRST(&h->conns); c; c = next) {
		next = TAILQ_NEXT(c, link);
		if (!httpd_conn_idle(c))
			continue; /* answered with Connection: close */
		uint64_t idle = now - c->idle_since;
		if (idle >= HTTPD_DRAIN_IDLE_MS && !httpd_conn_has_unread(c))
			httpd_conn_free(c);
		else
			httpd_conn_arm(c, idle >= HTTPD_DRAIN_IDLE_MS ? HTTPD_DRAIN_IDLE_MS
			                                              : HTTPD_DRAIN_IDLE_MS - idle);
	}
	if (h->n_conns == 0)
		event_active(h->drained_ev, EV_TIMEOUT, 0);
}

size_t httpd_connections(const struct httpd *h)
{
	return h->n_conns;
}

uint64_t httpd_buffered_bytes(const struct httpd *h)
{
	return h->buffered;
}
