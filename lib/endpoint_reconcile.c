/*
 * Matching what the journal says with what the Engine runs.
 *
 * At start every endpoint is rebuilt from its journal record with its slots
 * marked restored.  Whenever the Engine's event stream (re)connects, all
 * containers carrying this daemon's owner label are listed and matched:
 * restored slots adopt their running container (same ID, no restart), start
 * one that was created but never started, or get a new one when theirs is
 * gone or exited; live slots whose container went while events could not be
 * seen are replaced; Deleting endpoints lose their containers and go; and a
 * container of ours that belongs to nothing is removed once it is older than
 * orphan_grace_s, so that a create still in flight is never taken for one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "endpoint_private.h"
#include "log.h"

static void endpoint_manager_resync(struct endpoint_manager *m);

/* A member of a journal record, with its type checked. */
static json_t *endpoint_record_get(json_t *rec, const char *key, json_type type, bool required,
				   char **ret_error)
{
	json_t *v = json_object_get(rec, key);
	if ((!v && !required) || (v && json_typeof(v) == type) ||
	    (v && type == JSON_REAL && json_is_number(v)))
		return v;
	if (!*ret_error)
		*ret_error = xasprintf("journal record: \"%s\" is %s", key,
				       v ? "of the wrong type" : "missing");
	return NULL;
}

/* The config of a fleet's record, loaded and checked. */
static int endpoint_record_config(const char *name, json_t *doc, json_t *config_name,
				  struct config **ret_config,
				  const struct config_endpoint_config **ret_ecfg, char **ret_error)
{
	_cleanup_free_ char *what = xasprintf("journal record of %s", name);
	_cleanup_free_ char *cerr = NULL;
	struct config *c = NULL;
	if (config_load_string(what, json_string_value(doc), &c, &cerr) < 0) {
		*ret_error = xstrdup(cerr);
		return -EINVAL;
	}
	const struct config_endpoint_config *ecfg =
		config_find_endpoint_config(c, json_string_value(config_name));
	if (!ecfg) {
		*ret_error = xasprintf("%s: its config %s is not in it", what,
				       json_string_value(config_name));
		config_unref(c);
		return -EINVAL;
	}
	*ret_config = c;
	*ret_ecfg = ecfg;
	return 0;
}

/* A fleet's variants and slots from its record (what does not fit is skipped:
 * reconciling with the Engine settles the rest). */
