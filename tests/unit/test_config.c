/*
 * Unit tests for lib/config.c.  Good files live in tests/data/yaml/good/;
 * every .yaml file in tests/data/yaml/bad/ is refused, and its first line says how:
 *
 *   # expect: LINE:COLUMN: message
 *
 * meaning the error contains "<that file>:LINE:COLUMN: message".  An expect
 * that starts with "inc/x.yaml:" names a file (relative to bad/) that the
 * case includes, and "{dir}" stands for the bad/ directory.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

#define GOOD_DIR TEST_DATA_DIR "/yaml/good"
#define BAD_DIR TEST_DATA_DIR "/yaml/bad"
#define CONF_DIR TEST_DATA_DIR "/../../conf"

static struct config *load_ok(const char *yaml)
{
	struct config *c = NULL;
	char *error = NULL;
	int r = config_load_string("test.yaml", yaml, &c, &error);

	cr_assert_eq(r, 0, "config_load_string failed: %s", error ? error : "(no message)");
	cr_assert_not_null(c);
	return c;
}

static struct config *load_file_ok(const char *path)
{
	struct config *c = NULL;
	char *error = NULL;
	int r = config_load(path, &c, &error);

	cr_assert_eq(r, 0, "config_load(%s) failed: %s", path, error ? error : "(no message)");
	return c;
}

/* The error message of a string that must be refused. */
static char *load_error(const char *yaml)
{
	struct config *c = NULL;
	char *error = NULL;
	int r = config_load_string("test.yaml", yaml, &c, &error);

	cr_assert_lt(r, 0, "config_load_string accepted a bad config");
	cr_assert_null(c);
	cr_assert_not_null(error);
	return error;
}

static void assert_error_contains(const char *yaml, const char *expected)
{
	char *error = load_error(yaml);

	cr_assert(strstr(error, expected) != NULL, "error \"%s\" does not contain \"%s\"", error,
	          expected);
	free(error);
}

static const char model_and_type[] = "instance_types:\n"
                                     "  ml.m5.large: { cpus: 2, memory: 8GiB }\n"
                                     "Models:\n"
                                     "  - ModelName: m\n"
                                     "    PrimaryContainer: { Image: img:1 }\n";

/* Defaults */

Test(config, empty_string_gives_defaults)
{
	struct config *c = load_ok("");

	cr_assert_eq(c->n_listen, 1);
	cr_assert_str_eq(c->listen[0].host, "127.0.0.1");
	cr_assert_eq(c->listen[0].port, 8780);
	cr_assert_null(c->listen[0].unix_path);
	cr_assert_str_eq(c->state_dir, "/var/lib/endpointd");
	cr_assert_str_eq(c->region, "us-east-1");
	cr_assert_str_eq(c->account_id, "000000000000");
	cr_assert_eq(c->max_endpoints, CONFIG_DEFAULT_MAX_ENDPOINTS);
	cr_assert_eq(c->max_instances, 256);
	cr_assert_eq(c->orphan_grace_s, CONFIG_DEFAULT_ORPHAN_GRACE_S);
	cr_assert_eq(c->invocation_timeout_s, CONFIG_DEFAULT_INVOCATION_TIMEOUT_S);
	cr_assert_eq(c->n_instance_types, 0);
	cr_assert_eq(c->n_models, 0);
	cr_assert_eq(c->n_endpoint_configs, 0);
	config_unref(c);
}

Test(config, client_limits_have_their_defaults)
{
	struct config *c = load_ok("");

	cr_assert_eq(c->max_connections, 4096);
	cr_assert_eq(c->max_buffered_bytes, UINT64_C(512) * 1024 * 1024);
	cr_assert_eq(c->max_inflight_invocations, 1024);
	cr_assert_eq(c->max_inflight_per_endpoint, 256);
	cr_assert_eq(c->request_timeout_s, 10);
	cr_assert_eq(c->body_timeout_s, 10);
	cr_assert_eq(c->idle_timeout_s, 60);
	cr_assert_eq(c->write_timeout_s, 30);
	cr_assert_eq(c->drain_timeout_s, 20);
	config_unref(c);
}

Test(config, client_limits_are_read)
{
	struct config *c = load_ok("limits: { max_connections: 50, max_buffered_bytes: 2MiB,\n"
	                           "  max_inflight_invocations: 3, max_inflight_per_endpoint: 2,\n"
	                           "  request_timeout_s: 1, body_timeout_s: 2, idle_timeout_s: 3,\n"
	                           "  write_timeout_s: 4, drain_timeout_s: 5 }\n");

	cr_assert_eq(c->max_connections, 50);
	cr_assert_eq(c->max_buffered_bytes, 2 * 1024 * 1024);
	cr_assert_eq(c->max_inflight_invocations, 3);
	cr_assert_eq(c->max_inflight_per_endpoint, 2);
	cr_assert_eq(c->request_timeout_s, 1);
	cr_assert_eq(c->body_timeout_s, 2);
	cr_assert_eq(c->idle_timeout_s, 3);
	cr_assert_eq(c->write_timeout_s, 4);
	cr_assert_eq(c->drain_timeout_s, 5);
	config_unref(c);
}

Test(config, max_buffered_bytes_may_be_plain_bytes)
{
	struct config *c = load_ok("limits: { max_buffered_bytes: 1048576 }\n");

	cr_assert_eq(c->max_buffered_bytes, 1048576);
	config_unref(c);
}

Test(config, shipped_example_states_the_client_limits_defaults)
{
	struct config *c = load_file_ok(CONF_DIR "/endpointd.yaml");

	cr_assert_eq(c->max_connections, CONFIG_DEFAULT_MAX_CONNECTIONS);
	cr_assert_eq(c->max_buffered_bytes, CONFIG_DEFAULT_MAX_BUFFERED_BYTES);
	cr_assert_eq(c->max_inflight_invocations, CONFIG_DEFAULT_MAX_INFLIGHT_INVOCATIONS);
	cr_assert_eq(c->max_inflight_per_endpoint, CONFIG_DEFAULT_MAX_INFLIGHT_PER_ENDPOINT);
	cr_assert_eq(c->request_timeout_s, CONFIG_DEFAULT_REQUEST_TIMEOUT_S);
	cr_assert_eq(c->body_timeout_s, CONFIG_DEFAULT_BODY_TIMEOUT_S);
	cr_assert_eq(c->idle_timeout_s, CONFIG_DEFAULT_IDLE_TIMEOUT_S);
	cr_assert_eq(c->write_timeout_s, CONFIG_DEFAULT_WRITE_TIMEOUT_S);
	config_unref(c);
}

