/*
 * TLS for listeners: a certificate chain and its key loaded into an OpenSSL
 * server context (TLS 1.2 and later, the server's cipher order, no
 * compression, no renegotiation), held per listener so that a reload can
 * swap in a renewed certificate.  A connection's SSL takes a reference on
 * the context it was made from, so connections made before a swap go on
 * under the old certificate while new handshakes get the new one.
 */
#ifndef ENDPOINTD_TLS_H
#define ENDPOINTD_TLS_H

struct ssl_st;
struct ssl_ctx_st;

/* One listener's certificate and key; owned by whoever made it, with a
 * reference of each listener serving it. */
struct tls_server;

/*
 * Loads certificate (PEM: the server's certificate, then the chain) and key
 * (PEM) into a new server context.  Returns 0, or -errno / -EINVAL with
 * *ret_error naming the file and OpenSSL's reason; *ret_ctx is untouched on
 * failure.
 */
int tls_context_load(const char *certificate, const char *key, struct ssl_ctx_st **ret_ctx,
                     char **ret_error);

/* A holder serving certificate and key; same returns as tls_context_load(). */
int tls_server_new(const char *certificate, const char *key, struct tls_server **ret,
                   char **ret_error);
struct tls_server *tls_server_ref(struct tls_server *t);
/* Drops a reference; NULL-safe; returns NULL. */
struct tls_server *tls_server_unref(struct tls_server *t);
/*
 * Loads certificate and key again (a renewed pair, or other files) and
 * serves them from the next handshake on.  On failure the running pair
 * stays, and -errno / -EINVAL comes back with *ret_error set.
 */
int tls_server_reload(struct tls_server *t, const char *certificate, const char *key,
                      char **ret_error);
/* The files now served. */
const char *tls_server_certificate(const struct tls_server *t);
const char *tls_server_key(const struct tls_server *t);
/* A new server-side SSL for one connection, under the current context; NULL
 * when OpenSSL cannot make one (out of memory). */
struct ssl_st *tls_server_new_ssl(struct tls_server *t);
/* The current context (borrowed: valid until the next reload). */
struct ssl_ctx_st *tls_server_context(const struct tls_server *t);

/* OpenSSL's reasons queued on this thread, "; "-separated, and the queue
 * emptied; "unknown error" when there are none. */
char *tls_error_string(void);

#endif
