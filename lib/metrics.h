/*
 * Metrics in the Prometheus text format (GET /metrics), names prefixed
 * endpointd_.  One registry per process, as client libraries keep it: the
 * modules that observe something count it here, and the API renders it.
 *
 * Beside the counters, the last two hours of each endpoint's and variant's
 * invocations are kept in 10-second buckets under SageMaker's metric names,
 * so that alarms (alarm.c) can read CloudWatch-style datapoints of them
 * (metrics_datapoints()).
 */
#ifndef ENDPOINTD_METRICS_H
#define ENDPOINTD_METRICS_H

#include <stdbool.h>
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
/*
 * One invocation ended; variant may be NULL when none was chosen.  status is
 * the container's HTTP status, 0 when it gave none (a broken connection, a
 * timeout, no instance); seconds is from the call being taken to the
 * container's answer being read.
 */
void metrics_invocation(const char *endpoint, const char *variant, enum metrics_outcome outcome,
                        int status, double seconds);
/* The same, at wall-clock time now (epoch seconds), for tests. */
void metrics_invocation_at(const char *endpoint, const char *variant, enum metrics_outcome outcome,
                           int status, double seconds, double now);

/*
 * Streamed invocations (InvokeEndpointWithResponseStream), by endpoint and
 * variant, beside metrics_invocation() which each also ends with: a stream
 * opened (delta 1: its head went to the client) or ended (-1), bytes of the
 * model's answer sent on, and the time from the call being taken to the
 * first piece of the answer being read.
 */
void metrics_stream_open(const char *endpoint, const char *variant, int delta);
void metrics_stream_bytes(const char *endpoint, const char *variant, size_t n);
void metrics_stream_first_byte(const char *endpoint, const char *variant, double seconds);

/* SageMaker's per-variant invocation metrics (namespace AWS/SageMaker). */
enum metrics_metric {
	METRICS_INVOCATIONS,             /* one sample of 1 per call that reached a variant */
	METRICS_INVOCATION_4XX_ERRORS,   /* per call: 1 when the model answered 4xx, else 0 */
	METRICS_INVOCATION_5XX_ERRORS,   /* per call: 1 when it answered 5xx, else 0 */
	METRICS_INVOCATION_MODEL_ERRORS, /* per call: 1 when not 2xx (or no answer), else 0 */
	METRICS_MODEL_LATENCY,           /* microseconds, per answered or timed-out call */
	METRICS_OVERHEAD_LATENCY,        /* microseconds; see metrics.c: always 0 */
	METRICS_METRIC_MAX,
};

/* CloudWatch's statistics; PERCENTILE is an ExtendedStatistic pNN. */
enum metrics_statistic {
	METRICS_STAT_SAMPLE_COUNT,
	METRICS_STAT_AVERAGE,
	METRICS_STAT_SUM,
	METRICS_STAT_MINIMUM,
	METRICS_STAT_MAXIMUM,
	METRICS_STAT_PERCENTILE,
	METRICS_STAT_MAX,
};

/* The bucket width and how far back the buckets reach: an hour of complete
 * periods and the period in progress, whatever the period. */
#define METRICS_BUCKET_S 10
#define METRICS_HISTORY_S 7200

/* SageMaker's name of a metric ("ModelLatency"), CloudWatch's of a statistic. */
const char *metrics_metric_to_string(enum metrics_metric m);
const char *metrics_statistic_to_string(enum metrics_statistic s);
/* The metric or statistic named s, or -EINVAL. */
int metrics_metric_from_string(const char *s);
int metrics_statistic_from_string(const char *s);

/* One datapoint: a statistic over one period. */
struct metrics_datapoint {
	double timestamp; /* the period's start, epoch seconds, a multiple of the period */
	double value;     /* when present */
	bool present;     /* false when the period had no sample (CloudWatch: no datapoint) */
};

/*
 * The n datapoints of metric m, statistic s (percentile: 0-100, for
 * METRICS_STAT_PERCENTILE) of endpoint's variant (NULL: every variant's
 * samples together), one per period seconds, periods aligned as CloudWatch
 * aligns them (their starts are multiples of period since the epoch), the
 * last of which is the one that contains now (still in progress, unless now
 * is its end): ret[0] is the oldest, ret[n - 1] the period in progress.
 * period must be a multiple of METRICS_BUCKET_S and n * period at most
 * METRICS_HISTORY_S; -EINVAL otherwise, with ret untouched.
 */
int metrics_datapoints(const char *endpoint, const char *variant, enum metrics_metric m,
                       enum metrics_statistic s, double percentile, unsigned period, unsigned n,
                       double now, struct metrics_datapoint *ret);

/* A deleted endpoint's series go (a counter that comes back with the name
 * starts again from zero, which Prometheus reads as a reset). */
void metrics_forget_endpoint(const char *endpoint);

/* The whole exposition; m (may be NULL) gives the endpoints by status. */
char *metrics_render(struct endpoint_manager *m);

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
