/*
 * Unit tests for lib/config_auth.c: auth: in the daemon config, the rule
 * that a listener beyond loopback needs credentials, and the credentials
 * file.  Git keeps no 0600 mode, so every test copies the file it needs
 * into a scratch directory of its own and sets the mode there.
 *
 * Every .yaml file in tests/data/credentials/bad/ is refused, and its first
 * line says how:
 *
 *   # expect: LINE:COLUMN: message      (or "# expect: message" for the file as a whole)
 *
 * meaning the error contains "<the credentials file>:LINE:COLUMN: message".
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "util.h"

#define CRED_DIR TEST_DATA_DIR "/credentials"
#define GOOD_DIR CRED_DIR "/good"
#define BAD_DIR CRED_DIR "/bad"

static const char good_key[] = "keys:\n"
                               "  - name: pipeline-a\n"
                               "    access_key_id: AKIDPIPELINEA0000001\n"
                               "    secret_access_key: \"s3cr3t\"\n"
                               "    allow: []\n";

/* A scratch directory of the test's own; every test removes what it made. */
static char *scratch_dir(void)
{
	char *dir = xstrdup("/tmp/test_config_auth.XXXXXX");

	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	return dir;
}

static void scratch_remove(char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);

	cr_assert_eq(system(cmd), 0);
	free(cmd);
	free(dir);
}

/* Writes dir/name with text and mode; returns the path. */
static char *write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
	cr_assert_eq(chmod(path, mode), 0);
	return path;
}

static char *read_fixture(const char *path)
{
	char *text = NULL;
	size_t cap = 0;
	FILE *f = fopen(path, "r");
	ssize_t n;

	cr_assert_not_null(f, "cannot open %s", path);
	n = getdelim(&text, &cap, '\0', f);
	fclose(f);
	cr_assert_geq(n, 0, "cannot read %s", path);
	return text;
}

/* dir/main.yaml naming credentials (relative to dir), plus extra lines. */
static char *write_main(const char *dir, const char *credentials, const char *extra)
{
	char *text = xasprintf("auth:\n  credentials: %s\n%s", credentials, extra ? extra : "");
	char *path = write_file(dir, "main.yaml", text, 0644);

	free(text);
	return path;
}

/* Loads dir/main.yaml with a credentials file of that text and mode. */
static int load_with_credentials(const char *dir, const char *text, mode_t mode,
                                 struct config **ret, char **ret_error)
{
	free(write_file(dir, "credentials.yaml", text, mode));
	char *main_path = write_main(dir, "credentials.yaml", NULL);
	int r = config_load(main_path, ret, ret_error);

	free(main_path);
	return r;
}

static struct config *load_string_ok(const char *yaml)
{
	struct config *c = NULL;
	char *error = NULL;
	int r = config_load_string("test.yaml", yaml, &c, &error);

	cr_assert_eq(r, 0, "config_load_string failed: %s", error ? error : "(no message)");
	return c;
}

static char *load_string_error(const char *yaml)
{
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_lt(config_load_string("test.yaml", yaml, &c, &error), 0, "accepted:\n%s", yaml);
	cr_assert_null(c);
	cr_assert_not_null(error);
	return error;
}

static void assert_contains(const char *s, const char *part)
{
	cr_assert(strstr(s, part) != NULL, "\"%s\" does not contain \"%s\"", s, part);
}

/* auth: keys */

Test(config_auth, without_auth_no_signature_is_checked_and_metrics_are_open)
{
	struct config *c = load_string_ok("");

	cr_assert_null(c->auth_keys);
	cr_assert_null(c->auth_credentials);
	cr_assert(c->metrics_open);
	cr_assert_not(c->allow_remote_without_auth);
	config_unref(c);
}

Test(config_auth, empty_auth_keeps_the_defaults)
{
	struct config *c = load_string_ok("auth:\nallow_remote_without_auth: false\n");

	cr_assert_null(c->auth_keys);
	cr_assert(c->metrics_open);
	cr_assert_not(c->allow_remote_without_auth);
	config_unref(c);
}

