/*
 * The rollout planner, driven by a fake clock and a fake pair of fleets: each
 * test walks one rollout the way the endpoint would, telling the planner what
 * the fleets look like and moving the clock, and checks each step's targets,
 * traffic share, phase and wake-up time.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "deploy.h"
#include "utf8.h"

#define T0 1700000000.0

/* One rollout in progress: the policy, the fleets, the clock. */
static struct deploy_policy policy;
static struct deploy_state state;
static struct deploy_view view;
static double now;
static double wake;

static const char *const alarm_reason =
	"Alarm latency-high in ALARM: Threshold Crossed: 1 datapoint [812.0] was greater than "
	"the threshold (500.0).";

static void teardown(void)
{
	deploy_state_clear(&state);
	deploy_policy_clear(&policy);
}

TestSuite(deploy, .fini = teardown, .timeout = 10);

static struct deploy_size count(unsigned n)
{
	return (struct deploy_size){.type = DEPLOY_SIZE_INSTANCE_COUNT, .value = n};
}

static struct deploy_size percent(unsigned n)
{
	return (struct deploy_size){.type = DEPLOY_SIZE_CAPACITY_PERCENT, .value = n};
}

static struct deploy_policy all_at_once(unsigned wait_s)
{
	return (struct deploy_policy){.kind = DEPLOY_ALL_AT_ONCE, .given = true, .wait_s = wait_s};
}

static struct deploy_policy canary(struct deploy_size size, unsigned wait_s)
{
	return (struct deploy_policy){
		.kind = DEPLOY_CANARY, .given = true, .step = size, .wait_s = wait_s};
}

static struct deploy_policy linear(struct deploy_size size, unsigned wait_s)
{
	return (struct deploy_policy){
		.kind = DEPLOY_LINEAR, .given = true, .step = size, .wait_s = wait_s};
}

static struct deploy_policy rolling(struct deploy_size batch, unsigned wait_s,
				    struct deploy_size rollback_batch)
{
	return (struct deploy_policy){.kind = DEPLOY_ROLLING,
				      .given = true,
				      .step = batch,
				      .wait_s = wait_s,
				      .rollback = rollback_batch};
}

static const struct deploy_size no_size = {.type = DEPLOY_SIZE_NONE};

/* Asks the planner again at the current time; a wake time is never in the past. */
static void settle(void)
{
	wake = deploy_next(&state, &policy, &view, now);
	cr_assert(wake == 0 || wake > now, "wake %f is not after now %f", wake, now);
}

/* An update of a serving old fleet to a new one begins at T0. */
static void begin(struct deploy_policy p, unsigned old_total, unsigned new_total)
{
	policy = p;
	view = (struct deploy_view){
		.old_total = old_total, .new_total = new_total, .old_healthy = old_total};
	now = T0;
	deploy_begin(&state, &policy, &view, now);
	settle();
}

static void tick(double seconds)
{
	now += seconds;
	settle();
}

/* What the endpoint reports once the new instances asked for pass their checks. */
static void new_fleet_healthy(void)
{
	view.new_healthy = state.new_target;
	settle();
}

/* What the endpoint reports once the old instances asked for pass their checks. */
static void old_fleet_healthy(void)
{
	view.old_healthy = state.old_target;
	settle();
}

static void expect(enum deploy_phase phase, unsigned new_target, unsigned old_target,
		   double share, double expected_wake)
{
	cr_assert_str_eq(deploy_phase_to_string(state.phase), deploy_phase_to_string(phase));
	cr_assert_eq(state.new_target, new_target, "new_target %u, expected %u", state.new_target,
		     new_target);
	cr_assert_eq(state.old_target, old_target, "old_target %u, expected %u", state.old_target,
		     old_target);
	cr_assert_float_eq(state.new_share, share, 1e-9, "new_share %f, expected %f",
			   state.new_share, share);
	cr_assert_float_eq(wake, expected_wake, 1e-9, "wake %f, expected %f", wake, expected_wake);
}

/* deploy_size_instances */

Test(deploy, size_by_count_is_the_count)
{
	struct deploy_size s = count(3);
	cr_assert_eq(deploy_size_instances(&s, 5), 3);
}

Test(deploy, size_by_count_is_at_most_the_fleet)
{
	struct deploy_size s = count(9);
	cr_assert_eq(deploy_size_instances(&s, 5), 5);
}

Test(deploy, size_by_percent_rounds_down)
{
	struct deploy_size s = percent(50);
	cr_assert_eq(deploy_size_instances(&s, 5), 2);
}

Test(deploy, size_by_percent_is_at_least_one_instance)
{
	struct deploy_size s = percent(10);
	cr_assert_eq(deploy_size_instances(&s, 5), 1);
}

Test(deploy, size_of_a_hundred_percent_is_the_fleet)
{
	struct deploy_size s = percent(100);
	cr_assert_eq(deploy_size_instances(&s, 7), 7);
}

Test(deploy, size_not_given_is_the_fleet)
{
	cr_assert_eq(deploy_size_instances(&no_size, 7), 7);
}

Test(deploy, size_of_an_empty_fleet_is_zero)
{
	struct deploy_size s = count(1);
	cr_assert_eq(deploy_size_instances(&s, 0), 0);
}

/* deploy_begin */

Test(deploy, begin_launches_the_whole_new_fleet_for_blue_green)
{
	struct deploy_policy p = linear(count(1), 60);
	deploy_begin(&state, &p, &(struct deploy_view){.old_total = 3, .new_total = 5}, T0);
	cr_assert_eq(state.phase, DEPLOY_LAUNCHING);
	cr_assert_eq(state.started, T0);
	cr_assert_eq(state.phase_since, T0);
	cr_assert_eq(state.step, 0);
	cr_assert_eq(state.new_share, 0);
	cr_assert_eq(state.new_target, 5);
	cr_assert_eq(state.old_target, 3);
	cr_assert_null(state.reason);
}

Test(deploy, begin_launches_the_first_batch_for_rolling)
{
	struct deploy_policy p = rolling(percent(40), 60, no_size);
	deploy_begin(&state, &p, &(struct deploy_view){.old_total = 3, .new_total = 5}, T0);
	cr_assert_eq(state.phase, DEPLOY_LAUNCHING);
	cr_assert_eq(state.new_target, 2);
	cr_assert_eq(state.old_target, 3);
	cr_assert_eq(state.new_share, 0);
}

/* Blue/green rollouts */

