/*
 * The AWS shared files (lib/awsconfig.c): a credentials file and a config
 * file parsed as botocore parses them, then resolved as the AWS CLI
 * resolves them with --profile, AWS_PROFILE and environment keys picked by
 * the input.  A parse either gives a file or an error that names the file
 * and leaves *ret_ini alone; the same text parses the same twice; a
 * resolution either fails with a message or gives a region and both halves
 * of a key or neither.
 *
 * Input: a flags byte (bit 0: --profile "p"; bit 1: AWS_PROFILE=p; bit 2:
 * environment keys; bit 3: --region; bit 4: AWS_CA_BUNDLE), then the
 * credentials file, a NUL byte, and the config file (none without a NUL).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "awsconfig.h"
#include "fuzz.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

/* Parses text as file name; traps on a parse that is not whole. */
static struct awsconfig_ini *parse_checked(const char *text, size_t len, const char *name)
{
	struct awsconfig_ini *ini = (struct awsconfig_ini *)1, *again = (struct awsconfig_ini *)1;
	char *error = NULL, *error_again = NULL;
	int r = awsconfig_ini_parse(text, len, name, &ini, &error);
	int r2 = awsconfig_ini_parse(text, len, name, &again, &error_again);
	if (r != r2)
		__builtin_trap();
	if (r < 0) {
		if (ini != (struct awsconfig_ini *)1 || !error ||
		    strncmp(error, name, strlen(name)) != 0 || strcmp(error, error_again) != 0)
			__builtin_trap();
		free(error);
		free(error_again);
		return NULL;
	}
	if (!ini || error)
		__builtin_trap();
	static const char *const sections[] = {"default", "p", "profile p", "DEFAULT"};
	static const char *const keys[] = {"aws_access_key_id", "region", "s3"};
	for (size_t i = 0; i < ELEMENTSOF(sections); i++) {
		if (awsconfig_ini_has_section(ini, sections[i]) !=
		    awsconfig_ini_has_section(again, sections[i]))
			__builtin_trap();
		for (size_t j = 0; j < ELEMENTSOF(keys); j++) {
			const char *a = awsconfig_ini_get(ini, sections[i], keys[j], NULL);
			const char *b = awsconfig_ini_get(again, sections[i], keys[j], NULL);
			if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
				__builtin_trap();
		}
	}
	const char *p = awsconfig_config_section(ini, "p");
	if (p && !awsconfig_ini_has_section(ini, p))
		__builtin_trap();
	awsconfig_ini_free(again);
	return ini;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned flags = data[0];
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	const char *nul = memchr(text, '\0', len);
	size_t creds_len = nul ? (size_t)(nul - text) : len;

	struct awsconfig_ini *creds = parse_checked(text, creds_len, "credentials");
	struct awsconfig_ini *config =
	    nul ? parse_checked(nul + 1, len - creds_len - 1, "config") : NULL;

	const char *env[8];
	size_t n = 0;
	if (flags & 2)
		env[n++] = "AWS_PROFILE=p";
	if (flags & 4) {
		env[n++] = "AWS_ACCESS_KEY_ID=AKIDFUZZ";
		env[n++] = "AWS_SECRET_ACCESS_KEY=fuzz";
	}
	if (flags & 16)
		env[n++] = "AWS_CA_BUNDLE=/ca.pem";
	env[n] = NULL;
	const struct awsconfig_input in = {
	    .profile = flags & 1 ? "p" : NULL,
	    .region = flags & 8 ? "eu-west-1" : NULL,
	    .env = env,
	    .credentials = creds,
	    .credentials_path = "credentials",
	    .config = config,
	    .config_path = "config",
	};
	struct awsconfig c;
	char *error = NULL;
	int r = awsconfig_resolve(&in, &c, &error);
	if (r < 0) {
		if (!error || !*error)
			__builtin_trap();
		free(error);
	} else {
		if (error || !c.region || !*c.region || !c.profile || !c.source)
			__builtin_trap();
		if ((c.access_key_id == NULL) != (c.secret_access_key == NULL))
			__builtin_trap();
		if (c.session_token && !c.access_key_id)
			__builtin_trap();
		awsconfig_clear(&c);
	}
	awsconfig_ini_free(creds);
	awsconfig_ini_free(config);
	return 0;
}
