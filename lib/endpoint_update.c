/*
 * UpdateEndpoint and UpdateEndpointWeightsAndCapacities: carrying out what
 * the rollout planner (deploy.c) decides.
 *
 * DESIGN
 *
 * UpdateEndpoint builds the target config's fleet beside the serving one
 * (ep->pending; ep->fleet keeps serving), sets the endpoint Updating, and
 * from then on, whenever something may have changed (an instance passed or
 * failed its checks, the planner's wake-up time came, an alarm may have
 * tripped), counts what the fleets look like, asks deploy_next() where the
 * rollout stands now and makes it so:
 *
 *   new_target, old_target  spread over each fleet's variants in proportion
 *                           to their DesiredInstanceCount: slots past the
 *                           target drain and go, missing ones start;
 *   new_share               the proxy sends that share of calls to the new
 *                           fleet (proxy_pick_fleet);
 *   DONE                    the new fleet becomes the serving one, the old
 *                           one is retired after TerminationWaitInSeconds;
 *   ROLLING_BACK            status RollingBack while old instances return;
 *   ROLLED_BACK             the new fleet is retired, InService on the old
 *                           config with a FailureReason that says why;
 *   ROLLBACK_FAILED         UpdateRollbackFailed: both fleets stay as they
 *                           are, serving what they can.
 *
 * The planner's state is journaled with the endpoint at every step (the
 * record has both fleets), so a restart finds both fleets' containers,
 * adopts them and carries on from the step it had reached.
 *
 * A failure of the new fleet is written up in the container's own words
 * (endpoint_explain(), as for a Failed create) before the planner hears of
 * it; meanwhile the failed instance takes no calls.
 *
 * UpdateEndpointWeightsAndCapacities needs no planner: weights change at
 * once, counts move the serving fleet's variants, and the endpoint is
 * InService again when every instance they want passed its checks.
 */
#define _GNU_SOURCE
#include "endpoint.h"
#include "endpoint_private.h"

#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <string.h>

#include "alarm.h"
#include "journal.h"
#include "log.h"
#include "util.h"

/* How often alarms are looked at while the new fleet takes calls. */
#define UPDATE_ALARM_POLL_S 1.0

static void endpoint_update_timer_cb(evutil_socket_t fd, short what, void *arg);

/* Instances f's variants want at full size (their DesiredInstanceCount). */
static unsigned fleet_desired(const struct fleet *f)
{
	unsigned n = 0;
	for (size_t i = 0; i < f->n_variants; i++)
		n += (unsigned)f->variants[i].n_desired;
	return n;
}

/* Healthy instances among those f wants. */
static unsigned fleet_healthy_wanted(const struct fleet *f)
{
	unsigned n = 0;
	for (size_t i = 0; i < f->n_variants; i++)
		for (size_t j = 0; j < f->variants[i].n_wanted; j++)
			n += f->variants[i].instances[j]->state == INSTANCE_HEALTHY;
	return n;
}

/* v's part of target instances of its fleet (total at full size): in
 * proportion to its DesiredInstanceCount, rounded up. */
static size_t variant_target(const struct variant *v, unsigned target, unsigned total)
{
	if (target >= total)
		return v->n_desired;
	size_t want = (v->n_desired * target + total - 1) / total;
	return want < v->n_desired ? want : v->n_desired;
}

/* Spread target instances of f over its variants: slots past theirs drain
 * and go, missing ones start. */
static void fleet_set_target(struct fleet *f, unsigned target, unsigned total)
{
	for (size_t i = 0; i < f->n_variants; i++) {
		struct variant *v = &f->variants[i];
		size_t want = variant_target(v, target, total);
		if (want != v->n_wanted)
			variant_set_wanted(v, want);
	}
}

/* The first alarm of the policy in ALARM, as a sentence (owned), or NULL. */
static char *endpoint_update_alarm(struct endpoint *ep, double now)
{
	for (size_t i = 0; i < ep->policy.n_alarms; i++) {
		const struct config_alarm *a =
			config_find_alarm(ep->pending->config, ep->policy.alarms[i]);
		if (!a)
			continue;
		char *reason = NULL;
		if (alarm_evaluate(a, ep->name, now, &reason) == ALARM_STATE_ALARM)
			return reason ? reason : xasprintf("Alarm %s is in ALARM.", ep->policy.alarms[i]);
		free(reason);
	}
	return NULL;
}

