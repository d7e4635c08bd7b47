/*
 * The startup prober against an in-process evhttp server on the same event
 * base: /ping fails a set number of times and then passes, or never passes.
 */
#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <string.h>

#include "health.h"
#include "httpc.h"
#include "util.h"

static struct event_base *base;
static struct evhttp *server;
static struct httpc *client;
static uint16_t port;
static int fails_left; /* pings to fail before passing; -1 = fail forever */
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
