/*
 * Alarms evaluated as CloudWatch evaluates them, on figures reported into
 * metrics at times the tests choose (no clock, no sleeping).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "alarm.h"
#include "config.h"
#include "metrics.h"
#include "util.h"

/* 12 Feb 2026 13:50:00 UTC, a multiple of every period used here. */
#define T0 1770904200.0

static void setup(void)
{
	metrics_reset();
}

static void teardown(void)
{
	metrics_free();
}

TestSuite(alarm, .init = setup, .fini = teardown);

/* An alarm as the YAML's defaults leave it. */
static struct config_alarm alarm_of(const char *name, enum metrics_metric metric,
                                    enum metrics_statistic stat, unsigned period, unsigned periods,
                                    double threshold, enum config_alarm_comparison cmp)
{
	return (struct config_alarm){
	    .name = (char *)name,
	    .metric = metric,
	    .statistic = stat,
	    .period = period,
	    .evaluation_periods = periods,
	    .datapoints_to_alarm = periods,
	    .threshold = threshold,
	    .comparison = cmp,
	    .treat_missing_data = CONFIG_ALARM_MISSING,
	};
}

/* n calls of variant of endpoint "ep" answered with status, taking ms, at t. */
static void calls(const char *variant, unsigned n, int status, double ms, double t)
{
	enum metrics_outcome o = status >= 200 && status < 400 ? METRICS_OUTCOME_SUCCESS
	                         : status == 0                 ? METRICS_OUTCOME_TIMEOUT
	                                                       : METRICS_OUTCOME_MODEL_ERROR;
	for (unsigned i = 0; i < n; i++)
		metrics_invocation_at("ep", variant, o, status, ms / 1000, t);
}

/* The state of a for endpoint "ep" at now; the reason goes to *reason. */
static enum alarm_state eval(const struct config_alarm *a, double now, char **reason)
{
	*reason = NULL;
	enum alarm_state s = alarm_evaluate(a, "ep", now, reason);
	cr_assert_not_null(*reason);
	return s;
}

Test(alarm, canary_answering_errors_trips_a_sum_alarm_before_its_period_ends)
{
	struct config_alarm a = alarm_of("canary-model-errors", METRICS_INVOCATION_MODEL_ERRORS,
	                                 METRICS_STAT_SUM, 10, 1, 5, CONFIG_ALARM_GREATER_OR_EQUAL);
	_cleanup_free_ char *before = NULL, *after = NULL;

	calls("canary", 4, 500, 3, T0 + 1);
	cr_assert_eq(eval(&a, T0 + 2, &before), ALARM_STATE_INSUFFICIENT_DATA, "%s", before);
	calls("canary", 3, 500, 3, T0 + 3);
	cr_assert_eq(eval(&a, T0 + 4, &after), ALARM_STATE_ALARM);
	cr_assert_str_eq(after, "Alarm canary-model-errors: Threshold Crossed: 1 out of the last "
	                        "1 datapoints [7.0 (12/02/26 13:50:00)] was greater than or equal "
	                        "to the threshold (5.0) (minimum 1 datapoint for OK -> ALARM "
	                        "transition).");
}

Test(alarm, quiet_canary_does_not_alarm)
{
	struct config_alarm a = alarm_of("q", METRICS_INVOCATION_MODEL_ERRORS, METRICS_STAT_SUM, 10,
	                                 3, 1, CONFIG_ALARM_GREATER_OR_EQUAL);
	_cleanup_free_ char *reason = NULL;

	cr_assert_eq(eval(&a, T0 + 45, &reason), ALARM_STATE_INSUFFICIENT_DATA);
	cr_assert_str_eq(reason, "Alarm q: Insufficient Data: 3 datapoints were unknown.");
}