Test(deploy, all_at_once_shifts_all_traffic_once_the_new_fleet_is_healthy)
{
	begin(all_at_once(600), 2, 2);
	expect(DEPLOY_LAUNCHING, 2, 2, 0, 0);
	view.new_healthy = 1;
	settle();
	expect(DEPLOY_LAUNCHING, 2, 2, 0, 0);
	new_fleet_healthy();
	expect(DEPLOY_BAKING, 2, 2, 1, T0 + 600);
	cr_assert_eq(state.step, 1);
	cr_assert(deploy_switched(&state));
	cr_assert_not(deploy_ended(&state));
	tick(599);
	expect(DEPLOY_BAKING, 2, 2, 1, T0 + 600);
	tick(1);
	expect(DEPLOY_DONE, 2, 0, 1, 0);
	cr_assert(deploy_ended(&state));
	cr_assert_eq(state.phase_since, T0 + 600);
}

Test(deploy, all_at_once_without_a_wait_is_done_in_one_call)
{
	begin(all_at_once(0), 1, 1);
	new_fleet_healthy();
	expect(DEPLOY_DONE, 1, 0, 1, 0);
}

Test(deploy, blue_green_keeps_the_whole_old_fleet_until_done)
{
	begin(all_at_once(60), 3, 5);
	expect(DEPLOY_LAUNCHING, 5, 3, 0, 0);
	new_fleet_healthy();
	expect(DEPLOY_BAKING, 5, 3, 1, T0 + 60);
	tick(60);
	expect(DEPLOY_DONE, 5, 0, 1, 0);
}

Test(deploy, canary_by_count_shifts_the_canary_then_the_rest)
{
	begin(canary(count(1), 300), 4, 4);
	new_fleet_healthy();
	expect(DEPLOY_BAKING, 4, 4, 0.25, T0 + 300);
	cr_assert_eq(state.step, 1);
	cr_assert_not(deploy_switched(&state));
	tick(300);
	expect(DEPLOY_BAKING, 4, 4, 1, T0 + 600);
	cr_assert_eq(state.step, 2);
	cr_assert(deploy_switched(&state));
	tick(300);
	expect(DEPLOY_DONE, 4, 0, 1, 0);
}

Test(deploy, canary_by_percent_rounds_the_canary_down_to_instances)
{
	begin(canary(percent(50), 300), 5, 5);
	new_fleet_healthy();
	expect(DEPLOY_BAKING, 5, 5, 0.4, T0 + 300);
	tick(300);
	expect(DEPLOY_BAKING, 5, 5, 1, T0 + 600);
	tick(300);
	expect(DEPLOY_DONE, 5, 0, 1, 0);
}

Test(deploy, canary_of_the_whole_fleet_is_one_step)
{
	begin(canary(count(1), 300), 2, 1);
	new_fleet_healthy();
	expect(DEPLOY_BAKING, 1, 2, 1, T0 + 300);
	tick(300);
	expect(DEPLOY_DONE, 1, 0, 1, 0);
}

Test(deploy, linear_shifts_equal_steps_and_the_last_one_takes_the_rest)
{
	begin(linear(count(2), 60), 5, 5);
	new_fleet_healthy();
	expect(DEPLOY_BAKING, 5, 5, 0.4, T0 + 60);
	tick(60);
	expect(DEPLOY_BAKING, 5, 5, 0.8, T0 + 120);
	tick(60);
	expect(DEPLOY_BAKING, 5, 5, 1, T0 + 180);
	cr_assert_eq(state.step, 3);
	tick(60);
	expect(DEPLOY_DONE, 5, 0, 1, 0);
}

Test(deploy, linear_by_ten_percent_ends_on_exactly_all_traffic)
{
	begin(linear(percent(10), 10), 10, 10);
	new_fleet_healthy();
	for (unsigned k = 1; k < 10; k++) {
		expect(DEPLOY_BAKING, 10, 10, k / 10.0, now + 10);
		tick(10);
	}
	cr_assert_eq(state.new_share, 1.0);
	cr_assert_eq(state.step, 10);
	tick(10);
	expect(DEPLOY_DONE, 10, 0, 1, 0);
}

Test(deploy, a_late_call_makes_the_next_step_and_bakes_it_in_full)
{
	begin(linear(count(1), 60), 3, 3);
	new_fleet_healthy();
	tick(3600);
	expect(DEPLOY_BAKING, 3, 3, 2 / 3.0, now + 60);
}

/* Rolling rollouts */

struct batch {
	unsigned new_target, old_target;
	double share;
};

/* Walks a rolling rollout batch by batch, then checks it ends done. */
static void walk_rolling(const struct batch *batches, size_t n, unsigned new_total)
{
	for (size_t i = 0; i < n; i++) {
		expect(DEPLOY_LAUNCHING, batches[i].new_target,
		       i == 0 ? view.old_total : batches[i - 1].old_target,
		       i == 0 ? 0 : batches[i - 1].share, 0);
		new_fleet_healthy();
		expect(DEPLOY_BAKING, batches[i].new_target, batches[i].old_target,
		       batches[i].share, now + policy.wait_s);
		cr_assert_eq(state.step, i + 1);
		view.old_healthy = state.old_target;
		tick(policy.wait_s);
	}
	expect(DEPLOY_DONE, new_total, 0, 1, 0);
}

Test(deploy, rolling_retires_old_instances_in_proportion_as_batches_pass)
{
	static const struct batch batches[] = {
		{1, 2, 1 / 3.0}, {2, 1, 2 / 3.0}, {3, 1, 3 / 4.0}, {4, 0, 1}, {5, 0, 1},
	};
	begin(rolling(count(1), 60, no_size), 3, 5);
	walk_rolling(batches, 5, 5);
}

Test(deploy, rolling_to_a_smaller_fleet_retires_the_old_one_with_the_first_batch)
{
	static const struct batch batches[] = {{1, 0, 1}};
	begin(rolling(count(1), 60, no_size), 4, 1);
	walk_rolling(batches, 1, 1);
}

Test(deploy, rolling_by_percent_launches_batches_of_that_share_of_the_new_fleet)
{
	static const struct batch batches[] = {{2, 2, 0.5}, {4, 0, 1}};
	begin(rolling(percent(50), 30, no_size), 4, 4);
	walk_rolling(batches, 2, 4);
}

Test(deploy, rolling_caps_the_last_batch_at_the_new_fleet)
{
	static const struct batch batches[] = {{2, 1, 2 / 3.0}, {3, 0, 1}};
	begin(rolling(count(2), 30, no_size), 3, 3);
	walk_rolling(batches, 2, 3);
}

Test(deploy, rolling_waits_for_the_whole_batch_to_pass)
{
	begin(rolling(count(2), 30, no_size), 4, 4);
	view.new_healthy = 1;
	settle();
	expect(DEPLOY_LAUNCHING, 2, 4, 0, 0);
}

