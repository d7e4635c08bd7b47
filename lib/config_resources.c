/*
 * The model and endpoint-config documents of the daemon config: Models[]
 * (PrimaryContainer or a Containers list of one, Environment, Tags) and
 * EndpointConfigs[] (their ProductionVariants), in the API's own PascalCase
 * member names, wherever they are written: in a YAML file, or in the API's
 * document of what CreateModel and CreateEndpointConfig made (ld->api; see
 * config_with_api()).  lib/config.c reads the files and calls in here for
 * the two lists of each; the loader state is in config_private.h.
 *
 * Map of this file:
 *   models         Models[] and their containers, Environment, Tags,
 *                  CreationTime (the API's only)
 *   configs        EndpointConfigs[] and their ProductionVariants
 *   resolving      each variant's ModelName and InstanceType, once every
 *                  file is read
 *   freeing        what a struct config holds of both
 *
 * Names are claimed case-insensitively as they are read, so the second
 * definition of a name is the one refused, with where the first one is.
 * The API's document is read after every YAML file, so a name both define
 * is refused at the YAML's definition.  What the API creates must also run
 * an image of allowed_images and take model data from where model_data_roots
 * and model_data_urls allow, whatever the YAML was checked against.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_private.h"
#include "names.h"
#include "util.h"

/* --- models --------------------------------------------------------------- */

static void config_tags_free(struct config_tag *tags, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(tags[i].key);
		free(tags[i].value);
	}
	free(tags);
}

/* A Tags list of {Key, Value}, as the API takes it. */
static int config_parse_tags(struct config_loader *ld, const struct cy_node *n,
                             struct config_tag **tags, size_t *n_tags)
{
	static const char *const keys[] = {"Key", "Value", NULL};
	int r;

	if (cy_is_null(n))
		return 0;
	r = cy_expect(&ld->ctx, n, CY_SEQUENCE, "Tags");
	if (r < 0)
		return r;
	if (n->n_items > NAMES_MAX_TAGS)
		return cy_fail(&ld->ctx, n, "more than %u Tags", NAMES_MAX_TAGS);
	*tags = xcalloc(n->n_items ? n->n_items : 1, sizeof(**tags));

	for (size_t i = 0; i < n->n_items; i++) {
		const struct cy_node *item = n->items[i], *key, *value;
		struct config_tag *t = &(*tags)[i];

		r = cy_expect(&ld->ctx, item, CY_MAPPING, "Tag");
		if (r < 0)
			return r;
		r = cy_check_keys(&ld->ctx, item, "Tag", keys, NULL);
		if (r < 0)
			return r;
		r = cy_required(&ld->ctx, item, "Key", "Tag", &key);
		if (r < 0)
			return r;
		r = cy_get_string(&ld->ctx, key, "Tag Key", &t->key);
		if (r < 0)
			return r;
		(*n_tags)++;
		t->value = xstrdup("");
		if ((value = cy_map_get(item, "Value")) != NULL) {
			r = cy_get_string(&ld->ctx, value, "Tag Value", &t->value);
			if (r < 0)
				return r;
		}
		if (!names_valid_tag_key(t->key))
			return cy_fail(&ld->ctx, key,
			               "invalid tag key \"%s\": 1-128 letters, digits, spaces "
			               "and _.:/=+-@",
			               t->key);
		if (str_has_prefix(t->key, "aws:"))
			return cy_fail(&ld->ctx, key,
			               "tag keys starting with \"aws:\" are reserved");
		if (!names_valid_tag_value(t->value))
			return cy_fail(&ld->ctx, value,
			               "invalid tag value \"%s\": 0-256 letters, digits, spaces "
			               "and _.:/=+-@",
			               t->value);
		for (size_t j = 0; j < i; j++)
			if (strcmp((*tags)[j].key, t->key) == 0)
				return cy_fail(&ld->ctx, key, "duplicate tag key \"%s\"", t->key);
	}
	return 0;
}

/* [a-zA-Z_][a-zA-Z0-9_]*, at most 1024 characters. */
static bool config_valid_env_name(const char *s)
{
	return strlen(s) <= CONFIG_MAX_ENV_LEN && names_valid_env_key(s);
}

static int config_parse_environment(struct config_loader *ld, const struct cy_node *n,
                                    struct config_container *ct)
{
	int r;

