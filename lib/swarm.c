/*
 * The Engine's Swarm API: operations on lib/docker.c's machinery (through
 * docker_private.h), the pure parsers of their replies, and the service spec
 * of a production variant.
 *
 * DESIGN
 *
 * Each operation is one struct swarm_call around one docker_request() (two
 * for swarm_service_scale(): inspect, then update at the version read).
 * docker.c completes every request once, from the loop, on every path
 * (engine down, deadline, docker_free()); swarm_call_done() turns that one
 * completion into one call of the caller's callback and frees the call.  So
 * everything docker.h promises holds here too, without a second machinery.
 *
 * What the Engine says is checked before it is believed: each field read has
 * its JSON type checked, strings are bounded (SWARM_MAX_STRING), lists and
 * label sets are bounded (SWARM_MAX_*), and a list with one bad entry is
 * refused whole, as docker_parse_container_list() does.  A reply that does
 * not parse fails the operation with -EIO and says which reply it was.
 *
 * Errors the Swarm API has of its own: a stale version on update is a 500
 * "update out of sequence" (-ESTALE here, so that a caller can inspect and
 * try again); removing a service that is gone already succeeds, as removing a
 * container does.
 *
 * Map: parsing helpers, the parsers, the operations, the service spec, the
 * constraint check, clearing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "docker_private.h"
#include "swarm.h"
#include "util.h"

/* --- parsing helpers ------------------------------------------------------ */

/* obj[key] as a bounded string: absent, null or "" give NULL (-EINVAL when
 * required), anything but a string -EINVAL. */
static int swarm_get_str(json_t *obj, const char *key, bool required, char **ret)
{
	json_t *v = json_object_get(obj, key);

	*ret = NULL;
	if (!v || json_is_null(v))
		return required ? -EINVAL : 0;
	if (!json_is_string(v) || json_string_length(v) > SWARM_MAX_STRING ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -EINVAL;
	if (json_string_length(v) == 0)
		return required ? -EINVAL : 0;
	*ret = xstrdup(json_string_value(v));
	return 0;
}

/* obj[key] as an integer in [min, max]; absent or null leave *ret as it is. */
static int swarm_get_int(json_t *obj, const char *key, int64_t min, int64_t max, int64_t *ret)
{
	json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return -EINVAL;
	*ret = json_integer_value(v);
	return 0;
}

/* obj[key] as an object or nothing: NULL when absent or null. */
static int swarm_get_obj(json_t *obj, const char *key, json_t **ret)
{
	json_t *v = json_object_get(obj, key);

	*ret = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return -EINVAL;
	*ret = v;
	return 0;
}

/* A copy of a label set: strings only, SWARM_MAX_LABELS at most. */
static int swarm_get_labels(json_t *obj, const char *key, json_t **ret)
{
	json_t *labels, *copy;
	const char *k;
	json_t *v;

	if (swarm_get_obj(obj, key, &labels) < 0 || json_object_size(labels) > SWARM_MAX_LABELS)
		return -EINVAL;
	copy = json_object();
	json_object_foreach(labels, k, v)
	{
		if (!json_is_string(v) || json_string_length(v) > SWARM_MAX_STRING ||
		    strlen(k) > SWARM_MAX_STRING) {
			json_decref(copy);
			return -EINVAL;
		}
		json_object_set_new(copy, k, json_string(json_string_value(v)));
	}
	*ret = copy;
	return 0;
}

typedef int (*swarm_parse_one_fn)(json_t *obj, void *ret);
typedef void (*swarm_clear_fn)(void *p);

/* A JSON array of at most max entries, each parsed by one into an array of
 * size-byte elements; one bad entry refuses the whole list. */
static int swarm_parse_list(const char *json, size_t len, size_t max, size_t size,
                            swarm_parse_one_fn one, swarm_clear_fn clear, void **ret, size_t *ret_n)
{
	json_t *arr = json_loadb(json, len, 0, NULL);
	size_t n = json_array_size(arr);
	char *v;

	if (!json_is_array(arr) || n > max) {
		json_decref(arr);
		return -EINVAL;
	}
	v = xcalloc(n ? n : 1, size);
	for (size_t i = 0; i < n; i++) {
		if (one(json_array_get(arr, i), v + i * size) < 0) {
			while (i > 0)
				clear(v + --i * size);
			free(v);
			json_decref(arr);
			return -EINVAL;
		}
	}
	json_decref(arr);
	*ret = v;
	*ret_n = n;
	return 0;
}

/* --- parsers -------------------------------------------------------------- */

int swarm_parse_info(const char *json, size_t len, struct swarm_info *ret)
{
	json_t *obj = json_loadb(json, len, 0, NULL);
	json_t *sw = NULL, *ca;
	struct swarm_info info = {0};
	int r = -EINVAL;

	if (!json_is_object(obj) || swarm_get_obj(obj, "Swarm", &sw) < 0 || !sw)
		goto out;
	ca = json_object_get(sw, "ControlAvailable");
	if (ca && !json_is_boolean(ca))
		goto bad;
	if (swarm_get_str(sw, "LocalNodeState", true, &info.state) < 0 ||
	    swarm_get_str(sw, "NodeID", false, &info.node_id) < 0 ||
	    swarm_get_str(sw, "NodeAddr", false, &info.node_addr) < 0 ||
	    swarm_get_str(sw, "Error", false, &info.error) < 0)
		goto bad;
	info.active = !strcmp(info.state, "active");
	info.manager = info.active && json_is_true(ca);
	if (info.active && !info.node_id)
		goto bad;
	*ret = info;
	r = 0;
	goto out;
bad:
	swarm_info_clear(&info);
out:
	json_decref(obj);
	return r;
}

/* How many NVIDIA-GPUs a GenericResources list holds: one per named
 * resource, Value per discrete one. */
static int swarm_count_gpus(json_t *list, unsigned *ret)
{
	unsigned n = 0;

	if (!list || json_is_null(list))
		return 0;
	if (!json_is_array(list) || json_array_size(list) > 1024)
		return -EINVAL;
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *item = json_array_get(list, i), *named, *discrete;
		_cleanup_free_ char *kind = NULL, *value = NULL;
		int64_t count = 0;

		if (!json_is_object(item) || swarm_get_obj(item, "NamedResourceSpec", &named) < 0 ||
		    swarm_get_obj(item, "DiscreteResourceSpec", &discrete) < 0)
			return -EINVAL;
		if (named) {
			if (swarm_get_str(named, "Kind", true, &kind) < 0 ||
			    swarm_get_str(named, "Value", false, &value) < 0)
				return -EINVAL;
			count = 1;
		} else if (discrete) {
			if (swarm_get_str(discrete, "Kind", true, &kind) < 0 ||
			    swarm_get_int(discrete, "Value", 0, 1024, &count) < 0)
				return -EINVAL;
		} else {
			continue;
		}
		if (!strcmp(kind, SWARM_GPU_RESOURCE))
			n += (unsigned)count;
	}
	if (n > 1024)
		return -EINVAL;
	*ret = n;
	return 0;
}

