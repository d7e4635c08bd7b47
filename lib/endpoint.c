/*
 * The endpoint state machine.
 *
 * DESIGN
 *
 * CreateEndpoint registers the endpoint (status Creating) and returns; the
 * rest happens on the event loop, as a chain of asynchronous operations:
 *
 *   per variant:   image inspect -> (pull -> inspect) -> model data
 *                  (endpoint_provision.c)
 *   per instance:  create -> start -> inspect (host port) -> startup pings
 *
 * Tag sets are in endpoint_tags.c, container specs in endpoint_spec.c, the
 * match with the Engine after a restart in endpoint_reconcile.c.
 *
 * A model with EnableNetworkIsolation runs in a container without a network
 * (NetworkMode none): it has no host port, its endpointd-dialer is started
 * as soon as it runs, and its pings and invocations go only over the
 * connections that dialer makes inside it.
 *
 * Every operation holds a reference on its endpoint (struct op) and records
 * the generation of the instance slot it works for.  When the slot has moved
 * on (the endpoint failed, was deleted, or the instance was replaced) the
 * operation's result is stale: a container it created is removed and nothing
 * else happens.  Thus teardown never waits for operations to come back before
 * it acts, and an operation that comes back late can never resurrect
 * anything.
 *
 * The Engine's event stream tells us at once when a container dies; after a
 * reconnect (events may have been lost) every live instance is inspected.
 *
 * A container is stopped only after a journal barrier: whatever made it go
 * (a Deleting status, a slot's new generation) is on disk first, so a crash
 * never finds a container gone that the journal still counts on.  A Deleting
 * endpoint is dropped when its last operation has returned, which is also
 * when its last container has been removed.
 */
#define _GNU_SOURCE
#include "endpoint.h"
#include "endpoint_private.h"

#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <string.h>

#include "dialer.h"
#include "docker.h"
#include "health.h"
#include "httpc.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "modeldata.h"
#include "names.h"
#include "upstream.h"
#include "utf8.h"
#include "util.h"

#define ENDPOINT_STOP_TIMEOUT_S 5
#define ENDPOINT_LOG_TAIL 20
#define ENDPOINT_PING_FAILED_MSG                                                              \
	"The primary container for production variant %s did not pass the ping health check."

static const char *const endpoint_state_names[ENDPOINT_STATE_MAX] = {
	[ENDPOINT_CREATING] = "Creating",
	[ENDPOINT_IN_SERVICE] = "InService",
	[ENDPOINT_UPDATING] = "Updating",
	[ENDPOINT_SYSTEM_UPDATING] = "SystemUpdating",
	[ENDPOINT_ROLLING_BACK] = "RollingBack",
	[ENDPOINT_DELETING] = "Deleting",
	[ENDPOINT_FAILED] = "Failed",
	[ENDPOINT_UPDATE_ROLLBACK_FAILED] = "UpdateRollbackFailed",
	[ENDPOINT_OUT_OF_SERVICE] = "OutOfService",
};

#define T(s) (1u << (s))
/* Which statuses each status may move to. */
static const unsigned endpoint_transitions[ENDPOINT_STATE_MAX] = {
	[ENDPOINT_CREATING] = T(ENDPOINT_IN_SERVICE) | T(ENDPOINT_FAILED) | T(ENDPOINT_DELETING),
	[ENDPOINT_IN_SERVICE] = T(ENDPOINT_UPDATING) | T(ENDPOINT_SYSTEM_UPDATING) |
				T(ENDPOINT_DELETING) | T(ENDPOINT_OUT_OF_SERVICE),
	[ENDPOINT_UPDATING] = T(ENDPOINT_IN_SERVICE) | T(ENDPOINT_ROLLING_BACK) |
			      T(ENDPOINT_FAILED),
	[ENDPOINT_SYSTEM_UPDATING] = T(ENDPOINT_IN_SERVICE) | T(ENDPOINT_FAILED),
	[ENDPOINT_ROLLING_BACK] = T(ENDPOINT_IN_SERVICE) | T(ENDPOINT_UPDATE_ROLLBACK_FAILED),
	[ENDPOINT_DELETING] = 0,
	[ENDPOINT_FAILED] = T(ENDPOINT_DELETING),
	[ENDPOINT_UPDATE_ROLLBACK_FAILED] = T(ENDPOINT_UPDATING) | T(ENDPOINT_DELETING),
	[ENDPOINT_OUT_OF_SERVICE] = T(ENDPOINT_IN_SERVICE) | T(ENDPOINT_DELETING),
};
#undef T


/* The API's name for a status. */
const char *endpoint_state_to_string(enum endpoint_state s)
{
	return s < ENDPOINT_STATE_MAX ? endpoint_state_names[s] : "Unknown";
}

/* A status by its API name. */
int endpoint_state_from_string(const char *s)
{
	for (int i = 0; i < ENDPOINT_STATE_MAX; i++)
		if (strcmp(s, endpoint_state_names[i]) == 0)
			return i;
	return -EINVAL;
}

/* Whether the table allows from -> to. */
bool endpoint_transition_allowed(enum endpoint_state from, enum endpoint_state to)
{
	return from < ENDPOINT_STATE_MAX && to < ENDPOINT_STATE_MAX &&
	       (endpoint_transitions[from] & (1u << to));
}

/* Take a reference. */
struct endpoint *endpoint_ref(struct endpoint *ep)
{
	ep->refs++;
	return ep;
}

/* Free an endpoint whose last reference went. */
void endpoint_destroy(struct endpoint *ep)
{
	fleet_free(ep->fleet);
	fleet_free(ep->pending);
	for (size_t k = 0; k < ep->n_retired; k++)
		fleet_free(ep->retired[k]);
	free(ep->retired);
	if (ep->deploy_timer)
		event_free(ep->deploy_timer);
	if (ep->sweep)
		event_free(ep->sweep);
	deploy_policy_clear(&ep->policy);
	deploy_state_clear(&ep->deploy);
	tagset_clear(&ep->tags);
	free(ep->name);
	free(ep->name_lc);
	free(ep->arn);
	free(ep->failure_reason);
	free(ep->update_failure);
	free(ep->rollback_failure);
	free(ep);
}

/* Deferred free: never inside the callback that dropped the last ref. */
static void endpoint_destroy_cb(evutil_socket_t fd, short what, void *arg)
{
	endpoint_destroy(arg);
}

/* Drop a reference; the last one frees on a later loop turn. */
struct endpoint *endpoint_unref(struct endpoint *ep)
{
	if (!ep)
		return NULL;
	if (--ep->refs > 0)
		return NULL;
	struct event_base *base = ep->manager ? ep->manager->base : NULL;
	if (!base || event_base_once(base, -1, EV_TIMEOUT, endpoint_destroy_cb, ep, NULL) < 0)
		endpoint_destroy(ep);
	return NULL;
}

/* Start an operation for ep (and inst, when it is about one instance). */
struct op *op_new(struct endpoint *ep, struct variant *v, struct instance *inst)
{
	struct op *op = xcalloc(1, sizeof(*op));
	op->ep = endpoint_ref(ep);
	op->variant = v;
	op->inst = inst;
	op->generation = inst ? inst->generation : 0;
	ep->ops_in_flight++;
	return op;
}

