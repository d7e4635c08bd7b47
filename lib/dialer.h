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
 * errno.
 *
 * The container runs code the operator did not write, and the socket's
 * directory is visible inside it, so whatever comes through it is checked:
 *  - only the process the daemon exec'd may talk (its pid, as the Engine
 *    reports it, against SO_PEERCRED); any other connection is closed;
 *  - an answer that says 0 carries exactly one fd and nothing else, and that
 *    fd must be a connected TCP socket whose peer is 127.0.0.1 on the model
 *    port; anything else is closed, fails its request with -EPROTO and
 *    drops the dialer process (it is started again with backoff);
 *  - a passed socket shares its open file description with the container,
 *    which may clear O_NONBLOCK on it at any time: its users never rely on
 *    that flag (send/recv with MSG_DONTWAIT, see upstream.c).
 */
#ifndef ENDPOINTD_DIALER_H
#define ENDPOINTD_DIALER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct dialer;
struct dialer_request;

/* Where the dialer is mounted in containers, and its socket's directory. */
#define DIALER_CONTAINER_BIN "/.endpointd/dialer"
#define DIALER_CONTAINER_DIR "/.endpointd/run"
#define DIALER_SOCKET_NAME "sock"

/* The port model servers listen on in their container (SageMaker's contract). */
#define DIALER_MODEL_PORT 8080
#define DIALER_MODEL_PORT_STR "8080"

/* fd: a connected TCP socket to 127.0.0.1:model_port the callee owns (use it
 * with MSG_DONTWAIT: its flags are shared with the container); or -errno. */
typedef void (*dialer_done_fn)(int fd, void *userdata);
/* The dialer process went away (or broke the protocol); why: -errno. */
typedef void (*dialer_lost_fn)(struct dialer *d, int why, void *userdata);

/* Make dir/sock (afresh, mode 0666: the container's user may be anyone) for
 * the container's dialer, whose sockets must lead to 127.0.0.1:model_port.
 * Nothing is accepted before dialer_expect_peer().  0 or -errno. */
int dialer_new(struct event_base *base, const char *dir, uint16_t model_port, struct dialer **ret);
/* Accept connections from process pid (as this process's pid namespace
 * numbers it) only, from now on; a connection from another process is
 * closed, one already taken is dropped. */
void dialer_expect_peer(struct dialer *d, pid_t pid);
/* Words on why the last dialer process was dropped, or NULL. */
const char *dialer_last_error(const struct dialer *d);
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
