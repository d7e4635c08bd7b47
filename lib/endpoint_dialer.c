/*
 * Each instance's endpointd-dialer (see dialer.h): the directory bind-mounted
 * into its container, the Docker exec that runs the dialer there as soon as
 * the container runs (with its dialer's token in the exec's environment),
 * and starting it again with backoff when it goes away.  Without one,
 * invocations go through the published port.
 *
 * An instance that passes its pings before its dialer is connected waits for
 * it (at most INSTANCE_DIALER_WAIT_S) before it takes calls: calls through
 * docker-proxy to a container that has just started have been seen to hang
 * for seconds while the Engine removes another container, which is just
 * what a rollout does.  A dialer that cannot start, or goes away, ends the
 * wait at once, and the calls go through the port.
 *
 * A container without a network (EnableNetworkIsolation) has no published
 * port: its dialer is the only way in, for pings too.  It is started as soon
 * as the container runs, and started again with backoff whenever it goes
 * away or cannot be started while the instance is probed or serves.
 */
#define _GNU_SOURCE
#include "endpoint.h"
#include "endpoint_private.h"

#include <errno.h>
#include <event2/event.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dialer.h"
#include "docker.h"
#include "log.h"
#include "util.h"

/* How long an instance that passed its pings waits for its dialer. */
#define INSTANCE_DIALER_WAIT_S 3

/* Where inst's dialer socket lives: short, for sun_path's 108 bytes. */
char *instance_dialer_dir(const struct instance *inst)
{
	uint64_t h =
	    hash_fnv1a(inst->container_name, strlen(inst->container_name), HASH_FNV1A_INIT);
	return xasprintf("%s/dialers/%016llx", inst->variant->endpoint->manager->config->state_dir,
	                 (unsigned long long)h);
}

/* Stop inst's dialer.  Its directory stays while the container does: the
 * container's bind mount holds that very directory, not its name. */
static void instance_stop_dialer(struct instance *inst)
{
	if (inst->dialer) {
		dialer_close(inst->dialer);
		inst->dialer = dialer_unref(inst->dialer);
	}
	inst->dialer_started = false;
}

/* Whether inst's dialer should run now: it serves or is being probed. */
static bool instance_wants_dialer(const struct instance *inst)
{
	return inst->state == INSTANCE_HEALTHY || inst->state == INSTANCE_PROBING;
}

/* End inst's wait for its dialer, if it waits: it takes calls now, through
 * the dialer if one is connected, else through the port. */
static void instance_dialer_join(struct instance *inst, const char *why_port)
{
	struct endpoint *ep = inst->variant->endpoint;
	if (!inst->joining)
		return;
	inst->joining = false;
	evtimer_del(inst->dialer_join);
	if (why_port)
		log_instance(LOG_INFO, inst,
		             "endpoint %s: variant %s instance %u takes calls through the published "
		             "port for now: %s",
		             ep->name, inst->variant->name, inst->slot, why_port);
	instance_joins_rotation(inst);
}

/* The wait for the dialer is over. */
static void instance_dialer_join_cb(evutil_socket_t fd, short what, void *arg)
{
	char why[64];
	snprintf(why, sizeof(why), "endpointd-dialer is not connected after %d s",
	         INSTANCE_DIALER_WAIT_S);
	instance_dialer_join(arg, why);
}

/* inst's dialer process is connected. */
static void instance_dialer_ready(struct dialer *d, void *userdata)
{
	struct instance *inst = userdata;
	if (inst->dialer == d)
		instance_dialer_join(inst, NULL);
}

/*
 * inst passed its pings: whether it waits for its dialer before it takes
 * calls (instance_joins_rotation() then comes later, once).  Not when it has
 * none or it is connected already; a container without a network was pinged
 * through it.
 */
bool instance_await_dialer(struct instance *inst)
{
	struct endpoint_manager *m = inst->variant->endpoint->manager;
	if (!inst->dialer || dialer_ready(inst->dialer) || instance_isolated(inst))
		return false;
	inst->joining = true;
	if (!inst->dialer_join)
		inst->dialer_join = evtimer_new(m->base, instance_dialer_join_cb, inst);
	struct timeval tv = {INSTANCE_DIALER_WAIT_S, 0};
	evtimer_add(inst->dialer_join, &tv);
	return true;
}

/* Backoff over: start the dialer again if the instance still needs it. */
static void instance_dialer_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct instance *inst = arg;
	struct endpoint *ep = inst->variant->endpoint;
	if (!instance_wants_dialer(inst) || ep->manager->shutting_down)
		return;
	log_instance(LOG_WARNING, inst,
	             "endpoint %s: variant %s instance %u: endpointd-dialer had gone away from "
	             "container %.12s; starting it again",
	             ep->name, inst->variant->name, inst->slot, inst->container_id);
	instance_start_dialer(inst);
}