/* One entry of GET /nodes: its id, state, address, labels and resources. */
static int swarm_parse_node_json(json_t *obj, void *p)
{
	struct swarm_node *ret = p, n = {0};
	json_t *spec, *status, *desc, *res;

	if (!json_is_object(obj) || swarm_get_str(obj, "ID", true, &n.id) < 0 ||
	    swarm_get_obj(obj, "Spec", &spec) < 0 || swarm_get_obj(obj, "Status", &status) < 0 ||
	    swarm_get_obj(obj, "Description", &desc) < 0 || !spec || !status)
		goto bad;
	if (swarm_get_str(spec, "Role", false, &n.role) < 0 ||
	    swarm_get_str(spec, "Availability", true, &n.availability) < 0 ||
	    swarm_get_labels(spec, "Labels", &n.labels) < 0 ||
	    swarm_get_str(status, "State", true, &n.state) < 0 ||
	    swarm_get_str(status, "Addr", false, &n.addr) < 0 ||
	    swarm_get_str(desc, "Hostname", false, &n.hostname) < 0 ||
	    swarm_get_obj(desc, "Resources", &res) < 0 ||
	    swarm_get_int(res, "NanoCPUs", 0, INT64_MAX, &n.nano_cpus) < 0 ||
	    swarm_get_int(res, "MemoryBytes", 0, INT64_MAX, &n.memory_bytes) < 0 ||
	    swarm_count_gpus(json_object_get(res, "GenericResources"), &n.gpus) < 0)
		goto bad;
	*ret = n;
	return 0;
bad:
	swarm_node_clear(&n);
	return -EINVAL;
}

/* swarm_node_clear() for swarm_parse_list(). */
static void swarm_node_clear_one(void *p)
{
	swarm_node_clear(p);
}

int swarm_parse_nodes(const char *json, size_t len, struct swarm_node **ret, size_t *ret_n)
{
	return swarm_parse_list(json, len, SWARM_MAX_NODES, sizeof(**ret), swarm_parse_node_json,
	                        swarm_node_clear_one, (void **)ret, ret_n);
}

