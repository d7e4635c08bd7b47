/*
 * dialer, the daemon's side of endpointd-dialer, in a temporary directory of
 * its own on a fresh event base.
 *
 * Three suites: dialer (no process connected), dialer_real (the real
 * endpointd-dialer, spawned as a child and pointed at a loopback listener the
 * test owns) and dialer_fake (the test connects to the socket itself and
 * answers by hand, well or badly, as a broken or hostile container might).
 *
 * Results live in a static pool rather than on a test's stack: when an
 * assertion ends a test early, teardown's dialer_close() still completes the
 * requests left waiting, and their done must find live memory.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dialer.h"
#include "util.h"

static struct event_base *base;
static char dir[64];
static char sock_path[128];
static struct dialer *d;
static int listen_fd = -1;
static uint16_t listen_port;
static pid_t child = -1;

/* What a request's done saw. */
struct dial_result {
	int calls;
	int fd;  /* the last result: a socket (teardown closes it) or -errno */
	int nth; /* 1 for the first completion of the test */
	bool inside_dial;
};

static struct dial_result results[16];
static size_t n_results;
static int completions;
static bool in_dial;

/* --- Helpers --- */

/* The endpointd-dialer of this build: $ENDPOINTD_DIALER (make check sets
 * it), else daemon/ two levels above this binary (tests/unit/). */
static const char *dialer_binary(void)
{
	static char *path;
	char self[4096];
	ssize_t n;

	if (getenv("ENDPOINTD_DIALER") && *getenv("ENDPOINTD_DIALER"))
		return getenv("ENDPOINTD_DIALER");
	if (!path) {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		cr_assert_gt(n, 0);
		self[n] = '\0';
		*strrchr(self, '/') = '\0';
		path = xasprintf("%s/../../daemon/endpointd-dialer", self);
	}
	return path;
}

/* Starts endpointd-dialer on the dialer's socket, dialing 127.0.0.1:to_port,
 * with token in its environment (as the daemon's exec does). */
static void spawn_dialer_with_token(uint16_t to_port, const char *token)
{
	const char *bin = dialer_binary();
	char port_arg[8];
	char *argv[] = {(char *)bin, sock_path, port_arg, NULL};
	_cleanup_free_ char *token_env = xasprintf("%s=%s", DIALER_TOKEN_ENV, token);
	char *envp[] = {token_env, NULL};
	int r;

	cr_assert_eq(access(bin, X_OK), 0, "%s: %s (build daemon/ first)", bin, strerror(errno));
	snprintf(port_arg, sizeof(port_arg), "%u", (unsigned)to_port);
	r = posix_spawn(&child, bin, NULL, NULL, argv, envp);
	cr_assert_eq(r, 0, "spawning %s: %s", bin, strerror(r));
	dialer_expect_peer(d, child);
}

/* Starts endpointd-dialer as the daemon does, with the dialer's token. */
static void spawn_dialer(uint16_t to_port)
{
	spawn_dialer_with_token(to_port, dialer_token(d));
}

/* Waits up to 3 s for the child to exit: its wait status, or -1. */
static int wait_child(void)
{
	for (int i = 0; i < 300; i++) {
		int status;

		if (waitpid(child, &status, WNOHANG) == child) {
			child = -1;
			return status;
		}
		usleep(10000);
	}
	return -1;
}

/* The file descriptors this process has open. */
static int count_fds(void)
{
	DIR *dp = opendir("/proc/self/fd");
	int n = 0;

	cr_assert_not_null(dp);
	while (readdir(dp))
		n++;
	closedir(dp);
	return n - 3; /* ".", ".." and the directory's own */
}

/* A port on 127.0.0.1 that was just free and has no listener. */
static uint16_t closed_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	close(fd);
	return ntohs(sin.sin_port);
}

/* The next connection the test listener has, waiting up to 2 s. */
static int accept_one(void)
{
	struct pollfd p = {.fd = listen_fd, .events = POLLIN};
	int fd;

	cr_assert_eq(poll(&p, 1, 2000), 1, "nothing to accept");
	fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(fd, 0, "accept: %s", strerror(errno));
	return fd;
}

/* A TCP socket bound to an ephemeral loopback port and, unless to_port is
 * 0, connected to 127.0.0.1:to_port: its local port, and *ret_fd. */
static uint16_t tcp_socket_to(uint16_t to_port, int *ret_fd)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	if (to_port) {
		struct sockaddr_in to = {.sin_family = AF_INET,
		                         .sin_port = htons(to_port),
		                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

		cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0, "%s",
		             strerror(errno));
	}
	*ret_fd = fd;
	return ntohs(sin.sin_port);
}

/* A TCP socket connected to the model port (the test's listener), as a
 * dialer hands back: its local port, and *ret_fd. */
static uint16_t tcp_socket(int *ret_fd)
{
	return tcp_socket_to(listen_port, ret_fd);
}

/* The local port of a TCP socket. */
static uint16_t local_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	return ntohs(sin.sin_port);
}

/* Breaks a loop that ran too long, so a hang fails the test instead of blocking it. */
static void safety_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	cr_log_error("test loop ran too long");
	event_base_loopbreak(base);
}

/* Runs the loop until *count reaches want (or 3 s pass). */
static void run_until(const int *count, int want)
{
	struct event *safety = evtimer_new(base, safety_timeout, NULL);

	event_add(safety, &(struct timeval){3, 0});
	while (*count < want && !event_base_got_break(base))
		event_base_loop(base, EVLOOP_ONCE);
	event_free(safety);
}

/* Runs the loop until dialer_ready() says want (or 3 s pass). */
static void run_until_ready(bool want)
{
	struct event *safety = evtimer_new(base, safety_timeout, NULL);

	event_add(safety, &(struct timeval){3, 0});
	while (dialer_ready(d) != want && !event_base_got_break(base))
		event_base_loop(base, EVLOOP_ONCE);
	event_free(safety);
}

/* Runs the loop for ms milliseconds, whatever happens. */
static void run_for(long ms)
{
	event_base_loopexit(base, &(struct timeval){ms / 1000, (ms % 1000) * 1000});
	event_base_dispatch(base);
}

/* A fresh result from the pool. */
static struct dial_result *result_new(void)
{
	cr_assert_lt(n_results, ELEMENTSOF(results));
	results[n_results].fd = -1;
	return &results[n_results++];
}

/* Records a completion. */
static void on_dialed(int fd, void *userdata)
{
	struct dial_result *res = userdata;

	res->calls++;
	res->fd = fd;
	res->nth = ++completions;
	res->inside_dial = res->inside_dial || in_dial;
}

/* Asks for a connection, noting whether done runs before dialer_dial returns. */
static struct dialer_request *dial(struct dial_result *res)
{
	struct dialer_request *r;

	in_dial = true;
	r = dialer_dial(d, on_dialed, res);
	in_dial = false;
	return r;
}

/* Asks for a connection and waits for it; the request must be taken. */
static struct dial_result *dial_and_wait(void)
{
	struct dial_result *res = result_new();

	cr_assert_not_null(dial(res), "dialer_dial refused");
	run_until(&res->calls, 1);
	cr_assert_eq(res->calls, 1, "done not called");
	return res;
}

/* Closes a socket a result holds, so that teardown does not. */
static void result_close(struct dial_result *res)
{
	if (res->fd >= 0)
		close(res->fd);
	res->fd = -1;
}

