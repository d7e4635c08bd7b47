/*
 * The rollout planner of UpdateEndpoint (see deploy.h for what it answers).
 *
 * DESIGN
 *
 * deploy_next() is a loop of small transitions, each of which either moves
 * the state on and says so, or finds that the view or the clock holds it.
 * Every transition moves forward (a step, a batch or a restore batch more, or
 * an ended phase), so the loop ends; ended phases are never left.
 *
 * Rollback triggers come first in each turn of the loop, so that an alarm or a
 * failed instance seen together with the end of a bake wins over it: a
 * rollout never completes past a trigger it was shown.
 *
 * Blue/green: the old fleet stays whole until DONE, so a rollback is one
 * move (all calls to the old fleet) and ends at once.  The traffic steps are
 * counted in instances of the new fleet and turned into shares only at the
 * end (k * step / new_total, the last one exactly 1), so that a linear rollout
 * of 10% ten times ends on 1 and not on 0.9999.
 *
 * Rolling: traffic follows capacity.  When a batch of new_target passes its
 * checks, old instances are retired in proportion, rounding up:
 * old_target = old_total - ceil(old_total * new_target / new_total), and the
 * new fleet takes new_target / (new_target + old_target) of the calls.
 *
 * Rolling rollback runs that backwards in restore batches of the rollback
 * size.  It begins by dropping the batch that was still launching (only the
 * step * batch instances that took calls keep serving), so the new fleet's
 * share never grows during a rollback.  Each time the old instances asked for
 * pass their checks, the new fleet gives up as many instances in proportion,
 * rounding its count down (new_target = new_total -
 * ceil(new_total * old_target / old_total), never more than it had), and the
 * next restore batch is asked for.  Capacity is shed only once what replaces
 * it serves.  The fleets are whole again when all old instances pass.
 *
 * Reasons carry words from outside (a container's last words, an alarm's
 * state reason): each such part is cut to DEPLOY_REASON_PART_MAX bytes of
 * well-formed UTF-8 so that a rollback that fails too still fits in one
 * FailureReason of DEPLOY_REASON_MAX bytes with both parts.
 *
 * The wake time returned is always later than now (a bake or a deadline not
 * yet reached) or 0, so an executor that sets a timer for it never spins.
 * The execution deadline is not returned while rolling back: nothing is
 * timed there, the executor's own instance timeouts end a stuck restore
 * with an old_failure.
 */
#include "deploy.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "utf8.h"
#include "util.h"

/* SageMaker's FailureReason is at most 1024 characters. */
#define DEPLOY_REASON_MAX 1024
#define DEPLOY_REASON_PART_MAX 400

/* The API's ranges (botocore's service-2.json). */
#define DEPLOY_WAIT_MAX 3600
#define DEPLOY_EXECUTION_MIN 600
#define DEPLOY_EXECUTION_MAX 28800
#define DEPLOY_ALARM_NAME_MAX 255
#define DEPLOY_SIZE_VALUE_MAX INT32_MAX

static const char *const deploy_phase_names[] = {
	[DEPLOY_LAUNCHING] = "Launching",     [DEPLOY_BAKING] = "Baking",
	[DEPLOY_ROLLING_BACK] = "RollingBack", [DEPLOY_DONE] = "Done",
	[DEPLOY_ROLLED_BACK] = "RolledBack",  [DEPLOY_ROLLBACK_FAILED] = "RollbackFailed",
};

static const char *const deploy_kind_names[] = {
	[DEPLOY_ALL_AT_ONCE] = "ALL_AT_ONCE",
	[DEPLOY_CANARY] = "CANARY",
	[DEPLOY_LINEAR] = "LINEAR",
};

static const char *const deploy_size_type_names[] = {
	[DEPLOY_SIZE_INSTANCE_COUNT] = "INSTANCE_COUNT",
	[DEPLOY_SIZE_CAPACITY_PERCENT] = "CAPACITY_PERCENT",
};

/* The name the journal and the logs use for a phase. */
const char *deploy_phase_to_string(enum deploy_phase phase)
{
	if ((size_t)phase >= ELEMENTSOF(deploy_phase_names))
		return "Unknown";
	return deploy_phase_names[phase];
}

