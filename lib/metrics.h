/*
 * Metrics in the Prometheus text format (GET /metrics), names prefixed
 * endpointd_.  One registry per process, as client libraries keep it: the
 * modules that observe something count it here, and the API renders it.
 */
#ifndef ENDPOINTD_METRICS_H
#define ENDPOINTD_METRICS_H

#include <stddef.h>

struct endpoint_manager;

/* Outcomes of an invocation, the "outcome" label. */
enum metrics_outcome {
	METRICS_OUTCOME_SUCCESS,     /* the container answered 2xx */
	METRICS_OUTCOME_MODEL_ERROR, /* it answered 4xx/5xx, or broke the connection */
	METRICS_OUTCOME_TIMEOUT,     /* it did not answer in time */
	METRICS_OUTCOME_UNAVAILABLE, /* no healthy instance */
	METRICS_OUTCOME_REJECTED,    /* the request was refused before forwarding */
	METRICS_OUTCOME_MAX,
};

/* Forget everything counted (tests); the registry needs no set-up. */
void metrics_reset(void);
/* Release the registry's memory at exit. */
void metrics_free(void);

/* An endpoint went from CreateEndpoint to InService in seconds. */
void metrics_provisioned(double seconds);
/* A ping failed. */
void metrics_health_failure(void);
/* A container was replaced by a fresh one. */
void metrics_replacement(void);
/* One invocation ended; variant may be NULL when none was chosen. */
void metrics_invocation(const char *endpoint, const char *variant, enum metrics_outcome outcome,
			double seconds);

/* A deleted endpoint's series go (a counter that comes back with the name
 * starts again from zero, which Prometheus reads as a reset). */
void metrics_forget_endpoint(const char *endpoint);

/* The whole exposition; m (may be NULL) gives the endpoints by status. */
char *metrics_render(struct endpoint_manager *m);

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
