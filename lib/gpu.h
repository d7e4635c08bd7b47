/*
 * GPU discovery through NVML, loaded at run time: which GPUs this host has,
 * by the UUIDs that containers are given them by (DeviceRequests).
 */
#ifndef ENDPOINTD_GPU_H
#define ENDPOINTD_GPU_H

#include <stddef.h>
#include <stdint.h>

/* One GPU as NVML reports it. */
struct gpu {
	unsigned index;  /* NVML's */
	char uuid[96];   /* "GPU-xxxxxxxx-…", as NVML gives it */
	char name[96];   /* "NVIDIA H100 80GB HBM3" */
	uint64_t memory; /* total bytes */
};

/* Every GPU NVML sees, from library (NULL = "libnvidia-ml.so.1").  0 with
 * *ret (free() it) and *ret_n set, possibly 0 GPUs; or -errno with *ret_error
 * (free() it) saying why in words a log line can carry: -ENOENT when the
 * library cannot be loaded (no NVIDIA driver), -EIO when NVML fails (with
 * nvmlErrorString's words), -ENOSYS when a needed symbol is missing.  Blocks
 * while the driver initialises: call it before the event loop runs. */
int gpu_discover(const char *library, struct gpu **ret, size_t *ret_n, char **ret_error);

#endif
