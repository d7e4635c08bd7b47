/*
 * Unit tests for lib/awsconfig.c: the AWS shared files parsed as botocore's
 * configparser parses them (every refusal with its file and line), and the
 * AWS CLI v2's choice of credentials, region and CA bundle from --profile,
 * --region, --ca-bundle, the environment and the two files.  Everything is
 * given as arguments: no HOME, no files, except for awsconfig_ini_load.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "awsconfig.h"
#include "util.h"

/* text parsed as the file "f"; fails the test when refused. */
static struct awsconfig_ini *parse(const char *text)
{
	struct awsconfig_ini *ini = NULL;
	_cleanup_free_ char *error = NULL;
	int r = awsconfig_ini_parse(text, strlen(text), "f", &ini, &error);
	cr_assert_eq(r, 0, "%s", error ? error : "");
	return ini;
}

/* The error text is refused with. */
static char *refusal(const char *text, size_t len)
{
	struct awsconfig_ini *ini = (struct awsconfig_ini *)1;
	char *error = NULL;
	int r = awsconfig_ini_parse(text, len, "f", &ini, &error);
	cr_assert_lt(r, 0, "'%s' was accepted", text);
	cr_assert_eq(ini, (struct awsconfig_ini *)1, "*ret_ini touched on failure");
	cr_assert_not_null(error);
	return error;
}

static void expect_refused(const char *text, const char *want)
{
	_cleanup_free_ char *error = refusal(text, strlen(text));
	cr_assert_str_eq(error, want);
}

/* Parsing */

Test(awsconfig, keys_are_case_insensitive_and_values_stripped)
{
	struct awsconfig_ini *ini = parse("[default]\n  AWS_Access_Key_ID   =   AKID  \n");
	cr_assert_str_eq(awsconfig_ini_get(ini, "default", "aws_access_key_id", NULL), "AKID");
	awsconfig_ini_free(ini);
}

Test(awsconfig, colon_is_a_delimiter_and_the_first_delimiter_splits)
{
	struct awsconfig_ini *ini = parse("[s]\nregion: eu-west-1\nsecret = a=b:c\nurl: x=y\n");
	cr_assert_str_eq(awsconfig_ini_get(ini, "s", "region", NULL), "eu-west-1");
	cr_assert_str_eq(awsconfig_ini_get(ini, "s", "secret", NULL), "a=b:c");
	cr_assert_str_eq(awsconfig_ini_get(ini, "s", "url", NULL), "x=y");
	awsconfig_ini_free(ini);
}

Test(awsconfig, comments_are_whole_lines_of_hash_or_semicolon)
{
	struct awsconfig_ini *ini =
	    parse("# a\n; b\n[s]\n   # c\nk = v # not a comment\n;k2 = x\n");
	cr_assert_str_eq(awsconfig_ini_get(ini, "s", "k", NULL), "v # not a comment");
	cr_assert_null(awsconfig_ini_get(ini, "s", "k2", NULL));
	awsconfig_ini_free(ini);
}

Test(awsconfig, every_line_end_ends_a_line)
{
	struct awsconfig_ini *ini = parse("[s]\r\na = 1\rb = 2\nc = 3");
	cr_assert_str_eq(awsconfig_ini_get(ini, "s", "a", NULL), "1");
	cr_assert_str_eq(awsconfig_ini_get(ini, "s", "b", NULL), "2");
	cr_assert_str_eq(awsconfig_ini_get(ini, "s", "c", NULL), "3");
	awsconfig_ini_free(ini);
}

Test(awsconfig, deeper_indented_lines_continue_a_value)
{
	unsigned line = 0;
	struct awsconfig_ini *ini = parse("[s]\nk = one\n  two\n\n    three\nnext = x\n");
	cr_assert_str_eq(awsconfig_ini_get(ini, "s", "k", &line), "one\ntwo\n\nthree");
	cr_assert_eq(line, 2);
	cr_assert_str_eq(awsconfig_ini_get(ini, "s", "next", NULL), "x");
	awsconfig_ini_free(ini);
}

