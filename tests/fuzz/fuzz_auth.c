/*
 * Request signing (lib/auth.c): the Authorization header and presigned
 * query parsers and a whole verification against one fixed key at a fixed
 * time, on a request head from the input.  Every verdict must be whole: OK
 * names the key, a refusal has a message, an AWS code and a 400 or 403.
 * The seeds hold requests botocore signed with this key for this time, so
 * that mutations start past the comparison.  A header value also serves as
 * a policy pattern against another.
 *
 * Input: "METHOD PATH[?QUERY]" then lines "Name: value" (LF or CRLF), then
 * optionally an empty line and the body (its SHA-256 is the body hash).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "auth.h"
#include "fuzz.h"
#include "util.h"

#define FUZZ_AKID "AKIDFUZZ"
#define FUZZ_NOW 1796221800.0 /* 20261202T143000Z */
#define FUZZ_MAX_HEADERS 300

static struct auth_keys *keys;
static char key_name[] = "fuzz", key_id[] = FUZZ_AKID, key_secret[] = "fuzz-secret";
static char action[] = "sagemaker:Invoke*", resource[] = "arn:aws:sagemaker:*:*:endpoint/a-*";
static char *actions[] = {action}, *resources[] = {resource};
static struct auth_rule rule = {
    .actions = actions, .n_actions = 1, .resources = resources, .n_resources = 1};
static struct auth_key key = {.name = key_name,
                              .access_key_id = key_id,
                              .secret_access_key = key_secret,
                              .rules = &rule,
                              .n_rules = 1};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	static struct auth_keys k = {.refs = 1, .keys = &key, .n_keys = 1};
	keys = &k;
	return 0;
}

/* Checks that a verdict is whole. */
static void check_verdict(int r, const struct auth_verdict *v)
{
	if ((r == 0) != (v->error == AUTH_OK))
		__builtin_trap();
	if (r == 0 && (v->key != &key || v->message))
		__builtin_trap();
	if (r != 0) {
		if (r != -EACCES || !v->message || v->key)
			__builtin_trap();
		int status = auth_error_status(v->error);
		if ((status != 400 && status != 403) || !*auth_error_code(v->error))
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xmalloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';

	/* The body: after the first empty line, NULs and all. */
	const char *body = text + size;
	char *sep = strstr(text, "\n\n");
	char *crsep = strstr(text, "\r\n\r\n");
	if (crsep && (!sep || crsep < sep)) {
		*crsep = '\0';
		body = crsep + 4;
	} else if (sep) {
		*sep = '\0';
		body = sep + 2;
	}
	size_t body_len = size - (size_t)(body - text);

	unsigned char md[32];
	unsigned int md_len;
	char body_hex[65];
	EVP_Digest(body, body_len, md, &md_len, EVP_sha256(), NULL);
	for (size_t i = 0; i < 32; i++) {
		body_hex[2 * i] = "0123456789abcdef"[md[i] >> 4];
		body_hex[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
	}
	body_hex[64] = '\0';

	const char *names[FUZZ_MAX_HEADERS], *values[FUZZ_MAX_HEADERS];
	size_t n = 0;
	char *line = text, *next;
	char *method = "GET", *path = "/", *query = NULL;
	for (size_t i = 0; line; i++, line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		size_t l = strlen(line);
		if (l && line[l - 1] == '\r')
			line[l - 1] = '\0';
		if (i == 0) {
			char *sp = strchr(line, ' ');
			if (sp) {
				*sp = '\0';
				method = line;
				path = sp + 1;
			} else {
				path = line;
			}
			char *q = strchr(path, '?');
			if (q) {
				*q = '\0';
				query = q + 1;
			}
			continue;
		}
		char *colon = strchr(line, ':');
		if (!colon || n == FUZZ_MAX_HEADERS)
			continue;
		*colon = '\0';
		names[n] = line;
		values[n++] = colon + 1;
	}

	struct auth_request req = {.method = method,
	                           .raw_path = path,
	                           .raw_query = query,
	                           .header_names = names,
	                           .header_values = values,
	                           .n_headers = n,
	                           .body_sha256_hex = body_hex};
	struct auth_verdict v;
	int r = auth_verify(keys, &req, "eu-west-1", "sagemaker", FUZZ_NOW, &v);
	check_verdict(r, &v);
	auth_verdict_clear(&v);

	/* Deterministic: the same request, the same verdict. */
	struct auth_verdict again;
	int r2 = auth_verify(keys, &req, "eu-west-1", "sagemaker", FUZZ_NOW, &again);
	if (r2 != r || again.error != v.error)
		__builtin_trap();
	auth_verdict_clear(&again);

	/* Policies: a header value as the resource pattern, the next as the subject. */
	if (n >= 2) {
		char *vals[] = {(char *)values[0]};
		struct auth_rule pr = {
		    .actions = actions, .n_actions = 1, .resources = vals, .n_resources = 1};
		struct auth_key pk = {.name = key_name, .rules = &pr, .n_rules = 1};
		(void)auth_allowed(&pk, "sagemaker:InvokeEndpoint", values[1]);
		(void)auth_allowed(&pk, values[1], values[1]);
	}
	free(text);
	return 0;
}
