/*
 * GPU discovery through NVML, the NVIDIA Management Library.
 *
 * Why dlopen: libnvidia-ml.so.1 comes with the NVIDIA driver, not with any
 * package endpointd could depend on, and most hosts have no NVIDIA driver at
 * all.  Linked at build time it would stop the daemon from starting on them;
 * loaded at run time, "no driver" is an ordinary -ENOENT that the caller
 * logs once.  The few NVML types used are declared here, from nvml.h (a
 * stable ABI), so that building needs no CUDA headers either.
 *
 * It blocks: nvmlInit can take seconds while the driver brings the GPUs up
 * (more without persistence mode).  The daemon calls gpu_discover() once at
 * start-up, before its event loop runs, never from a callback.  NVML is
 * initialised, read and shut down within the one call, so nothing of it
 * stays loaded in the daemon.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <string.h>

#include "gpu.h"
#include "util.h"

#define GPU_DEFAULT_LIBRARY "libnvidia-ml.so.1"

/* From nvml.h: nvmlReturn_t is an int enum, success is 0. */
#define NVML_SUCCESS 0
#define NVML_DEVICE_UUID_V2_BUFFER_SIZE 96
#define NVML_DEVICE_NAME_V2_BUFFER_SIZE 96

_Static_assert(sizeof(((struct gpu *)0)->uuid) >= NVML_DEVICE_UUID_V2_BUFFER_SIZE,
               "struct gpu's uuid holds what nvmlDeviceGetUUID may write");
_Static_assert(sizeof(((struct gpu *)0)->name) >= NVML_DEVICE_NAME_V2_BUFFER_SIZE,
               "struct gpu's name holds what nvmlDeviceGetName may write");

/* nvmlDevice_t points to one of these; NVML owns it. */
struct nvml_device;

/* nvmlMemory_t, in bytes. */
struct nvml_memory {
	unsigned long long total;
	unsigned long long free;
	unsigned long long used;
};

/* The loaded library and the entry points used, all resolved or none. */
struct gpu_nvml {
	void *dl;
	int (*init)(void);
	int (*shutdown)(void);
	const char *(*error_string)(int result);
	int (*device_get_count)(unsigned *count);
	int (*device_get_handle_by_index)(unsigned index, struct nvml_device **device);
	int (*device_get_uuid)(struct nvml_device *device, char *uuid, unsigned length);
	int (*device_get_name)(struct nvml_device *device, char *name, unsigned length);
	int (*device_get_memory_info)(struct nvml_device *device, struct nvml_memory *memory);
};

/* Resolves one symbol into *ret_fn (a function pointer), or -ENOSYS. */
static int gpu_sym(struct gpu_nvml *nvml, const char *library, const char *symbol, void *ret_fn,
                   char **ret_error)
{
	void *p = dlsym(nvml->dl, symbol);

	if (!p) {
		*ret_error =
		    xasprintf("%s has no %s (not NVML, or a driver too old)", library, symbol);
		return -ENOSYS;
	}
	/* POSIX guarantees a data pointer can hold a function pointer. */
	memcpy(ret_fn, &p, sizeof(p));
	return 0;
}

/* Loads library and resolves every entry point, or -ENOENT / -ENOSYS. */
static int gpu_nvml_open(struct gpu_nvml *nvml, const char *library, char **ret_error)
{
	static const char *const symbols[] = {
	    "nvmlInit_v2",
	    "nvmlShutdown",
	    "nvmlErrorString",
	    "nvmlDeviceGetCount_v2",
	    "nvmlDeviceGetHandleByIndex_v2",
	    "nvmlDeviceGetUUID",
	    "nvmlDeviceGetName",
	    "nvmlDeviceGetMemoryInfo",
	};
	void *fns[] = {
	    &nvml->init,
	    &nvml->shutdown,
	    &nvml->error_string,
	    &nvml->device_get_count,
	    &nvml->device_get_handle_by_index,
	    &nvml->device_get_uuid,
	    &nvml->device_get_name,
	    &nvml->device_get_memory_info,
	};
	_Static_assert(ELEMENTSOF(symbols) == ELEMENTSOF(fns), "one slot per symbol");
	int r;

	nvml->dl = dlopen(library, RTLD_NOW | RTLD_LOCAL);
	if (!nvml->dl) {
		const char *why = dlerror();

		/* dlerror() names the file already, as a rule. */
		if (why && strstr(why, library))
			*ret_error = xstrdup(why);
		else
			*ret_error = xasprintf("%s: %s", library, why ? why : "cannot be loaded");
		return -ENOENT;
	}
	for (size_t i = 0; i < ELEMENTSOF(symbols); i++) {
		r = gpu_sym(nvml, library, symbols[i], fns[i], ret_error);
		if (r < 0)
			return r;
	}
	return 0;
}

