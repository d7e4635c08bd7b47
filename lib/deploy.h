/*
 * The rollout planner of UpdateEndpoint: a pure function of (the policy, what
 * the two fleets look like now, where the rollout stands, the clock) that
 * says what the fleets should look like next.  It runs no container, starts
 * no timer and reads no clock: the endpoint carries its answers out (launch
 * or retire instances, shift traffic, switch the serving config, roll back)
 * and calls it again whenever something changed or the wake-up time it asked
 * for has come.
 *
 * Two fleets take part: the old one (serving when the update began) and the
 * new one (the target endpoint config).  Sizes are whole fleets, all variants
 * together; the endpoint spreads them over variants in proportion.
 *
 * Blue/green (ALL_AT_ONCE, CANARY, LINEAR): the whole new fleet is launched
 * beside the old one, which keeps all traffic until every new instance passed
 * its health checks; then the new fleet's share of traffic grows step by step
 * (1; canary then 1; linear steps then 1), baking wait_s after each step.
 * After the last bake the rollout is done and the old fleet goes (after
 * termination_wait_s, which the endpoint minds).
 *
 * Rolling: a batch of new instances is launched; once healthy, as many old
 * instances (in proportion) stop taking calls and traffic follows capacity;
 * bake wait_s; next batch, until the new fleet is whole and the old one gone.
 *
 * Rollback: a new instance that fails, an alarm while traffic goes to the new
 * fleet, or the execution time limit: all traffic back to the old fleet (for
 * rolling, once enough old instances run again, in batches of
 * rollback_batch), then the new fleet goes.  An old instance that fails while
 * the rollback needs it: the rollback failed.
 */
#ifndef ENDPOINTD_DEPLOY_H
#define ENDPOINTD_DEPLOY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum deploy_kind {
	DEPLOY_ALL_AT_ONCE, /* BlueGreenUpdatePolicy, or no DeploymentConfig */
	DEPLOY_CANARY,
	DEPLOY_LINEAR,
	DEPLOY_ROLLING, /* RollingUpdatePolicy */
};

enum deploy_size_type {
	DEPLOY_SIZE_NONE, /* not given */
	DEPLOY_SIZE_INSTANCE_COUNT,
	DEPLOY_SIZE_CAPACITY_PERCENT,
};

/* CapacitySize: Type and Value. */
struct deploy_size {
	enum deploy_size_type type;
	unsigned value;
};

#define DEPLOY_MAX_ALARMS 10

/* DeploymentConfig, as UpdateEndpoint took it. */
struct deploy_policy {
	enum deploy_kind kind;
	bool given;                   /* a DeploymentConfig came with the call */
	struct deploy_size step;      /* CanarySize, LinearStepSize, MaximumBatchSize */
	struct deploy_size rollback;  /* RollbackMaximumBatchSize; NONE: all at once */
	unsigned wait_s;              /* WaitIntervalInSeconds */
	unsigned termination_wait_s;  /* TerminationWaitInSeconds (blue/green) */
	unsigned max_execution_s;     /* MaximumExecutionTimeoutInSeconds; 0: none */
	char *alarms[DEPLOY_MAX_ALARMS]; /* AutoRollbackConfiguration.Alarms[].AlarmName */
	size_t n_alarms;
};

enum deploy_phase {
	DEPLOY_LAUNCHING,   /* new instances starting; VariantStatus Creating */
	DEPLOY_BAKING,      /* a traffic step made; watching; Baking (ActivatingTraffic at 0) */
	DEPLOY_ROLLING_BACK, /* traffic going back to the old fleet */
	DEPLOY_DONE,        /* the new fleet serves alone */
	DEPLOY_ROLLED_BACK, /* the old fleet serves alone again */
	DEPLOY_ROLLBACK_FAILED, /* the old fleet could not be restored */
};

/*
 * Where a rollout stands: the planner's memory between calls, journaled with
 * the endpoint so that a restart carries on where it stood.  Times are
 * seconds of the wall clock (they survive a restart).
 */
struct deploy_state {
	enum deploy_phase phase;
	double started;      /* when UpdateEndpoint was accepted */
	double phase_since;  /* when phase began */
	double bake_until;   /* BAKING: when this step's bake ends */
	unsigned step;       /* traffic steps made (blue/green) or batches launched (rolling) */
	unsigned new_target; /* new instances that should run */
	unsigned old_target; /* old instances that should take calls */
	double new_share;    /* the new fleet's share of calls, 0..1 */
	char *reason;        /* why it rolls back (owned), NULL otherwise */
};

/* What the fleets look like now (the endpoint counts it). */
struct deploy_view {
	unsigned old_total;   /* the old fleet's size when the update began */
	unsigned new_total;   /* the new fleet's full size */
	unsigned old_healthy; /* old instances among the first old_target passing their checks */
	unsigned new_healthy; /* new instances among the first new_target passing theirs */
	const char *new_failure; /* a new instance failed for good: why; NULL: none */
	const char *old_failure; /* an old instance the rollback needs failed: why */
	const char *alarm;       /* an alarm of the policy is in ALARM: its reason */
};

/* A fresh rollout's state, begun at now. */
void deploy_begin(struct deploy_state *s, const struct deploy_policy *p,
		  const struct deploy_view *v, double now);

/*
 * Moves s on as far as the view and the clock allow (several steps at once
 * when nothing holds them).  Returns when to be called again at the latest
 * (wall-clock seconds), or 0 when only a change in the fleets can move it
 * (or it has ended: DONE, ROLLED_BACK, ROLLBACK_FAILED).
 */
double deploy_next(struct deploy_state *s, const struct deploy_policy *p,
		   const struct deploy_view *v, double now);

/* Whether the new fleet takes all calls (the endpoint's config is the new one). */
bool deploy_switched(const struct deploy_state *s);
/* Whether the rollout has ended, one way or the other. */
bool deploy_ended(const struct deploy_state *s);

/* Instances a size means for a fleet of total (at least 1, at most total). */
unsigned deploy_size_instances(const struct deploy_size *size, unsigned total);

/* DeploymentConfig in the API's shape (DescribeEndpoint's LastDeploymentConfig). */
json_t *deploy_policy_to_json(const struct deploy_policy *p);
/* Reads what deploy_policy_to_json() wrote (the journal's copy): -EINVAL
 * with *ret_error when it is not such a document.  NULL (or JSON null), what
 * a policy not given writes, reads back as one (ALL_AT_ONCE, no wait). */
int deploy_policy_from_json(json_t *j, struct deploy_policy *p, char **ret_error);
void deploy_policy_clear(struct deploy_policy *p);

/* The state for the journal, and back (-EINVAL with *ret_error). */
json_t *deploy_state_to_json(const struct deploy_state *s);
int deploy_state_from_json(json_t *j, struct deploy_state *s, char **ret_error);
void deploy_state_clear(struct deploy_state *s);

const char *deploy_phase_to_string(enum deploy_phase phase);

#endif
