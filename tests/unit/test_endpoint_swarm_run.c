/*
 * An endpoint's life in swarm mode against a fake swarm manager: the real
 * manager, Docker client and health checks on one loop, talking to an evhttp
 * server on a Unix socket that keeps services and their tasks in a table
 * (create, inspect, update, remove; tasks listed, one node) and to a /ping
 * server standing in for every task's model at the node's address.
 *
 * Map: the fake swarm (services, tasks, one node, the request log), the
 * ping server, set-up, then the tests: a variant is one service whose tasks
 * go in service, delete removes it, an unplaceable task fails the endpoint
 * with the scheduler's reason, a dead task is replaced by scaling down and
 * up, a node that goes down takes its instances out of rotation, and
 * admission by the nodes' resources.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "docker.h"
#include "endpoint.h"
#include "endpoint_private.h"
#include "fake_engine.h"
#include "httpc.h"
#include "util.h"

#define OWNER "0123456789abcdef"
#define UNPLACED "no suitable node (insufficient resources on 1 node)"

static const char *const config_yaml =
    "state_dir: /nonexistent/endpointd-test\n"
    "container_dialer: none\n"
    "docker: { mode: swarm }\n"
    "instance_types:\n"
    "  ml.cpu: { cpus: 1, memory: 1GiB }\n"
    "  ml.gpu: { cpus: 1, memory: 1GiB, gpus: 1 }\n"
    "  ml.gpu8: { cpus: 1, memory: 1GiB, gpus: 8 }\n"
    "Models:\n"
    "  - ModelName: m\n"
    "    PrimaryContainer: { Image: demo:1 }\n"
    "EndpointConfigs:\n"
    "  - EndpointConfigName: pair\n"
    "    ProductionVariants:\n"
    "      - { VariantName: AllTraffic, ModelName: m, InitialInstanceCount: 2,\n"
    "          InstanceType: ml.cpu, ContainerStartupHealthCheckTimeoutInSeconds: 60 }\n"
    "  - EndpointConfigName: gpu\n"
    "    ProductionVariants:\n"
    "      - { VariantName: AllTraffic, ModelName: m, InitialInstanceCount: 1,\n"
    "          InstanceType: ml.gpu, ContainerStartupHealthCheckTimeoutInSeconds: 60 }\n"
    "  - EndpointConfigName: gpu8\n"
    "    ProductionVariants:\n"
    "      - { VariantName: AllTraffic, ModelName: m, InitialInstanceCount: 1,\n"
    "          InstanceType: ml.gpu8, ContainerStartupHealthCheckTimeoutInSeconds: 60 }\n";

/* ------------------------------------------------------------------------ */
/* The fake swarm */

struct fake_service {
	char id[16];
	char *name;
	json_t *spec;
	unsigned version;
	unsigned replicas;
	bool removed;
};

struct fake_task {
	char id[16];
	struct fake_service *service;
	unsigned slot;
	const char *state;
	const char *desired;
	const char *err;
	int exit_code; /* -1: none */
	const char *node;
	bool removed;
};

static struct event_base *base;
static struct evhttp *engine, *pinger;
static uint16_t ping_port;
static struct httpc *hc;
static struct docker *dk;
static struct config *config;
static struct endpoint_manager *manager;
static char dir[64], sockpath[96];
static struct fake_service services[16];
static size_t n_services;
static struct fake_task tasks[64];
static size_t n_tasks;
static const char *node_state = "ready";  /* node1's */
static const char *node2_state = "ready";
static bool two_nodes; /* node2 is in the swarm too */
static bool unplaceable;     /* new tasks wait for resources no node has */
static char *log_lines[256]; /* "METHOD path" of each swarm request */
static size_t n_log;
static struct evhttp_request *event_stream;
static char *last_tasks_query; /* the path of the last GET /tasks */

static void reply(struct evhttp_request *req, int code, const char *body)
{
	fake_engine_reply(req, code, body, strlen(body));
}

/* How many tasks of s that Swarm wants running are on node. */
static unsigned fake_node_load(const struct fake_service *s, const char *node)
{
	unsigned n = 0;

	for (size_t i = 0; i < n_tasks; i++)
		n += tasks[i].service == s && !tasks[i].removed &&
		     !strcmp(tasks[i].desired, "running") && !strcmp(tasks[i].node, node);
	return n;
}

/* A task for slot of s, running unless the swarm cannot place it: on the
 * ready node with the fewest of the service's tasks, node2 first. */
