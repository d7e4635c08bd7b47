/* The event-stream encoder: every frame is parsed back here byte by byte,
 * its CRCs checked against a bitwise CRC32 written in the test, so that
 * the encoder is not checked against the zlib call it is built on. */
#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eventstream.h"
#include "util.h"

/* One decoded header (all the encoder writes are strings). */
struct header {
	char name[256];
	char value[256];
};

/* One decoded message. */
struct frame {
	uint32_t total_len;
	uint32_t headers_len;
	struct header headers[8];
	size_t n_headers;
	const unsigned char *payload;
	size_t payload_len;
};

/* CRC32 (IEEE 802.3, reflected, polynomial 0xEDB88320), one bit at a time. */
static uint32_t reference_crc32(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint32_t crc = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		crc ^= b[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	}
	return crc ^ 0xffffffffu;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Decodes the message at p (at most n bytes), checking both lengths and
 * both CRCs with the reference CRC; returns the message's length.
 */
static size_t decode(const unsigned char *p, size_t n, struct frame *f)
{
	size_t pos = 12;

	memset(f, 0, sizeof(*f));
	cr_assert_geq(n, 16, "a message is at least 16 bytes, %zu left", n);
	f->total_len = be32(p);
	f->headers_len = be32(p + 4);
	cr_assert_leq(f->total_len, n, "the message says %u bytes, %zu left", f->total_len, n);
	cr_assert_leq(16 + f->headers_len, f->total_len);
	cr_assert_eq(be32(p + 8), reference_crc32(p, 8), "prelude CRC");
	cr_assert_eq(be32(p + f->total_len - 4), reference_crc32(p, f->total_len - 4),
	             "message CRC");
	while (pos < 12 + f->headers_len) {
		struct header *h = &f->headers[f->n_headers++];
		size_t nl = p[pos++], vl;

		cr_assert_leq(f->n_headers, ELEMENTSOF(f->headers));
		memcpy(h->name, p + pos, nl);
		pos += nl;
		cr_assert_eq(p[pos++], 7, "header %s is a string", h->name);
		vl = (size_t)p[pos] << 8 | p[pos + 1];
		pos += 2;
		cr_assert_lt(vl, sizeof(h->value));
		memcpy(h->value, p + pos, vl);
		pos += vl;
	}
	cr_assert_eq(pos, 12 + f->headers_len, "the header block ends where the prelude says");
	f->payload = p + pos;
	f->payload_len = f->total_len - 16 - f->headers_len;
	return f->total_len;
}

/* The value of header name in f, or NULL. */
static const char *header(const struct frame *f, const char *name)
{
	for (size_t i = 0; i < f->n_headers; i++)
		if (strcmp(f->headers[i].name, name) == 0)
			return f->headers[i].value;
	return NULL;
}

/* The whole of b, contiguous, for decoding. */
static const unsigned char *contents(struct evbuffer *b)
{
	return evbuffer_pullup(b, -1);
}

/* n bytes of a pattern that does not repeat at any power of two. */
static unsigned char *pattern(size_t n)
{
	unsigned char *p = xmalloc(n ? n : 1);

	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i % 251);
	return p;
}

Test(eventstream, crc32_is_the_ieee_crc_of_the_check_string)
{
	cr_assert_eq(eventstream_crc32(0, "123456789", 9), 0xcbf43926u);
	cr_assert_eq(reference_crc32("123456789", 9), 0xcbf43926u);
}

Test(eventstream, crc32_continues_from_a_previous_value)
{
	uint32_t crc = eventstream_crc32(0, "1234", 4);

	cr_assert_eq(eventstream_crc32(crc, "56789", 5), 0xcbf43926u);
}

Test(eventstream, payload_part_lengths_are_prelude_headers_payload_and_crc)
{
	struct evbuffer *out = evbuffer_new();
	struct frame f;

	eventstream_payload_part(out, NULL, "token 1 ", 8);
	cr_assert_eq(decode(contents(out), evbuffer_get_length(out), &f), evbuffer_get_length(out));
	cr_assert_eq(f.total_len, EVENTSTREAM_OVERHEAD + f.headers_len + 8);
	cr_assert_eq(f.payload_len, 8);
	cr_assert_eq(memcmp(f.payload, "token 1 ", 8), 0);
	evbuffer_free(out);
}