static void fleet_restore_variants(struct fleet *f, json_t *variants)
{
	size_t i;
	json_t *jv;
	json_array_foreach(variants, i, jv)
	{
		const char *vname = json_string_value(json_object_get(jv, "name"));
		struct variant *v = NULL;
		for (size_t k = 0; vname && k < f->n_variants; k++)
			if (strcmp(f->variants[k].name, vname) == 0)
				v = &f->variants[k];
		if (!v)
			continue;
		const char *img = json_string_value(json_object_get(jv, "resolved_image"));
		if (img) {
			/* A variant named twice: the last entry wins, nothing leaks. */
			free(v->resolved_image);
			v->resolved_image = xstrdup(img);
			v->resolution_time = json_number_value(json_object_get(jv, "resolution_time"));
		}
		json_t *w = json_object_get(jv, "current_weight");
		if (json_is_number(w) && json_number_value(w) >= 0)
			v->current_weight = json_number_value(w);
		w = json_object_get(jv, "desired_weight");
		if (json_is_number(w) && json_number_value(w) >= 0)
			v->desired_weight = json_number_value(w);
		/* Slots a scaling added: as many as the record names, within the
		 * bound every variant has. */
		json_t *jw = json_object_get(jv, "wanted");
		json_int_t wanted = json_is_integer(jw) ? json_integer_value(jw) : (json_int_t)v->n_wanted;
		size_t k;
		json_t *ji;
		size_t slots = v->n_instances;
		json_array_foreach(json_object_get(jv, "instances"), k, ji)
		{
			json_t *js = json_object_get(ji, "slot");
			json_int_t slot = json_integer_value(js);
			if (json_is_integer(js) && slot >= 0 && slot < ENDPOINT_MAX_SLOTS &&
			    (size_t)slot + 1 > slots)
				slots = (size_t)slot + 1;
		}
		if (wanted >= 0 && wanted <= ENDPOINT_MAX_SLOTS && (size_t)wanted > slots)
			slots = (size_t)wanted;
		variant_add_slots(v, slots);
		if (wanted >= 0 && (size_t)wanted <= v->n_instances)
			v->n_wanted = (size_t)wanted;
		json_t *jd = json_object_get(jv, "desired");
		if (json_is_integer(jd) && json_integer_value(jd) >= 0 &&
		    json_integer_value(jd) <= ENDPOINT_MAX_SLOTS)
			v->n_desired = (size_t)json_integer_value(jd);
		json_array_foreach(json_object_get(jv, "instances"), k, ji)
		{
			json_t *js = json_object_get(ji, "slot");
			json_int_t slot = json_integer_value(js);
			if (!json_is_integer(js) || slot < 0 || (size_t)slot >= v->n_instances)
				continue;
			struct instance *inst = v->instances[slot];
			const char *cname = json_string_value(json_object_get(ji, "container_name"));
			const char *cid = json_string_value(json_object_get(ji, "container_id"));
			inst->generation =
				(unsigned)json_integer_value(json_object_get(ji, "generation"));
			/* A slot named twice: the last entry wins, nothing leaks. */
			free(inst->container_name);
			free(inst->container_id);
			inst->container_name = cname ? xstrdup(cname) : NULL;
			inst->container_id = cid ? xstrdup(cid) : NULL;
		}
	}
	for (i = 0; i < f->n_variants; i++)
		for (size_t k = 0; k < f->variants[i].n_instances; k++)
			f->variants[i].instances[k]->restored = true;
}

/* A fleet other than the serving one from its record: pending or retired. */
static struct fleet *fleet_restore(struct endpoint *ep, json_t *jf, char **ret_error)
{
	char *error = NULL;
	json_t *id = endpoint_record_get(jf, "fleet_id", JSON_INTEGER, true, &error);
	json_t *name = endpoint_record_get(jf, "config_name", JSON_STRING, true, &error);
	json_t *doc = endpoint_record_get(jf, "config", JSON_STRING, true, &error);
	json_t *variants = endpoint_record_get(jf, "variants", JSON_ARRAY, true, &error);
	json_t *retire_at = endpoint_record_get(jf, "retire_at", JSON_REAL, false, &error);
	/* Any fleet but the one the record names next: the first update
	 * retires fleet 0. */
	if (!error && (json_integer_value(id) < 0 || json_integer_value(id) >= ep->next_fleet_id))
		error = xasprintf("journal record of %s: fleet_id %lld is out of range", ep->name,
				  (long long)json_integer_value(id));
	for (size_t k = 0; !error && k < ep->n_retired + 2; k++) {
		const struct fleet *o = endpoint_fleet_nth(ep, k);
		if (o && o->id == (unsigned)json_integer_value(id))
			error = xasprintf("journal record of %s: two fleets are numbered %u", ep->name,
					  o->id);
	}
	struct config *c = NULL;
	const struct config_endpoint_config *ecfg = NULL;
	if (error || endpoint_record_config(ep->name, doc, name, &c, &ecfg, &error) < 0) {
		*ret_error = error;
		return NULL;
	}
	struct fleet *f = fleet_new(ep, (unsigned)json_integer_value(id), c, ecfg);
	config_unref(c);
	f->retire_at = retire_at ? json_number_value(retire_at) : 0;
	fleet_restore_variants(f, variants);
	return f;
}

