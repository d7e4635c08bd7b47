/*
 * Endpoints, their production variants and the instances (one container
 * each) that serve them, and the state machine that drives them from
 * CreateEndpoint to InService and from DeleteEndpoint to gone.
 *
 * Ownership: the manager owns the endpoints it lists (by lower-cased name);
 * an endpoint owns its fleets (the serving one, the one UpdateEndpoint
 * brings, those being retired), a fleet its variants and their instance
 * slots.  Asynchronous Docker and model-data operations hold a reference on
 * their endpoint, so an endpoint taken out of the registry lives on until its
 * last operation returns, and is freed on a later loop turn.  Instance slots
 * never move and are freed only with their fleet, which is freed with its
 * endpoint or, once retired, when no operation, call or timer can reach it
 * (endpoint_fleet.c); an operation that comes back for a slot whose
 * generation moved on is stale and only cleans up after itself.
 *
 * endpoint_set_state() is the one way an endpoint's status changes: it checks
 * the transition table, logs "endpoint NAME: Creating -> InService (reason)"
 * and tells the manager's observer (where the journal hooks in).
 */
#ifndef ENDPOINTD_ENDPOINT_H
#define ENDPOINTD_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "deploy.h"

struct event;
struct event_base;
struct journal;
struct httpc;
struct docker;
struct health_check;
struct endpoint_manager;

enum endpoint_state {
	ENDPOINT_CREATING,
	ENDPOINT_IN_SERVICE,
	ENDPOINT_UPDATING,
	ENDPOINT_SYSTEM_UPDATING,
	ENDPOINT_ROLLING_BACK,
	ENDPOINT_DELETING,
	ENDPOINT_FAILED,
	ENDPOINT_UPDATE_ROLLBACK_FAILED,
	ENDPOINT_OUT_OF_SERVICE,
	ENDPOINT_STATE_MAX,
};

enum instance_state {
	INSTANCE_PENDING,  /* waiting for the variant's image and model data */
	INSTANCE_CREATING, /* POST /containers/create in flight */
	INSTANCE_STARTING, /* start, then inspect for the port */
	INSTANCE_PROBING,  /* startup health checks */
	INSTANCE_HEALTHY,  /* serving */
	INSTANCE_FAILED,   /* died or never became healthy */
	INSTANCE_GONE,     /* no container */
};

#define ENDPOINT_FAILURE_REASON_MAX 1024
#define ENDPOINT_LABEL_MANAGED DOCKER_LABEL_PREFIX "managed"

struct endpoint_tag {
	char *key;
	char *value;
};

/* A resource's tags, keys unique, in the order they were added. */
struct tagset {
	struct endpoint_tag *tags;
	size_t n;
};

struct instance {
	struct variant *variant; /* owner */
	unsigned slot;
	unsigned generation; /* bumped whenever the slot gets a new container */
	enum instance_state state;
	char *container_name;
	char *container_id; /* NULL until created */
	uint16_t host_port; /* 0 until known */
	struct health_check *health;
	unsigned inflight; /* requests being served (for the proxy) */
	uint64_t started_ms;  /* when its current container was asked for */
	bool oom_killed;      /* the Engine said so before it died */
	bool engine_stopped;  /* the Engine ended it (shutdown, docker stop, lost events) */
	unsigned restarts;    /* replacements in a row, for the backoff */
	struct event *relaunch; /* backoff timer, NULL until first needed */
	bool restored;          /* loaded from the journal, not yet matched with the Engine */
	unsigned engine_epoch;  /* the Engine connection its container was started under */
	uint64_t deadline_ms;   /* give up retrying an unanswering Engine then (Creating) */
	unsigned engine_errors; /* Engine 5xx answers in a row (see engine_troubled) */
	struct dialer *dialer;  /* connections made inside the container; NULL = none */
	bool dialer_started;    /* the exec was asked for this container */
	unsigned n_gpus;        /* GPUs it holds (endpoint_gpu.c) */
	bool gpu_wait;          /* its GPUs are still held by containers going away */
	unsigned dialer_restarts; /* after it went away, for the backoff */
	struct event *dialer_retry; /* that backoff, NULL until first needed */
	/* It passed its pings and waits for its dialer before it takes calls,
	 * so that none goes through docker-proxy while the dialer starts. */
	bool joining;
	struct event *dialer_join; /* bounds that wait, NULL until first needed */
	/* Its variant no longer wants it (scaled down, a rollout retired it):
	 * out of rotation, it finishes the calls it holds, then goes. */
	bool draining;
	uint64_t drain_deadline_ms;
	struct event *drain; /* polls for its last call, NULL until first needed */
	/* Swarm mode: the task that is this instance, and where it answers
	 * (its node's address); NULL until it runs there. */
	char *task_id;
	char *host_addr; /* NULL: 127.0.0.1 */
	unsigned task_slot; /* the service's slot (Task.Slot) it follows; 0: none yet */
};

