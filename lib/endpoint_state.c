/*
 * An endpoint as the journal keeps it.
 *
 * The record holds everything a restart needs to carry on without the YAML:
 * names, ARN, status, times, tags, and per instance slot the generation and
 * the container it was last given (the intent is written before the
 * container is created).  The endpoint's config travels with it as a JSON
 * document in the daemon config's own schema, so that the loader that
 * validates YAML also reads it back: a reload that drops or changes the
 * endpoint config changes nothing for endpoints created from it.
 */
#define _GNU_SOURCE
#include <string.h>

#include "docker.h"
#include "endpoint.h"
#include "util.h"

/* "endpoint/<lower-cased name>". */
char *endpoint_journal_key(const char *name)
{
	_cleanup_free_ char *lc = str_tolower(name);
	return xasprintf("endpoint/%s", lc);
}

/* One model in the API's shape (ModelName, PrimaryContainer or Containers,
 * ExecutionRoleArn, EnableNetworkIsolation), which is also the Models schema
 * of the YAML, with the defaults SageMaker shows (Mode SingleModel,
 * Environment {}, EnableNetworkIsolation false). */
json_t *endpoint_model_json(const struct config_model *m)
{
	json_t *env = json_object();
	for (size_t i = 0; i < m->primary.n_env; i++)
		json_object_set_new(env, m->primary.env[i].name, json_string(m->primary.env[i].value));
	json_t *pc = json_pack("{s:s, s:s, s:o}", "Image", m->primary.image, "Mode", "SingleModel",
			       "Environment", env);
	if (m->primary.model_data_url)
		json_object_set_new(pc, "ModelDataUrl", json_string(m->primary.model_data_url));
	if (m->primary.container_hostname)
		json_object_set_new(pc, "ContainerHostname",
				    json_string(m->primary.container_hostname));
	json_t *o = json_pack("{s:s}", "ModelName", m->name);
	if (m->from_containers)
		json_object_set_new(o, "Containers", json_pack("[o]", pc));
	else
		json_object_set_new(o, "PrimaryContainer", pc);
	if (m->execution_role_arn)
		json_object_set_new(o, "ExecutionRoleArn", json_string(m->execution_role_arn));
	json_object_set_new(o, "EnableNetworkIsolation", json_boolean(m->enable_network_isolation));
	return o;
}

/* One production variant in the API's shape (and the YAML's). */
json_t *endpoint_variant_json(const struct config_variant *v)
{
	json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:f, s:i, s:i}", "VariantName",
			      v->variant_name, "ModelName", v->model_name, "InitialInstanceCount",
			      (int)v->initial_instance_count, "InstanceType", v->instance_type,
			      "InitialVariantWeight", v->initial_weight,
			      "ContainerStartupHealthCheckTimeoutInSeconds", (int)v->startup_timeout_s,
			      "ModelDataDownloadTimeoutInSeconds",
			      (int)v->model_data_download_timeout_s);
	if (v->volume_size_gb)
		json_object_set_new(o, "VolumeSizeInGB", json_integer(v->volume_size_gb));
	if (v->instance_provision_timeout_s)
		json_object_set_new(o, "VariantInstanceProvisionTimeoutInSeconds",
				    json_integer(v->instance_provision_timeout_s));
	if (v->enable_ssm_access_given)
		json_object_set_new(o, "EnableSSMAccess", json_false());
	return o;
}

/* One instance type, in the instance_types schema. */
static json_t *endpoint_state_instance_type(const struct config_instance_type *t)
{
	json_t *o = json_object();
	if (t->cpus > 0)
		json_object_set_new(o, "cpus", json_real(t->cpus));
	if (t->memory > 0)
		json_object_set_new(o, "memory", json_integer((json_int_t)t->memory));
	if (t->gpus > 0)
		json_object_set_new(o, "gpus", json_integer(t->gpus));
	if (t->n_constraints > 0) {
		json_t *c = json_array();
		for (size_t i = 0; i < t->n_constraints; i++)
			json_array_append_new(c, json_string(t->constraints[i]));
		json_object_set_new(o, "constraints", c);
	}
	return o;
}

