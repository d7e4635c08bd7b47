/*
 * Unit tests for lib/auth.c: the Authorization header and presigned query
 * forms and every malformed shape of them, canonicalisation (each expected
 * canonical request is written out here and signed by the test's own HMAC
 * chain), AWS's clock window, policies and the body hash.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"
#include "util.h"

#define AKID "AKIDUNITTEST0001"
#define SECRET "unit/test+secret"
#define REGION "eu-west-1"
#define SERVICE "sagemaker"
#define DATE "20261202T143000Z"
#define NOW 1796221800.0 /* DATE */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static struct auth_keys *keys;

/* One key, "team-a", allowed everything. */
static void setup(void)
{
	keys = xcalloc(1, sizeof(*keys));
	keys->refs = 1;
	keys->n_keys = 1;
	keys->keys = xcalloc(1, sizeof(*keys->keys));
	keys->keys[0].name = xstrdup("team-a");
	keys->keys[0].access_key_id = xstrdup(AKID);
	keys->keys[0].secret_access_key = xstrdup(SECRET);
}

static void teardown(void)
{
	keys = auth_keys_unref(keys);
}

TestSuite(auth, .init = setup, .fini = teardown);

/* A request under construction: up to 80 headers. */
struct req {
	const char *names[80];
	const char *values[80];
	struct auth_request r;
	char *owned[80];
	size_t n_owned;
};

static void req_init(struct req *q, const char *method, const char *path, const char *query)
{
	memset(q, 0, sizeof(*q));
	q->r = (struct auth_request){.method = method,
	                             .raw_path = path,
	                             .raw_query = query,
	                             .header_names = q->names,
	                             .header_values = q->values,
	                             .body_sha256_hex = EMPTY_SHA256};
}

static void req_header(struct req *q, const char *name, const char *value)
{
	cr_assert(q->r.n_headers < ELEMENTSOF(q->names));
	q->owned[q->n_owned++] = xstrdup(value);
	q->names[q->r.n_headers] = name;
	q->values[q->r.n_headers++] = q->owned[q->n_owned - 1];
}

static void req_free(struct req *q)
{
	for (size_t i = 0; i < q->n_owned; i++)
		free(q->owned[i]);
}

static void hmac(const void *key, size_t key_len, const char *msg, unsigned char out[32])
{
	unsigned int len = 32;
	HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out, &len);
}

/* The signature of a canonical request, as the SigV4 specification
 * defines it, for DATE, REGION and SERVICE. */
