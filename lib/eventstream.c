/*
 * The AWS event-stream encoder: the frames of InvokeEndpointWithResponseStream.
 *
 * DESIGN
 *
 * A message on the wire, every integer big-endian:
 *
 *   total length (4) | header-block length (4) | CRC32 of the 8 bytes before (4)
 *   header block | payload | CRC32 of everything before it (4)
 *
 * A header is: name length (1), name, type (1: 7 = string), value length (2),
 * value.  The message CRC runs on from the prelude's bytes (prelude CRC
 * included) over the header block and the payload, so a payload is read
 * once, in place, before it is moved: a piece from the container is never
 * copied into a contiguous buffer.
 *
 * What SageMaker's runtime sends, and what the SDKs decode:
 *
 *   PayloadPart:            :event-type PayloadPart, :content-type
 *                           application/octet-stream, :message-type event;
 *                           the payload is the piece's bytes (PartBlob, the
 *                           event's payload member).
 *   ModelStreamError,       :exception-type <name>, :content-type
 *   InternalStreamFailure:  application/json, :message-type exception; the
 *                           payload is the error structure in JSON:
 *                           {"Message": "...", "ErrorCode": "..."} (the
 *                           second only for ModelStreamError).  The JS SDK
 *                           throws the modelled exception of that name with
 *                           its Message; botocore raises EventStreamError.
 *
 * A payload longer than EVENTSTREAM_MAX_PAYLOAD becomes several PayloadPart
 * events in order; an empty one becomes none (a PayloadPart without bytes
 * would tell the client nothing).  The error text is made
 * valid UTF-8 here as well, so that building the JSON can never fail.
 */
#include "eventstream.h"

#include <event2/buffer.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "utf8.h"
#include "util.h"

/* The three headers of one message; names and values are short constants. */
struct eventstream_headers {
	unsigned char bytes[256];
	size_t len;
};

/* The CRC32 (IEEE, as zlib computes it) the encoding uses, for tests. */
uint32_t eventstream_crc32(uint32_t crc, const void *p, size_t n)
{
	return (uint32_t)crc32_z(crc, (const Bytef *)p, n);
}

/* Stores v big-endian at p, the byte order of every integer on the wire. */
static void eventstream_put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* Appends one string header; the callers' names and values always fit. */
static void eventstream_header_add(struct eventstream_headers *h, const char *name,
                                   const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);

	if (nl > 255 || vl > 0x7fff || h->len + 1 + nl + 3 + vl > sizeof(h->bytes))
		abort(); /* A broken invariant: only constants come here. */
	h->bytes[h->len++] = (unsigned char)nl;
	memcpy(h->bytes + h->len, name, nl);
	h->len += nl;
	h->bytes[h->len++] = 7;
	h->bytes[h->len++] = (unsigned char)(vl >> 8);
	h->bytes[h->len++] = (unsigned char)vl;
	memcpy(h->bytes + h->len, value, vl);
	h->len += vl;
}

/*
 * Appends the prelude and the header block of a message whose payload is n
 * bytes; returns the CRC so far, for the payload to be added to.
 */
static uint32_t eventstream_begin(struct evbuffer *out, const struct eventstream_headers *h,
                                  size_t n)
{
	unsigned char prelude[12];
	uint32_t crc;

	eventstream_put_be32(prelude, (uint32_t)(EVENTSTREAM_OVERHEAD + h->len + n));
	eventstream_put_be32(prelude + 4, (uint32_t)h->len);
	eventstream_put_be32(prelude + 8, eventstream_crc32(0, prelude, 8));
	crc = eventstream_crc32(0, prelude, sizeof(prelude));
	crc = eventstream_crc32(crc, h->bytes, h->len);
	evbuffer_add(out, prelude, sizeof(prelude));
	evbuffer_add(out, h->bytes, h->len);
	return crc;
}

/* Appends the message CRC that closes a message. */
static void eventstream_end(struct evbuffer *out, uint32_t crc)
{
	unsigned char tail[4];

	eventstream_put_be32(tail, crc);
	evbuffer_add(out, tail, sizeof(tail));
}

