/*
 * The Swarm backend of the endpoint manager (docker.mode swarm): what a
 * variant's service is called and asks for, and what its tasks mean for
 * its instances.  The pure part comes first, then the manager's side:
 * services created, scaled and removed, tasks listed and matched with
 * instances.
 *
 * DESIGN
 *
 * On one Engine each instance is a container that endpoint.c creates,
 * starts, inspects, health-checks and removes by itself; in swarm mode each
 * variant (of each fleet) is one replicated service, and its instances are
 * the service's tasks.  The calls map as follows:
 *
 *   one Engine (endpoint.c …)            swarm mode (lib/swarm.c)
 *   image inspect / pull (provision)     kept on the manager's Engine (it
 *                                        checks the image exists before a
 *                                        service is made); each node pulls
 *                                        for itself, and one that cannot
 *                                        fails its task ("rejected", Err)
 *   container create + start, per slot   one service create per variant,
 *                                        replicas = instance count
 *                                        (swarm_service_spec() of the slot-0
 *                                        container spec)
 *   inspect for the host port            task list: Status.PortStatus's
 *                                        host-mode port, at the Status.Addr
 *                                        of the task's node (node list)
 *   events: die, oom, destroy            no task events exist: the task list,
 *                                        polled while tasks change and again
 *                                        on every service or node event
 *                                        (swarm_events_watch)
 *   container remove + create            the task ended and stays ended
 *   (replace a dead instance)            (restart policy none); its slot
 *                                        stays one of the service's until
 *                                        the service is scaled down by it
 *                                        (endpoint_swarm_replicas); a new
 *                                        task in a new slot replaces it.
 *                                        ForceUpdate would replace every
 *                                        task, an update with the same spec
 *                                        none
 *   scale (UpdateEndpointWeights…,       swarm_service_scale()
 *   instance count)
 *   a new fleet (UpdateEndpoint)         a new service; the old one removed
 *                                        once traffic has moved
 *   reconcile: list containers by label  list services and tasks by label;
 *                                        adopt what matches, remove services
 *                                        that belong to nothing
 *   logs for FailureReason               the task's Err / Message
 *   GPUs by UUID (endpoint_gpu.c)        NVIDIA-GPU generic resources:
 *                                        Swarm picks the node and the GPUs
 *   admission: free GPUs on this host    the nodes' advertised resources: a
 *                                        type no node can ever hold is
 *                                        ResourceLimitExceeded at once
 *                                        (endpoint_swarm_type_fits)
 *
 * An instance follows one slot of its service (Task.Slot), and is that
 * slot's newest task: the one whose desired state is running, else the last
 * one to change.  A new instance takes the slot of its own number when it is
 * free, else any live slot that no instance follows, so that an instance
 * replaced in a new slot, or restored after a restart, finds a task.
 * endpoint_swarm_task_state() says which instance state a task stands for;
 * health checks and the proxy stay as they are, with the instance's address
 * and port taken from its task.  A task that waits with the scheduler's Err
 * (no node has the resources, no node meets the constraints) fails a
 * Creating endpoint with that Err as its FailureReason once the startup
 * timeout is spent.
 *
 * The manager lists the nodes (addresses, states, advertised resources,
 * kept for admission) and then the tasks of its services, once a second
 * while endpoints exist, sooner while a launched instance waits for its
 * task (from 50 ms, half as long again each time, up to 100 ms for five
 * seconds), and at once on a service or node event.  Each slot of a
 * service is then live (wanted, on a node that is up), lost (not over, but
 * its node is not ready, or Swarm wants it stopped: a node that went down
 * leaves its tasks "running", with containers that may still answer
 * pings), dead (over) or leaving (scaled away).  A live task that runs, on
 * a node with an IPv4 Status.Addr and a host-mode port in its PortStatus,
 * gets endpointd's startup pings there.  A task that is lost, dead, or gone
 * from the list takes its instance out of rotation at once and
 * instance_replace() gives it a new task, as on one host.  Swarm keeps a
 * lost task's slot until the task is over and a dead task's slot until the
 * service is scaled down by it, so the replica count is the wanted
 * instances, plus the lost slots, plus the dead ones while dropping them
 * would drop a live task instead (endpoint_swarm_drop_is_exact reads
 * Swarm's own order); when it would not, the count first goes down to the
 * slots that are not dead, and up again once they are gone.  Each launch
 * or listing brings the service in line (created with the replicas its
 * slots want; scaled when that count changed, not while slots are
 * leaving); one operation per service at a time.
 *
 * Reconcile: the first listing after a start, and the first after each
 * reconnection of the event stream, lists this daemon's services (by its
 * owner label) before the tasks.  A service is a variant's by the name it
 * would be given (owner, endpoint, variant, fleet): a live endpoint adopts
 * it, a Deleting or Failed one removes it, and one that belongs to no
 * endpoint is removed.  Restored slots of a variant with a service wait
 * for their tasks (adopted by the task listing that follows, pinged, then
 * in rotation); those of a variant without one launch.  That first listing
 * counts as the sync that restored endpoints wait for.
 *
 * Open: a dead slot that cannot be dropped without a live task stays in
 * the service (listed, shut down) until a drop is exact or the service
 * goes; scaling a serving variant down lets Swarm pick the tasks that go,
 * which may not be the slots endpointd retires (an instance whose task is
 * taken is replaced, and takes the retired slot's task); an instance that
 * fails its pings while its task still runs is probed again on that same
 * task (the API has no call that ends one task); a slot leaving from a node
 * that is down holds the scaling until the node is back; model data is a
 * bind mount of this host's path, which exists on other nodes only if the
 * operator shares it (the dialer's mounts are left out: models without a
 * network are refused in swarm mode); the nvidia runtime must be told to
 * honour DOCKER_RESOURCE_NVIDIA-GPU on each node.
 */
#define _GNU_SOURCE
#include "endpoint.h"
#include "endpoint_private.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <string.h>

#include "health.h"
#include "journal.h"
#include "log.h"
#include "swarm.h"
#include "util.h"

/* The Swarm task states, in the order a task moves through them, and the
 * instance state each stands for while the task is wanted. */
static const struct {
	const char *task;
	enum instance_state instance;
} endpoint_swarm_states[] = {
    {"new", INSTANCE_CREATING},      {"allocated", INSTANCE_CREATING},
    {"pending", INSTANCE_CREATING},  {"assigned", INSTANCE_CREATING},
    {"accepted", INSTANCE_CREATING}, {"preparing", INSTANCE_CREATING},
    {"ready", INSTANCE_CREATING},    {"starting", INSTANCE_STARTING},
    {"running", INSTANCE_PROBING},   {"complete", INSTANCE_FAILED},
    {"shutdown", INSTANCE_FAILED},   {"failed", INSTANCE_FAILED},
    {"rejected", INSTANCE_FAILED},   {"remove", INSTANCE_FAILED},
    {"orphaned", INSTANCE_FAILED},
};

