/* UTF-8 checks and repair: what makes bytes from outside safe for replies,
 * journal records and logs. */
#include <criterion/criterion.h>
#include <string.h>

#include "awsproto.h"
#include "utf8.h"

Test(utf8, ascii_and_multibyte_text_is_valid)
{
	const char *s = "abc é € 😀";
	cr_assert(utf8_valid(s, strlen(s)));
}

Test(utf8, malformed_sequences_are_not_valid)
{
	static const char *const bad[] = {
	    "\xff",             /* never a lead byte */
	    "\x80",             /* a lone continuation */
	    "\xc3",             /* truncated */
	    "\xc0\xaf",         /* overlong '/' */
	    "\xe0\x80\xaf",     /* overlong, three bytes */
	    "\xed\xa0\x80",     /* a surrogate */
	    "\xf4\x90\x80\x80", /* past U+10FFFF */
	    "\xe2\x82",         /* truncated euro sign */
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		cr_assert_not(utf8_valid(bad[i], strlen(bad[i])), "case %zu", i);
}

Test(utf8, an_embedded_nul_is_not_valid_text)
{
	cr_assert_not(utf8_valid("a\0b", 3));
}

Test(utf8, sanitize_replaces_each_bad_byte_and_keeps_the_rest)
{
	char *s = utf8_sanitize("a\xff"
	                        "b\xc3"
	                        "c\0d",
	                        7, 0);
	cr_assert_str_eq(s, "a" UTF8_REPLACEMENT "b" UTF8_REPLACEMENT "c" UTF8_REPLACEMENT "d");
	cr_assert(utf8_valid(s, strlen(s)));
	free(s);
}

Test(utf8, sanitize_cuts_on_a_character_boundary)
{
	/* "a" then a 4-byte character: a cut at 3 bytes cannot keep it. */
	char *s = utf8_sanitize("a\xf0\x9f\x98\x80", 5, 3);
	cr_assert_str_eq(s, "a");
	free(s);
	s = utf8_sanitize("a\xff\xff", 3, 5); /* 1 + 3 fits, 1 + 3 + 3 does not */
	cr_assert_str_eq(s, "a" UTF8_REPLACEMENT);
	free(s);
}

Test(utf8, sanitize_of_every_byte_value_is_valid)
{
	char all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (char)i;
	char *s = utf8_sanitize(all, sizeof(all), 0);
	cr_assert(utf8_valid(s, strlen(s)));
	free(s);
}

Test(utf8, prefix_len_does_not_split_a_character)
{
	cr_assert_eq(utf8_prefix_len("aé", 2), 1);
	cr_assert_eq(utf8_prefix_len("aé", 3), 3);
	cr_assert_eq(utf8_prefix_len("abc", 10), 3);
}

Test(utf8, error_bodies_with_bad_bytes_are_valid_json)
{
	char *b = aws_json_error_body("UnknownOperationException", "No operation SageMaker.\xff");
	json_t *v = json_loads(b, 0, NULL);
	cr_assert_not_null(v, "%s", b);
	cr_assert_str_eq(json_string_value(json_object_get(v, "message")),
	                 "No operation SageMaker." UTF8_REPLACEMENT);
	json_decref(v);
	free(b);
	b = aws_rest_error_body("ValidationError",
	                        "Endpoint a\xff"
	                        "b not found.",
	                        NULL);
	v = json_loads(b, 0, NULL);
	cr_assert_not_null(v, "%s", b);
	json_decref(v);
	free(b);
}

Test(utf8, dumping_a_reply_that_could_not_be_built_does_not_abort)
{
	char *b = aws_dump(NULL);
	json_t *v = json_loads(b, 0, NULL);
	cr_assert_not_null(v);
	cr_assert_str_eq(json_string_value(json_object_get(v, "__type")), "InternalFailure");
	json_decref(v);
	free(b);
}

Test(utf8, aws_string_repairs_and_never_returns_null)
{
	json_t *s = aws_string("x\xffy");
	cr_assert_not_null(s);
	cr_assert_str_eq(json_string_value(s), "x" UTF8_REPLACEMENT "y");
	json_decref(s);
}

Test(utf8, a_validation_message_cuts_a_long_value_on_a_character_boundary)
{
	/* 1 + 2 * 200 bytes: byte 256 is inside a character. */
	char name[402] = "a";
	for (int i = 0; i < 200; i++)
		memcpy(name + 1 + 2 * i, "\xc3\xa9", 2);
	name[401] = '\0';
	json_t *o = json_pack("{s:s}", "EndpointName", name);
	struct aws_reader r;
	aws_reader_init(&r, o);
	cr_assert_null(aws_read_name(&r, "EndpointName", true));
	struct aws_error e = {0};
	cr_assert(aws_reader_error(&r, &e));
	cr_assert(utf8_valid(e.message, strlen(e.message)), "%s", e.message);
	char *body = aws_json_error_body(e.code, e.message);
	json_t *v = json_loads(body, 0, NULL);
	cr_assert_not_null(v);
	json_decref(v);
	free(body);
	aws_error_clear(&e);
	aws_reader_clear(&r);
	json_decref(o);
}