/* Let go of inst's dialer and start another after the next backoff (1 s,
 * doubling to 60 s); the delay, in seconds. */
static unsigned instance_dialer_backoff(struct instance *inst)
{
	struct endpoint *ep = inst->variant->endpoint;
	unsigned delay_s = inst->dialer_restarts < 6 ? 1u << inst->dialer_restarts : 60;
	inst->dialer_restarts++;
	instance_stop_dialer(inst);
	instance_dialer_join(inst, "endpointd-dialer went away");
	if (!inst->dialer_retry)
		inst->dialer_retry = evtimer_new(ep->manager->base, instance_dialer_retry_cb, inst);
	struct timeval tv = {delay_s, 0};
	evtimer_add(inst->dialer_retry, &tv);
	return delay_s;
}

/* The dialer process in inst's container went away (killed, or it broke the
 * protocol): calls go through the published port until a new one runs (or,
 * without a network, find the instance unreachable).  Its container may be
 * dying too, so the judgement waits for the backoff. */
static void instance_dialer_lost(struct dialer *d, int why, void *userdata)
{
	struct instance *inst = userdata;
	struct endpoint *ep = inst->variant->endpoint;
	if (inst->dialer != d)
		return;
	unsigned delay_s = inst->dialer_restarts < 6 ? 1u << inst->dialer_restarts : 60;
	/* A broken protocol or a bad fd is the container's doing: say so. */
	const char *words = why == -EPROTO ? dialer_last_error(d) : NULL;
	log_instance(words ? LOG_WARNING : LOG_DEBUG, inst,
	             "endpoint %s: variant %s instance %u: endpointd-dialer went away (%s); "
	             "trying again in %u s",
	             ep->name, inst->variant->name, inst->slot, words ? words : strerror(-why),
	             delay_s);
	instance_dialer_backoff(inst);
}

/* One start of the dialer: the exec, once made, is started and then
 * inspected for the pid of its process. */
struct dialer_start {
	struct op *op;
	struct dialer *dialer; /* a reference: the one this exec is for */
	char *exec_id;
};

/* The dialer runs in inst's container as pid, or it could not be started
 * (r->err, or pid 0: it is already gone). */
static void instance_dialer_started(struct dialer_start *s, const struct docker_result *r, long pid)
{
	struct op *op = s->op;
	struct instance *inst = op->inst;
	/* The instance may have let this dialer go and made another since. */
	if (op_current(op) && inst->dialer && inst->dialer == s->dialer) {
		if ((r->err || pid <= 0) && instance_isolated(inst)) {
			/* No other way in: try again while the container starts. */
			unsigned delay_s = instance_dialer_backoff(inst);
			log_instance(
			    LOG_INFO, inst,
			    "endpoint %s: variant %s instance %u: starting endpointd-dialer: %s; "
			    "trying again in %u s",
			    op->ep->name, inst->variant->name, inst->slot,
			    r->err ? (r->message ? r->message : strerror(-r->err))
			           : "it exited at once",
			    delay_s);
		} else if (r->err || pid <= 0) {
			log_instance(
			    LOG_INFO, inst,
			    "endpoint %s: variant %s instance %u: invocations go through the "
			    "published port: starting endpointd-dialer: %s",
			    op->ep->name, inst->variant->name, inst->slot,
			    r->err ? (r->message ? r->message : strerror(-r->err))
			           : "it exited at once");
			instance_stop_dialer(inst);
			instance_dialer_join(inst, NULL);
		} else {
			log_instance(
			    LOG_DEBUG, inst,
			    "endpoint %s: variant %s instance %u: dialer started as pid %ld",
			    op->ep->name, inst->variant->name, inst->slot, pid);
			dialer_expect_peer(inst->dialer, (pid_t)pid);
		}
	}
	op_free(op);
	dialer_unref(s->dialer);
	free(s->exec_id);
	free(s);
}

/* The Engine said which process the exec runs. */
static void instance_dialer_inspected_cb(const struct docker_result *r, long pid, void *userdata)
{
	instance_dialer_started(userdata, r, pid);
}

/* The exec runs: learn its pid, the one process its socket takes. */
static void instance_dialer_started_cb(const struct docker_result *r, void *userdata)
{
	struct dialer_start *s = userdata;
	if (!r->err && op_current(s->op)) {
		docker_exec_inspect(s->op->ep->manager->docker, s->exec_id,
		                    instance_dialer_inspected_cb, s);
		return;
	}
	instance_dialer_started(s, r, 0);
}