/* A service of GET /services or /services/{id}, with its spec kept for update. */
static int swarm_parse_service_json(json_t *obj, void *p)
{
	struct swarm_service *ret = p, s = {0};
	json_t *spec, *version, *mode, *replicated;
	int64_t index = 0, replicas = 0;

	if (!json_is_object(obj) || swarm_get_str(obj, "ID", true, &s.id) < 0 ||
	    swarm_get_obj(obj, "Version", &version) < 0 ||
	    swarm_get_int(version, "Index", 0, INT64_MAX, &index) < 0 ||
	    swarm_get_obj(obj, "Spec", &spec) < 0 || !spec ||
	    swarm_get_str(spec, "Name", true, &s.name) < 0 ||
	    swarm_get_labels(spec, "Labels", &s.labels) < 0 ||
	    swarm_get_obj(spec, "Mode", &mode) < 0 ||
	    swarm_get_obj(mode, "Replicated", &replicated) < 0 ||
	    swarm_get_int(replicated, "Replicas", 0, UINT32_MAX, &replicas) < 0)
		goto bad;
	s.version = (uint64_t)index;
	s.replicas = (uint64_t)replicas;
	s.spec = json_deep_copy(spec);
	*ret = s;
	return 0;
bad:
	swarm_service_clear(&s);
	return -EINVAL;
}

int swarm_parse_service(const char *json, size_t len, struct swarm_service *ret)
{
	json_t *obj = json_loadb(json, len, 0, NULL);
	int r = swarm_parse_service_json(obj, ret);

	json_decref(obj);
	return r;
}

/* swarm_service_clear() for swarm_parse_list(). */
static void swarm_service_clear_one(void *p)
{
	swarm_service_clear(p);
}

int swarm_parse_services(const char *json, size_t len, struct swarm_service **ret, size_t *ret_n)
{
	return swarm_parse_list(json, len, SWARM_MAX_SERVICES, sizeof(**ret),
	                        swarm_parse_service_json, swarm_service_clear_one, (void **)ret,
	                        ret_n);
}

/* Status.PortStatus.Ports: the host-mode TCP ones, each once (the Engine
 * lists a port once per address family). */
static int swarm_parse_task_ports(json_t *status, struct swarm_task *t)
{
	json_t *ps, *ports;

	if (swarm_get_obj(status, "PortStatus", &ps) < 0)
		return -EINVAL;
	ports = json_object_get(ps, "Ports");
	if (!ports || json_is_null(ports))
		return 0;
	if (!json_is_array(ports) || json_array_size(ports) > SWARM_MAX_PORTS)
		return -EINVAL;
	t->ports = xcalloc(json_array_size(ports) + 1, sizeof(*t->ports));
	for (size_t i = 0; i < json_array_size(ports); i++) {
		json_t *p = json_array_get(ports, i);
		_cleanup_free_ char *proto = NULL, *mode = NULL;
		int64_t target = 0, published = 0;

		if (!json_is_object(p) || swarm_get_str(p, "Protocol", false, &proto) < 0 ||
		    swarm_get_str(p, "PublishMode", false, &mode) < 0 ||
		    swarm_get_int(p, "TargetPort", 0, 65535, &target) < 0 ||
		    swarm_get_int(p, "PublishedPort", 0, 65535, &published) < 0)
			return -EINVAL;
		if ((proto && strcmp(proto, "tcp")) || !mode || strcmp(mode, "host") || !target ||
		    !published || swarm_task_published_port(t, (uint16_t)target) == published)
			continue;
		t->ports[t->n_ports].target_port = (uint16_t)target;
		t->ports[t->n_ports].published_port = (uint16_t)published;
		t->n_ports++;
	}
	return 0;
}

/* One entry of GET /tasks: where it runs, its state, why it waits or failed. */
static int swarm_parse_task_json(json_t *obj, void *p)
{
	struct swarm_task *ret = p, t = {.exit_code = -1};
	json_t *status, *cs;
	_cleanup_free_ char *ts = NULL;
	int64_t slot = 0, code = -1;

	if (!json_is_object(obj) || swarm_get_str(obj, "ID", true, &t.id) < 0 ||
	    swarm_get_str(obj, "ServiceID", true, &t.service_id) < 0 ||
	    swarm_get_str(obj, "NodeID", false, &t.node_id) < 0 ||
	    swarm_get_int(obj, "Slot", 0, UINT32_MAX, &slot) < 0 ||
	    swarm_get_str(obj, "DesiredState", true, &t.desired_state) < 0 ||
	    swarm_get_obj(obj, "Status", &status) < 0 || !status ||
	    swarm_get_str(status, "State", true, &t.state) < 0 ||
	    swarm_get_str(status, "Message", false, &t.message) < 0 ||
	    swarm_get_str(status, "Err", false, &t.err) < 0 ||
	    swarm_get_str(status, "Timestamp", false, &ts) < 0 ||
	    swarm_get_obj(status, "ContainerStatus", &cs) < 0 ||
	    swarm_get_str(cs, "ContainerID", false, &t.container_id) < 0 ||
	    swarm_get_int(cs, "ExitCode", INT32_MIN, INT32_MAX, &code) < 0 ||
	    swarm_parse_task_ports(status, &t) < 0)
		goto bad;
	t.slot = (unsigned)slot;
	t.exit_code = cs ? (int)code : -1;
	t.timestamp = docker_parse_time(ts);
	*ret = t;
	return 0;
bad:
	swarm_task_clear(&t);
	return -EINVAL;
}