/* Rollback triggers */

Test(deploy, a_new_instance_failing_while_launching_rolls_back_blue_green_at_once)
{
	begin(canary(count(1), 300), 3, 4);
	view.new_failure = "container exited with status 137 (out of memory)";
	tick(5);
	expect(DEPLOY_ROLLED_BACK, 0, 3, 0, 0);
	cr_assert_str_eq(state.reason,
			 "The new fleet failed: container exited with status 137 (out of memory)");
	cr_assert_eq(state.phase_since, T0 + 5);
	cr_assert(deploy_ended(&state));
	cr_assert_not(deploy_switched(&state));
}

Test(deploy, a_new_instance_failing_while_baking_rolls_back_blue_green_at_every_step)
{
	for (unsigned step = 1; step <= 3; step++) {
		deploy_state_clear(&state);
		begin(linear(count(1), 60), 3, 3);
		new_fleet_healthy();
		for (unsigned k = 1; k < step; k++)
			tick(60);
		cr_assert_eq(state.step, step);
		view.new_failure = "health check failed: /ping returned 500";
		tick(1);
		expect(DEPLOY_ROLLED_BACK, 0, 3, 0, 0);
		cr_assert_str_eq(state.reason,
				 "The new fleet failed: health check failed: /ping returned 500");
	}
}

Test(deploy, an_alarm_while_baking_rolls_back_and_names_the_alarm)
{
	begin(canary(count(1), 300), 4, 4);
	new_fleet_healthy();
	view.alarm = alarm_reason;
	tick(10);
	expect(DEPLOY_ROLLED_BACK, 0, 4, 0, 0);
	cr_assert_str_eq(state.reason,
			 "Rolled back: Alarm latency-high in ALARM: Threshold Crossed: 1 datapoint "
			 "[812.0] was greater than the threshold (500.0).");
}

Test(deploy, an_alarm_before_any_traffic_shifted_is_ignored)
{
	begin(canary(count(1), 300), 4, 4);
	view.alarm = alarm_reason;
	tick(10);
	expect(DEPLOY_LAUNCHING, 4, 4, 0, 0);
	view.alarm = NULL;
	new_fleet_healthy();
	expect(DEPLOY_BAKING, 4, 4, 0.25, now + 300);
}

Test(deploy, an_alarm_still_firing_when_traffic_shifts_rolls_back)
{
	begin(all_at_once(300), 2, 2);
	view.alarm = alarm_reason;
	new_fleet_healthy();
	expect(DEPLOY_ROLLED_BACK, 0, 2, 0, 0);
}

Test(deploy, an_alarm_when_the_last_bake_ends_rolls_back_rather_than_completing)
{
	begin(all_at_once(300), 2, 2);
	new_fleet_healthy();
	view.alarm = alarm_reason;
	tick(300);
	expect(DEPLOY_ROLLED_BACK, 0, 2, 0, 0);
}

Test(deploy, a_new_failure_is_the_reason_when_an_alarm_fires_too)
{
	begin(all_at_once(300), 2, 2);
	new_fleet_healthy();
	view.alarm = alarm_reason;
	view.new_failure = "container exited with status 1";
	tick(1);
	cr_assert_str_eq(state.reason, "The new fleet failed: container exited with status 1");
}

Test(deploy, the_execution_deadline_is_the_wake_time_while_launching)
{
	struct deploy_policy p = all_at_once(300);
	p.max_execution_s = 900;
	begin(p, 2, 2);
	expect(DEPLOY_LAUNCHING, 2, 2, 0, T0 + 900);
}

Test(deploy, the_wake_time_is_the_earlier_of_bake_end_and_deadline)
{
	struct deploy_policy p = linear(count(1), 600);
	p.max_execution_s = 900;
	begin(p, 2, 2);
	new_fleet_healthy();
	expect(DEPLOY_BAKING, 2, 2, 0.5, T0 + 600);
	tick(600);
	expect(DEPLOY_BAKING, 2, 2, 1, T0 + 900);
}

Test(deploy, passing_the_execution_deadline_rolls_back_and_says_so)
{
	struct deploy_policy p = linear(count(1), 600);
	p.max_execution_s = 900;
	begin(p, 2, 2);
	new_fleet_healthy();
	tick(600);
	tick(300);
	expect(DEPLOY_ROLLED_BACK, 0, 2, 0, 0);
	cr_assert_str_eq(state.reason, "Rolled back: the update did not complete within "
				       "MaximumExecutionTimeoutInSeconds (900 seconds).");
}

Test(deploy, a_rollout_never_healthy_rolls_back_at_the_deadline)
{
	struct deploy_policy p = rolling(count(1), 60, no_size);
	p.max_execution_s = 600;
	begin(p, 2, 2);
	tick(599);
	expect(DEPLOY_LAUNCHING, 1, 2, 0, T0 + 600);
	tick(1);
	cr_assert_eq(state.phase, DEPLOY_ROLLED_BACK);
	cr_assert_not_null(strstr(state.reason, "(600 seconds)"));
}

Test(deploy, an_old_instance_failing_outside_a_rollback_changes_nothing)
{
	begin(canary(count(1), 300), 4, 4);
	new_fleet_healthy();
	view.old_failure = "container exited with status 1";
	tick(10);
	expect(DEPLOY_BAKING, 4, 4, 0.25, T0 + 300);
	cr_assert_null(state.reason);
}

Test(deploy, words_from_outside_are_made_safe_and_short_in_the_reason)
{
	char failure[5000];
	memset(failure, 'x', sizeof(failure) - 1);
	failure[sizeof(failure) - 1] = 0;
	failure[0] = (char)0xff;
	begin(all_at_once(0), 1, 1);
	view.new_failure = failure;
	settle();
	cr_assert(utf8_valid(state.reason, strlen(state.reason)));
	cr_assert_leq(strlen(state.reason), 1024);
	static const char start[] = "The new fleet failed: " UTF8_REPLACEMENT "xxx";
	cr_assert(strncmp(state.reason, start, sizeof(start) - 1) == 0, "%s", state.reason);
}

/* Rolling rollbacks */

/* A rolling rollout of old 4 -> new 4 in batches of 1, baking batch 3. */
static void rolling_to_third_batch(struct deploy_size rollback_batch)
{
	begin(rolling(count(1), 60, rollback_batch), 4, 4);
	for (unsigned b = 1; b <= 3; b++) {
		new_fleet_healthy();
		view.old_healthy = state.old_target;
		if (b < 3)
			tick(60);
	}
	expect(DEPLOY_BAKING, 3, 1, 0.75, now + 60);
}

