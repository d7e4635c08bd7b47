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
 * Protocol: the dialer first sends its hello, the DIALER_TOKEN_LEN hex
 * digits of the token it was started with; then the daemon writes one byte
 * per connection wanted, and the dialer answers each, in order, with an
 * int32: 0 with the socket attached, or an errno.
 *
 * The container runs code the operator did not write, and the socket's
 * directory is visible inside it, so whatever comes through it is checked:
 *  - only the process the daemon exec'd may talk.  Each dialer start gets a
 *    token of its own (16 random bytes), handed to the exec in its
 *    environment (DIALER_TOKEN_ENV): not in argv, which every process of the
 *    container may read in /proc/<pid>/cmdline.  The dialer takes it out of
 *    its environment at once.  A connection is taken only when its hello
 *    carries the token (compared in constant time) and, when SO_PEERCRED
 *    names a pid, that pid is the exec's as the Engine reports it
 *    (dialer_peer_acceptable).  The pid is 0 when the dialer lives in a pid
 *    namespace this process cannot see (endpointd itself in a container, or
 *    in a booted systemd-nspawn, while the Engine runs on the host): then
 *    the token alone decides.  A connection from another pid is closed at
 *    once; one whose hello is wrong, short or late (DIALER_HELLO_TIMEOUT_MS)
 *    is closed then; none of them disturbs the connection already taken,
 *    and at most DIALER_MAX_PENDING wait for their hello at a time (a newer
 *    one closes the oldest);
 *  - the token does not stop a process of the container running as the
 *    dialer's user (or as root) from reading it in /proc/<pid>/environ in
 *    the moment before the dialer wipes it, nor from ptracing the dialer;
 *    where the pid is 0, such a process can then connect in the dialer's
 *    place.  All it gains is what the dialer itself can do: answer requests
 *    for connections (which the container can fail through its own model
 *    server anyway) and hand the daemon sockets.  The checks on those
 *    sockets, below, are the real guard;
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

/* The dialer's token: its environment variable, and its length in hex
 * digits, which is also the length of the hello. */
#define DIALER_TOKEN_ENV "ENDPOINTD_DIALER_TOKEN"
#define DIALER_TOKEN_LEN 32
/* How long a connection has to send its hello, and how many may be waiting
 * to, before the oldest is closed. */
#define DIALER_HELLO_TIMEOUT_MS 1000
#define DIALER_MAX_PENDING 8

/* The port model servers listen on in their container (SageMaker's contract). */
#define DIALER_MODEL_PORT 8080
#define DIALER_MODEL_PORT_STR "8080"

/* fd: a connected TCP socket to 127.0.0.1:model_port the callee owns (use it
 * with MSG_DONTWAIT: its flags are shared with the container); or -errno. */
typedef void (*dialer_done_fn)(int fd, void *userdata);
/* The dialer process went away (or broke the protocol); why: -errno. */
typedef void (*dialer_lost_fn)(struct dialer *d, int why, void *userdata);
/* A dialer process is connected: dialer_dial() gets sockets from it now. */
typedef void (*dialer_ready_fn)(struct dialer *d, void *userdata);

/* Make dir/sock (afresh, mode 0666: the container's user may be anyone) for
 * the container's dialer, whose sockets must lead to 127.0.0.1:model_port,
 * and a fresh token for it: one dialer per dialer process started.
 * Nothing is accepted before dialer_expect_peer().  0 or -errno (-EAGAIN
 * too, when the kernel has no randomness to give yet). */
int dialer_new(struct event_base *base, const char *dir, uint16_t model_port, struct dialer **ret);
/* The token (DIALER_TOKEN_LEN hex digits) to start the dialer process with,
 * in its environment as DIALER_TOKEN_ENV. */
const char *dialer_token(const struct dialer *d);
/* Accept connections from process pid only, from now on: pid as the Engine
 * numbers it, which SO_PEERCRED matches where this process shares its pid
 * namespace.  A connection from another process, or without the token, is
 * closed; one already taken, and those still to send their hello, are
 * dropped when pid changes. */
void dialer_expect_peer(struct dialer *d, pid_t pid);
/* The acceptance rule: whether a connection whose SO_PEERCRED pid is
 * peer_pid (0: a process this pid namespace cannot see) may be the dialer
 * of the exec the Engine numbers expected_pid, given whether its hello
 * carried the token. */
bool dialer_peer_acceptable(pid_t peer_pid, pid_t expected_pid, bool token_matches);
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

/* Call ready, from the loop, whenever a dialer process is taken while d is
 * open. */
void dialer_set_ready_cb(struct dialer *d, dialer_ready_fn ready, void *userdata);

/* A dialer process is connected and answering. */
bool dialer_ready(const struct dialer *d);
/* Ask for one connection: done is called once, from the loop, unless the
 * request is cancelled first.  NULL when no dialer is connected (the caller
 * connects some other way). */
struct dialer_request *dialer_dial(struct dialer *d, dialer_done_fn done, void *userdata);
/* done will not be called; a socket that still comes is closed.  NULL-safe. */
void dialer_cancel(struct dialer_request *r);

#endif
