/*
 * The Engine's HTTP replies as they arrive on its socket: lib/httpc.c's
 * handling of what libcurl reads (collected or streamed bodies, headers, the
 * errors it maps) and lib/docker.c's operations on top of it (negotiation,
 * inspect, list, image inspect, pull, logs, create, start, exec, the events
 * stream).  A fake Engine on a Unix socket in a scratch directory answers
 * /_ping and /version properly and the request under test with the input's
 * bytes, then closes.
 *
 * Input: a byte that picks the request, then the reply (status line,
 * headers, body) as the Engine would send it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "docker.h"
#include "fuzz.h"
#include "httpc.h"

enum mode {
	MODE_COLLECT,
	MODE_STREAM,
	MODE_PING,
	MODE_VERSION,
	MODE_INSPECT,
	MODE_LIST,
	MODE_IMAGE,
	MODE_PULL,
	MODE_LOGS,
	MODE_CREATE,
	MODE_START,
	MODE_EXEC,
	MODE_EVENTS,
	MODE_MAX,
};

#define MAX_CONNS 8
#define HEAD_MAX 65536

static const char ping_reply[] = "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: "
                                 "text/plain\r\nContent-Length: 2\r\n\r\nOK";
static const char version_body[] = "{\"ApiVersion\":\"1.43\",\"MinAPIVersion\":\"1.12\"}";
static const char refused_reply[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: "
                                    "17\r\n\r\n{\"message\":\"no\"}";

/* One client connection to the fake Engine. */
struct conn {
	int fd;
	struct event *ev;
	char head[HEAD_MAX];
	size_t len;
	size_t body_left; /* of the request being read */
	bool served;      /* got the input: write side shut */
};

/* The fake Engine and the run's state. */
static struct {
	struct event_base *base;
	char path[128];
	int lfd;
	struct event *lev;
	struct conn conns[MAX_CONNS];
	enum mode mode;
	const uint8_t *reply;
	size_t reply_len;
	bool served; /* the input went out */
	bool done;   /* the operation ended, or the served connection closed */
} e;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	snprintf(e.path, sizeof(e.path), "%s/engine.sock", fuzz_scratch_dir());
	return 0;
}

/* Writes all of p (the socket buffer holds a whole reply). */
static void write_all(int fd, const void *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		p = (const char *)p + n;
		len -= (size_t)n;
	}
}

/* The reply to one request whose line starts the head. */
static void answer(struct conn *c, const char *line)
{
	bool ping = strstr(line, "/_ping ") != NULL, version = strstr(line, "/version ") != NULL;
	bool ours = e.mode == MODE_PING      ? ping
	            : e.mode == MODE_VERSION ? version
	                                     : !ping && !version;
	if (ours && !e.served) {
		write_all(c->fd, e.reply, e.reply_len);
		shutdown(c->fd, SHUT_WR);
		c->served = e.served = true;
	} else if (ping) {
		write_all(c->fd, ping_reply, sizeof(ping_reply) - 1);
	} else if (version) {
		char r[256];
		int n = snprintf(r, sizeof(r),
		                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		                 "Content-Length: %zu\r\n\r\n%s",
		                 sizeof(version_body) - 1, version_body);
		write_all(c->fd, r, (size_t)n);
	} else {
		write_all(c->fd, refused_reply, sizeof(refused_reply) - 1);
	}
}

/* Reads requests off a connection and answers each. */
static void conn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	ssize_t n = recv(fd, c->head + c->len, sizeof(c->head) - 1 - c->len, MSG_DONTWAIT);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		if (c->served)
			e.done = true;
		event_free(c->ev);
		close(c->fd);
		c->fd = -1;
		return;
	}
	c->len += (size_t)n;
	for (;;) {
		if (c->body_left) {
			size_t k = c->body_left < c->len ? c->body_left : c->len;
			memmove(c->head, c->head + k, c->len - k);
			c->len -= k;
			c->body_left -= k;
			if (c->body_left)
				return;
		}
		c->head[c->len] = '\0';
		char *end = strstr(c->head, "\r\n\r\n");
		if (!end)
			return;
		*end = '\0';
		const char *cl = strcasestr(c->head, "\r\nContent-Length:");
		size_t body = cl ? strtoul(cl + 17, NULL, 10) : 0;
		answer(c, c->head);
		size_t used = (size_t)(end + 4 - c->head);
		memmove(c->head, c->head + used, c->len - used);
		c->len -= used;
		c->body_left = body;
	}
}

/* A client connected. */
static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (size_t i = 0; i < MAX_CONNS; i++) {
		struct conn *c = &e.conns[i];
		if (c->fd >= 0)
			continue;
		*c = (struct conn){.fd = fd};
		c->ev = event_new(e.base, fd, EV_READ | EV_PERSIST, conn_cb, c);
		event_add(c->ev, NULL);
		return;
	}
	close(fd);
}