/* The states a task ends in because it failed, whatever Swarm wants of it
 * since (it sets a failed task's desired state to shutdown). */
static bool endpoint_swarm_task_failed(const char *state)
{
	return !strcmp(state, "failed") || !strcmp(state, "rejected") ||
	       !strcmp(state, "orphaned") || !strcmp(state, "complete");
}

/* A running task is only probing: endpointd's own pings make it healthy.  A
 * task that ended by failing is a failed instance, even once Swarm has
 * given up on it; one Swarm is retiring (desired state not running) is no
 * instance any more; a state this list does not know is a failure, not a
 * guess. */
enum instance_state endpoint_swarm_task_state(const struct swarm_task *t)
{
	if (endpoint_swarm_task_failed(t->state))
		return INSTANCE_FAILED;
	if (strcmp(t->desired_state, "running") != 0)
		return INSTANCE_GONE;
	for (size_t i = 0; i < ELEMENTSOF(endpoint_swarm_states); i++)
		if (strcmp(t->state, endpoint_swarm_states[i].task) == 0)
			return endpoint_swarm_states[i].instance;
	return INSTANCE_FAILED;
}

/* Whether the scheduler said it cannot place t (it waits with an Err). */
bool endpoint_swarm_task_unplaced(const struct swarm_task *t)
{
	return t->err && strcmp(t->state, "pending") == 0;
}

/* Why t failed or waits, for FailureReason: the scheduler's or the
 * Engine's own words. */
const char *endpoint_swarm_task_reason(const struct swarm_task *t)
{
	return t->err ? t->err : t->message ? t->message : t->state;
}

/*
 * A variant's service name.  Swarm takes at most 63 characters (a DNS
 * label), and an endpoint and a variant name may each be 63: the name is
 * the owner and a hash of the rest, and the labels, as for containers, say
 * whose a service is.
 */
char *endpoint_swarm_service_name(const char *owner, const char *endpoint, const char *variant,
                                  unsigned fleet)
{
	_cleanup_free_ char *e = str_tolower(endpoint), *v = str_tolower(variant);
	_cleanup_free_ char *key = xasprintf("%s/%s/%u", e, v, fleet);
	uint64_t h = hash_fnv1a(key, strlen(key), HASH_FNV1A_INIT);

	return xasprintf("endpointd_%.8s_%016llx", owner, (unsigned long long)h);
}

/* What the instance type of cv asks of Swarm for its service. */
void endpoint_swarm_service_params(const struct config_variant *cv, const char *name,
                                   unsigned replicas, struct swarm_service_params *ret)
{
	const struct config_instance_type *type = cv->type;

	*ret = (struct swarm_service_params){
	    .name = name,
	    .replicas = replicas,
	    .cpus = type->cpus,
	    .memory = type->memory,
	    .gpus = type->gpus,
	    .constraints = (const char *const *)type->constraints,
	    .n_constraints = type->n_constraints,
	    .port = cv->model->enable_network_isolation ? 0 : 8080,
	};
}

/* Whether node n could hold one instance of type t, were it empty. */
static bool endpoint_swarm_node_holds(const struct swarm_node *n,
                                      const struct config_instance_type *t)
{
	if (t->cpus > 0 && (double)n->nano_cpus < t->cpus * 1e9)
		return false;
	if (t->memory > 0 && (uint64_t)n->memory_bytes < t->memory)
		return false;
	if (n->gpus < t->gpus)
		return false;
	for (size_t i = 0; i < t->n_constraints; i++)
		if (!swarm_node_meets(n, t->constraints[i]))
			return false;
	return true;
}

/*
 * Admission: whether some node of the swarm could ever hold an instance of
 * t, by what the nodes advertise (whatever runs on them now, and whether
 * they are up: a node that is down may come back).  One that none could is
 * ResourceLimitExceeded at once rather than a task pending for ever.
 */
bool endpoint_swarm_type_fits(const struct swarm_node *nodes, size_t n,
                              const struct config_instance_type *t)
{
	for (size_t i = 0; i < n; i++)
		if (endpoint_swarm_node_holds(&nodes[i], t))
			return true;
	return false;
}

/* --- the manager's side: services and their tasks ------------------------ */

/* How often the tasks are listed while endpoints exist (no task events). */
#define ENDPOINT_SWARM_POLL_MS 1000
/* The first relisting while a task is awaited; each next is half as long
 * again, up to 100 ms for the first seconds (a task runs about half a
 * second after its service asks for it), then up to the steady poll (a
 * task the scheduler cannot place may wait for long). */
#define ENDPOINT_SWARM_SOON_MS 50
#define ENDPOINT_SWARM_SOON_MAX_MS 100
#define ENDPOINT_SWARM_SOON_FOR_MS 5000
#define ENDPOINT_SWARM_PING_FAILED_MSG                                                             \
	"The primary container for production variant %s did not pass the ping health check."

static void endpoint_swarm_list(struct endpoint_manager *m);
static void endpoint_swarm_variant_sync(struct variant *v);
static void endpoint_swarm_remove_service(struct endpoint *ep, const char *id);

/* An orphan service was removed (or could not be: the next listing after a
 * reconnection tries again). */
static void endpoint_swarm_orphan_removed_cb(const struct docker_result *r, void *userdata)
{
	if (r->err && r->err != -ECANCELED)
		log_warning("removing a service that belongs to no endpoint: %s",
		            r->message ? r->message : strerror(-r->err));
}

/* Timer: list the nodes and tasks again. */
static void endpoint_swarm_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	endpoint_swarm_list(arg);
}

/* List again in delay_ms (the earliest asked for wins). */
static void endpoint_swarm_list_later(struct endpoint_manager *m, unsigned delay_ms)
{
	if (m->swarm_poll && !m->shutting_down)
		endpoint_timer_sooner(m->swarm_poll, delay_ms);
}

/* A service or node changed, or the stream (re)connected: list now. */
static void endpoint_swarm_event_cb(const struct docker_event *ev, bool ended, void *userdata)
{
	struct endpoint_manager *m = userdata;

	if (ended || m->shutting_down)
		return;
	if (!ev) {
		m->engine_epoch++;
		m->swarm_services_due = true;
	}
	endpoint_swarm_list(m);
}

/* Swarm mode: follow services and nodes; the tasks are listed at once. */
void endpoint_swarm_start(struct endpoint_manager *m)
{
	m->swarm_poll = evtimer_new(m->base, endpoint_swarm_poll_cb, m);
	m->swarm_services_due = true;
	swarm_events_watch(m->docker, endpoint_swarm_event_cb, m);
	endpoint_swarm_list(m);
}

