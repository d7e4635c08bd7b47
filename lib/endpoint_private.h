/*
 * What endpoint.c and endpoint_reconcile.c share and nobody else sees: the
 * manager, an asynchronous operation's context, and the steps of an
 * instance's life that reconciling with the Engine drives too.
 */
#ifndef ENDPOINTD_ENDPOINT_PRIVATE_H
#define ENDPOINTD_ENDPOINT_PRIVATE_H

#include <event2/event.h>
#include <jansson.h>

#include "docker.h"
#include "endpoint.h"
#include "health.h"
#include "log.h"
#include "util.h"

struct upstream;

/* A record about one instance: ENDPOINT=, VARIANT= and CONTAINER_ID= fields. */
#define log_instance(level, inst, ...)                                                     \
	log_fields(level,                                                                  \
		   LOG_FIELDS({"ENDPOINT", (inst)->variant->endpoint->name},               \
			      {"VARIANT", (inst)->variant->name},                          \
			      {"CONTAINER_ID", (inst)->container_id}),                     \
		   __VA_ARGS__)

#define ENDPOINT_LABEL_OWNER DOCKER_LABEL_PREFIX "owner"
#define ENDPOINT_RETRY_MS 1000
#define ENDPOINT_RETRY_MAX_MS 30000
/* Engine 5xx answers retried in a row before an instance's start fails. */
#define ENDPOINT_ENGINE_ERROR_RETRIES 3
/* How long an instance taken out of rotation has to pass a ping again. */
#define ENDPOINT_RECHECK_TIMEOUT_MS 10000
/* Slots a variant may have (a journal record asking for more is cut). */
#define ENDPOINT_MAX_SLOTS 65536

struct endpoint_manager {
	struct event_base *base;
	struct httpc *httpc;
	struct upstream *upstream; /* pings through dialers (containers without a network) */
	struct docker *docker;
	struct config *config;
	struct journal *journal; /* borrowed; NULL keeps nothing */
	char *owner;             /* this daemon's identity */
	char *owner_label;       /* io.endpointd.owner=<owner> */
	struct strmap *by_name;      /* lower-cased name -> endpoint (one ref each) */
	struct strmap *by_container; /* container id -> instance */
	endpoint_observer_fn observer;
	void *observer_data;
	size_t n_instances; /* slots of registered endpoints */
	bool shutting_down;
	/* Matching what we think with what the Engine runs. */
	unsigned engine_epoch;  /* bumped at every (re)connection of the event stream */
	bool resync_running;
	bool resync_again;
	/* The listing after a (re)connection may miss a create that a killed
	 * daemon had sent (it lands in the Engine later): list once more when
	 * orphan_grace_s has passed, when such a container is an orphan old
	 * enough to go. */
	bool resync_sweep;
	struct event *resync_timer; /* retry a failed listing; sweep orphans later */
	unsigned listings; /* container listings asked for so far */
	/* Once the first listing is matched: restored instances route again. */
	bool synced;
	void (*synced_cb)(void *userdata);
	void *synced_data;
	/* The host's GPUs and who holds each (endpoint_gpu.c). */
	struct gpu *gpus;
	size_t n_gpus;
	struct gpu_use *gpu_use;
	char *gpu_error; /* why there are none */
	/* Swarm mode (endpoint_swarm.c): the services' tasks, polled. */
	bool swarm;
	struct event *swarm_poll;   /* the next listing of nodes and tasks */
	bool swarm_listing;         /* one is running */
	bool swarm_again;           /* list once more when it ends */
	bool swarm_services_due;    /* list services too: after a (re)connection */
	unsigned swarm_soon_ms;     /* the last quick relisting's delay; 0: none */
	uint64_t swarm_soon_since;  /* when tasks were last asked for */
	struct swarm_node *swarm_nodes; /* the last node list; NULL before one */
	size_t n_swarm_nodes;
};

/*
 * Who holds one GPU: an instance (for the container it is creating or runs),
 * or, once the instance let go of it, the container that may still run on it
 * (by name) until the Engine confirms that container gone.  Neither: free.
 */
struct gpu_use {
	struct instance *holder;
	char *container;   /* draining: the container still holding it */
	unsigned listing;  /* m->listings when it began draining */
};

