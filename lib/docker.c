/*
 * The Docker Engine API client: operations on top of httpc, over the
 * Engine's Unix socket, and the pure parsers of the Engine's replies.
 *
 * DESIGN
 *
 * Every request is pinned to the version negotiated at docker_new()
 * (GET /_ping, then /version).  Until a version is known, operations wait
 * on d->waiting; the first one to arrive after a failed negotiation starts
 * another, so an engine that comes up later is picked up without a restart.
 *
 * Each operation is a struct docker_op on d->waiting or d->running and ends in
 * exactly one docker_op_complete(), which unlinks it, calls the caller once
 * and frees it.  Replies that can be large or endless are streamed:
 *
 *  - logs: demultiplexed as they come, only the last 64 KiB of text kept;
 *  - pull: progress lines scanned for the first {"error": …}, since the
 *    Engine reports a failed pull inside a 200 once it has sent progress
 *    (and as a plain 4xx/5xx {"message": …} when it fails before that);
 *  - events: one endless stream per watch, split on newlines, reconnected
 *    with backoff (250 ms doubling to 5 s) whenever it ends.
 *
 * docker_request() and docker_events_watch_types() (docker_private.h) lend
 * the same machinery to lib/swarm.c: a plain request's reply is handed over
 * whole, to be parsed there, and a watch may ask for other event types.
 *
 * Callers may call docker_free() from inside any of our callbacks.  Frames
 * of ours that run user code hold d->busy; docker_free() then completes
 * everything at once and leaves the final free to the last frame out.
 *
 * Map: status and error mapping, the operation machinery, negotiation,
 * the operations, events, then the pure parsers and helpers.
 */
#define _GNU_SOURCE
#include <time.h>
#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <string.h>
#include <sys/queue.h>

#include "docker.h"
#include "docker_private.h"
#include "httpc.h"
#include "log.h"
#include "utf8.h"
#include "util.h"

#define DOCKER_MIN_API_MAJOR 1
#define DOCKER_MIN_API_MINOR 25
#define DOCKER_CONNECT_TIMEOUT_MS 2000L
#define DOCKER_TIMEOUT_MS 30000L
#define DOCKER_STOP_GRACE_MS 15000L
#define DOCKER_PULL_TIMEOUT_MS (30L * 60 * 1000)
#define DOCKER_LOGS_MAX ((size_t)64 * 1024)
#define DOCKER_ERROR_BODY_MAX ((size_t)64 * 1024)
#define DOCKER_LINE_MAX ((size_t)1024 * 1024)
#define DOCKER_BACKOFF_MIN_MS 250
#define DOCKER_BACKOFF_MAX_MS 5000

/* Splits a byte stream into lines; a line longer than max fails the stream. */
struct docker_lines {
	struct buf partial;
};
typedef bool (*docker_line_fn)(const char *line, size_t len, void *userdata);

/* An incremental demultiplexer of the Engine's log stream. */
enum docker_demux_mode {
	DOCKER_DEMUX_UNKNOWN,
	DOCKER_DEMUX_FRAMED,
	DOCKER_DEMUX_RAW,
};
struct docker_demux {
	enum docker_demux_mode mode;
	unsigned char hdr[8];
	size_t hdr_len;
	uint32_t remaining; /* of the current frame */
	size_t keep;        /* 0 = all; else only the last keep bytes of text */
	struct buf out;
};

enum docker_op_kind {
	DOCKER_OP_CREATE,
	DOCKER_OP_START,
	DOCKER_OP_STOP,
	DOCKER_OP_REMOVE,
	DOCKER_OP_INSPECT,
	DOCKER_OP_LIST,
	DOCKER_OP_LOGS,
	DOCKER_OP_IMAGE_INSPECT,
	DOCKER_OP_PULL,
	DOCKER_OP_EXEC_INSPECT,
	DOCKER_OP_RAW, /* docker_request(): the body goes to the caller as it is */
};

/* One operation.  Owned by its struct docker; httpc holds it as userdata
 * while op->call runs. */
struct docker_op {
	struct docker *d;
	TAILQ_ENTRY(docker_op) entry;
	bool running;    /* on d->running, else on d->waiting */
	bool negotiated; /* waiting, and the negotiation that just ended is for it */
	enum docker_op_kind kind;
	const char *method;
	char *path; /* after the version prefix */
	char *body;
	long timeout_ms;
	bool stream; /* logs and pull */
	union {
		docker_done_fn done;
		docker_create_fn create;
		docker_inspect_fn inspect;
		docker_list_fn list;
		docker_logs_fn logs;
		docker_image_fn image;
		docker_pid_fn pid;
		docker_raw_fn raw;
	} cb;
	void *userdata;
	struct httpc_call *call;

	/* Streams. */
	long status;
	struct buf error_body;
	struct docker_lines lines;
	char *pull_error;
	struct docker_demux demux;
};
TAILQ_HEAD(docker_ops, docker_op);

/* One /events subscription.  Owned by its struct docker until docker_free. */
struct docker_watch {
	struct docker *d;
	TAILQ_ENTRY(docker_watch) entry;
	char *label;
	json_t *types; /* the "type" filter: ["container"], or the caller's */
	docker_event_fn cb;
	void *userdata;
	struct httpc_call *call;
	struct event *retry;
	unsigned backoff_ms;
	bool waiting_version;
	long status;
	struct docker_lines lines;
	struct buf error_body;
};
TAILQ_HEAD(docker_watches, docker_watch);

/* The client.  Owned by the daemon; the httpc it uses must outlive it. */
struct docker {
	struct event_base *base;
	struct httpc *h;
	char *socket_path;
	char *version;

	docker_ready_fn ready;
	void *ready_userdata;
	bool ready_called;
	struct httpc_call *negotiation;
	bool negotiation_pinged;

	struct docker_ops waiting;
	struct docker_ops running;
	struct docker_watches watches;
	struct event *later; /* completes ops that failed before they were sent */

	unsigned busy;
	bool dead;
};

static void docker_negotiate(struct docker *d);
static void docker_op_send(struct docker_op *op);
static void docker_watch_connect(struct docker_watch *w);
static void docker_watch_schedule(struct docker_watch *w);

/* Maps an HTTP status of the Engine to 0 or -errno. */
static int docker_status_to_errno(long status)
{
	if ((status >= 200 && status < 300) || status == 304)
		return 0;
	switch (status) {
	case 400:
		return -EINVAL;
	case 401:
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 409:
		return -EEXIST;
	default:
		return -EIO;
	}
}

static void docker_ref(struct docker *d)
{
	d->busy++;
}

static void docker_destroy(struct docker *d);

/* Drops a frame's hold; false when d is gone or going (stop touching it). */
static bool docker_unref(struct docker *d)
{
	bool alive = !d->dead;

	if (--d->busy == 0 && d->dead)
		docker_destroy(d);
	return alive;
}

/* Line splitting. */

/* Feeds data; calls fn for each complete line (without its '\n').  0, -E2BIG
 * for a line over DOCKER_LINE_MAX, or -ECANCELED when fn said stop. */
static int docker_lines_feed(struct docker_lines *l, const char *data, size_t len,
                             docker_line_fn fn, void *userdata)
{
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) : len;
		bool go_on;

		if (l->partial.len + n > DOCKER_LINE_MAX)
			return -E2BIG;
		if (!nl) {
			buf_append(&l->partial, data, n);
			return 0;
		}
		if (l->partial.len) {
			buf_append(&l->partial, data, n);
			go_on = fn(l->partial.data, l->partial.len, userdata);
			l->partial.len = 0;
		} else {
			go_on = fn(data, n, userdata);
		}
		if (!go_on)
			return -ECANCELED;
		data += n + 1;
		len -= n + 1;
	}
	return 0;
}