/* swarm_task_clear() for swarm_parse_list(). */
static void swarm_task_clear_one(void *p)
{
	swarm_task_clear(p);
}

int swarm_parse_tasks(const char *json, size_t len, struct swarm_task **ret, size_t *ret_n)
{
	return swarm_parse_list(json, len, SWARM_MAX_TASKS, sizeof(**ret), swarm_parse_task_json,
	                        swarm_task_clear_one, (void **)ret, ret_n);
}

uint16_t swarm_task_published_port(const struct swarm_task *t, uint16_t target)
{
	for (size_t i = 0; i < t->n_ports; i++)
		if (t->ports[i].target_port == target)
			return t->ports[i].published_port;
	return 0;
}

/* --- operations ----------------------------------------------------------- */

enum swarm_call_kind {
	SWARM_CALL_INFO,
	SWARM_CALL_NODES,
	SWARM_CALL_CREATE,
	SWARM_CALL_SERVICES,
	SWARM_CALL_SERVICE,
	SWARM_CALL_UPDATE,
	SWARM_CALL_SCALE, /* the inspect before an update */
	SWARM_CALL_REMOVE,
	SWARM_CALL_TASKS,
};

/* One operation: owned by the docker_request() it waits on, freed once its
 * callback has been called. */
struct swarm_call {
	struct docker *d;
	enum swarm_call_kind kind;
	union {
		swarm_info_fn info;
		swarm_nodes_fn nodes;
		docker_create_fn create;
		swarm_services_fn services;
		swarm_service_fn service;
		docker_done_fn done;
		swarm_tasks_fn tasks;
	} cb;
	void *userdata;
	char *id;          /* scale: the service */
	uint64_t replicas; /* scale: how many */
};

static void swarm_call_done(const struct docker_result *r, const char *body, size_t len,
                            void *userdata);

/* A call of kind for userdata; its callback is set by the caller. */
static struct swarm_call *swarm_call_new(struct docker *d, enum swarm_call_kind kind,
                                         void *userdata)
{
	struct swarm_call *c = xcalloc(1, sizeof(*c));

	c->d = d;
	c->kind = kind;
	c->userdata = userdata;
	return c;
}

/* Runs c's request on docker.c's machinery; path and body are stolen. */
static void swarm_call_send(struct swarm_call *c, const char *method, char *path, char *body)
{
	docker_request(c->d, method, path, body, swarm_call_done, c);
}

/* Calls the caller's callback once, with what was parsed or nothing. */
static void swarm_call_complete(struct swarm_call *c, const struct docker_result *r, const void *a,
                                size_t n)
{
	switch (c->kind) {
	case SWARM_CALL_INFO:
		c->cb.info(r, a, c->userdata);
		break;
	case SWARM_CALL_NODES:
		c->cb.nodes(r, a, n, c->userdata);
		break;
	case SWARM_CALL_CREATE:
		c->cb.create(r, a, c->userdata);
		break;
	case SWARM_CALL_SERVICES:
		c->cb.services(r, a, n, c->userdata);
		break;
	case SWARM_CALL_SERVICE:
		c->cb.service(r, a, c->userdata);
		break;
	case SWARM_CALL_UPDATE:
	case SWARM_CALL_SCALE:
	case SWARM_CALL_REMOVE:
		c->cb.done(r, c->userdata);
		break;
	case SWARM_CALL_TASKS:
		c->cb.tasks(r, a, n, c->userdata);
		break;
	}
	free(c->id);
	free(c);
}

/* The reply to create: {"ID": …}. */
static char *swarm_parse_created(const char *body, size_t len)
{
	json_t *obj = json_loadb(body, len, 0, NULL);
	char *id = NULL;

	if (json_is_object(obj) && swarm_get_str(obj, "ID", true, &id) < 0)
		id = NULL;
	json_decref(obj);
	return id;
}

static void swarm_call_scale_update(struct swarm_call *c, const struct swarm_service *s);

