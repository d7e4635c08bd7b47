/* Unit tests for lib/httpreq.c: request heads and chunked framing, good and hostile. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "httpreq.h"
#include "util.h"

static struct httpreq req;

static void setup(void)
{
	httpreq_init(&req);
}

static void teardown(void)
{
	httpreq_clear(&req);
}

TestSuite(httpreq, .init = setup, .fini = teardown);

/* Parse s whole; returns the result and sets *consumed. */
static enum httpreq_result parse_n(const char *s, size_t len, size_t *consumed)
{
	size_t c = 0;
	enum httpreq_result r = httpreq_parse(&req, s, len, &c);
	if (consumed)
		*consumed = c;
	return r;
}

static enum httpreq_result parse(const char *s)
{
	return parse_n(s, strlen(s), NULL);
}

/* Assert that s is refused with status. */
static void refused(const char *s, int status)
{
	enum httpreq_result r = parse(s);
	cr_assert_eq(r, HTTPREQ_ERROR, "accepted: %s", s);
	cr_assert_eq(req.error_status, status, "status %d (%s) for: %s", req.error_status,
	             req.error_reason, s);
	cr_assert_not_null(req.error_reason);
}

/* A string of n copies of c (caller frees). */
static char *repeat(char c, size_t n)
{
	char *s = xmalloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* --- good heads --- */

Test(httpreq, parses_a_simple_get)
{
	size_t consumed;
	const char *s = "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n";
	cr_assert_eq(parse_n(s, strlen(s), &consumed), HTTPREQ_DONE);
	cr_assert_eq(consumed, strlen(s));
	cr_assert_str_eq(req.method, "GET");
	cr_assert_str_eq(req.target, "/ping");
	cr_assert_str_eq(req.path, "/ping");
	cr_assert_eq(req.version, 11);
	cr_assert_eq(req.content_length, -1);
	cr_assert(req.keep_alive);
	cr_assert_not(req.chunked);
}

Test(httpreq, consumed_stops_at_the_end_of_the_head)
{
	size_t consumed;
	const char *s = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}GET";
	cr_assert_eq(parse_n(s, strlen(s), &consumed), HTTPREQ_DONE);
	cr_assert_eq(consumed, strlen(s) - 5);
	cr_assert_eq(req.content_length, 2);
}

Test(httpreq, path_stops_at_the_query)
{
	cr_assert_eq(parse("GET /a/b?c=d HTTP/1.1\r\nHost: x\r\n\r\n"), HTTPREQ_DONE);
	cr_assert_str_eq(req.target, "/a/b?c=d");
	cr_assert_str_eq(req.path, "/a/b");
}

Test(httpreq, query_is_what_follows_the_first_question_mark_as_sent)
{
	cr_assert_eq(parse("GET /a%2Fb?x=%41&y=?z HTTP/1.1\r\nHost: h\r\n\r\n"), HTTPREQ_DONE);
	cr_assert_str_eq(req.path, "/a%2Fb");
	cr_assert_str_eq(httpreq_query(&req), "x=%41&y=?z");
}

Test(httpreq, query_is_null_without_a_question_mark_and_empty_after_a_bare_one)
{
	cr_assert_eq(parse("GET /a HTTP/1.1\r\nHost: h\r\n\r\n"), HTTPREQ_DONE);
	cr_assert_null(httpreq_query(&req));
	httpreq_clear(&req);
	cr_assert_eq(parse("GET /a? HTTP/1.1\r\nHost: h\r\n\r\n"), HTTPREQ_DONE);
	cr_assert_str_eq(httpreq_query(&req), "");
}

Test(httpreq, query_of_an_absolute_form_target_is_kept)
{
	cr_assert_eq(parse("GET http://h:1/p?q=1 HTTP/1.1\r\nHost: h\r\n\r\n"), HTTPREQ_DONE);
	cr_assert_str_eq(req.path, "/p");
	cr_assert_str_eq(httpreq_query(&req), "q=1");
}

