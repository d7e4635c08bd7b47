/*
 * The data plane's HTTP/1.1 client.
 *
 * Why not libcurl, which httpc uses for everything else: under load a curl
 * transfer costs about a dozen system calls (epoll_ctl as curl toggles its
 * interest, poll() to check a cached connection before reuse, FIONREAD) and
 * a pass through its connection cache, header and timer machinery; the
 * daemon's event loop thread then spends more CPU per invocation than the
 * container it forwards to.  Here a connection is registered with epoll once,
 * edge-triggered for reading and writing, and a call on a warm connection is
 * one sendmsg and one recvmsg (or a few for big bodies).
 *
 * Sockets from a container's dialer share their open file description with
 * the container, which may clear O_NONBLOCK on it at any moment: every send
 * and receive says MSG_DONTWAIT instead of trusting the flag, and such a
 * socket's SO_LINGER is reset before it is closed (a lingering close of a
 * blocking socket would wait for the peer).
 *
 * A call for a container without a network (dialer_only) takes connections
 * from its dialer alone: none to a port, and no other container's, as its
 * pool is the dialer's, not a port's.  When the dialer does not answer with
 * a socket the call ends as a refused connection (nothing was sent).
 *
 * Connections: one idle stack per port (the most recently used first, so a
 * server's keep-alive timeout closes the cold end), at most UPSTREAM_MAX_IDLE
 * idle over all ports (the least recently used is closed to make room), each
 * closed after UPSTREAM_IDLE_TIMEOUT_MS unused or as soon as its peer closes
 * it.  A call on a reused connection that ends before the first byte of an
 * answer (the server closed it while we picked it) is sent once more on a new
 * connection, as browsers and curl do; nothing else is retried here.
 *
 * Answers: Content-Length, chunked, or until close; 1xx interim answers are
 * skipped.  The parser is strict, as the model server is not trusted: lines
 * end in CRLF, header names are tokens, values hold no control bytes,
 * Content-Length is digits only, a chunk size is 1 to 16 hex digits, and an
 * answer with both Content-Length and Transfer-Encoding (a way to smuggle a
 * second answer onto a kept-alive connection) is refused and its connection
 * closed.  Every buffer has a bound: UPSTREAM_MAX_HEAD for the head and the
 * trailers, UPSTREAM_MAX_CHUNK_LINE for a chunk's size line and extensions,
 * max_response for the body.
 *
 * Map: pools and connections, the call's end (upstream_call_finish), writing,
 * reading and the answer's parser, the event callbacks, the public API.
 */
#define _GNU_SOURCE
#include "upstream.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "dialer.h"
#include "util.h"

#define UPSTREAM_POOL_BUCKETS 64
#define UPSTREAM_MAX_HEADERS 100
#define UPSTREAM_READ_MIN 16384
#define UPSTREAM_READ_MAX (256 * 1024)
#define UPSTREAM_SWEEP_MS 5000
#define UPSTREAM_SEND_IOV 64
#define UPSTREAM_MAX_CHUNK_LINE 4096

enum upstream_parse {
	UPSTREAM_PARSE_HEAD,
	UPSTREAM_PARSE_LENGTH, /* Content-Length bytes */
	UPSTREAM_PARSE_CLOSE,  /* until the peer closes */
	UPSTREAM_PARSE_CHUNK_SIZE,
	UPSTREAM_PARSE_CHUNK_DATA,
	UPSTREAM_PARSE_CHUNK_END, /* the CRLF after a chunk's data */
	UPSTREAM_PARSE_TRAILERS,
	UPSTREAM_PARSE_DONE,
};

struct upstream_pool;

/* One TCP connection to addr:port (127.0.0.1 unless the request named a
 * node's address).  Owned by the upstream: in a pool's
 * idle stack, or serving exactly one call (which points back at it). */
struct upstream_conn {
	struct upstream *u;
	int fd;
	uint32_t addr; /* network order */
	uint16_t port;
	bool connecting;
	bool et;     /* edge-triggered: both events stay added for life */
	bool served; /* has answered a call before: may have gone stale */
	bool passed; /* came from a container's dialer: shares its flags */
	bool peer_closed; /* an event said the peer closed its side */
	struct dialer *dialer; /* a reference: the pool's key, for dialer_only calls */
	struct event rev, wev;
	struct evbuffer *in, *out;
	struct upstream_call *call; /* NULL while idle */
	struct upstream_pool *pool; /* while idle */
	uint64_t idle_since_ms;
	TAILQ_ENTRY(upstream_conn) pool_entry; /* in pool->idle, newest first */
	TAILQ_ENTRY(upstream_conn) lru_entry;  /* in u->lru, oldest first */
};

TAILQ_HEAD(upstream_conn_list, upstream_conn);

/* The idle connections to one address and port, or from one dialer (dialer set). */
struct upstream_pool {
	uint32_t addr; /* network order */
	uint16_t port;
	const struct dialer *dialer;
	struct upstream_conn_list idle;
	LIST_ENTRY(upstream_pool) entry;
};

/* One call.  Owned by the upstream from upstream_start() until its done
 * returns. */
struct upstream_call {
	struct upstream *u;
	LIST_ENTRY(upstream_call) entry;
	struct upstream_conn *conn;
	struct event timer; /* connect, then the whole call; also the deferred end */
	upstream_done_fn done;
	void *userdata;

	uint32_t addr;                  /* network order */
	char host[INET_ADDRSTRLEN];     /* addr, for the Host header and messages */
	uint16_t port;
	struct dialer *dialer;          /* a reference, or NULL */
	struct dialer_request *dialing; /* waiting for the dialer's socket */
	bool dial_failed;               /* connect to the port instead */
	bool dialer_only;               /* never connect to the port */
	char *head;                     /* the request's line and headers */
	size_t head_len;
	struct evbuffer *req_body; /* lent */
	unsigned connect_timeout_ms;
	uint64_t deadline_ms; /* monotonic */
	size_t max_response;
	bool retried; /* the one retry on a fresh connection is spent */

	int pending_result; /* an end decided inside upstream_start, or a cancel */
	const char *pending_error;

	/* Streaming: the head and each piece go to on_piece (NULL when the
	 * call does not stream, or once it collects). */
	upstream_piece_fn on_piece;
	unsigned idle_timeout_ms;
	bool head_delivered;
	bool paused;    /* the caller wants no more pieces for now */
	bool cancelled; /* ends with -ECANCELED on the next loop turn */