/* Parses a successful reply for c's kind and completes c. */
static void swarm_call_reply(struct swarm_call *c, struct docker_result *r, const char *body,
                             size_t len)
{
	static const char *const what[] = {
	    [SWARM_CALL_INFO] = "Docker engine: cannot parse the reply to GET /info",
	    [SWARM_CALL_NODES] = "Docker engine: cannot parse the node list",
	    [SWARM_CALL_CREATE] = "Docker engine: no ID in the reply to a service create",
	    [SWARM_CALL_SERVICES] = "Docker engine: cannot parse the service list",
	    [SWARM_CALL_SERVICE] = "Docker engine: cannot parse the service",
	    [SWARM_CALL_SCALE] = "Docker engine: cannot parse the service",
	    [SWARM_CALL_TASKS] = "Docker engine: cannot parse the task list",
	};
	void *list = NULL;
	size_t n = 0;
	int err = 0;

	switch (c->kind) {
	case SWARM_CALL_INFO: {
		struct swarm_info info;

		if (swarm_parse_info(body, len, &info) < 0)
			break;
		swarm_call_complete(c, r, &info, 0);
		swarm_info_clear(&info);
		return;
	}
	case SWARM_CALL_CREATE: {
		_cleanup_free_ char *id = swarm_parse_created(body, len);

		if (!id)
			break;
		swarm_call_complete(c, r, id, 0);
		return;
	}
	case SWARM_CALL_SERVICE:
	case SWARM_CALL_SCALE: {
		struct swarm_service s;

		if (swarm_parse_service(body, len, &s) < 0)
			break;
		if (c->kind == SWARM_CALL_SCALE)
			swarm_call_scale_update(c, &s);
		else
			swarm_call_complete(c, r, &s, 0);
		swarm_service_clear(&s);
		return;
	}
	case SWARM_CALL_NODES:
		err = swarm_parse_nodes(body, len, (struct swarm_node **)&list, &n);
		if (err < 0)
			break;
		swarm_call_complete(c, r, list, n);
		for (size_t i = 0; i < n; i++)
			swarm_node_clear(&((struct swarm_node *)list)[i]);
		free(list);
		return;
	case SWARM_CALL_SERVICES:
		err = swarm_parse_services(body, len, (struct swarm_service **)&list, &n);
		if (err < 0)
			break;
		swarm_call_complete(c, r, list, n);
		for (size_t i = 0; i < n; i++)
			swarm_service_clear(&((struct swarm_service *)list)[i]);
		free(list);
		return;
	case SWARM_CALL_TASKS:
		err = swarm_parse_tasks(body, len, (struct swarm_task **)&list, &n);
		if (err < 0)
			break;
		swarm_call_complete(c, r, list, n);
		for (size_t i = 0; i < n; i++)
			swarm_task_clear(&((struct swarm_task *)list)[i]);
		free(list);
		return;
	case SWARM_CALL_UPDATE:
	case SWARM_CALL_REMOVE:
		swarm_call_complete(c, r, NULL, 0);
		return;
	}
	r->err = -EIO;
	r->message = what[c->kind];
	swarm_call_complete(c, r, NULL, 0);
}

/* docker_request()'s completion for every call. */
static void swarm_call_done(const struct docker_result *dr, const char *body, size_t len,
                            void *userdata)
{
	struct swarm_call *c = userdata;
	struct docker_result r = *dr;

	if (r.err == -ENOENT && c->kind == SWARM_CALL_REMOVE) {
		r.err = 0;
		r.message = NULL;
	} else if (r.err && (c->kind == SWARM_CALL_UPDATE || c->kind == SWARM_CALL_SCALE) &&
	           r.message && strstr(r.message, "update out of sequence")) {
		r.err = -ESTALE;
	}
	if (r.err) {
		swarm_call_complete(c, &r, NULL, 0);
		return;
	}
	swarm_call_reply(c, &r, body, len);
}

/* The filters query value of a JSON object, escaped. */
static char *swarm_filters(json_t *f)
{
	_cleanup_free_ char *s = json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS);

	if (!s)
		abort();
	return docker_escape(s);
}

/* "/services/<id>", the id escaped. */
static char *swarm_service_path(const char *id)
{
	_cleanup_free_ char *e = docker_escape(id);

	return xasprintf("/services/%s", e);
}

/* A copy of spec as the body of a request; NULL when there is none. */
static char *swarm_body(json_t *spec)
{
	return spec ? json_dumps(spec, JSON_COMPACT) : NULL;
}

void swarm_info(struct docker *d, swarm_info_fn cb, void *userdata)
{
	struct swarm_call *c = swarm_call_new(d, SWARM_CALL_INFO, userdata);

	c->cb.info = cb;
	swarm_call_send(c, "GET", xstrdup("/info"), NULL);
}

void swarm_node_list(struct docker *d, swarm_nodes_fn cb, void *userdata)
{
	struct swarm_call *c = swarm_call_new(d, SWARM_CALL_NODES, userdata);

	c->cb.nodes = cb;
	swarm_call_send(c, "GET", xstrdup("/nodes"), NULL);
}

void swarm_service_create(struct docker *d, json_t *spec, docker_create_fn cb, void *userdata)
{
	struct swarm_call *c = swarm_call_new(d, SWARM_CALL_CREATE, userdata);

	c->cb.create = cb;
	/* No spec: the Engine refuses the empty body (400), from the loop. */
	swarm_call_send(c, "POST", xstrdup("/services/create"), swarm_body(spec));
}

