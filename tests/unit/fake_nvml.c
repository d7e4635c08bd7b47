/*
 * A fake libnvidia-ml for test_gpu: the NVML entry points gpu.c uses,
 * scripted by the environment, which is read when nvmlInit_v2 is called:
 *
 *   FAKE_NVML_GPUS        "uuid|name|memory_bytes;uuid|name|memory_bytes",
 *                         in index order; unset or empty: no GPUs
 *   FAKE_NVML_INIT_ERROR  N: nvmlInit_v2 returns N
 *   FAKE_NVML_NAME_ERROR  N: nvmlDeviceGetName returns N for every GPU
 *   FAKE_NVML_REQUIRE_DEVICES
 *                         1: nvmlInit_v2 wants the device nodes, as the real
 *                         library does: <dir>/nvidiactl and <dir>/nvidia<i>
 *                         for each fake GPU i must be character devices that
 *                         open(2) O_RDWR lets through (ENXIO or ENODEV, no
 *                         driver behind a node made by mknod, counts as let
 *                         through).  Missing or not a character device:
 *                         NVML_ERROR_DRIVER_NOT_LOADED (9); EPERM or EACCES,
 *                         as a device cgroup or the node's mode says:
 *                         NVML_ERROR_NO_PERMISSION (4); other errors: 9.
 *                         Unset or anything else: no node is looked at.
 *   FAKE_NVML_DEV_DIR     <dir> above; unset or empty: /dev
 *
 * nvmlErrorString(N) is "fake error N", followed by ": <node>: <why>" when
 * the last nvmlInit_v2 failed for a device node.  Each nvmlShutdown, whether or not
 * NVML was initialised, adds one to FAKE_NVML_SHUTDOWNS in the environment,
 * which outlives the library's dlclose, so that a test can count them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* nvml.h's return codes, as far as used here. */
#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NO_PERMISSION 4
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_DRIVER_NOT_LOADED 9

#define FAKE_NVML_MAX_GPUS 16

/* What nvmlDevice_t points to here. */
struct nvml_device {
	char uuid[96];
	char name[96];
	unsigned long long memory;
};

/* nvmlMemory_t. */
struct nvml_memory {
	unsigned long long total;
	unsigned long long free;
	unsigned long long used;
};

int nvmlInit_v2(void);
int nvmlShutdown(void);
const char *nvmlErrorString(int result);
int nvmlDeviceGetCount_v2(unsigned *count);
int nvmlDeviceGetHandleByIndex_v2(unsigned index, struct nvml_device **device);
int nvmlDeviceGetUUID(struct nvml_device *device, char *uuid, unsigned length);
int nvmlDeviceGetName(struct nvml_device *device, char *name, unsigned length);
int nvmlDeviceGetMemoryInfo(struct nvml_device *device, struct nvml_memory *memory);

static struct nvml_device fake_gpus[FAKE_NVML_MAX_GPUS];
static unsigned fake_n_gpus;
static bool fake_initialised;
static int fake_name_error;
static char fake_init_detail[512]; /* why the last nvmlInit_v2 failed for a node */

/* The integer in environment variable name, or 0. */
static int fake_env_int(const char *name)
{
	const char *s = getenv(name);

	return s ? atoi(s) : 0;
}

/* Copies the field of *s up to delim (or the end) into dst, and moves on. */
static void fake_field(const char **s, char delim, char *dst, size_t size)
{
	size_t n = strcspn(*s, (char[]){delim, ';', '\0'});

	snprintf(dst, size, "%.*s", (int)n, *s);
	*s += n;
	if (**s == delim)
		(*s)++;
}

/* Reads FAKE_NVML_GPUS into fake_gpus. */
static void fake_parse_gpus(void)
{
	const char *s = getenv("FAKE_NVML_GPUS");
	char memory[32];

	fake_n_gpus = 0;
	while (s && *s && fake_n_gpus < FAKE_NVML_MAX_GPUS) {
		struct nvml_device *d = &fake_gpus[fake_n_gpus++];

		fake_field(&s, '|', d->uuid, sizeof(d->uuid));
		fake_field(&s, '|', d->name, sizeof(d->name));
		fake_field(&s, ';', memory, sizeof(memory));
		d->memory = strtoull(memory, NULL, 10);
	}
}

/* Whether node (a name under FAKE_NVML_DEV_DIR) lets NVML in: NVML_SUCCESS,
 * or an NVML error with the reason in fake_init_detail. */
