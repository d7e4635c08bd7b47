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

/* The most idle connections kept, over all ports together. */
#define UPSTREAM_MAX_IDLE 256
/* An idle connection is closed after this long. */
#define UPSTREAM_IDLE_TIMEOUT_MS 60000
/* The most bytes of status line and headers an answer may have. */
#define UPSTREAM_MAX_HEAD 65536

struct upstream_request {
	uint16_t port;               /* on 127.0.0.1: the pool's key */
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

struct upstream *upstream_new(struct event_base *base);
/* Completes every call still running with -ECANCELED, closes every
 * connection and frees; NULL-safe. */
struct upstream *upstream_free(struct upstream *u);

/* Starts a call; done is always called later from the loop. */
struct upstream_call *upstream_start(struct upstream *u, const struct upstream_request *req,
                                     upstream_done_fn done, void *userdata);

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

#endif
