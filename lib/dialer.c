/*
 * The daemon's side of endpointd-dialer (see dialer.h for why).
 *
 * One listening Unix socket per container, accepting nothing until the pid
 * of the dialer process is known (dialer_expect_peer): connections wait in
 * the backlog meanwhile, and the real dialer's blocking connect() with them.
 * Then each connection is judged in two steps:
 *  - at accept, SO_PEERCRED: a pid that is neither 0 nor the exec's is
 *    closed at once (a process of the container's own, which sees the
 *    socket), so that where pids can be compared no other process ever
 *    costs more than an accept;
 *  - then its hello: the token's DIALER_TOKEN_LEN bytes, read without
 *    blocking.  The real dialer writes them right after connect(), so they
 *    are usually there at accept and the connection is judged at once;
 *    otherwise it waits on d->pending, reading, until its deadline.  Judged
 *    by dialer_peer_acceptable(): the token, and the pid unless it is 0.
 * A connection refused at either step is closed and leaves the taken one
 * alone.  The newest connection taken is the one asked; an older one is
 * dropped with its waiting requests failed.
 *
 * Why both: the dialer is started with a Docker exec, whose process the
 * Engine reports by its pid in the host's pid namespace; SO_PEERCRED gives
 * the connecting process's pid in ours, 0 when it cannot be seen from here
 * (this daemon in a container of its own, or in a booted systemd-nspawn).
 * Where the pid is there, it is the stronger check and is kept; where it is
 * 0, the token (handed to the exec in its environment) is what is left.
 * Neither stops a container that can read the dialer's environment or
 * ptrace it (same user, no Yama) from sending fds of its choice: hence
 * every fd is checked as well (dialer_check_socket).
 *
 * Pending connections are bounded (DIALER_MAX_PENDING, the newest closing
 * the oldest): a container that connects in a loop and says nothing closes
 * its own older connections.  The real dialer's hello is written right
 * after its connect() returns, so it is there at accept but for a race of
 * a few instructions, and does not wait among them.  Each deadline is
 * absolute: a peer sending a byte at a time does not stretch it.
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
#include <sys/random.h>
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

/* An accepted connection waiting for its hello; owned by d, on d->pending,
 * until it is judged or d closes. */
struct dialer_pending {
	struct dialer *d;
	TAILQ_ENTRY(dialer_pending) entry;
	int fd;
	pid_t pid; /* SO_PEERCRED's: 0 when not seen from this pid namespace */
	struct event *ev;
	uint64_t deadline_ms;
	unsigned char hello[DIALER_TOKEN_LEN];
	size_t hello_len;
};
TAILQ_HEAD(dialer_pendings, dialer_pending);

