/*
 * Unit tests for config_with_api() (a config of the YAML as it was read plus
 * the models and endpoint configs created through the API), the keys that
 * govern what the API may create (allowed_images, limits.max_models,
 * limits.max_endpoint_configs) and the model and variant members that
 * SageMaker's clients send back (Containers, Mode, EnableNetworkIsolation,
 * VolumeSizeInGB, …).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

/* A daemon config with one instance type and a YAML model and config. */
static const char base_yaml[] =
    "instance_types: { ml.m5.large: { cpus: 1 } }\n"
    "allowed_images: [\"registry.local/team-a/*\", \"endpointd-demo-model:*\"]\n"
    "Models:\n"
    "  - ModelName: yaml-model\n"
    "    PrimaryContainer: { Image: registry.local/yaml:1 }\n"
    "EndpointConfigs:\n"
    "  - EndpointConfigName: yaml-config\n"
    "    ProductionVariants:\n"
    "      - { VariantName: v, ModelName: yaml-model, InitialInstanceCount: 1,"
    " InstanceType: ml.m5.large }\n";

/* An API document with one model and one endpoint config using it. */
static const char api_doc[] =
    "{\"Models\": [{\"ModelName\": \"api-model\", \"CreationTime\": 1700000000.5,\n"
    "  \"PrimaryContainer\": {\"Image\": \"endpointd-demo-model:latest\"}}],\n"
    " \"EndpointConfigs\": [{\"EndpointConfigName\": \"api-config\", \"CreationTime\": "
    "1700000001,\n"
    "  \"ProductionVariants\": [{\"VariantName\": \"AllTraffic\", \"ModelName\": \"api-model\",\n"
    "   \"InitialInstanceCount\": 1, \"InstanceType\": \"ml.m5.large\"}]}]}";

static struct config *load_ok(const char *yaml)
{
	struct config *c = NULL;
	char *error = NULL;
	int r = config_load_string("test.yaml", yaml, &c, &error);

	cr_assert_eq(r, 0, "config_load_string failed: %s", error ? error : "(no message)");
	return c;
}

static struct config *with_api_ok(const struct config *base, const char *doc)
{
	struct config *c = NULL;
	char *error = NULL;
	int r = config_with_api(base, doc, &c, &error);

	cr_assert_eq(r, 0, "config_with_api failed: %s", error ? error : "(no message)");
	cr_assert_not_null(c);
	return c;
}

/* The error of a document that must be refused; *ret_config stays NULL. */
static char *with_api_error(const struct config *base, const char *doc)
{
	struct config *c = NULL;
	char *error = NULL;
	int r = config_with_api(base, doc, &c, &error);

	cr_assert_eq(r, -EINVAL, "config_with_api accepted a bad document");
	cr_assert_null(c);
	cr_assert_not_null(error);
	return error;
}

static void assert_contains(const char *s, const char *want)
{
	cr_assert(strstr(s, want) != NULL, "\"%s\" does not contain \"%s\"", s, want);
}

/* The error of YAML that config_load_string must refuse. */
static char *load_error(const char *yaml)
{
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_lt(config_load_string("test.yaml", yaml, &c, &error), 0, "accepted: %s", yaml);
	cr_assert_not_null(error);
	return error;
}

/* A model document of the API with one model of this image. */
static char *api_model(const char *name, const char *image)
{
	return xasprintf("{\"Models\": [{\"ModelName\": \"%s\", \"PrimaryContainer\": "
	                 "{\"Image\": \"%s\"}}]}",
	                 name, image);
}

static char tmpdir[64];

