/*
 * The HTTP/1.x request parser (RFC 9112), strict on purpose: what it lets
 * through is one unambiguous request, so that nothing behind it (a proxy, a
 * container) can read the same bytes another way.
 *
 * Choices where the RFC leaves room:
 *  - Lines end in CR LF.  A bare LF or a bare CR is refused (400): accepting
 *    one is how request smuggling starts, and no client we serve sends one.
 *  - Empty lines before the request line are skipped (some clients send a
 *    CR LF after a POST body), at most HTTPREQ_MAX_EMPTY_LINES of them.
 *  - obs-fold (a header line starting with white space), white space between
 *    a field name and its colon, NUL and other control bytes: 400.
 *  - Content-Length is 1-18 digits; copies that agree are one value, copies
 *    that differ are 400.  Transfer-Encoding must be exactly "chunked" (501
 *    otherwise), is refused on HTTP/1.0, and is refused beside a
 *    Content-Length (400): the caller closes the connection on every error.
 *  - The absolute form (http://host/path) is reduced to its path and query;
 *    "*" is taken for OPTIONS only; other forms are 400.  Bytes from 0x80 up
 *    are passed on in the target and in values (the application makes them
 *    valid UTF-8 before they go anywhere).
 *
 * Scanning for the end of the head resumes where the last call stopped, so a
 * head trickled a byte at a time costs O(n) in all.
 */
#define _GNU_SOURCE
#include "httpreq.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define HTTPREQ_MAX_EMPTY_LINES 8
#define HTTPREQ_MAX_CL_DIGITS 18
#define HTTPREQ_MAX_CHUNK_DIGITS 15

/* RFC 9110 tchar. */
static bool httpreq_is_tchar(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return true;
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A byte allowed in a field value: VCHAR, obs-text, SP, HTAB. */
static bool httpreq_is_value_char(unsigned char c)
{
	return c == ' ' || c == '\t' || (c > 0x20 && c != 0x7f);
}

/* Fail with status and reason. */
static enum httpreq_result httpreq_fail(struct httpreq *r, int status, const char *reason)
{
	r->error_status = status;
	r->error_reason = reason;
	return HTTPREQ_ERROR;
}

void httpreq_init(struct httpreq *r)
{
	memset(r, 0, sizeof(*r));
	r->content_length = -1;
}

void httpreq_clear(struct httpreq *r)
{
	free(r->buf);
	free(r->pathbuf);
	free(r->headers);
	httpreq_init(r);
}

/* Whether s (comma-separated tokens) lists token, case-insensitively. */
static bool httpreq_list_has(const char *s, const char *token)
{
	size_t n = strlen(token);
	while (*s) {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		const char *end = s;
		while (*end && *end != ',')
			end++;
		const char *last = end;
		while (last > s && (last[-1] == ' ' || last[-1] == '\t'))
			last--;
		if ((size_t)(last - s) == n && strncasecmp(s, token, n) == 0)
			return true;
		s = end;
	}
	return false;
}

/* The request line, NUL-terminated in place. */
static enum httpreq_result httpreq_parse_request_line(struct httpreq *r, char *line)
{
	char *p = line;
	while (httpreq_is_tchar((unsigned char)*p))
		p++;
	if (p == line || *p != ' ')
		return httpreq_fail(r, 400, "malformed request line: bad method");
	if (p - line > HTTPREQ_MAX_METHOD)
		return httpreq_fail(r, 501, "method too long");
	*p++ = '\0';
	r->method = line;

	char *target = p;
	while (*p && *p != ' ') {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c == 0x7f)
			return httpreq_fail(r, 400, "malformed request line: bad byte in target");
		if (c == '#')
			return httpreq_fail(r, 400, "malformed request line: fragment in target");
		p++;
	}
	if (p == target || *p != ' ')
		return httpreq_fail(r, 400, "malformed request line");
	if (p - target > HTTPREQ_MAX_TARGET)
		return httpreq_fail(r, 414, "request target too long");
	*p++ = '\0';

	if (strncmp(p, "HTTP/", 5) != 0 || !(p[5] >= '0' && p[5] <= '9') || p[6] != '.' ||
	    !(p[7] >= '0' && p[7] <= '9') || p[8] != '\0')
		return httpreq_fail(r, 400, "malformed request line: bad version");
	if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
		return httpreq_fail(r, 505, "HTTP version not supported");
	r->version = p[7] == '1' ? 11 : 10;

	if (target[0] == '/') {
		r->target = target;
	} else if (strncasecmp(target, "http://", 7) == 0 ||
	           strncasecmp(target, "https://", 8) == 0) {
		char *authority = strchr(target, ':') + 3;
		char *rest = authority + strcspn(authority, "/?");
		if (rest == authority)
			return httpreq_fail(r, 400, "absolute-form target without a host");
		if (*rest == '/') {
			r->target = rest;
		} else {
			/* No path: "/" in place of the authority's last byte. */
			rest[-1] = '/';
			r->target = rest - 1;
			if (*rest != '?')
				*rest = '\0';
		}
	} else if (strcmp(target, "*") == 0 && strcmp(r->method, "OPTIONS") == 0) {
		r->target = target;
	} else {
		return httpreq_fail(r, 400, "malformed request target");
	}
	r->pathbuf = xstrndup(r->target, strcspn(r->target, "?"));
	r->path = r->pathbuf;
	return HTTPREQ_DONE;
}

