/*
 * auth: in the daemon config, and the credentials file it names.
 *
 * Map of this file:
 *   daemon keys    auth: { credentials, metrics_open }, allow_remote_without_auth,
 *                  and the rule that a listener beyond loopback needs credentials
 *   the file       opening and checking it (type, mode, owner, size)
 *   its keys       keys: name, access_key_id, secret_access_key, allow rules
 *
 * DESIGN
 *
 * The credentials file holds secrets, so it is checked the way ssh checks a
 * private key: it must be a regular file that neither group nor others may
 * read or write, owned by root or by the user the daemon runs as.  Symlinks
 * are followed (secret stores and Kubernetes mount a secret as a symlink to
 * a 0600 file), and every check is made with fstat(2) on the descriptor
 * that is then read, so what is checked is what is read.  It is opened with
 * O_NONBLOCK so that a FIFO put in its place cannot hold the load up.
 *
 * Its text is read once, at load, and wiped when parsed; the config keeps
 * the file in files/sources (so that messages and reloads name it) but not
 * its text, and config_with_api() shares the loaded keys instead of reading
 * the file again.  A reload reads it again like every other file: a bad
 * file refuses the reload and the old keys stay.
 *
 * Every list is bounded (keys, rules, patterns), and every message says
 * "file:line:column: what is wrong" without repeating a secret.
 */
#include "config.h"
#include "config_private.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "config_yaml.h"
#include "util.h"

#define CONFIG_AUTH_MAX_FILE_SIZE (1u << 20)
#define CONFIG_AUTH_MAX_KEYS 1000
#define CONFIG_AUTH_MAX_RULES 100    /* per key */
#define CONFIG_AUTH_MAX_PATTERNS 100 /* actions, or resources, per rule */
#define CONFIG_AUTH_MAX_NAME 64
#define CONFIG_AUTH_MIN_KEY_ID 16
#define CONFIG_AUTH_MAX_KEY_ID 128
#define CONFIG_AUTH_MAX_SECRET 128
#define CONFIG_AUTH_MAX_ACTION 128
#define CONFIG_AUTH_MAX_RESOURCE 2048 /* IAM's bound on an ARN */

#define CONFIG_AUTH_ACTION_PREFIX "sagemaker:"
#define CONFIG_AUTH_ARN_PREFIX "arn:aws:sagemaker:"

/* --- daemon keys ------------------------------------------------------------ */

/* auth.credentials: a path, relative ones taken from the main file's directory. */
static int config_parse_credentials_path(struct config_loader *ld, const struct cy_node *n,
                                         const char *dir)
{
	_cleanup_free_ char *s = NULL;
	int r = cy_get_string(&ld->ctx, n, "auth credentials", &s);

	if (r < 0)
		return r;
	if (s[0] == '\0')
		return cy_fail(&ld->ctx, n, "auth credentials must name a file");
	free(ld->credentials_path);
	if (config_is_abs_path(s) || dir == NULL)
		ld->credentials_path = TAKE_PTR(s);
	else
		ld->credentials_path = xasprintf("%s/%s", dir, s);
	ld->credentials_at = config_origin_of(ld, n);
	return 0;
}

/* The main file's auth: and allow_remote_without_auth; see config_private.h. */
int config_parse_auth(struct config_loader *ld, const struct cy_node *root, const char *dir)
{
	static const char *const keys[] = {"credentials", "metrics_open", NULL};
	const struct cy_node *auth = cy_map_get(root, "auth"), *v;
	int r;

	if ((v = cy_map_get(root, "allow_remote_without_auth")) != NULL &&
	    (r = cy_get_bool(&ld->ctx, v, "allow_remote_without_auth",
	                     &ld->c->allow_remote_without_auth)) < 0)
		return r;
	if (auth == NULL || cy_is_null(auth))
		return 0;
	r = cy_expect(&ld->ctx, auth, CY_MAPPING, "auth");
	if (r < 0)
		return r;
	r = cy_check_keys(&ld->ctx, auth, "auth", keys, NULL);
	if (r < 0)
		return r;
	if ((v = cy_map_get(auth, "credentials")) != NULL && !cy_is_null(v) &&
	    (r = config_parse_credentials_path(ld, v, dir)) < 0)
		return r;
	if ((v = cy_map_get(auth, "metrics_open")) != NULL &&
	    (r = cy_get_bool(&ld->ctx, v, "metrics_open", &ld->c->metrics_open)) < 0)
		return r;
	return 0;
}

