/*
 * HTTP routes and the AWS JSON 1.1 envelope of the control plane.
 *
 * Map: api_request_cb() routes a request; api_control() reads the envelope,
 * calls one operation from api_ops[] through api_call() and, for an
 * operation that changes state, answers only once the journal has its
 * records (api_answer_when_durable()).  The operations live one file per
 * resource: api_endpoints.c, api_endpoint_configs.c, api_models.c and
 * api_tags.c, with UpdateEndpoint and UpdateEndpointWeightsAndCapacities in
 * api_update.c; the List* operations share api_list.c.  What they share is in
 * api_private.h.
 */
#define _GNU_SOURCE
#include "api_private.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "catalog.h"
#include "config.h"
#include "endpoint.h"
#include "httpd.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "names.h"
#include "proxy.h"
#include "util.h"

/* An answer waiting for its journal records to reach the disk. */
struct api_pending {
	TAILQ_ENTRY(api_pending) link;
	struct api *api;
	struct httpd_request *req;
	int status;
	char *body;
	char request_id[AWS_REQUEST_ID_LEN + 1];
};

/* The config operations read. */
struct config *api_config(struct api *a)
{
	return endpoint_manager_config(a->manager);
}

void api_set_catalog(struct api *a, struct catalog *cat)
{
	a->catalog = cat;
}

void api_catalog_changed(struct api *a)
{
	endpoint_manager_set_config(a->manager, catalog_config(a->catalog));
}

int api_no_catalog(struct aws_error *err)
{
	aws_error_set(err, 400, "ValidationException",
		      "This endpointd takes models and endpoint configs from its YAML only.");
	return -ENOTSUP;
}

void api_unsupported(struct aws_reader *r, const char *field, const char *why)
{
	if (!json_object_get(r->obj, field) || json_is_null(json_object_get(r->obj, field)))
		return;
	_cleanup_free_ char *f = aws_field_name(field);
	_cleanup_free_ char *path = r->path ? xasprintf("%s.%s", r->path, f) : NULL;
	_cleanup_free_ char *shown = json_dumps(json_object_get(r->obj, field),
						JSON_COMPACT | JSON_ENCODE_ANY);
	_cleanup_free_ char *words = xasprintf("Member is not supported by endpointd: %s", why);
	aws_reader_invalid(r, shown, path ? path : f, words);
}

/* An ARN in this daemon's region and account. */
char *api_arn(struct api *a, const char *kind, const char *name)
{
	struct config *c = api_config(a);
	return names_arn(c->region, c->account_id, kind, name);
}

/* Every operation; changes_state ones answer once journaled. */
static const struct api_op {
	const char *name;
	api_op_fn fn;
	bool changes_state; /* answer only once journaled */
} api_ops[] = {
	{"CreateEndpoint", api_op_create_endpoint, true},
	{"DescribeEndpoint", api_op_describe_endpoint, false},
	{"DeleteEndpoint", api_op_delete_endpoint, true},
	{"ListEndpoints", api_op_list_endpoints, false},
	{"UpdateEndpoint", api_op_update_endpoint, true},
	{"UpdateEndpointWeightsAndCapacities", api_op_update_endpoint_weights_and_capacities, true},
	{"CreateEndpointConfig", api_op_create_endpoint_config, true},
	{"DeleteEndpointConfig", api_op_delete_endpoint_config, true},
	{"DescribeEndpointConfig", api_op_describe_endpoint_config, false},
	{"ListEndpointConfigs", api_op_list_endpoint_configs, false},
	{"CreateModel", api_op_create_model, true},
	{"DeleteModel", api_op_delete_model, true},
	{"DescribeModel", api_op_describe_model, false},
	{"ListModels", api_op_list_models, false},
	{"AddTags", api_op_add_tags, true},
	{"ListTags", api_op_list_tags, false},
	{"DeleteTags", api_op_delete_tags, true},
};