Test(deploy, rolling_rollback_restores_old_instances_in_batches)
{
	rolling_to_third_batch(count(1));
	view.alarm = alarm_reason;
	tick(10);
	/* The one old instance serving: ask for a second; the new fleet keeps its share. */
	expect(DEPLOY_ROLLING_BACK, 3, 2, 0.75, 0);
	cr_assert_str_eq(state.reason,
			 "Rolled back: Alarm latency-high in ALARM: Threshold Crossed: 1 datapoint "
			 "[812.0] was greater than the threshold (500.0).");
	cr_assert_eq(state.phase_since, now);
	old_fleet_healthy();
	expect(DEPLOY_ROLLING_BACK, 2, 3, 0.5, 0);
	old_fleet_healthy();
	expect(DEPLOY_ROLLING_BACK, 1, 4, 0.25, 0);
	old_fleet_healthy();
	expect(DEPLOY_ROLLED_BACK, 0, 4, 0, 0);
}

Test(deploy, rolling_rollback_waits_for_each_restore_batch)
{
	rolling_to_third_batch(count(1));
	view.alarm = alarm_reason;
	tick(10);
	tick(600);
	expect(DEPLOY_ROLLING_BACK, 3, 2, 0.75, 0);
}

Test(deploy, rolling_rollback_without_a_batch_size_restores_the_old_fleet_at_once)
{
	rolling_to_third_batch(no_size);
	view.new_failure = "container exited with status 1";
	tick(10);
	expect(DEPLOY_ROLLING_BACK, 3, 4, 0.75, 0);
	old_fleet_healthy();
	expect(DEPLOY_ROLLED_BACK, 0, 4, 0, 0);
}

Test(deploy, rolling_rollback_drops_the_batch_that_was_still_launching)
{
	rolling_to_third_batch(count(1));
	tick(60);
	expect(DEPLOY_LAUNCHING, 4, 1, 0.75, 0);
	view.new_failure = "container exited with status 1";
	tick(1);
	expect(DEPLOY_ROLLING_BACK, 3, 2, 0.75, 0);
}

Test(deploy, rolling_rollback_of_the_first_batch_ends_at_once)
{
	begin(rolling(count(1), 60, count(1)), 4, 4);
	view.new_failure = "container exited with status 1";
	tick(1);
	expect(DEPLOY_ROLLED_BACK, 0, 4, 0, 0);
}

Test(deploy, rolling_rollback_keeps_calls_on_the_new_fleet_until_old_instances_serve)
{
	begin(rolling(count(1), 60, count(1)), 2, 2);
	new_fleet_healthy();
	tick(60);
	new_fleet_healthy();
	expect(DEPLOY_BAKING, 2, 0, 1, now + 60);
	view.old_healthy = 0;
	view.alarm = alarm_reason;
	tick(1);
	expect(DEPLOY_ROLLING_BACK, 2, 1, 1, 0);
	old_fleet_healthy();
	expect(DEPLOY_ROLLING_BACK, 1, 2, 0.5, 0);
	old_fleet_healthy();
	expect(DEPLOY_ROLLED_BACK, 0, 2, 0, 0);
}

Test(deploy, rolling_rollback_ignores_the_deadline_and_alarms)
{
	struct deploy_policy p = rolling(count(1), 60, count(1));
	p.max_execution_s = 600;
	begin(p, 2, 2);
	new_fleet_healthy();
	view.old_healthy = state.old_target;
	view.alarm = alarm_reason;
	tick(1);
	expect(DEPLOY_ROLLING_BACK, 1, 2, 0.5, 0);
	tick(3600);
	expect(DEPLOY_ROLLING_BACK, 1, 2, 0.5, 0);
	old_fleet_healthy();
	expect(DEPLOY_ROLLED_BACK, 0, 2, 0, 0);
}

Test(deploy, an_old_instance_failing_during_a_rolling_rollback_fails_the_rollback)
{
	rolling_to_third_batch(count(1));
	view.alarm = alarm_reason;
	tick(10);
	old_fleet_healthy();
	view.old_failure = "container exited with status 1";
	tick(5);
	cr_assert_eq(state.phase, DEPLOY_ROLLBACK_FAILED);
	cr_assert_eq(wake, 0);
	cr_assert(deploy_ended(&state));
	cr_assert_str_eq(state.reason,
			 "Rolled back: Alarm latency-high in ALARM: Threshold Crossed: 1 datapoint "
			 "[812.0] was greater than the threshold (500.0). The rollback failed too: "
			 "container exited with status 1");
}

Test(deploy, a_failed_rollback_reason_keeps_both_causes_however_long)
{
	char failure[3000];
	memset(failure, 'n', sizeof(failure) - 1);
	failure[sizeof(failure) - 1] = 0;
	rolling_to_third_batch(count(1));
	view.new_failure = failure;
	tick(10);
	view.old_failure = "old instance gone";
	tick(5);
	cr_assert_leq(strlen(state.reason), 1024);
	cr_assert_not_null(strstr(state.reason, "The rollback failed too: old instance gone"));
}

/* Ended rollouts */

Test(deploy, a_done_rollout_never_changes_again)
{
	begin(all_at_once(0), 2, 2);
	new_fleet_healthy();
	cr_assert_eq(state.phase, DEPLOY_DONE);
	view.new_failure = "container exited with status 1";
	view.alarm = alarm_reason;
	view.old_failure = "container exited with status 1";
	tick(100000);
	expect(DEPLOY_DONE, 2, 0, 1, 0);
	cr_assert_null(state.reason);
}

Test(deploy, a_rolled_back_rollout_never_changes_again)
{
	begin(all_at_once(0), 2, 2);
	view.new_failure = "container exited with status 1";
	settle();
	view.new_failure = NULL;
	view.new_healthy = 2;
	view.old_failure = "container exited with status 2";
	tick(100000);
	expect(DEPLOY_ROLLED_BACK, 0, 2, 0, 0);
	cr_assert_str_eq(state.reason, "The new fleet failed: container exited with status 1");
}

Test(deploy, a_failed_rollback_never_changes_again)
{
	rolling_to_third_batch(count(1));
	view.alarm = alarm_reason;
	tick(10);
	view.old_failure = "container exited with status 1";
	settle();
	cr_assert_eq(state.phase, DEPLOY_ROLLBACK_FAILED);
	view.old_failure = NULL;
	view.old_healthy = 4;
	tick(10);
	cr_assert_eq(state.phase, DEPLOY_ROLLBACK_FAILED);
	cr_assert_eq(wake, 0);
}