/* -EIO with what NVML says about result, after "what: ". */
static int gpu_nvml_error(const struct gpu_nvml *nvml, int result, const char *what,
                          char **ret_error)
{
	const char *words = nvml->error_string(result);

	if (words && *words)
		*ret_error = xasprintf("%s: %s", what, words);
	else
		*ret_error = xasprintf("%s: NVML error %d", what, result);
	return -EIO;
}

/* Reads one GPU into *g. */
static int gpu_read(const struct gpu_nvml *nvml, unsigned index, struct gpu *g, char **ret_error)
{
	_cleanup_free_ char *what = NULL;
	struct nvml_device *device = NULL;
	struct nvml_memory memory = {0};
	int result;

	g->index = index;
	result = nvml->device_get_handle_by_index(index, &device);
	if (result != NVML_SUCCESS) {
		what = xasprintf("GPU %u: nvmlDeviceGetHandleByIndex_v2", index);
		return gpu_nvml_error(nvml, result, what, ret_error);
	}
	result = nvml->device_get_uuid(device, g->uuid, sizeof(g->uuid));
	if (result != NVML_SUCCESS) {
		what = xasprintf("GPU %u: nvmlDeviceGetUUID", index);
		return gpu_nvml_error(nvml, result, what, ret_error);
	}
	result = nvml->device_get_name(device, g->name, sizeof(g->name));
	if (result != NVML_SUCCESS) {
		what = xasprintf("GPU %u: nvmlDeviceGetName", index);
		return gpu_nvml_error(nvml, result, what, ret_error);
	}
	result = nvml->device_get_memory_info(device, &memory);
	if (result != NVML_SUCCESS) {
		what = xasprintf("GPU %u: nvmlDeviceGetMemoryInfo", index);
		return gpu_nvml_error(nvml, result, what, ret_error);
	}
	/* NVML terminates both; a library that did not must not overrun us. */
	g->uuid[sizeof(g->uuid) - 1] = '\0';
	g->name[sizeof(g->name) - 1] = '\0';
	g->memory = memory.total;
	return 0;
}

/* Every GPU of an initialised NVML. */
static int gpu_list(const struct gpu_nvml *nvml, struct gpu **ret, size_t *ret_n, char **ret_error)
{
	_cleanup_free_ struct gpu *gpus = NULL;
	unsigned count = 0;
	int result, r;

	result = nvml->device_get_count(&count);
	if (result != NVML_SUCCESS)
		return gpu_nvml_error(nvml, result, "nvmlDeviceGetCount_v2", ret_error);
	gpus = xcalloc(count, sizeof(*gpus));
	for (unsigned i = 0; i < count; i++) {
		r = gpu_read(nvml, i, &gpus[i], ret_error);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(gpus);
	*ret_n = count;
	return 0;
}

/* Loads NVML, lists the GPUs, shuts NVML down and unloads it. */
int gpu_discover(const char *library, struct gpu **ret, size_t *ret_n, char **ret_error)
{
	struct gpu_nvml nvml = {0};
	struct gpu *gpus = NULL;
	char *error = NULL;
	size_t n = 0;
	int result, r;

	if (!library)
		library = GPU_DEFAULT_LIBRARY;
	r = gpu_nvml_open(&nvml, library, &error);
	if (r < 0)
		goto out;
	result = nvml.init();
	if (result != NVML_SUCCESS) {
		r = gpu_nvml_error(&nvml, result, "nvmlInit_v2", &error);
		goto out;
	}
	r = gpu_list(&nvml, &gpus, &n, &error);
	/* What the GPUs are is known by now; a failing shutdown changes nothing. */
	(void)nvml.shutdown();
out:
	if (nvml.dl)
		dlclose(nvml.dl);
	if (r < 0) {
		*ret_error = error;
		return r;
	}
	*ret = gpus;
	*ret_n = n;
	return 0;
}
