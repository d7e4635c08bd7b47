/*
 * The data plane's HTTP/1.1 client: POSTs to containers' published ports on
 * 127.0.0.1 over keep-alive connections, one pool per port (or per dialer,
 * for containers without a network: also their health checks' GETs).
 *
 * It exists next to httpc (libcurl) because InvokeEndpoint is the hot path:
 * each connection is registered with the event loop once, edge-triggered, so
 * a call costs four system calls (write the request, read the answer) and no
 * epoll_ctl, and bodies travel as evbuffer chains: the request body is sent
 * from the buffer httpd read it into, the answer is handed over as the
 * buffer it was read into.  Nothing is copied on the way.
 *
 * Every call has a timeout and its completion is called exactly once, from
 * the event loop, never from inside upstream_start().
 */
#ifndef ENDPOINTD_UPSTREAM_H
#define ENDPOINTD_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct dialer;
struct upstream;
struct upstream_call;
struct upstream_response;

/* The most idle connections kept, over all ports together. */
#define UPSTREAM_MAX_IDLE 256
/* An idle connection is closed after this long. */
#define UPSTREAM_IDLE_TIMEOUT_MS 60000
/* The most bytes of status line and headers an answer may have. */
#define UPSTREAM_MAX_HEAD 65536

struct upstream_request {
	uint16_t port;               /* on host: the pool's key with it */
	const char *host;            /* an IPv4 address (a task's node); NULL: 127.0.0.1 */
	struct dialer *dialer;       /* new connections from it while it answers; NULL = none */
	/* Connections from dialer only, pooled by dialer (a container without a
	 * network; port then only names the model server's port in the Host
	 * header and in messages); no dialer, or no socket from it, ends the
	 * call with -ECONNREFUSED. */
	bool dialer_only;
	const char *method;          /* NULL = "POST" */
	const char *path;            /* "/invocations" */
	const char *const *headers;  /* "Name: value", NULL-ended; NULL = none */
	struct evbuffer *body;       /* lent: left unchanged, kept alive until done; NULL = empty */
	unsigned connect_timeout_ms; /* 0 = 1000 */
	unsigned timeout_ms;         /* the whole call; 0 = 60000 */
	size_t max_response;         /* body bytes; 0 = 6 MiB; over it -> -E2BIG */
	/* Streaming (upstream_piece_fn, below): the head and each piece of the
	 * body go to on_piece as they arrive; max_response then bounds what one
	 * delivery holds, not the whole body.  NULL: done gets the whole body. */
	void (*on_piece)(struct upstream_response *r, void *userdata);
	unsigned idle_timeout_ms; /* streaming: the most between two reads; 0 = none */
};

struct upstream_response {
	/* 0, or -ECONNREFUSED (nothing was sent), -ETIMEDOUT, -ECONNRESET (closed
	 * or reset before the whole answer), -EPROTO (not HTTP/1.x), -E2BIG,
	 * -ECANCELED (upstream_free), or another -errno of connect/write/read. */
	int result;
	const char *error;                /* words for result != 0, else NULL */
	int status;                       /* HTTP status, 0 when none was read */
	struct evbuffer *body;            /* the answer's body; done may drain or move it */
	const struct upstream_call *call; /* for upstream_response_header() */
};

/* Called once when the call ends, whatever the way. */
typedef void (*upstream_done_fn)(struct upstream_response *r, void *userdata);

/*
 * A streaming call's answer as it arrives, from the loop: first the head
 * (r->status and the headers set, r->body holding whatever of the body came
 * with it, maybe nothing), then each read's worth of body in r->body, which
 * the callback drains or moves.  It may pause, resume, cancel or collect
 * the call (below); what it leaves in r->body is delivered again with the
 * next piece.  done still ends the call, after the last piece.
 */
typedef void (*upstream_piece_fn)(struct upstream_response *r, void *userdata);

struct upstream *upstream_new(struct event_base *base);
/* Completes every call still running with -ECANCELED, closes every
 * connection and frees; NULL-safe. */
struct upstream *upstream_free(struct upstream *u);

/* Starts a call; done is always called later from the loop. */
struct upstream_call *upstream_start(struct upstream *u, const struct upstream_request *req,
                                     upstream_done_fn done, void *userdata);

/*
 * Streaming calls only.  Pause: nothing more is read from the container
 * (its writes then block in its own socket) and the time between pieces
 * does not run; resume: read on, and deliver what was read already.
 */
void upstream_call_pause(struct upstream_call *c, bool pause);
/* Stop streaming: the rest of the body is gathered (up to max_response
 * bytes in all, 0 = 6 MiB; over it -> -E2BIG) and handed whole to done, as
 * for a call that does not stream (an error answer, whose words are wanted
 * whole). */
void upstream_call_collect(struct upstream_call *c, size_t max_response);
/* End the call from the caller (its client went away): done is called from
 * the loop with -ECANCELED, unless the call ends first, and the connection
 * is closed, never pooled with an answer half read. */
void upstream_call_cancel(struct upstream_call *c);

/* The value of header name (case-insensitive) in the answer, or NULL; only
 * from inside done. */
const char *upstream_response_header(const struct upstream_response *r, const char *name);

/* Calls running now. */
size_t upstream_active(const struct upstream *u);
/* Connections open now, idle or busy. */
size_t upstream_connections(const struct upstream *u);

/* For tests and fuzzing: data run through a call's answer parser as reads
 * of step bytes (0 = all at once) bring it, then the peer's close.  0 when
 * the answer is whole (*ret_status and *ret_body_len set), -ECONNRESET when
 * the close came first, or the -errno the call would end with. */
int upstream_parse_bytes(const void *data, size_t len, size_t step, size_t max_response,
                         int *ret_status, size_t *ret_body_len);
/* The same, streaming: the body is taken a delivery at a time, none over
 * max_response bytes, as upstream_piece_fn would get it; *ret_pieces
 * counts the deliveries that held bytes. */
int upstream_parse_bytes_streaming(const void *data, size_t len, size_t step,
                                   size_t max_response, int *ret_status, size_t *ret_body_len,
                                   size_t *ret_pieces);

#endif
