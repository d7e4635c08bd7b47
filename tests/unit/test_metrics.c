/* The Prometheus exposition: names, labels, counters and histograms; and the
 * windows alarms read, under SageMaker's metric names. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

static void setup(void)
{
	metrics_reset();
}

static void teardown(void)
{
	metrics_free();
}

TestSuite(metrics, .init = setup, .fini = teardown);

/* Whether the rendering holds line as a whole line. */
static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

Test(metrics, every_status_has_an_endpoint_gauge_even_at_zero)
{
	_cleanup_free_ char *t = metrics_render(NULL);
	cr_assert(has_line(t, "endpointd_endpoints{status=\"InService\"} 0"), "%s", t);
	cr_assert(has_line(t, "endpointd_endpoints{status=\"Creating\"} 0"));
	cr_assert(has_line(t, "# TYPE endpointd_endpoints gauge"));
}

Test(metrics, invocations_are_counted_by_endpoint_variant_and_outcome)
{
	metrics_invocation("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.001);
	metrics_invocation("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.002);
	metrics_invocation("ep", "B", METRICS_OUTCOME_MODEL_ERROR, 500, 0.002);
	_cleanup_free_ char *t = metrics_render(NULL);
	cr_assert(has_line(t, "endpointd_invocations_total{endpoint=\"ep\",variant=\"A\","
			      "outcome=\"success\"} 2"),
		  "%s", t);
	cr_assert(has_line(t, "endpointd_invocations_total{endpoint=\"ep\",variant=\"B\","
			      "outcome=\"model_error\"} 1"));
}

Test(metrics, latency_histogram_buckets_are_cumulative)
{
	metrics_invocation("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.0004);
	metrics_invocation("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.003);
	metrics_invocation("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 100);
	_cleanup_free_ char *t = metrics_render(NULL);
	const char *h = "endpointd_invocation_duration_seconds";
	_cleanup_free_ char *b1 = xasprintf("%s_bucket{endpoint=\"ep\",variant=\"A\",le=\"0.0005\"} 1", h);
	_cleanup_free_ char *b2 = xasprintf("%s_bucket{endpoint=\"ep\",variant=\"A\",le=\"0.005\"} 2", h);
	_cleanup_free_ char *b3 = xasprintf("%s_bucket{endpoint=\"ep\",variant=\"A\",le=\"60\"} 2", h);
	_cleanup_free_ char *inf = xasprintf("%s_bucket{endpoint=\"ep\",variant=\"A\",le=\"+Inf\"} 3", h);
	_cleanup_free_ char *cnt = xasprintf("%s_count{endpoint=\"ep\",variant=\"A\"} 3", h);
	cr_assert(has_line(t, b1), "%s", t);
	cr_assert(has_line(t, b2));
	cr_assert(has_line(t, b3));
	cr_assert(has_line(t, inf));
	cr_assert(has_line(t, cnt));
}

Test(metrics, streams_open_bytes_and_first_byte_are_shown_by_endpoint_and_variant)
{
	metrics_stream_open("ep", "A", 1);
	metrics_stream_open("ep", "A", 1);
	metrics_stream_open("ep", "A", -1);
	metrics_stream_bytes("ep", "A", 10);
	metrics_stream_bytes("ep", "A", 5);
	metrics_stream_first_byte("ep", "A", 0.003);
	_cleanup_free_ char *t = metrics_render(NULL);
	cr_assert(has_line(t, "endpointd_streams_open{endpoint=\"ep\",variant=\"A\"} 1"), "%s", t);
	cr_assert(has_line(t, "endpointd_stream_bytes_total{endpoint=\"ep\",variant=\"A\"} 15"));
	cr_assert(has_line(t, "endpointd_stream_first_byte_seconds_bucket{endpoint=\"ep\","
			      "variant=\"A\",le=\"0.005\"} 1"));
	cr_assert(has_line(t, "endpointd_stream_first_byte_seconds_count{endpoint=\"ep\","
			      "variant=\"A\"} 1"));
	cr_assert(has_line(t, "# TYPE endpointd_streams_open gauge"));
	cr_assert(has_line(t, "# TYPE endpointd_stream_bytes_total counter"));
	cr_assert(has_line(t, "# TYPE endpointd_stream_first_byte_seconds histogram"));
}

Test(metrics, a_variant_that_never_streamed_has_no_stream_series)
{
	metrics_invocation("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.001);
	_cleanup_free_ char *t = metrics_render(NULL);
	cr_assert_null(strstr(t, "endpointd_streams_open{"), "%s", t);
}

Test(metrics, rejected_calls_count_but_add_no_latency)
{
	metrics_invocation("ep", NULL, METRICS_OUTCOME_REJECTED, 0, 0);
	_cleanup_free_ char *t = metrics_render(NULL);
	cr_assert(has_line(t, "endpointd_invocations_total{endpoint=\"ep\",variant=\"\","
			      "outcome=\"rejected\"} 1"),
		  "%s", t);
	cr_assert_null(strstr(t, "endpointd_invocation_duration_seconds_count{"));
}

Test(metrics, health_failures_replacements_and_provisioning_are_counted)
{
	metrics_health_failure();
	metrics_health_failure();
	metrics_replacement();
	metrics_provisioned(0.3);
	_cleanup_free_ char *t = metrics_render(NULL);
	cr_assert(has_line(t, "endpointd_health_check_failures_total 2"), "%s", t);
	cr_assert(has_line(t, "endpointd_container_replacements_total 1"));
	cr_assert(has_line(t, "endpointd_provisioning_seconds_bucket{le=\"0.25\"} 0"));
	cr_assert(has_line(t, "endpointd_provisioning_seconds_bucket{le=\"0.5\"} 1"));
	cr_assert(has_line(t, "endpointd_provisioning_seconds_count 1"));
}

Test(metrics, a_deleted_endpoint_loses_its_series_and_others_keep_theirs)
{
	metrics_invocation("gone", "A", METRICS_OUTCOME_SUCCESS, 200, 0.001);
	metrics_invocation("gone", "B", METRICS_OUTCOME_SUCCESS, 200, 0.001);
	metrics_invocation("kept", "A", METRICS_OUTCOME_SUCCESS, 200, 0.001);
	metrics_forget_endpoint("gone");
	_cleanup_free_ char *t = metrics_render(NULL);
	cr_assert_null(strstr(t, "endpoint=\"gone\""), "%s", t);
	cr_assert(has_line(t, "endpointd_invocations_total{endpoint=\"kept\",variant=\"A\","
			      "outcome=\"success\"} 1"));
}

Test(metrics, label_values_are_escaped)
{
	metrics_invocation("a\"b\\c", "v\nw", METRICS_OUTCOME_SUCCESS, 200, 0.1);
	_cleanup_free_ char *t = metrics_render(NULL);
	cr_assert_not_null(strstr(t, "endpoint=\"a\\\"b\\\\c\",variant=\"v\\nw\""), "%s", t);
}

/* --- windows: SageMaker's metrics in CloudWatch's datapoints ------------- */

/* 12 Feb 2026 13:50:00 UTC, a multiple of 600; TH, 14:00:00, of 3600. */
#define T0 1770904200.0
#define TH 1770904800.0

/* The one datapoint of the period [T0, T0 + period) of endpoint "ep", read
 * once that period is over; NAN when it has none. */
static double point(const char *variant, enum metrics_metric m, enum metrics_statistic s,
                    unsigned period)
{
	struct metrics_datapoint d[2];
	cr_assert_eq(metrics_datapoints("ep", variant, m, s, 50, period, 2, T0 + period, d), 0);
	cr_assert_eq(d[0].timestamp, T0);
	return d[0].present ? d[0].value : NAN;
}

Test(metrics, a_call_that_reached_a_variant_is_an_invocation)
{
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.001, T0 + 1);
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_MODEL_ERROR, 500, 0.001, T0 + 2);
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_UNAVAILABLE, 0, 0, T0 + 3);
	cr_assert_eq(point("A", METRICS_INVOCATIONS, METRICS_STAT_SUM, 10), 3);
	cr_assert_eq(point("A", METRICS_INVOCATIONS, METRICS_STAT_SAMPLE_COUNT, 10), 3);
	cr_assert_eq(point("A", METRICS_INVOCATIONS, METRICS_STAT_AVERAGE, 10), 1);
}

Test(metrics, a_call_refused_before_reaching_a_variant_is_no_invocation)
{
	metrics_invocation_at("ep", NULL, METRICS_OUTCOME_REJECTED, 0, 0, T0 + 1);
	cr_assert(isnan(point(NULL, METRICS_INVOCATIONS, METRICS_STAT_SUM, 10)));
}

Test(metrics, errors_are_split_by_the_status_the_model_answered)
{
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.001, T0 + 1);
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_MODEL_ERROR, 404, 0.001, T0 + 1);
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_MODEL_ERROR, 503, 0.001, T0 + 1);
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_MODEL_ERROR, 0, 0.001, T0 + 1);
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_TIMEOUT, 0, 60, T0 + 1);
	cr_assert_eq(point("A", METRICS_INVOCATION_4XX_ERRORS, METRICS_STAT_SUM, 10), 1);
	cr_assert_eq(point("A", METRICS_INVOCATION_5XX_ERRORS, METRICS_STAT_SUM, 10), 1);
	/* A broken connection and a timeout are model errors with no status. */
	cr_assert_eq(point("A", METRICS_INVOCATION_MODEL_ERRORS, METRICS_STAT_SUM, 10), 4);
}

