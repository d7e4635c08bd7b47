/*
 * The HTTP request-head parser and chunked decoder (lib/httpreq.c), as the
 * server feeds them: the bytes received so far, again and again as reads of
 * a chosen size bring more.  Fed in pieces or whole, the answer must be the
 * same; a head that parses is complete and consistent; an error has a status
 * and a reason.
 *
 * Input: the read size (0 = all at once), then the bytes a client sends.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "httpreq.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

/* Parses data fed in reads of step bytes; *ret_consumed on DONE. */
static enum httpreq_result parse_head(struct httpreq *r, const char *data, size_t len, size_t step,
                                      size_t *ret_consumed)
{
	enum httpreq_result res = HTTPREQ_NEED_MORE;
	for (size_t have = 0; have < len && res == HTTPREQ_NEED_MORE;) {
		have = step && len - have > step ? have + step : len;
		*ret_consumed = 0;
		res = httpreq_parse(r, data, have, ret_consumed);
		if (res == HTTPREQ_DONE && (*ret_consumed == 0 || *ret_consumed > have))
			__builtin_trap();
	}
	return res;
}

/* Checks a parsed head. */
static void check_head(const struct httpreq *r)
{
	if (!r->method || !*r->method || !r->target || !r->path ||
	    (r->version != 10 && r->version != 11) || r->n_headers > HTTPREQ_MAX_HEADERS ||
	    strlen(r->target) > HTTPREQ_MAX_TARGET || r->content_length < -1 ||
	    (r->chunked && r->content_length >= 0))
		__builtin_trap();
	for (size_t i = 0; i < r->n_headers; i++)
		if (!r->headers[i].name || !r->headers[i].value ||
		    !httpreq_header(r, r->headers[i].name))
			__builtin_trap();
}

/* Decodes a chunked body in reads of step bytes; the end's offset, or -1. */
static long decode_chunked(const char *data, size_t len, size_t step, int *ret_status)
{
	struct httpreq_chunked c;
	httpreq_chunked_init(&c);
	size_t off = 0;
	while (off < len) {
		size_t n = step && len - off > step ? step : len - off;
		size_t used = 0;
		enum httpreq_result res = httpreq_chunked_parse(&c, data + off, n, &used);
		if (used > n)
			__builtin_trap();
		if (res == HTTPREQ_ERROR) {
			if (c.error_status < 400 || !c.error_reason)
				__builtin_trap();
			*ret_status = c.error_status;
			return -1;
		}
		if (res == HTTPREQ_DONE)
			return (long)(off + used);
		if (res == HTTPREQ_DATA) {
			size_t take = n - used < c.left ? n - used : (size_t)c.left;
			httpreq_chunked_data(&c, take);
			used += take;
		} else if (used != n) {
			__builtin_trap(); /* NEED_MORE consumes everything */
		}
		off += used;
	}
	*ret_status = 0;
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = data[0];
	const char *p = (const char *)data + 1;
	size_t len = size - 1;

	struct httpreq whole, pieces;
	size_t cw = 0, cp = 0;
	httpreq_init(&whole);
	httpreq_init(&pieces);
	enum httpreq_result rw = parse_head(&whole, p, len, 0, &cw);
	enum httpreq_result rp = parse_head(&pieces, p, len, step, &cp);
	if (rw != rp || (rw == HTTPREQ_DONE && cw != cp) ||
	    (rw == HTTPREQ_ERROR && whole.error_status != pieces.error_status))
		__builtin_trap(); /* the answer depends on how the bytes came */
	if (rw == HTTPREQ_ERROR && (whole.error_status < 400 || !whole.error_reason))
		__builtin_trap();
	if (rw == HTTPREQ_DONE) {
		check_head(&whole);
		if (whole.chunked) {
			int sw = 0, sp = 0;
			long ew = decode_chunked(p + cw, len - cw, 0, &sw);
			long ep = decode_chunked(p + cw, len - cw, step, &sp);
			if (ew != ep || sw != sp)
				__builtin_trap();
		}
	}
	httpreq_clear(&whole);
	httpreq_clear(&pieces);
	return 0;
}