/* Phase names */

Test(deploy, phases_have_their_journal_names)
{
	cr_assert_str_eq(deploy_phase_to_string(DEPLOY_LAUNCHING), "Launching");
	cr_assert_str_eq(deploy_phase_to_string(DEPLOY_BAKING), "Baking");
	cr_assert_str_eq(deploy_phase_to_string(DEPLOY_ROLLING_BACK), "RollingBack");
	cr_assert_str_eq(deploy_phase_to_string(DEPLOY_DONE), "Done");
	cr_assert_str_eq(deploy_phase_to_string(DEPLOY_ROLLED_BACK), "RolledBack");
	cr_assert_str_eq(deploy_phase_to_string(DEPLOY_ROLLBACK_FAILED), "RollbackFailed");
}

/* DeploymentConfig JSON */

/* Alarm names as the API hands them over (owned by the policy, so not const). */
static char latency_high[] = "latency-high";
static char errors_high[] = "errors-high";

static void expect_json(json_t *actual, const char *expected)
{
	json_t *e = json_loads(expected, 0, NULL);
	cr_assert_not_null(e, "bad expected JSON %s", expected);
	char *shown = json_dumps(actual, JSON_SORT_KEYS);
	cr_assert(json_equal(actual, e), "got %s", shown);
	free(shown);
	json_decref(e);
}

Test(deploy, policy_json_of_a_canary_has_sagemakers_shape)
{
	struct deploy_policy p = canary(count(1), 600);
	p.termination_wait_s = 120;
	p.max_execution_s = 1800;
	p.alarms[0] = latency_high;
	p.alarms[1] = errors_high;
	p.n_alarms = 2;
	json_t *j = deploy_policy_to_json(&p);
	expect_json(j, "{\"BlueGreenUpdatePolicy\": {"
		       "  \"TrafficRoutingConfiguration\": {\"Type\": \"CANARY\","
		       "    \"WaitIntervalInSeconds\": 600,"
		       "    \"CanarySize\": {\"Type\": \"INSTANCE_COUNT\", \"Value\": 1}},"
		       "  \"TerminationWaitInSeconds\": 120,"
		       "  \"MaximumExecutionTimeoutInSeconds\": 1800},"
		       " \"AutoRollbackConfiguration\": {\"Alarms\": ["
		       "  {\"AlarmName\": \"latency-high\"}, {\"AlarmName\": \"errors-high\"}]}}");
	json_decref(j);
}

Test(deploy, policy_json_of_a_linear_rollout_has_its_step_size)
{
	struct deploy_policy p = linear(percent(20), 60);
	json_t *j = deploy_policy_to_json(&p);
	expect_json(j, "{\"BlueGreenUpdatePolicy\": {"
		       "  \"TrafficRoutingConfiguration\": {\"Type\": \"LINEAR\","
		       "    \"WaitIntervalInSeconds\": 60,"
		       "    \"LinearStepSize\": {\"Type\": \"CAPACITY_PERCENT\", \"Value\": 20}}}}");
	json_decref(j);
}

Test(deploy, policy_json_omits_members_not_given)
{
	struct deploy_policy p = all_at_once(0);
	json_t *j = deploy_policy_to_json(&p);
	expect_json(j, "{\"BlueGreenUpdatePolicy\": {\"TrafficRoutingConfiguration\": "
		       "{\"Type\": \"ALL_AT_ONCE\", \"WaitIntervalInSeconds\": 0}}}");
	json_decref(j);
}

Test(deploy, policy_json_of_a_rolling_update_has_sagemakers_shape)
{
	struct deploy_policy p = rolling(percent(25), 300, count(2));
	p.max_execution_s = 3600;
	json_t *j = deploy_policy_to_json(&p);
	expect_json(j, "{\"RollingUpdatePolicy\": {"
		       "  \"MaximumBatchSize\": {\"Type\": \"CAPACITY_PERCENT\", \"Value\": 25},"
		       "  \"WaitIntervalInSeconds\": 300,"
		       "  \"MaximumExecutionTimeoutInSeconds\": 3600,"
		       "  \"RollbackMaximumBatchSize\": {\"Type\": \"INSTANCE_COUNT\", \"Value\": 2}}}");
	json_decref(j);
}

Test(deploy, policy_json_of_an_update_without_deployment_config_is_null)
{
	struct deploy_policy p = {.kind = DEPLOY_ALL_AT_ONCE};
	cr_assert_null(deploy_policy_to_json(&p));
}

/* to_json, from_json, to_json again: the same document and the same policy. */
static void expect_policy_round_trip(struct deploy_policy p)
{
	json_t *j = deploy_policy_to_json(&p);
	char *error = NULL;
	cr_assert_eq(deploy_policy_from_json(j, &policy, &error), 0, "%s", error);
	cr_assert_eq(policy.kind, p.kind);
	cr_assert_eq(policy.given, p.given);
	cr_assert_eq(policy.step.type, p.step.type);
	cr_assert_eq(policy.step.value, p.step.value);
	cr_assert_eq(policy.rollback.type, p.rollback.type);
	cr_assert_eq(policy.rollback.value, p.rollback.value);
	cr_assert_eq(policy.wait_s, p.wait_s);
	cr_assert_eq(policy.termination_wait_s, p.termination_wait_s);
	cr_assert_eq(policy.max_execution_s, p.max_execution_s);
	cr_assert_eq(policy.n_alarms, p.n_alarms);
	for (size_t i = 0; i < p.n_alarms; i++)
		cr_assert_str_eq(policy.alarms[i], p.alarms[i]);
	json_t *again = deploy_policy_to_json(&policy);
	cr_assert(json_equal(j, again));
	json_decref(j);
	json_decref(again);
}

Test(deploy, policy_json_round_trips_every_kind)
{
	struct deploy_policy p = canary(percent(10), 600);
	p.termination_wait_s = 3600;
	p.max_execution_s = 28800;
	p.alarms[0] = latency_high;
	p.n_alarms = 1;
	expect_policy_round_trip(p);
	deploy_policy_clear(&policy);
	expect_policy_round_trip(all_at_once(3600));
	deploy_policy_clear(&policy);
	expect_policy_round_trip(linear(count(3), 0));
	deploy_policy_clear(&policy);
	p = rolling(count(1), 60, percent(50));
	p.max_execution_s = 600;
	expect_policy_round_trip(p);
	deploy_policy_clear(&policy);
	expect_policy_round_trip(rolling(percent(5), 60, no_size));
}

