/*
 * The metrics registry and its Prometheus text rendering.  Everything runs
 * on the event loop, so the registry needs no locks.  Per-invocation series
 * are keyed by endpoint and variant; a series stays once it exists (an
 * endpoint's name may come back), bounded by the endpoints a daemon allows.
 *
 * DESIGN of the windows (what alarms read)
 *
 * Each series of a variant also keeps a window: a ring of 720 buckets of 10
 * wall-clock seconds (two hours: an alarm may look at an hour of complete
 * periods of up to an hour each, and the period in progress), bucket k
 * holding the calls that ended in [10k, 10k + 10).  A bucket counts the
 * calls that reached the variant and those the model answered 4xx, 5xx or
 * not 2xx (a broken connection and a timeout are errors with no status),
 * and the ModelLatency of every call the container answered or let time out:
 * count, sum, minimum, maximum (microseconds) and a log-scale histogram of
 * four bins per octave (bin i > 0 holds [2^((i-1)/4), 2^(i/4)) us, so a
 * percentile read from it is off by under 19%, and clamped to the minimum
 * and maximum).  The histogram is allocated when the bucket gets its first
 * latency, so an idle variant costs the ring only (about 34 KiB), a busy
 * one at most 720 histograms of 528 bytes more.  A window nobody wrote to
 * for two hours is freed, and metrics_forget_endpoint() frees its series.
 *
 * The error metrics are one sample per call, 0 or 1, as SageMaker publishes
 * them: Sum counts errors, Average is the error rate, SampleCount the calls.
 * A period without calls has no datapoint, for any metric, as CloudWatch
 * has none when SageMaker published nothing; alarms decide what that means
 * (TreatMissingData).
 *
 * OverheadLatency: the proxy forwards a call as soon as it has read the
 * request, and times it from then until the container's answer is read;
 * all of that is ModelLatency.  The daemon's own time around it (reading
 * the request, writing the answer) is not timed apart, so OverheadLatency
 * has one sample of 0 per latency sample: its SampleCount counts calls, its
 * value never exceeds 0.
 *
 * Wall-clock time may step.  A call that ends in a bucket older than the
 * newest one is added there while the ring still holds it; a step back past
 * the whole ring starts the window afresh.
 */
#define _GNU_SOURCE
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
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

#define METRICS_RING (METRICS_HISTORY_S / METRICS_BUCKET_S)
#define METRICS_HIST_BINS 132 /* bin 131 reaches past 2^32 us, beyond any timeout */
#define METRICS_SWEEP_S 600

static const char *const metrics_metric_names[METRICS_METRIC_MAX] = {
    [METRICS_INVOCATIONS] = "Invocations",
    [METRICS_INVOCATION_4XX_ERRORS] = "Invocation4XXErrors",
    [METRICS_INVOCATION_5XX_ERRORS] = "Invocation5XXErrors",
    [METRICS_INVOCATION_MODEL_ERRORS] = "InvocationModelErrors",
    [METRICS_MODEL_LATENCY] = "ModelLatency",
    [METRICS_OVERHEAD_LATENCY] = "OverheadLatency",
};

static const char *const metrics_statistic_names[METRICS_STAT_MAX] = {
    [METRICS_STAT_SAMPLE_COUNT] = "SampleCount",
    [METRICS_STAT_AVERAGE] = "Average",
    [METRICS_STAT_SUM] = "Sum",
    [METRICS_STAT_MINIMUM] = "Minimum",
    [METRICS_STAT_MAXIMUM] = "Maximum",
    [METRICS_STAT_PERCENTILE] = "Percentile",
};

/* Ten seconds of one variant's calls. */
struct metrics_bucket {
	uint32_t calls;  /* that reached the variant */
	uint32_t e4xx;   /* the model answered 4xx */
	uint32_t e5xx;   /* 5xx */
	uint32_t errors; /* not 2xx, or no answer */
	uint32_t lat_count;
	uint32_t lat_min, lat_max; /* microseconds */
	double lat_sum;            /* microseconds */
	uint32_t *hist;            /* METRICS_HIST_BINS counts; NULL until a latency */
};

/* The last METRICS_RING buckets of one variant; bucket k is at k % METRICS_RING. */
struct metrics_window {
	int64_t head; /* the newest bucket written */
	struct metrics_bucket b[METRICS_RING];
};

