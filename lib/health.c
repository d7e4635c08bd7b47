/*
 * The ping prober.  Each check owns one timer and at most one probe in
 * flight.  When its owner frees it while a probe is in flight the check is
 * only marked dead; the probe's completion (which httpc and upstream both
 * guarantee) frees it.  A probe goes through httpc to a published port, or
 * through upstream over a connection a container's dialer hands over; both
 * come back to health_check_probe_result().
 */
#define _GNU_SOURCE
#include "health.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "dialer.h"
#include "httpc.h"
#include "log.h"
#include "metrics.h"
#include "upstream.h"
#include "util.h"

struct health_check {
	struct event_base *base;
	struct httpc *httpc;           /* to a published port, or */
	struct upstream *upstream;     /* through the dialer at *dialer */
	struct dialer *const *dialer;
	struct event *timer;
	char url[64];
	bool steady;
	bool dead;        /* the owner let go; free when the probe returns */
	bool in_flight;
	uint64_t deadline_ms; /* startup only */
	unsigned delay_ms;    /* next pause between probes */
	unsigned failures;    /* in a row (steady) */
	unsigned probes;
	char detail[256];
	health_fn cb;
	void *userdata;
};

static void health_check_probe(struct health_check *hc);

/* Free for real. */
static void health_check_destroy(struct health_check *hc)
{
	event_free(hc->timer);
	free(hc);
}

/* Arm the timer for the next probe. */
static void health_check_schedule(struct health_check *hc, unsigned delay_ms)
{
	struct timeval tv = {.tv_sec = delay_ms / 1000, .tv_usec = (delay_ms % 1000) * 1000};
	evtimer_add(hc->timer, &tv);
}

/* Timer: send the next probe. */
static void health_check_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	health_check_probe(arg);
}

/* A probe came back: result 0 with an HTTP status, or -errno and words. */
static void health_check_probe_result(struct health_check *hc, int result, const char *error,
				      long status)
{
	hc->in_flight = false;
	if (hc->dead) {
		health_check_destroy(hc);
		return;
	}

	bool passed = result == 0 && status == 200;
	if (!passed) {
		metrics_health_failure();
		if (result)
			snprintf(hc->detail, sizeof(hc->detail), "%s",
				 error ? error : strerror(-result));
		else
			snprintf(hc->detail, sizeof(hc->detail), "HTTP %ld", status);
	}

	if (!hc->steady) {
		if (passed) {
			hc->dead = true; /* one verdict; the owner frees us */
			hc->cb(HEALTH_PASSED, NULL, hc->userdata);
			return;
		}
		uint64_t now = now_monotonic_ms();
		if (now >= hc->deadline_ms) {
			hc->dead = true;
			hc->cb(HEALTH_TIMED_OUT, hc->detail, hc->userdata);
			return;
		}
		unsigned delay = hc->delay_ms;
		if (now + delay > hc->deadline_ms)
			delay = (unsigned)(hc->deadline_ms - now);
		hc->delay_ms = hc->delay_ms * 3 / 2;
		if (hc->delay_ms > HEALTH_STARTUP_MAX_MS)
			hc->delay_ms = HEALTH_STARTUP_MAX_MS;
		health_check_schedule(hc, delay);
		return;
	}

	hc->failures = passed ? 0 : hc->failures + 1;
	if (hc->failures >= HEALTH_STEADY_FAILURES) {
		hc->dead = true;
		hc->cb(HEALTH_FAILING, hc->detail, hc->userdata);
		return;
	}
	health_check_schedule(hc, HEALTH_STEADY_INTERVAL_MS);
}

/* A probe to the published port came back. */
static void health_check_probe_done(const struct httpc_response *r, void *userdata)
{
	health_check_probe_result(userdata, r->result, r->error, r->status);
}

/* A probe through the dialer came back. */
static void health_check_dialed_done(struct upstream_response *r, void *userdata)
{
	health_check_probe_result(userdata, r->result, r->error, r->status);
}