static void make_tmpdir(void)
{
	strcpy(tmpdir, "/tmp/test-config-api-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);

	cr_assert_eq(system(cmd), 0);
	free(cmd);
}

static char *write_file(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
	return path;
}

static struct config *load_file_ok(const char *path)
{
	struct config *c = NULL;
	char *error = NULL;
	int r = config_load(path, &c, &error);

	cr_assert_eq(r, 0, "config_load(%s) failed: %s", path, error ? error : "(no message)");
	return c;
}

/* What the API adds */

Test(config_with_api, adds_the_api_models_and_configs_marked_from_api_with_their_creation_time)
{
	struct config *base = load_ok(base_yaml), *c = with_api_ok(base, api_doc);
	const struct config_model *m = config_find_model(c, "api-model");
	const struct config_endpoint_config *ec = config_find_endpoint_config(c, "API-CONFIG");

	cr_assert_not_null(m);
	cr_assert(m->from_api);
	cr_assert_float_eq(m->creation_time, 1700000000.5, 1e-6);
	cr_assert_str_eq(m->origin.file, "(API)");
	cr_assert_not_null(ec);
	cr_assert(ec->from_api);
	cr_assert_float_eq(ec->creation_time, 1700000001.0, 1e-6);
	cr_assert_eq(ec->variants[0].model, m);
	cr_assert_eq(c->n_models, 2);
	cr_assert_eq(c->n_endpoint_configs, 2);
	config_unref(c);
	config_unref(base);
}

Test(config_with_api, keeps_the_yaml_resources_not_from_api)
{
	struct config *base = load_ok(base_yaml), *c = with_api_ok(base, api_doc);

	cr_assert_not(config_find_model(c, "yaml-model")->from_api);
	cr_assert_not(config_find_endpoint_config(c, "yaml-config")->from_api);
	cr_assert_not(config_find_model(base, "yaml-model")->from_api);
	cr_assert_null(config_find_model(base, "api-model"), "base must stay as it was");
	config_unref(c);
	config_unref(base);
}

Test(config_with_api, api_resource_without_creation_time_is_created_now)
{
	struct config *base = load_ok(base_yaml);
	char *doc = api_model("m", "endpointd-demo-model:1");
	double before = now_realtime();
	struct config *c = with_api_ok(base, doc);

	cr_assert_geq(config_find_model(c, "m")->creation_time, before);
	cr_assert_leq(config_find_model(c, "m")->creation_time, now_realtime());
	config_unref(c);
	config_unref(base);
	free(doc);
}

Test(config_with_api, null_or_empty_document_gives_the_yaml_alone)
{
	struct config *base = load_ok(base_yaml);
	const char *docs[] = {NULL, "", "{}", "{\"Models\": [], \"EndpointConfigs\": []}"};

	for (size_t i = 0; i < ELEMENTSOF(docs); i++) {
		struct config *c = with_api_ok(base, docs[i]);

		cr_assert_eq(c->n_models, 1);
		cr_assert_eq(c->n_endpoint_configs, 1);
		cr_assert_str_eq(c->models[0].name, "yaml-model");
		config_unref(c);
	}
	config_unref(base);
}

Test(config_with_api, api_config_may_use_a_yaml_model_and_yaml_config_an_api_model_is_unknown)
{
	struct config *base = load_ok(base_yaml);
	const char *doc =
	    "{\"EndpointConfigs\": [{\"EndpointConfigName\": \"c2\", \"ProductionVariants\": "
	    "[{\"VariantName\": \"v\", \"ModelName\": \"YAML-MODEL\", \"InitialInstanceCount\": 2, "
	    "\"InstanceType\": \"ml.m5.large\"}]}]}";
	struct config *c = with_api_ok(base, doc);

	cr_assert_eq(config_find_endpoint_config(c, "c2")->variants[0].model,
	             config_find_model(c, "yaml-model"));
	config_unref(c);
	config_unref(base);
}

/* Names taken by both */

Test(config_with_api, api_model_with_a_yaml_models_name_is_refused_at_the_yaml_definition)
{
	struct config *base = load_ok(base_yaml);
	char *doc = api_model("YAML-Model", "endpointd-demo-model:1");
	char *error = with_api_error(base, doc);

	cr_assert_str_eq(error, "test.yaml:4:16: ModelName \"YAML-Model\" is also the name of a "
	                        "model created through the API (names are case-insensitive)");
	free(error);
	free(doc);
	config_unref(base);
}

Test(config_with_api,
     api_endpoint_config_with_a_yaml_configs_name_is_refused_at_the_yaml_definition)
{
	struct config *base = load_ok(base_yaml);
	const char *doc =
	    "{\"EndpointConfigs\": [{\"EndpointConfigName\": \"yaml-config\", "
	    "\"ProductionVariants\": "
	    "[{\"VariantName\": \"v\", \"ModelName\": \"yaml-model\", \"InitialInstanceCount\": 1, "
	    "\"InstanceType\": \"ml.m5.large\"}]}]}";
	char *error = with_api_error(base, doc);

	assert_contains(error,
	                "test.yaml:7:25: EndpointConfigName \"yaml-config\" is also the name "
	                "of an endpoint config created through the API");
	free(error);
	config_unref(base);
}

Test(config_with_api, reload_whose_yaml_shadows_an_api_model_names_the_new_yaml_file_line_column)
{
	make_tmpdir();
	char *path = write_file("endpointd.yaml", "Models:\n"
	                                          "  - ModelName: m\n"
	                                          "    PrimaryContainer: { Image: img:1 }\n");
	struct config *reloaded = load_file_ok(path);
	char *doc = api_model("M", "endpointd-demo-model:1");
	char *want = xasprintf("%s:2:16: ModelName \"M\" is also the name of a model created "
	                       "through the API",
	                       path);
	char *error = with_api_error(reloaded, doc);

	assert_contains(error, want);
	free(error);
	free(want);
	free(doc);
	free(path);
	config_unref(reloaded);
	remove_tmpdir();
}

Test(config_with_api, same_name_twice_in_the_api_document_is_a_duplicate_there)
{
	struct config *base = load_ok(base_yaml);
	const char *doc =
	    "Models:\n"
	    "  - { ModelName: a, PrimaryContainer: { Image: endpointd-demo-model:1 } }\n"
	    "  - { ModelName: A, PrimaryContainer: { Image: endpointd-demo-model:1 } }\n";
	char *error = with_api_error(base, doc);

	assert_contains(error, "(API):3:18: duplicate ModelName \"A\"");
	free(error);
	config_unref(base);
}

/* Errors in the API's document */

Test(config_with_api, errors_in_the_document_are_reported_as_file_api)
{
	struct config *base = load_ok(base_yaml);
	const char *doc = "{\"Models\": [{\"ModelName\": \"m\",\n"
	                  "  \"PrimaryContainer\": {\"Image\": \"endpointd-demo-model:1\", "
	                  "\"Environment\": {\"1BAD\": \"x\"}}}]}";
	char *error = with_api_error(base, doc);

	assert_contains(error, "(API):2:75: invalid Environment variable name \"1BAD\"");
	free(error);
	config_unref(base);
}

Test(config_with_api, document_that_is_not_json_is_refused_as_file_api)
{
	struct config *base = load_ok(base_yaml);
	char *error = with_api_error(base, "{\"Models\": [");

	cr_assert(str_has_prefix(error, "(API):"), "%s", error);
	free(error);
	config_unref(base);
}

Test(config_with_api, document_may_hold_only_models_and_endpoint_configs)
{
	struct config *base = load_ok(base_yaml);
	const char *docs[] = {"{\"region\": \"eu-west-1\"}", "{\"include\": [\"/etc/*\"]}",
	                      "{\"allowed_images\": [\"*\"]}", "[]"};

	for (size_t i = 0; i < ELEMENTSOF(docs); i++) {
		char *error = with_api_error(base, docs[i]);

		assert_contains(error, "(API):1:");
		free(error);
	}
	config_unref(base);
}

Test(config_with_api, api_config_whose_model_is_gone_stays_with_no_model)
{
	/* As on SageMaker, a model may be deleted while a config names it: the
	 * config stays (listed, described), and CreateEndpoint refuses it. */
	struct config *base = load_ok(base_yaml);
	const char *doc =
	    "{\"EndpointConfigs\": [{\"EndpointConfigName\": \"c2\", \"ProductionVariants\": "
	    "[{\"VariantName\": \"v\", \"ModelName\": \"ghost\", \"InitialInstanceCount\": 1, "
	    "\"InstanceType\": \"ml.gone\"}]}]}";
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_eq(config_with_api(base, doc, &c, &error), 0, "%s", error);
	const struct config_endpoint_config *ec = config_find_endpoint_config(c, "c2");
	cr_assert_not_null(ec);
	cr_assert_null(ec->variants[0].model);
	cr_assert_null(ec->variants[0].type);
	cr_assert_str_eq(ec->variants[0].model_name, "ghost");
	config_unref(c);
	config_unref(base);
}

Test(config_with_api, yaml_variant_naming_an_unknown_model_is_still_refused)
{
	char *error = NULL;
	struct config *c = NULL;
	const char *yaml = "instance_types: { ml.m5.large: { cpus: 1 } }\n"
	                   "EndpointConfigs:\n"
	                   "  - EndpointConfigName: c\n"
	                   "    ProductionVariants:\n"
	                   "      - { VariantName: v, ModelName: ghost, InitialInstanceCount: 1,\n"
	                   "          InstanceType: ml.m5.large }\n";
	cr_assert_lt(config_load_string("t.yaml", yaml, &c, &error), 0);
	assert_contains(error, "unknown ModelName \"ghost\"");
	free(error);
}

Test(config_with_api, creation_time_must_be_epoch_seconds)
{
	struct config *base = load_ok(base_yaml);
	const char *docs[] = {
	    "{\"Models\": [{\"ModelName\": \"m\", \"CreationTime\": -1, \"PrimaryContainer\": "
	    "{\"Image\": \"endpointd-demo-model:1\"}}]}",
	    "{\"Models\": [{\"ModelName\": \"m\", \"CreationTime\": \"yesterday\", "
	    "\"PrimaryContainer\": {\"Image\": \"endpointd-demo-model:1\"}}]}",
	};

	for (size_t i = 0; i < ELEMENTSOF(docs); i++) {
		char *error = with_api_error(base, docs[i]);

		assert_contains(error, "(API):1:");
		assert_contains(error, "CreationTime");
		free(error);
	}
	config_unref(base);
}

Test(config_with_api, creation_time_is_refused_in_yaml)
{
	char *error = load_error("Models: [{ ModelName: m, CreationTime: 1, "
	                         "PrimaryContainer: { Image: i } }]\n");

	assert_contains(error, "test.yaml:1:40: CreationTime is set only through the API");
	free(error);
}

/* Replaying the YAML */

Test(config_with_api, replays_the_files_as_they_were_read_not_as_they_are_now)
{
	make_tmpdir();
	char *path = write_file("endpointd.yaml", "region: eu-west-1\n"
	                                          "Models:\n"
	                                          "  - ModelName: m\n"
	                                          "    PrimaryContainer: { Image: img:1 }\n");
	struct config *base = load_file_ok(path), *c;
	double mtime = base->models[0].creation_time;

	free(write_file("endpointd.yaml", "region: [broken\n"));
	c = with_api_ok(base, NULL);
	cr_assert_str_eq(c->region, "eu-west-1");
	cr_assert_str_eq(config_find_model(c, "m")->primary.image, "img:1");
	cr_assert_float_eq(config_find_model(c, "m")->creation_time, mtime, 1e-9);
	cr_assert_str_eq(c->files[0], path);
	config_unref(c);
	config_unref(base);
	free(path);
	remove_tmpdir();
}

Test(config_with_api, replays_includes_in_the_order_they_were_read_without_globbing_again)
{
	make_tmpdir();
	char *main_path = write_file("endpointd.yaml", "include: [conf.d/*.yaml]\n"
	                                               "allowed_images: [\"*\"]\n"
	                                               "instance_types: { ml.m5.large: {} }\n"
	                                               "Models:\n"
	                                               "  - { ModelName: main, PrimaryContainer: "
	                                               "{ Image: img:1 } }\n");
	char *dir = xasprintf("%s/conf.d", tmpdir);
	cr_assert_eq(mkdir(dir, 0755), 0);
	free(write_file("conf.d/a.yaml",
	                "include: [nested.yml]\n"
	                "Models: [{ ModelName: a, PrimaryContainer: { Image: i } }]\n"));
	free(write_file("conf.d/nested.yml",
	                "Models: [{ ModelName: nested, PrimaryContainer: { Image: i } }]\n"));
	free(write_file("conf.d/b.yaml",
	                "Models: [{ ModelName: b, PrimaryContainer: { Image: i } }]\n"));
	struct config *base = load_file_ok(main_path), *c;

	/* A file that the glob would now match, and one it no longer would. */
	free(write_file("conf.d/0-new.yaml",
	                "Models: [{ ModelName: new, PrimaryContainer: { Image: i } }]\n"));
	char *b = xasprintf("%s/conf.d/b.yaml", tmpdir);
	cr_assert_eq(unlink(b), 0);
	c = with_api_ok(base, api_doc);

	const char *order[] = {"main", "a", "nested", "b", "api-model"};
	cr_assert_eq(c->n_models, ELEMENTSOF(order));
	for (size_t i = 0; i < ELEMENTSOF(order); i++)
		cr_assert_str_eq(c->models[i].name, order[i]);
	cr_assert_eq(c->n_files, base->n_files);
	for (size_t i = 0; i < c->n_files; i++) {
		cr_assert_str_eq(c->files[i], base->files[i]);
		cr_assert_eq(c->sources[i].depth, base->sources[i].depth);
	}
	cr_assert_eq(c->sources[2].depth, 2, "nested.yml is included by an included file");
	cr_assert_str_eq(config_find_model(c, "b")->origin.file, b);
	config_unref(c);
	config_unref(base);
	free(b);
	free(dir);
	free(main_path);
	remove_tmpdir();
}

Test(config_with_api, base_from_config_with_api_is_replayed_without_its_api_resources)
{
	struct config *base = load_ok(base_yaml), *first = with_api_ok(base, api_doc);
	char *doc = api_model("other", "endpointd-demo-model:2");
	struct config *second = with_api_ok(first, doc);

	cr_assert_null(config_find_model(second, "api-model"));
	cr_assert_null(config_find_endpoint_config(second, "api-config"));
	cr_assert(config_find_model(second, "other")->from_api);
	cr_assert_not_null(config_find_model(second, "yaml-model"));
	cr_assert_eq(second->n_files, 1);
	config_unref(second);
	config_unref(first);
	config_unref(base);
	free(doc);
}

Test(config_with_api, replay_keeps_the_daemon_keys)
{
	struct config *base = load_ok("region: ap-south-1\n"
	                              "account_id: \"123456789012\"\n"
	                              "limits: { max_models: 7, max_endpoint_configs: 9 }\n"
	                              "listen: [\"127.0.0.1:9000\"]\n"),
	              *c = with_api_ok(base, NULL);

	cr_assert_str_eq(c->region, "ap-south-1");
	cr_assert_str_eq(c->account_id, "123456789012");
	cr_assert_eq(c->max_models, 7);
	cr_assert_eq(c->max_endpoint_configs, 9);
	cr_assert_eq(c->n_listen, 1);
	cr_assert_eq(c->listen[0].port, 9000);
	config_unref(c);
	config_unref(base);
}

/* What an API-created model may run */

Test(config_with_api, api_model_image_must_match_allowed_images)
{
	struct config *base = load_ok(base_yaml);
	char *doc = api_model("m", "registry.local/team-b/x:1");
	char *error = with_api_error(base, doc);

	assert_contains(error, "(API):1:");
	assert_contains(error, "Image \"registry.local/team-b/x:1\" is not allowed for a model "
	                       "created through the API");
	free(error);
	free(doc);
	config_unref(base);
}

Test(config_with_api, no_api_model_is_allowed_without_allowed_images)
{
	struct config *base =
	    load_ok("Models: [{ ModelName: y, PrimaryContainer: { Image: i } }]\n");
	char *doc = api_model("m", "i");
	char *error = with_api_error(base, doc);

	assert_contains(error,
	                "matches none of the daemon config's allowed_images (there are none)");
	free(error);
	free(doc);
	config_unref(base);
}

Test(config_with_api, api_model_data_url_is_checked_even_when_the_yaml_was_not)
{
	struct config *base = load_ok("allowed_images: [\"*\"]\n"
	                              "model_data_roots: [/srv/models]\n"
	                              "Models: [{ ModelName: y, PrimaryContainer: { Image: i, "
	                              "ModelDataUrl: \"file:///etc/yaml-not-checked\" } }]\n");
	const char *bad = "{\"Models\": [{\"ModelName\": \"m\", \"PrimaryContainer\": "
	                  "{\"Image\": \"i\", \"ModelDataUrl\": \"file:///etc/passwd\"}}]}";
	const char *good = "{\"Models\": [{\"ModelName\": \"m\", \"PrimaryContainer\": "
	                   "{\"Image\": \"i\", \"ModelDataUrl\": \"file:///srv/models/m\"}}]}";
	char *error = with_api_error(base, bad);
	struct config *c = with_api_ok(base, good);

	assert_contains(error, "(API):1:");
	assert_contains(error, "ModelDataUrl \"file:///etc/passwd\" is not under any of "
	                       "model_data_roots");
	cr_assert_str_eq(config_find_model(c, "m")->primary.model_data_url, "file:///srv/models/m");
	free(error);
	config_unref(c);
	config_unref(base);
}

Test(config_image_allowed, matches_fnmatch_patterns_anchored_at_both_ends)
{
	struct config *c = load_ok(base_yaml);

	cr_assert(config_image_allowed(c, "registry.local/team-a/resnet:1"));
	cr_assert(config_image_allowed(c, "registry.local/team-a/vision/resnet:1"),
	          "* matches / as well");
	cr_assert(config_image_allowed(c, "endpointd-demo-model:latest"));
	cr_assert_not(config_image_allowed(c, "registry.local/team-b/resnet:1"));
	cr_assert_not(config_image_allowed(c, "evil.example/registry.local/team-a/x"));
	cr_assert_not(config_image_allowed(c, "endpointd-demo-model"));
	cr_assert_not(config_image_allowed(c, "registry.local/yaml:1"),
	              "YAML models' images are not thereby allowed to the API");
	config_unref(c);
}

Test(config_image_allowed, allows_nothing_by_default)
{
	struct config *c = load_ok("");

	cr_assert_eq(c->n_allowed_images, 0);
	cr_assert_not(config_image_allowed(c, "endpointd-demo-model:latest"));
	cr_assert_not(config_image_allowed(c, ""));
	config_unref(c);
}

/* Limits */

Test(config_limits, api_resource_limits_default_to_1000_each)
{
	struct config *c = load_ok("");

	cr_assert_eq(c->max_models, 1000);
	cr_assert_eq(c->max_endpoint_configs, 1000);
	config_unref(c);
}

Test(config_limits, api_resource_limits_accept_1_to_1000000)
{
	struct config *c = load_ok("limits: { max_models: 1, max_endpoint_configs: 1000000 }\n");

	cr_assert_eq(c->max_models, 1);
	cr_assert_eq(c->max_endpoint_configs, 1000000);
	config_unref(c);
	free(load_error("limits: { max_models: 1000001 }\n"));
	free(load_error("limits: { max_endpoint_configs: 0 }\n"));
	free(load_error("limits: { max_models: -1 }\n"));
}

/* Model members */

Test(config_model, containers_list_of_one_is_the_primary_container)
{
	struct config *c = load_ok("Models:\n"
	                           "  - ModelName: m\n"
	                           "    Containers:\n"
	                           "      - { Image: img:1, Environment: { A: b } }\n");
	const struct config_model *m = config_find_model(c, "m");

	cr_assert(m->from_containers);
	cr_assert_str_eq(m->primary.image, "img:1");
	cr_assert_eq(m->primary.n_env, 1);
	config_unref(c);
}

Test(config_model, primary_container_is_not_from_containers)
{
	struct config *c = load_ok("Models: [{ ModelName: m, PrimaryContainer: { Image: i } }]\n");

	cr_assert_not(config_find_model(c, "m")->from_containers);
	config_unref(c);
}

Test(config_model, inference_pipeline_of_two_containers_is_refused_clearly)
{
	char *error = load_error("Models:\n"
	                         "  - ModelName: m\n"
	                         "    Containers: [{ Image: a }, { Image: b }]\n");

	assert_contains(error, "test.yaml:3:32: Containers lists 2 containers: inference pipelines "
	                       "of several containers are not supported by endpointd");
	free(error);
}

Test(config_model, mode_single_model_is_kept_and_absent_mode_is_null)
{
	struct config *c = load_ok("Models:\n"
	                           "  - { ModelName: a, PrimaryContainer: { Image: i, Mode: "
	                           "SingleModel } }\n"
	                           "  - { ModelName: b, PrimaryContainer: { Image: i } }\n");

	cr_assert_str_eq(config_find_model(c, "a")->primary.mode, "SingleModel");
	cr_assert_null(config_find_model(c, "b")->primary.mode);
	config_unref(c);
}

Test(config_model, multi_model_mode_is_refused_clearly)
{
	char *error = load_error("Models: [{ ModelName: m, PrimaryContainer: { Image: i, Mode: "
	                         "MultiModel } }]\n");

	assert_contains(error, "Mode MultiModel is not supported by endpointd");
	free(error);
}

Test(config_model, enable_network_isolation_defaults_to_false_and_is_read)
{
	struct config *c = load_ok("Models:\n"
	                           "  - { ModelName: a, PrimaryContainer: { Image: i } }\n"
	                           "  - { ModelName: b, PrimaryContainer: { Image: i }, "
	                           "EnableNetworkIsolation: true }\n"
	                           "  - { ModelName: c, PrimaryContainer: { Image: i }, "
	                           "EnableNetworkIsolation: false }\n");

	cr_assert_not(config_find_model(c, "a")->enable_network_isolation);
	cr_assert(config_find_model(c, "b")->enable_network_isolation);
	cr_assert_not(config_find_model(c, "c")->enable_network_isolation);
	config_unref(c);
}

Test(config_model, enable_network_isolation_must_be_a_boolean)
{
	char *error = load_error("Models: [{ ModelName: m, PrimaryContainer: { Image: i }, "
	                         "EnableNetworkIsolation: \"true\" }]\n");

	assert_contains(error, "EnableNetworkIsolation must be true or false");
	free(error);
}

Test(config_model, api_model_takes_the_same_members_in_json)
{
	struct config *base = load_ok(base_yaml);
	const char *doc = "{\"Models\": [{\"ModelName\": \"m\", \"EnableNetworkIsolation\": true,\n"
	                  "  \"ExecutionRoleArn\": \"arn:aws:iam::000000000000:role/r\",\n"
	                  "  \"Containers\": [{\"Image\": \"endpointd-demo-model:1\", \"Mode\": "
	                  "\"SingleModel\"}],\n"
	                  "  \"Tags\": [{\"Key\": \"team\", \"Value\": \"a\"}]}]}";
	struct config *c = with_api_ok(base, doc);
	const struct config_model *m = config_find_model(c, "m");

	cr_assert(m->enable_network_isolation);
	cr_assert(m->from_containers);
	cr_assert_str_eq(m->primary.mode, "SingleModel");
	cr_assert_str_eq(m->execution_role_arn, "arn:aws:iam::000000000000:role/r");
	cr_assert_eq(m->n_tags, 1);
	config_unref(c);
	config_unref(base);
}

/* Variant members */

static const char variant_yaml[] =
    "instance_types: { ml.m5.large: { cpus: 1 } }\n"
    "Models: [{ ModelName: m, PrimaryContainer: { Image: i } }]\n"
    "EndpointConfigs:\n"
    "  - EndpointConfigName: c\n"
    "    ProductionVariants:\n"
    "      - { VariantName: a, ModelName: m, InitialInstanceCount: 1, InstanceType: ml.m5.large,"
    " VolumeSizeInGB: 512, VariantInstanceProvisionTimeoutInSeconds: 300,"
    " EnableSSMAccess: false }\n"
    "      - { VariantName: b, ModelName: m, InitialInstanceCount: 1, InstanceType: ml.m5.large,"
    " VolumeSizeInGB: 1 }\n"
    "      - { VariantName: d, ModelName: m, InitialInstanceCount: 1, InstanceType: ml.m5.large "
    "}\n";

Test(config_variant, volume_size_provision_timeout_and_ssm_access_false_are_kept)
{
	struct config *c = load_ok(variant_yaml);
	const struct config_endpoint_config *ec = config_find_endpoint_config(c, "c");

	cr_assert_eq(ec->variants[0].volume_size_gb, 512);
	cr_assert_eq(ec->variants[0].instance_provision_timeout_s, 300);
	cr_assert(ec->variants[0].enable_ssm_access_given);
	cr_assert_eq(ec->variants[1].volume_size_gb, 1);
	cr_assert_not(ec->variants[1].enable_ssm_access_given);
	cr_assert_eq(ec->variants[2].volume_size_gb, 0, "0 = not given");
	cr_assert_eq(ec->variants[2].instance_provision_timeout_s, 0, "0 = not given");
	config_unref(c);
}

Test(config_variant, members_endpointd_cannot_honour_are_refused)
{
	static const char *const members[] = {
	    "ServerlessConfig: { MemorySizeInMB: 1024, MaxConcurrency: 1 }",
	    "AcceleratorType: ml.eia2.medium",
	    "CoreDumpConfig: { DestinationS3Uri: \"s3://b/k\" }",
	    "ManagedInstanceScaling: { Status: ENABLED }",
	    "RoutingConfig: { RoutingStrategy: RANDOM }",
	    "InferenceAmiVersion: al2-ami-sagemaker-inference-gpu-2",
	    "InstancePools: []",
	    "CapacityReservationConfig: {}",
	};

	for (size_t i = 0; i < ELEMENTSOF(members); i++) {
		char *yaml =
		    xasprintf("instance_types: { ml.m5.large: { cpus: 1 } }\n"
		              "Models: [{ ModelName: m, PrimaryContainer: { Image: i } }]\n"
		              "EndpointConfigs:\n"
		              "  - EndpointConfigName: c\n"
		              "    ProductionVariants:\n"
		              "      - { VariantName: a, ModelName: m, "
		              "InitialInstanceCount: 1, InstanceType: ml.m5.large, %s }\n",
		              members[i]);
		char *error = load_error(yaml);

		assert_contains(error, "is not supported by endpointd");
		free(error);
		free(yaml);
	}
}