/* End an operation; a Deleting endpoint may now be dropped. */
void op_free(struct op *op)
{
	struct endpoint *ep = op->ep;
	ep->ops_in_flight--;
	free(op->container_id);
	free(op->container_name);
	free(op->detail);
	json_decref(op->spec);
	free(op);
	endpoint_maybe_drop(ep);
	endpoint_unref(ep);
}

/* Whether the operation's result still matters. */
bool op_current(const struct op *op)
{
	struct endpoint *ep = op->ep;
	if (ep->manager->shutting_down || !ep->registered || ep->failing)
		return false;
	if (!endpoint_wants_instances(ep))
		return false;
	return !op->inst || op->inst->generation == op->generation;
}

/*
 * Memory and the journal no longer agree about ep: what clients were told
 * cannot be made durable.  Fatal, like a failed write (journal.h): exit and
 * recover from the journal on restart.
 */
static void endpoint_journal_fatal(const char *name, int err)
{
	_cleanup_free_ char *msg =
		xasprintf("endpoint %s: cannot journal its record: %s", name, strerror(-err));
	log_endpoint(LOG_CRIT, name, "%s; exiting to recover on restart", msg);
	journal_fatal_hook(msg);
}

/* Stage the endpoint's record; the API's barrier makes it durable. */
void endpoint_persist(struct endpoint *ep)
{
	struct endpoint_manager *m = ep->manager;
	if (!m || !m->journal || !ep->registered || m->shutting_down)
		return;
	_cleanup_free_ char *key = endpoint_journal_key(ep->name);
	json_t *rec = endpoint_to_json(ep);
	/* No record (a string that is not UTF-8) would delete the key. */
	int r = rec ? journal_put(m->journal, key, rec) : -EINVAL;
	json_decref(rec);
	if (r < 0)
		endpoint_journal_fatal(ep->name, r);
}

/* The one way a status changes. */
int endpoint_set_state(struct endpoint *ep, enum endpoint_state new_state, const char *reason)
{
	enum endpoint_state old = ep->state;
	if (!endpoint_transition_allowed(old, new_state)) {
		log_endpoint(LOG_ERR, ep->name, "endpoint %s: refusing %s -> %s", ep->name,
			     endpoint_state_to_string(old), endpoint_state_to_string(new_state));
		return -EINVAL;
	}
	ep->state = new_state;
	ep->last_modified_time = now_realtime();
	if (old == ENDPOINT_CREATING && new_state == ENDPOINT_IN_SERVICE)
		metrics_provisioned(ep->last_modified_time - ep->creation_time);
	if (new_state == ENDPOINT_FAILED) {
		free(ep->failure_reason);
		ep->failure_reason = xstrdup(reason);
	}
	log_endpoint(new_state == ENDPOINT_FAILED ? LOG_WARNING : LOG_NOTICE, ep->name,
		     "endpoint %s: %s -> %s (%s)", ep->name, endpoint_state_to_string(old),
		     endpoint_state_to_string(new_state), reason ? reason : "");
	endpoint_persist(ep);
	struct endpoint_manager *m = ep->manager;
	if (m->observer)
		m->observer(ep, old, new_state, reason, m->observer_data);
	return 0;
}

/* Healthy instances of every variant. */
unsigned endpoint_healthy_count(const struct endpoint *ep)
{
	unsigned n = 0;
	for (size_t i = 0; i < ep->fleet->n_variants; i++)
		n += (unsigned)ep->fleet->variants[i].n_healthy;
	return n;
}

/* Take inst out of its variant's rotation. */
void variant_unlist_healthy(struct instance *inst)
{
	struct variant *v = inst->variant;
	for (size_t i = 0; i < v->n_healthy; i++)
		if (v->healthy[i] == inst) {
			v->healthy[i] = v->healthy[--v->n_healthy];
			return;
		}
}

/* Forget inst's container (it is being removed or is gone). */
void instance_forget_container(struct instance *inst)
{
	struct endpoint_manager *m = inst->variant->endpoint->manager;
	instance_forget_dialer(inst);
	if (inst->container_id) {
		if (strmap_get(m->by_container, inst->container_id) == inst)
			strmap_remove(m->by_container, inst->container_id);
		free(inst->container_id);
		inst->container_id = NULL;
	}
	inst->host_port = 0;
}

/*
 * Removal finished.  Gone (or never there): its GPUs are free.  Failed: it
 * may still run on them, and a listing soon sees whether it went after all
 * (an orphan is removed again then).
 */
static void op_removed_cb(const struct docker_result *r, void *userdata)
{
	struct op *op = userdata;
	struct endpoint_manager *m = op->ep->manager;
	if (!r->err || r->err == -ENOENT) {
		endpoint_manager_container_gone(m, op->container_name);
	} else if (r->err != -ECANCELED) {
		log_container(LOG_WARNING, op->container_id, "endpoint %s: removing container %s: %s",
			      op->ep->name, op->container_id, r->message ? r->message : strerror(-r->err));
		if (m && !m->shutting_down)
			endpoint_manager_resync_later(m, ENDPOINT_RETRY_MS);
	}
	op_free(op);
}

/* Stopped: now remove it. */
static void op_stopped_cb(const struct docker_result *r, void *userdata)
{
	struct op *op = userdata;
	if (op->ep->manager->shutting_down) {
		op_free(op);
		return;
	}
	docker_container_remove(op->ep->manager->docker, op->container_id, true, op_removed_cb, op);
}

/* What made the container go is on disk: stop it. */
static void op_remove_durable_cb(void *userdata)
{
	struct op *op = userdata;
	struct endpoint_manager *m = op->ep->manager;
	if (!m || m->shutting_down) {
		op_free(op);
		return;
	}
	log_container(LOG_INFO, op->container_id, "endpoint %s: removing container %.12s",
		      op->ep->name, op->container_id);
	docker_container_stop(m->docker, op->container_id, ENDPOINT_STOP_TIMEOUT_S, op_stopped_cb,
			      op);
}

/*
 * Stop and remove a container (named name, when known) on ep's account.
 * Whatever was staged in the journal before (a Deleting status, a new
 * generation) is made durable first: a crash must never find a container
 * gone that the journal still counts on.
 */
void endpoint_remove_container(struct endpoint *ep, const char *id, const char *name)
{
	struct endpoint_manager *m = ep->manager;
	struct op *op = op_new(ep, NULL, NULL);
	op->container_id = xstrdup(id);
	op->container_name = name ? xstrdup(name) : NULL;
	if (m->journal)
		journal_barrier(m->journal, op_remove_durable_cb, op);
	else
		op_remove_durable_cb(op);
}

