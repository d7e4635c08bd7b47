/*
 * An endpoint's life against a fake Engine: the real manager, Docker client
 * and health checks on one loop, talking to an evhttp server on a Unix socket
 * that keeps containers in a table (create, start, inspect, stop, remove,
 * list) and to a /ping server standing in for every container's model.
 *
 * Map: the fake Engine (its container table and request log), the ping
 * server, set-up of a manager with a journal, then the tests: container
 * names, name conflicts, bind mounts, network isolation, GPUs held until
 * their container is gone, and DeleteEndpoint's intent on disk before any
 * container stops.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "dialer.h"
#include "docker.h"
#include "endpoint.h"
#include "endpoint_private.h"
#include "gpu.h"
#include "httpc.h"
#include "journal.h"
#include "util.h"

#define OWNER "0123456789abcdef"

/* No dialer: the default one is wherever endpointd-dialer happens to be
 * installed, and its mounts are the business of the tests that name one. */
static const char *const config_yaml =
    "state_dir: /nonexistent/endpointd-test\n"
    "container_dialer: none\n"
    "instance_types:\n"
    "  ml.cpu: { cpus: 1, memory: 1GiB }\n"
    "  ml.gpu: { cpus: 1, memory: 1GiB, gpus: 1 }\n"
    "Models:\n"
    "  - ModelName: m\n"
    "    PrimaryContainer: { Image: demo:1 }\n"
    "EndpointConfigs:\n"
    "  - EndpointConfigName: cpu\n"
    "    ProductionVariants:\n"
    "      - { VariantName: AllTraffic, ModelName: m, InitialInstanceCount: 1,\n"
    "          InstanceType: ml.cpu, ContainerStartupHealthCheckTimeoutInSeconds: 60 }\n"
    "  - EndpointConfigName: gpu\n"
    "    ProductionVariants:\n"
    "      - { VariantName: AllTraffic, ModelName: m, InitialInstanceCount: 1,\n"
    "          InstanceType: ml.gpu, ContainerStartupHealthCheckTimeoutInSeconds: 60 }\n";

/* ------------------------------------------------------------------------ */
/* The fake Engine */

struct fake_container {
	char id[32];
	char *name;
	json_t *labels;
	char *body; /* the create request's spec */
	bool running;
	bool removed;
};

static struct event_base *base;
static struct evhttp *engine, *pinger;
static uint16_t ping_port;
static struct httpc *hc;
static struct docker *dk;
static struct config *config;
static struct journal *journal;
static struct endpoint_manager *manager;
static char dir[64], sockpath[96];
static struct fake_container containers[32];
static size_t n_containers;
static json_t *create_specs[32]; /* every create request's spec, refused ones too */
static size_t n_create_specs;
static char *log_lines[256]; /* "METHOD path" of each container request */
static size_t n_log;
static unsigned stop_delay_ms;
/* Whether the journal on disk said Deleting when the Engine got each stop. */
static int stops, stops_after_deleting_on_disk;
static struct evhttp_request *event_stream;

/* A container by id or name (never a removed one). */
static struct fake_container *fake_find(const char *ref, size_t len)
{
	for (size_t i = 0; i < n_containers; i++) {
		struct fake_container *c = &containers[i];
		if (c->removed)
			continue;
		if ((strlen(c->id) == len && strncmp(c->id, ref, len) == 0) ||
		    (strlen(c->name) == len && strncmp(c->name, ref, len) == 0))
			return c;
	}
	return NULL;
}

/* Add a container as if someone created it. */
static struct fake_container *fake_add(const char *name, json_t *labels, bool running)
{
	cr_assert_lt(n_containers, ELEMENTSOF(containers));
	struct fake_container *c = &containers[n_containers];
	snprintf(c->id, sizeof(c->id), "c%02zu0123456789abcdef", n_containers);
	n_containers++;
	c->name = xstrdup(name);
	c->labels = labels ? labels : json_object();
	c->running = running;
	return c;
}

static void reply(struct evhttp_request *req, int code, const char *body)
{
	struct evbuffer *out = evbuffer_new();
	evbuffer_add(out, body, strlen(body));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "application/json");
	evhttp_send_reply(req, code, "X", out);
	evbuffer_free(out);
}

/*
 * The first bind mount in spec's HostConfig.Mounts whose source does not
 * exist, or NULL: the Engine refuses to create such a container.
 */
static const char *fake_missing_mount_source(json_t *spec)
{
	json_t *mounts = json_object_get(json_object_get(spec, "HostConfig"), "Mounts");
	size_t i;
	json_t *m;
	json_array_foreach(mounts, i, m)
	{
		const char *src = json_string_value(json_object_get(m, "Source"));
		struct stat st;
		if (src && stat(src, &st) < 0)
			return src;
	}
	return NULL;
}

