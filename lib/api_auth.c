/*
 * Who may call: the signature of every request (auth.c checks it) and the
 * policy of the key that signed it, per operation.
 *
 * With credentials configured (config->auth_keys), a request is checked
 * before anything else happens to it: its body is hashed where httpd left
 * it (no copy), and nothing of it is parsed, routed or counted as an
 * invocation until the signature is good.  /metrics is left out while
 * auth.metrics_open says so.  A head that carries no signature at all
 * (neither an Authorization header nor the presigned query) is refused
 * before its body is read, so that an anonymous client cannot make the
 * daemon buffer bodies it will throw away.
 *
 * Refusals have the shape of the API asked: AWS JSON 1.1 on the control
 * plane ({"__type","message"}), the runtime's REST-JSON
 * ({"ErrorCode","Message"}); the code is in x-amzn-ErrorType on both, which
 * is where botocore and the JavaScript SDK read it from.
 *
 * Authorization, once the signature is good: the action is
 * "sagemaker:<Operation>" ("sagemaker:InvokeEndpoint" for the runtime), the
 * resource the ARN of what the operation names (api_auth_ops below).  List*
 * operations name nothing: as in IAM, where they have no resource-level
 * permission, they are checked against the account-wide
 * "arn:aws:sagemaker:<region>:<account>:*", which only a rule whose
 * resources cover every ARN of the account allows.  /metrics shows every
 * endpoint: it needs sagemaker:DescribeEndpoint on every endpoint, the
 * resource "arn:aws:sagemaker:<region>:<account>:endpoint/" followed by "*".
 *
 * The names are read from the body the operation itself runs on (one
 * jansson parse, shared), never by a second reader that could see a
 * different member (duplicate keys, escapes) than the operation acts on.
 * When the member is absent, not a string, or the body is not JSON, the
 * call is checked against the account-wide ARN: it is the strictest check
 * there is (only a key allowed that action on everything passes), and such
 * a key then gets the operation's own validation error, which tells it
 * nothing it could not do anyway; any other key gets AccessDenied.
 *
 * Names are unique case-insensitively, and policies match ARNs
 * case-sensitively: a key allowed "endpoint/Team-A-*" must not reach
 * "team-a-x" by writing "Team-A-x".  So when the name given finds an
 * existing resource spelt differently, the call must be allowed on both
 * ARNs.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "api_private.h"
#include "auth.h"
#include "config.h"
#include "endpoint.h"
#include "httpd.h"
#include "log.h"
#include "names.h"
#include "util.h"

/* The service every client signs for, the runtime included (botocore's
 * sagemaker-runtime signs with the signing name "sagemaker"). */
#define API_AUTH_SERVICE "sagemaker"

/* What an operation names: the member and the kind of ARN it makes
 * (NULL: the member is an ARN itself); no member: the account-wide ARN. */
static const struct api_auth_op {
	const char *operation;
	const char *member;
	const char *kind;
} api_auth_ops[] = {
    {"CreateEndpoint", "EndpointName", "endpoint"},
    {"DescribeEndpoint", "EndpointName", "endpoint"},
    {"DeleteEndpoint", "EndpointName", "endpoint"},
    {"UpdateEndpoint", "EndpointName", "endpoint"},
    {"UpdateEndpointWeightsAndCapacities", "EndpointName", "endpoint"},
    {"ListEndpoints", NULL, NULL},
    {"CreateEndpointConfig", "EndpointConfigName", "endpoint-config"},
    {"DeleteEndpointConfig", "EndpointConfigName", "endpoint-config"},
    {"DescribeEndpointConfig", "EndpointConfigName", "endpoint-config"},
    {"ListEndpointConfigs", NULL, NULL},
    {"CreateModel", "ModelName", "model"},
    {"DeleteModel", "ModelName", "model"},
    {"DescribeModel", "ModelName", "model"},
    {"ListModels", NULL, NULL},
    {"AddTags", "ResourceArn", NULL},
    {"ListTags", "ResourceArn", NULL},
    {"DeleteTags", "ResourceArn", NULL},
};

bool api_auth_needed(struct api *a, const char *path)
{
	struct config *c = api_config(a);
	if (!c->auth_keys)
		return false;
	return !(c->metrics_open && path && strcmp(path, "/metrics") == 0);
}

/* Answer a refusal in the shape of the API asked. */
static void api_auth_refuse(struct httpd_request *req, enum api_shape shape, const char *request_id,
                            int status, const char *code, const char *message)
{
	struct aws_error err = {0};
	aws_error_set(&err, status, code, "%s", message);
	api_send_error(req, shape, &err, request_id);
}