	enum upstream_parse parse;
	int status;
	bool keep_alive;
	uint64_t left; /* of Content-Length, or of the chunk */
	size_t trailer_bytes;
	size_t n_trailers;
	char *resp_head; /* the answer's head, cut into names and values */
	const char *names[UPSTREAM_MAX_HEADERS], *values[UPSTREAM_MAX_HEADERS];
	size_t n_headers;
	struct evbuffer *body;
	char error[160];
};

struct upstream {
	struct event_base *base;
	bool et;
	LIST_HEAD(, upstream_call) calls;
	LIST_HEAD(, upstream_pool) buckets[UPSTREAM_POOL_BUCKETS];
	struct upstream_conn_list lru;
	size_t n_calls, n_conns, n_idle;
	struct event sweep;
};

static void upstream_conn_event(evutil_socket_t fd, short what, void *arg);
static void upstream_call_send(struct upstream_call *c);

/* --- pools and connections --------------------------------------------- */

/* The pool of port, or of dialer when it is set, made when make is set;
 * NULL when there is none.  A dialer's address cannot name another while
 * its pool lives: each idle connection in it holds a reference. */
static struct upstream_pool *upstream_pool_get(struct upstream *u, uint32_t addr, uint16_t port,
                                               const struct dialer *dialer, bool make)
{
	size_t b = (port ^ addr ^ ((uintptr_t)dialer >> 4)) % UPSTREAM_POOL_BUCKETS;
	struct upstream_pool *p;
	LIST_FOREACH(p, &u->buckets[b], entry)
	if (p->addr == addr && p->port == port && p->dialer == dialer)
		return p;
	if (!make)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->addr = addr;
	p->port = port;
	p->dialer = dialer;
	TAILQ_INIT(&p->idle);
	LIST_INSERT_HEAD(&u->buckets[b], p, entry);
	return p;
}

/* Take conn out of the idle stacks; its pool goes when it empties. */
static void upstream_conn_unidle(struct upstream_conn *conn)
{
	struct upstream *u = conn->u;
	struct upstream_pool *p = conn->pool;
	if (!p)
		return;
	TAILQ_REMOVE(&p->idle, conn, pool_entry);
	TAILQ_REMOVE(&u->lru, conn, lru_entry);
	conn->pool = NULL;
	u->n_idle--;
	if (TAILQ_EMPTY(&p->idle)) {
		LIST_REMOVE(p, entry);
		free(p);
	}
}

/* Close conn and forget it.  Its call, if any, must have let go of it. */
static void upstream_conn_close(struct upstream_conn *conn)
{
	upstream_conn_unidle(conn);
	event_del(&conn->rev);
	event_del(&conn->wev);
	if (conn->passed) {
		struct linger lg = {0, 0};
		(void)setsockopt(conn->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(conn->fd);
	dialer_unref(conn->dialer);
	evbuffer_free(conn->in);
	evbuffer_free(conn->out);
	conn->u->n_conns--;
	free(conn);
}

/* Watch conn for writability too; edge-triggered connections always do. */
static void upstream_conn_want_write(struct upstream_conn *conn, bool want)
{
	if (conn->et)
		return;
	if (want)
		event_add(&conn->wev, NULL);
	else
		event_del(&conn->wev);
}

/* Close idle connections unused for UPSTREAM_IDLE_TIMEOUT_MS. */
static void upstream_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct upstream *u = arg;
	uint64_t now = now_monotonic_ms();
	struct upstream_conn *conn;
	while ((conn = TAILQ_FIRST(&u->lru)) &&
	       now - conn->idle_since_ms >= UPSTREAM_IDLE_TIMEOUT_MS)
		upstream_conn_close(conn);
	if (u->n_idle) {
		struct timeval tv = {UPSTREAM_SWEEP_MS / 1000, 0};
		evtimer_add(&u->sweep, &tv);
	}
}

/* Put conn, clean after a whole answer, on top of its port's stack. */
static void upstream_conn_idle(struct upstream_conn *conn)
{
	struct upstream *u = conn->u;
	if (u->n_idle >= UPSTREAM_MAX_IDLE)
		upstream_conn_close(TAILQ_FIRST(&u->lru));
	struct upstream_pool *p = upstream_pool_get(u, conn->addr, conn->port, conn->dialer, true);
	conn->call = NULL;
	conn->served = true;
	conn->pool = p;
	conn->idle_since_ms = now_monotonic_ms();
	TAILQ_INSERT_HEAD(&p->idle, conn, pool_entry);
	TAILQ_INSERT_TAIL(&u->lru, conn, lru_entry);
	if (u->n_idle++ == 0 && !evtimer_pending(&u->sweep, NULL)) {
		struct timeval tv = {UPSTREAM_SWEEP_MS / 1000, 0};
		evtimer_add(&u->sweep, &tv);
	}
}

/* The newest idle connection to addr:port (from dialer, when set), or NULL. */
static struct upstream_conn *upstream_conn_take(struct upstream *u, uint32_t addr, uint16_t port,
                                                const struct dialer *dialer)
{
	struct upstream_pool *p = upstream_pool_get(u, addr, port, dialer, false);
	if (!p)
		return NULL;
	struct upstream_conn *conn = TAILQ_FIRST(&p->idle);
	upstream_conn_unidle(conn);
	return conn;
}

/* A connection around fd, a socket connected or connecting to addr:port. */
static struct upstream_conn *upstream_conn_adopt(struct upstream *u, uint32_t addr, uint16_t port,
                                                 int fd, bool connecting, bool passed)
{
	struct upstream_conn *conn = xcalloc(1, sizeof(*conn));
	conn->u = u;
	conn->addr = addr;
	conn->passed = passed;
	conn->fd = fd;
	conn->port = port;
	conn->et = u->et;
	conn->connecting = connecting;
	conn->in = evbuffer_new();
	conn->out = evbuffer_new();
	if (!conn->in || !conn->out)
		abort();
	short et = conn->et ? EV_ET : 0;
	event_assign(&conn->rev, u->base, fd,
	             EV_READ | EV_PERSIST | (conn->et ? EV_CLOSED | EV_ET : 0), upstream_conn_event,
	             conn);
	event_assign(&conn->wev, u->base, fd, EV_WRITE | EV_PERSIST | et, upstream_conn_event,
	             conn);
	event_add(&conn->rev, NULL);
	if (conn->et || connecting)
		event_add(&conn->wev, NULL);
	u->n_conns++;
	return conn;
}

/* A new connection to addr:port, connecting; NULL with -errno in
 * *ret_error (-ECONNREFUSED when loopback refused it at once). */
static struct upstream_conn *upstream_conn_open(struct upstream *u, uint32_t addr, uint16_t port,
                                                int *ret_error)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*ret_error = -errno;
		return NULL;
	}
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct sockaddr_in sin = {
	    .sin_family = AF_INET,
	    .sin_port = htons(port),
	    .sin_addr.s_addr = addr,
	};
	bool connecting = false;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		if (errno != EINPROGRESS) {
			*ret_error = -errno;
			close(fd);
			return NULL;
		}
		connecting = true;
	}
	return upstream_conn_adopt(u, addr, port, fd, connecting, false);
}