/* Hands over a last line that had no '\n'. */
static void docker_lines_finish(struct docker_lines *l, docker_line_fn fn, void *userdata)
{
	if (l->partial.len)
		fn(l->partial.data, l->partial.len, userdata);
	l->partial.len = 0;
}

/* Log demultiplexing. */

static void docker_demux_emit(struct docker_demux *dm, const void *p, size_t n)
{
	buf_append(&dm->out, p, n);
	/* Keep the tail only, trimming now and then rather than per byte.  One
	 * byte more than the tail stays, so that docker_demux_finish() still
	 * sees that text was dropped and cuts at a line start. */
	if (dm->keep && dm->out.len > 2 * dm->keep) {
		memmove(dm->out.data, dm->out.data + dm->out.len - dm->keep - 1, dm->keep + 1);
		dm->out.len = dm->keep + 1;
		dm->out.data[dm->out.len] = '\0';
	}
}

/* A frame header: stream 0 (stdin), 1 (stdout) or 2 (stderr), three zeros. */
static bool docker_demux_is_header(const unsigned char *h)
{
	return h[0] <= 2 && h[1] == 0 && h[2] == 0 && h[3] == 0;
}

static void docker_demux_feed(struct docker_demux *dm, const char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;

	while (len > 0) {
		size_t n;

		switch (dm->mode) {
		case DOCKER_DEMUX_UNKNOWN:
			/* The first four bytes tell a framed stream from a TTY's. */
			dm->hdr[dm->hdr_len++] = *p++;
			len--;
			if (dm->hdr_len < 4)
				break;
			if (docker_demux_is_header(dm->hdr)) {
				dm->mode = DOCKER_DEMUX_FRAMED;
			} else {
				dm->mode = DOCKER_DEMUX_RAW;
				docker_demux_emit(dm, dm->hdr, dm->hdr_len);
				dm->hdr_len = 0;
			}
			break;
		case DOCKER_DEMUX_RAW:
			docker_demux_emit(dm, p, len);
			return;
		case DOCKER_DEMUX_FRAMED:
			if (dm->remaining == 0) {
				n = sizeof(dm->hdr) - dm->hdr_len;
				n = n < len ? n : len;
				memcpy(dm->hdr + dm->hdr_len, p, n);
				dm->hdr_len += n;
				p += n;
				len -= n;
				if (dm->hdr_len < sizeof(dm->hdr))
					break;
				dm->hdr_len = 0;
				if (!docker_demux_is_header(dm->hdr)) {
					/* Not a frame after all: show it as it is. */
					dm->mode = DOCKER_DEMUX_RAW;
					docker_demux_emit(dm, dm->hdr, sizeof(dm->hdr));
					break;
				}
				dm->remaining = (uint32_t)dm->hdr[4] << 24 |
				                (uint32_t)dm->hdr[5] << 16 |
				                (uint32_t)dm->hdr[6] << 8 | (uint32_t)dm->hdr[7];
				break;
			}
			n = dm->remaining < len ? dm->remaining : len;
			docker_demux_emit(dm, p, n);
			dm->remaining -= (uint32_t)n;
			p += n;
			len -= n;
			break;
		}
	}
}

/* Ends the stream; returns the text (never NULL), trimmed to whole lines
 * when only the tail was kept. */
static char *docker_demux_finish(struct docker_demux *dm)
{
	if (dm->mode == DOCKER_DEMUX_UNKNOWN)
		docker_demux_emit(dm, dm->hdr, dm->hdr_len);
	if (dm->keep && dm->out.len > dm->keep) {
		size_t cut = dm->out.len - dm->keep;
		const char *nl = memchr(dm->out.data + cut, '\n', dm->keep);

		if (nl && (size_t)(nl + 1 - dm->out.data) < dm->out.len)
			cut = (size_t)(nl + 1 - dm->out.data);
		memmove(dm->out.data, dm->out.data + cut, dm->out.len - cut);
		dm->out.len -= cut;
		dm->out.data[dm->out.len] = '\0';
	}
	/* A container writes any bytes it likes: what leaves here is text. */
	char *text = utf8_sanitize(dm->out.data ? dm->out.data : "", dm->out.len, 0);
	buf_reset(&dm->out);
	return text;
}

char *docker_demux_logs(const char *data, size_t len)
{
	struct docker_demux dm = {0};

	docker_demux_feed(&dm, data, len);
	return docker_demux_finish(&dm);
}

/* Operations: the machinery. */

static struct docker_op *docker_op_new(struct docker *d, enum docker_op_kind kind,
                                       const char *method, char *path, void *userdata)
{
	struct docker_op *op = xcalloc(1, sizeof(*op));

	op->d = d;
	op->kind = kind;
	op->method = method;
	op->path = path;
	op->userdata = userdata;
	op->timeout_ms = DOCKER_TIMEOUT_MS;
	op->error_body.max = DOCKER_ERROR_BODY_MAX;
	return op;
}

static void docker_op_free(struct docker_op *op)
{
	free(op->path);
	free(op->body);
	buf_reset(&op->error_body);
	buf_reset(&op->lines.partial);
	free(op->pull_error);
	buf_reset(&op->demux.out);
	free(op);
}

/* Calls the operation's callback once with r (and what was parsed) and frees it. */
static void docker_op_complete(struct docker_op *op, const struct docker_result *r, const void *a,
                               size_t n)
{
	struct docker *d = op->d;

	TAILQ_REMOVE(op->running ? &d->running : &d->waiting, op, entry);
	switch (op->kind) {
	case DOCKER_OP_CREATE:
		op->cb.create(r, a, op->userdata);
		break;
	case DOCKER_OP_START:
	case DOCKER_OP_STOP:
	case DOCKER_OP_REMOVE:
	case DOCKER_OP_PULL:
		op->cb.done(r, op->userdata);
		break;
	case DOCKER_OP_INSPECT:
		op->cb.inspect(r, a, op->userdata);
		break;
	case DOCKER_OP_LIST:
		op->cb.list(r, a, n, op->userdata);
		break;
	case DOCKER_OP_LOGS:
		op->cb.logs(r, a, op->userdata);
		break;
	case DOCKER_OP_IMAGE_INSPECT:
		op->cb.image(r, a, op->userdata);
		break;
	case DOCKER_OP_EXEC_INSPECT:
		op->cb.pid(r, a ? *(const long *)a : 0, op->userdata);
		break;
	case DOCKER_OP_RAW:
		op->cb.raw(r, a, n, op->userdata);
		break;
	}
	docker_op_free(op);
}

static void docker_op_fail(struct docker_op *op, int err, const char *message)
{
	struct docker_result r = {.err = err, .message = message};

	docker_op_complete(op, &r, NULL, 0);
}