/* Whether query holds a presigned request's signature parameter. */
static bool api_auth_presigned(const char *query)
{
	for (const char *p = query; p && *p;) {
		if (strncasecmp(p, "X-Amz-Signature=", 16) == 0 ||
		    strncasecmp(p, "X-Amz-Credential=", 17) == 0)
			return true;
		p = strchr(p, '&');
		p = p ? p + 1 : NULL;
	}
	return false;
}

bool api_auth_refuse_unsigned_head(struct api *a, struct httpd_request *req, enum api_shape shape)
{
	if (!api_auth_needed(a, httpd_request_path(req)))
		return false;
	if (httpd_request_header(req, "Authorization") ||
	    api_auth_presigned(httpd_request_raw_query(req)))
		return false;
	/* Signed with nothing: auth.c's words for it, over any body. */
	struct config *c = api_config(a);
	struct auth_request ar = {
	    .method = httpd_request_method(req),
	    .raw_path = httpd_request_raw_path(req),
	    .raw_query = httpd_request_raw_query(req),
	    .body_sha256_hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	};
	struct auth_verdict v;
	if (auth_verify(c->auth_keys, &ar, c->region, API_AUTH_SERVICE, now_realtime(), &v) == 0 ||
	    v.error != AUTH_MISSING) {
		auth_verdict_clear(&v);
		return false; /* read the body and decide then */
	}
	char request_id[AWS_REQUEST_ID_LEN + 1];
	aws_request_id(request_id);
	log_request(LOG_INFO, request_id, NULL, "request %s: %s %s refused: %s", request_id,
	            httpd_request_method(req), httpd_request_path(req), auth_error_code(v.error));
	api_auth_refuse(req, shape, request_id, auth_error_status(v.error),
	                auth_error_code(v.error),
	                v.message ? v.message : "Missing Authentication Token");
	auth_verdict_clear(&v);
	return true;
}

bool api_auth_verify(struct api *a, struct httpd_request *req, enum api_shape shape,
                     const char *request_id, const struct auth_key **ret_key)
{
	*ret_key = NULL;
	if (!api_auth_needed(a, httpd_request_path(req)))
		return true;
	struct config *c = api_config(a);
	char sha[65];
	auth_sha256_evbuffer(httpd_request_body(req), sha);
	size_t n = httpd_request_header_count(req);
	_cleanup_free_ const char **names = xcalloc(n ? n : 1, sizeof(*names));
	_cleanup_free_ const char **values = xcalloc(n ? n : 1, sizeof(*values));
	for (size_t i = 0; i < n; i++)
		httpd_request_header_at(req, i, &names[i], &values[i]);
	struct auth_request ar = {
	    .method = httpd_request_method(req),
	    .raw_path = httpd_request_raw_path(req),
	    .raw_query = httpd_request_raw_query(req),
	    .header_names = names,
	    .header_values = values,
	    .n_headers = n,
	    .body_sha256_hex = sha,
	};
	struct auth_verdict v;
	if (auth_verify(c->auth_keys, &ar, c->region, API_AUTH_SERVICE, now_realtime(), &v) == 0 &&
	    v.key) {
		log_fields(LOG_DEBUG,
		           LOG_FIELDS({"REQUEST_ID", request_id}, {"KEY_NAME", v.key->name}),
		           "request %s: signed by key %s", request_id, v.key->name);
		*ret_key = v.key;
		auth_verdict_clear(&v);
		return true;
	}
	enum auth_error e = v.error == AUTH_OK ? AUTH_MISSING : v.error;
	log_request(LOG_INFO, request_id, NULL, "request %s: %s %s refused: %s: %s", request_id,
	            httpd_request_method(req), httpd_request_path(req), auth_error_code(e),
	            v.message ? v.message : "");
	api_auth_refuse(req, shape, request_id, auth_error_status(e), auth_error_code(e),
	                v.message ? v.message : auth_error_code(e));
	auth_verdict_clear(&v);
	return false;
}

/* The name of the existing resource of kind that name finds (names are
 * unique case-insensitively), or NULL. */