Test(metrics, an_error_metric_has_one_sample_per_call_so_its_average_is_a_rate)
{
	for (int i = 0; i < 3; i++)
		metrics_invocation_at("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.001, T0 + 1);
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_MODEL_ERROR, 500, 0.001, T0 + 1);
	cr_assert_eq(point("A", METRICS_INVOCATION_5XX_ERRORS, METRICS_STAT_AVERAGE, 10), 0.25);
	cr_assert_eq(point("A", METRICS_INVOCATION_5XX_ERRORS, METRICS_STAT_SAMPLE_COUNT, 10), 4);
	cr_assert_eq(point("A", METRICS_INVOCATION_5XX_ERRORS, METRICS_STAT_MINIMUM, 10), 0);
	cr_assert_eq(point("A", METRICS_INVOCATION_5XX_ERRORS, METRICS_STAT_MAXIMUM, 10), 1);
}

Test(metrics, a_period_with_calls_but_no_errors_has_a_zero_datapoint)
{
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.001, T0 + 1);
	cr_assert_eq(point("A", METRICS_INVOCATION_MODEL_ERRORS, METRICS_STAT_SUM, 10), 0);
}

Test(metrics, a_period_without_calls_has_no_datapoint)
{
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.001, T0 - 1);
	cr_assert(isnan(point("A", METRICS_INVOCATION_MODEL_ERRORS, METRICS_STAT_SUM, 10)));
	cr_assert(isnan(point("A", METRICS_MODEL_LATENCY, METRICS_STAT_AVERAGE, 10)));
}