Test(alarm, healthy_calls_are_ok_with_a_reason)
{
	struct config_alarm a = alarm_of("ok", METRICS_INVOCATION_MODEL_ERRORS, METRICS_STAT_SUM,
	                                 10, 1, 5, CONFIG_ALARM_GREATER_OR_EQUAL);
	_cleanup_free_ char *reason = NULL;

	calls("v", 20, 200, 3, T0 + 1);
	calls("v", 2, 500, 3, T0 + 2);
	cr_assert_eq(eval(&a, T0 + 10, &reason), ALARM_STATE_OK);
	cr_assert_str_eq(reason,
	                 "Alarm ok: Threshold Crossed: 1 out of the last 1 datapoints "
	                 "[2.0 (12/02/26 13:50:00)] was not greater than or equal to the "
	                 "threshold (5.0) (minimum 1 datapoint for ALARM -> OK transition).");
}

Test(alarm, an_average_waits_for_the_end_of_its_period)
{
	struct config_alarm a = alarm_of("rate", METRICS_INVOCATION_5XX_ERRORS,
	                                 METRICS_STAT_AVERAGE, 60, 1, 0.5, CONFIG_ALARM_GREATER);
	_cleanup_free_ char *partial = NULL, *complete = NULL;

	calls("v", 3, 503, 3, T0 + 5);
	calls("v", 1, 200, 3, T0 + 6);
	cr_assert_eq(eval(&a, T0 + 30, &partial), ALARM_STATE_INSUFFICIENT_DATA, "%s", partial);
	cr_assert_eq(eval(&a, T0 + 60, &complete), ALARM_STATE_ALARM, "%s", complete);
	cr_assert(strstr(complete, "[0.75 (12/02/26 13:50:00)] was greater than the threshold "
	                           "(0.5)"),
	          "%s", complete);
}

Test(alarm, only_complete_periods_count_when_the_one_in_progress_does_not_breach)
{
	struct config_alarm a = alarm_of("s", METRICS_INVOCATIONS, METRICS_STAT_SUM, 10, 1, 3,
	                                 CONFIG_ALARM_GREATER_OR_EQUAL);
	_cleanup_free_ char *reason = NULL;

	calls("v", 5, 200, 1, T0 + 1);
	calls("v", 1, 200, 1, T0 + 11);
	cr_assert_eq(eval(&a, T0 + 12, &reason), ALARM_STATE_ALARM, "%s", reason);
	cr_assert(strstr(reason, "[5.0 (12/02/26 13:50:00)]"), "%s", reason);
}

Test(alarm, a_less_than_alarm_on_the_minimum_trips_within_the_period)
{
	struct config_alarm a = alarm_of("fast", METRICS_MODEL_LATENCY, METRICS_STAT_MINIMUM, 60, 1,
	                                 1000, CONFIG_ALARM_LESS);
	_cleanup_free_ char *reason = NULL;

	calls("v", 1, 200, 0.5, T0 + 1);
	cr_assert_eq(eval(&a, T0 + 2, &reason), ALARM_STATE_ALARM, "%s", reason);
	cr_assert(strstr(reason, "[500.0 (12/02/26 13:50:00)] was less than the threshold "
	                         "(1000.0)"),
	          "%s", reason);
}

/* The value an alarm saw, read from its reason's list. */
static double seen(const struct config_alarm *a, double now)
{
	_cleanup_free_ char *reason = NULL;
	enum alarm_state s = eval(a, now, &reason);
	cr_assert_neq(s, ALARM_STATE_INSUFFICIENT_DATA, "%s", reason);
	const char *p = strchr(reason, '[');
	cr_assert_not_null(p, "%s", reason);
	return strtod(p + 1, NULL);
}