/* Forget the last node list. */
static void endpoint_swarm_forget_nodes(struct endpoint_manager *m)
{
	for (size_t i = 0; i < m->n_swarm_nodes; i++)
		swarm_node_clear(&m->swarm_nodes[i]);
	free(m->swarm_nodes);
	m->swarm_nodes = NULL;
	m->n_swarm_nodes = 0;
}

/* The manager goes: its timer and node list with it. */
void endpoint_swarm_free(struct endpoint_manager *m)
{
	if (m->swarm_poll)
		event_free(m->swarm_poll);
	m->swarm_poll = NULL;
	endpoint_swarm_forget_nodes(m);
}

/* A copy of n that the manager keeps past the callback. */
static void endpoint_swarm_node_copy(struct swarm_node *dst, const struct swarm_node *n)
{
	*dst = *n;
	dst->id = xstrdup(n->id);
	dst->hostname = n->hostname ? xstrdup(n->hostname) : NULL;
	dst->role = n->role ? xstrdup(n->role) : NULL;
	dst->state = n->state ? xstrdup(n->state) : NULL;
	dst->availability = n->availability ? xstrdup(n->availability) : NULL;
	dst->addr = n->addr ? xstrdup(n->addr) : NULL;
	dst->labels = n->labels ? json_incref(n->labels) : NULL;
}

/* The node of id in the last list, or NULL. */
static const struct swarm_node *endpoint_swarm_node(const struct endpoint_manager *m,
                                                    const char *id)
{
	for (size_t i = 0; id && i < m->n_swarm_nodes; i++)
		if (!strcmp(m->swarm_nodes[i].id, id))
			return &m->swarm_nodes[i];
	return NULL;
}

/*
 * Where a task on node n answers: its Status.Addr, when that is an IPv4
 * address (health checks and the data plane dial literal addresses; a name
 * or anything else from the Engine is not dialled).  NULL when none.
 */
static const char *endpoint_swarm_node_addr(const struct swarm_node *n)
{
	struct in_addr a;

	if (!n || !n->addr || inet_pton(AF_INET, n->addr, &a) != 1)
		return NULL;
	return n->addr;
}

/* Whether a task on node n can serve: the node is up. */
static bool endpoint_swarm_node_up(const struct swarm_node *n)
{
	return n && n->state && !strcmp(n->state, "ready");
}

/*
 * Admission in swarm mode: a model without a network is not reachable on
 * another node (its dialer is an exec into a local container), and an
 * instance type that no node of the last listing could hold never runs.
 * Before the first listing nothing is refused: the scheduler says why.
 */
int endpoint_swarm_admit(const struct endpoint_manager *m,
                         const struct config_endpoint_config *ecfg)
{
	for (size_t i = 0; i < ecfg->n_variants; i++) {
		const struct config_variant *cv = &ecfg->variants[i];

		if (cv->model->enable_network_isolation)
			return -EPROTONOSUPPORT;
		if (m->swarm_nodes &&
		    !endpoint_swarm_type_fits(m->swarm_nodes, m->n_swarm_nodes, cv->type))
			return -ERANGE;
	}
	return 0;
}

/* Whether t is over: its container has stopped, or never was. */
static bool endpoint_swarm_task_over(const struct swarm_task *t)
{
	static const char *const over[] = {"complete", "shutdown", "failed",
	                                   "rejected", "remove",   "orphaned"};

	for (size_t i = 0; i < ELEMENTSOF(over); i++)
		if (!strcmp(t->state, over[i]))
			return true;
	return false;
}

/* Whether t stands for its slot rather than best: the task Swarm wants
 * running, else the one that changed last. */
static bool endpoint_swarm_task_newer(const struct swarm_task *t, const struct swarm_task *best)
{
	bool wanted = !strcmp(t->desired_state, "running");
	bool best_wanted = !strcmp(best->desired_state, "running");

	return wanted > best_wanted || (wanted == best_wanted && t->timestamp > best->timestamp);
}

/* What a slot whose newest task is t is to endpointd. */
static enum endpoint_swarm_slot_kind endpoint_swarm_slot_kind(const struct endpoint_manager *m,
                                                              const struct swarm_task *t)
{
	const struct swarm_node *node = endpoint_swarm_node(m, t->node_id);

	if (!strcmp(t->desired_state, "remove"))
		return SWARM_SLOT_LEAVING;
	if (endpoint_swarm_task_over(t))
		return SWARM_SLOT_DEAD;
	if ((node && !endpoint_swarm_node_up(node)) || strcmp(t->desired_state, "running") != 0)
		return SWARM_SLOT_LOST;
	return SWARM_SLOT_LIVE;
}

/* The slots of v's service in the listing ts, in *ret; how many. */
static size_t endpoint_swarm_slots(const struct endpoint_manager *m, const struct variant *v,
                                   const struct swarm_task *ts, size_t n,
                                   struct endpoint_swarm_slot **ret)
{
	struct endpoint_swarm_slot *slots = xcalloc(n ? n : 1, sizeof(*slots));
	size_t n_slots = 0;

	for (size_t i = 0; i < n; i++) {
		const struct swarm_task *t = &ts[i];
		size_t k = 0;

		if (!t->service_id || strcmp(t->service_id, v->service_id) != 0 || !t->slot)
			continue;
		while (k < n_slots && slots[k].slot != t->slot)
			k++;
		if (k == n_slots)
			slots[n_slots++] = (struct endpoint_swarm_slot){.slot = t->slot, .task = t};
		else if (endpoint_swarm_task_newer(t, slots[k].task))
			slots[k].task = t;
	}
	for (size_t k = 0; k < n_slots; k++) {
		slots[k].node_id = slots[k].task->node_id;
		slots[k].running = !strcmp(slots[k].task->state, "running");
		slots[k].kind = endpoint_swarm_slot_kind(m, slots[k].task);
	}
	*ret = slots;
	return n_slots;
}

/* The slot numbered slot, or NULL. */
static struct endpoint_swarm_slot *endpoint_swarm_slot_of(struct endpoint_swarm_slot *slots,
                                                          size_t n, unsigned slot)
{
	for (size_t k = 0; slot && k < n; k++)
		if (slots[k].slot == slot)
			return &slots[k];
	return NULL;
}

/* Whether Swarm keeps slot a before slot b when it scales down, before it
 * looks at nodes: one whose task runs first, then the lower number. */
static bool endpoint_swarm_kept_before(const struct endpoint_swarm_slot *a,
                                       const struct endpoint_swarm_slot *b)
{
	if (a->running != b->running)
		return a->running;
	return a->slot < b->slot;
}

/*
 * Whether scaling a service with these slots down by as many slots as are
 * dead would drop the dead ones and no other.  Swarm's orchestrator keeps
 * slots in this order and drops from the end: it ranks them (running
 * first, then by number), counts each as the first, second … of the
 * service on its node, and sorts them by that count, slots with no node
 * last, ties kept in rank (a stable sort, as Go's is on short lists).  A
 * dead slot alone on its node is kept before a live one that is the second
 * on its own: then the drop would take a live task, and is not made.
 */