Test(config_auth, metrics_open_false_is_read)
{
	struct config *c = load_string_ok("auth: { metrics_open: false }\n");

	cr_assert_not(c->metrics_open);
	config_unref(c);
}

Test(config_auth, unknown_key_under_auth_is_refused)
{
	char *e = load_string_error("auth:\n  credential: /etc/endpointd/credentials.yaml\n");

	assert_contains(e, "test.yaml:2:3: unknown key \"credential\" in auth");
	free(e);
}

Test(config_auth, auth_must_be_a_mapping)
{
	char *e = load_string_error("auth: /etc/endpointd/credentials.yaml\n");

	assert_contains(e, "test.yaml:1:7: expected a mapping for auth");
	free(e);
}

Test(config_auth, metrics_open_must_be_true_or_false)
{
	char *e = load_string_error("auth: { metrics_open: yes }\n");

	assert_contains(e, "test.yaml:1:23: metrics_open must be true or false, not \"yes\"");
	free(e);
}

Test(config_auth, allow_remote_without_auth_must_be_true_or_false)
{
	char *e = load_string_error("allow_remote_without_auth: \"true\"\n");

	assert_contains(e, "test.yaml:1:28: ");
	assert_contains(e, "allow_remote_without_auth");
	free(e);
}

Test(config_auth, auth_may_only_be_set_in_the_main_file)
{
	char *dir = scratch_dir();
	free(write_file(dir, "inc.yaml", "auth: { metrics_open: false }\n", 0644));
	char *main_path = write_file(dir, "main.yaml", "include: [inc.yaml]\n", 0644);
	char *expected =
	    xasprintf("%s/inc.yaml:1:1: auth may only be set in the main config file", dir);
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_lt(config_load(main_path, &c, &error), 0);
	assert_contains(error, expected);
	free(error);
	free(expected);
	free(main_path);
	scratch_remove(dir);
}

/* A listener beyond loopback */

static const char *const remote_listeners[] = {"0.0.0.0:8780",       "\"[::]:8780\"",
                                               "10.0.0.1:80",        "endpointd.example.com:8780",
                                               "\"[fe80::1]:8780\"", "128.0.0.1:8780"};

Test(config_auth, listener_beyond_loopback_without_credentials_is_refused)
{
	for (size_t i = 0; i < ELEMENTSOF(remote_listeners); i++) {
		char *yaml =
		    xasprintf("listen:\n  - 127.0.0.1:8780\n  - %s\n", remote_listeners[i]);
		char *e = load_string_error(yaml);

		assert_contains(e, "test.yaml:3:5: listen address \"");
		assert_contains(e, "\" is not loopback and no credentials are configured");
		free(e);
		free(yaml);
	}
}

Test(config_auth, refusal_of_a_remote_listener_says_both_ways_out)
{
	char *e = load_string_error("listen: [0.0.0.0:8780]\n");

	assert_contains(e, "auth: { credentials: ");
	assert_contains(e, "allow_remote_without_auth: true");
	free(e);
}

Test(config_auth, loopback_and_unix_listeners_need_no_credentials)
{
	struct config *c = load_string_ok("listen:\n"
	                                  "  - 127.0.0.1:8780\n"
	                                  "  - 127.0.0.2:8781\n"
	                                  "  - 127.255.255.254:8782\n"
	                                  "  - \"[::1]:8783\"\n"
	                                  "  - \"[::ffff:127.0.0.1]:8784\"\n"
	                                  "  - localhost:8785\n"
	                                  "  - unix:/run/endpointd.sock\n");

	cr_assert_eq(c->n_listen, 7);
	config_unref(c);
}

Test(config_auth, allow_remote_without_auth_accepts_a_remote_listener)
{
	struct config *c = load_string_ok("listen: [0.0.0.0:8780, \"[::]:8780\", 10.0.0.1:80]\n"
	                                  "allow_remote_without_auth: true\n");

	cr_assert(c->allow_remote_without_auth);
	cr_assert_null(c->auth_keys);
	config_unref(c);
}