Test(alarm, every_statistic_of_model_latency)
{
	struct config_alarm a = alarm_of("lat", METRICS_MODEL_LATENCY, METRICS_STAT_SUM, 60, 1,
	                                 1e12, CONFIG_ALARM_GREATER);

	calls("v", 1, 200, 10, T0 + 1);
	calls("v", 1, 200, 20, T0 + 20);
	calls("v", 1, 500, 60, T0 + 40);
	a.statistic = METRICS_STAT_SAMPLE_COUNT;
	cr_assert_float_eq(seen(&a, T0 + 60), 3, 1e-9);
	a.statistic = METRICS_STAT_SUM;
	cr_assert_float_eq(seen(&a, T0 + 60), 90000, 1e-6);
	a.statistic = METRICS_STAT_AVERAGE;
	cr_assert_float_eq(seen(&a, T0 + 60), 30000, 1e-6);
	a.statistic = METRICS_STAT_MINIMUM;
	cr_assert_float_eq(seen(&a, T0 + 60), 10000, 1e-6);
	a.statistic = METRICS_STAT_MAXIMUM;
	cr_assert_float_eq(seen(&a, T0 + 60), 60000, 1e-6);
}

Test(alarm, percentiles_of_model_latency_are_within_a_histogram_bin)
{
	struct config_alarm a = alarm_of("p", METRICS_MODEL_LATENCY, METRICS_STAT_PERCENTILE, 60, 1,
	                                 1e12, CONFIG_ALARM_GREATER);

	for (int i = 1; i <= 100; i++)
		calls("v", 1, 200, i, T0 + 1 + i % 50);
	a.percentile = 50;
	double p50 = seen(&a, T0 + 60);
	cr_assert(fabs(p50 - 50000) / 50000 < 0.19, "p50 = %g", p50);
	a.percentile = 99;
	double p99 = seen(&a, T0 + 60);
	cr_assert(fabs(p99 - 99000) / 99000 < 0.19, "p99 = %g", p99);
	a.percentile = 99.9;
	cr_assert_leq(seen(&a, T0 + 60), 100000);
	a.percentile = 100;
	cr_assert_float_eq(seen(&a, T0 + 60), 100000, 1e-6);
	a.percentile = 0;
	cr_assert_float_eq(seen(&a, T0 + 60), 1000, 1e-6);
}

Test(alarm, a_percentile_of_an_error_metric_is_zero_or_one)
{
	struct config_alarm a =
	    alarm_of("p", METRICS_INVOCATION_MODEL_ERRORS, METRICS_STAT_PERCENTILE, 60, 1, 1,
	             CONFIG_ALARM_GREATER_OR_EQUAL);

	calls("v", 95, 200, 1, T0 + 1);
	calls("v", 5, 500, 1, T0 + 2);
	a.percentile = 95;
	cr_assert_eq(seen(&a, T0 + 60), 0);
	a.percentile = 96;
	cr_assert_eq(seen(&a, T0 + 60), 1);
}

Test(alarm, every_comparison_operator_at_its_threshold)
{
	struct config_alarm a = alarm_of("c", METRICS_INVOCATIONS, METRICS_STAT_SUM, 60, 1, 4,
	                                 CONFIG_ALARM_GREATER_OR_EQUAL);
	_cleanup_free_ char *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL;

	calls("v", 4, 200, 1, T0 + 1);
	cr_assert_eq(eval(&a, T0 + 60, &r1), ALARM_STATE_ALARM, "%s", r1);
	a.comparison = CONFIG_ALARM_GREATER;
	cr_assert_eq(eval(&a, T0 + 60, &r2), ALARM_STATE_OK, "%s", r2);
	cr_assert(strstr(r2, "was not greater than the threshold (4.0)"), "%s", r2);
	a.comparison = CONFIG_ALARM_LESS;
	cr_assert_eq(eval(&a, T0 + 60, &r3), ALARM_STATE_OK, "%s", r3);
	a.comparison = CONFIG_ALARM_LESS_OR_EQUAL;
	cr_assert_eq(eval(&a, T0 + 60, &r4), ALARM_STATE_ALARM, "%s", r4);
	cr_assert(strstr(r4, "was less than or equal to the threshold (4.0)"), "%s", r4);
}