void swarm_service_list(struct docker *d, const char *label, swarm_services_fn cb, void *userdata)
{
	struct swarm_call *c = swarm_call_new(d, SWARM_CALL_SERVICES, userdata);
	json_t *f = json_pack("{s:[s]}", "label", label ? label : "");
	_cleanup_free_ char *q = label ? swarm_filters(f) : NULL;

	json_decref(f);
	c->cb.services = cb;
	swarm_call_send(c, "GET", q ? xasprintf("/services?filters=%s", q) : xstrdup("/services"),
	                NULL);
}

void swarm_service_inspect(struct docker *d, const char *id, swarm_service_fn cb, void *userdata)
{
	struct swarm_call *c = swarm_call_new(d, SWARM_CALL_SERVICE, userdata);

	c->cb.service = cb;
	swarm_call_send(c, "GET", swarm_service_path(id), NULL);
}

/* Sends the update of a service's spec at version. */
static void swarm_call_send_update(struct swarm_call *c, const char *id, uint64_t version,
                                   json_t *spec)
{
	_cleanup_free_ char *e = docker_escape(id);

	c->kind = SWARM_CALL_UPDATE;
	swarm_call_send(
	    c, "POST",
	    xasprintf("/services/%s/update?version=%llu", e, (unsigned long long)version),
	    swarm_body(spec));
}

void swarm_service_update(struct docker *d, const char *id, uint64_t version, json_t *spec,
                          docker_done_fn cb, void *userdata)
{
	struct swarm_call *c = swarm_call_new(d, SWARM_CALL_UPDATE, userdata);

	c->cb.done = cb;
	swarm_call_send_update(c, id, version, spec);
}

json_t *swarm_spec_with_replicas(const json_t *spec, uint64_t replicas)
{
	json_t *s = json_deep_copy(spec);

	if (!json_is_object(s)) {
		json_decref(s);
		s = json_object();
	}
	json_object_set_new(s, "Mode",
	                    json_pack("{s:{s:I}}", "Replicated", "Replicas", (json_int_t)replicas));
	return s;
}

/* The inspect of a scale came back: update at the version it read. */
static void swarm_call_scale_update(struct swarm_call *c, const struct swarm_service *s)
{
	json_t *spec = swarm_spec_with_replicas(s->spec, c->replicas);

	swarm_call_send_update(c, c->id, s->version, spec);
	json_decref(spec);
}

void swarm_service_scale(struct docker *d, const char *id, uint64_t replicas, docker_done_fn cb,
                         void *userdata)
{
	struct swarm_call *c = swarm_call_new(d, SWARM_CALL_SCALE, userdata);

	c->cb.done = cb;
	c->id = xstrdup(id);
	c->replicas = replicas;
	swarm_call_send(c, "GET", swarm_service_path(id), NULL);
}

void swarm_service_remove(struct docker *d, const char *id, docker_done_fn cb, void *userdata)
{
	struct swarm_call *c = swarm_call_new(d, SWARM_CALL_REMOVE, userdata);

	c->cb.done = cb;
	swarm_call_send(c, "DELETE", swarm_service_path(id), NULL);
}

void swarm_task_list(struct docker *d, const struct swarm_task_filter *f, swarm_tasks_fn cb,
                     void *userdata)
{
	struct swarm_call *c = swarm_call_new(d, SWARM_CALL_TASKS, userdata);
	json_t *filters = json_object();
	_cleanup_free_ char *q = NULL;

	if (f && (f->service || f->n_services)) {
		json_t *ids = json_array();

		if (f->service)
			json_array_append_new(ids, json_string(f->service));
		for (size_t i = 0; i < f->n_services; i++)
			json_array_append_new(ids, json_string(f->services[i]));
		json_object_set_new(filters, "service", ids);
	}
	if (f && f->label)
		json_object_set_new(filters, "label", json_pack("[s]", f->label));
	if (f && f->desired_state)
		json_object_set_new(filters, "desired-state", json_pack("[s]", f->desired_state));
	if (json_object_size(filters))
		q = swarm_filters(filters);
	json_decref(filters);
	c->cb.tasks = cb;
	swarm_call_send(c, "GET", q ? xasprintf("/tasks?filters=%s", q) : xstrdup("/tasks"), NULL);
}

void swarm_events_watch(struct docker *d, docker_event_fn cb, void *userdata)
{
	static const char *const types[] = {"service", "node", NULL};

	docker_events_watch_types(d, types, NULL, cb, userdata);
}

/* --- the service spec ----------------------------------------------------- */

/* Copies src[key] to dst[as] when it is there. */
static void swarm_copy(json_t *dst, const char *as, const json_t *src, const char *key)
{
	json_t *v = json_object_get(src, key);

	if (v)
		json_object_set_new(dst, as, json_deep_copy(v));
}