Test(eventstream, payload_part_headers_are_sagemakers_three_strings_in_order)
{
	struct evbuffer *out = evbuffer_new();
	struct frame f;

	eventstream_payload_part(out, NULL, "x", 1);
	decode(contents(out), evbuffer_get_length(out), &f);
	cr_assert_eq(f.n_headers, 3);
	cr_assert_str_eq(f.headers[0].name, ":event-type");
	cr_assert_str_eq(f.headers[0].value, "PayloadPart");
	cr_assert_str_eq(f.headers[1].name, ":content-type");
	cr_assert_str_eq(f.headers[1].value, "application/octet-stream");
	cr_assert_str_eq(f.headers[2].name, ":message-type");
	cr_assert_str_eq(f.headers[2].value, "event");
	evbuffer_free(out);
}

Test(eventstream, payload_part_header_block_is_byte_exact)
{
	static const char expected[] = "\x0b:event-type\x07\x00\x0bPayloadPart"
	                               "\x0d:content-type\x07\x00\x18"
	                               "application/octet-stream"
	                               "\x0d:message-type\x07\x00\x05"
	                               "event";
	struct evbuffer *out = evbuffer_new();
	const unsigned char *p;

	eventstream_payload_part(out, NULL, "x", 1);
	p = contents(out);
	cr_assert_eq(be32(p + 4), sizeof(expected) - 1);
	cr_assert_eq(memcmp(p + 12, expected, sizeof(expected) - 1), 0);
	evbuffer_free(out);
}

Test(eventstream, payload_part_carries_binary_bytes_unchanged)
{
	static const unsigned char bin[] = {0, 0xff, 0x80, '\n', 0, 0xc3};
	struct evbuffer *out = evbuffer_new();
	struct frame f;

	eventstream_payload_part(out, NULL, bin, sizeof(bin));
	decode(contents(out), evbuffer_get_length(out), &f);
	cr_assert_eq(f.payload_len, sizeof(bin));
	cr_assert_eq(memcmp(f.payload, bin, sizeof(bin)), 0);
	evbuffer_free(out);
}

Test(eventstream, payload_part_of_zero_bytes_appends_nothing)
{
	struct evbuffer *out = evbuffer_new();

	eventstream_payload_part(out, NULL, "", 0);
	cr_assert_eq(evbuffer_get_length(out), 0);
	evbuffer_free(out);
}

Test(eventstream, payload_of_exactly_max_payload_is_one_event)
{
	struct evbuffer *out = evbuffer_new();
	_cleanup_free_ unsigned char *p = pattern(EVENTSTREAM_MAX_PAYLOAD);
	struct frame f;

	eventstream_payload_part(out, NULL, p, EVENTSTREAM_MAX_PAYLOAD);
	cr_assert_eq(decode(contents(out), evbuffer_get_length(out), &f), evbuffer_get_length(out));
	cr_assert_eq(f.payload_len, EVENTSTREAM_MAX_PAYLOAD);
	cr_assert_eq(memcmp(f.payload, p, EVENTSTREAM_MAX_PAYLOAD), 0);
	evbuffer_free(out);
}

Test(eventstream, payload_over_max_payload_is_split_into_events_in_order)
{
	size_t n = 2 * EVENTSTREAM_MAX_PAYLOAD + 7, off = 0, got = 0, events = 0;
	struct evbuffer *out = evbuffer_new();
	_cleanup_free_ unsigned char *p = pattern(n);
	const unsigned char *w;
	size_t len;

	eventstream_payload_part(out, NULL, p, n);
	w = contents(out);
	len = evbuffer_get_length(out);
	while (off < len) {
		struct frame f;

		off += decode(w + off, len - off, &f);
		cr_assert_str_eq(header(&f, ":event-type"), "PayloadPart");
		cr_assert_leq(f.payload_len, EVENTSTREAM_MAX_PAYLOAD);
		cr_assert_eq(memcmp(f.payload, p + got, f.payload_len), 0, "event %zu", events);
		got += f.payload_len;
		events++;
	}
	cr_assert_eq(events, 3);
	cr_assert_eq(got, n);
	evbuffer_free(out);
}

