/*
 * Runs a variant's service on a real swarm through lib/swarm.c, for
 * tests/integration/test_swarm_services.py: the spec swarm_service_spec()
 * builds, created, its tasks followed until each runs or the scheduler says
 * why it cannot place them, and where each task answers (its node's address
 * and host-mode port).
 *
 *   swarm-run SOCKET create NAME IMAGE REPLICAS GPUS [CONSTRAINT…]
 *       prints "service ID", then "running SLOT ADDR PORT" for each task once
 *       all run (exit 0), or "unplaced STATE ERR" for a task that waits or
 *       failed (exit 3); exit 1 on any other error, 2 on a 60 s timeout
 *   swarm-run SOCKET wait NAME REPLICAS
 *       the same for a service that exists, from "running …" on
 *   swarm-run SOCKET scale NAME REPLICAS
 *   swarm-run SOCKET remove NAME
 *
 * "running" lines end with the task's ID, so that a caller can tell a task
 * that was kept from one that replaced it.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker.h"
#include "httpc.h"
#include "swarm.h"
#include "util.h"

/* The run: one create (or remove) and the polls that follow it. */
struct run {
	struct event_base *base;
	struct docker *d;
	struct event *poll;
	char *service_id;
	unsigned replicas;
	json_t *addrs; /* node id -> Status.Addr */
	int status;    /* the exit status once done; -1 while running */
};

/* Ends the run with status, once. */
static void run_done(struct run *r, int status)
{
	if (r->status >= 0)
		return; /* the first outcome stands; docker_free() cancels the rest */
	r->status = status;
	event_base_loopbreak(r->base);
}

/* Fails the run when the Engine said no. */
static bool run_failed(struct run *r, const struct docker_result *res, const char *what)
{
	if (!res->err)
		return false;
	fprintf(stderr, "swarm-run: %s: %s\n", what, res->message);
	run_done(r, 1);
	return true;
}

/* The service's tasks: all running, one unplaced, or poll again. */
static void on_tasks(const struct docker_result *res, const struct swarm_task *ts, size_t n,
                     void *userdata)
{
	struct run *r = userdata;
	unsigned running = 0;
	struct timeval tv = {0, 250000};

	if (run_failed(r, res, "task list"))
		return;
	for (size_t i = 0; i < n; i++) {
		const struct swarm_task *t = &ts[i];

		if (t->err && (!strcmp(t->state, "pending") || !strcmp(t->state, "failed") ||
		               !strcmp(t->state, "rejected"))) {
			printf("unplaced %s %s\n", t->state, t->err);
			run_done(r, 3);
			return;
		}
		running += !strcmp(t->state, "running") && t->node_id &&
		           json_object_get(r->addrs, t->node_id);
	}
	if (running < r->replicas) {
		evtimer_add(r->poll, &tv);
		return;
	}
	for (size_t i = 0; i < n; i++)
		printf("running %u %s %u %s\n", ts[i].slot,
		       json_string_value(json_object_get(r->addrs, ts[i].node_id)),
		       swarm_task_published_port(&ts[i], 8080), ts[i].id);
	run_done(r, 0);
}

/* Reads the nodes (a task may land on a node that joined since), then the
 * service's tasks. */
static void on_nodes(const struct docker_result *res, const struct swarm_node *ns, size_t n,
                     void *userdata)
{
	struct run *r = userdata;
	struct swarm_task_filter f = {.service = r->service_id, .desired_state = "running"};

	if (run_failed(r, res, "node list"))
		return;
	for (size_t i = 0; i < n; i++)
		if (ns[i].addr)
			json_object_set_new(r->addrs, ns[i].id, json_string(ns[i].addr));
	swarm_task_list(r->d, &f, on_tasks, r);
}

/* The poll timer: read the nodes, then the tasks. */
static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;

	(void)fd;
	(void)what;
	swarm_node_list(r->d, on_nodes, r);
}

