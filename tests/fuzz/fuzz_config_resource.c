/*
 * A file of Models and EndpointConfigs that the daemon's YAML includes
 * (lib/config.c, lib/config_resources.c), and the records the journal would
 * keep of what loads.  The same text is then the API's document of a
 * config_with_api() on a daemon config that allows every image and takes
 * model data from one root: what the API created must load beside the YAML
 * or be refused with a reason.
 *
 * The alarms of a config that loads are evaluated on a few calls of
 * endpoint "main" (alarm.c), so that every alarm the YAML can declare gets
 * a state and a reason.
 *
 * Input: the included file's text (up to its first NUL for the API's
 * document).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alarm.h"
#include "config.h"
#include "fuzz.h"
#include "metrics.h"

static const char main_yaml[] = "region: us-east-1\n"
                                "account_id: \"000000000000\"\n"
                                "container_dialer: none\n"
                                "include: [models.yaml]\n"
                                "instance_types:\n"
                                "  ml.m5.large: { cpus: 2, memory: 8GiB }\n"
                                "  ml.g5.xlarge: { cpus: 4, memory: 16GiB, gpus: 1 }\n"
                                "Models:\n"
                                "  - ModelName: main\n"
                                "    PrimaryContainer: { Image: demo:latest }\n";

static const char api_base_yaml[] = "region: us-east-1\n"
                                    "container_dialer: none\n"
                                    "allowed_images: [\"*\"]\n"
                                    "model_data_roots: [/srv/models]\n"
                                    "instance_types:\n"
                                    "  ml.m5.large: { cpus: 2, memory: 8GiB }\n"
                                    "Models:\n"
                                    "  - ModelName: main\n"
                                    "    PrimaryContainer: { Image: demo:latest }\n";

static char main_path[256];
static struct config *api_base;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	const char *dir = fuzz_scratch_dir();
	fuzz_write_file(dir, "endpointd.yaml", main_yaml, sizeof(main_yaml) - 1);
	snprintf(main_path, sizeof(main_path), "%s/endpointd.yaml", dir);
	char *error = NULL;
	if (config_load_string("api-base.yaml", api_base_yaml, &api_base, &error) < 0)
		abort();
	return 0;
}

/* Every alarm of c, on calls of "main" that failed and succeeded. */
static void fuzz_evaluate_alarms(const struct config *c)
{
	const double now = 1770904200.0;

	if (c->n_alarms == 0)
		return;
	metrics_reset();
	metrics_invocation_at("main", "canary", METRICS_OUTCOME_MODEL_ERROR, 500, 0.02, now - 5);
	metrics_invocation_at("main", "AllTraffic", METRICS_OUTCOME_SUCCESS, 200, 0.001, now - 65);
	for (size_t i = 0; i < c->n_alarms; i++) {
		char *reason = NULL;
		enum alarm_state s = alarm_evaluate(&c->alarms[i], "main", now, &reason);
		if (s != ALARM_STATE_OK && s != ALARM_STATE_ALARM &&
		    s != ALARM_STATE_INSUFFICIENT_DATA)
			__builtin_trap();
		if (!reason || strncmp(reason, "Alarm ", 6) != 0)
			__builtin_trap();
		free(reason);
	}
	metrics_reset();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_write_file(fuzz_scratch_dir(), "models.yaml", data, size);
	struct config *c = NULL;
	char *error = NULL;
	if (config_load(main_path, &c, &error) == 0) {
		fuzz_check_config_records(c);
		fuzz_evaluate_alarms(c);
		config_unref(c);
	} else if (!error) {
		__builtin_trap();
	}
	free(error);

	char *doc = malloc(size + 1);
	if (!doc)
		abort();
	memcpy(doc, data, size);
	doc[size] = '\0';
	c = NULL;
	error = NULL;
	if (config_with_api(api_base, doc, &c, &error) == 0) {
		for (size_t i = 0; i < c->n_models; i++)
			if (c->models[i].from_api !=
			    (strcmp(c->models[i].origin.file, "(API)") == 0))
				__builtin_trap();
		fuzz_check_config_records(c);
		config_unref(c);
	} else if (!error) {
		__builtin_trap();
	}
	free(error);
	free(doc);
	return 0;
}
