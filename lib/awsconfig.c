/*
 * The AWS shared files, read as the AWS CLI reads them.
 *
 * DESIGN
 *
 * botocore reads both files with Python's configparser.RawConfigParser, so
 * its rules are the format, and a file that works with `aws` works here
 * (and one that `aws` refuses is refused here, with the line):
 *
 *   - a line is ended by \n, \r\n or \r; white space around a line is
 *     stripped; a line whose first visible character is '#' or ';' is a
 *     comment (nowhere else: "key = a # b" is the value "a # b");
 *   - "[NAME]" starts a section (NAME runs to the last ']'); a section may
 *     appear once; "[DEFAULT]" holds fallbacks for every other section;
 *   - "KEY = VALUE" or "KEY: VALUE", split at the first '=' or ':', white
 *     space around both stripped; keys are case-insensitive; a key may
 *     appear once per section;
 *   - a line indented deeper than its key's line continues the value (a
 *     value that starts on the next line is a nested block, "s3 =" then
 *     "  addressing_style = path", whose lines need '=': the settings of
 *     other tools, which endpointctl ignores);
 *   - anything else (text before the first section, a line without '=' or
 *     ':', an empty key) makes the whole file unreadable to botocore: here a
 *     "file:line: what" error.
 *
 * In the config file a profile is "[default]" or "[profile NAME]" (NAME as
 * a shell word: quotes allowed); in the credentials file every section is
 * a profile by its own name.  Resolution (awsconfig_resolve) follows the
 * AWS CLI v2's order, given in awsconfig.h.
 *
 * Every bound comes from the file size (AWSCONFIG_MAX_FILE): sections and
 * keys are found through hash maps, so no file costs more than linear time.
 */
#define _GNU_SOURCE
#include "awsconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "utf8.h"
#include "util.h"

#define AWSCONFIG_DEFAULT_REGION "us-east-1"
/* configparser's name for the fallback section. */
#define AWSCONFIG_FALLBACKS "DEFAULT"

struct awsconfig_option {
	char *key; /* lower case */
	char *value;
	unsigned line;
	bool multiline; /* continued on further lines */
};

struct awsconfig_section {
	char *name;
	unsigned line;
	struct awsconfig_option *options;
	size_t n_options;
	struct strmap *index; /* key -> option index + 1 */
};

struct awsconfig_ini {
	struct awsconfig_section *sections;
	size_t n_sections;
	struct strmap *index;               /* name -> section index + 1 */
	struct awsconfig_section fallbacks; /* [DEFAULT] */
};

/* Python's str.strip() white space, in ASCII. */
static bool is_py_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* s[0..n) without white space at either end, as *ret_s / *ret_n. */
static void strip(const char *s, size_t n, const char **ret_s, size_t *ret_n)
{
	while (n > 0 && is_py_space(*s))
		s++, n--;
	while (n > 0 && is_py_space(s[n - 1]))
		n--;
	*ret_s = s;
	*ret_n = n;
}

/* The section's option called key, or NULL. */
static struct awsconfig_option *section_option(const struct awsconfig_section *s, const char *key)
{
	uintptr_t i = s->index ? (uintptr_t)strmap_get(s->index, key) : 0;
	return i ? &s->options[i - 1] : NULL;
}

/* Frees a section's contents. */
static void section_clear(struct awsconfig_section *s)
{
	for (size_t i = 0; i < s->n_options; i++) {
		free(s->options[i].key);
		free(s->options[i].value);
	}
	free(s->options);
	free(s->name);
	strmap_free(s->index);
}

/* NULL-safe. */
struct awsconfig_ini *awsconfig_ini_free(struct awsconfig_ini *ini)
{
	if (!ini)
		return NULL;
	for (size_t i = 0; i < ini->n_sections; i++)
		section_clear(&ini->sections[i]);
	free(ini->sections);
	section_clear(&ini->fallbacks);
	strmap_free(ini->index);
	free(ini);
	return NULL;
}