/* Let go of the slot's container: stale operations see the new generation. */
void instance_teardown(struct instance *inst)
{
	struct endpoint *ep = inst->variant->endpoint;
	inst->generation++;
	inst->health = health_check_free(inst->health);
	if (inst->relaunch)
		evtimer_del(inst->relaunch);
	if (inst->drain)
		evtimer_del(inst->drain);
	inst->draining = false;
	if (inst->state == INSTANCE_HEALTHY)
		variant_unlist_healthy(inst);
	if (ep->manager->swarm) {
		endpoint_swarm_teardown(inst);
		return;
	}
	if (inst->container_id) {
		endpoint_remove_container(ep, inst->container_id, inst->container_name);
		instance_drain_gpus(inst, inst->container_name);
		instance_forget_container(inst);
	} else if (inst->state == INSTANCE_CREATING) {
		/* The create in flight settles whether the container exists. */
		instance_drain_gpus(inst, inst->container_name);
	} else {
		instance_release_gpus(inst);
	}
	inst->state = INSTANCE_GONE;
	inst->oom_killed = false;
	inst->engine_stopped = false;
	inst->gpu_wait = false;
}

/* Tear down every instance of every fleet. */
static void endpoint_teardown(struct endpoint *ep)
{
	struct fleet *f;
	if (ep->deploy_timer)
		evtimer_del(ep->deploy_timer);
	for (size_t k = 0; (f = endpoint_fleet_nth(ep, k)); k++)
		for (size_t i = 0; i < f->n_variants; i++) {
			struct variant *v = &f->variants[i];
			if (v->retry)
				evtimer_del(v->retry);
			for (size_t j = 0; j < v->n_instances; j++)
				instance_teardown(v->instances[j]);
		}
	endpoint_persist(ep);
	if (ep->manager->swarm)
		for (size_t k = 0; (f = endpoint_fleet_nth(ep, k)); k++)
			for (size_t i = 0; i < f->n_variants; i++)
				endpoint_swarm_variant_gone(ep, &f->variants[i]);
}

/* Drop a Deleting endpoint once nothing of it is left running. */
void endpoint_maybe_drop(struct endpoint *ep)
{
	struct endpoint_manager *m = ep->manager;
	if (ep->state != ENDPOINT_DELETING || !ep->registered || ep->ops_in_flight > 0 ||
	    m->shutting_down)
		return;
	ep->registered = false;
	strmap_remove(m->by_name, ep->name_lc);
	m->n_instances -= endpoint_slots(ep);
	log_endpoint(LOG_NOTICE, ep->name, "endpoint %s: deleted", ep->name);
	metrics_forget_endpoint(ep->name);
	if (m->journal) {
		_cleanup_free_ char *key = endpoint_journal_key(ep->name);
		int r = journal_put(m->journal, key, NULL);
		if (r < 0)
			endpoint_journal_fatal(ep->name, r);
	}
	if (m->observer)
		m->observer(ep, ENDPOINT_DELETING, ENDPOINT_STATE_MAX, "deleted", m->observer_data);
	endpoint_manager_trim_model_cache(m);
	endpoint_unref(ep);
}

/* The last lines of a container's log, on one line. */
static char *endpoint_format_log(const char *text)
{
	struct buf b = {.max = 4096};
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' '))
			n--;
		if (n > 0) {
			if (b.len)
				(void)buf_append(&b, " | ", 3);
			(void)buf_append(&b, p, n);
		}
		p += nl ? (size_t)(nl - p) + 1 : strlen(p);
	}
	return buf_steal(&b);
}

/* The log arrived: write the failure up and hand it on. */
static void endpoint_explain_logs_cb(const struct docker_result *r, const char *text, void *userdata)
{
	struct op *op = userdata;
	struct endpoint *ep = op->ep;
	if (!ep->manager->shutting_down && ep->registered) {
		_cleanup_free_ char *lines = !r->err && text ? endpoint_format_log(text) : NULL;
		/* Keep the message and the end of the log: the end says why. */
		size_t head = strlen(op->detail);
		size_t room = head < ENDPOINT_FAILURE_REASON_MAX - 1 ? ENDPOINT_FAILURE_REASON_MAX - 1 - head : 0;
		_cleanup_free_ char *reason = NULL;
		if (lines && *lines && room > 32) {
			const char *tail = lines;
			size_t prefix = strlen(" Container log: …");
			if (strlen(lines) + prefix > room) {
				tail = lines + strlen(lines) - (room - prefix);
				while (((unsigned char)*tail & 0xc0) == 0x80)
					tail++;
				reason = xasprintf("%s Container log: …%s", op->detail, tail);
			} else {
				reason = xasprintf("%s Container log: %s", op->detail, lines);
			}
		} else {
			reason = xstrdup(op->detail);
		}
		reason[utf8_prefix_len(reason, ENDPOINT_FAILURE_REASON_MAX)] = '\0';
		op->explained(ep, reason);
	}
	op_free(op);
}

/*
 * Say why something failed in the container's own words: fetch the last log
 * lines of container_id (when there is one), add them to detail, and give
 * the result to done (unless the endpoint went meanwhile).
 */
void endpoint_explain(struct endpoint *ep, struct variant *v, const char *container_id,
		      const char *detail, void (*done)(struct endpoint *ep, const char *reason))
{
	struct op *op = op_new(ep, v, NULL);
	op->detail = xstrdup(detail);
	op->explained = done;
	if (container_id) {
		/* In swarm mode it is a task's ID: its node may be another. */
		if (ep->manager->swarm)
			docker_task_logs(ep->manager->docker, container_id, ENDPOINT_LOG_TAIL,
					 endpoint_explain_logs_cb, op);
		else
			docker_container_logs(ep->manager->docker, container_id,
					      ENDPOINT_LOG_TAIL, endpoint_explain_logs_cb, op);
	} else {
		struct docker_result none = {.err = -ENOENT};
		endpoint_explain_logs_cb(&none, NULL, op);
	}
}

/* The failure of a Creating endpoint is written up: Failed, and all goes. */
static void endpoint_fail_explained(struct endpoint *ep, const char *reason)
{
	if (ep->state != ENDPOINT_CREATING)
		return;
	endpoint_set_state(ep, ENDPOINT_FAILED, reason);
	endpoint_teardown(ep);
}

/*
 * Fail a Creating endpoint: fetch the last log lines of container_id (when
 * there is one) to add to reason, set Failed, and tear everything down.
 */
void endpoint_fail(struct endpoint *ep, struct instance *inst, const char *container_id,
			  const char *reason)
{
	if (ep->failing || ep->state != ENDPOINT_CREATING)
		return;
	ep->failing = true;
	/* Stop probes now: the verdict is in (a Creating endpoint has one fleet). */
	for (size_t i = 0; i < ep->fleet->n_variants; i++)
		for (size_t j = 0; j < ep->fleet->variants[i].n_instances; j++) {
			struct instance *x = ep->fleet->variants[i].instances[j];
			x->health = health_check_free(x->health);
		}
	endpoint_explain(ep, inst ? inst->variant : NULL, container_id, reason,
			 endpoint_fail_explained);
}

