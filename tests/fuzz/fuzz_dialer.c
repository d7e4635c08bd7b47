/*
 * The dialer protocol, the daemon's side (lib/dialer.c): what a hostile
 * container's dialer process may send on the Unix socket (short and split
 * answers, errnos, sockets of the wrong kind, several descriptors, answers
 * nobody asked for, hang-ups and reconnections, hellos that are wrong,
 * short or split) while the daemon asks for connections and cancels some.  Every request not cancelled must end
 * exactly once, and the daemon must not leak a descriptor.
 *
 * Input: a program, one opcode byte at a time (some take bytes after them):
 *   0 ask for a connection        5 send n bytes with two sockets
 *   1 send n bytes                6 cancel the oldest request
 *   2 send n bytes with a TCP     7 run the loop
 *     socket connected to us      8 hang up
 *   3 send n bytes with a Unix    9 connect (again)
 *     socket                      10 send n bytes with a pipe
 *   4 send n bytes with a TCP socket that is not connected
 *   11 send n bytes with a TCP socket connected to another port
 *   12 connect (again), sending only the first n * 4 bytes of the token
 *   13 send the rest of the token
 * where n is the next byte % 9 and the bytes follow it (none for 12).  Connecting (9, and
 * at the start) sends the token as the hello.  The harness is the peer the
 * daemon expects (its own pid) and the model port is a listener of its
 * own.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "dialer.h"
#include "fuzz.h"
#include "log.h"

#define MAX_REQUESTS 64

static char dir[256];
/* How much of the token the current connection has sent. */
static size_t hello_sent;
/* Listeners that TCP sockets connect to: the model port, another port. */
static struct sockaddr_in tcp_addr[2];
static int tcp_listener[2] = {-1, -1};

struct request {
	struct dialer_request *r;
	unsigned done; /* times its callback ran */
	bool cancelled;
};
static struct request requests[MAX_REQUESTS];
static size_t n_requests, oldest;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	snprintf(dir, sizeof(dir), "%s/dialer", fuzz_scratch_dir());
	if (mkdir(dir, 0700) < 0)
		abort();
	for (int i = 0; i < 2; i++) {
		tcp_listener[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		tcp_addr[i].sin_family = AF_INET;
		tcp_addr[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		socklen_t len = sizeof(tcp_addr[i]);
		if (tcp_listener[i] < 0 ||
		    bind(tcp_listener[i], (struct sockaddr *)&tcp_addr[i], len) < 0 ||
		    listen(tcp_listener[i], 512) < 0 ||
		    getsockname(tcp_listener[i], (struct sockaddr *)&tcp_addr[i], &len) < 0)
			abort();
	}
	return 0;
}

/* A request ended: the socket is ours to close. */
static void on_dialed(int fd, void *userdata)
{
	struct request *q = userdata;
	if (q->cancelled || q->done++)
		__builtin_trap(); /* a cancelled request or a second completion */
	if (fd >= 0)
		close(fd);
}

/* The daemon lost its dialer: say why, as endpoint_dialer.c does. */
static void on_lost(struct dialer *d, int why, void *userdata)
{
	const char *words = dialer_last_error(d);
	log_debug("dialer lost (%d): %s", why, words ? words : "-");
}

/* The dialer process's end, having sent hello_len bytes of d's token (or
 * all of it); -1 when the daemon's backlog is full. */
static int dialer_connect(struct dialer *d, size_t hello_len)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", dir, DIALER_SOCKET_NAME);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		abort();
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (errno != EAGAIN)
			abort();
		close(fd);
		return -1;
	}
	if (hello_len > DIALER_TOKEN_LEN)
		hello_len = DIALER_TOKEN_LEN;
	(void)send(fd, dialer_token(d), hello_len, MSG_DONTWAIT | MSG_NOSIGNAL);
	hello_sent = hello_len;
	return fd;
}

/* Sends len bytes with up to two descriptors (closed here afterwards). */
static void send_answer(int fd, const uint8_t *p, size_t len, int fd1, int fd2)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 2)];
	} ctl;
	int fds[2] = {fd1, fd2};
	size_t nfds = fd1 < 0 ? 0 : fd2 < 0 ? 1 : 2;
	struct iovec iov = {(void *)p, len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	if (fd >= 0 && (len || nfds))
		(void)sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
}

/* A TCP socket connected to listener 0 (the model port) or 1, or not
 * connected (-1).  Our end of each connection is reset rather than closed,
 * so that thousands a second leave no TIME_WAIT behind to use up the ports;
 * should connecting fail all the same, the socket goes unconnected. */
