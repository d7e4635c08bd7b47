/*
 * Fleets: the variants and instance slots of one endpoint config.
 *
 * An endpoint serves from one fleet.  UpdateEndpoint brings a second (the
 * target config's) beside it; when the rollout ends one of the two is
 * retired: its instances leave the rotation, finish the calls they hold and
 * go, and the fleet is freed once nothing points into it any more.  Scaling a
 * variant down retires single instances the same way.
 *
 * Instance slots are allocated one by one and never move: calls in flight,
 * health checks, timers and Docker operations hold pointers to them.  A slot
 * is freed only with its fleet, and a fleet only when every slot is GONE, no
 * call is in flight on it and no operation of the endpoint is outstanding
 * (operations look at their slot's generation when they come back).
 */
#define _GNU_SOURCE
#include "endpoint.h"
#include "endpoint_private.h"

#include <event2/event.h>
#include <string.h>

#include "health.h"
#include "log.h"
#include "util.h"

/* How often a draining instance looks whether its last call ended. */
#define FLEET_DRAIN_POLL_MS 100
/*
 * A retired fleet's containers go no sooner than this after it lost its
 * place: the new fleet's instances start their dialers as they pass their
 * checks, and a call made through docker-proxy while a container of the old
 * fleet is being stopped has been seen to hang.
 */
#define FLEET_RETIRE_MIN_S 2
/* A retired fleet not yet free is looked at again this often. */
#define FLEET_SWEEP_MS 1000

/* A slot of v, not yet started. */
static struct instance *variant_new_slot(struct variant *v, unsigned slot)
{
	struct instance *inst = xcalloc(1, sizeof(*inst));
	*inst = (struct instance){.variant = v, .slot = slot, .state = INSTANCE_PENDING};
	return inst;
}

/* A fleet of config ecfg (a reference is taken on c) with every variant's
 * initial instance count. */
struct fleet *fleet_new(struct endpoint *ep, unsigned id, struct config *c,
			const struct config_endpoint_config *ecfg)
{
	struct fleet *f = xcalloc(1, sizeof(*f));
	f->endpoint = ep;
	f->id = id;
	f->config_name = xstrdup(ecfg->name);
	f->config = config_ref(c);
	f->config_doc = endpoint_config_document(c, ecfg);
	f->ecfg = ecfg;
	f->n_variants = ecfg->n_variants;
	f->variants = xcalloc(f->n_variants ? f->n_variants : 1, sizeof(*f->variants));
	for (size_t i = 0; i < f->n_variants; i++) {
		struct variant *v = &f->variants[i];
		v->endpoint = ep;
		v->fleet = f;
		v->cv = &ecfg->variants[i];
		v->name = xstrdup(v->cv->variant_name);
		v->current_weight = v->desired_weight = v->cv->initial_weight;
		v->n_instances = v->n_wanted = v->n_desired = v->cv->initial_instance_count;
		v->instances = xcalloc(v->n_instances ? v->n_instances : 1, sizeof(*v->instances));
		for (size_t j = 0; j < v->n_instances; j++)
			v->instances[j] = variant_new_slot(v, (unsigned)j);
	}
	return f;
}

/* Free a fleet and its slots (nothing may point into it any more). */
struct fleet *fleet_free(struct fleet *f)
{
	if (!f)
		return NULL;
	for (size_t i = 0; i < f->n_variants; i++) {
		struct variant *v = &f->variants[i];
		for (size_t j = 0; j < v->n_instances; j++) {
			struct instance *inst = v->instances[j];
			health_check_free(inst->health);
			instance_release_gpus(inst);
			instance_free_dialer(inst);
			if (inst->relaunch)
				event_free(inst->relaunch);
			if (inst->drain)
				event_free(inst->drain);
			free(inst->container_name);
			free(inst->container_id);
			free(inst->task_id);
			free(inst->host_addr);
			free(inst);
		}
		if (v->retry)
			event_free(v->retry);
		free(v->instances);
		free(v->healthy);
		free(v->name);
		free(v->resolved_image);
		free(v->model_dir);
		free(v->service_id);
	}
	free(f->variants);
	free(f->config_name);
	free(f->config_doc);
	config_unref(f->config);
	free(f);
	return NULL;
}

/* The k-th fleet of ep: the serving one, then the pending one, then the
 * retired ones; NULL past the last. */