Test(httpreq, header_values_are_trimmed_and_names_case_insensitive)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: \t SageMaker.X \t\r\n\r\n"),
	             HTTPREQ_DONE);
	cr_assert_str_eq(httpreq_header(&req, "x-amz-target"), "SageMaker.X");
	cr_assert_null(httpreq_header(&req, "X-Other"));
}

Test(httpreq, empty_header_value_is_allowed)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: x\r\nAccept:\r\n\r\n"), HTTPREQ_DONE);
	cr_assert_str_eq(httpreq_header(&req, "Accept"), "");
}

Test(httpreq, header_value_may_hold_obs_text)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: x\r\nX-V: a\xff\x80z\r\n\r\n"), HTTPREQ_DONE);
	cr_assert_str_eq(httpreq_header(&req, "X-V"), "a\xff\x80z");
}

Test(httpreq, target_may_hold_bytes_above_0x7f)
{
	cr_assert_eq(parse("POST /endpoints/a\xff"
	                   "b/invocations HTTP/1.1\r\nHost: x\r\n\r\n"),
	             HTTPREQ_DONE);
	cr_assert_str_eq(req.path, "/endpoints/a\xff"
	                           "b/invocations");
}

Test(httpreq, needs_more_until_the_empty_line)
{
	const char *s = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	size_t len = strlen(s);
	for (size_t n = 0; n < len; n++)
		cr_assert_eq(parse_n(s, n, NULL), HTTPREQ_NEED_MORE, "at %zu", n);
	cr_assert_eq(parse_n(s, len, NULL), HTTPREQ_DONE);
}

Test(httpreq, byte_at_a_time_gives_the_same_head)
{
	const char *s = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nA: b\r\n\r\n";
	size_t len = strlen(s), consumed = 0;
	enum httpreq_result r = HTTPREQ_NEED_MORE;
	for (size_t n = 1; n <= len && r == HTTPREQ_NEED_MORE; n++)
		r = parse_n(s, n, &consumed);
	cr_assert_eq(r, HTTPREQ_DONE);
	cr_assert_eq(consumed, len);
	cr_assert_eq(req.content_length, 10);
	cr_assert_str_eq(httpreq_header(&req, "A"), "b");
}

Test(httpreq, leading_empty_lines_are_skipped)
{
	size_t consumed;
	const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
	cr_assert_eq(parse_n(s, strlen(s), &consumed), HTTPREQ_DONE);
	cr_assert_eq(consumed, strlen(s));
	cr_assert_str_eq(req.method, "GET");
}

Test(httpreq, too_many_leading_empty_lines_are_refused)
{
	_cleanup_free_ char *crlf = xmalloc(2 * 20 + 1);
	for (int i = 0; i < 20; i++)
		memcpy(crlf + 2 * i, "\r\n", 2);
	crlf[40] = '\0';
	_cleanup_free_ char *s = xasprintf("%sGET / HTTP/1.1\r\nHost: x\r\n\r\n", crlf);
	refused(s, 400);
}

Test(httpreq, http_1_0_closes_by_default)
{
	cr_assert_eq(parse("GET / HTTP/1.0\r\n\r\n"), HTTPREQ_DONE);
	cr_assert_eq(req.version, 10);
	cr_assert_not(req.keep_alive);
}

Test(httpreq, http_1_0_keeps_alive_when_asked)
{
	cr_assert_eq(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), HTTPREQ_DONE);
	cr_assert(req.keep_alive);
}

Test(httpreq, http_1_1_closes_on_connection_close)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, close\r\n\r\n"),
	             HTTPREQ_DONE);
	cr_assert_not(req.keep_alive);
}

Test(httpreq, absolute_form_is_reduced_to_its_path)
{
	cr_assert_eq(parse("GET http://example.com:8780/endpoints/a/invocations?x=1 HTTP/1.1\r\n"
	                   "Host: example.com\r\n\r\n"),
	             HTTPREQ_DONE);
	cr_assert_str_eq(req.target, "/endpoints/a/invocations?x=1");
	cr_assert_str_eq(req.path, "/endpoints/a/invocations");
}