/* The rollout ended one way or the other: the endpoint settles. */
static void endpoint_update_finish(struct endpoint *ep)
{
	struct deploy_state *s = &ep->deploy;
	struct fleet *old = ep->fleet, *new = ep->pending;
	if (ep->deploy_timer)
		evtimer_del(ep->deploy_timer);
	switch (s->phase) {
	case DEPLOY_DONE:
		ep->fleet = new;
		ep->pending = NULL;
		endpoint_retire_fleet(ep, old,
				      ep->policy.kind == DEPLOY_ROLLING ? 0
									: ep->policy.termination_wait_s);
		free(ep->failure_reason);
		ep->failure_reason = NULL;
		log_endpoint(LOG_NOTICE, ep->name, "endpoint %s: now serving config %s", ep->name,
			     new->config_name);
		endpoint_set_state(ep, ENDPOINT_IN_SERVICE, "the update completed");
		break;
	case DEPLOY_ROLLED_BACK:
		endpoint_retire_fleet(ep, new, 0);
		free(ep->failure_reason);
		ep->failure_reason = xstrdup(s->reason ? s->reason : "The update was rolled back.");
		if (ep->state == ENDPOINT_UPDATING)
			endpoint_set_state(ep, ENDPOINT_ROLLING_BACK, s->reason);
		endpoint_set_state(ep, ENDPOINT_IN_SERVICE, "the update was rolled back");
		break;
	case DEPLOY_ROLLBACK_FAILED:
		free(ep->failure_reason);
		ep->failure_reason = xstrdup(s->reason ? s->reason : "The rollback failed.");
		if (ep->state == ENDPOINT_UPDATING)
			endpoint_set_state(ep, ENDPOINT_ROLLING_BACK, s->reason);
		endpoint_set_state(ep, ENDPOINT_UPDATE_ROLLBACK_FAILED, ep->failure_reason);
		break;
	default:
		break;
	}
	free(ep->update_failure);
	ep->update_failure = NULL;
	free(ep->rollback_failure);
	ep->rollback_failure = NULL;
	endpoint_manager_trim_model_cache(ep->manager);
}

/*
 * Something changed (or the planner's time came): count the fleets, ask the
 * planner, make it so.
 */
void endpoint_update_progress(struct endpoint *ep)
{
	struct endpoint_manager *m = ep->manager;
	if (!m || m->shutting_down || !ep->registered)
		return;
	if (!ep->pending) {
		/* A scaling: done when every wanted instance serves. */
		if (ep->state == ENDPOINT_UPDATING && fleet_healthy(ep->fleet))
			endpoint_set_state(ep, ENDPOINT_IN_SERVICE, "the new instance counts serve");
		return;
	}
	struct deploy_state *s = &ep->deploy;
	if (deploy_ended(s))
		return;
	double now = now_realtime();
	_cleanup_free_ char *alarm = s->new_share > 0 ? endpoint_update_alarm(ep, now) : NULL;
	struct deploy_view view = {
		.old_total = fleet_desired(ep->fleet),
		.new_total = fleet_desired(ep->pending),
		.old_healthy = fleet_healthy_wanted(ep->fleet),
		.new_healthy = fleet_healthy_wanted(ep->pending),
		.new_failure = ep->update_failure,
		.old_failure = ep->rollback_failure,
		.alarm = alarm,
	};
	enum deploy_phase was = s->phase;
	unsigned was_step = s->step, was_new = s->new_target, was_old = s->old_target;
	double was_share = s->new_share;
	double wake = deploy_next(s, &ep->policy, &view, now);
	bool moved = s->phase != was || s->step != was_step || s->new_target != was_new ||
		     s->old_target != was_old || s->new_share != was_share;
	if (s->phase != was)
		log_endpoint(LOG_INFO, ep->name, "endpoint %s: update to %s: %s -> %s%s%s", ep->name,
			     ep->pending->config_name, deploy_phase_to_string(was),
			     deploy_phase_to_string(s->phase), s->reason ? ": " : "",
			     s->reason ? s->reason : "");
	if (s->phase == DEPLOY_ROLLING_BACK && ep->state == ENDPOINT_UPDATING)
		endpoint_set_state(ep, ENDPOINT_ROLLING_BACK, s->reason);
	/* The fleet that goes at the end keeps its instances: it is retired
	 * whole (after TerminationWaitInSeconds), not shrunk here. */
	if (s->phase != DEPLOY_ROLLED_BACK && s->phase != DEPLOY_ROLLBACK_FAILED)
		fleet_set_target(ep->pending, s->new_target, view.new_total);
	if (s->phase != DEPLOY_DONE && s->phase != DEPLOY_ROLLBACK_FAILED)
		fleet_set_target(ep->fleet, s->old_target, view.old_total);
	if (deploy_ended(s)) {
		endpoint_update_finish(ep);
		return;
	}
	if (moved)
		endpoint_persist(ep);
	/* Alarms are looked at every second while the new fleet takes calls. */
	if (s->new_share > 0 && ep->policy.n_alarms > 0 && (wake == 0 || wake > now + UPDATE_ALARM_POLL_S))
		wake = now + UPDATE_ALARM_POLL_S;
	if (wake > 0) {
		if (!ep->deploy_timer)
			ep->deploy_timer = evtimer_new(m->base, endpoint_update_timer_cb, ep);
		double delay = wake > now ? wake - now : 0;
		struct timeval tv = {.tv_sec = (time_t)delay,
				     .tv_usec = (suseconds_t)((delay - floor(delay)) * 1e6)};
		evtimer_add(ep->deploy_timer, &tv);
	}
}

