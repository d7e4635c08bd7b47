/*
 * Connections to a model server made inside its container.
 *
 * A container's published port leads through docker-proxy, a userland copy
 * loop that costs about as much CPU per invocation as the model server
 * itself.  So endpointd runs endpointd-dialer inside each container (Docker
 * exec; the binary and this Unix socket's directory are bind-mounted
 * read-only): it connects to 127.0.0.1:8080 in the container's own network
 * namespace and hands each connected socket to the daemon over this socket
 * (SCM_RIGHTS).  The daemon then talks to the model server over the
 * container's loopback, with no copy loop in between.
 *
 * Protocol: the daemon writes one byte per connection wanted; the dialer
 * answers each, in order, with an int32: 0 with the socket attached, or an
 * errno.  Whatever comes from the container is checked: an answer must carry
 * exactly one fd when it says 0, and that fd must be a TCP socket.
 */
#ifndef ENDPOINTD_DIALER_H
#define ENDPOINTD_DIALER_H

#include <stdbool.h>

struct event_base;
struct dialer;
struct dialer_request;

/* Where the dialer is mounted in containers, and its socket's directory. */
#define DIALER_CONTAINER_BIN "/.endpointd/dialer"
#define DIALER_CONTAINER_DIR "/.endpointd/run"
#define DIALER_SOCKET_NAME "sock"

/* fd: a connected, nonblocking TCP socket the callee owns; or -errno. */
typedef void (*dialer_done_fn)(int fd, void *userdata);
/* The dialer process went away (or broke the protocol); why: -errno. */
typedef void (*dialer_lost_fn)(struct dialer *d, int why, void *userdata);

/* Listen on dir/sock (made afresh, mode 0666: the container's user may be
 * anyone) for the container's dialer.  0 or -errno. */
int dialer_new(struct event_base *base, const char *dir, struct dialer **ret);
struct dialer *dialer_ref(struct dialer *d);
/* NULL-safe; returns NULL. */
struct dialer *dialer_unref(struct dialer *d);
/* Stop: close the sockets, remove dir/sock, end requests still waiting with
 * -ECANCELED (from the loop).  NULL-safe. */
void dialer_close(struct dialer *d);

/* Call lost, from the loop, whenever a connected dialer process goes away
 * while d is open. */
void dialer_set_lost_cb(struct dialer *d, dialer_lost_fn lost, void *userdata);

/* A dialer process is connected and answering. */
bool dialer_ready(const struct dialer *d);
/* Ask for one connection: done is called once, from the loop, unless the
 * request is cancelled first.  NULL when no dialer is connected (the caller
 * connects some other way). */
struct dialer_request *dialer_dial(struct dialer *d, dialer_done_fn done, void *userdata);
/* done will not be called; a socket that still comes is closed.  NULL-safe. */
void dialer_cancel(struct dialer_request *r);

#endif
