/*
 * The Swarm backend of the endpoint manager (docker.mode swarm): what a
 * variant's service is called and asks for, and what its tasks mean for
 * its instances.  The pure part comes first; the manager does not call it
 * yet (the daemon refuses swarm mode until it does).
 *
 * DESIGN
 *
 * On one Engine each instance is a container that endpoint.c creates,
 * starts, inspects, health-checks and removes by itself; in swarm mode each
 * variant (of each fleet) is one replicated service, and its instances are
 * the service's tasks.  The calls map as follows:
 *
 *   one Engine (endpoint.c …)            swarm mode (lib/swarm.c)
 *   image inspect / pull (provision)     none: each node pulls; a node that
 *                                        cannot fails its task ("rejected",
 *                                        Err says why)
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
 *   (replace a dead instance)            (restart policy none, desired state
 *                                        shutdown); a scale down by the dead
 *                                        slots, then, once their tasks are
 *                                        gone from the task list, up again
 *                                        gives those slots new tasks and
 *                                        leaves the running ones alone (Swarm
 *                                        drops dead slots first); scaling up
 *                                        sooner leaves the slot empty until
 *                                        the next update.  A ForceUpdate
 *                                        would replace every task, an update
 *                                        with the same spec none
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
 * An instance is the newest task of its slot (Task.Slot, 1-based): the one
 * whose desired state is running, else the last one to end (a failed task
 * is left with desired state shutdown and no successor); older tasks of the
 * slot are previous generations.  endpoint_swarm_task_state() says which
 * instance state a task stands for; health checks and the proxy stay as
 * they are, with the instance's address and port taken from its task.  A task that
 * waits with the scheduler's Err (no node has the resources, no node meets
 * the constraints) fails a Creating endpoint with that Err as its
 * FailureReason once the startup timeout is spent.
 *
 * Open: whether scaling down drops the dead slots first on every node and
 * release, as it does on one node with docker.io 28.2; model
 * data and the dialer's directory are bind mounts of this host's paths,
 * which exist on other nodes only if the operator shares them; the nvidia
 * runtime must be told to honour DOCKER_RESOURCE_NVIDIA-GPU on each node.
 */
#define _GNU_SOURCE
#include "endpoint.h"
#include "endpoint_private.h"

#include <string.h>

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