Test(alarm, missing_data_treated_as_breaching_alarms_on_a_quiet_variant)
{
	struct config_alarm a = alarm_of("b", METRICS_INVOCATION_MODEL_ERRORS, METRICS_STAT_SUM, 10,
	                                 1, 1, CONFIG_ALARM_GREATER_OR_EQUAL);
	_cleanup_free_ char *reason = NULL;

	a.treat_missing_data = CONFIG_ALARM_BREACHING;
	cr_assert_eq(eval(&a, T0 + 15, &reason), ALARM_STATE_ALARM);
	cr_assert_str_eq(reason, "Alarm b: Threshold Crossed: no datapoints were received for 1 "
	                         "period and 1 missing datapoint was treated as [Breaching] "
	                         "(minimum 1 datapoint for OK -> ALARM transition).");
}

Test(alarm, missing_data_treated_as_not_breaching_is_ok)
{
	struct config_alarm a = alarm_of("nb", METRICS_INVOCATION_MODEL_ERRORS, METRICS_STAT_SUM,
	                                 10, 2, 1, CONFIG_ALARM_GREATER_OR_EQUAL);
	_cleanup_free_ char *quiet = NULL, *one = NULL;

	a.treat_missing_data = CONFIG_ALARM_NOT_BREACHING;
	cr_assert_eq(eval(&a, T0 + 25, &quiet), ALARM_STATE_OK, "%s", quiet);
	cr_assert(strstr(quiet, "2 missing datapoints were treated as [NonBreaching]"), "%s",
	          quiet);
	/* One breaching period of two is not enough when both must breach. */
	calls("v", 3, 500, 1, T0 + 1);
	cr_assert_eq(eval(&a, T0 + 25, &one), ALARM_STATE_OK, "%s", one);
}

Test(alarm, ignored_missing_data_says_the_state_is_kept)
{
	struct config_alarm a = alarm_of("ig", METRICS_INVOCATION_MODEL_ERRORS, METRICS_STAT_SUM,
	                                 10, 1, 1, CONFIG_ALARM_GREATER_OR_EQUAL);
	_cleanup_free_ char *reason = NULL;

	a.treat_missing_data = CONFIG_ALARM_IGNORE;
	cr_assert_eq(eval(&a, T0 + 15, &reason), ALARM_STATE_INSUFFICIENT_DATA);
	cr_assert(strstr(reason, "the alarm keeps its state"), "%s", reason);
}

Test(alarm, missing_data_goes_by_the_datapoints_there_are)
{
	struct config_alarm a = alarm_of("m", METRICS_INVOCATION_MODEL_ERRORS, METRICS_STAT_SUM, 10,
	                                 3, 1, CONFIG_ALARM_GREATER_OR_EQUAL);
	_cleanup_free_ char *one_bad = NULL, *mixed = NULL;

	/* Fewer datapoints than DatapointsToAlarm, all breaching: ALARM. */
	calls("v", 2, 500, 1, T0 + 11);
	cr_assert_eq(eval(&a, T0 + 30, &one_bad), ALARM_STATE_ALARM, "%s", one_bad);
	/* One of them not breaching: OK. */
	calls("v", 2, 200, 1, T0 + 21);
	cr_assert_eq(eval(&a, T0 + 30, &mixed), ALARM_STATE_OK, "%s", mixed);
}

Test(alarm, datapoints_to_alarm_m_out_of_n)
{
	struct config_alarm a = alarm_of("mn", METRICS_INVOCATION_4XX_ERRORS, METRICS_STAT_SUM, 10,
	                                 3, 1, CONFIG_ALARM_GREATER_OR_EQUAL);
	_cleanup_free_ char *one = NULL, *two = NULL;

	a.datapoints_to_alarm = 2;
	calls("v", 1, 404, 1, T0 + 1);
	calls("v", 1, 200, 1, T0 + 11);
	calls("v", 1, 200, 1, T0 + 21);
	cr_assert_eq(eval(&a, T0 + 30, &one), ALARM_STATE_OK, "%s", one);
	cr_assert(strstr(one, "(minimum 2 datapoints for ALARM -> OK transition)"), "%s", one);
	calls("v", 1, 404, 1, T0 + 22);
	cr_assert_eq(eval(&a, T0 + 30, &two), ALARM_STATE_ALARM, "%s", two);
	cr_assert(strstr(two, "2 out of the last 3 datapoints [1.0 (12/02/26 13:50:20), 1.0 "
	                      "(12/02/26 13:50:00)] were greater than or equal to"),
	          "%s", two);
}

