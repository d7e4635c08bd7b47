/*
 * The control plane (lib/api.c, lib/awsproto.c, lib/names.c, lib/endpoint*.c):
 * X-Amz-Target and a JSON body through the envelope's parser and api_call(),
 * as POST / runs them, on a daemon wired as endpointd wires it but with no
 * Engine: CreateEndpoint registers endpoints whose Engine calls fail, and a
 * later call sees them Creating, Failed or gone.  Each input starts from an
 * empty journal, so that runs do not depend on each other, and ends with a
 * restart: every record the calls left in the journal must restore.
 *
 * Input: up to 16 requests, one a line: the X-Amz-Target value, a space, the
 * body ("SageMaker.CreateEndpoint {\"EndpointName\":\"e\",...}").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api.h"
#include "awsproto.h"
#include "endpoint.h"
#include "fuzz.h"
#include "journal.h"
#include "util.h"

#define MAX_REQUESTS 16

static char journal_dir[256];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	snprintf(journal_dir, sizeof(journal_dir), "%s/state", fuzz_scratch_dir());
	if (mkdir(journal_dir, 0700) < 0)
		abort();
	return 0;
}

/* One request as api_control() runs it; the reply must be JSON. */
static void request(struct fuzz_world *w, const char *line, size_t len)
{
	const char *space = memchr(line, ' ', len);
	size_t tlen = space ? (size_t)(space - line) : len;
	char *target = strndup(line, tlen);
	const char *body = space ? space + 1 : line + len;
	size_t blen = len - (size_t)(body - line);
	const char *op = aws_target_operation(target);
	char *out = NULL;
	const char *code = NULL;
	struct aws_error err = {0};
	json_t *input = NULL;

	if (!op) {
		api_call(w->api, NULL, NULL, &out, &code);
	} else if (aws_parse_body(body, blen, &input, &err) == 0) {
		api_call(w->api, op, input, &out, &code);
		json_decref(input);
	} else {
		out = aws_json_error_body(err.code, err.message);
		aws_error_clear(&err);
	}
	json_t *reply = json_loads(out, 0, NULL);
	if (!json_is_object(reply))
		__builtin_trap(); /* every answer is a JSON object */
	json_decref(reply);
	free(out);
	free(target);
}

/* journal_open's load callback: keep a copy of each record. */
static int collect(const char *key, json_t *value, void *userdata)
{
	json_object_set(userdata, key, value);
	return 0;
}

/* What the daemon does at start: every record restores. */
static void restart(void)
{
	struct journal *j = NULL;
	struct journal_options opt = {.no_sync = true};
	json_t *records = json_object();
	if (journal_open(NULL, journal_dir, &opt, collect, records, &j, NULL) < 0)
		__builtin_trap(); /* the daemon's own journal does not open */
	struct fuzz_world w;
	fuzz_world_new(&w, j);
	const char *key;
	json_t *value;
	json_object_foreach(records, key, value)
	{
		char *error = NULL;
		int r = 0;
		if (str_has_prefix(key, "endpoint/"))
			r = endpoint_manager_restore(w.manager, value, &error);
		else if (str_has_prefix(key, API_TAGS_KEY_PREFIX))
			r = api_restore_tags(w.api, key, value);
		if (r < 0) {
			fprintf(stderr, "record %s does not restore: %s\n", key, error);
			__builtin_trap();
		}
		free(error);
	}
	fuzz_world_turn(&w);
	fuzz_world_free(&w);
	journal_free(j);
	json_decref(records);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct journal *j = NULL;
	struct journal_options opt = {.no_sync = true};
	fuzz_empty_dir(journal_dir);
	if (journal_open(NULL, journal_dir, &opt, NULL, NULL, &j, NULL) < 0)
		abort();
	struct fuzz_world w;
	fuzz_world_new(&w, j);

	const char *p = (const char *)data, *end = p + size;
	for (int i = 0; i < MAX_REQUESTS && p < end; i++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		request(&w, p, len);
		fuzz_world_turn(&w);
		p += len + 1;
	}
	fuzz_world_free(&w);
	journal_free(j);
	restart();
	return 0;
}