static int fake_check_node(const char *node)
{
	const char *dir = getenv("FAKE_NVML_DEV_DIR");
	char path[256];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/dev", node);
	if (stat(path, &st) < 0) {
		snprintf(fake_init_detail, sizeof(fake_init_detail), "%s: %s", path,
		         strerror(errno));
		return NVML_ERROR_DRIVER_NOT_LOADED;
	}
	if (!S_ISCHR(st.st_mode)) {
		snprintf(fake_init_detail, sizeof(fake_init_detail), "%s: not a character device",
		         path);
		return NVML_ERROR_DRIVER_NOT_LOADED;
	}
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd >= 0) {
		close(fd);
		return NVML_SUCCESS;
	}
	if (errno == ENXIO || errno == ENODEV)
		return NVML_SUCCESS;
	snprintf(fake_init_detail, sizeof(fake_init_detail), "%s: %s", path, strerror(errno));
	return errno == EPERM || errno == EACCES ? NVML_ERROR_NO_PERMISSION
	                                         : NVML_ERROR_DRIVER_NOT_LOADED;
}

/* With FAKE_NVML_REQUIRE_DEVICES=1, whether every node NVML opens lets it in. */
static int fake_check_nodes(void)
{
	const char *require = getenv("FAKE_NVML_REQUIRE_DEVICES");
	char node[32];
	int result;

	if (!require || strcmp(require, "1") != 0)
		return NVML_SUCCESS;
	result = fake_check_node("nvidiactl");
	for (unsigned i = 0; result == NVML_SUCCESS && i < fake_n_gpus; i++) {
		snprintf(node, sizeof(node), "nvidia%u", i);
		result = fake_check_node(node);
	}
	return result;
}

/* nvmlInit_v2. */
int nvmlInit_v2(void)
{
	int error = fake_env_int("FAKE_NVML_INIT_ERROR");

	fake_init_detail[0] = '\0';
	if (error)
		return error;
	fake_parse_gpus();
	error = fake_check_nodes();
	if (error)
		return error;
	fake_name_error = fake_env_int("FAKE_NVML_NAME_ERROR");
	fake_initialised = true;
	return NVML_SUCCESS;
}

/* nvmlShutdown; counts itself in FAKE_NVML_SHUTDOWNS. */
int nvmlShutdown(void)
{
	char count[16];

	snprintf(count, sizeof(count), "%d", fake_env_int("FAKE_NVML_SHUTDOWNS") + 1);
	setenv("FAKE_NVML_SHUTDOWNS", count, 1);
	if (!fake_initialised)
		return NVML_ERROR_UNINITIALIZED;
	fake_initialised = false;
	return NVML_SUCCESS;
}

/* nvmlErrorString: "fake error N", and the device node's trouble if any. */
const char *nvmlErrorString(int result)
{
	static char words[sizeof(fake_init_detail) + 32];

	if (fake_init_detail[0])
		snprintf(words, sizeof(words), "fake error %d: %s", result, fake_init_detail);
	else
		snprintf(words, sizeof(words), "fake error %d", result);
	return words;
}

/* nvmlDeviceGetCount_v2. */
int nvmlDeviceGetCount_v2(unsigned *count)
{
	if (!fake_initialised)
		return NVML_ERROR_UNINITIALIZED;
	*count = fake_n_gpus;
	return NVML_SUCCESS;
}

/* nvmlDeviceGetHandleByIndex_v2. */
int nvmlDeviceGetHandleByIndex_v2(unsigned index, struct nvml_device **device)
{
	if (!fake_initialised)
		return NVML_ERROR_UNINITIALIZED;
	if (index >= fake_n_gpus)
		return NVML_ERROR_INVALID_ARGUMENT;
	*device = &fake_gpus[index];
	return NVML_SUCCESS;
}

/* Copies s into buf as NVML does, or NVML_ERROR_INSUFFICIENT_SIZE. */
static int fake_copy(const char *s, char *buf, unsigned length)
{
	if (strlen(s) + 1 > length)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	memcpy(buf, s, strlen(s) + 1);
	return NVML_SUCCESS;
}

/* nvmlDeviceGetUUID. */
int nvmlDeviceGetUUID(struct nvml_device *device, char *uuid, unsigned length)
{
	if (!fake_initialised)
		return NVML_ERROR_UNINITIALIZED;
	return fake_copy(device->uuid, uuid, length);
}

/* nvmlDeviceGetName. */
int nvmlDeviceGetName(struct nvml_device *device, char *name, unsigned length)
{
	if (!fake_initialised)
		return NVML_ERROR_UNINITIALIZED;
	if (fake_name_error)
		return fake_name_error;
	return fake_copy(device->name, name, length);
}

/* nvmlDeviceGetMemoryInfo; free is total, nothing used. */
int nvmlDeviceGetMemoryInfo(struct nvml_device *device, struct nvml_memory *memory)
{
	if (!fake_initialised)
		return NVML_ERROR_UNINITIALIZED;
	memory->total = device->memory;
	memory->free = device->memory;
	memory->used = 0;
	return NVML_SUCCESS;
}