/* --- the end of a call --------------------------------------------------- */

/* End c: hand its connection back (to the pool when the answer was whole and
 * the server keeps it open) or close it, then call done once and free c. */
static void upstream_call_finish(struct upstream_call *c, int result, const char *error)
{
	struct upstream *u = c->u;
	struct upstream_conn *conn = TAKE_PTR(c->conn);
	if (conn) {
		conn->call = NULL;
		if (result == 0 && c->keep_alive && !c->cancelled &&
		    evbuffer_get_length(conn->in) == 0 &&
		    evbuffer_get_length(conn->out) == 0) {
			upstream_conn_want_write(conn, false);
			upstream_conn_idle(conn);
		} else {
			upstream_conn_close(conn);
		}
	}
	event_del(&c->timer);
	dialer_cancel(TAKE_PTR(c->dialing));
	LIST_REMOVE(c, entry);
	u->n_calls--;

	struct upstream_response r = {
	    .result = result,
	    .error = result ? error : NULL,
	    .status = c->status,
	    .body = c->body,
	    .call = c,
	};
	c->done(&r, c->userdata);
	evbuffer_free(c->body);
	dialer_unref(c->dialer);
	free(c->resp_head);
	free(c->head);
	free(c);
}

/* End c with -errno and words made from fmt. */
static void upstream_call_fail(struct upstream_call *c, int result, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void upstream_call_fail(struct upstream_call *c, int result, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	upstream_call_finish(c, result, c->error);
}

/* Arm c's timer for what is left of its deadline (or the connect timeout,
 * whichever is first). */
static void upstream_call_arm(struct upstream_call *c, bool connecting)
{
	uint64_t now = now_monotonic_ms();
	uint64_t left = c->deadline_ms > now ? c->deadline_ms - now : 0;
	if (connecting && c->connect_timeout_ms < left)
		left = c->connect_timeout_ms;
	else if (!connecting && c->idle_timeout_ms && !c->paused && c->idle_timeout_ms < left)
		left = c->idle_timeout_ms;
	struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
	evtimer_add(&c->timer, &tv);
}

/* The call's connection failed before the first byte of an answer.  A
 * connection that had served before is likely one the server closed while
 * it idled: send once more on a new one.  True when the retry is under way
 * (the old connection is closed), false to let the caller end c. */
static bool upstream_call_retry_stale(struct upstream_call *c)
{
	struct upstream_conn *conn = c->conn;
	if (c->retried || !conn->served || c->status != 0 || evbuffer_get_length(conn->in) != 0)
		return false;
	c->retried = true;
	c->conn = NULL;
	upstream_conn_close(conn);
	upstream_call_send(c);
	return true;
}

/* --- writing ------------------------------------------------------------- */

/* One sendmsg of what conn->out holds: bytes sent, -EAGAIN when the socket
 * takes nothing now, or -errno. */
static ssize_t upstream_conn_send(struct upstream_conn *conn)
{
	struct evbuffer_iovec vec[UPSTREAM_SEND_IOV];
	struct iovec iov[UPSTREAM_SEND_IOV];
	int nvec = evbuffer_peek(conn->out, -1, NULL, vec, UPSTREAM_SEND_IOV);
	if (nvec > UPSTREAM_SEND_IOV)
		nvec = UPSTREAM_SEND_IOV;
	for (int i = 0; i < nvec; i++) {
		iov[i].iov_base = vec[i].iov_base;
		iov[i].iov_len = vec[i].iov_len;
	}
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)(nvec > 0 ? nvec : 0)};
	ssize_t n;
	do
		n = sendmsg(conn->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	evbuffer_drain(conn->out, (size_t)n);
	return n;
}

/* Write what is left of the request.  False when c has ended. */
static bool upstream_call_write(struct upstream_call *c)
{
	struct upstream_conn *conn = c->conn;
	while (evbuffer_get_length(conn->out) > 0) {
		ssize_t n = upstream_conn_send(conn);
		if (n >= 0)
			continue;
		if (n == -EAGAIN) {
			upstream_conn_want_write(conn, true);
			return true;
		}
		int e = (int)-n;
		if (upstream_call_retry_stale(c))
			return false;
		upstream_call_fail(c, e == EPIPE ? -ECONNRESET : -e, "writing to %s:%u: %s",
		                   c->host, c->port, strerror(e));
		return false;
	}
	upstream_conn_want_write(conn, false);
	return true;
}

/* Queue the request on c->conn and start writing it, once it is connected. */
static void upstream_call_begin(struct upstream_call *c)
{
	struct upstream_conn *conn = c->conn;
	conn->call = c;
	evbuffer_add_reference(conn->out, c->head, c->head_len, NULL, NULL);
	if (c->req_body && evbuffer_get_length(c->req_body) > 0 &&
	    evbuffer_add_buffer_reference(conn->out, c->req_body) < 0) {
		/* Chains that cannot be shared (file segments): copy them. */
		struct evbuffer_ptr at;
		evbuffer_ptr_set(c->req_body, &at, 0, EVBUFFER_PTR_SET);
		struct evbuffer_iovec v;
		while (evbuffer_peek(c->req_body, -1, &at, &v, 1) > 0 && v.iov_len > 0) {
			evbuffer_add(conn->out, v.iov_base, v.iov_len);
			if (evbuffer_ptr_set(c->req_body, &at, v.iov_len, EVBUFFER_PTR_ADD) < 0)
				break;
		}
	}
	upstream_call_arm(c, conn->connecting);
	if (!conn->connecting)
		upstream_call_write(c);
}

/* The dialer answered: send on its socket, or connect to the port. */
static void upstream_call_dialed(int fd, void *userdata)
{
	struct upstream_call *c = userdata;
	c->dialing = NULL;
	if (fd < 0 && c->dialer_only) {
		/* Nothing was sent, whatever kept the socket from coming. */
		upstream_call_fail(c, -ECONNREFUSED,
		                   "connecting to %s:%u through the container's "
		                   "endpointd-dialer: %s",
		                   c->host, c->port, strerror(-fd));
		return;
	}
	if (fd < 0) {
		c->dial_failed = true;
		upstream_call_send(c);
		return;
	}
	c->conn = upstream_conn_adopt(c->u, c->addr, c->port, fd, false, true);
	if (c->dialer_only)
		c->conn->dialer = dialer_ref(c->dialer);
	upstream_call_begin(c);
}

