/* The AWS JSON 1.1 and REST-JSON envelopes, and how request members are read. */
#include <criterion/criterion.h>
#include <errno.h>
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