static void fake_task_add(struct fake_service *s, unsigned slot)
{
	struct fake_task *t = &tasks[n_tasks];
	bool on2 = two_nodes && !strcmp(node2_state, "ready") &&
	           (strcmp(node_state, "ready") != 0 ||
	            fake_node_load(s, "node2") <= fake_node_load(s, "node1"));

	cr_assert_lt(n_tasks, ELEMENTSOF(tasks));
	*t = (struct fake_task){.service = s, .slot = slot, .exit_code = -1, .desired = "running"};
	snprintf(t->id, sizeof(t->id), "task%zu", n_tasks++);
	t->node = on2 ? "node2" : "node1";
	t->state = unplaceable ? "pending" : "running";
	t->err = unplaceable ? UNPLACED : NULL;
}

/* Whether slot of s has a task still listed. */
static bool fake_slot_listed(const struct fake_service *s, unsigned slot)
{
	for (size_t i = 0; i < n_tasks; i++)
		if (tasks[i].service == s && tasks[i].slot == slot && !tasks[i].removed)
			return true;
	return false;
}

/* Scale s to n: dead slots go first, then the highest; new slots take the
 * lowest free numbers, as Swarm does. */
static void fake_scale(struct fake_service *s, unsigned n)
{
	unsigned have = 0;

	for (unsigned slot = 1; slot <= 64; slot++)
		have += fake_slot_listed(s, slot);
	for (size_t i = 0; i < n_tasks && have > n; i++)
		if (tasks[i].service == s && !tasks[i].removed &&
		    strcmp(tasks[i].state, "running")) {
			tasks[i].removed = true;
			have--;
		}
	for (size_t i = n_tasks; i-- > 0 && have > n;)
		if (tasks[i].service == s && !tasks[i].removed) {
			tasks[i].removed = true;
			have--;
		}
	for (unsigned slot = 1; have < n; slot++)
		if (!fake_slot_listed(s, slot)) {
			fake_task_add(s, slot);
			have++;
		}
	s->replicas = n;
}

static struct fake_service *fake_service_find(const char *ref, size_t len)
{
	for (size_t i = 0; i < n_services; i++)
		if (!services[i].removed &&
		    ((strlen(services[i].id) == len && !strncmp(services[i].id, ref, len)) ||
		     (strlen(services[i].name) == len && !strncmp(services[i].name, ref, len))))
			return &services[i];
	return NULL;
}

static json_t *fake_service_json(const struct fake_service *s)
{
	return json_pack("{s:s, s:{s:i}, s:O}", "ID", s->id, "Version", "Index", s->version, "Spec",
	                 s->spec);
}

static json_t *fake_task_json(const struct fake_task *t)
{
	json_t *status = json_pack("{s:s, s:{s:[{s:s, s:i, s:i, s:s}]}}", "State", t->state,
	                           "PortStatus", "Ports", "Protocol", "tcp", "TargetPort", 8080,
	                           "PublishedPort", ping_port, "PublishMode", "host");

	if (t->err)
		json_object_set_new(status, "Err", json_string(t->err));
	if (t->exit_code >= 0)
		json_object_set_new(
		    status, "ContainerStatus",
		    json_pack("{s:s, s:i}", "ContainerID", "c0", "ExitCode", t->exit_code));
	return json_pack("{s:s, s:s, s:s, s:i, s:s, s:o}", "ID", t->id, "ServiceID", t->service->id,
	                 "NodeID", t->node, "Slot", (int)t->slot, "DesiredState", t->desired,
	                 "Status", status);
}

static json_t *fake_node_json(const char *id, const char *state)
{
	return json_pack("{s:s, s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:{s:I, s:I, s:[{s:{s:s, "
	                 "s:s}}, {s:{s:s, s:s}}]}}}",
	                 "ID", id, "Spec", "Role", "manager", "Availability", "active",
	                 "Status", "State", state, "Addr", "127.0.0.1", "Description",
	                 "Hostname", "n1", "Resources", "NanoCPUs", (json_int_t)4000000000,
	                 "MemoryBytes", (json_int_t)8 << 30, "GenericResources",
	                 "NamedResourceSpec", "Kind", "NVIDIA-GPU", "Value", "gpu0",
	                 "NamedResourceSpec", "Kind", "NVIDIA-GPU", "Value", "gpu1");
}

