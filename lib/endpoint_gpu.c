/*
 * The host's GPUs, handed to instances by UUID.
 *
 * The daemon discovers the GPUs once at start-up (gpu.c) and gives the list to
 * the manager.  An instance whose type has gpus: N takes N free ones when it
 * launches a container, by UUID (DeviceRequests DeviceIDs), so that two
 * containers never share a device.  The UUIDs ride on the container as a
 * label, so that a restarted daemon knows which devices the containers it
 * adopts hold.
 *
 * A GPU is free again only once the container on it is gone, not when the
 * instance lets go of it: a container being stopped may run for seconds more
 * (its stop timeout), and one whose create was in flight may exist after all.
 * So an instance hands its GPUs to its container, by name ("draining"), and
 * they are free when the removal of that container succeeds, when its create
 * was refused, or when a container listing asked for after the handover does
 * not show it.  A launch that finds too few free GPUs while enough are
 * draining waits for them (instance->gpu_wait) rather than failing.  At
 * start, the GPUs named by the labels of every container listed count as
 * draining until an instance adopts the container or it is removed.
 */
#define _GNU_SOURCE
#include "endpoint.h"
#include "endpoint_private.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "gpu.h"
#include "log.h"
#include "util.h"

/* Take the host's GPUs (the array is the manager's now); error says why
 * there are none. */
void endpoint_manager_set_gpus(struct endpoint_manager *m, struct gpu *gpus, size_t n,
                               const char *error)
{
	endpoint_manager_free_gpu_use(m);
	free(m->gpus);
	free(m->gpu_error);
	m->gpus = gpus;
	m->n_gpus = n;
	m->gpu_use = xcalloc(n ? n : 1, sizeof(*m->gpu_use));
	m->gpu_error = error ? xstrdup(error) : NULL;
}

/* Forget who holds what (the manager goes, or gets a new list of GPUs). */
void endpoint_manager_free_gpu_use(struct endpoint_manager *m)
{
	for (size_t i = 0; m->gpu_use && i < m->n_gpus; i++)
		free(m->gpu_use[i].container);
	free(m->gpu_use);
	m->gpu_use = NULL;
}

/* GPUs of this host. */
size_t endpoint_manager_gpus(const struct endpoint_manager *m)
{
	return m->n_gpus;
}

/* GPUs neither an instance nor a container going away holds now. */
size_t endpoint_manager_unheld_gpus(const struct endpoint_manager *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n_gpus; i++)
		n += !m->gpu_use[i].holder && !m->gpu_use[i].container;
	return n;
}

/* GPUs held by containers going away. */
static size_t endpoint_manager_draining_gpus(const struct endpoint_manager *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n_gpus; i++)
		n += !m->gpu_use[i].holder && m->gpu_use[i].container;
	return n;
}

/* GPU i is free again. */
static void endpoint_gpu_free_one(struct gpu_use *u)
{
	u->holder = NULL;
	free(u->container);
	u->container = NULL;
}

/* Add up what one live endpoint's config asks for. */
static void endpoint_gpu_count_one(const char *key, void *value, void *userdata)
{
	const struct endpoint *ep = value;
	size_t *n = userdata;
	if (ep->state == ENDPOINT_CREATING || ep->state == ENDPOINT_IN_SERVICE ||
	    ep->state == ENDPOINT_UPDATING || ep->state == ENDPOINT_ROLLING_BACK ||
	    ep->state == ENDPOINT_UPDATE_ROLLBACK_FAILED)
		*n += fleet_gpus(ep->fleet) + (ep->pending ? fleet_gpus(ep->pending) : 0);
}

/* GPUs not promised to a live endpoint.  An endpoint's instances take their
 * GPUs only when they launch (after the image pull and the model data), so
 * CreateEndpoint counts what each endpoint asks for, not what is taken yet. */
size_t endpoint_manager_free_gpus(const struct endpoint_manager *m)
{
	size_t promised = 0;
	if (m->by_name)
		strmap_foreach(m->by_name, endpoint_gpu_count_one, &promised);
	return promised < m->n_gpus ? m->n_gpus - promised : 0;
}

/* GPUs the endpoint config asks for, all instances together. */
size_t endpoint_config_gpus(const struct config_endpoint_config *ecfg)
{
	size_t n = 0;
	for (size_t i = 0; i < ecfg->n_variants; i++)
		if (ecfg->variants[i].type)
			n += (size_t)ecfg->variants[i].initial_instance_count *
			     ecfg->variants[i].type->gpus;
	return n;
}