/* Sizes are given in instances or percent; the planner counts instances. */
unsigned deploy_size_instances(const struct deploy_size *size, unsigned total)
{
	uint64_t n;

	if (total == 0)
		return 0;
	switch (size->type) {
	case DEPLOY_SIZE_INSTANCE_COUNT:
		n = size->value;
		break;
	case DEPLOY_SIZE_CAPACITY_PERCENT:
		n = (uint64_t)total * size->value / 100;
		break;
	default:
		n = total;
		break;
	}
	if (n < 1)
		n = 1;
	if (n > total)
		n = total;
	return (unsigned)n;
}

/* ceil(a * b / c) without overflow or floats; c > 0. */
static unsigned deploy_ceil_ratio(unsigned a, unsigned b, unsigned c)
{
	return (unsigned)(((uint64_t)a * b + c - 1) / c);
}

/* Traffic follows capacity: the new fleet's share when both serve. */
static double deploy_capacity_share(unsigned new_target, unsigned old_target)
{
	if (old_target == 0)
		return 1;
	return (double)new_target / ((double)new_target + old_target);
}

/* Whether a policy shifts traffic between two whole fleets. */
static bool deploy_is_blue_green(const struct deploy_policy *p)
{
	return p->kind != DEPLOY_ROLLING;
}

/* A rollout starts by launching: the whole new fleet, or the first batch. */
void deploy_begin(struct deploy_state *s, const struct deploy_policy *p,
		  const struct deploy_view *v, double now)
{
	*s = (struct deploy_state){
		.phase = DEPLOY_LAUNCHING,
		.started = now,
		.phase_since = now,
		.old_target = v->old_total,
		.new_target = deploy_is_blue_green(p) ? v->new_total
						      : deploy_size_instances(&p->step, v->new_total),
	};
}

bool deploy_switched(const struct deploy_state *s)
{
	return s->phase == DEPLOY_DONE || s->new_share >= 1;
}

bool deploy_ended(const struct deploy_state *s)
{
	return s->phase == DEPLOY_DONE || s->phase == DEPLOY_ROLLED_BACK ||
	       s->phase == DEPLOY_ROLLBACK_FAILED;
}

/* A part of a reason that came from outside, safe and short. */
static char *deploy_reason_part(const char *text)
{
	return utf8_sanitize(text, strlen(text), DEPLOY_REASON_PART_MAX);
}

