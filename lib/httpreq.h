/*
 * A pure, incremental HTTP/1.x request parser: bytes in, a request head (or
 * a precise error) out.  It does no I/O and keeps no pointer into the
 * caller's buffer, so that httpd can feed it what has arrived so far and a
 * fuzzer can feed it anything.
 *
 * httpreq_parse() is given the bytes received for this request from its first
 * byte on, again and again as more arrive; it answers HTTPREQ_NEED_MORE,
 * HTTPREQ_DONE (the head is *ret_consumed bytes long) or HTTPREQ_ERROR
 * (error_status and error_reason say why; the connection must be closed).
 * The chunked decoder works the same way over the body's framing bytes.
 */
#ifndef ENDPOINTD_HTTPREQ_H
#define ENDPOINTD_HTTPREQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest request head (request line and header fields): 431 past it. */
#define HTTPREQ_MAX_HEAD (64 * 1024)
/* Most header fields in one head: 431 past it. */
#define HTTPREQ_MAX_HEADERS 100
/* Longest request-target: 414 past it. */
#define HTTPREQ_MAX_TARGET (8 * 1024)
/* Longest method token. */
#define HTTPREQ_MAX_METHOD 32
/* Longest chunk-size line, extensions included. */
#define HTTPREQ_MAX_CHUNK_LINE 1024

enum httpreq_result {
	HTTPREQ_NEED_MORE,
	HTTPREQ_DONE,
	HTTPREQ_ERROR,
	HTTPREQ_DATA, /* chunked only: chunk data follows */
};

struct httpreq_header {
	const char *name;  /* as sent */
	const char *value; /* without leading and trailing white space */
};

/* One request head; fields are valid after HTTPREQ_DONE until httpreq_clear(). */
struct httpreq {
	const char *method;
	const char *target; /* origin-form: path and query (absolute-form reduced) */
	const char *path;   /* target up to '?' */
	unsigned version;   /* 10 or 11 */
	struct httpreq_header *headers;
	size_t n_headers;
	int64_t content_length; /* -1 when there is none */
	bool chunked;
	bool keep_alive;      /* what the client asked for, by version and Connection */
	bool expect_continue; /* Expect: 100-continue */

	/* On HTTPREQ_ERROR. */
	int error_status;
	const char *error_reason; /* a static string */

	/* Private. */
	char *buf;        /* the copied head, NUL-split */
	char *pathbuf;    /* path's storage */
	size_t scanned;   /* bytes already searched for the end of the head */
	size_t skipped;   /* leading empty lines */
	bool line_seen;   /* the request line's end was found */
	bool method_seen; /* the request line's first space was found */
};

void httpreq_init(struct httpreq *r);
/* Frees what the last parse produced; r can be parsed into again. */
void httpreq_clear(struct httpreq *r);
/* Feeds the request's bytes received so far (from its first byte). */
enum httpreq_result httpreq_parse(struct httpreq *r, const char *buf, size_t len,
                                  size_t *ret_consumed);
/* The first value of a header field (case-insensitive name), or NULL. */
const char *httpreq_header(const struct httpreq *r, const char *name);
/* The query as sent (what follows the target's first '?'), or NULL when the
 * target has none. */
const char *httpreq_query(const struct httpreq *r);

/* The decoder of a chunked body's framing. */
struct httpreq_chunked {
	int state;
	uint64_t left;        /* chunk data bytes still to come */
	size_t line;          /* bytes in the current framing line */
	size_t trailer_bytes; /* trailer section so far */
	int error_status;
	const char *error_reason;
};

void httpreq_chunked_init(struct httpreq_chunked *c);
/*
 * Consumes framing bytes from buf.  HTTPREQ_DATA: c->left bytes of chunk data
 * start at buf + *ret_consumed; take some and tell httpreq_chunked_data().
 * HTTPREQ_NEED_MORE: everything was consumed.  HTTPREQ_DONE: the body ended
 * *ret_consumed bytes in.  HTTPREQ_ERROR: error_status, error_reason.
 */
enum httpreq_result httpreq_chunked_parse(struct httpreq_chunked *c, const char *buf, size_t len,
                                          size_t *ret_consumed);
/* n bytes of chunk data (n <= c->left) were taken. */
void httpreq_chunked_data(struct httpreq_chunked *c, size_t n);

#endif