Test(awsconfig, nested_settings_are_kept_as_a_value_and_not_read)
{
	struct awsconfig_ini *ini =
	    parse("[s]\ns3 =\n  addressing_style = path\n  max = 10\nregion = eu-west-1\n");
	cr_assert_str_eq(awsconfig_ini_get(ini, "s", "region", NULL), "eu-west-1");
	awsconfig_ini_free(ini);
}

Test(awsconfig, section_name_runs_to_the_last_bracket)
{
	struct awsconfig_ini *ini = parse("[a]b] tail\nk = 1\n[]]\nk = 2\n");
	cr_assert(awsconfig_ini_has_section(ini, "a]b"));
	cr_assert(awsconfig_ini_has_section(ini, "]"));
	awsconfig_ini_free(ini);
}

Test(awsconfig, fallback_section_stands_behind_every_section_and_is_none)
{
	struct awsconfig_ini *ini = parse("[DEFAULT]\nregion = eu-west-1\n[a]\n[b]\nregion = x\n");
	cr_assert_str_eq(awsconfig_ini_get(ini, "a", "region", NULL), "eu-west-1");
	cr_assert_str_eq(awsconfig_ini_get(ini, "b", "region", NULL), "x");
	cr_assert_null(awsconfig_ini_get(ini, "c", "region", NULL));
	cr_assert_not(awsconfig_ini_has_section(ini, "DEFAULT"));
	awsconfig_ini_free(ini);
}

Test(awsconfig, empty_text_has_no_sections)
{
	struct awsconfig_ini *ini = parse("");
	cr_assert_not(awsconfig_ini_has_section(ini, "default"));
	awsconfig_ini_free(ini);
}

Test(awsconfig, line_before_any_section_is_refused_with_its_line)
{
	expect_refused("\n# c\naws_access_key_id = A\n[default]\n",
	               "f:3: 'aws_access_key_id = A' before any [section]");
}

Test(awsconfig, line_without_a_delimiter_is_refused)
{
	expect_refused("[s]\nk = 1\njust words\n",
	               "f:3: 'just words' is neither [SECTION], NAME = VALUE nor a comment");
}

Test(awsconfig, empty_brackets_are_not_a_section)
{
	expect_refused("[]\n", "f:1: '[]' before any [section]");
}

Test(awsconfig, value_without_a_name_is_refused)
{
	expect_refused("[s]\n = v\n", "f:2: a value without a name");
}

Test(awsconfig, section_twice_is_refused)
{
	expect_refused("[s]\na = 1\n[s]\n", "f:3: section [s] again (first at line 1)");
}

Test(awsconfig, key_twice_in_any_case_is_refused)
{
	expect_refused("[s]\nregion = a\nREGION = b\n",
	               "f:3: REGION again in [s] (first at line 2)");
}

Test(awsconfig, nested_line_without_equals_is_refused)
{
	expect_refused("[s]\ns3 =\n  junk\n",
	               "f:2: 'junk' in the nested settings of s3 is not NAME = VALUE");
}

Test(awsconfig, nul_byte_is_refused)
{
	_cleanup_free_ char *error = refusal("[s]\nk = a\0b\n", 10);
	cr_assert_str_eq(error, "f:2: a NUL byte");
}

Test(awsconfig, text_that_is_not_utf8_is_refused)
{
	expect_refused("[s]\nk = \xff\xfe\n", "f:2: not UTF-8");
}

Test(awsconfig, file_over_the_bound_is_refused)
{
	size_t n = AWSCONFIG_MAX_FILE + 1;
	_cleanup_free_ char *big = xmalloc(n);
	memset(big, '#', n);
	struct awsconfig_ini *ini = NULL;
	_cleanup_free_ char *error = NULL;
	cr_assert_eq(awsconfig_ini_parse(big, n, "f", &ini, &error), -E2BIG);
	cr_assert(strstr(error, "larger than"));
}