/* Find c a connection (idle, else one from the dialer, else a new one to
 * the port) and send; on a refusal at once the call ends on the next loop
 * turn. */
static void upstream_call_send(struct upstream_call *c)
{
	int r = 0;
	c->conn = c->retried || (c->dialer_only && !c->dialer)
	              ? NULL
	              : upstream_conn_take(c->u, c->addr, c->port,
	                                   c->dialer_only ? c->dialer : NULL);
	if (!c->conn && c->dialer && !c->dial_failed) {
		c->dialing = dialer_dial(c->dialer, upstream_call_dialed, c);
		if (c->dialing) {
			upstream_call_arm(c, true);
			return;
		}
	}
	if (!c->conn && c->dialer_only) {
		c->pending_result = -ECONNREFUSED;
		snprintf(c->error, sizeof(c->error),
		         "connecting to %s:%u: the container's endpointd-dialer is not "
		         "running",
		         c->host, c->port);
		c->pending_error = c->error;
		event_active(&c->timer, EV_TIMEOUT, 0);
		return;
	}
	if (!c->conn)
		c->conn = upstream_conn_open(c->u, c->addr, c->port, &r);
	if (!c->conn) {
		c->pending_result = r;
		snprintf(c->error, sizeof(c->error), "connecting to %s:%u: %s", c->host, c->port,
		         strerror(-r));
		c->pending_error = c->error;
		event_active(&c->timer, EV_TIMEOUT, 0);
		return;
	}
	upstream_call_begin(c);
}

/* --- reading and the answer's parser ------------------------------------ */

/* Whether ch may be in a token (RFC 9110's tchar). */
static bool upstream_is_tchar(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Whether the n bytes at s hold no control byte but HTAB (a field value, a
 * reason phrase, a chunk extension). */
static bool upstream_is_text(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return false;
	}
	return true;
}

/* Content-Length's value: 1*DIGIT, at most 18 of them (no overflow).  0,
 * or -EINVAL. */
static int upstream_parse_length(const char *s, uint64_t *ret)
{
	size_t n = strlen(s);
	if (n == 0 || n > 18 || strspn(s, "0123456789") != n)
		return -EINVAL;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (uint64_t)(s[i] - '0');
	*ret = v;
	return 0;
}

/* Whether the comma-separated list value holds token (case-insensitive). */
static bool upstream_list_has(const char *value, const char *token)
{
	size_t tn = strlen(token);
	for (const char *p = value; *p;) {
		p += strspn(p, " \t,");
		size_t n = strcspn(p, ",");
		size_t m = n;
		while (m && (p[m - 1] == ' ' || p[m - 1] == '\t'))
			m--;
		if (m == tn && strncasecmp(p, token, tn) == 0)
			return true;
		p += n;
	}
	return false;
}

/* Cut one header line (NUL-terminated, no CR or LF) into a name and its
 * value, trimmed, in place.  0, or -EPROTO. */
static int upstream_split_field(char *line, char **ret_name, char **ret_value)
{
	size_t n = 0;
	while (upstream_is_tchar((unsigned char)line[n]))
		n++;
	/* No space before the colon, no obs-fold, a name of one byte at least. */
	if (n == 0 || line[n] != ':')
		return -EPROTO;
	line[n] = '\0';
	char *value = line + n + 1;
	value += strspn(value, " \t");
	size_t vlen = strlen(value);
	while (vlen && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
		value[--vlen] = '\0';
	if (!upstream_is_text(value, vlen))
		return -EPROTO;
	*ret_name = line;
	*ret_value = value;
	return 0;
}

/* The next CRLF-ended line of the head at *p (NUL-terminated), cut off in
 * place; NULL at the head's end or at a bare CR or LF (*ret_bad). */
static char *upstream_next_line(char **p, bool *ret_bad)
{
	char *line = *p;
	char *end = strstr(line, "\r\n");
	*ret_bad = false;
	if (!end)
		return NULL;
	if (memchr(line, '\r', (size_t)(end - line)) || memchr(line, '\n', (size_t)(end - line))) {
		*ret_bad = true;
		return NULL;
	}
	*end = '\0';
	*p = end + 2;
	return line;
}

/* Cut the head (len bytes, NUL-terminated, CRLF lines) into status and
 * headers.  0, or -EPROTO with words in c->error. */
static int upstream_parse_head(struct upstream_call *c, char *head, size_t len)
{
	char *p = head;
	bool bad;
	char *line = memchr(head, '\0', len) ? NULL : upstream_next_line(&p, &bad);
	/* "HTTP/1.x 200 Reason": three digits, then a space or the end. */
	if (!line || strncmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') ||
	    line[8] != ' ' || strspn(line + 9, "0123456789") != 3 ||
	    (line[12] && line[12] != ' ') || !upstream_is_text(line, strlen(line))) {
		snprintf(c->error, sizeof(c->error),
		         "%s:%u answered without an HTTP/1.x status line", c->host, c->port);
		return -EPROTO;
	}
	int status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	if (status < 100) {
		snprintf(c->error, sizeof(c->error),
		         "%s:%u answered without an HTTP/1.x status line", c->host, c->port);
		return -EPROTO;
	}
	c->status = status;
	c->keep_alive = line[7] == '1';
	c->n_headers = 0;
	bool chunked = false, has_te = false, has_length = false;
	uint64_t length = 0;
	while ((line = upstream_next_line(&p, &bad)) && *line) {
		char *name, *value;
		if (upstream_split_field(line, &name, &value) < 0) {
			snprintf(c->error, sizeof(c->error),
			         "%s:%u sent a malformed header line", c->host, c->port);
			return -EPROTO;
		}
		if (c->n_headers == UPSTREAM_MAX_HEADERS) {
			snprintf(c->error, sizeof(c->error), "%s:%u sent over %d headers",
			         c->host, c->port, UPSTREAM_MAX_HEADERS);
			return -EPROTO;
		}
		c->names[c->n_headers] = name;
		c->values[c->n_headers++] = value;
		if (strcasecmp(name, "Content-Length") == 0) {
			uint64_t n;
			if (upstream_parse_length(value, &n) < 0 || (has_length && n != length)) {
				snprintf(c->error, sizeof(c->error),
				         "%s:%u sent a bad Content-Length", c->host, c->port);
				return -EPROTO;
			}
			has_length = true;
			length = n;
		} else if (strcasecmp(name, "Transfer-Encoding") == 0) {
			if (has_te || strcasecmp(value, "chunked") != 0) {
				snprintf(c->error, sizeof(c->error),
				         "%s:%u sent Transfer-Encoding %.40s%s", c->host, c->port,
				         value, has_te ? " twice" : "");
				return -EPROTO;
			}
			has_te = chunked = true;
		} else if (strcasecmp(name, "Connection") == 0) {
			if (upstream_list_has(value, "close"))
				c->keep_alive = false;
			else if (upstream_list_has(value, "keep-alive"))
				c->keep_alive = true;
		}
	}
	if (bad || !line) {
		snprintf(c->error, sizeof(c->error), "%s:%u sent a line not ended by CRLF",
		         c->host, c->port);
		return -EPROTO;
	}
	if (has_te && has_length) {
		/* Which one frames the body is where a smuggled answer hides:
		 * refuse it, and its connection is closed with the call. */
		c->keep_alive = false;
		snprintf(c->error, sizeof(c->error),
		         "%s:%u sent both Content-Length and Transfer-Encoding", c->host, c->port);
		return -EPROTO;
	}
	if (status == 101) {
		snprintf(c->error, sizeof(c->error), "%s:%u switched protocols", c->host, c->port);
		return -EPROTO;
	}
	if (status < 200)
		return 0; /* interim: the real answer follows */
	if (has_length && length > c->max_response && !c->on_piece) {
		snprintf(c->error, sizeof(c->error), "%s:%u answered with over %zu bytes",
		         c->host, c->port, c->max_response);
		return -E2BIG;
	}
	if (status == 204 || status == 304) {
		c->parse = UPSTREAM_PARSE_DONE;
	} else if (chunked) {
		c->parse = UPSTREAM_PARSE_CHUNK_SIZE;
	} else if (has_length) {
		c->left = length;
		c->parse = length ? UPSTREAM_PARSE_LENGTH : UPSTREAM_PARSE_DONE;
	} else {
		c->parse = UPSTREAM_PARSE_CLOSE;
		c->keep_alive = false;
	}
	return 0;
}

/* A chunk's size line (n bytes, CRLF cut off): 1*16HEXDIG, then maybe
 * extensions (BWS ";" …) of text.  0 with *ret_size, or -EPROTO. */
static int upstream_parse_chunk_size(const char *line, size_t n, uint64_t *ret_size)
{
	size_t digits = 0;
	uint64_t v = 0;
	while (digits < n && isxdigit((unsigned char)line[digits])) {
		char ch = line[digits];
		v = v * 16 + (uint64_t)(ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10);
		digits++;
		if (digits > 16)
			return -EPROTO;
	}
	if (digits == 0)
		return -EPROTO;
	size_t i = digits;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i < n && line[i] != ';')
		return -EPROTO;
	if (i == n && i != digits)
		return -EPROTO; /* whitespace with no extension after it */
	if (!upstream_is_text(line + i, n - i))
		return -EPROTO;
	*ret_size = v;
	return 0;
}

