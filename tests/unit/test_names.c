/* Unit tests for lib/names.c: resource names, tags and ARNs. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

/* A string of n copies of c, in a static buffer. */
static const char *repeat(char c, size_t n)
{
	static char buf[1024];

	cr_assert(n < sizeof(buf));
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

/* Resource names */

Test(names, resource_accepts_a_single_letter)
{
	cr_assert(names_valid_resource("a"));
}

Test(names, resource_accepts_a_single_digit)
{
	cr_assert(names_valid_resource("7"));
}

Test(names, resource_accepts_mixed_case_and_digits)
{
	cr_assert(names_valid_resource("ResNet50v2"));
}

Test(names, resource_accepts_63_characters)
{
	cr_assert(names_valid_resource(repeat('a', 63)));
}

Test(names, resource_rejects_64_characters)
{
	cr_assert_not(names_valid_resource(repeat('a', 64)));
}

Test(names, resource_rejects_empty)
{
	cr_assert_not(names_valid_resource(""));
}

Test(names, resource_rejects_null)
{
	cr_assert_not(names_valid_resource(NULL));
}

Test(names, resource_accepts_hyphen_in_the_middle)
{
	cr_assert(names_valid_resource("my-endpoint"));
}

Test(names, resource_accepts_double_hyphen_in_the_middle)
{
	cr_assert(names_valid_resource("my--endpoint"));
}

Test(names, resource_rejects_leading_hyphen)
{
	cr_assert_not(names_valid_resource("-endpoint"));
}

Test(names, resource_rejects_trailing_hyphen)
{
	cr_assert_not(names_valid_resource("endpoint-"));
}

Test(names, resource_rejects_lone_hyphen)
{
	cr_assert_not(names_valid_resource("-"));
}

Test(names, resource_rejects_underscore)
{
	cr_assert_not(names_valid_resource("my_endpoint"));
}

Test(names, resource_rejects_dot)
{
	cr_assert_not(names_valid_resource("my.endpoint"));
}

Test(names, resource_rejects_space)
{
	cr_assert_not(names_valid_resource("my endpoint"));
}

Test(names, resource_rejects_non_ascii_letter)
{
	cr_assert_not(names_valid_resource("caf\xc3\xa9"));
}

/* UTF-8 length */

Test(names, utf8_length_counts_ascii_bytes)
{
	cr_assert_eq(names_utf8_length("hello"), 5);
}

Test(names, utf8_length_counts_code_points_not_bytes)
{
	/* "é" (2 bytes), "€" (3 bytes), U+1F600 (4 bytes) */
	cr_assert_eq(names_utf8_length("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"), 3);
}

Test(names, utf8_length_of_empty_is_zero)
{
	cr_assert_eq(names_utf8_length(""), 0);
}

Test(names, utf8_length_rejects_truncated_sequence)
{
	cr_assert_eq(names_utf8_length("ab\xe2\x82"), -1);
}

Test(names, utf8_length_rejects_stray_continuation_byte)
{
	cr_assert_eq(names_utf8_length("a\x80"), -1);
}

Test(names, utf8_length_rejects_overlong_encoding)
{
	cr_assert_eq(names_utf8_length("\xc0\xaf"), -1);
}

Test(names, utf8_length_rejects_surrogate)
{
	cr_assert_eq(names_utf8_length("\xed\xa0\x80"), -1);
}

Test(names, utf8_length_rejects_code_point_past_u10ffff)
{
	cr_assert_eq(names_utf8_length("\xf4\x90\x80\x80"), -1);
}

/* Tag keys */

Test(names, tag_key_accepts_letters_digits_and_symbols)
{
	cr_assert(names_valid_tag_key("team:ml/prod_1 = a+b-c@d.e"));
}

Test(names, tag_key_accepts_utf8_letters)
{
	cr_assert(names_valid_tag_key("\xc3\xa9quipe-\xe6\x97\xa5\xe6\x9c\xac"));
}

Test(names, tag_key_accepts_128_characters)
{
	cr_assert(names_valid_tag_key(repeat('k', 128)));
}

Test(names, tag_key_rejects_129_characters)
{
	cr_assert_not(names_valid_tag_key(repeat('k', 129)));
}

Test(names, tag_key_counts_characters_not_bytes)
{
	char key[128 * 2 + 1] = "";

	for (int i = 0; i < 128; i++)
		strcat(key, "\xc3\xa9");
	cr_assert(names_valid_tag_key(key));
}

Test(names, tag_key_rejects_empty)
{
	cr_assert_not(names_valid_tag_key(""));
}

Test(names, tag_key_rejects_other_ascii_punctuation)
{
	cr_assert_not(names_valid_tag_key("cost*center"));
}

Test(names, tag_key_rejects_control_character)
{
	cr_assert_not(names_valid_tag_key("a\tb"));
}

Test(names, tag_key_rejects_c1_control_character)
{
	cr_assert_not(names_valid_tag_key("a\xc2\x85"));
}

Test(names, tag_key_rejects_invalid_utf8)
{
	cr_assert_not(names_valid_tag_key("caf\xe9"));
}

/* Tag values */

Test(names, tag_value_accepts_empty)
{
	cr_assert(names_valid_tag_value(""));
}

Test(names, tag_value_accepts_256_characters)
{
	cr_assert(names_valid_tag_value(repeat('v', 256)));
}

Test(names, tag_value_rejects_257_characters)
{
	cr_assert_not(names_valid_tag_value(repeat('v', 257)));
}

Test(names, tag_value_rejects_quote)
{
	cr_assert_not(names_valid_tag_value("it's"));
}

Test(names, tag_value_rejects_newline)
{
	cr_assert_not(names_valid_tag_value("two\nlines"));
}

/* ARNs */

Test(names, arn_formats_endpoint)
{
	char *arn = names_arn("us-east-1", "000000000000", "endpoint", "MyEndpoint");

	cr_assert_str_eq(arn, "arn:aws:sagemaker:us-east-1:000000000000:endpoint/MyEndpoint");
	free(arn);
}

Test(names, arn_formats_endpoint_config)
{
	char *arn = names_arn("eu-west-1", "123456789012", "endpoint-config", "cfg");

	cr_assert_str_eq(arn, "arn:aws:sagemaker:eu-west-1:123456789012:endpoint-config/cfg");
	free(arn);
}

Test(names, parse_arn_splits_kind_and_name_preserving_case)
{
	char *kind = NULL, *name = NULL;

	cr_assert_eq(names_parse_arn("arn:aws:sagemaker:us-east-1:000000000000:model/ResNet",
	                             "us-east-1", "000000000000", &kind, &name),
	             0);
	cr_assert_str_eq(kind, "model");
	cr_assert_str_eq(name, "ResNet");
	free(kind);
	free(name);
}

Test(names, parse_arn_accepts_endpoint_config_kind)
{
	char *kind = NULL, *name = NULL;

	cr_assert_eq(names_parse_arn("arn:aws:sagemaker:us-east-1:000000000000:endpoint-config/c",
	                             "us-east-1", "000000000000", &kind, &name),
	             0);
	cr_assert_str_eq(kind, "endpoint-config");
	free(kind);
	free(name);
}

Test(names, parse_arn_round_trips_names_arn)
{
	char *arn = names_arn("us-west-2", "111122223333", "endpoint", "e-1");
	char *kind = NULL, *name = NULL;

	cr_assert_eq(names_parse_arn(arn, "us-west-2", "111122223333", &kind, &name), 0);
	cr_assert_str_eq(kind, "endpoint");
	cr_assert_str_eq(name, "e-1");
	free(arn);
	free(kind);
	free(name);
}

Test(names, parse_arn_rejects_other_region)
{
	cr_assert_eq(names_parse_arn("arn:aws:sagemaker:eu-west-1:000000000000:endpoint/e",
	                             "us-east-1", "000000000000", NULL, NULL),
	             -EINVAL);
}

Test(names, parse_arn_rejects_region_prefix_match)
{
	cr_assert_eq(names_parse_arn("arn:aws:sagemaker:us-east-10:000000000000:endpoint/e",
	                             "us-east-1", "000000000000", NULL, NULL),
	             -EINVAL);
}

Test(names, parse_arn_rejects_other_account)
{
	cr_assert_eq(names_parse_arn("arn:aws:sagemaker:us-east-1:123456789012:endpoint/e",
	                             "us-east-1", "000000000000", NULL, NULL),
	             -EINVAL);
}

Test(names, parse_arn_rejects_unknown_kind)
{
	cr_assert_eq(names_parse_arn("arn:aws:sagemaker:us-east-1:000000000000:training-job/t",
	                             "us-east-1", "000000000000", NULL, NULL),
	             -EINVAL);
}

Test(names, parse_arn_rejects_kind_in_other_case)
{
	cr_assert_eq(names_parse_arn("arn:aws:sagemaker:us-east-1:000000000000:Endpoint/e",
	                             "us-east-1", "000000000000", NULL, NULL),
	             -EINVAL);
}

Test(names, parse_arn_rejects_other_service)
{
	cr_assert_eq(names_parse_arn("arn:aws:s3:us-east-1:000000000000:endpoint/e", "us-east-1",
	                             "000000000000", NULL, NULL),
	             -EINVAL);
}

Test(names, parse_arn_rejects_invalid_name)
{
	cr_assert_eq(names_parse_arn("arn:aws:sagemaker:us-east-1:000000000000:endpoint/bad_name",
	                             "us-east-1", "000000000000", NULL, NULL),
	             -EINVAL);
}

Test(names, parse_arn_rejects_missing_name)
{
	cr_assert_eq(names_parse_arn("arn:aws:sagemaker:us-east-1:000000000000:endpoint/",
	                             "us-east-1", "000000000000", NULL, NULL),
	             -EINVAL);
}

Test(names, parse_arn_rejects_missing_slash)
{
	cr_assert_eq(names_parse_arn("arn:aws:sagemaker:us-east-1:000000000000:endpoint",
	                             "us-east-1", "000000000000", NULL, NULL),
	             -EINVAL);
}

Test(names, parse_arn_leaves_outputs_untouched_on_failure)
{
	char *kind = (char *)"unchanged", *name = (char *)"unchanged";

	cr_assert_eq(names_parse_arn("not-an-arn", "us-east-1", "000000000000", &kind, &name),
	             -EINVAL);
	cr_assert_str_eq(kind, "unchanged");
	cr_assert_str_eq(name, "unchanged");
}

Test(names, env_keys_are_letters_digits_and_underscores_not_starting_with_a_digit)
{
	cr_assert(names_valid_env_key("A"));
	cr_assert(names_valid_env_key("_a1"));
	cr_assert(names_valid_env_key("SAGEMAKER_BIND_TO_PORT"));
	cr_assert_not(names_valid_env_key(""));
	cr_assert_not(names_valid_env_key("1A"));
	cr_assert_not(names_valid_env_key("A-B"));
	cr_assert_not(names_valid_env_key("A B"));
	cr_assert_not(names_valid_env_key("é"));
}