Test(config, default_docker_socket_is_var_run_docker_sock)
{
	struct config *c;

	unsetenv("DOCKER_HOST");
	c = load_ok("");
	cr_assert_str_eq(c->docker_socket, "/var/run/docker.sock");
	config_unref(c);
}

Test(config, empty_file_gives_defaults)
{
	struct config *c = load_file_ok(GOOD_DIR "/empty.yaml");

	cr_assert_eq(c->n_listen, 1);
	cr_assert_eq(c->n_files, 1);
	cr_assert_str_eq(c->files[0], GOOD_DIR "/empty.yaml");
	config_unref(c);
}

Test(config, file_of_only_comments_gives_defaults)
{
	struct config *c = load_file_ok(GOOD_DIR "/comments-only.yaml");

	cr_assert_eq(c->listen[0].port, 8780);
	config_unref(c);
}

Test(config, sections_left_empty_mean_none)
{
	struct config *c = load_file_ok(GOOD_DIR "/empty-sections.yaml");

	cr_assert_eq(c->n_models, 0);
	cr_assert_eq(c->n_files, 1);
	config_unref(c);
}

Test(config, explicit_document_marker_alone_gives_defaults)
{
	struct config *c = load_ok("---\n");

	cr_assert_str_eq(c->region, "us-east-1");
	config_unref(c);
}

Test(config, variant_defaults_weight_and_timeouts)
{
	struct config *c =
	    load_ok("instance_types: { small: {} }\n"
	            "Models: [{ ModelName: m, PrimaryContainer: { Image: i } }]\n"
	            "EndpointConfigs:\n"
	            "  - EndpointConfigName: c\n"
	            "    ProductionVariants:\n"
	            "      - { VariantName: v, ModelName: m, InitialInstanceCount: 1,"
	            " InstanceType: small }\n");
	const struct config_variant *v = &c->endpoint_configs[0].variants[0];

	cr_assert_float_eq(v->initial_weight, 1.0, 1e-9);
	cr_assert_eq(v->startup_timeout_s, 240);
	cr_assert_eq(v->model_data_download_timeout_s, 1200);
	config_unref(c);
}

/* A full daemon config */

Test(config, full_file_parses_listen_addresses)
{
	struct config *c = load_file_ok(GOOD_DIR "/full.yaml");

	cr_assert_eq(c->n_listen, 3);
	cr_assert_str_eq(c->listen[0].host, "0.0.0.0");
	cr_assert_eq(c->listen[0].port, 9000);
	cr_assert_str_eq(c->listen[1].host, "::1");
	cr_assert_eq(c->listen[1].port, 8781);
	cr_assert_null(c->listen[2].host);
	cr_assert_str_eq(c->listen[2].unix_path, "/run/endpointd/api.sock");
	config_unref(c);
}

Test(config, listen_entry_may_carry_tls_with_its_files_and_origin)
{
	struct config *c = load_ok("listen:\n"
	                           "  - 127.0.0.1:8780\n"
	                           "  - { address: \"127.0.0.1:8443\",\n"
	                           "      tls: { certificate: /etc/e/tls.crt, key: /etc/e/tls.key } }\n"
	                           "  - address: \"[::1]:8781\"\n");

	cr_assert_eq(c->n_listen, 3);
	cr_assert_null(c->listen[0].tls);
	cr_assert_str_eq(c->listen[0].address, "127.0.0.1:8780");
	cr_assert_str_eq(c->listen[1].host, "127.0.0.1");
	cr_assert_eq(c->listen[1].port, 8443);
	cr_assert_str_eq(c->listen[1].address, "127.0.0.1:8443");
	cr_assert_not_null(c->listen[1].tls);
	cr_assert_str_eq(c->listen[1].tls->certificate, "/etc/e/tls.crt");
	cr_assert_str_eq(c->listen[1].tls->key, "/etc/e/tls.key");
	cr_assert_str_eq(c->listen[1].tls->origin.file, "test.yaml");
	cr_assert_eq(c->listen[1].tls->origin.line, 4);
	cr_assert_eq(c->listen[1].tls->origin.column, 12);
	cr_assert_str_eq(c->listen[2].host, "::1");
	cr_assert_null(c->listen[2].tls);
	config_unref(c);
}

Test(config, listen_tls_files_are_not_read_by_the_loader)
{
	/* Neither file exists: the daemon reads them when it listens. */
	struct config *c = load_ok("listen:\n"
	                           "  - address: \"127.0.0.1:8443\"\n"
	                           "    tls: { certificate: /nonexistent/a.crt, key: /nonexistent/a.key }\n");

	cr_assert_str_eq(c->listen[0].tls->certificate, "/nonexistent/a.crt");
	config_unref(c);
}

Test(config, orphan_grace_s_sets_how_old_an_orphan_container_must_be)
{
	struct config *c = load_ok("orphan_grace_s: 2\n");

	cr_assert_eq(c->orphan_grace_s, 2);
	config_unref(c);
}

Test(config, invocation_timeout_s_bounds_how_long_an_invocation_waits)
{
	struct config *c = load_ok("invocation_timeout_s: 2\n");

	cr_assert_eq(c->invocation_timeout_s, 2);
	config_unref(c);
}

Test(config, stream_timeouts_bound_the_gap_between_pieces_and_the_whole_stream)
{
	struct config *c = load_ok("stream_idle_timeout_s: 3\nstream_timeout_s: 90\n");

	cr_assert_eq(c->stream_idle_timeout_s, 3);
	cr_assert_eq(c->stream_timeout_s, 90);
	config_unref(c);
}

Test(config, stream_timeouts_default_to_a_minute_between_pieces_and_ten_in_all)
{
	struct config *c = load_ok("region: us-east-1\n");

	cr_assert_eq(c->stream_idle_timeout_s, CONFIG_DEFAULT_STREAM_IDLE_TIMEOUT_S);
	cr_assert_eq(c->stream_timeout_s, CONFIG_DEFAULT_STREAM_TIMEOUT_S);
	config_unref(c);
}

Test(config, full_file_parses_daemon_scalars)
{
	struct config *c = load_file_ok(GOOD_DIR "/full.yaml");

	cr_assert_str_eq(c->state_dir, "/srv/endpointd");
	cr_assert_str_eq(c->region, "eu-west-1");
	cr_assert_str_eq(c->account_id, "012345678901");
	cr_assert_eq(c->max_endpoints, 7);
	cr_assert_eq(c->max_instances, 30);
	cr_assert(c->allow_remote_without_auth);
	cr_assert_not(c->metrics_open);
	config_unref(c);
}