static json_t *fake_nodes_json(void)
{
	json_t *list = json_array();

	json_array_append_new(list, fake_node_json("node1", node_state));
	if (two_nodes)
		json_array_append_new(list, fake_node_json("node2", node2_state));
	return list;
}

static void reply_json(struct evhttp_request *req, int code, json_t *o)
{
	_cleanup_free_ char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	reply(req, code, s);
}

static void on_engine(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *p;

	if (!strcmp(uri, "/_ping"))
		return reply(req, 200, "OK");
	if (!strcmp(uri, "/version"))
		return reply(req, 200, "{\"ApiVersion\":\"1.41\",\"MinAPIVersion\":\"1.12\"}");
	p = uri + strlen("/v1.41");
	if (str_has_prefix(p, "/events")) {
		event_stream = req;
		evhttp_send_reply_start(req, 200, "OK");
		return;
	}
	if (str_has_prefix(p, "/images/"))
		return reply(req, 200,
		             "{\"Id\":\"sha256:ab\",\"RepoTags\":[\"demo:1\"],"
		             "\"RepoDigests\":[]}");
	if (str_has_prefix(p, "/nodes"))
		return reply_json(req, 200, fake_nodes_json());
	if (str_has_prefix(p, "/tasks/"))
		return reply(req, 404, "{\"message\":\"task logs are not kept here\"}");
	if (str_has_prefix(p, "/tasks")) {
		json_t *list = json_array();

		free(last_tasks_query);
		last_tasks_query = xstrdup(p);

		for (size_t i = 0; i < n_tasks; i++)
			if (!tasks[i].removed && !tasks[i].service->removed)
				json_array_append_new(list, fake_task_json(&tasks[i]));
		return reply_json(req, 200, list);
	}
	if (!str_has_prefix(p, "/services"))
		return reply(req, 404, "{\"message\":\"page not found\"}");
	if (n_log < ELEMENTSOF(log_lines))
		log_lines[n_log++] = xasprintf("%s %s",
		                               cmd == EVHTTP_REQ_DELETE ? "DELETE"
		                               : cmd == EVHTTP_REQ_GET  ? "GET"
		                                                        : "POST",
		                               p);
	if (!strcmp(p, "/services") || str_has_prefix(p, "/services?")) {
		json_t *list = json_array();

		for (size_t i = 0; i < n_services; i++)
			if (!services[i].removed)
				json_array_append_new(list, fake_service_json(&services[i]));
		return reply_json(req, 200, list);
	}
	if (!strcmp(p, "/services/create")) {
		_cleanup_free_ char *body =
		    xstrndup((const char *)evbuffer_pullup(in, -1), evbuffer_get_length(in));
		json_t *spec = json_loads(body, 0, NULL);
		const char *name = json_string_value(json_object_get(spec, "Name"));
		struct fake_service *s = &services[n_services];

		cr_assert_not_null(name);
		if (fake_service_find(name, strlen(name))) {
			json_decref(spec);
			return reply(req, 409,
			             "{\"message\":\"name conflicts with an existing object\"}");
		}
		cr_assert_lt(n_services, ELEMENTSOF(services));
		*s = (struct fake_service){.name = xstrdup(name), .spec = spec, .version = 1};
		snprintf(s->id, sizeof(s->id), "svc%zu", n_services++);
		fake_scale(s, (unsigned)json_integer_value(json_object_get(
		                  json_object_get(json_object_get(spec, "Mode"), "Replicated"),
		                  "Replicas")));
		_cleanup_free_ char *out = xasprintf("{\"ID\":\"%s\"}", s->id);
		return reply(req, 201, out);
	}
	const char *ref = p + strlen("/services/");
	size_t len = strcspn(ref, "/?");
	struct fake_service *s = fake_service_find(ref, len);

	if (!s)
		return reply(req, 404, "{\"message\":\"service not found\"}");
	if (cmd == EVHTTP_REQ_DELETE) {
		s->removed = true;
		return reply(req, 200, "");
	}
	if (str_has_prefix(ref + len, "/update")) {
		_cleanup_free_ char *body =
		    xstrndup((const char *)evbuffer_pullup(in, -1), evbuffer_get_length(in));
		json_t *spec = json_loads(body, 0, NULL);

		cr_assert_not_null(spec);
		json_decref(s->spec);
		s->spec = spec;
		s->version++;
		fake_scale(s, (unsigned)json_integer_value(json_object_get(
		                  json_object_get(json_object_get(spec, "Mode"), "Replicated"),
		                  "Replicas")));
		return reply(req, 200, "{}");
	}
	reply_json(req, 200, fake_service_json(s));
}

