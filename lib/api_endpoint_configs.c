/*
 * The endpoint config operations: CreateEndpointConfig and
 * DeleteEndpointConfig on the configs the API creates (catalog.h),
 * DescribeEndpointConfig and ListEndpointConfigs over those and the ones the
 * daemon config's YAML declares.
 *
 * CreateEndpointConfig takes every member DescribeEndpointConfig answers
 * with (the SageMaker Python SDK feeds one straight back into the other),
 * checks them with SageMaker's shapes and words, and refuses by name what
 * endpointd cannot do.  Its models must exist and its instance types be the
 * daemon config's.
 */
#define _GNU_SOURCE
#include "api_private.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "catalog.h"
#include "config.h"
#include "endpoint.h"
#include "log.h"
#include "names.h"
#include "util.h"

#define API_VARIANT_PATTERN "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
#define API_MAX_VARIANTS 10
#define API_MAX_INSTANCE_COUNT 100

static const struct aws_string_rule api_config_name_rule = {
	.required = true, .max_len = 63, .pattern = API_VARIANT_PATTERN,
	.matches = names_valid_resource};
static const struct aws_string_rule api_variant_name_rule = {
	.required = true, .max_len = 63, .pattern = API_VARIANT_PATTERN,
	.matches = names_valid_resource};
static const struct aws_string_rule api_variant_model_rule = {
	.required = true, .max_len = 63, .pattern = NAMES_MODEL_PATTERN,
	.matches = names_valid_resource};

/* The instance types the daemon config defines, for a message. */
static char *api_known_instance_types(const struct config *c)
{
	struct buf b = {0};
	for (size_t i = 0; i < c->n_instance_types; i++)
		(void)buf_printf(&b, "%s%s", i ? ", " : "", c->instance_types[i].name);
	return b.data ? b.data : xstrdup("none");
}

/* One ProductionVariant, read through vr; its document, or NULL. */
static json_t *api_read_variant(struct api *a, struct aws_reader *vr)
{
	const struct config *c = api_config(a);
	const char *name = aws_read_valid_string(vr, "VariantName", &api_variant_name_rule);
	const char *model = aws_read_valid_string(vr, "ModelName", &api_variant_model_rule);
	const char *type = aws_read_string(vr, "InstanceType");
	long long count = 0, startup = 0, download = 0, volume = 0, provision = 0;
	double weight = 1.0;
	bool ssm = false;
	bool has_count = aws_read_int_in(vr, "InitialInstanceCount", true, 1,
					 API_MAX_INSTANCE_COUNT, &count);
	bool has_weight = aws_read_number_in(vr, "InitialVariantWeight", false, 0, 1e9, &weight);
	bool has_startup = aws_read_int_in(vr, "ContainerStartupHealthCheckTimeoutInSeconds",
					   false, 60, 3600, &startup);
	bool has_download = aws_read_int_in(vr, "ModelDataDownloadTimeoutInSeconds", false, 60,
					    3600, &download);
	bool has_volume = aws_read_int_in(vr, "VolumeSizeInGB", false, 1, 512, &volume);
	bool has_provision = aws_read_int_in(vr, "VariantInstanceProvisionTimeoutInSeconds",
					     false, 300, 3600, &provision);
	bool has_ssm = aws_read_bool(vr, "EnableSSMAccess", &ssm);
	_cleanup_free_ char *type_field = xasprintf("%s.instanceType", vr->path);
	if (!type && !json_object_get(vr->obj, "ServerlessConfig")) {
		aws_reader_invalid(vr, NULL, type_field, "Member must not be null");
	} else if (type && !config_find_instance_type(c, type)) {
		_cleanup_free_ char *known = api_known_instance_types(c);
		_cleanup_free_ char *words = xasprintf(
		    "Member must be an instance type this host defines (instance_types in the "
		    "daemon config): [%s]",
		    known);
		aws_reader_invalid(vr, type, type_field, words);
	}
	if (ssm) {
		_cleanup_free_ char *f = xasprintf("%s.enableSSMAccess", vr->path);
		aws_reader_invalid(vr, "true", f,
				   "Member is not supported by endpointd: there is no SSM agent");
	}
	static const char *const unsupported[][2] = {
	    {"ServerlessConfig", "instances run on this host; give InstanceType"},
	    {"AcceleratorType", "Elastic Inference is not available"},
	    {"CoreDumpConfig", "core dumps stay with the Docker Engine"},
	    {"ManagedInstanceScaling", "instance counts change with UpdateEndpointWeightsAndCapacities"},
	    {"RoutingConfig", "calls go to the instance with the fewest in flight"},
	    {"InferenceAmiVersion", "containers run on this host's own system"},
	    {"InstancePools", "give one InstanceType"},
	    {"CapacityReservationConfig", "capacity is this host's"},
	};
	for (size_t i = 0; i < ELEMENTSOF(unsupported); i++)
		api_unsupported(vr, unsupported[i][0], unsupported[i][1]);
	if (!name || !model || !type || !has_count)
		return NULL;
	json_t *v = json_pack("{s:s, s:s, s:I, s:s}", "VariantName", name, "ModelName", model,
			      "InitialInstanceCount", (json_int_t)count, "InstanceType", type);
	if (has_weight)
		json_object_set_new(v, "InitialVariantWeight", json_real(weight));
	if (has_startup)
		json_object_set_new(v, "ContainerStartupHealthCheckTimeoutInSeconds",
				    json_integer(startup));
	if (has_download)
		json_object_set_new(v, "ModelDataDownloadTimeoutInSeconds", json_integer(download));
	if (has_volume)
		json_object_set_new(v, "VolumeSizeInGB", json_integer(volume));
	if (has_provision)
		json_object_set_new(v, "VariantInstanceProvisionTimeoutInSeconds",
				    json_integer(provision));
	if (has_ssm)
		json_object_set_new(v, "EnableSSMAccess", json_false());
	return v;
}