/* The parse under way. */
struct parser {
	struct awsconfig_ini *ini;
	const char *name;
	char *error;
	struct awsconfig_section *section; /* NULL before the first */
	struct awsconfig_option *option;   /* the one whose value may go on */
	struct buf value;                  /* its value so far */
	size_t indent;                     /* of the last section or key line */
};

/* Records the first error, "name:line: what". */
static int parse_error(struct parser *p, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int parse_error(struct parser *p, unsigned line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *what = xvasprintf(fmt, ap);
	va_end(ap);
	p->error = xasprintf("%s:%u: %s", p->name, line, what);
	return -EINVAL;
}

/* A copy of n bytes for a message: control bytes as '?', at most 64. */
static char *shown(const char *s, size_t n)
{
	size_t m = n > 64 ? 64 : n;
	char *r = xmalloc(m + 4);
	for (size_t i = 0; i < m; i++)
		r[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	strcpy(r + m, m < n ? "..." : "");
	return r;
}

/* Ends the value under way: configparser joins its lines with '\n' and
 * strips the end; a nested block (a value that starts with a line end)
 * must be KEY = VALUE lines. */
static int finish_value(struct parser *p)
{
	struct awsconfig_option *o = p->option;
	if (!o)
		return 0;
	p->option = NULL;
	char *v = buf_steal(&p->value);
	size_t n = strlen(v);
	while (n > 0 && is_py_space(v[n - 1]))
		v[--n] = '\0';
	o->value = v;
	o->multiline = strchr(v, '\n') != NULL;
	if (v[0] != '\n')
		return 0;
	for (const char *l = v + 1; l <= v + n;) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);
		const char *s;
		size_t sl;
		strip(l, len, &s, &sl);
		if (sl > 0 && !memchr(s, '=', sl)) {
			_cleanup_free_ char *show = shown(s, sl);
			return parse_error(p, o->line,
			                   "'%s' in the nested settings of %s is not NAME = VALUE",
			                   show, o->key);
		}
		l += len + 1;
	}
	return 0;
}

/* Starts section name (n bytes) at line. */
static int start_section(struct parser *p, const char *name, size_t n, unsigned line)
{
	struct awsconfig_ini *ini = p->ini;
	_cleanup_free_ char *copy = xstrndup(name, n);
	if (strcmp(copy, AWSCONFIG_FALLBACKS) == 0) {
		p->section = &ini->fallbacks;
		return 0;
	}
	uintptr_t i = (uintptr_t)strmap_get(ini->index, copy);
	if (i) {
		_cleanup_free_ char *show = shown(name, n);
		return parse_error(p, line, "section [%s] again (first at line %u)", show,
		                   ini->sections[i - 1].line);
	}
	ini->sections = xreallocarray(ini->sections, ini->n_sections + 1, sizeof(*ini->sections));
	struct awsconfig_section *s = &ini->sections[ini->n_sections++];
	*s = (struct awsconfig_section){.name = TAKE_PTR(copy), .line = line};
	strmap_put(ini->index, s->name, (void *)(uintptr_t)ini->n_sections);
	p->section = s;
	return 0;
}

