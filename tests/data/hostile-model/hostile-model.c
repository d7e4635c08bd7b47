/*
 * hostile-model: a model container that misbehaves on purpose, for
 * tests/integration/test_hostile_container.py.  Built static, FROM scratch.
 *
 * It serves the SageMaker contract on 8080 (GET /ping, POST /invocations),
 * and does from inside its container what any model could:
 *
 *  - connector: connects to the dialer's socket (/.endpointd/run/sock, which
 *    the daemon mounts into every container) again and again, and hands the
 *    daemon an answer nobody asked for with a bad fd attached, in turn: a
 *    blocking pipe, a UDP socket, a TCP socket connected to another port,
 *    and a TCP socket to 127.0.0.1:8080 whose O_NONBLOCK it clears;
 *  - thief: tries to take the real dialer's connection with pidfd_getfd()
 *    and answer on it (the Engine's seccomp profile normally forbids it);
 *  - killer: SIGKILLs the real endpointd-dialer once, HOSTILE_KILL_DIALER_MS
 *    after it starts, so that the daemon must start it again while the
 *    connector keeps knocking.
 *
 * An invocation answers as its X-Amzn-SageMaker-Custom-Attributes header
 * says: "smuggle" (Content-Length and Transfer-Encoding both), "chunk-minus"
 * (a chunk size of -0), anything else a JSON {"peer": …, "length": …}.
 * What the attackers manage goes to stderr (`docker logs`).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DIALER_SOCK "/.endpointd/run/sock"
#define DIALER_BIN "/.endpointd/dialer"
#define MODEL_PORT 8080

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Writes all of buf; -1 on error. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Serves one client connection, keep-alive. */
static void *serve_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	static __thread char buf[1 << 16];
	size_t have = 0;
	char peer[64] = "?";
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	if (getpeername(fd, (struct sockaddr *)&sin, &sl) == 0)
		inet_ntop(AF_INET, &sin.sin_addr, peer, sizeof(peer));
	for (;;) {
		char *end;
		ssize_t n;

		buf[have] = '\0';
		while (!(end = strstr(buf, "\r\n\r\n"))) {
			if (have >= sizeof(buf) - 1)
				goto out;
			n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
			if (n <= 0)
				goto out;
			have += (size_t)n;
			buf[have] = '\0';
		}
		size_t head_len = (size_t)(end - buf) + 4;
		unsigned long long body_len = 0;
		char mode[32] = "";
		for (char *line = strstr(buf, "\r\n"); line && line < end;
		     line = strstr(line + 2, "\r\n")) {
			if (strncasecmp(line + 2, "Content-Length:", 15) == 0)
				body_len = strtoull(line + 17, NULL, 10);
			if (strncasecmp(line + 2, "X-Amzn-SageMaker-Custom-Attributes:", 35) == 0)
				sscanf(line + 37, " %31[a-z-]", mode);
		}
		bool ping = strncmp(buf, "GET /ping", 9) == 0;
		/* Skip the body: what is in buf, then the rest from the socket. */
		unsigned long long in_buf = have - head_len;
		unsigned long long left = body_len > in_buf ? body_len - in_buf : 0;
		size_t keep = body_len < in_buf ? (size_t)(in_buf - body_len) : 0;
		memmove(buf, buf + have - keep, keep);
		have = keep;
		while (left > 0) {
			char sink[65536];

			n = recv(fd, sink, left < sizeof(sink) ? left : sizeof(sink), 0);
			if (n <= 0)
				goto out;
			left -= (unsigned long long)n;
		}
		char answer[512];
		if (ping) {
			snprintf(answer, sizeof(answer),
			         "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
		} else if (strcmp(mode, "smuggle") == 0) {
			snprintf(answer, sizeof(answer),
			         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: "
			         "chunked\r\n\r\n"
			         "2\r\nok\r\n0\r\n\r\n");
		} else if (strcmp(mode, "chunk-minus") == 0) {
			snprintf(answer, sizeof(answer),
			         "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
			         "chunked\r\n\r\n2\r\nok\r\n-0\r\n\r\n");
		} else {
			char json[128];
			int jn = snprintf(json, sizeof(json),
			                  "{\"peer\": \"%s\", \"length\": %llu}", peer, body_len);
			snprintf(answer, sizeof(answer),
			         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			         "Content-Length: %d\r\n\r\n%s",
			         jn, json);
		}
		if (write_all(fd, answer, strlen(answer)) < 0)
			goto out;
	}
out:
	close(fd);
	return NULL;
}

/* Accepts model clients on 8080 for ever. */
static void serve(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(MODEL_PORT)};
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lfd, 128) < 0) {
		perror("hostile-model: listen on 8080");
		exit(1);
	}
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		pthread_t t;

		if (fd < 0) {
			sleep_ms(10);
			continue;
		}
		if (pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)fd) != 0)
			close(fd);
		else
			pthread_detach(t);
	}
}