static void sign_canonical(const char *canonical, const char *secret, char out[65])
{
	unsigned char md[32], k1[32], k2[32];
	unsigned int md_len;
	char hash[65], sts[512];
	EVP_Digest(canonical, strlen(canonical), md, &md_len, EVP_sha256(), NULL);
	for (size_t i = 0; i < 32; i++)
		sprintf(hash + 2 * i, "%02x", md[i]);
	snprintf(sts, sizeof(sts),
	         "AWS4-HMAC-SHA256\n" DATE "\n%.8s/" REGION "/" SERVICE "/aws4_request\n%s", DATE,
	         hash);
	char key[128];
	snprintf(key, sizeof(key), "AWS4%s", secret);
	hmac(key, strlen(key), "20261202", k1);
	hmac(k1, 32, REGION, k2);
	hmac(k2, 32, SERVICE, k1);
	hmac(k1, 32, "aws4_request", k2);
	hmac(k2, 32, sts, md);
	for (size_t i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

/* Adds the Authorization header signing canonical. */
static void req_sign(struct req *q, const char *signed_headers, const char *canonical)
{
	char sig[65];
	sign_canonical(canonical, SECRET, sig);
	_cleanup_free_ char *v =
	    xasprintf("AWS4-HMAC-SHA256 Credential=" AKID "/20261202/" REGION "/" SERVICE
	              "/aws4_request, SignedHeaders=%s, Signature=%s",
	              signed_headers, sig);
	req_header(q, "Authorization", v);
}

/* The verdict on q at now; its message copied into a static buffer. */
static enum auth_error verdict_at(struct req *q, double now, const char **ret_message)
{
	static char message[2048];
	struct auth_verdict v;
	int r = auth_verify(keys, &q->r, REGION, SERVICE, now, &v);
	cr_assert_eq(r == 0, v.error == AUTH_OK);
	snprintf(message, sizeof(message), "%s", v.message ? v.message : "");
	if (v.error == AUTH_OK)
		cr_assert_eq(v.key, &keys->keys[0]);
	auth_verdict_clear(&v);
	if (ret_message)
		*ret_message = message;
	return v.error;
}

static enum auth_error verdict(struct req *q, const char **ret_message)
{
	return verdict_at(q, NOW, ret_message);
}

/* A simple signed GET of "/" with host and x-amz-date. */
#define SIMPLE_CANONICAL "GET\n/\n\nhost:h\nx-amz-date:" DATE "\n\nhost;x-amz-date\n" EMPTY_SHA256

static void simple(struct req *q, const char *authorization)
{
	req_init(q, "GET", "/", NULL);
	req_header(q, "Host", "h");
	req_header(q, "X-Amz-Date", DATE);
	if (authorization)
		req_header(q, "Authorization", authorization);
}

/* The header form */

Test(auth, header_signed_as_the_specification_says_verifies)
{
	struct req q;
	simple(&q, NULL);
	req_sign(&q, "host;x-amz-date", SIMPLE_CANONICAL);
	cr_assert_eq(verdict(&q, NULL), AUTH_OK);
	req_free(&q);
}

Test(auth, header_parts_in_any_order_and_spacing_verify)
{
	char sig[65], v[512];
	sign_canonical(SIMPLE_CANONICAL, SECRET, sig);
	snprintf(v, sizeof(v),
	         "AWS4-HMAC-SHA256   Signature=%s,SignedHeaders=host;x-amz-date ,  Credential=" AKID
	         "/20261202/" REGION "/" SERVICE "/aws4_request",
	         sig);
	struct req q;
	simple(&q, v);
	cr_assert_eq(verdict(&q, NULL), AUTH_OK);
	req_free(&q);
}

Test(auth, no_authorization_and_no_presigned_query_is_missing_token)
{
	struct req q;
	const char *m;
	simple(&q, NULL);
	cr_assert_eq(verdict(&q, &m), AUTH_MISSING);
	cr_assert_str_eq(m, "Missing Authentication Token");
	cr_assert_str_eq(auth_error_code(AUTH_MISSING), "MissingAuthenticationTokenException");
	cr_assert_eq(auth_error_status(AUTH_MISSING), 403);
	req_free(&q);
}

/* Expects q, with authorization, refused as incomplete with words in its message. */
static void expect_incomplete(const char *authorization, const char *words)
{
	struct req q;
	const char *m;
	simple(&q, authorization);
	cr_assert_eq(verdict(&q, &m), AUTH_INCOMPLETE, "%s: %s", authorization, m);
	cr_assert(strstr(m, words), "'%s' not in '%s'", words, m);
	req_free(&q);
}

#define CRED "Credential=" AKID "/20261202/" REGION "/" SERVICE "/aws4_request"
#define SIG64 "Signature=0000000000000000000000000000000000000000000000000000000000000000"

Test(auth, header_without_credential_is_incomplete)
{
	expect_incomplete(
	    "AWS4-HMAC-SHA256 SignedHeaders=host, " SIG64,
	    "Authorization header requires 'Credential' parameter. Authorization=AWS4");
}

Test(auth, header_without_signed_headers_is_incomplete)
{
	expect_incomplete("AWS4-HMAC-SHA256 " CRED ", " SIG64,
	                  "Authorization header requires 'SignedHeaders' parameter.");
}

Test(auth, header_without_signature_is_incomplete)
{
	expect_incomplete("AWS4-HMAC-SHA256 " CRED ", SignedHeaders=host",
	                  "Authorization header requires 'Signature' parameter.");
}

Test(auth, header_with_a_part_twice_is_incomplete)
{
	expect_incomplete("AWS4-HMAC-SHA256 " CRED ", " CRED ", SignedHeaders=host, " SIG64,
	                  "'Credential' parameter more than once");
}

Test(auth, header_part_without_equal_sign_is_incomplete)
{
	expect_incomplete("AWS4-HMAC-SHA256 " CRED ", SignedHeaders, " SIG64,
	                  "'SignedHeaders' not a valid key=value pair (missing equal-sign)");
}

Test(auth, header_with_an_unknown_part_is_incomplete)
{
	expect_incomplete("AWS4-HMAC-SHA256 " CRED ", SignedHeaders=host, Foo=1, " SIG64,
	                  "unknown parameter 'Foo'");
}

Test(auth, header_with_another_algorithm_is_incomplete)
{
	expect_incomplete("AWS4-HMAC-SHA512 " CRED ", SignedHeaders=host, " SIG64,
	                  "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'");
}

Test(auth, header_of_another_scheme_is_incomplete)
{
	expect_incomplete("Bearer abc", "Authorization header requires 'Credential' parameter.");
}

Test(auth, credential_with_a_bad_terminator_is_incomplete)
{
	expect_incomplete("AWS4-HMAC-SHA256 Credential=" AKID "/20261202/" REGION "/" SERVICE
	                  "/aws4_reques, SignedHeaders=host, " SIG64,
	                  "valid terminator: 'aws4_request', not 'aws4_reques'");
}

Test(auth, credential_with_four_parts_is_incomplete)
{
	expect_incomplete("AWS4-HMAC-SHA256 Credential=" AKID "/20261202/" REGION
	                  "/aws4_request, SignedHeaders=host, " SIG64,
	                  "Credential should be");
}

Test(auth, credential_with_six_parts_is_incomplete)
{
	expect_incomplete("AWS4-HMAC-SHA256 Credential=" AKID "/x/20261202/" REGION "/" SERVICE
	                  "/aws4_request, SignedHeaders=host, " SIG64,
	                  "Credential should be");
}

Test(auth, non_hex_signature_is_incomplete)
{
	expect_incomplete(
	    "AWS4-HMAC-SHA256 " CRED ", SignedHeaders=host;x-amz-date, "
	    "Signature=zz00000000000000000000000000000000000000000000000000000000000000",
	    "64 hexadecimal digits");
}

Test(auth, short_signature_is_incomplete)
{
	expect_incomplete("AWS4-HMAC-SHA256 " CRED ", SignedHeaders=host;x-amz-date, Signature=abc",
	                  "64 hexadecimal digits");
}

Test(auth, over_long_header_is_incomplete)
{
	_cleanup_free_ char *pad = xmalloc(5000);
	memset(pad, 'a', 4999);
	pad[4999] = '\0';
	_cleanup_free_ char *v =
	    xasprintf("AWS4-HMAC-SHA256 " CRED ", SignedHeaders=%s, " SIG64, pad);
	expect_incomplete(v, "too long");
}

Test(auth, host_not_among_signed_headers_is_incomplete)
{
	expect_incomplete("AWS4-HMAC-SHA256 " CRED ", SignedHeaders=x-amz-date, " SIG64,
	                  "'Host' or ':authority' must be a 'SignedHeader'");
}

Test(auth, upper_case_signed_header_is_incomplete)
{
	expect_incomplete("AWS4-HMAC-SHA256 " CRED ", SignedHeaders=Host;x-amz-date, " SIG64,
	                  "lower-case");
}

Test(auth, signed_header_named_twice_is_incomplete)
{
	expect_incomplete("AWS4-HMAC-SHA256 " CRED ", SignedHeaders=host;host, " SIG64,
	                  "more than once");
}

Test(auth, empty_signed_header_entry_is_incomplete)
{
	expect_incomplete("AWS4-HMAC-SHA256 " CRED ", SignedHeaders=host;;x-amz-date, " SIG64,
	                  "lower-case");
}

Test(auth, more_than_64_signed_headers_is_incomplete)
{
	struct buf b = {.max = 0};
	buf_printf(&b, "AWS4-HMAC-SHA256 " CRED ", SignedHeaders=host");
	for (int i = 0; i < 64; i++)
		buf_printf(&b, ";x-h%d", i);
	buf_printf(&b, ", " SIG64);
	expect_incomplete(b.data, "more than 64 headers");
	free(b.data);
}

Test(auth, signed_header_the_request_lacks_is_incomplete)
{
	struct req q;
	const char *m;
	simple(&q, NULL);
	req_sign(&q, "host;x-amz-date;x-amz-target", SIMPLE_CANONICAL);
	cr_assert_eq(verdict(&q, &m), AUTH_INCOMPLETE);
	cr_assert(strstr(m, "'x-amz-target'"), "%s", m);
	req_free(&q);
}

Test(auth, request_without_any_date_is_incomplete)
{
	struct req q;
	const char *m;
	req_init(&q, "GET", "/", NULL);
	req_header(&q, "Host", "h");
	req_header(&q, "Authorization", "AWS4-HMAC-SHA256 " CRED ", SignedHeaders=host, " SIG64);
	cr_assert_eq(verdict(&q, &m), AUTH_INCOMPLETE);
	cr_assert(strstr(m, "requires existence of either a 'X-Amz-Date' or a 'Date' header"), "%s",
	          m);
	req_free(&q);
}

Test(auth, x_amz_date_not_iso8601_basic_is_incomplete)
{
	static const char *const bad[] = {"2026-12-02T14:30:00Z", "20261202T143000",
	                                  "20261302T143000Z",     "20260231T143000Z",
	                                  "2026120xT143000Z",     ""};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct req q;
		const char *m;
		req_init(&q, "GET", "/", NULL);
		req_header(&q, "Host", "h");
		req_header(&q, "X-Amz-Date", bad[i]);
		req_header(&q, "Authorization",
		           "AWS4-HMAC-SHA256 " CRED ", SignedHeaders=host, " SIG64);
		cr_assert_eq(verdict(&q, &m), AUTH_INCOMPLETE, "%s", bad[i]);
		cr_assert(strstr(m, "ISO-8601 'basic format'"), "%s", m);
		req_free(&q);
	}
}

Test(auth, date_header_stands_in_for_x_amz_date)
{
	struct req q;
	req_init(&q, "GET", "/", NULL);
	req_header(&q, "Host", "h");
	req_header(&q, "Date", "Wed, 02 Dec 2026 14:30:00 GMT");
	req_sign(
	    &q, "date;host",
	    "GET\n/\n\ndate:Wed, 02 Dec 2026 14:30:00 GMT\nhost:h\n\ndate;host\n" EMPTY_SHA256);
	cr_assert_eq(verdict(&q, NULL), AUTH_OK);
	req_free(&q);
}

Test(auth, both_header_and_presigned_query_is_incomplete)
{
	struct req q;
	const char *m;
	simple(&q, "AWS4-HMAC-SHA256 " CRED ", SignedHeaders=host, " SIG64);
	q.r.raw_query = "X-Amz-Algorithm=AWS4-HMAC-SHA256";
	cr_assert_eq(verdict(&q, &m), AUTH_INCOMPLETE);
	cr_assert(strstr(m, "Only one auth mechanism allowed"), "%s", m);
	req_free(&q);
}

Test(auth, authorization_sent_twice_is_incomplete)
{
	struct req q;
	simple(&q, NULL);
	req_sign(&q, "host;x-amz-date", SIMPLE_CANONICAL);
	req_sign(&q, "host;x-amz-date", SIMPLE_CANONICAL);
	cr_assert_eq(verdict(&q, NULL), AUTH_INCOMPLETE);
	req_free(&q);
}

Test(auth, more_than_256_headers_is_incomplete_before_any_parsing)
{
	const char *names[300], *values[300];
	for (size_t i = 0; i < 300; i++) {
		names[i] = "x-h";
		values[i] = "v";
	}
	struct auth_request r = {.method = "GET",
	                         .raw_path = "/",
	                         .header_names = names,
	                         .header_values = values,
	                         .n_headers = 300,
	                         .body_sha256_hex = EMPTY_SHA256};
	struct auth_verdict v;
	cr_assert_eq(auth_verify(keys, &r, REGION, SERVICE, NOW, &v), -EACCES);
	cr_assert_eq(v.error, AUTH_INCOMPLETE);
	auth_verdict_clear(&v);
}

/* Scope, key, signature */

Test(auth, scope_for_another_region_is_refused)
{
	struct req q;
	const char *m;
	simple(&q, NULL);
	req_sign(&q, "host;x-amz-date", SIMPLE_CANONICAL);
	struct auth_verdict v;
	cr_assert_eq(auth_verify(keys, &q.r, "us-east-1", SERVICE, NOW, &v), -EACCES);
	cr_assert_eq(v.error, AUTH_BAD_SIGNATURE);
	cr_assert(
	    strstr(v.message, "Credential should be scoped to a valid region, not 'eu-west-1'"));
	auth_verdict_clear(&v);
	(void)m;
	req_free(&q);
}

Test(auth, scope_for_another_service_is_refused)
{
	struct req q;
	simple(&q, NULL);
	req_sign(&q, "host;x-amz-date", SIMPLE_CANONICAL);
	struct auth_verdict v;
	cr_assert_eq(auth_verify(keys, &q.r, REGION, "sagemaker-runtime", NOW, &v), -EACCES);
	cr_assert_eq(v.error, AUTH_BAD_SIGNATURE);
	cr_assert_str_eq(v.message,
	                 "Credential should be scoped to correct service: 'sagemaker-runtime'. ");
	auth_verdict_clear(&v);
	req_free(&q);
}

Test(auth, scope_date_other_than_x_amz_date_is_refused)
{
	struct req q;
	const char *m;
	simple(&q, "AWS4-HMAC-SHA256 Credential=" AKID "/20261201/" REGION "/" SERVICE
	           "/aws4_request, SignedHeaders=host;x-amz-date, " SIG64);
	cr_assert_eq(verdict(&q, &m), AUTH_BAD_SIGNATURE);
	cr_assert_str_eq(
	    m, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
	       "from HTTP: '20261201' != '20261202', from '20261202T143000Z'.");
	req_free(&q);
}

Test(auth, unknown_key_is_unrecognized_client)
{
	struct req q;
	const char *m;
	simple(&q, "AWS4-HMAC-SHA256 Credential=AKIDOTHER/20261202/" REGION "/" SERVICE
	           "/aws4_request, SignedHeaders=host;x-amz-date, " SIG64);
	cr_assert_eq(verdict(&q, &m), AUTH_UNKNOWN_KEY);
	cr_assert_str_eq(m, "The security token included in the request is invalid.");
	cr_assert_str_eq(auth_error_code(AUTH_UNKNOWN_KEY), "UnrecognizedClientException");
	req_free(&q);
}

Test(auth, key_ids_match_case_sensitively)
{
	cr_assert_not_null(auth_keys_find(keys, AKID));
	cr_assert_null(auth_keys_find(keys, "akidunittest0001"));
	cr_assert_null(auth_keys_find(NULL, AKID));
}

Test(auth, wrong_secret_is_invalid_signature)
{
	char sig[65], v[512];
	sign_canonical(SIMPLE_CANONICAL, "another secret", sig);
	snprintf(v, sizeof(v),
	         "AWS4-HMAC-SHA256 " CRED ", SignedHeaders=host;x-amz-date, Signature=%s", sig);
	struct req q;
	const char *m;
	simple(&q, v);
	cr_assert_eq(verdict(&q, &m), AUTH_BAD_SIGNATURE);
	cr_assert_str_eq(
	    m, "The request signature we calculated does not match the signature you provided. "
	       "Check your AWS Secret Access Key and signing method. Consult the service "
	       "documentation for details.");
	cr_assert_str_eq(auth_error_code(AUTH_BAD_SIGNATURE), "InvalidSignatureException");
	cr_assert_eq(auth_error_status(AUTH_BAD_SIGNATURE), 403);
	cr_assert_eq(auth_error_status(AUTH_INCOMPLETE), 400);
	req_free(&q);
}

Test(auth, every_single_flipped_signature_digit_is_refused_and_upper_case_hex_is_the_same)
{
	char sig[65], v[512];
	sign_canonical(SIMPLE_CANONICAL, SECRET, sig);
	for (size_t i = 0; i <= 64; i++) {
		char s[65];
		memcpy(s, sig, 65);
		if (i < 64)
			s[i] = s[i] == '0' ? '1' : '0';
		else
			for (size_t j = 0; j < 64; j++)
				s[j] = (char)toupper((unsigned char)s[j]);
		snprintf(v, sizeof(v),
		         "AWS4-HMAC-SHA256 " CRED ", SignedHeaders=host;x-amz-date, Signature=%s",
		         s);
		struct req q;
		simple(&q, v);
		cr_assert_eq(verdict(&q, NULL), i < 64 ? AUTH_BAD_SIGNATURE : AUTH_OK, "digit %zu",
		             i);
		req_free(&q);
	}
}

/* Canonicalisation: each test writes out the canonical request it expects. */

Test(auth, path_is_encoded_once_more_so_an_encoded_slash_signs_as_percent_25)
{
	struct req q;
	req_init(&q, "POST", "/endpoints/a%2Fb%20c/invocations", NULL);
	req_header(&q, "Host", "h");
	req_header(&q, "X-Amz-Date", DATE);
	req_sign(&q, "host;x-amz-date",
	         "POST\n/endpoints/a%252Fb%2520c/invocations\n\nhost:h\nx-amz-date:" DATE
	         "\n\nhost;x-amz-date\n" EMPTY_SHA256);
	cr_assert_eq(verdict(&q, NULL), AUTH_OK);
	req_free(&q);
}

Test(auth, path_dot_segments_and_empty_segments_are_removed)
{
	struct req q;
	req_init(&q, "GET", "//a/./b/../c//d/", NULL);
	req_header(&q, "Host", "h");
	req_header(&q, "X-Amz-Date", DATE);
	req_sign(&q, "host;x-amz-date",
	         "GET\n/a/c/d/\n\nhost:h\nx-amz-date:" DATE "\n\nhost;x-amz-date\n" EMPTY_SHA256);
	cr_assert_eq(verdict(&q, NULL), AUTH_OK);
	req_free(&q);
}

Test(auth, empty_path_signs_as_slash)
{
	struct req q;
	req_init(&q, "GET", "", NULL);
	req_header(&q, "Host", "h");
	req_header(&q, "X-Amz-Date", DATE);
	req_sign(&q, "host;x-amz-date", SIMPLE_CANONICAL);
	cr_assert_eq(verdict(&q, NULL), AUTH_OK);
	req_free(&q);
}

Test(auth, query_is_reencoded_and_sorted_by_name_then_value_with_equal_signs)
{
	struct req q;
	req_init(&q, "GET", "/", "b=2&a=z&a=y&flag&c=%7e&d=x%2fy&e=!+&&k%20=");
	req_header(&q, "Host", "h");
	req_header(&q, "X-Amz-Date", DATE);
	req_sign(&q, "host;x-amz-date",
	         "GET\n/\na=y&a=z&b=2&c=~&d=x%2Fy&e=%21%2B&flag=&k%20=\nhost:h\nx-amz-date:" DATE
	         "\n\nhost;x-amz-date\n" EMPTY_SHA256);
	cr_assert_eq(verdict(&q, NULL), AUTH_OK);
	req_free(&q);
}

Test(auth, more_than_128_query_params_is_incomplete)
{
	struct buf b = {.max = 0};
	for (int i = 0; i < 129; i++)
		buf_printf(&b, "%sp%d=1", i ? "&" : "", i);
	struct req q;
	simple(&q, NULL);
	req_sign(&q, "host;x-amz-date", SIMPLE_CANONICAL);
	q.r.raw_query = b.data;
	cr_assert_eq(verdict(&q, NULL), AUTH_INCOMPLETE);
	req_free(&q);
	free(b.data);
}

Test(auth, header_values_are_trimmed_and_repeated_headers_joined_with_commas)
{
	struct req q;
	req_init(&q, "GET", "/", NULL);
	req_header(&q, "HOST", "  h ");
	req_header(&q, "X-Amz-Date", DATE);
	req_header(&q, "X-Odd", " a   b \t c ");
	req_header(&q, "x-odd", "second");
	req_sign(&q, "host;x-amz-date;x-odd",
	         "GET\n/\n\nhost:h\nx-amz-date:" DATE
	         "\nx-odd:a b c,second\n\nhost;x-amz-date;x-odd\n" EMPTY_SHA256);
	cr_assert_eq(verdict(&q, NULL), AUTH_OK);
	req_free(&q);
}

Test(auth, x_amz_content_sha256_equal_to_the_body_hash_is_the_payload_hash)
{
	struct req q;
	simple(&q, NULL);
	req_header(&q, "X-Amz-Content-Sha256", EMPTY_SHA256);
	req_sign(&q, "host;x-amz-content-sha256;x-amz-date",
	         "GET\n/\n\nhost:h\nx-amz-content-sha256:" EMPTY_SHA256 "\nx-amz-date:" DATE
	         "\n\nhost;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256);
	cr_assert_eq(verdict(&q, NULL), AUTH_OK);
	req_free(&q);
}

Test(auth, x_amz_content_sha256_other_than_the_body_hash_is_refused)
{
	struct req q;
	const char *m;
	simple(&q, NULL);
	req_header(&q, "X-Amz-Content-Sha256",
	           "0000000000000000000000000000000000000000000000000000000000000000");
	req_sign(&q, "host;x-amz-date", SIMPLE_CANONICAL);
	cr_assert_eq(verdict(&q, &m), AUTH_BAD_SIGNATURE);
	cr_assert(strstr(m, "x-amz-content-sha256"), "%s", m);
	req_free(&q);
}

Test(auth, unsigned_payload_is_refused)
{
	struct req q;
	const char *m;
	simple(&q, NULL);
	req_header(&q, "X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD");
	req_sign(&q, "host;x-amz-date", SIMPLE_CANONICAL);
	cr_assert_eq(verdict(&q, &m), AUTH_BAD_SIGNATURE);
	cr_assert(strstr(m, "unsigned"), "%s", m);
	req_free(&q);
}

Test(auth, body_hash_is_the_payload_hash_when_no_header_says_otherwise)
{
	static const char body_hash[] =
	    "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
	struct req q;
	simple(&q, NULL);
	q.r.body_sha256_hex = body_hash;
	req_sign(&q, "host;x-amz-date",
	         "GET\n/\n\nhost:h\nx-amz-date:" DATE "\n\nhost;x-amz-date\n"
	         "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae");
	cr_assert_eq(verdict(&q, NULL), AUTH_OK);
	q.r.body_sha256_hex = EMPTY_SHA256;
	cr_assert_eq(verdict(&q, NULL), AUTH_BAD_SIGNATURE);
	req_free(&q);
}

/* Clock */

Test(auth, fifteen_minutes_either_way_is_accepted)
{
	struct req q;
	simple(&q, NULL);
	req_sign(&q, "host;x-amz-date", SIMPLE_CANONICAL);
	cr_assert_eq(verdict_at(&q, NOW + 900, NULL), AUTH_OK);
	cr_assert_eq(verdict_at(&q, NOW - 900, NULL), AUTH_OK);
	req_free(&q);
}

Test(auth, a_server_clock_that_gives_no_time_accepts_nothing)
{
	struct req q;
	simple(&q, NULL);
	req_sign(&q, "host;x-amz-date", SIMPLE_CANONICAL);
	cr_assert_eq(verdict_at(&q, NAN, NULL), AUTH_EXPIRED);
	cr_assert_eq(verdict_at(&q, INFINITY, NULL), AUTH_EXPIRED);
	req_free(&q);
}

Test(auth, one_signing_key_serves_a_day_and_a_changed_secret_gets_its_own)
{
	struct req q;
	simple(&q, NULL);
	req_sign(&q, "host;x-amz-date", SIMPLE_CANONICAL);
	cr_assert_eq(verdict_at(&q, NOW, NULL), AUTH_OK);
	cr_assert_eq(verdict_at(&q, NOW, NULL), AUTH_OK); /* from the kept key */
	/* The same key id with another secret (a reload): the kept key of the
	 * old secret must not verify it. */
	char *old = keys->keys[0].secret_access_key;
	keys->keys[0].secret_access_key = xstrdup("another-secret");
	cr_assert_eq(verdict_at(&q, NOW, NULL), AUTH_BAD_SIGNATURE);
	free(keys->keys[0].secret_access_key);
	keys->keys[0].secret_access_key = old;
	cr_assert_eq(verdict_at(&q, NOW, NULL), AUTH_OK);
	req_free(&q);
}

Test(auth, one_second_past_fifteen_minutes_old_is_expired_in_aws_words)
{
	struct req q;
	const char *m;
	simple(&q, NULL);
	req_sign(&q, "host;x-amz-date", SIMPLE_CANONICAL);
	cr_assert_eq(verdict_at(&q, NOW + 901, &m), AUTH_EXPIRED);
	cr_assert_str_eq(m,
	                 "Signature expired: 20261202T143000Z is now earlier than 20261202T143001Z "
	                 "(20261202T144501Z - 15 min.)");
	cr_assert_str_eq(auth_error_code(AUTH_EXPIRED), "InvalidSignatureException");
	req_free(&q);
}

Test(auth, one_second_past_fifteen_minutes_ahead_is_not_yet_current)
{
	struct req q;
	const char *m;
	simple(&q, NULL);
	req_sign(&q, "host;x-amz-date", SIMPLE_CANONICAL);
	cr_assert_eq(verdict_at(&q, NOW - 901, &m), AUTH_EXPIRED);
	cr_assert_str_eq(
	    m, "Signature not yet current: 20261202T143000Z is still later than 20261202T142959Z "
	       "(20261202T141459Z + 15 min.)");
	req_free(&q);
}

/* The presigned form */

#define PRESIGNED_AUTH                                                                             \
	"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" AKID "%2F20261202%2F" REGION          \
	"%2F" SERVICE "%2Faws4_request&X-Amz-Date=" DATE                                           \
	"&X-Amz-Expires=300&X-Amz-SignedHeaders=host"
#define PRESIGNED_CANONICAL                                                                        \
	"GET\n/metrics\nX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" AKID                   \
	"%2F20261202%2F" REGION "%2F" SERVICE "%2Faws4_request&X-Amz-Date=" DATE                   \
	"&X-Amz-Expires=300&X-Amz-SignedHeaders=host&"                                             \
	"x=1\nhost:h\n\nhost\n" EMPTY_SHA256

/* A presigned GET of /metrics?x=1 (query as given plus the signature). */
static char *presigned_query(const char *query)
{
	char sig[65];
	sign_canonical(PRESIGNED_CANONICAL, SECRET, sig);
	return xasprintf("%s&X-Amz-Signature=%s", query, sig);
}

Test(auth, presigned_query_verifies_until_it_expires)
{
	_cleanup_free_ char *query = presigned_query("x=1&" PRESIGNED_AUTH);
	struct req q;
	const char *m;
	req_init(&q, "GET", "/metrics", query);
	req_header(&q, "Host", "h");
	cr_assert_eq(verdict(&q, NULL), AUTH_OK);
	cr_assert_eq(verdict_at(&q, NOW + 300, NULL), AUTH_OK);
	cr_assert_eq(verdict_at(&q, NOW + 301, &m), AUTH_EXPIRED);
	cr_assert(strstr(m, "Request has expired"), "%s", m);
	cr_assert_eq(verdict_at(&q, NOW - 901, NULL), AUTH_EXPIRED);
	req_free(&q);
}

/* Expects the presigned query refused as incomplete with words. */
static void expect_presigned_incomplete(const char *query, const char *words)
{
	struct req q;
	const char *m;
	req_init(&q, "GET", "/metrics", query);
	req_header(&q, "Host", "h");
	cr_assert_eq(verdict(&q, &m), AUTH_INCOMPLETE, "%s: %s", query, m);
	cr_assert(strstr(m, words), "'%s' not in '%s'", words, m);
	req_free(&q);
}

Test(auth, presigned_query_missing_any_parameter_is_incomplete)
{
	static const char *const names[] = {"X-Amz-Algorithm",     "X-Amz-Credential",
	                                    "X-Amz-Date",          "X-Amz-Expires",
	                                    "X-Amz-SignedHeaders", "X-Amz-Signature"};
	_cleanup_free_ char *full = presigned_query(PRESIGNED_AUTH);
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		_cleanup_free_ char *query = xstrdup(full);
		char *at = strstr(query, names[i]);
		at[0] = 'Z'; /* another parameter's name */
		expect_presigned_incomplete(query, "AWS query-string parameters must include");
	}
}

Test(auth, presigned_query_with_a_parameter_twice_is_incomplete)
{
	_cleanup_free_ char *query = presigned_query(PRESIGNED_AUTH "&X-Amz-Date=" DATE);
	expect_presigned_incomplete(query, "more than once");
}

Test(auth, presigned_query_with_another_algorithm_is_incomplete)
{
	expect_presigned_incomplete("X-Amz-Algorithm=HMAC&X-Amz-Credential=a&X-Amz-Date=" DATE
	                            "&X-Amz-Expires=1&X-Amz-SignedHeaders=host&X-Amz-" SIG64,
	                            "X-Amz-Algorithm only supports");
}

Test(auth, presigned_expires_outside_one_second_to_a_week_is_incomplete)
{
	static const char *const bad[] = {"0", "604801", "-1", "abc", "", "99999999999999999999"};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		_cleanup_free_ char *query = xasprintf(
		    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" AKID
		    "%%2F20261202%%2F" REGION "%%2F" SERVICE "%%2Faws4_request&X-Amz-Date=" DATE
		    "&X-Amz-Expires=%s&X-Amz-SignedHeaders=host&X-Amz-" SIG64,
		    bad[i]);
		expect_presigned_incomplete(query, "X-Amz-Expires");
	}
}

