/*
 * The metrics registry and its Prometheus text rendering.  Everything runs
 * on the event loop, so the registry needs no locks.  Per-invocation series
 * are keyed by endpoint and variant; a series stays once it exists (an
 * endpoint's name may come back), bounded by the endpoints a daemon allows.
 */
#define _GNU_SOURCE
#include "metrics.h"

#include <string.h>

#include "endpoint.h"
#include "util.h"

static const double metrics_provisioning_buckets[] = {0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
static const double metrics_latency_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
						 0.1,    0.25,  0.5,    1,     2.5,  5,     10,
						 30,     60};
#define METRICS_MAX_BUCKETS 16

static const char *const metrics_outcome_names[METRICS_OUTCOME_MAX] = {
	[METRICS_OUTCOME_SUCCESS] = "success",
	[METRICS_OUTCOME_MODEL_ERROR] = "model_error",
	[METRICS_OUTCOME_TIMEOUT] = "timeout",
	[METRICS_OUTCOME_UNAVAILABLE] = "unavailable",
	[METRICS_OUTCOME_REJECTED] = "rejected",
};

struct metrics_histogram {
	unsigned long long buckets[METRICS_MAX_BUCKETS]; /* cumulative at render */
	unsigned long long count;
	double sum;
};

/* The invocations of one endpoint and variant. */
struct metrics_series {
	char *endpoint;
	char *variant;
	unsigned long long outcomes[METRICS_OUTCOME_MAX];
	struct metrics_histogram latency;
};

static struct {
	struct metrics_histogram provisioning;
	unsigned long long health_failures;
	unsigned long long replacements;
	struct strmap *series; /* "endpoint\tvariant" -> struct metrics_series */
} metrics;

/* Count one observation. */
static void metrics_observe(struct metrics_histogram *h, const double *bounds, size_t n, double v)
{
	for (size_t i = 0; i < n; i++)
		if (v <= bounds[i]) {
			h->buckets[i]++;
			break;
		}
	h->count++;
	h->sum += v;
}

/* Free one series. */
static void metrics_series_free(const char *key, void *value, void *userdata)
{
	struct metrics_series *s = value;
	free(s->endpoint);
	free(s->variant);
	free(s);
}

/* Release the registry. */
void metrics_free(void)
{
	if (metrics.series) {
		strmap_foreach(metrics.series, metrics_series_free, NULL);
		metrics.series = strmap_free(metrics.series);
	}
}

/* Start counting from zero. */
void metrics_reset(void)
{
	metrics_free();
	memset(&metrics, 0, sizeof(metrics));
}

/* CreateEndpoint to InService. */
void metrics_provisioned(double seconds)
{
	metrics_observe(&metrics.provisioning, metrics_provisioning_buckets,
			ELEMENTSOF(metrics_provisioning_buckets), seconds);
}

/* A failed ping. */
void metrics_health_failure(void)
{
	metrics.health_failures++;
}

/* A replaced container. */
void metrics_replacement(void)
{
	metrics.replacements++;
}

/* One invocation. */
void metrics_invocation(const char *endpoint, const char *variant, enum metrics_outcome outcome,
			double seconds)
{
	if (!metrics.series)
		metrics.series = strmap_new();
	_cleanup_free_ char *key = xasprintf("%s\t%s", endpoint, variant ? variant : "");
	struct metrics_series *s = strmap_get(metrics.series, key);
	if (!s) {
		s = xcalloc(1, sizeof(*s));
		s->endpoint = xstrdup(endpoint);
		s->variant = xstrdup(variant ? variant : "");
		strmap_put(metrics.series, key, s);
	}
	if (outcome < METRICS_OUTCOME_MAX)
		s->outcomes[outcome]++;
	if (outcome == METRICS_OUTCOME_SUCCESS || outcome == METRICS_OUTCOME_MODEL_ERROR ||
	    outcome == METRICS_OUTCOME_TIMEOUT)
		metrics_observe(&s->latency, metrics_latency_buckets,
				ELEMENTSOF(metrics_latency_buckets), seconds);
}

struct metrics_forget_ctx {
	const char *endpoint;
	char **keys;
	size_t n;
};

/* Collect the keys of one endpoint's series. */
static void metrics_forget_collect(const char *key, void *value, void *userdata)
{
	struct metrics_forget_ctx *ctx = userdata;
	struct metrics_series *s = value;
	if (strcmp(s->endpoint, ctx->endpoint) == 0) {
		ctx->keys = xreallocarray(ctx->keys, ctx->n + 1, sizeof(*ctx->keys));
		ctx->keys[ctx->n++] = xstrdup(key);
	}
}

/* Drop every series of endpoint. */
void metrics_forget_endpoint(const char *endpoint)
{
	if (!metrics.series)
		return;
	struct metrics_forget_ctx ctx = {.endpoint = endpoint};
	strmap_foreach(metrics.series, metrics_forget_collect, &ctx);
	for (size_t i = 0; i < ctx.n; i++)
		metrics_series_free(ctx.keys[i], strmap_remove(metrics.series, ctx.keys[i]), NULL);
	strv_free(ctx.keys, ctx.n);
}

/* A bound as Prometheus writes it. */
static void metrics_le(char *out, size_t n, double v)
{
	snprintf(out, n, "%g", v);
}

