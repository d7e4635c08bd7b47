/*
 * An asynchronous HTTP client: libcurl's multi-socket API on libevent.
 *
 * DESIGN
 *
 * One multi handle per struct httpc (one per event base) so that every easy
 * handle shares its connection cache and keep-alive connections are reused.
 * curl tells us which sockets to watch (httpc_socket_cb) and when to call it
 * back (httpc_timer_cb); libevent calls curl_multi_socket_action() from the
 * loop, never from inside a curl callback.
 *
 * libcurl refuses most multi calls from inside its own callbacks (write,
 * header), and our users run code there (on_data, on_headers) that may start
 * or cancel requests or even free the client.  Hence:
 *
 *  - httpc_start() never touches the multi handle: it queues the call on
 *    h->pending and activates h->kick, whose callback adds the handles from
 *    the loop.  A call that could not be set up waits there too, so that its
 *    done runs from the loop and never from inside httpc_start().
 *  - A call ended while curl is running (h->in_curl) becomes a zombie: its
 *    write callbacks refuse data and its easy handle is removed once
 *    curl_multi_socket_action() has returned (httpc_reap).
 *  - httpc_free() while the client is on the stack (h->busy) completes the
 *    calls at once and leaves the teardown to httpc_leave().
 *
 * Each call is in exactly one list: pending (not yet in the multi handle),
 * running (in it), zombies (finished, handle still to remove).
 *
 * Answers are parsed by curl, which is lenient where a peer we do not trust
 * (a model container answering a health ping) could exploit it: it takes an
 * answer with both Content-Length and Transfer-Encoding (and keeps its
 * connection alive), a Content-Length of "+2", lines ended by a bare LF.
 * httpc_check_header_line() refuses those from the header callback, which
 * aborts the transfer and so closes the connection, and bounds the header
 * lines (trailers included) in count and bytes.
 *
 * Map: httpc_new/free, httpc_start_call/cancel, curl glue (socket, timer,
 * action), completion (httpc_check_info, httpc_finish), error mapping.
 */
#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "httpc.h"
#include "log.h"
#include "util.h"

#define HTTPC_DEFAULT_CONNECT_TIMEOUT_MS 5000L
#define HTTPC_DEFAULT_MAX_RESPONSE ((size_t)16 * 1024 * 1024)
#define HTTPC_MAX_IDLE_CONNECTIONS 256
/* Header lines of an answer, interim answers and trailers included. */
#define HTTPC_MAX_HEADER_LINES 200
#define HTTPC_MAX_HEADER_BYTES 65536

enum httpc_call_state {
	HTTPC_CALL_PENDING,
	HTTPC_CALL_RUNNING,
	HTTPC_CALL_ZOMBIE,
};

/*
 * One request.  Owned by its struct httpc, on exactly one of its lists;
 * curl holds it as CURLOPT_PRIVATE and as the write/header callback data
 * until the easy handle is removed.
 */
struct httpc_call {
	struct httpc *h;
	enum httpc_call_state state;
	TAILQ_ENTRY(httpc_call) entry;

	CURL *easy;
	struct curl_slist *headers;
	char *body;
	struct buf response;
	httpc_data_fn on_data;
	httpc_headers_fn on_headers;
	httpc_done_fn done;
	void *userdata;

	bool in_multi; /* added to h->multi */
	bool in_done;  /* done is running: the response must stay */
	bool headers_seen;
	size_t header_lines, header_bytes;
	bool has_length, has_te; /* in the current header block */
	int result;  /* set by us before curl reports: -E2BIG, -ECANCELED, setup errors */
	char *error; /* our words for result */
	char errbuf[CURL_ERROR_SIZE];
};
TAILQ_HEAD(httpc_calls, httpc_call);

/* A socket curl asked us to watch; curl holds it via curl_multi_assign(). */
struct httpc_sock {
	struct httpc *h;
	curl_socket_t fd;
	short events; /* what ev watches now */
	struct event *ev;
	LIST_ENTRY(httpc_sock) entry;
};