Test(alarm, without_a_variant_dimension_all_variants_are_summed)
{
	struct config_alarm a = alarm_of("all", METRICS_INVOCATIONS, METRICS_STAT_SUM, 10, 1, 5,
	                                 CONFIG_ALARM_GREATER_OR_EQUAL);
	_cleanup_free_ char *reason = NULL;

	calls("blue", 3, 200, 1, T0 + 1);
	calls("green", 2, 200, 1, T0 + 2);
	cr_assert_eq(eval(&a, T0 + 3, &reason), ALARM_STATE_ALARM, "%s", reason);
}

Test(alarm, a_variant_dimension_watches_that_variant_only)
{
	struct config_alarm a = alarm_of("green", METRICS_INVOCATION_MODEL_ERRORS, METRICS_STAT_SUM,
	                                 10, 1, 1, CONFIG_ALARM_GREATER_OR_EQUAL);
	_cleanup_free_ char *reason = NULL;

	a.variant_name = (char *)"green";
	calls("blue", 3, 500, 1, T0 + 1);
	calls("green", 2, 200, 1, T0 + 2);
	cr_assert_eq(eval(&a, T0 + 10, &reason), ALARM_STATE_OK, "%s", reason);
}

Test(alarm, an_endpoint_dimension_watches_that_endpoint)
{
	struct config_alarm a = alarm_of("other", METRICS_INVOCATIONS, METRICS_STAT_SUM, 10, 1, 1,
	                                 CONFIG_ALARM_GREATER_OR_EQUAL);
	_cleanup_free_ char *watched = NULL, *asked = NULL;

	metrics_invocation_at("other", "v", METRICS_OUTCOME_SUCCESS, 200, 0.001, T0 + 1);
	a.endpoint_name = (char *)"other";
	cr_assert_eq(eval(&a, T0 + 10, &watched), ALARM_STATE_ALARM, "%s", watched);
	a.endpoint_name = NULL;
	cr_assert_eq(eval(&a, T0 + 10, &asked), ALARM_STATE_INSUFFICIENT_DATA, "%s", asked);
}

Test(alarm, a_forgotten_endpoint_has_no_datapoints)
{
	struct config_alarm a = alarm_of("f", METRICS_INVOCATIONS, METRICS_STAT_SUM, 10, 1, 1,
	                                 CONFIG_ALARM_GREATER_OR_EQUAL);
	_cleanup_free_ char *reason = NULL;

	calls("v", 3, 200, 1, T0 + 1);
	metrics_forget_endpoint("ep");
	cr_assert_eq(eval(&a, T0 + 10, &reason), ALARM_STATE_INSUFFICIENT_DATA, "%s", reason);
}

Test(alarm, large_and_fractional_numbers_are_written_as_cloudwatch_writes_them)
{
	struct config_alarm a = alarm_of("big", METRICS_MODEL_LATENCY, METRICS_STAT_SUM, 60, 1,
	                                 1.5e7, CONFIG_ALARM_GREATER);
	_cleanup_free_ char *reason = NULL;

	calls("v", 1, 200, 20000, T0 + 1);
	cr_assert_eq(eval(&a, T0 + 2, &reason), ALARM_STATE_ALARM, "%s", reason);
	cr_assert(strstr(reason, "[2.0E7 (12/02/26 13:50:00)] was greater than the threshold "
	                         "(1.5E7)"),
	          "%s", reason);
}