/* Policies */

static char key_name[] = "k";

/* A key with one rule. */
static struct auth_key policy_key(const char *action, const char *resource)
{
	struct auth_rule *r = xcalloc(1, sizeof(*r));
	r->actions = xcalloc(1, sizeof(char *));
	r->actions[0] = xstrdup(action);
	r->n_actions = 1;
	r->resources = xcalloc(1, sizeof(char *));
	r->resources[0] = xstrdup(resource);
	r->n_resources = 1;
	return (struct auth_key){.name = key_name, .rules = r, .n_rules = 1};
}

static void policy_key_free(struct auth_key *k)
{
	strv_free(k->rules[0].actions, 1);
	strv_free(k->rules[0].resources, 1);
	free(k->rules);
}

#define ARN_A "arn:aws:sagemaker:eu-west-1:000000000000:endpoint/team-a-fraud"

Test(auth, policy_exact_action_and_resource_allows_only_that)
{
	struct auth_key k = policy_key("sagemaker:InvokeEndpoint", ARN_A);
	cr_assert(auth_allowed(&k, "sagemaker:InvokeEndpoint", ARN_A));
	cr_assert_not(auth_allowed(&k, "sagemaker:DeleteEndpoint", ARN_A));
	cr_assert_not(auth_allowed(&k, "sagemaker:InvokeEndpoint", ARN_A "2"));
	policy_key_free(&k);
}

