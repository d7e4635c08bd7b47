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
 *   alarms         Alarms[] in PutMetricAlarm's shape (YAML only: no API
 *                  creates one, so the API's document has none)
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
 *
 * AlarmNames are case-sensitive, as CloudWatch's, and unique across every
 * file.  An alarm is checked on its own (its metric, statistic, periods and
 * dimensions); whether an UpdateEndpoint may name it is the API's business.
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

/* --- alarms --------------------------------------------------------------- */

/* Characters (not bytes) of a UTF-8 string, as CloudWatch counts a name. */
static size_t config_utf8_length(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* No control characters: the text goes into logs and FailureReasons. */
static bool config_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* ExtendedStatistic "p" and a percentile 0-100 with at most 10 decimals
 * ("p99", "p99.9", "p0.0", "p100"); -EINVAL for anything else. */
static int config_parse_percentile(const char *s, double *ret)
{
	const char *p = s + 1;
	size_t ints = 0, decimals = 0;

	if (s[0] != 'p')
		return -EINVAL;
	while (p[ints] >= '0' && p[ints] <= '9')
		ints++;
	if (ints == 0 || ints > 3)
		return -EINVAL;
	if (p[ints] == '.') {
		while (p[ints + 1 + decimals] >= '0' && p[ints + 1 + decimals] <= '9')
			decimals++;
		if (decimals == 0 || decimals > 10)
			return -EINVAL;
		if (p[ints + 1 + decimals] != '\0')
			return -EINVAL;
	} else if (p[ints] != '\0') {
		return -EINVAL;
	}
	double v = strtod(p, NULL);
	if (!(v >= 0 && v <= 100))
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Statistic or ExtendedStatistic: exactly one. */
static int config_parse_alarm_statistic(struct config_loader *ld, const struct cy_node *n,
                                        struct config_alarm *a)
{
	const struct cy_node *stat = cy_map_get(n, "Statistic");
	const struct cy_node *ext = cy_map_get(n, "ExtendedStatistic");
	_cleanup_free_ char *name = NULL;
	int r;

	if (stat != NULL && ext != NULL)
		return cy_fail(&ld->ctx, ext,
		               "give Statistic or ExtendedStatistic in Alarm %s, not both",
		               a->name);
	if (stat == NULL && ext == NULL)
		return cy_fail(&ld->ctx, n,
		               "missing Statistic (SampleCount, Average, Sum, Minimum or Maximum) "
		               "or ExtendedStatistic (p0.0 to p100) in Alarm %s",
		               a->name);
	if (stat != NULL) {
		r = cy_get_string(&ld->ctx, stat, "Statistic", &name);
		if (r < 0)
			return r;
		r = metrics_statistic_from_string(name);
		if (r < 0)
			return cy_fail(
			    &ld->ctx, stat,
			    "unknown Statistic \"%s\": SampleCount, Average, Sum, Minimum "
			    "or Maximum (a percentile is an ExtendedStatistic)",
			    name);
		a->statistic = (enum metrics_statistic)r;
		return 0;
	}
	r = cy_get_string(&ld->ctx, ext, "ExtendedStatistic", &a->extended_statistic);
	if (r < 0)
		return r;
	if (config_parse_percentile(a->extended_statistic, &a->percentile) < 0)
		return cy_fail(&ld->ctx, ext,
		               "unsupported ExtendedStatistic \"%s\": endpointd computes "
		               "percentiles, p0.0 to p100 (such as p99 or p99.9)",
		               a->extended_statistic);
	a->statistic = METRICS_STAT_PERCENTILE;
	return 0;
}

/* Dimensions: a list of {Name, Value}, Name EndpointName or VariantName, each once. */
static int config_parse_alarm_dimensions(struct config_loader *ld, const struct cy_node *n,
                                         struct config_alarm *a)
{
	static const char *const keys[] = {"Name", "Value", NULL};
	int r;

	if (cy_is_null(n))
		return 0;
	r = cy_expect(&ld->ctx, n, CY_SEQUENCE, "Dimensions");
	if (r < 0)
		return r;
	for (size_t i = 0; i < n->n_items; i++) {
		const struct cy_node *item = n->items[i], *name_node, *value_node;
		_cleanup_free_ char *name = NULL, *value = NULL;
		char **slot;

		r = cy_expect(&ld->ctx, item, CY_MAPPING, "Dimension");
		if (r < 0)
			return r;
		r = cy_check_keys(&ld->ctx, item, "Dimension", keys, NULL);
		if (r < 0)
			return r;
		r = cy_required(&ld->ctx, item, "Name", "Dimension", &name_node);
		if (r < 0)
			return r;
		r = cy_get_string(&ld->ctx, name_node, "Dimension Name", &name);
		if (r < 0)
			return r;
		if (strcmp(name, "EndpointName") == 0)
			slot = &a->endpoint_name;
		else if (strcmp(name, "VariantName") == 0)
			slot = &a->variant_name;
		else
			return cy_fail(&ld->ctx, name_node,
			               "unknown Dimension Name \"%s\": endpointd keeps figures by "
			               "EndpointName and VariantName",
			               name);
		if (*slot != NULL)
			return cy_fail(&ld->ctx, name_node,
			               "Dimension %s is given twice in Alarm %s", name, a->name);
		r = cy_required(&ld->ctx, item, "Value", "Dimension", &value_node);
		if (r < 0)
			return r;
		r = cy_get_string(&ld->ctx, value_node, "Dimension Value", &value);
		if (r < 0)
			return r;
		if (!names_valid_resource(value))
			return cy_fail(&ld->ctx, value_node,
			               "invalid %s \"%s\": 1-63 letters, digits and hyphens, "
			               "starting and ending with a letter or digit",
			               name, value);
		*slot = TAKE_PTR(value);
	}
	return 0;
}

/* A name of a list, or -EINVAL with the list in the message. */
static int config_parse_alarm_enum(struct config_loader *ld, const struct cy_node *n,
                                   const char *what, const char *const *names, int *ret)
{
	_cleanup_free_ char *value = NULL;
	struct buf b = {.max = 512};
	int r;

	r = cy_get_string(&ld->ctx, n, what, &value);
	if (r < 0)
		return r;
	for (int i = 0; names[i]; i++)
		if (strcmp(names[i], value) == 0) {
			*ret = i;
			return 0;
		}
	for (int i = 0; names[i]; i++)
		if (buf_printf(&b, "%s%s",
		               i == 0         ? ""
		               : names[i + 1] ? ", "
		                              : " or ",
		               names[i]) < 0)
			break;
	cy_fail(&ld->ctx, n, "unknown %s \"%s\": %s", what, value, b.data);
	buf_reset(&b);
	return -EINVAL;
}

/* One Alarms entry. */
static int config_parse_alarm(struct config_loader *ld, const struct cy_node *n)
{
	static const char *const keys[] = {"AlarmName",
	                                   "AlarmDescription",
	                                   "MetricName",
	                                   "Namespace",
	                                   "Statistic",
	                                   "ExtendedStatistic",
	                                   "Dimensions",
	                                   "Period",
	                                   "EvaluationPeriods",
	                                   "DatapointsToAlarm",
	                                   "Threshold",
	                                   "ComparisonOperator",
	                                   "TreatMissingData",
	                                   "Unit",
	                                   NULL};
	static const char *const actions[] = {"AlarmActions", "OKActions",
	                                      "InsufficientDataActions", "ActionsEnabled", NULL};
	static const char *const unsupported[] = {"Metrics", "ThresholdMetricId",
	                                          "EvaluateLowSampleCountPercentile", "Tags", NULL};
	static const char *const metric_names[] = {"Invocations",
	                                           "Invocation4XXErrors",
	                                           "Invocation5XXErrors",
	                                           "InvocationModelErrors",
	                                           "ModelLatency",
	                                           "OverheadLatency",
	                                           NULL};
	static const char *const comparisons[] = {
	    [CONFIG_ALARM_GREATER_OR_EQUAL] = "GreaterThanOrEqualToThreshold",
	    [CONFIG_ALARM_GREATER] = "GreaterThanThreshold",
	    [CONFIG_ALARM_LESS] = "LessThanThreshold",
	    [CONFIG_ALARM_LESS_OR_EQUAL] = "LessThanOrEqualToThreshold",
	    NULL};
	static const char *const missing[] = {[CONFIG_ALARM_MISSING] = "missing",
	                                      [CONFIG_ALARM_NOT_BREACHING] = "notBreaching",
	                                      [CONFIG_ALARM_BREACHING] = "breaching",
	                                      [CONFIG_ALARM_IGNORE] = "ignore",
	                                      NULL};
	static const char *const units[] = {"Seconds",
	                                    "Microseconds",
	                                    "Milliseconds",
	                                    "Bytes",
	                                    "Kilobytes",
	                                    "Megabytes",
	                                    "Gigabytes",
	                                    "Terabytes",
	                                    "Bits",
	                                    "Kilobits",
	                                    "Megabits",
	                                    "Gigabits",
	                                    "Terabits",
	                                    "Percent",
	                                    "Count",
	                                    "Bytes/Second",
	                                    "Kilobytes/Second",
	                                    "Megabytes/Second",
	                                    "Gigabytes/Second",
	                                    "Terabytes/Second",
	                                    "Bits/Second",
	                                    "Kilobits/Second",
	                                    "Megabits/Second",
	                                    "Gigabits/Second",
	                                    "Terabits/Second",
	                                    "Count/Second",
	                                    "None",
	                                    NULL};
	struct config *c = ld->c;
	struct config_alarm *a;
	const struct cy_node *v, *periods_node;
	size_t index;
	int r, e;

	r = cy_expect(&ld->ctx, n, CY_MAPPING, "Alarm");
	if (r < 0)
		return r;
	for (size_t i = 0; i < cy_map_size(n); i++) {
		const struct cy_node *key = cy_map_key(n, i);

		if (cy_in(actions, key->value))
			return cy_fail(&ld->ctx, key,
			               "%s is not supported by endpointd: its alarms take no "
			               "actions, they roll back an UpdateEndpoint whose "
			               "AutoRollbackConfiguration names them",
			               key->value);
	}
	r = cy_check_keys(&ld->ctx, n, "Alarm", keys, unsupported);
	if (r < 0)
		return r;

	c->alarms = config_grow(c->alarms, &ld->alarms_cap, c->n_alarms, sizeof(*c->alarms));
	index = c->n_alarms++;
	a = &c->alarms[index];
	a->origin = config_origin_of(ld, n);
	a->treat_missing_data = CONFIG_ALARM_MISSING;

	r = cy_required(&ld->ctx, n, "AlarmName", "Alarm", &v);
	if (r < 0)
		return r;
	r = cy_get_string(&ld->ctx, v, "AlarmName", &a->name);
	if (r < 0)
		return r;
	if (a->name[0] == '\0' || config_utf8_length(a->name) > CONFIG_MAX_ALARM_NAME ||
	    !config_printable(a->name))
		return cy_fail(&ld->ctx, v,
		               "invalid AlarmName \"%s\": 1-%u characters, no control characters",
		               a->name, CONFIG_MAX_ALARM_NAME);
	uintptr_t first = (uintptr_t)strmap_get(ld->alarm_index, a->name);
	if (first != 0)
		return cy_fail(&ld->ctx, v, "duplicate AlarmName \"%s\": first defined at %s:%u",
		               a->name, c->alarms[first - 1].origin.file,
		               c->alarms[first - 1].origin.line);
	strmap_put(ld->alarm_index, a->name, (void *)(index + 1));

	if ((v = cy_map_get(n, "AlarmDescription")) != NULL) {
		r = cy_get_string(&ld->ctx, v, "AlarmDescription", &a->description);
		if (r < 0)
			return r;
		if (config_utf8_length(a->description) > CONFIG_MAX_ALARM_DESCRIPTION)
			return cy_fail(&ld->ctx, v, "AlarmDescription is longer than %u characters",
			               CONFIG_MAX_ALARM_DESCRIPTION);
	}

	r = cy_required(&ld->ctx, n, "MetricName", "Alarm", &v);
	if (r < 0)
		return r;
	r = config_parse_alarm_enum(ld, v, "MetricName", metric_names, &e);
	if (r < 0)
		return r;
	a->metric = (enum metrics_metric)e;

	if ((v = cy_map_get(n, "Namespace")) != NULL) {
		_cleanup_free_ char *ns = NULL;

		r = cy_get_string(&ld->ctx, v, "Namespace", &ns);
		if (r < 0)
			return r;
		if (strcmp(ns, "AWS/SageMaker") != 0)
			return cy_fail(&ld->ctx, v,
			               "unknown Namespace \"%s\": endpointd has figures for "
			               "AWS/SageMaker only",
			               ns);
	}

	r = config_parse_alarm_statistic(ld, n, a);
	if (r < 0)
		return r;

	if ((v = cy_map_get(n, "Dimensions")) != NULL) {
		r = config_parse_alarm_dimensions(ld, v, a);
		if (r < 0)
			return r;
	}

	r = cy_required(&ld->ctx, n, "Period", "Alarm", &v);
	if (r < 0)
		return r;
	r = cy_get_uint(&ld->ctx, v, "Period", 1, CONFIG_MAX_ALARM_WINDOW_S * 24, &a->period);
	if (r < 0)
		return r;
	if (a->period != 10 && a->period != 20 && a->period != 30 && a->period % 60 != 0)
		return cy_fail(&ld->ctx, v,
		               "Period must be 10, 20, 30 or a multiple of 60 seconds, not %u",
		               a->period);

	r = cy_required(&ld->ctx, n, "EvaluationPeriods", "Alarm", &periods_node);
	if (r < 0)
		return r;
	r = cy_get_uint(&ld->ctx, periods_node, "EvaluationPeriods", 1, CONFIG_MAX_ALARM_WINDOW_S,
	                &a->evaluation_periods);
	if (r < 0)
		return r;
	if ((uint64_t)a->period * a->evaluation_periods > CONFIG_MAX_ALARM_WINDOW_S)
		return cy_fail(
		    &ld->ctx, periods_node,
		    "Period x EvaluationPeriods is %llu seconds, more than %u: endpointd "
		    "keeps one hour of figures to evaluate alarms on",
		    (unsigned long long)a->period * a->evaluation_periods,
		    CONFIG_MAX_ALARM_WINDOW_S);

	a->datapoints_to_alarm = a->evaluation_periods;
	if ((v = cy_map_get(n, "DatapointsToAlarm")) != NULL) {
		r = cy_get_uint(&ld->ctx, v, "DatapointsToAlarm", 1, CONFIG_MAX_ALARM_WINDOW_S,
		                &a->datapoints_to_alarm);
		if (r < 0)
			return r;
		if (a->datapoints_to_alarm > a->evaluation_periods)
			return cy_fail(
			    &ld->ctx, v,
			    "DatapointsToAlarm (%u) may not be more than EvaluationPeriods "
			    "(%u)",
			    a->datapoints_to_alarm, a->evaluation_periods);
	}

	r = cy_required(&ld->ctx, n, "Threshold", "Alarm", &v);
	if (r < 0)
		return r;
	r = cy_get_number(&ld->ctx, v, "Threshold", &a->threshold);
	if (r < 0)
		return r;

	r = cy_required(&ld->ctx, n, "ComparisonOperator", "Alarm", &v);
	if (r < 0)
		return r;
	r = config_parse_alarm_enum(ld, v, "ComparisonOperator", comparisons, &e);
	if (r < 0)
		return r;
	a->comparison = (enum config_alarm_comparison)e;

	if ((v = cy_map_get(n, "TreatMissingData")) != NULL) {
		r = config_parse_alarm_enum(ld, v, "TreatMissingData", missing, &e);
		if (r < 0)
			return r;
		a->treat_missing_data = (enum config_alarm_missing)e;
	}

	if ((v = cy_map_get(n, "Unit")) != NULL) {
		r = cy_get_string(&ld->ctx, v, "Unit", &a->unit);
		if (r < 0)
			return r;
		if (!cy_in(units, a->unit))
			return cy_fail(&ld->ctx, v,
			               "unknown Unit \"%s\": one of CloudWatch's standard units, "
			               "such as Count, Microseconds or None",
			               a->unit);
	}
	return 0;
}

int config_parse_alarms(struct config_loader *ld, const struct cy_node *n)
{
	int r;

	if (cy_is_null(n))
		return 0;
	r = cy_expect(&ld->ctx, n, CY_SEQUENCE, "Alarms");
	if (r < 0)
		return r;
	for (size_t i = 0; i < n->n_items; i++) {
		r = config_parse_alarm(ld, n->items[i]);
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

	for (size_t i = 0; i < c->n_alarms; i++) {
		struct config_alarm *a = &c->alarms[i];

		free(a->name);
		free(a->description);
		free(a->extended_statistic);
		free(a->endpoint_name);
		free(a->variant_name);
		free(a->unit);
	}
	free(c->alarms);
}

const struct config_alarm *config_find_alarm(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_alarms; i++)
		if (strcmp(c->alarms[i].name, name) == 0)
			return &c->alarms[i];
	return NULL;
}
