/*
 * The fake Engine's parts that test_docker and test_swarm share: see
 * fake_engine.h.
 */
#include "fake_engine.h"

#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

static char *seen[64]; /* "METHOD uri" of each request */
static size_t n_seen;
static char *seen_body;

char *fake_engine_fixture(const char *dir, const char *name, size_t *ret_len)
{
	_cleanup_free_ char *path = xasprintf("%s/%s/%s", TEST_DATA_DIR, dir, name);
	struct buf b = {0};
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "rb");

	cr_assert_not_null(f, "cannot open %s", path);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	if (ret_len)
		*ret_len = b.len;
	return buf_steal(&b);
}

void fake_engine_reply(struct evhttp_request *req, int code, const char *body, size_t len)
{
	struct evbuffer *out = evbuffer_new();

	evbuffer_add(out, body, len);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "application/json");
	evhttp_send_reply(req, code, "X", out);
	evbuffer_free(out);
}

void fake_engine_listen(struct event_base *base, struct evhttp *http, const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct evconnlistener *l;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	l = evconnlistener_new_bind(base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE, -1,
	                            (struct sockaddr *)&sun, sizeof(sun));
	cr_assert_not_null(l);
	cr_assert_not_null(evhttp_bind_listener(http, l));
}

void fake_engine_run_until(struct event_base *base, const int *count, int want, uint64_t ms)
{
	uint64_t deadline = now_monotonic_ms() + ms;

	while (*count < want && now_monotonic_ms() < deadline) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

void fake_engine_run_until_true(struct event_base *base, bool (*pred)(void *), void *arg,
                                uint64_t ms)
{
	uint64_t deadline = now_monotonic_ms() + ms;

	while (!pred(arg) && now_monotonic_ms() < deadline) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(500);
	}
}

/* The method of req as it is written in a request line. */
static const char *fake_engine_method(const struct evhttp_request *req)
{
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	default:
		return "OTHER";
	}
}

void fake_engine_record(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);

	if (n_seen < ELEMENTSOF(seen))
		seen[n_seen++] =
		    xasprintf("%s %s", fake_engine_method(req), evhttp_request_get_uri(req));
	if (evbuffer_get_length(in)) {
		free(seen_body);
		seen_body =
		    xstrndup((const char *)evbuffer_pullup(in, -1), evbuffer_get_length(in));
	}
}

bool fake_engine_seen(const char *what)
{
	for (size_t i = 0; i < n_seen; i++)
		if (!strcmp(seen[i], what))
			return true;
	return false;
}

const char *fake_engine_last_body(void)
{
	return seen_body;
}

void fake_engine_forget(void)
{
	for (size_t i = 0; i < n_seen; i++)
		free(seen[i]);
	n_seen = 0;
	seen_body = (free(seen_body), NULL);
}
