/*
 * auth-verify: lib/auth.c's signature check on one raw HTTP request, for
 * tests that sign requests with a real client's signer.
 *
 *   auth-verify --now EPOCH [--region R] [--service S] AKID:SECRET[:NAME]... < request
 *   auth-verify --sign --now EPOCH [--region R] [--service S] AKID:SECRET[:TOKEN] < request
 *
 * The request is read whole from stdin (request line, headers, empty line,
 * body; Content-Length is not needed).  Prints "OK <key name>" and exits 0,
 * or prints "<code> <status> <message>" and exits 1; 2 on bad usage.
 *
 * With --sign, lib/auth.c's signer signs the request instead, every header
 * of it, with the one key given (and its session token), and the headers it
 * adds are printed as "Name: value" lines; exits 1 when it refuses.
 */
#define _GNU_SOURCE 1 /* memmem */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "auth.h"
#include "util.h"

#define MAX_HEADERS 512

/* Reads all of stdin. */
static char *read_all(size_t *ret_len)
{
	struct buf b = {.max = 64 * 1024 * 1024};
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		if (buf_append(&b, chunk, n) < 0) {
			fprintf(stderr, "auth-verify: request over 64 MiB\n");
			exit(2);
		}
	*ret_len = b.len;
	return buf_steal(&b);
}

int main(int argc, char **argv)
{
	const char *region = "us-east-1", *service = "sagemaker";
	double now = -1;
	bool sign_mode = false;
	struct auth_keys *keys = xcalloc(1, sizeof(*keys));
	keys->refs = 1;
	keys->keys = xcalloc((size_t)argc, sizeof(*keys->keys));
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--sign") == 0) {
			sign_mode = true;
		} else if (strcmp(argv[i], "--now") == 0 && i + 1 < argc) {
			now = strtod(argv[++i], NULL);
		} else if (strcmp(argv[i], "--region") == 0 && i + 1 < argc) {
			region = argv[++i];
		} else if (strcmp(argv[i], "--service") == 0 && i + 1 < argc) {
			service = argv[++i];
		} else {
			char *spec = xstrdup(argv[i]);
			char *secret = strchr(spec, ':');
			if (!secret) {
				fprintf(stderr,
				        "usage: auth-verify [--sign] --now EPOCH [--region R] "
				        "[--service S] AKID:SECRET[:NAME|:TOKEN]...\n");
				return 2;
			}
			*secret++ = '\0';
			char *name = strchr(secret, ':');
			if (name)
				*name++ = '\0';
			struct auth_key *k = &keys->keys[keys->n_keys++];
			k->access_key_id = xstrdup(spec);
			k->secret_access_key = xstrdup(secret);
			k->name = xstrdup(name ? name : spec);
			free(spec);
		}
	}
	if (now < 0) {
		fprintf(stderr, "auth-verify: --now is required\n");
		return 2;
	}

	size_t len;
	char *raw = read_all(&len);
	char *head_end = memmem(raw, len, "\r\n\r\n", 4);
	if (!head_end) {
		fprintf(stderr, "auth-verify: no end of head\n");
		return 2;
	}
	*head_end = '\0';
	const char *body = head_end + 4;
	size_t body_len = len - (size_t)(body - raw);

	const char *names[MAX_HEADERS], *values[MAX_HEADERS];
	size_t n = 0;
	char *save = NULL;
	char *line = strtok_r(raw, "\r\n", &save);
	char *method = line ? strtok(line, " ") : NULL;
	char *target = method ? strtok(NULL, " ") : NULL;
	if (!target) {
		fprintf(stderr, "auth-verify: no request line\n");
		return 2;
	}
	char *query = strchr(target, '?');
	if (query)
		*query++ = '\0';
	while ((line = strtok_r(NULL, "\r\n", &save)) && n < MAX_HEADERS) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		names[n] = line;
		values[n++] = colon + 1;
	}

	unsigned char md[32];
	unsigned int md_len;
	char hex[65];
	EVP_Digest(body, body_len, md, &md_len, EVP_sha256(), NULL);
	for (size_t i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);

	struct auth_request req = {.method = method,
	                           .raw_path = target,
	                           .raw_query = query,
	                           .header_names = names,
	                           .header_values = values,
	                           .n_headers = n,
	                           .body_sha256_hex = hex};
	if (sign_mode) {
		if (keys->n_keys != 1) {
			fprintf(stderr, "auth-verify: --sign takes one key\n");
			return 2;
		}
		const struct auth_key *k = &keys->keys[0];
		const struct auth_credentials creds = {
		    .access_key_id = k->access_key_id,
		    .secret_access_key = k->secret_access_key,
		    .session_token = strcmp(k->name, k->access_key_id) != 0 ? k->name : NULL,
		};
		char date[17];
		char *authorization = NULL;
		int r = auth_sign(&req, &creds, region, service, (time_t)now, date, &authorization);
		if (r < 0) {
			printf("refused: %s\n", strerror(-r));
		} else {
			printf("X-Amz-Date: %s\n", date);
			if (creds.session_token)
				printf("X-Amz-Security-Token: %s\n", creds.session_token);
			printf("Authorization: %s\n", authorization);
		}
		free(authorization);
		auth_keys_unref(keys);
		free(raw);
		return r < 0 ? 1 : 0;
	}
	struct auth_verdict v;
	int r = auth_verify(keys, &req, region, service, now, &v);
	if (r == 0)
		printf("OK %s\n", v.key->name);
	else
		printf("%s %d %s\n", auth_error_code(v.error), auth_error_status(v.error),
		       v.message);
	auth_verdict_clear(&v);
	auth_keys_unref(keys);
	free(raw);
	return r == 0 ? 0 : 1;
}