/* What the Engine's reply to op means; fills r (message owned by *ret_msg). */
static void docker_op_result(struct docker_op *op, const struct httpc_response *hr,
                             struct docker_result *r, char **ret_msg)
{
	r->status = hr->status;
	if (hr->result) {
		r->err = hr->result;
		*ret_msg = xasprintf("Docker engine at unix://%s: %s", op->d->socket_path,
		                     hr->error ? hr->error : strerror(-hr->result));
		r->message = *ret_msg;
		return;
	}
	r->err = docker_status_to_errno(hr->status);
	if (op->kind == DOCKER_OP_REMOVE && hr->status == 404)
		r->err = 0;
	if (r->err) {
		const char *body = op->stream ? op->error_body.data : hr->body;
		size_t len = op->stream ? op->error_body.len : hr->body_len;

		*ret_msg = docker_parse_error_message(body ? body : "", len);
		if (!**ret_msg) {
			free(*ret_msg);
			*ret_msg = xasprintf("Docker engine answered HTTP %ld", hr->status);
		}
		r->message = *ret_msg;
	}
}

static void docker_op_reply_create(struct docker_op *op, struct docker_result *r,
                                   const struct httpc_response *hr)
{
	json_t *obj = json_loadb(hr->body, hr->body_len, 0, NULL);
	const char *id = json_string_value(json_object_get(obj, "Id"));

	if (!id) {
		r->err = -EIO;
		r->message = "Docker engine: no Id in the reply to create";
	}
	docker_op_complete(op, r, id, 0);
	json_decref(obj);
}

/* The exec's Pid while it runs, else 0. */
static void docker_op_reply_exec_inspect(struct docker_op *op, struct docker_result *r,
                                         const struct httpc_response *hr)
{
	json_t *obj = json_loadb(hr->body, hr->body_len, 0, NULL);
	json_t *pid = json_object_get(obj, "Pid");
	long n = 0;

	if (!json_is_integer(pid) || json_integer_value(pid) < 0 ||
	    json_integer_value(pid) > INT32_MAX) {
		r->err = -EIO;
		r->message = "Docker engine: no Pid in the reply to an exec inspect";
	} else if (json_is_true(json_object_get(obj, "Running"))) {
		n = (long)json_integer_value(pid);
	}
	docker_op_complete(op, r, &n, 0);
	json_decref(obj);
}

static void docker_op_reply_inspect(struct docker_op *op, struct docker_result *r,
                                    const struct httpc_response *hr)
{
	struct docker_container c = {0};

	if (docker_parse_container(hr->body, hr->body_len, &c) < 0) {
		r->err = -EIO;
		r->message = "Docker engine: cannot parse the container";
		docker_op_complete(op, r, NULL, 0);
		return;
	}
	docker_op_complete(op, r, &c, 0);
	docker_container_clear(&c);
}

static void docker_op_reply_list(struct docker_op *op, struct docker_result *r,
                                 const struct httpc_response *hr)
{
	struct docker_container *cs = NULL;
	size_t n = 0;

	if (docker_parse_container_list(hr->body, hr->body_len, &cs, &n) < 0) {
		r->err = -EIO;
		r->message = "Docker engine: cannot parse the container list";
	}
	docker_op_complete(op, r, cs, n);
	for (size_t i = 0; i < n; i++)
		docker_container_clear(&cs[i]);
	free(cs);
}

static void docker_op_reply_image(struct docker_op *op, struct docker_result *r,
                                  const struct httpc_response *hr)
{
	struct docker_image img = {0};

	if (docker_parse_image(hr->body, hr->body_len, &img) < 0) {
		r->err = -EIO;
		r->message = "Docker engine: cannot parse the image";
		docker_op_complete(op, r, NULL, 0);
		return;
	}
	docker_op_complete(op, r, &img, 0);
	docker_image_clear(&img);
}

static bool docker_pull_line(const char *line, size_t len, void *userdata)
{
	struct docker_op *op = userdata;

	if (!op->pull_error)
		op->pull_error = docker_parse_pull_error(line, len);
	return true;
}

/* httpc's done for every operation. */
static void docker_op_done(const struct httpc_response *hr, void *userdata)
{
	struct docker_op *op = userdata;
	struct docker_result r = {0};
	_cleanup_free_ char *msg = NULL;
	_cleanup_free_ char *text = NULL;

	op->call = NULL;
	docker_op_result(op, hr, &r, &msg);
	if (r.err) {
		docker_op_complete(op, &r, NULL, 0);
		return;
	}
	switch (op->kind) {
	case DOCKER_OP_CREATE:
		docker_op_reply_create(op, &r, hr);
		break;
	case DOCKER_OP_INSPECT:
		docker_op_reply_inspect(op, &r, hr);
		break;
	case DOCKER_OP_LIST:
		docker_op_reply_list(op, &r, hr);
		break;
	case DOCKER_OP_IMAGE_INSPECT:
		docker_op_reply_image(op, &r, hr);
		break;
	case DOCKER_OP_EXEC_INSPECT:
		docker_op_reply_exec_inspect(op, &r, hr);
		break;
	case DOCKER_OP_RAW:
		docker_op_complete(op, &r, hr->body ? hr->body : "", hr->body_len);
		break;
	case DOCKER_OP_LOGS:
		text = docker_demux_finish(&op->demux);
		docker_op_complete(op, &r, text, 0);
		break;
	case DOCKER_OP_PULL:
		docker_lines_finish(&op->lines, docker_pull_line, op);
		if (op->pull_error) {
			r.err = -EIO;
			r.message = op->pull_error;
		}
		docker_op_complete(op, &r, NULL, 0);
		break;
	default:
		docker_op_complete(op, &r, NULL, 0);
		break;
	}
}

static bool docker_op_headers(long status, void *userdata)
{
	struct docker_op *op = userdata;

	op->status = status;
	return true;
}

/* Streamed replies: errors are collected, the rest demultiplexed or scanned. */
static bool docker_op_data(const char *data, size_t len, void *userdata)
{
	struct docker_op *op = userdata;

	if (op->status != 200) {
		buf_append(&op->error_body, data, len); /* the start is enough */
		return true;
	}
	if (op->kind == DOCKER_OP_LOGS) {
		docker_demux_feed(&op->demux, data, len);
		return true;
	}
	return docker_lines_feed(&op->lines, data, len, docker_pull_line, op) == 0;
}

static void docker_op_send(struct docker_op *op)
{
	struct docker *d = op->d;
	_cleanup_free_ char *url = xasprintf("http://localhost/v%s%s", d->version, op->path);
	struct httpc_request req = {
	    .method = op->method,
	    .url = url,
	    .unix_socket = d->socket_path,
	    .content_type = op->body ? "application/json" : NULL,
	    .body = op->body,
	    .body_len = op->body ? strlen(op->body) : 0,
	    .connect_timeout_ms = DOCKER_CONNECT_TIMEOUT_MS,
	    .timeout_ms = op->timeout_ms,
	    .on_data = op->stream ? docker_op_data : NULL,
	    .on_headers = op->stream ? docker_op_headers : NULL,
	};

	op->running = true;
	TAILQ_INSERT_TAIL(&d->running, op, entry);
	op->call = httpc_start_call(d->h, &req, docker_op_done, op);
}

/* Sends op now, or after negotiation when the version is not known yet. */
static void docker_op_submit(struct docker_op *op)
{
	struct docker *d = op->d;

	if (d->dead) {
		/* Started from a callback of docker_free(). */
		TAILQ_INSERT_TAIL(&d->waiting, op, entry);
		docker_op_fail(op, -ECANCELED, "Docker client shut down");
		return;
	}
	if (d->version) {
		docker_op_send(op);
		return;
	}
	TAILQ_INSERT_TAIL(&d->waiting, op, entry);
	docker_negotiate(d);
}