/* Move up to n bytes of the answer's body from in, minding max_response:
 * the bytes taken, or -E2BIG.  A streaming call takes what fits until its
 * caller has taken the last delivery (0 when nothing does). */
static ssize_t upstream_take_body(struct upstream_call *c, struct evbuffer *in, size_t n)
{
	size_t have = evbuffer_get_length(c->body);
	if (c->on_piece) {
		size_t room = have < c->max_response ? c->max_response - have : 0;
		if (n > room)
			n = room;
	} else if (have + n > c->max_response) {
		snprintf(c->error, sizeof(c->error), "%s:%u answered with over %zu bytes",
		         c->host, c->port, c->max_response);
		return -E2BIG;
	}
	evbuffer_remove_buffer(in, c->body, n);
	return (ssize_t)n;
}

/* One CRLF-ended line of at most max bytes from in (free() it; its length
 * in *ret_n), NULL when it is not all in yet; -EPROTO in *ret_r when too
 * long. */
static char *upstream_read_line(struct upstream_call *c, struct evbuffer *in, size_t max,
                                const char *what, size_t *ret_n, int *ret_r)
{
	char *line = evbuffer_readln(in, ret_n, EVBUFFER_EOL_CRLF_STRICT);
	if (line && *ret_n > max) {
		free(line);
		line = NULL;
	} else if (line || evbuffer_get_length(in) <= max + 2) {
		return line;
	}
	snprintf(c->error, sizeof(c->error), "%s:%u sent a %s line over %zu bytes", c->host, c->port,
	         what, max);
	*ret_r = -EPROTO;
	return NULL;
}

/* Parse what has arrived.  0 (go on reading, or c->parse is DONE), or
 * -errno with words in c->error. */