/* The service exists: follow its tasks. */
static void on_create(const struct docker_result *res, const char *id, void *userdata)
{
	struct run *r = userdata;

	if (run_failed(r, res, "service create"))
		return;
	printf("service %s\n", id);
	fflush(stdout);
	r->service_id = xstrdup(id);
	on_poll(-1, 0, r);
}

/* The service is gone (or was already), or scaled. */
static void on_removed(const struct docker_result *res, void *userdata)
{
	struct run *r = userdata;

	if (!run_failed(r, res, "service remove or scale"))
		run_done(r, 0);
}

/* Sixty seconds without an outcome. */
static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fprintf(stderr, "swarm-run: timed out\n");
	run_done(arg, 2);
}

/* Starts the create: the container spec instance_container_spec() would make
 * for the demo model, as a service. */
static int run_create(struct run *r, int argc, char **argv)
{
	json_t *cs = json_pack("{s:s, s:[s], s:[s], s:{s:s}}", "Image", argv[4], "Cmd", "serve",
	                       "Env", "SAGEMAKER_BIND_TO_PORT=8080", "Labels",
	                       DOCKER_LABEL_PREFIX "managed", "true");
	struct swarm_service_params p = {
	    .name = argv[3],
	    .replicas = strtoul(argv[5], NULL, 10),
	    .gpus = (unsigned)strtoul(argv[6], NULL, 10),
	    .constraints = (const char *const *)argv + 7,
	    .n_constraints = (size_t)argc - 7,
	    .port = 8080,
	};
	const char *why = NULL;
	json_t *spec;

	for (size_t i = 0; i < p.n_constraints; i++)
		if (swarm_constraint_check(p.constraints[i], &why) < 0) {
			fprintf(stderr, "swarm-run: %s %s\n", p.constraints[i], why);
			json_decref(cs);
			return -EINVAL;
		}
	spec = swarm_service_spec(cs, &p, &why);
	json_decref(cs);
	if (!spec)
		return -EINVAL;
	r->replicas = (unsigned)p.replicas;
	swarm_service_create(r->d, spec, on_create, r);
	json_decref(spec);
	return 0;
}

int main(int argc, char **argv)
{
	struct run r = {.status = -1};
	struct timeval limit = {60, 0};
	struct httpc *h;
	struct event *timeout;

	bool create = argc >= 7 && strcmp(argv[2], "create") == 0;
	bool counted = argc == 5 && (strcmp(argv[2], "wait") == 0 || strcmp(argv[2], "scale") == 0);
	bool remove = argc == 4 && strcmp(argv[2], "remove") == 0;

	if (!create && !counted && !remove) {
		fprintf(stderr, "usage: swarm-run SOCKET create NAME IMAGE REPLICAS GPUS "
		                "[CONSTRAINT...] | wait NAME REPLICAS | scale NAME REPLICAS | "
		                "remove NAME\n");
		return 1;
	}
	r.base = event_base_new();
	h = httpc_new(r.base);
	r.d = docker_new(r.base, h, argv[1], NULL, NULL);
	r.poll = evtimer_new(r.base, on_poll, &r);
	r.addrs = json_object();
	timeout = evtimer_new(r.base, on_timeout, &r);
	evtimer_add(timeout, &limit);
	if (remove) {
		swarm_service_remove(r.d, argv[3], on_removed, &r);
	} else if (strcmp(argv[2], "scale") == 0) {
		swarm_service_scale(r.d, argv[3], strtoul(argv[4], NULL, 10), on_removed, &r);
	} else if (strcmp(argv[2], "wait") == 0) {
		r.service_id = xstrdup(argv[3]);
		r.replicas = (unsigned)strtoul(argv[4], NULL, 10);
		on_poll(-1, 0, &r);
	} else if (run_create(&r, argc, argv) < 0) {
		r.status = 1;
	}
	if (r.status < 0)
		event_base_dispatch(r.base);
	event_free(timeout);
	event_free(r.poll);
	r.d = docker_free(r.d);
	httpc_free(h);
	event_base_free(r.base);
	json_decref(r.addrs);
	free(r.service_id);
	return r.status < 0 ? 1 : r.status;
}
