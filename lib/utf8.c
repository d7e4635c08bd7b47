/*
 * UTF-8 checks and repair (see utf8.h for why they are in one place).
 */
#include "utf8.h"

#include <string.h>

#include "util.h"

/* Decode one character. */
size_t utf8_decode(const char *s, size_t n, uint32_t *ret_cp)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp, min;
	size_t len;

	if (n == 0)
		return 0;
	if (p[0] < 0x80) {
		*ret_cp = p[0];
		return 1;
	} else if ((p[0] & 0xe0) == 0xc0) {
		cp = p[0] & 0x1f;
		len = 2;
		min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		cp = p[0] & 0x0f;
		len = 3;
		min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		cp = p[0] & 0x07;
		len = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*ret_cp = cp;
	return len;
}

/* Whether s[0..n) is well-formed and NUL-free. */
bool utf8_valid(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		/* ASCII runs are the common case: no decode call for them. */
		if ((unsigned char)s[i] < 0x80) {
			if (s[i] == '\0')
				return false;
			i++;
			continue;
		}
		uint32_t cp;
		size_t len = utf8_decode(s + i, n - i, &cp);
		if (len == 0)
			return false;
		i += len;
	}
	return true;
}

/* A repaired, optionally cut copy. */
char *utf8_sanitize(const char *s, size_t n, size_t max)
{
	/* Each bad byte may grow to three: size the copy for the worst case,
	 * bounded by max when there is one. */
	size_t cap = n > SIZE_MAX / 3 - 1 ? SIZE_MAX - 1 : 3 * n;
	if (max && cap > max)
		cap = max;
	char *out = xmalloc(cap + 1);
	size_t o = 0, i = 0;
	while (i < n) {
		/* ASCII runs, the whole of nearly every header, go in one copy. */
		size_t run = 0;
		while (i + run < n && (unsigned char)s[i + run] - 1u < 0x7fu)
			run++;
		if (run > 0) {
			if (run > cap - o)
				run = cap - o;
			memcpy(out + o, s + i, run);
			o += run;
			i += run;
			if (o == cap)
				break;
			continue;
		}
		uint32_t cp = 0;
		size_t len = utf8_decode(s + i, n - i, &cp);
		const char *piece = s + i;
		size_t plen = len;
		if (len == 0 || cp == 0) {
			piece = UTF8_REPLACEMENT;
			plen = sizeof(UTF8_REPLACEMENT) - 1;
			len = 1;
		}
		if (o + plen > cap)
			break;
		memcpy(out + o, piece, plen);
		o += plen;
		i += len;
	}
	out[o] = '\0';
	return out;
}

/* Repair a C string. */
char *utf8_sanitize_str(const char *s)
{
	return s ? utf8_sanitize(s, strlen(s), 0) : NULL;
}

/* Where to cut a valid string. */
size_t utf8_prefix_len(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}