/* Rebuild an endpoint from its record. */
int endpoint_manager_restore(struct endpoint_manager *m, json_t *rec, char **ret_error)
{
	char *error = NULL;
	json_t *name = endpoint_record_get(rec, "name", JSON_STRING, true, &error);
	json_t *arn = endpoint_record_get(rec, "arn", JSON_STRING, true, &error);
	json_t *config_name = endpoint_record_get(rec, "config_name", JSON_STRING, true, &error);
	json_t *status = endpoint_record_get(rec, "status", JSON_STRING, true, &error);
	json_t *ctime = endpoint_record_get(rec, "creation_time", JSON_REAL, true, &error);
	json_t *mtime = endpoint_record_get(rec, "last_modified_time", JSON_REAL, true, &error);
	json_t *tags = endpoint_record_get(rec, "tags", JSON_ARRAY, false, &error);
	json_t *doc = endpoint_record_get(rec, "config", JSON_STRING, true, &error);
	json_t *variants = endpoint_record_get(rec, "variants", JSON_ARRAY, true, &error);
	json_t *reason = endpoint_record_get(rec, "failure_reason", JSON_STRING, false, &error);
	json_t *fleet_id = endpoint_record_get(rec, "fleet_id", JSON_INTEGER, false, &error);
	json_t *next_id = endpoint_record_get(rec, "next_fleet_id", JSON_INTEGER, false, &error);
	json_t *pending = endpoint_record_get(rec, "pending", JSON_OBJECT, false, &error);
	json_t *dstate = endpoint_record_get(rec, "deploy_state", JSON_OBJECT, false, &error);
	json_t *dpolicy = endpoint_record_get(rec, "deploy_policy", JSON_OBJECT, false, &error);
	json_t *retired = endpoint_record_get(rec, "retired", JSON_ARRAY, false, &error);
	if (error)
		goto bad;
	int state = endpoint_state_from_string(json_string_value(status));
	if (state < 0) {
		error = xasprintf("journal record of %s: unknown status \"%s\"",
				  json_string_value(name), json_string_value(status));
		goto bad;
	}
	if (endpoint_find(m, json_string_value(name))) {
		error = xasprintf("journal record of %s: the name is taken twice",
				  json_string_value(name));
		goto bad;
	}
	if ((pending != NULL) != (dstate != NULL)) {
		error = xasprintf("journal record of %s: a pending fleet needs a deploy_state",
				  json_string_value(name));
		goto bad;
	}
	json_int_t fid = fleet_id ? json_integer_value(fleet_id) : 0;
	json_int_t nid = next_id ? json_integer_value(next_id) : fid + 1;
	if (fid < 0 || fid > UINT_MAX / 2 || nid <= fid || nid > UINT_MAX / 2) {
		error = xasprintf("journal record of %s: fleet ids %lld/%lld are out of range",
				  json_string_value(name), (long long)fid, (long long)nid);
		goto bad;
	}
	struct config *c = NULL;
	const struct config_endpoint_config *ecfg = NULL;
	if (endpoint_record_config(json_string_value(name), doc, config_name, &c, &ecfg, &error) < 0)
		goto bad;
	struct endpoint *ep = endpoint_alloc(m, json_string_value(name), c, ecfg);
	config_unref(c);
	ep->fleet->id = (unsigned)fid;
	ep->next_fleet_id = (unsigned)nid;
	if (dpolicy && deploy_policy_from_json(dpolicy, &ep->policy, &error) < 0)
		goto bad_ep;
	if (dstate && deploy_state_from_json(dstate, &ep->deploy, &error) < 0)
		goto bad_ep;
	if (pending && !(ep->pending = fleet_restore(ep, pending, &error)))
		goto bad_ep;
	size_t i;
	json_t *t;
	json_array_foreach(retired, i, t)
	{
		struct fleet *f = json_is_object(t) ? fleet_restore(ep, t, &error) : NULL;
		if (!f) {
			if (!error)
				error = xasprintf("journal record of %s: a retired fleet is not an object",
						  ep->name);
			goto bad_ep;
		}
		ep->retired = xreallocarray(ep->retired, ep->n_retired + 1, sizeof(*ep->retired));
		ep->retired[ep->n_retired++] = f;
		for (size_t k = 0; k < f->n_variants; k++)
			f->variants[k].n_wanted = 0;
	}
	free(ep->arn);
	ep->arn = xstrdup(json_string_value(arn));
	ep->state = (enum endpoint_state)state;
	ep->creation_time = json_number_value(ctime);
	ep->last_modified_time = json_number_value(mtime);
	ep->failure_reason = reason ? xstrdup(json_string_value(reason)) : NULL;
	json_array_foreach(tags, i, t)
	{
		struct endpoint_tag tag = {
			.key = (char *)json_string_value(json_object_get(t, "Key")),
			.value = (char *)json_string_value(json_object_get(t, "Value")),
		};
		if (tag.key)
			(void)tagset_add(&ep->tags, &tag, 1);
	}
	fleet_restore_variants(ep->fleet, variants);
	endpoint_register(ep);
	log_endpoint(LOG_INFO, ep->name, "endpoint %s: restored (%s%s%s)", ep->name,
		     endpoint_state_to_string(ep->state), ep->pending ? ", updating to " : "",
		     ep->pending ? ep->pending->config_name : "");
	return 0;
bad_ep:
	endpoint_destroy(ep);
bad:
	*ret_error = error;
	return -EINVAL;
}