Test(metrics, model_latency_is_in_microseconds_and_only_for_calls_the_container_had)
{
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.002, T0 + 1);
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_UNAVAILABLE, 0, 0, T0 + 1);
	cr_assert_float_eq(point("A", METRICS_MODEL_LATENCY, METRICS_STAT_MAXIMUM, 10), 2000, 1e-6);
	cr_assert_eq(point("A", METRICS_MODEL_LATENCY, METRICS_STAT_SAMPLE_COUNT, 10), 1);
}

Test(metrics, overhead_latency_counts_calls_at_zero)
{
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.002, T0 + 1);
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.004, T0 + 1);
	cr_assert_eq(point("A", METRICS_OVERHEAD_LATENCY, METRICS_STAT_SAMPLE_COUNT, 10), 2);
	cr_assert_eq(point("A", METRICS_OVERHEAD_LATENCY, METRICS_STAT_MAXIMUM, 10), 0);
}

Test(metrics, datapoints_are_aligned_to_multiples_of_the_period)
{
	struct metrics_datapoint d[3];

	metrics_invocation_at("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.001, T0 + 59);
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.001, T0 + 61);
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.001, T0 + 62);
	cr_assert_eq(metrics_datapoints("ep", "A", METRICS_INVOCATIONS, METRICS_STAT_SUM, 0, 60, 3,
	                                T0 + 90, d),
	             0);
	cr_assert_eq(d[0].timestamp, T0 - 60);
	cr_assert_not(d[0].present);
	cr_assert_eq(d[1].timestamp, T0);
	cr_assert_eq(d[1].value, 1);
	/* The last is the period in progress. */
	cr_assert_eq(d[2].timestamp, T0 + 60);
	cr_assert_eq(d[2].value, 2);
}