Test(auth, policy_action_names_match_case_insensitively)
{
	struct auth_key k = policy_key("SageMaker:invokeendpoint", "*");
	cr_assert(auth_allowed(&k, "sagemaker:InvokeEndpoint", ARN_A));
	policy_key_free(&k);
}

Test(auth, policy_action_wildcards_star_and_question_mark)
{
	struct auth_key k = policy_key("sagemaker:Describe*", "*");
	cr_assert(auth_allowed(&k, "sagemaker:DescribeEndpoint", ARN_A));
	cr_assert(auth_allowed(&k, "sagemaker:describeendpointconfig", ARN_A));
	cr_assert_not(auth_allowed(&k, "sagemaker:ListEndpoints", ARN_A));
	policy_key_free(&k);
	k = policy_key("sagemaker:?escribeEndpoint", "*");
	cr_assert(auth_allowed(&k, "sagemaker:DescribeEndpoint", ARN_A));
	cr_assert_not(auth_allowed(&k, "sagemaker:escribeEndpoint", ARN_A));
	policy_key_free(&k);
	k = policy_key("sagemaker:*", "*");
	cr_assert(auth_allowed(&k, "sagemaker:CreateModel", "*"));
	cr_assert_not(auth_allowed(&k, "s3:GetObject", "*"));
	policy_key_free(&k);
}