/* The exec is made: start it. */
static void instance_dialer_exec_cb(const struct docker_result *r, const char *exec_id,
                                    void *userdata)
{
	struct dialer_start *s = userdata;
	if (!r->err && op_current(s->op)) {
		s->exec_id = xstrdup(exec_id);
		docker_exec_start(s->op->ep->manager->docker, exec_id, instance_dialer_started_cb,
		                  s);
		return;
	}
	instance_dialer_started(s, r, 0);
}

/* Run endpointd-dialer in inst's running container, so that invocations
 * (and, without a network, pings) reach the model server over the
 * container's own loopback; without it they go through the published port. */
void instance_start_dialer(struct instance *inst)
{
	struct endpoint *ep = inst->variant->endpoint;
	struct endpoint_manager *m = ep->manager;
	if (!m->config->container_dialer || inst->dialer_started || !inst->container_id)
		return;
	inst->dialer_started = true;
	_cleanup_free_ char *dir = instance_dialer_dir(inst);
	int r = dialer_new(m->base, dir, DIALER_MODEL_PORT, &inst->dialer);
	if (r < 0 && instance_isolated(inst)) {
		unsigned delay_s = instance_dialer_backoff(inst);
		log_instance(LOG_WARNING, inst,
		             "endpoint %s: variant %s instance %u: container %.12s has no network "
		             "and its endpointd-dialer cannot start: %s/%s: %s; trying again in %u s",
		             ep->name, inst->variant->name, inst->slot, inst->container_id, dir,
		             DIALER_SOCKET_NAME, strerror(-r), delay_s);
		return;
	}
	if (r == -ENOENT) {
		log_instance(LOG_INFO, inst,
		             "endpoint %s: variant %s instance %u: invocations go through the "
		             "published port: container %.12s was made without endpointd-dialer",
		             ep->name, inst->variant->name, inst->slot, inst->container_id);
		return;
	}
	if (r < 0) {
		log_instance(LOG_WARNING, inst,
		             "endpoint %s: variant %s instance %u: invocations go through the "
		             "published port: %s/%s: %s",
		             ep->name, inst->variant->name, inst->slot, dir, DIALER_SOCKET_NAME,
		             strerror(-r));
		return;
	}
	static const char *const argv[] = {DIALER_CONTAINER_BIN,
	                                   DIALER_CONTAINER_DIR "/" DIALER_SOCKET_NAME,
	                                   DIALER_MODEL_PORT_STR, NULL};
	/* The token in the environment: argv is readable by every process of
	 * the container, the environment only by the dialer's user. */
	_cleanup_free_ char *token_env =
	    xasprintf("%s=%s", DIALER_TOKEN_ENV, dialer_token(inst->dialer));
	const char *const env[] = {token_env, NULL};
	dialer_set_lost_cb(inst->dialer, instance_dialer_lost, inst);
	dialer_set_ready_cb(inst->dialer, instance_dialer_ready, inst);
	struct dialer_start *s = xcalloc(1, sizeof(*s));
	s->op = op_new(ep, inst->variant, inst);
	s->dialer = dialer_ref(inst->dialer);
	docker_exec_create(m->docker, inst->container_id, argv, env, instance_dialer_exec_cb, s);
	explicit_bzero(token_env, strlen(token_env));
}

/* Before inst's container is created: the bind source must exist, or the
 * Engine makes it, as root's. */
void instance_make_dialer_dir(struct instance *inst)
{
	struct endpoint_manager *m = inst->variant->endpoint->manager;
	if (!m->config->container_dialer)
		return;
	_cleanup_free_ char *parent = xasprintf("%s/dialers", m->config->state_dir);
	_cleanup_free_ char *dir = instance_dialer_dir(inst);
	(void)mkdir(parent, 0755);
	(void)mkdir(dir, 0755);
}

/* inst's container is gone: so is its dialer, its directory and its backoff. */
void instance_forget_dialer(struct instance *inst)
{
	struct endpoint_manager *m = inst->variant->endpoint->manager;
	instance_stop_dialer(inst);
	if (m->config->container_dialer && inst->container_name) {
		_cleanup_free_ char *dir = instance_dialer_dir(inst);
		(void)rmdir(dir);
	}
	inst->dialer_restarts = 0;
	if (inst->dialer_retry)
		evtimer_del(inst->dialer_retry);
	inst->joining = false;
	if (inst->dialer_join)
		evtimer_del(inst->dialer_join);
}

/* inst goes with its endpoint (its container keeps running). */
void instance_free_dialer(struct instance *inst)
{
	dialer_close(inst->dialer);
	inst->dialer = dialer_unref(inst->dialer);
	if (inst->dialer_retry)
		event_free(inst->dialer_retry);
	inst->dialer_retry = NULL;
	if (inst->dialer_join)
		event_free(inst->dialer_join);
	inst->dialer_join = NULL;
}