/* Fails, from the loop, the waiting ops that were refused before sending. */
static void docker_later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct docker *d = arg;
	struct docker_op *op, *next;

	(void)fd;
	(void)what;
	docker_ref(d);
	for (op = TAILQ_FIRST(&d->waiting); op && !d->dead; op = next) {
		next = TAILQ_NEXT(op, entry);
		if (op->kind == DOCKER_OP_CREATE && !op->body) {
			docker_op_fail(op, -EINVAL, "no container spec");
			next = TAILQ_FIRST(&d->waiting);
		}
	}
	docker_unref(d);
}

/* Negotiation. */

static struct docker_op *docker_first_negotiated(struct docker *d)
{
	struct docker_op *op;

	for (op = TAILQ_FIRST(&d->waiting); op; op = TAILQ_NEXT(op, entry))
		if (op->negotiated)
			return op;
	return NULL;
}

/* Ends a negotiation: pins the version or fails what waited for it. */
static void docker_negotiated(struct docker *d, int err, char *version, const char *message)
{
	struct docker_op *op;
	struct docker_watch *w;
	bool first = !d->ready_called;

	d->negotiation = NULL;
	if (!err) {
		d->version = version;
		log_debug("docker: Engine API pinned to v%s", version);
	} else {
		log_debug("docker: negotiation failed: %s", message);
	}
	docker_ref(d);
	/* What waited for this negotiation; ready may queue more for the next. */
	for (op = TAILQ_FIRST(&d->waiting); op; op = TAILQ_NEXT(op, entry))
		op->negotiated = true;
	if (first) {
		d->ready_called = true;
		if (d->ready)
			d->ready(err, d->version, d->ready_userdata);
	}
	while (!d->dead && (op = docker_first_negotiated(d))) {
		if (op->kind == DOCKER_OP_CREATE && !op->body) {
			docker_op_fail(op, -EINVAL, "no container spec");
		} else if (err) {
			docker_op_fail(op, err, message);
		} else {
			TAILQ_REMOVE(&d->waiting, op, entry);
			docker_op_send(op);
		}
	}
	for (w = TAILQ_FIRST(&d->watches); w && !d->dead; w = TAILQ_NEXT(w, entry)) {
		if (!w->waiting_version)
			continue;
		w->waiting_version = false;
		if (err)
			docker_watch_schedule(w);
		else
			docker_watch_connect(w);
	}
	docker_unref(d);
}

static void docker_negotiate_done(const struct httpc_response *hr, void *userdata);

static void docker_negotiate_step(struct docker *d, const char *what)
{
	_cleanup_free_ char *url = xasprintf("http://localhost%s", what);
	struct httpc_request req = {
	    .url = url,
	    .unix_socket = d->socket_path,
	    .connect_timeout_ms = DOCKER_CONNECT_TIMEOUT_MS,
	    .timeout_ms = DOCKER_TIMEOUT_MS,
	    .max_response = 64 * 1024,
	};

	d->negotiation = httpc_start_call(d->h, &req, docker_negotiate_done, d);
}

static void docker_negotiate_done(const struct httpc_response *hr, void *userdata)
{
	struct docker *d = userdata;
	_cleanup_free_ char *msg = NULL;
	char *version = NULL;
	json_t *obj;
	int r;

	d->negotiation = NULL;
	if (hr->result) {
		msg = xasprintf("Cannot connect to the Docker engine at unix://%s: %s",
		                d->socket_path, hr->error);
		docker_negotiated(d, hr->result, NULL, msg);
		return;
	}
	if (hr->status != 200) {
		_cleanup_free_ char *m = docker_parse_error_message(hr->body, hr->body_len);

		msg = xasprintf("Docker engine at unix://%s answered %s with HTTP %ld: %s",
		                d->socket_path, d->negotiation_pinged ? "/version" : "/_ping",
		                hr->status, m);
		docker_negotiated(d, docker_status_to_errno(hr->status) ?: -EIO, NULL, msg);
		return;
	}
	if (!d->negotiation_pinged) {
		d->negotiation_pinged = true;
		docker_negotiate_step(d, "/version");
		return;
	}
	obj = json_loadb(hr->body, hr->body_len, 0, NULL);
	r = docker_pick_version(json_string_value(json_object_get(obj, "ApiVersion")),
	                        json_string_value(json_object_get(obj, "MinAPIVersion")), &version);
	if (r < 0)
		msg = xasprintf("Docker engine at unix://%s speaks API %s (min %s); endpointd "
		                "needs %d.%d to %s",
		                d->socket_path,
		                json_string_value(json_object_get(obj, "ApiVersion")) ?: "?",
		                json_string_value(json_object_get(obj, "MinAPIVersion")) ?: "?",
		                DOCKER_MIN_API_MAJOR, DOCKER_MIN_API_MINOR, DOCKER_API_VERSION);
	json_decref(obj);
	docker_negotiated(d, r, version, msg);
}

/* Starts a negotiation unless one is running. */
static void docker_negotiate(struct docker *d)
{
	if (d->negotiation)
		return;
	d->negotiation_pinged = false;
	docker_negotiate_step(d, "/_ping");
}

struct docker *docker_new(struct event_base *base, struct httpc *h, const char *socket_path,
                          docker_ready_fn ready, void *userdata)
{
	struct docker *d = xcalloc(1, sizeof(*d));

	d->base = base;
	d->h = h;
	d->socket_path = xstrdup(socket_path);
	d->ready = ready;
	d->ready_userdata = userdata;
	TAILQ_INIT(&d->waiting);
	TAILQ_INIT(&d->running);
	TAILQ_INIT(&d->watches);
	d->later = event_new(base, -1, 0, docker_later_cb, d);
	if (!d->later)
		abort();
	docker_negotiate(d);
	return d;
}

const char *docker_api_version(const struct docker *d)
{
	return d ? d->version : NULL;
}

static void docker_destroy(struct docker *d)
{
	struct docker_watch *w;

	while ((w = TAILQ_FIRST(&d->watches))) {
		TAILQ_REMOVE(&d->watches, w, entry);
		event_free(w->retry);
		buf_reset(&w->lines.partial);
		buf_reset(&w->error_body);
		free(w->label);
		json_decref(w->types);
		free(w);
	}
	event_free(d->later);
	free(d->socket_path);
	free(d->version);
	free(d);
}

struct docker *docker_free(struct docker *d)
{
	struct docker_op *op;
	struct docker_watch *w;

	if (!d || d->dead)
		return NULL;
	d->dead = true;
	docker_ref(d);
	httpc_cancel(d->negotiation);
	d->negotiation = NULL;
	if (!d->ready_called) {
		d->ready_called = true;
		if (d->ready)
			d->ready(-ECANCELED, NULL, d->ready_userdata);
	}
	/* Callbacks may start operations: they are cancelled too. */
	for (;;) {
		op = TAILQ_FIRST(&d->running);
		if (!op)
			op = TAILQ_FIRST(&d->waiting);
		if (!op)
			break;
		httpc_cancel(op->call);
		op->call = NULL;
		docker_op_fail(op, -ECANCELED, "Docker client shut down");
	}
	for (w = TAILQ_FIRST(&d->watches); w; w = TAILQ_NEXT(w, entry)) {
		httpc_cancel(w->call);
		w->call = NULL;
		event_del(w->retry);
		w->cb(NULL, true, w->userdata);
	}
	docker_unref(d);
	return NULL;
}

/* The operations. */

/* A copy of s escaped for a URL path segment or query value. */
char *docker_escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	char *r;

	if (!e)
		abort();
	r = xstrdup(e);
	curl_free(e);
	return r;
}

