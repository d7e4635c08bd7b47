/*
 * What lib/docker.c lends to the other clients of the same Engine (the Swarm
 * API in lib/swarm.c): plain requests on its machinery (version pinning, one
 * completion, deadlines, shutdown) and event watches of other types.
 */
#ifndef ENDPOINTD_DOCKER_PRIVATE_H
#define ENDPOINTD_DOCKER_PRIVATE_H

#include <stddef.h>

#include "docker.h"

/* The reply's body as it came (NUL-terminated, "" when empty) when r->err is
 * 0; on failure body is NULL and r->message says why. */
typedef void (*docker_raw_fn)(const struct docker_result *r, const char *body, size_t len,
                              void *userdata);

/* method path (after the version prefix, escaped by the caller) with body
 * (JSON, or NULL); both are stolen.  cb is called once, from the loop. */
void docker_request(struct docker *d, const char *method, char *path, char *body, docker_raw_fn cb,
                    void *userdata);
/* docker_events_watch() for the event types listed (NULL-ended). */
void docker_events_watch_types(struct docker *d, const char *const *types, const char *label,
                               docker_event_fn cb, void *userdata);
/* A copy of s escaped for a URL path segment or query value. */
char *docker_escape(const char *s);

#endif