	if (cy_is_null(n))
		return 0;
	r = cy_expect(&ld->ctx, n, CY_MAPPING, "Environment");
	if (r < 0)
		return r;
	if (cy_map_size(n) > CONFIG_MAX_ENV)
		return cy_fail(&ld->ctx, n, "more than %u Environment variables", CONFIG_MAX_ENV);
	ct->env = xcalloc(cy_map_size(n) ? cy_map_size(n) : 1, sizeof(*ct->env));

	for (size_t i = 0; i < cy_map_size(n); i++) {
		const struct cy_node *key = cy_map_key(n, i), *value = cy_map_value(n, i);
		struct config_env *e = &ct->env[ct->n_env];

		if (!config_valid_env_name(key->value))
			return cy_fail(&ld->ctx, key,
			               "invalid Environment variable name \"%s\": use at most "
			               "%u letters, digits and '_', not starting with a digit",
			               key->value, CONFIG_MAX_ENV_LEN);
		e->name = xstrdup(key->value);
		ct->n_env++;
		r = cy_get_string(&ld->ctx, value, "Environment value", &e->value);
		if (r < 0)
			return r;
		if (strlen(e->value) > CONFIG_MAX_ENV_LEN)
			return cy_fail(&ld->ctx, value, "Environment value of %s is longer than %u",
			               e->name, CONFIG_MAX_ENV_LEN);
	}
	return 0;
}

/* file:///abs, /abs, http:// or https://: what modeldata.c can fetch. */
static bool config_valid_model_data_url(const char *s)
{
	if (str_has_prefix(s, "file://"))
		return s[strlen("file://")] == '/';
	if (str_has_prefix(s, "http://"))
		return s[strlen("http://")] != '\0';
	if (str_has_prefix(s, "https://"))
		return s[strlen("https://")] != '\0';
	return config_is_abs_path(s);
}

/* A container definition (PrimaryContainer, or the one of Containers, as
 * "what" says): the image, its model data and environment. */