Test(config, docker_mode_is_engine_unless_swarm_is_asked_for)
{
	struct config *c = load_file_ok(GOOD_DIR "/full.yaml");

	cr_assert_eq(c->docker_mode, CONFIG_DOCKER_ENGINE);
	config_unref(c);
	c = load_file_ok(GOOD_DIR "/swarm.yaml");
	cr_assert_eq(c->docker_mode, CONFIG_DOCKER_SWARM);
	cr_assert_str_eq(c->docker_socket, "/run/docker.sock");
	config_unref(c);
}

Test(config, instance_types_carry_their_placement_constraints)
{
	struct config *c = load_file_ok(GOOD_DIR "/swarm.yaml");
	const struct config_instance_type *g = config_find_instance_type(c, "ml.g5.xlarge");
	const struct config_instance_type *m = config_find_instance_type(c, "ml.m5.large");
	const struct config_instance_type *t = config_find_instance_type(c, "ml.t2.medium");

	cr_assert_eq(g->n_constraints, 2);
	cr_assert_str_eq(g->constraints[0], "node.labels.gpu==h100");
	cr_assert_str_eq(g->constraints[1], "node.platform.arch == x86_64");
	cr_assert_eq(g->gpus, 1);
	cr_assert_eq(m->n_constraints, 1);
	cr_assert_str_eq(m->constraints[0], "node.role!=manager");
	cr_assert_eq(t->n_constraints, 0);
	config_unref(c);
}

Test(config, full_file_parses_docker_socket)
{
	struct config *c;

	unsetenv("DOCKER_HOST");
	c = load_file_ok(GOOD_DIR "/full.yaml");
	cr_assert_str_eq(c->docker_socket, "/run/user/1000/docker.sock");
	config_unref(c);
}

Test(config, full_file_parses_instance_types)
{
	struct config *c = load_file_ok(GOOD_DIR "/full.yaml");
	const struct config_instance_type *t;

	cr_assert_eq(c->n_instance_types, 4);
	t = config_find_instance_type(c, "ml.t2.medium");
	cr_assert_not_null(t);
	cr_assert_float_eq(t->cpus, 1.5, 1e-9);
	cr_assert_eq(t->memory, UINT64_C(512) << 20);
	cr_assert_eq(t->gpus, 0);
	t = config_find_instance_type(c, "ml.g5.xlarge");
	cr_assert_eq(t->memory, UINT64_C(16) << 30);
	cr_assert_eq(t->gpus, 1);
	cr_assert_eq(t->origin.line, 13);
	cr_assert_eq(t->origin.column, 3);
	config_unref(c);
}

Test(config, instance_type_without_limits_has_zero_cpus_and_memory)
{
	struct config *c = load_file_ok(GOOD_DIR "/full.yaml");
	const struct config_instance_type *t = config_find_instance_type(c, "ml.unlimited");

	cr_assert_not_null(t);
	cr_assert_eq(t->cpus, 0);
	cr_assert_eq(t->memory, 0);
	config_unref(c);
}

Test(config, full_file_parses_model_container)
{
	struct config *c = load_file_ok(GOOD_DIR "/full.yaml");
	const struct config_model *m = config_find_model(c, "resnet50");

	cr_assert_not_null(m);
	cr_assert_str_eq(m->primary.image, "registry.local/resnet:1.2");
	cr_assert_str_eq(m->primary.model_data_url, "file:///srv/models/resnet50.tar.gz");
	cr_assert_str_eq(m->primary.container_hostname, "resnet");
	cr_assert_str_eq(m->execution_role_arn, "arn:aws:iam::012345678901:role/SageMaker");
	cr_assert_eq(m->origin.line, 17);
	config_unref(c);
}

Test(config, environment_values_are_strings_even_when_written_as_numbers)
{
	struct config *c = load_file_ok(GOOD_DIR "/full.yaml");
	const struct config_model *m = config_find_model(c, "resnet50");

	cr_assert_eq(m->primary.n_env, 2);
	cr_assert_str_eq(m->primary.env[0].name, "OMP_NUM_THREADS");
	cr_assert_str_eq(m->primary.env[0].value, "4");
	cr_assert_str_eq(m->primary.env[1].name, "_DEBUG");
	cr_assert_str_eq(m->primary.env[1].value, "1");
	config_unref(c);
}

Test(config, tags_parse_with_utf8_keys_and_default_empty_value)
{
	struct config *c = load_file_ok(GOOD_DIR "/full.yaml");
	const struct config_model *m = config_find_model(c, "resnet50");

	cr_assert_eq(m->n_tags, 2);
	cr_assert_str_eq(m->tags[0].key, "team");
	cr_assert_str_eq(m->tags[0].value, "vision");
	cr_assert_str_eq(m->tags[1].key, "\xc3\xa9quipe");
	cr_assert_str_eq(m->tags[1].value, "");
	config_unref(c);
}

Test(config, full_file_parses_variants)
{
	struct config *c = load_file_ok(GOOD_DIR "/full.yaml");
	const struct config_endpoint_config *ec = config_find_endpoint_config(c, "resnet-config");
	const struct config_variant *v;

	cr_assert_not_null(ec);
	cr_assert_eq(ec->n_variants, 2);
	v = &ec->variants[0];
	cr_assert_str_eq(v->variant_name, "AllTraffic");
	cr_assert_eq(v->initial_instance_count, 2);
	cr_assert_float_eq(v->initial_weight, 0.5, 1e-9);
	cr_assert_eq(v->startup_timeout_s, 600);
	cr_assert_eq(v->model_data_download_timeout_s, 60);
	cr_assert_eq(ec->n_tags, 1);
	config_unref(c);
}

Test(config, variant_model_resolves_case_insensitively)
{
	struct config *c = load_file_ok(GOOD_DIR "/full.yaml");
	const struct config_variant *v = &c->endpoint_configs[0].variants[0];

	cr_assert_str_eq(v->model_name, "ResNet50");
	cr_assert_eq(v->model, config_find_model(c, "resnet50"));
	config_unref(c);
}

Test(config, variant_instance_type_resolves_to_its_definition)
{
	struct config *c = load_file_ok(GOOD_DIR "/full.yaml");
	const struct config_variant *v = &c->endpoint_configs[0].variants[1];

	cr_assert_eq(v->type, config_find_instance_type(c, "ml.t2.medium"));
	config_unref(c);
}