/* Give back what inst holds: no container of it can be using them. */
void instance_release_gpus(struct instance *inst)
{
	struct endpoint_manager *m = inst->variant->endpoint->manager;
	if (inst->n_gpus == 0 || !m)
		return;
	for (size_t i = 0; i < m->n_gpus; i++)
		if (m->gpu_use[i].holder == inst)
			endpoint_gpu_free_one(&m->gpu_use[i]);
	inst->n_gpus = 0;
	endpoint_wake_gpu_waiters(m);
}

/* inst lets go of its GPUs, which container (a name) may still be using:
 * they are free once it is gone (endpoint_manager_container_gone). */
void instance_drain_gpus(struct instance *inst, const char *container)
{
	struct endpoint_manager *m = inst->variant->endpoint->manager;
	if (!container) {
		instance_release_gpus(inst);
		return;
	}
	if (inst->n_gpus == 0 || !m)
		return;
	for (size_t i = 0; i < m->n_gpus; i++) {
		struct gpu_use *u = &m->gpu_use[i];
		if (u->holder != inst)
			continue;
		u->holder = NULL;
		free(u->container);
		u->container = xstrdup(container);
		u->listing = m->listings;
	}
	inst->n_gpus = 0;
}

/* The Engine confirmed container (a name) gone, or never made: its GPUs are
 * free.  Whether any were. */
bool endpoint_manager_container_gone(struct endpoint_manager *m, const char *container)
{
	bool freed = false;
	if (!m || !container)
		return false;
	for (size_t i = 0; i < m->n_gpus; i++) {
		struct gpu_use *u = &m->gpu_use[i];
		if (!u->holder && u->container && strcmp(u->container, container) == 0) {
			endpoint_gpu_free_one(u);
			freed = true;
		}
	}
	if (freed)
		endpoint_wake_gpu_waiters(m);
	return freed;
}

/* Whether the listing cs holds a container named name. */
static bool endpoint_gpu_listed(const struct docker_container *cs, size_t n, const char *name)
{
	for (size_t k = 0; k < n; k++)
		if (cs[k].name && strcmp(cs[k].name, name) == 0)
			return true;
	return false;
}

/*
 * A listing of the Engine's containers (asked for as number listing) came
 * back: containers draining since before it that it lacks are gone; GPUs that
 * its containers' labels name and nobody holds are theirs until they are
 * adopted or removed.
 */
void endpoint_manager_gpus_listed(struct endpoint_manager *m, const struct docker_container *cs,
                                  size_t n, unsigned listing)
{
	bool freed = false;
	for (size_t i = 0; i < m->n_gpus; i++) {
		struct gpu_use *u = &m->gpu_use[i];
		if (!u->holder && u->container && (int)(listing - u->listing) > 0 &&
		    !endpoint_gpu_listed(cs, n, u->container)) {
			endpoint_gpu_free_one(u);
			freed = true;
		}
	}
	for (size_t k = 0; k < n; k++) {
		const char *uuids =
		    json_string_value(json_object_get(cs[k].labels, DOCKER_LABEL_PREFIX "gpus"));
		if (!uuids || !*uuids || !cs[k].name)
			continue;
		_cleanup_free_ char *copy = xstrdup(uuids);
		char *save = NULL;
		for (char *u = strtok_r(copy, ",", &save); u; u = strtok_r(NULL, ",", &save))
			for (size_t i = 0; i < m->n_gpus; i++)
				if (strcmp(m->gpus[i].uuid, u) == 0 && !m->gpu_use[i].holder &&
				    !m->gpu_use[i].container) {
					m->gpu_use[i].container = xstrdup(cs[k].name);
					m->gpu_use[i].listing = listing;
				}
	}
	if (freed)
		endpoint_wake_gpu_waiters(m);
}

/* Take the GPUs inst's type asks for.  0; -EAGAIN when enough of them are
 * only held by containers going away (wait for them); or -ENOSPC.  With
 * either error the words are in *ret_reason (free() it). */
