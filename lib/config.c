/*
 * The daemon configuration: YAML files -> one immutable struct config.
 *
 * Map of this file:
 *   helpers        positions for messages (typed getters are in config_yaml.c)
 *   daemon keys    listen, state_dir, region, account_id, docker,
 *                  instance_types, limits (main file only)
 *   model data     model_data_roots, model_data_urls, model_cache_max_bytes,
 *                  and each ModelDataUrl checked against them; allowed_images
 *   files          reading (size-bounded), include globs, the top level;
 *                  each file's text is kept (struct config_source)
 *   finish         defaults, DOCKER_HOST, then resolving (config_resources.c)
 *   public API     config_load*, config_with_api, ref/unref, lookups,
 *                  config_image_allowed, config_parse_size
 *
 * Models, EndpointConfigs and Alarms, in whichever file they are, are parsed
 * in config_resources.c; auth:, allow_remote_without_auth and the credentials
 * file in config_auth.c; the loader they work on is in config_private.h.
 *
 * config_with_api() replays a config's files from the texts kept, in the
 * order they were read (a file's own definitions, then its includes, depth
 * first), without following include: again, and then reads the API's
 * document of the models and endpoint configs created through the API.
 *
 * A load stops at the first error, frees everything it built and leaves the
 * caller's config alone, so a reload with a bad file changes nothing.  The
 * main file's own definitions are read before its includes, and includes in
 * the order glob(3) sorts them, so "first defined at" is stable.  Variants
 * name their model and instance type; the pointers are resolved only after
 * every file is read, when the arrays can no longer be reallocated.
 */
#include "config.h"
#include "config_private.h"

#include <errno.h>
#include <fnmatch.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "auth.h"
#include "config_yaml.h"
#include "log.h"
#include "names.h"
#include "swarm.h"
#include "util.h"

#define CONFIG_MAX_INCLUDE_DEPTH 4
#define CONFIG_MAX_FILES 1024
#define CONFIG_DEFAULT_MAX_INSTANCES 256
#define CONFIG_MAX_LIMIT 1000000
#define CONFIG_MIN_MEMORY (UINT64_C(4) << 20)
#define CONFIG_MAX_CPUS 4096
#define CONFIG_MAX_GPUS 64

#define CONFIG_DEFAULT_LISTEN_HOST "127.0.0.1"
#define CONFIG_DEFAULT_LISTEN_PORT 8780
#define CONFIG_DEFAULT_STATE_DIR "/var/lib/endpointd"
#define CONFIG_DEFAULT_REGION "us-east-1"
#define CONFIG_DEFAULT_ACCOUNT "000000000000"
#define CONFIG_DEFAULT_DOCKER_SOCKET "/var/run/docker.sock"

/* Makes room for element n of a growable array, zeroing the new slots. */
void *config_grow(void *p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return p;
	*cap = *cap ? 2 * *cap : 4;
	p = xreallocarray(p, *cap, size);
	memset((char *)p + n * size, 0, (*cap - n) * size);
	return p;
}

/* --- helpers ------------------------------------------------------------ */

/* Sets the loader's error at o; see config_private.h. */
int config_fail_at(struct config_loader *ld, const struct config_origin *o, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	free(ld->ctx.error);
	ld->ctx.error = xasprintf("%s:%u:%u: %s", o->file, o->line, o->column, msg);
	return -EINVAL;
}

/* Where node n of the file being read was written. */
struct config_origin config_origin_of(const struct config_loader *ld, const struct cy_node *n)
{
	return (struct config_origin){.file = ld->ctx.file, .line = n->line, .column = n->column};
}

/* --- daemon keys -------------------------------------------------------- */

