/*
 * An asynchronous HTTP client on the daemon's event loop: libcurl's
 * multi-socket API driven by libevent.  Docker Engine calls (over a Unix
 * socket) and health probes (over loopback TCP) both go through it.  Every
 * request has a timeout and its completion is called exactly once, always
 * from the event loop and never from inside httpc_start().
 */
#ifndef ENDPOINTD_HTTPC_H
#define ENDPOINTD_HTTPC_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct httpc;
struct httpc_call;

struct httpc_response {
	int result;          /* 0, or -errno (-ETIMEDOUT, -ECONNREFUSED, -E2BIG, -EIO …) */
	long status;         /* HTTP status, 0 when none was received */
	const char *body;    /* NUL-terminated, valid only during the callback */
	size_t body_len;
	const char *error;   /* curl's words when result != 0, else NULL */
};

/* Called once when the request ends, whatever the way. */
typedef void (*httpc_done_fn)(const struct httpc_response *r, void *userdata);
/* Streaming: called for each chunk of the body as it arrives; return false to
 * abort the transfer (completion then reports -ECANCELED). */
typedef bool (*httpc_data_fn)(const char *data, size_t len, void *userdata);
/* Streaming: called once when the final status line and headers are in
 * (before any on_data); return false to abort (-ECANCELED).  Lets a stream
 * that stays silent, like the Engine's /events, be known to be connected. */
typedef bool (*httpc_headers_fn)(long status, void *userdata);

struct httpc_request {
	const char *method;           /* "GET" when NULL */
	const char *url;              /* http://localhost/v1.41/… for Unix sockets */
	const char *unix_socket;      /* NULL for TCP */
	const char *content_type;     /* for a body; NULL = none */
	const void *body;             /* copied by httpc_start */
	size_t body_len;
	long connect_timeout_ms;      /* 0 = 5000 */
	long timeout_ms;              /* total; 0 = none (streams only) */
	size_t max_response;          /* 0 = 16 MiB; over it -> -E2BIG */
	httpc_data_fn on_data;        /* NULL = collect the body */
	httpc_headers_fn on_headers;  /* NULL = none */
};

struct httpc *httpc_new(struct event_base *base);
/* Completes every request still running with -ECANCELED, then frees; NULL-safe. */
struct httpc *httpc_free(struct httpc *h);
/* Starts a request.  done is always called later from the loop, also when the
 * request could not even be set up. */
void httpc_start(struct httpc *h, const struct httpc_request *req, httpc_done_fn done, void *userdata);
/* The same, and returns the call for httpc_cancel(); the pointer is valid
 * until done has been called. */
struct httpc_call *httpc_start_call(struct httpc *h, const struct httpc_request *req,
				    httpc_done_fn done, void *userdata);
/* For an owner that goes away: ends the call at once and done is NOT called
 * (userdata is never touched again).  Safe from inside on_data/on_headers and
 * from any other callback; NULL-safe. */
void httpc_cancel(struct httpc_call *c);

/* Requests running now. */
size_t httpc_active(const struct httpc *h);

#endif
