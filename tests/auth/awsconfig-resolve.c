/*
 * awsconfig-resolve: lib/awsconfig.c's resolution of the AWS shared files
 * and the AWS_* environment, for tests that compare it with botocore's.
 *
 *   awsconfig-resolve [--profile P] [--region R] [--ca-bundle F]
 *
 * Prints access_key_id=, secret_access_key=, session_token=, region= and
 * ca_bundle= lines (empty when none) and exits 0, or "error: <message>" and
 * exits 1; 2 on bad usage.
 */
#include <stdio.h>
#include <string.h>

#include "awsconfig.h"
#include "util.h"

extern char **environ;

int main(int argc, char **argv)
{
	const char *profile = NULL, *region = NULL, *ca_bundle = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--profile") == 0 && i + 1 < argc) {
			profile = argv[++i];
		} else if (strcmp(argv[i], "--region") == 0 && i + 1 < argc) {
			region = argv[++i];
		} else if (strcmp(argv[i], "--ca-bundle") == 0 && i + 1 < argc) {
			ca_bundle = argv[++i];
		} else {
			fprintf(stderr, "usage: awsconfig-resolve [--profile P] [--region R] "
			                "[--ca-bundle F]\n");
			return 2;
		}
	}
	struct awsconfig c;
	_cleanup_free_ char *error = NULL;
	if (awsconfig_load(profile, region, ca_bundle, (const char *const *)environ, &c, &error) <
	    0) {
		printf("error: %s\n", error);
		return 1;
	}
	printf("access_key_id=%s\nsecret_access_key=%s\nsession_token=%s\nregion=%s\n"
	       "ca_bundle=%s\n",
	       c.access_key_id ? c.access_key_id : "",
	       c.secret_access_key ? c.secret_access_key : "",
	       c.session_token ? c.session_token : "", c.region, c.ca_bundle ? c.ca_bundle : "");
	awsconfig_clear(&c);
	return 0;
}