bool endpoint_swarm_drop_is_exact(const struct endpoint_swarm_slot *slots, size_t n)
{
	_cleanup_free_ const struct endpoint_swarm_slot **order = xcalloc(n ? n : 1, sizeof(*order));
	_cleanup_free_ unsigned *count = xcalloc(n ? n : 1, sizeof(*count));
	size_t dead = 0;

	for (size_t i = 0; i < n; i++) {
		order[i] = &slots[i];
		dead += slots[i].kind == SWARM_SLOT_DEAD;
		for (size_t j = i; j > 0 && endpoint_swarm_kept_before(order[j], order[j - 1]); j--) {
			const struct endpoint_swarm_slot *x = order[j];

			order[j] = order[j - 1];
			order[j - 1] = x;
		}
	}
	if (!dead)
		return false;
	for (size_t i = 0; i < n; i++) {
		count[i] = UINT_MAX; /* no node: last */
		if (!order[i]->node_id)
			continue;
		count[i] = 0;
		for (size_t j = 0; j <= i; j++)
			count[i] += order[j]->node_id && !strcmp(order[j]->node_id, order[i]->node_id);
	}
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && count[j] < count[j - 1]; j--) {
			const struct endpoint_swarm_slot *x = order[j];
			unsigned c = count[j];

			order[j] = order[j - 1];
			order[j - 1] = x;
			count[j] = count[j - 1];
			count[j - 1] = c;
		}
	for (size_t i = n - dead; i < n; i++)
		if (order[i]->kind != SWARM_SLOT_DEAD)
			return false;
	return true;
}

/* inst's task ended, or its node went: out of rotation now.  A Creating
 * endpoint fails with why; a serving one gets a new task (the replica
 * count follows its service's slots: endpoint_swarm_replicas). */
static void endpoint_swarm_task_ended(struct instance *inst, const struct swarm_task *t,
                                      const char *node_why)
{
	struct variant *v = inst->variant;
	struct endpoint *ep = v->endpoint;
	/* The task's logs tell why in the model's words, when it had a container. */
	const char *logs = t->container_id ? t->id : NULL;
	_cleanup_free_ char *reason = NULL, *why = NULL;

	if (node_why) {
		reason = xasprintf("The task of production variant %s is on a node that is %s.",
		                   v->name, node_why);
		why = xasprintf("lost its node (%s)", node_why);
	} else if (!strcmp(t->state, "failed") && t->exit_code >= 0) {
		reason =
		    xasprintf(ENDPOINT_SWARM_PING_FAILED_MSG " The container exited with code %d.",
		              v->name, t->exit_code);
		why = xasprintf("exited with code %d", t->exit_code);
	} else {
		reason = xasprintf("The task of production variant %s ended (%s): %s.", v->name,
		                   t->state, endpoint_swarm_task_reason(t));
		why = xasprintf("ended (%s: %s)", t->state, endpoint_swarm_task_reason(t));
	}
	inst->health = health_check_free(inst->health);
	if (inst->state == INSTANCE_HEALTHY)
		variant_unlist_healthy(inst);
	if (ep->state == ENDPOINT_CREATING) {
		inst->state = INSTANCE_FAILED;
		endpoint_fail(ep, inst, logs, reason);
	} else if (endpoint_update_failed(ep, inst, v, logs, reason)) {
		inst->state = INSTANCE_FAILED;
	} else {
		instance_replace(inst, why);
	}
}

/* A Creating endpoint whose instance has not run by its deadline fails with
 * what its task says (the scheduler's reason for a task it cannot place). */
static bool endpoint_swarm_past_deadline(struct instance *inst, const struct swarm_task *t)
{
	struct endpoint *ep = inst->variant->endpoint;
	_cleanup_free_ char *reason = NULL;

	if (ep->state != ENDPOINT_CREATING || !inst->deadline_ms ||
	    now_monotonic_ms() < inst->deadline_ms)
		return false;
	reason = xasprintf("The container of production variant %s could not be started within "
	                   "%u seconds: %s",
	                   inst->variant->name, inst->variant->cv->startup_timeout_s,
	                   t ? endpoint_swarm_task_reason(t) : "no task was created for it");
	inst->state = INSTANCE_FAILED;
	endpoint_fail(ep, inst, t && t->container_id ? t->id : NULL, reason);
	return true;
}

/* t is running: where it answers, then the startup pings. */
static void endpoint_swarm_task_runs(struct instance *inst, const struct swarm_task *t)
{
	struct endpoint_manager *m = inst->variant->endpoint->manager;
	const struct swarm_node *node = endpoint_swarm_node(m, t->node_id);
	const char *addr = endpoint_swarm_node_addr(node);
	uint16_t port = swarm_task_published_port(t, 8080);

	if (!addr || !port)
		return; /* not told yet: the next listing may say */
	free(inst->task_id);
	inst->task_id = xstrdup(t->id);
	free(inst->host_addr);
	inst->host_addr = xstrdup(addr);
	inst->host_port = port;
	inst->state = INSTANCE_PROBING;
	log_instance(LOG_INFO, inst,
	             "endpoint %s: variant %s instance %u: task %.12s (slot %u) at %s:%u",
	             inst->variant->endpoint->name, inst->variant->name, inst->slot, t->id, t->slot,
	             addr, (unsigned)port);
	inst->health =
	    instance_health_startup(inst, (uint64_t)inst->variant->cv->startup_timeout_s * 1000);
}

/*
 * What the listing says of inst: s is the slot it follows (NULL: none yet,
 * or it left the list).  A task that is lost (its node is not ready, or
 * Swarm stops it while it may still run: a node that went down leaves it
 * "running", with a container that may still answer pings) or over takes
 * the instance out of rotation at once, and a new task replaces it.
 */
