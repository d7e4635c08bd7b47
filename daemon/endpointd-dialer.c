/*
 * endpointd-dialer: run by endpointd inside each model container (Docker
 * exec), it dials the model server at 127.0.0.1:PORT in the container's own
 * network namespace and hands each connected socket to the daemon over a
 * Unix socket (SCM_RIGHTS), so that requests bypass docker-proxy.  The
 * socket's directory and this binary are bind-mounted into the container,
 * whose image may have no libc at all: hence static, small, no heap.
 *
 * Protocol (lib/dialer.h): first the hello, the 32 hex digits of the token
 * the daemon started this process with in ENDPOINTD_DIALER_TOKEN (the
 * environment, not argv: argv is world-readable in /proc); the token is
 * wiped from the environment before anything else, so that it stays in
 * /proc/<pid>/environ no longer than it must.  Then every byte read from the
 * Unix socket asks for one connection; each is answered in order with a
 * host-order int32, 0 with the fd attached or the positive errno of
 * socket()/connect() without one.  EOF or an error on the Unix socket means
 * the daemon went away (or refused this process): exit 0 quietly.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define DIALER_DEFAULT_PORT 8080
#define DIALER_TOKEN_ENV "ENDPOINTD_DIALER_TOKEN"
#define DIALER_TOKEN_LEN 32

/* Take the token out of the environment: copy it to token (DIALER_TOKEN_LEN
 * lowercase hex digits), then overwrite it where the kernel shows it in
 * /proc/<pid>/environ and drop the variable.  -1 if it is missing or not a
 * token. */
static int dialer_take_token(char *token)
{
	char *value = getenv(DIALER_TOKEN_ENV);
	size_t len;
	int ok = 1;

	if (!value)
		return -1;
	len = strlen(value);
	for (size_t i = 0; i < len; i++)
		if (!((value[i] >= '0' && value[i] <= '9') || (value[i] >= 'a' && value[i] <= 'f')))
			ok = 0;
	if (len != DIALER_TOKEN_LEN)
		ok = 0;
	if (ok)
		memcpy(token, value, DIALER_TOKEN_LEN);
	/* volatile: a store to memory nothing reads again is otherwise dropped. */
	for (volatile char *p = value; *p != '\0'; p++)
		*p = 'x';
	unsetenv(DIALER_TOKEN_ENV);
	return ok ? 0 : -1;
}

/* Write all of buf to sock; -1 if the daemon went away. */
static int dialer_write_all(int sock, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(sock, buf, len, MSG_NOSIGNAL);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Parse a decimal port in 1..65535; -1 if it is anything else. */
static int dialer_parse_port(const char *s)
{
	long port = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		port = port * 10 + (*s - '0');
		if (port > 65535)
			return -1;
	}
	return port >= 1 ? (int)port : -1;
}

/* Connect to the daemon's Unix socket; exit 1 on failure. */
static int dialer_connect_unix(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "endpointd-dialer: %s: %s\n", path, strerror(ENAMETOOLONG));
		exit(1);
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == -1) {
		fprintf(stderr, "endpointd-dialer: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

/* Dial 127.0.0.1:port; 0 with *ret_fd set, or a positive errno. */
static int dialer_dial(int port, int *ret_fd)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = 1};
	int fd, one = 1, r;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return errno;
	/* Best effort; SO_SNDTIMEO also bounds how long a blocking connect() waits. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	do
		r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	while (r == -1 && errno == EINTR);
	/* A retried connect() that finished meanwhile says EISCONN. */
	if (r == -1 && errno != EISCONN) {
		/* Linux says EINPROGRESS when SO_SNDTIMEO cuts a connect() short. */
		r = errno == EINPROGRESS ? ETIMEDOUT : errno;
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

/* Send the 4-byte answer, with fd attached if it is not -1; -1 if the daemon went away. */
static int dialer_answer(int sock, int32_t answer, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	const char *p = (const char *)&answer;
	size_t left = sizeof(answer);

	memset(&control, 0, sizeof(control));
	while (left > 0) {
		struct iovec iov = {.iov_base = (void *)p, .iov_len = left};
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t n;

		if (fd != -1) {
			struct cmsghdr *cmsg;

			msg.msg_control = control.buf;
			msg.msg_controllen = sizeof(control.buf);
			cmsg = CMSG_FIRSTHDR(&msg);
			cmsg->cmsg_level = SOL_SOCKET;
			cmsg->cmsg_type = SCM_RIGHTS;
			cmsg->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
		}
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		/* The fd went with the first bytes; never attach it twice. */
		fd = -1;
		p += n;
		left -= (size_t)n;
	}
	return 0;
}

/* Serve requests until the daemon closes the Unix socket. */
int main(int argc, char **argv)
{
	char req[64], token[DIALER_TOKEN_LEN];
	/* First of all, so that the token leaves /proc/<pid>/environ at once. */
	int have_token = dialer_take_token(token) == 0;
	int port = DIALER_DEFAULT_PORT, sock;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: endpointd-dialer SOCKET_PATH [PORT]\n");
		return 2;
	}
	if (argc == 3 && (port = dialer_parse_port(argv[2])) == -1) {
		fprintf(stderr, "endpointd-dialer: bad port: %s\n", argv[2]);
		return 2;
	}
	if (!have_token) {
		fprintf(stderr, "endpointd-dialer: %s is not set to %d hex digits\n",
		        DIALER_TOKEN_ENV, DIALER_TOKEN_LEN);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	sock = dialer_connect_unix(argv[1]);
	if (dialer_write_all(sock, token, sizeof(token)) == -1)
		return 0;
	for (;;) {
		ssize_t n = read(sock, req, sizeof(req));

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		for (ssize_t i = 0; i < n; i++) {
			int fd = -1;
			int32_t answer = dialer_dial(port, &fd);
			int r = dialer_answer(sock, answer, fd);

			if (fd != -1)
				close(fd);
			if (r == -1)
				return 0;
		}
	}
}