struct variant {
	struct endpoint *endpoint;
	struct fleet *fleet; /* owner */
	const struct config_variant *cv; /* in fleet->config */
	char *name;
	char *resolved_image; /* repo@sha256:…, NULL until resolved */
	double resolution_time;
	char *model_dir; /* host directory mounted at /opt/ml/model, or NULL */
	bool ready;      /* image and model data in place */
	bool provisioning; /* image and model data being prepared */
	struct event *retry; /* the Engine did not answer: try again */
	unsigned retries;    /* in a row, for the backoff */
	uint64_t deadline_ms;
	double current_weight;
	double desired_weight;
	/* Slots, each allocated once and kept until the endpoint goes (calls and
	 * operations may point at them); the first n_wanted should run. */
	struct instance **instances;
	size_t n_instances;
	size_t n_wanted;
	size_t n_desired; /* DesiredInstanceCount: what it has when no rollout holds it back */
	/* Instances that take traffic: the proxy reads this. */
	struct instance **healthy;
	size_t n_healthy;
	/* Swarm mode: the service that runs its instances as tasks. */
	char *service_id;     /* NULL until created */
	bool service_busy;    /* a create or scale is in flight */
	bool service_removed; /* its removal was asked for: never again */
	uint64_t service_replicas; /* the replica count last asked for */
	/* Its service's slots by the last listing (endpoint_swarm.c). */
	unsigned slots_live, slots_lost, slots_dead, slots_leaving;
	bool slots_drop_exact; /* dropping the dead ones would drop nothing else */
	bool slots_counted;    /* by a listing since its service was made or adopted */
};

/*
 * The instances of one endpoint config.  An endpoint has one (its serving
 * fleet) and, while UpdateEndpoint runs, a second (the target's); a fleet
 * that lost its place drains and goes (retired).  Owned by the endpoint;
 * freed with it, or once retired, empty and no longer referenced.
 */
struct fleet {
	struct endpoint *endpoint;
	unsigned id; /* 0: CreateEndpoint's; each update's one more (container names) */
	char *config_name;
	struct config *config; /* a reference */
	char *config_doc;      /* that config as the journal keeps it */
	const struct config_endpoint_config *ecfg;
	struct variant *variants;
	size_t n_variants;
	double retire_at; /* retired: when its instances stop (wall clock) */
};

struct endpoint {
	struct endpoint_manager *manager;
	unsigned refs;
	bool registered; /* listed by the manager */
	char *name;
	char *name_lc;
	char *arn;
	struct fleet *fleet;    /* serving (the old one while an update runs) */
	struct fleet *pending;  /* the update's target, NULL when none runs */
	struct fleet **retired; /* draining away */
	size_t n_retired;
	unsigned next_fleet_id;
	/* The update running (pending != NULL), or the last one: its
	 * DeploymentConfig (LastDeploymentConfig when given) and progress. */
	struct deploy_policy policy;
	struct deploy_state deploy;
	struct event *deploy_timer; /* the planner's wake-up */
	struct event *sweep;        /* retired fleets: stop and free them */
	char *update_failure;   /* the new fleet failed: why (written up), NULL: it did not */
	char *rollback_failure; /* an old instance the rollback needs failed: why */
	bool update_explaining; /* a failure of the rollout is being written up */
	enum endpoint_state state;
	char *failure_reason;
	double creation_time;
	double last_modified_time;
	struct tagset tags;
	unsigned ops_in_flight; /* Docker/model-data operations holding a ref */
	bool failing;           /* a failure is being written up: ignore others */
};

