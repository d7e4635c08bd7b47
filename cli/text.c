/*
 * Escaping of outside text for the terminal.  A byte is looked at as part
 * of a well-formed UTF-8 sequence (no overlong forms, no surrogates, nothing
 * past U+10FFFF) or on its own: an overlong ESC (0xc0 0x9b) is not UTF-8
 * and shows as two \xHH, never as the character a lax decoder would make
 * of it.
 */
#include "text.h"

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* Length of the well-formed UTF-8 sequence at p (1-4), or 0 if there is
 * none.  Stops at the first byte that does not fit, so never reads past a
 * terminating NUL. */
static size_t text_utf8_len(const unsigned char *p)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	/* The second byte's range rules out overlong forms, surrogates and
	 * code points past U+10FFFF. */
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* Whether the n-byte sequence at p is a C1 control (U+0080-U+009F). */
static bool text_is_c1(const unsigned char *p, size_t n)
{
	return n == 2 && p[0] == 0xc2 && p[1] < 0xa0;
}

/* Escapes every control and every byte that is not UTF-8. */
char *text_escape(const char *s)
{
	struct buf b = {0};
	const unsigned char *p = (const unsigned char *)s;

	if (!s)
		return NULL;
	while (*p) {
		size_t n = text_utf8_len(p);
		if (n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7f))) {
			if (*p == '\n')
				(void)buf_append(&b, "\\n", 2);
			else if (*p == '\r')
				(void)buf_append(&b, "\\r", 2);
			else if (*p == '\t')
				(void)buf_append(&b, "\\t", 2);
			else
				(void)buf_printf(&b, "\\x%02x", *p);
			p++;
		} else if (text_is_c1(p, n)) {
			(void)buf_printf(&b, "\\u%04x", p[1]);
			p += n;
		} else {
			(void)buf_append(&b, p, n);
			p += n;
		}
	}
	return buf_steal(&b);
}

/* DEL and C1 controls in JSON text as \u escapes. */
char *text_escape_json(const char *json)
{
	struct buf b = {0};
	const unsigned char *p = (const unsigned char *)json;

	while (*p) {
		size_t n = text_utf8_len(p);
		if (n == 1 && *p == 0x7f) {
			(void)buf_append(&b, "\\u007f", 6);
		} else if (text_is_c1(p, n)) {
			(void)buf_printf(&b, "\\u%04x", p[1]);
		} else {
			/* Not UTF-8 cannot come from jansson; pass it on as it is. */
			if (n == 0)
				n = 1;
			(void)buf_append(&b, p, n);
		}
		p += n;
	}
	return buf_steal(&b);
}