void docker_container_create(struct docker *d, const char *name, json_t *spec, docker_create_fn cb,
                             void *userdata)
{
	_cleanup_free_ char *n = name ? docker_escape(name) : NULL;
	struct docker_op *op = docker_op_new(d, DOCKER_OP_CREATE, "POST",
	                                     n ? xasprintf("/containers/create?name=%s", n)
	                                       : xstrdup("/containers/create"),
	                                     userdata);

	op->cb.create = cb;
	op->body = spec ? json_dumps(spec, JSON_COMPACT) : NULL;
	if (!op->body) {
		/* Fail it from the loop, like every other failure. */
		TAILQ_INSERT_TAIL(&d->waiting, op, entry);
		event_active(d->later, EV_TIMEOUT, 0);
		return;
	}
	docker_op_submit(op);
}

void docker_container_start(struct docker *d, const char *id, docker_done_fn cb, void *userdata)
{
	_cleanup_free_ char *e = docker_escape(id);
	struct docker_op *op = docker_op_new(d, DOCKER_OP_START, "POST",
	                                     xasprintf("/containers/%s/start", e), userdata);

	op->cb.done = cb;
	docker_op_submit(op);
}

void docker_exec_create(struct docker *d, const char *id, const char *const *argv,
                        const char *const *env, docker_create_fn cb, void *userdata)
{
	_cleanup_free_ char *e = docker_escape(id);
	json_t *cmd = json_array();
	for (size_t i = 0; argv[i]; i++)
		json_array_append_new(cmd, json_string(argv[i]));
	json_t *spec = json_pack("{s:o, s:b, s:b, s:b, s:b}", "Cmd", cmd, "AttachStdin", 0,
	                         "AttachStdout", 0, "AttachStderr", 0, "Tty", 0);
	if (env) {
		json_t *envs = json_array();
		for (size_t i = 0; env[i]; i++)
			json_array_append_new(envs, json_string(env[i]));
		json_object_set_new(spec, "Env", envs);
	}
	struct docker_op *op = docker_op_new(d, DOCKER_OP_CREATE, "POST",
	                                     xasprintf("/containers/%s/exec", e), userdata);

	op->cb.create = cb;
	op->body = json_dumps(spec, JSON_COMPACT);
	json_decref(spec);
	if (!op->body)
		abort();
	docker_op_submit(op);
}

void docker_exec_start(struct docker *d, const char *exec_id, docker_done_fn cb, void *userdata)
{
	_cleanup_free_ char *e = docker_escape(exec_id);
	struct docker_op *op = docker_op_new(d, DOCKER_OP_START, "POST",
	                                     xasprintf("/exec/%s/start", e), userdata);

	op->cb.done = cb;
	op->body = xstrdup("{\"Detach\":true,\"Tty\":false}");
	docker_op_submit(op);
}

void docker_exec_inspect(struct docker *d, const char *exec_id, docker_pid_fn cb, void *userdata)
{
	_cleanup_free_ char *e = docker_escape(exec_id);
	struct docker_op *op = docker_op_new(d, DOCKER_OP_EXEC_INSPECT, "GET",
	                                     xasprintf("/exec/%s/json", e), userdata);

	op->cb.pid = cb;
	docker_op_submit(op);
}

void docker_container_stop(struct docker *d, const char *id, unsigned timeout_s, docker_done_fn cb,
                           void *userdata)
{
	_cleanup_free_ char *e = docker_escape(id);
	struct docker_op *op =
	    docker_op_new(d, DOCKER_OP_STOP, "POST",
	                  xasprintf("/containers/%s/stop?t=%u", e, timeout_s), userdata);

	op->cb.done = cb;
	op->timeout_ms = (long)timeout_s * 1000 + DOCKER_STOP_GRACE_MS;
	docker_op_submit(op);
}

void docker_container_remove(struct docker *d, const char *id, bool force, docker_done_fn cb,
                             void *userdata)
{
	_cleanup_free_ char *e = docker_escape(id);
	struct docker_op *op = docker_op_new(
	    d, DOCKER_OP_REMOVE, "DELETE",
	    xasprintf("/containers/%s?force=%s&v=true", e, force ? "true" : "false"), userdata);

	op->cb.done = cb;
	docker_op_submit(op);
}

void docker_container_inspect(struct docker *d, const char *id, docker_inspect_fn cb,
                              void *userdata)
{
	_cleanup_free_ char *e = docker_escape(id);
	struct docker_op *op = docker_op_new(d, DOCKER_OP_INSPECT, "GET",
	                                     xasprintf("/containers/%s/json", e), userdata);

	op->cb.inspect = cb;
	docker_op_submit(op);
}

/* The filters query value: {"type":types,"label":[label]}, escaped. */
static char *docker_filters(json_t *types, const char *label)
{
	json_t *f = json_object();
	char *s, *e;

	if (types)
		json_object_set(f, "type", types);
	if (label)
		json_object_set_new(f, "label", json_pack("[s]", label));
	s = json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(f);
	if (!s)
		abort();
	e = docker_escape(s);
	free(s);
	return e;
}

void docker_container_list(struct docker *d, const char *label, docker_list_fn cb, void *userdata)
{
	_cleanup_free_ char *f = label ? docker_filters(NULL, label) : NULL;
	struct docker_op *op =
	    docker_op_new(d, DOCKER_OP_LIST, "GET",
	                  f ? xasprintf("/containers/json?all=true&filters=%s", f)
	                    : xstrdup("/containers/json?all=true"),
	                  userdata);

	op->cb.list = cb;
	docker_op_submit(op);
}

/* GET path's logs stream, demultiplexed, to cb. */
static void docker_logs(struct docker *d, char *path, docker_logs_fn cb, void *userdata)
{
	struct docker_op *op = docker_op_new(d, DOCKER_OP_LOGS, "GET", path, userdata);

	op->cb.logs = cb;
	op->stream = true;
	op->demux.keep = DOCKER_LOGS_MAX;
	docker_op_submit(op);
}

void docker_container_logs(struct docker *d, const char *id, unsigned tail, docker_logs_fn cb,
                           void *userdata)
{
	_cleanup_free_ char *e = docker_escape(id);

	docker_logs(d, xasprintf("/containers/%s/logs?stdout=1&stderr=1&tail=%u", e, tail), cb,
	            userdata);
}

void docker_task_logs(struct docker *d, const char *id, unsigned tail, docker_logs_fn cb,
                      void *userdata)
{
	_cleanup_free_ char *e = docker_escape(id);

	docker_logs(d, xasprintf("/tasks/%s/logs?stdout=1&stderr=1&tail=%u", e, tail), cb,
	            userdata);
}

void docker_image_inspect(struct docker *d, const char *name, docker_image_fn cb, void *userdata)
{
	_cleanup_free_ char *e = docker_escape(name);
	struct docker_op *op = docker_op_new(d, DOCKER_OP_IMAGE_INSPECT, "GET",
	                                     xasprintf("/images/%s/json", e), userdata);

	op->cb.image = cb;
	docker_op_submit(op);
}

void docker_image_pull(struct docker *d, const char *image, docker_done_fn cb, void *userdata)
{
	_cleanup_free_ char *repo = NULL, *tag = NULL, *er = NULL, *et = NULL;
	struct docker_op *op;

	docker_split_image(image, &repo, &tag);
	er = docker_escape(repo);
	et = docker_escape(tag);
	op = docker_op_new(d, DOCKER_OP_PULL, "POST",
	                   xasprintf("/images/create?fromImage=%s&tag=%s", er, et), userdata);
	op->cb.done = cb;
	op->stream = true;
	op->timeout_ms = DOCKER_PULL_TIMEOUT_MS;
	docker_op_submit(op);
}

