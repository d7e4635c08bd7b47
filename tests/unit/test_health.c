/*
 * The startup prober against an in-process evhttp server on the same event
 * base: /ping fails a set number of times and then passes, or never passes.
 * The health_dialed suite probes the same server over connections the real
 * endpointd-dialer makes, as for a container without a network.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dialer.h"
#include "health.h"
#include "httpc.h"
#include "upstream.h"
#include "util.h"

static struct event_base *base;
static struct evhttp *server;
static struct httpc *client;
static uint16_t port;
static int fails_left; /* pings to fail before passing; -1 = fail forever */
static struct evhttp_bound_socket *bound;
static int pings;

/* GET /ping: 503 while fails_left says so, then 200. */
static void on_ping(struct evhttp_request *req, void *arg)
{
	pings++;
	if (fails_left != 0) {
		if (fails_left > 0)
			fails_left--;
		evhttp_send_reply(req, 503, "Service Unavailable", NULL);
		return;
	}
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void setup(void)
{
	base = event_base_new();
	server = evhttp_new(base);
	evhttp_set_cb(server, "/ping", on_ping, NULL);
	struct evhttp_bound_socket *s = evhttp_bind_socket_with_handle(server, "127.0.0.1", 0);
	cr_assert_not_null(s);
	bound = s;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&sa, &len);
	port = ntohs(sa.sin_port);
	client = httpc_new(base);
	fails_left = 0;
	pings = 0;
}

static void teardown(void)
{
	httpc_free(client);
	evhttp_free(server);
	event_base_free(base);
}

struct verdict {
	int calls;
	enum health_verdict v;
	char detail[128];
	struct health_check *hc;
};

/* Record the verdict and stop the loop. */
static void on_verdict(enum health_verdict v, const char *detail, void *userdata)
{
	struct verdict *r = userdata;
	r->calls++;
	r->v = v;
	snprintf(r->detail, sizeof(r->detail), "%s", detail ? detail : "");
	r->hc = health_check_free(r->hc);
	event_base_loopexit(base, NULL);
}

/* Run the loop for at most ms. */
static void run_for(unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

TestSuite(health, .init = setup, .fini = teardown, .timeout = 20);

Test(health, startup_passes_on_the_first_ping_that_answers_200)
{
	struct verdict r = {0};
	r.hc = health_check_startup(base, client, port, 5000, on_verdict, &r);
	run_for(3000);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.v, HEALTH_PASSED);
	cr_assert_eq(pings, 1);
}

Test(health, startup_keeps_probing_fast_through_failures)
{
	struct verdict r = {0};
	fails_left = 5;
	uint64_t t0 = now_monotonic_ms();
	r.hc = health_check_startup(base, client, port, 5000, on_verdict, &r);
	run_for(4000);
	cr_assert_eq(r.v, HEALTH_PASSED);
	cr_assert_eq(pings, 6);
	/* 20 ms backing off by half each time: well under a second for six. */
	cr_assert_lt(now_monotonic_ms() - t0, 1500);
}

Test(health, startup_times_out_with_what_the_last_probe_saw)
{
	struct verdict r = {0};
	fails_left = -1;
	uint64_t t0 = now_monotonic_ms();
	r.hc = health_check_startup(base, client, port, 600, on_verdict, &r);
	run_for(5000);
	uint64_t took = now_monotonic_ms() - t0;
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.v, HEALTH_TIMED_OUT);
	cr_assert_str_eq(r.detail, "HTTP 503");
	cr_assert_geq(took, 600);
	cr_assert_lt(took, 1500);
}

Test(health, startup_against_a_closed_port_times_out_naming_the_connection_error)
{
	struct verdict r = {0};
	evhttp_free(server);
	server = evhttp_new(base); /* the port is closed now */
	r.hc = health_check_startup(base, client, port, 300, on_verdict, &r);
	run_for(3000);
	cr_assert_eq(r.v, HEALTH_TIMED_OUT);
	cr_assert(strlen(r.detail) > 0);
	cr_assert(strstr(r.detail, "HTTP") == NULL, "%s", r.detail);
}

Test(health, a_check_freed_while_a_probe_is_in_flight_never_calls_back)
{
	struct verdict r = {0};
	fails_left = -1;
	r.hc = health_check_startup(base, client, port, 5000, on_verdict, &r);
	run_for(50); /* some probes went out; maybe one is in flight */
	r.hc = health_check_free(r.hc);
	run_for(300);
	cr_assert_eq(r.calls, 0);
}

/* --- Through a container's dialer --- */

static struct upstream *up;
static struct dialer *dialer;
static char dialer_dir[64];
static pid_t dialer_pid = -1;

/* The endpointd-dialer of this build: $ENDPOINTD_DIALER (make check sets
 * it), else daemon/ two levels above this binary (tests/unit/). */
