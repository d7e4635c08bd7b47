/*
 * The HTTP/1.1 server the API is served by: listeners (TCP, Unix sockets,
 * already-bound fds), connections with keep-alive, pipelined requests taken
 * one at a time in order, and answers whose bodies are moved, not copied.
 *
 * Everything a client can make it hold is bounded: the number of
 * connections, the request head (httpreq.h), each request's body (the
 * application says how large it may be once the head is read, before any of
 * the body is), the body bytes buffered by all connections together, and the
 * time each phase may take.
 */
#ifndef ENDPOINTD_HTTPD_H
#define ENDPOINTD_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct httpd;
struct httpd_request;
struct tls_server;

/* What the server lets a client hold; every figure in one place. */
struct httpd_limits {
	unsigned max_connections;    /* open at once; 0 = no cap */
	uint64_t max_buffered_bytes; /* request bodies held at once, all connections */
	unsigned head_timeout_ms;    /* a request head, from its first byte (or the accept) */
	unsigned body_timeout_ms;    /* a body must make progress this often */
	unsigned body_total_ms;      /* and be complete this long after its head */
	unsigned idle_timeout_ms;    /* a kept-alive connection between requests */
	unsigned write_timeout_ms;   /* an answer must make progress this often */
};

/* How long a connection closed after an error reads and drops what the
 * client still sends, so that the answer is not lost to a reset. */
#define HTTPD_LINGER_MS 2000

/*
 * A request's head has been read: return the largest body it may have.  A
 * larger Content-Length (or chunked body) is refused with 413 through the
 * error callback before the body is read.  The callback may instead answer
 * with httpd_send_reply(); the connection then closes.
 */
typedef size_t (*httpd_head_fn)(struct httpd_request *req, void *userdata);
/* The body has been read: answer now or later with httpd_send_reply(). */
typedef void (*httpd_request_fn)(struct httpd_request *req, void *userdata);
/*
 * The server refuses the request with status (400, 408, 413, 414, 431, 503,
 * …) and a message: answer with httpd_send_reply(); the connection closes
 * after it.  The method and path are NULL when the head was not read.
 */
typedef void (*httpd_error_fn)(struct httpd_request *req, int status, const char *message,
                               void *userdata);

struct httpd *httpd_new(struct event_base *base, const struct httpd_limits *limits,
                        httpd_head_fn on_head, httpd_request_fn on_request, httpd_error_fn on_error,
                        void *userdata);
/* Closes every connection; requests the application still holds are freed
 * and must not be used again.  NULL-safe; returns NULL. */
struct httpd *httpd_free(struct httpd *h);
/* New limits; connections and reservations already made keep theirs. */
void httpd_set_limits(struct httpd *h, const struct httpd_limits *limits);

/* Listen on host:port (numeric or a name); -errno. */
int httpd_listen_tcp(struct httpd *h, const char *host, uint16_t port);
/* Serve a listening socket (a Unix socket, or one systemd passed); -errno. */
int httpd_listen_fd(struct httpd *h, int fd);
/*
 * The same with TLS when tls is not NULL: the listener takes a reference on
 * tls, and each connection a handshake under the context tls holds at its
 * accept (tls_server_reload() swaps it for the connections after).
 */
int httpd_listen_tcp_tls(struct httpd *h, const char *host, uint16_t port,
                         struct tls_server *tls);
int httpd_listen_fd_tls(struct httpd *h, int fd, struct tls_server *tls);
/* Stop accepting; connections open stay until their requests are answered. */
void httpd_close_listeners(struct httpd *h);
/*
 * Hold (true) or start (false) accepting on the listeners, which stay bound:
 * connections wait in the kernel's backlog meanwhile.  A daemon holds them
 * until it can serve what comes.
 */
void httpd_hold(struct httpd *h, bool hold);

/* The last connection closed after httpd_drain(). */
typedef void (*httpd_drained_fn)(void *userdata);
/*
 * Stop for a restart without failing a call: close the listeners (a socket
 * systemd passed stays open in systemd, its backlog kept for the next
 * daemon), answer every request already begun with Connection: close, and
 * close connections that stay idle for a moment.  cb runs once from the loop
 * when no connection is left; the caller bounds how long it waits.
 */
void httpd_drain(struct httpd *h, httpd_drained_fn cb, void *userdata);