/* A container that belongs to nothing, being removed. */
struct orphan {
	struct endpoint_manager *manager;
	char *id;
	char *name;
};

/* Removal of a container that belongs to nothing finished. */
static void endpoint_manager_orphan_removed_cb(const struct docker_result *r, void *userdata)
{
	struct orphan *o = userdata;
	if (!r->err || r->err == -ENOENT)
		endpoint_manager_container_gone(o->manager, o->name);
	else if (r->err != -ECANCELED)
		log_container(LOG_WARNING, o->id, "removing orphan container %.12s: %s", o->id,
			      r->message ? r->message : strerror(-r->err));
	free(o->id);
	free(o->name);
	free(o);
}

/* Whether container c is the one of inst (by id, else by its labels). */
static bool instance_matches(const struct instance *inst, const struct docker_container *c)
{
	if (inst->container_id && strcmp(inst->container_id, c->id) == 0)
		return true;
	const struct endpoint *ep = inst->variant->endpoint;
	const char *e = json_string_value(json_object_get(c->labels, DOCKER_LABEL_PREFIX "endpoint"));
	const char *v = json_string_value(json_object_get(c->labels, DOCKER_LABEL_PREFIX "variant"));
	const char *slot = json_string_value(json_object_get(c->labels, DOCKER_LABEL_PREFIX "slot"));
	const char *gen =
		json_string_value(json_object_get(c->labels, DOCKER_LABEL_PREFIX "generation"));
	return e && v && slot && gen && strcasecmp(e, ep->name) == 0 &&
	       strcmp(v, inst->variant->name) == 0 && strtoul(slot, NULL, 10) == inst->slot &&
	       strtoul(gen, NULL, 10) == inst->generation &&
	       endpoint_container_fleet(c) == inst->variant->fleet->id;
}