struct fleet *endpoint_fleet_nth(const struct endpoint *ep, size_t k)
{
	if (k == 0)
		return ep->fleet;
	k--;
	if (ep->pending) {
		if (k == 0)
			return ep->pending;
		k--;
	}
	return k < ep->n_retired ? ep->retired[k] : NULL;
}

/* Slots of one fleet. */
size_t endpoint_fleet_slots(const struct fleet *f)
{
	size_t n = 0;
	for (size_t i = 0; i < f->n_variants; i++)
		n += f->variants[i].n_instances;
	return n;
}

/* Instance slots of every fleet of ep. */
size_t endpoint_slots(const struct endpoint *ep)
{
	size_t n = 0;
	struct fleet *f;
	for (size_t k = 0; (f = endpoint_fleet_nth(ep, k)); k++)
		n += endpoint_fleet_slots(f);
	return n;
}

/* Instances the fleet's variants want, all together. */
unsigned fleet_wanted(const struct fleet *f)
{
	unsigned n = 0;
	for (size_t i = 0; i < f->n_variants; i++)
		n += (unsigned)f->variants[i].n_wanted;
	return n;
}

/* GPUs the fleet's wanted instances ask for. */
size_t fleet_gpus(const struct fleet *f)
{
	size_t n = 0;
	for (size_t i = 0; i < f->n_variants; i++)
		if (f->variants[i].cv->type)
			n += f->variants[i].n_wanted * f->variants[i].cv->type->gpus;
	return n;
}

/* Whether inst is one its variant wants running. */
bool instance_wanted(const struct instance *inst)
{
	return !inst->draining && inst->slot < inst->variant->n_wanted;
}

/* The draining instance's last call ended, or its time is up: it goes. */
static void instance_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct instance *inst = arg;
	struct endpoint *ep = inst->variant->endpoint;
	if (!inst->draining || !ep->manager || ep->manager->shutting_down)
		return;
	if (inst->inflight > 0 && now_monotonic_ms() < inst->drain_deadline_ms) {
		struct timeval tv = {0, FLEET_DRAIN_POLL_MS * 1000};
		evtimer_add(inst->drain, &tv);
		return;
	}
	inst->draining = false;
	log_instance(LOG_INFO, inst, "endpoint %s: variant %s instance %u drained", ep->name,
		     inst->variant->name, inst->slot);
	instance_teardown(inst);
	endpoint_persist(ep);
}

/*
 * inst is no longer wanted: it takes no new calls at once, finishes those it
 * holds (for as long as an invocation may take), then its container goes.
 * One that serves nothing goes at once.
 */
void instance_retire(struct instance *inst)
{
	struct endpoint *ep = inst->variant->endpoint;
	struct endpoint_manager *m = ep->manager;
	if (inst->draining || inst->state == INSTANCE_GONE)
		return;
	if (inst->relaunch)
		evtimer_del(inst->relaunch);
	if (inst->state != INSTANCE_HEALTHY || inst->inflight == 0) {
		instance_teardown(inst);
		return;
	}
	variant_unlist_healthy(inst);
	inst->health = health_check_free(inst->health);
	inst->draining = true;
	inst->drain_deadline_ms =
		now_monotonic_ms() + (uint64_t)(m->config->invocation_timeout_s + 1) * 1000;
	if (!inst->drain)
		inst->drain = evtimer_new(m->base, instance_drain_cb, inst);
	log_instance(LOG_INFO, inst,
		     "endpoint %s: variant %s instance %u out of rotation, draining %u call(s)",
		     ep->name, inst->variant->name, inst->slot, inst->inflight);
	struct timeval tv = {0, FLEET_DRAIN_POLL_MS * 1000};
	evtimer_add(inst->drain, &tv);
}

/* Grow v to n slots (none started). */
void variant_add_slots(struct variant *v, size_t n)
{
	if (n <= v->n_instances)
		return;
	v->instances = xreallocarray(v->instances, n, sizeof(*v->instances));
	for (size_t j = v->n_instances; j < n; j++)
		v->instances[j] = variant_new_slot(v, (unsigned)j);
	v->n_instances = n;
}

/*
 * Make variant v want n instances: slots past n retire, missing ones are
 * added and started.  Slot numbers stay dense, so a container's name says
 * which slot it is.
 */
