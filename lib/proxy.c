/*
 * The data plane.
 *
 * An invocation picks a fleet (while UpdateEndpoint runs, the new fleet
 * takes the share of calls its rollout gives it), a variant of that fleet
 * (the X-Amzn-SageMaker-Target-Variant header, or at random by current
 * weight among the variants that have a healthy instance), then the healthy
 * instance of that variant with the fewest requests in flight, and forwards the body to its /invocations through
 * upstream, which keeps connections to the containers alive between calls.
 * The request body is sent from the chains httpd read it into and the
 * container's answer is handed to httpd as the chains upstream read it into,
 * so no body is copied on its way through.
 *
 * Calls in flight are capped in all and per endpoint
 * (limits.max_inflight_invocations, limits.max_inflight_per_endpoint): past
 * a cap the call is answered at once with 429 ThrottlingException, which
 * every AWS SDK retries with backoff (botocore: by its code in standard
 * mode, by the status in legacy mode).
 *
 * A connection refused before anything was sent is tried once more on
 * another instance; nothing else is retried.  Each call holds a reference on
 * its endpoint, so the instance slot it counts itself on lives until it ends.
 */
#define _GNU_SOURCE
#include "proxy.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>
#include <malloc.h>
#include <string.h>
#include <sys/random.h>

#include "awsproto.h"
#include "dialer.h"
#include "endpoint.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "proxy_private.h"
#include "upstream.h"
#include "utf8.h"
#include "util.h"

#define PROXY_CONNECT_TIMEOUT_MS 1000
#define PROXY_MESSAGE_BODY_MAX 1024 /* of a container's words, in Message */
#define PROXY_ORIGINAL_MAX (64 * 1024)
#define PROXY_TRIM_BODY (1024 * 1024)
#define PROXY_TRIM_DELAY_S 1

/* A random 64-bit number (xorshift64*). */
static uint64_t proxy_random(struct proxy *p)
{
	p->rng ^= p->rng >> 12;
	p->rng ^= p->rng << 25;
	p->rng ^= p->rng >> 27;
	return p->rng * UINT64_C(2685821657736338717);
}

/* Send a REST-JSON error. */
void proxy_send_error(struct httpd_request *req, const char *request_id, int status,
			     const char *code, const char *type, json_t *extra, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	_cleanup_free_ char *body = aws_rest_error_body(code, msg, extra);
	httpd_add_header(req, "Content-Type", "application/json");
	httpd_add_header(req, "x-amzn-RequestId", request_id);
	httpd_add_header(req, "x-amzn-ErrorType", type);
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, body, strlen(body));
	httpd_send_reply(req, status, b);
	evbuffer_free(b);
}

/* The healthy instance of v with the fewest calls in flight (ties at random). */
static struct instance *proxy_pick_instance(struct proxy *p, struct variant *v,
					    const struct instance *not)
{
	struct instance *best = NULL;
	size_t n = v->n_healthy;
	size_t start = n ? (size_t)(proxy_random(p) % n) : 0;
	for (size_t k = 0; k < n; k++) {
		struct instance *inst = v->healthy[(start + k) % n];
		if (inst == not)
			continue;
		if (!best || inst->inflight < best->inflight)
			best = inst;
	}
	return best;
}

/* Healthy instances of v that a call may use (not the one that failed it). */
static size_t proxy_usable(const struct variant *v, const struct instance *not)
{
	return v->n_healthy - (not && not->variant == v && not->state == INSTANCE_HEALTHY);
}

/* Whether fleet f has an instance a call may use. */
static bool proxy_fleet_usable(const struct fleet *f, const struct instance *not)
{
	for (size_t i = 0; f && i < f->n_variants; i++)
		if (proxy_usable(&f->variants[i], not) > 0)
			return true;
	return false;
}

/*
 * The fleet a call goes to.  While an update runs, the new fleet takes its
 * share of the calls (0 until it passed its checks, 1 once it took all
 * traffic); when the fleet drawn has no instance to take the call, the other
 * takes it if it takes calls at all.
 */