Test(deploy, policy_json_keeps_ten_alarms)
{
	static char names[DEPLOY_MAX_ALARMS][8];
	struct deploy_policy p = all_at_once(60);
	for (size_t i = 0; i < DEPLOY_MAX_ALARMS; i++) {
		snprintf(names[i], sizeof(names[i]), "alarm-%zu", i);
		p.alarms[i] = names[i];
	}
	p.n_alarms = DEPLOY_MAX_ALARMS;
	expect_policy_round_trip(p);
}

Test(deploy, policy_json_null_reads_as_no_deployment_config)
{
	char *error = NULL;
	cr_assert_eq(deploy_policy_from_json(NULL, &policy, &error), 0);
	cr_assert_not(policy.given);
	cr_assert_eq(policy.kind, DEPLOY_ALL_AT_ONCE);
	json_t *null = json_null();
	cr_assert_eq(deploy_policy_from_json(null, &policy, &error), 0);
	cr_assert_not(policy.given);
	json_decref(null);
}

Test(deploy, policy_json_with_only_alarms_is_all_at_once)
{
	json_t *j = json_loads("{\"AutoRollbackConfiguration\": {\"Alarms\": "
			       "[{\"AlarmName\": \"latency-high\"}]}}",
			       0, NULL);
	char *error = NULL;
	cr_assert_eq(deploy_policy_from_json(j, &policy, &error), 0, "%s", error);
	cr_assert(policy.given);
	cr_assert_eq(policy.kind, DEPLOY_ALL_AT_ONCE);
	cr_assert_eq(policy.n_alarms, 1);
	cr_assert_str_eq(policy.alarms[0], "latency-high");
	json_decref(j);
}

/* A hostile document is refused, names the member, and leaves the policy alone. */
static void expect_policy_refused(const char *text, const char *member)
{
	json_t *j = json_loads(text, 0, NULL);
	cr_assert_not_null(j, "bad test JSON %s", text);
	struct deploy_policy p = {.kind = DEPLOY_LINEAR, .wait_s = 42};
	char *error = NULL;
	cr_assert_eq(deploy_policy_from_json(j, &p, &error), -EINVAL, "accepted %s", text);
	cr_assert_not_null(error);
	cr_assert_not_null(strstr(error, member), "error \"%s\" does not name %s", error, member);
	cr_assert_eq(p.kind, DEPLOY_LINEAR);
	cr_assert_eq(p.wait_s, 42);
	cr_assert_not(p.given);
	free(error);
	json_decref(j);
}

#define BG(routing) "{\"BlueGreenUpdatePolicy\": {\"TrafficRoutingConfiguration\": " routing "}}"
#define ROLLING(members) "{\"RollingUpdatePolicy\": {" members "}}"
#define BATCH "\"MaximumBatchSize\": {\"Type\": \"INSTANCE_COUNT\", \"Value\": 1}"

Test(deploy, policy_json_that_is_not_an_object_is_refused)
{
	expect_policy_refused("[]", "DeploymentConfig");
}

Test(deploy, policy_json_with_an_unknown_member_is_refused)
{
	expect_policy_refused("{\"BlueGreenUpdatePolicy\": {\"TrafficRoutingConfiguration\": "
			      "{\"Type\": \"ALL_AT_ONCE\", \"WaitIntervalInSeconds\": 0}, "
			      "\"Surprise\": 1}}",
			      "Surprise");
}

Test(deploy, policy_json_with_both_update_policies_is_refused)
{
	expect_policy_refused("{\"BlueGreenUpdatePolicy\": {\"TrafficRoutingConfiguration\": "
			      "{\"Type\": \"ALL_AT_ONCE\", \"WaitIntervalInSeconds\": 0}}, "
			      "\"RollingUpdatePolicy\": {" BATCH ", \"WaitIntervalInSeconds\": 0}}",
			      "RollingUpdatePolicy");
}

Test(deploy, policy_json_with_an_unknown_routing_type_is_refused)
{
	expect_policy_refused(BG("{\"Type\": \"BLUE\", \"WaitIntervalInSeconds\": 0}"),
			      "TrafficRoutingConfiguration.Type");
}

Test(deploy, policy_json_without_a_routing_type_is_refused)
{
	expect_policy_refused(BG("{\"WaitIntervalInSeconds\": 0}"),
			      "TrafficRoutingConfiguration.Type");
}

Test(deploy, policy_json_without_traffic_routing_is_refused)
{
	expect_policy_refused("{\"BlueGreenUpdatePolicy\": {}}", "TrafficRoutingConfiguration");
}

Test(deploy, policy_json_with_a_wait_given_as_a_string_is_refused)
{
	expect_policy_refused(BG("{\"Type\": \"ALL_AT_ONCE\", \"WaitIntervalInSeconds\": \"60\"}"),
			      "WaitIntervalInSeconds");
}

Test(deploy, policy_json_with_a_wait_past_an_hour_is_refused)
{
	expect_policy_refused(BG("{\"Type\": \"ALL_AT_ONCE\", \"WaitIntervalInSeconds\": 3601}"),
			      "WaitIntervalInSeconds");
}

Test(deploy, policy_json_with_a_negative_wait_is_refused)
{
	expect_policy_refused(BG("{\"Type\": \"ALL_AT_ONCE\", \"WaitIntervalInSeconds\": -1}"),
			      "WaitIntervalInSeconds");
}

Test(deploy, policy_json_with_a_fractional_wait_is_refused)
{
	expect_policy_refused(BG("{\"Type\": \"ALL_AT_ONCE\", \"WaitIntervalInSeconds\": 1.5}"),
			      "WaitIntervalInSeconds");
}

Test(deploy, policy_json_with_an_execution_timeout_under_ten_minutes_is_refused)
{
	expect_policy_refused("{\"BlueGreenUpdatePolicy\": {\"TrafficRoutingConfiguration\": "
			      "{\"Type\": \"ALL_AT_ONCE\", \"WaitIntervalInSeconds\": 0}, "
			      "\"MaximumExecutionTimeoutInSeconds\": 599}}",
			      "MaximumExecutionTimeoutInSeconds");
}

Test(deploy, policy_json_with_a_termination_wait_past_an_hour_is_refused)
{
	expect_policy_refused("{\"BlueGreenUpdatePolicy\": {\"TrafficRoutingConfiguration\": "
			      "{\"Type\": \"ALL_AT_ONCE\", \"WaitIntervalInSeconds\": 0}, "
			      "\"TerminationWaitInSeconds\": 3601}}",
			      "TerminationWaitInSeconds");
}