/* Adds KEY = VALUE (the stripped line s, n bytes) to the section. */
static int add_option(struct parser *p, const char *s, size_t n, unsigned line)
{
	struct awsconfig_section *sec = p->section;
	size_t k = 0;
	while (k < n && s[k] != '=' && s[k] != ':')
		k++; /* the last line of a file ends without a NUL */
	if (k == n) {
		_cleanup_free_ char *show = shown(s, n);
		return parse_error(p, line, "'%s' is neither [SECTION], NAME = VALUE nor a comment",
		                   show);
	}
	const char *key, *value;
	size_t kl, vl;
	strip(s, k, &key, &kl);
	strip(s + k + 1, n - k - 1, &value, &vl);
	if (kl == 0)
		return parse_error(p, line, "a value without a name");
	_cleanup_free_ char *lower = xstrndup(key, kl);
	for (char *c = lower; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	struct awsconfig_option *o = section_option(sec, lower);
	if (o) {
		_cleanup_free_ char *show = shown(key, kl);
		return parse_error(p, line, "%s again in [%s] (first at line %u)", show, sec->name,
		                   o->line);
	}
	if (!sec->index)
		sec->index = strmap_new();
	sec->options = xreallocarray(sec->options, sec->n_options + 1, sizeof(*sec->options));
	o = &sec->options[sec->n_options++];
	*o = (struct awsconfig_option){.key = TAKE_PTR(lower), .line = line};
	strmap_put(sec->index, o->key, (void *)(uintptr_t)sec->n_options);
	p->option = o;
	buf_reset(&p->value);
	return buf_append(&p->value, value, vl);
}

/* One line (without its end), as configparser's _read takes it. */
static int parse_line(struct parser *p, const char *line, size_t len, unsigned lineno)
{
	const char *s;
	size_t n;
	strip(line, len, &s, &n);
	if (n > 0 && (*s == '#' || *s == ';'))
		return 0; /* a comment: it neither ends nor continues a value */
	if (n == 0) {
		/* Kept in a value that goes on, dropped from its end. */
		return p->option ? buf_append(&p->value, "\n", 1) : 0;
	}
	size_t indent = (size_t)(s - line);
	if (p->option && indent > p->indent) {
		int r = buf_append(&p->value, "\n", 1);
		return r < 0 ? r : buf_append(&p->value, s, n);
	}
	int r = finish_value(p);
	if (r < 0)
		return r;
	p->indent = indent;
	if (s[0] == '[') {
		const char *close = NULL;
		for (size_t i = n; i-- > 2;)
			if (s[i] == ']') {
				close = s + i;
				break;
			}
		if (close)
			return start_section(p, s + 1, (size_t)(close - s - 1), lineno);
	}
	if (!p->section) {
		_cleanup_free_ char *show = shown(s, n);
		return parse_error(p, lineno, "'%s' before any [section]", show);
	}
	return add_option(p, s, n, lineno);
}

/* configparser's grammar over the whole text. */
int awsconfig_ini_parse(const char *text, size_t len, const char *name,
                        struct awsconfig_ini **ret_ini, char **ret_error)
{
	if (len > AWSCONFIG_MAX_FILE) {
		*ret_error = xasprintf("%s: larger than %d bytes", name, AWSCONFIG_MAX_FILE);
		return -E2BIG;
	}
	struct parser p = {.name = name};
	p.ini = xcalloc(1, sizeof(*p.ini));
	p.ini->index = strmap_new();
	p.ini->fallbacks.name = xstrdup(AWSCONFIG_FALLBACKS);
	p.ini->fallbacks.index = strmap_new();
	int r = 0;
	unsigned lineno = 1;
	for (size_t at = 0; at < len && r == 0; lineno++) {
		size_t end = at;
		while (end < len && text[end] != '\n' && text[end] != '\r')
			end++;
		if (memchr(text + at, '\0', end - at))
			r = parse_error(&p, lineno, "a NUL byte");
		else if (!utf8_valid(text + at, end - at))
			r = parse_error(&p, lineno, "not UTF-8");
		else
			r = parse_line(&p, text + at, end - at, lineno);
		at = end;
		if (at < len && text[at] == '\r' && at + 1 < len && text[at + 1] == '\n')
			at++;
		at++;
	}
	if (r == 0)
		r = finish_value(&p);
	if (r < 0 && !p.error)
		p.error = xasprintf("%s: too large", name);
	buf_reset(&p.value);
	if (r < 0) {
		awsconfig_ini_free(p.ini);
		*ret_error = p.error;
		return -EINVAL;
	}
	*ret_ini = p.ini;
	return 0;
}

/* The section called name, or NULL. */
static const struct awsconfig_section *ini_section(const struct awsconfig_ini *ini,
                                                   const char *name)
{
	uintptr_t i = ini && name ? (uintptr_t)strmap_get(ini->index, name) : 0;
	return i ? &ini->sections[i - 1] : NULL;
}

/* An option of the section, or of [DEFAULT]. */
static const struct awsconfig_option *ini_option(const struct awsconfig_ini *ini,
                                                 const char *section, const char *key)
{
	const struct awsconfig_section *s = ini_section(ini, section);
	if (!s)
		return NULL;
	const struct awsconfig_option *o = section_option(s, key);
	return o ? o : section_option(&ini->fallbacks, key);
}

/* configparser's get(), with [DEFAULT] behind every section. */
const char *awsconfig_ini_get(const struct awsconfig_ini *ini, const char *section, const char *key,
                              unsigned *ret_line)
{
	const struct awsconfig_option *o = ini_option(ini, section, key);
	if (o && ret_line)
		*ret_line = o->line;
	return o ? o->value : NULL;
}

/* configparser's has_section(). */
bool awsconfig_ini_has_section(const struct awsconfig_ini *ini, const char *name)
{
	return ini_section(ini, name) != NULL;
}

/* Python's shlex.split(s) (POSIX mode) into up to max words; the number of
 * words (which may be more than max), or -EINVAL where shlex raises. */
static int shell_words(const char *s, char **words, int max)
{
	int n = 0;
	struct buf w = {0};
	bool in_word = false;
	for (;; s++) {
		char c = *s;
		if (c == '\0' || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			if (in_word) {
				if (n < max)
					words[n] = buf_steal(&w);
				buf_reset(&w);
				n++;
				in_word = false;
			}
			if (c == '\0')
				return n;
			continue;
		}
		in_word = true;
		if (c == '\\') {
			if (!*++s)
				goto bad;
			buf_append(&w, s, 1);
		} else if (c == '\'') {
			const char *e = strchr(s + 1, '\'');
			if (!e)
				goto bad;
			buf_append(&w, s + 1, (size_t)(e - s - 1));
			s = e;
		} else if (c == '"') {
			for (s++; *s != '"'; s++) {
				if (!*s)
					goto bad;
				if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
					s++;
				buf_append(&w, s, 1);
			}
		} else {
			buf_append(&w, s, 1);
		}
	}
bad:
	buf_reset(&w);
	for (int i = 0; i < n && i < max; i++)
		free(words[i]);
	return -EINVAL;
}

/* botocore's build_profile_map: "[default]", and every section starting
 * with "profile" that shlex splits into two words names the second. */
const char *awsconfig_config_section(const struct awsconfig_ini *ini, const char *name)
{
	const char *found = NULL;
	for (size_t i = 0; ini && i < ini->n_sections; i++) {
		const char *s = ini->sections[i].name;
		if (strcmp(s, "default") == 0) {
			if (strcmp(name, "default") == 0)
				found = s;
			continue;
		}
		if (!str_has_prefix(s, "profile"))
			continue;
		char *words[2] = {NULL, NULL};
		int n = shell_words(s, words, 2);
		if (n == 2 && strcmp(words[1], name) == 0)
			found = s;
		for (int j = 0; j < n && j < 2; j++)
			free(words[j]);
	}
	return found;
}

/* Environment */

/* getenv() over env. */
const char *awsconfig_getenv(const char *const *env, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; env && env[i]; i++)
		if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
			return env[i] + n + 1;
	return NULL;
}

