/*
 * The daemon's side of endpointd-dialer (see dialer.h for why).
 *
 * One listening Unix socket per container, accepting nothing until the pid
 * of the dialer process is known (dialer_expect_peer): connections wait in
 * the backlog meanwhile, and the real dialer's blocking connect() with them.
 * Then a connection is taken only when SO_PEERCRED names that pid; any other
 * (a process of the container's own, which sees the socket) is closed and
 * leaves the taken one alone.  The newest connection of that process is the
 * one asked; an older one is dropped with its waiting requests failed.
 *
 * The pid check is what can really be verified: the dialer is started with
 * a Docker exec, whose process the Engine reports by its pid in the host's
 * pid namespace; SO_PEERCRED gives the connecting process's pid in ours.
 * When the two namespaces differ the pids never match and invocations go
 * through the published port, which is safe.  It does not stop a container
 * that can ptrace the dialer (same user, no Yama) from making it send other
 * fds: hence every fd is checked as well (dialer_check_socket).
 *
 * A failing accept4() (out of fds or memory) would wake the loop again at
 * once: the listener is paused for DIALER_ACCEPT_PAUSE_MS instead.
 *
 * Requests are answered in the order they were asked, so a FIFO pairs each
 * answer with its request.  Every completion runs from the loop (an event
 * made active), never inside dialer_dial() or dialer_close(), and each
 * request holds a reference on its dialer until it is done.
 */
#define _GNU_SOURCE
#include "dialer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define DIALER_MAX_WAITING 1024
#define DIALER_ACCEPT_PAUSE_MS 100

struct dialer_request {
	struct dialer *d; /* a reference */
	TAILQ_ENTRY(dialer_request) entry;
	dialer_done_fn done; /* NULL once cancelled */
	void *userdata;
	int result; /* once answered */
	bool answered;
};
TAILQ_HEAD(dialer_requests, dialer_request);

/* Owned by whoever made it (an instance) and by the requests it has. */
struct dialer {
	unsigned refs;
	struct event_base *base;
	char *path;
	int listen_fd;
	struct event *listen_ev;
	struct event *accept_pause_ev; /* accept4 failed: the listener rests */
	bool accept_failing;           /* logged once until an accept works */
	bool refused_logged;           /* a wrong peer was logged */
	pid_t peer_pid;                /* the one process accepted; 0 = none yet */
	uint16_t model_port;
	char last_error[160];
	int fd; /* the dialer process, -1 when none */
	struct event *ev;
	struct dialer_requests waiting;  /* asked, oldest first */
	struct dialer_requests answered; /* to complete from the loop */
	size_t n_waiting;
	struct event *complete_ev;
	unsigned char answer[4];
	size_t answer_len;
	int answer_fd; /* came with the answer being read, -1 when none */
	bool closed;
	dialer_lost_fn lost;
	void *lost_userdata;
	int lost_why; /* to report from the loop, 0 when nothing is */
};

/* Hand r its result on the next loop turn. */
static void dialer_answer(struct dialer *d, struct dialer_request *r, int result)
{
	TAILQ_REMOVE(&d->waiting, r, entry);
	d->n_waiting--;
	r->result = result;
	r->answered = true;
	TAILQ_INSERT_TAIL(&d->answered, r, entry);
	event_active(d->complete_ev, EV_TIMEOUT, 0);
}

/* Close an fd that came from the container.  If it is a socket with
 * SO_LINGER set and the container has closed its own copy, close() would
 * wait for the peer to take what is queued, for as long as the container
 * chose: reset SO_LINGER first (which fails harmlessly on anything else). */