/* A container as inspect (full) or list (summary) shows it. */
static json_t *fake_json(const struct fake_container *c, bool full)
{
	json_t *ports = json_pack("[{s:s, s:i, s:i, s:s}]", "IP", "127.0.0.1", "PrivatePort", 8080,
	                          "PublicPort", ping_port, "Type", "tcp");
	const char *state = c->running ? "running" : "created";
	if (!full) {
		_cleanup_free_ char *slashed = xasprintf("/%s", c->name);
		return json_pack("{s:s, s:[s], s:s, s:s, s:s, s:O, s:o, s:i, s:s}", "Id", c->id,
		                 "Names", slashed, "Image", "demo:1", "ImageID", "sha256:ab",
		                 "State", state, "Labels", c->labels, "Ports", ports, "Created",
		                 1700000000, "Status", "Up");
	}
	json_decref(ports);
	_cleanup_free_ char *slashed = xasprintf("/%s", c->name);
	_cleanup_free_ char *port = xasprintf("%u", ping_port);
	return json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:O}, s:{s:s, s:b, s:b, s:i, s:s}, "
	                 "s:{s:{s:[{s:s, s:s}]}}}",
	                 "Id", c->id, "Name", slashed, "Image", "sha256:ab", "Created",
	                 "2026-11-26T18:25:46Z", "Config", "Image", "demo:1", "Labels", c->labels,
	                 "State", "Status", state, "Running", c->running, "OOMKilled", 0,
	                 "ExitCode", 0, "StartedAt", "2026-11-26T18:25:46Z", "NetworkSettings",
	                 "Ports", "8080/tcp", "HostIp", "127.0.0.1", "HostPort", port);
}

static void reply_json(struct evhttp_request *req, int code, json_t *o)
{
	_cleanup_free_ char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	reply(req, code, text);
}

/* Whether the journal file on disk holds a Deleting record. */
static bool journal_on_disk_says_deleting(void)
{
	_cleanup_free_ char *path = xasprintf("%s/journal", dir);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	struct buf b = {0};
	char chunk[4096];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_append(&b, chunk, (size_t)n);
	close(fd);
	/* Records are framed by binary lengths: search past their NULs. */
	static const char needle[] = "\"status\":\"Deleting\"";
	bool found = b.data && memmem(b.data, b.len, needle, strlen(needle)) != NULL;
	buf_reset(&b);
	return found;
}

/* A stop answered later. */
struct delayed {
	struct evhttp_request *req;
	struct event *ev;
};

static void delayed_reply_cb(evutil_socket_t fd, short what, void *arg)
{
	struct delayed *d = arg;
	reply(d->req, 204, "");
	event_free(d->ev);
	free(d);
}

static void on_engine(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	if (!strcmp(uri, "/_ping"))
		return reply(req, 200, "OK");
	if (!strcmp(uri, "/version"))
		return reply(req, 200, "{\"ApiVersion\":\"1.41\",\"MinAPIVersion\":\"1.12\"}");
	const char *p = uri + strlen("/v1.41");
	if (str_has_prefix(p, "/events")) {
		/* Open, and silent. */
		event_stream = req;
		evhttp_send_reply_start(req, 200, "OK");
		return;
	}
	if (str_has_prefix(p, "/images/"))
		return reply(req, 200,
		             "{\"Id\":\"sha256:ab\",\"RepoTags\":[\"demo:1\"],"
		             "\"RepoDigests\":[]}");
	if (str_has_prefix(p, "/containers/json")) {
		json_t *list = json_array();
		/* Filtered by io.endpointd.owner=OWNER, as the daemon asks. */
		for (size_t i = 0; i < n_containers; i++)
			if (!containers[i].removed &&
			    !strcmp(json_string_value(
			                json_object_get(containers[i].labels, ENDPOINT_LABEL_OWNER))
			                ?: "",
			            OWNER))
				json_array_append_new(list, fake_json(&containers[i], false));
		return reply_json(req, 200, list);
	}
	if (!str_has_prefix(p, "/containers/"))
		return reply(req, 404, "{\"message\":\"page not found\"}");
	if (n_log < ELEMENTSOF(log_lines))
		log_lines[n_log++] = xasprintf("%s %s",
		                               cmd == EVHTTP_REQ_DELETE ? "DELETE"
		                               : cmd == EVHTTP_REQ_GET  ? "GET"
		                                                        : "POST",
		                               p);
	if (str_has_prefix(p, "/containers/create?name=")) {
		const char *name = p + strlen("/containers/create?name=");
		if (fake_find(name, strlen(name))) {
			_cleanup_free_ char *msg =
			    xasprintf("{\"message\":\"Conflict. The container name \\\"/%s\\\" is "
			              "already in use.\"}",
			              name);
			return reply(req, 409, msg);
		}
		_cleanup_free_ char *body =
		    xstrndup((const char *)evbuffer_pullup(in, -1), evbuffer_get_length(in));
		json_t *spec = json_loads(body, 0, NULL);
		cr_assert_not_null(spec);
		if (n_create_specs < ELEMENTSOF(create_specs))
			create_specs[n_create_specs++] = json_incref(spec);
		const char *missing = fake_missing_mount_source(spec);
		if (missing) {
			json_t *msg = json_sprintf("invalid mount config for type \"bind\": bind "
			                           "source path does not exist: %s",
			                           missing);
			json_decref(spec);
			return reply_json(req, 400, json_pack("{s:o}", "message", msg));
		}
		struct fake_container *c =
		    fake_add(name, json_incref(json_object_get(spec, "Labels")), false);
		c->body = TAKE_PTR(body);
		json_decref(spec);
		_cleanup_free_ char *out = xasprintf("{\"Id\":\"%s\",\"Warnings\":[]}", c->id);
		return reply(req, 201, out);
	}
	const char *ref = p + strlen("/containers/");
	size_t len = strcspn(ref, "/?");
	struct fake_container *c = fake_find(ref, len);
	if (!c)
		return reply(req, 404, "{\"message\":\"No such container\"}");
	const char *rest = ref + len;
	if (cmd == EVHTTP_REQ_DELETE) {
		c->removed = true;
		return reply(req, 204, "");
	}
	if (str_has_prefix(rest, "/start")) {
		c->running = true;
		return reply(req, 204, "");
	}
	if (str_has_prefix(rest, "/stop")) {
		stops++;
		stops_after_deleting_on_disk += journal_on_disk_says_deleting();
		c->running = false;
		if (!stop_delay_ms)
			return reply(req, 204, "");
		struct delayed *d = xcalloc(1, sizeof(*d));
		d->req = req;
		d->ev = evtimer_new(base, delayed_reply_cb, d);
		struct timeval tv = {.tv_sec = 0, .tv_usec = stop_delay_ms * 1000};
		evtimer_add(d->ev, &tv);
		return;
	}
	if (str_has_prefix(rest, "/json"))
		return reply_json(req, 200, fake_json(c, true));
	if (str_has_prefix(rest, "/logs"))
		return reply(req, 200, "");
	reply(req, 404, "{\"message\":\"page not found\"}");
}