/* The real dialer, pointed at to_port, connected and ready. */
static void start_real_dialer(uint16_t to_port)
{
	spawn_dialer(to_port);
	run_until_ready(true);
	cr_assert(dialer_ready(d), "endpointd-dialer did not connect");
}

/* Connects to the socket at path and says nothing; reads time out after
 * 2 s. */
static int connect_to(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct timeval tv = {2, 0};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0, "%s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Connects to the dialer's socket and says nothing yet. */
static int fake_connect_silent(void)
{
	return connect_to(sock_path);
}

/* Sends len bytes on fd; they must all go. */
static void send_all(int fd, const void *bytes, size_t len)
{
	cr_assert_eq(send(fd, bytes, len, MSG_NOSIGNAL), (ssize_t)len, "%s", strerror(errno));
}

/* Connects to the dialer's socket as a dialer process would, hello first. */
static int fake_connect(void)
{
	int fd = fake_connect_silent();

	send_all(fd, dialer_token(d), DIALER_TOKEN_LEN);
	return fd;
}

/* A fake dialer, connected and accepted. */
static int start_fake(void)
{
	int fake = fake_connect();

	run_until_ready(true);
	cr_assert(dialer_ready(d));
	return fake;
}

/* Reads n requests (one byte each) on the fake. */
static void fake_read_requests(int fake, size_t n)
{
	char buf[16];

	cr_assert_leq(n, sizeof(buf));
	for (size_t got = 0; got < n;) {
		ssize_t k = read(fake, buf, n - got);

		cr_assert_gt(k, 0, "the fake got %zu of %zu requests", got, n);
		got += (size_t)k;
	}
}

/* Sends bytes from the fake with fds attached (none when nfds is 0). */
static void fake_send(int fake, const void *bytes, size_t len, const int *fds, size_t nfds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} ctl;
	struct iovec iov = {(void *)bytes, len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

	cr_assert_leq(nfds, 8);
	memset(&ctl, 0, sizeof(ctl));
	if (nfds) {
		struct cmsghdr *c;

		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	cr_assert_eq(sendmsg(fake, &msg, MSG_NOSIGNAL), (ssize_t)len, "%s", strerror(errno));
}

/* Answers from the fake: value, with fd attached unless it is -1. */
static void fake_answer(int fake, int32_t value, int fd)
{
	fake_send(fake, &value, sizeof(value), &fd, fd >= 0 ? 1 : 0);
}

/* Whether the fake sees its connection closed (within 2 s), past any
 * requests: end-of-file, or a reset when what it sent was left unread. */
static bool fake_sees_eof(int fake)
{
	char buf[64];
	ssize_t n;

	while ((n = read(fake, buf, sizeof(buf))) > 0)
		;
	return n == 0 || errno == ECONNRESET;
}

/* A fresh dialer in a fresh directory, with a loopback listener for the
 * real dialer to dial. */
static void setup(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	int r;

	/* A dying child must not kill the test with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	cr_assert_not_null(base);
	strcpy(dir, "/tmp/test_dialer.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(sock_path, sizeof(sock_path), "%s/%s", dir, DIALER_SOCKET_NAME);
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(bind(listen_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(listen_fd, 64), 0);
	getsockname(listen_fd, (struct sockaddr *)&sin, &sl);
	listen_port = ntohs(sin.sin_port);
	r = dialer_new(base, dir, listen_port, &d);
	cr_assert_eq(r, 0, "dialer_new: %s", strerror(-r));
	/* The fakes are this very process; a real dialer says its own pid. */
	dialer_expect_peer(d, getpid());
}

/* Close the dialer first (its child then exits), let waiting requests
 * complete, then free. */
static void teardown(void)
{
	dialer_close(d);
	event_base_loop(base, EVLOOP_NONBLOCK);
	d = dialer_unref(d);
	for (size_t i = 0; i < n_results; i++)
		if (results[i].calls && results[i].fd >= 0)
			close(results[i].fd);
	if (child > 0 && wait_child() == -1) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	if (listen_fd >= 0)
		close(listen_fd);
	unlink(sock_path);
	rmdir(dir);
	event_base_free(base);
}

TestSuite(dialer, .init = setup, .fini = teardown, .timeout = 10);
TestSuite(dialer_real, .init = setup, .fini = teardown, .timeout = 10);
TestSuite(dialer_fake, .init = setup, .fini = teardown, .timeout = 10);
TestSuite(dialer_rule);

/* --- Without a dialer process --- */

Test(dialer, new_makes_a_socket_in_the_directory)
{
	struct stat st;

	cr_assert_eq(stat(sock_path, &st), 0, "%s: %s", sock_path, strerror(errno));
	cr_assert(S_ISSOCK(st.st_mode));
}

Test(dialer, socket_file_is_mode_0666)
{
	struct stat st;

	cr_assert_eq(stat(sock_path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0666, "mode %o", (unsigned)(st.st_mode & 07777));
}

Test(dialer, new_on_a_missing_directory_fails_with_enoent)
{
	struct dialer *other = NULL;
	_cleanup_free_ char *missing = xasprintf("%s/missing", dir);

	cr_assert_eq(dialer_new(base, missing, listen_port, &other), -ENOENT);
}

Test(dialer, new_that_fails_leaves_ret_untouched)
{
	struct dialer *other = (struct dialer *)&other;
	_cleanup_free_ char *missing = xasprintf("%s/missing", dir);

	dialer_new(base, missing, listen_port, &other);
	cr_assert_eq(other, (struct dialer *)&other);
}

Test(dialer, new_with_a_path_too_long_for_a_unix_socket_fails_with_enametoolong)
{
	struct dialer *other = NULL;
	char longdir[200];

	memset(longdir, 'x', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	cr_assert_eq(dialer_new(base, longdir, listen_port, &other), -ENAMETOOLONG);
}

Test(dialer, new_replaces_a_stale_socket_file)
{
	char other_dir[] = "/tmp/test_dialer.XXXXXX";
	_cleanup_free_ char *path = NULL;
	struct dialer *other = NULL;
	struct stat st;
	int fd, r;

	cr_assert_not_null(mkdtemp(other_dir));
	path = xasprintf("%s/%s", other_dir, DIALER_SOCKET_NAME);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	close(fd);
	r = dialer_new(base, other_dir, listen_port, &other);
	stat(path, &st);
	dialer_unref(other);
	unlink(path);
	rmdir(other_dir);
	cr_assert_eq(r, 0, "%s", strerror(-r));
	cr_assert(S_ISSOCK(st.st_mode));
}

Test(dialer, ready_is_false_while_no_process_is_connected)
{
	run_for(20);
	cr_assert_not(dialer_ready(d));
}

Test(dialer, dial_with_no_process_connected_returns_null)
{
	struct dial_result *res = result_new();

	cr_assert_null(dial(res));
	run_for(20);
	cr_assert_eq(res->calls, 0);
}

Test(dialer, unref_of_null_is_a_no_op)
{
	cr_assert_null(dialer_unref(NULL));
}

Test(dialer, close_of_null_is_a_no_op)
{
	dialer_close(NULL);
}

Test(dialer, cancel_of_null_is_a_no_op)
{
	dialer_cancel(NULL);
}

/* --- The real endpointd-dialer --- */

Test(dialer_real, ready_turns_true_once_the_dialer_process_connects)
{
	cr_assert_not(dialer_ready(d));
	spawn_dialer(listen_port);
	run_until_ready(true);
	cr_assert(dialer_ready(d));
}

Test(dialer_real, dial_gives_a_socket_connected_to_the_port)
{
	struct dial_result *res;
	struct sockaddr_in peer;
	socklen_t sl = sizeof(peer);

	start_real_dialer(listen_port);
	res = dial_and_wait();
	cr_assert_geq(res->fd, 0, "%s", strerror(-res->fd));
	cr_assert_eq(getpeername(res->fd, (struct sockaddr *)&peer, &sl), 0, "%s", strerror(errno));
	cr_assert_eq(peer.sin_family, AF_INET);
	cr_assert_eq(ntohl(peer.sin_addr.s_addr), INADDR_LOOPBACK);
	cr_assert_eq(ntohs(peer.sin_port), listen_port);
}

Test(dialer_real, dial_gives_a_nonblocking_socket)
{
	struct dial_result *res;

	start_real_dialer(listen_port);
	res = dial_and_wait();
	cr_assert_geq(res->fd, 0, "%s", strerror(-res->fd));
	cr_assert(fcntl(res->fd, F_GETFL) & O_NONBLOCK);
}

Test(dialer_real, dial_gives_a_socket_the_listener_accepted)
{
	struct dial_result *res;
	struct sockaddr_in peer;
	socklen_t sl = sizeof(peer);
	int accepted;

	start_real_dialer(listen_port);
	res = dial_and_wait();
	cr_assert_geq(res->fd, 0, "%s", strerror(-res->fd));
	accepted = accept_one();
	getpeername(accepted, (struct sockaddr *)&peer, &sl);
	close(accepted);
	cr_assert_eq(ntohs(peer.sin_port), local_port(res->fd));
}

Test(dialer_real, several_dials_at_once_are_each_completed_exactly_once)
{
	struct dial_result *res[4];

	start_real_dialer(listen_port);
	for (size_t i = 0; i < ELEMENTSOF(res); i++) {
		res[i] = result_new();
		cr_assert_not_null(dial(res[i]));
	}
	run_until(&completions, ELEMENTSOF(res));
	/* A second completion would show up here. */
	run_for(50);
	for (size_t i = 0; i < ELEMENTSOF(res); i++) {
		cr_assert_eq(res[i]->calls, 1, "request %zu: %d calls", i, res[i]->calls);
		cr_assert_geq(res[i]->fd, 0, "request %zu: %s", i, strerror(-res[i]->fd));
	}
}

Test(dialer_real, several_dials_at_once_complete_in_the_order_asked)
{
	struct dial_result *res[4];

	start_real_dialer(listen_port);
	for (size_t i = 0; i < ELEMENTSOF(res); i++) {
		res[i] = result_new();
		cr_assert_not_null(dial(res[i]));
	}
	run_until(&completions, ELEMENTSOF(res));
	for (size_t i = 0; i < ELEMENTSOF(res); i++)
		cr_assert_eq(res[i]->nth, (int)i + 1, "request %zu completed as %d", i,
		             res[i]->nth);
}

Test(dialer_real, several_dials_at_once_get_the_connections_in_the_order_made)
{
	struct dial_result *res[4];

	start_real_dialer(listen_port);
	for (size_t i = 0; i < ELEMENTSOF(res); i++) {
		res[i] = result_new();
		cr_assert_not_null(dial(res[i]));
	}
	run_until(&completions, ELEMENTSOF(res));
	/* The dialer connects one at a time: the listener's queue has them in
	 * the order it made them. */
	for (size_t i = 0; i < ELEMENTSOF(res); i++) {
		struct sockaddr_in peer;
		socklen_t sl = sizeof(peer);
		int accepted = accept_one();

		getpeername(accepted, (struct sockaddr *)&peer, &sl);
		close(accepted);
		cr_assert_geq(res[i]->fd, 0, "request %zu: %s", i, strerror(-res[i]->fd));
		cr_assert_eq(ntohs(peer.sin_port), local_port(res[i]->fd),
		             "request %zu got another connection", i);
	}
}

Test(dialer_real, dial_to_a_closed_port_completes_with_econnrefused)
{
	struct dial_result *res;

	start_real_dialer(closed_port());
	res = dial_and_wait();
	cr_assert_eq(res->fd, -ECONNREFUSED, "%d", res->fd);
}

Test(dialer_real, done_is_not_called_inside_dial)
{
	struct dial_result *res = result_new();

	start_real_dialer(listen_port);
	cr_assert_not_null(dial(res));
	cr_assert_eq(res->calls, 0);
	run_until(&res->calls, 1);
	cr_assert_eq(res->calls, 1);
	cr_assert_not(res->inside_dial);
}

Test(dialer_real, cancelled_request_is_never_completed)
{
	struct dial_result *cancelled = result_new(), *after = result_new();

	start_real_dialer(listen_port);
	dialer_cancel(dial(cancelled));
	cr_assert_not_null(dial(after));
	/* Answers come in order: the cancelled one's has come by now. */
	run_until(&after->calls, 1);
	run_for(50);
	cr_assert_eq(cancelled->calls, 0);
}

Test(dialer_real, cancelled_request_does_not_leak_its_socket)
{
	struct dial_result *cancelled = result_new(), *after = result_new();
	int before;

	start_real_dialer(listen_port);
	before = count_fds();
	dialer_cancel(dial(cancelled));
	cr_assert_not_null(dial(after));
	run_until(&after->calls, 1);
	cr_assert_geq(after->fd, 0, "%s", strerror(-after->fd));
	result_close(after);
	cr_assert_eq(count_fds(), before);
}

Test(dialer_real, close_completes_waiting_requests_with_ecanceled)
{
	struct dial_result *res = result_new();

	start_real_dialer(listen_port);
	cr_assert_not_null(dial(res));
	dialer_close(d);
	run_until(&res->calls, 1);
	cr_assert_eq(res->calls, 1);
	cr_assert_eq(res->fd, -ECANCELED, "%d", res->fd);
}

Test(dialer_real, close_completes_waiting_requests_from_the_loop)
{
	struct dial_result *res = result_new();

	start_real_dialer(listen_port);
	cr_assert_not_null(dial(res));
	dialer_close(d);
	cr_assert_eq(res->calls, 0);
}

Test(dialer_real, close_removes_the_socket_file)
{
	start_real_dialer(listen_port);
	dialer_close(d);
	cr_assert_eq(access(sock_path, F_OK), -1);
	cr_assert_eq(errno, ENOENT);
}

Test(dialer_real, close_makes_the_dialer_process_exit_0)
{
	int status;

	start_real_dialer(listen_port);
	dialer_close(d);
	status = wait_child();
	cr_assert_neq(status, -1, "endpointd-dialer still runs");
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "wait status %#x", status);
}

Test(dialer_real, dial_after_close_returns_null)
{
	struct dial_result *res = result_new();

	start_real_dialer(listen_port);
	dialer_close(d);
	cr_assert_null(dial(res));
}

/* Closes and drops the dialer from inside done, as an instance going away
 * might. */
static void on_dialed_drop_dialer(int fd, void *userdata)
{
	on_dialed(fd, userdata);
	dialer_close(d);
	d = dialer_unref(d);
}

Test(dialer_real, dialer_may_be_closed_and_dropped_from_inside_done)
{
	struct dial_result *res = result_new(), *other = result_new();

	start_real_dialer(listen_port);
	cr_assert_not_null(dialer_dial(d, on_dialed_drop_dialer, res));
	cr_assert_not_null(dial(other));
	run_until(&completions, 2);
	cr_assert_null(d);
	cr_assert_eq(res->calls, 1);
	cr_assert_eq(other->calls, 1);
}

/* --- A fake dialer process --- */

Test(dialer_fake, errno_answer_completes_the_request_with_that_errno_negated)
{
	struct dial_result *res = result_new();
	int fake = start_fake();

	cr_assert_not_null(dial(res));
	fake_read_requests(fake, 1);
	fake_answer(fake, ETIMEDOUT, -1);
	run_until(&res->calls, 1);
	close(fake);
	cr_assert_eq(res->fd, -ETIMEDOUT, "%d", res->fd);
}

Test(dialer_fake, answers_are_paired_with_requests_in_the_order_asked)
{
	struct dial_result *first = result_new(), *second = result_new();
	int fake = start_fake(), sent;
	uint16_t sent_port = tcp_socket(&sent);

	cr_assert_not_null(dial(first));
	cr_assert_not_null(dial(second));
	fake_read_requests(fake, 2);
	fake_answer(fake, ECONNREFUSED, -1);
	fake_answer(fake, 0, sent);
	close(sent);
	run_until(&completions, 2);
	close(fake);
	cr_assert_eq(first->fd, -ECONNREFUSED, "%d", first->fd);
	cr_assert_geq(second->fd, 0, "%d", second->fd);
	cr_assert_eq(local_port(second->fd), sent_port);
}

Test(dialer_fake, answer_split_with_the_fd_on_the_first_part_is_paired_correctly)
{
	struct dial_result *res = result_new();
	int32_t zero = 0;
	int fake = start_fake(), sent;
	uint16_t sent_port = tcp_socket(&sent);

	cr_assert_not_null(dial(res));
	fake_read_requests(fake, 1);
	fake_send(fake, &zero, 2, &sent, 1);
	close(sent);
	/* Let the dialer read the first part on its own. */
	run_for(50);
	cr_assert_eq(res->calls, 0);
	fake_send(fake, (char *)&zero + 2, 2, NULL, 0);
	run_until(&res->calls, 1);
	close(fake);
	cr_assert_geq(res->fd, 0, "%d", res->fd);
	cr_assert_eq(local_port(res->fd), sent_port);
}

Test(dialer_fake, answer_split_with_the_fd_on_the_second_part_is_paired_correctly)
{
	struct dial_result *res = result_new();
	int32_t zero = 0;
	int fake = start_fake(), sent;
	uint16_t sent_port = tcp_socket(&sent);

	cr_assert_not_null(dial(res));
	fake_read_requests(fake, 1);
	fake_send(fake, &zero, 2, NULL, 0);
	run_for(50);
	cr_assert_eq(res->calls, 0);
	fake_send(fake, (char *)&zero + 2, 2, &sent, 1);
	close(sent);
	run_until(&res->calls, 1);
	close(fake);
	cr_assert_geq(res->fd, 0, "%d", res->fd);
	cr_assert_eq(local_port(res->fd), sent_port);
}

Test(dialer_fake, newer_process_ends_the_older_ones_waiting_requests_with_econnreset)
{
	struct dial_result *res = result_new();
	int first = start_fake(), second;

	cr_assert_not_null(dial(res));
	fake_read_requests(first, 1);
	second = fake_connect();
	run_until(&res->calls, 1);
	close(first);
	close(second);
	cr_assert_eq(res->fd, -ECONNRESET, "%d", res->fd);
}

Test(dialer_fake, newer_process_disconnects_the_older_one)
{
	struct dial_result *res = result_new();
	int first = start_fake(), second;
	bool eof;

	cr_assert_not_null(dial(res));
	second = fake_connect();
	run_until(&res->calls, 1);
	eof = fake_sees_eof(first);
	close(first);
	close(second);
	cr_assert(eof);
}

Test(dialer_fake, newer_process_is_the_one_asked)
{
	struct dial_result *old = result_new(), *res = result_new();
	int first = start_fake(), second;
	char byte;
	ssize_t n;

	cr_assert_not_null(dial(old));
	second = fake_connect();
	run_until(&old->calls, 1);
	cr_assert_not_null(dial(res));
	n = read(second, &byte, 1);
	close(first);
	close(second);
	cr_assert_eq(n, 1, "the newer process was not asked");
}

Test(dialer_fake, peer_closing_after_reading_the_requests_ends_them_with_econnreset)
{
	struct dial_result *res[2] = {result_new(), result_new()};
	int fake = start_fake();

	cr_assert_not_null(dial(res[0]));
	cr_assert_not_null(dial(res[1]));
	fake_read_requests(fake, 2);
	close(fake);
	run_until(&completions, 2);
	cr_assert_eq(res[0]->fd, -ECONNRESET, "%d", res[0]->fd);
	cr_assert_eq(res[1]->fd, -ECONNRESET, "%d", res[1]->fd);
}

Test(dialer_fake, peer_closing_before_reading_the_requests_ends_them_with_econnreset)
{
	struct dial_result *res = result_new();
	int fake = start_fake();

	/* Killed before it read the request: the kernel then reports a reset,
	 * not an end-of-file. */
	cr_assert_not_null(dial(res));
	close(fake);
	run_until(&res->calls, 1);
	cr_assert_eq(res->fd, -ECONNRESET, "%d", res->fd);
}

Test(dialer_fake, peer_closing_leaves_the_dialer_not_ready)
{
	int fake = start_fake();

	close(fake);
	run_until_ready(false);
	cr_assert_not(dialer_ready(d));
}

Test(dialer_fake, peer_may_connect_again_after_closing)
{
	struct dial_result *res = result_new();
	int fake = start_fake();

	close(fake);
	run_until_ready(false);
	fake = start_fake();
	cr_assert_not_null(dial(res));
	fake_read_requests(fake, 1);
	fake_answer(fake, EHOSTUNREACH, -1);
	run_until(&res->calls, 1);
	close(fake);
	cr_assert_eq(res->fd, -EHOSTUNREACH, "%d", res->fd);
}

/* --- Answers that break the protocol --- */

enum bad_answer_kind {
	BAD_ZERO_WITHOUT_FD,
	BAD_ZERO_WITH_TWO_FDS,
	BAD_ZERO_WITH_FIVE_FDS,
	BAD_ZERO_WITH_A_PIPE,
	BAD_ZERO_WITH_A_UDP_SOCKET,
	BAD_ZERO_WITH_A_UNIX_SOCKET,
	BAD_ZERO_WITH_AN_UNCONNECTED_TCP_SOCKET,
	BAD_ZERO_WITH_A_LISTENING_TCP_SOCKET,
	BAD_ZERO_WITH_A_TCP_SOCKET_TO_ANOTHER_PORT,
	BAD_ZERO_WITH_A_CONNECTED_UDP_SOCKET,
	BAD_ERRNO_WITH_AN_FD,
	BAD_NEGATIVE,
	BAD_OUT_OF_RANGE,
	BAD_UNASKED, /* last: the one kind with no request waiting */
};

struct bad_answer {
	enum bad_answer_kind kind;
	char what[48];
};

static const struct bad_answer bad_answers[] = {
    {BAD_ZERO_WITHOUT_FD, "0 without an fd"},
    {BAD_ZERO_WITH_TWO_FDS, "0 with two TCP sockets"},
    {BAD_ZERO_WITH_FIVE_FDS, "0 with five TCP sockets"},
    {BAD_ZERO_WITH_A_PIPE, "0 with a pipe"},
    {BAD_ZERO_WITH_A_UDP_SOCKET, "0 with a UDP socket"},
    {BAD_ZERO_WITH_A_UNIX_SOCKET, "0 with a Unix stream socket"},
    {BAD_ZERO_WITH_AN_UNCONNECTED_TCP_SOCKET, "0 with an unconnected TCP socket"},
    {BAD_ZERO_WITH_A_LISTENING_TCP_SOCKET, "0 with a listening TCP socket"},
    {BAD_ZERO_WITH_A_TCP_SOCKET_TO_ANOTHER_PORT, "0 with a TCP socket to another port"},
    {BAD_ZERO_WITH_A_CONNECTED_UDP_SOCKET, "0 with a UDP socket to the model port"},
    {BAD_ERRNO_WITH_AN_FD, "ECONNREFUSED with a TCP socket"},
    {BAD_NEGATIVE, "-5"},
    {BAD_OUT_OF_RANGE, "100000"},
    {BAD_UNASKED, "0 with a TCP socket nobody asked for"},
};

/* What came of a bad answer. */
struct bad_outcome {
	struct dial_result *res; /* the request waiting, if there was one */
	bool ready;              /* dialer_ready() after */
	bool eof;                /* the fake read end-of-file */
	int fds_leaked;
};

/* Sends the bad answer of kind from the fake; the test keeps no copy of the
 * fds it attaches. */
static void fake_send_bad(int fake, enum bad_answer_kind kind)
{
	int32_t value = 0;
	int fds[5], nfds = 1, other_end = -1;

	switch (kind) {
	case BAD_ZERO_WITHOUT_FD:
		nfds = 0;
		break;
	case BAD_ZERO_WITH_TWO_FDS:
	case BAD_ZERO_WITH_FIVE_FDS:
		nfds = kind == BAD_ZERO_WITH_TWO_FDS ? 2 : 5;
		for (int i = 0; i < nfds; i++)
			tcp_socket(&fds[i]);
		break;
	case BAD_ZERO_WITH_A_PIPE: {
		int p[2];

		cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
		fds[0] = p[0];
		other_end = p[1];
		break;
	}
	case BAD_ZERO_WITH_A_UDP_SOCKET:
		fds[0] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		break;
	case BAD_ZERO_WITH_A_UNIX_SOCKET:
		fds[0] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		break;
	case BAD_ZERO_WITH_AN_UNCONNECTED_TCP_SOCKET:
		tcp_socket_to(0, &fds[0]);
		break;
	case BAD_ZERO_WITH_A_LISTENING_TCP_SOCKET:
		tcp_socket_to(0, &fds[0]);
		cr_assert_eq(listen(fds[0], 1), 0);
		break;
	case BAD_ZERO_WITH_A_TCP_SOCKET_TO_ANOTHER_PORT: {
		int other;

		/* A listener of its own, so that the connect succeeds. */
		uint16_t other_port = tcp_socket_to(0, &other);

		cr_assert_eq(listen(other, 1), 0);
		tcp_socket_to(other_port, &fds[0]);
		other_end = other;
		break;
	}
	case BAD_ZERO_WITH_A_CONNECTED_UDP_SOCKET: {
		struct sockaddr_in to = {.sin_family = AF_INET,
		                         .sin_port = htons(listen_port),
		                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

		fds[0] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		cr_assert_eq(connect(fds[0], (struct sockaddr *)&to, sizeof(to)), 0);
		break;
	}
	case BAD_ERRNO_WITH_AN_FD:
		value = ECONNREFUSED;
		tcp_socket(&fds[0]);
		break;
	case BAD_NEGATIVE:
		value = -5;
		nfds = 0;
		break;
	case BAD_OUT_OF_RANGE:
		value = 100000;
		nfds = 0;
		break;
	case BAD_UNASKED:
		tcp_socket(&fds[0]);
		break;
	}
	for (int i = 0; i < nfds; i++)
		cr_assert_geq(fds[i], 0);
	fake_send(fake, &value, sizeof(value), fds, (size_t)nfds);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (other_end >= 0)
		close(other_end);
}

/* A fake connects, is asked for a connection (unless the answer is one
 * nobody asked for), answers badly, and the loop runs until the dialer has
 * dealt with it. */
static struct bad_outcome bad_answer_run(const struct bad_answer *a)
{
	struct bad_outcome o = {.res = result_new()};
	int before = count_fds();
	int fake = start_fake();

	if (a->kind != BAD_UNASKED) {
		cr_assert_not_null(dial(o.res));
		fake_read_requests(fake, 1);
	}
	fake_send_bad(fake, a->kind);
	if (a->kind != BAD_UNASKED)
		run_until(&o.res->calls, 1);
	else
		run_until_ready(false);
	o.ready = dialer_ready(d);
	o.eof = fake_sees_eof(fake);
	close(fake);
	o.fds_leaked = count_fds() - before;
	return o;
}

static void bad_answers_free(struct criterion_test_params *params)
{
	cr_free(params->params);
}

/* The cases, in memory the test workers can read; the last n_skipped left
 * out. */
static struct criterion_test_params bad_answer_params(size_t n_skipped)
{
	size_t n = ELEMENTSOF(bad_answers) - n_skipped;
	struct bad_answer *cases = cr_calloc(n, sizeof(*cases));

	memcpy(cases, bad_answers, n * sizeof(*cases));
	return cr_make_param_array(struct bad_answer, cases, n, bad_answers_free);
}

ParameterizedTestParameters(dialer_fake, bad_answer_ends_the_waiting_request_with_eproto)
{
	return bad_answer_params(1);
}

ParameterizedTest(const struct bad_answer *a, dialer_fake,
                  bad_answer_ends_the_waiting_request_with_eproto)
{
	struct bad_outcome o = bad_answer_run(a);

	cr_assert_eq(o.res->calls, 1, "%s: %d calls", a->what, o.res->calls);
	cr_assert_eq(o.res->fd, -EPROTO, "%s: %d", a->what, o.res->fd);
}

ParameterizedTestParameters(dialer_fake, bad_answer_disconnects_the_dialer_process)
{
	return bad_answer_params(0);
}

ParameterizedTest(const struct bad_answer *a, dialer_fake,
                  bad_answer_disconnects_the_dialer_process)
{
	struct bad_outcome o = bad_answer_run(a);

	cr_assert(o.eof, "%s: the fake was not disconnected", a->what);
}

ParameterizedTestParameters(dialer_fake, bad_answer_leaves_the_dialer_not_ready)
{
	return bad_answer_params(0);
}

ParameterizedTest(const struct bad_answer *a, dialer_fake, bad_answer_leaves_the_dialer_not_ready)
{
	struct bad_outcome o = bad_answer_run(a);

	cr_assert_not(o.ready, "%s: still ready", a->what);
}

ParameterizedTestParameters(dialer_fake, bad_answer_leaks_no_fd)
{
	return bad_answer_params(0);
}

ParameterizedTest(const struct bad_answer *a, dialer_fake, bad_answer_leaks_no_fd)
{
	struct bad_outcome o = bad_answer_run(a);

	cr_assert_eq(o.fds_leaked, 0, "%s: %d fds leaked", a->what, o.fds_leaked);
}

/* --- Who may connect --- */

Test(dialer, connection_is_not_taken_before_the_peer_is_known)
{
	struct dialer *other = NULL;
	char other_dir[] = "/tmp/test_dialer.XXXXXX";
	_cleanup_free_ char *path = NULL;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd, r;
	bool before, after;

	cr_assert_not_null(mkdtemp(other_dir));
	r = dialer_new(base, other_dir, listen_port, &other);
	cr_assert_eq(r, 0, "%s", strerror(-r));
	path = xasprintf("%s/%s", other_dir, DIALER_SOCKET_NAME);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	send_all(fd, dialer_token(other), DIALER_TOKEN_LEN);
	run_for(100);
	before = dialer_ready(other);
	dialer_expect_peer(other, getpid());
	run_for(100);
	after = dialer_ready(other);
	close(fd);
	dialer_close(other);
	dialer_unref(other);
	rmdir(other_dir);
	cr_assert_not(before, "taken before its pid was known");
	cr_assert(after, "not taken once its pid was known");
}

Test(dialer, connection_from_another_process_is_closed)
{
	int fake;
	bool eof;

	dialer_expect_peer(d, getppid());
	fake = fake_connect();
	run_for(100);
	cr_assert_not(dialer_ready(d));
	eof = fake_sees_eof(fake);
	close(fake);
	cr_assert(eof, "the connection of another process was left open");
}

Test(dialer_fake, connection_from_another_process_leaves_the_dialer_process_alone)
{
	struct dial_result *res = result_new();
	int fake = start_fake(), status = -1;
	pid_t pid;

	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* Another process of the container: connects, waits to be
		 * closed; exit 0 when it is. */
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		struct timeval tv = {2, 0};
		char byte;
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		memcpy(sun.sun_path, sock_path, strlen(sock_path) + 1);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
			_exit(2);
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		_exit(read(fd, &byte, 1) == 0 ? 0 : 1);
	}
	for (int i = 0; i < 300 && waitpid(pid, &status, WNOHANG) != pid; i++)
		run_for(10);
	cr_assert(dialer_ready(d), "the dialer process was dropped");
	cr_assert_not_null(dial(res));
	fake_read_requests(fake, 1);
	fake_answer(fake, EHOSTUNREACH, -1);
	run_until(&res->calls, 1);
	close(fake);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	          "the other process was not closed (status %d)", status);
	cr_assert_eq(res->fd, -EHOSTUNREACH, "%d", res->fd);
}

/* --- The token and the hello --- */

Test(dialer_rule, takes_the_token_from_the_exec_pid)
{
	cr_assert(dialer_peer_acceptable(1234, 1234, true));
}

Test(dialer_rule, refuses_the_token_from_another_pid)
{
	cr_assert_not(dialer_peer_acceptable(1235, 1234, true));
}

Test(dialer_rule, takes_the_token_from_a_pid_this_namespace_cannot_see)
{
	cr_assert(dialer_peer_acceptable(0, 1234, true));
}

Test(dialer_rule, refuses_a_wrong_token_from_the_exec_pid)
{
	cr_assert_not(dialer_peer_acceptable(1234, 1234, false));
}

Test(dialer_rule, refuses_a_wrong_token_from_a_pid_this_namespace_cannot_see)
{
	cr_assert_not(dialer_peer_acceptable(0, 1234, false));
}

Test(dialer_rule, refuses_everyone_before_the_exec_pid_is_known)
{
	cr_assert_not(dialer_peer_acceptable(0, 0, true));
	cr_assert_not(dialer_peer_acceptable(1234, 0, true));
}

Test(dialer, token_is_32_lowercase_hex_digits)
{
	const char *t = dialer_token(d);

	cr_assert_eq(strlen(t), DIALER_TOKEN_LEN, "%s", t);
	cr_assert_eq(strspn(t, "0123456789abcdef"), DIALER_TOKEN_LEN, "%s", t);
}

Test(dialer, each_dialer_gets_a_token_of_its_own)
{
	char other_dir[] = "/tmp/test_dialer.XXXXXX";
	struct dialer *other = NULL;
	bool same;
	int r;

	cr_assert_not_null(mkdtemp(other_dir));
	r = dialer_new(base, other_dir, listen_port, &other);
	cr_assert_eq(r, 0, "%s", strerror(-r));
	same = !strcmp(dialer_token(d), dialer_token(other));
	dialer_unref(other);
	rmdir(other_dir);
	cr_assert_not(same, "two dialers share token %s", dialer_token(d));
}

/* The test's token with its last digit changed. */
static void wrong_token(char *buf)
{
	memcpy(buf, dialer_token(d), DIALER_TOKEN_LEN);
	buf[DIALER_TOKEN_LEN - 1] = buf[DIALER_TOKEN_LEN - 1] == '0' ? '1' : '0';
}

/* Runs the loop until the daemon has closed fd (end-of-file, or a reset
 * when what was sent went unread): the ms that took, or -1 past max_ms. */
static long ms_until_closed(int fd, long max_ms)
{
	uint64_t t0 = now_monotonic_ms();

	while ((long)(now_monotonic_ms() - t0) < max_ms) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char c;

		run_for(5);
		if (poll(&p, 1, 0) == 1) {
			ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);

			if (n == 0 || (n < 0 && errno == ECONNRESET))
				return (long)(now_monotonic_ms() - t0);
		}
	}
	return -1;
}