Test(config_auth, remote_listener_with_credentials_is_accepted)
{
	char *dir = scratch_dir();
	free(write_file(dir, "credentials.yaml", good_key, 0600));
	char *main_path = write_main(dir, "credentials.yaml", "listen: [0.0.0.0:8780]\n");
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_eq(config_load(main_path, &c, &error), 0, "%s", error);
	cr_assert_not_null(c->auth_keys);
	cr_assert_str_eq(c->listen[0].host, "0.0.0.0");
	config_unref(c);
	free(main_path);
	scratch_remove(dir);
}

/* The credentials file: what it holds */

Test(config_auth, credentials_file_gives_names_ids_secrets_and_rules)
{
	char *dir = scratch_dir();
	char *text = read_fixture(GOOD_DIR "/pipelines.yaml");
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_eq(load_with_credentials(dir, text, 0600, &c, &error), 0, "%s", error);
	const struct auth_keys *k = c->auth_keys;
	cr_assert_not_null(k);
	cr_assert_eq(k->n_keys, 3);

	const struct auth_key *a = &k->keys[0];
	cr_assert_str_eq(a->name, "pipeline-a");
	cr_assert_str_eq(a->access_key_id, "AKIDPIPELINEA0000001");
	cr_assert_str_eq(a->secret_access_key, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
	cr_assert_eq(a->n_rules, 2);
	cr_assert_eq(a->rules[0].n_actions, 2);
	cr_assert_str_eq(a->rules[0].actions[0], "sagemaker:InvokeEndpoint");
	cr_assert_eq(a->rules[0].n_resources, 1);
	cr_assert_str_eq(a->rules[0].resources[0], "arn:aws:sagemaker:*:*:endpoint/team-a-*");
	cr_assert_str_eq(a->rules[1].actions[0], "sagemaker:List?ndpoints");
	cr_assert_str_eq(a->rules[1].resources[0], "*");

	cr_assert_str_eq(k->keys[1].name, "admin");
	cr_assert_str_eq(k->keys[1].access_key_id, "AKIAIOSFODNN7EXAMPLE");
	cr_assert_str_eq(k->keys[1].rules[0].actions[0], "*");
	cr_assert_str_eq(k->keys[2].name, "nobody");
	cr_assert_eq(k->keys[2].n_rules, 0);
	config_unref(c);
	free(text);
	scratch_remove(dir);
}

Test(config_auth, action_prefix_is_written_back_in_lower_case)
{
	char *dir = scratch_dir();
	char *text = read_fixture(GOOD_DIR "/pipelines.yaml");
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_eq(load_with_credentials(dir, text, 0600, &c, &error), 0, "%s", error);
	cr_assert_str_eq(c->auth_keys->keys[0].rules[0].actions[1], "sagemaker:Describe*");
	config_unref(c);
	free(text);
	scratch_remove(dir);
}

Test(config_auth, loaded_rules_are_the_ones_auth_allowed_applies)
{
	static const char team_a[] = "arn:aws:sagemaker:us-east-1:000000000000:endpoint/team-a-x";
	static const char team_b[] = "arn:aws:sagemaker:us-east-1:000000000000:endpoint/team-b-y";
	char *dir = scratch_dir();
	char *text = read_fixture(GOOD_DIR "/pipelines.yaml");
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_eq(load_with_credentials(dir, text, 0600, &c, &error), 0, "%s", error);
	const struct auth_key *a = auth_keys_find(c->auth_keys, "AKIDPIPELINEA0000001");
	const struct auth_key *nobody = auth_keys_find(c->auth_keys, "ASIA0000000000000000");
	cr_assert_not_null(a);
	cr_assert(auth_allowed(a, "sagemaker:InvokeEndpoint", team_a));
	cr_assert(auth_allowed(a, "sagemaker:DescribeEndpoint", team_a));
	cr_assert(auth_allowed(a, "sagemaker:ListEndpoints", "*"));
	cr_assert_not(auth_allowed(a, "sagemaker:InvokeEndpoint", team_b));
	cr_assert_not(auth_allowed(a, "sagemaker:DeleteEndpoint", team_a));
	cr_assert_not(auth_allowed(nobody, "sagemaker:DescribeEndpoint", team_a));
	config_unref(c);
	free(text);
	scratch_remove(dir);
}

Test(config_auth, null_allow_is_a_key_that_may_do_nothing)
{
	char *dir = scratch_dir();
	char *text = read_fixture(GOOD_DIR "/allow-null.yaml");
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_eq(load_with_credentials(dir, text, 0600, &c, &error), 0, "%s", error);
	cr_assert_eq(c->auth_keys->n_keys, 1);
	cr_assert_eq(c->auth_keys->keys[0].n_rules, 0);
	config_unref(c);
	free(text);
	scratch_remove(dir);
}

Test(config_auth, credentials_file_is_among_the_files_read_without_its_text)
{
	char *dir = scratch_dir();
	char *path = xasprintf("%s/credentials.yaml", dir);
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_eq(load_with_credentials(dir, good_key, 0600, &c, &error), 0, "%s", error);
	cr_assert_eq(c->n_files, 2);
	cr_assert_str_eq(c->files[1], path);
	cr_assert(c->sources[1].credentials);
	cr_assert_null(c->sources[1].text);
	cr_assert_not(c->sources[0].credentials);
	cr_assert_str_eq(c->auth_credentials, path);
	config_unref(c);
	free(path);
	scratch_remove(dir);
}

Test(config_auth, relative_credentials_path_is_taken_from_the_config_files_directory)
{
	char *dir = scratch_dir();
	char *sub = xasprintf("%s/etc", dir);
	cr_assert_eq(mkdir(sub, 0755), 0);
	free(write_file(sub, "credentials.yaml", good_key, 0600));
	char *main_path = write_main(sub, "credentials.yaml", NULL);
	struct config *c = NULL;
	char *error = NULL;

	/* From elsewhere: the working directory does not matter. */
	cr_assert_eq(chdir("/"), 0);
	cr_assert_eq(config_load(main_path, &c, &error), 0, "%s", error);
	char *expected = xasprintf("%s/credentials.yaml", sub);
	cr_assert_eq(c->auth_keys->n_keys, 1);
	cr_assert_str_eq(c->auth_credentials, expected);
	free(expected);
	config_unref(c);
	free(main_path);
	free(sub);
	scratch_remove(dir);
}

Test(config_auth, missing_credentials_file_is_refused_where_it_is_named)
{
	char *dir = scratch_dir();
	char *main_path = write_main(dir, "nope.yaml", NULL);
	char *expected = xasprintf("%s/main.yaml:2:16: credentials file %s/nope.yaml: No such "
	                           "file or directory",
	                           dir, dir);
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_eq(config_load(main_path, &c, &error), -EINVAL);
	assert_contains(error, expected);
	free(error);
	free(expected);
	free(main_path);
	scratch_remove(dir);
}

/* The credentials file: type, mode, owner, size */

static void assert_mode_refused(mode_t mode, const char *shown)
{
	char *dir = scratch_dir();
	char *path = xasprintf("%s/credentials.yaml", dir);
	char *expected = xasprintf("%s: mode %s lets group or others read or write the secret "
	                           "keys; it must be 0600 or stricter: run chmod 600 %s",
	                           path, shown, path);
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_lt(load_with_credentials(dir, good_key, mode, &c, &error), 0, "mode %s accepted",
	             shown);
	cr_assert_null(c);
	assert_contains(error, expected);
	free(error);
	free(expected);
	free(path);
	scratch_remove(dir);
}

Test(config_auth, credentials_readable_by_everyone_are_refused)
{
	assert_mode_refused(0644, "0644");
}

Test(config_auth, credentials_readable_by_the_group_are_refused)
{
	assert_mode_refused(0640, "0640");
}

Test(config_auth, credentials_readable_by_others_only_are_refused)
{
	assert_mode_refused(0604, "0604");
}

Test(config_auth, credentials_writable_by_the_group_are_refused)
{
	assert_mode_refused(0620, "0620");
}

static void assert_mode_accepted(mode_t mode)
{
	char *dir = scratch_dir();
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_eq(load_with_credentials(dir, good_key, mode, &c, &error), 0, "mode %04o: %s",
	             (unsigned)mode, error);
	cr_assert_eq(c->auth_keys->n_keys, 1);
	config_unref(c);
	scratch_remove(dir);
}

Test(config_auth, credentials_of_mode_0600_are_accepted)
{
	assert_mode_accepted(0600);
}

Test(config_auth, credentials_of_mode_0400_are_accepted)
{
	assert_mode_accepted(0400);
}

Test(config_auth, symlink_to_a_private_file_is_followed)
{
	char *dir = scratch_dir();
	char *target = write_file(dir, "real.yaml", good_key, 0600);
	char *link = xasprintf("%s/credentials.yaml", dir);
	char *main_path = write_main(dir, "credentials.yaml", NULL);
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_eq(symlink(target, link), 0);
	cr_assert_eq(config_load(main_path, &c, &error), 0, "%s", error);
	cr_assert_eq(c->auth_keys->n_keys, 1);
	config_unref(c);
	free(main_path);
	free(link);
	free(target);
	scratch_remove(dir);
}

Test(config_auth, symlink_to_a_file_others_may_read_is_refused_for_the_files_mode)
{
	char *dir = scratch_dir();
	char *target = write_file(dir, "real.yaml", good_key, 0644);
	char *link = xasprintf("%s/credentials.yaml", dir);
	char *main_path = write_main(dir, "credentials.yaml", NULL);
	struct config *c = NULL;
	char *error = NULL;

	/* The link's own mode (0777) is not what is checked: the file's is. */
	cr_assert_eq(symlink(target, link), 0);
	cr_assert_lt(config_load(main_path, &c, &error), 0);
	assert_contains(error, "credentials.yaml: mode 0644 lets group or others read");
	free(error);
	free(main_path);
	free(link);
	free(target);
	scratch_remove(dir);
}

Test(config_auth, dangling_symlink_is_refused)
{
	char *dir = scratch_dir();
	char *link = xasprintf("%s/credentials.yaml", dir);
	char *main_path = write_main(dir, "credentials.yaml", NULL);
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_eq(symlink("/nonexistent/credentials.yaml", link), 0);
	cr_assert_lt(config_load(main_path, &c, &error), 0);
	assert_contains(error, "No such file or directory");
	free(error);
	free(main_path);
	free(link);
	scratch_remove(dir);
}

Test(config_auth, directory_is_refused)
{
	char *dir = scratch_dir();
	char *sub = xasprintf("%s/credentials.yaml", dir);
	char *main_path = write_main(dir, "credentials.yaml", NULL);
	char *expected = xasprintf("credentials file %s is a directory", sub);
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_eq(mkdir(sub, 0700), 0);
	cr_assert_lt(config_load(main_path, &c, &error), 0);
	assert_contains(error, expected);
	free(error);
	free(expected);
	free(main_path);
	free(sub);
	scratch_remove(dir);
}

Test(config_auth, fifo_is_refused_without_waiting_for_a_writer, .timeout = 10)
{
	char *dir = scratch_dir();
	char *fifo = xasprintf("%s/credentials.yaml", dir);
	char *main_path = write_main(dir, "credentials.yaml", NULL);
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_eq(mkfifo(fifo, 0600), 0);
	cr_assert_lt(config_load(main_path, &c, &error), 0);
	assert_contains(error, "is not a regular file");
	free(error);
	free(main_path);
	free(fifo);
	scratch_remove(dir);
}

Test(config_auth, empty_file_is_refused_for_having_no_keys)
{
	char *dir = scratch_dir();
	char *expected = xasprintf("%s/credentials.yaml: no keys", dir);
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_lt(load_with_credentials(dir, "", 0600, &c, &error), 0);
	assert_contains(error, expected);
	free(error);
	free(expected);
	scratch_remove(dir);
}

Test(config_auth, file_over_one_mebibyte_is_refused)
{
	char *dir = scratch_dir();
	size_t n = (1u << 20) + 1;
	char *text = xmalloc(n + 1);
	char *expected = xasprintf("%s/credentials.yaml: larger than 1 MiB", dir);
	struct config *c = NULL;
	char *error = NULL;

	memset(text, '#', n);
	text[n] = '\0';
	cr_assert_lt(load_with_credentials(dir, text, 0600, &c, &error), 0);
	assert_contains(error, expected);
	free(error);
	free(expected);
	free(text);
	scratch_remove(dir);
}

Test(config_auth, more_than_a_thousand_keys_are_refused)
{
	char *dir = scratch_dir();
	struct buf b = {0};
	struct config *c = NULL;
	char *error = NULL;

	buf_printf(&b, "keys:\n");
	for (unsigned i = 0; i < 1001; i++)
		buf_printf(&b,
		           "  - {name: k%u, access_key_id: AKID%016u, secret_access_key: s, "
		           "allow: []}\n",
		           i, i);
	cr_assert_lt(load_with_credentials(dir, b.data, 0600, &c, &error), 0);
	assert_contains(error, "credentials.yaml:2:3: keys lists 1001 entries, more than 1000");
	free(error);
	buf_reset(&b);
	scratch_remove(dir);
}

Test(config_auth, file_of_another_user_is_refused)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to give the file away");
	char *dir = scratch_dir();
	char *path = write_file(dir, "credentials.yaml", good_key, 0600);
	char *main_path = write_main(dir, "credentials.yaml", NULL);
	char *expected = xasprintf("%s: owned by uid 65534; it must belong to root or to the "
	                           "user endpointd runs as",
	                           path);
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_eq(chown(path, 65534, 65534), 0);
	cr_assert_lt(config_load(main_path, &c, &error), 0);
	assert_contains(error, expected);
	free(error);
	free(expected);
	free(main_path);
	free(path);
	scratch_remove(dir);
}