Test(eventstream, moving_from_an_evbuffer_takes_n_bytes_and_leaves_the_rest)
{
	struct evbuffer *out = evbuffer_new(), *src = evbuffer_new();
	struct frame f;

	evbuffer_add(src, "token 1 token 2 ", 16);
	eventstream_payload_part(out, src, NULL, 8);
	decode(contents(out), evbuffer_get_length(out), &f);
	cr_assert_eq(f.payload_len, 8);
	cr_assert_eq(memcmp(f.payload, "token 1 ", 8), 0);
	cr_assert_eq(evbuffer_get_length(src), 8);
	cr_assert_eq(memcmp(contents(src), "token 2 ", 8), 0);
	evbuffer_free(src);
	evbuffer_free(out);
}

Test(eventstream, moving_from_an_evbuffer_of_many_chains_crcs_every_byte)
{
	struct evbuffer *out = evbuffer_new(), *src = evbuffer_new();
	_cleanup_free_ unsigned char *p = pattern(100 * 1000);
	struct frame f;

	/* Reference-added chains: one chain each, more than the encoder peeks at once. */
	for (size_t i = 0; i < 100; i++)
		evbuffer_add_reference(src, p + i * 1000, 1000, NULL, NULL);
	eventstream_payload_part(out, src, NULL, 100 * 1000);
	cr_assert_eq(evbuffer_get_length(src), 0);
	cr_assert_eq(decode(contents(out), evbuffer_get_length(out), &f), evbuffer_get_length(out));
	cr_assert_eq(f.payload_len, 100 * 1000);
	cr_assert_eq(memcmp(f.payload, p, 100 * 1000), 0);
	evbuffer_free(src);
	evbuffer_free(out);
}

Test(eventstream, moving_more_than_max_payload_from_an_evbuffer_splits_it)
{
	size_t n = EVENTSTREAM_MAX_PAYLOAD + 1, off;
	struct evbuffer *out = evbuffer_new(), *src = evbuffer_new();
	_cleanup_free_ unsigned char *p = pattern(n);
	const unsigned char *w;
	struct frame f;

	evbuffer_add(src, p, n);
	eventstream_payload_part(out, src, NULL, n);
	w = contents(out);
	off = decode(w, evbuffer_get_length(out), &f);
	cr_assert_eq(f.payload_len, EVENTSTREAM_MAX_PAYLOAD);
	cr_assert_eq(decode(w + off, evbuffer_get_length(out) - off, &f),
	             evbuffer_get_length(out) - off);
	cr_assert_eq(f.payload_len, 1);
	cr_assert_eq(f.payload[0], p[n - 1]);
	evbuffer_free(src);
	evbuffer_free(out);
}

Test(eventstream, moving_takes_no_more_than_the_evbuffer_holds)
{
	struct evbuffer *out = evbuffer_new(), *src = evbuffer_new();
	struct frame f;

	evbuffer_add(src, "abc", 3);
	eventstream_payload_part(out, src, NULL, 10);
	cr_assert_eq(decode(contents(out), evbuffer_get_length(out), &f), evbuffer_get_length(out));
	cr_assert_eq(f.payload_len, 3);
	evbuffer_free(src);
	evbuffer_free(out);
}

Test(eventstream, model_stream_error_is_an_exception_with_message_and_error_code_in_json)
{
	struct evbuffer *out = evbuffer_new();
	json_error_t err;
	struct frame f;
	json_t *o;

	eventstream_model_stream_error(out, "Model exited mid-stream", "StreamBroken");
	cr_assert_eq(decode(contents(out), evbuffer_get_length(out), &f), evbuffer_get_length(out));
	cr_assert_eq(f.n_headers, 3);
	cr_assert_str_eq(header(&f, ":message-type"), "exception");
	cr_assert_str_eq(header(&f, ":exception-type"), "ModelStreamError");
	cr_assert_str_eq(header(&f, ":content-type"), "application/json");
	o = json_loadb((const char *)f.payload, f.payload_len, 0, &err);
	cr_assert_not_null(o, "%s", err.text);
	cr_assert_str_eq(json_string_value(json_object_get(o, "Message")),
	                 "Model exited mid-stream");
	cr_assert_str_eq(json_string_value(json_object_get(o, "ErrorCode")), "StreamBroken");
	cr_assert_eq(json_object_size(o), 2);
	json_decref(o);
	evbuffer_free(out);
}