static int upstream_parse(struct upstream_call *c, struct evbuffer *in)
{
	int r = 0;
	for (;;) {
		size_t avail = evbuffer_get_length(in);
		switch (c->parse) {
		case UPSTREAM_PARSE_HEAD: {
			struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
			if (end.pos < 0) {
				if (avail >= 5 && memcmp(evbuffer_pullup(in, 5), "HTTP/", 5) != 0) {
					snprintf(
					    c->error, sizeof(c->error),
					    "%s:%u answered without an HTTP/1.x status line",
					    c->host, c->port);
					return -EPROTO;
				}
				if (avail > UPSTREAM_MAX_HEAD) {
					snprintf(c->error, sizeof(c->error),
					         "%s:%u sent a head over %d bytes", c->host, c->port,
					         UPSTREAM_MAX_HEAD);
					return -E2BIG;
				}
				return 0;
			}
			size_t len = (size_t)end.pos + 4;
			if (len > UPSTREAM_MAX_HEAD) {
				snprintf(c->error, sizeof(c->error),
				         "%s:%u sent a head over %d bytes", c->host, c->port,
				         UPSTREAM_MAX_HEAD);
				return -E2BIG;
			}
			free(c->resp_head);
			c->resp_head = xmalloc(len + 1);
			evbuffer_remove(in, c->resp_head, len);
			c->resp_head[len] = '\0';
			r = upstream_parse_head(c, c->resp_head, len);
			if (r < 0)
				return r;
			break;
		}
		case UPSTREAM_PARSE_LENGTH:
		case UPSTREAM_PARSE_CHUNK_DATA: {
			size_t n = avail < c->left ? avail : (size_t)c->left;
			if (n == 0)
				return 0;
			ssize_t took = upstream_take_body(c, in, n);
			if (took <= 0)
				return (int)took;
			c->left -= (size_t)took;
			if (c->left == 0)
				c->parse = c->parse == UPSTREAM_PARSE_LENGTH
				               ? UPSTREAM_PARSE_DONE
				               : UPSTREAM_PARSE_CHUNK_END;
			break;
		}
		case UPSTREAM_PARSE_CLOSE: {
			ssize_t took = avail ? upstream_take_body(c, in, avail) : 0;
			return took < 0 ? (int)took : 0;
		}
		case UPSTREAM_PARSE_CHUNK_SIZE: {
			size_t len;
			_cleanup_free_ char *line = upstream_read_line(
			    c, in, UPSTREAM_MAX_CHUNK_LINE, "chunk size", &len, &r);
			if (!line)
				return r;
			uint64_t n;
			if (upstream_parse_chunk_size(line, len, &n) < 0) {
				snprintf(c->error, sizeof(c->error),
				         "%s:%u sent a bad chunk size", c->host, c->port);
				return -EPROTO;
			}
			if (n > c->max_response && !c->on_piece) {
				snprintf(c->error, sizeof(c->error),
				         "%s:%u answered with over %zu bytes", c->host, c->port,
				         c->max_response);
				return -E2BIG;
			}
			c->left = n;
			c->parse = n ? UPSTREAM_PARSE_CHUNK_DATA : UPSTREAM_PARSE_TRAILERS;
			break;
		}
		case UPSTREAM_PARSE_CHUNK_END: {
			if (avail < 2)
				return 0;
			char crlf[2];
			evbuffer_remove(in, crlf, 2);
			if (crlf[0] != '\r' || crlf[1] != '\n') {
				snprintf(c->error, sizeof(c->error),
				         "%s:%u sent a chunk without its CRLF", c->host, c->port);
				return -EPROTO;
			}
			c->parse = UPSTREAM_PARSE_CHUNK_SIZE;
			break;
		}
		case UPSTREAM_PARSE_TRAILERS: {
			size_t len;
			_cleanup_free_ char *line =
			    upstream_read_line(c, in, UPSTREAM_MAX_HEAD, "trailer", &len, &r);
			if (!line)
				return r;
			c->trailer_bytes += len + 2;
			if (c->trailer_bytes > UPSTREAM_MAX_HEAD ||
			    (len && ++c->n_trailers > UPSTREAM_MAX_HEADERS)) {
				snprintf(c->error, sizeof(c->error),
				         "%s:%u sent trailers over %d bytes or %d fields",
				         c->host, c->port, UPSTREAM_MAX_HEAD, UPSTREAM_MAX_HEADERS);
				return -E2BIG;
			}
			if (len == 0) {
				c->parse = UPSTREAM_PARSE_DONE;
				break;
			}
			char *name, *value;
			if (memchr(line, '\0', len) ||
			    upstream_split_field(line, &name, &value) < 0) {
				snprintf(c->error, sizeof(c->error),
				         "%s:%u sent a malformed trailer line", c->host, c->port);
				return -EPROTO;
			}
			break;
		}
		case UPSTREAM_PARSE_DONE:
			return 0;
		}
	}
}

/* One read into conn->in, sized to what the answer still needs: bytes read,
 * 0 when the peer closed, -EAGAIN when there is nothing now, or -errno. */
static ssize_t upstream_conn_read(struct upstream_conn *conn, size_t *ret_room)
{
	size_t want = UPSTREAM_READ_MIN;
	struct upstream_call *c = conn->call;
	if (c && (c->parse == UPSTREAM_PARSE_LENGTH || c->parse == UPSTREAM_PARSE_CHUNK_DATA))
		want = c->left < UPSTREAM_READ_MIN   ? UPSTREAM_READ_MIN
		       : c->left > UPSTREAM_READ_MAX ? UPSTREAM_READ_MAX
		                                     : (size_t)c->left;
	struct evbuffer_iovec vec[2];
	int nvec = evbuffer_reserve_space(conn->in, (ev_ssize_t)want, vec, 2);
	if (nvec <= 0)
		abort();
	struct iovec iov[2];
	*ret_room = 0;
	for (int i = 0; i < nvec; i++) {
		iov[i].iov_base = vec[i].iov_base;
		iov[i].iov_len = vec[i].iov_len;
		*ret_room += vec[i].iov_len;
	}
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)nvec};
	ssize_t n;
	do
		n = recvmsg(conn->fd, &msg, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int e = errno == EWOULDBLOCK ? EAGAIN : errno;
		evbuffer_commit_space(conn->in, vec, 0);
		return -e;
	}
	size_t got = (size_t)n;
	for (int i = 0; i < nvec; i++) {
		size_t take = got < vec[i].iov_len ? got : vec[i].iov_len;
		vec[i].iov_len = take;
		got -= take;
	}
	evbuffer_commit_space(conn->in, vec, nvec);
	return n;
}

/* A streaming call's head, once, then each delivery of body bytes. */
static void upstream_call_deliver(struct upstream_call *c)
{
	if (!c->on_piece || c->status < 200 || c->parse == UPSTREAM_PARSE_HEAD)
		return;
	if (c->head_delivered && evbuffer_get_length(c->body) == 0)
		return;
	c->head_delivered = true;
	struct upstream_response r = {.status = c->status, .body = c->body, .call = c};
	c->on_piece(&r, c->userdata);
}

/* Parse what c's connection holds and, for a streaming call, deliver it,
 * until the parser wants more bytes (0: read on) or c has ended, paused or
 * been cancelled (1: stop; c may be gone). */
static int upstream_call_progress(struct upstream_call *c)
{
	struct upstream_conn *conn = c->conn;
	for (;;) {
		size_t had = evbuffer_get_length(conn->in);
		int r = upstream_parse(c, conn->in);
		if (r < 0) {
			upstream_call_finish(c, r, c->error);
			return 1;
		}
		upstream_call_deliver(c);
		if (c->cancelled)
			return 1;
		if (c->parse == UPSTREAM_PARSE_DONE) {
			if (conn->peer_closed)
				c->keep_alive = false;
			upstream_call_finish(c, 0, NULL);
			return 1;
		}
		if (c->paused)
			return 1;
		size_t left = evbuffer_get_length(conn->in);
		if (left == 0 || left == had)
			return 0;
	}
}

/* Readable: take in the answer a read at a time (so the parser bounds what
 * is held), and end the call when it is whole or broken.  peer_closed: the
 * event said the peer has closed its side. */