/* 127.0.0.0/8, ::1 (or ::ffff:127.x.y.z), localhost, or a Unix socket.  Any
 * other name is not resolved here, so it counts as remote. */
static bool config_listen_is_local(const struct config_listen *l)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (l->unix_path != NULL)
		return true;
	if (strcasecmp(l->host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, l->host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, l->host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}

/* Whether a bound socket's address is loopback (or a Unix socket): the
 * same rule for sockets systemd passes, whose addresses the config does not
 * name. */
bool config_socket_is_local(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return false;
	if (ss.ss_family == AF_UNIX)
		return true;
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a6) || (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
	}
	return false;
}

/* A listener beyond loopback needs credentials; see config_private.h. */
int config_check_listen_auth(struct config_loader *ld, const struct cy_node *listen)
{
	const struct config *c = ld->c;

	if (listen == NULL || ld->credentials_path != NULL || c->allow_remote_without_auth)
		return 0;
	for (size_t i = 0; i < c->n_listen && i < listen->n_items; i++) {
		if (config_listen_is_local(&c->listen[i]))
			continue;
		return cy_fail(&ld->ctx, listen->items[i],
		               "listen address \"%s\" is not loopback and no credentials are "
		               "configured, so anyone who reaches it could create, delete and "
		               "invoke endpoints: name a credentials file (auth: { credentials: "
		               "/etc/endpointd/credentials.yaml }) to require signed requests, or "
		               "set allow_remote_without_auth: true to accept unsigned ones",
		               c->listen[i].address);
	}
	return 0;
}

/* --- the file ----------------------------------------------------------------- */

static void config_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

/* Reads the credentials file into *ret_text once its checks pass. */
static int config_credentials_text(struct config_loader *ld, char **ret_text, size_t *ret_len,
                                   double *ret_mtime)
{
	const char *path = ld->credentials_path;
	const struct config_origin *at = &ld->credentials_at;
	__attribute__((cleanup(config_close_fd))) int fd = -1;
	struct stat st;
	char *text;
	size_t len = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return config_fail_at(ld, at, "credentials file %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		return config_fail_at(ld, at, "credentials file %s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return config_fail_at(ld, at, "credentials file %s is a directory", path);
	if (!S_ISREG(st.st_mode))
		return config_fail_at(ld, at, "credentials file %s is not a regular file", path);
	if ((st.st_mode & 077) != 0) {
		ld->ctx.error =
		    xasprintf("%s: mode %04o lets group or others read or write the "
		              "secret keys; it must be 0600 or stricter: run chmod 600 %s",
		              path, (unsigned)(st.st_mode & 07777), path);
		return -EINVAL;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		ld->ctx.error =
		    xasprintf("%s: owned by uid %u; it must belong to root or to the user "
		              "endpointd runs as (uid %u)",
		              path, (unsigned)st.st_uid, (unsigned)geteuid());
		return -EINVAL;
	}
	if (st.st_size > CONFIG_AUTH_MAX_FILE_SIZE) {
		ld->ctx.error =
		    xasprintf("%s: larger than %u MiB", path, CONFIG_AUTH_MAX_FILE_SIZE >> 20);
		return -EINVAL;
	}
	/* One byte more than the bound tells a file that grew since fstat. */
	text = xmalloc(CONFIG_AUTH_MAX_FILE_SIZE + 2);
	for (;;) {
		ssize_t n = read(fd, text + len, CONFIG_AUTH_MAX_FILE_SIZE + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;

			explicit_bzero(text, len);
			free(text);
			ld->ctx.error = xasprintf("%s: %s", path, strerror(-r));
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CONFIG_AUTH_MAX_FILE_SIZE) {
			explicit_bzero(text, len);
			free(text);
			ld->ctx.error = xasprintf("%s: larger than %u MiB", path,
			                          CONFIG_AUTH_MAX_FILE_SIZE >> 20);
			return -EINVAL;
		}
	}
	text[len] = '\0';
	*ret_text = text;
	*ret_len = len;
	*ret_mtime = (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
	return 0;
}

/* Wipes every scalar of a parsed tree (the secrets among them) before it is freed. */
static void config_wipe_tree(struct cy_node *n)
{
	if (n == NULL)
		return;
	if (n->value != NULL)
		explicit_bzero(n->value, strlen(n->value));
	for (size_t i = 0; i < n->n_items; i++)
		config_wipe_tree(n->items[i]);
}

/* --- its keys ------------------------------------------------------------------ */

/* s for a message, control characters written \xNN so that none reaches a
 * terminal or a log as is. */
static char *config_auth_shown(const char *s)
{
	char *out = xmalloc(4 * strlen(s) + 1), *p = out;

	for (; *s; s++) {
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			p += sprintf(p, "\\x%02x", (unsigned)(unsigned char)*s);
		else
			*p++ = *s;
	}
	*p = '\0';
	return out;
}

/* A list of 1..max items; n is the list. */
static int config_auth_list(struct cy_ctx *ctx, const struct cy_node *n, const char *what,
                            size_t max)
{
	int r = cy_expect(ctx, n, CY_SEQUENCE, what);

	if (r < 0)
		return r;
	if (n->n_items == 0)
		return cy_fail(ctx, n, "%s must list at least one entry", what);
	if (n->n_items > max)
		return cy_fail(ctx, n, "%s lists %zu entries, more than %zu", what, n->n_items,
		               max);
	return 0;
}

/* Whether s is letters, * and ? only (an action name, IAM wildcards allowed). */
static bool config_is_action_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '*' ||
		      *s == '?'))
			return false;
	return true;
}