/* Whether every instance f wants passed its checks. */
bool fleet_healthy(const struct fleet *f)
{
	for (size_t i = 0; i < f->n_variants; i++)
		for (size_t j = 0; j < f->variants[i].n_wanted; j++)
			if (f->variants[i].instances[j]->state != INSTANCE_HEALTHY)
				return false;
	return true;
}

/* Every instance is healthy: the endpoint serves (a rollout or a scaling
 * learns that its instances changed). */
void endpoint_maybe_in_service(struct endpoint *ep)
{
	if (ep->failing || !ep->registered)
		return;
	if (ep->state == ENDPOINT_UPDATING || ep->state == ENDPOINT_ROLLING_BACK) {
		endpoint_update_progress(ep);
		return;
	}
	if (ep->state != ENDPOINT_CREATING || !fleet_healthy(ep->fleet))
		return;
	endpoint_set_state(ep, ENDPOINT_IN_SERVICE, "every instance passed its ping health check");
}

/* Whether ep still wants containers started. */
bool endpoint_wants_instances(const struct endpoint *ep)
{
	return !ep->manager->shutting_down && !ep->failing && ep->registered &&
	       (ep->state == ENDPOINT_CREATING || ep->state == ENDPOINT_IN_SERVICE ||
		ep->state == ENDPOINT_UPDATING || ep->state == ENDPOINT_ROLLING_BACK ||
		ep->state == ENDPOINT_UPDATE_ROLLBACK_FAILED);
}

/* Give the slot a container: now when its variant is ready, else once the
 * variant's image and model data are. */
void instance_start(struct instance *inst)
{
	struct variant *v = inst->variant;
	if (v->ready) {
		instance_launch(inst);
		return;
	}
	inst->state = INSTANCE_PENDING;
	if (!v->provisioning)
		endpoint_provision_variant(v);
}

/* Backoff over: launch the replacement. */
static void instance_relaunch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct instance *inst = arg;
	if (inst->state == INSTANCE_GONE && instance_wanted(inst) &&
	    endpoint_wants_instances(inst->variant->endpoint))
		instance_start(inst);
}

/* Launch the slot again after delay_ms. */
static void instance_relaunch_later(struct instance *inst, unsigned delay_ms)
{
	struct endpoint *ep = inst->variant->endpoint;
	if (!inst->relaunch)
		inst->relaunch = evtimer_new(ep->manager->base, instance_relaunch_cb, inst);
	struct timeval tv = {.tv_sec = delay_ms / 1000, .tv_usec = (delay_ms % 1000) * 1000};
	evtimer_add(inst->relaunch, &tv);
}

/* Relaunch now an instance that waits for GPUs. */
static void endpoint_wake_one(const char *key, void *value, void *userdata)
{
	struct endpoint *ep = value;
	struct fleet *f;
	for (size_t k = 0; (f = endpoint_fleet_nth(ep, k)); k++)
		for (size_t i = 0; i < f->n_variants; i++)
			for (size_t j = 0; j < f->variants[i].n_instances; j++) {
				struct instance *inst = f->variants[i].instances[j];
				if (inst->gpu_wait && inst->state == INSTANCE_GONE)
					instance_relaunch_later(inst, 0);
			}
}

/* GPUs were freed: instances waiting for some try again (from the loop). */
void endpoint_wake_gpu_waiters(struct endpoint_manager *m)
{
	if (m->by_name && !m->shutting_down)
		strmap_foreach(m->by_name, endpoint_wake_one, NULL);
}

/* 1 s doubling up to 30 s: an Engine that is away is not hammered. */
unsigned endpoint_backoff_ms(unsigned attempt)
{
	unsigned shift = attempt < 5 ? attempt : 5;
	unsigned ms = ENDPOINT_RETRY_MS << shift;
	return ms < ENDPOINT_RETRY_MAX_MS ? ms : ENDPOINT_RETRY_MAX_MS;
}

/* The Engine did not answer at all: worth another try, not a verdict. */
bool engine_unreachable(const struct docker_result *r)
{
	return r->err && r->status == 0 && r->err != -ECANCELED;
}

/*
 * The Engine answered 5xx about our container.  While it shuts down it says
 * things like "transport is closing"; a few such answers in a row are worth
 * retrying before they are taken for the container's fault.
 */
static bool engine_troubled(struct instance *inst, const struct docker_result *r)
{
	return r->status >= 500 && inst->engine_errors++ < ENDPOINT_ENGINE_ERROR_RETRIES;
}

/*
 * The Engine is away (or restarted under a starting container): try the slot
 * again in a second.  A Creating endpoint fails only once its startup timeout
 * is spent, so an outage shorter than that fails nothing.
 */
static void instance_retry(struct instance *inst, const char *what)
{
	struct endpoint *ep = inst->variant->endpoint;
	if (ep->state == ENDPOINT_CREATING && inst->deadline_ms &&
	    now_monotonic_ms() >= inst->deadline_ms) {
		_cleanup_free_ char *reason = xasprintf(
			"The container of production variant %s could not be started within %u "
			"seconds: %s",
			inst->variant->name, inst->variant->cv->startup_timeout_s, what);
		inst->state = INSTANCE_FAILED;
		endpoint_fail(ep, inst, NULL, reason);
		return;
	}
	unsigned delay_ms = endpoint_backoff_ms(inst->restarts++);
	log_instance(LOG_WARNING, inst,
		     "endpoint %s: variant %s instance %u: %s; trying again in %u ms", ep->name,
		     inst->variant->name, inst->slot, what, delay_ms);
	instance_teardown(inst);
	endpoint_persist(ep);
	instance_relaunch_later(inst, delay_ms);
}

/*
 * An instance of a serving endpoint stopped serving: replace it.  A container
 * that keeps dying is replaced after a growing pause (0.5 s doubling to
 * 30 s); one that served for a minute starts the count again.
 */
void instance_replace(struct instance *inst, const char *why)
{
	struct endpoint *ep = inst->variant->endpoint;
	if (now_monotonic_ms() - inst->started_ms > 60 * 1000)
		inst->restarts = 0;
	unsigned delay_ms = 0;
	if (inst->restarts > 0) {
		unsigned shift = inst->restarts - 1 < 6 ? inst->restarts - 1 : 6;
		delay_ms = 500u << shift;
		if (delay_ms > 30000)
			delay_ms = 30000;
	}
	inst->restarts++;
	metrics_replacement();
	log_instance(LOG_WARNING, inst,
		     "endpoint %s: variant %s instance %u %s; replacing it in %u ms", ep->name,
		     inst->variant->name, inst->slot, why, delay_ms);
	instance_teardown(inst);
	endpoint_persist(ep);
	instance_relaunch_later(inst, delay_ms);
}

/* inst failed for good and the rollout it belongs to decides what comes next:
 * it takes no calls and is not probed, but its container stays (its log is
 * being read) until its fleet goes. */
static void instance_hold_failed(struct instance *inst)
{
	inst->health = health_check_free(inst->health);
	if (inst->state == INSTANCE_HEALTHY)
		variant_unlist_healthy(inst);
	inst->state = INSTANCE_FAILED;
}