static const char *dialer_binary(void)
{
	static char *path;
	if (getenv("ENDPOINTD_DIALER") && *getenv("ENDPOINTD_DIALER"))
		return getenv("ENDPOINTD_DIALER");
	if (!path) {
		char self[4096];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		cr_assert_gt(n, 0);
		self[n] = '\0';
		*strrchr(self, '/') = '\0';
		path = xasprintf("%s/../../daemon/endpointd-dialer", self);
	}
	return path;
}

/* The server, an upstream and a dialer for the server's port, with no
 * process yet (the server's listener is not inherited by it). */
static void setup_dialed(void)
{
	setup();
	signal(SIGPIPE, SIG_IGN);
	fcntl(evhttp_bound_socket_get_fd(bound), F_SETFD, FD_CLOEXEC);
	up = upstream_new(base);
	strcpy(dialer_dir, "/tmp/test_health.XXXXXX");
	cr_assert_not_null(mkdtemp(dialer_dir));
	int r = dialer_new(base, dialer_dir, port, &dialer);
	cr_assert_eq(r, 0, "dialer_new: %s", strerror(-r));
}

static void teardown_dialed(void)
{
	if (dialer_pid > 0) {
		kill(dialer_pid, SIGKILL);
		waitpid(dialer_pid, NULL, 0);
		dialer_pid = -1;
	}
	up = upstream_free(up);
	dialer_close(dialer);
	dialer = dialer_unref(dialer);
	rmdir(dialer_dir);
	teardown();
}

/* Start the real endpointd-dialer on the dialer's socket, dialing the
 * server, as the daemon's exec would (its token in its environment). */
static void start_real_dialer(struct dialer *d)
{
	const char *bin = dialer_binary();
	char port_arg[8];
	_cleanup_free_ char *sock = xasprintf("%s/%s", dialer_dir, DIALER_SOCKET_NAME);
	char *argv[] = {(char *)bin, sock, port_arg, NULL};
	_cleanup_free_ char *token_env = xasprintf("%s=%s", DIALER_TOKEN_ENV, dialer_token(d));
	char *envp[] = {token_env, NULL};
	cr_assert_eq(access(bin, X_OK), 0, "%s: %s (build daemon/ first)", bin, strerror(errno));
	snprintf(port_arg, sizeof(port_arg), "%u", (unsigned)port);
	int r = posix_spawn(&dialer_pid, bin, NULL, NULL, argv, envp);
	cr_assert_eq(r, 0, "spawning %s: %s", bin, strerror(r));
	dialer_expect_peer(d, dialer_pid);
}

TestSuite(health_dialed, .init = setup_dialed, .fini = teardown_dialed, .timeout = 20);

Test(health_dialed, startup_passes_over_a_connection_the_dialer_hands_over)
{
	struct verdict r = {0};
	struct dialer *current = dialer;
	start_real_dialer(dialer);
	r.hc = health_check_startup_dialed(base, up, &current, 5000, on_verdict, &r);
	run_for(3000);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.v, HEALTH_PASSED, "%s", r.detail);
	cr_assert_geq(pings, 1);
}

Test(health_dialed, startup_without_a_dialer_times_out_saying_none_runs)
{
	struct verdict r = {0};
	struct dialer *none = NULL;
	uint64_t t0 = now_monotonic_ms();
	r.hc = health_check_startup_dialed(base, up, &none, 400, on_verdict, &r);
	run_for(3000);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.v, HEALTH_TIMED_OUT);
	cr_assert(strstr(r.detail, "endpointd-dialer is not running"), "%s", r.detail);
	cr_assert_lt(now_monotonic_ms() - t0, 1500);
	cr_assert_eq(pings, 0, "never through a port");
}

Test(health_dialed, startup_with_a_dialer_not_yet_connected_never_pings_the_port)
{
	struct verdict r = {0};
	struct dialer *current = dialer; /* no process: it cannot answer */
	r.hc = health_check_startup_dialed(base, up, &current, 400, on_verdict, &r);
	run_for(3000);
	cr_assert_eq(r.v, HEALTH_TIMED_OUT);
	cr_assert_eq(pings, 0, "the server's port is open, but it is not the way in");
}

Test(health_dialed, each_probe_uses_the_dialer_the_owner_has_then)
{
	struct verdict r = {0};
	struct dialer *current = NULL;
	r.hc = health_check_startup_dialed(base, up, &current, 5000, on_verdict, &r);
	run_for(200); /* probes fail: no dialer yet */
	cr_assert_eq(r.calls, 0);
	cr_assert_gt(health_check_probes(r.hc), 1);
	current = dialer;
	start_real_dialer(dialer);
	run_for(3000);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.v, HEALTH_PASSED, "%s", r.detail);
}

Test(health_dialed, a_dialed_check_freed_while_a_probe_is_in_flight_never_calls_back)
{
	struct verdict r = {0};
	struct dialer *current = dialer;
	fails_left = -1;
	start_real_dialer(dialer);
	r.hc = health_check_startup_dialed(base, up, &current, 5000, on_verdict, &r);
	run_for(50);
	r.hc = health_check_free(r.hc);
	run_for(300);
	cr_assert_eq(r.calls, 0);
}