void docker_request(struct docker *d, const char *method, char *path, char *body, docker_raw_fn cb,
                    void *userdata)
{
	struct docker_op *op = docker_op_new(d, DOCKER_OP_RAW, method, path, userdata);

	op->cb.raw = cb;
	op->body = body;
	docker_op_submit(op);
}

/* Events. */

static void docker_watch_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	docker_watch_connect(arg);
}

/* Waits out the backoff, then connects again. */
static void docker_watch_schedule(struct docker_watch *w)
{
	struct timeval tv = {w->backoff_ms / 1000, (w->backoff_ms % 1000) * 1000};

	evtimer_add(w->retry, &tv);
	w->backoff_ms =
	    w->backoff_ms * 2 > DOCKER_BACKOFF_MAX_MS ? DOCKER_BACKOFF_MAX_MS : w->backoff_ms * 2;
}

static void docker_watch_done(const struct httpc_response *hr, void *userdata)
{
	struct docker_watch *w = userdata;

	w->call = NULL;
	if (hr->result)
		log_debug("docker: event stream ended: %s", hr->error);
	else if (w->status != 200)
		log_debug("docker: event stream refused with HTTP %ld: %.*s", w->status,
		          (int)w->error_body.len, w->error_body.data ? w->error_body.data : "");
	else
		log_debug("docker: event stream closed by the engine");
	docker_watch_schedule(w);
}

static bool docker_watch_headers(long status, void *userdata)
{
	struct docker_watch *w = userdata;
	struct docker *d = w->d;

	w->status = status;
	if (status != 200)
		return true; /* the error body follows */
	w->backoff_ms = DOCKER_BACKOFF_MIN_MS;
	docker_ref(d);
	w->cb(NULL, false, w->userdata);
	return docker_unref(d);
}

static bool docker_watch_line(const char *line, size_t len, void *userdata)
{
	struct docker_watch *w = userdata;
	struct docker_event ev;

	if (len == 0)
		return true;
	if (docker_parse_event(line, len, &ev) < 0) {
		log_debug("docker: ignoring an event line: %.*s", (int)(len > 200 ? 200 : len),
		          line);
		return true;
	}
	w->cb(&ev, false, w->userdata);
	docker_event_clear(&ev);
	return !w->d->dead;
}

static bool docker_watch_data(const char *data, size_t len, void *userdata)
{
	struct docker_watch *w = userdata;
	struct docker *d = w->d;
	int r;

	if (w->status != 200) {
		buf_append(&w->error_body, data, len);
		return true;
	}
	docker_ref(d);
	r = docker_lines_feed(&w->lines, data, len, docker_watch_line, w);
	if (!docker_unref(d))
		return false;
	if (r == -E2BIG)
		log_debug("docker: event line over %zu bytes, reconnecting", DOCKER_LINE_MAX);
	return r == 0;
}

static void docker_watch_connect(struct docker_watch *w)
{
	struct docker *d = w->d;
	_cleanup_free_ char *f = docker_filters(w->types, w->label);
	_cleanup_free_ char *url = NULL;
	struct httpc_request req = {
	    .url = NULL,
	    .unix_socket = d->socket_path,
	    .connect_timeout_ms = DOCKER_CONNECT_TIMEOUT_MS,
	    .timeout_ms = 0,
	    .on_data = docker_watch_data,
	    .on_headers = docker_watch_headers,
	};

	if (!d->version) {
		w->waiting_version = true;
		docker_negotiate(d);
		return;
	}
	w->status = 0;
	w->lines.partial.len = 0;
	buf_reset(&w->error_body);
	url = xasprintf("http://localhost/v%s/events?filters=%s", d->version, f);
	req.url = url;
	w->call = httpc_start_call(d->h, &req, docker_watch_done, w);
}

void docker_events_watch(struct docker *d, const char *label, docker_event_fn cb, void *userdata)
{
	static const char *const container[] = {"container", NULL};

	docker_events_watch_types(d, container, label, cb, userdata);
}

void docker_events_watch_types(struct docker *d, const char *const *types, const char *label,
                               docker_event_fn cb, void *userdata)
{
	struct docker_watch *w;

	if (d->dead) {
		cb(NULL, true, userdata);
		return;
	}
	w = xcalloc(1, sizeof(*w));

	w->d = d;
	w->label = xstrdup(label);
	w->types = json_array();
	for (size_t i = 0; types[i]; i++)
		json_array_append_new(w->types, json_string(types[i]));
	w->cb = cb;
	w->userdata = userdata;
	w->backoff_ms = DOCKER_BACKOFF_MIN_MS;
	w->error_body.max = DOCKER_ERROR_BODY_MAX;
	w->retry = evtimer_new(d->base, docker_watch_retry_cb, w);
	if (!w->retry)
		abort();
	TAILQ_INSERT_TAIL(&d->watches, w, entry);
	docker_watch_connect(w);
}

/* Parsers. */

static const char *json_str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* Copies a string that is there and not empty; NULL otherwise. */
static char *json_strdup_nonempty(json_t *obj, const char *key)
{
	const char *s = json_str(obj, key);

	return s && *s ? xstrdup(s) : NULL;
}

static void docker_add_port(struct docker_container *c, uint16_t container_port,
                            const char *host_ip, uint16_t host_port)
{
	struct docker_port *p;

	c->ports = xreallocarray(c->ports, c->n_ports + 1, sizeof(*c->ports));
	p = &c->ports[c->n_ports++];
	p->container_port = container_port;
	snprintf(p->host_ip, sizeof(p->host_ip), "%s", host_ip ? host_ip : "");
	p->host_port = host_port;
}

/* A port number from a JSON number or string; 0 when it is not one. */
static uint16_t docker_port_number(json_t *v)
{
	long long n = -1;
	char *end;

	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_string(v) && *json_string_value(v)) {
		errno = 0;
		n = strtoll(json_string_value(v), &end, 10);
		if (errno || *end)
			n = -1;
	}
	return n > 0 && n <= 65535 ? (uint16_t)n : 0;
}

/* Inspect's NetworkSettings.Ports: {"8080/tcp": [{"HostIp", "HostPort"}] | null}. */
static void docker_parse_inspect_ports(json_t *ports, struct docker_container *c)
{
	for (void *it = json_object_iter(ports); it; it = json_object_iter_next(ports, it)) {
		const char *key = json_object_iter_key(it);
		json_t *bindings = json_object_iter_value(it);
		unsigned long cp;
		char *end;

		errno = 0;
		cp = strtoul(key, &end, 10);
		if (errno || cp == 0 || cp > 65535 || strcmp(end, "/tcp"))
			continue;
		for (size_t i = 0; i < json_array_size(bindings); i++) {
			json_t *b = json_array_get(bindings, i);
			uint16_t hp = docker_port_number(json_object_get(b, "HostPort"));

			if (hp)
				docker_add_port(c, (uint16_t)cp, json_str(b, "HostIp"), hp);
		}
	}
}

/* List's Ports: [{"IP", "PrivatePort", "PublicPort", "Type"}]. */
static void docker_parse_list_ports(json_t *ports, struct docker_container *c)
{
	for (size_t i = 0; i < json_array_size(ports); i++) {
		json_t *p = json_array_get(ports, i);
		uint16_t cp = docker_port_number(json_object_get(p, "PrivatePort"));
		uint16_t hp = docker_port_number(json_object_get(p, "PublicPort"));
		const char *type = json_str(p, "Type");

		if (cp && hp && (!type || !strcmp(type, "tcp")))
			docker_add_port(c, cp, json_str(p, "IP"), hp);
	}
}