static int tcp_socket(int listener)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		abort();
	if (listener >= 0 &&
	    connect(fd, (struct sockaddr *)&tcp_addr[listener], sizeof(tcp_addr[listener])) == 0) {
		int a = accept4(tcp_listener[listener], NULL, NULL, SOCK_CLOEXEC);
		if (a >= 0) {
			struct linger l = {.l_onoff = 1, .l_linger = 0};
			setsockopt(a, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
			close(a);
		}
	}
	return fd;
}

/* Descriptors open in this process. */
static int count_fds(void)
{
	DIR *dd = opendir("/proc/self/fd");
	int n = 0;
	if (!dd)
		abort();
	while (readdir(dd))
		n++;
	closedir(dd);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fds_before = count_fds();
	struct event_base *base = event_base_new();
	struct dialer *d = NULL;
	if (!base || dialer_new(base, dir, ntohs(tcp_addr[0].sin_port), &d) < 0)
		abort();
	dialer_expect_peer(d, getpid());
	dialer_set_lost_cb(d, on_lost, NULL);
	n_requests = oldest = 0;
	memset(requests, 0, sizeof(requests));
	int fd = dialer_connect(d, DIALER_TOKEN_LEN);
	event_base_loop(base, EVLOOP_NONBLOCK);

	for (size_t i = 0; i < size;) {
		uint8_t op = data[i++] % 14;
		size_t n = 0;
		const uint8_t *bytes = NULL;
		if (op == 12)
			n = i < size ? data[i++] % 9 : 0;
		else if (op == 1 || op == 2 || op == 3 || op == 4 || op == 5 || op == 10 ||
		         op == 11) {
			n = i < size ? data[i++] % 9 : 0;
			n = n <= size - i ? n : size - i;
			bytes = data + i;
			i += n;
		}
		switch (op) {
		case 0:
			if (n_requests < MAX_REQUESTS) {
				struct request *q = &requests[n_requests];
				q->r = dialer_dial(d, on_dialed, q);
				if (q->r)
					n_requests++;
			}
			break;
		case 1:
			send_answer(fd, bytes, n, -1, -1);
			break;
		case 2:
			send_answer(fd, bytes, n, tcp_socket(0), -1);
			break;
		case 3: {
			int sv[2];
			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
				abort();
			close(sv[1]);
			send_answer(fd, bytes, n, sv[0], -1);
			break;
		}
		case 4:
			send_answer(fd, bytes, n, tcp_socket(-1), -1);
			break;
		case 5:
			send_answer(fd, bytes, n, tcp_socket(0), tcp_socket(0));
			break;
		case 6:
			while (oldest < n_requests &&
			       (requests[oldest].done || requests[oldest].cancelled))
				oldest++;
			if (oldest < n_requests) {
				requests[oldest].cancelled = true;
				dialer_cancel(requests[oldest].r);
			}
			break;
		case 7:
			event_base_loop(base, EVLOOP_NONBLOCK);
			break;
		case 8:
			if (fd >= 0)
				close(fd);
			fd = -1;
			break;
		case 9:
			if (fd >= 0)
				close(fd);
			fd = dialer_connect(d, DIALER_TOKEN_LEN);
			break;
		case 11:
			send_answer(fd, bytes, n, tcp_socket(1), -1);
			break;
		case 12:
			if (fd >= 0)
				close(fd);
			fd = dialer_connect(d, n * 4);
			break;
		case 13:
			if (fd >= 0)
				(void)send(fd, dialer_token(d) + hello_sent, DIALER_TOKEN_LEN - hello_sent,
				           MSG_DONTWAIT | MSG_NOSIGNAL);
			hello_sent = DIALER_TOKEN_LEN;
			break;
		default: {
			int p[2];
			if (pipe2(p, O_CLOEXEC) < 0)
				abort();
			close(p[1]);
			send_answer(fd, bytes, n, p[0], -1);
			break;
		}
		}
	}

	event_base_loop(base, EVLOOP_NONBLOCK);
	dialer_close(d);
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_loop(base, EVLOOP_NONBLOCK);
	for (size_t i = 0; i < n_requests; i++)
		if (!requests[i].cancelled && requests[i].done != 1)
			__builtin_trap(); /* a request that never ended */
	dialer_unref(d);
	if (fd >= 0)
		close(fd);
	event_base_free(base);
	if (count_fds() != fds_before)
		__builtin_trap(); /* a descriptor leaked */
	return 0;
}