Test(awsconfig, many_keys_parse_in_linear_time)
{
	struct buf b = {0};
	buf_printf(&b, "[s]\n");
	for (int i = 0; i < 40000; i++)
		buf_printf(&b, "k%d = %d\n", i, i);
	struct awsconfig_ini *ini = NULL;
	_cleanup_free_ char *error = NULL;
	cr_assert_eq(awsconfig_ini_parse(b.data, b.len, "f", &ini, &error), 0);
	cr_assert_str_eq(awsconfig_ini_get(ini, "s", "k39999", NULL), "39999");
	awsconfig_ini_free(ini);
	buf_reset(&b);
}

Test(awsconfig, config_profiles_are_default_or_profile_and_a_shell_word)
{
	struct awsconfig_ini *ini = parse("[default]\n[profile a]\n[profile   \"b c\"]\n"
	                                  "[profile 'd']\n[profile]\n[profile e f]\n[g]\n"
	                                  "[profile \"h]\n");
	cr_assert_str_eq(awsconfig_config_section(ini, "default"), "default");
	cr_assert_str_eq(awsconfig_config_section(ini, "a"), "profile a");
	cr_assert_str_eq(awsconfig_config_section(ini, "b c"), "profile   \"b c\"");
	cr_assert_str_eq(awsconfig_config_section(ini, "d"), "profile 'd'");
	cr_assert_null(awsconfig_config_section(ini, "e"));
	cr_assert_null(awsconfig_config_section(ini, "g"));
	cr_assert_null(awsconfig_config_section(ini, "h"));
	awsconfig_ini_free(ini);
}

Test(awsconfig, later_section_for_the_same_profile_wins)
{
	struct awsconfig_ini *ini =
	    parse("[profile default]\n[default]\n[profile \"x\"]\n[profile x]\n");
	cr_assert_str_eq(awsconfig_config_section(ini, "default"), "default");
	cr_assert_str_eq(awsconfig_config_section(ini, "x"), "profile x");
	awsconfig_ini_free(ini);
}

/* Resolution */

/* One resolution: the environment and both files given as text (NULL: no file). */
struct resolved {
	int r;
	struct awsconfig c;
	char *error;
};

static struct resolved resolve(const char *profile, const char *region, const char *const *env,
                               const char *creds_text, const char *config_text)
{
	struct awsconfig_ini *creds = creds_text ? parse(creds_text) : NULL;
	struct awsconfig_ini *config = config_text ? parse(config_text) : NULL;
	const struct awsconfig_input in = {
	    .profile = profile,
	    .region = region,
	    .env = env,
	    .credentials = creds,
	    .credentials_path = "/h/.aws/credentials",
	    .config = config,
	    .config_path = "/h/.aws/config",
	};
	struct resolved out = {.r = 0};
	out.r = awsconfig_resolve(&in, &out.c, &out.error);
	awsconfig_ini_free(creds);
	awsconfig_ini_free(config);
	return out;
}

static void resolved_clear(struct resolved *r)
{
	if (r->r == 0)
		awsconfig_clear(&r->c);
	free(r->error);
}

static const char *no_env[] = {NULL};

#define CREDS_DEFAULT "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file\n"

Test(awsconfig, nothing_anywhere_is_unsigned_in_us_east_1)
{
	struct resolved r = resolve(NULL, NULL, no_env, NULL, NULL);
	cr_assert_eq(r.r, 0);
	cr_assert_null(r.c.access_key_id);
	cr_assert_str_eq(r.c.region, "us-east-1");
	cr_assert_null(r.c.ca_bundle);
	resolved_clear(&r);
}

Test(awsconfig, environment_keys_beat_the_default_profile)
{
	const char *env[] = {"AWS_ACCESS_KEY_ID=AKIDENV", "AWS_SECRET_ACCESS_KEY=env",
	                     "AWS_SESSION_TOKEN=token", NULL};
	struct resolved r = resolve(NULL, NULL, env, CREDS_DEFAULT, NULL);
	cr_assert_eq(r.r, 0);
	cr_assert_str_eq(r.c.access_key_id, "AKIDENV");
	cr_assert_str_eq(r.c.secret_access_key, "env");
	cr_assert_str_eq(r.c.session_token, "token");
	resolved_clear(&r);
}