static struct fleet *proxy_pick_fleet(struct proxy *p, struct endpoint *ep,
				      const struct instance *not)
{
	double share = ep->pending ? ep->deploy.new_share : 0;
	if (share <= 0)
		return ep->fleet;
	if (share >= 1)
		return ep->pending;
	double r = (double)(proxy_random(p) >> 11) / (double)(UINT64_C(1) << 53);
	struct fleet *f = r < share ? ep->pending : ep->fleet;
	struct fleet *other = f == ep->pending ? ep->fleet : ep->pending;
	return proxy_fleet_usable(f, not) || !proxy_fleet_usable(other, not) ? f : other;
}

/* A variant at random by current weight among those of the fleet the call
 * goes to with a healthy instance (other than not); NULL when none has one. */
static struct variant *proxy_pick_variant(struct proxy *p, struct endpoint *ep,
					  const struct instance *not)
{
	struct fleet *f = proxy_pick_fleet(p, ep, not);
	double total = 0;
	size_t candidates = 0;
	for (size_t i = 0; i < f->n_variants; i++) {
		struct variant *v = &f->variants[i];
		if (proxy_usable(v, not) == 0)
			continue;
		candidates++;
		total += v->current_weight > 0 ? v->current_weight : 0;
	}
	if (candidates == 0)
		return NULL;
	double r = (double)(proxy_random(p) >> 11) / (double)(UINT64_C(1) << 53);
	double x = r * total;
	size_t nth = (size_t)(r * (double)candidates); /* all weights 0: evenly */
	struct variant *last = NULL;
	for (size_t i = 0; i < f->n_variants; i++) {
		struct variant *v = &f->variants[i];
		if (proxy_usable(v, not) == 0)
			continue;
		last = v;
		if (total > 0) {
			double w = v->current_weight > 0 ? v->current_weight : 0;
			if (x < w)
				return v;
			x -= w;
		} else if (nth-- == 0) {
			return v;
		}
	}
	return last; /* rounding at the top end */
}

/* The variant named target, in the fleet the call goes to or else in the
 * other; NULL when the endpoint has none of that name. */
static struct variant *proxy_find_variant(struct proxy *p, struct endpoint *ep, const char *target)
{
	struct fleet *f = proxy_pick_fleet(p, ep, NULL);
	struct fleet *other = f == ep->fleet ? ep->pending : ep->fleet;
	struct variant *found = NULL;
	for (size_t i = 0; i < f->n_variants && !found; i++)
		if (strcmp(f->variants[i].name, target) == 0)
			found = &f->variants[i];
	if (found && found->n_healthy > 0)
		return found;
	for (size_t i = 0; other && i < other->n_variants; i++)
		if (strcmp(other->variants[i].name, target) == 0 &&
		    (!found || other->variants[i].n_healthy > 0))
			return &other->variants[i];
	return found;
}

/* Calls of endpoint name in flight. */
static size_t proxy_endpoint_in_flight(struct proxy *p, const char *name)
{
	return (uintptr_t)strmap_get(p->per_endpoint, name);
}

/* Count one call more (delta 1) or less (-1) for endpoint name. */
static void proxy_count_endpoint(struct proxy *p, const char *name, int delta)
{
	uintptr_t n = (uintptr_t)strmap_get(p->per_endpoint, name) + (uintptr_t)(intptr_t)delta;
	if (n == 0)
		strmap_remove(p->per_endpoint, name);
	else
		strmap_put(p->per_endpoint, name, (void *)n);
}

/* End a call: uncount it and let go of what it held. */
void proxy_call_free(struct proxy_call *c)
{
	if (c->inst)
		c->inst->inflight--;
	proxy_count_endpoint(c->proxy, c->counted, -1);
	free(c->counted);
	if (--c->proxy->in_flight == 0 && c->proxy->big && !evtimer_pending(c->proxy->trim, NULL)) {
		struct timeval tv = {PROXY_TRIM_DELAY_S, 0};
		evtimer_add(c->proxy->trim, &tv);
	}
	for (size_t i = 0; c->headers[i]; i++)
		free(c->headers[i]);
	if (c->events)
		evbuffer_free(c->events);
	endpoint_unref(c->ep);
	free(c);
}

