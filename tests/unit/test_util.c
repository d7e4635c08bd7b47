/* The helpers every module leans on: bounded buffers and the string map. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

Test(buf, append_refuses_to_pass_its_maximum_and_keeps_what_it_had)
{
	struct buf b = {.max = 8};
	cr_assert_eq(buf_append(&b, "12345", 5), 0);
	cr_assert_eq(buf_append(&b, "6789", 4), -E2BIG);
	cr_assert_eq(b.len, 5);
	cr_assert_str_eq(b.data, "12345");
	buf_reset(&b);
}

Test(buf, append_up_to_exactly_the_maximum_succeeds)
{
	struct buf b = {.max = 8};
	cr_assert_eq(buf_append(&b, "12345678", 8), 0);
	cr_assert_eq(buf_append(&b, "", 0), 0);
	cr_assert_eq(buf_append(&b, "9", 1), -E2BIG);
	buf_reset(&b);
}

Test(buf, steal_of_an_empty_buffer_gives_an_empty_string)
{
	struct buf b = {0};
	char *s = buf_steal(&b);
	cr_assert_str_eq(s, "");
	free(s);
}

Test(strmap, holds_many_keys_across_growth_and_removal)
{
	struct strmap *m = strmap_new();
	char key[32];
	for (long i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "k%ld", i);
		cr_assert_null(strmap_put(m, key, (void *)(i + 1)));
	}
	for (long i = 0; i < 5000; i += 2) {
		snprintf(key, sizeof(key), "k%ld", i);
		cr_assert_eq(strmap_remove(m, key), (void *)(i + 1));
	}
	cr_assert_eq(strmap_size(m), 2500);
	for (long i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "k%ld", i);
		void *v = strmap_get(m, key);
		cr_assert_eq(v, i % 2 ? (void *)(i + 1) : NULL, "key %s", key);
	}
	strmap_free(m);
}

Test(strmap, put_on_an_existing_key_returns_the_old_value)
{
	struct strmap *m = strmap_new();
	strmap_put(m, "a", (void *)1);
	cr_assert_eq(strmap_put(m, "a", (void *)2), (void *)1);
	cr_assert_eq(strmap_get(m, "a"), (void *)2);
	cr_assert_eq(strmap_size(m), 1);
	strmap_free(m);
}

Test(str, contains_ci_ignores_letter_case)
{
	cr_assert(str_contains_ci("My-Endpoint", "endp"));
	cr_assert_not(str_contains_ci("My-Endpoint", "xyz"));
}

Test(str, tolower_copies)
{
	char *s = str_tolower("AbC-9");
	cr_assert_str_eq(s, "abc-9");
	free(s);
}

Test(util, hex_digit_value_reads_both_cases_and_refuses_the_rest)
{
	cr_assert_eq(hex_digit_value('0'), 0);
	cr_assert_eq(hex_digit_value('9'), 9);
	cr_assert_eq(hex_digit_value('a'), 10);
	cr_assert_eq(hex_digit_value('F'), 15);
	cr_assert_eq(hex_digit_value('g'), -1);
	cr_assert_eq(hex_digit_value('%'), -1);
	cr_assert_eq(hex_digit_value(0), -1);
	cr_assert_eq(hex_digit_value(0xe9), -1);
}