/* Whether a request "METHOD path…" was seen; how many. */
static int log_count(const char *what)
{
	int n = 0;

	for (size_t i = 0; i < n_log; i++)
		n += str_has_prefix(log_lines[i], what);
	return n;
}

static int pings_seen;

static void on_ping(struct evhttp_request *req, void *arg)
{
	pings_seen++;
	reply(req, 200, "");
}

/* ------------------------------------------------------------------------ */
/* Set-up */

static void setup(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct evconnlistener *l;
	struct evhttp_bound_socket *s;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char *error = NULL;

	/* The fake answers clients that a restart closed, as the daemon does. */
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/endpoint-swarm-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(sockpath, sizeof(sockpath), "%s/docker.sock", dir);
	base = event_base_new();
	engine = evhttp_new(base);
	evhttp_set_gencb(engine, on_engine, NULL);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sockpath);
	l = evconnlistener_new_bind(base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE, -1,
	                            (struct sockaddr *)&sun, sizeof(sun));
	cr_assert_not_null(l);
	cr_assert_not_null(evhttp_bind_listener(engine, l));
	pinger = evhttp_new(base);
	evhttp_set_gencb(pinger, on_ping, NULL);
	s = evhttp_bind_socket_with_handle(pinger, "127.0.0.1", 0);
	cr_assert_not_null(s);
	getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&ss, &sl);
	ping_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	cr_assert_eq(config_load_string("test.yaml", config_yaml, &config, &error), 0, "%s", error);
	hc = httpc_new(base);
	dk = docker_new(base, hc, sockpath, NULL, NULL);
	manager = endpoint_manager_new(base, hc, dk, config, NULL, OWNER);
	endpoint_manager_start(manager);
}

static int remove_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)remove(path);
	return 0;
}

static void teardown(void)
{
	endpoint_manager_shutdown(manager);
	dk = docker_free(dk);
	hc = httpc_free(hc);
	manager = endpoint_manager_free(manager);
	config_unref(config);
	if (event_stream)
		evhttp_send_reply_end(event_stream);
	evhttp_free(engine);
	evhttp_free(pinger);
	event_base_free(base);
	for (size_t i = 0; i < n_services; i++) {
		free(services[i].name);
		json_decref(services[i].spec);
	}
	for (size_t i = 0; i < n_log; i++)
		free(log_lines[i]);
	nftw(dir, remove_cb, 16, FTW_DEPTH | FTW_PHYS);
	node_state = node2_state = "ready";
	two_nodes = false;
	free(last_tasks_query);
	last_tasks_query = NULL;
}

/* Run the loop until pred(arg) holds, for at most 10 s. */
static bool run_until(bool (*pred)(void *), void *arg)
{
	fake_engine_run_until_true(base, pred, arg, 10000);
	return pred(arg);
}

static bool is_in_service(void *arg)
{
	return ((struct endpoint *)arg)->state == ENDPOINT_IN_SERVICE;
}

static bool is_failed(void *arg)
{
	return ((struct endpoint *)arg)->state == ENDPOINT_FAILED;
}

static bool is_gone(void *arg)
{
	return endpoint_find(manager, arg) == NULL;
}

static bool service_removed(void *arg)
{
	return n_services > 0 && services[0].removed;
}

static bool is_removed(void *arg)
{
	return ((struct fake_service *)arg)->removed;
}

static bool synced(void *arg)
{
	return manager->synced;
}

static struct variant *first_variant(struct endpoint *ep)
{
	return &ep->fleet->variants[0];
}

static bool none_healthy(void *arg)
{
	return first_variant(arg)->n_healthy == 0;
}

static bool one_healthy(void *arg)
{
	return first_variant(arg)->n_healthy == 1;
}

static bool two_healthy(void *arg)
{
	return first_variant(arg)->n_healthy == 2;
}

static struct endpoint *create_in_service(const char *name, const char *config_name)
{
	struct endpoint *ep = NULL;

	cr_assert_eq(endpoint_create(manager, name, config_name, NULL, 0, &ep), 0);
	cr_assert(run_until(is_in_service, ep), "%s is %s (%s)", name,
	          endpoint_state_to_string(ep->state), ep->failure_reason ?: "");
	return ep;
}