Test(httpreq, absolute_form_without_a_path_is_the_root)
{
	cr_assert_eq(parse("POST HTTP://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n"),
	             HTTPREQ_DONE);
	cr_assert_str_eq(req.path, "/");
}

Test(httpreq, absolute_form_with_only_a_query_keeps_it)
{
	cr_assert_eq(parse("GET https://h?q=1 HTTP/1.1\r\nHost: h\r\n\r\n"), HTTPREQ_DONE);
	cr_assert_str_eq(req.target, "/?q=1");
	cr_assert_str_eq(req.path, "/");
}

Test(httpreq, asterisk_form_is_taken_for_options)
{
	cr_assert_eq(parse("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"), HTTPREQ_DONE);
	cr_assert_str_eq(req.path, "*");
}

Test(httpreq, chunked_transfer_encoding_is_recognised)
{
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"),
	             HTTPREQ_DONE);
	cr_assert(req.chunked);
	cr_assert_eq(req.content_length, -1);
}

Test(httpreq, expect_100_continue_is_recognised)
{
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
	                   "Expect: 100-Continue\r\n\r\n"),
	             HTTPREQ_DONE);
	cr_assert(req.expect_continue);
}

Test(httpreq, identical_content_lengths_are_one)
{
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n"
	                   "Content-Length: 7\r\n\r\n"),
	             HTTPREQ_DONE);
	cr_assert_eq(req.content_length, 7);
}

Test(httpreq, a_hundred_headers_are_accepted)
{
	struct buf b = {0};
	buf_printf(&b, "GET / HTTP/1.1\r\nHost: x\r\n");
	for (int i = 1; i < HTTPREQ_MAX_HEADERS; i++)
		buf_printf(&b, "X-H%d: %d\r\n", i, i);
	buf_printf(&b, "\r\n");
	cr_assert_eq(parse(b.data), HTTPREQ_DONE);
	cr_assert_eq(req.n_headers, HTTPREQ_MAX_HEADERS);
	free(b.data);
}

Test(httpreq, can_parse_again_after_clear)
{
	cr_assert_eq(parse("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"), HTTPREQ_DONE);
	httpreq_clear(&req);
	cr_assert_eq(parse("GET /b HTTP/1.1\r\nHost: x\r\n\r\n"), HTTPREQ_DONE);
	cr_assert_str_eq(req.path, "/b");
}

/* --- hostile heads --- */

Test(httpreq, refuses_missing_host_on_1_1)
{
	refused("GET / HTTP/1.1\r\n\r\n", 400);
}

Test(httpreq, refuses_two_hosts)
{
	refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
}

Test(httpreq, refuses_bare_lf_line_endings)
{
	refused("GET / HTTP/1.1\nHost: x\n\n", 400);
}

Test(httpreq, refuses_a_bare_lf_in_a_header_block)
{
	refused("GET / HTTP/1.1\r\nHost: x\nA: b\r\n\r\n", 400);
}

Test(httpreq, refuses_a_bare_cr)
{
	refused("GET / HTTP/1.1\r\nHost: x\rA: b\r\n\r\n", 400);
}