/* The operation named name, or NULL. */
static const struct api_op *api_find_op(const char *name)
{
	for (size_t i = 0; name && i < ELEMENTSOF(api_ops); i++)
		if (strcmp(api_ops[i].name, name) == 0)
			return &api_ops[i];
	return NULL;
}

/* Run one operation on a parsed body. */
int api_call(struct api *a, const char *operation, json_t *input, char **ret_body,
	     const char **ret_code)
{
	struct aws_error err = {0};
	const struct api_op *op = api_find_op(operation);
	api_op_fn fn = op ? op->fn : NULL;
	if (!fn) {
		aws_error_set(&err, 400, "UnknownOperationException",
			      operation ? "The operation %s is not supported by this endpoint."
					: "%sMissing or malformed X-Amz-Target header.",
			      operation ? operation : "");
	} else {
		struct aws_reader r;
		aws_reader_init(&r, input);
		json_t *out = json_object();
		int res = fn(a, &r, out, &err);
		aws_reader_clear(&r);
		if (res >= 0) {
			*ret_body = aws_dump(out);
			*ret_code = NULL;
			json_decref(out);
			return 200;
		}
		json_decref(out);
	}
	int status = err.status ? err.status : 500;
	*ret_body = aws_json_error_body(err.code, err.message);
	*ret_code = err.code;
	aws_error_clear(&err);
	return status;
}

/* Send a JSON body with the AWS headers. */
void api_send(struct httpd_request *req, int status, const char *content_type, const char *body,
	      const char *error_code, const char *request_id)
{
	httpd_add_header(req, "Content-Type", content_type);
	httpd_add_header(req, "x-amzn-RequestId", request_id);
	if (error_code)
		httpd_add_header(req, "x-amzn-ErrorType", error_code);
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, body, strlen(body));
	httpd_send_reply(req, status, b);
	evbuffer_free(b);
}

/* The journal has the records: answer. */
static void api_pending_durable_cb(void *userdata)
{
	struct api_pending *p = userdata;
	TAILQ_REMOVE(&p->api->pending, p, link);
	api_send(p->req, p->status, AWS_JSON_CONTENT_TYPE, p->body, NULL, p->request_id);
	free(p->body);
	free(p);
}

/* Answer once everything staged so far (this call's records) is on disk. */
static void api_answer_when_durable(struct api *a, struct httpd_request *req, int status,
				    char *body, const char *request_id)
{
	struct api_pending *p = xcalloc(1, sizeof(*p));
	p->api = a;
	p->req = req;
	p->status = status;
	p->body = body;
	snprintf(p->request_id, sizeof(p->request_id), "%s", request_id);
	TAILQ_INSERT_TAIL(&a->pending, p, link);
	journal_barrier(a->journal, api_pending_durable_cb, p);
}

/* POST / with X-Amz-Target, signed by key (NULL: no signature needed). */
static void api_control(struct api *a, struct httpd_request *req, const char *request_id,
			const struct auth_key *key)
{
	struct evbuffer *body = httpd_request_body(req);
	size_t len = evbuffer_get_length(body);
	const char *op = aws_target_operation(httpd_request_header(req, "X-Amz-Target"));
	_cleanup_free_ char *out = NULL;
	const char *code = NULL;
	int status;
	struct aws_error err = {0};
	json_t *input = NULL;

	if (len > API_MAX_CONTROL_BODY) {
		aws_error_set(&err, 413, "ValidationException",
			      "Request body of %zu bytes is over the limit of %d bytes.", len,
			      API_MAX_CONTROL_BODY);
	} else if (!op) {
		status = api_call(a, NULL, NULL, &out, &code);
		api_send(req, status, AWS_JSON_CONTENT_TYPE, out, code, request_id);
		return;
	} else {
		/* The policy is checked on the very object the operation reads. */
		bool parsed = aws_parse_body((const char *)evbuffer_pullup(body, -1), len, &input,
					     &err) == 0;
		struct aws_error denied = {0};
		if (!api_auth_allow_operation(a, key, op, input, request_id, &denied)) {
			json_decref(input);
			aws_error_clear(&err);
			err = denied;
		} else if (parsed) {
			status = api_call(a, op, input, &out, &code);
			json_decref(input);
			log_request(LOG_DEBUG, request_id, NULL, "request %s: %s -> %d%s%s",
				    request_id, op, status, code ? " " : "", code ? code : "");
			const struct api_op *o = api_find_op(op);
			if (status == 200 && o && o->changes_state && a->journal) {
				api_answer_when_durable(a, req, status, TAKE_PTR(out), request_id);
				return;
			}
			api_send(req, status, AWS_JSON_CONTENT_TYPE, out, code, request_id);
			return;
		}
	}
	out = aws_json_error_body(err.code, err.message);
	api_send(req, err.status, AWS_JSON_CONTENT_TYPE, out, err.code, request_id);
	aws_error_clear(&err);
}

