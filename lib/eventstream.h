/*
 * The AWS event-stream encoding (application/vnd.amazon.eventstream), the
 * framing of InvokeEndpointWithResponseStream's answer: each message is a
 * prelude (total length and header-block length, 4 bytes each, big-endian,
 * and the prelude's CRC32), the header block, the payload, and the CRC32
 * of everything before it.  A header is its name's length (1 byte), the
 * name, a type byte (7: string), the value's length (2 bytes, big-endian)
 * and the value.
 *
 * Only what the runtime sends is encoded: events (:message-type event,
 * :event-type, :content-type) and the error events of the stream
 * (ModelStreamError, InternalStreamFailure) as SageMaker sends them.
 * Encoding appends to an evbuffer and never fails for the sizes the
 * runtime sends (a payload is at most EVENTSTREAM_MAX_PAYLOAD).
 */
#ifndef ENDPOINTD_EVENTSTREAM_H
#define ENDPOINTD_EVENTSTREAM_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/* The content type of an event-stream answer. */
#define EVENTSTREAM_CONTENT_TYPE "application/vnd.amazon.eventstream"
/* The largest payload one message carries (AWS's limit is 16 MiB for the
 * whole message); a larger piece is split over several PayloadPart events. */
#define EVENTSTREAM_MAX_PAYLOAD (1u << 20)
/* Prelude (12) + message CRC (4). */
#define EVENTSTREAM_OVERHEAD 16

/*
 * Appends one PayloadPart event carrying n bytes (0 < n <=
 * EVENTSTREAM_MAX_PAYLOAD) taken from src (moved, not copied, where the
 * evbuffer allows) or, when src is NULL, copied from p.
 */
void eventstream_payload_part(struct evbuffer *out, struct evbuffer *src, const void *p, size_t n);

/*
 * Appends the error event that ends a stream: ModelStreamError (the model
 * failed or timed out mid-stream: message and the error code SageMaker
 * gives, e.g. "ModelStreamError") or InternalStreamFailure (endpointd could
 * not go on).  message is made valid UTF-8 and bounded by the caller.
 */
void eventstream_model_stream_error(struct evbuffer *out, const char *message,
                                    const char *error_code);
void eventstream_internal_stream_failure(struct evbuffer *out, const char *message);

/* The CRC32 (IEEE, as zlib computes it) the encoding uses, for tests. */
uint32_t eventstream_crc32(uint32_t crc, const void *p, size_t n);

#endif
