/*
 * InvokeEndpointWithResponseStream: POST
 * /endpoints/<name>/invocations-response-stream.
 *
 * DESIGN
 *
 * The call is taken in and routed as InvokeEndpoint's (proxy.c: admission,
 * variant weights, TargetVariant, the healthy instance with the fewest
 * calls, one retry of a refused connection) and forwarded to the
 * container's /invocations as a streaming upstream call.  Until the first
 * byte of the model's answer has gone to the client, every failure is
 * answered as InvokeEndpoint answers it (a status other than 2xx is
 * collected whole for its words, a timeout or a broken connection is 424
 * ModelError, no instance is 503 …).
 *
 * Once the container's head says 2xx, the answer's head goes out
 * (Content-Type application/vnd.amazon.eventstream, the model's content
 * type as X-Amzn-SageMaker-Content-Type, the variant, the custom
 * attributes) and each read of the container's body leaves at once as one
 * PayloadPart event: nothing waits for more bytes, so the daemon adds a
 * write's worth of time to each piece.  A failure after that is a
 * ModelStreamError event (the container broke, ended badly or went silent
 * past stream_idle_timeout_s, or the stream ran past stream_timeout_s) or
 * an InternalStreamFailure event (the daemon is stopping), and the stream
 * ends cleanly after it.
 *
 * Back-pressure: httpd says when a client reads slower than the model
 * writes (what waits in the connection reached HTTPD_STREAM_HIGH): the
 * upstream call is paused, so the container's writes block in its own
 * socket, and resumed when the client has drained the output.  A stream
 * then holds at most HTTPD_STREAM_RESERVE, reserved from the daemon's body
 * budget when it begins (a stream that does not fit is refused with 503
 * before its head is sent), plus one read of PROXY_STREAM_PIECE_MAX.
 *
 * A client that goes away (or reads nothing for write_timeout_s) cancels
 * the upstream call: its connection to the container is closed, which the
 * model server sees as its next write failing.
 *
 * Ownership: the proxy_call lives until the upstream call's done, which
 * always comes (a cancel makes it come on the next loop turn); the request
 * is ended (httpd_stream_end or a reply) exactly once, by whichever of
 * done and the client going away comes first.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <string.h>

#include "endpoint.h"
#include "eventstream.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "names.h"
#include "proxy.h"
#include "proxy_private.h"
#include "upstream.h"
#include "util.h"

/* The most of a container's words a ModelStreamError message carries. */
#define PROXY_STREAM_MESSAGE_MAX 1024