int instance_take_gpus(struct instance *inst, char **ret_reason)
{
	struct variant *v = inst->variant;
	struct endpoint_manager *m = v->endpoint->manager;
	unsigned want = v->cv->type->gpus;
	instance_release_gpus(inst);
	if (want == 0)
		return 0;
	if (m->n_gpus == 0) {
		*ret_reason =
		    xasprintf("Instance type %s of production variant %s needs %u GPU%s, and "
		              "endpointd sees none on this host (%s).",
		              v->cv->instance_type, v->name, want, want == 1 ? "" : "s",
		              m->gpu_error ? m->gpu_error : "no GPU found");
		return -ENOSPC;
	}
	size_t free_n = endpoint_manager_unheld_gpus(m);
	size_t draining = endpoint_manager_draining_gpus(m);
	if (free_n < want && free_n + draining >= want) {
		*ret_reason = xasprintf("Instance type %s of production variant %s needs %u GPU%s; "
		                        "%zu of this host's %zu are still held by containers "
		                        "being removed.",
		                        v->cv->instance_type, v->name, want, want == 1 ? "" : "s",
		                        draining, m->n_gpus);
		return -EAGAIN;
	}
	if (free_n < want) {
		*ret_reason = xasprintf("Instance type %s of production variant %s needs %u GPU%s; "
		                        "%zu of this host's %zu are free.",
		                        v->cv->instance_type, v->name, want, want == 1 ? "" : "s",
		                        free_n, m->n_gpus);
		return -ENOSPC;
	}
	for (size_t i = 0; i < m->n_gpus && inst->n_gpus < want; i++)
		if (!m->gpu_use[i].holder && !m->gpu_use[i].container) {
			m->gpu_use[i].holder = inst;
			inst->n_gpus++;
		}
	return 0;
}

/* The UUIDs inst holds, comma-separated (the label's value); NULL when none. */
char *instance_gpu_uuids(const struct instance *inst)
{
	struct endpoint_manager *m = inst->variant->endpoint->manager;
	struct buf b = {0};
	for (size_t i = 0; i < m->n_gpus; i++)
		if (m->gpu_use[i].holder == inst)
			buf_printf(&b, "%s%s", b.len ? "," : "", m->gpus[i].uuid);
	return b.len ? buf_steal(&b) : NULL;
}

/* DeviceRequests for what inst holds: by UUID, with the nvidia driver. */
json_t *instance_gpu_requests(const struct instance *inst)
{
	struct endpoint_manager *m = inst->variant->endpoint->manager;
	json_t *ids = json_array();
	for (size_t i = 0; i < m->n_gpus; i++)
		if (m->gpu_use[i].holder == inst)
			json_array_append_new(ids, json_string(m->gpus[i].uuid));
	return json_pack("[{s:s, s:o, s:[[s]]}]", "Driver", "nvidia", "DeviceIDs", ids,
	                 "Capabilities", "gpu");
}

/* An adopted container (named container) holds the GPUs its label names:
 * mark them inst's. */
void instance_claim_gpus(struct instance *inst, const char *container, const char *uuids)
{
	struct endpoint *ep = inst->variant->endpoint;
	struct endpoint_manager *m = ep->manager;
	instance_release_gpus(inst);
	if (!uuids || !*uuids)
		return;
	_cleanup_free_ char *copy = xstrdup(uuids);
	char *save = NULL;
	for (char *u = strtok_r(copy, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
		size_t i = 0;
		while (i < m->n_gpus && strcmp(m->gpus[i].uuid, u) != 0)
			i++;
		if (i == m->n_gpus) {
			log_instance(
			    LOG_WARNING, inst,
			    "endpoint %s: variant %s instance %u: its container holds GPU %s, "
			    "which this host no longer shows",
			    ep->name, inst->variant->name, inst->slot, u);
		} else if ((m->gpu_use[i].holder && m->gpu_use[i].holder != inst) ||
		           (!m->gpu_use[i].holder && m->gpu_use[i].container &&
		            (!container || strcmp(m->gpu_use[i].container, container) != 0))) {
			log_instance(
			    LOG_WARNING, inst,
			    "endpoint %s: variant %s instance %u: GPU %s is held by another "
			    "instance too",
			    ep->name, inst->variant->name, inst->slot, u);
		} else if (!m->gpu_use[i].holder) {
			endpoint_gpu_free_one(&m->gpu_use[i]);
			m->gpu_use[i].holder = inst;
			inst->n_gpus++;
		}
	}
}