TestSuite(endpoint_swarm_run, .init = setup, .fini = teardown, .timeout = 60);

/* ------------------------------------------------------------------------ */

Test(endpoint_swarm_run, a_variant_is_one_service_whose_running_tasks_are_pinged_at_their_node)
{
	struct endpoint *ep = create_in_service("ep", "pair");
	struct variant *v = first_variant(ep);

	cr_assert_eq(log_count("POST /services/create"), 1);
	cr_assert_eq(n_services, 1);
	cr_assert_eq(services[0].replicas, 2);
	cr_assert_eq(v->n_healthy, 2);
	for (size_t j = 0; j < 2; j++) {
		cr_assert_str_eq(v->instances[j]->host_addr, "127.0.0.1");
		cr_assert_eq(v->instances[j]->host_port, ping_port);
	}
	cr_assert_gt(pings_seen, 0);
	cr_assert_eq(log_count("POST /containers"), 0, "no container is made in swarm mode");
}

Test(endpoint_swarm_run, only_the_tasks_of_the_endpoints_services_are_listed)
{
	create_in_service("ep", "pair");
	cr_assert_not_null(last_tasks_query);
	/* filters={"service":["svc0"]} */
	cr_assert_str_eq(last_tasks_query, "/tasks?filters=%7B%22service%22%3A%5B%22svc0%22%5D%7D");
}

Test(endpoint_swarm_run, the_services_tasks_carry_no_slot_label_and_publish_8080_in_host_mode)
{
	create_in_service("ep", "pair");
	json_t *task = json_object_get(services[0].spec, "TaskTemplate");
	json_t *labels = json_object_get(json_object_get(task, "ContainerSpec"), "Labels");
	json_t *port = json_array_get(
	    json_object_get(json_object_get(services[0].spec, "EndpointSpec"), "Ports"), 0);

	cr_assert_str_eq(json_string_value(json_object_get(labels, ENDPOINT_LABEL_OWNER)), OWNER);
	cr_assert_null(json_object_get(labels, "io.endpointd.slot"));
	cr_assert_str_eq(json_string_value(json_object_get(port, "PublishMode")), "host");
	cr_assert_eq(json_integer_value(json_object_get(port, "TargetPort")), 8080);
}

Test(endpoint_swarm_run, delete_endpoint_removes_the_service)
{
	struct endpoint *ep = create_in_service("ep", "pair");

	cr_assert_eq(endpoint_delete(ep), 0);
	cr_assert(run_until(is_gone, (char *)"ep"));
	cr_assert_eq(log_count("DELETE /services/svc0"), 1);
	cr_assert(services[0].removed);
}

Test(endpoint_swarm_run, a_task_never_placed_fails_the_endpoint_with_the_schedulers_reason)
{
	struct endpoint *ep = NULL;

	unplaceable = true;
	cr_assert_eq(endpoint_create(manager, "ep", "gpu", NULL, 0, &ep), 0);
	/* The startup timeout is a minute: let it be spent now. */
	first_variant(ep)->instances[0]->deadline_ms = now_monotonic_ms();
	cr_assert(run_until(is_failed, ep), "%s", endpoint_state_to_string(ep->state));
	cr_assert(strstr(ep->failure_reason, UNPLACED), "%s", ep->failure_reason);
	cr_assert(strstr(ep->failure_reason, "could not be started within 60 seconds"), "%s",
	          ep->failure_reason);
	cr_assert(run_until(service_removed, NULL), "a failed endpoint's service goes");
	unplaceable = false;
}

Test(endpoint_swarm_run, a_dead_task_leaves_rotation_and_its_slot_is_scaled_away_and_back)
{
	struct endpoint *ep = create_in_service("ep", "pair");

	tasks[1].state = "failed";
	tasks[1].desired = "shutdown";
	tasks[1].exit_code = 137;
	cr_assert(run_until(one_healthy, ep));
	cr_assert(run_until(two_healthy, ep), "healthy: %zu", first_variant(ep)->n_healthy);
	cr_assert_eq(log_count("POST /services/svc0/update"), 2, "down by one, then up again");
	cr_assert(tasks[1].removed);
	cr_assert(!tasks[0].removed, "the live task stays");
	cr_assert_str_eq(first_variant(ep)->instances[1]->task_id, "task2");
	cr_assert_eq(ep->state, ENDPOINT_IN_SERVICE);
}