void variant_set_wanted(struct variant *v, size_t n)
{
	struct endpoint_manager *m = v->endpoint->manager;
	if (n > v->n_instances) {
		m->n_instances += n - v->n_instances;
		variant_add_slots(v, n);
	}
	size_t was = v->n_wanted;
	v->n_wanted = n;
	for (size_t j = n; j < was && j < v->n_instances; j++)
		instance_retire(v->instances[j]);
	for (size_t j = was; j < n; j++) {
		struct instance *inst = v->instances[j];
		if (inst->draining) {
			/* Wanted again while it drained: it serves on. */
			inst->draining = false;
			evtimer_del(inst->drain);
			v->healthy = xreallocarray(v->healthy, v->n_healthy + 1, sizeof(*v->healthy));
			v->healthy[v->n_healthy++] = inst;
			inst->health = instance_health_steady(inst);
			continue;
		}
		if (!inst->restored &&
		    (inst->state == INSTANCE_GONE || inst->state == INSTANCE_PENDING) &&
		    endpoint_wants_instances(v->endpoint))
			instance_start(inst);
	}
}

/* Whether nothing points into f any more. */
static bool fleet_idle(const struct fleet *f)
{
	if (f->endpoint->ops_in_flight > 0)
		return false;
	for (size_t i = 0; i < f->n_variants; i++)
		for (size_t j = 0; j < f->variants[i].n_instances; j++) {
			const struct instance *inst = f->variants[i].instances[j];
			if (inst->state != INSTANCE_GONE || inst->inflight > 0 || inst->draining)
				return false;
		}
	return true;
}

/* Retire what is due, free what is idle; look again later while any is left. */
void endpoint_sweep_retired(struct endpoint *ep)
{
	struct endpoint_manager *m = ep->manager;
	if (!m || m->shutting_down)
		return;
	double now = now_realtime();
	bool changed = false;
	for (size_t k = 0; k < ep->n_retired;) {
		struct fleet *f = ep->retired[k];
		if (f->retire_at > now) {
			k++;
			continue;
		}
		for (size_t i = 0; i < f->n_variants; i++) {
			struct variant *v = &f->variants[i];
			if (v->retry)
				evtimer_del(v->retry);
			v->n_wanted = 0;
			for (size_t j = 0; j < v->n_instances; j++)
				instance_retire(v->instances[j]);
		}
		if (!fleet_idle(f)) {
			k++;
			continue;
		}
		m->n_instances -= endpoint_fleet_slots(f);
		if (m->swarm)
			for (size_t i = 0; i < f->n_variants; i++)
				endpoint_swarm_variant_gone(ep, &f->variants[i]);
		ep->retired[k] = ep->retired[--ep->n_retired];
		log_endpoint(LOG_INFO, ep->name, "endpoint %s: fleet of config %s gone", ep->name,
			     f->config_name);
		fleet_free(f);
		changed = true;
	}
	if (changed)
		endpoint_persist(ep);
	if (ep->n_retired > 0) {
		if (!ep->sweep)
			ep->sweep = evtimer_new(m->base, endpoint_sweep_cb, ep);
		struct timeval tv = {0, FLEET_SWEEP_MS * 1000};
		evtimer_add(ep->sweep, &tv);
	}
}

/* Timer: sweep the retired fleets again. */
void endpoint_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	endpoint_sweep_retired(arg);
}

/*
 * f leaves its place (serving or pending): its instances stop taking calls
 * after delay_s (TerminationWaitInSeconds) and go once drained.
 */
void endpoint_retire_fleet(struct endpoint *ep, struct fleet *f, unsigned delay_s)
{
	if (ep->fleet == f)
		ep->fleet = NULL;
	if (ep->pending == f)
		ep->pending = NULL;
	/* A replacement started now would only go again. */
	for (size_t i = 0; i < f->n_variants; i++)
		f->variants[i].n_wanted = 0;
	f->retire_at = now_realtime() + (delay_s > FLEET_RETIRE_MIN_S ? delay_s : FLEET_RETIRE_MIN_S);
	ep->retired = xreallocarray(ep->retired, ep->n_retired + 1, sizeof(*ep->retired));
	ep->retired[ep->n_retired++] = f;
	endpoint_sweep_retired(ep);
}
