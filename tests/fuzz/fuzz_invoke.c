/*
 * The HTTP front door and the invocation path (lib/api.c routing,
 * lib/proxy.c, lib/upstream.c on live sockets): the input's request bytes go
 * to the API's listening socket as a client would send them, and a fake
 * model server answers each forwarded invocation with the input's reply
 * bytes.  Endpoint "ep" (config "two": variants a and b) is InService with
 * one healthy instance per variant, both served by the fake model server;
 * endpoint "cr" is still Creating.
 *
 * Input: two bytes (little-endian) giving the length of the model's reply,
 * the reply, then the client's bytes (one request or several, pipelined).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "api.h"
#include "endpoint.h"
#include "fuzz.h"
#include "proxy.h"
#include "util.h"

#define MAX_MODEL_CONNS 8
#define QUIET_MS 3
#define DEADLINE_MS 1000

/* A connection to the fake model server. */
struct model_conn {
	int fd;
	struct event *ev;
	struct buf in;
};

static struct {
	struct fuzz_world w;
	char api_path[128];
	int model_lfd;
	uint16_t model_port;
	struct event *model_lev;
	struct model_conn conns[MAX_MODEL_CONNS];
	const uint8_t *reply;
	size_t reply_len;
	int client;
	bool client_eof;
	bool quiet;    /* nothing came to the client for QUIET_MS */
	bool deadline; /* DEADLINE_MS passed */
	struct event *quiet_ev, *client_ev;
} s;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	snprintf(s.api_path, sizeof(s.api_path), "%s/api.sock", fuzz_scratch_dir());
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	s.model_lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s.model_lfd < 0 || bind(s.model_lfd, (struct sockaddr *)&a, len) < 0 ||
	    listen(s.model_lfd, 64) < 0 ||
	    getsockname(s.model_lfd, (struct sockaddr *)&a, &len) < 0)
		abort();
	s.model_port = ntohs(a.sin_port);
	return 0;
}

/* The model server: each whole request (head and Content-Length body) gets
 * the reply; the connection is then shut for writing. */
static void model_conn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct model_conn *c = arg;
	char b[16384];
	ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		event_free(c->ev);
		close(c->fd);
		buf_reset(&c->in);
		c->fd = -1;
		return;
	}
	buf_append(&c->in, b, (size_t)n);
	char *end = c->in.data ? strstr(c->in.data, "\r\n\r\n") : NULL;
	if (!end)
		return;
	const char *cl = strcasestr(c->in.data, "\r\nContent-Length:");
	size_t body = cl ? strtoul(cl + 17, NULL, 10) : 0;
	if ((size_t)(end + 4 - c->in.data) + body > c->in.len)
		return;
	const uint8_t *p = s.reply;
	size_t left = s.reply_len;
	while (left > 0) {
		ssize_t w = send(fd, p, left, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		p += w;
		left -= (size_t)w;
	}
	shutdown(fd, SHUT_WR);
	c->in.len = 0;
	c->in.data[0] = '\0';
}

/* The model server took a connection. */
static void model_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (size_t i = 0; i < MAX_MODEL_CONNS; i++) {
		struct model_conn *c = &s.conns[i];
		if (c->fd >= 0)
			continue;
		*c = (struct model_conn){.fd = fd};
		c->ev = event_new(s.w.base, fd, EV_READ | EV_PERSIST, model_conn_cb, c);
		event_add(c->ev, NULL);
		return;
	}
	close(fd);
}

/* What the API sends the client: read and dropped. */
static void client_cb(evutil_socket_t fd, short what, void *arg)
{
	char b[65536];
	ssize_t n;
	while ((n = recv(fd, b, sizeof(b), MSG_DONTWAIT)) > 0)
		;
	if (n == 0 || (n < 0 && errno != EAGAIN)) {
		s.client_eof = true;
		event_del(s.client_ev);
	}
	struct timeval tv = {0, QUIET_MS * 1000};
	evtimer_add(s.quiet_ev, &tv);
}

static void quiet_cb(evutil_socket_t fd, short what, void *arg)
{
	s.quiet = true;
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	s.deadline = true;
}

