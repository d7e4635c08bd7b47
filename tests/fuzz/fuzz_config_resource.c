/*
 * A file of Models and EndpointConfigs that the daemon's YAML includes
 * (lib/config.c), and the records the journal would keep of what loads.
 *
 * Input: the included file's text.
 */
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "fuzz.h"

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

static char main_path[256];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	const char *dir = fuzz_scratch_dir();
	fuzz_write_file(dir, "endpointd.yaml", main_yaml, sizeof(main_yaml) - 1);
	snprintf(main_path, sizeof(main_path), "%s/endpointd.yaml", dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_write_file(fuzz_scratch_dir(), "models.yaml", data, size);
	struct config *c = NULL;
	char *error = NULL;
	if (config_load(main_path, &c, &error) == 0) {
		fuzz_check_config_records(c);
		config_unref(c);
	} else if (!error) {
		__builtin_trap();
	}
	free(error);
	return 0;
}
