/*
 * The model operations: CreateModel and DeleteModel on the models the API
 * creates (catalog.h), DescribeModel and ListModels over those and the ones
 * the daemon config's YAML declares.
 *
 * CreateModel checks everything itself, with SageMaker's shapes and words,
 * before the catalog sees the document: every length, pattern, range and
 * enum of botocore's service model (clients check almost nothing), then
 * what the operator allows (allowed_images, model_data_roots and
 * model_data_urls), then what endpointd cannot do, each refused by name.
 */
#define _GNU_SOURCE
#include "api_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "config.h"
#include "endpoint.h"
#include "log.h"
#include "names.h"

#define API_ROLE_ARN_PATTERN "^arn:aws[a-z\\-]*:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+$"
#define API_ENV_KEY_PATTERN "^[a-zA-Z_][a-zA-Z0-9_]*$"
#define API_ENV_VALUE_PATTERN "^[\\S\\s]*$"
#define API_IMAGE_PATTERN "^[\\S]+"
#define API_URL_PATTERN "^(https|s3|file)://([^/]+)/?(.*)$"
#define API_HOSTNAME_PATTERN "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"

/* RoleArn: arn:aws…:iam::<12 digits>:role/… (not checked further). */
static bool api_role_arn_ok(const char *s)
{
	const char *p = strstr(s, ":iam::");
	if (!str_has_prefix(s, "arn:aws") || !p)
		return false;
	p += strlen(":iam::");
	for (int i = 0; i < 12; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return str_has_prefix(p + 12, ":role");
}

/* Any text. */
static bool api_any_ok(const char *s)
{
	return s != NULL;
}

/* One character or more, none of them whitespace. */
static bool api_no_space_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' ||
		    *s == '\v')
			return false;
	return true;
}

/* A URL of a scheme with a host part (s3:// is refused later, by name). */
static bool api_url_ok(const char *s)
{
	return (str_has_prefix(s, "https://") || str_has_prefix(s, "s3://") ||
		str_has_prefix(s, "file://") || str_has_prefix(s, "http://")) &&
	       strstr(s, "://")[3] != '\0';
}

static const struct aws_string_rule api_model_name_rule = {
	.required = true, .min_len = 0, .max_len = 63, .pattern = NAMES_MODEL_PATTERN,
	.matches = names_valid_resource};
static const struct aws_string_rule api_role_rule = {
	.min_len = 20, .max_len = 2048, .pattern = API_ROLE_ARN_PATTERN, .matches = api_role_arn_ok};
static const struct aws_string_rule api_image_rule = {
	.required = true, .min_len = 0, .max_len = 255, .pattern = API_IMAGE_PATTERN,
	.matches = api_no_space_ok};
static const struct aws_string_rule api_url_rule = {
	.max_len = 1024, .pattern = API_URL_PATTERN, .matches = api_url_ok};
static const struct aws_string_rule api_hostname_rule = {
	.max_len = 63, .pattern = API_HOSTNAME_PATTERN, .matches = names_valid_resource};
static const struct aws_map_rule api_env_rule = {
	.max_entries = 100,
	.key = {.required = true, .min_len = 0, .max_len = 1024, .pattern = API_ENV_KEY_PATTERN,
		.matches = names_valid_env_key},
	.value = {.required = true, .min_len = 0, .max_len = 1024,
		  .pattern = API_ENV_VALUE_PATTERN, .matches = api_any_ok},
};
static const char *const api_modes[] = {"SingleModel", "MultiModel", NULL};

/* One ContainerDefinition, read through cr; its document, or NULL. */
static json_t *api_read_container(struct aws_reader *cr)
{
	const char *image = aws_read_valid_string(cr, "Image", &api_image_rule);
	const char *url = aws_read_valid_string(cr, "ModelDataUrl", &api_url_rule);
	const char *hostname = aws_read_valid_string(cr, "ContainerHostname", &api_hostname_rule);
	const char *mode = aws_read_enum(cr, "Mode", false, api_modes);
	json_t *env = aws_read_map(cr, "Environment", &api_env_rule);
	static const char *const unsupported[][2] = {
	    {"ModelPackageName", "model packages live in SageMaker's registry"},
	    {"ModelDataSource", "give the model data as ModelDataUrl"},
	    {"AdditionalModelDataSources", "give the model data as ModelDataUrl"},
	    {"ImageConfig", "images come from this host's Docker Engine"},
	    {"InferenceSpecificationName", "model packages live in SageMaker's registry"},
	    {"MultiModelConfig", "multi-model endpoints are not supported"},
	};
	for (size_t i = 0; i < ELEMENTSOF(unsupported); i++)
		api_unsupported(cr, unsupported[i][0], unsupported[i][1]);
	if (mode && strcmp(mode, "MultiModel") == 0) {
		_cleanup_free_ char *f = xasprintf("%s.mode", cr->path);
		aws_reader_invalid(cr, mode, f,
				   "Member is not supported by endpointd: multi-model endpoints "
				   "are not supported");
	}
	if (!image)
		return NULL;
	json_t *c = json_pack("{s:s}", "Image", image);
	if (url)
		json_object_set_new(c, "ModelDataUrl", json_string(url));
	if (hostname)
		json_object_set_new(c, "ContainerHostname", json_string(hostname));
	if (mode)
		json_object_set_new(c, "Mode", json_string(mode));
	if (env)
		json_object_set(c, "Environment", env);
	return c;
}

