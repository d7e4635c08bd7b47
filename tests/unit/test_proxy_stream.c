/*
 * InvokeEndpointWithResponseStream through the daemon's own wiring (the
 * fuzz harnesses' world: api, proxy, upstream, httpd on one event base, no
 * Docker Engine), with the test as both the client, on the API's socket,
 * and the model server, on a loopback port both instances of endpoint "ep"
 * point at.  The test writes the model's answer a piece at a time and turns
 * the loop, so it sees what the daemon does between pieces: pieces go out
 * at once, a slow client stops the reading of the container, a client that
 * hangs up closes the connection to it.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
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
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "util.h"

#define DEADLINE_MS 3000

static struct fuzz_world w;
static int model_lfd = -1;
static uint16_t model_port;
static char api_path[100];

/* Turn the loop (and wait a little) until *flag or pred() holds, or the
 * deadline. */
static void turn(unsigned ms)
{
	uint64_t end = now_monotonic_ms() + ms;
	while (now_monotonic_ms() < end) {
		event_base_loop(w.base, EVLOOP_NONBLOCK);
		usleep(500);
	}
}

static void setup(void)
{
	fuzz_init();
	log_open("test_proxy_stream", LOG_ERR, 0); /* not the Engine it has not */
	metrics_reset();
	fuzz_world_new(&w, NULL);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	model_lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	cr_assert(model_lfd >= 0);
	cr_assert_eq(bind(model_lfd, (struct sockaddr *)&a, len), 0);
	cr_assert_eq(listen(model_lfd, 16), 0);
	getsockname(model_lfd, (struct sockaddr *)&a, &len);
	model_port = ntohs(a.sin_port);

	json_t *in =
	    json_loads("{\"EndpointName\":\"ep\",\"EndpointConfigName\":\"two\"}", 0, NULL);
	char *out = NULL;
	const char *code = NULL;
	cr_assert_eq(api_call(w.api, "CreateEndpoint", in, &out, &code), 200, "%s", out);
	json_decref(in);
	free(out);
	struct endpoint *ep = endpoint_find(w.manager, "ep");
	for (size_t i = 0; i < ep->fleet->n_variants; i++) {
		struct variant *v = &ep->fleet->variants[i];
		struct instance *inst = v->instances[0];
		inst->state = INSTANCE_HEALTHY;
		inst->host_port = model_port;
		v->healthy = xreallocarray(v->healthy, v->n_healthy + 1, sizeof(*v->healthy));
		v->healthy[v->n_healthy++] = inst;
	}
	cr_assert_eq(endpoint_set_state(ep, ENDPOINT_IN_SERVICE, "test"), 0);

	snprintf(api_path, sizeof(api_path), "%s/api.sock", fuzz_scratch_dir());
	unlink(api_path);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", api_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	cr_assert_eq(listen(fd, 16), 0);
	cr_assert_eq(api_listen_fd(w.api, fd), 0);
}

static void teardown(void)
{
	fuzz_world_free(&w);
	close(model_lfd);
}

TestSuite(proxy_stream, .init = setup, .fini = teardown, .timeout = 20);

