/*
 * The HTTP API: httpd listeners and the routes behind them.  POST / with
 * X-Amz-Target: SageMaker.<Op> is the control plane (AWS JSON 1.1); every
 * answer carries x-amzn-RequestId.  Handlers run on the event loop and never
 * wait: CreateEndpoint answers as soon as the endpoint is registered.
 */
#ifndef ENDPOINTD_API_H
#define ENDPOINTD_API_H

#include <jansson.h>

#include "awsproto.h"
#include "config.h"

struct event_base;
struct endpoint_manager;
struct journal;
struct proxy;
struct api;

/* Largest control-plane request body. */
#define API_MAX_CONTROL_BODY (1024 * 1024)
/* Largest body of any other request (its body is not read by anyone). */
#define API_MAX_OTHER_BODY (64 * 1024)

/* journal may be NULL; with one, a call that changes state answers only once
 * its records are on disk. */
struct api *api_new(struct event_base *base, struct endpoint_manager *m, struct journal *journal,
		    struct proxy *proxy);
struct catalog;
/* The models and endpoint configs created through the API (borrowed): the
 * Create and Delete operations on them need one. */
void api_set_catalog(struct api *a, struct catalog *cat);
/* Stop accepting connections (shutdown); requests in progress still finish. */
void api_close_listeners(struct api *a);
/* Hold the listeners bound but not accepting (true), or start serving. */
void api_hold(struct api *a, bool hold);
/* Stop for a restart: see httpd_drain(). */
void api_drain(struct api *a, void (*cb)(void *userdata), void *userdata);
/* Client connections open now. */
size_t api_connections(const struct api *a);
/* Drops requests still waiting for the journal without answering them. */
struct api *api_free(struct api *a);
/* Restores tags set through the API on a model or endpoint config from the
 * journal record under key "tags/<arn>".  -EINVAL on a malformed record. */
int api_restore_tags(struct api *a, const char *key, json_t *value);
struct tls_server;
/* Bind one listen address, with TLS from tls when it is not NULL (the
 * listener takes a reference); -errno with a message in *ret_error. */
int api_listen(struct api *a, const struct config_listen *l, struct tls_server *tls,
	       char **ret_error);
/* Serve an already-bound listening socket (socket activation). */
int api_listen_fd(struct api *a, int fd);
/* The same with TLS from tls when it is not NULL. */
int api_listen_fd_tls(struct api *a, int fd, struct tls_server *tls);
/* Whether the listening socket fd is bound to l's address (host:port, the
 * host resolved as httpd_listen_tcp() does; or l's Unix socket path). */
bool api_listen_matches_fd(const struct config_listen *l, int fd);

/*
 * Runs one control-plane operation on a parsed body, as the HTTP route does.
 * Returns the HTTP status; *ret_body is the JSON to send and *ret_code the
 * error code for x-amzn-ErrorType (NULL on success).
 */
int api_call(struct api *a, const char *operation, json_t *input, char **ret_body,
	     const char **ret_code);

/* The journal key prefix of tags set through the API on models and configs. */
#define API_TAGS_KEY_PREFIX "tags/"

#endif