Test(endpoint_swarm_run, a_node_that_goes_down_takes_its_instances_out_of_rotation_at_once)
{
	struct endpoint *ep = create_in_service("ep", "pair");

	/* Its tasks stay "running" and keep answering pings, as on a node
	 * whose dockerd was killed. */
	node_state = "down";
	cr_assert(run_until(none_healthy, ep), "healthy: %zu", first_variant(ep)->n_healthy);
	node_state = "ready";
}

/* The task of ep's instance j, in the fake's table. */
static struct fake_task *task_of(struct endpoint *ep, size_t j)
{
	const char *id = first_variant(ep)->instances[j]->task_id;

	for (size_t i = 0; id && i < n_tasks; i++)
		if (!strcmp(tasks[i].id, id))
			return &tasks[i];
	return NULL;
}

/* Whether every instance of ep is healthy on a task of node1. */
static bool all_healthy_on_node1(void *arg)
{
	struct variant *v = first_variant(arg);

	for (size_t j = 0; j < v->n_wanted; j++) {
		struct fake_task *t = task_of(arg, j);

		if (v->instances[j]->state != INSTANCE_HEALTHY || !t || strcmp(t->node, "node1"))
			return false;
	}
	return true;
}

/* Node2's dockerd dies: the node goes down, and Swarm stops wanting its
 * tasks, which still say "running" (nothing reports on them). */
static struct fake_task *lose_node2(void)
{
	struct fake_task *lost = NULL;

	node2_state = "down";
	for (size_t i = 0; i < n_tasks; i++)
		if (!tasks[i].removed && !strcmp(tasks[i].node, "node2")) {
			tasks[i].desired = "shutdown";
			lost = &tasks[i];
		}
	return lost;
}

static bool dead_slot_counted(void *arg)
{
	return first_variant(arg)->slots_dead == 1;
}

Test(endpoint_swarm_run, a_task_on_a_lost_node_is_replaced_on_another_in_a_new_slot)
{
	struct endpoint *ep;
	struct fake_task *lost;

	two_nodes = true;
	ep = create_in_service("ep", "pair");
	cr_assert_str_eq(task_of(ep, 0)->node, "node2");
	cr_assert_str_eq(task_of(ep, 1)->node, "node1");
	lost = lose_node2();
	cr_assert(run_until(all_healthy_on_node1, ep), "healthy: %zu",
	          first_variant(ep)->n_healthy);
	cr_assert_eq(services[0].replicas, 3, "the lost task keeps its slot: one more");
	cr_assert_eq(task_of(ep, 0)->slot, 3);
	cr_assert(!lost->removed);
	cr_assert_eq(ep->state, ENDPOINT_IN_SERVICE);

	/* The node is back and stops the task.  Scaling down by its slot would
	 * make Swarm drop node1's second task instead: the dead slot stays. */
	node2_state = "ready";
	lost->state = "shutdown";
	int updates = log_count("POST /services/svc0/update"), never = 0;

	cr_assert(run_until(dead_slot_counted, ep));
	/* Two more listings' time, for a scale request to reach the fake. */
	fake_engine_run_until(base, &never, 1, 2500);
	cr_assert_eq(log_count("POST /services/svc0/update"), updates, "the service was scaled");
	cr_assert_eq(services[0].replicas, 3);
	cr_assert(!lost->removed);
	cr_assert(all_healthy_on_node1(ep));
}

static bool service_has_one_slot(void *arg)
{
	size_t n = 0;

	for (size_t i = 0; i < n_tasks; i++)
		n += !tasks[i].removed;
	return services[0].replicas == 1 && n == 1;
}

Test(endpoint_swarm_run, once_a_lost_task_ends_its_slot_is_dropped_when_that_drops_no_live_task)
{
	struct endpoint *ep;
	struct fake_task *lost;

	two_nodes = true;
	ep = create_in_service("ep", "gpu");
	lost = lose_node2();
	cr_assert_not_null(lost);
	cr_assert(run_until(all_healthy_on_node1, ep));
	cr_assert_eq(services[0].replicas, 2);

	node2_state = "ready";
	lost->state = "shutdown";
	cr_assert(run_until(service_has_one_slot, ep), "replicas %u", services[0].replicas);
	cr_assert(lost->removed);
	cr_assert(all_healthy_on_node1(ep));
	cr_assert_eq(ep->state, ENDPOINT_IN_SERVICE);
}