/* Take over a running container of inst's found at start or after an outage. */
static void instance_adopt(struct instance *inst, const struct docker_container *c)
{
	struct variant *v = inst->variant;
	struct endpoint *ep = v->endpoint;
	struct endpoint_manager *m = ep->manager;
	free(inst->container_id);
	inst->container_id = xstrdup(c->id);
	free(inst->container_name);
	inst->container_name = xstrdup(c->name);
	strmap_put(m->by_container, c->id, inst);
	instance_claim_gpus(inst, c->name,
			    json_string_value(json_object_get(c->labels, DOCKER_LABEL_PREFIX "gpus")));
	/* A container without a network has no published port by design. */
	bool isolated = instance_isolated(inst);
	inst->host_port = isolated ? 0 : docker_container_host_port(c, 8080);
	inst->engine_epoch = m->engine_epoch;
	inst->started_ms = now_monotonic_ms();
	if (inst->host_port == 0 && !isolated) {
		instance_replace(inst, "has no published port");
		return;
	}
	log_instance(LOG_INFO, inst, "endpoint %s: variant %s instance %u: adopted %.12s",
		      ep->name, v->name, inst->slot, c->id);
	if ((ep->state == ENDPOINT_IN_SERVICE || ep->state == ENDPOINT_UPDATING ||
	     ep->state == ENDPOINT_ROLLING_BACK) &&
	    v->fleet == ep->fleet) {
		/* It served before the restart: keep it serving while probes watch.
		 * An update's new instance may not have passed yet: it probes. */
		inst->state = INSTANCE_HEALTHY;
		v->healthy = xreallocarray(v->healthy, v->n_healthy + 1, sizeof(*v->healthy));
		v->healthy[v->n_healthy++] = inst;
		inst->health = instance_health_steady(inst);
		instance_start_dialer(inst);
	} else {
		inst->state = INSTANCE_PROBING;
		instance_start_dialer(inst);
		inst->health =
			instance_health_startup(inst, (uint64_t)v->cv->startup_timeout_s * 1000);
	}
}

/* A restored slot meets what the Engine has for it. */
static void instance_reconcile(struct instance *inst, const struct docker_container *c)
{
	struct endpoint *ep = inst->variant->endpoint;
	struct endpoint_manager *m = ep->manager;
	inst->restored = false;
	if (c && c->running) {
		instance_adopt(inst, c);
	} else if (c && strcmp(c->state, "created") == 0) {
		/* Created but never started: start it. */
		free(inst->container_id);
		inst->container_id = xstrdup(c->id);
		free(inst->container_name);
		inst->container_name = xstrdup(c->name);
		strmap_put(m->by_container, c->id, inst);
		instance_claim_gpus(inst, c->name,
				    json_string_value(json_object_get(c->labels, DOCKER_LABEL_PREFIX "gpus")));
		inst->state = INSTANCE_STARTING;
		inst->started_ms = now_monotonic_ms();
		inst->engine_epoch = m->engine_epoch;
		/* Its dialer's directory, the bind mount's source, may have gone
		 * with a delete the crash cut short: the start needs it. */
		instance_make_dialer_dir(inst);
		struct op *op = op_new(ep, inst->variant, inst);
		docker_container_start(m->docker, c->id, instance_started_cb, op);
	} else {
		if (c)
			endpoint_remove_container(ep, c->id, c->name);
		free(inst->container_id);
		inst->container_id = NULL;
		inst->generation++;
		if (ep->state == ENDPOINT_CREATING)
			inst->deadline_ms = 0;
		instance_start(inst);
	}
}

/* A restored slot that no longer should run (a retired fleet's, one scaled
 * away): its container goes. */
static void instance_reconcile_unwanted(struct instance *inst, const struct docker_container *c)
{
	struct endpoint *ep = inst->variant->endpoint;
	inst->restored = false;
	if (c)
		endpoint_remove_container(ep, c->id, c->name);
	instance_forget_container(inst);
	inst->state = INSTANCE_GONE;
}

static void instance_resync(struct instance *inst, const struct docker_container *cs, size_t n,
			    bool *claimed);