/* Whether s is US-ASCII, as \p{ASCII}* asks. */
static bool proxy_stream_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* \A\S[\p{Print}]*\z: a visible character, then printable ones. */
static bool proxy_stream_print(const char *s)
{
	if ((unsigned char)s[0] <= 0x20 || (unsigned char)s[0] >= 0x7f)
		return false;
	for (s++; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/*
 * ^[a-zA-Z0-9](-*[a-zA-Z0-9])*$: a session id as SageMaker hands them out
 * (up to 256 characters).  NEW_SESSION is not one: a stream cannot open a
 * session, only InvokeEndpoint can.
 */
static bool proxy_stream_session(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

#define PROXY_STREAM_NAME_PATTERN "^[a-zA-Z0-9](-*[a-zA-Z0-9])*"

/* A request header and the member it is in the service model. */
struct proxy_stream_member {
	const char *header;
	const char *field;
	struct aws_string_rule rule;
};

static const struct proxy_stream_member proxy_stream_members[] = {
    {"Content-Type",
     "contentType",
     {.max_len = 1024, .pattern = "\\p{ASCII}*", .matches = proxy_stream_ascii}},
    {"X-Amzn-SageMaker-Accept",
     "accept",
     {.max_len = 1024, .pattern = "\\p{ASCII}*", .matches = proxy_stream_ascii}},
    {"X-Amzn-SageMaker-Custom-Attributes",
     "customAttributes",
     {.max_len = 1024, .pattern = "\\p{ASCII}*", .matches = proxy_stream_ascii}},
    {"X-Amzn-SageMaker-Target-Variant",
     "targetVariant",
     {.max_len = 63, .pattern = PROXY_STREAM_NAME_PATTERN, .matches = names_valid_resource}},
    {"X-Amzn-SageMaker-Target-Container-Hostname",
     "targetContainerHostname",
     {.max_len = 63, .pattern = PROXY_STREAM_NAME_PATTERN, .matches = names_valid_resource}},
    {"X-Amzn-SageMaker-Inference-Id",
     "inferenceId",
     {.min_len = 1,
      .max_len = 64,
      .pattern = "\\A\\S[\\p{Print}]*\\z",
      .matches = proxy_stream_print}},
    {"X-Amzn-SageMaker-Inference-Component",
     "inferenceComponentName",
     {.max_len = 63, .pattern = NAMES_MODEL_PATTERN "$", .matches = names_valid_resource}},
    {"X-Amzn-SageMaker-Session-Id",
     "sessionId",
     {.max_len = 256,
      .pattern = PROXY_STREAM_NAME_PATTERN "$",
      .matches = proxy_stream_session}},
};

/*
 * Check the request's header members as the service model constrains
 * them; false when req was answered with ValidationError (every error in
 * one message, in SageMaker's words).
 */
static bool proxy_stream_validate(struct httpd_request *req, const char *request_id)
{
	json_t *members = json_object();
	for (size_t i = 0; i < ELEMENTSOF(proxy_stream_members); i++) {
		const char *v = httpd_request_header(req, proxy_stream_members[i].header);
		if (v)
			json_object_set_new(members, proxy_stream_members[i].field, json_string(v));
	}
	struct aws_reader r;
	aws_reader_init(&r, members);
	for (size_t i = 0; i < ELEMENTSOF(proxy_stream_members); i++)
		(void)aws_read_valid_string(&r, proxy_stream_members[i].field,
		                            &proxy_stream_members[i].rule);
	struct aws_error err = {0};
	bool bad = aws_reader_error(&r, &err);
	aws_reader_clear(&r);
	json_decref(members);
	if (!bad)
		return true;
	proxy_send_error(req, request_id, 400, "ValidationError", "ValidationError", NULL, "%s",
	                 err.message);
	aws_error_clear(&err);
	return false;
}

/* Send what c->events holds; pause the container while the client is
 * behind. */
static void proxy_stream_send(struct proxy_call *c)
{
	if (!httpd_stream_write(c->req, c->events) && c->ucall)
		upstream_call_pause(c->ucall, true);
}

/* What httpd says of the answer being sent. */
static void proxy_stream_event(struct httpd_request *req, enum httpd_stream_event ev,
                               void *userdata)
{
	struct proxy_call *c = userdata;
	if (ev == HTTPD_STREAM_DRAINED) {
		if (c->ucall)
			upstream_call_pause(c->ucall, false);
		return;
	}
	/* The client went away: stop the model. */
	log_request(LOG_DEBUG, c->request_id, c->ep->name,
	            "request %s: the client went away mid-stream; closing the call to %s",
	            c->request_id, c->inst->container_name);
	c->gone = true;
	httpd_stream_end(TAKE_PTR(c->req));
	metrics_stream_open(c->ep->name, c->variant->name, -1);
	if (c->ucall)
		upstream_call_cancel(c->ucall);
}

/* The container's head says 2xx: begin the answer.  False when it could
 * not begin (req was answered or is gone; the call is cancelled). */
static bool proxy_stream_begin(struct proxy_call *c, struct upstream_response *r)
{
	const char *ct = upstream_response_header(r, "Content-Type");
	const char *attrs = upstream_response_header(r, "X-Amzn-SageMaker-Custom-Attributes");
	httpd_add_header(c->req, "Content-Type", EVENTSTREAM_CONTENT_TYPE);
	httpd_add_header(c->req, "X-Amzn-SageMaker-Content-Type",
	                 ct ? ct : "application/octet-stream");
	httpd_add_header(c->req, "x-Amzn-Invoked-Production-Variant", c->variant->name);
	httpd_add_header(c->req, "x-amzn-RequestId", c->request_id);
	if (attrs)
		httpd_add_header(c->req, "X-Amzn-SageMaker-Custom-Attributes", attrs);
	int e = httpd_stream_begin(c->req, 200, proxy_stream_event, c);
	if (e == -ENOBUFS)
		proxy_send_error(TAKE_PTR(c->req), c->request_id, 503, "ServiceUnavailable",
		                 "ServiceUnavailable", NULL,
		                 "endpointd holds as many streamed answers as it can; try again "
		                 "later.");
	else if (e < 0)
		httpd_send_reply(TAKE_PTR(c->req), 503, NULL); /* only frees it: nobody reads */
	if (e < 0) {
		c->gone = true;
		upstream_call_cancel(c->ucall);
		return false;
	}
	c->streaming = true;
	c->events = evbuffer_new();
	if (!c->events)
		abort();
	metrics_stream_open(c->ep->name, c->variant->name, 1);
	return true;
}

/* Encode what the container sent as PayloadPart events. */
static void proxy_stream_encode(struct proxy_call *c, struct evbuffer *body)
{
	size_t n;
	while ((n = evbuffer_get_length(body)) > 0) {
		if (n > EVENTSTREAM_MAX_PAYLOAD)
			n = EVENTSTREAM_MAX_PAYLOAD;
		eventstream_payload_part(c->events, body, NULL, n);
		metrics_stream_bytes(c->ep->name, c->variant->name, n);
	}
}

/* The container's head, then each piece of its answer. */
void proxy_stream_piece(struct upstream_response *r, void *userdata)
{
	struct proxy_call *c = userdata;
	if (!c->streaming) {
		if (r->status < 200 || r->status > 299) {
			/* Answered as InvokeEndpoint answers it, words and all. */
			upstream_call_collect(c->ucall, PROXY_MAX_RESPONSE);
			return;
		}
		if (!proxy_stream_begin(c, r))
			return;
	}
	if (evbuffer_get_length(r->body) == 0)
		return;
	if (!c->first_byte) {
		c->first_byte = true;
		metrics_stream_first_byte(c->ep->name, c->variant->name,
		                          now_monotonic() - c->start);
	}
	proxy_stream_encode(c, r->body);
	proxy_stream_send(c);
}

/* The error event that ends a stream the container failed. */
static void proxy_stream_error_event(struct proxy_call *c, struct upstream_response *r)
{
	const struct config *cfg = c->ep->fleet->config;
	_cleanup_free_ char *msg = NULL;
	/* The two codes SageMaker's ModelStreamError has. */
	const char *code = r->result == -ETIMEDOUT ? "ModelInvocationTimeExceeded" : "StreamBroken";
	if (r->result == -ECANCELED) {
		eventstream_internal_stream_failure(c->events,
		                                    "endpointd is shutting down: the stream was "
		                                    "cut short.");
		return;
	}
	if (r->result == -ETIMEDOUT && r->error && strstr(r->error, "sent nothing"))
		msg = xasprintf("Your invocation timed out while waiting for the next part of the "
		                "response from container primary after %u seconds. See the log "
		                "of container %s for more information.",
		                cfg->stream_idle_timeout_s, c->inst->container_name);
	else if (r->result == -ETIMEDOUT)
		msg = xasprintf("Your invocation's response stream from container primary ran "
		                "past the limit of %u seconds. See the log of container %s for "
		                "more information.",
		                cfg->stream_timeout_s, c->inst->container_name);
	else {
		_cleanup_free_ char *words = NULL;
		if (r->error) {
			struct evbuffer *b = evbuffer_new();
			if (!b)
				abort();
			evbuffer_add(b, r->error, strlen(r->error));
			words = proxy_excerpt(b, PROXY_STREAM_MESSAGE_MAX);
			evbuffer_free(b);
		}
		msg = xasprintf("Received an error from primary while streaming its response: "
		                "\"%s\". See the log of container %s for more information.",
		                words ? words : strerror(-r->result), c->inst->container_name);
	}
	eventstream_model_stream_error(c->events, msg, code);
}

/* The streaming call ended, whatever the way. */
void proxy_stream_done(struct upstream_response *r, void *userdata)
{
	struct proxy_call *c = userdata;
	c->ucall = NULL;
	if (!c->gone && proxy_call_retry(c, r))
		return; /* c->ucall is the new call's */

	/* A client that hung up mid-stream cut a call the model was serving
	 * well: no error of the model's, for the metrics and the alarms. */
	struct upstream_response served = *r;
	if (c->gone && c->streaming && r->result == -ECANCELED) {
		served.result = 0;
		served.error = NULL;
	}
	enum metrics_outcome outcome = proxy_call_account(c, &served);
	if (c->streaming && c->req) {
		/* What was read before the end goes out first. */
		if (r->body && evbuffer_get_length(r->body) > 0)
			proxy_stream_encode(c, r->body);
		if (outcome != METRICS_OUTCOME_SUCCESS)
			proxy_stream_error_event(c, r);
		httpd_stream_write(c->req, c->events);
		httpd_stream_end(TAKE_PTR(c->req));
		metrics_stream_open(c->ep->name, c->variant->name, -1);
	} else if (c->req) {
		if (r->result || r->status >= 300) {
			proxy_send_failure(c, r);
		} else {
			/* A 2xx head is always delivered; should one not be, the
			 * client still gets an answer. */
			proxy_send_error(TAKE_PTR(c->req), c->request_id, 500, "InternalFailure",
			                 "InternalFailure", NULL,
			                 "The model's answer could not be streamed.");
		}
	}
	proxy_call_free(c);
}

/* Serve one streamed invocation. */
void proxy_invoke_stream(struct proxy *p, struct httpd_request *req, const char *name,
                         const char *request_id)
{
	if (!proxy_stream_validate(req, request_id))
		return;
	if (httpd_request_header(req, "X-Amzn-SageMaker-Inference-Component")) {
		proxy_send_error(req, request_id, 400, "ValidationError", "ValidationError", NULL,
		                 "Inference Component Name header is not allowed for endpoints to "
		                 "which you dont have InferenceComponents deployed. Please check "
		                 "your endpoint configuration.");
		return;
	}
	if (httpd_request_header(req, "X-Amzn-SageMaker-Target-Container-Hostname")) {
		proxy_send_error(req, request_id, 400, "ValidationError", "ValidationError", NULL,
		                 "Endpoint %s does not invoke its containers directly: "
		                 "TargetContainerHostname may not be given.",
		                 name);
		return;
	}
	struct proxy_call *c =
	    proxy_call_new(p, req, name, request_id, "InvokeEndpointWithResponseStream");
	if (!c)
		return;
	c->stream = true;
	proxy_call_forward_header(c, "Content-Type", httpd_request_header(req, "Content-Type"));
	proxy_call_forward_header(c, "Accept",
	                          httpd_request_header(req, "X-Amzn-SageMaker-Accept"));
	static const char *const forwarded[] = {"X-Amzn-SageMaker-Custom-Attributes",
	                                        "X-Amzn-SageMaker-Inference-Id",
	                                        "X-Amzn-SageMaker-Session-Id"};
	for (size_t i = 0; i < ELEMENTSOF(forwarded); i++)
		proxy_call_forward_header(c, forwarded[i], httpd_request_header(req, forwarded[i]));
	proxy_forward(c);
}