/* The client.  Owned by whoever made it (the daemon's main); must be freed
 * before its event base. */
struct httpc {
	struct event_base *base;
	CURLM *multi;
	struct event *timer; /* curl's timeout */
	struct event *kick;  /* adds pending calls from the loop */
	bool kick_active;

	struct httpc_calls pending;
	struct httpc_calls running;
	struct httpc_calls zombies;
	size_t n_active; /* pending + running */
	LIST_HEAD(, httpc_sock) socks;

	unsigned busy; /* our frames on the stack that still use h */
	bool in_curl;  /* inside a curl_multi_* call that may call back */
	bool dead;     /* httpc_free() was called; teardown when !busy */
};

static void httpc_kick_cb(evutil_socket_t fd, short what, void *arg);
static void httpc_timer_event_cb(evutil_socket_t fd, short what, void *arg);
static void httpc_sock_event_cb(evutil_socket_t fd, short what, void *arg);

/* Maps a curl result (with the OS errno behind a failed connect) to -errno. */
static int httpc_curlcode_to_errno(CURLcode code, long os_errno)
{
	switch (code) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		/* A missing or forbidden Unix socket says more than "refused". */
		if (os_errno == ENOENT || os_errno == EACCES || os_errno == EPERM)
			return -(int)os_errno;
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		return -ECONNRESET;
	case CURLE_ABORTED_BY_CALLBACK:
	case CURLE_WRITE_ERROR:
		return -ECANCELED;
	case CURLE_FILESIZE_EXCEEDED:
		return -E2BIG;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_BAD_FUNCTION_ARGUMENT:
		return -EINVAL;
	default:
		return -EIO;
	}
}

/* Takes h off the stack; the last frame out finishes an httpc_free(). */
static void httpc_enter(struct httpc *h)
{
	h->busy++;
}

static void httpc_destroy(struct httpc *h);

static bool httpc_leave(struct httpc *h)
{
	if (--h->busy == 0 && h->dead) {
		httpc_destroy(h);
		return false;
	}
	return !h->dead;
}

/* Frees a call whose easy handle is out of the multi handle (or never in it). */
static void httpc_call_free(struct httpc_call *c)
{
	if (c->easy)
		curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->headers);
	free(c->body);
	free(c->response.data);
	free(c->error);
	free(c);
}

/* Takes c out of whatever list it is on. */
static void httpc_call_unlink(struct httpc_call *c)
{
	struct httpc *h = c->h;

	switch (c->state) {
	case HTTPC_CALL_PENDING:
		TAILQ_REMOVE(&h->pending, c, entry);
		h->n_active--;
		break;
	case HTTPC_CALL_RUNNING:
		TAILQ_REMOVE(&h->running, c, entry);
		h->n_active--;
		break;
	case HTTPC_CALL_ZOMBIE:
		TAILQ_REMOVE(&h->zombies, c, entry);
		break;
	}
}

/* Gets rid of a call that is over (done already called or not wanted). */
static void httpc_call_discard(struct httpc_call *c)
{
	struct httpc *h = c->h;

	httpc_call_unlink(c);
	if (c->in_multi && h->in_curl) {
		/* curl may still call us for it: keep it until httpc_reap(). */
		c->state = HTTPC_CALL_ZOMBIE;
		TAILQ_INSERT_TAIL(&h->zombies, c, entry);
		return;
	}
	if (c->in_multi)
		curl_multi_remove_handle(h->multi, c->easy);
	httpc_call_free(c);
}

/* Frees the calls that are over, unless curl or a done still needs them. */
static void httpc_reap(struct httpc *h)
{
	struct httpc_call *c, *next;

	if (h->in_curl)
		return;
	for (c = TAILQ_FIRST(&h->zombies); c; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->in_done)
			continue;
		TAILQ_REMOVE(&h->zombies, c, entry);
		if (c->in_multi)
			curl_multi_remove_handle(h->multi, c->easy);
		httpc_call_free(c);
	}
}

