/*
 * The Engine's Swarm API (the same socket as lib/docker.h, the same
 * machinery: version pinning, one completion per operation from the loop,
 * deadlines, docker_free() cancelling everything with -ECANCELED): the
 * node's swarm state, nodes, services, tasks, and events of type service and
 * node.  The Engine has no task events: a caller learns task changes by
 * listing tasks, again whenever a service or node event comes.
 *
 * The parsers are pure and strict (the Engine's replies are input like any
 * other: every field read is type-checked, counts and sizes are bounded);
 * tests feed them the replies kept in tests/data/swarm/.
 */
#ifndef ENDPOINTD_SWARM_H
#define ENDPOINTD_SWARM_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "docker.h"

/* The generic resource that stands for a GPU, as Swarm and nvidia name it. */
#define SWARM_GPU_RESOURCE "NVIDIA-GPU"
/* Bounds on what a reply may hold. */
#define SWARM_MAX_NODES 4096
#define SWARM_MAX_SERVICES 16384
#define SWARM_MAX_TASKS 65536
#define SWARM_MAX_PORTS 64
#define SWARM_MAX_LABELS 256
#define SWARM_MAX_STRING 4096
#define SWARM_MAX_CONSTRAINTS 32

/* GET /info's Swarm section. */
struct swarm_info {
	bool active;     /* LocalNodeState "active": this Engine is in a swarm */
	bool manager;    /* ControlAvailable: it can take the Swarm API's writes */
	char *state;     /* LocalNodeState: inactive, pending, active, error, locked */
	char *node_id;   /* NULL when not in a swarm */
	char *node_addr; /* NULL when not in a swarm */
	char *error;     /* NULL when none */
};

struct swarm_node {
	char *id;
	char *hostname;
	char *role;         /* worker, manager */
	char *state;        /* Status.State: unknown, down, ready, disconnected */
	char *availability; /* Spec.Availability: active, pause, drain */
	char *addr;         /* Status.Addr: where its host-mode ports listen */
	json_t *labels;     /* Spec.Labels, strings only; owned */
	int64_t nano_cpus;
	int64_t memory_bytes;
	unsigned gpus; /* NVIDIA-GPU generic resources it advertises */
};

struct swarm_service {
	char *id;
	char *name;
	uint64_t version;  /* Version.Index, for update */
	json_t *labels;    /* Spec.Labels, strings only; owned */
	uint64_t replicas; /* Spec.Mode.Replicated.Replicas; 0 when not replicated */
	json_t *spec;      /* Spec as the Engine holds it, for update; owned */
};

struct swarm_port {
	uint16_t target_port;    /* 8080 */
	uint16_t published_port; /* on the task's node */
};

struct swarm_task {
	char *id;
	char *service_id;
	char *node_id; /* NULL until it is placed */
	unsigned slot;
	char *state;              /* Status.State: new … pending … running, failed … */
	char *desired_state;      /* running, shutdown, … */
	char *message;            /* Status.Message; NULL when none */
	char *err;                /* Status.Err: why it failed or waits ("no suitable node …") */
	char *container_id;       /* NULL until it has a container */
	double timestamp;         /* Status.Timestamp, epoch seconds; 0 when unknown */
	int exit_code;            /* ContainerStatus.ExitCode; -1 when absent */
	struct swarm_port *ports; /* host-mode ports of Status.PortStatus */
	size_t n_ports;
};

/* Which tasks GET /tasks lists; NULL fields do not filter. */
struct swarm_task_filter {
	const char *service;       /* id or name */
	const char *const *services; /* or any of these n_services */
	size_t n_services;
	const char *label;         /* "k=v" or "k" */
	const char *desired_state; /* running, shutdown, accepted */
};

typedef void (*swarm_info_fn)(const struct docker_result *r, const struct swarm_info *info,
                              void *userdata);
typedef void (*swarm_nodes_fn)(const struct docker_result *r, const struct swarm_node *nodes,
                               size_t n, void *userdata);
typedef void (*swarm_services_fn)(const struct docker_result *r,
                                  const struct swarm_service *services, size_t n, void *userdata);
typedef void (*swarm_service_fn)(const struct docker_result *r, const struct swarm_service *s,
                                 void *userdata);
typedef void (*swarm_tasks_fn)(const struct docker_result *r, const struct swarm_task *tasks,
                               size_t n, void *userdata);