/* One header line, NUL-terminated in place. */
static enum httpreq_result httpreq_parse_header(struct httpreq *r, char *line)
{
	if (line[0] == ' ' || line[0] == '\t')
		return httpreq_fail(r, 400, "obsolete line folding in header");
	char *p = line;
	while (httpreq_is_tchar((unsigned char)*p))
		p++;
	if (p == line || *p != ':')
		return httpreq_fail(r, 400, "malformed header field name");
	*p++ = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	char *value = p;
	char *end = value;
	for (; *p; p++) {
		if (!httpreq_is_value_char((unsigned char)*p))
			return httpreq_fail(r, 400, "control byte in header value");
		if (*p != ' ' && *p != '\t')
			end = p + 1;
	}
	*end = '\0';
	if (r->n_headers == HTTPREQ_MAX_HEADERS)
		return httpreq_fail(r, 431, "too many header fields");
	r->headers[r->n_headers].name = line;
	r->headers[r->n_headers].value = value;
	r->n_headers++;
	return HTTPREQ_DONE;
}

/* Framing and connection semantics of the parsed header fields. */
static enum httpreq_result httpreq_check_fields(struct httpreq *r)
{
	size_t hosts = 0, te = 0;
	bool close = false, keep_alive = false;

	for (size_t i = 0; i < r->n_headers; i++) {
		const char *name = r->headers[i].name, *value = r->headers[i].value;
		if (strcasecmp(name, "Host") == 0) {
			hosts++;
		} else if (strcasecmp(name, "Content-Length") == 0) {
			size_t n = strlen(value);
			if (n == 0 || n > HTTPREQ_MAX_CL_DIGITS || strspn(value, "0123456789") != n)
				return httpreq_fail(r, 400, "malformed Content-Length");
			int64_t v = strtoll(value, NULL, 10);
			if (r->content_length >= 0 && r->content_length != v)
				return httpreq_fail(r, 400, "conflicting Content-Length values");
			r->content_length = v;
		} else if (strcasecmp(name, "Transfer-Encoding") == 0) {
			if (te++ || strcasecmp(value, "chunked") != 0)
				return httpreq_fail(r, 501, "unsupported Transfer-Encoding");
			r->chunked = true;
		} else if (strcasecmp(name, "Connection") == 0) {
			close = close || httpreq_list_has(value, "close");
			keep_alive = keep_alive || httpreq_list_has(value, "keep-alive");
		} else if (strcasecmp(name, "Expect") == 0) {
			if (strcasecmp(value, "100-continue") != 0)
				return httpreq_fail(r, 417, "unsupported expectation");
			r->expect_continue = true;
		}
	}
	if (hosts > 1)
		return httpreq_fail(r, 400, "more than one Host header");
	if (hosts == 0 && r->version == 11)
		return httpreq_fail(r, 400, "HTTP/1.1 request without a Host header");
	if (r->chunked && r->version == 10)
		return httpreq_fail(r, 400, "Transfer-Encoding in an HTTP/1.0 request");
	if (r->chunked && r->content_length >= 0)
		return httpreq_fail(r, 400, "both Content-Length and Transfer-Encoding");
	r->keep_alive = !close && (r->version == 11 || keep_alive);
	return HTTPREQ_DONE;
}

/* The complete head buf[0, len), ending in CR LF CR LF. */
static enum httpreq_result httpreq_parse_head(struct httpreq *r, const char *buf, size_t len)
{
	r->buf = xmalloc(len + 1);
	memcpy(r->buf, buf, len);
	r->buf[len] = '\0';
	size_t lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += r->buf[i] == '\n';
	r->headers = xcalloc(lines, sizeof(*r->headers));

