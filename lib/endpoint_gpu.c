/*
 * The host's GPUs, handed to instances by UUID.
 *
 * The daemon discovers the GPUs once at start-up (gpu.c) and gives the list to
 * the manager.  An instance whose type has gpus: N takes N free ones when it
 * launches a container, by UUID (DeviceRequests DeviceIDs), so that two
 * containers never share a device, and gives them back when that container
 * goes.  The UUIDs ride on the container as a label, so that a restarted
 * daemon knows which devices the containers it adopts hold.
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
	free(m->gpus);
	free(m->gpu_holder);
	free(m->gpu_error);
	m->gpus = gpus;
	m->n_gpus = n;
	m->gpu_holder = xcalloc(n ? n : 1, sizeof(*m->gpu_holder));
	m->gpu_error = error ? xstrdup(error) : NULL;
}

/* GPUs of this host. */
size_t endpoint_manager_gpus(const struct endpoint_manager *m)
{
	return m->n_gpus;
}

/* GPUs no instance holds now. */
size_t endpoint_manager_unheld_gpus(const struct endpoint_manager *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n_gpus; i++)
		n += m->gpu_holder[i] == NULL;
	return n;
}

/* Add up what one live endpoint's config asks for. */
static void endpoint_gpu_count_one(const char *key, void *value, void *userdata)
{
	const struct endpoint *ep = value;
	size_t *n = userdata;
	if (ep->state == ENDPOINT_CREATING || ep->state == ENDPOINT_IN_SERVICE ||
	    ep->state == ENDPOINT_UPDATING)
		*n += endpoint_config_gpus(ep->ecfg);
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
		n +=
		    (size_t)ecfg->variants[i].initial_instance_count * ecfg->variants[i].type->gpus;
	return n;
}

/* Give back what inst holds. */
void instance_release_gpus(struct instance *inst)
{
	struct endpoint_manager *m = inst->variant->endpoint->manager;
	if (inst->n_gpus == 0 || !m)
		return;
	for (size_t i = 0; i < m->n_gpus; i++)
		if (m->gpu_holder[i] == inst)
			m->gpu_holder[i] = NULL;
	inst->n_gpus = 0;
}

/* Take the GPUs inst's type asks for.  0, or -ENOSPC with the words in
 * *ret_reason (free() it). */
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
	if (free_n < want) {
		*ret_reason = xasprintf("Instance type %s of production variant %s needs %u GPU%s; "
		                        "%zu of this host's %zu are free.",
		                        v->cv->instance_type, v->name, want, want == 1 ? "" : "s",
		                        free_n, m->n_gpus);
		return -ENOSPC;
	}
	for (size_t i = 0; i < m->n_gpus && inst->n_gpus < want; i++)
		if (!m->gpu_holder[i]) {
			m->gpu_holder[i] = inst;
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
		if (m->gpu_holder[i] == inst)
			buf_printf(&b, "%s%s", b.len ? "," : "", m->gpus[i].uuid);
	return b.len ? buf_steal(&b) : NULL;
}

/* DeviceRequests for what inst holds: by UUID, with the nvidia driver. */
json_t *instance_gpu_requests(const struct instance *inst)
{
	struct endpoint_manager *m = inst->variant->endpoint->manager;
	json_t *ids = json_array();
	for (size_t i = 0; i < m->n_gpus; i++)
		if (m->gpu_holder[i] == inst)
			json_array_append_new(ids, json_string(m->gpus[i].uuid));
	return json_pack("[{s:s, s:o, s:[[s]]}]", "Driver", "nvidia", "DeviceIDs", ids,
	                 "Capabilities", "gpu");
}

/* An adopted container holds the GPUs its label names: mark them inst's. */
void instance_claim_gpus(struct instance *inst, const char *uuids)
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
		} else if (m->gpu_holder[i] && m->gpu_holder[i] != inst) {
			log_instance(
			    LOG_WARNING, inst,
			    "endpoint %s: variant %s instance %u: GPU %s is held by another "
			    "instance too",
			    ep->name, inst->variant->name, inst->slot, u);
		} else if (!m->gpu_holder[i]) {
			m->gpu_holder[i] = inst;
			inst->n_gpus++;
		}
	}
}