Test(deploy, policy_json_of_a_canary_without_its_size_is_refused)
{
	expect_policy_refused(BG("{\"Type\": \"CANARY\", \"WaitIntervalInSeconds\": 0}"),
			      "CanarySize");
}

Test(deploy, policy_json_with_a_size_for_another_type_is_refused)
{
	expect_policy_refused(BG("{\"Type\": \"LINEAR\", \"WaitIntervalInSeconds\": 0, "
				 "\"LinearStepSize\": {\"Type\": \"INSTANCE_COUNT\", \"Value\": 1}, "
				 "\"CanarySize\": {\"Type\": \"INSTANCE_COUNT\", \"Value\": 1}}"),
			      "CanarySize");
}

Test(deploy, policy_json_with_a_size_of_zero_is_refused)
{
	expect_policy_refused(BG("{\"Type\": \"CANARY\", \"WaitIntervalInSeconds\": 0, "
				 "\"CanarySize\": {\"Type\": \"INSTANCE_COUNT\", \"Value\": 0}}"),
			      "CanarySize.Value");
}

Test(deploy, policy_json_with_a_percent_over_a_hundred_is_refused)
{
	expect_policy_refused(BG("{\"Type\": \"LINEAR\", \"WaitIntervalInSeconds\": 0, "
				 "\"LinearStepSize\": {\"Type\": \"CAPACITY_PERCENT\", \"Value\": "
				 "101}}"),
			      "LinearStepSize.Value");
}

Test(deploy, policy_json_with_an_unknown_size_type_is_refused)
{
	expect_policy_refused(ROLLING("\"MaximumBatchSize\": {\"Type\": \"HALF\", \"Value\": 1}, "
				      "\"WaitIntervalInSeconds\": 0"),
			      "MaximumBatchSize.Type");
}

Test(deploy, policy_json_with_a_size_that_is_not_an_object_is_refused)
{
	expect_policy_refused(ROLLING("\"MaximumBatchSize\": 1, \"WaitIntervalInSeconds\": 0"),
			      "MaximumBatchSize");
}

Test(deploy, policy_json_of_a_rolling_update_without_a_batch_size_is_refused)
{
	expect_policy_refused(ROLLING("\"WaitIntervalInSeconds\": 0"), "MaximumBatchSize");
}

Test(deploy, policy_json_of_a_rolling_update_without_a_wait_is_refused)
{
	expect_policy_refused(ROLLING(BATCH), "RollingUpdatePolicy.WaitIntervalInSeconds");
}

Test(deploy, policy_json_of_a_rolling_update_with_a_termination_wait_is_refused)
{
	expect_policy_refused(ROLLING(BATCH ", \"WaitIntervalInSeconds\": 0, "
					    "\"TerminationWaitInSeconds\": 0"),
			      "TerminationWaitInSeconds");
}

Test(deploy, policy_json_with_a_bad_rollback_batch_is_refused)
{
	expect_policy_refused(ROLLING(BATCH ", \"WaitIntervalInSeconds\": 0, "
					    "\"RollbackMaximumBatchSize\": {\"Type\": "
					    "\"INSTANCE_COUNT\"}"),
			      "RollbackMaximumBatchSize.Value");
}

Test(deploy, policy_json_with_eleven_alarms_is_refused)
{
	expect_policy_refused("{\"AutoRollbackConfiguration\": {\"Alarms\": ["
			      "{\"AlarmName\": \"a\"}, {\"AlarmName\": \"a\"}, "
			      "{\"AlarmName\": \"a\"}, {\"AlarmName\": \"a\"}, "
			      "{\"AlarmName\": \"a\"}, {\"AlarmName\": \"a\"}, "
			      "{\"AlarmName\": \"a\"}, {\"AlarmName\": \"a\"}, "
			      "{\"AlarmName\": \"a\"}, {\"AlarmName\": \"a\"}, "
			      "{\"AlarmName\": \"a\"}]}}",
			      "Alarms");
}

Test(deploy, policy_json_with_an_empty_alarm_list_is_refused)
{
	expect_policy_refused("{\"AutoRollbackConfiguration\": {\"Alarms\": []}}", "Alarms");
}

Test(deploy, policy_json_with_a_blank_alarm_name_is_refused)
{
	expect_policy_refused("{\"AutoRollbackConfiguration\": {\"Alarms\": "
			      "[{\"AlarmName\": \"ok\"}, {\"AlarmName\": \"  \"}]}}",
			      "Alarms[1].AlarmName");
}

Test(deploy, policy_json_with_an_alarm_name_of_256_characters_is_refused)
{
	char text[512];
	char name[257];
	memset(name, 'a', 256);
	name[256] = 0;
	snprintf(text, sizeof(text),
		 "{\"AutoRollbackConfiguration\": {\"Alarms\": [{\"AlarmName\": \"%s\"}]}}", name);
	expect_policy_refused(text, "Alarms[0].AlarmName");
}

Test(deploy, policy_json_with_an_alarm_without_a_name_is_refused)
{
	expect_policy_refused("{\"AutoRollbackConfiguration\": {\"Alarms\": [{}]}}",
			      "Alarms[0].AlarmName");
}

Test(deploy, policy_json_with_an_alarm_name_that_is_a_number_is_refused)
{
	expect_policy_refused("{\"AutoRollbackConfiguration\": {\"Alarms\": [{\"AlarmName\": 7}]}}",
			      "Alarms[0].AlarmName");
}

/* Deploy state JSON */

Test(deploy, state_json_round_trips_a_rollback_with_its_reason)
{
	static char reason[] = "Rolled back: Alarm x in ALARM: too slow";
	struct deploy_state s = {.phase = DEPLOY_ROLLING_BACK,
				 .started = T0,
				 .phase_since = T0 + 61.5,
				 .step = 3,
				 .new_target = 3,
				 .old_target = 2,
				 .new_share = 0.75,
				 .reason = reason};
	json_t *j = deploy_state_to_json(&s);
	char *error = NULL;
	cr_assert_eq(deploy_state_from_json(j, &state, &error), 0, "%s", error);
	cr_assert_eq(state.phase, DEPLOY_ROLLING_BACK);
	cr_assert_eq(state.started, T0);
	cr_assert_eq(state.phase_since, T0 + 61.5);
	cr_assert_eq(state.bake_until, 0);
	cr_assert_eq(state.step, 3);
	cr_assert_eq(state.new_target, 3);
	cr_assert_eq(state.old_target, 2);
	cr_assert_eq(state.new_share, 0.75);
	cr_assert_str_eq(state.reason, s.reason);
	json_decref(j);
}