/* "*", or "sagemaker:<Name>" with the prefix in any case (IAM ignores it) and
 * written back in lower case. */
static int config_parse_action(struct cy_ctx *ctx, const struct cy_node *n, char **ret)
{
	_cleanup_free_ char *s = NULL, *shown = NULL;
	const char *colon;
	int r = cy_get_string(ctx, n, "action", &s);

	if (r < 0)
		return r;
	shown = config_auth_shown(s);
	if (strcmp(s, "*") == 0) {
		*ret = TAKE_PTR(s);
		return 0;
	}
	if (strlen(s) > CONFIG_AUTH_MAX_ACTION)
		return cy_fail(ctx, n, "action is longer than %u characters",
		               CONFIG_AUTH_MAX_ACTION);
	colon = strchr(s, ':');
	if (colon == NULL)
		return cy_fail(
		    ctx, n,
		    "action \"%s\" has no service prefix: write \"sagemaker:%s\", as IAM "
		    "does",
		    shown, config_is_action_name(s) ? s : "<Action>");
	if ((size_t)(colon - s) != strlen(CONFIG_AUTH_ACTION_PREFIX) - 1 ||
	    strncasecmp(s, CONFIG_AUTH_ACTION_PREFIX, (size_t)(colon - s)) != 0)
		return cy_fail(ctx, n,
		               "action \"%s\" is not a SageMaker action: endpointd knows only "
		               "\"sagemaker:<Action>\" (as in sagemaker:InvokeEndpoint), "
		               "\"sagemaker:*\" and \"*\"",
		               shown);
	if (!config_is_action_name(colon + 1))
		return cy_fail(ctx, n,
		               "action \"%s\": an action name is letters, with * and ? as "
		               "wildcards (as in sagemaker:Describe*)",
		               shown);
	*ret = xasprintf(CONFIG_AUTH_ACTION_PREFIX "%s", colon + 1);
	return 0;
}