/* Whether fd has been closed by the daemon, without waiting. */
static bool closed_now(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* Asks the taken fake for a connection and has it answer: the taken
 * connection still works. */
static void assert_fake_still_answers(int fake)
{
	struct dial_result *res = result_new();

	cr_assert(dialer_ready(d), "the taken connection was dropped");
	cr_assert_not_null(dial(res));
	fake_read_requests(fake, 1);
	fake_answer(fake, EHOSTUNREACH, -1);
	run_until(&res->calls, 1);
	cr_assert_eq(res->fd, -EHOSTUNREACH, "%d", res->fd);
}

Test(dialer_fake, connection_with_the_token_from_the_exec_pid_is_taken)
{
	int fake = fake_connect();

	run_until_ready(true);
	cr_assert(dialer_ready(d));
	close(fake);
}

Test(dialer_fake, connection_with_a_wrong_token_is_closed)
{
	char bad[DIALER_TOKEN_LEN];
	int fake = fake_connect_silent();
	long ms;

	wrong_token(bad);
	send_all(fake, bad, sizeof(bad));
	ms = ms_until_closed(fake, 500);
	close(fake);
	cr_assert_geq(ms, 0, "the connection with a wrong token was left open");
	cr_assert_not(dialer_ready(d));
}

Test(dialer_fake, connection_with_a_wrong_token_leaves_the_taken_one_alone)
{
	char bad[DIALER_TOKEN_LEN];
	int fake = start_fake(), other = fake_connect_silent();

	wrong_token(bad);
	send_all(other, bad, sizeof(bad));
	cr_assert_geq(ms_until_closed(other, 500), 0);
	close(other);
	assert_fake_still_answers(fake);
	close(fake);
}

Test(dialer_fake, connection_that_sends_nothing_is_closed_at_the_deadline)
{
	int fake = fake_connect_silent();
	long ms = ms_until_closed(fake, DIALER_HELLO_TIMEOUT_MS + 1000);

	close(fake);
	cr_assert_geq(ms, DIALER_HELLO_TIMEOUT_MS - 100, "closed after %ld ms", ms);
	cr_assert_not(dialer_ready(d));
}

Test(dialer_fake, connection_that_sends_nothing_leaves_the_taken_one_alone)
{
	int fake = start_fake(), other = fake_connect_silent();

	cr_assert_geq(ms_until_closed(other, DIALER_HELLO_TIMEOUT_MS + 1000), 0);
	close(other);
	assert_fake_still_answers(fake);
	close(fake);
}

Test(dialer_fake, hello_cut_short_by_a_hang_up_is_closed_at_once)
{
	int fake = fake_connect_silent();
	long ms;

	send_all(fake, dialer_token(d), DIALER_TOKEN_LEN / 2);
	shutdown(fake, SHUT_WR);
	ms = ms_until_closed(fake, DIALER_HELLO_TIMEOUT_MS + 1000);
	close(fake);
	cr_assert_geq(ms, 0, "never closed");
	cr_assert_lt(ms, DIALER_HELLO_TIMEOUT_MS / 2, "closed only after %ld ms", ms);
	cr_assert_not(dialer_ready(d));
}

Test(dialer_fake, hello_that_stops_halfway_is_closed_at_the_deadline)
{
	int fake = fake_connect_silent();
	long ms;

	send_all(fake, dialer_token(d), DIALER_TOKEN_LEN / 2);
	ms = ms_until_closed(fake, DIALER_HELLO_TIMEOUT_MS + 1000);
	close(fake);
	cr_assert_geq(ms, DIALER_HELLO_TIMEOUT_MS - 100, "closed after %ld ms", ms);
	cr_assert_not(dialer_ready(d));
}

Test(dialer_fake, hello_in_pieces_within_the_deadline_is_taken)
{
	int fake = fake_connect_silent();

	send_all(fake, dialer_token(d), 5);
	run_for(100);
	send_all(fake, dialer_token(d) + 5, 20);
	run_for(100);
	send_all(fake, dialer_token(d) + 25, DIALER_TOKEN_LEN - 25);
	run_until_ready(true);
	cr_assert(dialer_ready(d));
	close(fake);
}

Test(dialer_fake, hello_a_byte_at_a_time_does_not_stretch_the_deadline)
{
	int fake = fake_connect_silent();
	uint64_t t0 = now_monotonic_ms();
	bool closed = false;

	/* A byte every 100 ms would take 3.2 s to finish the hello. */
	for (int i = 0; i < DIALER_TOKEN_LEN && !closed; i++) {
		if (send(fake, dialer_token(d) + i, 1, MSG_NOSIGNAL) != 1)
			break;
		run_for(100);
		closed = closed_now(fake);
	}
	closed = closed || closed_now(fake);
	close(fake);
	cr_assert(closed, "still open after %llu ms",
	          (unsigned long long)(now_monotonic_ms() - t0));
	cr_assert_lt(now_monotonic_ms() - t0, DIALER_HELLO_TIMEOUT_MS + 400);
	cr_assert_not(dialer_ready(d));
}

Test(dialer_fake, connection_waiting_for_its_hello_is_closed_with_the_dialer)
{
	int fake = fake_connect_silent();
	bool eof;

	run_for(50);
	dialer_close(d);
	eof = fake_sees_eof(fake);
	close(fake);
	cr_assert(eof);
}

/* Connects n times and says nothing, the loop turning in between so that
 * the backlog never fills. */
static void connect_silently(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fds[i] = fake_connect_silent();
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
}

Test(dialer_fake, silent_connections_past_the_bound_close_the_oldest)
{
	int fds[DIALER_MAX_PENDING + 4];
	size_t n_closed = 0, first_open = ELEMENTSOF(fds);

	connect_silently(fds, ELEMENTSOF(fds));
	run_for(50);
	for (size_t i = 0; i < ELEMENTSOF(fds); i++) {
		if (closed_now(fds[i]))
			n_closed++;
		else if (first_open == ELEMENTSOF(fds))
			first_open = i;
		close(fds[i]);
	}
	cr_assert_eq(n_closed, 4, "%zu closed", n_closed);
	cr_assert_eq(first_open, 4, "the first open one is #%zu", first_open);
}

Test(dialer_fake, many_silent_connections_hold_at_most_the_bound_of_fds)
{
	int fds[64], before = count_fds(), held;

	connect_silently(fds, ELEMENTSOF(fds));
	run_for(50);
	/* Ours are the 64; the rest are the daemon's side. */
	held = count_fds() - before - (int)ELEMENTSOF(fds);
	for (size_t i = 0; i < ELEMENTSOF(fds); i++)
		close(fds[i]);
	cr_assert_leq(held, DIALER_MAX_PENDING, "%d held", held);
}

Test(dialer_fake, dialer_is_taken_despite_a_flood_of_silent_connections)
{
	int fds[64], fake;

	connect_silently(fds, 32);
	fake = fake_connect();
	connect_silently(fds + 32, 32);
	run_until_ready(true);
	for (size_t i = 0; i < ELEMENTSOF(fds); i++)
		close(fds[i]);
	cr_assert(dialer_ready(d));
	close(fake);
}

/* In a user and pid namespace of its own, as a daemon in a container is: a
 * dialer for exec pid 4242 in other_dir; its token goes down tokens, then
 * it waits up to 2 s for a connection to take.  Runs in a grandchild of
 * the test (unshare needs one thread; the namespace takes the next child).
 * Exit status: 0 taken, 1 not, 77 no namespaces here. */
static void run_dialer_in_a_pid_namespace(const char *other_dir, int tokens)
{
	pid_t g;
	int status;

	if (unshare(CLONE_NEWUSER | CLONE_NEWPID) < 0)
		_exit(77);
	g = fork();
	if (g < 0)
		_exit(77);
	if (g == 0) {
		struct event_base *nb = event_base_new();
		struct dialer *nd = NULL;
		uint64_t t0 = now_monotonic_ms();

		if (!nb || dialer_new(nb, other_dir, listen_port, &nd) < 0 ||
		    write(tokens, dialer_token(nd), DIALER_TOKEN_LEN) != DIALER_TOKEN_LEN)
			_exit(77);
		dialer_expect_peer(nd, 4242);
		while (!dialer_ready(nd) && now_monotonic_ms() - t0 < 2000) {
			event_base_loopexit(nb, &(struct timeval){0, 10000});
			event_base_dispatch(nb);
		}
		_exit(dialer_ready(nd) ? 0 : 1);
	}
	if (waitpid(g, &status, 0) != g || !WIFEXITED(status))
		_exit(1);
	_exit(WEXITSTATUS(status));
}

/* Connects from outside that namespace (pid 0 as the dialer sees it),
 * sending its token, or the token with one digit changed: the dialer's exit
 * status (0 taken, 1 not). */
static int hello_from_outside_the_pid_namespace(bool right_token)
{
	char other_dir[] = "/tmp/test_dialer.XXXXXX";
	char token[DIALER_TOKEN_LEN];
	_cleanup_free_ char *path = NULL;
	int tokens[2], status = -1, fd;
	struct pollfd p;
	pid_t c;

	cr_assert_not_null(mkdtemp(other_dir));
	path = xasprintf("%s/%s", other_dir, DIALER_SOCKET_NAME);
	cr_assert_eq(pipe2(tokens, O_CLOEXEC), 0);
	c = fork();
	cr_assert_geq(c, 0);
	if (c == 0)
		run_dialer_in_a_pid_namespace(other_dir, tokens[1]);
	close(tokens[1]);
	p = (struct pollfd){.fd = tokens[0], .events = POLLIN};
	if (poll(&p, 1, 3000) != 1 || read(tokens[0], token, sizeof(token)) != sizeof(token)) {
		waitpid(c, &status, 0);
		close(tokens[0]);
		rmdir(other_dir);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
			cr_skip_test("no user and pid namespaces here");
		cr_assert_fail("the dialer in its own pid namespace did not start");
	}
	close(tokens[0]);
	if (!right_token)
		token[0] = token[0] == '0' ? '1' : '0';
	fd = connect_to(path);
	send_all(fd, token, sizeof(token));
	waitpid(c, &status, 0);
	close(fd);
	unlink(path);
	rmdir(other_dir);
	cr_assert(WIFEXITED(status), "status %d", status);
	return WEXITSTATUS(status);
}

Test(dialer, peer_in_a_pid_namespace_it_cannot_see_is_taken_on_its_token)
{
	cr_assert_eq(hello_from_outside_the_pid_namespace(true), 0);
}

Test(dialer, peer_in_a_pid_namespace_it_cannot_see_is_refused_without_its_token)
{
	cr_assert_eq(hello_from_outside_the_pid_namespace(false), 1);
}

Test(dialer_real, dialer_process_not_the_expected_one_is_not_taken)
{
	spawn_dialer(listen_port);
	/* The daemon learnt another pid for its exec. */
	dialer_expect_peer(d, getpid());
	run_for(200);
	cr_assert_not(dialer_ready(d));
	cr_assert_eq(wait_child(), 0, "the refused dialer did not exit 0");
}

Test(dialer_real, dialer_process_with_another_token_is_not_taken)
{
	char bad[DIALER_TOKEN_LEN + 1] = {0};

	wrong_token(bad);
	spawn_dialer_with_token(listen_port, bad);
	run_for(200);
	cr_assert_not(dialer_ready(d));
	cr_assert_eq(wait_child(), 0, "the refused dialer did not exit 0");
}

Test(dialer_real, dialer_process_without_a_token_exits_2)
{
	spawn_dialer_with_token(listen_port, "short");
	cr_assert_eq(wait_child(), 2 << 8);
}

Test(dialer_real, dialer_process_wipes_its_token_from_its_environment)
{
	_cleanup_free_ char *path = NULL;
	char env[4096];
	ssize_t n;
	int fd;

	start_real_dialer(listen_port);
	path = xasprintf("/proc/%ld/environ", (long)child);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	n = read(fd, env, sizeof(env) - 1);
	close(fd);
	cr_assert_gt(n, 0);
	env[n] = '\0';
	cr_assert_null(memmem(env, (size_t)n, dialer_token(d), DIALER_TOKEN_LEN),
	               "the token is still in %s", path);
}

Test(dialer_fake, answer_with_a_socket_connected_over_ipv6_to_the_mapped_loopback_is_taken)
{
	struct dial_result *res = result_new();
	struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_port = htons(listen_port)};
	int fake = start_fake();
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		cr_skip_test("no IPv6: %s", strerror(errno));
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &to.sin6_addr);
	cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0, "%s", strerror(errno));
	cr_assert_not_null(dial(res));
	fake_read_requests(fake, 1);
	fake_answer(fake, 0, fd);
	close(fd);
	run_until(&res->calls, 1);
	close(fake);
	cr_assert_geq(res->fd, 0, "%d", res->fd);
}

