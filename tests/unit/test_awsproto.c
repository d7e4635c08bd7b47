/* The AWS JSON 1.1 and REST-JSON envelopes, and how request members are read. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "awsproto.h"

/* Parse JSON text that a test knows is valid. */
static json_t *obj(const char *text)
{
	json_t *v = json_loads(text, 0, NULL);
	cr_assert_not_null(v, "fixture JSON: %s", text);
	return v;
}

Test(awsproto, empty_body_is_an_empty_object)
{
	json_t *v = NULL;
	struct aws_error e = {0};
	cr_assert_eq(aws_parse_body("  ", 2, &v, &e), 0);
	cr_assert(json_is_object(v));
	cr_assert_eq(json_object_size(v), 0);
	json_decref(v);
}

Test(awsproto, malformed_json_is_a_serialization_exception)
{
	json_t *v = NULL;
	struct aws_error e = {0};
	cr_assert_eq(aws_parse_body("{\"EndpointName\":", 16, &v, &e), -EINVAL);
	cr_assert_null(v);
	cr_assert_eq(e.status, 400);
	cr_assert_str_eq(e.code, "SerializationException");
	cr_assert(strstr(e.message, "line 1"));
	aws_error_clear(&e);
}

Test(awsproto, a_json_array_body_is_refused)
{
	json_t *v = NULL;
	struct aws_error e = {0};
	cr_assert_eq(aws_parse_body("[1,2]", 5, &v, &e), -EINVAL);
	cr_assert_str_eq(e.code, "SerializationException");
	cr_assert(strstr(e.message, "START_ARRAY"));
	aws_error_clear(&e);
}

Test(awsproto, duplicate_keys_are_refused)
{
	json_t *v = NULL;
	struct aws_error e = {0};
	const char *body = "{\"EndpointName\":\"a\",\"EndpointName\":\"b\"}";
	cr_assert_eq(aws_parse_body(body, strlen(body), &v, &e), -EINVAL);
	aws_error_clear(&e);
}

Test(awsproto, target_names_the_operation_after_the_sagemaker_prefix)
{
	cr_assert_str_eq(aws_target_operation("SageMaker.CreateEndpoint"), "CreateEndpoint");
	cr_assert_null(aws_target_operation("DynamoDB_20120810.ListTables"));
	cr_assert_null(aws_target_operation("SageMaker."));
	cr_assert_null(aws_target_operation(NULL));
}