/* One asynchronous operation's context. */
struct op {
	struct endpoint *ep;   /* a reference */
	struct instance *inst; /* NULL for variant-wide operations */
	struct variant *variant;
	unsigned generation;
	char *container_id; /* for logs and removal */
	char *detail;       /* a failure being written up */
	json_t *spec;       /* a container spec, kept for a retry */
	char *container_name; /* the container it creates (its GPUs drain by this name) */
	bool may_retry;     /* pull a missing image / replace a name conflict */
	void (*explained)(struct endpoint *ep, const char *reason); /* endpoint_explain() */
};

struct endpoint *endpoint_alloc(struct endpoint_manager *m, const char *name, struct config *c,
				const struct config_endpoint_config *ecfg);
void endpoint_register(struct endpoint *ep);
struct op *op_new(struct endpoint *ep, struct variant *v, struct instance *inst);
void op_free(struct op *op);
bool op_current(const struct op *op);
void instance_forget_container(struct instance *inst);
char *instance_dialer_dir(const struct instance *inst);
void instance_start_dialer(struct instance *inst);
bool instance_await_dialer(struct instance *inst);
void instance_joins_rotation(struct instance *inst);
bool instance_isolated(const struct instance *inst);
struct health_check *instance_health_startup(struct instance *inst, uint64_t timeout_ms);
struct health_check *instance_health_steady(struct instance *inst);
void instance_make_dialer_dir(struct instance *inst);
void instance_forget_dialer(struct instance *inst);
void instance_free_dialer(struct instance *inst);
size_t endpoint_manager_unheld_gpus(const struct endpoint_manager *m);
void endpoint_manager_free_gpu_use(struct endpoint_manager *m);
int instance_take_gpus(struct instance *inst, char **ret_reason);
void instance_release_gpus(struct instance *inst);
void instance_drain_gpus(struct instance *inst, const char *container);
bool endpoint_manager_container_gone(struct endpoint_manager *m, const char *container);
void endpoint_manager_gpus_listed(struct endpoint_manager *m, const struct docker_container *cs,
				  size_t n, unsigned listing);
void instance_claim_gpus(struct instance *inst, const char *container, const char *uuids);
char *instance_gpu_uuids(const struct instance *inst);
json_t *instance_gpu_requests(const struct instance *inst);
json_t *instance_container_spec(struct instance *inst);
char *endpoint_container_name(const char *owner, const char *endpoint, const char *variant,
			      unsigned fleet, unsigned slot, unsigned generation);
unsigned endpoint_container_fleet(const struct docker_container *c);
bool endpoint_container_is_instances(const struct instance *inst, const struct docker_container *c);
void endpoint_remove_container(struct endpoint *ep, const char *id, const char *name);
void endpoint_manager_resync_later(struct endpoint_manager *m, unsigned delay_ms);
void endpoint_timer_sooner(struct event *ev, unsigned delay_ms);
void endpoint_wake_gpu_waiters(struct endpoint_manager *m);
void endpoint_maybe_drop(struct endpoint *ep);
void endpoint_maybe_in_service(struct endpoint *ep);
void instance_start(struct instance *inst);
void instance_launch(struct instance *inst);
void instance_replace(struct instance *inst, const char *why);
void variant_unlist_healthy(struct instance *inst);
void instance_teardown(struct instance *inst);
bool fleet_healthy(const struct fleet *f);
/* endpoint_fleet.c: fleets, slots, retiring. */
struct fleet *fleet_new(struct endpoint *ep, unsigned id, struct config *c,
			const struct config_endpoint_config *ecfg);