Test(httpreq, refuses_a_leading_bare_lf)
{
	refused("\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

Test(httpreq, refuses_nul_in_the_request_line)
{
	const char s[] = "GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n";
	cr_assert_eq(parse_n(s, sizeof(s) - 1, NULL), HTTPREQ_ERROR);
	cr_assert_eq(req.error_status, 400);
}

Test(httpreq, refuses_nul_in_a_header_value_before_the_head_ends)
{
	const char s[] = "GET / HTTP/1.1\r\nHost: x\0";
	cr_assert_eq(parse_n(s, sizeof(s) - 1, NULL), HTTPREQ_ERROR);
	cr_assert_eq(req.error_status, 400);
}

Test(httpreq, refuses_obs_fold)
{
	refused("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  continued\r\n\r\n", 400);
}

Test(httpreq, refuses_space_before_the_colon)
{
	refused("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400);
}

Test(httpreq, refuses_a_header_without_a_colon)
{
	refused("GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400);
}

Test(httpreq, refuses_an_empty_header_name)
{
	refused("GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n", 400);
}

Test(httpreq, refuses_a_non_token_header_name)
{
	refused("GET / HTTP/1.1\r\nHost: x\r\nX(y): v\r\n\r\n", 400);
}

Test(httpreq, refuses_control_bytes_in_values)
{
	refused("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01z\r\n\r\n", 400);
	httpreq_clear(&req);
	refused("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fz\r\n\r\n", 400);
}

Test(httpreq, refuses_a_bad_method)
{
	refused("G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	httpreq_clear(&req);
	refused(" GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

Test(httpreq, refuses_a_method_too_long)
{
	_cleanup_free_ char *m = repeat('A', HTTPREQ_MAX_METHOD + 1);
	_cleanup_free_ char *s = xasprintf("%s / HTTP/1.1\r\nHost: x\r\n\r\n", m);
	refused(s, 501);
}

Test(httpreq, refuses_two_spaces_in_the_request_line)
{
	refused("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	httpreq_clear(&req);
	refused("GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400);
}

Test(httpreq, refuses_a_missing_version)
{
	refused("GET /\r\nHost: x\r\n\r\n", 400);
}

Test(httpreq, refuses_a_malformed_version)
{
	refused("GET / HTTP/1.10\r\nHost: x\r\n\r\n", 400);
	httpreq_clear(&req);
	refused("GET / http/1.1\r\nHost: x\r\n\r\n", 400);
}

Test(httpreq, refuses_http_2_and_0_9_with_505)
{
	refused("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505);
	httpreq_clear(&req);
	refused("GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505);
}

Test(httpreq, refuses_a_relative_target)
{
	refused("GET endpoints HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

Test(httpreq, refuses_authority_form)
{
	refused("CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

Test(httpreq, refuses_asterisk_for_other_methods)
{
	refused("GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

Test(httpreq, refuses_absolute_form_without_a_host)
{
	refused("GET http:///x HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

Test(httpreq, refuses_a_fragment)
{
	refused("GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

Test(httpreq, refuses_an_over_long_target_with_414)
{
	_cleanup_free_ char *path = repeat('a', HTTPREQ_MAX_TARGET + 1);
	_cleanup_free_ char *s = xasprintf("GET /%s HTTP/1.1\r\nHost: x\r\n\r\n", path);
	refused(s, 414);
}

Test(httpreq, refuses_an_over_long_target_before_its_line_ends)
{
	_cleanup_free_ char *path = repeat('a', HTTPREQ_MAX_TARGET + 100);
	_cleanup_free_ char *s = xasprintf("GET /%s", path);
	refused(s, 414);
}

Test(httpreq, accepts_a_target_at_the_limit)
{
	_cleanup_free_ char *path = repeat('a', HTTPREQ_MAX_TARGET - 1);
	_cleanup_free_ char *s = xasprintf("GET /%s HTTP/1.1\r\nHost: x\r\n\r\n", path);
	cr_assert_eq(parse(s), HTTPREQ_DONE);
}

Test(httpreq, refuses_a_head_over_64_kib_with_431)
{
	_cleanup_free_ char *v = repeat('v', HTTPREQ_MAX_HEAD);
	_cleanup_free_ char *s = xasprintf("GET / HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", v);
	refused(s, 431);
}

Test(httpreq, refuses_an_unfinished_head_over_64_kib_with_431)
{
	_cleanup_free_ char *v = repeat('v', HTTPREQ_MAX_HEAD + 10);
	_cleanup_free_ char *s = xasprintf("GET / HTTP/1.1\r\nHost: x\r\nX-Big: %s", v);
	refused(s, 431);
}

Test(httpreq, refuses_more_than_100_headers_with_431)
{
	struct buf b = {0};
	buf_printf(&b, "GET / HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < HTTPREQ_MAX_HEADERS; i++)
		buf_printf(&b, "X: %d\r\n", i);
	buf_printf(&b, "\r\n");
	refused(b.data, 431);
	free(b.data);
}

Test(httpreq, refuses_content_length_that_is_not_digits)
{
	static const char *const bad[] = {
	    "-1", "+1", "1.0", "0x10", "1 2", "1,1", "", "abc", "1234567890123456789"};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		_cleanup_free_ char *s =
		    xasprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %s\r\n\r\n", bad[i]);
		refused(s, 400);
		httpreq_clear(&req);
	}
}

Test(httpreq, refuses_differing_content_lengths)
{
	refused("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	        400);
}

Test(httpreq, refuses_content_length_with_transfer_encoding)
{
	refused("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
	        "Transfer-Encoding: chunked\r\n\r\n",
	        400);
	httpreq_clear(&req);
	refused("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
	        "Content-Length: 1\r\n\r\n",
	        400);
}

Test(httpreq, refuses_transfer_codings_other_than_chunked)
{
	refused("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
	httpreq_clear(&req);
	refused("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
	        "Transfer-Encoding: chunked\r\n\r\n",
	        501);
}

Test(httpreq, refuses_transfer_encoding_on_http_1_0)
{
	refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
}

Test(httpreq, refuses_other_expectations_with_417)
{
	refused("POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n", 417);
}

Test(httpreq, refuses_garbage_at_its_first_byte)
{
	cr_assert_eq(parse_n("{\"a\"", 4, NULL), HTTPREQ_ERROR);
	cr_assert_eq(req.error_status, 400);
}

Test(httpreq, refuses_garbage)
{
	const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
	cr_assert_eq(parse_n(tls, sizeof(tls) - 1, NULL), HTTPREQ_ERROR);
	cr_assert_eq(req.error_status, 400);
	httpreq_clear(&req);
	refused("hello\r\n\r\n", 400);
}

/* --- chunked bodies --- */

/* Decode s whole; the data goes to out (up to cap). */
static enum httpreq_result decode(struct httpreq_chunked *c, const char *s, size_t len, char *out,
                                  size_t cap, size_t *ret_out, size_t *ret_consumed)
{
	size_t pos = 0, n_out = 0;
	for (;;) {
		size_t used = 0;
		enum httpreq_result r = httpreq_chunked_parse(c, s + pos, len - pos, &used);
		pos += used;
		if (r != HTTPREQ_DATA) {
			*ret_out = n_out;
			*ret_consumed = pos;
			return r;
		}
		size_t take = len - pos < c->left ? len - pos : (size_t)c->left;
		cr_assert(n_out + take <= cap);
		memcpy(out + n_out, s + pos, take);
		n_out += take;
		pos += take;
		httpreq_chunked_data(c, take);
		if (take == 0) {
			*ret_out = n_out;
			*ret_consumed = pos;
			return HTTPREQ_NEED_MORE;
		}
	}
}

/* Decode s and assert it is refused with status. */
static void chunked_refused(const char *s, int status)
{
	struct httpreq_chunked c;
	char out[256];
	size_t n, used;
	httpreq_chunked_init(&c);
	cr_assert_eq(decode(&c, s, strlen(s), out, sizeof(out), &n, &used), HTTPREQ_ERROR,
	             "accepted: %s", s);
	cr_assert_eq(c.error_status, status, "%d for %s", c.error_status, s);
}

Test(httpreq, chunked_decodes_chunks_and_stops_at_the_end)
{
	struct httpreq_chunked c;
	char out[64];
	size_t n, used;
	const char *s = "5\r\nhello\r\nA;ext=1\r\n, world!!!\r\n0\r\n\r\nGET";
	httpreq_chunked_init(&c);
	cr_assert_eq(decode(&c, s, strlen(s), out, sizeof(out), &n, &used), HTTPREQ_DONE);
	cr_assert_eq(n, 15);
	cr_assert_eq(memcmp(out, "hello, world!!!", 15), 0);
	cr_assert_eq(used, strlen(s) - 3);
}

Test(httpreq, chunked_byte_at_a_time)
{
	struct httpreq_chunked c;
	const char *s = "3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n";
	char out[8];
	size_t n_out = 0;
	enum httpreq_result r = HTTPREQ_NEED_MORE;
	httpreq_chunked_init(&c);
	for (size_t i = 0; i < strlen(s); i++) {
		size_t used = 0;
		r = httpreq_chunked_parse(&c, s + i, 1, &used);
		if (r == HTTPREQ_DATA && used == 0) {
			out[n_out++] = s[i];
			httpreq_chunked_data(&c, 1);
			r = HTTPREQ_NEED_MORE;
		} else {
			cr_assert(used == 1 || r == HTTPREQ_DATA, "at %zu: %d", i, r);
		}
		if (r == HTTPREQ_DONE)
			cr_assert_eq(i, strlen(s) - 1);
	}
	cr_assert_eq(r, HTTPREQ_DONE);
	cr_assert_eq(n_out, 3);
	cr_assert_eq(memcmp(out, "abc", 3), 0);
}

Test(httpreq, chunked_accepts_upper_case_hex_and_white_space_before_extensions)
{
	struct httpreq_chunked c;
	char out[64];
	size_t n, used;
	const char *s = "0000000A ;a=b\r\n0123456789\r\n0\r\n\r\n";
	httpreq_chunked_init(&c);
	cr_assert_eq(decode(&c, s, strlen(s), out, sizeof(out), &n, &used), HTTPREQ_DONE);
	cr_assert_eq(n, 10);
}

Test(httpreq, chunked_refuses_a_sign)
{
	chunked_refused("-5\r\nhello\r\n0\r\n\r\n", 400);
	chunked_refused("+5\r\nhello\r\n0\r\n\r\n", 400);
}

Test(httpreq, chunked_refuses_a_0x_prefix)
{
	chunked_refused("0x5\r\nhello\r\n0\r\n\r\n", 400);
}

Test(httpreq, chunked_refuses_leading_white_space)
{
	chunked_refused(" 5\r\nhello\r\n0\r\n\r\n", 400);
}

Test(httpreq, chunked_refuses_an_empty_size)
{
	chunked_refused("\r\nhello\r\n0\r\n\r\n", 400);
}

Test(httpreq, chunked_refuses_sizes_of_more_than_15_digits)
{
	chunked_refused("1000000000000000\r\n", 400);
}

Test(httpreq, chunked_refuses_bare_lf)
{
	chunked_refused("5\nhello\r\n0\r\n\r\n", 400);
	chunked_refused("5\r\nhello\n0\r\n\r\n", 400);
	chunked_refused("0\r\n\n", 400);
}

Test(httpreq, chunked_refuses_data_longer_than_its_size)
{
	chunked_refused("3\r\nhello\r\n0\r\n\r\n", 400);
}

Test(httpreq, chunked_refuses_nul_in_framing)
{
	const char s[] = "5\0\r\nhello\r\n";
	struct httpreq_chunked c;
	size_t used;
	httpreq_chunked_init(&c);
	cr_assert_eq(httpreq_chunked_parse(&c, s, sizeof(s) - 1, &used), HTTPREQ_ERROR);
}

Test(httpreq, chunked_refuses_an_endless_size_line)
{
	_cleanup_free_ char *ext = repeat('a', HTTPREQ_MAX_CHUNK_LINE + 10);
	_cleanup_free_ char *s = xasprintf("5;%s\r\n", ext);
	chunked_refused(s, 400);
}

Test(httpreq, chunked_refuses_an_endless_trailer_section)
{
	_cleanup_free_ char *v = repeat('v', HTTPREQ_MAX_HEAD + 10);
	_cleanup_free_ char *s = xasprintf("0\r\nX-T: %s\r\n\r\n", v);
	chunked_refused(s, 431);
}

Test(httpreq, chunked_refuses_a_folded_trailer)
{
	chunked_refused("0\r\nX-T: a\r\n b\r\n\r\n", 400);
}