/*
 * A step of the slot's start failed for good: a Creating endpoint fails with
 * reason; a serving one replaces the instance, with backoff.
 */
static void instance_failed(struct instance *inst, const char *container_id, const char *reason)
{
	struct endpoint *ep = inst->variant->endpoint;
	if (ep->state == ENDPOINT_CREATING) {
		inst->state = INSTANCE_FAILED;
		endpoint_fail(ep, inst, container_id, reason);
	} else if (endpoint_update_failed(ep, inst, inst->variant, container_id, reason)) {
		instance_hold_failed(inst);
	} else {
		instance_replace(inst, reason);
	}
}

/* Whether inst's model runs without a network: reached through its dialer only. */
bool instance_isolated(const struct instance *inst)
{
	const struct config_model *model = inst->variant->cv->model;
	return model && model->enable_network_isolation;
}

/* Startup pings for inst: to its host port, or through its dialer. */
struct health_check *instance_health_startup(struct instance *inst, uint64_t timeout_ms)
{
	struct endpoint_manager *m = inst->variant->endpoint->manager;
	if (instance_isolated(inst))
		return health_check_startup_dialed(m->base, m->upstream, &inst->dialer, timeout_ms,
						   instance_startup_cb, inst);
	return health_check_startup_at(m->base, m->httpc, inst->host_addr, inst->host_port,
				       timeout_ms, instance_startup_cb, inst);
}

/* Steady pings for inst, the same way. */
struct health_check *instance_health_steady(struct instance *inst)
{
	struct endpoint_manager *m = inst->variant->endpoint->manager;
	if (instance_isolated(inst))
		return health_check_steady_dialed(m->base, m->upstream, &inst->dialer,
						  instance_steady_cb, inst);
	return health_check_steady_at(m->base, m->httpc, inst->host_addr, inst->host_port,
				      instance_steady_cb, inst);
}

/* Out of rotation now; back in when a ping passes, replaced when none does. */
void endpoint_instance_unreachable(struct instance *inst, const char *why)
{
	struct endpoint *ep = inst->variant->endpoint;
	struct endpoint_manager *m = ep->manager;
	if (inst->state != INSTANCE_HEALTHY || m->shutting_down)
		return;
	log_instance(LOG_WARNING, inst,
		      "endpoint %s: variant %s instance %u out of rotation: %s", ep->name,
		      inst->variant->name, inst->slot, why);
	variant_unlist_healthy(inst);
	inst->health = health_check_free(inst->health);
	inst->state = INSTANCE_PROBING;
	inst->started_ms = now_monotonic_ms();
	inst->health = instance_health_startup(inst, ENDPOINT_RECHECK_TIMEOUT_MS);
}

/* Steady probes say the instance stopped answering. */
void instance_steady_cb(enum health_verdict verdict, const char *detail, void *userdata)
{
	struct instance *inst = userdata;
	_cleanup_free_ char *why = xasprintf("failed %d pings in a row (%s)", HEALTH_STEADY_FAILURES,
					     detail ? detail : "");
	inst->health = health_check_free(inst->health);
	instance_replace(inst, why);
}

/* inst passed its startup pings (and has its dialer, or will go without):
 * it takes calls from now on. */
void instance_joins_rotation(struct instance *inst)
{
	struct variant *v = inst->variant;
	struct endpoint *ep = v->endpoint;
	inst->state = INSTANCE_HEALTHY;
	inst->deadline_ms = 0;
	inst->engine_errors = 0;
	v->healthy = xreallocarray(v->healthy, v->n_healthy + 1, sizeof(*v->healthy));
	v->healthy[v->n_healthy++] = inst;
	log_instance(LOG_INFO, inst, "endpoint %s: variant %s instance %u healthy after %llu ms",
		     ep->name, v->name, inst->slot,
		     (unsigned long long)(now_monotonic_ms() - inst->started_ms));
	inst->health = instance_health_steady(inst);
	endpoint_maybe_in_service(ep);
}

/* Startup probes gave their verdict. */
void instance_startup_cb(enum health_verdict verdict, const char *detail, void *userdata)
{
	struct instance *inst = userdata;
	struct variant *v = inst->variant;
	struct endpoint *ep = v->endpoint;
	/* detail lives in the check, which goes now. */
	_cleanup_free_ char *last = xstrdup(detail);
	inst->health = health_check_free(inst->health);

	if (verdict == HEALTH_PASSED) {
		if (!instance_await_dialer(inst))
			instance_joins_rotation(inst);
		return;
	}

	inst->state = INSTANCE_FAILED;
	_cleanup_free_ char *reason = xasprintf(
		ENDPOINT_PING_FAILED_MSG " No ping succeeded within %u seconds; the last one got: %s.",
		v->name, v->cv->startup_timeout_s, last ? last : "no answer");
	if (ep->state == ENDPOINT_CREATING)
		endpoint_fail(ep, inst, inst->container_id, reason);
	else if (endpoint_update_failed(ep, inst, v, inst->container_id, reason))
		instance_hold_failed(inst);
	else
		instance_replace(inst, "did not pass its ping health check");
}

/* The container of inst died (event stream or inspect). */
void instance_died(struct instance *inst, int exit_code)
{
	struct endpoint *ep = inst->variant->endpoint;
	if (inst->state != INSTANCE_STARTING && inst->state != INSTANCE_PROBING &&
	    inst->state != INSTANCE_HEALTHY)
		return;
	bool oom = inst->oom_killed;
	log_instance(LOG_WARNING, inst,
		      "endpoint %s: variant %s instance %u: container exited with code %d%s",
		      ep->name, inst->variant->name, inst->slot, exit_code,
		      oom ? " (out of memory)" : "");
	if (ep->state == ENDPOINT_CREATING && inst->engine_epoch != ep->manager->engine_epoch) {
		/* The Engine went away since the container started: it was most
		 * likely stopped with it, not by its own fault. */
		_cleanup_free_ char *what = xasprintf(
			"its container exited with code %d while the Docker Engine restarted", exit_code);
		instance_retry(inst, what);
	} else if (ep->state == ENDPOINT_CREATING && inst->engine_stopped && !oom) {
		/* A kill that endpointd did not send (an Engine shutting down
		 * stops its containers, kill then die, while the event stream
		 * still runs), or a death found by a listing that may have run
		 * before the event stream's reconnection bumped the epoch: not
		 * the model's fault either. */
		_cleanup_free_ char *what = xasprintf(
			"its container was stopped by the Docker Engine (exit code %d)", exit_code);
		instance_retry(inst, what);
	} else if (ep->state == ENDPOINT_CREATING) {
		inst->health = health_check_free(inst->health);
		if (inst->state == INSTANCE_HEALTHY)
			variant_unlist_healthy(inst);
		inst->state = INSTANCE_FAILED;
		_cleanup_free_ char *reason =
			xasprintf(ENDPOINT_PING_FAILED_MSG " The container exited with code %d%s.",
				  inst->variant->name, exit_code,
				  oom ? " after it ran out of memory" : "");
		endpoint_fail(ep, inst, inst->container_id, reason);
	} else if (endpoint_wants_instances(ep)) {
		_cleanup_free_ char *why =
			xasprintf("exited with code %d%s", exit_code, oom ? " (out of memory)" : "");
		_cleanup_free_ char *reason =
			xasprintf(ENDPOINT_PING_FAILED_MSG " The container exited with code %d%s.",
				  inst->variant->name, exit_code,
				  oom ? " after it ran out of memory" : "");
		bool engine = inst->engine_epoch != ep->manager->engine_epoch ||
			      (inst->engine_stopped && !oom);
		if (!engine && endpoint_update_failed(ep, inst, inst->variant, inst->container_id,
						      reason))
			instance_hold_failed(inst);
		else
			instance_replace(inst, why);
	}
}