/* Match one endpoint with the containers the Engine runs. */
static void endpoint_resync(struct endpoint *ep, const struct docker_container *cs, size_t n,
			    bool *claimed)
{
	bool gone = ep->state == ENDPOINT_DELETING || ep->state == ENDPOINT_FAILED;
	for (size_t k = 0; k < n; k++) {
		const char *e =
			json_string_value(json_object_get(cs[k].labels, DOCKER_LABEL_PREFIX "endpoint"));
		if (gone && e && strcasecmp(e, ep->name) == 0) {
			claimed[k] = true;
			endpoint_remove_container(ep, cs[k].id, cs[k].name);
		}
	}
	struct fleet *f;
	if (gone) {
		for (size_t q = 0; (f = endpoint_fleet_nth(ep, q)); q++)
			for (size_t i = 0; i < f->n_variants; i++)
				for (size_t j = 0; j < f->variants[i].n_instances; j++) {
					struct instance *inst = f->variants[i].instances[j];
					inst->restored = false;
					instance_forget_container(inst);
				}
		endpoint_persist(ep);
		endpoint_maybe_drop(ep);
		return;
	}
	for (size_t q = 0; (f = endpoint_fleet_nth(ep, q)); q++)
		for (size_t i = 0; i < f->n_variants; i++)
			for (size_t j = 0; j < f->variants[i].n_instances; j++)
				instance_resync(f->variants[i].instances[j], cs, n, claimed);
	endpoint_persist(ep);
	endpoint_sweep_retired(ep);
	endpoint_maybe_in_service(ep);
}

/* Match one slot with the containers the Engine runs. */
static void instance_resync(struct instance *inst, const struct docker_container *cs, size_t n,
			    bool *claimed)
{
			const struct docker_container *c = NULL;
			for (size_t k = 0; k < n && !c; k++)
				if (instance_matches(inst, &cs[k])) {
					c = &cs[k];
					claimed[k] = true;
				}
			if (inst->restored && !instance_wanted(inst)) {
				instance_reconcile_unwanted(inst, c);
			} else if (inst->restored) {
				instance_reconcile(inst, c);
			} else if (inst->state == INSTANCE_PROBING || inst->state == INSTANCE_HEALTHY) {
				/* Events may have been lost while the stream was down:
				 * a death seen only here most likely came with the
				 * Engine's own restart. */
				if (!c || !c->running)
					inst->engine_stopped = true;
				if (!c)
					instance_died(inst, -1);
				else if (!c->running)
					instance_died(inst, c->exit_code);
			}
}

static void endpoint_manager_resync(struct endpoint_manager *m);

/* Timer: list again (after a failed listing, or to sweep young orphans). */
void endpoint_manager_resync_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	endpoint_manager_resync(arg);
}

/* Fire timer ev in delay_ms, unless it is due sooner already (the earliest
 * asked for wins). */
void endpoint_timer_sooner(struct event *ev, unsigned delay_ms)
{
	struct timeval tv = {.tv_sec = delay_ms / 1000, .tv_usec = (delay_ms % 1000) * 1000};
	struct timeval left;
	if (evtimer_pending(ev, &left)) {
		struct timeval now, want;
		evutil_gettimeofday(&now, NULL);
		evutil_timeradd(&now, &tv, &want);
		if (evutil_timercmp(&left, &want, <=))
			return;
	}
	evtimer_add(ev, &tv);
}

/* Run the resync again in delay_ms (the earliest asked for wins). */
void endpoint_manager_resync_later(struct endpoint_manager *m, unsigned delay_ms)
{
	endpoint_timer_sooner(m->resync_timer, delay_ms);
}

/*
 * What the Engine runs for us, matched with what the journal says: restored
 * slots adopt, start or replace their containers; live ones whose container
 * went while events were lost are replaced; containers of ours that belong to
 * nothing are removed once older than orphan_grace_s.
 */