static void endpoint_swarm_instance_task(struct instance *inst, const struct endpoint_swarm_slot *s)
{
	struct endpoint_manager *m = inst->variant->endpoint->manager;
	const struct swarm_task *t = s ? s->task : NULL;
	const struct swarm_node *node;

	if (!instance_wanted(inst) || inst->draining)
		return;
	if (inst->state != INSTANCE_CREATING && inst->state != INSTANCE_PROBING &&
	    inst->state != INSTANCE_HEALTHY)
		return;
	if (inst->task_id && (!t || strcmp(t->id, inst->task_id) != 0)) {
		/* Its task left the list or was followed by another. */
		char state[] = "remove";
		struct swarm_task gone = {
		    .id = inst->task_id, .state = state, .desired_state = state, .exit_code = -1};

		endpoint_swarm_task_ended(inst, &gone, NULL);
		return;
	}
	if (!t) {
		inst->task_slot = 0;
		endpoint_swarm_past_deadline(inst, NULL);
		return;
	}
	switch (s->kind) {
	case SWARM_SLOT_LOST:
	case SWARM_SLOT_LEAVING:
		if (!inst->task_id) {
			/* It never ran here: another slot will do. */
			inst->task_slot = 0;
			endpoint_swarm_past_deadline(inst, t);
			return;
		}
		node = endpoint_swarm_node(m, t->node_id);
		endpoint_swarm_task_ended(inst, t,
		                          node && !endpoint_swarm_node_up(node)
		                              ? node->state
		                              : "stopping it (no longer wanted by Swarm)");
		return;
	case SWARM_SLOT_DEAD:
		endpoint_swarm_task_ended(inst, t, NULL);
		return;
	case SWARM_SLOT_LIVE:
		break;
	}
	if (!inst->task_id && endpoint_swarm_task_state(t) == INSTANCE_PROBING)
		endpoint_swarm_task_runs(inst, t);
	if (inst->state == INSTANCE_CREATING)
		endpoint_swarm_past_deadline(inst, t);
}

/* inst follows no slot: it takes its own slot number when no instance
 * follows that slot and it is live (or, in a Creating endpoint, dead: its
 * failure is the endpoint's); with any, the first live slot no instance
 * follows. */
static void endpoint_swarm_claim(struct instance *inst, struct endpoint_swarm_slot *slots,
                                 size_t n, bool any)
{
	bool creating = inst->variant->endpoint->state == ENDPOINT_CREATING;

	for (size_t k = 0; k < n; k++) {
		struct endpoint_swarm_slot *s = &slots[k];

		if (s->owner || (!any && s->slot != inst->slot + 1))
			continue;
		if (s->kind == SWARM_SLOT_LIVE ||
		    (!any && creating && s->kind == SWARM_SLOT_DEAD)) {
			s->owner = inst;
			inst->task_slot = s->slot;
			return;
		}
	}
}

/* How many of v's slots are of each kind, for its replica count. */
static void endpoint_swarm_count_slots(struct variant *v, const struct endpoint_swarm_slot *slots,
                                       size_t n)
{
	v->slots_live = v->slots_lost = v->slots_dead = v->slots_leaving = 0;
	for (size_t k = 0; k < n; k++)
		switch (slots[k].kind) {
		case SWARM_SLOT_LIVE:
			v->slots_live++;
			break;
		case SWARM_SLOT_LOST:
			v->slots_lost++;
			break;
		case SWARM_SLOT_DEAD:
			v->slots_dead++;
			break;
		case SWARM_SLOT_LEAVING:
			v->slots_leaving++;
			break;
		}
	v->slots_drop_exact = endpoint_swarm_drop_is_exact(slots, n);
	v->slots_counted = true;
}

/* The listing, for the instances of v: each keeps the slot it follows;
 * those that follow none take one; then what each slot's task says. */
static void endpoint_swarm_variant_tasks(struct variant *v, const struct swarm_task *ts, size_t n)
{
	_cleanup_free_ struct endpoint_swarm_slot *slots = NULL;
	size_t n_slots;

	if (!v->service_id)
		return;
	n_slots = endpoint_swarm_slots(v->endpoint->manager, v, ts, n, &slots);
	/* First: a replacement's teardown scales by these counts. */
	endpoint_swarm_count_slots(v, slots, n_slots);
	for (size_t j = 0; j < v->n_instances; j++) {
		struct instance *inst = v->instances[j];
		struct endpoint_swarm_slot *s = endpoint_swarm_slot_of(slots, n_slots, inst->task_slot);

		if (s && !s->owner)
			s->owner = inst;
		else if (s && !inst->task_id)
			inst->task_slot = 0;
	}
	for (int any = 0; any < 2; any++)
		for (size_t j = 0; j < v->n_instances; j++) {
			struct instance *inst = v->instances[j];

			if (!inst->task_slot && inst->state == INSTANCE_CREATING &&
			    instance_wanted(inst) && !inst->draining)
				endpoint_swarm_claim(inst, slots, n_slots, any);
		}
	for (size_t j = 0; j < v->n_instances && v->service_id; j++) {
		struct instance *inst = v->instances[j];

		endpoint_swarm_instance_task(inst,
		                             endpoint_swarm_slot_of(slots, n_slots, inst->task_slot));
	}
	endpoint_swarm_variant_sync(v);
}

/* Tasks were asked for: list soon, and keep listing soon for a while. */
static void endpoint_swarm_list_soon(struct endpoint_manager *m)
{
	m->swarm_soon_ms = 0;
	m->swarm_soon_since = now_monotonic_ms();
	endpoint_swarm_list_later(m, ENDPOINT_SWARM_SOON_MS);
}

/* Whether an instance of m waits for its task to run (it is launched and
 * its service scaled or created). */
static bool endpoint_swarm_awaited(struct endpoint_manager *m)
{
	_cleanup_free_ struct endpoint **eps = NULL;
	size_t n_eps = endpoint_list(m, &eps);
	struct fleet *f;

	for (size_t i = 0; i < n_eps; i++)
		for (size_t k = 0; (f = endpoint_fleet_nth(eps[i], k)); k++)
			for (size_t l = 0; l < f->n_variants; l++)
				for (size_t j = 0; j < f->variants[l].n_instances; j++)
					if (f->variants[l].instances[j]->state == INSTANCE_CREATING)
						return true;
	return false;
}

/* When to list again: soon while a task is awaited, backing off. */
static unsigned endpoint_swarm_next_ms(struct endpoint_manager *m)
{
	unsigned most = now_monotonic_ms() - m->swarm_soon_since < ENDPOINT_SWARM_SOON_FOR_MS
	                    ? ENDPOINT_SWARM_SOON_MAX_MS
	                    : ENDPOINT_SWARM_POLL_MS;

	if (!endpoint_swarm_awaited(m)) {
		m->swarm_soon_ms = 0;
		return ENDPOINT_SWARM_POLL_MS;
	}
	m->swarm_soon_ms = m->swarm_soon_ms ? m->swarm_soon_ms * 3 / 2 : ENDPOINT_SWARM_SOON_MS;
	if (m->swarm_soon_ms > most)
		m->swarm_soon_ms = most;
	return m->swarm_soon_ms;
}