Test(auth, policy_resources_match_case_sensitively_with_wildcards)
{
	struct auth_key k = policy_key("sagemaker:*", "arn:aws:sagemaker:*:*:endpoint/team-a-*");
	cr_assert(auth_allowed(&k, "sagemaker:InvokeEndpoint", ARN_A));
	cr_assert_not(
	    auth_allowed(&k, "sagemaker:InvokeEndpoint",
	                 "arn:aws:sagemaker:eu-west-1:000000000000:endpoint/TEAM-A-fraud"));
	cr_assert_not(auth_allowed(&k, "sagemaker:InvokeEndpoint",
	                           "arn:aws:sagemaker:eu-west-1:000000000000:endpoint/team-b-x"));
	cr_assert_not(auth_allowed(&k, "sagemaker:ListEndpoints", "*"));
	policy_key_free(&k);
}

Test(auth, policy_pathological_globs_end_quickly)
{
	char pattern[200], subject[4000];
	for (size_t i = 0; i < 99; i++) {
		pattern[2 * i] = '*';
		pattern[2 * i + 1] = 'a';
	}
	pattern[198] = 'b';
	pattern[199] = '\0';
	memset(subject, 'a', sizeof(subject) - 1);
	subject[sizeof(subject) - 1] = '\0';
	struct auth_key k = policy_key("*", pattern);
	cr_assert_not(auth_allowed(&k, "sagemaker:X", subject));
	policy_key_free(&k);
}

