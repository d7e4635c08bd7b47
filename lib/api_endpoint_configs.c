/*
 * The endpoint config operations: DescribeEndpointConfig and
 * ListEndpointConfigs, over the endpoint configs the daemon config defines.
 */
#define _GNU_SOURCE
#include "api_private.h"

#include <errno.h>

#include "config.h"

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
	for (size_t i = 0; i < ec->n_variants; i++) {
		const struct config_variant *v = &ec->variants[i];
		json_array_append_new(
			pvs, json_pack("{s:s, s:s, s:i, s:s, s:f, s:i, s:i}", "VariantName",
				       v->variant_name, "ModelName", v->model_name,
				       "InitialInstanceCount", (int)v->initial_instance_count,
				       "InstanceType", v->instance_type, "InitialVariantWeight",
				       v->initial_weight,
				       "ContainerStartupHealthCheckTimeoutInSeconds",
				       (int)v->startup_timeout_s, "ModelDataDownloadTimeoutInSeconds",
				       (int)v->model_data_download_timeout_s));
	}
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