/* The tasks are listed: what each means for the instances of each service. */
static void endpoint_swarm_tasks_cb(const struct docker_result *r, const struct swarm_task *ts,
                                    size_t n, void *userdata)
{
	struct endpoint_manager *m = userdata;
	_cleanup_free_ struct endpoint **eps = NULL;
	size_t n_eps;

	m->swarm_listing = false;
	if (r->err == -ECANCELED || m->shutting_down)
		return;
	if (r->err) {
		log_warning("listing the swarm's tasks: %s; trying again in %d ms",
		            r->message ? r->message : strerror(-r->err), ENDPOINT_RETRY_MS);
		endpoint_swarm_list_later(m, ENDPOINT_RETRY_MS);
		return;
	}
	n_eps = endpoint_list(m, &eps);
	for (size_t i = 0; i < n_eps; i++)
		endpoint_ref(eps[i]);
	for (size_t i = 0; i < n_eps; i++) {
		struct fleet *f;

		for (size_t k = 0; eps[i]->registered && (f = endpoint_fleet_nth(eps[i], k)); k++)
			for (size_t l = 0; l < f->n_variants; l++)
				endpoint_swarm_variant_tasks(&f->variants[l], ts, n);
		endpoint_unref(eps[i]);
	}
	if (!m->synced) {
		/* Every endpoint is matched with its services: the model cache
		 * keeps what they use, as after a reconcile on one Engine. */
		endpoint_manager_trim_model_cache(m);
		m->synced = true;
		if (m->synced_cb)
			m->synced_cb(m->synced_data);
		m->synced_cb = NULL;
	}
	if (m->swarm_again) {
		m->swarm_again = false;
		endpoint_swarm_list(m);
	} else if (n_eps > 0) {
		endpoint_swarm_list_later(m, endpoint_swarm_next_ms(m));
	}
}

/* The tasks of this daemon's services, in one listing (none: an empty
 * listing at once): other services' tasks are never read. */
static void endpoint_swarm_list_tasks(struct endpoint_manager *m)
{
	_cleanup_free_ struct endpoint **eps = NULL;
	_cleanup_free_ const char **ids = NULL;
	size_t n_eps = endpoint_list(m, &eps), n = 0, cap = 0;
	struct swarm_task_filter filter;
	struct fleet *f;

	for (size_t i = 0; i < n_eps; i++)
		for (size_t k = 0; (f = endpoint_fleet_nth(eps[i], k)); k++)
			for (size_t l = 0; l < f->n_variants; l++) {
				if (!f->variants[l].service_id)
					continue;
				if (n == cap)
					ids = xreallocarray(ids, cap = cap ? 2 * cap : 8, sizeof(*ids));
				ids[n++] = f->variants[l].service_id;
			}
	if (!n) {
		endpoint_swarm_tasks_cb(&(struct docker_result){0}, NULL, 0, m);
		return;
	}
	filter = (struct swarm_task_filter){.services = ids, .n_services = n};
	swarm_task_list(m->docker, &filter, endpoint_swarm_tasks_cb, m);
}

/* Whether s is v's service, by the name it would be given. */
static bool endpoint_swarm_is_variants(const struct swarm_service *s, const struct variant *v)
{
	struct endpoint *ep = v->endpoint;
	_cleanup_free_ char *name =
	    endpoint_swarm_service_name(ep->manager->owner, ep->name, v->name, v->fleet->id);

	return !strcmp(s->name, name);
}

/* Match ep with this daemon's services: a live endpoint adopts those of its
 * variants, a deleted or failed one removes them; restored slots start
 * again (their service's tasks are adopted by the task listing that
 * follows), or launch when their variant has no service. */
static void endpoint_swarm_reconcile(struct endpoint *ep, const struct swarm_service *ss, size_t n,
                                     bool *claimed)
{
	bool gone = ep->state == ENDPOINT_DELETING || ep->state == ENDPOINT_FAILED;
	uint64_t now = now_monotonic_ms();
	struct fleet *f;

	for (size_t q = 0; (f = endpoint_fleet_nth(ep, q)); q++)
		for (size_t i = 0; i < f->n_variants; i++) {
			struct variant *v = &f->variants[i];

			for (size_t k = 0; k < n; k++) {
				if (claimed[k] || !endpoint_swarm_is_variants(&ss[k], v))
					continue;
				claimed[k] = true;
				if (gone || v->service_removed) {
					endpoint_swarm_remove_service(ep, ss[k].id);
				} else if (!v->service_id && !v->service_busy) {
					log_endpoint(LOG_INFO, ep->name,
					             "endpoint %s: variant %s: adopting service %s",
					             ep->name, v->name, ss[k].name);
					v->service_id = xstrdup(ss[k].id);
					v->service_replicas = ss[k].replicas;
				}
			}
			for (size_t j = 0; j < v->n_instances; j++) {
				struct instance *inst = v->instances[j];

				if (!inst->restored)
					continue;
				inst->restored = false;
				inst->state = INSTANCE_GONE;
				if (gone || !instance_wanted(inst) || !endpoint_wants_instances(ep))
					continue;
				if (v->service_id) {
					inst->state = INSTANCE_CREATING;
					inst->started_ms = now;
					inst->deadline_ms =
					    now + (uint64_t)v->cv->startup_timeout_s * 1000;
				} else {
					instance_start(inst);
				}
			}
		}
	endpoint_persist(ep);
	if (gone) {
		endpoint_maybe_drop(ep);
		return;
	}
	endpoint_sweep_retired(ep);
	endpoint_maybe_in_service(ep);
}

/* This daemon's services are listed: matched with the endpoints, those
 * that belong to none removed; then the tasks. */
static void endpoint_swarm_services_cb(const struct docker_result *r,
                                       const struct swarm_service *ss, size_t n, void *userdata)
{
	struct endpoint_manager *m = userdata;
	_cleanup_free_ struct endpoint **eps = NULL;
	_cleanup_free_ bool *claimed = NULL;
	size_t n_eps;

	if (r->err == -ECANCELED || m->shutting_down) {
		m->swarm_listing = false;
		return;
	}
	if (r->err) {
		m->swarm_listing = false;
		log_warning("listing the swarm's services: %s; trying again in %d ms",
		            r->message ? r->message : strerror(-r->err), ENDPOINT_RETRY_MS);
		endpoint_swarm_list_later(m, ENDPOINT_RETRY_MS);
		return;
	}
	m->swarm_services_due = false;
	claimed = xcalloc(n ? n : 1, sizeof(*claimed));
	n_eps = endpoint_list(m, &eps);
	for (size_t i = 0; i < n_eps; i++)
		endpoint_ref(eps[i]);
	for (size_t i = 0; i < n_eps; i++) {
		if (eps[i]->registered)
			endpoint_swarm_reconcile(eps[i], ss, n, claimed);
		endpoint_unref(eps[i]);
	}
	for (size_t k = 0; k < n; k++) {
		const char *owner =
		    json_string_value(json_object_get(ss[k].labels, ENDPOINT_LABEL_OWNER));

		if (claimed[k] || !owner || strcmp(owner, m->owner) != 0)
			continue;
		log_notice("removing service %s (%.12s): it belongs to no endpoint", ss[k].name,
		           ss[k].id);
		swarm_service_remove(m->docker, ss[k].id, endpoint_swarm_orphan_removed_cb, NULL);
	}
	endpoint_swarm_list_tasks(m);
}