/* A TCP socket connected to 127.0.0.1:port, or -1. */
static int tcp_to(uint16_t port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The bad fd of kind (0..3); *ret_extra another fd to close after, or -1. */
static int bad_fd(int kind, int *ret_extra)
{
	static int other_listener = -1;
	int p[2], fd;

	*ret_extra = -1;
	switch (kind) {
	case 0: /* a blocking pipe */
		if (pipe2(p, O_CLOEXEC) < 0)
			return -1;
		*ret_extra = p[1];
		return p[0];
	case 1: /* a UDP socket */
		return socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	case 2: /* TCP, connected to another port */
		if (other_listener < 0) {
			struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(9099)};

			other_listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			if (bind(other_listener, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
			    listen(other_listener, 1024) < 0)
				return -1;
		}
		return tcp_to(9099);
	default: /* TCP to the model port, made blocking (again, later) */
		fd = tcp_to(MODEL_PORT);
		if (fd >= 0)
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		return fd;
	}
}

/* Sends the answer 0 with fd attached on sock. */
static int send_answer(int sock, int fd)
{
	int32_t zero = 0;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {&zero, sizeof(zero)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *c;

	memset(&ctl, 0, sizeof(ctl));
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof(ctl.buf);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof(zero) ? 0 : -1;
}

/* Connects to the dialer's socket over and over, answering unasked. */
static void *connector(void *arg)
{
	unsigned long tries = 0, answered = 0, closed = 0;

	(void)arg;
	for (int kind = 0;; kind = (kind + 1) % 4) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		struct timeval tv = {0, 200000};
		int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), extra, fd;
		char byte;

		strcpy(sun.sun_path, DIALER_SOCK);
		if (connect(sock, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			close(sock);
			sleep_ms(20);
			continue;
		}
		tries++;
		setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		fd = bad_fd(kind, &extra);
		if (fd >= 0 && send_answer(sock, fd) == 0)
			answered++;
		if (recv(sock, &byte, 1, 0) == 0)
			closed++;
		if (fd >= 0)
			close(fd);
		if (extra >= 0)
			close(extra);
		close(sock);
		if (tries % 100 == 1)
			fprintf(stderr,
			        "hostile-model: connector: %lu connections, %lu answers sent, "
			        "%lu closed by the daemon\n",
			        tries, answered, closed);
		sleep_ms(5);
	}
	return NULL;
}

/* The pid of the running endpointd-dialer in this pid namespace, or -1. */
static pid_t find_dialer(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = -1;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char path[300], cmd[256] = "";
		int fd;
		ssize_t n;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, cmd, sizeof(cmd) - 1);
		close(fd);
		if (n > 0 && strcmp(cmd, DIALER_BIN) == 0) {
			found = (pid_t)atoi(e->d_name);
			break;
		}
	}
	closedir(d);
	return found;
}

/* Tries to steal the dialer's connection and answer on it; kills the dialer
 * once when asked to. */
static void *thief(void *arg)
{
	long kill_after_ms = (long)(intptr_t)arg;
	bool killed = false, reported = false;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pid_t pid = find_dialer();
		struct timespec now;

		sleep_ms(50);
		if (pid < 0)
			continue;
		int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		for (int target = 3; pidfd >= 0 && target < 8; target++) {
			int fd = (int)syscall(SYS_pidfd_getfd, pidfd, target, 0);
			struct stat st;
			int extra;

			if (fd < 0) {
				if (!reported)
					fprintf(stderr, "hostile-model: thief: pidfd_getfd: %s\n",
					        strerror(errno));
				reported = true;
				break;
			}
			if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
				int bad = bad_fd(3, &extra);

				if (bad >= 0 && send_answer(fd, bad) == 0 && !reported)
					fprintf(stderr,
					        "hostile-model: thief: answered on the dialer's "
					        "fd %d\n",
					        target);
				reported = true;
				if (bad >= 0)
					close(bad);
			}
			close(fd);
		}
		if (pidfd >= 0)
			close(pidfd);
		clock_gettime(CLOCK_MONOTONIC, &now);
		long ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
		if (kill_after_ms > 0 && !killed && ms >= kill_after_ms) {
			fprintf(stderr,
			        "hostile-model: killer: SIGKILL to endpointd-dialer pid %d: %s\n",
			        (int)pid, kill(pid, SIGKILL) == 0 ? "sent" : strerror(errno));
			killed = true;
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *kill_ms = getenv("HOSTILE_KILL_DIALER_MS");
	pthread_t t;

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stderr, NULL, _IOLBF, 0);
	pthread_create(&t, NULL, connector, NULL);
	pthread_create(&t, NULL, thief, (void *)(intptr_t)(kill_ms ? atol(kill_ms) : 0));
	serve();
	return 0;
}
