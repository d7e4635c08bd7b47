/*
 * Alarms: CloudWatch's evaluation of a metric alarm, on the figures metrics
 * keeps, for UpdateEndpoint's automatic rollback.
 *
 * DESIGN
 *
 * An alarm watches one metric of one endpoint: its EndpointName dimension,
 * or else the endpoint being asked about; its VariantName dimension, or else
 * every variant's samples together.  Its datapoints are the statistic of
 * each Period, periods aligned as CloudWatch aligns them (starting at
 * multiples of the period since the epoch).  A period in which no call
 * reached the variant has no datapoint: SageMaker publishes nothing then, so
 * CloudWatch has none either (see metrics.c).
 *
 * The window is the last EvaluationPeriods complete periods.  The alarm is
 * in ALARM when DatapointsToAlarm (M, default EvaluationPeriods) of them
 * breach.  To react within one period, the period in progress takes the
 * place of the oldest complete one when it already breaches and can only
 * go on breaching: GreaterThan* on Sum, SampleCount or Maximum (p100), which
 * only grow as calls come, and LessThan* on Minimum (p0), which only
 * shrinks.  A canary answering errors thus trips a "Sum of
 * InvocationModelErrors >= 5" alarm on its fifth error, not at the end of
 * the period.  Any other statistic of a period in progress (an Average, a
 * percentile) may still change either way, so it waits for the period's end.
 *
 * Missing datapoints (TreatMissingData):
 *   breaching     each counts as breaching;
 *   notBreaching  each counts as not breaching;
 *   missing       they are left out: with none at all the state is
 *                 INSUFFICIENT_DATA; with fewer datapoints than M, CloudWatch
 *                 fills in as few missing ones as it must, so the alarm is
 *                 in ALARM when every datapoint there is breaches; with M or
 *                 more, when M of them breach;
 *   ignore        as missing, but with no datapoint at all the state should
 *                 stay what it was: this function keeps no state, so it
 *                 answers INSUFFICIENT_DATA and says so, and a caller that
 *                 acts on ALARM only keeps on doing what it did.
 * A quiet canary (no calls) has no datapoints, so it trips no alarm unless
 * the alarm treats missing data as breaching.
 *
 * The reason reads as CloudWatch's StateReason, after the alarm's name so
 * that a FailureReason quoting it says which alarm: "Alarm NAME: Threshold
 * Crossed: 1 out of the last 1 datapoints [7.0 (02/12/26 13:50:00)] was
 * greater than or equal to the threshold (5.0) (minimum 1 datapoint for
 * OK -> ALARM transition)."  Timestamps are the periods' starts, UTC,
 * newest first, at most ALARM_MAX_LISTED of them.
 */
#define _GNU_SOURCE
#include "alarm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "metrics.h"
#include "util.h"

#define ALARM_MAX_LISTED 10

/* The words of a comparison, as a StateReason says it. */
static const char *alarm_comparison_words(enum config_alarm_comparison c)
{
	switch (c) {
	case CONFIG_ALARM_GREATER_OR_EQUAL:
		return "greater than or equal to";
	case CONFIG_ALARM_GREATER:
		return "greater than";
	case CONFIG_ALARM_LESS:
		return "less than";
	case CONFIG_ALARM_LESS_OR_EQUAL:
		return "less than or equal to";
	}
	return "?";
}

/* Whether value breaches a's threshold. */
static bool alarm_breaches(const struct config_alarm *a, double value)
{
	switch (a->comparison) {
	case CONFIG_ALARM_GREATER_OR_EQUAL:
		return value >= a->threshold;
	case CONFIG_ALARM_GREATER:
		return value > a->threshold;
	case CONFIG_ALARM_LESS:
		return value < a->threshold;
	case CONFIG_ALARM_LESS_OR_EQUAL:
		return value <= a->threshold;
	}
	return false;
}

/* Whether a datapoint of a period in progress that breaches can only go on
 * breaching as the period fills (see DESIGN). */