/* The nodes are listed (kept for addresses and admission): now the tasks. */
static void endpoint_swarm_nodes_cb(const struct docker_result *r, const struct swarm_node *nodes,
                                    size_t n, void *userdata)
{
	struct endpoint_manager *m = userdata;

	if (r->err == -ECANCELED || m->shutting_down) {
		m->swarm_listing = false;
		return;
	}
	if (r->err) {
		m->swarm_listing = false;
		log_warning("listing the swarm's nodes: %s; trying again in %d ms",
		            r->message ? r->message : strerror(-r->err), ENDPOINT_RETRY_MS);
		endpoint_swarm_list_later(m, ENDPOINT_RETRY_MS);
		return;
	}
	endpoint_swarm_forget_nodes(m);
	m->swarm_nodes = xcalloc(n ? n : 1, sizeof(*m->swarm_nodes));
	for (size_t i = 0; i < n; i++)
		endpoint_swarm_node_copy(&m->swarm_nodes[i], &nodes[i]);
	m->n_swarm_nodes = n;
	if (m->swarm_services_due)
		swarm_service_list(m->docker, m->owner_label, endpoint_swarm_services_cb, m);
	else
		endpoint_swarm_list_tasks(m);
}

/* List the nodes, then the tasks (one listing at a time). */
static void endpoint_swarm_list(struct endpoint_manager *m)
{
	if (m->shutting_down)
		return;
	if (m->swarm_listing) {
		m->swarm_again = true;
		return;
	}
	m->swarm_listing = true;
	swarm_node_list(m->docker, endpoint_swarm_nodes_cb, m);
}

/*
 * The replica count v's service should have: a slot for each wanted
 * instance and each lost task (Swarm keeps its slot until it is over, and
 * a new task replaces it only in a new slot).  Dead slots stay in the
 * service (restart policy none) until it is scaled down by them: first
 * down to the slots that are not dead, when that drops those and no other
 * (endpoint_swarm_drop_is_exact); once they are gone, up again.  When the
 * drop would take a live task instead, the dead slots are kept, and their
 * instances get new slots.
 */
static uint64_t endpoint_swarm_replicas(const struct variant *v)
{
	uint64_t wanted = v->n_wanted < v->n_instances ? v->n_wanted : v->n_instances;

	if (v->slots_dead && v->slots_drop_exact)
		return (uint64_t)v->slots_live + v->slots_lost;
	return wanted + v->slots_lost + v->slots_dead;
}

/* The service was removed (or was gone already). */
static void endpoint_swarm_removed_cb(const struct docker_result *r, void *userdata)
{
	struct op *op = userdata;

	if (r->err && r->err != -ECANCELED)
		log_endpoint(LOG_WARNING, op->ep->name, "endpoint %s: removing service %s: %s",
		             op->ep->name, op->container_id,
		             r->message ? r->message : strerror(-r->err));
	op_free(op);
}

/* What made the service go is on disk: remove it. */
static void endpoint_swarm_remove_durable_cb(void *userdata)
{
	struct op *op = userdata;
	struct endpoint_manager *m = op->ep->manager;

	if (!m || m->shutting_down) {
		op_free(op);
		return;
	}
	log_endpoint(LOG_INFO, op->ep->name, "endpoint %s: removing service %s", op->ep->name,
	             op->container_id);
	swarm_service_remove(m->docker, op->container_id, endpoint_swarm_removed_cb, op);
}

/* Remove service id on ep's account, after a journal barrier (as
 * containers are). */
static void endpoint_swarm_remove_service(struct endpoint *ep, const char *id)
{
	struct endpoint_manager *m = ep->manager;
	struct op *op = op_new(ep, NULL, NULL);

	op->container_id = xstrdup(id);
	if (m->journal)
		journal_barrier(m->journal, endpoint_swarm_remove_durable_cb, op);
	else
		endpoint_swarm_remove_durable_cb(op);
}

/* v's instances all went (its endpoint is deleted or failed, its fleet
 * retired): its service goes; one being created goes once it is. */
void endpoint_swarm_variant_gone(struct endpoint *ep, struct variant *v)
{
	v->service_removed = true;
	if (!v->service_id)
		return;
	endpoint_swarm_remove_service(ep, v->service_id);
	free(v->service_id);
	v->service_id = NULL;
}

/* Scaled (or not: the next listing tries again). */
static void endpoint_swarm_scaled_cb(const struct docker_result *r, void *userdata)
{
	struct op *op = userdata;
	struct variant *v = op->variant;

	v->service_busy = false;
	if (r->err && r->err != -ECANCELED) {
		log_endpoint(LOG_WARNING, op->ep->name, "endpoint %s: scaling service %s: %s",
		             op->ep->name, v->service_id ? v->service_id : "",
		             r->message ? r->message : strerror(-r->err));
		v->service_replicas = UINT64_MAX;
	}
	if (op_current(op) && op->ep->manager) {
		endpoint_swarm_list_soon(op->ep->manager);
	}
	op_free(op);
}

/* Each launched instance of a Creating variant fails with reason. */
static void endpoint_swarm_variant_failed(struct variant *v, const char *reason)
{
	struct endpoint *ep = v->endpoint;

	for (size_t j = 0; j < v->n_instances; j++) {
		struct instance *inst = v->instances[j];

		if (inst->state != INSTANCE_CREATING)
			continue;
		if (ep->state == ENDPOINT_CREATING) {
			inst->state = INSTANCE_FAILED;
			endpoint_fail(ep, inst, NULL, reason);
			return;
		}
	}
	log_endpoint(LOG_WARNING, ep->name, "endpoint %s: %s", ep->name, reason);
}

static void endpoint_swarm_create(struct variant *v, struct instance *inst, bool may_retry);

/* A service of that name was ours and is removed: create again. */
static void endpoint_swarm_conflict_removed_cb(const struct docker_result *r, void *userdata)
{
	struct op *op = userdata;
	struct variant *v = op->variant;

	v->service_busy = false;
	if (op_current(op) && !v->service_removed && !v->service_id)
		endpoint_swarm_create(v, v->instances[0], false);
	op_free(op);
}

/* The name was taken: by a service of this daemon for the same variant
 * (left over by a crash), removed; by anyone else's, never touched. */
static void endpoint_swarm_conflict_cb(const struct docker_result *r, const struct swarm_service *s,
                                       void *userdata)
{
	struct op *op = userdata;
	struct variant *v = op->variant;
	struct endpoint_manager *m = op->ep->manager;
	const char *owner =
	    s ? json_string_value(json_object_get(s->labels, ENDPOINT_LABEL_OWNER)) : NULL;
	_cleanup_free_ char *reason = NULL;

	if (!op_current(op) || v->service_removed) {
		v->service_busy = false;
		op_free(op);
		return;
	}
	if (!r->err && owner && !strcmp(owner, m->owner)) {
		log_endpoint(LOG_INFO, op->ep->name, "endpoint %s: service %s exists; replacing it",
		             op->ep->name, op->container_name);
		swarm_service_remove(m->docker, s->id, endpoint_swarm_conflict_removed_cb, op);
		return;
	}
	v->service_busy = false;
	reason = xasprintf("Failed to create the service of production variant %s: the name %s "
	                   "is taken by a service that endpointd did not create for it.",
	                   v->name, op->container_name);
	endpoint_swarm_variant_failed(v, reason);
	op_free(op);
}