Test(awsproto, a_number_where_a_string_belongs_is_a_serialization_exception)
{
	json_t *in = obj("{\"EndpointName\": 123}");
	struct aws_reader r;
	struct aws_error e = {0};
	aws_reader_init(&r, in);
	cr_assert_null(aws_read_string(&r, "EndpointName"));
	cr_assert(aws_reader_error(&r, &e));
	cr_assert_str_eq(e.code, "SerializationException");
	cr_assert(strstr(e.message, "EndpointName"));
	aws_error_clear(&e);
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, a_missing_required_name_is_reported_as_null)
{
	json_t *in = obj("{}");
	struct aws_reader r;
	struct aws_error e = {0};
	aws_reader_init(&r, in);
	cr_assert_null(aws_read_name(&r, "EndpointName", true));
	cr_assert(aws_reader_error(&r, &e));
	cr_assert_str_eq(e.code, "ValidationException");
	cr_assert_str_eq(e.message, "1 validation error detected: Value null at 'endpointName' "
				    "failed to satisfy constraint: Member must not be null");
	aws_error_clear(&e);
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, a_required_name_sent_as_json_null_is_reported_as_null)
{
	json_t *in = obj("{\"EndpointName\": null}");
	struct aws_reader r;
	struct aws_error e = {0};
	aws_reader_init(&r, in);
	cr_assert_null(aws_read_name(&r, "EndpointName", true));
	cr_assert(aws_reader_error(&r, &e));
	cr_assert_str_eq(e.message, "1 validation error detected: Value null at 'endpointName' "
				    "failed to satisfy constraint: Member must not be null");
	aws_error_clear(&e);
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, an_invalid_name_is_worded_as_sagemaker_words_it)
{
	json_t *in = obj("{\"EndpointName\": \"bad_name\"}");
	struct aws_reader r;
	struct aws_error e = {0};
	aws_reader_init(&r, in);
	cr_assert_null(aws_read_name(&r, "EndpointName", true));
	cr_assert(aws_reader_error(&r, &e));
	cr_assert_str_eq(e.message,
			 "1 validation error detected: Value 'bad_name' at 'endpointName' failed to "
			 "satisfy constraint: Member must satisfy regular expression pattern: "
			 "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}");
	aws_error_clear(&e);
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, several_errors_are_counted_and_joined)
{
	json_t *in = obj("{\"EndpointName\": \"-x\", \"EndpointConfigName\": \"a_b\"}");
	struct aws_reader r;
	struct aws_error e = {0};
	aws_reader_init(&r, in);
	aws_read_name(&r, "EndpointName", true);
	aws_read_name(&r, "EndpointConfigName", true);
	cr_assert(aws_reader_error(&r, &e));
	cr_assert(strncmp(e.message, "2 validation errors detected: Value '-x' at 'endpointName'",
			  58) == 0,
		  "%s", e.message);
	cr_assert(strstr(e.message, "; Value 'a_b' at 'endpointConfigName'"));
	aws_error_clear(&e);
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, a_name_of_64_characters_fails_the_length_constraint)
{
	char name[65];
	memset(name, 'a', 64);
	name[64] = '\0';
	json_t *in = json_pack("{s:s}", "EndpointName", name);
	struct aws_reader r;
	struct aws_error e = {0};
	aws_reader_init(&r, in);
	cr_assert_null(aws_read_name(&r, "EndpointName", true));
	cr_assert(aws_reader_error(&r, &e));
	cr_assert(strstr(e.message, "Member must have length less than or equal to 63"));
	aws_error_clear(&e);
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, integers_and_timestamps_are_type_checked)
{
	json_t *in = obj("{\"MaxResults\": \"10\", \"CreationTimeAfter\": 1700000000.5}");
	struct aws_reader r;
	long long n = 0;
	double t = 0;
	aws_reader_init(&r, in);
	cr_assert(aws_read_time(&r, "CreationTimeAfter", &t));
	cr_assert_float_eq(t, 1700000000.5, 1e-9);
	cr_assert_not(aws_read_int(&r, "MaxResults", &n));
	cr_assert_not_null(r.type_error);
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, json_error_body_carries_type_and_message)
{
	char *s = aws_json_error_body("ValidationException", "Could not find endpoint \"x\".");
	cr_assert_str_eq(s, "{\"__type\":\"ValidationException\",\"message\":\"Could not find "
			    "endpoint \\\"x\\\".\"}");
	free(s);
}

Test(awsproto, rest_error_body_carries_code_message_and_extras)
{
	json_t *extra = json_pack("{s:i}", "OriginalStatusCode", 500);
	char *s = aws_rest_error_body("ModelError", "boom", extra);
	json_t *v = json_loads(s, 0, NULL);
	cr_assert_str_eq(json_string_value(json_object_get(v, "ErrorCode")), "ModelError");
	cr_assert_str_eq(json_string_value(json_object_get(v, "Message")), "boom");
	cr_assert_eq(json_integer_value(json_object_get(v, "OriginalStatusCode")), 500);
	json_decref(v);
	json_decref(extra);
	free(s);
}

Test(awsproto, timestamps_are_epoch_numbers_with_milliseconds)
{
	json_t *o = json_pack("{s:o}", "CreationTime", aws_time(1529870369.98612));
	char *s = aws_dump(o);
	cr_assert_str_eq(s, "{\"CreationTime\":1529870369.986}");
	free(s);
	json_decref(o);
}

Test(awsproto, request_ids_are_version_4_uuids)
{
	char a[AWS_REQUEST_ID_LEN + 1], b[AWS_REQUEST_ID_LEN + 1];
	aws_request_id(a);
	aws_request_id(b);
	cr_assert_eq(strlen(a), 36);
	cr_assert_eq(a[14], '4');
	cr_assert(strchr("89ab", a[19]));
	cr_assert_str_neq(a, b);
}

/*
 * Nested members, worded as SageMaker words them: the member path in
 * camelCase, list items counted from 1 with ".member" after each.
 */

