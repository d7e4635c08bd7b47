/*
 * What the libFuzzer harnesses share: quiet logging that still formats every
 * record (libFuzzer's -close_fd_mask sends stderr to /dev/null), and a
 * scratch directory per process for harnesses that need files or sockets.
 */
#ifndef ENDPOINTD_FUZZ_H
#define ENDPOINTD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Logs at debug level to stderr, never to the journal; no DOCKER_HOST. */
void fuzz_init(void);
/* A directory of this process's own, removed at exit. */
const char *fuzz_scratch_dir(void);
/* Writes len bytes to dir/name (replacing it); aborts on failure. */
void fuzz_write_file(const char *dir, const char *name, const void *data, size_t len);
/* Removes everything inside dir, not dir itself. */
void fuzz_empty_dir(const char *dir);

struct config;
/* Every endpoint config of c as the journal keeps it must load back, with
 * the same variants: a record that does not is an endpoint lost on restart.
 * Traps otherwise. */
void fuzz_check_config_records(const struct config *c);

struct event_base;
struct journal;
struct httpc;
struct docker;
struct endpoint_manager;
struct proxy;
struct api;
struct catalog;

/*
 * A daemon without its listeners: config, manager, proxy and API wired as
 * endpointd wires them, with an Engine socket that does not exist so that
 * nothing is ever reached.  The config has models "m" and "big", endpoint
 * configs "c" (one variant on ml.m5.large), "two" (two variants) and "gpu"
 * (ml.g5.xlarge, one GPU: the host has none).
 */
struct fuzz_world {
	struct event_base *base;
	struct config *config;
	struct httpc *httpc;
	struct docker *docker;
	struct endpoint_manager *manager;
	struct proxy *proxy;
	struct api *api;
	struct catalog *catalog;
};
/* journal may be NULL. */
void fuzz_world_new(struct fuzz_world *w, struct journal *journal);
/* Runs the loop's ready callbacks, as a turn of the daemon's loop would. */
void fuzz_world_turn(struct fuzz_world *w);
/* Shuts down in the daemon's order; the journal stays the caller's. */
void fuzz_world_free(struct fuzz_world *w);

#endif