/* CreateEndpointConfig. */
int api_op_create_endpoint_config(struct api *a, struct aws_reader *r, json_t *out,
				  struct aws_error *err)
{
	if (!a->catalog)
		return api_no_catalog(err);
	const char *name = aws_read_valid_string(r, "EndpointConfigName", &api_config_name_rule);
	_cleanup_free_ struct endpoint_tag *tags = NULL;
	size_t n_tags = api_read_tags(r, "Tags", &tags);
	json_t *list = NULL;
	size_t n = aws_read_list(r, "ProductionVariants", true, 1, API_MAX_VARIANTS, &list);
	static const char *const unsupported[][2] = {
	    {"DataCaptureConfig", "data capture is not available"},
	    {"KmsKeyId", "volumes are this host's"},
	    {"AsyncInferenceConfig", "asynchronous inference is not available"},
	    {"ExplainerConfig", "explainers are not available"},
	    {"ShadowProductionVariants", "shadow variants are not available"},
	    {"VpcConfig", "containers reach this host's networks"},
	    {"MetricsConfig", "metrics are on /metrics"},
	};
	for (size_t i = 0; i < ELEMENTSOF(unsupported); i++)
		api_unsupported(r, unsupported[i][0], unsupported[i][1]);
	bool isolation = false;
	if (aws_read_bool(r, "EnableNetworkIsolation", &isolation) && isolation)
		aws_reader_invalid(r, "true", "enableNetworkIsolation",
				   "Member is not supported by endpointd: set EnableNetworkIsolation "
				   "on the model (CreateModel) instead");
	json_t *variants = json_array();
	for (size_t i = 0; i < n; i++) {
		struct aws_reader vr;
		if (aws_read_list_object(r, list, "ProductionVariants", i, &vr)) {
			json_t *v = api_read_variant(a, &vr);
			if (v)
				json_array_append_new(variants, v);
		}
		aws_reader_clear(&vr);
	}
	if (aws_reader_error(r, err)) {
		json_decref(variants);
		return -EINVAL;
	}
	/* Each variant's name once; each model there (as SageMaker says it). */
	const struct config *c = api_config(a);
	for (size_t i = 0; i < json_array_size(variants); i++) {
		json_t *v = json_array_get(variants, i);
		const char *vn = json_string_value(json_object_get(v, "VariantName"));
		const char *mn = json_string_value(json_object_get(v, "ModelName"));
		for (size_t j = 0; j < i; j++)
			if (strcasecmp(vn, json_string_value(json_object_get(
					       json_array_get(variants, j), "VariantName"))) == 0) {
				aws_error_set(err, 400, "ValidationException",
					      "Endpoint configuration %s has two production variants "
					      "named %s: variant names must be unique.",
					      name, vn);
				json_decref(variants);
				return -EINVAL;
			}
		if (!config_find_model(c, mn)) {
			_cleanup_free_ char *arn = api_arn(a, "model", mn);
			aws_error_set(err, 400, "ValidationException", "Could not find model \"%s\".",
				      arn);
			json_decref(variants);
			return -ENOENT;
		}
	}