/* "Exited (7) 2 seconds ago" -> 7. */
static int docker_exit_code_from_status(const char *status)
{
	int code;

	if (status && sscanf(status, "Exited (%d)", &code) == 1)
		return code;
	return 0;
}

int docker_parse_container_json(json_t *obj, struct docker_container *ret)
{
	struct docker_container c = {0};
	json_t *config, *state, *labels;
	const char *name;

	if (!json_is_object(obj) || !json_str(obj, "Id"))
		return -EINVAL;
	c.id = xstrdup(json_str(obj, "Id"));
	config = json_object_get(obj, "Config");
	state = json_object_get(obj, "State");
	if (json_is_object(config)) {
		/* Inspect: "Image" is the image's ID there. */
		name = json_str(obj, "Name");
		c.image = xstrdup(json_str(config, "Image"));
		c.image_id = xstrdup(json_str(obj, "Image"));
		labels = json_object_get(config, "Labels");
		if (!json_is_object(state))
			goto bad;
		c.state = xstrdup(json_str(state, "Status"));
		c.running = json_is_true(json_object_get(state, "Running"));
		c.oom_killed = json_is_true(json_object_get(state, "OOMKilled"));
		c.exit_code = (int)json_integer_value(json_object_get(state, "ExitCode"));
		c.error = json_strdup_nonempty(state, "Error");
		c.started_at = xstrdup(json_str(state, "StartedAt"));
		c.created = docker_parse_time(json_str(obj, "Created"));
		docker_parse_inspect_ports(
		    json_object_get(json_object_get(obj, "NetworkSettings"), "Ports"), &c);
	} else {
		/* List: names in "Names", "State" a string. */
		name = json_string_value(json_array_get(json_object_get(obj, "Names"), 0));
		c.image = xstrdup(json_str(obj, "Image"));
		c.image_id = xstrdup(json_str(obj, "ImageID"));
		labels = json_object_get(obj, "Labels");
		if (!json_is_string(state))
			goto bad;
		c.state = xstrdup(json_string_value(state));
		c.running = !strcmp(c.state, "running");
		c.exit_code = docker_exit_code_from_status(json_str(obj, "Status"));
		c.created = (double)json_integer_value(json_object_get(obj, "Created"));
		docker_parse_list_ports(json_object_get(obj, "Ports"), &c);
	}
	if (!c.state)
		goto bad;
	c.name = xstrdup(name ? name + (*name == '/') : "");
	c.labels = json_object();
	for (void *it = json_object_iter(labels); it; it = json_object_iter_next(labels, it)) {
		json_t *v = json_object_iter_value(it);

		/* Copied, so that the caller's labels outlive the reply. */
		if (json_is_string(v))
			json_object_set_new(c.labels, json_object_iter_key(it),
			                    json_string(json_string_value(v)));
	}
	*ret = c;
	return 0;
bad:
	docker_container_clear(&c);
	return -EINVAL;
}