Test(config, creation_time_is_the_defining_files_mtime)
{
	struct config *c = load_file_ok(GOOD_DIR "/full.yaml");
	struct stat st;

	cr_assert_eq(stat(GOOD_DIR "/full.yaml", &st), 0);
	cr_assert_float_eq(c->models[0].creation_time,
	                   (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9, 1e-6);
	cr_assert_float_eq(c->endpoint_configs[0].creation_time, c->models[0].creation_time, 1e-9);
	config_unref(c);
}

Test(config, origins_point_at_the_main_file)
{
	struct config *c = load_file_ok(GOOD_DIR "/full.yaml");

	cr_assert_str_eq(c->endpoint_configs[0].origin.file, GOOD_DIR "/full.yaml");
	cr_assert_eq(c->endpoint_configs[0].variants[1].origin.line, 41);
	config_unref(c);
}

Test(config, find_lookups_ignore_case)
{
	struct config *c = load_file_ok(GOOD_DIR "/full.yaml");

	cr_assert_not_null(config_find_model(c, "ECHO"));
	cr_assert_not_null(config_find_endpoint_config(c, "Resnet-Config"));
	cr_assert_null(config_find_model(c, "nope"));
	config_unref(c);
}

/* The shipped example */

Test(config, shipped_example_config_loads)
{
	struct config *c;

	unsetenv("DOCKER_HOST");
	c = load_file_ok(CONF_DIR "/endpointd.yaml");
	cr_assert_eq(c->listen[0].port, 8780);
	cr_assert_str_eq(c->account_id, "000000000000");
	cr_assert_str_eq(c->docker_socket, "/var/run/docker.sock");
	cr_assert_eq(c->n_instance_types, 3);
	config_unref(c);
}

Test(config, shipped_example_takes_model_data_from_srv_models_only)
{
	struct config *c = load_file_ok(CONF_DIR "/endpointd.yaml");

	cr_assert_eq(c->model_data.n_roots, 1);
	cr_assert_str_eq(c->model_data.roots[0], "/srv/models");
	cr_assert_eq(c->model_data.n_url_prefixes, 0);
	cr_assert_eq(c->model_data.cache_max_bytes, UINT64_C(20) << 30);
	config_unref(c);
}

Test(config, shipped_example_includes_the_demo_endpoint_config)
{
	struct config *c = load_file_ok(CONF_DIR "/endpointd.yaml");
	const struct config_endpoint_config *ec = config_find_endpoint_config(c, "demo-config");

	cr_assert_not_null(ec);
	cr_assert_eq(ec->n_variants, 1);
	cr_assert_str_eq(ec->variants[0].variant_name, "AllTraffic");
	cr_assert_eq(ec->variants[0].initial_instance_count, 1);
	cr_assert_str_eq(ec->variants[0].type->name, "ml.t2.medium");
	cr_assert_str_eq(ec->variants[0].model->primary.image, "endpointd-demo-model:latest");
	cr_assert_null(ec->variants[0].model->primary.model_data_url);
	config_unref(c);
}

/* Includes */

Test(config, include_globs_are_relative_to_the_including_file)
{
	struct config *c = load_file_ok(GOOD_DIR "/main.yaml");

	cr_assert_not_null(config_find_model(c, "included-a"));
	cr_assert_not_null(config_find_endpoint_config(c, "config-b"));
	cr_assert_not_null(config_find_model(c, "shared"));
	config_unref(c);
}

Test(config, included_files_are_listed_after_the_main_file_and_read_once)
{
	struct config *c = load_file_ok(GOOD_DIR "/main.yaml");

	cr_assert_eq(c->n_files, 4);
	cr_assert_str_eq(c->files[0], GOOD_DIR "/main.yaml");
	cr_assert_str_eq(c->files[1], GOOD_DIR "/conf.d/a.yaml");
	cr_assert_str_eq(c->files[2], GOOD_DIR "/conf.d/b.yaml");
	cr_assert_str_eq(c->files[3], GOOD_DIR "/conf.d/../more/shared.yaml");
	config_unref(c);
}

Test(config, main_file_definitions_come_before_included_ones)
{
	struct config *c = load_file_ok(GOOD_DIR "/main.yaml");

	cr_assert_str_eq(c->models[0].name, "main-model");
	cr_assert_str_eq(c->models[1].name, "included-a");
	config_unref(c);
}

Test(config, variant_may_use_a_model_from_another_file)
{
	struct config *c = load_file_ok(GOOD_DIR "/main.yaml");
	const struct config_endpoint_config *ec = config_find_endpoint_config(c, "main-config");

	cr_assert_eq(ec->variants[0].model, config_find_model(c, "included-a"));
	config_unref(c);
}

Test(config, included_definitions_carry_their_own_file)
{
	struct config *c = load_file_ok(GOOD_DIR "/main.yaml");

	cr_assert_str_eq(config_find_model(c, "included-a")->origin.file,
	                 GOOD_DIR "/conf.d/a.yaml");
	config_unref(c);
}

Test(config, include_pattern_matching_nothing_is_fine)
{
	struct config *c = load_ok("include: [/nonexistent/endpointd/*.yaml]\n");

	cr_assert_eq(c->n_files, 1);
	config_unref(c);
}

Test(config, load_string_takes_includes_from_the_working_directory)
{
	struct config *c;

	cr_assert_eq(chdir(GOOD_DIR), 0);
	c = load_ok("include: [conf.d/a.yaml]\n");
	cr_assert_not_null(config_find_model(c, "included-a"));
	cr_assert_str_eq(c->files[1], "conf.d/a.yaml");
	config_unref(c);
}

/* DOCKER_HOST */

Test(config, docker_host_unix_overrides_the_socket)
{
	struct config *c;

	setenv("DOCKER_HOST", "unix:///run/docker-alt.sock", 1);
	c = load_file_ok(GOOD_DIR "/full.yaml");
	cr_assert_str_eq(c->docker_socket, "/run/docker-alt.sock");
	config_unref(c);
}

Test(config, empty_docker_host_is_ignored)
{
	struct config *c;

	setenv("DOCKER_HOST", "", 1);
	c = load_ok("");
	cr_assert_str_eq(c->docker_socket, "/var/run/docker.sock");
	config_unref(c);
}

Test(config, rejects_tcp_docker_host)
{
	char *error;

	setenv("DOCKER_HOST", "tcp://10.0.0.1:2375", 1);
	error = load_error("");
	cr_assert(strstr(error, "DOCKER_HOST=tcp://10.0.0.1:2375: ") == error, "%s", error);
	free(error);
}

/* Accepted variants of syntax */

Test(config, integer_written_as_float_is_accepted_for_counts)
{
	struct config *c = load_ok("limits: { max_endpoints: 5.0 }\n");

	cr_assert_eq(c->max_endpoints, 5);
	config_unref(c);
}

Test(config, memory_may_be_plain_bytes)
{
	struct config *c = load_ok("instance_types: { t: { memory: 4194304 } }\n");

	cr_assert_eq(c->instance_types[0].memory, UINT64_C(4194304));
	config_unref(c);
}

Test(config, quoted_str_tag_keeps_account_id_a_string)
{
	struct config *c = load_ok("account_id: !!str 000000000001\n");

	cr_assert_str_eq(c->account_id, "000000000001");
	config_unref(c);
}

Test(config, single_model_mode_is_accepted)
{
	struct config *c = load_ok("Models: [{ ModelName: m, PrimaryContainer: { Image: i, Mode: "
	                           "SingleModel } }]\n");

	cr_assert_eq(c->n_models, 1);
	config_unref(c);
}

Test(config, model_data_url_accepts_plain_absolute_path_and_http)
{
	struct config *c =
	    load_ok("Models:\n"
	            "  - { ModelName: a, PrimaryContainer: { Image: i, ModelDataUrl: "
	            "/srv/m } }\n"
	            "  - { ModelName: b, PrimaryContainer: { Image: i, ModelDataUrl: "
	            "\"http://h/m.tar.gz\" } }\n");

	cr_assert_str_eq(c->models[0].primary.model_data_url, "/srv/m");
	cr_assert_str_eq(c->models[1].primary.model_data_url, "http://h/m.tar.gz");
	config_unref(c);
}

Test(config, double_hyphen_names_are_accepted)
{
	struct config *c =
	    load_ok("Models: [{ ModelName: a--b, PrimaryContainer: { Image: i } }]\n");

	cr_assert_str_eq(c->models[0].name, "a--b");
	config_unref(c);
}

Test(config, model_name_of_63_characters_is_accepted)
{
	struct config *c =
	    load_ok("Models: [{ ModelName: "
	            "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc, "
	            "PrimaryContainer: { Image: i } }]\n");

	cr_assert_eq(strlen(c->models[0].name), 63);
	config_unref(c);
}

/* Model data */

Test(config, model_data_keys_are_empty_by_default_and_the_cache_is_bounded)
{
	struct config *c = load_ok("");

	cr_assert_eq(c->model_data.n_roots, 0);
	cr_assert_eq(c->model_data.n_url_prefixes, 0);
	cr_assert_eq(c->model_data.cache_max_bytes, UINT64_C(20) << 30);
	config_unref(c);
}

Test(config, full_file_parses_model_data_keys_with_roots_made_normal)
{
	struct config *c = load_file_ok(GOOD_DIR "/full.yaml");

	cr_assert_eq(c->model_data.n_roots, 2);
	cr_assert_str_eq(c->model_data.roots[0], "/srv/models");
	cr_assert_str_eq(c->model_data.roots[1], "/data/models");
	cr_assert_eq(c->model_data.n_url_prefixes, 1);
	cr_assert_str_eq(c->model_data.url_prefixes[0], "https://models.example.com/");
	cr_assert_eq(c->model_data.cache_max_bytes, UINT64_C(1) << 30);
	config_unref(c);
}

Test(config, model_cache_max_bytes_may_be_zero_or_plain_bytes)
{
	struct config *c = load_ok("model_cache_max_bytes: 0\n");
	struct config *d = load_ok("model_cache_max_bytes: 123456\n");

	cr_assert_eq(c->model_data.cache_max_bytes, 0);
	cr_assert_eq(d->model_data.cache_max_bytes, 123456);
	config_unref(c);
	config_unref(d);
}

Test(config, check_model_data_url_applies_the_loaded_roots_and_urls)
{
	struct config *c = load_file_ok(GOOD_DIR "/full.yaml");
	char *error = NULL;

	cr_assert_eq(config_check_model_data_url(c, "file:///srv/models/x.tar.gz", &error), 0);
	cr_assert_eq(config_check_model_data_url(c, "https://models.example.com/x", &error), 0);
	cr_assert_eq(config_check_model_data_url(c, "file:///etc/passwd", &error), -EPERM);
	cr_assert_str_eq(error, "ModelDataUrl \"file:///etc/passwd\" is not under any of "
	                        "model_data_roots (/srv/models, /data/models)");
	free(error);
	config_unref(c);
}

Test(config, load_string_leaves_model_data_to_be_checked_when_prepared)
{
	/* What the journal keeps of an endpoint's config has no roots of its
	 * own: the daemon's config of the day decides when data is prepared. */
	struct config *c = load_ok("Models: [{ ModelName: m, PrimaryContainer: { Image: i, "
	                           "ModelDataUrl: \"file:///srv/models/m.tar.gz\" } }]\n");

	cr_assert_str_eq(c->models[0].primary.model_data_url, "file:///srv/models/m.tar.gz");
	config_unref(c);
}

/* A scratch directory with <dir>/root/inside/, <dir>/outside/ and, in the
 * root, "escape" -> outside and "alias" -> inside. */
static char *make_roots_dir(void)
{
	char *dir = xstrdup("/tmp/test-config-XXXXXX");
	_cleanup_free_ char *cmd = NULL;

	cr_assert_not_null(mkdtemp(dir));
	cmd = xasprintf("mkdir -p %s/root/inside %s/outside && ln -s ../outside %s/root/escape && "
	                "ln -s inside %s/root/alias",
	                dir, dir, dir, dir);
	cr_assert_eq(system(cmd), 0);
	return dir;
}

/* Loads a daemon config with model_data_roots: [<dir>/root] and one model
 * whose ModelDataUrl is url (line 4 of the file). */
static int load_with_root(const char *dir, const char *url, char **ret_error)
{
	_cleanup_free_ char *path = xasprintf("%s/endpointd.yaml", dir);
	struct config *c = NULL;
	FILE *f = fopen(path, "w");
	int r;

	cr_assert_not_null(f);
	fprintf(f,
	        "model_data_roots: [\"%s/root\"]\n"
	        "Models:\n"
	        "  - ModelName: m\n"
	        "    PrimaryContainer: { Image: img:1, ModelDataUrl: \"%s\" }\n",
	        dir, url);
	fclose(f);
	r = config_load(path, &c, ret_error);
	config_unref(c);
	return r;
}

static void remove_roots_dir(char *dir)
{
	_cleanup_free_ char *cmd = xasprintf("rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
	free(dir);
}

Test(config, model_data_url_through_a_symlink_out_of_the_root_is_refused_at_load)
{
	char *dir = make_roots_dir(), *error = NULL;
	_cleanup_free_ char *url = xasprintf("file://%s/root/escape", dir);
	_cleanup_free_ char *want = xasprintf("%s/endpointd.yaml:4:53: ModelDataUrl \"%s\" "
	                                      "resolves to %s/outside, which is not under any of "
	                                      "model_data_roots (%s/root)",
	                                      dir, url, dir, dir);

	cr_assert_eq(load_with_root(dir, url, &error), -EINVAL);
	cr_assert_str_eq(error, want);
	free(error);
	remove_roots_dir(dir);
}

Test(config, model_data_url_through_a_symlink_within_the_root_loads)
{
	char *dir = make_roots_dir(), *error = NULL;
	_cleanup_free_ char *url = xasprintf("file://%s/root/alias", dir);

	cr_assert_eq(load_with_root(dir, url, &error), 0, "%s", error);
	remove_roots_dir(dir);
}

Test(config, model_data_url_that_does_not_exist_yet_loads_when_under_a_root)
{
	char *dir = make_roots_dir(), *error = NULL;
	_cleanup_free_ char *url = xasprintf("%s/root/later/model.tar.gz", dir);

	cr_assert_eq(load_with_root(dir, url, &error), 0, "%s", error);
	remove_roots_dir(dir);
}

/* Errors that a fixture file cannot show */

Test(config, error_names_the_file_line_and_column)
{
	char *error = load_error("\n\nregion: [x]\n");

	cr_assert_str_eq(error, "test.yaml:3:9: expected a string for region, found a list");
	free(error);
}

Test(config, rejects_variant_with_unknown_model)
{
	assert_error_contains(
	    "instance_types: { ml.m5.large: {} }\n"
	    "EndpointConfigs:\n"
	    "  - EndpointConfigName: c\n"
	    "    ProductionVariants:\n"
	    "      - { VariantName: v, ModelName: ghost, InitialInstanceCount: 1, InstanceType: "
	    "ml.m5.large }\n",
	    "test.yaml:5:38: unknown ModelName \"ghost\"");
}

Test(config, rejects_eleven_variants)
{
	char yaml[4096];
	size_t n;

	n = (size_t)snprintf(yaml, sizeof(yaml),
	                     "%sEndpointConfigs:\n  - EndpointConfigName: c\n"
	                     "    ProductionVariants:\n",
	                     model_and_type);
	for (int i = 0; i < 11; i++)
		n += (size_t)snprintf(yaml + n, sizeof(yaml) - n,
		                      "      - { VariantName: v%d, ModelName: m, "
		                      "InitialInstanceCount: 1, InstanceType: ml.m5.large }\n",
		                      i);
	assert_error_contains(yaml, "test.yaml:9:7: ProductionVariants must list 1 to 10");
}

Test(config, rejects_string_larger_than_4_mib)
{
	size_t len = (4u << 20) + 1;
	char *yaml = malloc(len + 1);
	char *error;

	memset(yaml, '#', len);
	yaml[len] = '\0';
	error = load_error(yaml);
	cr_assert_str_eq(error, "test.yaml: larger than 4 MiB");
	free(error);
	free(yaml);
}

Test(config, rejects_file_larger_than_4_mib)
{
	char path[] = "/tmp/endpointd-test-XXXXXX";
	int fd = mkstemp(path);
	struct config *c = NULL;
	char *error = NULL, *expected;
	static char chunk[65536];

	cr_assert_geq(fd, 0);
	memset(chunk, '#', sizeof(chunk));
	for (int i = 0; i < 64; i++)
		cr_assert_eq(write(fd, chunk, sizeof(chunk)), (ssize_t)sizeof(chunk));
	cr_assert_eq(write(fd, "\n", 1), 1);
	close(fd);
	cr_assert_lt(config_load(path, &c, &error), 0);
	unlink(path);
	expected = xasprintf("%s: larger than 4 MiB", path);
	cr_assert_str_eq(error, expected);
	free(expected);
	free(error);
}

Test(config, missing_file_is_an_io_error)
{
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_eq(config_load("/nonexistent/endpointd.yaml", &c, &error), -ENOENT);
	cr_assert_str_eq(error, "/nonexistent/endpointd.yaml: No such file or directory");
	free(error);
}

Test(config, directory_is_refused)
{
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_eq(config_load(GOOD_DIR, &c, &error), -EISDIR);
	cr_assert_null(c);
	free(error);
}

Test(config, failed_load_leaves_ret_config_untouched)
{
	struct config *c = (struct config *)0x1;
	char *error = NULL;

	cr_assert_lt(config_load_string("t.yaml", "region: [", &c, &error), 0);
	cr_assert_eq(c, (struct config *)0x1);
	free(error);
}

Test(config, duplicate_keys_in_large_mappings_are_found)
{
	char yaml[4096] = "Models: [{ ModelName: m, PrimaryContainer: { Image: i, Environment: {";

	for (int i = 0; i < 40; i++)
		sprintf(yaml + strlen(yaml), "V%d: x, ", i);
	strcat(yaml, "V7: y } } }]\n");
	assert_error_contains(yaml, "duplicate key \"V7\"");
}

/* Reference counting */

Test(config, ref_keeps_the_config_alive_until_the_last_unref)
{
	struct config *c = load_ok("region: eu-north-1\n");

	cr_assert_eq(config_ref(c), c);
	cr_assert_eq(c->refs, 2);
	cr_assert_null(config_unref(c));
	cr_assert_str_eq(c->region, "eu-north-1");
	cr_assert_null(config_unref(c));
}

Test(config, unref_of_null_is_a_no_op)
{
	cr_assert_null(config_unref(NULL));
}

/* Alarms */

/* An alarm of the fewest members PutMetricAlarm takes, under name. */
#define MINIMAL_ALARM(name)                                                                        \
	"  - AlarmName: " name "\n"                                                                \
	"    MetricName: Invocations\n"                                                            \
	"    Statistic: SampleCount\n"                                                             \
	"    Period: 60\n"                                                                         \
	"    EvaluationPeriods: 2\n"                                                               \
	"    Threshold: 1\n"                                                                       \
	"    ComparisonOperator: LessThanThreshold\n"

Test(config, an_alarm_with_every_member_is_read_from_an_included_file_too)
{
	struct config *c = load_file_ok(GOOD_DIR "/alarms/main.yaml");
	const struct config_alarm *a = config_find_alarm(c, "canary-model-errors");
	const struct config_alarm *p = config_find_alarm(c, "slow-p99");

	cr_assert_eq(c->n_alarms, 2);
	cr_assert_not_null(a);
	cr_assert_str_eq(a->description, "The canary answers errors.");
	cr_assert_eq(a->metric, METRICS_INVOCATION_MODEL_ERRORS);
	cr_assert_eq(a->statistic, METRICS_STAT_SUM);
	cr_assert_null(a->extended_statistic);
	cr_assert_str_eq(a->endpoint_name, "resnet");
	cr_assert_str_eq(a->variant_name, "canary");
	cr_assert_eq(a->period, 10);
	cr_assert_eq(a->evaluation_periods, 3);
	cr_assert_eq(a->datapoints_to_alarm, 2);
	cr_assert_eq(a->threshold, 5);
	cr_assert_eq(a->comparison, CONFIG_ALARM_GREATER_OR_EQUAL);
	cr_assert_eq(a->treat_missing_data, CONFIG_ALARM_NOT_BREACHING);
	cr_assert_str_eq(a->unit, "Count");
	cr_assert_eq(a->origin.line, 5);

	cr_assert_not_null(p);
	cr_assert_eq(p->statistic, METRICS_STAT_PERCENTILE);
	cr_assert_float_eq(p->percentile, 99.9, 1e-9);
	cr_assert_str_eq(p->extended_statistic, "p99.9");
	cr_assert_eq(p->threshold, 250000);
	cr_assert_eq(p->comparison, CONFIG_ALARM_GREATER);
	cr_assert(str_has_suffix(p->origin.file, "/rollback.yaml"), "%s", p->origin.file);
	config_unref(c);
}

Test(config, an_alarm_defaults_to_every_datapoint_missing_data_and_the_endpoint_asked_about)
{
	struct config *c = load_ok("Alarms:\n" MINIMAL_ALARM("quiet"));
	const struct config_alarm *a = config_find_alarm(c, "quiet");

	cr_assert_not_null(a);
	cr_assert_eq(a->datapoints_to_alarm, a->evaluation_periods);
	cr_assert_eq(a->treat_missing_data, CONFIG_ALARM_MISSING);
	cr_assert_null(a->endpoint_name);
	cr_assert_null(a->variant_name);
	cr_assert_null(a->description);
	cr_assert_null(a->unit);
	config_unref(c);
}

Test(config, alarm_names_are_case_sensitive_as_cloudwatchs)
{
	struct config *c = load_ok("Alarms:\n" MINIMAL_ALARM("errors") MINIMAL_ALARM("Errors"));

	cr_assert_eq(c->n_alarms, 2);
	cr_assert_eq(config_find_alarm(c, "Errors"), &c->alarms[1]);
	cr_assert_eq(config_find_alarm(c, "errors"), &c->alarms[0]);
	cr_assert_null(config_find_alarm(c, "ERRORS"));
	config_unref(c);
}

Test(config, the_shipped_example_declares_a_canary_alarm)
{
	struct config *c = load_file_ok(CONF_DIR "/endpointd.yaml");
	const struct config_alarm *a = config_find_alarm(c, "demo-canary-errors");

	cr_assert_not_null(a);
	cr_assert_eq(a->metric, METRICS_INVOCATION_MODEL_ERRORS);
	cr_assert_eq(a->period, 10);
	config_unref(c);
}

Test(config, a_config_without_alarms_finds_none)
{
	struct config *c = load_ok("Alarms: []\n");

	cr_assert_eq(c->n_alarms, 0);
	cr_assert_null(config_find_alarm(c, "anything"));
	config_unref(c);
}

Test(config, every_period_cloudwatch_allows_up_to_an_hour_is_taken)
{
	static const unsigned periods[] = {10, 20, 30, 60, 120, 300, 900, 3600};

	for (size_t i = 0; i < ELEMENTSOF(periods); i++) {
		_cleanup_free_ char *yaml =
		    xasprintf("Alarms:\n"
		              "  - AlarmName: a\n"
		              "    MetricName: ModelLatency\n"
		              "    Statistic: Maximum\n"
		              "    Period: %u\n"
		              "    EvaluationPeriods: %u\n"
		              "    Threshold: 1\n"
		              "    ComparisonOperator: GreaterThanThreshold\n",
		              periods[i], 3600 / periods[i]);
		struct config *c = load_ok(yaml);

		cr_assert_eq(c->alarms[0].period, periods[i]);
		config_unref(c);
	}
}

Test(config, percentiles_from_p0_to_p100_are_extended_statistics)
{
	static const struct {
		const char *text;
		double value;
	} cases[] = {{"p0.0", 0},   {"p0", 0},      {"p50", 50}, {"p99.9999999999", 99.9999999999},
	             {"p100", 100}, {"p100.0", 100}};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *yaml =
		    xasprintf("Alarms:\n"
		              "  - AlarmName: a\n"
		              "    MetricName: ModelLatency\n"
		              "    ExtendedStatistic: %s\n"
		              "    Period: 60\n"
		              "    EvaluationPeriods: 1\n"
		              "    Threshold: 1\n"
		              "    ComparisonOperator: GreaterThanThreshold\n",
		              cases[i].text);
		struct config *c = load_ok(yaml);

		cr_assert_eq(c->alarms[0].statistic, METRICS_STAT_PERCENTILE);
		cr_assert_float_eq(c->alarms[0].percentile, cases[i].value, 1e-12, "%s",
		                   cases[i].text);
		config_unref(c);
	}
}

Test(config, a_percentile_over_100_is_refused)
{
	_cleanup_free_ char *e = load_error("Alarms:\n"
	                                    "  - AlarmName: a\n"
	                                    "    MetricName: ModelLatency\n"
	                                    "    ExtendedStatistic: p100.5\n"
	                                    "    Period: 60\n"
	                                    "    EvaluationPeriods: 1\n"
	                                    "    Threshold: 1\n"
	                                    "    ComparisonOperator: GreaterThanThreshold\n");

	cr_assert(strstr(e, "test.yaml:4:24: unsupported ExtendedStatistic \"p100.5\""), "%s", e);
}

Test(config, every_metric_statistic_operator_and_missing_data_mode_is_read)
{
	static const char *const metrics[] = {"Invocations",         "Invocation4XXErrors",
	                                      "Invocation5XXErrors", "InvocationModelErrors",
	                                      "ModelLatency",        "OverheadLatency"};
	static const char *const stats[] = {"SampleCount", "Average", "Sum", "Minimum", "Maximum"};
	static const char *const ops[] = {"GreaterThanOrEqualToThreshold", "GreaterThanThreshold",
	                                  "LessThanThreshold", "LessThanOrEqualToThreshold"};
	static const char *const missing[] = {"missing", "notBreaching", "breaching", "ignore"};

	for (size_t i = 0; i < 6; i++) {
		_cleanup_free_ char *yaml =
		    xasprintf("Alarms:\n"
		              "  - AlarmName: a\n"
		              "    MetricName: %s\n"
		              "    Statistic: %s\n"
		              "    Period: 10\n"
		              "    EvaluationPeriods: 1\n"
		              "    Threshold: -1.5\n"
		              "    ComparisonOperator: %s\n"
		              "    TreatMissingData: %s\n",
		              metrics[i], stats[i % 5], ops[i % 4], missing[i % 4]);
		struct config *c = load_ok(yaml);
		const struct config_alarm *a = &c->alarms[0];

		cr_assert_eq(a->metric, (enum metrics_metric)i);
		cr_assert_eq(a->statistic, (enum metrics_statistic)(i % 5));
		cr_assert_eq(a->comparison, (enum config_alarm_comparison)(i % 4));
		cr_assert_eq(a->treat_missing_data, (enum config_alarm_missing)(i % 4));
		cr_assert_eq(a->threshold, -1.5);
		config_unref(c);
	}
}

Test(config, alarms_survive_the_replay_of_config_with_api)
{
	struct config *c = load_file_ok(GOOD_DIR "/alarms/main.yaml");
	struct config *with = NULL;
	char *error = NULL;

	cr_assert_eq(config_with_api(c, "{\"Models\": []}", &with, &error), 0, "%s", error);
	cr_assert_eq(with->n_alarms, 2);
	cr_assert_not_null(config_find_alarm(with, "slow-p99"));
	config_unref(with);
	config_unref(c);
}

Test(config, the_apis_document_holds_no_alarms)
{
	struct config *c = load_ok("");
	struct config *with = NULL;
	_cleanup_free_ char *error = NULL;

	cr_assert_lt(config_with_api(c, "{\"Alarms\": []}", &with, &error), 0);
	cr_assert_null(with);
	cr_assert(strstr(error, "unknown key \"Alarms\""), "%s", error);
	config_unref(c);
}

/* config_parse_size */

struct size_case {
	const char *text;
	uint64_t bytes;
};

Test(config_parse_size, accepts_every_unit)
{
	static const struct size_case cases[] = {
	    {"1024", 1024},
	    {"0", 0},
	    {"1B", 1},
	    {"2K", 2048},
	    {"2KiB", 2048},
	    {"3M", UINT64_C(3) << 20},
	    {"512MiB", UINT64_C(512) << 20},
	    {"1G", UINT64_C(1) << 30},
	    {"8GiB", UINT64_C(8) << 30},
	    {"2T", UINT64_C(2) << 40},
	    {"1TiB", UINT64_C(1) << 40},
	    {"1.5GiB", UINT64_C(3) << 29},
	    {"8 GiB", UINT64_C(8) << 30},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		uint64_t v = 0;

		cr_assert_eq(config_parse_size(cases[i].text, &v), 0, "%s", cases[i].text);
		cr_assert_eq(v, cases[i].bytes, "%s", cases[i].text);
	}
}

Test(config_parse_size, rejects_decimal_and_unknown_units)
{
	static const char *const bad[] = {"8GB", "8gb", "8kb", "1PiB", "5X", "8 G B"};

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		uint64_t v = 42;

		cr_assert_eq(config_parse_size(bad[i], &v), -EINVAL, "%s", bad[i]);
		cr_assert_eq(v, 42, "%s changed the output", bad[i]);
	}
}