/* GET /info, its Swarm section. */
void swarm_info(struct docker *d, swarm_info_fn cb, void *userdata);
/* GET /nodes (a manager's call). */
void swarm_node_list(struct docker *d, swarm_nodes_fn cb, void *userdata);
/* POST /services/create; spec (a ServiceSpec) is not stolen.  cb gets
 * the new service's ID (docker_create_fn).  A name in use: -EEXIST. */
void swarm_service_create(struct docker *d, json_t *spec, docker_create_fn cb, void *userdata);
/* GET /services?filters={"label":[label]} (label NULL: every service). */
void swarm_service_list(struct docker *d, const char *label, swarm_services_fn cb, void *userdata);
/* GET /services/{id}; 404 -> -ENOENT. */
void swarm_service_inspect(struct docker *d, const char *id, swarm_service_fn cb, void *userdata);
/* POST /services/{id}/update?version=N with spec (not stolen).  A version
 * that is no longer the service's (someone updated it since): -ESTALE. */
void swarm_service_update(struct docker *d, const char *id, uint64_t version, json_t *spec,
                          docker_done_fn cb, void *userdata);
/* Inspects the service, then updates its replica count at that version. */
void swarm_service_scale(struct docker *d, const char *id, uint64_t replicas, docker_done_fn cb,
                         void *userdata);
/* DELETE /services/{id}; 404 counts as success. */
void swarm_service_remove(struct docker *d, const char *id, docker_done_fn cb, void *userdata);
/* GET /tasks?filters=… */
void swarm_task_list(struct docker *d, const struct swarm_task_filter *f, swarm_tasks_fn cb,
                     void *userdata);
/* GET /events?filters={"type":["service","node"]} as a stream, with
 * docker_events_watch()'s reconnects and ev == NULL after each (re-list). */
void swarm_events_watch(struct docker *d, docker_event_fn cb, void *userdata);

/* Pure parsers of the replies: 0 or -EINVAL; ret untouched on failure.
 * Lists give *ret (calloc'd, one entry at least) holding *ret_n. */
int swarm_parse_info(const char *json, size_t len, struct swarm_info *ret);
int swarm_parse_nodes(const char *json, size_t len, struct swarm_node **ret, size_t *ret_n);
int swarm_parse_service(const char *json, size_t len, struct swarm_service *ret);
int swarm_parse_services(const char *json, size_t len, struct swarm_service **ret, size_t *ret_n);
int swarm_parse_tasks(const char *json, size_t len, struct swarm_task **ret, size_t *ret_n);
/* The host-mode port a task publishes for target, 0 when none. */
uint16_t swarm_task_published_port(const struct swarm_task *t, uint16_t target);
/* spec with Mode.Replicated.Replicas set (a new reference). */
json_t *swarm_spec_with_replicas(const json_t *spec, uint64_t replicas);

/*
 * The service for a production variant: what instance_container_spec() made
 * for one of its containers (image, Cmd, Env, Labels, Hostname, Mounts,
 * network isolation) with the scheduling of the instance type.
 */
struct swarm_service_params {
	const char *name;
	uint64_t replicas;
	double cpus;                    /* reservation and limit; 0 = none */
	uint64_t memory;                /* bytes, reservation and limit; 0 = none */
	unsigned gpus;                  /* NVIDIA-GPU generic resources reserved */
	const char *const *constraints; /* Placement.Constraints */
	size_t n_constraints;
	uint16_t port; /* the container's port published in host mode; 0 = none */
};
/* The POST /services/create body, or NULL (and *ret_why) when the container
 * spec lacks an Image.  The service's labels are the container's, less those
 * that name one instance (slot, generation, host GPUs). */
json_t *swarm_service_spec(const json_t *container_spec, const struct swarm_service_params *p,
                           const char **ret_why);
/* Whether s is a placement constraint Swarm takes ("node.labels.gpu==h100",
 * "node.role!=manager"): 0, or -EINVAL with *ret_why saying what is wrong. */
int swarm_constraint_check(const char *s, const char **ret_why);
/* Whether node n meets constraint (one swarm_constraint_check() took), as
 * far as /nodes tells: engine labels and platform are taken as met. */
bool swarm_node_meets(const struct swarm_node *n, const char *constraint);

void swarm_info_clear(struct swarm_info *info);
void swarm_node_clear(struct swarm_node *n);
void swarm_service_clear(struct swarm_service *s);
void swarm_task_clear(struct swarm_task *t);

#endif
