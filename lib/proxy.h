/*
 * InvokeEndpoint: POST /endpoints/<name>/invocations, forwarded to one
 * healthy instance of the endpoint (REST-JSON errors, SageMaker's words);
 * and InvokeEndpointWithResponseStream: POST
 * /endpoints/<name>/invocations-response-stream, the same call with the
 * model's answer sent on as it comes, in event-stream PayloadPart events.
 */
#ifndef ENDPOINTD_PROXY_H
#define ENDPOINTD_PROXY_H

#include <stddef.h>

struct event_base;
struct httpd_request;
struct endpoint_manager;
struct proxy;

/* The largest request body InvokeEndpoint takes. */
#define PROXY_MAX_BODY 6291456
/* The largest answer a container may give. */
#define PROXY_MAX_RESPONSE 6291456

struct proxy *proxy_new(struct event_base *base, struct endpoint_manager *m);
/* NULL-safe.  Calls still running are answered 503 first. */
struct proxy *proxy_free(struct proxy *p);
/* Shutdown: calls still running are answered 503 now, and so are new ones. */
void proxy_stop(struct proxy *p);

/* Serves one invocation of endpoint name; the answer is sent later. */
void proxy_invoke(struct proxy *p, struct httpd_request *req, const char *name,
		  const char *request_id);

/* Serves one streamed invocation of endpoint name; the answer begins
 * later. */
void proxy_invoke_stream(struct proxy *p, struct httpd_request *req, const char *name,
			 const char *request_id);

/* Calls forwarded and not yet answered. */
size_t proxy_in_flight(const struct proxy *p);

#endif