static bool alarm_partial_is_final(const struct config_alarm *a)
{
	bool greater =
	    a->comparison == CONFIG_ALARM_GREATER_OR_EQUAL || a->comparison == CONFIG_ALARM_GREATER;
	bool pct = a->statistic == METRICS_STAT_PERCENTILE;
	bool grows = a->statistic == METRICS_STAT_SUM ||
	             a->statistic == METRICS_STAT_SAMPLE_COUNT ||
	             a->statistic == METRICS_STAT_MAXIMUM || (pct && a->percentile >= 100);
	bool shrinks = a->statistic == METRICS_STAT_MINIMUM || (pct && a->percentile <= 0);
	return greater ? grows : shrinks;
}

/* A number as CloudWatch (Java) writes it: 7.0, 0.25, 1.5E7. */
static char *alarm_format_number(double v)
{
	char tmp[64];

	if (!isfinite(v))
		return xstrdup(isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
	if (v == floor(v) && fabs(v) < 1e7)
		return xasprintf("%.1f", v);
	bool plain = fabs(v) >= 1e-3 && fabs(v) < 1e7;
	for (int p = 1; p <= 17; p++) {
		snprintf(tmp, sizeof(tmp), plain ? "%.*g" : "%.*e", plain ? p : p - 1, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	if (plain)
		return xstrdup(tmp);
	/* "1.5e+07" -> "1.5E7", "2e-05" -> "2.0E-5". */
	char *e = strchr(tmp, 'e');
	*e = '\0';
	return xasprintf("%s%sE%d", tmp, strchr(tmp, '.') ? "" : ".0", atoi(e + 1));
}

/* A datapoint as a StateReason lists it: "7.0 (02/12/26 13:50:00)", UTC. */
static void alarm_append_datapoint(struct buf *b, const struct metrics_datapoint *d, bool first)
{
	_cleanup_free_ char *value = alarm_format_number(d->value);
	struct tm tm;
	time_t t = (time_t)d->timestamp;

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	(void)buf_printf(b, "%s%s (%02d/%02d/%02d %02d:%02d:%02d)", first ? "" : ", ", value,
	                 tm.tm_mday, tm.tm_mon + 1, tm.tm_year % 100, tm.tm_hour, tm.tm_min,
	                 tm.tm_sec);
}

/* The datapoints of window (n, oldest first) that breach (or not), newest first. */
static void alarm_append_list(struct buf *b, const struct config_alarm *a,
                              const struct metrics_datapoint *w, size_t n, bool breaching)
{
	size_t listed = 0, matching = 0;

	(void)buf_append(b, " [", 2);
	for (size_t i = n; i-- > 0;) {
		if (!w[i].present || alarm_breaches(a, w[i].value) != breaching)
			continue;
		matching++;
		if (listed < ALARM_MAX_LISTED)
			alarm_append_datapoint(b, &w[i], listed++ == 0);
	}
	if (matching > listed)
		(void)buf_printf(b, ", ... %zu more", matching - listed);
	(void)buf_append(b, "]", 1);
}

/* "1 datapoint was", "2 datapoints were". */
static const char *alarm_plural(size_t n)
{
	return n == 1 ? "" : "s";
}
static const char *alarm_was(size_t n)
{
	return n == 1 ? "was" : "were";
}

/* State of alarm a; see alarm.h and DESIGN. */
enum alarm_state alarm_evaluate(const struct config_alarm *a, const char *endpoint, double now,
                                char **ret_reason)
{
	const char *ep = a->endpoint_name ? a->endpoint_name : endpoint;
	size_t n = a->evaluation_periods, m = a->datapoints_to_alarm;
	struct buf b = {.max = 4096};

	if (!ep || n == 0) {
		*ret_reason =
		    xasprintf("Alarm %s: Insufficient Data: no endpoint to watch.", a->name);
		return ALARM_STATE_INSUFFICIENT_DATA;
	}
	/* The n complete periods and the one in progress. */
	_cleanup_free_ struct metrics_datapoint *d = xcalloc(n + 1, sizeof(*d));
	if (metrics_datapoints(ep, a->variant_name, a->metric, a->statistic, a->percentile,
	                       a->period, (unsigned)n + 1, now, d) < 0) {
		*ret_reason = xasprintf("Alarm %s: Insufficient Data: its Period of %u seconds "
		                        "cannot be evaluated.",
		                        a->name, a->period);
		return ALARM_STATE_INSUFFICIENT_DATA;
	}
	const struct metrics_datapoint *w = d;
	if (d[n].present && alarm_breaches(a, d[n].value) && alarm_partial_is_final(a))
		w = d + 1;

	size_t breaching = 0, fine = 0, missing = 0;
	for (size_t i = 0; i < n; i++) {
		if (!w[i].present)
			missing++;
		else if (alarm_breaches(a, w[i].value))
			breaching++;
		else
			fine++;
	}

	enum alarm_state state;
	size_t as_breaching = 0, as_fine = 0; /* missing ones counted so */
	switch (a->treat_missing_data) {
	case CONFIG_ALARM_BREACHING:
		as_breaching = missing;
		state = breaching + missing >= m ? ALARM_STATE_ALARM : ALARM_STATE_OK;
		break;
	case CONFIG_ALARM_NOT_BREACHING:
		as_fine = missing;
		state = breaching >= m ? ALARM_STATE_ALARM : ALARM_STATE_OK;
		break;
	default:
		if (breaching + fine == 0)
			state = ALARM_STATE_INSUFFICIENT_DATA;
		else if (breaching + fine < m)
			state = fine == 0 ? ALARM_STATE_ALARM : ALARM_STATE_OK;
		else
			state = breaching >= m ? ALARM_STATE_ALARM : ALARM_STATE_OK;
		break;
	}

	(void)buf_printf(&b, "Alarm %s: ", a->name);
	if (state == ALARM_STATE_INSUFFICIENT_DATA) {
		(void)buf_printf(&b, "Insufficient Data: %zu datapoint%s %s unknown.", missing,
		                 alarm_plural(missing), alarm_was(missing));
		if (a->treat_missing_data == CONFIG_ALARM_IGNORE)
			(void)buf_printf(&b, " Missing data is ignored: the alarm keeps its "
			                     "state.");
		*ret_reason = buf_steal(&b);
		return state;
	}

	bool alarm = state == ALARM_STATE_ALARM;
	size_t shown = alarm ? breaching : fine;
	size_t filled = alarm ? as_breaching : as_fine;
	_cleanup_free_ char *threshold = alarm_format_number(a->threshold);
	(void)buf_printf(&b, "Threshold Crossed: ");
	if (breaching + fine == 0) {
		(void)buf_printf(&b, "no datapoints were received for %zu period%s", n,
		                 alarm_plural(n));
	} else {
		/* CloudWatch's words: "1 out of the last 1 datapoints". */
		(void)buf_printf(&b, "%zu out of the last %zu datapoints", shown, n);
		if (shown > 0)
			alarm_append_list(&b, a, w, n, alarm);
		(void)buf_printf(&b, " %s %s%s the threshold (%s)", alarm_was(shown),
		                 alarm ? "" : "not ", alarm_comparison_words(a->comparison),
		                 threshold);
	}
	if (filled > 0)
		(void)buf_printf(&b, " and %zu missing datapoint%s %s treated as [%s]", filled,
		                 alarm_plural(filled), alarm_was(filled),
		                 alarm ? "Breaching" : "NonBreaching");
	size_t minimum = alarm ? m : n - m + 1;
	(void)buf_printf(&b, " (minimum %zu datapoint%s for %s transition).", minimum,
	                 alarm_plural(minimum), alarm ? "OK -> ALARM" : "ALARM -> OK");
	*ret_reason = buf_steal(&b);
	return state;
}