/* Whether path is a data-plane (runtime) path: its errors are REST-JSON. */
static bool api_is_runtime_path(const char *path)
{
	return path && str_has_prefix(path, "/endpoints/");
}

/* Send err in shape's envelope and clear it. */
void api_send_error(struct httpd_request *req, enum api_shape shape, struct aws_error *err,
		    const char *request_id)
{
	bool rest = shape == API_SHAPE_REST;
	_cleanup_free_ char *body = rest ? aws_rest_error_body(err->code, err->message, NULL)
					 : aws_json_error_body(err->code, err->message);
	api_send(req, err->status, rest ? "application/json" : AWS_JSON_CONTENT_TYPE, body,
		 err->code, request_id);
	aws_error_clear(err);
}

/* Every request: its signature first, when one is needed, then its route. */
static void api_request_cb(struct httpd_request *req, void *arg)
{
	struct api *a = arg;
	char request_id[AWS_REQUEST_ID_LEN + 1];
	aws_request_id(request_id);
	/* httpd hands over the path and header values as valid UTF-8. */
	const char *path = httpd_request_path(req);
	const char *method = httpd_request_method(req);
	enum api_shape shape = api_is_runtime_path(path) ? API_SHAPE_REST : API_SHAPE_JSON;
	const struct auth_key *key = NULL;
	struct aws_error denied = {0};

	if (!api_auth_verify(a, req, shape, request_id, &key))
		return;
	if (strcmp(path, "/") == 0 && strcmp(method, "POST") == 0) {
		api_control(a, req, request_id, key);
		return;
	}
	if (strcmp(path, "/metrics") == 0 && strcmp(method, "GET") == 0) {
		if (!api_auth_allow_metrics(a, key, request_id, &denied)) {
			api_send_error(req, shape, &denied, request_id);
			return;
		}
		_cleanup_free_ char *text = metrics_render(a->manager);
		httpd_add_header(req, "Content-Type", METRICS_CONTENT_TYPE);
		struct evbuffer *b = evbuffer_new();
		evbuffer_add(b, text, strlen(text));
		httpd_send_reply(req, 200, b);
		evbuffer_free(b);
		return;
	}
	/* /endpoints/<name>/invocations, /endpoints/<name>/invocations-response-stream */
	static const char prefix[] = "/endpoints/";
	if (a->proxy && str_has_prefix(path, prefix)) {
		const char *name = path + strlen(prefix);
		const char *slash = strchr(name, '/');
		bool invoke = slash && strcmp(slash, "/invocations") == 0;
		bool stream = slash && strcmp(slash, "/invocations-response-stream") == 0;
		if (slash > name && (invoke || stream)) {
			_cleanup_free_ char *n = xstrndup(name, (size_t)(slash - name));
			if (!api_auth_allow_invoke(a, key, n, request_id, &denied)) {
				api_send_error(req, shape, &denied, request_id);
				return;
			}
			if (stream)
				proxy_invoke_stream(a->proxy, req, n, request_id);
			else
				proxy_invoke(a->proxy, req, n, request_id);
			return;
		}
	}
	_cleanup_free_ char *msg = xasprintf("No route for %s %s.", method, path);
	_cleanup_free_ char *body = aws_json_error_body("UnknownOperationException", msg);
	api_send(req, 404, AWS_JSON_CONTENT_TYPE, body, "UnknownOperationException", request_id);
}

