/*
 * The model operations: DescribeModel and ListModels, over the models the
 * daemon config defines.
 */
#define _GNU_SOURCE
#include "api_private.h"

#include <errno.h>

#include "config.h"
#include "endpoint.h"

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