/* Send one GET /ping. */
static void health_check_probe(struct health_check *hc)
{
	struct httpc_request req = {
		.method = "GET",
		.url = hc->url,
		.connect_timeout_ms = HEALTH_CONNECT_TIMEOUT_MS,
		.timeout_ms = HEALTH_PROBE_TIMEOUT_MS,
		.max_response = 64 * 1024,
	};
	if (!hc->steady) {
		/* Never let one probe run past the startup deadline by much. */
		uint64_t now = now_monotonic_ms();
		uint64_t left = hc->deadline_ms > now ? hc->deadline_ms - now : 1;
		if (left < HEALTH_PROBE_TIMEOUT_MS)
			req.timeout_ms = (long)(left < 50 ? 50 : left);
	}
	hc->in_flight = true;
	hc->probes++;
	if (hc->upstream) {
		struct upstream_request ur = {
			.port = DIALER_MODEL_PORT,
			.dialer = *hc->dialer,
			.dialer_only = true,
			.method = "GET",
			.path = "/ping",
			.connect_timeout_ms = HEALTH_CONNECT_TIMEOUT_MS,
			.timeout_ms = (unsigned)req.timeout_ms,
			.max_response = req.max_response,
		};
		upstream_start(hc->upstream, &ur, health_check_dialed_done, hc);
		return;
	}
	httpc_start(hc->httpc, &req, health_check_probe_done, hc);
}

/* Common constructor. */
static struct health_check *health_check_new(struct event_base *base, struct httpc *h,
					     const char *host, uint16_t port, health_fn cb,
					     void *userdata)
{
	struct health_check *hc = xcalloc(1, sizeof(*hc));
	hc->base = base;
	hc->httpc = h;
	hc->cb = cb;
	hc->userdata = userdata;
	snprintf(hc->url, sizeof(hc->url), "http://%s:%u/ping", host ? host : "127.0.0.1",
		 (unsigned)port);
	snprintf(hc->detail, sizeof(hc->detail), "no probe answered");
	hc->timer = evtimer_new(base, health_check_timer_cb, hc);
	return hc;
}

/* Probe fast until the first pass or the deadline. */
struct health_check *health_check_startup(struct event_base *base, struct httpc *h, uint16_t port,
					  uint64_t timeout_ms, health_fn cb, void *userdata)
{
	return health_check_startup_at(base, h, NULL, port, timeout_ms, cb, userdata);
}

/* The same at host (a task's node). */
struct health_check *health_check_startup_at(struct event_base *base, struct httpc *h,
					     const char *host, uint16_t port, uint64_t timeout_ms,
					     health_fn cb, void *userdata)
{
	struct health_check *hc = health_check_new(base, h, host, port, cb, userdata);
	hc->deadline_ms = now_monotonic_ms() + timeout_ms;
	hc->delay_ms = HEALTH_STARTUP_FIRST_MS;
	health_check_schedule(hc, 0);
	return hc;
}

/* Probe slowly, report a run of failures. */
struct health_check *health_check_steady(struct event_base *base, struct httpc *h, uint16_t port,
					 health_fn cb, void *userdata)
{
	return health_check_steady_at(base, h, NULL, port, cb, userdata);
}

/* The same at host (a task's node). */
struct health_check *health_check_steady_at(struct event_base *base, struct httpc *h,
					    const char *host, uint16_t port, health_fn cb,
					    void *userdata)
{
	struct health_check *hc = health_check_new(base, h, host, port, cb, userdata);
	hc->steady = true;
	health_check_schedule(hc, HEALTH_STEADY_INTERVAL_MS);
	return hc;
}

/* Probe fast through the dialer until the first pass or the deadline. */
struct health_check *health_check_startup_dialed(struct event_base *base, struct upstream *u,
						 struct dialer *const *dialer, uint64_t timeout_ms,
						 health_fn cb, void *userdata)
{
	struct health_check *hc = health_check_startup(base, NULL, 0, timeout_ms, cb, userdata);
	hc->upstream = u;
	hc->dialer = dialer;
	return hc;
}

/* Probe slowly through the dialer, report a run of failures. */
struct health_check *health_check_steady_dialed(struct event_base *base, struct upstream *u,
						struct dialer *const *dialer, health_fn cb,
						void *userdata)
{
	struct health_check *hc = health_check_steady(base, NULL, 0, cb, userdata);
	hc->upstream = u;
	hc->dialer = dialer;
	return hc;
}

/* Stop the check. */
struct health_check *health_check_free(struct health_check *hc)
{
	if (!hc)
		return NULL;
	evtimer_del(hc->timer);
	if (hc->in_flight)
		hc->dead = true;
	else
		health_check_destroy(hc);
	return NULL;
}

/* Probes sent so far. */
unsigned health_check_probes(const struct health_check *hc)
{
	return hc->probes;
}
