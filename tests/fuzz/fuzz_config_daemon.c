/*
 * The daemon's YAML (lib/config.c, lib/config_yaml.c): every key, the
 * Models and EndpointConfigs it may hold itself, and the records the journal
 * would keep of what loads.  The file is written to a scratch directory
 * that holds one file to include, models.yaml.
 *
 * Input: the file's text.
 */
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "fuzz.h"

static const char models[] = "Models:\n"
                             "  - ModelName: included\n"
                             "    PrimaryContainer: { Image: demo:latest }\n";

static char path[256];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	const char *dir = fuzz_scratch_dir();
	fuzz_write_file(dir, "models.yaml", models, sizeof(models) - 1);
	snprintf(path, sizeof(path), "%s/endpointd.yaml", dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_write_file(fuzz_scratch_dir(), "endpointd.yaml", data, size);
	struct config *c = NULL;
	char *error = NULL;
	if (config_load(path, &c, &error) == 0) {
		fuzz_check_config_records(c);
		config_unref(c);
	} else if (!error) {
		__builtin_trap(); /* a refusal must say why */
	}
	free(error);
	return 0;
}