/* "*", or an ARN pattern of SageMaker's resources. */
static int config_parse_resource(struct cy_ctx *ctx, const struct cy_node *n, char **ret)
{
	_cleanup_free_ char *s = NULL, *shown = NULL;
	int r = cy_get_string(ctx, n, "resource", &s);

	if (r < 0)
		return r;
	shown = config_auth_shown(s);
	if (strcmp(s, "*") == 0) {
		*ret = TAKE_PTR(s);
		return 0;
	}
	if (strlen(s) > CONFIG_AUTH_MAX_RESOURCE)
		return cy_fail(ctx, n, "resource is longer than %u characters",
		               CONFIG_AUTH_MAX_RESOURCE);
	if (!str_has_prefix(s, CONFIG_AUTH_ARN_PREFIX)) {
		if (strchr(s, ':') == NULL && strchr(s, '/') == NULL)
			return cy_fail(ctx, n,
			               "resource \"%s\" must be \"*\" or an ARN starting \"%s\"; "
			               "for endpoints named so, write "
			               "\"arn:aws:sagemaker:*:*:endpoint/%s\"",
			               shown, CONFIG_AUTH_ARN_PREFIX, shown);
		return cy_fail(ctx, n,
		               "resource \"%s\" must be \"*\" or an ARN starting \"%s\", as in "
		               "arn:aws:sagemaker:*:*:endpoint/team-a-*",
		               shown, CONFIG_AUTH_ARN_PREFIX);
	}
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return cy_fail(ctx, n,
			               "resource \"%s\" may hold only printable ASCII characters "
			               "and no spaces",
			               shown);
	*ret = TAKE_PTR(s);
	return 0;
}

/* actions: or resources: of a rule, each entry checked by parse. */
static int config_parse_patterns(struct cy_ctx *ctx, const struct cy_node *n, const char *what,
                                 int (*parse)(struct cy_ctx *ctx, const struct cy_node *n,
                                              char **ret),
                                 char ***ret, size_t *ret_n)
{
	int r = config_auth_list(ctx, n, what, CONFIG_AUTH_MAX_PATTERNS);

	if (r < 0)
		return r;
	*ret = xcalloc(n->n_items, sizeof(**ret));
	for (size_t i = 0; i < n->n_items; i++) {
		r = parse(ctx, n->items[i], &(*ret)[*ret_n]);
		if (r < 0)
			return r;
		(*ret_n)++;
	}
	return 0;
}

/* One allow rule: { actions: [...], resources: [...] }. */
static int config_parse_rule(struct cy_ctx *ctx, const struct cy_node *n, struct auth_rule *rule)
{
	static const char *const keys[] = {"actions", "resources", NULL};
	/* IAM's words that endpointd's rules do not have: every rule allows. */
	static const char *const unsupported[] = {"effect", "condition", "not_actions",
	                                          "not_resources", NULL};
	const struct cy_node *v;
	int r = cy_expect(ctx, n, CY_MAPPING, "allow rule");

	if (r < 0)
		return r;
	r = cy_check_keys(ctx, n, "an allow rule", keys, unsupported);
	if (r < 0)
		return r;
	r = cy_required(ctx, n, "actions", "allow rule", &v);
	if (r < 0)
		return r;
	r = config_parse_patterns(ctx, v, "actions", config_parse_action, &rule->actions,
	                          &rule->n_actions);
	if (r < 0)
		return r;
	r = cy_required(ctx, n, "resources", "allow rule", &v);
	if (r < 0)
		return r;
	return config_parse_patterns(ctx, v, "resources", config_parse_resource, &rule->resources,
	                             &rule->n_resources);
}