	json_t *doc = json_pack("{s:s, s:o}", "EndpointConfigName", name, "ProductionVariants",
				variants);
	if (n_tags)
		json_object_set_new(doc, "Tags", api_tags_list(tags, n_tags));
	_cleanup_free_ char *why = NULL;
	int res = catalog_add_endpoint_config(a->catalog, doc, &why);
	json_decref(doc);
	const struct config_endpoint_config *taken = config_find_endpoint_config(c, name);
	_cleanup_free_ char *arn = api_arn(a, "endpoint-config", taken ? taken->name : name);
	if (res == -EEXIST && taken && !taken->from_api) {
		aws_error_set(err, 400, "ValidationException",
			      "Cannot create already existing endpoint configuration \"%s\". It is "
			      "declared in the daemon config (%s:%u): the API cannot replace it.",
			      arn, taken->origin.file, taken->origin.line);
		return res;
	}
	if (res == -EEXIST) {
		aws_error_set(err, 400, "ValidationException",
			      "Cannot create already existing endpoint configuration \"%s\".", arn);
		return res;
	}
	if (res == -ENOSPC) {
		aws_error_set(err, 400, "ResourceLimitExceeded",
			      "The limit 'max_endpoint_configs' is %u, with current utilization of "
			      "%zu and a request delta of 1. Raise limits.max_endpoint_configs in "
			      "the daemon config to allow more.",
			      c->max_endpoint_configs, catalog_endpoint_configs(a->catalog));
		return res;
	}
	if (res < 0) {
		aws_error_set(err, 400, "ValidationException",
			      "Cannot create endpoint configuration \"%s\": %s", arn,
			      why ? why : strerror(-res));
		return res;
	}
	api_catalog_changed(a);
	log_notice("endpoint config %s: created through the API", name);
	json_object_set_new(out, "EndpointConfigArn", json_string(arn));
	return 0;
}

/* DeleteEndpointConfig: an endpoint made from it keeps its own copy. */
int api_op_delete_endpoint_config(struct api *a, struct aws_reader *r, json_t *out,
				  struct aws_error *err)
{
	const char *name = aws_read_valid_string(r, "EndpointConfigName", &api_config_name_rule);
	if (aws_reader_error(r, err))
		return -EINVAL;
	const struct config_endpoint_config *ec = config_find_endpoint_config(api_config(a), name);
	_cleanup_free_ char *arn = api_arn(a, "endpoint-config", ec ? ec->name : name);
	if (!ec) {
		aws_error_set(err, 400, "ValidationException",
			      "Could not find endpoint configuration \"%s\".", arn);
		return -ENOENT;
	}
	if (!ec->from_api || !a->catalog) {
		aws_error_set(err, 400, "ValidationException",
			      "Endpoint configuration \"%s\" is declared in the daemon config "
			      "(%s:%u): only the operator can remove it, from the YAML.",
			      arn, ec->origin.file, ec->origin.line);
		return -EPERM;
	}
	int res = catalog_delete_endpoint_config(a->catalog, name);
	if (res < 0) {
		aws_error_set(err, 500, "InternalFailure",
			      "Cannot delete endpoint configuration \"%s\": %s", arn, strerror(-res));
		return res;
	}
	api_catalog_changed(a);
	api_forget_tags(a, arn);
	log_notice("endpoint config %s: deleted through the API", name);
	return 0;
}

/* DescribeEndpointConfig. */
int api_op_describe_endpoint_config(struct api *a, struct aws_reader *r, json_t *out,
				    struct aws_error *err)
{
	const char *name = aws_read_name(r, "EndpointConfigName", true);
	if (aws_reader_error(r, err))
		return -EINVAL;
	const struct config_endpoint_config *ec = config_find_endpoint_config(api_config(a), name);
	_cleanup_free_ char *arn = api_arn(a, "endpoint-config", ec ? ec->name : name);
	if (!ec) {
		aws_error_set(err, 400, "ValidationException",
			      "Could not find endpoint configuration \"%s\".", arn);
		return -ENOENT;
	}
	json_t *pvs = json_array();
	for (size_t i = 0; i < ec->n_variants; i++)
		json_array_append_new(pvs, endpoint_variant_json(&ec->variants[i]));
	json_object_set_new(out, "EndpointConfigName", json_string(ec->name));
	json_object_set_new(out, "EndpointConfigArn", json_string(arn));
	json_object_set_new(out, "ProductionVariants", pvs);
	json_object_set_new(out, "CreationTime", aws_time(ec->creation_time));
	return 0;
}

/* ListEndpointConfigs. */
int api_op_list_endpoint_configs(struct api *a, struct aws_reader *r, json_t *out,
				 struct aws_error *err)
{
	struct config *c = api_config(a);
	size_t n = c->n_endpoint_configs;
	_cleanup_free_ struct api_item *items = xcalloc(n ? n : 1, sizeof(*items));
	for (size_t i = 0; i < n; i++)
		items[i] = api_named_item(a, "endpoint-config", "EndpointConfig",
					  c->endpoint_configs[i].name,
					  c->endpoint_configs[i].creation_time);
	static const struct api_list_spec spec = {.result_key = "EndpointConfigs"};
	return api_list(r, &spec, items, n, out, err);
}