/* The model in every container: /ping answers 200. */
static int ping_status = 200; /* what every model answers /ping */

static int pings_seen; /* /ping requests that reached the published port */

static void on_ping(struct evhttp_request *req, void *arg)
{
	pings_seen++;
	reply(req, ping_status, "");
}

/* Index in the request log of the first line starting with what, from from;
 * -1 when none. */
static int log_find(const char *what, int from)
{
	for (size_t i = (size_t)from; i < n_log; i++)
		if (str_has_prefix(log_lines[i], what))
			return (int)i;
	return -1;
}

/* Index of the n-th (0-based) create request, or -1. */
static int log_create(int n)
{
	int at = -1;
	for (int i = 0; i <= n; i++) {
		at = log_find("POST /containers/create", at + 1);
		if (at < 0)
			return -1;
	}
	return at;
}

/* ------------------------------------------------------------------------ */
/* Set-up */

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/endpoint-engine-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(sockpath, sizeof(sockpath), "%s/docker.sock", dir);
	base = event_base_new();

	engine = evhttp_new(base);
	evhttp_set_gencb(engine, on_engine, NULL);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sockpath);
	struct evconnlistener *l = evconnlistener_new_bind(
	    base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE, -1, (struct sockaddr *)&sun, sizeof(sun));
	cr_assert_not_null(l);
	cr_assert_not_null(evhttp_bind_listener(engine, l));

	pinger = evhttp_new(base);
	evhttp_set_gencb(pinger, on_ping, NULL);
	struct evhttp_bound_socket *s = evhttp_bind_socket_with_handle(pinger, "127.0.0.1", 0);
	cr_assert_not_null(s);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&ss, &sl);
	ping_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);

	char *error = NULL;
	cr_assert_eq(config_load_string("test.yaml", config_yaml, &config, &error), 0, "%s", error);
	hc = httpc_new(base);
	dk = docker_new(base, hc, sockpath, NULL, NULL);
}

/* A manager on a journal in dir; offline journals write only at a barrier. */
static void start_manager(bool offline_journal)
{
	char *error = NULL;
	cr_assert_eq(
	    journal_open(offline_journal ? NULL : base, dir, NULL, NULL, NULL, &journal, &error), 0,
	    "%s", error);
	manager = endpoint_manager_new(base, hc, dk, config, journal, OWNER);
}

/* A manager seeing one GPU, GPU-0. */
static void give_one_gpu(void)
{
	struct gpu *g = xcalloc(1, sizeof(*g));
	snprintf(g->uuid, sizeof(g->uuid), "GPU-0");
	endpoint_manager_set_gpus(manager, g, 1, NULL);
}

/* nftw: remove what the test left in dir, and dir. */
static int remove_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)remove(path);
	return 0;
}