/* A variable's value when set and not empty. */
static const char *env_value(const char *const *env, const char *name)
{
	const char *v = awsconfig_getenv(env, name);
	return v && *v ? v : NULL;
}

/* Whether c may be in a variable's name (Python's \w in ASCII). */
static bool is_name_char(char c)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* os.path.expandvars then os.path.expanduser, as botocore expands a path. */
char *awsconfig_path(const char *const *env, const char *variable, const char *default_path)
{
	const char *path = env_value(env, variable);
	struct buf b = {0};
	if (!path)
		path = default_path;
	for (const char *s = path; *s;) {
		const char *name = NULL;
		size_t nl = 0, used = 0;
		if (s[0] == '$' && s[1] == '{') {
			const char *e = strchr(s + 2, '}');
			if (e) {
				name = s + 2;
				nl = (size_t)(e - name);
				used = nl + 3;
			}
		} else if (s[0] == '$') {
			while (is_name_char(s[1 + nl]))
				nl++;
			name = s + 1;
			used = nl + 1;
		}
		_cleanup_free_ char *key = name && nl ? xstrndup(name, nl) : NULL;
		const char *value = key ? awsconfig_getenv(env, key) : NULL;
		if (value) {
			buf_append(&b, value, strlen(value));
			s += used;
		} else {
			buf_append(&b, s, 1);
			s++;
		}
	}
	char *expanded = buf_steal(&b);
	const char *home = awsconfig_getenv(env, "HOME");
	if (expanded[0] == '~' && (expanded[1] == '/' || expanded[1] == '\0') && home && *home) {
		size_t hl = strlen(home);
		while (hl > 1 && home[hl - 1] == '/')
			hl--;
		char *r = xasprintf("%.*s%s", (int)hl, home, expanded + 1);
		free(expanded);
		return r;
	}
	return expanded;
}