/* Inspect after start: learn the host port (none without a network: start
 * the dialer the pings need), then probe. */
static void instance_inspected_cb(const struct docker_result *r, const struct docker_container *c,
				  void *userdata)
{
	struct op *op = userdata;
	struct instance *inst = op->inst;
	if (!op_current(op) || inst->state != INSTANCE_STARTING)
		goto out;
	if (engine_unreachable(r) || engine_troubled(inst, r)) {
		instance_retry(inst, r->message ? r->message : strerror(-r->err));
		goto out;
	}
	if (r->err) {
		_cleanup_free_ char *reason =
			xasprintf("Failed to inspect the container of production variant %s: %s",
				  inst->variant->name, r->message ? r->message : strerror(-r->err));
		instance_failed(inst, inst->container_id, reason);
		goto out;
	}
	if (!c->running) {
		instance_died(inst, c->exit_code);
		goto out;
	}
	if (instance_isolated(inst)) {
		inst->host_port = 0;
		instance_start_dialer(inst);
	} else {
		inst->host_port = docker_container_host_port(c, 8080);
	}
	if (inst->host_port == 0 && !instance_isolated(inst)) {
		_cleanup_free_ char *reason = xasprintf(
			"The container of production variant %s has no host port for 8080/tcp.",
			inst->variant->name);
		instance_failed(inst, inst->container_id, reason);
		goto out;
	}
	inst->state = INSTANCE_PROBING;
	uint64_t timeout_ms = (uint64_t)inst->variant->cv->startup_timeout_s * 1000;
	inst->health = instance_health_startup(inst, timeout_ms);
	/* Started while the pings run, it is ready when they pass. */
	instance_start_dialer(inst);
out:
	op_free(op);
}

/* Started: inspect it for the port. */
void instance_started_cb(const struct docker_result *r, void *userdata)
{
	struct op *op = userdata;
	struct instance *inst = op->inst;
	if (!op_current(op) || inst->state != INSTANCE_STARTING) {
		op_free(op);
		return;
	}
	if (engine_unreachable(r) || engine_troubled(inst, r)) {
		instance_retry(inst, r->message ? r->message : strerror(-r->err));
		op_free(op);
		return;
	}
	if (r->err == -ENOENT) {
		/* Gone before it started: a create whose client was killed is
		 * rolled back by the Engine even after it shows in the list. */
		_cleanup_free_ char *what =
			xasprintf("its container %.12s was gone before it started", inst->container_id);
		instance_retry(inst, what);
		op_free(op);
		return;
	}
	if (r->err) {
		_cleanup_free_ char *reason =
			xasprintf("Failed to start the container of production variant %s: %s",
				  inst->variant->name, r->message ? r->message : strerror(-r->err));
		instance_failed(inst, inst->container_id, reason);
		op_free(op);
		return;
	}
	docker_container_inspect(op->ep->manager->docker, inst->container_id, instance_inspected_cb,
				 op);
}

static void instance_created_cb(const struct docker_result *r, const char *id, void *userdata);

/* Our own leftover was in the way and is removed: create again. */
static void instance_conflict_removed_cb(const struct docker_result *r, void *userdata)
{
	struct op *op = userdata;
	struct instance *inst = op->inst;
	struct endpoint_manager *m = op->ep->manager;
	if (!r->err || r->err == -ENOENT)
		endpoint_manager_container_gone(m, op->container_name);
	if (!op_current(op) || inst->state != INSTANCE_CREATING) {
		op_free(op);
		return;
	}
	op->may_retry = false; /* a second conflict fails */
	docker_container_create(m->docker, op->container_name, op->spec, instance_created_cb, op);
}

/*
 * The name was taken: see by whose container.  A leftover of this slot
 * (this daemon, endpoint, variant and slot by its labels) is removed and the
 * create tried again; anything else is never touched, and the instance fails
 * with the reason.
 */
static void instance_conflict_inspected_cb(const struct docker_result *r,
					   const struct docker_container *c, void *userdata)
{
	struct op *op = userdata;
	struct instance *inst = op->inst;
	struct endpoint *ep = op->ep;
	struct endpoint_manager *m = ep->manager;
	if (!op_current(op) || inst->state != INSTANCE_CREATING) {
		if (!m->shutting_down)
			endpoint_manager_resync_later(m, ENDPOINT_RETRY_MS);
		op_free(op);
		return;
	}
	if (r->err == -ENOENT) {
		/* Gone meanwhile: the name is free. */
		op->may_retry = false;
		docker_container_create(m->docker, op->container_name, op->spec,
					instance_created_cb, op);
		return;
	}
	if (engine_unreachable(r) || engine_troubled(inst, r)) {
		instance_retry(inst, r->message ? r->message : strerror(-r->err));
		op_free(op);
		return;
	}
	if (!r->err && endpoint_container_is_instances(inst, c)) {
		log_instance(LOG_INFO, inst, "endpoint %s: container %s (%.12s) exists; replacing it",
			     ep->name, op->container_name, c->id);
		docker_container_remove(m->docker, c->id, true, instance_conflict_removed_cb, op);
		return;
	}
	/* Nothing of ours was created: the GPUs are not in use. */
	instance_release_gpus(inst);
	_cleanup_free_ char *reason =
		r->err ? xasprintf("Failed to create the container of production variant %s: the "
				   "name %s is taken and the container holding it cannot be "
				   "inspected: %s",
				   inst->variant->name, op->container_name,
				   r->message ? r->message : strerror(-r->err))
		       : xasprintf("Failed to create the container of production variant %s: the "
				   "name %s is taken by container %.12s, which endpointd did not "
				   "create for this instance; remove or rename that container.",
				   inst->variant->name, op->container_name, c->id);
	log_instance(LOG_WARNING, inst, "endpoint %s: %s", ep->name, reason);
	instance_failed(inst, NULL, reason);
	op_free(op);
}

/* A create came back that no longer matters: whatever it made belongs to
 * nobody; a refusal means nothing holds its GPUs. */
static void instance_created_stale(struct op *op, const struct docker_result *r, const char *id)
{
	struct endpoint *ep = op->ep;
	struct endpoint_manager *m = ep->manager;
	if (m->shutting_down)
		return;
	if (!r->err && id)
		endpoint_remove_container(ep, id, op->container_name);
	else if (r->err && r->status != 0 && r->err != -EEXIST)
		endpoint_manager_container_gone(m, op->container_name);
	else
		endpoint_manager_resync_later(m, ENDPOINT_RETRY_MS);
}