/*
 * max_connections, kept to half the open file limit: clients must never
 * take the descriptors that the Engine, health checks and the connections
 * to the containers need.
 */
static unsigned api_max_connections(const struct config *c)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    c->max_connections <= rl.rlim_cur / 2)
		return c->max_connections;
	unsigned cap = rl.rlim_cur / 2 ? (unsigned)(rl.rlim_cur / 2) : 1;
	log_warning("limits.max_connections is %u but the open file limit is %llu: "
		    "accepting at most %u connections (raise LimitNOFILE= or ulimit -n)",
		    c->max_connections, (unsigned long long)rl.rlim_cur, cap);
	return cap;
}

/* The server's limits from the daemon config. */
static struct httpd_limits api_limits(const struct config *c)
{
	return (struct httpd_limits){
		.max_connections = api_max_connections(c),
		.max_buffered_bytes = c->max_buffered_bytes,
		.head_timeout_ms = c->request_timeout_s * 1000,
		.body_timeout_ms = c->body_timeout_s * 1000,
		.body_total_ms = CONFIG_BODY_TOTAL_S * 1000,
		.idle_timeout_ms = c->idle_timeout_s * 1000,
		.write_timeout_ms = c->write_timeout_s * 1000,
	};
}

/* Follow a reloaded config's limits. */
static void api_refresh_limits(struct api *a)
{
	struct config *c = api_config(a);
	if (c == a->limits_from)
		return;
	struct httpd_limits l = api_limits(c);
	httpd_set_limits(a->httpd, &l);
	config_unref(a->limits_from);
	a->limits_from = config_ref(c);
}

/* A head was read: how large may its body be? */
static size_t api_head_cb(struct httpd_request *req, void *arg)
{
	struct api *a = arg;
	api_refresh_limits(a);
	const char *path = httpd_request_path(req);
	if (api_auth_refuse_unsigned_head(a, req,
					  api_is_runtime_path(path) ? API_SHAPE_REST : API_SHAPE_JSON))
		return 0;
	if (strcmp(path, "/") == 0)
		return API_MAX_CONTROL_BODY;
	if (api_is_runtime_path(path))
		return PROXY_MAX_BODY;
	return API_MAX_OTHER_BODY;
}

/* The server refuses a request: answer in the shape of its API. */
static void api_error_cb(struct httpd_request *req, int status, const char *message, void *arg)
{
	char request_id[AWS_REQUEST_ID_LEN + 1];
	aws_request_id(request_id);
	bool busy = status == 503;
	if (api_is_runtime_path(httpd_request_path(req))) {
		const char *code = busy ? "ServiceUnavailable" : "ValidationError";
		_cleanup_free_ char *body = aws_rest_error_body(code, message, NULL);
		api_send(req, status, "application/json", body, code, request_id);
		return;
	}
	const char *code = busy ? "ServiceUnavailable" : "ValidationException";
	_cleanup_free_ char *body = aws_json_error_body(code, message);
	api_send(req, status, AWS_JSON_CONTENT_TYPE, body, code, request_id);
}

/* An API on base, with no listeners yet. */
struct api *api_new(struct event_base *base, struct endpoint_manager *m, struct journal *journal,
		    struct proxy *proxy)
{
	struct api *a = xcalloc(1, sizeof(*a));
	a->base = base;
	a->manager = m;
	a->journal = journal;
	a->proxy = proxy;
	TAILQ_INIT(&a->pending);
	a->tags = strmap_new();
	a->limits_from = config_ref(api_config(a));
	struct httpd_limits l = api_limits(a->limits_from);
	a->httpd = httpd_new(base, &l, api_head_cb, api_request_cb, api_error_cb, a);
	return a;
}

