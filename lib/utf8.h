/*
 * UTF-8: the one place where bytes from outside (request paths and headers,
 * container output, Engine text) become text that may go into a JSON reply,
 * a journal record or a log line.  jansson refuses a string that is not
 * well-formed UTF-8 (json_string() and json_pack() return NULL), so every
 * such string passes through utf8_sanitize() or is checked with utf8_valid()
 * before it is used.  A leaf: it includes nothing of ours but util.h.
 */
#ifndef ENDPOINTD_UTF8_H
#define ENDPOINTD_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What stands for a byte that does not start a well-formed sequence. */
#define UTF8_REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

/*
 * Decodes the character at s (at most n bytes are read); returns its length
 * and the code point in *ret_cp, or 0 when the bytes are not well-formed
 * UTF-8 (truncated, overlong, a surrogate, past U+10FFFF) or n is 0.
 */
size_t utf8_decode(const char *s, size_t n, uint32_t *ret_cp);
/* Whether the n bytes at s are well-formed UTF-8 without NUL. */
bool utf8_valid(const char *s, size_t n);
/*
 * A copy of the n bytes at s that is well-formed UTF-8 without NUL: each byte
 * that does not start a well-formed character (and each NUL) becomes U+FFFD.
 * With max > 0 the result is at most max bytes, cut on a character boundary.
 * Never NULL.
 */
char *utf8_sanitize(const char *s, size_t n, size_t max);
/* utf8_sanitize() of a NUL-terminated string; NULL stays NULL. */
char *utf8_sanitize_str(const char *s);
/* The length of the longest prefix of the NUL-terminated, well-formed s that
 * is at most max bytes and does not split a character. */
size_t utf8_prefix_len(const char *s, size_t max);

#endif