/* The labels that name one instance, not the variant's service. */
static bool swarm_label_is_instances(const char *key)
{
	return !strcmp(key, DOCKER_LABEL_PREFIX "slot") ||
	       !strcmp(key, DOCKER_LABEL_PREFIX "generation") ||
	       !strcmp(key, DOCKER_LABEL_PREFIX "gpus");
}

/* Limits and Reservations: the instance type's CPUs and memory are both (a
 * task gets what it was placed for, no more), the GPUs are reserved. */
static json_t *swarm_resources(const struct swarm_service_params *p)
{
	json_t *limits = json_object(), *reservations = json_object();

	if (p->cpus > 0) {
		json_int_t nano = (json_int_t)(p->cpus * 1e9);

		json_object_set_new(limits, "NanoCPUs", json_integer(nano));
		json_object_set_new(reservations, "NanoCPUs", json_integer(nano));
	}
	if (p->memory > 0) {
		json_object_set_new(limits, "MemoryBytes", json_integer((json_int_t)p->memory));
		json_object_set_new(reservations, "MemoryBytes",
		                    json_integer((json_int_t)p->memory));
	}
	if (p->gpus > 0)
		json_object_set_new(reservations, "GenericResources",
		                    json_pack("[{s:{s:s, s:I}}]", "DiscreteResourceSpec", "Kind",
		                              SWARM_GPU_RESOURCE, "Value", (json_int_t)p->gpus));
	return json_pack("{s:o, s:o}", "Limits", limits, "Reservations", reservations);
}

json_t *swarm_service_spec(const json_t *cs, const struct swarm_service_params *p,
                           const char **ret_why)
{
	const json_t *host = json_object_get(cs, "HostConfig");
	const char *image = json_string_value(json_object_get(cs, "Image"));
	const char *net = json_string_value(json_object_get(host, "NetworkMode"));
	bool isolated = net && !strcmp(net, "none");
	json_t *labels = json_object(), *container, *task, *endpoint, *v;
	const char *k;

	if (!image) {
		*ret_why = "the container spec has no Image";
		json_decref(labels);
		return NULL;
	}
	container = json_pack("{s:s}", "Image", image);
	/* Cmd follows the image's entrypoint, as Args does. */
	swarm_copy(container, "Args", cs, "Cmd");
	swarm_copy(container, "Env", cs, "Env");
	swarm_copy(container, "Hostname", cs, "Hostname");
	swarm_copy(container, "Mounts", host, "Mounts");
	json_object_foreach((json_t *)json_object_get(cs, "Labels"), k,
	                    v) if (!swarm_label_is_instances(k))
	    json_object_set_new(labels, k, json_deep_copy(v));
	/* The tasks' containers say whose they are as the service does; no
	 * slot of the one container the spec was made for. */
	json_object_set_new(container, "Labels", json_deep_copy(labels));

	/* Condition "none": a task that ends stays ended, and endpointd
	 * decides what replaces it, as it does for containers. */
	task = json_pack("{s:o, s:o, s:{s:s}}", "ContainerSpec", container, "Resources",
	                 swarm_resources(p), "RestartPolicy", "Condition", "none");
	if (p->n_constraints) {
		json_t *c = json_array();

		for (size_t i = 0; i < p->n_constraints; i++)
			json_array_append_new(c, json_string(p->constraints[i]));
		json_object_set_new(task, "Placement", json_pack("{s:o}", "Constraints", c));
	}
	if (isolated)
		json_object_set_new(task, "Networks", json_pack("[{s:s}]", "Target", "none"));

	/* dnsrr, not a virtual IP, and host-mode ports: each task is reached
	 * on its own node, never through the routing mesh. */
	endpoint = json_pack("{s:s}", "Mode", "dnsrr");
	if (p->port && !isolated)
		json_object_set_new(endpoint, "Ports",
		                    json_pack("[{s:s, s:i, s:s}]", "Protocol", "tcp", "TargetPort",
		                              (int)p->port, "PublishMode", "host"));
	return json_pack("{s:s, s:o, s:o, s:{s:{s:I}}, s:o}", "Name", p->name, "Labels", labels,
	                 "TaskTemplate", task, "Mode", "Replicated", "Replicas",
	                 (json_int_t)p->replicas, "EndpointSpec", endpoint);
}

/* --- placement constraints ------------------------------------------------ */

/* The attributes Swarm places on, and the prefixes of label attributes. */
static const char *const swarm_constraint_keys[] = {
    "node.id", "node.hostname", "node.role", "node.platform.os", "node.platform.arch", NULL,
};
static const char *const swarm_constraint_label_prefixes[] = {
    "node.labels.",
    "engine.labels.",
    NULL,
};

/* Whether s[0..n) is a label name: letters, digits, '.', '-', '_'. */
static bool swarm_is_label_name(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_",
		            s[i]))
			return false;
	return true;
}