/* One histogram's lines; labels is "" or `name="v",`. */
static void metrics_render_histogram(struct buf *b, const char *name, const char *labels,
				     const struct metrics_histogram *h, const double *bounds,
				     size_t n)
{
	unsigned long long cum = 0;
	char le[32];
	for (size_t i = 0; i < n; i++) {
		cum += h->buckets[i];
		metrics_le(le, sizeof(le), bounds[i]);
		(void)buf_printf(b, "%s_bucket{%sle=\"%s\"} %llu\n", name, labels, le, cum);
	}
	(void)buf_printf(b, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels, h->count);
	size_t l = strlen(labels);
	/* Drop the trailing comma for the sum and count lines. */
	_cleanup_free_ char *plain = l ? xstrndup(labels, l - 1) : xstrdup("");
	(void)buf_printf(b, "%s_sum%s%s%s %.9g\n", name, l ? "{" : "", plain, l ? "}" : "", h->sum);
	(void)buf_printf(b, "%s_count%s%s%s %llu\n", name, l ? "{" : "", plain, l ? "}" : "",
			 h->count);
}

/* A label value with \, " and newlines escaped. */
static char *metrics_escape(const char *s)
{
	struct buf b = {0};
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			(void)buf_printf(&b, "\\%c", *s);
		else if (*s == '\n')
			(void)buf_append(&b, "\\n", 2);
		else
			(void)buf_append(&b, s, 1);
	}
	return buf_steal(&b);
}

struct metrics_render_ctx {
	struct buf *b;
	int pass; /* 0: counters, 1: histograms */
};

/* The lines of one series. */
static void metrics_render_series(const char *key, void *value, void *userdata)
{
	struct metrics_render_ctx *ctx = userdata;
	struct metrics_series *s = value;
	_cleanup_free_ char *e = metrics_escape(s->endpoint);
	_cleanup_free_ char *v = metrics_escape(s->variant);
	if (ctx->pass == 0) {
		for (int o = 0; o < METRICS_OUTCOME_MAX; o++)
			if (s->outcomes[o])
				(void)buf_printf(ctx->b,
						 "endpointd_invocations_total{endpoint=\"%s\",variant="
						 "\"%s\",outcome=\"%s\"} %llu\n",
						 e, v, metrics_outcome_names[o], s->outcomes[o]);
		return;
	}
	if (s->latency.count == 0)
		return;
	_cleanup_free_ char *labels = xasprintf("endpoint=\"%s\",variant=\"%s\",", e, v);
	metrics_render_histogram(ctx->b, "endpointd_invocation_duration_seconds", labels,
				 &s->latency, metrics_latency_buckets,
				 ELEMENTSOF(metrics_latency_buckets));
}

/* Everything, in the text exposition format. */
char *metrics_render(struct endpoint_manager *m)
{
	struct buf b = {0};
	unsigned by_state[ENDPOINT_STATE_MAX] = {0};
	if (m) {
		_cleanup_free_ struct endpoint **eps = NULL;
		size_t n = endpoint_list(m, &eps);
		for (size_t i = 0; i < n; i++)
			by_state[eps[i]->state]++;
	}
	(void)buf_printf(&b, "# HELP endpointd_endpoints Endpoints by status.\n"
			     "# TYPE endpointd_endpoints gauge\n");
	for (int s = 0; s < ENDPOINT_STATE_MAX; s++)
		(void)buf_printf(&b, "endpointd_endpoints{status=\"%s\"} %u\n",
				 endpoint_state_to_string((enum endpoint_state)s), by_state[s]);

	(void)buf_printf(&b, "# HELP endpointd_provisioning_seconds From CreateEndpoint to "
			     "InService.\n# TYPE endpointd_provisioning_seconds histogram\n");
	metrics_render_histogram(&b, "endpointd_provisioning_seconds", "", &metrics.provisioning,
				 metrics_provisioning_buckets,
				 ELEMENTSOF(metrics_provisioning_buckets));

	(void)buf_printf(&b,
			 "# HELP endpointd_health_check_failures_total Pings that failed.\n"
			 "# TYPE endpointd_health_check_failures_total counter\n"
			 "endpointd_health_check_failures_total %llu\n"
			 "# HELP endpointd_container_replacements_total Containers replaced by "
			 "fresh ones.\n"
			 "# TYPE endpointd_container_replacements_total counter\n"
			 "endpointd_container_replacements_total %llu\n",
			 metrics.health_failures, metrics.replacements);

	(void)buf_printf(&b, "# HELP endpointd_invocations_total Invocations by endpoint, "
			     "variant and outcome.\n# TYPE endpointd_invocations_total counter\n");
	struct metrics_render_ctx ctx = {.b = &b, .pass = 0};
	if (metrics.series)
		strmap_foreach(metrics.series, metrics_render_series, &ctx);
	(void)buf_printf(&b, "# HELP endpointd_invocation_duration_seconds Invocation latency "
			     "through the daemon.\n"
			     "# TYPE endpointd_invocation_duration_seconds histogram\n");
	ctx.pass = 1;
	if (metrics.series)
		strmap_foreach(metrics.series, metrics_render_series, &ctx);
	return buf_steal(&b);
}
