/*
 * What InvokeEndpoint (proxy.c) and InvokeEndpointWithResponseStream
 * (proxy_stream.c) share: the proxy, a call, taking a call in (admission
 * and routing), forwarding it, and answering a call that failed before the
 * first byte of the model's answer went to the client.
 */
#ifndef ENDPOINTD_PROXY_PRIVATE_H
#define ENDPOINTD_PROXY_PRIVATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "awsproto.h"
#include "metrics.h"
#include "proxy.h"
#include "upstream.h"

struct evbuffer;
struct endpoint;
struct variant;
struct instance;

struct proxy {
	struct event_base *base;
	struct upstream *upstream; /* NULL once stopped */
	struct endpoint_manager *manager;
	uint64_t rng; /* xorshift state for weighted choice and ties */
	size_t in_flight;
	struct strmap *per_endpoint; /* endpoint name -> calls in flight, as uintptr_t */
	bool big;                    /* a body of PROXY_TRIM_BODY or more since the last trim */
	struct event *trim;          /* gives the heap back once the big ones are done */
};

#define PROXY_MAX_FORWARDED 8
/* The most of a model's streamed answer read before it is sent on: one
 * PayloadPart event, well within what httpd lets one write add. */
#define PROXY_STREAM_PIECE_MAX (64 * 1024)

/*
 * One invocation being forwarded.  Owned by the proxy from proxy_call_new()
 * until proxy_call_free(), which the upstream call's done ends with; a
 * streamed call's httpd callbacks hold it too, while its answer is sent.
 */
struct proxy_call {
	struct proxy *proxy;
	struct httpd_request *req; /* NULL once answered */
	const char *operation;     /* "InvokeEndpoint", for messages */
	struct endpoint *ep;       /* a reference */
	char *counted;             /* the name counted in per_endpoint */
	struct variant *variant;
	struct instance *inst; /* counted in inst->inflight */
	bool pinned;           /* TargetVariant: no other variant */
	bool retried;
	struct evbuffer *body;                  /* req's input buffer */
	char *headers[PROXY_MAX_FORWARDED + 1]; /* forwarded request headers, NULL-ended */
	size_t n_headers;
	char request_id[AWS_REQUEST_ID_LEN + 1];
	double start; /* monotonic seconds */

	/* InvokeEndpointWithResponseStream (proxy_stream.c). */
	bool stream;
	struct upstream_call *ucall; /* running; NULL once its done was called */
	bool streaming;              /* the answer's head went to the client */
	bool gone;                   /* the client went away */
	bool first_byte;             /* the first piece was read */
	struct evbuffer *events;     /* encoded, on their way to httpd */
};

/* Send a REST-JSON error and free req. */
void proxy_send_error(struct httpd_request *req, const char *request_id, int status,
                      const char *code, const char *type, json_t *extra, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* Take an invocation of endpoint name in for operation: a call routed to
 * an instance and counted, or NULL when req was answered (refused). */
struct proxy_call *proxy_call_new(struct proxy *p, struct httpd_request *req, const char *name,
                                  const char *request_id, const char *operation);
/* Forward "name: value" to the container (value NULL: nothing). */
void proxy_call_forward_header(struct proxy_call *c, const char *name, const char *value);
/* Send c to its instance (again, after a refused connection). */
void proxy_forward(struct proxy_call *c);
/* The call's answer came: an instance that refused the connection loses
 * its traffic, and a call refused before anything was sent goes to another
 * instance; true when it did (c is under way again). */
bool proxy_call_retry(struct proxy_call *c, struct upstream_response *r);
/* Count the call's end in the metrics and log a failure; the outcome. */
enum metrics_outcome proxy_call_account(struct proxy_call *c, struct upstream_response *r);
/* Answer a call whose container failed it (r->result) or answered an error
 * status, as InvokeEndpoint does. */
void proxy_send_failure(struct proxy_call *c, struct upstream_response *r);
/* The container's words, for messages: cut at max on a character boundary,
 * valid UTF-8, no control bytes. */
char *proxy_excerpt(struct evbuffer *body, size_t max);
/* Uncount c and free it. */
void proxy_call_free(struct proxy_call *c);

/* proxy_stream.c: the upstream callbacks of a streamed call. */
void proxy_stream_piece(struct upstream_response *r, void *userdata);
void proxy_stream_done(struct upstream_response *r, void *userdata);

#endif