Test(config_auth, refusal_never_shows_the_secret)
{
	static const char secret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY ";
	char *dir = scratch_dir();
	char *text = xasprintf("keys:\n  - name: a\n    access_key_id: AKIDPIPELINEA0000001\n"
	                       "    secret_access_key: \"%s\"\n    allow: []\n",
	                       secret);
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_lt(load_with_credentials(dir, text, 0600, &c, &error), 0);
	cr_assert(strstr(error, "wJalrXUtnFEMI") == NULL, "the secret is in \"%s\"", error);
	free(error);
	free(text);
	scratch_remove(dir);
}

/* Reload and the API's replay */

Test(config_auth, bad_credentials_leave_the_loaded_config_as_it_was)
{
	char *dir = scratch_dir();
	struct config *old = NULL, *c = NULL;
	char *error = NULL;

	cr_assert_eq(load_with_credentials(dir, good_key, 0600, &old, &error), 0, "%s", error);
	c = old;
	/* The reload reads the file again, now made readable by everyone. */
	cr_assert_lt(load_with_credentials(dir, good_key, 0644, &c, &error), 0);
	cr_assert_eq(c, old);
	assert_contains(error, "credentials.yaml: mode 0644");
	cr_assert_str_eq(old->auth_keys->keys[0].secret_access_key, "s3cr3t");
	free(error);
	config_unref(old);
	scratch_remove(dir);
}

