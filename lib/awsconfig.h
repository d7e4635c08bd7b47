/*
 * The AWS shared files as the AWS CLI reads them: the credentials file
 * (~/.aws/credentials) and the config file (~/.aws/config), and which
 * credentials, region and CA bundle a command uses given --profile,
 * --region, --ca-bundle and the AWS_* environment variables.
 *
 * Parsing and resolution are pure: they take the files' contents and the
 * environment as arguments.  awsconfig_load() is the one function that
 * reads the files named by the environment.
 */
#ifndef ENDPOINTD_AWSCONFIG_H
#define ENDPOINTD_AWSCONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* A shared file is refused past this size: neither file is ever near it. */
#define AWSCONFIG_MAX_FILE (1024 * 1024)

/* One file, parsed as Python's configparser (botocore's parser) does. */
struct awsconfig_ini;

/*
 * Parses text (len bytes, not NUL-terminated) of the file called name (for
 * messages).  0 and *ret_ini, or -EINVAL and *ret_error as
 * "name:line: what is wrong" for what botocore refuses as a whole file: a
 * line before any section, a line that is neither a section, NAME = VALUE
 * nor a comment, a section or a key twice, a nested block line without
 * '=', NUL bytes and text that is not UTF-8; -E2BIG over AWSCONFIG_MAX_FILE.
 */
int awsconfig_ini_parse(const char *text, size_t len, const char *name,
                        struct awsconfig_ini **ret_ini, char **ret_error);
struct awsconfig_ini *awsconfig_ini_free(struct awsconfig_ini *ini);
/* The value of key (lower case) in section, [DEFAULT]'s when the section
 * has none; NULL when neither has it or there is no such section.
 * *ret_line (may be NULL) gets its line. */
const char *awsconfig_ini_get(const struct awsconfig_ini *ini, const char *section, const char *key,
                              unsigned *ret_line);
/* Whether the file has a section called name ([DEFAULT] is not one). */
bool awsconfig_ini_has_section(const struct awsconfig_ini *ini, const char *name);
/* The section of the config file that holds profile name: "[profile
 * NAME]", or "[default]" for "default"; the last in the file when several
 * do.  NULL when none. */
const char *awsconfig_config_section(const struct awsconfig_ini *ini, const char *name);

/* What a command is given: its options, its environment and the files. */
struct awsconfig_input {
	const char *profile;    /* --profile, or NULL */
	const char *region;     /* --region, or NULL */
	const char *ca_bundle;  /* --ca-bundle, or NULL */
	const char *const *env; /* "NAME=value" strings, NULL-terminated; NULL: empty */
	const struct awsconfig_ini *credentials; /* NULL: no credentials file */
	const char *credentials_path;            /* for messages */
	const struct awsconfig_ini *config;      /* NULL: no config file */
	const char *config_path;
};

/* What a command signs with, where it sends its region, what it trusts. */
struct awsconfig {
	char *access_key_id; /* NULL: no credentials anywhere: requests go unsigned */
	char *secret_access_key;
	char *session_token; /* NULL: none */
	char *region;        /* always set */
	char *ca_bundle;     /* NULL: the system's CA store */
	char *profile;       /* the profile read, "default" when none was named */
	char *source;        /* where the credentials came from, for messages */
};

/*
 * Resolves as the AWS CLI v2 does.  Credentials: --profile's (the profile
 * must exist in one of the files, and give keys); otherwise
 * AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN), then
 * the profile AWS_PROFILE names, or "default", from the credentials file,
 * then from the config file; none of them: none (unsigned).  Region:
 * --region, AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else
 * us-east-1.  CA bundle: --ca-bundle, AWS_CA_BUNDLE, the profile's
 * ca_bundle.  0, or -EINVAL with *ret_error in the AWS CLI's words where it
 * has them ("The config profile (X) could not be found").  *ret is
 * untouched on failure.
 */
int awsconfig_resolve(const struct awsconfig_input *in, struct awsconfig *ret, char **ret_error);
void awsconfig_clear(struct awsconfig *c);

/* The value of name in env (the first, as getenv), or NULL. */
const char *awsconfig_getenv(const char *const *env, const char *name);
/* The path of a shared file: variable's value when set and not empty,
 * else default_path, with $NAME and ${NAME} expanded from env and a
 * leading ~ from HOME, as botocore expands them. */
char *awsconfig_path(const char *const *env, const char *variable, const char *default_path);

/*
 * Reads and parses the file at path: 0 and *ret_ini, 0 and *ret_ini NULL
 * when there is no such regular file (as botocore skips it), or -errno
 * and *ret_error.
 */
int awsconfig_ini_load(const char *path, struct awsconfig_ini **ret_ini, char **ret_error);

/* awsconfig_resolve() on the files env names (AWS_SHARED_CREDENTIALS_FILE,
 * AWS_CONFIG_FILE, their defaults under HOME). */
int awsconfig_load(const char *profile, const char *region, const char *ca_bundle,
                   const char *const *env, struct awsconfig *ret, char **ret_error);

#endif