/* Created: remember the id, then start it. */
static void instance_created_cb(const struct docker_result *r, const char *id, void *userdata)
{
	struct op *op = userdata;
	struct instance *inst = op->inst;
	struct endpoint *ep = op->ep;
	struct endpoint_manager *m = ep->manager;
	if (!op_current(op) || inst->state != INSTANCE_CREATING) {
		instance_created_stale(op, r, id);
		op_free(op);
		return;
	}
	if (r->err == -EEXIST && op->may_retry) {
		docker_container_inspect(m->docker, op->container_name,
					 instance_conflict_inspected_cb, op);
		return;
	}
	if (engine_unreachable(r)) {
		/* It may exist after all: its GPUs wait for a listing to say. */
		endpoint_manager_resync_later(m, ENDPOINT_RETRY_MS);
		instance_retry(inst, r->message ? r->message : strerror(-r->err));
		op_free(op);
		return;
	}
	if (r->err) {
		/* The Engine refused: no container holds the GPUs. */
		instance_release_gpus(inst);
	}
	if (engine_troubled(inst, r)) {
		instance_retry(inst, r->message ? r->message : strerror(-r->err));
		op_free(op);
		return;
	}
	if (r->err) {
		_cleanup_free_ char *reason =
			xasprintf("Failed to create the container of production variant %s: %s",
				  inst->variant->name, r->message ? r->message : strerror(-r->err));
		instance_failed(inst, NULL, reason);
		op_free(op);
		return;
	}
	inst->container_id = xstrdup(id);
	strmap_put(m->by_container, id, inst);
	inst->state = INSTANCE_STARTING;
	endpoint_persist(ep);
	log_instance(LOG_INFO, inst, "endpoint %s: variant %s instance %u: container %s (%.12s)",
		      ep->name, inst->variant->name, inst->slot, inst->container_name, id);
	docker_container_start(m->docker, id, instance_started_cb, op);
}

/* The intent is on disk: now create the container. */
static void instance_intent_durable_cb(void *userdata)
{
	struct op *op = userdata;
	if (!op_current(op) || op->inst->state != INSTANCE_CREATING) {
		/* Never asked for: nothing holds its GPUs. */
		endpoint_manager_container_gone(op->ep->manager, op->container_name);
		op_free(op);
		return;
	}
	instance_make_dialer_dir(op->inst);
	docker_container_create(op->ep->manager->docker, op->container_name, op->spec,
				instance_created_cb, op);
}

/*
 * Give the slot a fresh container.  Its name and generation are journaled
 * before it is created, so that after a crash the container is recognised
 * (adopted) rather than doubled.
 */
void instance_launch(struct instance *inst)
{
	struct variant *v = inst->variant;
	struct endpoint *ep = v->endpoint;
	struct endpoint_manager *m = ep->manager;
	if (m->swarm) {
		endpoint_swarm_launch(inst);
		return;
	}
	free(inst->container_name);
	inst->container_name =
		endpoint_container_name(m->owner, ep->name, v->name, v->fleet->id, inst->slot,
						 inst->generation);
	uint64_t now = now_monotonic_ms();
	if (!inst->deadline_ms)
		inst->deadline_ms = now + (uint64_t)v->cv->startup_timeout_s * 1000;
	_cleanup_free_ char *no_gpus = NULL;
	int r = instance_take_gpus(inst, &no_gpus);
	if (r == -EAGAIN && (ep->state != ENDPOINT_CREATING || now < inst->deadline_ms)) {
		/* Woken when a container goes; the timer minds the deadline. */
		if (!inst->gpu_wait)
			log_instance(LOG_INFO, inst, "endpoint %s: variant %s instance %u: %s",
				     ep->name, v->name, inst->slot, no_gpus);
		inst->state = INSTANCE_GONE;
		inst->gpu_wait = true;
		instance_relaunch_later(inst, ENDPOINT_RETRY_MS);
		return;
	}
	inst->gpu_wait = false;
	if (r < 0) {
		log_instance(LOG_WARNING, inst, "endpoint %s: variant %s instance %u: %s", ep->name,
			      v->name, inst->slot, no_gpus);
		instance_failed(inst, NULL, no_gpus);
		return;
	}
	inst->state = INSTANCE_CREATING;
	inst->started_ms = now;
	inst->engine_epoch = m->engine_epoch;
	struct op *op = op_new(ep, v, inst);
	/* The spec and name ride along for a retry after a name conflict. */
	op->spec = instance_container_spec(inst);
	op->container_name = xstrdup(inst->container_name);
	op->may_retry = true;
	if (m->journal) {
		endpoint_persist(ep);
		journal_barrier(m->journal, instance_intent_durable_cb, op);
	} else {
		instance_intent_durable_cb(op);
	}
}

/* Look up a name, case-insensitively. */
struct endpoint *endpoint_find(struct endpoint_manager *m, const char *name)
{
	_cleanup_free_ char *lc = str_tolower(name);
	return strmap_get(m->by_name, lc);
}

/* Collect one map entry. */
static void endpoint_list_one(const char *key, void *value, void *userdata)
{
	struct endpoint ***cursor = userdata;
	*(*cursor)++ = value;
}

/* Every registered endpoint. */
size_t endpoint_list(struct endpoint_manager *m, struct endpoint ***ret)
{
	size_t n = strmap_size(m->by_name);
	struct endpoint **v = xcalloc(n ? n : 1, sizeof(*v));
	struct endpoint **cursor = v;
	strmap_foreach(m->by_name, endpoint_list_one, &cursor);
	*ret = v;
	return n;
}

/* A new endpoint of config ecfg (a reference is taken on c), not listed yet. */
struct endpoint *endpoint_alloc(struct endpoint_manager *m, const char *name,
				       struct config *c, const struct config_endpoint_config *ecfg)
{
	struct endpoint *ep = xcalloc(1, sizeof(*ep));
	ep->manager = m;
	ep->refs = 1; /* the registry's */
	ep->name = xstrdup(name);
	ep->name_lc = str_tolower(name);
	ep->arn = names_arn(m->config->region, m->config->account_id, "endpoint", name);
	ep->fleet = fleet_new(ep, 0, c, ecfg);
	ep->next_fleet_id = 1;
	ep->state = ENDPOINT_CREATING;
	ep->creation_time = ep->last_modified_time = now_realtime();
	return ep;
}

/* List ep. */
void endpoint_register(struct endpoint *ep)
{
	struct endpoint_manager *m = ep->manager;
	strmap_put(m->by_name, ep->name_lc, ep);
	ep->registered = true;
	m->n_instances += endpoint_slots(ep);
}