/* The service is created: its tasks show in the next listings. */
static void endpoint_swarm_created_cb(const struct docker_result *r, const char *id, void *userdata)
{
	struct op *op = userdata;
	struct variant *v = op->variant;
	struct endpoint *ep = op->ep;
	struct endpoint_manager *m = ep->manager;
	_cleanup_free_ char *reason = NULL;

	if (!r->err && id && (v->service_removed || !op_current(op))) {
		/* Nobody wants it any more. */
		v->service_busy = false;
		if (m && !m->shutting_down)
			endpoint_swarm_remove_service(ep, id);
		op_free(op);
		return;
	}
	if (!op_current(op) || v->service_removed) {
		v->service_busy = false;
		op_free(op);
		return;
	}
	if (r->err == -EEXIST && op->may_retry) {
		swarm_service_inspect(m->docker, op->container_name, endpoint_swarm_conflict_cb,
		                      op);
		return;
	}
	v->service_busy = false;
	if (!r->err && id) {
		v->service_id = xstrdup(id);
		v->slots_live = v->slots_lost = v->slots_dead = v->slots_leaving = 0;
		v->slots_counted = true;
		log_endpoint(LOG_INFO, ep->name,
		             "endpoint %s: variant %s: service %s (%.12s), %llu "
		             "replicas",
		             ep->name, v->name, op->container_name, id,
		             (unsigned long long)v->service_replicas);
		endpoint_swarm_list_soon(m);
	} else if (engine_unreachable(r) || r->status >= 500) {
		/* The next listing tries again; the deadline bounds it. */
		log_endpoint(LOG_WARNING, ep->name, "endpoint %s: creating service %s: %s",
		             ep->name, op->container_name,
		             r->message ? r->message : strerror(-r->err));
		endpoint_swarm_list_later(m, ENDPOINT_RETRY_MS);
	} else {
		reason = xasprintf("Failed to create the service of production variant %s: %s",
		                   v->name, r->message ? r->message : strerror(-r->err));
		endpoint_swarm_variant_failed(v, reason);
	}
	op_free(op);
}

/* The intent is on disk: create the service. */
static void endpoint_swarm_intent_durable_cb(void *userdata)
{
	struct op *op = userdata;
	struct variant *v = op->variant;

	if (!op_current(op) || v->service_removed) {
		v->service_busy = false;
		op_free(op);
		return;
	}
	swarm_service_create(op->ep->manager->docker, op->spec, endpoint_swarm_created_cb, op);
}

/* Create v's service from what inst's container would be. */
static void endpoint_swarm_create(struct variant *v, struct instance *inst, bool may_retry)
{
	struct endpoint *ep = v->endpoint;
	struct endpoint_manager *m = ep->manager;
	struct swarm_service_params p;
	_cleanup_free_ char *name =
	    endpoint_swarm_service_name(m->owner, ep->name, v->name, v->fleet->id);
	uint64_t replicas = endpoint_swarm_replicas(v);
	json_t *cs = instance_container_spec(inst);
	const char *why = NULL;
	json_t *spec;
	struct op *op;

	endpoint_swarm_service_params(v->cv, name, replicas, &p);
	spec = swarm_service_spec(cs, &p, &why);
	json_decref(cs);
	if (!spec) {
		_cleanup_free_ char *reason = xasprintf(
		    "Failed to create the service of production variant %s: %s", v->name, why);
		endpoint_swarm_variant_failed(v, reason);
		return;
	}
	op = op_new(ep, v, NULL);
	op->spec = spec;
	op->container_name = xstrdup(name);
	op->may_retry = may_retry;
	v->service_busy = true;
	v->service_replicas = replicas;
	if (m->journal) {
		endpoint_persist(ep);
		journal_barrier(m->journal, endpoint_swarm_intent_durable_cb, op);
	} else {
		endpoint_swarm_intent_durable_cb(op);
	}
}

/* Bring v's service in line: created once an instance is launched, scaled
 * to the replicas its slots want. */
static void endpoint_swarm_variant_sync(struct variant *v)
{
	struct endpoint *ep = v->endpoint;
	uint64_t want = endpoint_swarm_replicas(v);
	struct op *op;
	bool launched = false;

	if (v->service_busy || v->service_removed || !endpoint_wants_instances(ep))
		return;
	for (size_t j = 0; j < v->n_wanted && j < v->n_instances; j++)
		launched |= v->instances[j]->state == INSTANCE_CREATING;
	if (!v->service_id) {
		if (launched)
			endpoint_swarm_create(v, v->instances[0], true);
		return;
	}
	/* Not before its slots are counted, nor while Swarm drops slots. */
	if (!v->slots_counted || v->slots_leaving || want == v->service_replicas)
		return;
	log_endpoint(LOG_INFO, ep->name, "endpoint %s: variant %s: scaling its service to %llu",
	             ep->name, v->name, (unsigned long long)want);
	op = op_new(ep, v, NULL);
	v->service_busy = true;
	v->service_replicas = want;
	swarm_service_scale(ep->manager->docker, v->service_id, want, endpoint_swarm_scaled_cb, op);
}

/* Swarm mode's launch of a slot: its variant's service makes the task; the
 * listings say when it runs, and where. */
void endpoint_swarm_launch(struct instance *inst)
{
	struct variant *v = inst->variant;
	struct endpoint_manager *m = v->endpoint->manager;
	uint64_t now = now_monotonic_ms();

	inst->state = INSTANCE_CREATING;
	inst->started_ms = now;
	inst->engine_epoch = m->engine_epoch;
	if (!inst->deadline_ms)
		inst->deadline_ms = now + (uint64_t)v->cv->startup_timeout_s * 1000;
	endpoint_swarm_variant_sync(v);
	endpoint_swarm_list_soon(m);
}

/* Swarm mode's end of instance_teardown(): the task is the service's to end
 * (scaled away, or removed with the service). */
void endpoint_swarm_teardown(struct instance *inst)
{
	free(inst->task_id);
	inst->task_id = NULL;
	free(inst->host_addr);
	inst->host_addr = NULL;
	inst->task_slot = 0;
	inst->host_port = 0;
	inst->state = INSTANCE_GONE;
	/* A slot retired by a scale-down: the replica count follows. */
	endpoint_swarm_variant_sync(inst->variant);
}