Test(auth, key_without_rules_is_allowed_nothing)
{
	struct auth_key k = {.name = key_name};
	cr_assert_not(auth_allowed(&k, "sagemaker:DescribeEndpoint", "*"));
	cr_assert_not(auth_allowed(NULL, "sagemaker:DescribeEndpoint", "*"));
}

/* Keys */

Test(auth, keys_are_freed_by_the_last_reference_only)
{
	cr_assert_eq(auth_keys_ref(keys), keys);
	cr_assert_null(auth_keys_unref(keys));
	cr_assert_eq(keys->refs, 1);
	cr_assert_not_null(auth_keys_find(keys, AKID));
	cr_assert_null(auth_keys_ref(NULL));
	cr_assert_null(auth_keys_unref(NULL));
}

/* Body hash */

Test(auth, sha256_over_a_multi_chunk_evbuffer_equals_one_shot)
{
	struct evbuffer *b = evbuffer_new();
	size_t total = 0;
	static char one_shot[3 * 1024 * 1024];
	for (int i = 0; i < 300; i++) {
		char chunk[10007];
		memset(chunk, 'a' + i % 26, sizeof(chunk));
		/* evbuffer_add_reference keeps each piece its own chunk. */
		evbuffer_add(b, chunk, sizeof(chunk));
		evbuffer_add_reference(b, "|", 1, NULL, NULL);
		memcpy(one_shot + total, chunk, sizeof(chunk));
		one_shot[total + sizeof(chunk)] = '|';
		total += sizeof(chunk) + 1;
	}
	cr_assert_gt(evbuffer_peek(b, -1, NULL, NULL, 0), 100);
	char got[65], want[65];
	unsigned char md[32];
	unsigned int md_len;
	auth_sha256_evbuffer(b, got);
	EVP_Digest(one_shot, total, md, &md_len, EVP_sha256(), NULL);
	for (size_t i = 0; i < 32; i++)
		sprintf(want + 2 * i, "%02x", md[i]);
	cr_assert_str_eq(got, want);
	cr_assert_eq(evbuffer_get_length(b), total); /* nothing drained */
	evbuffer_free(b);
}