/* The endpoint config ec, with the models and instance types it uses. */
char *endpoint_config_document(const struct config *c, const struct config_endpoint_config *ec)
{
	json_t *types = json_object(), *models = json_array(), *variants = json_array();
	json_t *seen = json_object();
	for (size_t i = 0; i < ec->n_variants; i++) {
		const struct config_variant *v = &ec->variants[i];
		json_object_set_new(types, v->type->name, endpoint_state_instance_type(v->type));
		if (!json_object_get(seen, v->model->name)) {
			json_object_set_new(seen, v->model->name, json_true());
			json_array_append_new(models, endpoint_model_json(v->model));
		}
		json_array_append_new(variants, endpoint_variant_json(v));
	}
	json_t *doc = json_pack("{s:s, s:s, s:o, s:o, s:[{s:s, s:o}]}", "region", c->region,
				"account_id", c->account_id, "instance_types", types, "Models", models,
				"EndpointConfigs", "EndpointConfigName", ec->name, "ProductionVariants",
				variants);
	char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17));
	json_decref(doc);
	json_decref(seen);
	if (!text)
		abort();
	return text;
}

/* A fleet's variants and instance slots, as the record keeps them. */
static json_t *endpoint_state_variants(const struct fleet *f)
{
	json_t *variants = json_array();
	for (size_t i = 0; i < f->n_variants; i++) {
		const struct variant *v = &f->variants[i];
		json_t *instances = json_array();
		for (size_t j = 0; j < v->n_instances; j++) {
			const struct instance *inst = v->instances[j];
			json_t *o = json_pack("{s:i, s:i}", "slot", (int)inst->slot, "generation",
					      (int)inst->generation);
			if (inst->container_name)
				json_object_set_new(o, "container_name",
						    json_string(inst->container_name));
			if (inst->container_id)
				json_object_set_new(o, "container_id",
						    json_string(inst->container_id));
			json_array_append_new(instances, o);
		}
		json_t *o = json_pack("{s:s, s:o, s:i, s:i, s:f, s:f}", "name", v->name, "instances",
				      instances, "wanted", (int)v->n_wanted, "desired",
				      (int)v->n_desired, "current_weight", v->current_weight,
				      "desired_weight", v->desired_weight);
		if (v->resolved_image) {
			json_object_set_new(o, "resolved_image", json_string(v->resolved_image));
			json_object_set_new(o, "resolution_time", json_real(v->resolution_time));
		}
		json_array_append_new(variants, o);
	}
	return variants;
}

/* A fleet other than the serving one: its config travels with it. */
static json_t *endpoint_state_fleet(const struct fleet *f)
{
	return json_pack("{s:i, s:s, s:s, s:o, s:f}", "fleet_id", (int)f->id, "config_name",
			 f->config_name, "config", f->config_doc, "variants",
			 endpoint_state_variants(f), "retire_at", f->retire_at);
}

/* The record of one endpoint. */
json_t *endpoint_to_json(const struct endpoint *ep)
{
	json_t *tags = json_array();
	for (size_t i = 0; i < ep->tags.n; i++)
		json_array_append_new(tags, json_pack("{s:s, s:s}", "Key", ep->tags.tags[i].key,
						      "Value", ep->tags.tags[i].value));
	const struct fleet *f = ep->fleet;
	json_t *rec = json_pack("{s:i, s:s, s:s, s:s, s:s, s:f, s:f, s:o, s:s, s:o, s:i, s:i}",
				"version", 1, "name", ep->name, "arn", ep->arn, "config_name",
				f->config_name, "status", endpoint_state_to_string(ep->state),
				"creation_time", ep->creation_time, "last_modified_time",
				ep->last_modified_time, "tags", tags, "config", f->config_doc,
				"variants", endpoint_state_variants(f), "fleet_id", (int)f->id,
				"next_fleet_id", (int)ep->next_fleet_id);
	if (ep->failure_reason)
		json_object_set_new(rec, "failure_reason", json_string(ep->failure_reason));
	if (ep->pending) {
		json_object_set_new(rec, "pending", endpoint_state_fleet(ep->pending));
		json_object_set_new(rec, "deploy_state", deploy_state_to_json(&ep->deploy));
	}
	json_t *policy = deploy_policy_to_json(&ep->policy);
	if (policy)
		json_object_set_new(rec, "deploy_policy", policy);
	if (ep->n_retired) {
		json_t *retired = json_array();
		for (size_t k = 0; k < ep->n_retired; k++)
			json_array_append_new(retired, endpoint_state_fleet(ep->retired[k]));
		json_object_set_new(rec, "retired", retired);
	}
	return rec;
}