Test(config_auth, reload_reads_the_credentials_file_again)
{
	char *dir = scratch_dir();
	struct config *old = NULL, *c = NULL;
	char *error = NULL;
	char *changed = xasprintf("%s", good_key);

	cr_assert_eq(load_with_credentials(dir, good_key, 0600, &old, &error), 0, "%s", error);
	memcpy(strstr(changed, "s3cr3t"), "n3w", 3);
	cr_assert_eq(load_with_credentials(dir, changed, 0600, &c, &error), 0, "%s", error);
	cr_assert_str_eq(old->auth_keys->keys[0].secret_access_key, "s3cr3t");
	cr_assert_str_eq(c->auth_keys->keys[0].secret_access_key, "n3wr3t");
	config_unref(c);
	config_unref(old);
	free(changed);
	scratch_remove(dir);
}

Test(config_auth, api_replay_shares_the_keys_without_reading_the_file_again)
{
	char *dir = scratch_dir();
	char *path = xasprintf("%s/credentials.yaml", dir);
	struct config *base = NULL, *c = NULL;
	char *error = NULL;

	cr_assert_eq(load_with_credentials(dir, good_key, 0600, &base, &error), 0, "%s", error);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(config_with_api(base, "", &c, &error), 0, "%s", error);
	cr_assert_eq(c->auth_keys, base->auth_keys);
	cr_assert_str_eq(c->auth_credentials, path);
	cr_assert_eq(c->n_files, base->n_files);
	cr_assert(c->sources[1].credentials);
	config_unref(base);
	cr_assert_str_eq(c->auth_keys->keys[0].name, "pipeline-a");
	config_unref(c);
	free(path);
	scratch_remove(dir);
}