/* Told of every state change, after it happened (the journal hooks here);
 * new_state == ENDPOINT_STATE_MAX when a deleted endpoint is dropped. */
typedef void (*endpoint_observer_fn)(struct endpoint *ep, enum endpoint_state old,
				     enum endpoint_state new_state, const char *reason,
				     void *userdata);

const char *endpoint_state_to_string(enum endpoint_state s);
/* -EINVAL for a name that is not a status. */
int endpoint_state_from_string(const char *s);
bool endpoint_transition_allowed(enum endpoint_state from, enum endpoint_state to);

/* journal may be NULL (nothing is kept); owner names this daemon's
 * containers (io.endpointd.owner) so that daemons sharing an Engine never
 * touch each other's. */
struct endpoint_manager *endpoint_manager_new(struct event_base *base, struct httpc *h,
					      struct docker *d, struct config *config,
					      struct journal *journal, const char *owner);
/* Rebuilds an endpoint from its journal record (before endpoint_manager_start,
 * which matches it with what the Engine runs).  -EINVAL with *ret_error. */
int endpoint_manager_restore(struct endpoint_manager *m, json_t *record, char **ret_error);
/* Shutdown: stop probing and ignore operations that still come back.  Then
 * free the Docker and HTTP clients, then the manager. */
void endpoint_manager_shutdown(struct endpoint_manager *m);
struct endpoint_manager *endpoint_manager_free(struct endpoint_manager *m);
/* Start watching the Engine's events. */
void endpoint_manager_start(struct endpoint_manager *m);
/*
 * cb runs once, when the Engine's containers have first been listed and
 * matched with the journal: from then restored endpoints route calls to
 * their adopted instances.  Until then they have none.  At once when that
 * has happened already.
 */
void endpoint_manager_when_synced(struct endpoint_manager *m, void (*cb)(void *userdata),
				  void *userdata);
void endpoint_manager_set_observer(struct endpoint_manager *m, endpoint_observer_fn fn,
				   void *userdata);
/* The config new endpoints are created from (borrowed). */
struct config *endpoint_manager_config(struct endpoint_manager *m);
void endpoint_manager_set_config(struct endpoint_manager *m, struct config *config);
/* The host's GPUs, discovered at start-up: the manager owns gpus now.  error
 * says why there are none (for messages); NULL when there are. */
struct gpu;
void endpoint_manager_set_gpus(struct endpoint_manager *m, struct gpu *gpus, size_t n,
			       const char *error);
/* GPUs of this host, and those no live endpoint (Creating, InService,
 * Updating) asks for. */
size_t endpoint_manager_gpus(const struct endpoint_manager *m);
size_t endpoint_manager_free_gpus(const struct endpoint_manager *m);
/* GPUs an endpoint config asks for, all instances together. */
size_t endpoint_config_gpus(const struct config_endpoint_config *ecfg);
/* Instance slots of all endpoints. */
size_t endpoint_manager_instances(const struct endpoint_manager *m);
/* Endpoints listed. */
size_t endpoint_manager_endpoints(const struct endpoint_manager *m);

/* Looks a name up case-insensitively. */
struct endpoint *endpoint_find(struct endpoint_manager *m, const char *name);
/* Every endpoint, in no particular order; the caller frees the array. */
size_t endpoint_list(struct endpoint_manager *m, struct endpoint ***ret);

/*
 * Creates an endpoint from a config of the manager's current config and
 * starts provisioning it.  -EEXIST (name taken), -ENOENT (no such config),
 * -ENOSPC (max_endpoints), -EDQUOT (max_instances), -ENODEV (not enough free GPUs),
 * -ENXIO (a config created through the API names a model deleted since).
 */
