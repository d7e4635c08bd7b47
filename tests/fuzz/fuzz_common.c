/* The harnesses' shared helpers (fuzz.h). */
#define _GNU_SOURCE
#include "fuzz.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/event.h>

#include "api.h"
#include "catalog.h"
#include "config.h"
#include "docker.h"
#include "endpoint.h"
#include "httpc.h"
#include "log.h"
#include "proxy.h"

static char scratch[64];

/* Remove one entry (nftw callback). */
static int fuzz_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (ftw->level > 0)
		remove(path);
	return 0;
}

/* Empty dir, keep it. */
void fuzz_empty_dir(const char *dir)
{
	nftw(dir, fuzz_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* At exit: the scratch directory goes. */
static void fuzz_remove_scratch(void)
{
	if (!scratch[0])
		return;
	fuzz_empty_dir(scratch);
	rmdir(scratch);
}

/* Logs formatted but not sent anywhere that matters. */
void fuzz_init(void)
{
	log_open("fuzz", LOG_DEBUG, 0);
	unsetenv("DOCKER_HOST");
}

/* Made on first use. */
const char *fuzz_scratch_dir(void)
{
	if (!scratch[0]) {
		snprintf(scratch, sizeof(scratch), "/tmp/endpointd-fuzz-XXXXXX");
		if (!mkdtemp(scratch))
			abort();
		atexit(fuzz_remove_scratch);
	}
	return scratch;
}

/* One file, whole. */
void fuzz_write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n <= 0)
			abort();
		p += n;
		len -= (size_t)n;
	}
	close(fd);
}

/* Whether an endpoint can be created from ec (a config of the API's may name
 * a model deleted since: no endpoint, so no record, comes of it). */
static bool fuzz_config_usable(const struct config_endpoint_config *ec)
{
	for (size_t v = 0; v < ec->n_variants; v++)
		if (!ec->variants[v].model || !ec->variants[v].type)
			return false;
	return true;
}

/* Each record loads back to the same endpoint config. */
void fuzz_check_config_records(const struct config *c)
{
	for (size_t i = 0; i < c->n_endpoint_configs; i++) {
		const struct config_endpoint_config *ec = &c->endpoint_configs[i];
		if (!fuzz_config_usable(ec))
			continue;
		char *doc = endpoint_config_document(c, ec), *error = NULL;
		struct config *back = NULL;
		if (config_load_string("record", doc, &back, &error) < 0) {
			fprintf(stderr, "record of %s does not load back: %s\n%s\n", ec->name,
			        error, doc);
			__builtin_trap();
		}
		const struct config_endpoint_config *bec =
		    config_find_endpoint_config(back, ec->name);
		if (!bec || bec->n_variants != ec->n_variants)
			__builtin_trap();
		for (size_t v = 0; v < ec->n_variants; v++)
			if (strcmp(bec->variants[v].variant_name, ec->variants[v].variant_name) !=
			        0 ||
			    bec->variants[v].initial_instance_count !=
			        ec->variants[v].initial_instance_count)
				__builtin_trap();
		config_unref(back);
		free(doc);
	}
}

static const char world_yaml[] =
    "region: us-east-1\n"
    "account_id: \"000000000000\"\n"
    "container_dialer: none\n"
    "state_dir: %s\n"
    "docker: { socket: %s/no-engine.sock }\n"
    "limits: { max_endpoints: 8, max_instances: 16, max_models: 8, max_endpoint_configs: 8 }\n"
    "allowed_images: [\"demo:*\", \"registry.local:5000/*\"]\n"
    "instance_types:\n"
    "  ml.m5.large: { cpus: 2, memory: 8GiB }\n"
    "  ml.g5.xlarge: { cpus: 4, memory: 16GiB, gpus: 1 }\n"
    "Models:\n"
    "  - ModelName: m\n"
    "    PrimaryContainer: { Image: demo:latest, Environment: { A: b } }\n"
    "    Tags: [{ Key: team, Value: x }]\n"
    "  - ModelName: big\n"
    "    PrimaryContainer: { Image: \"registry.local:5000/big@sha256:00\" }\n"
    "EndpointConfigs:\n"
    "  - EndpointConfigName: c\n"
    "    ProductionVariants:\n"
    "      - { VariantName: v, ModelName: m, InitialInstanceCount: 1, InstanceType: "
    "ml.m5.large }\n"
    "  - EndpointConfigName: two\n"
    "    ProductionVariants:\n"
    "      - { VariantName: a, ModelName: m, InitialInstanceCount: 2, InstanceType: "
    "ml.m5.large, InitialVariantWeight: 0.25 }\n"
    "      - { VariantName: b, ModelName: big, InitialInstanceCount: 1, InstanceType: "
    "ml.m5.large }\n"
    "    Tags: [{ Key: stage, Value: test }]\n"
    "  - EndpointConfigName: gpu\n"
    "    ProductionVariants:\n"
    "      - { VariantName: g, ModelName: m, InitialInstanceCount: 1, InstanceType: "
    "ml.g5.xlarge }\n";

/* Parsed once; each world takes a reference. */
static struct config *world_config(void)
{
	static struct config *c;
	if (!c) {
		const char *dir = fuzz_scratch_dir();
		char yaml[sizeof(world_yaml) + 256], *error = NULL;
		snprintf(yaml, sizeof(yaml), world_yaml, dir, dir);
		if (config_load_string("world.yaml", yaml, &c, &error) < 0) {
			fprintf(stderr, "fuzz: the world's config: %s\n", error);
			abort();
		}
	}
	return c;
}

/* Wired as the daemon wires it. */
void fuzz_world_new(struct fuzz_world *w, struct journal *journal)
{
	*w = (struct fuzz_world){0};
	w->config = config_ref(world_config());
	w->base = event_base_new();
	if (!w->base)
		abort();
	w->httpc = httpc_new(w->base);
	w->docker = docker_new(w->base, w->httpc, w->config->docker_socket, NULL, NULL);
	w->manager = endpoint_manager_new(w->base, w->httpc, w->docker, w->config, journal, "fuzz");
	w->proxy = proxy_new(w->base, w->manager);
	w->api = api_new(w->base, w->manager, journal, w->proxy);
	w->catalog = catalog_new(w->config, journal);
	api_set_catalog(w->api, w->catalog);
}

/* What is ready now, and no waiting. */
void fuzz_world_turn(struct fuzz_world *w)
{
	event_base_loop(w->base, EVLOOP_NONBLOCK);
}

/* endpointd's shutdown. */
void fuzz_world_free(struct fuzz_world *w)
{
	api_close_listeners(w->api);
	endpoint_manager_shutdown(w->manager);
	event_base_loop(w->base, EVLOOP_NONBLOCK);
	event_base_loop(w->base, EVLOOP_NONBLOCK);
	w->docker = docker_free(w->docker);
	w->httpc = httpc_free(w->httpc);
	w->proxy = proxy_free(w->proxy);
	w->api = api_free(w->api);
	w->catalog = catalog_free(w->catalog);
	event_base_loop(w->base, EVLOOP_NONBLOCK);
	w->manager = endpoint_manager_free(w->manager);
	event_base_loop(w->base, EVLOOP_NONBLOCK);
	event_base_free(w->base);
	w->config = config_unref(w->config);
}