int swarm_constraint_check(const char *s, const char **ret_why)
{
	const char *op = strstr(s, "==") ?: strstr(s, "!=");
	const char *key = s, *value, *end;
	size_t klen;
	bool known = false;

	if (strlen(s) > 255) {
		*ret_why = "is longer than 255 characters";
		return -EINVAL;
	}
	if (!op) {
		*ret_why = "has no == or !=";
		return -EINVAL;
	}
	while (*key == ' ')
		key++;
	klen = (size_t)(op - key);
	while (klen && key[klen - 1] == ' ')
		klen--;
	for (size_t i = 0; swarm_constraint_keys[i]; i++)
		if (klen == strlen(swarm_constraint_keys[i]) &&
		    !strncmp(key, swarm_constraint_keys[i], klen))
			known = true;
	for (size_t i = 0; !known && swarm_constraint_label_prefixes[i]; i++) {
		size_t plen = strlen(swarm_constraint_label_prefixes[i]);

		if (klen > plen && !strncmp(key, swarm_constraint_label_prefixes[i], plen) &&
		    swarm_is_label_name(key + plen, klen - plen))
			known = true;
	}
	if (!known) {
		*ret_why = "does not name node.id, node.hostname, node.role, node.platform.os, "
		           "node.platform.arch, node.labels.<name> or engine.labels.<name>";
		return -EINVAL;
	}
	value = op + 2;
	while (*value == ' ')
		value++;
	end = value + strlen(value);
	while (end > value && end[-1] == ' ')
		end--;
	if (end == value) {
		*ret_why = "has no value after its operator";
		return -EINVAL;
	}
	if (strstr(value, "==") || strstr(value, "!=")) {
		*ret_why = "has more than one operator";
		return -EINVAL;
	}
	/* Swarm's own set: what its expression parser takes in a value. */
	for (const char *c = value; c < end; c++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
		            ":-_. *()?+[]\\^$|/",
		            *c)) {
			*ret_why =
			    "has a character Swarm does not take in a value (letters, digits "
			    "and :-_.*()?+[]\\^$|/ only)";
			return -EINVAL;
		}
	return 0;
}

/* What node n has for a constraint's attribute key[0..klen); *ret_known is
 * false for those /nodes does not give here (engine labels, platform). */
static const char *swarm_node_attribute(const struct swarm_node *n, const char *key, size_t klen,
                                        bool *ret_known)
{
	static const char labels[] = "node.labels.";
	_cleanup_free_ char *k = xstrndup(key, klen);

	*ret_known = true;
	if (!strcmp(k, "node.id"))
		return n->id;
	if (!strcmp(k, "node.hostname"))
		return n->hostname;
	if (!strcmp(k, "node.role"))
		return n->role;
	if (str_has_prefix(k, labels))
		return json_string_value(json_object_get(n->labels, k + strlen(labels)));
	*ret_known = false;
	return NULL;
}

bool swarm_node_meets(const struct swarm_node *n, const char *constraint)
{
	const char *eq = strstr(constraint, "=="), *ne = strstr(constraint, "!=");
	const char *op = eq && (!ne || eq < ne) ? eq : ne;
	const char *key = constraint, *value, *have;
	size_t klen, vlen;
	bool known;

	if (!op)
		return false;
	while (*key == ' ')
		key++;
	klen = (size_t)(op - key);
	while (klen && key[klen - 1] == ' ')
		klen--;
	value = op + 2;
	while (*value == ' ')
		value++;
	vlen = strlen(value);
	while (vlen && value[vlen - 1] == ' ')
		vlen--;
	have = swarm_node_attribute(n, key, klen, &known);
	if (!known)
		return true;
	/* As Swarm matches: case-insensitively; a missing label equals nothing. */
	bool same = have && strlen(have) == vlen && !strncasecmp(have, value, vlen);
	return op == eq ? same : !same;
}

/* --- clearing ------------------------------------------------------------- */

void swarm_info_clear(struct swarm_info *info)
{
	free(info->state);
	free(info->node_id);
	free(info->node_addr);
	free(info->error);
	*info = (struct swarm_info){0};
}

void swarm_node_clear(struct swarm_node *n)
{
	free(n->id);
	free(n->hostname);
	free(n->role);
	free(n->state);
	free(n->availability);
	free(n->addr);
	json_decref(n->labels);
	*n = (struct swarm_node){0};
}

void swarm_service_clear(struct swarm_service *s)
{
	free(s->id);
	free(s->name);
	json_decref(s->labels);
	json_decref(s->spec);
	*s = (struct swarm_service){0};
}

void swarm_task_clear(struct swarm_task *t)
{
	free(t->id);
	free(t->service_id);
	free(t->node_id);
	free(t->state);
	free(t->desired_state);
	free(t->message);
	free(t->err);
	free(t->container_id);
	free(t->ports);
	*t = (struct swarm_task){0};
}
