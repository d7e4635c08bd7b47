/*
 * The one DescribeEndpoint polling loop behind every --wait: create,
 * delete and wait (endpointctl.c), update and update-weights (update.c).
 * The loop owns what they all share: SIGINT and SIGTERM end the wait with
 * "interrupted" and exit 130 instead of killing the CLI mid-line, a client
 * error ends it with that error and exit 1, the time limit, and the sleep
 * between calls.  What an answer means, what is shown while waiting and
 * how often to ask are the caller's, in its struct watch.
 */
#ifndef ENDPOINTCTL_WATCH_H
#define ENDPOINTCTL_WATCH_H

#include <jansson.h>
#include <stdbool.h>

struct ctl;

/* What a caller makes of one answer. */
enum watch_verdict {
	WATCH_AGAIN,  /* still on its way: ask again, time permitting */
	WATCH_DONE,   /* there: exit 0 */
	WATCH_FAILED, /* it will not get there, and seen() has said why: exit 1 */
};

/* One wait's own part; lives on its caller's stack. */
struct watch {
	/*
	 * Judges one answer, elapsed seconds into the wait.  desc is the
	 * description, or NULL when DescribeEndpoint said "Could not find
	 * endpoint" and gone_is_answer is set; without it that error ends the
	 * wait like any other.
	 */
	enum watch_verdict (*seen)(void *data, const json_t *desc, double elapsed);
	bool gone_is_answer;
	/* Says why the wait gives up: the time ran out after seen() said
	 * WATCH_AGAIN to desc (NULL as in seen()). */
	void (*timed_out)(void *data, const json_t *desc, double timeout_s);
	/* Ends the caller's output before the loop prints why it stops
	 * (interrupted, a client error); may be NULL. */
	void (*stop)(void *data);
	/* Seconds until the next call, elapsed seconds into the wait. */
	double (*interval)(double elapsed);
	void *data;
};

/*
 * Polls DescribeEndpoint for name until w->seen() says it is over or
 * timeout_s seconds have passed.  Returns the exit status; *ret_desc (may
 * be NULL) gets the last description when it ends WATCH_DONE on one.
 */
int watch_endpoint(struct ctl *ctl, const char *name, double timeout_s, const struct watch *w,
                   json_t **ret_desc);

#endif