/* A client on the API's socket that has sent a streamed invocation. */
static int client_invoke(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", api_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	static const char req[] =
	    "POST /endpoints/ep/invocations-response-stream HTTP/1.1\r\n"
	    "Host: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi";
	cr_assert_eq(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(req) - 1);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* The model server's side of the forwarded call, its request read. */
static int model_accept(void)
{
	uint64_t end = now_monotonic_ms() + DEADLINE_MS;
	int fd = -1;
	while (fd < 0 && now_monotonic_ms() < end) {
		event_base_loop(w.base, EVLOOP_NONBLOCK);
		fd = accept4(model_lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			usleep(500);
	}
	cr_assert(fd >= 0, "the daemon did not connect to the model");
	struct buf in = {0};
	while (now_monotonic_ms() < end) {
		event_base_loop(w.base, EVLOOP_NONBLOCK);
		char b[4096];
		ssize_t n = recv(fd, b, sizeof(b), 0);
		if (n > 0)
			buf_append(&in, b, (size_t)n);
		if (in.len >= 4 && memmem(in.data, in.len, "\r\n\r\nhi", 6))
			break;
		usleep(500);
	}
	cr_assert(in.len > 0 && memmem(in.data, in.len, "POST /invocations HTTP/1.1\r\n", 28),
	          "not the forwarded request");
	buf_reset(&in);
	return fd;
}

static void model_say(int fd, const char *s)
{
	cr_assert_eq(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* What the client has heard so far (appended to *b). */
static void client_hear(int fd, struct buf *b, unsigned ms)
{
	uint64_t end = now_monotonic_ms() + ms;
	while (now_monotonic_ms() < end) {
		event_base_loop(w.base, EVLOOP_NONBLOCK);
		char tmp[65536];
		ssize_t n;
		while ((n = recv(fd, tmp, sizeof(tmp), 0)) > 0)
			buf_append(b, tmp, (size_t)n);
		if (n == 0)
			return;
		usleep(500);
	}
}

/* The event-stream messages in a chunked answer's body: their payloads
 * joined in *payloads, the kinds (":event-type" or ":exception-type"
 * values) joined with spaces in *kinds. */
static void decode(const struct buf *answer, struct buf *payloads, struct buf *kinds)
{
	const char *p = answer->data ? memmem(answer->data, answer->len, "\r\n\r\n", 4) : NULL;
	cr_assert_not_null(p, "no head");
	p += 4;
	const char *end = answer->data + answer->len;
	struct buf body = {0};
	while (p < end) {
		char *next;
		unsigned long n = strtoul(p, &next, 16);
		cr_assert(next < end && next[0] == '\r');
		p = next + 2;
		if (n == 0)
			break;
		cr_assert((size_t)(end - p) >= n + 2, "a chunk cut short");
		buf_append(&body, p, n);
		p += n + 2;
	}
	const unsigned char *m = (const unsigned char *)body.data;
	size_t left = body.len;
	while (left >= 16) {
		uint32_t total = (uint32_t)m[0] << 24 | m[1] << 16 | m[2] << 8 | m[3];
		uint32_t hlen = (uint32_t)m[4] << 24 | m[5] << 16 | m[6] << 8 | m[7];
		cr_assert(total <= left && hlen + 16 <= total, "a message cut short");
		const unsigned char *h = m + 12, *hend = m + 12 + hlen;
		while (h < hend) {
			size_t nl = h[0];
			const char *name = (const char *)h + 1;
			size_t vl = (size_t)h[2 + nl] << 8 | h[3 + nl];
			const char *value = (const char *)h + 4 + nl;
			if ((nl == 11 && memcmp(name, ":event-type", 11) == 0) ||
			    (nl == 15 && memcmp(name, ":exception-type", 15) == 0)) {
				buf_append(kinds, value, vl);
				buf_append(kinds, " ", 1);
			}
			h += 4 + nl + vl;
		}
		buf_append(payloads, hend, total - 16 - hlen);
		m += total;
		left -= total;
	}
	buf_append(payloads, "", 0);
	buf_append(kinds, "", 0);
	buf_reset(&body);
}

Test(proxy_stream, each_piece_reaches_the_client_before_the_next_is_written)
{
	int c = client_invoke();
	int m = model_accept();
	model_say(m, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	             "Transfer-Encoding: chunked\r\n\r\n3\r\none\r\n");
	struct buf heard = {0}, payloads = {0}, kinds = {0};
	client_hear(c, &heard, 100);
	cr_assert(heard.len > 0 && memmem(heard.data, heard.len, "one", 3),
	          "the first piece waited for more");
	model_say(m, "3\r\ntwo\r\n0\r\n\r\n");
	client_hear(c, &heard, 100);
	decode(&heard, &payloads, &kinds);
	cr_assert_str_eq(payloads.data, "onetwo");
	cr_assert_str_eq(kinds.data, "PayloadPart PayloadPart ");
	cr_assert(memmem(heard.data, heard.len, "\r\n0\r\n\r\n", 7), "the stream did not end");
	buf_reset(&heard);
	buf_reset(&payloads);
	buf_reset(&kinds);
	close(m);
	close(c);
}

Test(proxy_stream, a_container_that_breaks_mid_stream_ends_it_with_model_stream_error)
{
	int c = client_invoke();
	int m = model_accept();
	model_say(m, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n");
	turn(20);
	close(m);
	struct buf heard = {0}, payloads = {0}, kinds = {0};
	client_hear(c, &heard, 200);
	decode(&heard, &payloads, &kinds);
	cr_assert_str_eq(kinds.data, "PayloadPart ModelStreamError ");
	cr_assert(strstr(payloads.data, "\"ErrorCode\":\"StreamBroken\""), "%s", payloads.data);
	cr_assert(memmem(heard.data, heard.len, "\r\n0\r\n\r\n", 7), "the stream did not end");
	buf_reset(&heard);
	buf_reset(&payloads);
	buf_reset(&kinds);
	close(c);
}

Test(proxy_stream, a_client_that_hangs_up_closes_the_connection_to_the_container)
{
	int c = client_invoke();
	int m = model_accept();
	model_say(m, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n");
	struct buf heard = {0};
	client_hear(c, &heard, 50);
	buf_reset(&heard);
	close(c);
	bool closed = false;
	uint64_t end = now_monotonic_ms() + DEADLINE_MS;
	while (!closed && now_monotonic_ms() < end) {
		event_base_loop(w.base, EVLOOP_NONBLOCK);
		char b[64];
		ssize_t n = recv(m, b, sizeof(b), MSG_DONTWAIT);
		closed = n == 0 || (n < 0 && errno != EAGAIN);
		usleep(500);
	}
	cr_assert(closed, "the model's connection stayed open after its client left");
	cr_assert_eq(proxy_in_flight(w.proxy), 0);
	close(m);
}

Test(proxy_stream, a_slow_reader_stops_the_daemon_reading_from_the_container)
{
	int c = client_invoke();
	int small = 4096;
	setsockopt(c, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	int m = model_accept();
	model_say(m, "HTTP/1.1 200 OK\r\nContent-Length: 67108864\r\n\r\n");
	static char block[65536];
	memset(block, 'x', sizeof(block));
	size_t written = 0;
	/* The client reads nothing: the model can write only what the
	 * daemon's bounded buffers and the sockets' take. */
	uint64_t end = now_monotonic_ms() + 1000;
	while (now_monotonic_ms() < end && written < 64u << 20) {
		event_base_loop(w.base, EVLOOP_NONBLOCK);
		ssize_t n = send(m, block, sizeof(block), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0)
			written += (size_t)n;
		else
			usleep(500);
	}
	cr_assert_lt(written, 16u << 20, "the daemon read %zu bytes its client did not take",
	             written);
	cr_log_info("the model wrote %zu bytes before it blocked", written);
	/* Now the client reads, and the model writes the rest. */
	char tail[8] = {0};
	bool ended = false;
	end = now_monotonic_ms() + 15000;
	while (now_monotonic_ms() < end && !ended) {
		event_base_loop(w.base, EVLOOP_NONBLOCK);
		if (written < 64u << 20) {
			size_t k = (64u << 20) - written < sizeof(block) ? (64u << 20) - written
			                                                 : sizeof(block);
			ssize_t n = send(m, block, k, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n > 0)
				written += (size_t)n;
		}
		char tmp[65536];
		ssize_t n;
		while ((n = recv(c, tmp, sizeof(tmp), 0)) > 0) {
			size_t keep = n >= 7 ? 7 : (size_t)n;
			memmove(tail, tail + keep, 7 - keep);
			memcpy(tail + 7 - keep, tmp + n - (ssize_t)keep, keep);
		}
		ended = memcmp(tail, "\r\n0\r\n\r\n", 7) == 0;
	}
	cr_assert_eq(written, 64u << 20);
	cr_assert(ended, "the stream did not end");
	_cleanup_free_ char *text = metrics_render(NULL);
	cr_assert(
	    strstr(text, "endpointd_stream_bytes_total{endpoint=\"ep\",variant=\"a\"} 67108864") ||
	        strstr(text,
	               "endpointd_stream_bytes_total{endpoint=\"ep\",variant=\"b\"} 67108864"),
	    "not every byte was streamed:\n%s", text);
	close(m);
	close(c);
}