Test(eventstream, internal_stream_failure_is_an_exception_with_a_message_only)
{
	struct evbuffer *out = evbuffer_new();
	struct frame f;
	json_t *o;

	eventstream_internal_stream_failure(out, "endpointd could not go on");
	decode(contents(out), evbuffer_get_length(out), &f);
	cr_assert_str_eq(header(&f, ":message-type"), "exception");
	cr_assert_str_eq(header(&f, ":exception-type"), "InternalStreamFailure");
	o = json_loadb((const char *)f.payload, f.payload_len, 0, NULL);
	cr_assert_not_null(o);
	cr_assert_str_eq(json_string_value(json_object_get(o, "Message")),
	                 "endpointd could not go on");
	cr_assert_null(json_object_get(o, "ErrorCode"));
	json_decref(o);
	evbuffer_free(out);
}

Test(eventstream, error_text_with_quotes_and_controls_is_escaped_into_valid_json)
{
	const char *msg = "said \"no\"\\\n\t\x01 end";
	struct evbuffer *out = evbuffer_new();
	struct frame f;
	json_t *o;

	eventstream_model_stream_error(out, msg, "ModelStreamError");
	decode(contents(out), evbuffer_get_length(out), &f);
	o = json_loadb((const char *)f.payload, f.payload_len, 0, NULL);
	cr_assert_not_null(o);
	cr_assert_str_eq(json_string_value(json_object_get(o, "Message")), msg);
	json_decref(o);
	evbuffer_free(out);
}

Test(eventstream, error_text_that_is_not_utf8_still_gives_valid_json)
{
	struct evbuffer *out = evbuffer_new();
	struct frame f;
	json_t *o;

	eventstream_model_stream_error(out, "bad \xff\xc3 bytes", "Code\xfe");
	decode(contents(out), evbuffer_get_length(out), &f);
	o = json_loadb((const char *)f.payload, f.payload_len, 0, NULL);
	cr_assert_not_null(o);
	cr_assert_str_eq(json_string_value(json_object_get(o, "Message")),
	                 "bad \xef\xbf\xbd\xef\xbf\xbd bytes");
	cr_assert_str_eq(json_string_value(json_object_get(o, "ErrorCode")), "Code\xef\xbf\xbd");
	json_decref(o);
	evbuffer_free(out);
}

Test(eventstream, model_stream_error_without_a_code_has_no_error_code)
{
	struct evbuffer *out = evbuffer_new();
	struct frame f;
	json_t *o;

	eventstream_model_stream_error(out, NULL, NULL);
	decode(contents(out), evbuffer_get_length(out), &f);
	o = json_loadb((const char *)f.payload, f.payload_len, 0, NULL);
	cr_assert_not_null(o);
	cr_assert_str_eq(json_string_value(json_object_get(o, "Message")), "");
	cr_assert_null(json_object_get(o, "ErrorCode"));
	json_decref(o);
	evbuffer_free(out);
}

Test(eventstream, events_append_after_what_the_buffer_holds)
{
	struct evbuffer *out = evbuffer_new();
	const unsigned char *w;
	struct frame f;
	size_t off, len;

	eventstream_payload_part(out, NULL, "a", 1);
	eventstream_payload_part(out, NULL, "bc", 2);
	eventstream_model_stream_error(out, "m", "ModelStreamError");
	w = contents(out);
	len = evbuffer_get_length(out);
	off = decode(w, len, &f);
	cr_assert_eq(f.payload_len, 1);
	off += decode(w + off, len - off, &f);
	cr_assert_eq(f.payload_len, 2);
	off += decode(w + off, len - off, &f);
	cr_assert_str_eq(header(&f, ":exception-type"), "ModelStreamError");
	cr_assert_eq(off, len);
	evbuffer_free(out);
}