/* Endpoint ep InService, one healthy instance per variant on the model
 * server; cr Creating. */
static void make_endpoints(void)
{
	static const char *const calls[][2] = {
	    {"CreateEndpoint", "{\"EndpointName\":\"ep\",\"EndpointConfigName\":\"two\"}"},
	    {"CreateEndpoint", "{\"EndpointName\":\"cr\",\"EndpointConfigName\":\"c\"}"},
	};
	for (size_t i = 0; i < ELEMENTSOF(calls); i++) {
		json_t *in = json_loads(calls[i][1], 0, NULL);
		char *out = NULL;
		const char *code = NULL;
		if (api_call(s.w.api, calls[i][0], in, &out, &code) != 200)
			abort();
		json_decref(in);
		free(out);
	}
	struct endpoint *ep = endpoint_find(s.w.manager, "ep");
	for (size_t i = 0; i < ep->fleet->n_variants; i++) {
		struct variant *v = &ep->fleet->variants[i];
		struct instance *inst = v->instances[0];
		inst->state = INSTANCE_HEALTHY;
		inst->host_port = s.model_port;
		v->healthy = xreallocarray(v->healthy, v->n_healthy + 1, sizeof(*v->healthy));
		v->healthy[v->n_healthy++] = inst;
	}
	if (endpoint_set_state(ep, ENDPOINT_IN_SERVICE, "fuzz") < 0)
		abort();
}

/* The API's listening socket. */
static int api_socket(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", s.api_path);
	unlink(s.api_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 16) < 0)
		abort();
	return fd;
}

/* A client connected to the API with bytes sent. */
static int client_connect(const uint8_t *data, size_t len)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", s.api_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		abort();
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		data += n;
		len -= (size_t)n;
	}
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t rlen = (size_t)data[0] | (size_t)data[1] << 8;
	rlen = rlen < size - 2 ? rlen : size - 2;
	s.reply = data + 2;
	s.reply_len = rlen;
	s.client_eof = s.quiet = s.deadline = false;

	fuzz_world_new(&s.w, NULL);
	make_endpoints();
	for (size_t i = 0; i < MAX_MODEL_CONNS; i++)
		s.conns[i].fd = -1;
	s.model_lev = event_new(s.w.base, s.model_lfd, EV_READ | EV_PERSIST, model_accept_cb, NULL);
	event_add(s.model_lev, NULL);
	if (api_listen_fd(s.w.api, api_socket()) < 0)
		abort();
	s.client = client_connect(data + 2 + rlen, size - 2 - rlen);
	s.quiet_ev = evtimer_new(s.w.base, quiet_cb, NULL);
	s.client_ev = event_new(s.w.base, s.client, EV_READ | EV_PERSIST, client_cb, NULL);
	struct event *deadline = evtimer_new(s.w.base, deadline_cb, NULL);
	struct timeval tv = {0, DEADLINE_MS * 1000}, quiet = {0, QUIET_MS * 1000};
	evtimer_add(deadline, &tv);
	evtimer_add(s.quiet_ev, &quiet);
	event_add(s.client_ev, NULL);

	/* Until the client has heard nothing for a while and nothing is in
	 * flight; then it hangs up, and the API sees the end of its bytes. */
	while (!s.client_eof && !s.deadline && !(s.quiet && proxy_in_flight(s.w.proxy) == 0))
		event_base_loop(s.w.base, EVLOOP_ONCE);
	shutdown(s.client, SHUT_WR);
	while (!s.client_eof && !s.deadline)
		event_base_loop(s.w.base, EVLOOP_ONCE);

	event_free(s.client_ev);
	close(s.client);
	event_free(s.quiet_ev);
	event_free(deadline);
	for (size_t i = 0; i < MAX_MODEL_CONNS; i++)
		if (s.conns[i].fd >= 0) {
			event_free(s.conns[i].ev);
			close(s.conns[i].fd);
			buf_reset(&s.conns[i].in);
		}
	event_free(s.model_lev);
	fuzz_world_free(&s.w);
	return 0;
}