/* Close listeners and connections. */
struct api *api_free(struct api *a)
{
	if (!a)
		return NULL;
	struct api_pending *p;
	while ((p = TAILQ_FIRST(&a->pending))) {
		TAILQ_REMOVE(&a->pending, p, link);
		free(p->body);
		free(p);
	}
	a->httpd = httpd_free(a->httpd);
	config_unref(a->limits_from);
	api_tags_free(a);
	free(a);
	return NULL;
}

/* Serve an already-bound socket. */
int api_listen_fd(struct api *a, int fd)
{
	return httpd_listen_fd(a->httpd, fd);
}

int api_listen_fd_tls(struct api *a, int fd, struct tls_server *tls)
{
	return httpd_listen_fd_tls(a->httpd, fd, tls);
}

/* Whether two socket addresses are the same address and port (an IPv4
 * address and its IPv4-mapped IPv6 form are not: they bind differently). */
static bool api_same_sockaddr(const struct sockaddr *x, const struct sockaddr *y)
{
	if (x->sa_family != y->sa_family)
		return false;
	if (x->sa_family == AF_INET) {
		const struct sockaddr_in *a4 = (const void *)x, *b4 = (const void *)y;
		return a4->sin_port == b4->sin_port && a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	}
	if (x->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const void *)x, *b6 = (const void *)y;
		return a6->sin6_port == b6->sin6_port &&
		       memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) == 0;
	}
	return false;
}

bool api_listen_matches_fd(const struct config_listen *l, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return false;
	if (l->unix_path) {
		const struct sockaddr_un *su = (const void *)&ss;
		return ss.ss_family == AF_UNIX && len > offsetof(struct sockaddr_un, sun_path) &&
		       strncmp(su->sun_path, l->unix_path, sizeof(su->sun_path)) == 0;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	char service[8];
	snprintf(service, sizeof(service), "%u", (unsigned)l->port);
	if (getaddrinfo(l->host, service, &hints, &res) != 0)
		return false;
	bool same = false;
	for (struct addrinfo *ai = res; ai && !same; ai = ai->ai_next)
		same = api_same_sockaddr(ai->ai_addr, (const struct sockaddr *)&ss);
	freeaddrinfo(res);
	return same;
}

/* Stop accepting. */
void api_close_listeners(struct api *a)
{
	httpd_close_listeners(a->httpd);
}

void api_hold(struct api *a, bool hold)
{
	httpd_hold(a->httpd, hold);
}

void api_drain(struct api *a, void (*cb)(void *userdata), void *userdata)
{
	httpd_drain(a->httpd, cb, userdata);
}

size_t api_connections(const struct api *a)
{
	return httpd_connections(a->httpd);
}

/* Bind a Unix socket (replacing a stale one) and serve it. */
static int api_listen_unix(struct api *a, const char *path, char **ret_error)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		*ret_error = xasprintf("unix:%s: path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail;
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0)
		goto fail;
	if (api_listen_fd(a, fd) < 0) {
		errno = EINVAL;
		goto fail;
	}
	return 0;
fail:;
	int e = errno;
	if (fd >= 0)
		close(fd);
	*ret_error = xasprintf("unix:%s: %s", path, strerror(e));
	return -e;
}

/* Bind one configured address. */
int api_listen(struct api *a, const struct config_listen *l, struct tls_server *tls,
	       char **ret_error)
{
	if (l->unix_path)
		return api_listen_unix(a, l->unix_path, ret_error);
	int r = httpd_listen_tcp_tls(a->httpd, l->host, l->port, tls);
	if (r < 0) {
		*ret_error = xasprintf("%s:%u: %s", l->host, (unsigned)l->port, strerror(-r));
		return r;
	}
	return 0;
}
