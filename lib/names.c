/*
 * API field validation and ARNs.
 *
 * The patterns SageMaker documents are matched by hand: a resource name is
 * ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$ (hyphens only between alphanumerics),
 * and a tag is ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$.  We have no Unicode tables,
 * so for tags any well-formed multi-byte UTF-8 character other than a C1
 * control is taken as a letter; in ASCII only letters, digits, space and
 * _.:/=+-@ pass.
 */
#include "names.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "utf8.h"
#include "util.h"

static bool names_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* An environment variable name as SageMaker takes one. */
bool names_valid_env_key(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == len;
}

bool names_valid_resource(const char *s)
{
	size_t n;

	if (s == NULL)
		return false;
	n = strlen(s);
	if (n == 0 || n > NAMES_MAX_LEN)
		return false;
	if (!names_is_alnum(s[0]) || !names_is_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i < n - 1; i++)
		if (!names_is_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

long names_utf8_length(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	long n = 0;

	if (s == NULL)
		return -1;
	while (*p != '\0') {
		uint32_t cp;
		size_t len = utf8_decode((const char *)p, strnlen((const char *)p, 4), &cp);

		if (len == 0)
			return -1;
		p += len;
		n++;
	}
	return n;
}

/* One character of \p{L}\p{Z}\p{N}_.:/=+\-@, as far as we can tell without tables. */
static bool names_tag_char(uint32_t cp)
{
	if (cp < 0x80)
		return names_is_alnum((char)cp) || strchr(" _.:/=+-@", (int)cp) != NULL;
	/* C1 controls are the one multi-byte range that is surely not a letter. */
	return cp > 0x9f;
}

/* Checks the character set and that the length lies in [min, max]. */
static bool names_valid_tag(const char *s, long min, long max)
{
	const unsigned char *p = (const unsigned char *)s;
	long n = 0;

	if (s == NULL)
		return false;
	while (*p != '\0') {
		uint32_t cp;
		size_t len = utf8_decode((const char *)p, strnlen((const char *)p, 4), &cp);

		if (len == 0 || cp == 0 || !names_tag_char(cp))
			return false;
		p += len;
		if (++n > max)
			return false;
	}
	return n >= min;
}

bool names_valid_tag_key(const char *s)
{
	return names_valid_tag(s, 1, NAMES_TAG_KEY_MAX);
}

bool names_valid_tag_value(const char *s)
{
	return names_valid_tag(s, 0, NAMES_TAG_VALUE_MAX);
}

static const char *const names_arn_kinds[] = {"endpoint", "endpoint-config", "model"};

char *names_arn(const char *region, const char *account, const char *kind, const char *name)
{
	return xasprintf("arn:aws:sagemaker:%s:%s:%s/%s", region, account, kind, name);
}

int names_parse_arn(const char *arn, const char *region, const char *account, char **ret_kind,
                    char **ret_name)
{
	static const char prefix[] = "arn:aws:sagemaker:";
	size_t region_len, account_len, kind_len;
	const char *p, *slash;

	if (arn == NULL || region == NULL || account == NULL || strlen(arn) > NAMES_ARN_MAX)
		return -EINVAL;
	if (strncmp(arn, prefix, sizeof(prefix) - 1) != 0)
		return -EINVAL;
	p = arn + sizeof(prefix) - 1;

	region_len = strlen(region);
	if (strncmp(p, region, region_len) != 0 || p[region_len] != ':')
		return -EINVAL;
	p += region_len + 1;

	account_len = strlen(account);
	if (strncmp(p, account, account_len) != 0 || p[account_len] != ':')
		return -EINVAL;
	p += account_len + 1;

	slash = strchr(p, '/');
	if (slash == NULL)
		return -EINVAL;
	kind_len = (size_t)(slash - p);
	for (size_t i = 0; i < ELEMENTSOF(names_arn_kinds); i++) {
		if (strlen(names_arn_kinds[i]) != kind_len ||
		    strncmp(p, names_arn_kinds[i], kind_len) != 0)
			continue;
		if (!names_valid_resource(slash + 1))
			return -EINVAL;
		if (ret_kind != NULL)
			*ret_kind = xstrdup(names_arn_kinds[i]);
		if (ret_name != NULL)
			*ret_name = xstrdup(slash + 1);
		return 0;
	}
	return -EINVAL;
}