static void teardown(void)
{
	if (manager)
		endpoint_manager_shutdown(manager);
	dk = docker_free(dk);
	hc = httpc_free(hc);
	manager = endpoint_manager_free(manager);
	journal = journal_free(journal);
	config_unref(config);
	if (event_stream)
		evhttp_send_reply_end(event_stream);
	evhttp_free(engine);
	evhttp_free(pinger);
	event_base_free(base);
	for (size_t i = 0; i < n_containers; i++) {
		free(containers[i].name);
		free(containers[i].body);
		json_decref(containers[i].labels);
	}
	for (size_t i = 0; i < n_create_specs; i++)
		json_decref(create_specs[i]);
	for (size_t i = 0; i < n_log; i++)
		free(log_lines[i]);
	nftw(dir, remove_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Run the loop until pred(arg) holds, for at most 10 s. */
static bool run_until(bool (*pred)(void *), void *arg)
{
	uint64_t deadline = now_monotonic_ms() + 10000;
	while (!pred(arg) && now_monotonic_ms() < deadline) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(500);
	}
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

static bool is_probing(void *arg)
{
	return ((struct endpoint *)arg)->fleet->variants[0].instances[0]->state == INSTANCE_PROBING;
}

static bool is_gone(void *arg)
{
	return endpoint_find(manager, arg) == NULL;
}

static bool creates_reach(void *arg)
{
	return log_create(*(int *)arg - 1) >= 0;
}

/* Create endpoint name of config and wait for InService. */
static struct endpoint *create_in_service(const char *name, const char *config_name)
{
	struct endpoint *ep = NULL;
	cr_assert_eq(endpoint_create(manager, name, config_name, NULL, 0, &ep), 0);
	cr_assert(run_until(is_in_service, ep), "%s is %s", name,
	          endpoint_state_to_string(ep->state));
	return ep;
}

TestSuite(endpoint_engine, .init = setup, .fini = teardown, .timeout = 60);

/* ------------------------------------------------------------------------ */
/* Names */

Test(endpoint_engine, container_names_of_hyphenated_endpoint_and_variant_names_never_collide)
{
	_cleanup_free_ char *a = endpoint_container_name(OWNER, "a-b", "c", 0, 0, 0);
	_cleanup_free_ char *b = endpoint_container_name(OWNER, "a", "b-c", 0, 0, 0);
	cr_assert_str_neq(a, b);
	_cleanup_free_ char *c = endpoint_container_name(OWNER, "a", "b", 0, 1, 0);
	_cleanup_free_ char *d = endpoint_container_name(OWNER, "a", "b", 0, 0, 10);
	_cleanup_free_ char *e = endpoint_container_name(OWNER, "a", "b", 0, 10, 0);
	cr_assert_str_neq(c, d);
	cr_assert_str_neq(d, e);
}

Test(endpoint_engine, container_name_is_lower_case_and_keeps_the_owners_first_8_characters)
{
	_cleanup_free_ char *n = endpoint_container_name(OWNER, "My-Ep", "AllTraffic", 0, 2, 7);
	cr_assert_str_eq(n, "endpointd_01234567_my-ep_alltraffic_2_7");
}

/* ------------------------------------------------------------------------ */
/* Name conflicts */

static json_t *labels_of(const char *owner, const char *endpoint, const char *variant,
                         const char *slot)
{
	json_t *l = json_object();
	if (owner)
		json_object_set_new(l, ENDPOINT_LABEL_OWNER, json_string(owner));
	if (endpoint)
		json_object_set_new(l, DOCKER_LABEL_PREFIX "endpoint", json_string(endpoint));
	if (variant)
		json_object_set_new(l, DOCKER_LABEL_PREFIX "variant", json_string(variant));
	if (slot)
		json_object_set_new(l, DOCKER_LABEL_PREFIX "slot", json_string(slot));
	return l;
}

/* The name instance 0 of AllTraffic of ep gets first. */
static char *first_name(const char *ep)
{
	return endpoint_container_name(OWNER, ep, "AllTraffic", 0, 0, 0);
}

Test(endpoint_engine, a_foreign_container_holding_the_name_is_never_removed_and_fails_the_instance)
{
	start_manager(false);
	endpoint_manager_start(manager);
	_cleanup_free_ char *name = first_name("ep");
	struct fake_container *foreign = fake_add(name, NULL, true);
	struct endpoint *ep = NULL;
	cr_assert_eq(endpoint_create(manager, "ep", "cpu", NULL, 0, &ep), 0);
	cr_assert(run_until(is_failed, ep), "ep is %s", endpoint_state_to_string(ep->state));
	cr_assert_not(foreign->removed);
	_cleanup_free_ char *del = xasprintf("DELETE /containers/%s", foreign->id);
	_cleanup_free_ char *del_name = xasprintf("DELETE /containers/%s", name);
	cr_assert_eq(log_find(del, 0), -1);
	cr_assert_eq(log_find(del_name, 0), -1);
	cr_assert(strstr(ep->failure_reason, name), "%s", ep->failure_reason);
	cr_assert(strstr(ep->failure_reason, "which endpointd did not create for this instance"),
	          "%s", ep->failure_reason);
}

Test(endpoint_engine, a_container_of_another_daemon_holding_the_name_is_never_removed)
{
	start_manager(false);
	endpoint_manager_start(manager);
	_cleanup_free_ char *name = first_name("ep");
	struct fake_container *other =
	    fake_add(name, labels_of("fedcba9876543210", "ep", "AllTraffic", "0"), true);
	struct endpoint *ep = NULL;
	cr_assert_eq(endpoint_create(manager, "ep", "cpu", NULL, 0, &ep), 0);
	cr_assert(run_until(is_failed, ep), "ep is %s", endpoint_state_to_string(ep->state));
	cr_assert_not(other->removed);
}

Test(endpoint_engine, a_container_of_another_slot_holding_the_name_is_never_removed)
{
	/* Not started: no listing sweeps it as an orphan first. */
	start_manager(false);
	_cleanup_free_ char *name = first_name("ep");
	struct fake_container *other =
	    fake_add(name, labels_of(OWNER, "ep", "AllTraffic", "1"), true);
	struct endpoint *ep = NULL;
	cr_assert_eq(endpoint_create(manager, "ep", "cpu", NULL, 0, &ep), 0);
	cr_assert(run_until(is_failed, ep), "ep is %s", endpoint_state_to_string(ep->state));
	cr_assert_not(other->removed);
}

Test(endpoint_engine, a_leftover_of_the_same_slot_holding_the_name_is_replaced)
{
	start_manager(false);
	_cleanup_free_ char *name = first_name("ep");
	/* The manager is not started: no listing sweeps it as an orphan first. */
	struct fake_container *leftover =
	    fake_add(name, labels_of(OWNER, "ep", "AllTraffic", "0"), false);
	struct endpoint *ep = NULL;
	cr_assert_eq(endpoint_create(manager, "ep", "cpu", NULL, 0, &ep), 0);
	cr_assert(run_until(is_in_service, ep), "ep is %s: %s", endpoint_state_to_string(ep->state),
	          ep->failure_reason ? ep->failure_reason : "");
	cr_assert(leftover->removed);
}

/* ------------------------------------------------------------------------ */
/* Bind mounts */

/*
 * Replace the config with one whose container_dialer is dir/dialer and whose
 * "data" endpoint config's model data is the directory dir/model, with the
 * state directory dir/state; all of them exist.
 */
static void use_dialer_and_model_data(void)
{
	_cleanup_free_ char *state = xasprintf("%s/state", dir),
	                    *model = xasprintf("%s/model", dir),
	                    *dialer = xasprintf("%s/dialer", dir);
	cr_assert_eq(mkdir(state, 0750), 0);
	cr_assert_eq(mkdir(model, 0755), 0);
	int fd = open(dialer, O_WRONLY | O_CREAT | O_EXCL, 0755);
	cr_assert_geq(fd, 0);
	close(fd);
	_cleanup_free_ char *yaml =
	    xasprintf("state_dir: %s\n"
	              "container_dialer: %s\n"
	              "model_data_roots: [%s]\n"
	              "instance_types:\n"
	              "  ml.cpu: { cpus: 1, memory: 1GiB }\n"
	              "Models:\n"
	              "  - ModelName: m\n"
	              "    PrimaryContainer: { Image: demo:1, ModelDataUrl: %s }\n"
	              "EndpointConfigs:\n"
	              "  - EndpointConfigName: data\n"
	              "    ProductionVariants:\n"
	              "      - { VariantName: AllTraffic, ModelName: m, InitialInstanceCount: 1,\n"
	              "          InstanceType: ml.cpu }\n",
	              state, dialer, dir, model);
	char *error = NULL;
	config_unref(config);
	cr_assert_eq(config_load_string("test.yaml", yaml, &config, &error), 0, "%s", error);
}

/* The mount of spec (a create request's) at target, or NULL. */
static json_t *mount_at(json_t *spec, const char *target)
{
	json_t *mounts = json_object_get(json_object_get(spec, "HostConfig"), "Mounts");
	size_t i;
	json_t *m;
	json_array_foreach(mounts, i, m)
	{
		if (!strcmp(json_string_value(json_object_get(m, "Target")) ?: "", target))
			return m;
	}
	return NULL;
}

/* Whether spec mounts source read-only at target, as a bind mount. */
static bool binds_read_only(json_t *spec, const char *source, const char *target)
{
	json_t *m = mount_at(spec, target);
	return m && !strcmp(json_string_value(json_object_get(m, "Type")) ?: "", "bind") &&
	       !strcmp(json_string_value(json_object_get(m, "Source")) ?: "", source) &&
	       json_is_true(json_object_get(m, "ReadOnly"));
}

Test(endpoint_engine, model_data_and_the_dialer_are_read_only_bind_mounts_never_binds)
{
	use_dialer_and_model_data();
	start_manager(false);
	endpoint_manager_start(manager);
	struct endpoint *ep = create_in_service("ep", "data");
	cr_assert_eq(n_create_specs, 1);
	json_t *spec = create_specs[0];
	json_t *host = json_object_get(spec, "HostConfig");
	cr_assert_null(json_object_get(host, "Binds"), "the Engine would make a missing source");
	cr_assert_eq(json_array_size(json_object_get(host, "Mounts")), 3);
	_cleanup_free_ char *model = xasprintf("%s/model", dir),
	                    *dialer = xasprintf("%s/dialer", dir);
	_cleanup_free_ char *model_real = realpath(model, NULL);
	_cleanup_free_ char *dialer_dir = instance_dialer_dir(ep->fleet->variants[0].instances[0]);
	cr_assert(binds_read_only(spec, model_real, "/opt/ml/model"));
	cr_assert(binds_read_only(spec, dialer, DIALER_CONTAINER_BIN));
	cr_assert(binds_read_only(spec, dialer_dir, DIALER_CONTAINER_DIR));
}

Test(endpoint_engine, a_container_without_model_data_or_dialer_has_no_mounts)
{
	start_manager(false);
	endpoint_manager_start(manager);
	create_in_service("ep", "cpu");
	json_t *host = json_object_get(create_specs[0], "HostConfig");
	cr_assert_null(json_object_get(host, "Mounts"));
	cr_assert_null(json_object_get(host, "Binds"));
}

Test(endpoint_engine, a_mount_source_gone_before_the_create_fails_the_endpoint_in_the_engines_words)
{
	use_dialer_and_model_data();
	_cleanup_free_ char *dialer = xasprintf("%s/dialer", dir);
	cr_assert_eq(unlink(dialer), 0);
	start_manager(false);
	endpoint_manager_start(manager);
	struct endpoint *ep = NULL;
	cr_assert_eq(endpoint_create(manager, "ep", "data", NULL, 0, &ep), 0);
	cr_assert(run_until(is_failed, ep), "ep is %s", endpoint_state_to_string(ep->state));
	_cleanup_free_ char *want =
	    xasprintf("Failed to create the container of production variant AllTraffic: invalid "
	              "mount config for type \"bind\": bind source path does not exist: %s",
	              dialer);
	cr_assert_str_eq(ep->failure_reason, want);
	cr_assert_eq(n_containers, 0);
}

/* ------------------------------------------------------------------------ */
/* Network isolation */

/*
 * Replace the config with one whose model "iso" sets EnableNetworkIsolation
 * (endpoint config "iso"), with container_dialer dir/dialer or none.
 */
static void use_isolated_model(bool with_dialer)
{
	_cleanup_free_ char *state = xasprintf("%s/state", dir),
	                    *dialer = xasprintf("%s/dialer", dir);
	cr_assert_eq(mkdir(state, 0750), 0);
	int fd = open(dialer, O_WRONLY | O_CREAT | O_EXCL, 0755);
	cr_assert_geq(fd, 0);
	close(fd);
	_cleanup_free_ char *yaml =
	    xasprintf("state_dir: %s\n"
	              "container_dialer: %s\n"
	              "instance_types:\n"
	              "  ml.cpu: { cpus: 1, memory: 1GiB }\n"
	              "Models:\n"
	              "  - ModelName: iso\n"
	              "    EnableNetworkIsolation: true\n"
	              "    PrimaryContainer: { Image: demo:1 }\n"
	              "EndpointConfigs:\n"
	              "  - EndpointConfigName: iso\n"
	              "    ProductionVariants:\n"
	              "      - { VariantName: AllTraffic, ModelName: iso, InitialInstanceCount: 1,\n"
	              "          InstanceType: ml.cpu }\n",
	              state, with_dialer ? dialer : "none");
	char *error = NULL;
	config_unref(config);
	cr_assert_eq(config_load_string("test.yaml", yaml, &config, &error), 0, "%s", error);
}

/* Run the loop for ms. */
static void run_for(unsigned ms)
{
	uint64_t until = now_monotonic_ms() + ms;
	while (now_monotonic_ms() < until) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(500);
	}
}

Test(endpoint_engine, a_model_without_a_network_runs_with_network_mode_none_and_no_port)
{
	use_isolated_model(true);
	start_manager(false);
	endpoint_manager_start(manager);
	struct endpoint *ep = NULL;
	cr_assert_eq(endpoint_create(manager, "ep", "iso", NULL, 0, &ep), 0);
	cr_assert(run_until(is_probing, ep));
	cr_assert_eq(n_create_specs, 1);
	json_t *host = json_object_get(create_specs[0], "HostConfig");
	cr_assert_str_eq(json_string_value(json_object_get(host, "NetworkMode")) ?: "", "none");
	cr_assert_null(json_object_get(host, "PortBindings"));
	cr_assert_null(json_object_get(create_specs[0], "ExposedPorts"));
	cr_assert_not(json_is_true(json_object_get(host, "PublishAllPorts")));
}

Test(endpoint_engine, a_model_with_a_network_publishes_8080_on_loopback_only)
{
	start_manager(false);
	endpoint_manager_start(manager);
	create_in_service("ep", "cpu");
	json_t *host = json_object_get(create_specs[0], "HostConfig");
	cr_assert_null(json_object_get(host, "NetworkMode"));
	json_t *b = json_array_get(json_object_get(json_object_get(host, "PortBindings"), "8080/tcp"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(b, "HostIp")) ?: "", "127.0.0.1");
	cr_assert_not_null(json_object_get(json_object_get(create_specs[0], "ExposedPorts"), "8080/tcp"));
}

Test(endpoint_engine, a_model_without_a_network_starts_its_dialer_at_once_and_is_never_pinged_on_a_port)
{
	use_isolated_model(true);
	start_manager(false);
	endpoint_manager_start(manager);
	struct endpoint *ep = NULL;
	cr_assert_eq(endpoint_create(manager, "ep", "iso", NULL, 0, &ep), 0);
	cr_assert(run_until(is_probing, ep));
	/* The fake Engine shows a host port and the ping server answers 200 on
	 * it, but the only way into such a container is its dialer, which the
	 * fake Engine cannot exec: the instance stays unproven. */
	run_for(400);
	cr_assert_eq(pings_seen, 0);
	cr_assert_eq(ep->fleet->variants[0].instances[0]->state, INSTANCE_PROBING);
	cr_assert_eq(ep->state, ENDPOINT_CREATING);
	int start = log_find("POST /containers/", log_create(0) + 1);
	cr_assert_geq(log_find("POST /containers/", start + 1), 0);
	cr_assert(strstr(log_lines[log_find("POST /containers/", start + 1)], "/exec"),
	          "the dialer is started right after the container: %s",
	          log_lines[log_find("POST /containers/", start + 1)]);
}

Test(endpoint_engine, an_endpoint_of_a_model_without_a_network_is_refused_when_no_dialer_runs)
{
	use_isolated_model(false);
	start_manager(false);
	endpoint_manager_start(manager);
	struct endpoint *ep = NULL;
	cr_assert_eq(endpoint_create(manager, "ep", "iso", NULL, 0, &ep), -ENETUNREACH);
	cr_assert_null(endpoint_find(manager, "ep"));
	run_for(100);
	cr_assert_eq(n_create_specs, 0);
}

/* ------------------------------------------------------------------------ */
/* GPUs */

/* The gpus label of the n-th container created. */
static const char *gpus_of(size_t n)
{
	return json_string_value(json_object_get(containers[n].labels, DOCKER_LABEL_PREFIX "gpus"));
}

Test(endpoint_engine, a_replacement_gets_the_gpu_only_after_the_old_container_is_removed)
{
	start_manager(false);
	give_one_gpu();
	endpoint_manager_start(manager);
	struct endpoint *ep = create_in_service("ep", "gpu");
	cr_assert_str_eq(gpus_of(0), "GPU-0");
	stop_delay_ms = 300;
	instance_died(ep->fleet->variants[0].instances[0], 1);
	int two = 2;
	cr_assert(run_until(creates_reach, &two), "no replacement was created");
	_cleanup_free_ char *del = xasprintf("DELETE /containers/%s", containers[0].id);
	int removed = log_find(del, 0);
	cr_assert_geq(removed, 0, "the old container was never removed");
	cr_assert_gt(log_create(1), removed, "created at %d, old one removed at %d", log_create(1),
	             removed);
	cr_assert_str_eq(gpus_of(1), "GPU-0");
}

Test(endpoint_engine,
     a_new_endpoint_gets_the_gpu_of_a_deleted_one_only_after_its_container_is_removed)
{
	start_manager(false);
	give_one_gpu();
	endpoint_manager_start(manager);
	struct endpoint *first = create_in_service("first", "gpu");
	stop_delay_ms = 300;
	cr_assert_eq(endpoint_delete(first), 0);
	struct endpoint *second = create_in_service("second", "gpu");
	_cleanup_free_ char *del = xasprintf("DELETE /containers/%s", containers[0].id);
	int removed = log_find(del, 0);
	cr_assert_geq(removed, 0);
	cr_assert_gt(log_create(1), removed);
	cr_assert_str_eq(gpus_of(1), "GPU-0");
	cr_assert_eq(second->state, ENDPOINT_IN_SERVICE);
}

/* ------------------------------------------------------------------------ */
/* DeleteEndpoint */

static bool stopped(void *arg)
{
	return stops > 0;
}

Test(endpoint_engine, delete_stops_no_container_before_deleting_is_on_disk)
{
	/* This journal writes only when a barrier asks: a stop that does not
	 * wait for one finds no Deleting on disk. */
	start_manager(true);
	endpoint_manager_start(manager);
	create_in_service("ep", "cpu");
	cr_assert_not(journal_on_disk_says_deleting());
	cr_assert_eq(endpoint_delete(endpoint_find(manager, "ep")), 0);
	cr_assert(run_until(stopped, NULL));
	cr_assert_eq(stops_after_deleting_on_disk, stops);
	cr_assert(run_until(is_gone, (void *)"ep"));
}

Test(endpoint_engine,
     delete_on_a_running_loop_journal_removes_the_containers_and_drops_the_endpoint)
{
	start_manager(false);
	endpoint_manager_start(manager);
	create_in_service("ep", "cpu");
	cr_assert_eq(endpoint_delete(endpoint_find(manager, "ep")), 0);
	cr_assert(run_until(is_gone, (void *)"ep"));
	cr_assert(containers[0].removed);
	cr_assert_eq(stops_after_deleting_on_disk, stops);
	cr_assert_null(journal_get(journal, "endpoint/ep"));
}

/* ------------------------------------------------------------------------ */
/* Journal errors */

static int fatal_calls;

static void count_fatal(const char *msg)
{
	fatal_calls++;
}

Test(endpoint_engine, a_record_the_journal_cannot_take_is_fatal)
{
	start_manager(false);
	void (*saved)(const char *) = journal_fatal_hook;
	journal_fatal_hook = count_fatal;
	struct endpoint *ep = NULL;
	/* Not UTF-8: no record can be made of it.  The API never lets such a
	 * name through; a broken invariant must not pass silently. */
	int r = endpoint_create(manager, "bad\xff", "cpu", NULL, 0, &ep);
	journal_fatal_hook = saved;
	cr_assert_eq(r, 0);
	cr_assert_geq(fatal_calls, 1);
	cr_assert_null(journal_get(journal, "endpoint/bad\xff"));
}

/* ------------------------------------------------------------------------ */
/* Containers the Engine stops */

/* One event on the open /events stream, as the Engine writes it. */
static void send_event(const char *action, const char *id, const char *attributes)
{
	cr_assert_not_null(event_stream, "the daemon is not watching events");
	struct evbuffer *b = evbuffer_new();
	evbuffer_add_printf(b,
	                    "{\"Type\":\"container\",\"Action\":\"%s\",\"Actor\":{\"ID\":\"%s\","
	                    "\"Attributes\":%s},\"time\":1}\n",
	                    action, id, attributes);
	evhttp_send_reply_chunk(event_stream, b);
	evbuffer_free(b);
}

static bool first_removed(void *arg)
{
	_cleanup_free_ char *del = xasprintf("DELETE /containers/%s", containers[0].id);
	return log_find(del, 0) >= 0;
}

static bool second_create(void *arg)
{
	return log_create(1) >= 0;
}

/* A Creating endpoint whose one container probes and never passes. */
static struct endpoint *creating_and_probing(void)
{
	ping_status = 500;
	start_manager(false);
	endpoint_manager_start(manager);
	struct endpoint *ep = NULL;
	cr_assert_eq(endpoint_create(manager, "ep", "cpu", NULL, 0, &ep), 0);
	cr_assert(run_until(is_probing, ep));
	return ep;
}

Test(endpoint_engine, a_creating_container_the_engine_stops_is_started_again_not_failed)
{
	/* An Engine shutting down sends kill then die while its event stream
	 * still runs: the model did nothing wrong. */
	struct endpoint *ep = creating_and_probing();
	send_event("kill", containers[0].id, "{\"signal\":\"15\"}");
	send_event("die", containers[0].id, "{\"exitCode\":\"0\"}");
	cr_assert(run_until(second_create, NULL), "no new container was created");
	cr_assert_eq(ep->state, ENDPOINT_CREATING, "%s: %s", endpoint_state_to_string(ep->state),
	             ep->failure_reason ? ep->failure_reason : "");
}

Test(endpoint_engine, a_creating_container_that_exits_by_itself_fails_the_endpoint)
{
	struct endpoint *ep = creating_and_probing();
	send_event("die", containers[0].id, "{\"exitCode\":\"3\"}");
	cr_assert(run_until(is_failed, ep), "%s", endpoint_state_to_string(ep->state));
	cr_assert(strstr(ep->failure_reason, "exited with code 3"), "%s", ep->failure_reason);
	cr_assert(run_until(first_removed, NULL), "the failed container was never removed");
}

Test(endpoint_engine, a_creating_container_found_dead_by_a_listing_is_started_again_not_failed)
{
	/* A listing can run before the event stream's reconnection says the
	 * Engine restarted: a death seen there came with the restart. */
	struct endpoint *ep = creating_and_probing();
	containers[0].running = false;
	endpoint_manager_resync_timer_cb(-1, 0, manager);
	cr_assert(run_until(second_create, NULL), "no new container was created");
	cr_assert_eq(ep->state, ENDPOINT_CREATING, "%s: %s", endpoint_state_to_string(ep->state),
	             ep->failure_reason ? ep->failure_reason : "");
}