static void endpoint_manager_resync_cb(const struct docker_result *r,
				       const struct docker_container *cs, size_t n, void *userdata)
{
	struct endpoint_manager *m = userdata;
	m->resync_running = false;
	if (r->err == -ECANCELED || m->shutting_down)
		return;
	if (r->err) {
		log_warning("listing containers: %s; trying again in %d ms",
			    r->message ? r->message : strerror(-r->err), ENDPOINT_RETRY_MS);
		endpoint_manager_resync_later(m, ENDPOINT_RETRY_MS);
		return;
	}
	/* Before any instance launches: GPUs of containers gone or still there. */
	endpoint_manager_gpus_listed(m, cs, n, m->listings);
	_cleanup_free_ bool *claimed = xcalloc(n ? n : 1, sizeof(*claimed));
	_cleanup_free_ struct endpoint **eps = NULL;
	size_t n_eps = endpoint_list(m, &eps);
	for (size_t i = 0; i < n_eps; i++)
		endpoint_ref(eps[i]);
	for (size_t i = 0; i < n_eps; i++) {
		if (eps[i]->registered)
			endpoint_resync(eps[i], cs, n, claimed);
		endpoint_unref(eps[i]);
	}

	double now = now_realtime(), grace = m->config->orphan_grace_s;
	double next = -1;
	for (size_t k = 0; k < n; k++) {
		if (claimed[k] || strmap_get(m->by_container, cs[k].id))
			continue;
		double age = cs[k].created > 0 ? now - cs[k].created : grace;
		if (age >= grace) {
			log_container(LOG_NOTICE, cs[k].id,
				      "removing container %.12s (%s): it belongs to no endpoint",
				      cs[k].id, cs[k].name);
			struct orphan *o = xcalloc(1, sizeof(*o));
			*o = (struct orphan){.manager = m, .id = xstrdup(cs[k].id),
					     .name = xstrdup(cs[k].name)};
			docker_container_remove(m->docker, cs[k].id, true,
						endpoint_manager_orphan_removed_cb, o);
		} else if (next < 0 || grace - age < next) {
			next = grace - age;
		}
	}
	if (m->resync_sweep) {
		/* A create the previous daemon had sent shows up after this
		 * listing: it belongs to nothing and goes in the next sweep. */
		m->resync_sweep = false;
		if (next < 0 || grace < next)
			next = grace;
	}
	if (next >= 0)
		endpoint_manager_resync_later(m, (unsigned)(next * 1000) + 100);
	endpoint_manager_trim_model_cache(m);
	if (!m->synced) {
		m->synced = true;
		if (m->synced_cb)
			m->synced_cb(m->synced_data);
		m->synced_cb = NULL;
	}
	if (m->resync_again) {
		m->resync_again = false;
		endpoint_manager_resync(m);
	}
}

/* List our containers and match them (one listing at a time). */
static void endpoint_manager_resync(struct endpoint_manager *m)
{
	if (m->shutting_down)
		return;
	if (m->resync_running) {
		m->resync_again = true;
		return;
	}
	m->resync_running = true;
	m->listings++;
	docker_container_list(m->docker, m->owner_label, endpoint_manager_resync_cb, m);
}

void endpoint_manager_when_synced(struct endpoint_manager *m, void (*cb)(void *userdata),
				  void *userdata)
{
	if (m->synced) {
		cb(userdata);
		return;
	}
	m->synced_cb = cb;
	m->synced_data = userdata;
}

/* What the Engine says happened to our containers. */
void endpoint_manager_event_cb(const struct docker_event *ev, bool ended, void *userdata)
{
	struct endpoint_manager *m = userdata;
	if (ended || m->shutting_down)
		return;
	if (!ev) {
		/* (Re)connected: what happened meanwhile is not in the stream. */
		m->engine_epoch++;
		m->resync_sweep = true;
		endpoint_manager_resync(m);
		return;
	}
	if (!ev->id || !ev->action)
		return;
	struct instance *inst = strmap_get(m->by_container, ev->id);
	if (!inst)
		return;
	if (strcmp(ev->action, "oom") == 0)
		inst->oom_killed = true;
	else if (strcmp(ev->action, "kill") == 0)
		inst->engine_stopped = true; /* endpointd stops what it tears down first */
	else if (strcmp(ev->action, "die") == 0)
		instance_died(inst, ev->exit_code);
}