Test(config_auth, api_replay_keeps_a_remote_listener_with_credentials)
{
	char *dir = scratch_dir();
	free(write_file(dir, "credentials.yaml", good_key, 0600));
	char *main_path = write_main(dir, "credentials.yaml", "listen: [0.0.0.0:8780]\n");
	struct config *base = NULL, *c = NULL;
	char *error = NULL;

	cr_assert_eq(config_load(main_path, &base, &error), 0, "%s", error);
	cr_assert_eq(config_with_api(base, "", &c, &error), 0, "%s", error);
	cr_assert_not_null(c->auth_keys);
	config_unref(c);
	config_unref(base);
	free(main_path);
	scratch_remove(dir);
}

/* The corpus of bad credentials files */

struct bad_case {
	char name[128];
};

static size_t bad_cases_list(struct bad_case *out, size_t max)
{
	DIR *d = opendir(BAD_DIR);
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len < 6 || len >= sizeof(out->name) ||
		    strcmp(de->d_name + len - 5, ".yaml") != 0)
			continue;
		if (out != NULL && n < max)
			strcpy(out[n].name, de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

static void bad_cases_free(struct criterion_test_params *params)
{
	cr_free(params->params);
}

ParameterizedTestParameters(credentials_bad_file, is_refused_with_its_expected_message)
{
	size_t n = bad_cases_list(NULL, 0);
	struct bad_case *cases = cr_calloc(n ? n : 1, sizeof(*cases));

	n = bad_cases_list(cases, n);
	return cr_make_param_array(struct bad_case, cases, n, bad_cases_free);
}

/* The text after "# expect: " on the file's first line. */
static char *bad_case_expectation(const char *text, const char *name)
{
	static const char prefix[] = "# expect: ";
	const char *nl = strchr(text, '\n');

	cr_assert(strncmp(text, prefix, sizeof(prefix) - 1) == 0 && nl != NULL,
	          "%s does not start with \"# expect: \"", name);
	return xstrndup(text + sizeof(prefix) - 1, (size_t)(nl - text) - (sizeof(prefix) - 1));
}

ParameterizedTest(struct bad_case *bc, credentials_bad_file, is_refused_with_its_expected_message)
{
	char *fixture = xasprintf("%s/%s", BAD_DIR, bc->name);
	char *text = read_fixture(fixture);
	char *expect = bad_case_expectation(text, bc->name);
	char *dir = scratch_dir();
	/* "3:5: …" is a place in the file; anything else is about the whole file. */
	char *expected = xasprintf("%s/credentials.yaml%s%s", dir,
	                           expect[0] >= '0' && expect[0] <= '9' ? ":" : ": ", expect);
	struct config *c = NULL;
	char *error = NULL;

	cr_assert_lt(load_with_credentials(dir, text, 0600, &c, &error), 0, "%s was accepted",
	             bc->name);
	cr_assert_null(c);
	cr_assert_not_null(error);
	cr_assert(strstr(error, expected) != NULL, "%s:\n  got      %s\n  expected %s", bc->name,
	          error, expected);
	free(error);
	free(expected);
	free(expect);
	free(text);
	free(fixture);
	scratch_remove(dir);
}

Test(credentials_bad_file, corpus_has_at_least_40_cases)
{
	cr_assert_geq(bad_cases_list(NULL, 0), 40);
}