Test(dialer_fake, answer_with_a_socket_connected_to_ipv6_loopback_is_refused)
{
	struct dial_result *res = result_new();
	struct sockaddr_in6 at = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	socklen_t sl = sizeof(at);
	int fake = start_fake(), lfd, fd;

	lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&at, sizeof(at)) < 0)
		cr_skip_test("no IPv6 loopback");
	listen(lfd, 1);
	getsockname(lfd, (struct sockaddr *)&at, &sl);
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&at, sizeof(at)), 0, "%s", strerror(errno));
	cr_assert_not_null(dial(res));
	fake_read_requests(fake, 1);
	fake_answer(fake, 0, fd);
	close(fd);
	run_until(&res->calls, 1);
	close(fake);
	close(lfd);
	cr_assert_eq(res->fd, -EPROTO, "%d", res->fd);
}

Test(dialer_fake, refused_socket_is_explained)
{
	struct dial_result *res = result_new();
	int fake = start_fake(), fd;

	tcp_socket_to(0, &fd);
	cr_assert_not_null(dial(res));
	fake_read_requests(fake, 1);
	fake_answer(fake, 0, fd);
	close(fd);
	run_until(&res->calls, 1);
	close(fake);
	cr_assert_not_null(dialer_last_error(d));
	cr_assert(strstr(dialer_last_error(d), "not connected"), "%s", dialer_last_error(d));
}