/* Calls done once with what the call got, then gets rid of the call. */
static void httpc_finish(struct httpc_call *c, int result, const char *error)
{
	struct httpc_response r = {
	    .result = result,
	    .error = result ? (error && *error ? error : strerror(-result)) : NULL,
	    .body = c->response.data ? c->response.data : "",
	    .body_len = c->response.len,
	};
	httpc_done_fn done = c->done;
	void *userdata = c->userdata;

	if (c->easy)
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &r.status);
	/* Out of the lists before done runs, so that done may cancel, start
	 * or free anything; the call itself lives until done has returned. */
	httpc_call_unlink(c);
	c->state = HTTPC_CALL_ZOMBIE;
	TAILQ_INSERT_TAIL(&c->h->zombies, c, entry);
	c->done = NULL;
	c->in_done = true;
	done(&r, userdata);
	c->in_done = false;
}

/* Reads what curl has finished and completes those calls. */
static void httpc_check_info(struct httpc *h)
{
	CURLMsg *msg;
	int left;

	while (!h->dead && (msg = curl_multi_info_read(h->multi, &left))) {
		struct httpc_call *c;
		char *priv = NULL;
		long os_errno = 0;
		int result;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		c = (struct httpc_call *)priv;
		if (!c || c->state != HTTPC_CALL_RUNNING)
			continue;
		curl_easy_getinfo(c->easy, CURLINFO_OS_ERRNO, &os_errno);
		result =
		    c->result ? c->result : httpc_curlcode_to_errno(msg->data.result, os_errno);
		if (result && !c->error)
			c->error = xstrdup(c->errbuf[0] ? c->errbuf
			                                : curl_easy_strerror(msg->data.result));
		httpc_finish(c, result, c->error);
	}
	httpc_reap(h);
}

/* Runs curl for one socket or for its timeout, then completes what ended. */
static void httpc_action(struct httpc *h, curl_socket_t fd, int ev_bitmask)
{
	int running;

	httpc_enter(h);
	h->in_curl = true;
	curl_multi_socket_action(h->multi, fd, ev_bitmask, &running);
	h->in_curl = false;
	if (!h->dead)
		httpc_check_info(h);
	httpc_leave(h);
}

static void httpc_timer_event_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	httpc_action(arg, CURL_SOCKET_TIMEOUT, 0);
}

static void httpc_sock_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpc_sock *s = arg;
	int mask =
	    (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);

	httpc_action(s->h, fd, mask);
}

/* CURLMOPT_TIMERFUNCTION: only (re)arms our timer; the action runs from the loop. */
static int httpc_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct httpc *h = userp;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(h->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(h->timer, &tv);
	return 0;
}

static void httpc_sock_free(struct httpc_sock *s)
{
	LIST_REMOVE(s, entry);
	event_free(s->ev);
	free(s);
}

/* CURLMOPT_SOCKETFUNCTION: watch, re-watch or forget one socket. */
static int httpc_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct httpc *h = userp;
	struct httpc_sock *s = socketp;
	short events;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			curl_multi_assign(h->multi, fd, NULL);
			httpc_sock_free(s);
		}
		return 0;
	}
	events = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
	         (what & CURL_POLL_OUT ? EV_WRITE : 0);
	if (!s) {
		s = xcalloc(1, sizeof(*s));
		s->h = h;
		s->fd = fd;
		s->ev = event_new(h->base, fd, events, httpc_sock_event_cb, s);
		if (!s->ev)
			abort();
		LIST_INSERT_HEAD(&h->socks, s, entry);
		curl_multi_assign(h->multi, fd, s);
	} else if (s->events == events) {
		return 0; /* unchanged: spare the epoll_ctl calls */
	} else {
		event_del(s->ev);
		event_assign(s->ev, h->base, fd, events, httpc_sock_event_cb, s);
	}
	s->events = events;
	event_add(s->ev, NULL);
	return 0;
}

