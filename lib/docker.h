/*
 * An asynchronous Docker Engine API client over the Engine's Unix socket.
 * docker_new() negotiates the API version (GET /_ping, /version) and pins
 * every request to a version prefix (v1.41, or the engine's own when older).
 * Each operation calls its completion exactly once from the event loop, with
 * err = 0 or -errno and, on failure, the engine's own message in
 * r->message ("No such image: foo:latest").  The parse functions are pure so
 * that tests can feed them the Engine's replies kept in tests/data/docker/.
 */
#ifndef ENDPOINTD_DOCKER_H
#define ENDPOINTD_DOCKER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct httpc;
struct docker;

#define DOCKER_API_VERSION "1.41"
#define DOCKER_LABEL_PREFIX "io.endpointd."

/* The result of every operation. */
struct docker_result {
	int err;             /* 0 or -errno: -ENOENT (404), -EEXIST (409), -ETIMEDOUT, -EIO … */
	long status;         /* HTTP status, 0 when the engine did not answer */
	const char *message; /* the engine's "message" or curl's words; NULL on success */
};

struct docker_port {
	uint16_t container_port; /* 8080 */
	char host_ip[64];
	uint16_t host_port;
};

struct docker_container {
	char *id;
	char *name;       /* without the leading '/' */
	char *image;      /* as created (Config.Image) */
	char *image_id;   /* sha256:… */
	char *state;      /* created, running, exited, dead, … */
	bool running;
	bool oom_killed;
	int exit_code;
	char *error;      /* State.Error, may be NULL */
	char *started_at; /* as the engine wrote it */
	double created;   /* epoch seconds, 0 when unknown */
	json_t *labels;   /* object, owned */
	struct docker_port *ports;
	size_t n_ports;
};

struct docker_image {
	char *id;           /* sha256:… */
	char **repo_digests;
	size_t n_repo_digests;
	char **repo_tags;
	size_t n_repo_tags;
};

struct docker_event {
	char *type;   /* "container" */
	char *action; /* "die", "oom", "start", "destroy", "health_status: …" */
	char *id;
	int exit_code; /* for die; -1 when absent */
	json_t *attributes; /* owned */
	double time;        /* seconds */
};

typedef void (*docker_done_fn)(const struct docker_result *r, void *userdata);
typedef void (*docker_create_fn)(const struct docker_result *r, const char *id, void *userdata);
typedef void (*docker_pid_fn)(const struct docker_result *r, long pid, void *userdata);
typedef void (*docker_inspect_fn)(const struct docker_result *r, const struct docker_container *c,
				  void *userdata);
typedef void (*docker_list_fn)(const struct docker_result *r, const struct docker_container *cs,
			       size_t n, void *userdata);
typedef void (*docker_image_fn)(const struct docker_result *r, const struct docker_image *img,
				void *userdata);
typedef void (*docker_logs_fn)(const struct docker_result *r, const char *text, void *userdata);
/* For each event; ended = true once when the stream is over for good
 * (docker_free); reconnects with backoff happen inside, with a call that has
 * ev == NULL and ended == false after each reconnect so that the caller can
 * re-list (events may have been lost).  "Connected" means the Engine has
 * answered 200 with its headers (it sends no body until an event happens);
 * the first connect is reported the same way, so a caller that lists after
 * it misses nothing. */
typedef void (*docker_event_fn)(const struct docker_event *ev, bool ended, void *userdata);
/* Called once when negotiation ends; err != 0 means the engine did not answer
 * (operations still work: they retry negotiation first). */
typedef void (*docker_ready_fn)(int err, const char *api_version, void *userdata);

struct docker *docker_new(struct event_base *base, struct httpc *h, const char *socket_path,
			  docker_ready_fn ready, void *userdata);
/* Completes every operation with -ECANCELED and ends every watch (ended =
 * true); safe from inside any docker callback.  Free it before its httpc. */
struct docker *docker_free(struct docker *d);
/* The pinned version, e.g. "1.41"; NULL before negotiation succeeded. */
const char *docker_api_version(const struct docker *d);

/* POST /containers/create?name=…; spec is the Engine's ContainerConfig
 * (with HostConfig) and is not stolen.  409 -> -EEXIST. */
void docker_container_create(struct docker *d, const char *name, json_t *spec, docker_create_fn cb,
			     void *userdata);
/* POST /containers/{id}/start; 304 (already started) counts as success. */
void docker_container_start(struct docker *d, const char *id, docker_done_fn cb, void *userdata);
/* Create an exec instance running argv (NULL-ended) in the running container
 * id, with no stdio attached and env ("NAME=value", NULL-ended; NULL for
 * none) added to the container's environment; cb gets the exec's ID.  env,
 * unlike argv, is not readable by every process in the container. */
void docker_exec_create(struct docker *d, const char *id, const char *const *argv,
                        const char *const *env, docker_create_fn cb, void *userdata);