/* Owned by whoever made it (an instance) and by the requests it has. */
struct dialer {
	unsigned refs;
	struct event_base *base;
	char *path;
	int listen_fd;
	struct event *listen_ev;
	struct event *accept_pause_ev;    /* accept4 failed: the listener rests */
	bool accept_failing;              /* logged once until an accept works */
	bool refused_logged;              /* a wrong peer was logged */
	pid_t peer_pid;                   /* the one process accepted; 0 = none yet */
	char token[DIALER_TOKEN_LEN + 1]; /* hex; the hello that must come */
	struct dialer_pendings pending;   /* oldest first */
	size_t n_pending;
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
	dialer_ready_fn ready;
	void *ready_userdata;
	bool ready_due; /* a process was taken: say so from the loop */
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
	bool ready = d->ready_due;
	d->ready_due = false;
	if (ready && dialer_ready(d) && d->ready)
		d->ready(d, d->ready_userdata);
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

/* Whether a connection may be taken: its hello carried the token, and its
 * pid is the exec's, unless the kernel could not name it (0: the peer is in
 * a pid namespace this one cannot see, where the token alone decides). */
bool dialer_peer_acceptable(pid_t peer_pid, pid_t expected_pid, bool token_matches)
{
	if (!token_matches || expected_pid <= 0)
		return false;
	return peer_pid == 0 || peer_pid == expected_pid;
}

/* Compare the hello with the token in time that does not depend on where
 * they differ, so that a container cannot learn it a byte at a time. */
static bool dialer_token_matches(const struct dialer *d, const unsigned char *hello)
{
	unsigned char diff = 0;
	for (size_t i = 0; i < DIALER_TOKEN_LEN; i++)
		diff |= (unsigned char)(hello[i] ^ (unsigned char)d->token[i]);
	return diff == 0;
}

/* Close a connection that may not be the dialer, saying why the first
 * time since the peer was last set. */
static void dialer_refuse(struct dialer *d, int fd, pid_t pid, const char *why)
{
	if (!d->refused_logged)
		log_warning("%s: refused a connection from pid %ld%s: %s (only endpointd-dialer, "
		            "pid %ld, may connect)",
		            d->path, (long)pid, pid == 0 ? " (in another pid namespace)" : "", why,
		            (long)d->peer_pid);
	d->refused_logged = true;
	close(fd);
}

/* Make fd the dialer process's connection, replacing the one before. */
static void dialer_take(struct dialer *d, int fd)
{
	dialer_disconnect(d, -ECONNRESET);
	d->fd = fd;
	d->ev = event_new(d->base, fd, EV_READ | EV_PERSIST, dialer_readable, d);
	if (!d->ev)
		abort();
	event_add(d->ev, NULL);
	d->ready_due = true;
	event_active(d->complete_ev, EV_TIMEOUT, 0);
}

/* Forget p, leaving its fd to the caller. */
static void dialer_pending_free(struct dialer_pending *p)
{
	struct dialer *d = p->d;
	TAILQ_REMOVE(&d->pending, p, entry);
	d->n_pending--;
	event_free(p->ev);
	free(p);
}

/* Close every connection still to send its hello. */
static void dialer_drop_pending(struct dialer *d)
{
	struct dialer_pending *p;
	while ((p = TAILQ_FIRST(&d->pending))) {
		int fd = p->fd;
		dialer_pending_free(p);
		close(fd);
	}
}

/* Read what there is of the hello, without waiting.  0 when it is whole,
 * -EAGAIN when more is to come, or why the peer will never send it. */
static int dialer_read_hello(int fd, unsigned char *hello, size_t *len)
{
	while (*len < DIALER_TOKEN_LEN) {
		/* Exactly what is missing: what follows is not ours to read.
		 * An fd sent along is closed by the kernel (no room for it). */
		ssize_t n = recv(fd, hello + *len, DIALER_TOKEN_LEN - *len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		if (n == 0)
			return -ECONNRESET;
		*len += (size_t)n;
	}
	return 0;
}

/* A whole hello came on fd, from pid: take the connection or refuse it. */
static void dialer_judge(struct dialer *d, int fd, pid_t pid, const unsigned char *hello)
{
	bool token_ok = dialer_token_matches(d, hello);
	if (dialer_peer_acceptable(pid, d->peer_pid, token_ok))
		dialer_take(d, fd);
	else
		dialer_refuse(d, fd, pid,
		              token_ok ? "another process"
		                       : "it did not present endpointd-dialer's token");
}

/* The hello did not come whole: say how much did. */
static void dialer_refuse_hello(struct dialer *d, int fd, pid_t pid, size_t len, int r)
{
	char why[96];
	if (r == -ETIMEDOUT)
		snprintf(why, sizeof(why), "it sent %zu of the %d bytes of its hello in %d ms", len,
		         DIALER_TOKEN_LEN, DIALER_HELLO_TIMEOUT_MS);
	else if (r == -ECONNRESET)
		snprintf(why, sizeof(why), "it hung up after %zu of the %d bytes of its hello", len,
		         DIALER_TOKEN_LEN);
	else
		snprintf(why, sizeof(why), "reading its hello: %s", strerror(-r));
	dialer_refuse(d, fd, pid, why);
}

/* A pending connection sent more, or its deadline passed. */
static void dialer_pending_readable(evutil_socket_t fd, short what, void *arg)
{
	struct dialer_pending *p = arg;
	struct dialer *d = p->d;
	int r = dialer_read_hello(p->fd, p->hello, &p->hello_len);
	uint64_t now = now_monotonic_ms();
	if (r == -EAGAIN && now >= p->deadline_ms)
		r = -ETIMEDOUT;
	if (r == -EAGAIN) {
		uint64_t left = p->deadline_ms - now;
		struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
		event_add(p->ev, &tv);
		return;
	}
	unsigned char hello[DIALER_TOKEN_LEN];
	pid_t pid = p->pid;
	size_t len = p->hello_len;
	memcpy(hello, p->hello, sizeof(hello));
	dialer_pending_free(p);
	if (r < 0)
		dialer_refuse_hello(d, (int)fd, pid, len, r);
	else
		dialer_judge(d, (int)fd, pid, hello);
}

/* fd, from pid, passed the pid check: judge its hello now if it is all
 * there, or wait for the rest, closing the oldest waiting connection if
 * there are too many. */
static void dialer_hello(struct dialer *d, int fd, pid_t pid)
{
	unsigned char hello[DIALER_TOKEN_LEN];
	size_t len = 0;
	int r = dialer_read_hello(fd, hello, &len);
	if (r == 0) {
		dialer_judge(d, fd, pid, hello);
		return;
	}
	if (r != -EAGAIN) {
		dialer_refuse_hello(d, fd, pid, len, r);
		return;
	}
	if (d->n_pending >= DIALER_MAX_PENDING) {
		struct dialer_pending *old = TAILQ_FIRST(&d->pending);
		int old_fd = old->fd;
		pid_t old_pid = old->pid;
		dialer_pending_free(old);
		dialer_refuse(d, old_fd, old_pid,
		              "newer connections came while it had not sent its hello");
	}
	struct dialer_pending *p = xcalloc(1, sizeof(*p));
	p->d = d;
	p->fd = fd;
	p->pid = pid;
	memcpy(p->hello, hello, len);
	p->hello_len = len;
	p->deadline_ms = now_monotonic_ms() + DIALER_HELLO_TIMEOUT_MS;
	p->ev = event_new(d->base, fd, EV_READ, dialer_pending_readable, p);
	if (!p->ev)
		abort();
	struct timeval tv = {DIALER_HELLO_TIMEOUT_MS / 1000,
	                     (DIALER_HELLO_TIMEOUT_MS % 1000) * 1000};
	event_add(p->ev, &tv);
	TAILQ_INSERT_TAIL(&d->pending, p, entry);
	d->n_pending++;
}

/* The listener has rested after a failed accept4(): listen again. */
static void dialer_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct dialer *d = arg;
	if (!d->closed && d->peer_pid > 0)
		event_add(d->listen_ev, NULL);
}

/* Connections came: close those from a process that cannot be the dialer,
 * and read the hello of the others. */
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
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			dialer_refuse(d, fd, 0, "its credentials cannot be read");
			continue;
		}
		if (cred.pid != 0 && cred.pid != d->peer_pid) {
			dialer_refuse(d, fd, cred.pid, "another process");
			continue;
		}
		dialer_hello(d, fd, cred.pid);
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
	unsigned char raw[DIALER_TOKEN_LEN / 2];
	if (getrandom(raw, sizeof(raw), GRND_NONBLOCK) != (ssize_t)sizeof(raw)) {
		/* Not blocking the loop for it: rare, and only at early boot. */
		int r = errno == 0 ? -EIO : -errno;
		close(fd);
		(void)unlink(path);
		return r;
	}
	struct dialer *d = xcalloc(1, sizeof(*d));
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(d->token + 2 * i, 3, "%02x", raw[i]);
	explicit_bzero(raw, sizeof(raw));
	TAILQ_INIT(&d->pending);
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
	if (d->peer_pid != pid) {
		dialer_disconnect(d, -ECONNRESET);
		dialer_drop_pending(d);
	}
	d->peer_pid = pid;
	d->refused_logged = false;
	if (pid > 0 && !d->accept_failing)
		event_add(d->listen_ev, NULL);
}

const char *dialer_token(const struct dialer *d)
{
	return d->token;
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
	dialer_drop_pending(d);
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
	explicit_bzero(d->token, sizeof(d->token));
	free(d->path);
	free(d);
	return NULL;
}

void dialer_set_lost_cb(struct dialer *d, dialer_lost_fn lost, void *userdata)
{
	d->lost = lost;
	d->lost_userdata = userdata;
}

void dialer_set_ready_cb(struct dialer *d, dialer_ready_fn ready, void *userdata)
{
	d->ready = ready;
	d->ready_userdata = userdata;
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
