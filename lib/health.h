/*
 * Health checks: GET /ping on an instance's published loopback port, or,
 * for a container without a network, over connections its endpointd-dialer
 * makes inside it (the _dialed variants, through upstream).  While
 * an instance starts, probes run fast (20 ms, backing off to 500 ms) until one
 * passes or the startup deadline goes by; once it serves, they run every few
 * seconds and a run of failures reports it unhealthy.  Every probe has a
 * 250 ms connect and 2 s total timeout.  The callback runs once per verdict;
 * health_check_free() stops it and no callback comes after that.
 */
#ifndef ENDPOINTD_HEALTH_H
#define ENDPOINTD_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct httpc;
struct upstream;
struct dialer;
struct health_check;

#define HEALTH_CONNECT_TIMEOUT_MS 250
#define HEALTH_PROBE_TIMEOUT_MS 2000
#define HEALTH_STARTUP_FIRST_MS 20
#define HEALTH_STARTUP_MAX_MS 500
#define HEALTH_STEADY_INTERVAL_MS 5000
#define HEALTH_STEADY_FAILURES 3

enum health_verdict {
	HEALTH_PASSED,    /* startup: the first probe that passed */
	HEALTH_TIMED_OUT, /* startup: the deadline went by */
	HEALTH_FAILING,   /* steady: HEALTH_STEADY_FAILURES probes failed in a row */
};

/* detail: what the last failed probe saw ("HTTP 500", "connection refused");
 * it belongs to the check, so it is gone once the check is freed. */
typedef void (*health_fn)(enum health_verdict v, const char *detail, void *userdata);

/* Probe until the first pass or until timeout_ms has gone by. */
struct health_check *health_check_startup(struct event_base *base, struct httpc *h, uint16_t port,
					  uint64_t timeout_ms, health_fn cb, void *userdata);
/* Probe every HEALTH_STEADY_INTERVAL_MS; cb(HEALTH_FAILING) once, then it stops. */
struct health_check *health_check_steady(struct event_base *base, struct httpc *h, uint16_t port,
					 health_fn cb, void *userdata);
/* The same at host, an IPv4 address (a task's node; NULL: 127.0.0.1). */
struct health_check *health_check_startup_at(struct event_base *base, struct httpc *h,
					     const char *host, uint16_t port, uint64_t timeout_ms,
					     health_fn cb, void *userdata);
struct health_check *health_check_steady_at(struct event_base *base, struct httpc *h,
					    const char *host, uint16_t port, health_fn cb,
					    void *userdata);
/* The same, each probe over a connection from *dialer, read as the probe
 * starts (the owner's dialer may be replaced between probes; NULL while
 * none runs, and the probe fails as a refused connection).  dialer must
 * stay readable until the check is freed. */
struct health_check *health_check_startup_dialed(struct event_base *base, struct upstream *u,
						 struct dialer *const *dialer, uint64_t timeout_ms,
						 health_fn cb, void *userdata);
struct health_check *health_check_steady_dialed(struct event_base *base, struct upstream *u,
						struct dialer *const *dialer, health_fn cb,
						void *userdata);
/* Stop; no callback after this; NULL-safe; returns NULL. */
struct health_check *health_check_free(struct health_check *hc);
/* Probes sent so far (for tests and metrics). */
unsigned health_check_probes(const struct health_check *hc);

#endif