/* CURLOPT_WRITEFUNCTION: collect (up to max) or hand the chunk to on_data. */
static size_t httpc_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct httpc_call *c = userdata;
	size_t n = size * nmemb;

	if (c->state != HTTPC_CALL_RUNNING)
		return CURL_WRITEFUNC_ERROR;
	if (c->on_data) {
		struct httpc *h = c->h;
		bool go_on;

		httpc_enter(h);
		go_on = c->on_data(ptr, n, c->userdata);
		httpc_leave(h); /* never the last frame: httpc_action holds one */
		/* on_data may have cancelled c: it is a zombie then. */
		if (c->state != HTTPC_CALL_RUNNING)
			return CURL_WRITEFUNC_ERROR;
		if (!go_on) {
			c->result = -ECANCELED;
			c->error = xstrdup("transfer aborted by its reader");
			return CURL_WRITEFUNC_ERROR;
		}
		return n;
	}
	if (buf_append(&c->response, ptr, n) < 0) {
		c->result = -E2BIG;
		c->error = xasprintf("response larger than %zu bytes", c->response.max);
		return CURL_WRITEFUNC_ERROR;
	}
	return n;
}

/* Whether line (len bytes, CRLF cut off) is the field name (case-insensitive,
 * colon included); *ret_value is then its value, spaces skipped. */
static bool httpc_field_is(const char *line, size_t len, const char *name, const char **ret_value)
{
	size_t n = strlen(name);
	if (len < n || strncasecmp(line, name, n) != 0)
		return false;
	*ret_value = line + n;
	return true;
}

/* One header line (or status line, or trailer) as curl hands it over:
 * 0, or -EPROTO / -E2BIG with words in c->error. */
static int httpc_check_header_line(struct httpc_call *c, const char *ptr, size_t n)
{
	c->header_lines++;
	c->header_bytes += n;
	if (c->header_lines > HTTPC_MAX_HEADER_LINES || c->header_bytes > HTTPC_MAX_HEADER_BYTES) {
		c->error = xasprintf("over %d header lines or %d bytes of headers",
		                     HTTPC_MAX_HEADER_LINES, HTTPC_MAX_HEADER_BYTES);
		return -E2BIG;
	}
	if (n < 2 || ptr[n - 2] != '\r' || ptr[n - 1] != '\n' || memchr(ptr, '\n', n - 1) ||
	    memchr(ptr, '\r', n - 2) || memchr(ptr, '\0', n)) {
		c->error = xstrdup("a header line not ended by CRLF");
		return -EPROTO;
	}
	size_t len = n - 2;
	const char *value;
	if (len >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		c->has_length = c->has_te = false; /* a new block: interim or final */
	} else if (len == 0) {
		if (c->has_length && c->has_te) {
			c->error =
			    xstrdup("an answer with both Content-Length and Transfer-Encoding");
			return -EPROTO;
		}
	} else if (httpc_field_is(ptr, len, "Content-Length:", &value)) {
		size_t skip = strspn(value, " \t");
		size_t vlen = len - (size_t)(value - ptr) - skip;
		while (vlen && (value[skip + vlen - 1] == ' ' || value[skip + vlen - 1] == '\t'))
			vlen--;
		size_t digits = strspn(value + skip, "0123456789");
		if (vlen == 0 || vlen > 18 || digits < vlen) {
			c->error = xstrdup("a Content-Length that is not a number");
			return -EPROTO;
		}
		c->has_length = true;
	} else if (httpc_field_is(ptr, len, "Transfer-Encoding:", &value)) {
		c->has_te = true;
	}
	return 0;
}

/* CURLOPT_HEADERFUNCTION: checks each line, and tells on_headers when the
 * final header block ends. */
