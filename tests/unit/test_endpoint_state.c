/*
 * An endpoint's config travels in its journal record as a document that the
 * YAML loader reads back: what comes back must be what went in.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "config.h"
#include "endpoint.h"
#include "util.h"

static const char *const source =
	"region: eu-west-1\n"
	"account_id: \"012345678901\"\n"
	"instance_types:\n"
	"  ml.small: { cpus: 0.25, memory: 300MiB }\n"
	"  ml.gpu: { cpus: 4, memory: 16GiB, gpus: 2, constraints: [ \"node.labels.gpu==h100\" ] }\n"
	"  ml.unused: { cpus: 1, memory: 1GiB }\n"
	"Models:\n"
	"  - ModelName: m1\n"
	"    PrimaryContainer:\n"
	"      Image: registry.local/m1:2\n"
	"      ModelDataUrl: file:///srv/models/m1.tar.gz\n"
	"      Environment: { A: \"1\", B: \"two words\" }\n"
	"      ContainerHostname: m1host\n"
	"    ExecutionRoleArn: arn:aws:iam::012345678901:role/x\n"
	"  - ModelName: m2\n"
	"    PrimaryContainer: { Image: m2 }\n"
	"  - ModelName: unused\n"
	"    PrimaryContainer: { Image: unused }\n"
	"EndpointConfigs:\n"
	"  - EndpointConfigName: ec\n"
	"    ProductionVariants:\n"
	"      - { VariantName: A, ModelName: m1, InitialInstanceCount: 2, InstanceType: ml.small,\n"
	"          InitialVariantWeight: 3, ContainerStartupHealthCheckTimeoutInSeconds: 61,\n"
	"          ModelDataDownloadTimeoutInSeconds: 62 }\n"
	"      - { VariantName: B, ModelName: m2, InitialInstanceCount: 1, InstanceType: ml.gpu }\n"
	"      - { VariantName: C, ModelName: m1, InitialInstanceCount: 1, InstanceType: ml.small }\n";

/* Load the source, turn ec into a document, load that back. */
static void round_trip(struct config **ret_src, struct config **ret_back)
{
	char *error = NULL;
	cr_assert_eq(config_load_string("src.yaml", source, ret_src, &error), 0, "%s", error);
	const struct config_endpoint_config *ec = config_find_endpoint_config(*ret_src, "ec");
	_cleanup_free_ char *doc = endpoint_config_document(*ret_src, ec);
	cr_assert_eq(config_load_string("record", doc, ret_back, &error), 0, "%s: %s", doc, error);
}

Test(endpoint_state, config_document_reads_back_every_variant_field)
{
	struct config *src, *back;
	round_trip(&src, &back);
	const struct config_endpoint_config *a = config_find_endpoint_config(src, "ec");
	const struct config_endpoint_config *b = config_find_endpoint_config(back, "ec");
	cr_assert_not_null(b);
	cr_assert_eq(b->n_variants, a->n_variants);
	for (size_t i = 0; i < a->n_variants; i++) {
		const struct config_variant *x = &a->variants[i], *y = &b->variants[i];
		cr_assert_str_eq(y->variant_name, x->variant_name);
		cr_assert_str_eq(y->model_name, x->model_name);
		cr_assert_eq(y->initial_instance_count, x->initial_instance_count);
		cr_assert_str_eq(y->instance_type, x->instance_type);
		cr_assert_float_eq(y->initial_weight, x->initial_weight, 1e-9);
		cr_assert_eq(y->startup_timeout_s, x->startup_timeout_s);
		cr_assert_eq(y->model_data_download_timeout_s, x->model_data_download_timeout_s);
		cr_assert_float_eq(y->type->cpus, x->type->cpus, 1e-9);
		cr_assert_eq(y->type->memory, x->type->memory);
		cr_assert_eq(y->type->gpus, x->type->gpus);
		cr_assert_eq(y->type->n_constraints, x->type->n_constraints);
		for (size_t j = 0; j < x->type->n_constraints; j++)
			cr_assert_str_eq(y->type->constraints[j], x->type->constraints[j]);
	}
	config_unref(src);
	config_unref(back);
}

Test(endpoint_state, config_document_reads_back_the_models_containers)
{
	struct config *src, *back;
	round_trip(&src, &back);
	const struct config_model *m = config_find_model(back, "m1");
	cr_assert_not_null(m);
	cr_assert_str_eq(m->primary.image, "registry.local/m1:2");
	cr_assert_str_eq(m->primary.model_data_url, "file:///srv/models/m1.tar.gz");
	cr_assert_str_eq(m->primary.container_hostname, "m1host");
	cr_assert_str_eq(m->execution_role_arn, "arn:aws:iam::012345678901:role/x");
	cr_assert_eq(m->primary.n_env, 2);
	for (size_t i = 0; i < m->primary.n_env; i++)
		cr_assert_str_eq(m->primary.env[i].value,
				 strcmp(m->primary.env[i].name, "A") == 0 ? "1" : "two words");
	config_unref(src);
	config_unref(back);
}

Test(endpoint_state, config_document_carries_only_what_the_config_uses)
{
	struct config *src, *back;
	round_trip(&src, &back);
	cr_assert_eq(back->n_models, 2, "a model used twice is written once");
	cr_assert_null(config_find_model(back, "unused"));
	cr_assert_null(config_find_instance_type(back, "ml.unused"));
	cr_assert_str_eq(back->region, "eu-west-1");
	cr_assert_str_eq(back->account_id, "012345678901");
	config_unref(src);
	config_unref(back);
}

Test(endpoint_state, journal_keys_are_case_insensitive_names)
{
	_cleanup_free_ char *a = endpoint_journal_key("My-Endpoint");
	_cleanup_free_ char *b = endpoint_journal_key("my-endpoint");
	cr_assert_str_eq(a, "endpoint/my-endpoint");
	cr_assert_str_eq(a, b);
}