/* Resolution */

/* The first of the keys a profile section has, and where. */
struct found {
	const char *value;
	const char *path;
	unsigned line;
};

/* A value endpointctl uses: one line, not empty. */
static int check_value(const struct awsconfig_ini *ini, const char *path, const char *section,
                       const char *key, struct found *ret, char **ret_error)
{
	const struct awsconfig_option *o = ini_option(ini, section, key);
	*ret = (struct found){.value = NULL};
	if (!o)
		return 0;
	if (o->multiline || !*o->value) {
		*ret_error = xasprintf("%s:%u: %s %s", path, o->line, key,
		                       o->multiline ? "spans more than one line" : "is empty");
		return -EINVAL;
	}
	*ret = (struct found){.value = o->value, .path = path, .line = o->line};
	return 0;
}

/* An access key id as AWS spells them, which the signer can put in a
 * credential scope. */
static bool access_key_id_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128)
		return false;
	for (; *s; s++)
		if (!is_name_char(*s) && *s != '.' && *s != '-')
			return false;
	return true;
}

/* botocore's validate_region_name: ^[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?$ */
static bool region_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (; *s; s++)
		if (!(is_name_char(*s) && *s != '_') && *s != '-')
			return false;
	return true;
}

/* What a profile gets its credentials from when not from keys, which
 * endpointctl cannot do. */
static const char *const other_sources[] = {
    "role_arn",      "credential_process",      "sso_session",
    "sso_start_url", "web_identity_token_file", "credential_source",
};

/* Keys from one section of one file (the credentials file's section, or
 * the config file's profile section): aws_access_key_id with
 * aws_secret_access_key, and the token as botocore looks for it. */
static int keys_from(const struct awsconfig_ini *ini, const char *path, const char *section,
                     struct awsconfig *c, char **ret_error)
{
	struct found akid, secret, token;
	int r = check_value(ini, path, section, "aws_access_key_id", &akid, ret_error);
	if (r < 0 || !akid.value)
		return r;
	if ((r = check_value(ini, path, section, "aws_secret_access_key", &secret, ret_error)) < 0)
		return r;
	if (!secret.value) {
		*ret_error = xasprintf("Partial credentials found in %s, profile %s, missing: "
		                       "aws_secret_access_key",
		                       path, c->profile);
		return -EINVAL;
	}
	if ((r = check_value(ini, path, section, "aws_security_token", &token, ret_error)) < 0)
		return r;
	if (!token.value &&
	    (r = check_value(ini, path, section, "aws_session_token", &token, ret_error)) < 0)
		return r;
	c->access_key_id = xstrdup(akid.value);
	c->secret_access_key = xstrdup(secret.value);
	c->session_token = token.value ? xstrdup(token.value) : NULL;
	c->source = xasprintf("%s:%u", path, akid.line);
	return 0;
}