/* The planner's wake-up time came. */
static void endpoint_update_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	endpoint_update_progress(arg);
}

/* The failure of the rollout is written up: the planner hears of it. */
static void endpoint_update_explained(struct endpoint *ep, const char *reason)
{
	ep->update_explaining = false;
	if (!ep->pending || deploy_ended(&ep->deploy))
		return;
	char **slot = ep->deploy.phase == DEPLOY_ROLLING_BACK ? &ep->rollback_failure
							      : &ep->update_failure;
	if (!*slot)
		*slot = xstrdup(reason);
	endpoint_update_progress(ep);
}

bool endpoint_update_failed(struct endpoint *ep, struct instance *inst, struct variant *v,
			    const char *container_id, const char *reason)
{
	if (!ep->pending || deploy_ended(&ep->deploy))
		return false;
	bool rolling_back = ep->deploy.phase == DEPLOY_ROLLING_BACK;
	if (rolling_back ? v->fleet != ep->fleet : v->fleet != ep->pending)
		return false;
	if (inst && !instance_wanted(inst))
		return false;
	log_endpoint(LOG_WARNING, ep->name, "endpoint %s: update to %s: %s", ep->name,
		     ep->pending->config_name, reason);
	if (ep->update_explaining || (rolling_back ? ep->rollback_failure : ep->update_failure))
		return true; /* one failure is enough to decide */
	ep->update_explaining = true;
	endpoint_explain(ep, v, container_id, reason, endpoint_update_explained);
	return true;
}

/* Whether every variant of ecfg has its model and instance type. */
static int endpoint_update_check_config(struct endpoint_manager *m,
					const struct config_endpoint_config *ecfg)
{
	for (size_t i = 0; i < ecfg->n_variants; i++)
		if (!ecfg->variants[i].model || !ecfg->variants[i].type)
			return -ENXIO;
	for (size_t i = 0; i < ecfg->n_variants; i++)
		if (ecfg->variants[i].model->enable_network_isolation && !m->config->container_dialer)
			return -ENETUNREACH;
	/* In swarm mode the nodes' resources decide, not this host's GPUs. */
	if (m->swarm)
		return endpoint_swarm_admit(m, ecfg);
	return 0;
}

/* A copy of p (alarm names duplicated). */
static void deploy_policy_copy(struct deploy_policy *to, const struct deploy_policy *p)
{
	*to = *p;
	for (size_t i = 0; i < p->n_alarms; i++)
		to->alarms[i] = xstrdup(p->alarms[i]);
}