/* Completions of every kind end the run. */
static void on_http(const struct httpc_response *r, void *userdata)
{
	if (r->body && r->body[r->body_len] != '\0')
		__builtin_trap(); /* bodies are NUL-terminated */
	e.done = true;
}
static bool on_data(const char *data, size_t len, void *userdata)
{
	return true;
}
static bool on_headers(long status, void *userdata)
{
	return status != 204;
}
static void on_done(const struct docker_result *r, void *userdata)
{
	if (r->err && !r->message)
		__builtin_trap(); /* a failure says why */
	e.done = true;
}
static void on_create(const struct docker_result *r, const char *id, void *userdata)
{
	if (!r->err && (!id || !*id))
		__builtin_trap();
	on_done(r, userdata);
}
static void on_inspect(const struct docker_result *r, const struct docker_container *c,
                       void *userdata)
{
	if (!r->err && !c)
		__builtin_trap();
	on_done(r, userdata);
}
static void on_list(const struct docker_result *r, const struct docker_container *cs, size_t n,
                    void *userdata)
{
	on_done(r, userdata);
}
static void on_image(const struct docker_result *r, const struct docker_image *img, void *userdata)
{
	on_done(r, userdata);
}
static void on_logs(const struct docker_result *r, const char *text, void *userdata)
{
	if (!r->err && !text)
		__builtin_trap();
	on_done(r, userdata);
}
static void on_ready(int err, const char *api_version, void *userdata)
{
	if (e.mode == MODE_PING || e.mode == MODE_VERSION)
		e.done = true;
}
static void on_event(const struct docker_event *ev, bool ended, void *userdata)
{
}
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	e.done = true;
}

/* The fake Engine's socket. */
static void engine_listen(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", e.path);
	unlink(e.path);
	e.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (e.lfd < 0 || bind(e.lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(e.lfd, 16) < 0)
		abort();
	e.lev = event_new(e.base, e.lfd, EV_READ | EV_PERSIST, accept_cb, NULL);
	event_add(e.lev, NULL);
	for (size_t i = 0; i < MAX_CONNS; i++)
		e.conns[i].fd = -1;
}

/* Closes the fake Engine's sockets. */
static void engine_close(void)
{
	for (size_t i = 0; i < MAX_CONNS; i++)
		if (e.conns[i].fd >= 0) {
			event_free(e.conns[i].ev);
			close(e.conns[i].fd);
		}
	event_free(e.lev);
	close(e.lfd);
	unlink(e.path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	e.mode = data[0] % MODE_MAX;
	e.reply = data + 1;
	e.reply_len = size - 1;
	e.served = e.done = false;
	e.base = event_base_new();
	if (!e.base)
		abort();
	engine_listen();
	struct event *deadline = evtimer_new(e.base, on_deadline, NULL);
	struct timeval tv = {2, 0};
	evtimer_add(deadline, &tv);

	struct httpc *h = httpc_new(e.base);
	struct docker *d = NULL;
	if (e.mode == MODE_COLLECT || e.mode == MODE_STREAM) {
		struct httpc_request req = {
		    .url = "http://localhost/v1.41/containers/json",
		    .unix_socket = e.path,
		    .timeout_ms = 2000,
		    .max_response = 4096,
		    .on_data = e.mode == MODE_STREAM ? on_data : NULL,
		    .on_headers = e.mode == MODE_STREAM ? on_headers : NULL,
		};
		httpc_start(h, &req, on_http, NULL);
	} else {
		d = docker_new(e.base, h, e.path, on_ready, NULL);
		static const char *const argv[] = {"/bin/true", NULL};
		static const char *const env[] = {"ENDPOINTD_DIALER_TOKEN=00", NULL};
		json_t *spec = json_pack("{s:s}", "Image", "demo:latest");
		switch (e.mode) {
		case MODE_INSPECT:
			docker_container_inspect(d, "c0ffee", on_inspect, NULL);
			break;
		case MODE_LIST:
			docker_container_list(d, "io.endpointd.owner=fuzz", on_list, NULL);
			break;
		case MODE_IMAGE:
			docker_image_inspect(d, "demo:latest", on_image, NULL);
			break;
		case MODE_PULL:
			docker_image_pull(d, "registry.local:5000/demo:1", on_done, NULL);
			break;
		case MODE_LOGS:
			docker_container_logs(d, "c0ffee", 100, on_logs, NULL);
			break;
		case MODE_CREATE:
			docker_container_create(d, "fuzz-ep-v-0", spec, on_create, NULL);
			break;
		case MODE_START:
			docker_container_start(d, "c0ffee", on_done, NULL);
			break;
		case MODE_EXEC:
			docker_exec_create(d, "c0ffee", argv, env, on_create, NULL);
			break;
		case MODE_EVENTS:
			docker_events_watch(d, "io.endpointd.owner=fuzz", on_event, NULL);
			break;
		default:
			break;
		}
		json_decref(spec);
	}
	while (!e.done)
		event_base_loop(e.base, EVLOOP_ONCE);

	docker_free(d);
	event_base_loop(e.base, EVLOOP_NONBLOCK);
	httpc_free(h);
	event_base_loop(e.base, EVLOOP_NONBLOCK);
	engine_close();
	event_free(deadline);
	event_base_free(e.base);
	return 0;
}