static void dialer_close_fd(int fd)
{
	struct linger lg = {0, 0};
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* Free r and let go of its dialer; a socket nobody took is closed. */
static void dialer_request_free(struct dialer_request *r)
{
	if (r->answered && r->result >= 0)
		dialer_close_fd(r->result);
	dialer_unref(r->d);
	free(r);
}

/* Drop the dialer process's connection: what waits on it fails with err. */
static void dialer_disconnect(struct dialer *d, int err)
{
	if (d->fd < 0)
		return;
	event_free(d->ev);
	d->ev = NULL;
	close(d->fd);
	d->fd = -1;
	if (d->answer_fd >= 0)
		dialer_close_fd(d->answer_fd);
	d->answer_fd = -1;
	d->answer_len = 0;
	struct dialer_request *r;
	while ((r = TAILQ_FIRST(&d->waiting)))
		dialer_answer(d, r, err);
	if (!d->closed && d->lost) {
		d->lost_why = err;
		event_active(d->complete_ev, EV_TIMEOUT, 0);
	}
}

/* Run the completions that are due. */
static void dialer_complete(evutil_socket_t fd, short what, void *arg)
{
	struct dialer *d = dialer_ref(arg);
	struct dialer_request *r;
	while ((r = TAILQ_FIRST(&d->answered))) {
		TAILQ_REMOVE(&d->answered, r, entry);
		if (r->done) {
			int result = r->result;
			r->result = -1; /* the callee owns the socket now */
			r->done(result, r->userdata);
		}
		dialer_request_free(r);
	}
	int why = d->lost_why;
	d->lost_why = 0;
	if (why && !d->closed && d->fd < 0 && d->lost)
		d->lost(d, why, d->lost_userdata);
	dialer_unref(d);
}

/* The socket fd is a connected TCP socket whose peer is 127.0.0.1:port (or
 * its v4-mapped IPv6 form); it is made nonblocking, which its users still do
 * not rely on.  0, or -EPROTO with words in d->last_error. */
static int dialer_check_socket(struct dialer *d, int fd)
{
	struct stat st;
	int type = 0, domain = 0, proto = 0;
	socklen_t len = sizeof(type), dlen = sizeof(domain), plen = sizeof(proto);
	const char *what = NULL;
	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
		what = "an fd that is not a socket";
	else if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
		what = "a socket that is not a stream socket";
	else if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) < 0 ||
	         (domain != AF_INET && domain != AF_INET6))
		what = "a socket that is not an Internet socket";
	else if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &plen) < 0 || proto != IPPROTO_TCP)
		what = "a socket that is not TCP";
	if (what) {
		snprintf(d->last_error, sizeof(d->last_error), "endpointd-dialer handed back %s",
		         what);
		return -EPROTO;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(d->last_error, sizeof(d->last_error),
		         "endpointd-dialer handed back a TCP socket that is not connected (%s)",
		         strerror(errno));
		return -EPROTO;
	}
	bool loopback = false;
	uint16_t port = 0;
	char addr[INET6_ADDRSTRLEN] = "?";
	if (ss.ss_family == AF_INET && sl >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
		loopback = sin->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
		port = ntohs(sin->sin_port);
		inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
	} else if (ss.ss_family == AF_INET6 && sl >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
		static const unsigned char mapped[16] = {0, 0, 0,    0,    0,   0, 0, 0,
		                                         0, 0, 0xff, 0xff, 127, 0, 0, 1};
		loopback = memcmp(&sin6->sin6_addr, mapped, sizeof(mapped)) == 0;
		port = ntohs(sin6->sin6_port);
		inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));
	}
	if (!loopback || port != d->model_port) {
		snprintf(d->last_error, sizeof(d->last_error),
		         "endpointd-dialer handed back a socket connected to %s port %u, not to "
		         "127.0.0.1 port %u",
		         addr, (unsigned)port, (unsigned)d->model_port);
		return -EPROTO;
	}
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* A whole answer is in: pair it with the oldest request.  False when the
 * dialer broke the protocol (the caller disconnects it). */