Test(awsconfig, profile_option_beats_environment_keys)
{
	const char *env[] = {"AWS_ACCESS_KEY_ID=AKIDENV", "AWS_SECRET_ACCESS_KEY=env", NULL};
	struct resolved r = resolve("default", NULL, env, CREDS_DEFAULT, NULL);
	cr_assert_eq(r.r, 0);
	cr_assert_str_eq(r.c.access_key_id, "AKIDFILE");
	cr_assert_null(r.c.session_token);
	cr_assert_str_eq(r.c.source, "/h/.aws/credentials:2");
	resolved_clear(&r);
}

Test(awsconfig, aws_profile_names_the_profile)
{
	const char *env[] = {"AWS_PROFILE=ci", NULL};
	struct resolved r = resolve(NULL, NULL, env,
	                            CREDS_DEFAULT "[ci]\naws_access_key_id = AKIDCI\n"
	                                          "aws_secret_access_key = ci\n",
	                            NULL);
	cr_assert_eq(r.r, 0);
	cr_assert_str_eq(r.c.access_key_id, "AKIDCI");
	cr_assert_str_eq(r.c.profile, "ci");
	resolved_clear(&r);
}

Test(awsconfig, unknown_profile_is_refused_in_the_aws_cli_s_words)
{
	struct resolved r = resolve("nope", NULL, no_env, CREDS_DEFAULT, "[profile other]\n");
	cr_assert_eq(r.r, -EINVAL);
	cr_assert_str_eq(r.error, "The config profile (nope) could not be found");
	resolved_clear(&r);
}

Test(awsconfig, unknown_aws_profile_is_refused)
{
	const char *env[] = {"AWS_PROFILE=nope", NULL};
	struct resolved r = resolve(NULL, NULL, env, CREDS_DEFAULT, NULL);
	cr_assert_str_eq(r.error, "The config profile (nope) could not be found");
	resolved_clear(&r);
}

Test(awsconfig, credentials_file_beats_config_file)
{
	struct resolved r = resolve(NULL, NULL, no_env, CREDS_DEFAULT,
	                            "[default]\naws_access_key_id = AKIDCONF\n"
	                            "aws_secret_access_key = conf\n");
	cr_assert_str_eq(r.c.access_key_id, "AKIDFILE");
	resolved_clear(&r);
}

Test(awsconfig, config_file_profile_gives_keys_and_region)
{
	struct resolved r = resolve("ci", NULL, no_env, NULL,
	                            "[profile ci]\naws_access_key_id = AKIDCONF\n"
	                            "aws_secret_access_key = conf\nregion = ap-south-1\n");
	cr_assert_eq(r.r, 0);
	cr_assert_str_eq(r.c.access_key_id, "AKIDCONF");
	cr_assert_str_eq(r.c.region, "ap-south-1");
	resolved_clear(&r);
}

Test(awsconfig, security_token_is_read_before_session_token)
{
	struct resolved r = resolve(
	    NULL, NULL, no_env,
	    CREDS_DEFAULT "aws_session_token = session\naws_security_token = security\n", NULL);
	cr_assert_str_eq(r.c.session_token, "security");
	resolved_clear(&r);
}

Test(awsconfig, environment_key_without_secret_is_refused)
{
	const char *env[] = {"AWS_ACCESS_KEY_ID=AKIDENV", NULL};
	struct resolved r = resolve(NULL, NULL, env, NULL, NULL);
	cr_assert_str_eq(r.error,
	                 "Partial credentials found in env, missing: AWS_SECRET_ACCESS_KEY");
	resolved_clear(&r);
}