static size_t httpc_header_cb(char *ptr, size_t size, size_t nitems, void *userdata)
{
	struct httpc_call *c = userdata;
	size_t n = size * nitems;
	long status = 0;
	bool go_on;

	if (c->state != HTTPC_CALL_RUNNING)
		return CURL_WRITEFUNC_ERROR;
	int r = httpc_check_header_line(c, ptr, n);
	if (r < 0) {
		c->result = r;
		return CURL_WRITEFUNC_ERROR;
	}
	if (!c->on_headers || c->headers_seen)
		return n;
	if (!(n == 2 && ptr[0] == '\r' && ptr[1] == '\n') && !(n == 1 && ptr[0] == '\n'))
		return n;
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200)
		return n; /* 100 Continue and friends: another block follows */
	c->headers_seen = true;
	httpc_enter(c->h);
	go_on = c->on_headers(status, c->userdata);
	httpc_leave(c->h);
	if (c->state != HTTPC_CALL_RUNNING)
		return CURL_WRITEFUNC_ERROR;
	if (!go_on) {
		c->result = -ECANCELED;
		c->error = xstrdup("transfer aborted by its reader");
		return CURL_WRITEFUNC_ERROR;
	}
	return n;
}

/* Adds the pending calls to the multi handle; completes the ones that failed setup. */
static void httpc_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpc *h = arg;
	struct httpc_call *c;

	(void)fd;
	(void)what;
	h->kick_active = false;
	httpc_enter(h);
	while (!h->dead && (c = TAILQ_FIRST(&h->pending))) {
		CURLMcode mc;

		if (c->result) {
			httpc_finish(c, c->result, c->error);
			httpc_reap(h);
			continue;
		}
		mc = curl_multi_add_handle(h->multi, c->easy);
		if (mc != CURLM_OK) {
			c->result = -EIO;
			c->error = xstrdup(curl_multi_strerror(mc));
			httpc_finish(c, c->result, c->error);
			httpc_reap(h);
			continue;
		}
		TAILQ_REMOVE(&h->pending, c, entry);
		c->in_multi = true;
		c->state = HTTPC_CALL_RUNNING;
		TAILQ_INSERT_TAIL(&h->running, c, entry);
	}
	httpc_leave(h);
}

static void httpc_schedule_kick(struct httpc *h)
{
	if (h->kick_active)
		return;
	h->kick_active = true;
	event_active(h->kick, EV_TIMEOUT, 0);
}

/* Sets the easy handle up; 0 or -errno with c->error set. */
static int httpc_call_setup(struct httpc_call *c, const struct httpc_request *req)
{
	const char *method = req->method ? req->method : "GET";
	CURL *e = c->easy;
	CURLcode rc = CURLE_OK;
	char *ct;

	if (!req->url) {
		c->error = xstrdup("no URL");
		return -EINVAL;
	}
	c->headers = curl_slist_append(c->headers, "Expect:");
	if (req->content_type) {
		ct = xasprintf("Content-Type: %s", req->content_type);
		c->headers = curl_slist_append(c->headers, ct);
		free(ct);
	}
	if (!c->headers)
		abort();

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(e, opt, val);                                        \
	} while (0)
	SET(CURLOPT_URL, req->url);
	SET(CURLOPT_PRIVATE, c);
	SET(CURLOPT_ERRORBUFFER, c->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_NOPROXY, "*");
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_TCP_NODELAY, 1L);
	SET(CURLOPT_HTTPHEADER, c->headers);
	SET(CURLOPT_WRITEFUNCTION, httpc_write_cb);
	SET(CURLOPT_WRITEDATA, c);
	SET(CURLOPT_HEADERFUNCTION, httpc_header_cb);
	SET(CURLOPT_HEADERDATA, c);
	SET(CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms > 0
	                                   ? req->connect_timeout_ms
	                                   : HTTPC_DEFAULT_CONNECT_TIMEOUT_MS);
	SET(CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 0L);
	if (req->unix_socket)
		SET(CURLOPT_UNIX_SOCKET_PATH, req->unix_socket);

	const char *body = NULL;
	if (req->body_len > 0) {
		c->body = xmalloc(req->body_len);
		memcpy(c->body, req->body, req->body_len);
		body = c->body;
	}
	if (!strcmp(method, "GET")) {
		SET(CURLOPT_HTTPGET, 1L);
	} else if (!strcmp(method, "HEAD")) {
		SET(CURLOPT_NOBODY, 1L);
	} else {
		if (!strcmp(method, "POST") || body) {
			/* An empty POST still sends Content-Length: 0, which
			 * the Engine's start/stop endpoints want. */
			SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
			SET(CURLOPT_POSTFIELDS, body ? body : "");
		}
		if (strcmp(method, "POST"))
			SET(CURLOPT_CUSTOMREQUEST, method);
	}