/* Marks the end of a measured stretch. */
static void set_flag(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(bool *)arg = true;
}

Test(dialer, accept_out_of_fds_does_not_spin_the_loop)
{
	struct rlimit old, low;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fake = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), turns = 0, spare[256],
	    n_spare = 0;
	struct event *end;
	bool over = false, ready_while_out, ready_after;

	memcpy(sun.sun_path, sock_path, strlen(sock_path) + 1);
	end = evtimer_new(base, set_flag, &over);
	getrlimit(RLIMIT_NOFILE, &old);
	low = old;
	low.rlim_cur = 128;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	/* Every fd taken: the dialer cannot accept the connection. */
	while (n_spare < (int)ELEMENTSOF(spare) && (spare[n_spare] = dup(fake)) >= 0)
		n_spare++;
	cr_assert_eq(errno, EMFILE);
	cr_assert_eq(connect(fake, (struct sockaddr *)&sun, sizeof(sun)), 0);
	send_all(fake, dialer_token(d), DIALER_TOKEN_LEN);
	/* Each turn blocks until something happens: a spinning listener
	 * makes thousands in 300 ms, a resting one a handful. */
	event_add(end, &(struct timeval){0, 300000});
	while (!over) {
		event_base_loop(base, EVLOOP_ONCE);
		turns++;
	}
	event_free(end);
	ready_while_out = dialer_ready(d);
	while (n_spare)
		close(spare[--n_spare]);
	setrlimit(RLIMIT_NOFILE, &old);
	run_until_ready(true);
	ready_after = dialer_ready(d);
	close(fake);
	cr_assert_not(ready_while_out);
	cr_assert_lt(turns, 30, "the loop turned %d times in 300 ms", turns);
	cr_assert(ready_after, "not accepted once fds were free again");
}