/* The CRC of the first n bytes of src, read in place, continuing crc. */
static uint32_t eventstream_crc32_evbuffer(uint32_t crc, struct evbuffer *src, size_t n)
{
	struct evbuffer_iovec vec[16];
	struct evbuffer_ptr pos;
	size_t done = 0;

	evbuffer_ptr_set(src, &pos, 0, EVBUFFER_PTR_SET);
	while (done < n) {
		int k = evbuffer_peek(src, (ev_ssize_t)(n - done), &pos, vec, 16);
		size_t round = 0;

		if (k <= 0)
			break;
		for (int i = 0; i < k && i < 16 && done + round < n; i++) {
			size_t len = vec[i].iov_len;

			if (len > n - done - round)
				len = n - done - round;
			crc = eventstream_crc32(crc, vec[i].iov_base, len);
			round += len;
		}
		done += round;
		/* On from where this round stopped, not from the start again. */
		if (done < n && evbuffer_ptr_set(src, &pos, round, EVBUFFER_PTR_ADD) < 0)
			break;
	}
	return crc;
}

/* The headers of a PayloadPart event. */
static void eventstream_payload_headers(struct eventstream_headers *h)
{
	h->len = 0;
	eventstream_header_add(h, ":event-type", "PayloadPart");
	eventstream_header_add(h, ":content-type", "application/octet-stream");
	eventstream_header_add(h, ":message-type", "event");
}

/*
 * Appends PayloadPart events for n bytes moved from src or copied from p; a
 * piece over EVENTSTREAM_MAX_PAYLOAD is split, one event per slice.  From src,
 * no more than it holds is taken.
 */
void eventstream_payload_part(struct evbuffer *out, struct evbuffer *src, const void *p, size_t n)
{
	struct eventstream_headers h;
	const unsigned char *bytes = p;

	if (src && n > evbuffer_get_length(src))
		n = evbuffer_get_length(src);
	eventstream_payload_headers(&h);
	while (n > 0) {
		size_t slice = n > EVENTSTREAM_MAX_PAYLOAD ? EVENTSTREAM_MAX_PAYLOAD : n;
		uint32_t crc = eventstream_begin(out, &h, slice);

		if (src) {
			crc = eventstream_crc32_evbuffer(crc, src, slice);
			evbuffer_remove_buffer(src, out, slice);
		} else {
			crc = eventstream_crc32(crc, bytes, slice);
			evbuffer_add(out, bytes, slice);
			bytes += slice;
		}
		eventstream_end(out, crc);
		n -= slice;
	}
}

/*
 * Appends an exception event of the given type whose payload is the error
 * structure {"Message": message[, "ErrorCode": error_code]} in JSON.
 */
static void eventstream_exception(struct evbuffer *out, const char *type, const char *message,
                                  const char *error_code)
{
	_cleanup_free_ char *msg = utf8_sanitize_str(message ? message : "");
	_cleanup_free_ char *code = utf8_sanitize_str(error_code);
	struct eventstream_headers h = {.len = 0};
	json_t *o = json_object();
	char *body;
	size_t n;
	uint32_t crc;

	json_object_set_new(o, "Message", json_string(msg));
	if (code)
		json_object_set_new(o, "ErrorCode", json_string(code));
	body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!body)
		body = xstrdup("{}"); /* Only on out-of-memory inside jansson. */
	n = strlen(body);

	eventstream_header_add(&h, ":exception-type", type);
	eventstream_header_add(&h, ":content-type", "application/json");
	eventstream_header_add(&h, ":message-type", "exception");
	crc = eventstream_begin(out, &h, n);
	crc = eventstream_crc32(crc, body, n);
	evbuffer_add(out, body, n);
	eventstream_end(out, crc);
	free(body);
}

/* Appends ModelStreamError: the model failed or timed out mid-stream. */
void eventstream_model_stream_error(struct evbuffer *out, const char *message,
                                    const char *error_code)
{
	eventstream_exception(out, "ModelStreamError", message, error_code);
}

/* Appends InternalStreamFailure: endpointd itself could not go on. */
void eventstream_internal_stream_failure(struct evbuffer *out, const char *message)
{
	eventstream_exception(out, "InternalStreamFailure", message, NULL);
}