/* The invocations of one endpoint and variant. */
struct metrics_series {
	char *endpoint;
	char *variant;
	unsigned long long outcomes[METRICS_OUTCOME_MAX];
	struct metrics_histogram latency;
	struct metrics_window *window; /* NULL until a call reaches the variant */
	long long streams_open;
	unsigned long long stream_bytes;
	struct metrics_histogram first_byte; /* of streamed calls */
};

static struct {
	struct metrics_histogram provisioning;
	unsigned long long health_failures;
	unsigned long long replacements;
	struct strmap *series; /* "endpoint\tvariant" -> struct metrics_series */
	double last_sweep;     /* when stale windows were last freed */
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

/* Empty one bucket. */
static void metrics_bucket_clear(struct metrics_bucket *b)
{
	free(b->hist);
	memset(b, 0, sizeof(*b));
}

/* Free a window and its histograms; NULL-safe. */
static struct metrics_window *metrics_window_free(struct metrics_window *w)
{
	if (!w)
		return NULL;
	for (size_t i = 0; i < METRICS_RING; i++)
		free(w->b[i].hist);
	free(w);
	return NULL;
}

/* Free one series. */
static void metrics_series_free(const char *key, void *value, void *userdata)
{
	struct metrics_series *s = value;
	metrics_window_free(s->window);
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

const char *metrics_metric_to_string(enum metrics_metric m)
{
	return m < METRICS_METRIC_MAX ? metrics_metric_names[m] : "?";
}

const char *metrics_statistic_to_string(enum metrics_statistic s)
{
	return s < METRICS_STAT_MAX ? metrics_statistic_names[s] : "?";
}

int metrics_metric_from_string(const char *s)
{
	for (int i = 0; i < METRICS_METRIC_MAX; i++)
		if (strcmp(metrics_metric_names[i], s) == 0)
			return i;
	return -EINVAL;
}

/* The five of PutMetricAlarm's Statistic; a percentile is an ExtendedStatistic. */
int metrics_statistic_from_string(const char *s)
{
	for (int i = 0; i < METRICS_STAT_PERCENTILE; i++)
		if (strcmp(metrics_statistic_names[i], s) == 0)
			return i;
	return -EINVAL;
}

/* The histogram bin of a latency in microseconds. */
static size_t metrics_hist_bin(double us)
{
	if (!(us >= 1))
		return 0;
	double i = 1 + floor(4 * log2(us));
	return i >= METRICS_HIST_BINS - 1 ? METRICS_HIST_BINS - 1 : (size_t)i;
}

/* The lower and upper bound of a bin, in microseconds. */
static void metrics_hist_bounds(size_t bin, double *lo, double *hi)
{
	*lo = bin == 0 ? 0 : exp2((double)(bin - 1) / 4);
	*hi = exp2((double)bin / 4);
}

/* The bucket of bucket number k: the ring moves on to k (emptying what it
 * passes) or k is still in it. */
static struct metrics_bucket *metrics_window_bucket(struct metrics_window *w, int64_t k)
{
	if (k > w->head) {
		int64_t from = k - w->head > METRICS_RING ? k - METRICS_RING : w->head;
		for (int64_t j = from + 1; j <= k; j++)
			metrics_bucket_clear(&w->b[j % METRICS_RING]);
		w->head = k;
	} else if (k <= w->head - METRICS_RING) {
		/* No call lasts two hours: the clock stepped back past the whole
		 * ring.  Start again. */
		for (size_t i = 0; i < METRICS_RING; i++)
			metrics_bucket_clear(&w->b[i]);
		w->head = k;
	}
	return &w->b[k % METRICS_RING];
}

/* Count one call that reached a variant into its window. */
static void metrics_window_record(struct metrics_series *s, enum metrics_outcome outcome,
                                  int status, double seconds, double now)
{
	int64_t k = (int64_t)floor(now / METRICS_BUCKET_S);
	if (!s->window) {
		s->window = xcalloc(1, sizeof(*s->window));
		s->window->head = k;
	}
	struct metrics_bucket *b = metrics_window_bucket(s->window, k);
	b->calls++;
	if (status >= 400 && status < 500)
		b->e4xx++;
	if (status >= 500 && status < 600)
		b->e5xx++;
	if (status < 200 || status >= 300)
		b->errors++;
	if (outcome != METRICS_OUTCOME_SUCCESS && outcome != METRICS_OUTCOME_MODEL_ERROR &&
	    outcome != METRICS_OUTCOME_TIMEOUT)
		return; /* the container never had it: no latency */
	double us = seconds * 1e6;
	if (!(us >= 0))
		us = 0;
	if (us > UINT32_MAX)
		us = UINT32_MAX;
	uint32_t u = (uint32_t)us;
	if (b->lat_count == 0 || u < b->lat_min)
		b->lat_min = u;
	if (b->lat_count == 0 || u > b->lat_max)
		b->lat_max = u;
	b->lat_count++;
	b->lat_sum += us;
	if (!b->hist)
		b->hist = xcalloc(METRICS_HIST_BINS, sizeof(*b->hist));
	b->hist[metrics_hist_bin(us)]++;
}

/* Free the windows nobody wrote to for the whole ring (a variant gone). */
static void metrics_sweep_one(const char *key, void *value, void *userdata)
{
	struct metrics_series *s = value;
	int64_t k = *(const int64_t *)userdata;
	if (s->window &&
	    (k - s->window->head >= METRICS_RING || s->window->head - k >= METRICS_RING))
		s->window = metrics_window_free(s->window);
}

/* One invocation. */
void metrics_invocation(const char *endpoint, const char *variant, enum metrics_outcome outcome,
                        int status, double seconds)
{
	metrics_invocation_at(endpoint, variant, outcome, status, seconds, now_realtime());
}

/* The series of endpoint and variant (NULL: none chosen), made if new. */
static struct metrics_series *metrics_series_get(const char *endpoint, const char *variant)
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
	return s;
}

/* A stream opened or ended. */
void metrics_stream_open(const char *endpoint, const char *variant, int delta)
{
	metrics_series_get(endpoint, variant)->streams_open += delta;
}

/* Bytes of a model's answer streamed. */
void metrics_stream_bytes(const char *endpoint, const char *variant, size_t n)
{
	metrics_series_get(endpoint, variant)->stream_bytes += n;
}

/* A stream's first piece was read. */
void metrics_stream_first_byte(const char *endpoint, const char *variant, double seconds)
{
	metrics_observe(&metrics_series_get(endpoint, variant)->first_byte,
			metrics_latency_buckets, ELEMENTSOF(metrics_latency_buckets), seconds);
}

/* One invocation at now. */
void metrics_invocation_at(const char *endpoint, const char *variant, enum metrics_outcome outcome,
                           int status, double seconds, double now)
{
	struct metrics_series *s = metrics_series_get(endpoint, variant);
	if (outcome < METRICS_OUTCOME_MAX)
		s->outcomes[outcome]++;
	if (outcome == METRICS_OUTCOME_SUCCESS || outcome == METRICS_OUTCOME_MODEL_ERROR ||
	    outcome == METRICS_OUTCOME_TIMEOUT)
		metrics_observe(&s->latency, metrics_latency_buckets,
				ELEMENTSOF(metrics_latency_buckets), seconds);
	if (!isfinite(now) || now < 0)
		return;
	if (variant && outcome != METRICS_OUTCOME_REJECTED)
		metrics_window_record(s, outcome, status, seconds, now);
	if (fabs(now - metrics.last_sweep) >= METRICS_SWEEP_S) {
		int64_t k = (int64_t)floor(now / METRICS_BUCKET_S);
		metrics.last_sweep = now;
		strmap_foreach(metrics.series, metrics_sweep_one, &k);
	}
}

/* One period's buckets of every series asked for, added up. */
struct metrics_agg {
	uint64_t calls, e4xx, e5xx, errors, lat_count;
	double lat_sum;
	uint32_t lat_min, lat_max;
	uint64_t hist[METRICS_HIST_BINS];
};

/* Add the buckets [k0, k1) of window w to a. */
static void metrics_agg_add(struct metrics_agg *a, const struct metrics_window *w, int64_t k0,
                            int64_t k1, bool want_hist)
{
	for (int64_t k = k0; k < k1; k++) {
		if (k > w->head || k <= w->head - METRICS_RING)
			continue;
		const struct metrics_bucket *b = &w->b[k % METRICS_RING];
		a->calls += b->calls;
		a->e4xx += b->e4xx;
		a->e5xx += b->e5xx;
		a->errors += b->errors;
		if (b->lat_count == 0)
			continue;
		if (a->lat_count == 0 || b->lat_min < a->lat_min)
			a->lat_min = b->lat_min;
		if (a->lat_count == 0 || b->lat_max > a->lat_max)
			a->lat_max = b->lat_max;
		a->lat_count += b->lat_count;
		a->lat_sum += b->lat_sum;
		if (want_hist && b->hist)
			for (size_t i = 0; i < METRICS_HIST_BINS; i++)
				a->hist[i] += b->hist[i];
	}
}

/* The rank (1-based, in ascending order) of percentile p of count samples. */
static uint64_t metrics_rank(double p, uint64_t count)
{
	double r = ceil(p * (double)count / 100);
	if (r < 1)
		return 1;
	return r > (double)count ? count : (uint64_t)r;
}

/* Percentile p of a's latencies, read from its histogram. */
static double metrics_latency_percentile(const struct metrics_agg *a, double p)
{
	if (p <= 0)
		return a->lat_min;
	if (p >= 100)
		return a->lat_max;
	uint64_t target = metrics_rank(p, a->lat_count), cum = 0;
	double v = a->lat_max;
	for (size_t i = 0; i < METRICS_HIST_BINS; i++) {
		if (a->hist[i] == 0 || cum + a->hist[i] < target) {
			cum += a->hist[i];
			continue;
		}
		double lo, hi;
		metrics_hist_bounds(i, &lo, &hi);
		v = lo + (hi - lo) * (double)(target - cum) / (double)a->hist[i];
		break;
	}
	if (v < a->lat_min)
		v = a->lat_min;
	if (v > a->lat_max)
		v = a->lat_max;
	return v;
}

/* Statistic st of metric m over a; false when the period has no sample. */
static bool metrics_agg_value(const struct metrics_agg *a, enum metrics_metric m,
                              enum metrics_statistic st, double p, double *ret)
{
	if (m == METRICS_MODEL_LATENCY || m == METRICS_OVERHEAD_LATENCY) {
		if (a->lat_count == 0)
			return false;
		if (st == METRICS_STAT_SAMPLE_COUNT)
			*ret = (double)a->lat_count;
		else if (m == METRICS_OVERHEAD_LATENCY)
			*ret = 0;
		else if (st == METRICS_STAT_SUM)
			*ret = a->lat_sum;
		else if (st == METRICS_STAT_AVERAGE)
			*ret = a->lat_sum / (double)a->lat_count;
		else if (st == METRICS_STAT_MINIMUM)
			*ret = a->lat_min;
		else if (st == METRICS_STAT_MAXIMUM)
			*ret = a->lat_max;
		else
			*ret = metrics_latency_percentile(a, p);
		return true;
	}
	/* Samples of 0 and 1: ones of them, out of calls. */
	uint64_t n = a->calls;
	uint64_t ones = m == METRICS_INVOCATIONS             ? a->calls
	                : m == METRICS_INVOCATION_4XX_ERRORS ? a->e4xx
	                : m == METRICS_INVOCATION_5XX_ERRORS ? a->e5xx
	                                                     : a->errors;
	if (n == 0)
		return false;
	switch (st) {
	case METRICS_STAT_SAMPLE_COUNT:
		*ret = (double)n;
		break;
	case METRICS_STAT_SUM:
		*ret = (double)ones;
		break;
	case METRICS_STAT_AVERAGE:
		*ret = (double)ones / (double)n;
		break;
	case METRICS_STAT_MINIMUM:
		*ret = ones == n ? 1 : 0;
		break;
	case METRICS_STAT_MAXIMUM:
		*ret = ones > 0 ? 1 : 0;
		break;
	default:
		/* Sorted, the zeros come first. */
		*ret = p <= 0 ? (ones == n ? 1 : 0) : metrics_rank(p, n) > n - ones ? 1 : 0;
		break;
	}
	return true;
}

struct metrics_windows_ctx {
	const char *endpoint;
	const struct metrics_window **w;
	size_t n;
};

/* Collect the windows of one endpoint's variants. */
static void metrics_windows_collect(const char *key, void *value, void *userdata)
{
	struct metrics_windows_ctx *ctx = userdata;
	struct metrics_series *s = value;
	if (s->window && strcmp(s->endpoint, ctx->endpoint) == 0) {
		ctx->w = xreallocarray(ctx->w, ctx->n + 1, sizeof(*ctx->w));
		ctx->w[ctx->n++] = s->window;
	}
}

/* Datapoints of a metric; see metrics.h. */
int metrics_datapoints(const char *endpoint, const char *variant, enum metrics_metric m,
                       enum metrics_statistic s, double percentile, unsigned period, unsigned n,
                       double now, struct metrics_datapoint *ret)
{
	if (m >= METRICS_METRIC_MAX || s >= METRICS_STAT_MAX || period == 0 ||
	    period % METRICS_BUCKET_S != 0 || n == 0 || (uint64_t)n * period > METRICS_HISTORY_S ||
	    !isfinite(now) || now < 0 ||
	    (s == METRICS_STAT_PERCENTILE && !(percentile >= 0 && percentile <= 100)))
		return -EINVAL;

	struct metrics_windows_ctx ctx = {.endpoint = endpoint};
	if (metrics.series && variant) {
		_cleanup_free_ char *key = xasprintf("%s\t%s", endpoint, variant);
		struct metrics_series *one = strmap_get(metrics.series, key);
		if (one && one->window) {
			ctx.w = xcalloc(1, sizeof(*ctx.w));
			ctx.w[ctx.n++] = one->window;
		}
	} else if (metrics.series) {
		strmap_foreach(metrics.series, metrics_windows_collect, &ctx);
	}

	int64_t last = (int64_t)floor(now / period) * period;
	int64_t per = period / METRICS_BUCKET_S;
	bool want_hist = s == METRICS_STAT_PERCENTILE && m == METRICS_MODEL_LATENCY;
	_cleanup_free_ struct metrics_agg *a = xmalloc(sizeof(*a));
	for (unsigned i = 0; i < n; i++) {
		int64_t start = last - (int64_t)(n - 1 - i) * period;
		int64_t k0 = start / METRICS_BUCKET_S;
		memset(a, 0, sizeof(*a));
		for (size_t j = 0; j < ctx.n; j++)
			metrics_agg_add(a, ctx.w[j], k0, k0 + per, want_hist);
		ret[i].timestamp = (double)start;
		ret[i].value = 0;
		ret[i].present = metrics_agg_value(a, m, s, percentile, &ret[i].value);
	}
	free(ctx.w);
	return 0;
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
	int pass; /* 0: counters, 1: histograms, 2-4: streams open, bytes, first byte */
};

/* The lines of one series. */
static void metrics_render_series(const char *key, void *value, void *userdata)
{
	struct metrics_render_ctx *ctx = userdata;
	struct metrics_series *s = value;
	_cleanup_free_ char *e = metrics_escape(s->endpoint);
	_cleanup_free_ char *v = metrics_escape(s->variant);
	if (ctx->pass >= 2) {
		bool streamed = s->stream_bytes || s->streams_open || s->first_byte.count;
		if (!streamed)
			return;
		if (ctx->pass == 2)
			(void)buf_printf(ctx->b,
					 "endpointd_streams_open{endpoint=\"%s\",variant=\"%s\"} "
					 "%lld\n",
					 e, v, s->streams_open);
		else if (ctx->pass == 3)
			(void)buf_printf(ctx->b,
					 "endpointd_stream_bytes_total{endpoint=\"%s\",variant="
					 "\"%s\"} %llu\n",
					 e, v, s->stream_bytes);
		else if (s->first_byte.count) {
			_cleanup_free_ char *labels =
			    xasprintf("endpoint=\"%s\",variant=\"%s\",", e, v);
			metrics_render_histogram(ctx->b, "endpointd_stream_first_byte_seconds",
						 labels, &s->first_byte, metrics_latency_buckets,
						 ELEMENTSOF(metrics_latency_buckets));
		}
		return;
	}
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

	static const char *const stream_help[] = {
	    "# HELP endpointd_streams_open Streamed invocations being sent now.\n"
	    "# TYPE endpointd_streams_open gauge\n",
	    "# HELP endpointd_stream_bytes_total Bytes of models' answers streamed.\n"
	    "# TYPE endpointd_stream_bytes_total counter\n",
	    "# HELP endpointd_stream_first_byte_seconds From a streamed invocation being "
	    "taken to the first piece of the model's answer.\n"
	    "# TYPE endpointd_stream_first_byte_seconds histogram\n",
	};
	for (int pass = 2; pass <= 4; pass++) {
		(void)buf_printf(&b, "%s", stream_help[pass - 2]);
		ctx.pass = pass;
		if (metrics.series)
			strmap_foreach(metrics.series, metrics_render_series, &ctx);
	}
	return buf_steal(&b);
}