Test(config_parse_size, rejects_malformed_numbers)
{
	static const char *const bad[] = {"",   "GiB", "-1GiB", "+1",   " 1",
	                                  "1.", ".5G", "1..2G", "0x10", "1e3"};

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		uint64_t v;

		cr_assert_eq(config_parse_size(bad[i], &v), -EINVAL, "\"%s\"", bad[i]);
	}
}

Test(config_parse_size, rejects_fraction_of_a_byte)
{
	uint64_t v;

	cr_assert_eq(config_parse_size("1.5", &v), -EINVAL);
}

Test(config_parse_size, rejects_overflow)
{
	uint64_t v;

	cr_assert_eq(config_parse_size("16777216TiB", &v), -EINVAL);
	cr_assert_eq(config_parse_size("99999999999999999999", &v), -EINVAL);
}

Test(config_parse_size, accepts_the_largest_value)
{
	uint64_t v;

	cr_assert_eq(config_parse_size("18446744073709551615", &v), 0);
	cr_assert_eq(v, UINT64_MAX);
}

/* The corpus of bad files */

struct bad_case {
	char name[128];
};

static size_t bad_cases_list(struct bad_case *out, size_t max)
{
	DIR *d = opendir(BAD_DIR);
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len < 6 || len >= sizeof(out->name) ||
		    strcmp(de->d_name + len - 5, ".yaml") != 0)
			continue;
		if (out != NULL && n < max)
			strcpy(out[n].name, de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

static void bad_cases_free(struct criterion_test_params *params)
{
	cr_free(params->params);
}

ParameterizedTestParameters(config_bad_file, is_refused_with_its_expected_message)
{
	size_t n = bad_cases_list(NULL, 0);
	struct bad_case *cases = cr_calloc(n ? n : 1, sizeof(*cases));

	n = bad_cases_list(cases, n);
	return cr_make_param_array(struct bad_case, cases, n, bad_cases_free);
}

/* The text after "# expect: " on the file's first line, with {dir} expanded. */
static char *bad_case_expectation(const char *path)
{
	static const char prefix[] = "# expect: ";
	char line[1024], *nl, *dollar;
	FILE *f = fopen(path, "r");

	cr_assert_not_null(f, "cannot open %s", path);
	cr_assert_not_null(fgets(line, sizeof(line), f), "%s is empty", path);
	fclose(f);
	cr_assert(strncmp(line, prefix, sizeof(prefix) - 1) == 0,
	          "%s does not start with \"# expect: \"", path);
	if ((nl = strchr(line, '\n')) != NULL)
		*nl = '\0';
	if ((dollar = strstr(line, "{dir}")) != NULL) {
		*dollar = '\0';
		return xasprintf("%s%s%s", line + sizeof(prefix) - 1, BAD_DIR, dollar + 5);
	}
	return xstrdup(line + sizeof(prefix) - 1);
}

ParameterizedTest(struct bad_case *bc, config_bad_file, is_refused_with_its_expected_message)
{
	char *path = xasprintf("%s/%s", BAD_DIR, bc->name);
	char *expect = bad_case_expectation(path), *expected, *colon;
	struct config *c = NULL;
	char *error = NULL;

	/* "inc/x.yaml:3:5: …" names the included file the error is in. */
	colon = strchr(expect, ':');
	if (colon != NULL && colon - expect > 5 && strncmp(colon - 5, ".yaml", 5) == 0)
		expected = xasprintf("%s/%s", BAD_DIR, expect);
	else
		expected = xasprintf("%s:%s", path, expect);

	unsetenv("DOCKER_HOST");
	cr_assert_lt(config_load(path, &c, &error), 0, "%s was accepted", bc->name);
	cr_assert_not_null(error);
	cr_assert(strstr(error, expected) != NULL, "%s:\n  got      %s\n  expected %s", bc->name,
	          error, expected);
	free(error);
	free(expected);
	free(expect);
	free(path);
}

Test(config_bad_file, corpus_has_at_least_30_cases)
{
	cr_assert_geq(bad_cases_list(NULL, 0), 30);
}