static bool dialer_take_answer(struct dialer *d)
{
	int32_t value;
	memcpy(&value, d->answer, sizeof(value));
	d->answer_len = 0;
	int fd = d->answer_fd;
	d->answer_fd = -1;
	struct dialer_request *r = TAILQ_FIRST(&d->waiting);
	bool ok = r && ((value == 0 && fd >= 0) || (value > 0 && value < 4096 && fd < 0));
	if (!ok)
		snprintf(d->last_error, sizeof(d->last_error),
		         "endpointd-dialer broke the protocol: answer %d with%s an fd%s",
		         (int)value, fd >= 0 ? "" : "out", r ? "" : " when nothing was asked");
	if (ok && value == 0 && dialer_check_socket(d, fd) < 0)
		ok = false;
	if (!ok) {
		if (fd >= 0)
			dialer_close_fd(fd);
		return false;
	}
	dialer_answer(d, r, value == 0 ? fd : -value);
	return true;
}

/* The dialer process wrote: read answers and the sockets that come with
 * them. */
static void dialer_readable(evutil_socket_t fd, short what, void *arg)
{
	struct dialer *d = arg;
	for (;;) {
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int) * 4)];
		} ctl;
		struct iovec iov = {d->answer + d->answer_len, sizeof(d->answer) - d->answer_len};
		struct msghdr msg = {
		    .msg_iov = &iov,
		    .msg_iovlen = 1,
		    .msg_control = ctl.buf,
		    .msg_controllen = sizeof(ctl.buf),
		};
		ssize_t n = recvmsg(d->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			/* A peer that closes with a request unread resets. */
			dialer_disconnect(d, n == 0 || errno == ECONNRESET ? -ECONNRESET : -errno);
			return;
		}
		/* One fd with one answer and nothing else: every fd of a
		 * message that breaks this is closed (those the buffer had no
		 * room for, the kernel closed). */
		bool bad = (msg.msg_flags & MSG_CTRUNC) != 0;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
				bad = true;
				continue;
			}
			int fds[4];
			size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			if (nfds > ELEMENTSOF(fds))
				nfds = ELEMENTSOF(fds); /* cannot be: the buffer holds 4 */
			memcpy(fds, CMSG_DATA(c), nfds * sizeof(int));
			for (size_t i = 0; i < nfds; i++) {
				if (d->answer_fd < 0 && !bad)
					d->answer_fd = fds[i];
				else {
					dialer_close_fd(fds[i]);
					bad = true;
				}
			}
		}
		if (bad) {
			snprintf(d->last_error, sizeof(d->last_error),
			         "endpointd-dialer sent more than one fd, or control data other "
			         "than an fd");
			dialer_disconnect(d, -EPROTO);
			return;
		}
		d->answer_len += (size_t)n;
		if (d->answer_len == sizeof(d->answer) && !dialer_take_answer(d)) {
			dialer_disconnect(d, -EPROTO);
			return;
		}
	}
}

/* The listener has rested after a failed accept4(): listen again. */
static void dialer_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct dialer *d = arg;
	if (!d->closed && d->peer_pid > 0)
		event_add(d->listen_ev, NULL);
}

/* Connections came: take the one from the dialer process, which replaces
 * the connection before; close any other. */
static void dialer_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct dialer *d = arg;
	/* Bounded, so that a container that connects as fast as it can does
	 * not hold the loop; the rest wait for the next turn. */
	for (int i = 0; i < 16; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOMEM ||
			    errno == ENOBUFS) {
				/* The connection stays in the backlog: rest, or
				 * the loop would spin on it. */
				if (!d->accept_failing)
					log_warning("%s: cannot accept the dialer's connection: "
					            "%m; trying again every %d ms",
					            d->path, DIALER_ACCEPT_PAUSE_MS);
				d->accept_failing = true;
				event_del(d->listen_ev);
				struct timeval tv = {0, DIALER_ACCEPT_PAUSE_MS * 1000};
				evtimer_add(d->accept_pause_ev, &tv);
			}
			return;
		}
		d->accept_failing = false;
		struct ucred cred = {0};
		socklen_t len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
		    cred.pid != d->peer_pid) {
			if (!d->refused_logged)
				log_warning("%s: refused a connection from pid %ld: only "
				            "endpointd-dialer (pid %ld) may connect",
				            d->path, (long)cred.pid, (long)d->peer_pid);
			d->refused_logged = true;
			close(fd);
			continue;
		}
		dialer_disconnect(d, -ECONNRESET);
		d->fd = fd;
		d->ev = event_new(d->base, fd, EV_READ | EV_PERSIST, dialer_readable, d);
		if (!d->ev)
			abort();
		event_add(d->ev, NULL);
	}
}