static void upstream_conn_readable(struct upstream_conn *conn, bool peer_closed)
{
	if (peer_closed)
		conn->peer_closed = true;
	for (;;) {
		struct upstream_call *c = conn->call;
		if (c && c->paused)
			return; /* upstream_call_pause() reads on */
		/* A streaming call resumed: what was read before goes first. */
		if (c && c->on_piece &&
		    (evbuffer_get_length(conn->in) > 0 || evbuffer_get_length(c->body) > 0) &&
		    upstream_call_progress(c))
			return;
		size_t room;
		ssize_t n = upstream_conn_read(conn, &room);
		if (n == -EAGAIN)
			return;
		if (!c) {
			/* Idle: the peer closed it, or sent what nobody asked for. */
			upstream_conn_close(conn);
			return;
		}
		if (n > 0) {
			if (c->idle_timeout_ms)
				upstream_call_arm(c, false);
			if (upstream_call_progress(c))
				return;
			/* Edge-triggered: a short read drained the socket, and
			 * more data raises a new edge.  A close that came with
			 * the data raises none, hence the EV_CLOSED hint. */
			if ((size_t)n < room && conn->et && !conn->peer_closed)
				return;
			continue;
		}
		if (n == 0 && c->parse == UPSTREAM_PARSE_CLOSE) {
			if (c->on_piece &&
			    (evbuffer_get_length(conn->in) > 0 || evbuffer_get_length(c->body) > 0))
				continue; /* delivered at the top of the loop first */
			upstream_call_finish(c, 0, NULL);
			return;
		}
		if (upstream_call_retry_stale(c))
			return;
		if (n == 0)
			upstream_call_fail(
			    c, -ECONNRESET, "%s:%u closed the connection %s", c->host, c->port,
			    c->status ? "in the middle of its answer" : "without answering");
		else
			upstream_call_fail(c, (int)n, "reading from %s:%u: %s", c->host, c->port,
			                   strerror((int)-n));
		return;
	}
}

/* --- event callbacks ---------------------------------------------------- */

/* A connection finished connecting (or failed to). */
static void upstream_conn_connected(struct upstream_conn *conn)
{
	struct upstream_call *c = conn->call;
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == EINPROGRESS || err == EALREADY)
		return;
	conn->connecting = false;
	if (err) {
		upstream_call_fail(c, -err, "connecting to %s:%u: %s", c->host, c->port,
		                   strerror(err));
		return;
	}
	upstream_call_arm(c, false);
	upstream_call_write(c);
}

/* Readiness on a connection's socket. */
static void upstream_conn_event(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_conn *conn = arg;
	if (conn->call && conn->call->cancelled)
		return; /* its timer ends it */
	if (what & EV_WRITE) {
		if (!conn->call) {
			upstream_conn_want_write(conn, false);
			return;
		}
		if (conn->connecting)
			upstream_conn_connected(conn);
		else if (evbuffer_get_length(conn->out) > 0)
			upstream_call_write(conn->call);
		else
			upstream_conn_want_write(conn, false);
		return; /* a read edge of the same turn comes in its own callback */
	}
	if (what & EV_READ) {
		if (conn->connecting) {
			upstream_conn_connected(conn);
			return;
		}
		upstream_conn_readable(conn, (what & EV_CLOSED) != 0);
	}
}

/* The call's timer: its deadline, or an end decided in upstream_start. */
static void upstream_call_timer(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_call *c = arg;
	if (c->pending_result) {
		upstream_call_finish(c, c->pending_result, c->pending_error);
		return;
	}
	if (c->dialing && c->dialer_only) {
		dialer_cancel(TAKE_PTR(c->dialing));
		upstream_call_fail(c, -ETIMEDOUT,
		                   "connecting to %s:%u through the container's "
		                   "endpointd-dialer timed out after %u ms",
		                   c->host, c->port, c->connect_timeout_ms);
		return;
	}
	if (c->dialing) {
		/* A dialer that does not answer: go through the port. */
		dialer_cancel(TAKE_PTR(c->dialing));
		c->dial_failed = true;
		upstream_call_send(c);
		return;
	}
	if (c->conn && c->conn->connecting)
		upstream_call_fail(c, -ETIMEDOUT,
		                   "connecting to %s:%u timed out after %u ms", c->host, c->port,
		                   c->connect_timeout_ms);
	else if (c->idle_timeout_ms && now_monotonic_ms() < c->deadline_ms)
		upstream_call_fail(c, -ETIMEDOUT, "%s:%u sent nothing for %u ms", c->host, c->port,
		                   c->idle_timeout_ms);
	else
		upstream_call_fail(c, -ETIMEDOUT, "%s:%u did not answer in time", c->host, c->port);
}

/* --- the public API ------------------------------------------------------ */

/* A client with no connections. */
struct upstream *upstream_new(struct event_base *base)
{
	struct upstream *u = xcalloc(1, sizeof(*u));
	u->base = base;
	/* Edge-triggered only with early close: a short read is then known to
	 * have drained the socket. */
	int need = EV_FEATURE_ET | EV_FEATURE_EARLY_CLOSE;
	u->et = (event_base_get_features(base) & need) == need;
	LIST_INIT(&u->calls);
	for (size_t i = 0; i < UPSTREAM_POOL_BUCKETS; i++)
		LIST_INIT(&u->buckets[i]);
	TAILQ_INIT(&u->lru);
	evtimer_assign(&u->sweep, base, upstream_sweep, u);
	return u;
}

/* End every call with -ECANCELED, close every connection, free. */
struct upstream *upstream_free(struct upstream *u)
{
	if (!u)
		return NULL;
	struct upstream_call *c;
	while ((c = LIST_FIRST(&u->calls)))
		upstream_call_fail(c, -ECANCELED, "the daemon is shutting down");
	struct upstream_conn *conn;
	while ((conn = TAILQ_FIRST(&u->lru)))
		upstream_conn_close(conn);
	evtimer_del(&u->sweep);
	free(u);
	return NULL;
}