static int config_parse_container(struct config_loader *ld, const struct cy_node *n,
                                  const char *what, struct config_container *ct)
{
	static const char *const keys[] = {
	    "Image", "ModelDataUrl", "Environment", "ContainerHostname", "Mode", NULL};
	static const char *const unsupported[] = {"ImageConfig",
	                                          "ModelPackageName",
	                                          "InferenceSpecificationName",
	                                          "MultiModelConfig",
	                                          "ModelDataSource",
	                                          "AdditionalModelDataSources",
	                                          "ContainerMetricsConfig",
	                                          NULL};
	const struct cy_node *v;
	int r;

	r = cy_expect(&ld->ctx, n, CY_MAPPING, what);
	if (r < 0)
		return r;
	r = cy_check_keys(&ld->ctx, n, what, keys, unsupported);
	if (r < 0)
		return r;

	r = cy_required(&ld->ctx, n, "Image", what, &v);
	if (r < 0)
		return r;
	r = cy_get_string(&ld->ctx, v, "Image", &ct->image);
	if (r < 0)
		return r;
	for (const char *p = ct->image; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return cy_fail(&ld->ctx, v, "Image \"%s\" may not contain spaces",
			               ct->image);
	if (ct->image[0] == '\0' || strlen(ct->image) > CONFIG_MAX_IMAGE_LEN)
		return cy_fail(&ld->ctx, v, "Image must be 1-%u characters", CONFIG_MAX_IMAGE_LEN);
	/* The operator wrote the YAML's images; the API's must be allowed. */
	if (ld->api && !config_image_allowed(ld->c, ct->image))
		return cy_fail(&ld->ctx, v,
		               "Image \"%s\" is not allowed for a model created through the API: "
		               "it matches none of the daemon config's allowed_images%s",
		               ct->image, ld->c->n_allowed_images ? "" : " (there are none)");

	if ((v = cy_map_get(n, "ModelDataUrl")) != NULL) {
		r = cy_get_string(&ld->ctx, v, "ModelDataUrl", &ct->model_data_url);
		if (r < 0)
			return r;
		if (strlen(ct->model_data_url) > CONFIG_MAX_URL_LEN)
			return cy_fail(&ld->ctx, v, "ModelDataUrl is longer than %u",
			               CONFIG_MAX_URL_LEN);
		if (!config_valid_model_data_url(ct->model_data_url))
			return cy_fail(&ld->ctx, v,
			               "unsupported ModelDataUrl \"%s\": use file:///path, "
			               "/path, http://… or https://…",
			               ct->model_data_url);
		r = config_check_model_data_at(ld, v, ct->model_data_url);
		if (r < 0)
			return r;
	}
	if ((v = cy_map_get(n, "Environment")) != NULL) {
		r = config_parse_environment(ld, v, ct);
		if (r < 0)
			return r;
	}
	if ((v = cy_map_get(n, "ContainerHostname")) != NULL) {
		r = cy_get_string(&ld->ctx, v, "ContainerHostname", &ct->container_hostname);
		if (r < 0)
			return r;
		if (!names_valid_resource(ct->container_hostname))
			return cy_fail(&ld->ctx, v,
			               "invalid ContainerHostname \"%s\": 1-63 letters, digits "
			               "and hyphens, starting and ending with a letter or digit",
			               ct->container_hostname);
	}
	if ((v = cy_map_get(n, "Mode")) != NULL) {
		r = cy_expect(&ld->ctx, v, CY_SCALAR, "Mode");
		if (r < 0)
			return r;
		if (strcmp(v->value, "MultiModel") == 0)
			return cy_fail(&ld->ctx, v,
			               "Mode MultiModel is not supported by endpointd: a container "
			               "serves one model (Mode SingleModel)");
		if (strcmp(v->value, "SingleModel") != 0)
			return cy_fail(&ld->ctx, v,
			               "invalid Mode \"%s\": SingleModel (or MultiModel, which "
			               "endpointd does not support)",
			               v->value);
		ct->mode = xstrdup(v->value);
	}
	return 0;
}

/* Checks a resource name's syntax and that no other definition has it. */
static int config_claim_name(struct config_loader *ld, struct strmap *index,
                             const struct cy_node *n, const char *field, const char *kind,
                             const char *name)
{
	_cleanup_free_ char *lower = NULL;
	const struct config_origin *first;
	struct config_origin *o;

	if (!names_valid_resource(name))
		return cy_fail(&ld->ctx, n,
		               "invalid %s \"%s\": 1-63 letters, digits and hyphens, starting "
		               "and ending with a letter or digit",
		               field, name);
	lower = str_tolower(name);
	first = strmap_get(index, lower);
	/* The API's document is read last: the first is in YAML.  Said at the
	 * YAML's spot, so that a reload that would shadow an API resource
	 * points at the line to change. */
	if (first != NULL && ld->api && strcmp(first->file, CONFIG_API_FILE) != 0)
		return config_fail_at(ld, first,
		                      "%s \"%s\" is also the name of %s created through the API "
		                      "(names are case-insensitive)",
		                      field, name, kind);
	if (first != NULL)
		return cy_fail(&ld->ctx, n,
		               "duplicate %s \"%s\" (names are case-insensitive): first "
		               "defined at %s:%u",
		               field, name, first->file, first->line);
	o = xmalloc(sizeof(*o));
	*o = config_origin_of(ld, n);
	strmap_put(index, lower, o);
	return 0;
}

/* A resource's CreationTime (mapping n's): the API's document says when it
 * was created; a YAML one was created when its file was written. */
static int config_parse_creation_time(struct config_loader *ld, const struct cy_node *n,
                                      double *ret)
{
	const struct cy_node *v = cy_map_get(n, "CreationTime");
	int r;

	*ret = ld->mtime;
	if (v == NULL)
		return 0;
	if (!ld->api)
		return cy_fail(&ld->ctx, v,
		               "CreationTime is set only through the API (in YAML it is the "
		               "file's modification time)");
	r = cy_get_number(&ld->ctx, v, "CreationTime", ret);
	if (r < 0)
		return r;
	if (!(*ret >= 0 && *ret < 1e11))
		return cy_fail(&ld->ctx, v, "CreationTime must be epoch seconds, not %s", v->value);
	return 0;
}

/* Containers, which endpointd takes only as a list of one: the primary. */
static int config_parse_containers(struct config_loader *ld, const struct cy_node *n,
                                   struct config_model *m)
{
	int r = cy_expect(&ld->ctx, n, CY_SEQUENCE, "Containers");

	if (r < 0)
		return r;
	if (n->n_items == 0)
		return cy_fail(&ld->ctx, n, "Containers must list one container");
	if (n->n_items > 1)
		return cy_fail(&ld->ctx, n->items[1],
		               "Containers lists %zu containers: inference pipelines of several "
		               "containers are not supported by endpointd (list one, or use "
		               "PrimaryContainer)",
		               n->n_items);
	m->from_containers = true;
	return config_parse_container(ld, n->items[0], "Containers entry", &m->primary);
}

/* One Models entry. */
static int config_parse_model(struct config_loader *ld, const struct cy_node *n)
{
	static const char *const keys[] = {"ModelName",
	                                   "PrimaryContainer",
	                                   "Containers",
	                                   "ExecutionRoleArn",
	                                   "EnableNetworkIsolation",
	                                   "Tags",
	                                   "CreationTime",
	                                   NULL};
	static const char *const unsupported[] = {"InferenceExecutionConfig", "VpcConfig",
	                                          "DeploymentRecommendation", NULL};
	const struct cy_node *containers;
	struct config *c = ld->c;
	struct config_model *m;
	const struct cy_node *v;
	int r;

	r = cy_expect(&ld->ctx, n, CY_MAPPING, "Model");
	if (r < 0)
		return r;
	r = cy_check_keys(&ld->ctx, n, "Model", keys, unsupported);
	if (r < 0)
		return r;

	c->models = config_grow(c->models, &ld->models_cap, c->n_models, sizeof(*c->models));
	m = &c->models[c->n_models++];
	m->origin = config_origin_of(ld, n);
	m->from_api = ld->api;
	r = config_parse_creation_time(ld, n, &m->creation_time);
	if (r < 0)
		return r;

	r = cy_required(&ld->ctx, n, "ModelName", "Model", &v);
	if (r < 0)
		return r;
	r = cy_get_string(&ld->ctx, v, "ModelName", &m->name);
	if (r < 0)
		return r;
	r = config_claim_name(ld, ld->model_index, v, "ModelName", "a model", m->name);
	if (r < 0)
		return r;

	containers = cy_map_get(n, "Containers");
	if (containers != NULL && cy_map_get(n, "PrimaryContainer") != NULL)
		return cy_fail(&ld->ctx, containers,
		               "give PrimaryContainer or Containers in Model %s, not both",
		               m->name);
	if (containers != NULL) {
		r = config_parse_containers(ld, containers, m);
	} else {
		r = cy_required(&ld->ctx, n, "PrimaryContainer", "Model", &v);
		if (r < 0)
			return r;
		r = config_parse_container(ld, v, "PrimaryContainer", &m->primary);
	}
	if (r < 0)
		return r;

	if ((v = cy_map_get(n, "EnableNetworkIsolation")) != NULL) {
		r = cy_get_bool(&ld->ctx, v, "EnableNetworkIsolation",
		                &m->enable_network_isolation);
		if (r < 0)
			return r;
	}

	if ((v = cy_map_get(n, "ExecutionRoleArn")) != NULL) {
		r = cy_get_string(&ld->ctx, v, "ExecutionRoleArn", &m->execution_role_arn);
		if (r < 0)
			return r;
		if (!str_has_prefix(m->execution_role_arn, "arn:") ||
		    strlen(m->execution_role_arn) > NAMES_ARN_MAX)
			return cy_fail(&ld->ctx, v, "invalid ExecutionRoleArn \"%s\"",
			               m->execution_role_arn);
	}
	if ((v = cy_map_get(n, "Tags")) != NULL)
		return config_parse_tags(ld, v, &m->tags, &m->n_tags);
	return 0;
}

int config_parse_models(struct config_loader *ld, const struct cy_node *n)
{
	int r;

	if (cy_is_null(n))
		return 0;
	r = cy_expect(&ld->ctx, n, CY_SEQUENCE, "Models");
	if (r < 0)
		return r;
	for (size_t i = 0; i < n->n_items; i++) {
		r = config_parse_model(ld, n->items[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* --- endpoint configs ----------------------------------------------------- */

static int config_parse_variant(struct config_loader *ld, const struct cy_node *n,
                                struct config_endpoint_config *ec, size_t config_index)
{
	static const char *const keys[] = {"VariantName",
	                                   "ModelName",
	                                   "InitialInstanceCount",
	                                   "InstanceType",
	                                   "InitialVariantWeight",
	                                   "ContainerStartupHealthCheckTimeoutInSeconds",
	                                   "ModelDataDownloadTimeoutInSeconds",
	                                   "VolumeSizeInGB",
	                                   "VariantInstanceProvisionTimeoutInSeconds",
	                                   "EnableSSMAccess",
	                                   NULL};
	static const char *const unsupported[] = {"ServerlessConfig",
	                                          "AcceleratorType",
	                                          "CoreDumpConfig",
	                                          "ManagedInstanceScaling",
	                                          "RoutingConfig",
	                                          "InferenceAmiVersion",
	                                          "InstancePools",
	                                          "CapacityReservationConfig",
	                                          NULL};
	struct config_variant *var;
	struct config_pending_ref *ref;
	const struct cy_node *v;
	int r;

	r = cy_expect(&ld->ctx, n, CY_MAPPING, "ProductionVariant");
	if (r < 0)
		return r;
	r = cy_check_keys(&ld->ctx, n, "ProductionVariant", keys, unsupported);
	if (r < 0)
		return r;

	var = &ec->variants[ec->n_variants++];
	var->origin = config_origin_of(ld, n);
	var->initial_weight = 1.0;
	var->startup_timeout_s = CONFIG_DEFAULT_STARTUP_TIMEOUT_S;
	var->model_data_download_timeout_s = CONFIG_DEFAULT_DOWNLOAD_TIMEOUT_S;

	r = cy_required(&ld->ctx, n, "VariantName", "ProductionVariant", &v);
	if (r < 0)
		return r;
	r = cy_get_string(&ld->ctx, v, "VariantName", &var->variant_name);
	if (r < 0)
		return r;
	if (!names_valid_resource(var->variant_name))
		return cy_fail(&ld->ctx, v,
		               "invalid VariantName \"%s\": 1-63 letters, digits and hyphens, "
		               "starting and ending with a letter or digit",
		               var->variant_name);
	for (size_t i = 0; i + 1 < ec->n_variants; i++)
		if (strcasecmp(ec->variants[i].variant_name, var->variant_name) == 0)
			return cy_fail(&ld->ctx, v,
			               "duplicate VariantName \"%s\" in endpoint config %s "
			               "(first at line %u)",
			               var->variant_name, ec->name, ec->variants[i].origin.line);

	ld->refs = config_grow(ld->refs, &ld->refs_cap, ld->n_refs, sizeof(*ld->refs));
	ref = &ld->refs[ld->n_refs];
	ref->config_index = config_index;
	ref->variant_index = ec->n_variants - 1;

	r = cy_required(&ld->ctx, n, "ModelName", "ProductionVariant", &v);
	if (r < 0)
		return r;
	r = cy_get_string(&ld->ctx, v, "ModelName", &var->model_name);
	if (r < 0)
		return r;
	if (!names_valid_resource(var->model_name))
		return cy_fail(&ld->ctx, v, "invalid ModelName \"%s\"", var->model_name);
	ref->model_at = config_origin_of(ld, v);

	r = cy_required(&ld->ctx, n, "InitialInstanceCount", "ProductionVariant", &v);
	if (r < 0)
		return r;
	r = cy_get_uint(&ld->ctx, v, "InitialInstanceCount", 1, CONFIG_MAX_INSTANCE_COUNT,
	                &var->initial_instance_count);
	if (r < 0)
		return r;

	r = cy_required(&ld->ctx, n, "InstanceType", "ProductionVariant", &v);
	if (r < 0)
		return r;
	r = cy_get_string(&ld->ctx, v, "InstanceType", &var->instance_type);
	if (r < 0)
		return r;
	ref->type_at = config_origin_of(ld, v);
	ld->n_refs++;

	if ((v = cy_map_get(n, "InitialVariantWeight")) != NULL) {
		r = cy_get_number(&ld->ctx, v, "InitialVariantWeight", &var->initial_weight);
		if (r < 0)
			return r;
		if (var->initial_weight < 0)
			return cy_fail(&ld->ctx, v,
			               "InitialVariantWeight must be 0 or more, not %s", v->value);
	}
	if ((v = cy_map_get(n, "ContainerStartupHealthCheckTimeoutInSeconds")) != NULL) {
		r = cy_get_uint(&ld->ctx, v, "ContainerStartupHealthCheckTimeoutInSeconds",
		                CONFIG_MIN_STARTUP_TIMEOUT_S, CONFIG_MAX_STARTUP_TIMEOUT_S,
		                &var->startup_timeout_s);
		if (r < 0)
			return r;
	}
	if ((v = cy_map_get(n, "ModelDataDownloadTimeoutInSeconds")) != NULL) {
		r = cy_get_uint(&ld->ctx, v, "ModelDataDownloadTimeoutInSeconds",
		                CONFIG_MIN_STARTUP_TIMEOUT_S, CONFIG_MAX_STARTUP_TIMEOUT_S,
		                &var->model_data_download_timeout_s);
		if (r < 0)
			return r;
	}
	if ((v = cy_map_get(n, "VolumeSizeInGB")) != NULL) {
		r = cy_get_uint(&ld->ctx, v, "VolumeSizeInGB", CONFIG_MIN_VOLUME_SIZE_GB,
		                CONFIG_MAX_VOLUME_SIZE_GB, &var->volume_size_gb);
		if (r < 0)
			return r;
	}
	if ((v = cy_map_get(n, "VariantInstanceProvisionTimeoutInSeconds")) != NULL) {
		r = cy_get_uint(&ld->ctx, v, "VariantInstanceProvisionTimeoutInSeconds",
		                CONFIG_MIN_PROVISION_TIMEOUT_S, CONFIG_MAX_PROVISION_TIMEOUT_S,
		                &var->instance_provision_timeout_s);
		if (r < 0)
			return r;
	}
	if ((v = cy_map_get(n, "EnableSSMAccess")) != NULL) {
		bool ssm;

		r = cy_get_bool(&ld->ctx, v, "EnableSSMAccess", &ssm);
		if (r < 0)
			return r;
		if (ssm)
			return cy_fail(
			    &ld->ctx, v,
			    "EnableSSMAccess true is not supported by endpointd: there is "
			    "no SSM agent to reach the containers");
		var->enable_ssm_access_given = true;
	}
	return 0;
}

/* One EndpointConfigs entry; references are checked in config_resolve(). */
static int config_parse_endpoint_config(struct config_loader *ld, const struct cy_node *n)
{
	static const char *const keys[] = {"EndpointConfigName", "ProductionVariants", "Tags",
	                                   "CreationTime", NULL};
	static const char *const unsupported[] = {"DataCaptureConfig",
	                                          "KmsKeyId",
	                                          "AsyncInferenceConfig",
	                                          "ExplainerConfig",
	                                          "ShadowProductionVariants",
	                                          "ExecutionRoleArn",
	                                          "VpcConfig",
	                                          "EnableNetworkIsolation",
	                                          NULL};
	struct config *c = ld->c;
	struct config_endpoint_config *ec;
	const struct cy_node *v;
	size_t index;
	int r;

	r = cy_expect(&ld->ctx, n, CY_MAPPING, "EndpointConfig");
	if (r < 0)
		return r;
	r = cy_check_keys(&ld->ctx, n, "EndpointConfig", keys, unsupported);
	if (r < 0)
		return r;

	c->endpoint_configs = config_grow(c->endpoint_configs, &ld->configs_cap,
	                                  c->n_endpoint_configs, sizeof(*c->endpoint_configs));
	index = c->n_endpoint_configs++;
	ec = &c->endpoint_configs[index];
	ec->origin = config_origin_of(ld, n);
	ec->from_api = ld->api;
	r = config_parse_creation_time(ld, n, &ec->creation_time);
	if (r < 0)
		return r;

	r = cy_required(&ld->ctx, n, "EndpointConfigName", "EndpointConfig", &v);
	if (r < 0)
		return r;
	r = cy_get_string(&ld->ctx, v, "EndpointConfigName", &ec->name);
	if (r < 0)
		return r;
	r = config_claim_name(ld, ld->config_index, v, "EndpointConfigName", "an endpoint config",
	                      ec->name);
	if (r < 0)
		return r;

	r = cy_required(&ld->ctx, n, "ProductionVariants", "EndpointConfig", &v);
	if (r < 0)
		return r;
	r = cy_expect(&ld->ctx, v, CY_SEQUENCE, "ProductionVariants");
	if (r < 0)
		return r;
	if (v->n_items == 0 || v->n_items > CONFIG_MAX_VARIANTS)
		return cy_fail(&ld->ctx, v,
		               "ProductionVariants must list 1 to %u variants, not %zu",
		               CONFIG_MAX_VARIANTS, v->n_items);
	ec->variants = xcalloc(v->n_items, sizeof(*ec->variants));
	for (size_t i = 0; i < v->n_items; i++) {
		r = config_parse_variant(ld, v->items[i], ec, index);
		if (r < 0)
			return r;
	}

	if ((v = cy_map_get(n, "Tags")) != NULL)
		return config_parse_tags(ld, v, &ec->tags, &ec->n_tags);
	return 0;
}

int config_parse_endpoint_configs(struct config_loader *ld, const struct cy_node *n)
{
	int r;

	if (cy_is_null(n))
		return 0;
	r = cy_expect(&ld->ctx, n, CY_SEQUENCE, "EndpointConfigs");
	if (r < 0)
		return r;
	for (size_t i = 0; i < n->n_items; i++) {
		r = config_parse_endpoint_config(ld, n->items[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* --- resolving ------------------------------------------------------------ */

/* Names the instance types that do exist, which is usually the fix. */
static int config_unknown_instance_type(struct config_loader *ld,
                                        const struct config_pending_ref *ref, const char *name)
{
	const struct config *c = ld->c;
	struct buf b = {.max = 512};

	if (c->n_instance_types == 0)
		return config_fail_at(ld, &ref->type_at,
		                      "unknown InstanceType \"%s\": the daemon config defines no "
		                      "instance_types",
		                      name);
	for (size_t i = 0; i < c->n_instance_types; i++)
		if (buf_printf(&b, "%s%s", i ? ", " : "", c->instance_types[i].name) < 0)
			break;
	config_fail_at(ld, &ref->type_at, "unknown InstanceType \"%s\" (instance_types defines %s)",
	               name, b.data);
	buf_reset(&b);
	return -EINVAL;
}

/* Points every variant at its model and instance type; the arrays are final now. */
int config_resolve(struct config_loader *ld)
{
	struct config *c = ld->c;

	for (size_t i = 0; i < ld->n_refs; i++) {
		const struct config_pending_ref *ref = &ld->refs[i];
		struct config_variant *v =
		    &c->endpoint_configs[ref->config_index].variants[ref->variant_index];

		/* A config created through the API outlives what it names, as on
		 * SageMaker: its model may be deleted, an instance type taken
		 * out of the daemon config by a reload.  It stays, listed and
		 * described; CreateEndpoint refuses it. */
		bool dangling_ok = c->endpoint_configs[ref->config_index].from_api;
		v->model = config_find_model(c, v->model_name);
		if (v->model == NULL && !dangling_ok)
			return config_fail_at(ld, &ref->model_at,
			                      "unknown ModelName \"%s\": no model of that name is "
			                      "defined",
			                      v->model_name);
		v->type = config_find_instance_type(c, v->instance_type);
		if (v->type == NULL && !dangling_ok)
			return config_unknown_instance_type(ld, ref, v->instance_type);
	}
	return 0;
}

/* --- freeing -------------------------------------------------------------- */

void config_resources_free(struct config *c)
{
	for (size_t i = 0; i < c->n_models; i++) {
		struct config_model *m = &c->models[i];

		free(m->name);
		free(m->primary.image);
		free(m->primary.model_data_url);
		for (size_t j = 0; j < m->primary.n_env; j++) {
			free(m->primary.env[j].name);
			free(m->primary.env[j].value);
		}
		free(m->primary.env);
		free(m->primary.container_hostname);
		free(m->primary.mode);
		free(m->execution_role_arn);
		config_tags_free(m->tags, m->n_tags);
	}
	free(c->models);

	for (size_t i = 0; i < c->n_endpoint_configs; i++) {
		struct config_endpoint_config *ec = &c->endpoint_configs[i];

		free(ec->name);
		for (size_t j = 0; j < ec->n_variants; j++) {
			free(ec->variants[j].variant_name);
			free(ec->variants[j].model_name);
			free(ec->variants[j].instance_type);
		}
		free(ec->variants);
		config_tags_free(ec->tags, ec->n_tags);
	}
	free(c->endpoint_configs);
}

/* Placeholder until Alarms are read. */
const struct config_alarm *config_find_alarm(const struct config *c, const char *name)
{
	return NULL;
}
