/*
 * eventstream-frames: writes to stdout the event-stream messages that
 * lib/eventstream.c makes of the pieces its arguments name, so that other
 * decoders (the JS SDK's, botocore's) can be checked against them.
 *
 *   text:S          a PayloadPart of the bytes of S, copied
 *   move:S          the same, moved from an evbuffer of one chain per byte
 *   hex:HEX         a PayloadPart of the bytes HEX spells (binary payloads)
 *   fill:N          N bytes (byte i is i % 251), moved from an evbuffer:
 *                   over EVENTSTREAM_MAX_PAYLOAD, several events
 *   model-error:CODE:MESSAGE   a ModelStreamError (an empty CODE: none)
 *   internal-failure:MESSAGE   an InternalStreamFailure
 *
 * Exit 0, or 2 with a message for an argument it does not understand.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eventstream.h"
#include "util.h"

/* The largest fill:N, so that a typo cannot exhaust memory. */
#define FRAMES_MAX_FILL (64u << 20)

/* Appends the events of one argument; -EINVAL when it is not understood. */
static int frames_piece(struct evbuffer *out, const char *arg)
{
	const char *v;

	if ((v = str_has_prefix(arg, "text:") ? arg + 5 : NULL)) {
		eventstream_payload_part(out, NULL, v, strlen(v));
	} else if ((v = str_has_prefix(arg, "move:") ? arg + 5 : NULL)) {
		struct evbuffer *src = evbuffer_new();

		/* A reference per byte: each is a chain of its own. */
		for (const char *c = v; *c; c++)
			evbuffer_add_reference(src, c, 1, NULL, NULL);
		eventstream_payload_part(out, src, NULL, strlen(v));
		evbuffer_free(src);
	} else if ((v = str_has_prefix(arg, "hex:") ? arg + 4 : NULL)) {
		size_t n = strlen(v) / 2;
		_cleanup_free_ unsigned char *b = xmalloc(n + 1);

		if (strlen(v) % 2)
			return -EINVAL;
		for (size_t i = 0; i < n; i++) {
			int hi = hex_digit_value(v[2 * i]), lo = hex_digit_value(v[2 * i + 1]);

			if (hi < 0 || lo < 0)
				return -EINVAL;
			b[i] = (unsigned char)(hi << 4 | lo);
		}
		eventstream_payload_part(out, NULL, b, n);
	} else if ((v = str_has_prefix(arg, "fill:") ? arg + 5 : NULL)) {
		char *end;
		unsigned long long n;
		struct evbuffer *src;

		errno = 0;
		n = strtoull(v, &end, 10);
		if (errno || end == v || *end || n > FRAMES_MAX_FILL)
			return -EINVAL;
		src = evbuffer_new();
		for (unsigned long long i = 0; i < n; i++) {
			unsigned char c = (unsigned char)(i % 251);

			evbuffer_add(src, &c, 1);
		}
		eventstream_payload_part(out, src, NULL, (size_t)n);
		evbuffer_free(src);
	} else if ((v = str_has_prefix(arg, "model-error:") ? arg + 12 : NULL)) {
		const char *colon = strchr(v, ':');
		_cleanup_free_ char *code = NULL;

		if (!colon)
			return -EINVAL;
		code = xstrndup(v, (size_t)(colon - v));
		eventstream_model_stream_error(out, colon + 1, *code ? code : NULL);
	} else if ((v = str_has_prefix(arg, "internal-failure:") ? arg + 17 : NULL)) {
		eventstream_internal_stream_failure(out, v);
	} else {
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct evbuffer *out = evbuffer_new();

	for (int i = 1; i < argc; i++) {
		if (frames_piece(out, argv[i]) < 0) {
			fprintf(stderr, "eventstream-frames: not a piece: %s\n", argv[i]);
			evbuffer_free(out);
			return 2;
		}
		while (evbuffer_get_length(out) > 0)
			if (evbuffer_write(out, STDOUT_FILENO) < 0) {
				perror("eventstream-frames: write");
				evbuffer_free(out);
				return 1;
			}
	}
	evbuffer_free(out);
	return 0;
}