Test(awsconfig, empty_environment_values_count_as_unset)
{
	const char *env[] = {"AWS_ACCESS_KEY_ID=", "AWS_PROFILE=", "AWS_REGION=", NULL};
	struct resolved r = resolve(NULL, NULL, env, CREDS_DEFAULT, NULL);
	cr_assert_eq(r.r, 0);
	cr_assert_str_eq(r.c.access_key_id, "AKIDFILE");
	cr_assert_str_eq(r.c.region, "us-east-1");
	resolved_clear(&r);
}

Test(awsconfig, file_key_without_secret_is_refused)
{
	struct resolved r =
	    resolve(NULL, NULL, no_env, "[default]\naws_access_key_id = AKIDFILE\n", NULL);
	cr_assert_str_eq(r.error, "Partial credentials found in /h/.aws/credentials, profile "
	                          "default, missing: aws_secret_access_key");
	resolved_clear(&r);
}

Test(awsconfig, empty_or_multi_line_key_is_refused_with_its_line)
{
	struct resolved r =
	    resolve(NULL, NULL, no_env,
	            "[default]\naws_access_key_id =\naws_secret_access_key = s\n", NULL);
	cr_assert_str_eq(r.error, "/h/.aws/credentials:2: aws_access_key_id is empty");
	resolved_clear(&r);
	r = resolve(NULL, NULL, no_env,
	            "[default]\naws_access_key_id = A\naws_secret_access_key = s\n  t\n", NULL);
	cr_assert_str_eq(r.error,
	                 "/h/.aws/credentials:3: aws_secret_access_key spans more than one line");
	resolved_clear(&r);
}

Test(awsconfig, access_key_id_that_cannot_be_in_a_scope_is_refused)
{
	const char *env[] = {"AWS_ACCESS_KEY_ID=AKID/X", "AWS_SECRET_ACCESS_KEY=s", NULL};
	struct resolved r = resolve(NULL, NULL, env, NULL, NULL);
	cr_assert_eq(r.r, -EINVAL);
	cr_assert(strstr(r.error, "'AKID/X'"), "%s", r.error);
	resolved_clear(&r);
}

Test(awsconfig, named_profile_without_keys_is_refused)
{
	struct resolved r = resolve("p", NULL, no_env, NULL, "[profile p]\nregion = eu-west-1\n");
	cr_assert_str_eq(r.error, "The config profile (p) has no credentials "
	                          "(aws_access_key_id and aws_secret_access_key)");
	resolved_clear(&r);
}

Test(awsconfig, default_profile_without_keys_is_unsigned_with_its_region)
{
	struct resolved r = resolve(NULL, NULL, no_env, NULL, "[default]\nregion = eu-west-1\n");
	cr_assert_eq(r.r, 0);
	cr_assert_null(r.c.access_key_id);
	cr_assert_str_eq(r.c.region, "eu-west-1");
	resolved_clear(&r);
}

Test(awsconfig, profile_that_assumes_a_role_is_refused_not_sent_unsigned)
{
	struct resolved r = resolve(NULL, NULL, no_env, NULL,
	                            "[default]\nrole_arn = arn:aws:iam::1:role/x\n"
	                            "source_profile = base\n");
	cr_assert_eq(r.r, -EINVAL);
	cr_assert(strstr(r.error, "The config profile (default) gets its credentials through "
	                          "role_arn, which endpointctl does not do"),
	          "%s", r.error);
	resolved_clear(&r);
}

Test(awsconfig, region_option_then_environment_then_profile)
{
	const char *both[] = {"AWS_REGION=eu-west-2", "AWS_DEFAULT_REGION=eu-west-3", NULL};
	const char *fallback[] = {"AWS_DEFAULT_REGION=eu-west-3", NULL};
	const char *config = "[default]\nregion = eu-west-1\n";
	struct resolved r = resolve(NULL, "eu-central-1", both, NULL, config);
	cr_assert_str_eq(r.c.region, "eu-central-1");
	resolved_clear(&r);
	r = resolve(NULL, NULL, both, NULL, config);
	cr_assert_str_eq(r.c.region, "eu-west-2");
	resolved_clear(&r);
	r = resolve(NULL, NULL, fallback, NULL, config);
	cr_assert_str_eq(r.c.region, "eu-west-3");
	resolved_clear(&r);
	r = resolve(NULL, NULL, no_env, "[default]\nregion = eu-north-1\n", config);
	cr_assert_str_eq(r.c.region, "eu-north-1"); /* the credentials file's wins */
	resolved_clear(&r);
}