	char *line = r->buf;
	char *eol = strstr(line, "\r\n");
	*eol = '\0';
	enum httpreq_result res = httpreq_parse_request_line(r, line);
	if (res != HTTPREQ_DONE)
		return res;
	for (line = eol + 2; *line != '\r'; line = eol + 2) {
		eol = strstr(line, "\r\n");
		*eol = '\0';
		res = httpreq_parse_header(r, line);
		if (res != HTTPREQ_DONE)
			return res;
	}
	return httpreq_check_fields(r);
}

enum httpreq_result httpreq_parse(struct httpreq *r, const char *buf, size_t len,
                                  size_t *ret_consumed)
{
	if (r->buf)
		return httpreq_fail(r, 500, "parser used twice without httpreq_clear()");
	/* Empty lines before the request line. */
	while (r->scanned == r->skipped && r->skipped < len) {
		if (buf[r->skipped] == '\n')
			return httpreq_fail(r, 400, "bare LF in request head");
		if (buf[r->skipped] != '\r')
			break;
		if (r->skipped + 1 == len)
			return HTTPREQ_NEED_MORE;
		if (buf[r->skipped + 1] != '\n')
			return httpreq_fail(r, 400, "bare CR in request head");
		if (r->skipped / 2 >= HTTPREQ_MAX_EMPTY_LINES)
			return httpreq_fail(r, 400, "too many empty lines before the request");
		r->skipped += 2;
		r->scanned = r->skipped;
	}
	size_t start = r->skipped;
	for (size_t i = r->scanned; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c == '\0')
			return httpreq_fail(r, 400, "NUL byte in request head");
		/* Garbage (a TLS hello, a stray body) is told at its first byte. */
		if (!r->method_seen && c == ' ' && i > start)
			r->method_seen = true;
		else if (!r->method_seen && !httpreq_is_tchar(c))
			return httpreq_fail(r, 400, "malformed request line: bad method");
		if (c == '\r') {
			if (i + 1 == len) {
				r->scanned = i;
				return HTTPREQ_NEED_MORE;
			}
			if (buf[i + 1] != '\n')
				return httpreq_fail(r, 400, "bare CR in request head");
		} else if (c == '\n') {
			if (i == start || buf[i - 1] != '\r')
				return httpreq_fail(r, 400, "bare LF in request head");
			r->line_seen = true;
			if (i >= start + 3 && buf[i - 2] == '\n') {
				size_t head = i + 1 - start;
				enum httpreq_result res = httpreq_parse_head(r, buf + start, head);
				if (res == HTTPREQ_DONE)
					*ret_consumed = i + 1;
				return res;
			}
		}
		if (!r->line_seen && i - start >= HTTPREQ_MAX_TARGET + HTTPREQ_MAX_METHOD + 16)
			return httpreq_fail(r, 414, "request target too long");
		if (i - start >= HTTPREQ_MAX_HEAD)
			return httpreq_fail(r, 431, "request head too large");
	}
	r->scanned = len;
	return HTTPREQ_NEED_MORE;
}