static int config_parse_port(const char *s, uint16_t *ret)
{
	unsigned long v = 0;

	if (*s == '\0' || strlen(s) > 5)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

/* An absolute path; replaces *ret. */
static int config_parse_path(struct config_loader *ld, const struct cy_node *n, const char *what,
                             char **ret)
{
	_cleanup_free_ char *s = NULL;
	int r = cy_get_string(&ld->ctx, n, what, &s);

	if (r < 0)
		return r;
	if (!config_is_abs_path(s))
		return cy_fail(&ld->ctx, n, "%s must be an absolute path, not \"%s\"", what, s);
	free(*ret);
	*ret = TAKE_PTR(s);
	return 0;
}

/* One listen address: host:port, [v6]:port or unix:/path. */
static int config_parse_listen_address(struct config_loader *ld, const struct cy_node *n,
                                       struct config_listen *l)
{
	static const char usage[] = "expected host:port, [IPv6]:port or unix:/path";
	const char *s, *colon;
	_cleanup_free_ char *host = NULL;

	if (n->type == CY_SEQUENCE)
		return cy_fail(&ld->ctx, n,
		               "expected a string for listen address, found a list "
		               "(quote IPv6 addresses: \"[::1]:8780\")");
	if (cy_expect(&ld->ctx, n, CY_SCALAR, "listen address") < 0)
		return -EINVAL;
	s = n->value;

	if (str_has_prefix(s, "unix:")) {
		const char *path = s + strlen("unix:");

		if (!config_is_abs_path(path))
			return cy_fail(&ld->ctx, n, "listen socket path in \"%s\" must be absolute",
			               s);
		if (strlen(path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
			return cy_fail(&ld->ctx, n, "listen socket path in \"%s\" is too long", s);
		l->unix_path = xstrdup(path);
		l->address = xstrdup(s);
		return 0;
	}

	if (s[0] == '[') {
		const char *end = strstr(s, "]:");

		if (end == NULL || end == s + 1 || memchr(s + 1, ']', (size_t)(end - s - 1)))
			return cy_fail(&ld->ctx, n, "invalid listen address \"%s\": %s", s, usage);
		host = xstrndup(s + 1, (size_t)(end - s - 1));
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return cy_fail(&ld->ctx, n, "invalid listen address \"%s\": %s", s, usage);
		host = xstrndup(s, (size_t)(colon - s));
		if (strchr(host, ':') != NULL)
			return cy_fail(&ld->ctx, n,
			               "invalid listen address \"%s\": put IPv6 addresses in "
			               "brackets, as in \"[::1]:8780\"",
			               s);
		if (host[0] == '\0')
			return cy_fail(&ld->ctx, n,
			               "listen address \"%s\" has no host (use 0.0.0.0%s to "
			               "listen on every interface)",
			               s, colon);
	}
	if (config_parse_port(colon + 1, &l->port) < 0)
		return cy_fail(&ld->ctx, n, "invalid port in listen address \"%s\" (1-65535)", s);
	l->host = TAKE_PTR(host);
	l->address = xstrdup(s);
	return 0;
}

/* tls: { certificate, key } of a TCP listener; the files are not read here. */
static int config_parse_listen_tls(struct config_loader *ld, const struct cy_node *n,
                                   struct config_listen *l)
{
	static const char *const keys[] = {"certificate", "key", NULL};
	const struct cy_node *v;
	int r;

	r = cy_expect(&ld->ctx, n, CY_MAPPING, "tls");
	if (r < 0)
		return r;
	r = cy_check_keys(&ld->ctx, n, "tls", keys, NULL);
	if (r < 0)
		return r;
	if (l->unix_path != NULL)
		return cy_fail(&ld->ctx, n,
		               "tls is for TCP listeners; \"%s\" is a Unix socket, which file "
		               "permissions protect (remove tls:, or listen on host:port)",
		               l->address);
	l->tls = xcalloc(1, sizeof(*l->tls));
	l->tls->origin = config_origin_of(ld, n);
	r = cy_required(&ld->ctx, n, "certificate", "tls", &v);
	if (r < 0)
		return r;
	r = config_parse_path(ld, v, "tls certificate", &l->tls->certificate);
	if (r < 0)
		return r;
	r = cy_required(&ld->ctx, n, "key", "tls", &v);
	if (r < 0)
		return r;
	return config_parse_path(ld, v, "tls key", &l->tls->key);
}

/* A listen item: an address, or { address, tls: { certificate, key } }. */
static int config_parse_listen_item(struct config_loader *ld, const struct cy_node *n,
                                    struct config_listen *l)
{
	static const char *const keys[] = {"address", "tls", NULL};
	const struct cy_node *v;
	int r;

	if (n->type != CY_MAPPING)
		return config_parse_listen_address(ld, n, l);
	r = cy_check_keys(&ld->ctx, n, "a listen entry", keys, NULL);
	if (r < 0)
		return r;
	r = cy_required(&ld->ctx, n, "address", "a listen entry", &v);
	if (r < 0)
		return r;
	r = config_parse_listen_address(ld, v, l);
	if (r < 0)
		return r;
	v = cy_map_get(n, "tls");
	if (v == NULL || cy_is_null(v))
		return 0;
	return config_parse_listen_tls(ld, v, l);
}

/* Frees what config_parse_listen_item() set in l. */
static void config_listen_clear(struct config_listen *l)
{
	free(l->host);
	free(l->unix_path);
	free(l->address);
	if (l->tls) {
		free(l->tls->certificate);
		free(l->tls->key);
		free(l->tls);
	}
	*l = (struct config_listen){0};
}

static int config_parse_listen(struct config_loader *ld, const struct cy_node *n)
{
	struct config *c = ld->c;
	int r = cy_expect(&ld->ctx, n, CY_SEQUENCE, "listen");

	if (r < 0)
		return r;
	if (n->n_items == 0)
		return cy_fail(&ld->ctx, n, "listen must name at least one address");
	for (size_t i = 0; i < n->n_items; i++) {
		c->listen =
		    config_grow(c->listen, &ld->listen_cap, c->n_listen, sizeof(*c->listen));
		r = config_parse_listen_item(ld, n->items[i], &c->listen[c->n_listen]);
		if (r < 0) {
			config_listen_clear(&c->listen[c->n_listen]);
			return r;
		}
		c->n_listen++;
	}
	ld->listen_set = true;
	return 0;
}

/* An executable's absolute path, or "none". */
static int config_parse_dialer(struct config_loader *ld, const struct cy_node *n)
{
	_cleanup_free_ char *s = NULL;
	int r = cy_get_string(&ld->ctx, n, "container_dialer", &s);

	if (r < 0)
		return r;
	if (strcmp(s, "none") == 0) {
		free(ld->c->container_dialer);
		ld->c->container_dialer = NULL;
		return 0;
	}
	if (!config_is_abs_path(s))
		return cy_fail(&ld->ctx, n,
		               "container_dialer must be an absolute path or none, not \"%s\"", s);
	struct stat st;
	if (stat(s, &st) < 0)
		return cy_fail(&ld->ctx, n, "container_dialer %s: %s", s, strerror(errno));
	if (!S_ISREG(st.st_mode) || access(s, X_OK) < 0 || !(st.st_mode & 0111))
		return cy_fail(&ld->ctx, n, "container_dialer %s: not an executable file", s);
	free(ld->c->container_dialer);
	ld->c->container_dialer = TAKE_PTR(s);
	return 0;
}

/* The installed endpointd-dialer, else the one beside this program (a build
 * tree), else NULL. */
static char *config_default_dialer(void)
{
	static const char name[] = "endpointd-dialer";
	_cleanup_free_ char *installed = xasprintf("%s/%s", PKGLIBEXECDIR, name);
	if (access(installed, X_OK) == 0)
		return TAKE_PTR(installed);
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	_cleanup_free_ char *beside = xasprintf("%s/%s", exe, name);
	return access(beside, X_OK) == 0 ? TAKE_PTR(beside) : NULL;
}

/* Goes into every ARN, so no ":" or "/". */
static int config_parse_region(struct config_loader *ld, const struct cy_node *n)
{
	_cleanup_free_ char *s = NULL;
	size_t len;
	int r = cy_get_string(&ld->ctx, n, "region", &s);

	if (r < 0)
		return r;
	len = strlen(s);
	if (len == 0 || len > 32 || s[0] == '-' || s[len - 1] == '-' ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != len)
		return cy_fail(&ld->ctx, n,
		               "invalid region \"%s\": use lower-case letters, digits and "
		               "hyphens, as in us-east-1",
		               s);
	free(ld->c->region);
	ld->c->region = TAKE_PTR(s);
	return 0;
}

/* Twelve digits, quoted: a YAML number would drop leading zeros. */
static int config_parse_account_id(struct config_loader *ld, const struct cy_node *n)
{
	int r;

	if (n->type == CY_SCALAR && n->plain && cy_is_decimal(n->value))
		return cy_fail(&ld->ctx, n,
		               "account_id must be a quoted string, as in account_id: \"%s\" "
		               "(a YAML number loses its leading zeros)",
		               n->value);
	r = cy_expect(&ld->ctx, n, CY_SCALAR, "account_id");
	if (r < 0)
		return r;
	if (strlen(n->value) != 12 || strspn(n->value, "0123456789") != 12)
		return cy_fail(&ld->ctx, n, "account_id must be 12 digits, not \"%s\"", n->value);
	free(ld->c->account_id);
	ld->c->account_id = xstrdup(n->value);
	return 0;
}

/* docker.mode: "engine" (containers on one Engine) or "swarm" (services). */
static int config_parse_docker_mode(struct config_loader *ld, const struct cy_node *n)
{
	int r = cy_expect(&ld->ctx, n, CY_SCALAR, "docker mode");

	if (r < 0)
		return r;
	if (strcmp(n->value, "engine") == 0)
		ld->c->docker_mode = CONFIG_DOCKER_ENGINE;
	else if (strcmp(n->value, "swarm") == 0)
		ld->c->docker_mode = CONFIG_DOCKER_SWARM;
	else
		return cy_fail(&ld->ctx, n, "docker mode must be engine or swarm, not \"%s\"",
		               n->value);
	return 0;
}

static int config_parse_docker(struct config_loader *ld, const struct cy_node *n)
{
	static const char *const keys[] = {"socket", "mode", NULL};
	const struct cy_node *socket, *mode;
	int r;

	if (cy_is_null(n))
		return 0;
	r = cy_expect(&ld->ctx, n, CY_MAPPING, "docker");
	if (r < 0)
		return r;
	r = cy_check_keys(&ld->ctx, n, "docker", keys, NULL);
	if (r < 0)
		return r;
	mode = cy_map_get(n, "mode");
	if (mode && (r = config_parse_docker_mode(ld, mode)) < 0)
		return r;
	socket = cy_map_get(n, "socket");
	if (socket == NULL)
		return 0;
	r = config_parse_path(ld, socket, "docker socket", &ld->c->docker_socket);
	if (r < 0)
		return r;
	if (strlen(ld->c->docker_socket) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
		return cy_fail(&ld->ctx, socket, "docker socket path is too long");
	return 0;
}

/* At least 4MiB: less cannot run a container. */
static int config_parse_memory(struct config_loader *ld, const struct cy_node *n,
                               struct config_instance_type *t)
{
	_cleanup_free_ char *what = xasprintf("memory of instance type %s", t->name);
	int r = cy_expect(&ld->ctx, n, CY_SCALAR, what);

	if (r < 0)
		return r;
	if (config_parse_size(n->value, &t->memory) < 0)
		return cy_fail(&ld->ctx, n,
		               "invalid %s \"%s\": use bytes or a size such as 512MiB or 8GiB",
		               what, n->value);
	if (t->memory < CONFIG_MIN_MEMORY)
		return cy_fail(&ld->ctx, n, "%s is %s, below the minimum of 4MiB", what, n->value);
	return 0;
}

/* An instance type's constraints: a list of Swarm placement constraints,
 * each checked here so that a typo fails at load, not at the first create. */
static int config_parse_constraints(struct config_loader *ld, const struct cy_node *n,
                                    struct config_instance_type *t)
{
	_cleanup_free_ char *what = xasprintf("constraints of instance type %s", t->name);
	int r = cy_expect(&ld->ctx, n, CY_SEQUENCE, what);

	if (r < 0)
		return r;
	if (n->n_items > SWARM_MAX_CONSTRAINTS)
		return cy_fail(&ld->ctx, n, "more than %u %s", SWARM_MAX_CONSTRAINTS, what);
	t->constraints = xcalloc(n->n_items + 1, sizeof(*t->constraints));
	for (size_t i = 0; i < n->n_items; i++) {
		const char *why = NULL;

		r = cy_get_string(&ld->ctx, n->items[i], what, &t->constraints[t->n_constraints]);
		if (r < 0)
			return r;
		t->n_constraints++;
		if (swarm_constraint_check(t->constraints[i], &why) < 0)
			return cy_fail(&ld->ctx, n->items[i],
			               "placement constraint \"%s\" of instance type %s %s",
			               t->constraints[i], t->name, why);
	}
	return 0;
}

/* One instance_types entry: key is the name, value {cpus, memory, gpus,
 * constraints}. */
static int config_parse_instance_type(struct config_loader *ld, const struct cy_node *key,
                                      const struct cy_node *n)
{
	static const char *const keys[] = {"cpus", "memory", "gpus", "constraints", NULL};
	struct config *c = ld->c;
	struct config_instance_type *t;
	_cleanup_free_ char *what = NULL;
	const struct cy_node *v;
	size_t len = strlen(key->value);
	int r;

	if (len == 0 || len > 64 ||
	    strspn(key->value,
	           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != len)
		return cy_fail(&ld->ctx, key,
		               "invalid instance type name \"%s\": use letters, digits, '.', "
		               "'_' and '-', as in ml.m5.large",
		               key->value);

	c->instance_types = config_grow(c->instance_types, &ld->types_cap, c->n_instance_types,
	                                sizeof(*c->instance_types));
	t = &c->instance_types[c->n_instance_types++];
	t->name = xstrdup(key->value);
	t->origin = config_origin_of(ld, key);
	what = xasprintf("instance type %s", t->name);

	if (cy_is_null(n))
		return 0;
	r = cy_expect(&ld->ctx, n, CY_MAPPING, what);
	if (r < 0)
		return r;
	r = cy_check_keys(&ld->ctx, n, what, keys, NULL);
	if (r < 0)
		return r;

	if ((v = cy_map_get(n, "cpus")) != NULL) {
		r = cy_get_number(&ld->ctx, v, "cpus", &t->cpus);
		if (r < 0)
			return r;
		if (!(t->cpus > 0 && t->cpus <= CONFIG_MAX_CPUS))
			return cy_fail(&ld->ctx, v,
			               "cpus must be more than 0 and at most %u, not %s",
			               CONFIG_MAX_CPUS, v->value);
	}
	if ((v = cy_map_get(n, "memory")) != NULL) {
		r = config_parse_memory(ld, v, t);
		if (r < 0)
			return r;
	}
	if ((v = cy_map_get(n, "gpus")) != NULL) {
		r = cy_get_uint(&ld->ctx, v, "gpus", 0, CONFIG_MAX_GPUS, &t->gpus);
		if (r < 0)
			return r;
	}
	if ((v = cy_map_get(n, "constraints")) != NULL && !cy_is_null(v)) {
		r = config_parse_constraints(ld, v, t);
		if (r < 0)
			return r;
	}
	return 0;
}

static int config_parse_instance_types(struct config_loader *ld, const struct cy_node *n)
{
	int r;

	if (cy_is_null(n))
		return 0;
	r = cy_expect(&ld->ctx, n, CY_MAPPING, "instance_types");
	if (r < 0)
		return r;
	for (size_t i = 0; i < cy_map_size(n); i++) {
		r = config_parse_instance_type(ld, cy_map_key(n, i), cy_map_value(n, i));
		if (r < 0)
			return r;
	}
	return 0;
}

/* limits.max_buffered_bytes: a size, at least CONFIG_MIN_BUFFERED_BYTES. */
static int config_parse_buffered(struct config_loader *ld, const struct cy_node *n)
{
	int r = cy_expect(&ld->ctx, n, CY_SCALAR, "max_buffered_bytes");

	if (r < 0)
		return r;
	if (config_parse_size(n->value, &ld->c->max_buffered_bytes) < 0)
		return cy_fail(&ld->ctx, n,
		               "invalid max_buffered_bytes \"%s\": use bytes or a size such as "
		               "512MiB or 2GiB",
		               n->value);
	if (ld->c->max_buffered_bytes < CONFIG_MIN_BUFFERED_BYTES)
		return cy_fail(&ld->ctx, n, "max_buffered_bytes is %s, below the minimum of 64KiB",
		               n->value);
	return 0;
}

static int config_parse_limits(struct config_loader *ld, const struct cy_node *n)
{
	static const char *const keys[] = {"max_endpoints",
	                                   "max_instances",
	                                   "max_models",
	                                   "max_endpoint_configs",
	                                   "max_connections",
	                                   "max_buffered_bytes",
	                                   "max_inflight_invocations",
	                                   "max_inflight_per_endpoint",
	                                   "request_timeout_s",
	                                   "body_timeout_s",
	                                   "idle_timeout_s",
	                                   "write_timeout_s",
	                                   "drain_timeout_s",
	                                   NULL};
	const struct {
		const char *key;
		unsigned max;
		unsigned *ret;
	} uints[] = {
	    {"max_models", CONFIG_MAX_LIMIT, &ld->c->max_models},
	    {"max_endpoint_configs", CONFIG_MAX_LIMIT, &ld->c->max_endpoint_configs},
	    {"max_connections", CONFIG_MAX_LIMIT, &ld->c->max_connections},
	    {"max_inflight_invocations", CONFIG_MAX_LIMIT, &ld->c->max_inflight_invocations},
	    {"max_inflight_per_endpoint", CONFIG_MAX_LIMIT, &ld->c->max_inflight_per_endpoint},
	    {"request_timeout_s", CONFIG_MAX_TIMEOUT_S, &ld->c->request_timeout_s},
	    {"body_timeout_s", CONFIG_MAX_TIMEOUT_S, &ld->c->body_timeout_s},
	    {"idle_timeout_s", CONFIG_MAX_TIMEOUT_S, &ld->c->idle_timeout_s},
	    {"write_timeout_s", CONFIG_MAX_TIMEOUT_S, &ld->c->write_timeout_s},
	    {"drain_timeout_s", CONFIG_MAX_TIMEOUT_S, &ld->c->drain_timeout_s},
	};
	const struct cy_node *v;
	int r;

	if (cy_is_null(n))
		return 0;
	r = cy_expect(&ld->ctx, n, CY_MAPPING, "limits");
	if (r < 0)
		return r;
	r = cy_check_keys(&ld->ctx, n, "limits", keys, NULL);
	if (r < 0)
		return r;
	if ((v = cy_map_get(n, "max_endpoints")) != NULL) {
		r = cy_get_uint(&ld->ctx, v, "max_endpoints", 1, CONFIG_MAX_LIMIT,
		                &ld->c->max_endpoints);
		if (r < 0)
			return r;
	}
	if ((v = cy_map_get(n, "max_instances")) != NULL) {
		r = cy_get_uint(&ld->ctx, v, "max_instances", 1, CONFIG_MAX_LIMIT,
		                &ld->c->max_instances);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < ELEMENTSOF(uints); i++) {
		if ((v = cy_map_get(n, uints[i].key)) == NULL)
			continue;
		r = cy_get_uint(&ld->ctx, v, uints[i].key, 1, uints[i].max, uints[i].ret);
		if (r < 0)
			return r;
	}
	if ((v = cy_map_get(n, "max_buffered_bytes")) != NULL) {
		r = config_parse_buffered(ld, v);
		if (r < 0)
			return r;
	}
	return 0;
}

/* --- model data ------------------------------------------------------------ */

/* One list of strings; each item is checked and stored by parse_item. */
static int config_parse_strings(struct config_loader *ld, const struct cy_node *n, const char *what,
                                int (*parse_item)(struct config_loader *ld,
                                                  const struct cy_node *item, char **ret),
                                char ***ret, size_t *ret_n)
{
	int r;

	if (cy_is_null(n))
		return 0;
	r = cy_expect(&ld->ctx, n, CY_SEQUENCE, what);
	if (r < 0)
		return r;
	*ret = xcalloc(n->n_items ? n->n_items : 1, sizeof(**ret));
	for (size_t i = 0; i < n->n_items; i++) {
		r = parse_item(ld, n->items[i], &(*ret)[*ret_n]);
		if (r < 0)
			return r;
		(*ret_n)++;
	}
	return 0;
}

/* A model_data_roots entry: an absolute directory, kept lexically normal
 * ("/srv/models/" and "/srv//models" are "/srv/models"). */
static int config_parse_model_data_root(struct config_loader *ld, const struct cy_node *n,
                                        char **ret)
{
	_cleanup_free_ char *s = NULL;
	int r = cy_get_string(&ld->ctx, n, "model_data_roots entry", &s);

	if (r < 0)
		return r;
	if (!config_is_abs_path(s))
		return cy_fail(&ld->ctx, n,
		               "model_data_roots entry must be an absolute directory, not \"%s\"",
		               s);
	*ret = modeldata_normalize_path(s);
	return 0;
}

/* A model_data_urls entry: an http:// or https:// prefix with a host. */
static int config_parse_model_data_url_prefix(struct config_loader *ld, const struct cy_node *n,
                                              char **ret)
{
	_cleanup_free_ char *s = NULL;
	int r = cy_get_string(&ld->ctx, n, "model_data_urls entry", &s);
	const char *host;

	if (r < 0)
		return r;
	host = str_has_prefix(s, "http://")    ? s + strlen("http://")
	       : str_has_prefix(s, "https://") ? s + strlen("https://")
	                                       : NULL;
	if (!host || !*host || *host == '/' || strlen(s) > CONFIG_MAX_URL_LEN)
		return cy_fail(&ld->ctx, n,
		               "model_data_urls entry must be an http:// or https:// URL prefix "
		               "with a host, as in https://models.example.com/, not \"%s\"",
		               s);
	*ret = TAKE_PTR(s);
	return 0;
}

/* model_cache_max_bytes: a size (0 keeps nothing that no endpoint uses). */
static int config_parse_model_cache_max_bytes(struct config_loader *ld, const struct cy_node *n)
{
	int r = cy_expect(&ld->ctx, n, CY_SCALAR, "model_cache_max_bytes");

	if (r < 0)
		return r;
	if (config_parse_size(n->value, &ld->c->model_data.cache_max_bytes) < 0)
		return cy_fail(&ld->ctx, n,
		               "invalid model_cache_max_bytes \"%s\": use bytes or a size such "
		               "as 512MiB or 20GiB",
		               n->value);
	return 0;
}

/* An allowed_images pattern: an fnmatch(3) pattern of an image reference. */
static int config_parse_allowed_image(struct config_loader *ld, const struct cy_node *n, char **ret)
{
	_cleanup_free_ char *s = NULL;
	int r = cy_get_string(&ld->ctx, n, "allowed_images entry", &s);

	if (r < 0)
		return r;
	if (s[0] == '\0' || strlen(s) > CONFIG_MAX_IMAGE_LEN)
		return cy_fail(&ld->ctx, n, "allowed_images entry must be 1-%u characters",
		               CONFIG_MAX_IMAGE_LEN);
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return cy_fail(&ld->ctx, n,
			               "allowed_images entry \"%s\" may not contain spaces", s);
	*ret = TAKE_PTR(s);
	return 0;
}

/* The main file's model data keys. */
static int config_parse_model_data_keys(struct config_loader *ld, const struct cy_node *root)
{
	struct modeldata_policy *p = &ld->c->model_data;
	const struct cy_node *v;
	int r;

	p->state_dir = ld->c->state_dir; /* parsed already; final */

	if ((v = cy_map_get(root, "model_data_roots")) != NULL &&
	    (r = config_parse_strings(ld, v, "model_data_roots", config_parse_model_data_root,
	                              &p->roots, &p->n_roots)) < 0)
		return r;
	if ((v = cy_map_get(root, "model_data_urls")) != NULL &&
	    (r = config_parse_strings(ld, v, "model_data_urls", config_parse_model_data_url_prefix,
	                              &p->url_prefixes, &p->n_url_prefixes)) < 0)
		return r;
	if ((v = cy_map_get(root, "model_cache_max_bytes")) != NULL &&
	    (r = config_parse_model_cache_max_bytes(ld, v)) < 0)
		return r;
	if ((v = cy_map_get(root, "allowed_images")) != NULL &&
	    (r = config_parse_strings(ld, v, "allowed_images", config_parse_allowed_image,
	                              &ld->c->allowed_images, &ld->c->n_allowed_images)) < 0)
		return r;
	return 0;
}

/* A ModelDataUrl (node n) must be allowed by the main file's model data keys,
 * which are read before any model. */
int config_check_model_data_at(struct config_loader *ld, const struct cy_node *n,
                               const char *url)
{
	_cleanup_free_ char *error = NULL;

	if (!ld->check_model_data || modeldata_check_url(&ld->c->model_data, url, &error) == 0)
		return 0;
	return cy_fail(&ld->ctx, n, "%s", error);
}

/* --- files ---------------------------------------------------------------- */

/* Reads, parses and takes in one file, then the files it includes. */
static int config_load_file(struct config_loader *ld, const char *path, unsigned depth);

/* Backslash-escapes glob(3) metacharacters in a directory name. */
static char *config_glob_escape(const char *s)
{
	char *r = xmalloc(2 * strlen(s) + 1), *p = r;

	for (; *s; s++) {
		if (strchr("*?[]\\", *s) != NULL)
			*p++ = '\\';
		*p++ = *s;
	}
	*p = '\0';
	return r;
}

/* Loads the files that the include: patterns of file (whose directory is dir) match. */
static int config_load_includes(struct config_loader *ld, const char *file, const char *dir,
                                const struct cy_node *n, unsigned depth)
{
	_cleanup_free_ char *escaped = dir ? config_glob_escape(dir) : NULL;
	int r = cy_expect(&ld->ctx, n, CY_SEQUENCE, "include");

	if (r < 0)
		return r;
	for (size_t i = 0; i < n->n_items; i++) {
		const struct cy_node *item = n->items[i];
		_cleanup_free_ char *pattern = NULL;
		glob_t g;
		int gr;

		ld->ctx.file = file;
		r = cy_expect(&ld->ctx, item, CY_SCALAR, "include pattern");
		if (r < 0)
			return r;
		if (item->value[0] == '/' || escaped == NULL)
			pattern = xstrdup(item->value);
		else
			pattern = xasprintf("%s/%s", escaped, item->value);

		gr = glob(pattern, 0, NULL, &g);
		if (gr == GLOB_NOMATCH)
			continue;
		if (gr != 0) {
			globfree(&g);
			return cy_fail(&ld->ctx, item, "cannot expand include pattern \"%s\"",
			               item->value);
		}
		if (depth + 1 > CONFIG_MAX_INCLUDE_DEPTH) {
			globfree(&g);
			return cy_fail(&ld->ctx, item, "includes nest deeper than %u levels",
			               CONFIG_MAX_INCLUDE_DEPTH);
		}
		for (size_t j = 0; j < g.gl_pathc; j++) {
			r = config_load_file(ld, g.gl_pathv[j], depth + 1);
			if (r < 0) {
				globfree(&g);
				return r;
			}
		}
		globfree(&g);
	}
	return 0;
}

/* The top-level keys of one file; included files get Models, EndpointConfigs, Alarms and
 * include only.  dir is the file's directory (NULL: the working directory). */
static int config_parse_top(struct config_loader *ld, const struct cy_node *root, bool is_main,
                            const char *dir)
{
	static const char *const main_keys[] = {"listen",
	                                        "state_dir",
	                                        "include",
	                                        "region",
	                                        "account_id",
	                                        "docker",
	                                        "instance_types",
	                                        "limits",
	                                        "Models",
	                                        "EndpointConfigs",
	                                        "Alarms",
	                                        "orphan_grace_s",
	                                        "invocation_timeout_s",
	                                        "stream_idle_timeout_s",
	                                        "stream_timeout_s",
	                                        "container_dialer",
	                                        "nvml_library",
	                                        "model_data_roots",
	                                        "model_data_urls",
	                                        "model_cache_max_bytes",
	                                        "allowed_images",
	                                        "auth",
	                                        "allow_remote_without_auth",
	                                        NULL};
	static const char *const include_keys[] = {"include", "Models", "EndpointConfigs", "Alarms",
	                                           NULL};
	const struct cy_node *v;
	int r;

	if (!is_main) {
		for (size_t i = 0; i < cy_map_size(root); i++) {
			const struct cy_node *key = cy_map_key(root, i);

			if (cy_in(main_keys, key->value) && !cy_in(include_keys, key->value))
				return cy_fail(&ld->ctx, key,
				               "%s may only be set in the main config file "
				               "(included files hold Models, EndpointConfigs and "
				               "Alarms)",
				               key->value);
		}
		r = cy_check_keys(&ld->ctx, root, "an included file", include_keys, NULL);
		if (r < 0)
			return r;
	} else {
		r = cy_check_keys(&ld->ctx, root, "the daemon config", main_keys, NULL);
		if (r < 0)
			return r;
		if ((v = cy_map_get(root, "listen")) != NULL &&
		    (r = config_parse_listen(ld, v)) < 0)
			return r;
		if ((v = cy_map_get(root, "state_dir")) != NULL &&
		    (r = config_parse_path(ld, v, "state_dir", &ld->c->state_dir)) < 0)
			return r;
		if ((v = cy_map_get(root, "region")) != NULL &&
		    (r = config_parse_region(ld, v)) < 0)
			return r;
		if ((v = cy_map_get(root, "account_id")) != NULL &&
		    (r = config_parse_account_id(ld, v)) < 0)
			return r;
		if ((v = cy_map_get(root, "docker")) != NULL &&
		    (r = config_parse_docker(ld, v)) < 0)
			return r;
		if ((v = cy_map_get(root, "instance_types")) != NULL &&
		    (r = config_parse_instance_types(ld, v)) < 0)
			return r;
		if ((v = cy_map_get(root, "limits")) != NULL &&
		    (r = config_parse_limits(ld, v)) < 0)
			return r;
		if ((v = cy_map_get(root, "invocation_timeout_s")) != NULL &&
		    (r = cy_get_uint(&ld->ctx, v, "invocation_timeout_s", 1, 3600,
		                     &ld->c->invocation_timeout_s)) < 0)
			return r;
		if ((v = cy_map_get(root, "stream_idle_timeout_s")) != NULL &&
		    (r = cy_get_uint(&ld->ctx, v, "stream_idle_timeout_s", 1, 3600,
		                     &ld->c->stream_idle_timeout_s)) < 0)
			return r;
		if ((v = cy_map_get(root, "stream_timeout_s")) != NULL &&
		    (r = cy_get_uint(&ld->ctx, v, "stream_timeout_s", 1, 86400,
		                     &ld->c->stream_timeout_s)) < 0)
			return r;
		if ((v = cy_map_get(root, "nvml_library")) != NULL &&
		    (r = config_parse_path(ld, v, "nvml_library", &ld->c->nvml_library)) < 0)
			return r;
		if ((v = cy_map_get(root, "container_dialer")) != NULL &&
		    (r = config_parse_dialer(ld, v)) < 0)
			return r;
		if ((v = cy_map_get(root, "orphan_grace_s")) != NULL &&
		    (r = cy_get_uint(&ld->ctx, v, "orphan_grace_s", 0, 86400,
		                     &ld->c->orphan_grace_s)) < 0)
			return r;
		r = config_parse_model_data_keys(ld, root);
		if (r < 0)
			return r;
		r = config_parse_auth(ld, root, dir);
		if (r < 0)
			return r;
		r = config_check_listen_auth(ld, cy_map_get(root, "listen"));
		if (r < 0)
			return r;
	}
	if ((v = cy_map_get(root, "Models")) != NULL && (r = config_parse_models(ld, v)) < 0)
		return r;
	if ((v = cy_map_get(root, "EndpointConfigs")) != NULL &&
	    (r = config_parse_endpoint_configs(ld, v)) < 0)
		return r;
	if ((v = cy_map_get(root, "Alarms")) != NULL && (r = config_parse_alarms(ld, v)) < 0)
		return r;
	return 0;
}

/* Parses one file's text; file is already in c->files; dir is NULL for the working directory.
 * A replay (follow_includes false) has the included files in c->files already. */
static int config_load_text(struct config_loader *ld, const char *file, const char *dir,
                            const char *text, size_t len, double mtime, unsigned depth,
                            bool follow_includes)
{
	struct cy_node *root = NULL;
	const struct cy_node *include;
	int r;

	ld->ctx.file = file;
	ld->mtime = mtime;
	r = cy_parse(file, text, len, &root, &ld->ctx.error);
	if (r < 0)
		return r;
	/* An empty file, or one of only comments, sets nothing. */
	if (cy_is_null(root))
		goto out;
	if (root->type != CY_MAPPING) {
		r = cy_fail(&ld->ctx, root, "expected a mapping at the top level, found %s",
		            cy_describe(root));
		goto out;
	}
	r = config_parse_top(ld, root, depth == 0, dir);
	if (r < 0)
		goto out;
	if (follow_includes && (include = cy_map_get(root, "include")) != NULL &&
	    !cy_is_null(include))
		r = config_load_includes(ld, file, dir, include, depth);
out:
	cy_free(root);
	return r;
}

/* Adds a file and its text (taken over) to c->files and c->sources; returns its index. */
static size_t config_add_file(struct config_loader *ld, const char *path, char *text, size_t len,
                              double mtime, unsigned depth)
{
	struct config *c = ld->c;

	c->files = config_grow(c->files, &ld->files_cap, c->n_files, sizeof(*c->files));
	c->sources = config_grow(c->sources, &ld->sources_cap, c->n_files, sizeof(*c->sources));
	c->files[c->n_files] = xstrdup(path);
	c->sources[c->n_files] =
	    (struct config_source){.text = text, .len = len, .mtime = mtime, .depth = depth};
	return c->n_files++;
}

/* The directory part of path ("." when there is none). */
static char *config_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

static int config_load_file(struct config_loader *ld, const char *path, unsigned depth)
{
	_cleanup_free_ char *text = NULL, *real = NULL, *dir = NULL;
	const struct config_source *src;
	const char *file;
	double mtime;
	size_t len, i;
	int r;

	/* The same file matched twice (overlapping globs, a cycle) is read once. */
	real = realpath(path, NULL);
	if (real != NULL) {
		if (strmap_get(ld->read_paths, real) != NULL) {
			log_debug("config: %s already read, skipping", path);
			return 0;
		}
		strmap_put(ld->read_paths, real, (void *)1);
	}
	if (ld->c->n_files >= CONFIG_MAX_FILES) {
		ld->ctx.error =
		    xasprintf("%s: more than %u configuration files", path, CONFIG_MAX_FILES);
		return -EINVAL;
	}
	r = cy_read_file(path, CONFIG_MAX_FILE_SIZE, &text, &len, &mtime, &ld->ctx.error);
	if (r < 0)
		return r;
	i = config_add_file(ld, path, TAKE_PTR(text), len, mtime, depth);
	file = ld->c->files[i];
	src = &ld->c->sources[i];
	dir = config_dirname(path);
	return config_load_text(ld, file, strcmp(dir, ".") == 0 ? NULL : dir, src->text, src->len,
	                        mtime, depth, true);
}

/* --- finish --------------------------------------------------------------- */

/* DOCKER_HOST overrides docker.socket, as it does for the docker CLI. */
static int config_apply_docker_host(struct config_loader *ld)
{
	const char *e = getenv("DOCKER_HOST");

	if (e == NULL || *e == '\0')
		return 0;
	if (!str_has_prefix(e, "unix://") || e[strlen("unix://")] != '/') {
		ld->ctx.error =
		    xasprintf("DOCKER_HOST=%s: endpointd talks to the Docker Engine only "
		              "over a Unix socket (DOCKER_HOST=unix:///path)",
		              e);
		return -EINVAL;
	}
	if (strlen(e + strlen("unix://")) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
		ld->ctx.error = xasprintf("DOCKER_HOST=%s: socket path is too long", e);
		return -EINVAL;
	}
	free(ld->c->docker_socket);
	ld->c->docker_socket = xstrdup(e + strlen("unix://"));
	return 0;
}

/* Whole-config steps once every file is read. */
static int config_finish(struct config_loader *ld)
{
	struct config *c = ld->c;
	int r;

	if (!ld->listen_set) {
		c->listen = xcalloc(1, sizeof(*c->listen));
		c->listen[0].host = xstrdup(CONFIG_DEFAULT_LISTEN_HOST);
		c->listen[0].port = CONFIG_DEFAULT_LISTEN_PORT;
		c->listen[0].address =
		    xasprintf("%s:%u", CONFIG_DEFAULT_LISTEN_HOST, CONFIG_DEFAULT_LISTEN_PORT);
		c->n_listen = 1;
	}
	c->model_data.state_dir = c->state_dir;
	r = config_apply_docker_host(ld);
	if (r < 0)
		return r;
	/* A replay shares its base's keys (config_with_api()). */
	if (ld->credentials_path != NULL && !ld->replay) {
		double mtime;
		size_t i;

		r = config_read_credentials(ld, &c->auth_keys, &mtime);
		if (r < 0)
			return r;
		i = config_add_file(ld, ld->credentials_path, NULL, 0, mtime, 1);
		c->sources[i].credentials = true;
		c->auth_credentials = xstrdup(ld->credentials_path);
	}
	return config_resolve(ld);
}

/* --- public API ----------------------------------------------------------- */

static struct config *config_free(struct config *c)
{
	if (c == NULL)
		return NULL;
	for (size_t i = 0; i < c->n_listen; i++)
		config_listen_clear(&c->listen[i]);
	free(c->listen);
	free(c->state_dir);
	free(c->container_dialer);
	free(c->nvml_library);
	free(c->region);
	free(c->account_id);
	free(c->docker_socket);
	auth_keys_unref(c->auth_keys);
	free(c->auth_credentials);
	strv_free(c->model_data.roots, c->model_data.n_roots);
	strv_free(c->model_data.url_prefixes, c->model_data.n_url_prefixes);
	for (size_t i = 0; i < c->n_instance_types; i++) {
		free(c->instance_types[i].name);
		strv_free(c->instance_types[i].constraints, c->instance_types[i].n_constraints);
	}
	free(c->instance_types);

	config_resources_free(c);

	for (size_t i = 0; i < c->n_files; i++)
		free(c->sources[i].text);
	free(c->sources);
	strv_free(c->files, c->n_files);
	strv_free(c->allowed_images, c->n_allowed_images);
	free(c);
	return NULL;
}

static void config_free_origin(const char *key, void *value, void *userdata)
{
	(void)key;
	(void)userdata;
	free(value);
}

/* A loader holding a config of defaults. */
static void config_loader_init(struct config_loader *ld)
{
	struct config *c = xcalloc(1, sizeof(*c));

	c->refs = 1;
	c->state_dir = xstrdup(CONFIG_DEFAULT_STATE_DIR);
	c->region = xstrdup(CONFIG_DEFAULT_REGION);
	c->account_id = xstrdup(CONFIG_DEFAULT_ACCOUNT);
	c->docker_socket = xstrdup(CONFIG_DEFAULT_DOCKER_SOCKET);
	c->max_endpoints = CONFIG_DEFAULT_MAX_ENDPOINTS;
	c->max_instances = CONFIG_DEFAULT_MAX_INSTANCES;
	c->max_models = CONFIG_DEFAULT_MAX_MODELS;
	c->max_endpoint_configs = CONFIG_DEFAULT_MAX_ENDPOINT_CONFIGS;
	c->max_connections = CONFIG_DEFAULT_MAX_CONNECTIONS;
	c->max_buffered_bytes = CONFIG_DEFAULT_MAX_BUFFERED_BYTES;
	c->max_inflight_invocations = CONFIG_DEFAULT_MAX_INFLIGHT_INVOCATIONS;
	c->max_inflight_per_endpoint = CONFIG_DEFAULT_MAX_INFLIGHT_PER_ENDPOINT;
	c->request_timeout_s = CONFIG_DEFAULT_REQUEST_TIMEOUT_S;
	c->body_timeout_s = CONFIG_DEFAULT_BODY_TIMEOUT_S;
	c->idle_timeout_s = CONFIG_DEFAULT_IDLE_TIMEOUT_S;
	c->write_timeout_s = CONFIG_DEFAULT_WRITE_TIMEOUT_S;
	c->drain_timeout_s = CONFIG_DEFAULT_DRAIN_TIMEOUT_S;
	c->orphan_grace_s = CONFIG_DEFAULT_ORPHAN_GRACE_S;
	c->invocation_timeout_s = CONFIG_DEFAULT_INVOCATION_TIMEOUT_S;
	c->stream_idle_timeout_s = CONFIG_DEFAULT_STREAM_IDLE_TIMEOUT_S;
	c->stream_timeout_s = CONFIG_DEFAULT_STREAM_TIMEOUT_S;
	c->container_dialer = config_default_dialer();
	c->model_data.cache_max_bytes = MODELDATA_DEFAULT_CACHE_MAX_BYTES;
	c->metrics_open = true;

	*ld = (struct config_loader){
	    .c = c,
	    .model_index = strmap_new(),
	    .config_index = strmap_new(),
	    .alarm_index = strmap_new(),
	    .read_paths = strmap_new(),
	};
}

/* Hands over the config (or the error) and frees the loader. */
static int config_loader_done(struct config_loader *ld, int r, struct config **ret_config,
                              char **ret_error)
{
	strmap_foreach(ld->model_index, config_free_origin, NULL);
	strmap_foreach(ld->config_index, config_free_origin, NULL);
	strmap_free(ld->model_index);
	strmap_free(ld->config_index);
	strmap_free(ld->alarm_index);
	strmap_free(ld->read_paths);
	free(ld->refs);
	free(ld->credentials_path);

	if (r < 0) {
		config_free(ld->c);
		if (ret_error != NULL)
			*ret_error = TAKE_PTR(ld->ctx.error);
		free(ld->ctx.error);
		return r;
	}
	free(ld->ctx.error);
	*ret_config = ld->c;
	return 0;
}

int config_load(const char *path, struct config **ret_config, char **ret_error)
{
	struct config_loader ld;
	int r;

	config_loader_init(&ld);
	ld.check_model_data = ld.c->model_data_checked = true;
	r = config_load_file(&ld, path, 0);
	if (r >= 0)
		r = config_finish(&ld);
	return config_loader_done(&ld, r, ret_config, ret_error);
}

int config_load_string(const char *name, const char *yaml, struct config **ret_config,
                       char **ret_error)
{
	struct config_loader ld;
	size_t len = strlen(yaml);
	int r;

	config_loader_init(&ld);
	if (len > CONFIG_MAX_FILE_SIZE) {
		ld.ctx.error = xasprintf("%s: larger than 4 MiB", name);
		r = -EINVAL;
	} else {
		double mtime = now_realtime();
		size_t i = config_add_file(&ld, name, xstrdup(yaml), len, mtime, 0);

		r = config_load_text(&ld, ld.c->files[i], NULL, ld.c->sources[i].text, len, mtime,
		                     0, true);
		if (r >= 0)
			r = config_finish(&ld);
	}
	return config_loader_done(&ld, r, ret_config, ret_error);
}

/* The API's document: Models and EndpointConfigs, after every YAML file. */
static int config_load_api_doc(struct config_loader *ld, const char *api_doc)
{
	static const char *const keys[] = {"Models", "EndpointConfigs", NULL};
	struct cy_node *root = NULL;
	const struct cy_node *v;
	size_t len = strlen(api_doc);
	int r;

	if (len > CONFIG_MAX_API_DOC_SIZE) {
		ld->ctx.error = xasprintf("%s: larger than %u MiB", CONFIG_API_FILE,
		                          CONFIG_MAX_API_DOC_SIZE >> 20);
		return -EINVAL;
	}
	ld->api = true;
	ld->check_model_data = true;
	ld->ctx.file = CONFIG_API_FILE;
	ld->mtime = now_realtime(); /* for resources without a CreationTime */
	r = cy_parse(CONFIG_API_FILE, api_doc, len, &root, &ld->ctx.error);
	if (r < 0)
		return r;
	if (cy_is_null(root))
		goto out;
	if (root->type != CY_MAPPING) {
		r = cy_fail(&ld->ctx, root, "expected a mapping at the top level, found %s",
		            cy_describe(root));
		goto out;
	}
	r = cy_check_keys(&ld->ctx, root, "the API document", keys, NULL);
	if (r < 0)
		goto out;
	if ((v = cy_map_get(root, "Models")) != NULL && (r = config_parse_models(ld, v)) < 0)
		goto out;
	if ((v = cy_map_get(root, "EndpointConfigs")) != NULL)
		r = config_parse_endpoint_configs(ld, v);
out:
	cy_free(root);
	return r;
}

int config_with_api(const struct config *base, const char *api_doc, struct config **ret_config,
                    char **ret_error)
{
	struct config_loader ld;
	int r = 0;

	config_loader_init(&ld);
	ld.replay = true;
	ld.check_model_data = ld.c->model_data_checked = base->model_data_checked;
	/* In the order they were read, which is the order of their definitions:
	 * a file's own before those it includes. */
	for (size_t i = 0; i < base->n_files && r >= 0; i++) {
		const struct config_source *s = &base->sources[i];
		size_t j;

		if (s->credentials) {
			j = config_add_file(&ld, base->files[i], NULL, 0, s->mtime, s->depth);
			ld.c->sources[j].credentials = true;
			continue;
		}
		j = config_add_file(&ld, base->files[i], xstrdup(s->text), s->len, s->mtime,
		                    s->depth);
		r = config_load_text(&ld, ld.c->files[j], NULL, ld.c->sources[j].text, s->len,
		                     s->mtime, s->depth, false);
	}
	if (r >= 0 && base->auth_keys != NULL) {
		ld.c->auth_keys = auth_keys_ref(base->auth_keys);
		ld.c->auth_credentials = xstrdup(base->auth_credentials);
	}
	if (r >= 0 && api_doc != NULL && *api_doc != '\0')
		r = config_load_api_doc(&ld, api_doc);
	if (r >= 0)
		r = config_finish(&ld);
	return config_loader_done(&ld, r, ret_config, ret_error);
}

bool config_image_allowed(const struct config *c, const char *image)
{
	for (size_t i = 0; i < c->n_allowed_images; i++)
		if (fnmatch(c->allowed_images[i], image, 0) == 0)
			return true;
	return false;
}

struct config *config_ref(struct config *c)
{
	if (c != NULL)
		c->refs++;
	return c;
}

struct config *config_unref(struct config *c)
{
	if (c == NULL)
		return NULL;
	if (--c->refs == 0)
		config_free(c);
	return NULL;
}

const struct config_model *config_find_model(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_models; i++)
		if (strcasecmp(c->models[i].name, name) == 0)
			return &c->models[i];
	return NULL;
}

const struct config_endpoint_config *config_find_endpoint_config(const struct config *c,
                                                                 const char *name)
{
	for (size_t i = 0; i < c->n_endpoint_configs; i++)
		if (strcasecmp(c->endpoint_configs[i].name, name) == 0)
			return &c->endpoint_configs[i];
	return NULL;
}

const struct config_instance_type *config_find_instance_type(const struct config *c,
                                                             const char *name)
{
	for (size_t i = 0; i < c->n_instance_types; i++)
		if (strcmp(c->instance_types[i].name, name) == 0)
			return &c->instance_types[i];
	return NULL;
}

/* Whether url may be a ModelDataUrl under c; see config.h. */
int config_check_model_data_url(const struct config *c, const char *url, char **ret_error)
{
	return modeldata_check_url(&c->model_data, url, ret_error);
}

int config_parse_size(const char *s, uint64_t *ret)
{
	static const struct {
		const char *suffix;
		uint64_t factor;
	} units[] = {
	    {"", 1},
	    {"B", 1},
	    {"K", UINT64_C(1) << 10},
	    {"KiB", UINT64_C(1) << 10},
	    {"M", UINT64_C(1) << 20},
	    {"MiB", UINT64_C(1) << 20},
	    {"G", UINT64_C(1) << 30},
	    {"GiB", UINT64_C(1) << 30},
	    {"T", UINT64_C(1) << 40},
	    {"TiB", UINT64_C(1) << 40},
	};
	uint64_t whole = 0, frac = 0, frac_scale = 1;
	const char *p = s;

	if (s == NULL || !(*p >= '0' && *p <= '9'))
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		uint64_t digit = (uint64_t)(*p - '0');

		if (whole > (UINT64_MAX - digit) / 10)
			return -EINVAL;
		whole = whole * 10 + digit;
	}
	if (*p == '.') {
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return -EINVAL;
		/* Six digits keep frac * factor within 64 bits. */
		for (; *p >= '0' && *p <= '9'; p++) {
			if (frac_scale == 1000000)
				return -EINVAL;
			frac = frac * 10 + (uint64_t)(*p - '0');
			frac_scale *= 10;
		}
	}
	while (*p == ' ')
		p++;
	for (size_t i = 0; i < ELEMENTSOF(units); i++) {
		uint64_t f = units[i].factor;

		if (strcmp(p, units[i].suffix) != 0)
			continue;
		if (frac_scale > 1 && f == 1)
			return -EINVAL; /* a fraction of a byte */
		if (whole > UINT64_MAX / f || whole * f > UINT64_MAX - frac * f / frac_scale)
			return -EINVAL;
		*ret = whole * f + frac * f / frac_scale;
		return 0;
	}
	return -EINVAL;
}