struct fleet *fleet_free(struct fleet *f);
struct fleet *endpoint_fleet_nth(const struct endpoint *ep, size_t k);
size_t endpoint_slots(const struct endpoint *ep);
size_t endpoint_fleet_slots(const struct fleet *f);
unsigned fleet_wanted(const struct fleet *f);
size_t fleet_gpus(const struct fleet *f);
bool instance_wanted(const struct instance *inst);
void instance_retire(struct instance *inst);
void variant_set_wanted(struct variant *v, size_t n);
void variant_add_slots(struct variant *v, size_t n);
void endpoint_retire_fleet(struct endpoint *ep, struct fleet *f, unsigned delay_s);
void endpoint_sweep_retired(struct endpoint *ep);
void endpoint_sweep_cb(evutil_socket_t fd, short what, void *arg);
/* endpoint_update.c: the rollout of UpdateEndpoint, and scaling. */
void endpoint_update_progress(struct endpoint *ep);
/* endpoint_provision.c: a variant's image, model data, then instances. */
void endpoint_provision_variant(struct variant *v);
/* Whether ep should have running instances (Creating, InService, Updating). */
bool endpoint_wants_instances(const struct endpoint *ep);
/* The wait before retry number attempt (from 0), growing to a ceiling. */
unsigned endpoint_backoff_ms(unsigned attempt);
/* Whether the Engine could not be reached at all (so nothing is definite). */
bool engine_unreachable(const struct docker_result *r);
/* ep goes Failed with reason (and the container's log when one is named). */
void endpoint_fail(struct endpoint *ep, struct instance *inst, const char *container_id,
		   const char *reason);
void instance_died(struct instance *inst, int exit_code);
void endpoint_explain(struct endpoint *ep, struct variant *v, const char *container_id,
		      const char *detail, void (*done)(struct endpoint *ep, const char *reason));
/*
 * An instance of ep (inst, or v's provisioning when inst is NULL) failed for
 * good while an update runs: when it belongs to the fleet the update brings
 * (or to the old one that a rollback needs), the rollout takes it over and
 * true is returned; false: handle it as always.
 */
bool endpoint_update_failed(struct endpoint *ep, struct instance *inst, struct variant *v,
			    const char *container_id, const char *reason);
void instance_steady_cb(enum health_verdict verdict, const char *detail, void *userdata);
void instance_startup_cb(enum health_verdict verdict, const char *detail, void *userdata);
void instance_started_cb(const struct docker_result *r, void *userdata);
void endpoint_destroy(struct endpoint *ep);
void endpoint_manager_resync_timer_cb(evutil_socket_t fd, short what, void *arg);
void endpoint_manager_event_cb(const struct docker_event *ev, bool ended, void *userdata);
void endpoint_manager_trim_model_cache(struct endpoint_manager *m);

/* The Swarm backend (endpoint_swarm.c). */
struct swarm_task;
struct swarm_service_params;
enum instance_state endpoint_swarm_task_state(const struct swarm_task *t);
bool endpoint_swarm_task_unplaced(const struct swarm_task *t);
const char *endpoint_swarm_task_reason(const struct swarm_task *t);
char *endpoint_swarm_service_name(const char *owner, const char *endpoint, const char *variant,
				  unsigned fleet);
void endpoint_swarm_service_params(const struct config_variant *cv, const char *name,
				   unsigned replicas, struct swarm_service_params *ret);
struct swarm_node;
bool endpoint_swarm_type_fits(const struct swarm_node *nodes, size_t n,
			      const struct config_instance_type *t);
/* One slot of a variant's service in a listing: its newest task, and what
 * that is to endpointd. */
enum endpoint_swarm_slot_kind {
	SWARM_SLOT_LIVE,    /* wanted, on a node that is up: placed, starting or running */
	SWARM_SLOT_LOST,    /* not over, but its node is not ready or Swarm stops it */
	SWARM_SLOT_DEAD,    /* over: it stays one of the service's slots until dropped */
	SWARM_SLOT_LEAVING, /* being scaled away (desired state remove) */
};
struct endpoint_swarm_slot {
	unsigned slot;
	const char *node_id; /* NULL: not assigned */
	bool running;        /* Status.State is running, whatever Swarm wants */
	enum endpoint_swarm_slot_kind kind;
	const struct swarm_task *task;
	struct instance *owner;
};
bool endpoint_swarm_drop_is_exact(const struct endpoint_swarm_slot *slots, size_t n);
void endpoint_swarm_start(struct endpoint_manager *m);
void endpoint_swarm_free(struct endpoint_manager *m);
int endpoint_swarm_admit(const struct endpoint_manager *m,
			 const struct config_endpoint_config *ecfg);
void endpoint_swarm_launch(struct instance *inst);
void endpoint_swarm_teardown(struct instance *inst);
void endpoint_swarm_variant_gone(struct endpoint *ep, struct variant *v);

#endif
