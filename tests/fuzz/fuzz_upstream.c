/*
 * The data plane's answer parser (lib/upstream.c): status line, headers,
 * Content-Length, chunked bodies and trailers, interim answers, read as a
 * model server's bytes arrive.
 *
 * Input: one byte gives the size of the reads (0 = all at once), one the
 * body limit (a small one makes the limits trip), the rest is the answer.
 * Read in pieces or whole, the answer must come out the same, and so must
 * it when streamed (delivered a piece at a time, none over the limit).
 */
#include "fuzz.h"
#include "upstream.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t step = data[0];
	size_t max = data[1] ? (size_t)data[1] * 16 : 6291456;
	int status = 0, whole_status = 0;
	size_t body = 0, whole_body = 0;
	int r = upstream_parse_bytes(data + 2, size - 2, step, max, &status, &body);
	if (r == 0 && (status < 200 || status > 999 || body > max))
		__builtin_trap(); /* an answer the parser should have refused */
	/* Read boundaries change nothing. */
	int whole = upstream_parse_bytes(data + 2, size - 2, 0, max, &whole_status, &whole_body);
	if (whole != r || (r == 0 && (whole_status != status || whole_body != body)))
		__builtin_trap();
	/* Streamed, an answer the whole parse takes comes out the same. */
	int stream_status = 0;
	size_t stream_body = 0, pieces = 0;
	int streamed = upstream_parse_bytes_streaming(data + 2, size - 2, step, max, &stream_status,
	                                              &stream_body, &pieces);
	if (r == 0 && (streamed != 0 || stream_status != status || stream_body != body))
		__builtin_trap();
	return 0;
}
