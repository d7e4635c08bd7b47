/*
 * What the Engine is asked to run for an instance: the container's name, its
 * labels and its spec, as `docker run <image> serve` would make it
 * (DESIGN.md, Containers).
 *
 * Names are deterministic, so that a create is idempotent, and unambiguous:
 * "_" separates their parts and cannot appear in an endpoint or variant name.
 * Labels, not names, say whose a container is (endpoint_container_is_instances);
 * reconciling matches containers by id and labels, so the names of an earlier
 * scheme ("endpointd-<owner>-<endpoint>-<variant>-<slot>-<gen>") still adopt.
 *
 * A model with EnableNetworkIsolation gets NetworkMode "none" (a loopback
 * and nothing else) and no port: its endpointd-dialer is the only way in.
 */
#define _GNU_SOURCE
#include "endpoint.h"
#include "endpoint_private.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dialer.h"
#include "docker.h"
#include "util.h"

/*
 * A container's name: "endpointd_<owner>_<endpoint>_<variant>_<slot>_<gen>",
 * names lower-cased, and "_f<fleet>" after it for the fleets that updates
 * bring (the first fleet's names are as they always were).  Endpoint and variant names cannot hold "_", so no two
 * instances share a name, whatever hyphens their names hold; the owner (its
 * first 8 characters) keeps daemons sharing an Engine apart.
 */
char *endpoint_container_name(const char *owner, const char *endpoint, const char *variant,
			      unsigned fleet, unsigned slot, unsigned generation)
{
	_cleanup_free_ char *e = str_tolower(endpoint), *v = str_tolower(variant);
	if (fleet == 0)
		return xasprintf("endpointd_%.8s_%s_%s_%u_%u", owner, e, v, slot, generation);
	return xasprintf("endpointd_%.8s_%s_%s_%u_%u_f%u", owner, e, v, slot, generation, fleet);
}

/* The fleet a container's labels name (none: 0, the first). */
unsigned endpoint_container_fleet(const struct docker_container *c)
{
	const char *f = json_string_value(json_object_get(c->labels, DOCKER_LABEL_PREFIX "fleet"));
	return f ? (unsigned)strtoul(f, NULL, 10) : 0;
}

/* A label of c, or NULL. */
static const char *endpoint_container_label(const struct docker_container *c, const char *name)
{
	return json_string_value(json_object_get(c->labels, name));
}

/* Whether c's labels say it is this daemon's container for inst's slot. */
bool endpoint_container_is_instances(const struct instance *inst, const struct docker_container *c)
{
	const struct endpoint *ep = inst->variant->endpoint;
	const char *owner = endpoint_container_label(c, ENDPOINT_LABEL_OWNER);
	const char *e = endpoint_container_label(c, DOCKER_LABEL_PREFIX "endpoint");
	const char *v = endpoint_container_label(c, DOCKER_LABEL_PREFIX "variant");
	const char *slot = endpoint_container_label(c, DOCKER_LABEL_PREFIX "slot");
	char want[16];
	snprintf(want, sizeof(want), "%u", inst->slot);
	return owner && e && v && slot && strcmp(owner, ep->manager->owner) == 0 &&
	       strcasecmp(e, ep->name) == 0 && strcasecmp(v, inst->variant->name) == 0 &&
	       strcmp(slot, want) == 0 && endpoint_container_fleet(c) == inst->variant->fleet->id;
}

/*
 * A read-only bind mount of source at target, as HostConfig.Mounts has it.
 * Not HostConfig.Binds: for a "src:dst:ro" bind the Engine makes a missing
 * source an empty root-owned directory on the host, and the container starts
 * without its model or its dialer; a Mount whose source is missing makes the
 * create fail (400, "bind source path does not exist: <source>"), and that
 * message is the instance's failure reason.  A Mount is also taken apart by
 * field, not at ":" and ",", so any path is mounted as it is.  BindOptions
 * keep the Engine's defaults: rprivate, recursive.
 */
static json_t *instance_bind_mount(const char *source, const char *target)
{
	return json_pack("{s:s, s:s, s:s, s:b}", "Type", "bind", "Source", source, "Target",
			 target, "ReadOnly", 1);
}