/* Replaces s->reason; the sentence is cut to what a FailureReason holds. */
static void deploy_set_reason(struct deploy_state *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void deploy_set_reason(struct deploy_state *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	_cleanup_free_ char *text = xvasprintf(fmt, ap);
	va_end(ap);
	free(s->reason);
	s->reason = utf8_sanitize(text, strlen(text), DEPLOY_REASON_MAX);
}

/* Enters a phase at now. */
static void deploy_enter(struct deploy_state *s, enum deploy_phase phase, double now)
{
	s->phase = phase;
	s->phase_since = now;
	if (phase != DEPLOY_BAKING)
		s->bake_until = 0;
}

/* The new fleet serves alone; the old one can go. */
static void deploy_done(struct deploy_state *s, const struct deploy_view *v, double now)
{
	s->new_target = v->new_total;
	s->old_target = 0;
	s->new_share = 1;
	deploy_enter(s, DEPLOY_DONE, now);
}

/* The old fleet serves alone again; the new one can go. */
static void deploy_rolled_back(struct deploy_state *s, const struct deploy_view *v, double now)
{
	s->new_target = 0;
	s->old_target = v->old_total;
	s->new_share = 0;
	deploy_enter(s, DEPLOY_ROLLED_BACK, now);
}

/* A traffic step made: watch it for wait_s. */
static void deploy_bake(struct deploy_state *s, const struct deploy_policy *p, double now)
{
	s->step++;
	deploy_enter(s, DEPLOY_BAKING, now);
	s->bake_until = now + p->wait_s;
}

/*
 * The new fleet's share after blue/green traffic step k (from 1), counted in
 * instances so the last step is exactly 1.
 */
static double deploy_blue_green_share(const struct deploy_policy *p, unsigned new_total,
				      unsigned k)
{
	unsigned step = deploy_size_instances(&p->step, new_total);
	uint64_t instances;

	if (new_total == 0)
		return 1;
	switch (p->kind) {
	case DEPLOY_CANARY:
		instances = k <= 1 ? step : new_total;
		break;
	case DEPLOY_LINEAR:
		instances = (uint64_t)k * step;
		break;
	default:
		instances = new_total;
		break;
	}
	if (instances >= new_total)
		return 1;
	return (double)instances / new_total;
}

/* All traffic goes back to the old fleet (see DESIGN). */
static void deploy_roll_back(struct deploy_state *s, const struct deploy_policy *p,
			     const struct deploy_view *v, double now)
{
	deploy_enter(s, DEPLOY_ROLLING_BACK, now);
	if (deploy_is_blue_green(p)) {
		deploy_rolled_back(s, v, now);
		return;
	}
	/* Only the batches that took calls keep serving until relieved. */
	uint64_t served = (uint64_t)s->step * deploy_size_instances(&p->step, v->new_total);
	if (served < s->new_target)
		s->new_target = (unsigned)served;
	s->new_share = deploy_capacity_share(s->new_target, s->old_target);
}

/* Whether a trigger calls for a rollback now; starts it if so. */
static bool deploy_next_trigger(struct deploy_state *s, const struct deploy_policy *p,
				const struct deploy_view *v, double now)
{
	if (v->new_failure) {
		_cleanup_free_ char *why = deploy_reason_part(v->new_failure);
		deploy_set_reason(s, "The new fleet failed: %s", why);
	} else if (v->alarm && s->new_share > 0) {
		_cleanup_free_ char *why = deploy_reason_part(v->alarm);
		deploy_set_reason(s, "Rolled back: %s", why);
	} else if (p->max_execution_s > 0 && now >= s->started + p->max_execution_s) {
		deploy_set_reason(s,
				  "Rolled back: the update did not complete within "
				  "MaximumExecutionTimeoutInSeconds (%u seconds).",
				  p->max_execution_s);
	} else {
		return false;
	}
	deploy_roll_back(s, p, v, now);
	return true;
}

/* LAUNCHING: once what was launched passes its checks, shift traffic. */
static bool deploy_next_launched(struct deploy_state *s, const struct deploy_policy *p,
				 const struct deploy_view *v, double now)
{
	if (v->new_healthy < s->new_target)
		return false;
	if (deploy_is_blue_green(p)) {
		s->new_share = deploy_blue_green_share(p, v->new_total, s->step + 1);
	} else {
		unsigned gone = v->new_total == 0
					? v->old_total
					: deploy_ceil_ratio(v->old_total, s->new_target, v->new_total);
		s->old_target = gone >= v->old_total ? 0 : v->old_total - gone;
		s->new_share = deploy_capacity_share(s->new_target, s->old_target);
	}
	deploy_bake(s, p, now);
	return true;
}

/* BAKING: once the bake is over, the next step or batch, or done. */
static bool deploy_next_baked(struct deploy_state *s, const struct deploy_policy *p,
			      const struct deploy_view *v, double now)
{
	if (now < s->bake_until)
		return false;
	if (deploy_is_blue_green(p)) {
		if (s->new_share >= 1) {
			deploy_done(s, v, now);
			return true;
		}
		s->new_share = deploy_blue_green_share(p, v->new_total, s->step + 1);
		deploy_bake(s, p, now);
		return true;
	}
	if (s->new_target >= v->new_total) {
		deploy_done(s, v, now);
		return true;
	}
	uint64_t next = (uint64_t)s->new_target + deploy_size_instances(&p->step, v->new_total);
	s->new_target = next > v->new_total ? v->new_total : (unsigned)next;
	deploy_enter(s, DEPLOY_LAUNCHING, now);
	return true;
}

/* ROLLING_BACK: once a restore batch serves, relieve the new fleet. */
static bool deploy_next_restored(struct deploy_state *s, const struct deploy_policy *p,
				 const struct deploy_view *v, double now)
{
	if (v->old_failure) {
		_cleanup_free_ char *first = TAKE_PTR(s->reason);
		_cleanup_free_ char *why = deploy_reason_part(v->old_failure);
		deploy_set_reason(s, "%s The rollback failed too: %s", first ? first : "", why);
		deploy_enter(s, DEPLOY_ROLLBACK_FAILED, now);
		return true;
	}
	if (v->old_healthy < s->old_target)
		return false;
	if (s->old_target >= v->old_total) {
		deploy_rolled_back(s, v, now);
		return true;
	}
	unsigned kept = v->new_total - deploy_ceil_ratio(v->new_total, s->old_target, v->old_total);
	if (kept < s->new_target)
		s->new_target = kept;
	s->new_share = deploy_capacity_share(s->new_target, s->old_target);
	uint64_t next = (uint64_t)s->old_target + deploy_size_instances(&p->rollback, v->old_total);
	s->old_target = next > v->old_total ? v->old_total : (unsigned)next;
	return true;
}

/* When the caller should call again at the latest; 0: only a change can move it. */
static double deploy_wake(const struct deploy_state *s, const struct deploy_policy *p)
{
	double wake = 0;

	if (s->phase != DEPLOY_LAUNCHING && s->phase != DEPLOY_BAKING)
		return 0;
	if (s->phase == DEPLOY_BAKING)
		wake = s->bake_until;
	if (p->max_execution_s > 0) {
		double deadline = s->started + p->max_execution_s;
		if (wake == 0 || deadline < wake)
			wake = deadline;
	}
	return wake;
}

/* Moves the rollout on as far as the view and the clock allow. */
double deploy_next(struct deploy_state *s, const struct deploy_policy *p,
		   const struct deploy_view *v, double now)
{
	bool moved = true;

	while (moved && !deploy_ended(s)) {
		if (s->phase != DEPLOY_ROLLING_BACK && deploy_next_trigger(s, p, v, now))
			continue;
		switch (s->phase) {
		case DEPLOY_LAUNCHING:
			moved = deploy_next_launched(s, p, v, now);
			break;
		case DEPLOY_BAKING:
			moved = deploy_next_baked(s, p, v, now);
			break;
		case DEPLOY_ROLLING_BACK:
			moved = deploy_next_restored(s, p, v, now);
			break;
		default:
			moved = false;
			break;
		}
	}
	return deploy_wake(s, p);
}

/* CapacitySize {Type, Value}. */
static json_t *deploy_size_to_json(const struct deploy_size *size)
{
	return json_pack("{s:s, s:I}", "Type", deploy_size_type_names[size->type], "Value",
			 (json_int_t)size->value);
}

/* Sets key to size unless the size was not given. */
static void deploy_set_size(json_t *o, const char *key, const struct deploy_size *size)
{
	if (size->type == DEPLOY_SIZE_INSTANCE_COUNT || size->type == DEPLOY_SIZE_CAPACITY_PERCENT)
		json_object_set_new(o, key, deploy_size_to_json(size));
}

/* DescribeEndpoint shows the DeploymentConfig an update was given. */
json_t *deploy_policy_to_json(const struct deploy_policy *p)
{
	json_t *o;

	if (!p->given)
		return NULL;
	o = json_object();
	if (p->kind == DEPLOY_ROLLING) {
		json_t *r = json_object();
		deploy_set_size(r, "MaximumBatchSize", &p->step);
		json_object_set_new(r, "WaitIntervalInSeconds", json_integer(p->wait_s));
		if (p->max_execution_s > 0)
			json_object_set_new(r, "MaximumExecutionTimeoutInSeconds",
					    json_integer(p->max_execution_s));
		deploy_set_size(r, "RollbackMaximumBatchSize", &p->rollback);
		json_object_set_new(o, "RollingUpdatePolicy", r);
	} else {
		const char *kind = (size_t)p->kind < ELEMENTSOF(deploy_kind_names)
					   ? deploy_kind_names[p->kind]
					   : "ALL_AT_ONCE";
		json_t *t = json_pack("{s:s, s:I}", "Type", kind, "WaitIntervalInSeconds",
				      (json_int_t)p->wait_s);
		if (p->kind == DEPLOY_CANARY)
			deploy_set_size(t, "CanarySize", &p->step);
		else if (p->kind == DEPLOY_LINEAR)
			deploy_set_size(t, "LinearStepSize", &p->step);
		json_t *b = json_pack("{s:o}", "TrafficRoutingConfiguration", t);
		if (p->termination_wait_s > 0)
			json_object_set_new(b, "TerminationWaitInSeconds",
					    json_integer(p->termination_wait_s));
		if (p->max_execution_s > 0)
			json_object_set_new(b, "MaximumExecutionTimeoutInSeconds",
					    json_integer(p->max_execution_s));
		json_object_set_new(o, "BlueGreenUpdatePolicy", b);
	}
	if (p->n_alarms > 0) {
		json_t *alarms = json_array();
		for (size_t i = 0; i < p->n_alarms && i < DEPLOY_MAX_ALARMS; i++)
			json_array_append_new(alarms, json_pack("{s:s}", "AlarmName", p->alarms[i]));
		json_object_set_new(o, "AutoRollbackConfiguration",
				    json_pack("{s:o}", "Alarms", alarms));
	}
	return o;
}

/* -EINVAL with a message that names where the document is wrong. */
static int deploy_invalid(char **ret_error, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int deploy_invalid(char **ret_error, const char *fmt, ...)
{
	va_list ap;

	if (ret_error) {
		va_start(ap, fmt);
		*ret_error = xvasprintf(fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* An object holding no member but the allowed ones (a NULL-ended list). */
static int deploy_json_object(json_t *o, const char *path, const char *const *allowed,
			      char **ret_error)
{
	const char *key;
	json_t *value;

	if (!json_is_object(o))
		return deploy_invalid(ret_error, "%s: must be an object", path);
	json_object_foreach(o, key, value) {
		bool known = false;
		for (const char *const *a = allowed; *a && !known; a++)
			known = strcmp(key, *a) == 0;
		if (!known) {
			_cleanup_free_ char *shown = utf8_sanitize(key, strlen(key), 64);
			return deploy_invalid(ret_error, "%s: unknown member %s", path, shown);
		}
	}
	return 0;
}

/* An integer member from min to max; absent: *ret untouched, unless required. */
static int deploy_json_uint(json_t *o, const char *path, const char *key, bool required,
			    unsigned min, unsigned max, unsigned *ret, char **ret_error)
{
	json_t *v = json_object_get(o, key);

	if (!v) {
		if (required)
			return deploy_invalid(ret_error, "%s.%s: missing", path, key);
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return deploy_invalid(ret_error, "%s.%s: must be an integer from %u to %u", path,
				      key, min, max);
	*ret = (unsigned)json_integer_value(v);
	return 0;
}

/* A string member that must be one of names (indexed by enum value). */
static int deploy_json_enum(json_t *o, const char *path, const char *key,
			    const char *const *names, size_t n, int *ret, char **ret_error)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return deploy_invalid(ret_error, "%s.%s: missing", path, key);
	for (size_t i = 0; json_is_string(v) && i < n; i++)
		if (names[i] && strcmp(json_string_value(v), names[i]) == 0) {
			*ret = (int)i;
			return 0;
		}
	return deploy_invalid(ret_error, "%s.%s: not a known value", path, key);
}

/* A CapacitySize member; absent: NONE, unless required. */
static int deploy_json_size(json_t *o, const char *path, const char *key, bool required,
			    struct deploy_size *ret, char **ret_error)
{
	static const char *const members[] = {"Type", "Value", NULL};
	_cleanup_free_ char *where = xasprintf("%s.%s", path, key);
	json_t *v = json_object_get(o, key);
	int type = DEPLOY_SIZE_NONE;
	unsigned value = 0;
	int r;

	if (!v) {
		if (required)
			return deploy_invalid(ret_error, "%s: missing", where);
		*ret = (struct deploy_size){.type = DEPLOY_SIZE_NONE};
		return 0;
	}
	r = deploy_json_object(v, where, members, ret_error);
	if (r < 0)
		return r;
	r = deploy_json_enum(v, where, "Type", deploy_size_type_names,
			     ELEMENTSOF(deploy_size_type_names), &type, ret_error);
	if (r < 0)
		return r;
	r = deploy_json_uint(v, where, "Value", true, 1,
			     type == DEPLOY_SIZE_CAPACITY_PERCENT ? 100 : DEPLOY_SIZE_VALUE_MAX,
			     &value, ret_error);
	if (r < 0)
		return r;
	*ret = (struct deploy_size){.type = type, .value = value};
	return 0;
}

/* AlarmName: 1 to 255 characters on one line, not all blank. */
static bool deploy_valid_alarm_name(const char *s, size_t len)
{
	size_t chars = 0;
	bool blank = true;

	if (!utf8_valid(s, len))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\n' || c == '\r')
			return false;
		if (c != ' ' && c != '\t' && c != '\v' && c != '\f')
			blank = false;
		if ((c & 0xc0) != 0x80)
			chars++;
	}
	return chars >= 1 && chars <= DEPLOY_ALARM_NAME_MAX && !blank;
}

/* AutoRollbackConfiguration {Alarms: [{AlarmName}]} into p. */
static int deploy_json_alarms(json_t *o, struct deploy_policy *p, char **ret_error)
{
	static const char *const members[] = {"Alarms", NULL};
	static const char *const alarm_members[] = {"AlarmName", NULL};
	const char *path = "DeploymentConfig.AutoRollbackConfiguration";
	json_t *alarms, *a;
	size_t i;
	int r;

	r = deploy_json_object(o, path, members, ret_error);
	if (r < 0)
		return r;
	alarms = json_object_get(o, "Alarms");
	if (!alarms)
		return 0;
	if (!json_is_array(alarms) || json_array_size(alarms) < 1 ||
	    json_array_size(alarms) > DEPLOY_MAX_ALARMS)
		return deploy_invalid(ret_error, "%s.Alarms: must be a list of 1 to %d alarms",
				      path, DEPLOY_MAX_ALARMS);
	json_array_foreach(alarms, i, a) {
		_cleanup_free_ char *where = xasprintf("%s.Alarms[%zu]", path, i);
		r = deploy_json_object(a, where, alarm_members, ret_error);
		if (r < 0)
			return r;
		json_t *name = json_object_get(a, "AlarmName");
		if (!name)
			return deploy_invalid(ret_error, "%s.AlarmName: missing", where);
		if (!json_is_string(name) ||
		    !deploy_valid_alarm_name(json_string_value(name), json_string_length(name)))
			return deploy_invalid(ret_error,
					      "%s.AlarmName: must be 1 to %d characters, "
					      "on one line, not all blank",
					      where, DEPLOY_ALARM_NAME_MAX);
		p->alarms[p->n_alarms++] = xstrdup(json_string_value(name));
	}
	return 0;
}

/* BlueGreenUpdatePolicy into p. */
static int deploy_json_blue_green(json_t *o, struct deploy_policy *p, char **ret_error)
{
	static const char *const members[] = {"TrafficRoutingConfiguration",
					      "TerminationWaitInSeconds",
					      "MaximumExecutionTimeoutInSeconds", NULL};
	static const char *const routing_members[] = {"Type", "WaitIntervalInSeconds",
						      "CanarySize", "LinearStepSize", NULL};
	const char *path = "DeploymentConfig.BlueGreenUpdatePolicy";
	const char *routing_path = "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration";
	json_t *t;
	int kind = DEPLOY_ALL_AT_ONCE;
	int r;

	r = deploy_json_object(o, path, members, ret_error);
	if (r < 0)
		return r;
	r = deploy_json_uint(o, path, "TerminationWaitInSeconds", false, 0, DEPLOY_WAIT_MAX,
			     &p->termination_wait_s, ret_error);
	if (r < 0)
		return r;
	r = deploy_json_uint(o, path, "MaximumExecutionTimeoutInSeconds", false,
			     DEPLOY_EXECUTION_MIN, DEPLOY_EXECUTION_MAX, &p->max_execution_s,
			     ret_error);
	if (r < 0)
		return r;
	t = json_object_get(o, "TrafficRoutingConfiguration");
	if (!t)
		return deploy_invalid(ret_error, "%s.TrafficRoutingConfiguration: missing", path);
	r = deploy_json_object(t, routing_path, routing_members, ret_error);
	if (r < 0)
		return r;
	r = deploy_json_enum(t, routing_path, "Type", deploy_kind_names,
			     ELEMENTSOF(deploy_kind_names), &kind, ret_error);
	if (r < 0)
		return r;
	p->kind = kind;
	r = deploy_json_uint(t, routing_path, "WaitIntervalInSeconds", true, 0, DEPLOY_WAIT_MAX,
			     &p->wait_s, ret_error);
	if (r < 0)
		return r;
	/* Each type takes its own size and no other. */
	if (p->kind != DEPLOY_CANARY && json_object_get(t, "CanarySize"))
		return deploy_invalid(ret_error, "%s.CanarySize: only for Type CANARY", routing_path);
	if (p->kind != DEPLOY_LINEAR && json_object_get(t, "LinearStepSize"))
		return deploy_invalid(ret_error, "%s.LinearStepSize: only for Type LINEAR",
				      routing_path);
	if (p->kind == DEPLOY_CANARY)
		return deploy_json_size(t, routing_path, "CanarySize", true, &p->step, ret_error);
	if (p->kind == DEPLOY_LINEAR)
		return deploy_json_size(t, routing_path, "LinearStepSize", true, &p->step,
					ret_error);
	return 0;
}

/* RollingUpdatePolicy into p. */
static int deploy_json_rolling(json_t *o, struct deploy_policy *p, char **ret_error)
{
	static const char *const members[] = {"MaximumBatchSize", "WaitIntervalInSeconds",
					      "MaximumExecutionTimeoutInSeconds",
					      "RollbackMaximumBatchSize", NULL};
	const char *path = "DeploymentConfig.RollingUpdatePolicy";
	int r;

	p->kind = DEPLOY_ROLLING;
	r = deploy_json_object(o, path, members, ret_error);
	if (r < 0)
		return r;
	r = deploy_json_size(o, path, "MaximumBatchSize", true, &p->step, ret_error);
	if (r < 0)
		return r;
	r = deploy_json_uint(o, path, "WaitIntervalInSeconds", true, 0, DEPLOY_WAIT_MAX,
			     &p->wait_s, ret_error);
	if (r < 0)
		return r;
	r = deploy_json_uint(o, path, "MaximumExecutionTimeoutInSeconds", false,
			     DEPLOY_EXECUTION_MIN, DEPLOY_EXECUTION_MAX, &p->max_execution_s,
			     ret_error);
	if (r < 0)
		return r;
	return deploy_json_size(o, path, "RollbackMaximumBatchSize", false, &p->rollback,
				ret_error);
}

/* The journal's copy of a DeploymentConfig is checked as a request would be. */
int deploy_policy_from_json(json_t *j, struct deploy_policy *p, char **ret_error)
{
	static const char *const members[] = {"BlueGreenUpdatePolicy", "RollingUpdatePolicy",
					      "AutoRollbackConfiguration", NULL};
	struct deploy_policy t = {.kind = DEPLOY_ALL_AT_ONCE};
	json_t *blue_green, *rolling, *rollback;
	int r;

	if (!j || json_is_null(j)) {
		*p = t;
		return 0;
	}
	r = deploy_json_object(j, "DeploymentConfig", members, ret_error);
	if (r < 0)
		return r;
	t.given = true;
	blue_green = json_object_get(j, "BlueGreenUpdatePolicy");
	rolling = json_object_get(j, "RollingUpdatePolicy");
	rollback = json_object_get(j, "AutoRollbackConfiguration");
	if (blue_green && rolling)
		return deploy_invalid(ret_error, "DeploymentConfig: BlueGreenUpdatePolicy and "
						 "RollingUpdatePolicy exclude each other");
	if (blue_green)
		r = deploy_json_blue_green(blue_green, &t, ret_error);
	else if (rolling)
		r = deploy_json_rolling(rolling, &t, ret_error);
	if (r >= 0 && rollback)
		r = deploy_json_alarms(rollback, &t, ret_error);
	if (r < 0) {
		deploy_policy_clear(&t);
		return r;
	}
	*p = t;
	return 0;
}

/* Frees the alarm names; the policy reads as not given afterwards. */
void deploy_policy_clear(struct deploy_policy *p)
{
	for (size_t i = 0; i < p->n_alarms && i < DEPLOY_MAX_ALARMS; i++)
		free(p->alarms[i]);
	*p = (struct deploy_policy){.kind = DEPLOY_ALL_AT_ONCE};
}

/* The planner's memory, every member, for the journal. */
json_t *deploy_state_to_json(const struct deploy_state *s)
{
	json_t *o = json_pack("{s:s, s:f, s:f, s:f, s:I, s:I, s:I, s:f}", "Phase",
			      deploy_phase_to_string(s->phase), "Started", s->started, "PhaseSince",
			      s->phase_since, "BakeUntil", s->bake_until, "Step",
			      (json_int_t)s->step, "NewTarget", (json_int_t)s->new_target,
			      "OldTarget", (json_int_t)s->old_target, "NewShare", s->new_share);
	if (s->reason)
		json_object_set_new(o, "Reason", json_string(s->reason));
	return o;
}

/* A time member: seconds of the wall clock, not before 1970. */
static int deploy_json_time(json_t *o, const char *key, double *ret, char **ret_error)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return deploy_invalid(ret_error, "deploy state.%s: missing", key);
	if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < 0)
		return deploy_invalid(ret_error, "deploy state.%s: must be a time in seconds", key);
	*ret = json_number_value(v);
	return 0;
}

/* Whether a phase is one of a rollback, the phases that have a reason. */
static bool deploy_phase_has_reason(enum deploy_phase phase)
{
	return phase == DEPLOY_ROLLING_BACK || phase == DEPLOY_ROLLED_BACK ||
	       phase == DEPLOY_ROLLBACK_FAILED;
}

/* The journal's copy of the state, every member checked. */
int deploy_state_from_json(json_t *j, struct deploy_state *s, char **ret_error)
{
	static const char *const members[] = {"Phase",     "Started",   "PhaseSince",
					      "BakeUntil", "Step",      "NewTarget",
					      "OldTarget", "NewShare",  "Reason",
					      NULL};
	const char *path = "deploy state";
	struct deploy_state t = {0};
	int phase = DEPLOY_LAUNCHING;
	json_t *share, *reason;
	int r;

	r = deploy_json_object(j, path, members, ret_error);
	if (r < 0)
		return r;
	r = deploy_json_enum(j, path, "Phase", deploy_phase_names, ELEMENTSOF(deploy_phase_names),
			     &phase, ret_error);
	if (r < 0)
		return r;
	t.phase = phase;
	if ((r = deploy_json_time(j, "Started", &t.started, ret_error)) < 0 ||
	    (r = deploy_json_time(j, "PhaseSince", &t.phase_since, ret_error)) < 0 ||
	    (r = deploy_json_time(j, "BakeUntil", &t.bake_until, ret_error)) < 0 ||
	    (r = deploy_json_uint(j, path, "Step", true, 0, UINT_MAX, &t.step, ret_error)) < 0 ||
	    (r = deploy_json_uint(j, path, "NewTarget", true, 0, UINT_MAX, &t.new_target,
				  ret_error)) < 0 ||
	    (r = deploy_json_uint(j, path, "OldTarget", true, 0, UINT_MAX, &t.old_target,
				  ret_error)) < 0)
		return r;
	share = json_object_get(j, "NewShare");
	if (!share)
		return deploy_invalid(ret_error, "%s.NewShare: missing", path);
	if (!json_is_number(share) || !(json_number_value(share) >= 0) ||
	    !(json_number_value(share) <= 1))
		return deploy_invalid(ret_error, "%s.NewShare: must be a number from 0 to 1", path);
	t.new_share = json_number_value(share);
	reason = json_object_get(j, "Reason");
	if (deploy_phase_has_reason(t.phase) && !reason)
		return deploy_invalid(ret_error, "%s.Reason: missing in phase %s", path,
				      deploy_phase_to_string(t.phase));
	if (!deploy_phase_has_reason(t.phase) && reason)
		return deploy_invalid(ret_error, "%s.Reason: only in a rollback, not in phase %s",
				      path, deploy_phase_to_string(t.phase));
	if (reason) {
		if (!json_is_string(reason) || json_string_length(reason) < 1 ||
		    json_string_length(reason) > DEPLOY_REASON_MAX ||
		    strlen(json_string_value(reason)) != json_string_length(reason))
			return deploy_invalid(ret_error,
					      "%s.Reason: must be a text of 1 to %d bytes", path,
					      DEPLOY_REASON_MAX);
		t.reason = xstrdup(json_string_value(reason));
	}
	*s = t;
	return 0;
}

/* Frees the reason; the state reads as a fresh one afterwards. */
void deploy_state_clear(struct deploy_state *s)
{
	free(s->reason);
	*s = (struct deploy_state){0};
}