Test(awsconfig, region_that_is_not_one_is_refused_in_botocore_s_words)
{
	struct resolved r = resolve(NULL, "eu-west-1/../x", no_env, NULL, NULL);
	cr_assert_str_eq(r.error,
	                 "Provided region_name 'eu-west-1/../x' doesn't match a supported format.");
	resolved_clear(&r);
}

Test(awsconfig, ca_bundle_option_then_environment_then_profile)
{
	const char *env[] = {"AWS_CA_BUNDLE=/env.pem", NULL};
	const char *config = "[default]\nca_bundle = /profile.pem\n";
	const struct awsconfig_input in = {.ca_bundle = "/option.pem", .env = env};
	struct awsconfig c;
	char *error = NULL;
	cr_assert_eq(awsconfig_resolve(&in, &c, &error), 0);
	cr_assert_str_eq(c.ca_bundle, "/option.pem");
	awsconfig_clear(&c);
	struct resolved r = resolve(NULL, NULL, env, NULL, config);
	cr_assert_str_eq(r.c.ca_bundle, "/env.pem");
	resolved_clear(&r);
	r = resolve(NULL, NULL, no_env, NULL, config);
	cr_assert_str_eq(r.c.ca_bundle, "/profile.pem");
	resolved_clear(&r);
}

/* Environment and files */

Test(awsconfig, getenv_takes_the_first_and_whole_names_only)
{
	const char *env[] = {"AWS_REGIONX=no", "AWS_REGION=a", "AWS_REGION=b", NULL};
	cr_assert_str_eq(awsconfig_getenv(env, "AWS_REGION"), "a");
	cr_assert_null(awsconfig_getenv(env, "AWS_REG"));
	cr_assert_null(awsconfig_getenv(NULL, "AWS_REGION"));
}

Test(awsconfig, path_defaults_under_home_and_expands_variables)
{
	const char *env[] = {"HOME=/home/op/", "X=sub", "AWS_CONFIG_FILE=$HOME/${X}/$UNSET/c",
	                     NULL};
	_cleanup_free_ char *creds =
	    awsconfig_path(env, "AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials");
	_cleanup_free_ char *config = awsconfig_path(env, "AWS_CONFIG_FILE", "~/.aws/config");
	cr_assert_str_eq(creds, "/home/op/.aws/credentials");
	cr_assert_str_eq(config, "/home/op//sub/$UNSET/c");
}

Test(awsconfig, missing_file_is_no_file_and_a_directory_too)
{
	struct awsconfig_ini *ini = (struct awsconfig_ini *)1;
	char *error = NULL;
	cr_assert_eq(awsconfig_ini_load("/nonexistent/credentials", &ini, &error), 0);
	cr_assert_null(ini);
	cr_assert_eq(awsconfig_ini_load("/", &ini, &error), 0);
	cr_assert_null(ini);
	cr_assert_null(error);
}

Test(awsconfig, file_is_read_and_a_bad_one_says_its_path_and_line)
{
	char path[] = "/tmp/awsconfig-test-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	static const char text[] = "[default]\nregion = eu-west-1\nbroken\n";
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct awsconfig_ini *ini = NULL;
	_cleanup_free_ char *error = NULL;
	cr_assert_eq(awsconfig_ini_load(path, &ini, &error), -EINVAL);
	_cleanup_free_ char *want =
	    xasprintf("%s:3: 'broken' is neither [SECTION], NAME = VALUE nor a comment", path);
	cr_assert_str_eq(error, want);
	unlink(path);
}