#undef SET
	if (rc != CURLE_OK) {
		c->error = xasprintf("setting up the request: %s", curl_easy_strerror(rc));
		return httpc_curlcode_to_errno(rc, 0) ?: -EINVAL;
	}
	return 0;
}

struct httpc_call *httpc_start_call(struct httpc *h, const struct httpc_request *req,
                                    httpc_done_fn done, void *userdata)
{
	struct httpc_call *c = xcalloc(1, sizeof(*c));

	c->h = h;
	c->done = done;
	c->userdata = userdata;
	c->on_data = req->on_data;
	c->on_headers = req->on_headers;
	c->response.max = req->max_response ? req->max_response : HTTPC_DEFAULT_MAX_RESPONSE;
	c->state = HTTPC_CALL_PENDING;
	TAILQ_INSERT_TAIL(&h->pending, c, entry);
	h->n_active++;

	c->easy = curl_easy_init();
	if (!c->easy) {
		c->result = -ENOMEM;
		c->error = xstrdup("curl_easy_init() failed");
	} else {
		c->result = httpc_call_setup(c, req);
	}
	httpc_schedule_kick(h);
	return c;
}

void httpc_start(struct httpc *h, const struct httpc_request *req, httpc_done_fn done,
                 void *userdata)
{
	(void)httpc_start_call(h, req, done, userdata);
}

void httpc_cancel(struct httpc_call *c)
{
	if (!c || c->state == HTTPC_CALL_ZOMBIE)
		return;
	c->done = NULL;
	httpc_call_discard(c);
}

size_t httpc_active(const struct httpc *h)
{
	return h ? h->n_active : 0;
}

struct httpc *httpc_new(struct event_base *base)
{
	struct httpc *h;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return NULL;
	h = xcalloc(1, sizeof(*h));
	h->base = base;
	TAILQ_INIT(&h->pending);
	TAILQ_INIT(&h->running);
	TAILQ_INIT(&h->zombies);
	LIST_INIT(&h->socks);
	h->multi = curl_multi_init();
	h->timer = evtimer_new(base, httpc_timer_event_cb, h);
	h->kick = event_new(base, -1, 0, httpc_kick_cb, h);
	if (!h->multi || !h->timer || !h->kick)
		abort();
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, httpc_socket_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, httpc_timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	/* Keep idle keep-alive connections (to model containers above all)
	 * through a dip in load; curl's default keeps 4 per running transfer
	 * and so closes and reopens them under a bursty load. */
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)HTTPC_MAX_IDLE_CONNECTIONS);
	return h;
}

/* Releases everything; no call is left and no frame of ours is on the stack. */
static void httpc_destroy(struct httpc *h)
{
	struct httpc_sock *s;

	httpc_reap(h);
	curl_multi_cleanup(h->multi);
	/* Sockets curl did not say goodbye to during cleanup. */
	while ((s = LIST_FIRST(&h->socks)))
		httpc_sock_free(s);
	event_free(h->timer);
	event_free(h->kick);
	free(h);
	curl_global_cleanup();
}

struct httpc *httpc_free(struct httpc *h)
{
	struct httpc_call *c;

	if (!h || h->dead)
		return NULL;
	h->dead = true;
	httpc_enter(h);
	/* done may start new calls (they are cancelled too) or cancel others. */
	for (;;) {
		c = TAILQ_FIRST(&h->running);
		if (!c)
			c = TAILQ_FIRST(&h->pending);
		if (!c)
			break;
		if (!c->error)
			c->error = xstrdup("HTTP client shut down");
		httpc_finish(c, -ECANCELED, c->error);
		httpc_reap(h);
	}
	httpc_leave(h);
	return NULL;
}