Test(auth, sha256_of_an_empty_evbuffer_is_the_empty_hash)
{
	struct evbuffer *b = evbuffer_new();
	char got[65];
	auth_sha256_evbuffer(b, got);
	cr_assert_str_eq(got, EMPTY_SHA256);
	evbuffer_free(b);
}

/* The signer */

static const struct auth_credentials signer = {.access_key_id = AKID, .secret_access_key = SECRET};

/* Signs q with creds at NOW and adds what the signer says to send. */
static int req_sign_with(struct req *q, const struct auth_credentials *creds)
{
	char date[17];
	_cleanup_free_ char *authorization = NULL;
	int r = auth_sign(&q->r, creds, REGION, SERVICE, (time_t)NOW, date, &authorization);
	if (r < 0)
		return r;
	req_header(q, "X-Amz-Date", date);
	if (creds->session_token)
		req_header(q, "X-Amz-Security-Token", creds->session_token);
	req_header(q, "Authorization", authorization);
	return 0;
}

Test(auth, signer_writes_the_specification_s_signature)
{
	struct req q;
	char date[17], want_sig[65];
	_cleanup_free_ char *authorization = NULL;
	req_init(&q, "GET", "/", NULL);
	req_header(&q, "Host", "h");
	cr_assert_eq(auth_sign(&q.r, &signer, REGION, SERVICE, (time_t)NOW, date, &authorization),
	             0);
	cr_assert_str_eq(date, DATE);
	sign_canonical(SIMPLE_CANONICAL, SECRET, want_sig);
	_cleanup_free_ char *want = xasprintf(
	    "AWS4-HMAC-SHA256 " CRED ", SignedHeaders=host;x-amz-date, Signature=%s", want_sig);
	cr_assert_str_eq(authorization, want);
	req_free(&q);
}

Test(auth, signed_control_plane_call_verifies)
{
	struct req q;
	req_init(&q, "POST", "/", NULL);
	req_header(&q, "Host", "127.0.0.1:8780");
	req_header(&q, "Content-Type", "application/x-amz-json-1.1");
	req_header(&q, "X-Amz-Target", "SageMaker.ListEndpoints");
	cr_assert_eq(req_sign_with(&q, &signer), 0);
	const char *m;
	cr_assert_eq(verdict(&q, &m), AUTH_OK, "%s", m);
	cr_assert(strstr(q.values[q.r.n_headers - 1],
	                 "SignedHeaders=content-type;host;x-amz-date;x-amz-target,"));
	req_free(&q);
}

Test(auth, signed_invocation_with_an_encoded_path_and_a_query_verifies)
{
	static const char body[] = "\x00\x01 binary body";
	struct req q;
	char hash[65];
	auth_sha256_hex(body, sizeof(body), hash);
	req_init(&q, "POST", "/endpoints/a%20b/invocations", "b=2&a=1&a=0");
	q.r.body_sha256_hex = hash;
	req_header(&q, "host", "h");
	req_header(&q, "Accept", "  application/json  ");
	req_header(&q, "X-Amzn-SageMaker-Custom-Attributes", "a=1,  b=2");
	cr_assert_eq(req_sign_with(&q, &signer), 0);
	cr_assert_eq(verdict(&q, NULL), AUTH_OK);
	req_free(&q);
}

Test(auth, signed_with_a_session_token_verifies_and_signs_the_token)
{
	const struct auth_credentials temporary = {.access_key_id = AKID,
	                                           .secret_access_key = SECRET,
	                                           .session_token = "FwoGZXIvYXdz+token="};
	struct req q;
	req_init(&q, "GET", "/metrics", NULL);
	req_header(&q, "Host", "h");
	cr_assert_eq(req_sign_with(&q, &temporary), 0);
	cr_assert(strstr(q.values[q.r.n_headers - 1],
	                 "SignedHeaders=host;x-amz-date;x-amz-security-token,"));
	cr_assert_eq(verdict(&q, NULL), AUTH_OK);
	/* A changed token is a changed request. */
	q.values[q.r.n_headers - 2] = "another-token";
	cr_assert_eq(verdict(&q, NULL), AUTH_BAD_SIGNATURE);
	req_free(&q);
}

Test(auth, signer_joins_a_repeated_header_as_the_verifier_does)
{
	struct req q;
	req_init(&q, "GET", "/", NULL);
	req_header(&q, "Host", "h");
	req_header(&q, "X-Multi", "a");
	req_header(&q, "x-multi", "b");
	cr_assert_eq(req_sign_with(&q, &signer), 0);
	cr_assert(strstr(q.values[q.r.n_headers - 1], "SignedHeaders=host;x-amz-date;x-multi,"));
	cr_assert_eq(verdict(&q, NULL), AUTH_OK);
	req_free(&q);
}