static const char *api_auth_existing(struct api *a, const char *kind, const char *name)
{
	if (strcmp(kind, "endpoint") == 0) {
		struct endpoint *ep = endpoint_find(a->manager, name);
		return ep ? ep->name : NULL;
	}
	if (strcmp(kind, "endpoint-config") == 0) {
		const struct config_endpoint_config *ec =
		    config_find_endpoint_config(api_config(a), name);
		return ec ? ec->name : NULL;
	}
	if (strcmp(kind, "model") == 0) {
		const struct config_model *m = config_find_model(api_config(a), name);
		return m ? m->name : NULL;
	}
	return NULL;
}

/* The ARNs a call on name of kind must be allowed on: name's, and the
 * existing resource's when it is spelt differently. */
static size_t api_auth_named(struct api *a, const char *kind, const char *name, char *ret[2])
{
	ret[0] = api_arn(a, kind, name);
	const char *existing = api_auth_existing(a, kind, name);
	if (existing && strcmp(existing, name) != 0) {
		ret[1] = api_arn(a, kind, existing);
		return 2;
	}
	return 1;
}

/* The ARNs operation's input names (see the top of the file). */
static size_t api_auth_resources(struct api *a, const char *operation, json_t *input, char *ret[2])
{
	const struct api_auth_op *op = NULL;
	for (size_t i = 0; i < ELEMENTSOF(api_auth_ops); i++)
		if (strcmp(api_auth_ops[i].operation, operation) == 0)
			op = &api_auth_ops[i];
	json_t *member =
	    op && op->member && json_is_object(input) ? json_object_get(input, op->member) : NULL;
	if (!json_is_string(member)) {
		struct config *c = api_config(a);
		ret[0] = xasprintf("arn:aws:sagemaker:%s:%s:*", c->region, c->account_id);
		return 1;
	}
	const char *value = json_string_value(member);
	if (op->kind)
		return api_auth_named(a, op->kind, value, ret);
	ret[0] = xstrdup(value);
	struct config *c = api_config(a);
	_cleanup_free_ char *kind = NULL, *name = NULL;
	if (names_parse_arn(value, c->region, c->account_id, &kind, &name) == 0) {
		const char *existing = api_auth_existing(a, kind, name);
		if (existing && strcmp(existing, name) != 0) {
			ret[1] = api_arn(a, kind, existing);
			return 2;
		}
	}
	return 1;
}

/* Whether key may do action on every one of the n resources; false with
 * err set to AccessDenied naming the first it may not. */
static bool api_auth_allow(const struct auth_key *key, const char *action, char **resources,
                           size_t n, const char *request_id, int status, struct aws_error *err)
{
	for (size_t i = 0; i < n; i++) {
		if (auth_allowed(key, action, resources[i]))
			continue;
		log_fields(LOG_INFO,
		           LOG_FIELDS({"REQUEST_ID", request_id}, {"KEY_NAME", key->name}),
		           "request %s: key %s may not %s on %s", request_id, key->name, action,
		           resources[i]);
		aws_error_set(err, status, "AccessDeniedException",
		              "User: %s is not authorized to perform: %s on resource: %s",
		              key->name, action, resources[i]);
		return false;
	}
	return true;
}

bool api_auth_allow_operation(struct api *a, const struct auth_key *key, const char *operation,
                              json_t *input, const char *request_id, struct aws_error *err)
{
	if (!key)
		return true;
	char *resources[2] = {NULL, NULL};
	size_t n = api_auth_resources(a, operation, input, resources);
	_cleanup_free_ char *action = xasprintf("sagemaker:%s", operation);
	/* AWS JSON 1.1 services answer AccessDeniedException with 400. */
	bool ok = api_auth_allow(key, action, resources, n, request_id, 400, err);
	free(resources[0]);
	free(resources[1]);
	return ok;
}

bool api_auth_allow_invoke(struct api *a, const struct auth_key *key, const char *endpoint,
                           const char *request_id, struct aws_error *err)
{
	if (!key)
		return true;
	char *resources[2] = {NULL, NULL};
	size_t n = api_auth_named(a, "endpoint", endpoint, resources);
	/* The runtime's REST-JSON answers it with 403, as it does every
	 * authentication refusal. */
	bool ok = api_auth_allow(key, "sagemaker:InvokeEndpoint", resources, n, request_id, 403, err);
	free(resources[0]);
	free(resources[1]);
	return ok;
}

bool api_auth_allow_metrics(struct api *a, const struct auth_key *key, const char *request_id,
                            struct aws_error *err)
{
	if (!key)
		return true;
	_cleanup_free_ char *every = api_arn(a, "endpoint", "*");
	char *resources[1] = {every};
	return api_auth_allow(key, "sagemaker:DescribeEndpoint", resources, 1, request_id, 403,
	                      err);
}