/* RFC 3339 with optional fraction and a Z or numeric offset. */
double docker_parse_time(const char *s)
{
	struct tm tm = {0};
	const char *p;
	double frac = 0;

	if (!s || !(p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
		return 0;
	if (*p == '.') {
		/* Digits only: strtod() would take an exponent, or an infinity. */
		double scale = 0.1;
		while (*++p >= '0' && *p <= '9') {
			frac += (*p - '0') * scale;
			scale /= 10;
		}
	}
	double t = (double)timegm(&tm) + frac;
	if (*p == '+' || *p == '-') {
		unsigned h, m;
		int n = 0;
		if (sscanf(p + 1, "%2u:%2u%n", &h, &m, &n) != 2 || n != 5 || p[1 + n] || h > 23 ||
		    m > 59)
			return 0;
		t -= (*p == '+' ? 1 : -1) * (double)(h * 3600 + m * 60);
	}
	return t > 0 ? t : 0;
}

int docker_parse_container(const char *json, size_t len, struct docker_container *ret)
{
	json_t *obj = json_loadb(json, len, 0, NULL);
	int r = docker_parse_container_json(obj, ret);

	json_decref(obj);
	return r;
}

int docker_parse_container_list(const char *json, size_t len, struct docker_container **ret,
                                size_t *ret_n)
{
	json_t *arr = json_loadb(json, len, 0, NULL);
	struct docker_container *cs;
	size_t n = json_array_size(arr);

	if (!json_is_array(arr)) {
		json_decref(arr);
		return -EINVAL;
	}
	cs = xcalloc(n ? n : 1, sizeof(*cs));
	for (size_t i = 0; i < n; i++) {
		if (docker_parse_container_json(json_array_get(arr, i), &cs[i]) < 0) {
			while (i > 0)
				docker_container_clear(&cs[--i]);
			free(cs);
			json_decref(arr);
			return -EINVAL;
		}
	}
	json_decref(arr);
	*ret = cs;
	*ret_n = n;
	return 0;
}

/* An array of strings, copied; NULL and [] give none. */
static int docker_parse_strv(json_t *arr, char ***ret, size_t *ret_n)
{
	char **v;

	*ret = NULL;
	*ret_n = 0;
	if (json_is_null(arr) || !arr)
		return 0;
	if (!json_is_array(arr))
		return -EINVAL;
	v = xcalloc(json_array_size(arr) + 1, sizeof(*v));
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *s = json_array_get(arr, i);

		if (!json_is_string(s)) {
			strv_free(v, i);
			return -EINVAL;
		}
		v[i] = xstrdup(json_string_value(s));
	}
	*ret = v;
	*ret_n = json_array_size(arr);
	return 0;
}

int docker_parse_image(const char *json, size_t len, struct docker_image *ret)
{
	json_t *obj = json_loadb(json, len, 0, NULL);
	struct docker_image img = {0};
	int r = -EINVAL;

	if (!json_str(obj, "Id"))
		goto out;
	img.id = xstrdup(json_str(obj, "Id"));
	if (docker_parse_strv(json_object_get(obj, "RepoDigests"), &img.repo_digests,
	                      &img.n_repo_digests) < 0 ||
	    docker_parse_strv(json_object_get(obj, "RepoTags"), &img.repo_tags, &img.n_repo_tags) <
	        0) {
		docker_image_clear(&img);
		goto out;
	}
	*ret = img;
	r = 0;
out:
	json_decref(obj);
	return r;
}

int docker_parse_event(const char *json, size_t len, struct docker_event *ret)
{
	json_t *obj = json_loadb(json, len, 0, NULL);
	json_t *actor, *attrs, *tn;
	struct docker_event ev = {.exit_code = -1};
	const char *action, *id, *code;
	int r = -EINVAL;

	if (!json_is_object(obj))
		goto out;
	/* Type/Action/Actor since API 1.22; status/id before. */
	action = json_str(obj, "Action") ?: json_str(obj, "status");
	if (!action)
		goto out;
	actor = json_object_get(obj, "Actor");
	id = json_str(actor, "ID") ?: json_str(obj, "id");
	attrs = json_object_get(actor, "Attributes");
	ev.type = xstrdup(json_str(obj, "Type") ?: "container");
	ev.action = xstrdup(action);
	ev.id = xstrdup(id ?: "");
	ev.attributes = json_is_object(attrs) ? json_deep_copy(attrs) : json_object();
	code = json_str(attrs, "exitCode");
	if (code) {
		char *end;
		long n;

		errno = 0;
		n = strtol(code, &end, 10);
		if (!errno && !*end && end != code && n >= 0 && n <= 0xffff)
			ev.exit_code = (int)n;
	}
	tn = json_object_get(obj, "timeNano");
	if (json_is_integer(tn))
		ev.time = (double)json_integer_value(tn) / 1e9;
	else
		ev.time = json_number_value(json_object_get(obj, "time"));
	*ret = ev;
	r = 0;
out:
	json_decref(obj);
	return r;
}

/* A copy of s[0..len) without surrounding white space. */
static char *docker_strndup_trimmed(const char *s, size_t len)
{
	while (len && strchr(" \t\r\n", *s)) {
		s++;
		len--;
	}
	while (len && strchr(" \t\r\n", s[len - 1]))
		len--;
	return xstrndup(s, len);
}

char *docker_parse_error_message(const char *body, size_t len)
{
	json_t *obj = json_loadb(body, len, 0, NULL);
	const char *m = json_str(obj, "message");
	char *r = m ? xstrdup(m) : docker_strndup_trimmed(body, len);

	json_decref(obj);
	return r;
}

char *docker_parse_pull_error(const char *stream, size_t len)
{
	while (len > 0) {
		const char *nl = memchr(stream, '\n', len);
		size_t n = nl ? (size_t)(nl - stream) : len;
		json_t *obj;
		const char *e;
		char *r = NULL;

		obj = n ? json_loadb(stream, n, 0, NULL) : NULL;
		e = json_str(obj, "error")
		        ?: json_str(json_object_get(obj, "errorDetail"), "message");
		if (e)
			r = xstrdup(e);
		json_decref(obj);
		if (r)
			return r;
		if (!nl)
			break;
		stream += n + 1;
		len -= n + 1;
	}
	return NULL;
}

/* "1.41" -> 1, 41; false unless the whole string is that. */
static bool docker_parse_api_version(const char *s, unsigned *ret_major, unsigned *ret_minor)
{
	unsigned major, minor;
	int n = -1;

	if (!s || sscanf(s, "%u.%u%n", &major, &minor, &n) != 2 || n < 0 || s[n])
		return false;
	*ret_major = major;
	*ret_minor = minor;
	return true;
}

static int docker_api_cmp(unsigned a_major, unsigned a_minor, unsigned b_major, unsigned b_minor)
{
	if (a_major != b_major)
		return a_major < b_major ? -1 : 1;
	return a_minor < b_minor ? -1 : a_minor > b_minor;
}

int docker_pick_version(const char *server_version, const char *server_min, char **ret)
{
	unsigned smaj, smin, mmaj, mmin, omaj, omin, pmaj, pmin;

	if (!docker_parse_api_version(server_version, &smaj, &smin) ||
	    !docker_parse_api_version(DOCKER_API_VERSION, &omaj, &omin))
		return -EINVAL;
	if (docker_api_cmp(smaj, smin, omaj, omin) < 0) {
		pmaj = smaj;
		pmin = smin;
	} else {
		pmaj = omaj;
		pmin = omin;
	}
	if (docker_api_cmp(pmaj, pmin, DOCKER_MIN_API_MAJOR, DOCKER_MIN_API_MINOR) < 0)
		return -ENOTSUP;
	/* An engine that no longer serves the version we would pin. */
	if (docker_parse_api_version(server_min, &mmaj, &mmin) &&
	    docker_api_cmp(pmaj, pmin, mmaj, mmin) < 0)
		return -ENOTSUP;
	*ret = xasprintf("%u.%u", pmaj, pmin);
	return 0;
}

uint16_t docker_container_host_port(const struct docker_container *c, uint16_t container_port)
{
	uint16_t any = 0;

	for (size_t i = 0; i < c->n_ports; i++) {
		const struct docker_port *p = &c->ports[i];

		if (p->container_port != container_port || !p->host_port)
			continue;
		if (!strcmp(p->host_ip, "127.0.0.1"))
			return p->host_port;
		if (!any)
			any = p->host_port;
	}
	return any;
}

void docker_split_image(const char *image, char **ret_repo, char **ret_tag)
{
	const char *at = strchr(image, '@');
	const char *end = at ? at : image + strlen(image);
	const char *slash = NULL, *colon = NULL;

	for (const char *p = image; p < end; p++) {
		if (*p == '/')
			slash = p;
		else if (*p == ':')
			colon = p;
	}
	/* A colon before the last slash is a registry's port, not a tag. */
	if (colon && slash && colon < slash)
		colon = NULL;
	*ret_repo = xstrndup(image, (size_t)((colon ? colon : end) - image));
	if (at)
		*ret_tag = xstrdup(at + 1);
	else if (colon && colon[1])
		*ret_tag = xstrdup(colon + 1);
	else
		*ret_tag = xstrdup("latest");
}

void docker_container_clear(struct docker_container *c)
{
	if (!c)
		return;
	free(c->id);
	free(c->name);
	free(c->image);
	free(c->image_id);
	free(c->state);
	free(c->error);
	free(c->started_at);
	json_decref(c->labels);
	free(c->ports);
	*c = (struct docker_container){0};
}

void docker_image_clear(struct docker_image *img)
{
	if (!img)
		return;
	free(img->id);
	strv_free(img->repo_digests, img->n_repo_digests);
	strv_free(img->repo_tags, img->n_repo_tags);
	*img = (struct docker_image){0};
}

void docker_event_clear(struct docker_event *ev)
{
	if (!ev)
		return;
	free(ev->type);
	free(ev->action);
	free(ev->id);
	json_decref(ev->attributes);
	*ev = (struct docker_event){.exit_code = -1};
}

/* Tests and fuzzing: the stream parsers as a reply runs through them. */

/* The step bytes at most that a piece of data fed from data + off holds. */
static size_t docker_feed_piece(size_t len, size_t off, size_t step)
{
	return step && len - off > step ? step : len - off;
}

int docker_feed_events(const char *data, size_t len, size_t step, docker_event_fn cb,
                       void *userdata)
{
	struct docker d = {0};
	struct docker_watch w = {.d = &d, .cb = cb, .userdata = userdata};
	int r = 0;

	for (size_t off = 0, n; off < len && r == 0; off += n) {
		n = docker_feed_piece(len, off, step);
		r = docker_lines_feed(&w.lines, data + off, n, docker_watch_line, &w);
	}
	buf_reset(&w.lines.partial);
	return r == -E2BIG ? r : 0;
}

char *docker_feed_pull(const char *data, size_t len, size_t step)
{
	struct docker_op op = {.kind = DOCKER_OP_PULL, .status = 200};

	for (size_t off = 0, n; off < len; off += n) {
		n = docker_feed_piece(len, off, step);
		if (!docker_op_data(data + off, n, &op))
			break;
	}
	docker_lines_finish(&op.lines, docker_pull_line, &op);
	buf_reset(&op.lines.partial);
	return op.pull_error;
}

char *docker_feed_logs(const char *data, size_t len, size_t step, size_t keep)
{
	struct docker_op op = {.kind = DOCKER_OP_LOGS, .status = 200, .demux.keep = keep};

	for (size_t off = 0, n; off < len; off += n) {
		n = docker_feed_piece(len, off, step);
		docker_op_data(data + off, n, &op);
	}
	return docker_demux_finish(&op.demux);
}