Test(dialer_fake, refused_socket_set_to_linger_is_closed_without_waiting)
{
	struct dial_result *res = result_new();
	struct linger lg = {.l_onoff = 1, .l_linger = 5};
	int fake = start_fake(), hole, fd, flags;
	uint16_t hole_port = tcp_socket_to(0, &hole);
	static char junk[65536];
	uint64_t t0;

	/* A peer that never reads: what is sent stays queued, and a lingering
	 * close of the last copy would wait the whole 5 s for it. */
	cr_assert_eq(listen(hole, 1), 0);
	tcp_socket_to(hole_port, &fd);
	flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	while (send(fd, junk, sizeof(junk), MSG_NOSIGNAL) > 0)
		;
	fcntl(fd, F_SETFL, flags);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	cr_assert_not_null(dial(res));
	fake_read_requests(fake, 1);
	fake_answer(fake, 0, fd);
	close(fd); /* the dialer's copy is the last one */
	t0 = now_monotonic_ms();
	run_until(&res->calls, 1);
	close(fake);
	close(hole);
	cr_assert_eq(res->fd, -EPROTO, "%d", res->fd);
	cr_assert_lt(now_monotonic_ms() - t0, 1000, "closing it took %llu ms",
	             (unsigned long long)(now_monotonic_ms() - t0));
}