/* The Engine's container spec for inst, as `docker run <image> serve` would. */
json_t *instance_container_spec(struct instance *inst)
{
	struct variant *v = inst->variant;
	struct endpoint *ep = v->endpoint;
	const struct config_variant *cv = v->cv;
	const struct config_container *pc = &cv->model->primary;
	const struct config_instance_type *type = cv->type;

	json_t *env = json_array();
	json_array_append_new(env, json_string("SAGEMAKER_BIND_TO_PORT=8080"));
	json_array_append_new(env, json_string("SAGEMAKER_SAFE_PORT_RANGE=20000-20999"));
	if (type->gpus == 0)
		json_array_append_new(env, json_string("NVIDIA_VISIBLE_DEVICES=void"));
	for (size_t i = 0; i < pc->n_env; i++)
		json_array_append_new(env,
				      json_sprintf("%s=%s", pc->env[i].name, pc->env[i].value));

	bool isolated = cv->model->enable_network_isolation;
	json_t *host = json_pack("{s:[s], s:{s:s}, s:b, s:b}", "SecurityOpt", "no-new-privileges",
				 "RestartPolicy", "Name", "no", "Privileged", 0,
				 "PublishAllPorts", 0);
	if (isolated)
		json_object_set_new(host, "NetworkMode", json_string("none"));
	else
		json_object_set_new(host, "PortBindings",
				    json_pack("{s:[{s:s, s:s}]}", "8080/tcp", "HostIp",
					      "127.0.0.1", "HostPort", ""));
	if (type->cpus > 0)
		json_object_set_new(host, "NanoCpus", json_integer((json_int_t)(type->cpus * 1e9)));
	if (type->memory > 0) {
		json_object_set_new(host, "Memory", json_integer((json_int_t)type->memory));
		json_object_set_new(host, "MemorySwap", json_integer((json_int_t)type->memory));
	}
	if (type->gpus > 0)
		json_object_set_new(host, "DeviceRequests", instance_gpu_requests(inst));
	json_t *mounts = json_array();
	if (v->model_dir)
		json_array_append_new(mounts, instance_bind_mount(v->model_dir, "/opt/ml/model"));
	/* In swarm mode a task may run on another node, where no dialer of
	 * this daemon's can reach it (isolated models are refused there). */
	const char *dialer = ep->manager->swarm ? NULL : ep->manager->config->container_dialer;
	if (dialer) {
		_cleanup_free_ char *dir = instance_dialer_dir(inst);
		json_array_append_new(mounts, instance_bind_mount(dialer, DIALER_CONTAINER_BIN));
		json_array_append_new(mounts, instance_bind_mount(dir, DIALER_CONTAINER_DIR));
	}
	if (json_array_size(mounts))
		json_object_set_new(host, "Mounts", mounts);
	else
		json_decref(mounts);

	char slot[16], gen[16], fleet[16];
	snprintf(slot, sizeof(slot), "%u", inst->slot);
	snprintf(gen, sizeof(gen), "%u", inst->generation);
	snprintf(fleet, sizeof(fleet), "%u", v->fleet->id);
	json_t *labels = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", ENDPOINT_LABEL_MANAGED,
				   "true", ENDPOINT_LABEL_OWNER, ep->manager->owner,
				   DOCKER_LABEL_PREFIX "endpoint", ep->name,
				   DOCKER_LABEL_PREFIX "endpoint-arn", ep->arn,
				   DOCKER_LABEL_PREFIX "variant", v->name, DOCKER_LABEL_PREFIX "slot",
				   slot, DOCKER_LABEL_PREFIX "generation", gen);
	if (v->fleet->id > 0)
		json_object_set_new(labels, DOCKER_LABEL_PREFIX "fleet", json_string(fleet));

	json_t *spec = json_pack("{s:s, s:[s], s:o, s:o}", "Image", pc->image, "Cmd", "serve",
				 "Env", env, "HostConfig", host);
	if (!isolated)
		json_object_set_new(spec, "ExposedPorts", json_pack("{s:{}}", "8080/tcp"));
	if (pc->container_hostname)
		json_object_set_new(spec, "Hostname", json_string(pc->container_hostname));

	/* The spec hash lets a later start tell whether a container is ours as
	 * it would be made now. */
	_cleanup_free_ char *text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
	uint64_t h = hash_fnv1a(text, strlen(text), HASH_FNV1A_INIT);
	json_object_set_new(labels, DOCKER_LABEL_PREFIX "spec-hash",
			    json_sprintf("%016llx", (unsigned long long)h));
	_cleanup_free_ char *gpus = instance_gpu_uuids(inst);
	if (gpus)
		json_object_set_new(labels, DOCKER_LABEL_PREFIX "gpus", json_string(gpus));
	json_object_set_new(spec, "Labels", labels);
	return spec;
}