/* allow: a list of rules, empty (or null) for a key that may do nothing. */
static int config_parse_allow(struct cy_ctx *ctx, const struct cy_node *n, struct auth_key *key)
{
	int r;

	if (cy_is_null(n))
		return 0;
	r = cy_expect(ctx, n, CY_SEQUENCE, "allow");
	if (r < 0)
		return r;
	if (n->n_items > CONFIG_AUTH_MAX_RULES)
		return cy_fail(ctx, n, "allow lists %zu rules, more than %u", n->n_items,
		               CONFIG_AUTH_MAX_RULES);
	key->rules = xcalloc(n->n_items ? n->n_items : 1, sizeof(*key->rules));
	for (size_t i = 0; i < n->n_items; i++) {
		key->n_rules++;
		r = config_parse_rule(ctx, n->items[i], &key->rules[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* name: 1-64 printable ASCII characters. */
static int config_parse_key_name(struct cy_ctx *ctx, const struct cy_node *n, char **ret)
{
	int r = cy_get_string(ctx, n, "key name", ret);
	size_t len;

	if (r < 0)
		return r;
	len = strlen(*ret);
	if (len == 0 || len > CONFIG_AUTH_MAX_NAME)
		return cy_fail(ctx, n, "key name must be 1-%u characters", CONFIG_AUTH_MAX_NAME);
	for (const char *p = *ret; *p; p++) {
		if ((unsigned char)*p < ' ' || (unsigned char)*p >= 0x7f) {
			_cleanup_free_ char *shown = config_auth_shown(*ret);

			return cy_fail(ctx, n,
			               "key name \"%s\" may hold only printable ASCII characters "
			               "(it is shown in logs and in AccessDenied messages)",
			               shown);
		}
	}
	return 0;
}

/* access_key_id: AWS's shape, 16-128 upper-case letters and digits. */
static int config_parse_key_id(struct cy_ctx *ctx, const struct cy_node *n, char **ret)
{
	int r = cy_get_string(ctx, n, "access_key_id", ret);
	size_t len;

	if (r < 0)
		return r;
	len = strlen(*ret);
	if (len < CONFIG_AUTH_MIN_KEY_ID || len > CONFIG_AUTH_MAX_KEY_ID ||
	    strspn(*ret, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != len) {
		_cleanup_free_ char *shown = config_auth_shown(*ret);

		return cy_fail(ctx, n,
		               "access_key_id \"%s\" must be %u-%u upper-case letters and digits, "
		               "as in AKIAIOSFODNN7EXAMPLE",
		               shown, CONFIG_AUTH_MIN_KEY_ID, CONFIG_AUTH_MAX_KEY_ID);
	}
	return 0;
}

/* secret_access_key: 1-128 characters, no control characters, no spaces at
 * either end (a paste error that no client would sign with).  Never quoted
 * back. */
static int config_parse_secret(struct cy_ctx *ctx, const struct cy_node *n, const char *name,
                               char **ret)
{
	int r = cy_expect(ctx, n, CY_SCALAR, "secret_access_key");
	const char *s;
	size_t len;

	if (r < 0)
		return r;
	s = n->value;
	len = strlen(s);
	if (len == 0 || len > CONFIG_AUTH_MAX_SECRET)
		return cy_fail(ctx, n, "secret_access_key of key \"%s\" must be 1-%u characters",
		               name, CONFIG_AUTH_MAX_SECRET);
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			return cy_fail(ctx, n,
			               "secret_access_key of key \"%s\" holds a control character",
			               name);
	if (s[0] == ' ' || s[len - 1] == ' ')
		return cy_fail(ctx, n,
		               "secret_access_key of key \"%s\" begins or ends with a space", name);
	*ret = xstrdup(s);
	return 0;
}

/* The earlier key (of keys[0..i)) whose member key equals (or, for names,
 * equals in any case) that of keys[i], or NULL. */
static const struct cy_node *config_earlier_key(const struct auth_keys *k, size_t i,
                                                const struct cy_node *list, const char *member)
{
	bool is_name = strcmp(member, "name") == 0;
	const char *mine = is_name ? k->keys[i].name : k->keys[i].access_key_id;

	for (size_t j = 0; j < i; j++) {
		const char *theirs = is_name ? k->keys[j].name : k->keys[j].access_key_id;

		if (is_name ? strcasecmp(mine, theirs) == 0 : strcmp(mine, theirs) == 0)
			return cy_map_get(list->items[j], member);
	}
	return NULL;
}

/* One entry of keys:. */
static int config_parse_key(struct cy_ctx *ctx, struct auth_keys *k, const struct cy_node *list,
                            size_t i)
{
	static const char *const keys[] = {"name", "access_key_id", "secret_access_key", "allow",
	                                   NULL};
	static const char *const unsupported[] = {"session_token", "aws_session_token", NULL};
	const struct cy_node *n = list->items[i], *v, *earlier;
	struct auth_key *key = &k->keys[i];
	int r = cy_expect(ctx, n, CY_MAPPING, "key");

	if (r < 0)
		return r;
	r = cy_check_keys(ctx, n, "a key", keys, unsupported);
	if (r < 0)
		return r;
	if ((r = cy_required(ctx, n, "name", "key", &v)) < 0 ||
	    (r = config_parse_key_name(ctx, v, &key->name)) < 0)
		return r;
	if ((earlier = config_earlier_key(k, i, list, "name")) != NULL)
		return cy_fail(ctx, v,
		               "duplicate key name \"%s\" (names are case-insensitive): first at "
		               "line %u",
		               key->name, earlier->line);
	if ((r = cy_required(ctx, n, "access_key_id", "key", &v)) < 0 ||
	    (r = config_parse_key_id(ctx, v, &key->access_key_id)) < 0)
		return r;
	if ((earlier = config_earlier_key(k, i, list, "access_key_id")) != NULL)
		return cy_fail(ctx, v, "duplicate access_key_id \"%s\": first at line %u",
		               key->access_key_id, earlier->line);
	if ((r = cy_required(ctx, n, "secret_access_key", "key", &v)) < 0 ||
	    (r = config_parse_secret(ctx, v, key->name, &key->secret_access_key)) < 0)
		return r;
	if ((v = cy_map_get(n, "allow")) == NULL)
		return cy_fail(ctx, n,
		               "missing allow in key \"%s\" (write allow: [] for a key that may "
		               "do nothing)",
		               key->name);
	return config_parse_allow(ctx, v, key);
}

/* The whole file: { keys: [...] }, at least one key. */
static int config_parse_credentials(struct cy_ctx *ctx, const struct cy_node *root,
                                    struct auth_keys *k)
{
	static const char *const keys[] = {"keys", NULL};
	const struct cy_node *list;
	int r;

	if (cy_is_null(root)) {
		ctx->error = xasprintf("%s: no keys: a credentials file lists at least one under "
		                       "keys:",
		                       ctx->file);
		return -EINVAL;
	}
	r = cy_expect(ctx, root, CY_MAPPING, "the credentials file");
	if (r < 0)
		return r;
	r = cy_check_keys(ctx, root, "the credentials file", keys, NULL);
	if (r < 0)
		return r;
	r = cy_required(ctx, root, "keys", "the credentials file", &list);
	if (r < 0)
		return r;
	r = config_auth_list(ctx, list, "keys", CONFIG_AUTH_MAX_KEYS);
	if (r < 0)
		return r;
	k->keys = xcalloc(list->n_items, sizeof(*k->keys));
	for (size_t i = 0; i < list->n_items; i++) {
		k->n_keys++;
		r = config_parse_key(ctx, k, list, i);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Reads and parses the credentials file; see config_private.h. */
int config_read_credentials(struct config_loader *ld, struct auth_keys **ret_keys,
                            double *ret_mtime)
{
	struct cy_ctx ctx = {.file = ld->credentials_path};
	struct cy_node *root = NULL;
	struct auth_keys *k;
	char *text = NULL;
	size_t len = 0;
	double mtime = 0;
	int r;

	r = config_credentials_text(ld, &text, &len, &mtime);
	if (r < 0)
		return r;
	r = cy_parse(ctx.file, text, len, &root, &ctx.error);
	explicit_bzero(text, len);
	free(text);
	if (r < 0)
		goto out;
	k = xcalloc(1, sizeof(*k));
	k->refs = 1;
	r = config_parse_credentials(&ctx, root, k);
	config_wipe_tree(root);
	cy_free(root);
	if (r < 0) {
		/* Built so far: every array counts only what it holds, so this frees it all. */
		auth_keys_unref(k);
		goto out;
	}
	*ret_keys = k;
	*ret_mtime = mtime;
out:
	free(ld->ctx.error);
	ld->ctx.error = TAKE_PTR(ctx.error);
	return r;
}