/* The message the reader's errors make; asserts that there is one. */
static char *message_of(struct aws_reader *r, const char *code)
{
	struct aws_error e = {0};
	cr_assert(aws_reader_error(r, &e), "no error recorded");
	cr_assert_str_eq(e.code, code);
	return e.message;
}

/* Whether s is a container image name: no white space ([\S]+). */
static bool no_space(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (strchr(" \t\r\n\f\v", *s))
			return false;
	return true;
}

/* Whether s is an environment variable name ([a-zA-Z_][a-zA-Z0-9_]*). */
static bool env_key(const char *s)
{
	if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return false;
	for (s++; *s; s++)
		if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

static const struct aws_string_rule image_rule = {
    .max_len = 255, .pattern = "[\\S]+", .matches = no_space};
static const struct aws_string_rule hostname_rule = {.max_len = 63};
static const struct aws_map_rule environment_rule = {
    .max_entries = 100,
    .key = {.max_len = 1024, .pattern = "[a-zA-Z_][a-zA-Z0-9_]*", .matches = env_key},
    .value = {.max_len = 1024},
};
static const char *const instance_types[] = {"ml.t2.medium", "ml.m5.large", NULL};

Test(awsproto, a_nested_structure_member_is_reported_under_its_path)
{
	json_t *in = obj("{\"PrimaryContainer\": {\"Image\": \"my image\"}}");
	struct aws_reader r, c;
	aws_reader_init(&r, in);
	cr_assert(aws_read_object(&r, "PrimaryContainer", false, &c));
	cr_assert_null(aws_read_valid_string(&c, "Image", &image_rule));
	_cleanup_free_ char *m = message_of(&r, "ValidationException");
	cr_assert_str_eq(m, "1 validation error detected: Value 'my image' at "
			    "'primaryContainer.image' failed to satisfy constraint: Member must "
			    "satisfy regular expression pattern: [\\S]+");
	aws_reader_clear(&c);
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, list_items_are_counted_from_one_with_member_after_each)
{
	json_t *in = obj("{\"ProductionVariants\": [{\"VariantName\": \"a\", \"ModelName\": "
			 "\"m\"}, {\"VariantName\": \"b\", \"ModelName\": \"bad_model\"}]}");
	struct aws_reader r;
	json_t *list;
	aws_reader_init(&r, in);
	size_t n = aws_read_list(&r, "ProductionVariants", true, 1, 10, &list);
	cr_assert_eq(n, 2);
	for (size_t i = 0; i < n; i++) {
		struct aws_reader v;
		cr_assert(aws_read_list_object(&r, list, "ProductionVariants", i, &v));
		aws_read_name(&v, "VariantName", true);
		aws_read_name(&v, "ModelName", false);
		aws_reader_clear(&v);
	}
	_cleanup_free_ char *m = message_of(&r, "ValidationException");
	cr_assert_str_eq(m, "1 validation error detected: Value 'bad_model' at "
			    "'productionVariants.2.member.modelName' failed to satisfy constraint: "
			    "Member must satisfy regular expression pattern: "
			    "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}");
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, errors_of_nested_and_top_level_members_share_one_message)
{
	json_t *in = obj("{\"EndpointConfigName\": \"a_b\", \"ProductionVariants\": ["
			 "{\"InitialInstanceCount\": 0, \"InstanceType\": \"ml.t2.medium\"},"
			 "{\"InitialInstanceCount\": 1, \"InstanceType\": \"ml.bogus\"}]}");
	struct aws_reader r;
	json_t *list;
	aws_reader_init(&r, in);
	aws_read_name(&r, "EndpointConfigName", true);
	size_t n = aws_read_list(&r, "ProductionVariants", true, 1, 10, &list);
	for (size_t i = 0; i < n; i++) {
		struct aws_reader v;
		long long count;
		aws_read_list_object(&r, list, "ProductionVariants", i, &v);
		aws_read_name(&v, "VariantName", true);
		aws_read_int_in(&v, "InitialInstanceCount", false, 1, LLONG_MAX, &count);
		aws_read_enum(&v, "InstanceType", false, instance_types);
		aws_reader_clear(&v);
	}
	_cleanup_free_ char *m = message_of(&r, "ValidationException");
	cr_assert_str_eq(
	    m, "5 validation errors detected: "
	       "Value 'a_b' at 'endpointConfigName' failed to satisfy constraint: Member must "
	       "satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}; "
	       "Value null at 'productionVariants.1.member.variantName' failed to satisfy "
	       "constraint: Member must not be null; "
	       "Value '0' at 'productionVariants.1.member.initialInstanceCount' failed to "
	       "satisfy constraint: Member must have value greater than or equal to 1; "
	       "Value null at 'productionVariants.2.member.variantName' failed to satisfy "
	       "constraint: Member must not be null; "
	       "Value 'ml.bogus' at 'productionVariants.2.member.instanceType' failed to "
	       "satisfy constraint: Member must satisfy enum value set: [ml.t2.medium, "
	       "ml.m5.large]");
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, an_empty_required_list_fails_its_minimum_length)
{
	json_t *in = obj("{\"ProductionVariants\": []}");
	struct aws_reader r;
	json_t *list;
	aws_reader_init(&r, in);
	cr_assert_eq(aws_read_list(&r, "ProductionVariants", true, 1, 10, &list), 0);
	cr_assert_null(list);
	_cleanup_free_ char *m = message_of(&r, "ValidationException");
	cr_assert_str_eq(m, "1 validation error detected: Value '[]' at 'productionVariants' "
			    "failed to satisfy constraint: Member must have length greater than or "
			    "equal to 1");
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, a_list_over_its_maximum_is_not_read_item_by_item)
{
	json_t *in = obj("{\"Containers\": [{},{},{}]}");
	struct aws_reader r;
	json_t *list;
	aws_reader_init(&r, in);
	cr_assert_eq(aws_read_list(&r, "Containers", false, 0, 2, &list), 0);
	cr_assert_null(list);
	_cleanup_free_ char *m = message_of(&r, "ValidationException");
	cr_assert_str_eq(m, "1 validation error detected: Value '[{},{},{}]' at 'containers' "
			    "failed to satisfy constraint: Member must have length less than or "
			    "equal to 2");
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, a_missing_required_list_is_reported_as_null)
{
	json_t *in = obj("{}");
	struct aws_reader r;
	json_t *list;
	aws_reader_init(&r, in);
	cr_assert_eq(aws_read_list(&r, "ProductionVariants", true, 1, 10, &list), 0);
	_cleanup_free_ char *m = message_of(&r, "ValidationException");
	cr_assert_str_eq(m, "1 validation error detected: Value null at 'productionVariants' "
			    "failed to satisfy constraint: Member must not be null");
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, a_string_over_its_maximum_length_is_reported_in_characters)
{
	/* 63 two-byte characters fit in 63 characters. */
	char ok[127] = "", long_[66];
	for (int i = 0; i < 63; i++)
		strcat(ok, "é");
	memset(long_, 'h', 64);
	long_[64] = '\0';
	json_t *in = json_pack("{s:{s:s}, s:[{s:s}]}", "PrimaryContainer", "ContainerHostname", ok,
			       "Containers", "ContainerHostname", long_);
	struct aws_reader r, c, c1;
	json_t *list;
	aws_reader_init(&r, in);
	aws_read_object(&r, "PrimaryContainer", false, &c);
	cr_assert_str_eq(aws_read_valid_string(&c, "ContainerHostname", &hostname_rule), ok);
	aws_read_list(&r, "Containers", false, 0, 15, &list);
	aws_read_list_object(&r, list, "Containers", 0, &c1);
	cr_assert_null(aws_read_valid_string(&c1, "ContainerHostname", &hostname_rule));
	_cleanup_free_ char *m = message_of(&r, "ValidationException");
	cr_assert(strstr(m, "1 validation error detected: Value 'hhhh"), "%s", m);
	cr_assert(strstr(m, "' at 'containers.1.member.containerHostname' failed to satisfy "
			    "constraint: Member must have length less than or equal to 63"),
		  "%s", m);
	aws_reader_clear(&c);
	aws_reader_clear(&c1);
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, a_string_under_its_minimum_length_is_reported)
{
	static const struct aws_string_rule rule = {.required = true, .min_len = 1, .max_len = 63};
	json_t *in = obj("{\"InferenceSpecificationName\": \"\"}");
	struct aws_reader r;
	aws_reader_init(&r, in);
	cr_assert_null(aws_read_valid_string(&r, "InferenceSpecificationName", &rule));
	_cleanup_free_ char *m = message_of(&r, "ValidationException");
	cr_assert_str_eq(m,
			 "1 validation error detected: Value '' at "
			 "'inferenceSpecificationName' failed to satisfy constraint: Member must "
			 "have length greater than or equal to 1");
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, an_integer_over_its_maximum_is_reported_with_the_bound)
{
	json_t *in = obj("{\"ModelDataDownloadTimeoutInSeconds\": 4000}");
	struct aws_reader r;
	long long v = 7;
	aws_reader_init(&r, in);
	cr_assert_not(
	    aws_read_int_in(&r, "ModelDataDownloadTimeoutInSeconds", false, 60, 3600, &v));
	cr_assert_eq(v, 7);
	_cleanup_free_ char *m = message_of(&r, "ValidationException");
	cr_assert_str_eq(m, "1 validation error detected: Value '4000' at "
			    "'modelDataDownloadTimeoutInSeconds' failed to satisfy constraint: "
			    "Member must have value less than or equal to 3600");
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, an_integer_in_range_is_read)
{
	json_t *in = obj("{\"InitialInstanceCount\": 3}");
	struct aws_reader r;
	struct aws_error e = {0};
	long long v = 0;
	aws_reader_init(&r, in);
	cr_assert(aws_read_int_in(&r, "InitialInstanceCount", true, 1, LLONG_MAX, &v));
	cr_assert_eq(v, 3);
	cr_assert_not(aws_reader_error(&r, &e));
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, a_number_under_its_minimum_is_reported_as_sent)
{
	json_t *in = obj("{\"InitialVariantWeight\": -0.5}");
	struct aws_reader r;
	double w = 1;
	aws_reader_init(&r, in);
	cr_assert_not(aws_read_number_in(&r, "InitialVariantWeight", false, 0, INFINITY, &w));
	_cleanup_free_ char *m = message_of(&r, "ValidationException");
	cr_assert_str_eq(m, "1 validation error detected: Value '-0.5' at 'initialVariantWeight' "
			    "failed to satisfy constraint: Member must have value greater than or "
			    "equal to 0");
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, a_number_accepts_integers_and_fractions)
{
	json_t *in = obj("{\"A\": 2, \"B\": 0.25}");
	struct aws_reader r;
	struct aws_error e = {0};
	double a = 0, b = 0;
	aws_reader_init(&r, in);
	cr_assert(aws_read_number_in(&r, "A", true, 0, INFINITY, &a));
	cr_assert(aws_read_number_in(&r, "B", true, 0, INFINITY, &b));
	cr_assert_float_eq(a, 2.0, 1e-12);
	cr_assert_float_eq(b, 0.25, 1e-12);
	cr_assert_not(aws_reader_error(&r, &e));
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, a_string_where_a_number_belongs_names_the_nested_path)
{
	json_t *in = obj("{\"ProductionVariants\": [{\"InitialVariantWeight\": \"1\"}]}");
	struct aws_reader r, v;
	json_t *list;
	double w;
	aws_reader_init(&r, in);
	aws_read_list(&r, "ProductionVariants", true, 1, 10, &list);
	aws_read_list_object(&r, list, "ProductionVariants", 0, &v);
	cr_assert_not(aws_read_number_in(&v, "InitialVariantWeight", false, 0, INFINITY, &w));
	_cleanup_free_ char *m = message_of(&r, "SerializationException");
	cr_assert_str_eq(m, "Cannot deserialize productionVariants.1.member.initialVariantWeight: "
			    "expected a number but found VALUE_STRING");
	aws_reader_clear(&v);
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, booleans_are_read_and_type_checked)
{
	json_t *in = obj("{\"EnableNetworkIsolation\": true, \"EnableSSMAccess\": \"yes\"}");
	struct aws_reader r;
	bool b = false, c = false;
	aws_reader_init(&r, in);
	cr_assert(aws_read_bool(&r, "EnableNetworkIsolation", &b));
	cr_assert(b);
	cr_assert_not(aws_read_bool(&r, "Absent", &c));
	cr_assert_not(aws_read_bool(&r, "EnableSSMAccess", &c));
	_cleanup_free_ char *m = message_of(&r, "SerializationException");
	cr_assert(strstr(m, "EnableSSMAccess"), "%s", m);
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, an_enum_value_is_returned_when_it_is_in_the_set)
{
	static const char *const modes[] = {"SingleModel", "MultiModel", NULL};
	json_t *in = obj("{\"Mode\": \"MultiModel\"}");
	struct aws_reader r;
	struct aws_error e = {0};
	aws_reader_init(&r, in);
	cr_assert_str_eq(aws_read_enum(&r, "Mode", false, modes), "MultiModel");
	cr_assert_null(aws_read_enum(&r, "Other", false, modes));
	cr_assert_not(aws_reader_error(&r, &e));
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, a_missing_required_enum_is_reported_as_null)
{
	static const char *const modes[] = {"Serial", "Direct", NULL};
	json_t *in = obj("{\"InferenceExecutionConfig\": {}}");
	struct aws_reader r, c;
	aws_reader_init(&r, in);
	cr_assert(aws_read_object(&r, "InferenceExecutionConfig", false, &c));
	cr_assert_null(aws_read_enum(&c, "Mode", true, modes));
	_cleanup_free_ char *m = message_of(&r, "ValidationException");
	cr_assert_str_eq(m, "1 validation error detected: Value null at "
			    "'inferenceExecutionConfig.mode' failed to satisfy constraint: Member "
			    "must not be null");
	aws_reader_clear(&c);
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, a_structure_of_the_wrong_type_is_a_serialization_exception)
{
	json_t *in = obj("{\"PrimaryContainer\": \"image\"}");
	struct aws_reader r, c;
	aws_reader_init(&r, in);
	cr_assert_not(aws_read_object(&r, "PrimaryContainer", false, &c));
	cr_assert_null(c.obj);
	_cleanup_free_ char *m = message_of(&r, "SerializationException");
	cr_assert_str_eq(m, "Cannot deserialize PrimaryContainer: expected a structure but found "
			    "VALUE_STRING");
	aws_reader_clear(&c);
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, a_list_item_that_is_not_a_structure_is_a_serialization_exception)
{
	json_t *in = obj("{\"Containers\": [{}, 5]}");
	struct aws_reader r, c;
	json_t *list;
	aws_reader_init(&r, in);
	aws_read_list(&r, "Containers", false, 0, 15, &list);
	cr_assert(aws_read_list_object(&r, list, "Containers", 0, &c));
	aws_reader_clear(&c);
	cr_assert_not(aws_read_list_object(&r, list, "Containers", 1, &c));
	_cleanup_free_ char *m = message_of(&r, "SerializationException");
	cr_assert_str_eq(m, "Cannot deserialize containers.2.member: expected a structure but "
			    "found VALUE_NUMBER_INT");
	aws_reader_clear(&c);
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, an_absent_required_structure_is_reported_as_null)
{
	json_t *in = obj("{}");
	struct aws_reader r, c;
	aws_reader_init(&r, in);
	cr_assert_not(aws_read_object(&r, "InferenceExecutionConfig", true, &c));
	_cleanup_free_ char *m = message_of(&r, "ValidationException");
	cr_assert_str_eq(m, "1 validation error detected: Value null at "
			    "'inferenceExecutionConfig' failed to satisfy constraint: Member must "
			    "not be null");
	aws_reader_clear(&c);
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, a_valid_environment_map_is_returned)
{
	json_t *in = obj("{\"Environment\": {\"SAGEMAKER_PROGRAM\": \"serve.py\", \"_X1\": \"\"}}");
	struct aws_reader r;
	struct aws_error e = {0};
	aws_reader_init(&r, in);
	json_t *env = aws_read_map(&r, "Environment", &environment_rule);
	cr_assert_not_null(env);
	cr_assert_str_eq(json_string_value(json_object_get(env, "SAGEMAKER_PROGRAM")), "serve.py");
	cr_assert_not(aws_reader_error(&r, &e));
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, environment_keys_and_values_are_judged_as_a_whole)
{
	char big[1026];
	memset(big, 'v', 1025);
	big[1025] = '\0';
	json_t *in = json_pack("{s:[{}, {s:{s:s, s:s, s:s}}]}", "Containers", "Environment", "1BAD",
			       "x", "ALSO-BAD", "y", "OK", big);
	struct aws_reader r, c;
	json_t *list;
	aws_reader_init(&r, in);
	aws_read_list(&r, "Containers", false, 0, 15, &list);
	aws_read_list_object(&r, list, "Containers", 1, &c);
	cr_assert_null(aws_read_map(&c, "Environment", &environment_rule));
	_cleanup_free_ char *m = message_of(&r, "ValidationException");
	cr_assert_str_eq(m, "2 validation errors detected: "
			    "Value at 'containers.2.member.environment' failed to satisfy "
			    "constraint: Map keys must satisfy constraint: [Member must satisfy "
			    "regular expression pattern: [a-zA-Z_][a-zA-Z0-9_]*]; "
			    "Value at 'containers.2.member.environment' failed to satisfy "
			    "constraint: Map value must satisfy constraint: [Member must have "
			    "length less than or equal to 1024]");
	aws_reader_clear(&c);
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, an_environment_of_too_many_entries_is_refused_by_count)
{
	json_t *env = json_object();
	for (int i = 0; i < 101; i++) {
		char k[16];
		snprintf(k, sizeof(k), "K%d", i);
		json_object_set_new(env, k, json_string("v"));
	}
	json_t *in = json_pack("{s:{s:o}}", "PrimaryContainer", "Environment", env);
	struct aws_reader r, c;
	aws_reader_init(&r, in);
	aws_read_object(&r, "PrimaryContainer", false, &c);
	cr_assert_null(aws_read_map(&c, "Environment", &environment_rule));
	_cleanup_free_ char *m = message_of(&r, "ValidationException");
	cr_assert_str_eq(m, "1 validation error detected: Value at "
			    "'primaryContainer.environment' failed to satisfy constraint: Member "
			    "must have length less than or equal to 100");
	aws_reader_clear(&c);
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, an_environment_value_that_is_not_a_string_is_a_serialization_exception)
{
	json_t *in = obj("{\"PrimaryContainer\": {\"Environment\": {\"PORT\": 8080}}}");
	struct aws_reader r, c;
	aws_reader_init(&r, in);
	aws_read_object(&r, "PrimaryContainer", false, &c);
	cr_assert_null(aws_read_map(&c, "Environment", &environment_rule));
	_cleanup_free_ char *m = message_of(&r, "SerializationException");
	cr_assert_str_eq(m, "Cannot deserialize primaryContainer.environment.PORT: expected a "
			    "string but found VALUE_NUMBER_INT");
	aws_reader_clear(&c);
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, a_required_nested_string_sent_as_json_null_is_reported_as_null)
{
	static const struct aws_string_rule rule = {.required = true, .max_len = 63};
	json_t *in = obj("{\"ProductionVariants\": [{\"VariantName\": null}]}");
	struct aws_reader r, v;
	json_t *list;
	aws_reader_init(&r, in);
	aws_read_list(&r, "ProductionVariants", true, 1, 10, &list);
	aws_read_list_object(&r, list, "ProductionVariants", 0, &v);
	cr_assert_null(aws_read_valid_string(&v, "VariantName", &rule));
	_cleanup_free_ char *m = message_of(&r, "ValidationException");
	cr_assert_str_eq(m, "1 validation error detected: Value null at "
			    "'productionVariants.1.member.variantName' failed to satisfy "
			    "constraint: Member must not be null");
	aws_reader_clear(&v);
	aws_reader_clear(&r);
	json_decref(in);
}

Test(awsproto, a_required_member_of_the_wrong_type_is_not_also_reported_as_null)
{
	static const struct aws_string_rule rule = {.required = true, .max_len = 63};
	json_t *in = obj("{\"VariantName\": 5}");
	struct aws_reader r;
	aws_reader_init(&r, in);
	cr_assert_null(aws_read_valid_string(&r, "VariantName", &rule));
	cr_assert_eq(r.n_verrs, 0);
	_cleanup_free_ char *m = message_of(&r, "SerializationException");
	cr_assert(strstr(m, "VariantName"), "%s", m);
	aws_reader_clear(&r);
	json_decref(in);
}