/* The container's words, for messages: cut on a character boundary, text
 * (UTF-8, a bad byte as U+FFFD) and never raw binary. */
char *proxy_excerpt(struct evbuffer *body, size_t max)
{
	size_t len = evbuffer_get_length(body);
	size_t n = len < max ? len : max;
	_cleanup_free_ char *raw = xmalloc(n + 1);
	evbuffer_copyout(body, raw, n);
	/* A character cut at max is dropped, not turned into U+FFFD. */
	size_t keep = n;
	if (n < len) {
		size_t back = 0;
		while (back < 3 && back < n && ((unsigned char)raw[n - 1 - back] & 0xc0) == 0x80)
			back++;
		unsigned char lead = (unsigned char)raw[n - 1 - back];
		size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
		if (back < n && lead >= 0xc0 && back + 1 < need)
			keep = n - 1 - back;
	}
	char *s = utf8_sanitize(raw, keep, max);
	for (size_t i = 0; s[i]; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\n' && s[i] != '\t')
			s[i] = ' ';
	return s;
}

/* A refused connection: route the call to another instance. */
bool proxy_call_retry(struct proxy_call *c, struct upstream_response *r)
{
	struct endpoint *ep = c->ep;

	/* A connection refused, reset or closed without an answer: the
	 * instance is likely gone (the Engine's event may still be on its
	 * way), so it gets no more traffic until a ping passes. */
	if (r->result && r->result != -ETIMEDOUT && r->result != -ECANCELED &&
	    r->result != -E2BIG && c->inst->state == INSTANCE_HEALTHY)
		endpoint_instance_unreachable(c->inst, r->error ? r->error : strerror(-r->result));

	if (r->result == -ECONNREFUSED && !c->retried) {
		/* Nothing was sent: another instance may take it. */
		struct instance *failed = c->inst;
		struct variant *v = c->pinned ? c->variant : proxy_pick_variant(c->proxy, ep, failed);
		struct instance *next = v ? proxy_pick_instance(c->proxy, v, failed) : NULL;
		if (next) {
			log_request(LOG_DEBUG, c->request_id, ep->name,
				    "request %s: %s refused the connection; trying %s", c->request_id,
				    failed->container_name, next->container_name);
			failed->inflight--;
			c->variant = v;
			c->inst = next;
			c->inst->inflight++;
			c->retried = true;
			proxy_forward(c);
			return true;
		}
	}
	return false;
}

/* Metrics and the log line of a call's end. */
enum metrics_outcome proxy_call_account(struct proxy_call *c, struct upstream_response *r)
{
	struct endpoint *ep = c->ep;
	const char *variant = c->variant->name;
	enum metrics_outcome outcome = METRICS_OUTCOME_MODEL_ERROR;
	if (r->result == -ECANCELED || r->result == -ECONNREFUSED)
		outcome = METRICS_OUTCOME_UNAVAILABLE;
	else if (r->result == -ETIMEDOUT)
		outcome = METRICS_OUTCOME_TIMEOUT;
	else if (!r->result && r->status < 400)
		outcome = METRICS_OUTCOME_SUCCESS;
	metrics_invocation(ep->name, variant, outcome, r->result ? 0 : r->status,
	                   now_monotonic() - c->start);
	/* A failed call is worth a line an operator can find by its request
	 * id (the one the client was given); successes are counted only. */
	if (outcome != METRICS_OUTCOME_SUCCESS && r->result)
		log_request(LOG_INFO, c->request_id, ep->name,
			    "request %s: endpoint %s variant %s instance %u (%s): %s", c->request_id,
			    ep->name, variant, c->inst->slot, c->inst->container_name,
			    r->error ? r->error : strerror(-r->result));
	else if (outcome != METRICS_OUTCOME_SUCCESS)
		log_request(LOG_INFO, c->request_id, ep->name,
			    "request %s: endpoint %s variant %s instance %u (%s) answered %d",
			    c->request_id, ep->name, variant, c->inst->slot, c->inst->container_name,
			    (int)r->status);
	return outcome;
}

/* The error answers of a failed call. */
void proxy_send_failure(struct proxy_call *c, struct upstream_response *r)
{
	struct endpoint *ep = c->ep;
	struct httpd_request *req = TAKE_PTR(c->req);
	if (r->result == -ECANCELED) {
		proxy_send_error(req, c->request_id, 503, "ServiceUnavailable",
				 "ServiceUnavailable", NULL, "endpointd is shutting down.");
	} else if (r->result == -ETIMEDOUT) {
		json_t *extra = json_pack("{s:i, s:s}", "OriginalStatusCode", 0, "OriginalMessage", "");
		unsigned timeout_s = c->stream ? ep->fleet->config->stream_idle_timeout_s
		                               : ep->fleet->config->invocation_timeout_s;
		proxy_send_error(req, c->request_id, 424, "ModelError", "ModelError", extra,
				 "Received server error (0) from primary with message \"Your "
				 "invocation timed out while waiting for a response from container "
				 "primary after %u seconds.\". See the log of container %s for more "
				 "information.",
				 timeout_s, c->inst->container_name);
		json_decref(extra);
	} else if (r->result == -ECONNREFUSED) {
		proxy_send_error(req, c->request_id, 503, "ServiceUnavailable",
				 "ServiceUnavailable", NULL,
				 "No instance of endpoint %s could take the request: %s refused the "
				 "connection.",
				 ep->name, c->inst->container_name);
	} else if (r->result) {
		json_t *extra = json_pack("{s:i, s:o}", "OriginalStatusCode", 0, "OriginalMessage",
					  aws_string(r->error ? r->error : ""));
		proxy_send_error(req, c->request_id, 424, "ModelError", "ModelError", extra,
				 "Received server error (0) from primary with message \"%s\". See "
				 "the log of container %s for more information.",
				 r->error ? r->error : strerror(-r->result), c->inst->container_name);
		json_decref(extra);
	} else {
		bool client = r->status < 500;
		_cleanup_free_ char *words = proxy_excerpt(r->body, PROXY_MESSAGE_BODY_MAX);
		_cleanup_free_ char *original = proxy_excerpt(r->body, PROXY_ORIGINAL_MAX);
		json_t *extra = json_pack("{s:i, s:o}", "OriginalStatusCode", (int)r->status,
					  "OriginalMessage", aws_string(original));
		proxy_send_error(req, c->request_id, 424,
				 client ? "CLIENT_ERROR_FROM_MODEL" : "SERVER_ERROR_FROM_MODEL",
				 "ModelError", extra,
				 "Received %s error (%d) from primary with message \"%s\". See the "
				 "log of container %s for more information.",
				 client ? "client" : "server", r->status, words,
				 c->inst->container_name);
		json_decref(extra);
	}
}

/* The container answered (or did not). */
static void proxy_done(struct upstream_response *r, void *userdata)
{
	struct proxy_call *c = userdata;
	if (proxy_call_retry(c, r))
		return;
	proxy_call_account(c, r);
	if (r->result || r->status >= 400) {
		proxy_send_failure(c, r);
	} else {
		const char *ct = upstream_response_header(r, "Content-Type");
		const char *attrs = upstream_response_header(r, "X-Amzn-SageMaker-Custom-Attributes");
		httpd_add_header(c->req, "Content-Type", ct ? ct : "application/octet-stream");
		httpd_add_header(c->req, "x-Amzn-Invoked-Production-Variant", c->variant->name);
		httpd_add_header(c->req, "x-amzn-RequestId", c->request_id);
		if (attrs)
			httpd_add_header(c->req, "X-Amzn-SageMaker-Custom-Attributes", attrs);
		if (evbuffer_get_length(r->body) >= PROXY_TRIM_BODY)
			c->proxy->big = true;
		httpd_send_reply(c->req, 200, r->body); /* moves its chains */
	}
	proxy_call_free(c);
}

/* Send the call to c->inst: a container without a network only through its
 * dialer (while none runs, the call is refused as by a stopped server). */
void proxy_forward(struct proxy_call *c)
{
	const struct config_model *model = c->inst->variant->cv->model;
	bool isolated = model && model->enable_network_isolation;
	struct upstream_request ur = {
		.port = isolated ? DIALER_MODEL_PORT : c->inst->host_port,
		.host = isolated ? NULL : c->inst->host_addr,
		.dialer = c->inst->dialer,
		.dialer_only = isolated,
		.path = "/invocations",
		.headers = (const char *const *)c->headers,
		.body = c->body,
		.connect_timeout_ms = PROXY_CONNECT_TIMEOUT_MS,
		.timeout_ms = c->ep->fleet->config->invocation_timeout_s * 1000,
		.max_response = PROXY_MAX_RESPONSE,
	};
	if (c->stream) {
		const struct config *cfg = c->ep->fleet->config;
		ur.timeout_ms = cfg->stream_timeout_s * 1000;
		ur.idle_timeout_ms = cfg->stream_idle_timeout_s * 1000;
		ur.max_response = PROXY_STREAM_PIECE_MAX;
		ur.on_piece = proxy_stream_piece;
		c->ucall = upstream_start(c->proxy->upstream, &ur, proxy_stream_done, c);
		return;
	}
	upstream_start(c->proxy->upstream, &ur, proxy_done, c);
}

/* Admission and routing of one invocation. */
struct proxy_call *proxy_call_new(struct proxy *p, struct httpd_request *req, const char *name,
                                  const char *request_id, const char *operation)
{
	struct config *cfg = endpoint_manager_config(p->manager);
	struct evbuffer *input = httpd_request_body(req);
	size_t len = evbuffer_get_length(input);

	if (!p->upstream) {
		proxy_send_error(req, request_id, 503, "ServiceUnavailable", "ServiceUnavailable",
				 NULL, "endpointd is shutting down.");
		return NULL;
	}
	if (strcmp(httpd_request_method(req), "POST") != 0) {
		proxy_send_error(req, request_id, 405, "ValidationError", "ValidationError", NULL,
				 "%s takes POST.", operation);
		return NULL;
	}
	struct endpoint *ep = endpoint_find(p->manager, name);
	if (!ep) {
		proxy_send_error(req, request_id, 400, "ValidationError", "ValidationError", NULL,
				 "Endpoint %s of account %s not found.", name, cfg->account_id);
		return NULL;
	}
	if (ep->state != ENDPOINT_IN_SERVICE && ep->state != ENDPOINT_UPDATING) {
		metrics_invocation(ep->name, NULL, METRICS_OUTCOME_REJECTED, 0, 0);
		proxy_send_error(req, request_id, 400, "ValidationError", "ValidationError", NULL,
				 "Endpoint %s of account %s is not in service: it is %s.", ep->name,
				 cfg->account_id, endpoint_state_to_string(ep->state));
		return NULL;
	}
	if (len > PROXY_MAX_BODY) {
		metrics_invocation(ep->name, NULL, METRICS_OUTCOME_REJECTED, 0, 0);
		proxy_send_error(req, request_id, 413, "ValidationError", "ValidationError", NULL,
				 "Request body of %zu bytes is over the limit of %d bytes.", len,
				 PROXY_MAX_BODY);
		return NULL;
	}

	size_t ep_in_flight = proxy_endpoint_in_flight(p, ep->name);
	if (p->in_flight >= cfg->max_inflight_invocations ||
	    ep_in_flight >= cfg->max_inflight_per_endpoint) {
		bool all = p->in_flight >= cfg->max_inflight_invocations;
		metrics_invocation(ep->name, NULL, METRICS_OUTCOME_REJECTED, 0, 0);
		proxy_send_error(req, request_id, 429, "ThrottlingException", "ThrottlingException",
				 NULL,
				 "Too many invocations in flight (%s%s: %zu, the limit is %u); "
				 "try again later.",
				 all ? "on this host" : "for endpoint ", all ? "" : ep->name,
				 all ? p->in_flight : ep_in_flight,
				 all ? cfg->max_inflight_invocations
				     : cfg->max_inflight_per_endpoint);
		return NULL;
	}

	const char *target = httpd_request_header(req, "X-Amzn-SageMaker-Target-Variant");
	struct variant *v = NULL;
	if (target) {
		v = proxy_find_variant(p, ep, target);
		if (!v) {
			metrics_invocation(ep->name, NULL, METRICS_OUTCOME_REJECTED, 0, 0);
			proxy_send_error(req, request_id, 400, "ValidationError", "ValidationError",
					 NULL,
					 "Endpoint %s has no production variant named %s: the "
					 "X-Amzn-SageMaker-Target-Variant header must name one.",
					 ep->name, target);
			return NULL;
		}
	} else {
		v = proxy_pick_variant(p, ep, NULL);
	}
	struct instance *inst = v ? proxy_pick_instance(p, v, NULL) : NULL;
	if (!inst) {
		metrics_invocation(ep->name, v ? v->name : NULL, METRICS_OUTCOME_UNAVAILABLE, 0, 0);
		proxy_send_error(req, request_id, 503, "ServiceUnavailable", "ServiceUnavailable",
				 NULL, "No healthy instance of endpoint %s%s%s can take the request.",
				 ep->name, target ? " variant " : "", target ? target : "");
		return NULL;
	}

	struct proxy_call *c = xcalloc(1, sizeof(*c));
	c->proxy = p;
	c->req = req;
	c->operation = operation;
	c->ep = endpoint_ref(ep);
	c->variant = v;
	c->inst = inst;
	c->pinned = target != NULL;
	c->start = now_monotonic();
	c->body = input;
	if (len >= PROXY_TRIM_BODY)
		p->big = true;
	snprintf(c->request_id, sizeof(c->request_id), "%s", request_id);
	inst->inflight++;
	p->in_flight++;
	c->counted = xstrdup(ep->name);
	proxy_count_endpoint(p, c->counted, 1);
	return c;
}

/* Forward one header of the request to the container. */
void proxy_call_forward_header(struct proxy_call *c, const char *name, const char *value)
{
	if (value && c->n_headers < PROXY_MAX_FORWARDED)
		c->headers[c->n_headers++] = xasprintf("%s: %s", name, value);
}

/* Serve one invocation. */
void proxy_invoke(struct proxy *p, struct httpd_request *req, const char *name,
		  const char *request_id)
{
	struct proxy_call *c = proxy_call_new(p, req, name, request_id, "InvokeEndpoint");
	if (!c)
		return;
	static const char *const forwarded[] = {"Content-Type", "Accept",
						"X-Amzn-SageMaker-Custom-Attributes",
						"X-Amzn-SageMaker-Inference-Id"};
	for (size_t i = 0; i < ELEMENTSOF(forwarded); i++)
		proxy_call_forward_header(c, forwarded[i], httpd_request_header(req, forwarded[i]));
	proxy_forward(c);
}

/* Bodies of megabytes leave the heap large once their chains are freed
 * (glibc keeps it): give it back when the burst is over. */
static void proxy_trim(evutil_socket_t fd, short what, void *arg)
{
	struct proxy *p = arg;
	if (p->in_flight > 0)
		return; /* the last call of the burst arms it again */
	p->big = false;
	malloc_trim(0);
}

/* A proxy with nothing in flight. */
struct proxy *proxy_new(struct event_base *base, struct endpoint_manager *m)
{
	struct proxy *p = xcalloc(1, sizeof(*p));
	p->base = base;
	p->upstream = upstream_new(base);
	p->trim = evtimer_new(base, proxy_trim, p);
	if (!p->trim)
		abort();
	p->manager = m;
	p->per_endpoint = strmap_new();
	if (getrandom(&p->rng, sizeof(p->rng), 0) != sizeof(p->rng) || p->rng == 0)
		p->rng = now_monotonic_ms() | 1;
	return p;
}

void proxy_stop(struct proxy *p)
{
	p->upstream = upstream_free(p->upstream);
}

/* Free the proxy; calls in flight end with 503. */
struct proxy *proxy_free(struct proxy *p)
{
	if (!p)
		return NULL;
	p->upstream = upstream_free(p->upstream);
	event_free(p->trim);
	strmap_free(p->per_endpoint);
	free(p);
	return NULL;
}

/* Calls forwarded and not answered yet. */
size_t proxy_in_flight(const struct proxy *p)
{
	return p->in_flight;
}