/* Listen on dir/sock. */
int dialer_new(struct event_base *base, const char *dir, uint16_t model_port, struct dialer **ret)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, DIALER_SOCKET_NAME);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(path, 0666) < 0 ||
	    listen(fd, 4) < 0) {
		int r = -errno;
		close(fd);
		(void)unlink(path);
		return r;
	}
	struct dialer *d = xcalloc(1, sizeof(*d));
	d->refs = 1;
	d->base = base;
	d->path = TAKE_PTR(path);
	d->listen_fd = fd;
	d->model_port = model_port;
	d->fd = -1;
	d->answer_fd = -1;
	TAILQ_INIT(&d->waiting);
	TAILQ_INIT(&d->answered);
	d->listen_ev = event_new(base, fd, EV_READ | EV_PERSIST, dialer_accept, d);
	d->complete_ev = event_new(base, -1, 0, dialer_complete, d);
	d->accept_pause_ev = evtimer_new(base, dialer_accept_resume, d);
	if (!d->listen_ev || !d->complete_ev || !d->accept_pause_ev)
		abort();
	*ret = d;
	return 0;
}

/* Take connections from pid only. */
void dialer_expect_peer(struct dialer *d, pid_t pid)
{
	if (d->closed)
		return;
	if (d->peer_pid != pid)
		dialer_disconnect(d, -ECONNRESET);
	d->peer_pid = pid;
	d->refused_logged = false;
	if (pid > 0 && !d->accept_failing)
		event_add(d->listen_ev, NULL);
}

const char *dialer_last_error(const struct dialer *d)
{
	return d->last_error[0] ? d->last_error : NULL;
}

struct dialer *dialer_ref(struct dialer *d)
{
	d->refs++;
	return d;
}

/* Close everything; waiting requests end with -ECANCELED. */
void dialer_close(struct dialer *d)
{
	if (!d || d->closed)
		return;
	d->closed = true;
	dialer_disconnect(d, -ECANCELED);
	event_free(d->listen_ev);
	d->listen_ev = NULL;
	event_free(d->accept_pause_ev);
	d->accept_pause_ev = NULL;
	close(d->listen_fd);
	d->listen_fd = -1;
	(void)unlink(d->path);
}

/* Let go of a reference; the last one frees (closing first). */
struct dialer *dialer_unref(struct dialer *d)
{
	if (!d || --d->refs > 0)
		return NULL;
	dialer_close(d);
	event_free(d->complete_ev);
	free(d->path);
	free(d);
	return NULL;
}

void dialer_set_lost_cb(struct dialer *d, dialer_lost_fn lost, void *userdata)
{
	d->lost = lost;
	d->lost_userdata = userdata;
}

bool dialer_ready(const struct dialer *d)
{
	return d && d->fd >= 0 && !d->closed;
}

/* Ask the dialer process for one connection. */
struct dialer_request *dialer_dial(struct dialer *d, dialer_done_fn done, void *userdata)
{
	if (!dialer_ready(d) || d->n_waiting >= DIALER_MAX_WAITING)
		return NULL;
	ssize_t n;
	do
		n = send(d->fd, "d", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n != 1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			dialer_disconnect(d, -ECONNRESET);
		return NULL;
	}
	struct dialer_request *r = xcalloc(1, sizeof(*r));
	r->d = dialer_ref(d);
	r->done = done;
	r->userdata = userdata;
	TAILQ_INSERT_TAIL(&d->waiting, r, entry);
	d->n_waiting++;
	return r;
}

/* Forget r's callback; an answered r is freed now. */
void dialer_cancel(struct dialer_request *r)
{
	if (!r)
		return;
	r->done = NULL;
	if (r->answered) {
		TAILQ_REMOVE(&r->d->answered, r, entry);
		dialer_request_free(r);
	}
}