/* Start a call. */
struct upstream_call *upstream_start(struct upstream *u, const struct upstream_request *req,
                                     upstream_done_fn done, void *userdata)
{
	struct upstream_call *c = xcalloc(1, sizeof(*c));
	c->u = u;
	c->done = done;
	c->userdata = userdata;
	c->port = req->port;
	/* A host that is no IPv4 address is loopback, as none is. */
	struct in_addr in;
	if (!req->host || inet_pton(AF_INET, req->host, &in) != 1)
		in.s_addr = htonl(INADDR_LOOPBACK);
	c->addr = in.s_addr;
	inet_ntop(AF_INET, &in, c->host, sizeof(c->host));
	c->dialer = req->dialer ? dialer_ref(req->dialer) : NULL;
	c->dialer_only = req->dialer_only;
	c->req_body = req->body;
	c->connect_timeout_ms = req->connect_timeout_ms ? req->connect_timeout_ms : 1000;
	c->deadline_ms = now_monotonic_ms() + (req->timeout_ms ? req->timeout_ms : 60000);
	c->max_response = req->max_response ? req->max_response : 6291456;
	c->on_piece = req->on_piece;
	c->idle_timeout_ms = req->on_piece ? req->idle_timeout_ms : 0;
	c->body = evbuffer_new();
	if (!c->body)
		abort();
	evtimer_assign(&c->timer, u->base, upstream_call_timer, c);

	/* The head, in one allocation: this runs for every invocation. */
	size_t body_len = req->body ? evbuffer_get_length(req->body) : 0;
	const char *method = req->method ? req->method : "POST";
	size_t cap = strlen(method) + strlen(req->path) + 96;
	for (size_t i = 0; req->headers && req->headers[i]; i++)
		cap += strlen(req->headers[i]) + 2;
	c->head = xmalloc(cap);
	int n = snprintf(c->head, cap,
	                 "%s %s HTTP/1.1\r\nHost: %s:%u\r\nContent-Length: %zu\r\n",
	                 method, req->path, c->host, (unsigned)req->port, body_len);
	char *end = c->head + n;
	for (size_t i = 0; req->headers && req->headers[i]; i++)
		end = stpcpy(stpcpy(end, req->headers[i]), "\r\n");
	end = stpcpy(end, "\r\n");
	c->head_len = (size_t)(end - c->head);

	LIST_INSERT_HEAD(&u->calls, c, entry);
	u->n_calls++;
	upstream_call_send(c);
	return c;
}

/* Stop or go on reading a streaming call's answer. */
void upstream_call_pause(struct upstream_call *c, bool pause)
{
	if (c->cancelled || c->paused == pause)
		return;
	c->paused = pause;
	struct upstream_conn *conn = c->conn;
	if (!conn || conn->connecting)
		return;
	if (!conn->et) {
		if (pause)
			event_del(&conn->rev);
		else
			event_add(&conn->rev, NULL);
	}
	upstream_call_arm(c, false); /* paused, only the deadline runs */
	if (!pause)
		event_active(&conn->rev, EV_READ, 0); /* bytes already read, or an edge missed */
}

/* Gather the rest of a streaming call's body for done. */
void upstream_call_collect(struct upstream_call *c, size_t max_response)
{
	c->on_piece = NULL;
	c->max_response = max_response ? max_response : 6291456;
	upstream_call_pause(c, false);
}

/* End a call for its caller, from the loop. */
void upstream_call_cancel(struct upstream_call *c)
{
	if (c->cancelled)
		return;
	c->cancelled = true;
	c->paused = true;
	if (c->conn && !c->conn->et)
		event_del(&c->conn->rev);
	c->pending_result = -ECANCELED;
	c->pending_error = "the call was cancelled";
	event_del(&c->timer);
	event_active(&c->timer, EV_TIMEOUT, 0);
}

/* A header of the answer being delivered. */
const char *upstream_response_header(const struct upstream_response *r, const char *name)
{
	const struct upstream_call *c = r->call;
	for (size_t i = 0; c && i < c->n_headers; i++)
		if (strcasecmp(c->names[i], name) == 0)
			return c->values[i];
	return NULL;
}

/* Calls running now. */
size_t upstream_active(const struct upstream *u)
{
	return u->n_calls;
}

/* Connections open now. */
size_t upstream_connections(const struct upstream *u)
{
	return u->n_conns;
}

/* Feed data to a call's parser as reads would, then the peer's close. */
int upstream_parse_bytes(const void *data, size_t len, size_t step, size_t max_response,
                         int *ret_status, size_t *ret_body_len)
{
	struct upstream_call c = {.port = 0, .max_response = max_response};
	struct evbuffer *in = evbuffer_new();
	c.body = evbuffer_new();
	if (!in || !c.body)
		abort();
	int r = 0;
	for (size_t off = 0; off < len && c.parse != UPSTREAM_PARSE_DONE;) {
		size_t n = step && len - off > step ? step : len - off;
		evbuffer_add(in, (const char *)data + off, n);
		off += n;
		r = upstream_parse(&c, in);
		if (r < 0)
			break;
	}
	if (r == 0 && c.parse != UPSTREAM_PARSE_DONE && c.parse != UPSTREAM_PARSE_CLOSE)
		r = -ECONNRESET;
	if (r == 0) {
		*ret_status = c.status;
		*ret_body_len = evbuffer_get_length(c.body);
	}
	evbuffer_free(in);
	evbuffer_free(c.body);
	free(c.resp_head);
	return r;
}

/* Stands for a caller in upstream_parse_bytes_streaming(); never called. */
static void upstream_parse_piece(struct upstream_response *r, void *userdata)
{
}

/* Feed data to a streaming call's parser, taking each delivery. */
int upstream_parse_bytes_streaming(const void *data, size_t len, size_t step,
                                   size_t max_response, int *ret_status, size_t *ret_body_len,
                                   size_t *ret_pieces)
{
	struct upstream_call c = {
	    .port = 0, .max_response = max_response, .on_piece = upstream_parse_piece};
	struct evbuffer *in = evbuffer_new();
	c.body = evbuffer_new();
	if (!in || !c.body)
		abort();
	int r = 0;
	size_t total = 0, pieces = 0;
	for (size_t off = 0; off < len && c.parse != UPSTREAM_PARSE_DONE && r == 0;) {
		size_t n = step && len - off > step ? step : len - off;
		evbuffer_add(in, (const char *)data + off, n);
		off += n;
		/* As upstream_call_progress: parse and deliver until stuck. */
		for (;;) {
			size_t had = evbuffer_get_length(in);
			r = upstream_parse(&c, in);
			if (r < 0)
				break;
			size_t got = evbuffer_get_length(c.body);
			if (got > max_response)
				abort(); /* a delivery over the bound */
			if (got) {
				pieces++;
				total += got;
				evbuffer_drain(c.body, got);
			}
			size_t left = evbuffer_get_length(in);
			if (c.parse == UPSTREAM_PARSE_DONE || left == 0 || (left == had && !got))
				break;
		}
	}
	if (r == 0 && c.parse != UPSTREAM_PARSE_DONE && c.parse != UPSTREAM_PARSE_CLOSE)
		r = -ECONNRESET;
	if (r == 0) {
		*ret_status = c.status;
		*ret_body_len = total;
		*ret_pieces = pieces;
	}
	evbuffer_free(in);
	evbuffer_free(c.body);
	free(c.resp_head);
	return r;
}