/* The AWS CLI v2's order; see awsconfig.h. */
int awsconfig_resolve(const struct awsconfig_input *in, struct awsconfig *ret, char **ret_error)
{
	const char *named =
	    in->profile && *in->profile ? in->profile : env_value(in->env, "AWS_PROFILE");
	const char *profile = named ? named : "default";
	const char *creds_path = in->credentials_path ? in->credentials_path : "credentials file";
	const char *config_path = in->config_path ? in->config_path : "config file";
	const char *creds_section =
	    awsconfig_ini_has_section(in->credentials, profile) ? profile : NULL;
	const char *config_section = awsconfig_config_section(in->config, profile);
	struct awsconfig c = {.profile = xstrdup(profile)};
	struct found f;
	int r = -EINVAL;

	if (named && !creds_section && !config_section) {
		*ret_error = xasprintf("The config profile (%s) could not be found", profile);
		goto out;
	}

	/* Credentials: the environment's unless --profile names a profile. */
	const char *akid = env_value(in->env, "AWS_ACCESS_KEY_ID");
	if (!(in->profile && *in->profile) && akid) {
		const char *secret = env_value(in->env, "AWS_SECRET_ACCESS_KEY");
		const char *token = env_value(in->env, "AWS_SESSION_TOKEN");
		if (!secret) {
			*ret_error = xstrdup("Partial credentials found in env, missing: "
			                     "AWS_SECRET_ACCESS_KEY");
			goto out;
		}
		if (!token)
			token = env_value(in->env, "AWS_SECURITY_TOKEN");
		c.access_key_id = xstrdup(akid);
		c.secret_access_key = xstrdup(secret);
		c.session_token = token ? xstrdup(token) : NULL;
		c.source = xstrdup("the environment (AWS_ACCESS_KEY_ID)");
	}
	if (!c.access_key_id && creds_section &&
	    keys_from(in->credentials, creds_path, creds_section, &c, ret_error) < 0)
		goto out;
	if (!c.access_key_id && config_section &&
	    keys_from(in->config, config_path, config_section, &c, ret_error) < 0)
		goto out;
	if (!c.access_key_id) {
		for (size_t i = 0; i < ELEMENTSOF(other_sources); i++) {
			const char *via =
			    awsconfig_ini_get(in->config, config_section, other_sources[i], NULL);
			if (!via)
				via = awsconfig_ini_get(in->credentials, creds_section,
				                        other_sources[i], NULL);
			if (via) {
				*ret_error =
				    xasprintf("The config profile (%s) gets its credentials "
				              "through %s, which "
				              "endpointctl does not do: give the profile "
				              "aws_access_key_id and "
				              "aws_secret_access_key, or export AWS_ACCESS_KEY_ID, "
				              "AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN",
				              profile, other_sources[i]);
				goto out;
			}
		}
		if (named) {
			*ret_error = xasprintf("The config profile (%s) has no credentials "
			                       "(aws_access_key_id and aws_secret_access_key)",
			                       profile);
			goto out;
		}
	}
	if (c.access_key_id && !access_key_id_ok(c.access_key_id)) {
		_cleanup_free_ char *show = shown(c.access_key_id, strlen(c.access_key_id));
		*ret_error = xasprintf("The access key id '%s' from %s is not one: letters and "
		                       "digits",
		                       show, c.source);
		goto out;
	}

	/* Region: the options, the environment, the profile, the default. */
	const char *region = in->region && *in->region ? in->region : NULL;
	if (!region)
		region = env_value(in->env, "AWS_REGION");
	if (!region)
		region = env_value(in->env, "AWS_DEFAULT_REGION");
	for (int i = 0; !region && i < 2; i++) {
		/* The credentials file's section wins: botocore merges it over the config's. */
		const struct awsconfig_ini *ini = i == 0 ? in->credentials : in->config;
		const char *section = i == 0 ? creds_section : config_section;
		if (check_value(ini, i == 0 ? creds_path : config_path, section, "region", &f,
		                ret_error) < 0)
			goto out;
		region = f.value;
	}
	if (!region)
		region = AWSCONFIG_DEFAULT_REGION;
	if (!region_ok(region)) {
		_cleanup_free_ char *show = shown(region, strlen(region));
		*ret_error =
		    xasprintf("Provided region_name '%s' doesn't match a supported format.", show);
		goto out;
	}
	c.region = xstrdup(region);

	const char *ca = in->ca_bundle && *in->ca_bundle ? in->ca_bundle : NULL;
	if (!ca)
		ca = env_value(in->env, "AWS_CA_BUNDLE");
	for (int i = 0; !ca && i < 2; i++) {
		const struct awsconfig_ini *ini = i == 0 ? in->credentials : in->config;
		const char *section = i == 0 ? creds_section : config_section;
		if (check_value(ini, i == 0 ? creds_path : config_path, section, "ca_bundle", &f,
		                ret_error) < 0)
			goto out;
		ca = f.value;
	}
	c.ca_bundle = ca ? xstrdup(ca) : NULL;
	if (!c.source)
		c.source = xstrdup("nowhere: requests are not signed");
	*ret = c;
	c = (struct awsconfig){.profile = NULL};
	r = 0;
out:
	awsconfig_clear(&c);
	return r;
}