const char *httpreq_header(const struct httpreq *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

const char *httpreq_query(const struct httpreq *r)
{
	const char *q = r->target ? strchr(r->target, '?') : NULL;
	return q ? q + 1 : NULL;
}

/* --- chunked bodies ------------------------------------------------------- */

enum {
	CHUNK_SIZE_FIRST, /* the first hex digit of a size */
	CHUNK_SIZE,       /* more hex digits */
	CHUNK_SIZE_WS,    /* white space before an extension */
	CHUNK_EXT,        /* ;name=value, ignored */
	CHUNK_SIZE_LF,
	CHUNK_DATA,
	CHUNK_DATA_CR,
	CHUNK_DATA_LF,
	CHUNK_TRAILER_START, /* a trailer field or the final CR LF */
	CHUNK_TRAILER,
	CHUNK_TRAILER_LF,
	CHUNK_END_LF,
	CHUNK_DONE,
};

void httpreq_chunked_init(struct httpreq_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = CHUNK_SIZE_FIRST;
}

/* Fail the chunked body. */
static enum httpreq_result httpreq_chunked_fail(struct httpreq_chunked *c, int status,
                                                const char *reason)
{
	c->error_status = status;
	c->error_reason = reason;
	return HTTPREQ_ERROR;
}

/* The value of a hex digit, or -1. */
static int httpreq_hex(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
		return (ch | 0x20) - 'a' + 10;
	return -1;
}

enum httpreq_result httpreq_chunked_parse(struct httpreq_chunked *c, const char *buf, size_t len,
                                          size_t *ret_consumed)
{
	size_t i = 0;
	if (c->state == CHUNK_DONE)
		return httpreq_chunked_fail(c, 500, "chunked body already ended");
	if (c->error_status)
		return HTTPREQ_ERROR;
	for (; i < len; i++) {
		if (c->state == CHUNK_DATA) {
			*ret_consumed = i;
			return HTTPREQ_DATA;
		}
		unsigned char ch = (unsigned char)buf[i];
		int h;
		if (ch == '\0')
			return httpreq_chunked_fail(c, 400, "NUL byte in chunk framing");
		if (c->state < CHUNK_DATA && ++c->line > HTTPREQ_MAX_CHUNK_LINE)
			return httpreq_chunked_fail(c, 400, "chunk size line too long");
		if (c->state >= CHUNK_TRAILER_START && ++c->trailer_bytes > HTTPREQ_MAX_HEAD)
			return httpreq_chunked_fail(c, 431, "chunked trailer section too large");
		switch (c->state) {
		case CHUNK_SIZE_FIRST:
			if ((h = httpreq_hex(ch)) < 0)
				return httpreq_chunked_fail(c, 400, "malformed chunk size");
			c->left = (uint64_t)h;
			c->state = CHUNK_SIZE;
			break;
		case CHUNK_SIZE:
			if ((h = httpreq_hex(ch)) >= 0) {
				if (c->line > HTTPREQ_MAX_CHUNK_DIGITS)
					return httpreq_chunked_fail(c, 400, "chunk size too large");
				c->left = c->left * 16 + (uint64_t)h;
				break;
			}
			/* fall through */
		case CHUNK_SIZE_WS:
			if (ch == ' ' || ch == '\t')
				c->state = CHUNK_SIZE_WS;
			else if (ch == ';')
				c->state = CHUNK_EXT;
			else if (ch == '\r')
				c->state = CHUNK_SIZE_LF;
			else
				return httpreq_chunked_fail(c, 400, "malformed chunk size");
			break;
		case CHUNK_EXT:
			if (ch == '\r')
				c->state = CHUNK_SIZE_LF;
			else if (!httpreq_is_value_char(ch))
				return httpreq_chunked_fail(c, 400,
				                            "control byte in chunk extension");
			break;
		case CHUNK_SIZE_LF:
			if (ch != '\n')
				return httpreq_chunked_fail(c, 400, "bare CR in chunk framing");
			c->line = 0;
			c->state = c->left ? CHUNK_DATA : CHUNK_TRAILER_START;
			break;
		case CHUNK_DATA_CR:
			if (ch != '\r')
				return httpreq_chunked_fail(c, 400,
				                            "chunk data longer than its size");
			c->state = CHUNK_DATA_LF;
			break;
		case CHUNK_DATA_LF:
			if (ch != '\n')
				return httpreq_chunked_fail(c, 400, "bare CR after chunk data");
			c->state = CHUNK_SIZE_FIRST;
			break;
		case CHUNK_TRAILER_START:
			if (ch == '\r') {
				c->state = CHUNK_END_LF;
				break;
			}
			if (ch == '\n' || ch == ' ' || ch == '\t' || !httpreq_is_tchar(ch))
				return httpreq_chunked_fail(c, 400, "malformed trailer field");
			c->state = CHUNK_TRAILER;
			break;
		case CHUNK_TRAILER:
			if (ch == '\r')
				c->state = CHUNK_TRAILER_LF;
			else if (!httpreq_is_value_char(ch))
				return httpreq_chunked_fail(c, 400,
				                            "control byte in trailer field");
			break;
		case CHUNK_TRAILER_LF:
			if (ch != '\n')
				return httpreq_chunked_fail(c, 400, "bare CR in trailer field");
			c->state = CHUNK_TRAILER_START;
			break;
		case CHUNK_END_LF:
			if (ch != '\n')
				return httpreq_chunked_fail(c, 400,
				                            "bare CR at the end of the body");
			c->state = CHUNK_DONE;
			*ret_consumed = i + 1;
			return HTTPREQ_DONE;
		}
	}
	*ret_consumed = i;
	return c->state == CHUNK_DATA ? HTTPREQ_DATA : HTTPREQ_NEED_MORE;
}

void httpreq_chunked_data(struct httpreq_chunked *c, size_t n)
{
	if (c->state != CHUNK_DATA || n > c->left)
		return;
	c->left -= n;
	if (c->left == 0)
		c->state = CHUNK_DATA_CR;
}