Test(metrics, without_a_variant_every_variant_of_the_endpoint_is_summed)
{
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.001, T0 + 1);
	metrics_invocation_at("ep", "B", METRICS_OUTCOME_MODEL_ERROR, 500, 0.003, T0 + 1);
	metrics_invocation_at("other", "A", METRICS_OUTCOME_SUCCESS, 200, 0.001, T0 + 1);
	cr_assert_eq(point(NULL, METRICS_INVOCATIONS, METRICS_STAT_SUM, 10), 2);
	cr_assert_eq(point(NULL, METRICS_INVOCATION_MODEL_ERRORS, METRICS_STAT_AVERAGE, 10), 0.5);
	cr_assert_float_eq(point(NULL, METRICS_MODEL_LATENCY, METRICS_STAT_MAXIMUM, 10), 3000,
	                   1e-6);
	cr_assert_eq(point("B", METRICS_INVOCATIONS, METRICS_STAT_SUM, 10), 1);
}

Test(metrics, a_percentile_is_read_from_the_histogram_within_a_bin)
{
	for (int i = 1; i <= 1000; i++)
		metrics_invocation_at("ep", "A", METRICS_OUTCOME_SUCCESS, 200, i * 1e-5, T0 + 1);
	double p50 = point("A", METRICS_MODEL_LATENCY, METRICS_STAT_PERCENTILE, 10);
	cr_assert(p50 > 5000 / 1.19 && p50 < 5000 * 1.19, "p50 = %g", p50);
}

Test(metrics, figures_older_than_two_hours_are_gone)
{
	struct metrics_datapoint d[1];

	metrics_invocation_at("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.001, TH + 1);
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.001, TH + 7200 + 1);
	cr_assert_eq(metrics_datapoints("ep", "A", METRICS_INVOCATIONS, METRICS_STAT_SUM, 0, 3600,
	                                1, TH + 3599, d),
	             0);
	cr_assert_not(d[0].present);
}

Test(metrics, figures_of_the_last_two_hours_are_kept)
{
	struct metrics_datapoint d[2];

	metrics_invocation_at("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.001, TH + 1);
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.001, TH + 7199);
	cr_assert_eq(metrics_datapoints("ep", "A", METRICS_INVOCATIONS, METRICS_STAT_SUM, 0, 3600,
	                                2, TH + 7199, d),
	             0);
	cr_assert(d[0].present);
	cr_assert_eq(d[0].value, 1);
}

Test(metrics, a_clock_stepped_back_past_the_window_starts_it_afresh)
{
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.001, T0 + 86400);
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.001, T0 + 1);
	cr_assert_eq(point("A", METRICS_INVOCATIONS, METRICS_STAT_SUM, 10), 1);
}

Test(metrics, a_forgotten_endpoint_loses_its_window)
{
	metrics_invocation_at("ep", "A", METRICS_OUTCOME_SUCCESS, 200, 0.001, T0 + 1);
	metrics_forget_endpoint("ep");
	cr_assert(isnan(point("A", METRICS_INVOCATIONS, METRICS_STAT_SUM, 10)));
}

Test(metrics, a_query_past_what_is_kept_or_off_the_buckets_is_refused)
{
	struct metrics_datapoint d[721];

	cr_assert_eq(
	    metrics_datapoints("ep", "A", METRICS_INVOCATIONS, METRICS_STAT_SUM, 0, 15, 1, T0, d),
	    -EINVAL);
	cr_assert_eq(
	    metrics_datapoints("ep", "A", METRICS_INVOCATIONS, METRICS_STAT_SUM, 0, 10, 721, T0, d),
	    -EINVAL);
	cr_assert_eq(
	    metrics_datapoints("ep", "A", METRICS_INVOCATIONS, METRICS_STAT_SUM, 0, 0, 1, T0, d),
	    -EINVAL);
	cr_assert_eq(metrics_datapoints("ep", "A", METRICS_INVOCATIONS, METRICS_STAT_PERCENTILE,
	                                101, 10, 1, T0, d),
	             -EINVAL);
	cr_assert_eq(
	    metrics_datapoints("ep", "A", METRICS_INVOCATIONS, METRICS_STAT_SUM, 0, 10, 1, NAN, d),
	    -EINVAL);
}

Test(metrics, metric_and_statistic_names_are_sagemakers_and_cloudwatchs)
{
	cr_assert_eq(metrics_metric_from_string("InvocationModelErrors"),
	             METRICS_INVOCATION_MODEL_ERRORS);
	cr_assert_str_eq(metrics_metric_to_string(METRICS_MODEL_LATENCY), "ModelLatency");
	cr_assert_eq(metrics_metric_from_string("modellatency"), -EINVAL);
	cr_assert_eq(metrics_statistic_from_string("SampleCount"), METRICS_STAT_SAMPLE_COUNT);
	cr_assert_eq(metrics_statistic_from_string("Percentile"), -EINVAL);
}
