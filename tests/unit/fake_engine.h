/*
 * What the unit tests of the Engine's clients (test_docker, test_swarm)
 * share to play the Engine: its captured replies, an evhttp server on a
 * Unix socket, and a loop run until the callbacks under test have come.
 */
#ifndef ENDPOINTD_TEST_FAKE_ENGINE_H
#define ENDPOINTD_TEST_FAKE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evhttp;
struct evhttp_request;

/* Reads tests/data/<dir>/<name>; *ret_len (when not NULL) its length. */
char *fake_engine_fixture(const char *dir, const char *name, size_t *ret_len);
/* Answers req with code and a JSON body. */
void fake_engine_reply(struct evhttp_request *req, int code, const char *body, size_t len);
/* Makes http listen on the Unix socket path. */
void fake_engine_listen(struct event_base *base, struct evhttp *http, const char *path);
/* Notes req as "METHOD uri", and its body when it has one. */
void fake_engine_record(struct evhttp_request *req);
/* Whether a request "METHOD uri" was seen. */
bool fake_engine_seen(const char *what);
/* The body of the last request that had one; NULL when none had. */
const char *fake_engine_last_body(void);
/* Forgets what was seen (a test's teardown). */
void fake_engine_forget(void);
/* Runs base until *count reaches want, or for at most ms. */
void fake_engine_run_until(struct event_base *base, const int *count, int want, uint64_t ms);
/* Runs base until pred(arg) holds, or for at most ms. */
void fake_engine_run_until_true(struct event_base *base, bool (*pred)(void *), void *arg,
                                uint64_t ms);

#endif