Test(deploy, state_json_round_trips_a_bake_exactly)
{
	begin(linear(count(1), 60), 3, 3);
	new_fleet_healthy();
	json_t *j = deploy_state_to_json(&state);
	expect_json(j, "{\"Phase\": \"Baking\", \"Started\": 1700000000.0, "
		       "\"PhaseSince\": 1700000000.0, \"BakeUntil\": 1700000060.0, \"Step\": 1, "
		       "\"NewTarget\": 3, \"OldTarget\": 3, \"NewShare\": 0.33333333333333331}");
	struct deploy_state back;
	char *error = NULL;
	cr_assert_eq(deploy_state_from_json(j, &back, &error), 0, "%s", error);
	cr_assert_eq(back.new_share, state.new_share);
	cr_assert_eq(back.bake_until, state.bake_until);
	cr_assert_null(back.reason);
	json_decref(j);
}

Test(deploy, state_json_carries_a_rollout_on_after_a_restart)
{
	begin(linear(count(1), 60), 3, 3);
	new_fleet_healthy();
	json_t *j = deploy_state_to_json(&state);
	deploy_state_clear(&state);
	char *error = NULL;
	cr_assert_eq(deploy_state_from_json(j, &state, &error), 0, "%s", error);
	tick(60);
	expect(DEPLOY_BAKING, 3, 3, 2 / 3.0, T0 + 120);
	json_decref(j);
}

/* A hostile state is refused, names the member, and leaves the state alone. */
static void expect_state_refused(const char *text, const char *member)
{
	json_t *j = json_loads(text, JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL);
	cr_assert_not_null(j, "bad test JSON %s", text);
	struct deploy_state s = {.phase = DEPLOY_DONE, .step = 42};
	char *error = NULL;
	cr_assert_eq(deploy_state_from_json(j, &s, &error), -EINVAL, "accepted %s", text);
	cr_assert_not_null(error);
	cr_assert_not_null(strstr(error, member), "error \"%s\" does not name %s", error, member);
	cr_assert_eq(s.phase, DEPLOY_DONE);
	cr_assert_eq(s.step, 42);
	cr_assert_null(s.reason);
	free(error);
	json_decref(j);
}

#define STATE_WITH(phase, share, extra)                                                     \
	"{\"Phase\": " phase ", \"Started\": 1700000000, \"PhaseSince\": 1700000000, "       \
	"\"BakeUntil\": 0, \"Step\": 1, \"NewTarget\": 2, \"OldTarget\": 2, \"NewShare\": " \
	share extra "}"

Test(deploy, state_json_that_the_test_builds_is_accepted)
{
	json_t *j = json_loads(STATE_WITH("\"Launching\"", "0", ""), 0, NULL);
	char *error = NULL;
	cr_assert_eq(deploy_state_from_json(j, &state, &error), 0, "%s", error);
	json_decref(j);
}

Test(deploy, state_json_with_an_unknown_phase_is_refused)
{
	expect_state_refused(STATE_WITH("\"Paused\"", "0", ""), "Phase");
}

Test(deploy, state_json_with_a_phase_given_as_a_number_is_refused)
{
	expect_state_refused(STATE_WITH("1", "0", ""), "Phase");
}

Test(deploy, state_json_with_a_share_over_one_is_refused)
{
	expect_state_refused(STATE_WITH("\"Baking\"", "1.5", ""), "NewShare");
}

Test(deploy, state_json_with_a_share_given_as_a_string_is_refused)
{
	expect_state_refused(STATE_WITH("\"Baking\"", "\"half\"", ""), "NewShare");
}

Test(deploy, state_json_with_an_unknown_member_is_refused)
{
	expect_state_refused(STATE_WITH("\"Baking\"", "0.5", ", \"Surprise\": true"), "Surprise");
}

Test(deploy, state_json_with_a_reason_outside_a_rollback_is_refused)
{
	expect_state_refused(STATE_WITH("\"Done\"", "1", ", \"Reason\": \"why\""), "Reason");
}

Test(deploy, state_json_of_a_rollback_without_a_reason_is_refused)
{
	expect_state_refused(STATE_WITH("\"RolledBack\"", "0", ""), "Reason");
}

Test(deploy, state_json_with_a_reason_that_is_not_text_is_refused)
{
	expect_state_refused(STATE_WITH("\"RolledBack\"", "0", ", \"Reason\": [\"why\"]"),
			     "Reason");
}

Test(deploy, state_json_with_a_reason_holding_a_nul_is_refused)
{
	expect_state_refused(STATE_WITH("\"RolledBack\"", "0", ", \"Reason\": \"a\\u0000b\""),
			     "Reason");
}

Test(deploy, state_json_with_a_negative_step_is_refused)
{
	expect_state_refused("{\"Phase\": \"Baking\", \"Started\": 1, \"PhaseSince\": 1, "
			     "\"BakeUntil\": 0, \"Step\": -1, \"NewTarget\": 2, \"OldTarget\": 2, "
			     "\"NewShare\": 0}",
			     "Step");
}

Test(deploy, state_json_with_a_target_past_the_range_is_refused)
{
	expect_state_refused("{\"Phase\": \"Baking\", \"Started\": 1, \"PhaseSince\": 1, "
			     "\"BakeUntil\": 0, \"Step\": 1, \"NewTarget\": 4294967296, "
			     "\"OldTarget\": 2, \"NewShare\": 0}",
			     "NewTarget");
}

Test(deploy, state_json_with_a_time_given_as_a_string_is_refused)
{
	expect_state_refused("{\"Phase\": \"Baking\", \"Started\": \"yesterday\", "
			     "\"PhaseSince\": 1, \"BakeUntil\": 0, \"Step\": 1, \"NewTarget\": 2, "
			     "\"OldTarget\": 2, \"NewShare\": 0}",
			     "Started");
}

Test(deploy, state_json_with_a_time_before_1970_is_refused)
{
	expect_state_refused("{\"Phase\": \"Baking\", \"Started\": 1, \"PhaseSince\": 1, "
			     "\"BakeUntil\": -5, \"Step\": 1, \"NewTarget\": 2, "
			     "\"OldTarget\": 2, \"NewShare\": 0}",
			     "BakeUntil");
}

Test(deploy, state_json_without_a_member_is_refused)
{
	expect_state_refused("{\"Phase\": \"Baking\", \"Started\": 1, \"PhaseSince\": 1, "
			     "\"BakeUntil\": 0, \"Step\": 1, \"NewTarget\": 2, \"NewShare\": 0}",
			     "OldTarget");
}

Test(deploy, state_json_that_is_not_an_object_is_refused)
{
	expect_state_refused("\"Baking\"", "deploy state");
}
