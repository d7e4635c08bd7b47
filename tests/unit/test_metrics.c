/* The Prometheus exposition: names, labels, counters and histograms. */
#include <criterion/criterion.h>
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
	metrics_invocation("ep", "A", METRICS_OUTCOME_SUCCESS, 0.001);
	metrics_invocation("ep", "A", METRICS_OUTCOME_SUCCESS, 0.002);
	metrics_invocation("ep", "B", METRICS_OUTCOME_MODEL_ERROR, 0.002);
	_cleanup_free_ char *t = metrics_render(NULL);
	cr_assert(has_line(t, "endpointd_invocations_total{endpoint=\"ep\",variant=\"A\","
			      "outcome=\"success\"} 2"),
		  "%s", t);
	cr_assert(has_line(t, "endpointd_invocations_total{endpoint=\"ep\",variant=\"B\","
			      "outcome=\"model_error\"} 1"));
}

Test(metrics, latency_histogram_buckets_are_cumulative)
{
	metrics_invocation("ep", "A", METRICS_OUTCOME_SUCCESS, 0.0004);
	metrics_invocation("ep", "A", METRICS_OUTCOME_SUCCESS, 0.003);
	metrics_invocation("ep", "A", METRICS_OUTCOME_SUCCESS, 100);
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

Test(metrics, rejected_calls_count_but_add_no_latency)
{
	metrics_invocation("ep", NULL, METRICS_OUTCOME_REJECTED, 0);
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
	metrics_invocation("gone", "A", METRICS_OUTCOME_SUCCESS, 0.001);
	metrics_invocation("gone", "B", METRICS_OUTCOME_SUCCESS, 0.001);
	metrics_invocation("kept", "A", METRICS_OUTCOME_SUCCESS, 0.001);
	metrics_forget_endpoint("gone");
	_cleanup_free_ char *t = metrics_render(NULL);
	cr_assert_null(strstr(t, "endpoint=\"gone\""), "%s", t);
	cr_assert(has_line(t, "endpointd_invocations_total{endpoint=\"kept\",variant=\"A\","
			      "outcome=\"success\"} 1"));
}

Test(metrics, label_values_are_escaped)
{
	metrics_invocation("a\"b\\c", "v\nw", METRICS_OUTCOME_SUCCESS, 0.1);
	_cleanup_free_ char *t = metrics_render(NULL);
	cr_assert_not_null(strstr(t, "endpoint=\"a\\\"b\\\\c\",variant=\"v\\nw\""), "%s", t);
}