/* Connections open now, and body bytes reserved now. */
size_t httpd_connections(const struct httpd *h);
uint64_t httpd_buffered_bytes(const struct httpd *h);

/* The request line; NULL in the error callback when the head was not read. */
const char *httpd_request_method(const struct httpd_request *req);
/* The path (without query; absolute-form reduced), valid UTF-8. */
const char *httpd_request_path(const struct httpd_request *req);
/* A header's first value (case-insensitive name), valid UTF-8; or NULL. */
const char *httpd_request_header(const struct httpd_request *req, const char *name);
/*
 * What a signature covers, as the client sent it: the path (percent-encoded,
 * not repaired to UTF-8), the query after '?' (NULL when there is none), and
 * every header line in order, its name as sent and its value without the
 * white space around it (not repaired either).  NULL before the head is read.
 */
const char *httpd_request_raw_path(const struct httpd_request *req);
const char *httpd_request_raw_query(const struct httpd_request *req);
size_t httpd_request_header_count(const struct httpd_request *req);
/* Header line i (from 0, below httpd_request_header_count()). */
void httpd_request_header_at(const struct httpd_request *req, size_t i, const char **ret_name,
                             const char **ret_value);
/* The body read so far (all of it in the request callback). */
struct evbuffer *httpd_request_body(struct httpd_request *req);
/* Content-Length as sent, or -1 (none, or chunked). */
int64_t httpd_request_content_length(const struct httpd_request *req);

/* Add a header to the answer (CR, LF and NUL in it become spaces). */
void httpd_add_header(struct httpd_request *req, const char *name, const char *value);
/*
 * Answer and free req.  body (may be NULL) is moved into the connection's
 * output without copying and left empty.  Date, Content-Length and, when the
 * connection will close, Connection: close are added.  When the client has
 * gone, this only frees req.
 */
void httpd_send_reply(struct httpd_request *req, int status, struct evbuffer *body);
/*
 * Streaming answers, whose length is not known when they begin (chunked
 * for HTTP/1.1 clients, until the close for HTTP/1.0 ones).  What the
 * connection holds unwritten is bounded by the writer: it writes while
 * httpd_stream_write() says so and waits for HTTPD_STREAM_DRAINED after.
 * Each stream reserves HTTPD_STREAM_RESERVE bytes of max_buffered_bytes
 * for its life, as a request body does.
 */
#define HTTPD_STREAM_HIGH (128 * 1024) /* write no more once this much waits */
#define HTTPD_STREAM_LOW (32 * 1024)   /* HTTPD_STREAM_DRAINED below this */
/* The most one write may add (with its framing) to what waits. */
#define HTTPD_STREAM_MAX_WRITE (128 * 1024)
#define HTTPD_STREAM_RESERVE (HTTPD_STREAM_HIGH + HTTPD_STREAM_MAX_WRITE)

enum httpd_stream_event {
	HTTPD_STREAM_DRAINED, /* after a write said wait: the client read enough */
	HTTPD_STREAM_GONE,    /* the client closed, or read nothing for write_timeout */
};
/* What happened to a streaming answer, from the loop.  After
 * HTTPD_STREAM_GONE the application ends it with httpd_stream_end()
 * (then, or later), which only frees req. */
typedef void (*httpd_stream_fn)(struct httpd_request *req, enum httpd_stream_event ev,
                                void *userdata);
/*
 * Begin a streaming answer to req (a request handed to the application):
 * the status line and the headers added so far go out now.  0; -ENOBUFS
 * when the body budget has no room for the stream (nothing was sent: answer
 * with httpd_send_reply()); -ENOTCONN when the client has gone.
 */
int httpd_stream_begin(struct httpd_request *req, int status, httpd_stream_fn cb,
                       void *userdata);
/* Send data (moved, left empty; at most HTTPD_STREAM_MAX_WRITE bytes) as
 * the next piece; false when the writer must wait for HTTPD_STREAM_DRAINED
 * before it writes again. */
bool httpd_stream_write(struct httpd_request *req, struct evbuffer *data);
/* End the answer and free req; the connection goes on to the next request
 * (or closes) once all of it is written. */
void httpd_stream_end(struct httpd_request *req);

/* The reason phrase for status. */
const char *httpd_reason(int status);

#endif
