/*
 * Tag sets: the Tags of an endpoint (and of the models and endpoint configs
 * the API keeps tags for), with SageMaker's semantics: AddTags replaces the
 * value of a key already there and adds the others, DeleteTags removes keys
 * and ignores the ones not there.
 */
#define _GNU_SOURCE
#include "endpoint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "util.h"

/* Set tags: replace values of existing keys, add new ones. */
int tagset_add(struct tagset *ts, const struct endpoint_tag *tags, size_t n)
{
	size_t fresh = 0;
	for (size_t i = 0; i < n; i++) {
		bool found = false;
		for (size_t j = 0; j < ts->n && !found; j++)
			found = strcmp(ts->tags[j].key, tags[i].key) == 0;
		for (size_t j = 0; j < i && !found; j++)
			found = strcmp(tags[j].key, tags[i].key) == 0;
		if (!found)
			fresh++;
	}
	if (ts->n + fresh > NAMES_MAX_TAGS)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		size_t j;
		for (j = 0; j < ts->n; j++)
			if (strcmp(ts->tags[j].key, tags[i].key) == 0)
				break;
		if (j == ts->n) {
			ts->tags = xreallocarray(ts->tags, ts->n + 1, sizeof(*ts->tags));
			ts->tags[ts->n++] = (struct endpoint_tag){.key = xstrdup(tags[i].key)};
		} else {
			free(ts->tags[j].value);
		}
		ts->tags[j].value = xstrdup(tags[i].value ? tags[i].value : "");
	}
	return 0;
}

/* Remove tags by key; unknown keys are ignored, as SageMaker does. */
void tagset_remove(struct tagset *ts, const char *const *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < ts->n; j++)
			if (strcmp(ts->tags[j].key, keys[i]) == 0) {
				free(ts->tags[j].key);
				free(ts->tags[j].value);
				memmove(&ts->tags[j], &ts->tags[j + 1],
					(ts->n - j - 1) * sizeof(*ts->tags));
				ts->n--;
				break;
			}
}

/* Free every tag. */
void tagset_clear(struct tagset *ts)
{
	for (size_t i = 0; i < ts->n; i++) {
		free(ts->tags[i].key);
		free(ts->tags[i].value);
	}
	free(ts->tags);
	ts->tags = NULL;
	ts->n = 0;
}
