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

/* Frees the alarm names; the policy reads as not given afterwards. */
void deploy_policy_clear(struct deploy_policy *p)
{
	for (size_t i = 0; i < p->n_alarms && i < DEPLOY_MAX_ALARMS; i++)
		free(p->alarms[i]);
	*p = (struct deploy_policy){.kind = DEPLOY_ALL_AT_ONCE};
}

/* Frees the reason; the state reads as a fresh one afterwards. */
void deploy_state_clear(struct deploy_state *s)
{
	free(s->reason);
	*s = (struct deploy_state){0};
}
