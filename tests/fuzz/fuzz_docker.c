/*
 * The Engine's replies (lib/docker.c): container inspect and list, image
 * inspect, error bodies, the /events and pull streams and the logs stream,
 * version negotiation, times and image names.
 *
 * Input: one byte picks the parser, one the size of the pieces a stream is
 * fed in (0 = all at once), the rest is the reply.  A stream fed in pieces
 * must give what it gives whole.
 */
#include <stdlib.h>
#include <string.h>

#include "docker.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

/* Looks at every field, so that a bad pointer shows. */
static size_t touch_container(const struct docker_container *c)
{
	size_t n = strlen(c->id) + strlen(c->name) + strlen(c->state);
	n += c->image ? strlen(c->image) : 0;
	n += c->image_id ? strlen(c->image_id) : 0;
	n += c->error ? strlen(c->error) : 0;
	n += c->started_at ? strlen(c->started_at) : 0;
	n += json_object_size(c->labels);
	return n + docker_container_host_port(c, 8080);
}

/* A watch's callback. */
static void on_event(const struct docker_event *ev, bool ended, void *userdata)
{
	size_t *n = userdata;
	*n += strlen(ev->type) + strlen(ev->action) + strlen(ev->id) +
	      json_object_size(ev->attributes);
}

/* A NUL-terminated copy of the reply, for the parsers that take strings. */
static char *cstring(const char *data, size_t len)
{
	char *s = malloc(len + 1);
	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	unsigned which = data[0] % 11;
	size_t step = data[1];
	const char *p = (const char *)data + 2;
	size_t len = size - 2;
	volatile size_t sink = 0;

	switch (which) {
	case 0: {
		struct docker_container c;
		if (docker_parse_container(p, len, &c) == 0) {
			sink += touch_container(&c);
			docker_container_clear(&c);
		}
		break;
	}
	case 1: {
		struct docker_container *cs;
		size_t n;
		if (docker_parse_container_list(p, len, &cs, &n) == 0) {
			for (size_t i = 0; i < n; i++) {
				sink += touch_container(&cs[i]);
				docker_container_clear(&cs[i]);
			}
			free(cs);
		}
		break;
	}
	case 2: {
		struct docker_image img;
		if (docker_parse_image(p, len, &img) == 0) {
			for (size_t i = 0; i < img.n_repo_digests; i++)
				sink += strlen(img.repo_digests[i]);
			for (size_t i = 0; i < img.n_repo_tags; i++)
				sink += strlen(img.repo_tags[i]);
			docker_image_clear(&img);
		}
		break;
	}
	case 3: {
		struct docker_event ev;
		if (docker_parse_event(p, len, &ev) == 0) {
			size_t n = 0;
			on_event(&ev, false, &n);
			sink += n;
			docker_event_clear(&ev);
		}
		break;
	}
	case 4: {
		/* Read boundaries change nothing. */
		size_t n = 0, whole = 0;
		int r = docker_feed_events(p, len, step, on_event, &n);
		if (docker_feed_events(p, len, 0, on_event, &whole) != r || whole != n)
			__builtin_trap();
		sink += n;
		break;
	}
	case 5:
		free(docker_parse_error_message(p, len));
		break;
	case 6: {
		char *first = docker_parse_pull_error(p, len);
		char *fed = docker_feed_pull(p, len, step), *whole = docker_feed_pull(p, len, 0);
		if (!fed != !whole || (fed && strcmp(fed, whole) != 0))
			__builtin_trap();
		free(first);
		free(fed);
		free(whole);
		break;
	}
	case 7: {
		free(docker_demux_logs(p, len));
		/* docker_container_logs keeps a tail; a small one cuts often. */
		size_t keep = step ? step * 4 : 64 * 1024;
		char *fed = docker_feed_logs(p, len, step, keep);
		char *whole = docker_feed_logs(p, len, 0, keep);
		if (strcmp(fed, whole) != 0)
			__builtin_trap();
		free(fed);
		free(whole);
		break;
	}
	case 8: {
		/* "server version\0min version" */
		char *s = cstring(p, len), *v = NULL;
		const char *min = strlen(s) < len ? s + strlen(s) + 1 : NULL;
		if (docker_pick_version(s, min, &v) == 0)
			sink += strlen(v);
		free(v);
		free(s);
		break;
	}
	case 9: {
		char *s = cstring(p, len);
		sink += docker_parse_time(s) > 0;
		free(s);
		break;
	}
	default: {
		char *s = cstring(p, len), *repo = NULL, *tag = NULL;
		docker_split_image(s, &repo, &tag);
		sink += strlen(repo) + strlen(tag);
		free(repo);
		free(tag);
		free(s);
		break;
	}
	}
	(void)sink;
	return 0;
}