int endpoint_create(struct endpoint_manager *m, const char *name, const char *config_name,
		    const struct endpoint_tag *tags, size_t n_tags, struct endpoint **ret);
/*
 * UpdateEndpoint: what the call asked for.  The rollout (deploy.h) runs on
 * the event loop; the endpoint is Updating when this returns 0.
 */
struct endpoint_update {
	const char *config_name;
	/* RetainAllVariantProperties: variants of the new config named like a
	 * serving one keep its instance count and weight, except those listed
	 * in ExcludeRetainedVariantProperties. */
	bool retain_all_variant_properties;
	bool exclude_instance_count; /* ExcludeRetainedVariantProperties: DesiredInstanceCount */
	bool exclude_weight;         /* ... DesiredWeight */
	/* RetainDeploymentConfig: without a DeploymentConfig, the last one. */
	bool retain_deployment_config;
	struct deploy_policy policy; /* policy.given false: none came */
};

/*
 * Starts an update of ep to u->config_name.  -EBUSY (not InService: Creating,
 * Updating, Deleting...), -EPERM (Failed: only DeleteEndpoint), -ENOENT (no
 * such config), -ENXIO (its model was deleted), -ENETUNREACH (network
 * isolation without a dialer), -EDQUOT (max_instances), -ENODEV (not enough
 * free GPUs), -ESRCH (an alarm of the policy is not declared: *ret_alarm
 * names it, borrowed from u).
 */
int endpoint_update(struct endpoint *ep, const struct endpoint_update *u, const char **ret_alarm);

/* One entry of UpdateEndpointWeightsAndCapacities. */
struct endpoint_capacity {
	const char *variant;
	bool has_weight;
	double weight;
	bool has_count;
	unsigned count;
};

/*
 * Weights apply at once; counts scale the serving variants up or down (the
 * endpoint is Updating until new instances pass their checks).  -EBUSY (not
 * InService), -ENOENT (a variant the endpoint does not have: *ret_variant
 * names it), -EDQUOT, -ENODEV as for endpoint_update.
 */
int endpoint_update_capacities(struct endpoint *ep, const struct endpoint_capacity *c, size_t n,
			       const char **ret_variant);

/* Deleting: tears its containers down, then drops it. -EBUSY when already Deleting. */
int endpoint_delete(struct endpoint *ep);
/* The one way a status changes. -EINVAL for a transition the table forbids. */
int endpoint_set_state(struct endpoint *ep, enum endpoint_state new_state, const char *reason);

/* Sets or replaces tags (-E2BIG past NAMES_MAX_TAGS, nothing changed), removes keys. */
int tagset_add(struct tagset *ts, const struct endpoint_tag *tags, size_t n);
void tagset_remove(struct tagset *ts, const char *const *keys, size_t n);
void tagset_clear(struct tagset *ts);

/* Writes the endpoint's record to the journal (after a change of tags, say). */
void endpoint_persist(struct endpoint *ep);
/* The journal key of an endpoint. */
char *endpoint_journal_key(const char *name);
/* The endpoint as the journal keeps it, and its config as a document that
 * config_load_string() reads back (endpoint_state.c). */
json_t *endpoint_to_json(const struct endpoint *ep);
char *endpoint_config_document(const struct config *c, const struct config_endpoint_config *ec);
json_t *endpoint_model_json(const struct config_model *m);
/* A production variant in the API's shape (DescribeEndpointConfig's). */
json_t *endpoint_variant_json(const struct config_variant *v);

/* The data plane could not talk to inst (the connection was refused, reset
 * or closed without an answer): it leaves the rotation at once and pings
 * decide whether it comes back or is replaced. */
void endpoint_instance_unreachable(struct instance *inst, const char *why);

/* Healthy instances of all variants. */
unsigned endpoint_healthy_count(const struct endpoint *ep);

struct endpoint *endpoint_ref(struct endpoint *ep);
struct endpoint *endpoint_unref(struct endpoint *ep);

#endif