Test(auth, signature_under_another_secret_does_not_verify)
{
	const struct auth_credentials wrong = {.access_key_id = AKID, .secret_access_key = "wrong"};
	struct req q;
	simple(&q, NULL);
	q.r.n_headers = 1; /* Host only: the signer adds X-Amz-Date */
	cr_assert_eq(req_sign_with(&q, &wrong), 0);
	cr_assert_eq(verdict(&q, NULL), AUTH_BAD_SIGNATURE);
	req_free(&q);
}

/* Expects auth_sign to refuse q with r, writing nothing. */
static void expect_sign_refused(struct req *q, const struct auth_credentials *creds,
                                const char *region, int want)
{
	char date[17] = "untouched";
	char *authorization = (char *)"untouched";
	cr_assert_eq(auth_sign(&q->r, creds, region, SERVICE, (time_t)NOW, date, &authorization),
	             want);
	cr_assert_str_eq(date, "untouched");
	cr_assert_str_eq(authorization, "untouched");
}

Test(auth, signer_refuses_a_request_without_host)
{
	struct req q;
	req_init(&q, "GET", "/", NULL);
	req_header(&q, "Accept", "*/*");
	expect_sign_refused(&q, &signer, REGION, -EINVAL);
	req_free(&q);
}

Test(auth, signer_refuses_a_header_value_with_a_line_end)
{
	struct req q;
	req_init(&q, "GET", "/", NULL);
	req_header(&q, "Host", "h");
	req_header(&q, "X-Amzn-SageMaker-Custom-Attributes", "a\r\nX-Injected: 1");
	expect_sign_refused(&q, &signer, REGION, -EINVAL);
	req_free(&q);
}

Test(auth, signer_refuses_headers_that_are_its_own)
{
	static const char *const own[] = {"Authorization", "X-Amz-Date", "x-amz-security-token"};
	for (size_t i = 0; i < ELEMENTSOF(own); i++) {
		struct req q;
		req_init(&q, "GET", "/", NULL);
		req_header(&q, "Host", "h");
		req_header(&q, own[i], "x");
		expect_sign_refused(&q, &signer, REGION, -EINVAL);
		req_free(&q);
	}
}

Test(auth, signer_refuses_what_would_break_the_credential_scope)
{
	const struct auth_credentials slash = {.access_key_id = "AKID/X", .secret_access_key = "s"};
	const struct auth_credentials no_secret = {.access_key_id = AKID, .secret_access_key = ""};
	struct req q;
	req_init(&q, "GET", "/", NULL);
	req_header(&q, "Host", "h");
	expect_sign_refused(&q, &slash, REGION, -EINVAL);
	expect_sign_refused(&q, &no_secret, REGION, -EINVAL);
	expect_sign_refused(&q, &signer, "eu-west-1/x", -EINVAL);
	expect_sign_refused(&q, &signer, "", -EINVAL);
	q.r.body_sha256_hex = "not a hash";
	expect_sign_refused(&q, &signer, REGION, -EINVAL);
	req_free(&q);
}

Test(auth, signer_refuses_a_path_longer_than_the_verifier_reads)
{
	_cleanup_free_ char *path = xmalloc(9000);
	memset(path, 'a', 8999);
	path[0] = '/';
	path[8999] = '\0';
	struct req q;
	req_init(&q, "GET", path, NULL);
	req_header(&q, "Host", "h");
	expect_sign_refused(&q, &signer, REGION, -E2BIG);
	req_free(&q);
}

Test(auth, signer_refuses_a_query_the_verifier_would_read_as_a_presigned_url)
{
	struct req q;
	req_init(&q, "GET", "/metrics", "X-Amz-Signature=x");
	req_header(&q, "Host", "h");
	expect_sign_refused(&q, &signer, REGION, -EINVAL);
	req_free(&q);
}

Test(auth, signer_refuses_a_content_hash_that_is_not_the_body_s)
{
	struct req q;
	req_init(&q, "GET", "/", NULL);
	req_header(&q, "Host", "h");
	req_header(&q, "X-Amz-Content-SHA256", "0000");
	expect_sign_refused(&q, &signer, REGION, -EINVAL);
	q.values[1] = EMPTY_SHA256; /* the body's own is signed, and verifies */
	cr_assert_eq(req_sign_with(&q, &signer), 0);
	cr_assert_eq(verdict(&q, NULL), AUTH_OK);
	req_free(&q);
}

/* A few characters of set, chosen by *seed (xorshift). */
static void random_text(unsigned *seed, const char *set, size_t max, char *out)
{
	size_t n = 0, len;
	*seed ^= *seed << 13, *seed ^= *seed >> 17, *seed ^= *seed << 5;
	len = *seed % (max + 1);
	for (; n < len; n++) {
		*seed ^= *seed << 13, *seed ^= *seed >> 17, *seed ^= *seed << 5;
		out[n] = set[*seed % strlen(set)];
	}
	out[n] = '\0';
}

Test(auth, whatever_the_signer_signs_verifies)
{
	static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};
	static const char path_set[] = "/abcAZ09-_.~%2F%20%C3%A9+=&:@!$'()*,;";
	static const char query_set[] = "ab=&%20%2F+~.-_Zz09";
	static const char name_set[] = "abcXYZ-_!#$&'*+.^`|~09";
	static const char value_set[] = "ab c\tX,;:=/\"{}  09";
	unsigned seed = 2463534242u, signed_ok = 0;
	for (int i = 0; i < 3000; i++) {
		char path[40] = "/", query[40], names[4][12], values[4][24];
		struct req q;
		random_text(&seed, path_set, 30, path + 1);
		random_text(&seed, query_set, 30, query);
		req_init(&q, methods[seed % ELEMENTSOF(methods)], path, query);
		req_header(&q, seed & 1 ? "Host" : "host", "endpointd.internal:8780");
		for (int h = 0; h < 4; h++) {
			random_text(&seed, name_set, 10, names[h]);
			random_text(&seed, value_set, 20, values[h]);
			if (*names[h])
				req_header(&q, names[h], values[h]);
		}
		int r = req_sign_with(&q, &signer);
		if (r == 0) {
			const char *m;
			cr_assert_eq(verdict(&q, &m), AUTH_OK, "%s %s?%s: %s", q.r.method, path,
			             query, m);
			signed_ok++;
		} else {
			cr_assert(r == -EINVAL || r == -E2BIG);
		}
		req_free(&q);
	}
	cr_assert_gt(signed_ok, 1000, "only %u of 3000 signed", signed_ok);
}