/* What the operator allows of c (a container document): its image, its
 * model data; false with err set. */
static bool api_model_allowed(struct api *a, json_t *c, struct aws_error *err)
{
	const struct config *cfg = api_config(a);
	const char *image = json_string_value(json_object_get(c, "Image"));
	const char *url = json_string_value(json_object_get(c, "ModelDataUrl"));
	if (!config_image_allowed(cfg, image)) {
		aws_error_set(err, 400, "ValidationException",
			      "Image %s is not allowed on this host: the daemon config's "
			      "allowed_images has no pattern it matches.",
			      image);
		return false;
	}
	if (url && str_has_prefix(url, "s3://")) {
		aws_error_set(err, 400, "ValidationException",
			      "ModelDataUrl %s: endpointd does not read S3; give a file:// path "
			      "under model_data_roots or an http(s):// URL under model_data_urls.",
			      url);
		return false;
	}
	_cleanup_free_ char *why = NULL;
	if (url && config_check_model_data_url(cfg, url, &why) < 0) {
		aws_error_set(err, 400, "ValidationException", "ModelDataUrl %s: %s", url, why);
		return false;
	}
	return true;
}

/* The catalog's refusal of model name, in SageMaker's words (the SDK
 * matches "Cannot create already existing model" and goes on). */
static int api_model_refusal(struct api *a, int res, const char *name, const char *why,
			     struct aws_error *err)
{
	const struct config *c = api_config(a);
	const struct config_model *m = config_find_model(c, name);
	_cleanup_free_ char *arn = api_arn(a, "model", m ? m->name : name);
	if (res == -EEXIST && m && !m->from_api)
		aws_error_set(err, 400, "ValidationException",
			      "Cannot create already existing model \"%s\". It is declared in the "
			      "daemon config (%s:%u): the API cannot replace it.",
			      arn, m->origin.file, m->origin.line);
	else if (res == -EEXIST)
		aws_error_set(err, 400, "ValidationException",
			      "Cannot create already existing model \"%s\".", arn);
	else if (res == -ENOSPC)
		aws_error_set(err, 400, "ResourceLimitExceeded",
			      "The limit 'max_models' is %u, with current utilization of %zu and a "
			      "request delta of 1. Raise limits.max_models in the daemon config to "
			      "allow more.",
			      c->max_models, catalog_models(a->catalog));
	else
		aws_error_set(err, 400, "ValidationException", "Cannot create model \"%s\": %s", arn,
			      why ? why : strerror(-res));
	return res;
}