Test(endpoint_swarm_run, an_instance_type_no_node_can_hold_is_refused_at_once)
{
	struct endpoint *ep = NULL;

	cr_assert(run_until(synced, NULL));
	cr_assert_eq(endpoint_create(manager, "ep", "gpu8", NULL, 0, &ep), -ERANGE);
	cr_assert_eq(endpoint_create(manager, "ep", "gpu", NULL, 0, &ep), 0);
}

/* The daemon restarts: a manager of the same owner, from ep's record. */
static struct endpoint *restart_with(struct endpoint *ep)
{
	json_t *rec = endpoint_to_json(ep);
	char *error = NULL;
	struct endpoint *again;

	endpoint_manager_shutdown(manager);
	dk = docker_free(dk);
	hc = httpc_free(hc);
	manager = endpoint_manager_free(manager);
	if (event_stream)
		evhttp_send_reply_end(event_stream);
	event_stream = NULL;
	hc = httpc_new(base);
	dk = docker_new(base, hc, sockpath, NULL, NULL);
	manager = endpoint_manager_new(base, hc, dk, config, NULL, OWNER);
	cr_assert_eq(endpoint_manager_restore(manager, rec, &error), 0, "%s", error);
	json_decref(rec);
	endpoint_manager_start(manager);
	again = endpoint_find(manager, "ep");
	cr_assert_not_null(again);
	return again;
}

Test(endpoint_swarm_run, after_a_restart_the_endpoint_adopts_its_service_and_its_running_tasks)
{
	struct endpoint *ep = create_in_service("ep", "pair");

	ep = restart_with(ep);
	cr_assert(run_until(two_healthy, ep), "healthy: %zu", first_variant(ep)->n_healthy);
	cr_assert_eq(log_count("POST /services/create"), 1, "no second service");
	cr_assert_eq(log_count("POST /services/svc0/update"), 0, "no task replaced");
	cr_assert_str_eq(first_variant(ep)->service_id, "svc0");
	cr_assert_str_eq(first_variant(ep)->instances[0]->task_id, "task0");
	cr_assert_eq(ep->state, ENDPOINT_IN_SERVICE);
}

Test(endpoint_swarm_run, after_a_restart_a_service_of_ours_that_belongs_to_no_endpoint_is_removed)
{
	struct endpoint *ep = create_in_service("ep", "pair");
	struct fake_service *orphan = &services[n_services];

	*orphan = (struct fake_service){.name = xstrdup("endpointd_01234567_0000000000000000"),
	                                .spec = json_pack("{s:s, s:{s:s}, s:{s:{s:i}}}", "Name",
	                                                  "endpointd_01234567_0000000000000000",
	                                                  "Labels", ENDPOINT_LABEL_OWNER, OWNER,
	                                                  "Mode", "Replicated", "Replicas", 1),
	                                .version = 1};
	snprintf(orphan->id, sizeof(orphan->id), "svc%zu", n_services++);
	restart_with(ep);
	cr_assert(run_until(synced, NULL));
	cr_assert(run_until(is_removed, orphan), "the orphan service stays");
	cr_assert(!services[0].removed, "the endpoint's own service stays");
}

static bool three_healthy(void *arg)
{
	return first_variant(arg)->n_healthy == 3;
}

Test(endpoint_swarm_run, scaling_a_variant_up_scales_its_service)
{
	struct endpoint *ep = create_in_service("ep", "pair");
	struct endpoint_capacity c = {.variant = "AllTraffic", .has_count = true, .count = 3};
	const char *bad = NULL;

	cr_assert_eq(endpoint_update_capacities(ep, &c, 1, &bad), 0);
	cr_assert(run_until(three_healthy, ep), "healthy: %zu", first_variant(ep)->n_healthy);
	cr_assert_eq(services[0].replicas, 3);
	cr_assert_eq(log_count("POST /services/create"), 1);
}

Test(endpoint_swarm_run, a_gpu_type_scales_by_the_nodes_gpus_not_this_hosts)
{
	struct endpoint *ep = create_in_service("ep", "gpu");
	struct endpoint_capacity c = {.variant = "AllTraffic", .has_count = true, .count = 2};
	const char *bad = NULL;

	/* This host has no GPU; the node has two. */
	cr_assert_eq(endpoint_update_capacities(ep, &c, 1, &bad), 0);
	cr_assert(run_until(two_healthy, ep), "healthy: %zu", first_variant(ep)->n_healthy);
}