/* Register a new endpoint and start provisioning it. */
int endpoint_create(struct endpoint_manager *m, const char *name, const char *config_name,
		    const struct endpoint_tag *tags, size_t n_tags, struct endpoint **ret)
{
	if (endpoint_find(m, name))
		return -EEXIST;
	const struct config_endpoint_config *ecfg =
		config_find_endpoint_config(m->config, config_name);
	if (!ecfg)
		return -ENOENT;
	for (size_t i = 0; i < ecfg->n_variants; i++)
		if (!ecfg->variants[i].model || !ecfg->variants[i].type)
			return -ENXIO; /* a config of the API's whose model went */
	/* A container without a network is reached only through its dialer. */
	for (size_t i = 0; i < ecfg->n_variants; i++)
		if (ecfg->variants[i].model->enable_network_isolation &&
		    !m->config->container_dialer)
			return -ENETUNREACH;
	if (strmap_size(m->by_name) >= m->config->max_endpoints)
		return -ENOSPC;
	size_t want = 0;
	for (size_t i = 0; i < ecfg->n_variants; i++)
		want += ecfg->variants[i].initial_instance_count;
	if (m->n_instances + want > m->config->max_instances)
		return -EDQUOT;
	size_t gpus = endpoint_config_gpus(ecfg);
	if (m->swarm) {
		int r = endpoint_swarm_admit(m, ecfg);
		if (r < 0)
			return r;
	} else if (gpus > 0 && gpus > endpoint_manager_free_gpus(m)) {
		return -ENODEV;
	}

	struct endpoint *ep = endpoint_alloc(m, name, m->config, ecfg);
	if (tagset_add(&ep->tags, tags, n_tags) < 0) {
		endpoint_destroy(ep);
		return -E2BIG;
	}
	endpoint_register(ep);
	log_endpoint(LOG_NOTICE, ep->name, "endpoint %s: Creating from config %s (%zu instances)",
		     ep->name, ep->fleet->config_name, want);
	endpoint_persist(ep);
	if (m->observer)
		m->observer(ep, ENDPOINT_CREATING, ENDPOINT_CREATING, "created", m->observer_data);
	for (size_t i = 0; i < ep->fleet->n_variants; i++)
		endpoint_provision_variant(&ep->fleet->variants[i]);
	*ret = ep;
	return 0;
}

/* Start deleting. */
int endpoint_delete(struct endpoint *ep)
{
	if (ep->state == ENDPOINT_DELETING)
		return -EBUSY;
	int r = endpoint_set_state(ep, ENDPOINT_DELETING, "DeleteEndpoint");
	if (r < 0)
		return -EBUSY;
	ep->failing = false;
	endpoint_ref(ep);
	endpoint_teardown(ep);
	endpoint_maybe_drop(ep);
	endpoint_unref(ep);
	return 0;
}

/* A manager with no endpoints. */
struct endpoint_manager *endpoint_manager_new(struct event_base *base, struct httpc *h,
					      struct docker *d, struct config *config,
					      struct journal *journal, const char *owner)
{
	struct endpoint_manager *m = xcalloc(1, sizeof(*m));
	m->base = base;
	m->httpc = h;
	m->docker = d;
	m->config = config_ref(config);
	m->journal = journal;
	m->owner = xstrdup(owner);
	m->owner_label = xasprintf("%s=%s", ENDPOINT_LABEL_OWNER, owner);
	m->by_name = strmap_new();
	m->by_container = strmap_new();
	m->resync_timer = evtimer_new(base, endpoint_manager_resync_timer_cb, m);
	m->upstream = upstream_new(base);
	m->swarm = config->docker_mode == CONFIG_DOCKER_SWARM;
	return m;
}

/* Begin watching the Engine; the first connection matches restored endpoints. */
void endpoint_manager_start(struct endpoint_manager *m)
{
	if (m->swarm) {
		endpoint_swarm_start(m);
		return;
	}
	docker_events_watch(m->docker, m->owner_label, endpoint_manager_event_cb, m);
}

/* Stop probing (before the clients go away at shutdown). */
static void endpoint_manager_quiesce_one(const char *key, void *value, void *userdata)
{
	struct endpoint *ep = value;
	struct fleet *f;
	for (size_t k = 0; (f = endpoint_fleet_nth(ep, k)); k++)
		for (size_t i = 0; i < f->n_variants; i++) {
			struct variant *v = &f->variants[i];
			for (size_t j = 0; j < v->n_instances; j++) {
				struct instance *inst = v->instances[j];
				inst->health = health_check_free(inst->health);
				if (inst->relaunch)
					evtimer_del(inst->relaunch);
				if (inst->drain)
					evtimer_del(inst->drain);
			}
			if (v->retry)
				evtimer_del(v->retry);
		}
	if (ep->deploy_timer)
		evtimer_del(ep->deploy_timer);
	if (ep->sweep)
		evtimer_del(ep->sweep);
}

/* Drop the registry's reference. */
static void endpoint_manager_release_one(const char *key, void *value, void *userdata)
{
	struct endpoint *ep = value;
	ep->registered = false;
	ep->manager = NULL;
	if (--ep->refs == 0)
		endpoint_destroy(ep);
}

/* Stop all activity: operations that still come back are ignored. */
void endpoint_manager_shutdown(struct endpoint_manager *m)
{
	m->shutting_down = true;
	m->journal = NULL;
	evtimer_del(m->resync_timer);
	if (m->swarm_poll)
		evtimer_del(m->swarm_poll);
	strmap_foreach(m->by_name, endpoint_manager_quiesce_one, NULL);
}

/*
 * Free the manager.  Containers keep running: the next start adopts them.
 * Call endpoint_manager_shutdown() first and free the Docker and HTTP clients
 * (which completes their last operations) before this.
 */
struct endpoint_manager *endpoint_manager_free(struct endpoint_manager *m)
{
	if (!m)
		return NULL;
	endpoint_manager_shutdown(m);
	/* Ends the pings still in flight; their checks are dead already. */
	m->upstream = upstream_free(m->upstream);
	strmap_foreach(m->by_name, endpoint_manager_release_one, NULL);
	strmap_free(m->by_name);
	strmap_free(m->by_container);
	event_free(m->resync_timer);
	endpoint_swarm_free(m);
	config_unref(m->config);
	free(m->owner);
	free(m->owner_label);
	endpoint_manager_free_gpu_use(m);
	free(m->gpus);
	free(m->gpu_error);
	free(m);
	return NULL;
}

/* Set the journal hook. */
void endpoint_manager_set_observer(struct endpoint_manager *m, endpoint_observer_fn fn,
				   void *userdata)
{
	m->observer = fn;
	m->observer_data = userdata;
}

/* The config new endpoints come from. */
struct config *endpoint_manager_config(struct endpoint_manager *m)
{
	return m->config;
}

/* Swap in a reloaded config; running endpoints keep theirs. */
void endpoint_manager_set_config(struct endpoint_manager *m, struct config *config)
{
	struct config *old = m->config;
	m->config = config_ref(config);
	config_unref(old);
}

/* Instance slots of all endpoints. */
size_t endpoint_manager_instances(const struct endpoint_manager *m)
{
	return m->n_instances;
}

/* Endpoints listed. */
size_t endpoint_manager_endpoints(const struct endpoint_manager *m)
{
	return strmap_size(m->by_name);
}
