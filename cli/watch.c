/*
 * The DescribeEndpoint polling loop of every --wait (see watch.h).  Each
 * turn calls DescribeEndpoint, then, in this order: a signal ends the wait
 * (even when an answer came); an error ends it, unless it is "Could not
 * find endpoint" and the caller takes that as an answer; the caller judges
 * the answer; the time limit ends it; it sleeps the caller's interval, cut
 * short by the time left or a signal.
 */
#define _GNU_SOURCE
#include "watch.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "ctl.h"
#include "util.h"

/* SIGINT / SIGTERM during a wait: end the output tidily instead of mid-way. */
static void watch_signal(int sig)
{
	client_interrupted = 1;
}

/* Sleeps s seconds unless a signal comes. */
static void watch_sleep(double s)
{
	if (s <= 0)
		return;
	struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - floor(s)) * 1e9)};
	nanosleep(&ts, NULL);
}

/* Whether err is DescribeEndpoint's answer for an endpoint that does not
 * exist (or no longer does). */
static bool watch_is_gone(const struct client_error *err)
{
	return err->kind == CLIENT_ERROR_API && err->code &&
	       strcmp(err->code, "ValidationException") == 0 && err->message &&
	       strstr(err->message, "Could not find endpoint");
}

/* Lets the caller end its output before the loop says why it stops. */
static void watch_stop(const struct watch *w)
{
	if (w->stop)
		w->stop(w->data);
}

/* Polls DescribeEndpoint until w says it is over (see watch.h). */
int watch_endpoint(struct ctl *ctl, const char *name, double timeout_s, const struct watch *w,
                   json_t **ret_desc)
{
	struct sigaction sa = {.sa_handler = watch_signal}, old_int, old_term;
	json_t *params = json_pack("{s:s}", "EndpointName", name);
	int res = CTL_EXIT_FAILURE;
	double start = now_monotonic();

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	for (;;) {
		struct client_error err = {0};
		json_t *desc = NULL;
		int r = client_call(ctl->client, "DescribeEndpoint", params, &desc, &err);
		double elapsed = now_monotonic() - start;

		if (client_interrupted || err.kind == CLIENT_ERROR_INTERRUPTED) {
			client_error_clear(&err);
			json_decref(desc);
			watch_stop(w);
			fputs("endpointctl: interrupted\n", stderr);
			res = CTL_EXIT_INTERRUPTED;
			break;
		}
		if (r < 0 && !(w->gone_is_answer && watch_is_gone(&err))) {
			watch_stop(w);
			client_error_print(&err);
			client_error_clear(&err);
			break;
		}
		client_error_clear(&err);

		enum watch_verdict v = w->seen(w->data, desc, elapsed);
		if (v != WATCH_AGAIN) {
			if (v == WATCH_DONE) {
				if (ret_desc && desc)
					*ret_desc = json_incref(desc);
				res = CTL_EXIT_OK;
			}
			json_decref(desc);
			break;
		}
		if (elapsed >= timeout_s) {
			w->timed_out(w->data, desc, timeout_s);
			json_decref(desc);
			break;
		}
		json_decref(desc);
		watch_sleep(fmin(w->interval(elapsed), timeout_s - elapsed));
	}

	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	json_decref(params);
	return res;
}