/* The secret is wiped before it is freed. */
void awsconfig_clear(struct awsconfig *c)
{
	if (!c)
		return;
	if (c->secret_access_key)
		explicit_bzero(c->secret_access_key, strlen(c->secret_access_key));
	if (c->session_token)
		explicit_bzero(c->session_token, strlen(c->session_token));
	free(c->access_key_id);
	free(c->secret_access_key);
	free(c->session_token);
	free(c->region);
	free(c->ca_bundle);
	free(c->profile);
	free(c->source);
	*c = (struct awsconfig){.profile = NULL};
}

/* Files */

/* botocore skips what os.path.isfile() says is not a file; anything else
 * that cannot be read is an error worth saying. */
int awsconfig_ini_load(const char *path, struct awsconfig_ini **ret_ini, char **ret_error)
{
	*ret_ini = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		int e = errno;
		*ret_error = xasprintf("%s: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	struct buf b = {.max = AWSCONFIG_MAX_FILE + 1};
	char chunk[16384];
	int r = 0;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			*ret_error = xasprintf("%s: %s", path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if (buf_append(&b, chunk, (size_t)n) < 0) {
			r = -E2BIG;
			*ret_error =
			    xasprintf("%s: larger than %d bytes", path, AWSCONFIG_MAX_FILE);
			break;
		}
	}
	close(fd);
	if (r == 0)
		r = awsconfig_ini_parse(b.data ? b.data : "", b.len, path, ret_ini, ret_error);
	if (b.data)
		explicit_bzero(b.data, b.len);
	buf_reset(&b);
	return r;
}

/* Reads both files, then resolves. */
int awsconfig_load(const char *profile, const char *region, const char *ca_bundle,
                   const char *const *env, struct awsconfig *ret, char **ret_error)
{
	_cleanup_free_ char *creds_path =
	    awsconfig_path(env, "AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials");
	_cleanup_free_ char *config_path = awsconfig_path(env, "AWS_CONFIG_FILE", "~/.aws/config");
	struct awsconfig_ini *creds = NULL, *config = NULL;
	int r = awsconfig_ini_load(creds_path, &creds, ret_error);
	if (r == 0)
		r = awsconfig_ini_load(config_path, &config, ret_error);
	if (r == 0) {
		const struct awsconfig_input in = {
		    .profile = profile,
		    .region = region,
		    .ca_bundle = ca_bundle,
		    .env = env,
		    .credentials = creds,
		    .credentials_path = creds_path,
		    .config = config,
		    .config_path = config_path,
		};
		r = awsconfig_resolve(&in, ret, ret_error);
	}
	awsconfig_ini_free(creds);
	awsconfig_ini_free(config);
	return r;
}