/* CreateModel. */
int api_op_create_model(struct api *a, struct aws_reader *r, json_t *out, struct aws_error *err)
{
	if (!a->catalog)
		return api_no_catalog(err);
	const char *name = aws_read_valid_string(r, "ModelName", &api_model_name_rule);
	const char *role = aws_read_valid_string(r, "ExecutionRoleArn", &api_role_rule);
	bool isolation = false;
	bool has_isolation = aws_read_bool(r, "EnableNetworkIsolation", &isolation);
	_cleanup_free_ struct endpoint_tag *tags = NULL;
	size_t n_tags = api_read_tags(r, "Tags", &tags);
	api_unsupported(r, "VpcConfig", "containers reach this host's networks");
	api_unsupported(r, "InferenceExecutionConfig", "a model runs one container");

	struct aws_reader pr;
	json_t *container = NULL;
	json_t *list = NULL;
	bool has_primary = aws_read_object(r, "PrimaryContainer", false, &pr);
	size_t n = aws_read_list(r, "Containers", false, 1, 15, &list);
	if (has_primary) {
		container = api_read_container(&pr);
	} else if (n == 1) {
		aws_reader_clear(&pr);
		if (aws_read_list_object(r, list, "Containers", 0, &pr))
			container = api_read_container(&pr);
	} else if (n > 1) {
		_cleanup_free_ char *shown = json_dumps(list, JSON_COMPACT);
		aws_reader_invalid(r, shown, "containers",
				   "Member is not supported by endpointd: an inference pipeline of "
				   "several containers; give one container");
	}
	aws_reader_clear(&pr);
	if (aws_reader_error(r, err)) {
		json_decref(container);
		return -EINVAL;
	}
	if (!container || (has_primary && n > 0)) {
		json_decref(container);
		aws_error_set(err, 400, "ValidationException",
			      "Exactly one of PrimaryContainer and Containers must be given.");
		return -EINVAL;
	}
	if (!api_model_allowed(a, container, err)) {
		json_decref(container);
		return -EPERM;
	}

	_cleanup_free_ char *image = xstrdup(json_string_value(json_object_get(container, "Image")));
	json_t *doc = json_pack("{s:s}", "ModelName", name);
	json_object_set_new(doc, has_primary ? "PrimaryContainer" : "Containers",
			    has_primary ? container : json_pack("[o]", container));
	if (role)
		json_object_set_new(doc, "ExecutionRoleArn", json_string(role));
	if (has_isolation)
		json_object_set_new(doc, "EnableNetworkIsolation", json_boolean(isolation));
	if (n_tags)
		json_object_set_new(doc, "Tags", api_tags_list(tags, n_tags));
	_cleanup_free_ char *why = NULL;
	int res = catalog_add_model(a->catalog, doc, &why);
	json_decref(doc);
	if (res < 0)
		return api_model_refusal(a, res, name, why, err);
	api_catalog_changed(a);
	const struct config_model *m = config_find_model(api_config(a), name);
	_cleanup_free_ char *arn = api_arn(a, "model", m ? m->name : name);
	log_notice("model %s: created through the API (image %s)", name, image);
	json_object_set_new(out, "ModelArn", json_string(arn));
	return 0;
}

/* DeleteModel: an endpoint that uses it keeps its own copy. */
int api_op_delete_model(struct api *a, struct aws_reader *r, json_t *out, struct aws_error *err)
{
	const char *name = aws_read_valid_string(r, "ModelName", &api_model_name_rule);
	if (aws_reader_error(r, err))
		return -EINVAL;
	const struct config_model *m = config_find_model(api_config(a), name);
	_cleanup_free_ char *arn = api_arn(a, "model", m ? m->name : name);
	if (!m) {
		aws_error_set(err, 400, "ValidationException", "Could not find model \"%s\".", arn);
		return -ENOENT;
	}
	if (!m->from_api || !a->catalog) {
		aws_error_set(err, 400, "ValidationException",
			      "Model \"%s\" is declared in the daemon config (%s:%u): only the "
			      "operator can remove it, from the YAML.",
			      arn, m->origin.file, m->origin.line);
		return -EPERM;
	}
	int res = catalog_delete_model(a->catalog, name);
	if (res < 0) {
		aws_error_set(err, 500, "InternalFailure", "Cannot delete model \"%s\": %s", arn,
			      strerror(-res));
		return res;
	}
	api_catalog_changed(a);
	api_forget_tags(a, arn);
	log_notice("model %s: deleted through the API", name);
	return 0;
}

/* DescribeModel. */
int api_op_describe_model(struct api *a, struct aws_reader *r, json_t *out,
			  struct aws_error *err)
{
	const char *name = aws_read_name(r, "ModelName", true);
	if (aws_reader_error(r, err))
		return -EINVAL;
	const struct config_model *m = config_find_model(api_config(a), name);
	_cleanup_free_ char *arn = api_arn(a, "model", m ? m->name : name);
	if (!m) {
		aws_error_set(err, 400, "ValidationException", "Could not find model \"%s\".", arn);
		return -ENOENT;
	}
	json_t *model = endpoint_model_json(m);
	json_object_update(out, model);
	json_decref(model);
	json_object_set_new(out, "ModelArn", json_string(arn));
	json_object_set_new(out, "CreationTime", aws_time(m->creation_time));
	return 0;
}

/* ListModels. */
int api_op_list_models(struct api *a, struct aws_reader *r, json_t *out,
		       struct aws_error *err)
{
	struct config *c = api_config(a);
	size_t n = c->n_models;
	_cleanup_free_ struct api_item *items = xcalloc(n ? n : 1, sizeof(*items));
	for (size_t i = 0; i < n; i++)
		items[i] = api_named_item(a, "model", "Model", c->models[i].name,
					  c->models[i].creation_time);
	static const struct api_list_spec spec = {.result_key = "Models"};
	return api_list(r, &spec, items, n, out, err);
}