/* Start exec exec_id detached: cb is called once the process runs. */
void docker_exec_start(struct docker *d, const char *exec_id, docker_done_fn cb, void *userdata);
/* GET /exec/{id}/json: cb gets the exec's process id in the Engine's pid
 * namespace, 0 when it does not run (any more). */
void docker_exec_inspect(struct docker *d, const char *exec_id, docker_pid_fn cb, void *userdata);
/* POST /containers/{id}/stop?t=…; 304 counts as success. */
void docker_container_stop(struct docker *d, const char *id, unsigned timeout_s, docker_done_fn cb,
			   void *userdata);
/* DELETE /containers/{id}?force=…&v=true; 404 counts as success. */
void docker_container_remove(struct docker *d, const char *id, bool force, docker_done_fn cb,
			     void *userdata);
void docker_container_inspect(struct docker *d, const char *id, docker_inspect_fn cb, void *userdata);
/* GET /containers/json?all=true&filters={"label":[label]} (label "k=v" or "k"). */
void docker_container_list(struct docker *d, const char *label, docker_list_fn cb, void *userdata);
/* GET /containers/{id}/logs?stdout&stderr&tail=N, demultiplexed to text
 * (stdout and stderr interleaved; the last 64 KiB, cut at a line start). */
void docker_container_logs(struct docker *d, const char *id, unsigned tail, docker_logs_fn cb,
			   void *userdata);
/* The same for a Swarm task, wherever its node is (GET /tasks/{id}/logs on
 * a manager). */
void docker_task_logs(struct docker *d, const char *id, unsigned tail, docker_logs_fn cb,
                      void *userdata);
/* GET /images/{name}/json; 404 -> -ENOENT. */
void docker_image_inspect(struct docker *d, const char *name, docker_image_fn cb, void *userdata);
/* POST /images/create?fromImage=…&tag=…; an {"error":…} in the progress
 * stream fails it with that message. */
void docker_image_pull(struct docker *d, const char *image, docker_done_fn cb, void *userdata);
/* GET /events?filters={"type":["container"],"label":[label]} as a stream. */
void docker_events_watch(struct docker *d, const char *label, docker_event_fn cb, void *userdata);

/* Pure parsers of the Engine's replies. 0 or -EINVAL; ret untouched on failure. */
int docker_parse_container(const char *json, size_t len, struct docker_container *ret);
int docker_parse_container_json(json_t *obj, struct docker_container *ret); /* inspect or list entry */
/* GET /containers/json's array; *ret (one entry at least, calloc'd) holds *ret_n. */
int docker_parse_container_list(const char *json, size_t len, struct docker_container **ret,
                                size_t *ret_n);
int docker_parse_image(const char *json, size_t len, struct docker_image *ret);
int docker_parse_event(const char *json, size_t len, struct docker_event *ret);
/* The "message" of an error body, or a copy of the body trimmed; never NULL. */
char *docker_parse_error_message(const char *body, size_t len);
/* Finds the first "error" of a pull progress stream; NULL when none. */
char *docker_parse_pull_error(const char *stream, size_t len);
/* Demultiplexes a logs stream (8-byte frame headers) into plain text; text that
 * has no frame headers (a TTY container) is returned as it is. */
char *docker_demux_logs(const char *data, size_t len);
/* Picks the version to pin: min(server's ApiVersion, DOCKER_API_VERSION),
 * or -ENOTSUP when the server's is below its MinAPIVersion (or below 1.25). */
int docker_pick_version(const char *server_version, const char *server_min, char **ret);
/* An RFC 3339 time of the Engine's ("2026-11-26T18:32:41.570123456Z") in
 * epoch seconds; 0 when it does not parse. */
double docker_parse_time(const char *s);
/* "127.0.0.1", 8080 -> host port; 0 when not published. */
uint16_t docker_container_host_port(const struct docker_container *c, uint16_t container_port);
/* Splits "repo:tag" / "repo@sha256:…" / "host:5000/repo" for the pull query. */
void docker_split_image(const char *image, char **ret_repo, char **ret_tag);

/*
 * For tests and fuzzing: the streamed replies run through the same parsers
 * as on the socket, data fed step bytes at a time (0 = all at once).
 */
/* cb for each event a watch reports; 0, or -E2BIG for a line too long. */
int docker_feed_events(const char *data, size_t len, size_t step, docker_event_fn cb,
                       void *userdata);
/* The error a pull reports, or NULL. */
char *docker_feed_pull(const char *data, size_t len, size_t step);
/* The text a logs call hands over: the last keep bytes from a line start (0 = all). */
char *docker_feed_logs(const char *data, size_t len, size_t step, size_t keep);

void docker_container_clear(struct docker_container *c);
void docker_image_clear(struct docker_image *img);
void docker_event_clear(struct docker_event *ev);

#endif