int endpoint_update(struct endpoint *ep, const struct endpoint_update *u, const char **ret_alarm)
{
	struct endpoint_manager *m = ep->manager;
	if (ep->state == ENDPOINT_FAILED)
		return -EPERM;
	if (ep->state != ENDPOINT_IN_SERVICE && ep->state != ENDPOINT_UPDATE_ROLLBACK_FAILED)
		return -EBUSY;
	const struct config_endpoint_config *ecfg =
		config_find_endpoint_config(m->config, u->config_name);
	if (!ecfg)
		return -ENOENT;
	int r = endpoint_update_check_config(m, ecfg);
	if (r < 0)
		return r;
	const struct deploy_policy *policy = &u->policy;
	if (!policy->given && u->retain_deployment_config && ep->policy.given)
		policy = &ep->policy;
	for (size_t i = 0; i < policy->n_alarms; i++)
		if (!config_find_alarm(m->config, policy->alarms[i])) {
			*ret_alarm = policy->alarms[i];
			return -ESRCH;
		}

	struct fleet *f = fleet_new(ep, ep->next_fleet_id, m->config, ecfg);
	if (u->retain_all_variant_properties)
		for (size_t i = 0; i < f->n_variants; i++) {
			struct variant *v = &f->variants[i];
			for (size_t k = 0; k < ep->fleet->n_variants; k++) {
				const struct variant *o = &ep->fleet->variants[k];
				if (strcmp(o->name, v->name) != 0)
					continue;
				if (!u->exclude_weight)
					v->current_weight = v->desired_weight = o->desired_weight;
				if (!u->exclude_instance_count) {
					variant_add_slots(v, o->n_desired);
					v->n_desired = v->n_wanted = o->n_desired;
				}
			}
		}
	size_t slots = endpoint_fleet_slots(f);
	if (m->n_instances + slots > m->config->max_instances) {
		fleet_free(f);
		return -EDQUOT;
	}
	struct deploy_state state = {0};
	struct deploy_view view = {
		.old_total = fleet_desired(ep->fleet),
		.new_total = fleet_desired(f),
		.old_healthy = fleet_healthy_wanted(ep->fleet),
	};
	double now = now_realtime();
	deploy_begin(&state, policy, &view, now);
	/* Only the instances the rollout starts with ask for GPUs now. */
	size_t gpus = 0;
	for (size_t i = 0; i < f->n_variants; i++)
		if (f->variants[i].cv->type)
			gpus += variant_target(&f->variants[i], state.new_target, view.new_total) *
				f->variants[i].cv->type->gpus;
	if (!m->swarm && gpus > endpoint_manager_free_gpus(m)) {
		fleet_free(f);
		deploy_state_clear(&state);
		return -ENODEV;
	}
	struct deploy_policy copy;
	deploy_policy_copy(&copy, policy);
	deploy_policy_clear(&ep->policy);
	deploy_state_clear(&ep->deploy);
	ep->policy = copy;
	ep->deploy = state;
	if (ep->pending) {
		/* UpdateRollbackFailed left both fleets: the old one is made whole
		 * again and the new one goes. */
		endpoint_retire_fleet(ep, ep->pending, 0);
		fleet_set_target(ep->fleet, view.old_total, view.old_total);
	}
	for (size_t i = 0; i < f->n_variants; i++)
		f->variants[i].n_wanted = 0;
	ep->pending = f;
	ep->next_fleet_id++;
	m->n_instances += slots;
	free(ep->update_failure);
	ep->update_failure = NULL;
	free(ep->rollback_failure);
	ep->rollback_failure = NULL;
	log_endpoint(LOG_NOTICE, ep->name, "endpoint %s: updating from config %s to %s (%s)",
		     ep->name, ep->fleet->config_name, f->config_name,
		     copy.given ? "as its DeploymentConfig says" : "blue/green, all at once");
	endpoint_set_state(ep, ENDPOINT_UPDATING, "UpdateEndpoint");
	endpoint_update_progress(ep);
	return 0;
}

int endpoint_update_capacities(struct endpoint *ep, const struct endpoint_capacity *c, size_t n,
			       const char **ret_variant)
{
	struct endpoint_manager *m = ep->manager;
	if (ep->state != ENDPOINT_IN_SERVICE)
		return -EBUSY;
	struct fleet *f = ep->fleet;
	_cleanup_free_ struct variant **vs = xcalloc(n ? n : 1, sizeof(*vs));
	size_t more_slots = 0, more_gpus = 0;
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < f->n_variants && !vs[i]; k++)
			if (strcmp(f->variants[k].name, c[i].variant) == 0)
				vs[i] = &f->variants[k];
		if (!vs[i]) {
			*ret_variant = c[i].variant;
			return -ENOENT;
		}
		if (!c[i].has_count)
			continue;
		if (c[i].count > vs[i]->n_instances)
			more_slots += c[i].count - vs[i]->n_instances;
		if (c[i].count > vs[i]->n_wanted && vs[i]->cv->type)
			more_gpus += (c[i].count - vs[i]->n_wanted) * vs[i]->cv->type->gpus;
	}
	if (m->n_instances + more_slots > m->config->max_instances)
		return -EDQUOT;
	if (!m->swarm && more_gpus > 0 && more_gpus > endpoint_manager_free_gpus(m))
		return -ENODEV;
	for (size_t i = 0; i < n; i++)
		if (c[i].has_weight)
			vs[i]->current_weight = vs[i]->desired_weight = c[i].weight;
	for (size_t i = 0; i < n; i++)
		if (c[i].has_count) {
			vs[i]->n_desired = c[i].count;
			variant_set_wanted(vs[i], c[i].count);
		}
	endpoint_set_state(ep, ENDPOINT_UPDATING, "UpdateEndpointWeightsAndCapacities");
	endpoint_update_progress(ep);
	return 0;
}
