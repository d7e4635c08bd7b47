/*
 * demo-model: a tiny model server honouring the SageMaker inference container
 * contract, used by endpointd's tests as the container image to launch.
 *
 * Started as `demo-model serve`, it listens on 0.0.0.0 at
 * $SAGEMAKER_BIND_TO_PORT (default 8080) and answers
 *
 *   GET  /ping         200 "ok"
 *   POST /invocations  200 application/json describing the request:
 *                      {"length":N,"sha256":"…","content_type":"…",
 *                       "accept":"…","custom_attributes":"…",
 *                       "hostname":"…","variant":"$DEMO_VARIANT",
 *                       "peer":"…"}
 *                      or, with "Accept: application/octet-stream", the body
 *                      echoed back verbatim; the request's
 *                      X-Amzn-SageMaker-Custom-Attributes is echoed either way.
 *                      "peer" is the client's address as this server sees it
 *                      (127.0.0.1 for a connection made inside the container,
 *                      the bridge's gateway for one through docker-proxy).
 *   anything else      404 (405 for a known path with the wrong method)
 *
 * The environment makes it misbehave on purpose, so that tests can drive every
 * path of the daemon's health checking and invocation routing:
 *
 *   DEMO_START_DELAY_MS=N   sleep N ms before binding the port
 *   DEMO_PING_STATUS=N      /ping answers status N
 *   DEMO_EXIT_AFTER_MS=N    exit N ms after start with DEMO_EXIT_CODE
 *                           (default 3), saying so on stderr first
 *   DEMO_INVOKE_STATUS=N    /invocations answers status N, "demo-model error N"
 *   DEMO_INVOKE_ERROR_ECHO=1  ... or, with this, the request body as it came
 *   DEMO_INVOKE_DELAY_MS=N  /invocations waits N ms before answering
 *   DEMO_VARIANT=S          reported as "variant" by /invocations
 *
 * Streaming, for InvokeEndpointWithResponseStream (the time to first byte and
 * the gaps between pieces are what endpointd must not add to):
 *
 *   DEMO_STREAM_TOKENS=N    /invocations answers 200 text/plain with
 *                           Transfer-Encoding: chunked, one chunk per token:
 *                           "token 1 ", "token 2 ", ... "token N " (fixed
 *                           text, so that a test knows every piece without
 *                           reading the request), then the final chunk.  The
 *                           head and the first token go out at once, in one
 *                           write; DEMO_INVOKE_DELAY_MS and DEMO_INVOKE_STATUS
 *                           still come first (a status other than 200 is the
 *                           usual whole answer, not a stream).
 *   DEMO_STREAM_GAP_MS=N    wait N ms between tokens (not before the first)
 *   DEMO_STREAM_FAIL_AFTER=K  after K tokens close the connection without the
 *                           final chunk (K=0: after the head alone)
 *   DEMO_STREAM_EXIT_AFTER=K  after K tokens the whole process exits with
 *                           DEMO_EXIT_CODE, saying so on stderr first
 *   DEMO_STREAM_STAMP=1     each token is "token I @NS " instead, NS being
 *                           CLOCK_MONOTONIC in nanoseconds when it is written
 *                           (a container shares the host's monotonic clock, so
 *                           a reader on the host sees how long a piece took)
 *   DEMO_STREAM_UNTIL_CLOSE=1  no chunking and no Content-Length: the tokens
 *                           are written as they come and the end of the body
 *                           is the connection's close (Connection: close)
 *
 * One detached thread per connection (HTTP/1.1 keep-alive, pipelining,
 * Content-Length or chunked bodies up to MAX_BODY, "Expect: 100-continue").
 * SIGTERM and SIGINT exit 0 at once: as PID 1 in a container a signal with the
 * default disposition would be ignored, hence the explicit handler.
 *
 * No getaddrinfo or other NSS calls, so it links statically against glibc and
 * runs in a FROM scratch image.
 */

#define _GNU_SOURCE

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MODEL_DIR "/opt/ml/model"
#define HEADER_MAX (64 * 1024)      /* request line + headers */
#define MAX_BODY (64 * 1024 * 1024) /* SageMaker allows 6 MiB; be generous */
#define MAX_CONNECTIONS 4096        /* beyond this, close at once */
#define IDLE_TIMEOUT_S 120          /* a silent client's thread goes away */
#define THREAD_STACK (256 * 1024)
#define OCTET_STREAM "application/octet-stream"

/* Behaviour switches, read once from the environment at start. */
static long opt_port = 8080;
static long opt_start_delay_ms;
static long opt_ping_status = 200;
static long opt_exit_after_ms = -1;
static long opt_exit_code = 3;
static long opt_invoke_status = 200;
static long opt_invoke_error_echo;
static long opt_invoke_delay_ms;
static const char *opt_variant = "";
static long opt_stream_tokens;
static long opt_stream_gap_ms;
static long opt_stream_fail_after = -1;
static long opt_stream_exit_after = -1;
static long opt_stream_until_close;
static long opt_stream_stamp;
static char hostname[256];

static atomic_int connections;

/* A client connection and its read buffer; owned by the thread serving it. */
struct conn {
	int fd;
	size_t start; /* first unconsumed byte in buf */
	size_t end;   /* one past the last byte read */
	char buf[HEADER_MAX];
};

/* One parsed request; the strings and body are owned and freed with it. */
struct request {
	char method[16];
	char path[1024];
	int keep_alive;
	int chunked;
	int expect_continue;
	long long content_length; /* -1 when absent */
	char *content_type;
	char *accept;
	char *custom_attributes;
	unsigned char *body;
	size_t body_len;
};

/* SHA-256 state (FIPS 180-4), written here to keep the binary dependency-free. */
struct sha256 {
	uint32_t h[8];
	uint64_t len;
	unsigned char block[64];
	size_t fill;
};

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* Rotate a 32-bit word right. */
static uint32_t sha256_ror(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

/* Start a digest. */
static void sha256_init(struct sha256 *s)
{
	static const uint32_t iv[8] = {
	    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};

	memcpy(s->h, iv, sizeof iv);
	s->len = 0;
	s->fill = 0;
}

/* Mix one 64-byte block into the state. */
static void sha256_block(struct sha256 *s, const unsigned char *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h, t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
	for (i = 16; i < 64; i++) {
		uint32_t s0 =
		    sha256_ror(w[i - 15], 7) ^ sha256_ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 =
		    sha256_ror(w[i - 2], 17) ^ sha256_ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = s->h[0];
	b = s->h[1];
	c = s->h[2];
	d = s->h[3];
	e = s->h[4];
	f = s->h[5];
	g = s->h[6];
	h = s->h[7];
	for (i = 0; i < 64; i++) {
		t1 = h + (sha256_ror(e, 6) ^ sha256_ror(e, 11) ^ sha256_ror(e, 25)) +
		     ((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
		t2 = (sha256_ror(a, 2) ^ sha256_ror(a, 13) ^ sha256_ror(a, 22)) +
		     ((a & b) ^ (a & c) ^ (b & c));
		h = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	s->h[0] += a;
	s->h[1] += b;
	s->h[2] += c;
	s->h[3] += d;
	s->h[4] += e;
	s->h[5] += f;
	s->h[6] += g;
	s->h[7] += h;
}

/* Feed bytes into a digest. */
static void sha256_update(struct sha256 *s, const unsigned char *p, size_t n)
{
	s->len += n;
	if (n == 0)
		return;
	if (s->fill > 0) {
		size_t take = 64 - s->fill < n ? 64 - s->fill : n;

		memcpy(s->block + s->fill, p, take);
		s->fill += take;
		p += take;
		n -= take;
		if (s->fill < 64)
			return;
		sha256_block(s, s->block);
		s->fill = 0;
	}
	for (; n >= 64; p += 64, n -= 64)
		sha256_block(s, p);
	if (n > 0)
		memcpy(s->block, p, n);
	s->fill = n;
}

/* Finish a digest into 64 lowercase hex digits plus NUL. */
static void sha256_final_hex(struct sha256 *s, char ret_hex[65])
{
	uint64_t bits = s->len * 8;
	unsigned char pad[72] = {0x80};
	size_t padlen = (s->fill < 56 ? 56 : 120) - s->fill;
	int i;

	for (i = 0; i < 8; i++)
		pad[padlen + i] = (unsigned char)(bits >> (56 - 8 * i));
	sha256_update(s, pad, padlen + 8);
	for (i = 0; i < 8; i++)
		snprintf(ret_hex + 8 * i, 9, "%08x", (unsigned)s->h[i]);
}

/* Sleep for ms milliseconds, resuming after interruptions. */
static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Report a bad setting and exit 2. */
static void __attribute__((noreturn, format(printf, 1, 2))) die_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("demo-model: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	exit(2);
}

/* Read a non-negative integer setting in [lo, hi] from the environment. */
static void env_long(const char *name, long lo, long hi, long *ret)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (v == NULL || *v == '\0')
		return;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < lo || n > hi)
		die_usage("%s=%s: expected an integer from %ld to %ld", name, v, lo, hi);
	*ret = n;
}

/* Exit 0 on SIGTERM/SIGINT; only async-signal-safe calls here. */
static void on_signal(int sig)
{
	static const char msg[] = "demo-model: caught signal, exiting\n";

	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
		/* Nothing to do: we are leaving anyway. */
	}
	_exit(0);
}

/* Thread body for DEMO_EXIT_AFTER_MS: wait, say why, exit with the code. */
static void *exit_timer(void *arg)
{
	(void)arg;
	sleep_ms(opt_exit_after_ms);
	fprintf(stderr,
	        "demo-model: exiting with code %ld after %ld ms "
	        "(DEMO_EXIT_AFTER_MS)\n",
	        opt_exit_code, opt_exit_after_ms);
	fflush(stdout);
	_exit((int)opt_exit_code);
}

/* Send all of p, or fail with -1. */
static int send_all(int fd, const void *p, size_t n, int more)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL | (more ? MSG_MORE : 0));

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reason phrase for the statuses we are likely to be asked for. */
static const char *status_reason(long status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Payload Too Large";
	case 424:
		return "Failed Dependency";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Status";
	}
}

/*
 * Format a response head into head (cap bytes) with framing as its body's
 * header line ("Content-Length: N\r\n", "Transfer-Encoding: chunked\r\n" or
 * "" for a body that ends at close); the custom attributes of req (if any)
 * are echoed.  Returns its length, or -1 when it does not fit.
 */
static int format_head(char *head, size_t cap, const struct request *req, long status,
                       const char *ctype, const char *framing, int keep)
{
	const char *ca = req != NULL ? req->custom_attributes : NULL;
	int n;

	if (ca != NULL && strlen(ca) > 2048)
		ca = NULL; /* a SageMaker limit is 1024; never overflow head */
	n = snprintf(head, cap,
	             "HTTP/1.1 %ld %s\r\n"
	             "Content-Type: %s\r\n"
	             "%s"
	             "Connection: %s\r\n"
	             "%s%s%s"
	             "\r\n",
	             status, status_reason(status), ctype, framing, keep ? "keep-alive" : "close",
	             ca != NULL ? "X-Amzn-SageMaker-Custom-Attributes: " : "", ca != NULL ? ca : "",
	             ca != NULL ? "\r\n" : "");
	if (n < 0 || (size_t)n >= cap)
		return -1;
	return n;
}

/* Send one response; the custom attributes of req (if any) are echoed. */
static int respond(int fd, const struct request *req, long status, const char *ctype,
                   const void *body, size_t len)
{
	char head[4096], framing[64];
	int n;
	int keep = req != NULL && req->keep_alive;
	int head_only = req != NULL && strcmp(req->method, "HEAD") == 0;

	snprintf(framing, sizeof framing, "Content-Length: %zu\r\n", len);
	n = format_head(head, sizeof head, req, status, ctype, framing, keep);
	if (n < 0)
		return -1;
	if (send_all(fd, head, (size_t)n, len > 0 && !head_only) < 0)
		return -1;
	if (len > 0 && !head_only && send_all(fd, body, len, 0) < 0)
		return -1;
	return 0;
}

/* Send a short text/plain response. */
static int respond_text(int fd, const struct request *req, long status, const char *text)
{
	return respond(fd, req, status, "text/plain", text, strlen(text));
}

/* Read more bytes into the connection buffer: >0 read, 0 EOF, -1 error. */
static ssize_t conn_fill(struct conn *c)
{
	ssize_t r;

	if (c->start == c->end)
		c->start = c->end = 0;
	else if (c->end == sizeof c->buf && c->start > 0) {
		memmove(c->buf, c->buf + c->start, c->end - c->start);
		c->end -= c->start;
		c->start = 0;
	}
	if (c->end == sizeof c->buf)
		return -1;
	do
		r = recv(c->fd, c->buf + c->end, sizeof c->buf - c->end, 0);
	while (r < 0 && errno == EINTR);
	if (r > 0)
		c->end += (size_t)r;
	return r;
}

/* Take up to n buffered or fresh bytes into dst: bytes copied, 0 EOF, -1. */
static ssize_t conn_read(struct conn *c, void *dst, size_t n)
{
	ssize_t r;

	if (c->start < c->end) {
		size_t have = c->end - c->start;

		if (have > n)
			have = n;
		memcpy(dst, c->buf + c->start, have);
		c->start += have;
		return (ssize_t)have;
	}
	do
		r = recv(c->fd, dst, n, 0);
	while (r < 0 && errno == EINTR);
	return r;
}

/* Read exactly n bytes into dst: 0 or -1. */
static int conn_read_exact(struct conn *c, void *dst, size_t n)
{
	char *p = dst;

	while (n > 0) {
		ssize_t r = conn_read(c, p, n);

		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Read one CRLF-terminated line (returned without it, NUL-terminated). */
static char *conn_read_line(struct conn *c)
{
	for (;;) {
		char *nl = memchr(c->buf + c->start, '\n', c->end - c->start);

		if (nl != NULL) {
			char *line = c->buf + c->start;

			*nl = '\0';
			if (nl > line && nl[-1] == '\r')
				nl[-1] = '\0';
			c->start = (size_t)(nl - c->buf) + 1;
			return line;
		}
		if (conn_fill(c) <= 0)
			return NULL;
	}
}

/* Free what a request owns and clear it for the next one. */
static void request_clear(struct request *req)
{
	free(req->content_type);
	free(req->accept);
	free(req->custom_attributes);
	free(req->body);
	memset(req, 0, sizeof *req);
	req->content_length = -1;
}

/* Trim spaces and tabs on both sides of s, in place. */
static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* Does the comma-separated header value list contain token? */
static int has_token(const char *list, const char *token)
{
	size_t n = strlen(token);
	const char *p = list;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (strncasecmp(p, token, n) == 0 &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ' ' || p[n] == ';'))
			return 1;
		while (*p != '\0' && *p != ',')
			p++;
	}
	return 0;
}

/*
 * Read the request line and headers into req: 0, or an HTTP status to answer
 * before closing (400, 431, 501), or -1 when the client went away.
 */
static int read_head(struct conn *c, struct request *req)
{
	char *eoh, *line, *next, *sp, *version, *target;
	int http10;

	/* Wait for a complete head; tolerate stray CRLFs between requests. */
	for (;;) {
		while (c->end - c->start >= 2 && c->buf[c->start] == '\r' &&
		       c->buf[c->start + 1] == '\n')
			c->start += 2;
		eoh = memmem(c->buf + c->start, c->end - c->start, "\r\n\r\n", 4);
		if (eoh != NULL)
			break;
		if (c->start == 0 && c->end == sizeof c->buf)
			return 431;
		if (conn_fill(c) <= 0)
			return -1;
	}
	eoh[2] = '\0';
	line = c->buf + c->start;
	c->start = (size_t)(eoh - c->buf) + 4;

	next = strstr(line, "\r\n");
	*next = '\0';
	next += 2;
	sp = strchr(line, ' ');
	if (sp == NULL || (size_t)(sp - line) >= sizeof req->method)
		return 400;
	memcpy(req->method, line, (size_t)(sp - line));
	target = sp + 1;
	sp = strchr(target, ' ');
	if (sp == NULL)
		return 400;
	*sp = '\0';
	version = sp + 1;
	if (strncmp(version, "HTTP/1.", 7) != 0)
		return 400;
	http10 = strcmp(version, "HTTP/1.0") == 0;
	req->keep_alive = !http10;
	target[strcspn(target, "?#")] = '\0';
	if (strlen(target) >= sizeof req->path)
		return 400;
	strcpy(req->path, target);

	for (line = next; *line != '\0'; line = next) {
		char *colon, *value;

		next = strstr(line, "\r\n");
		if (next == NULL)
			return 400;
		*next = '\0';
		next += 2;
		colon = strchr(line, ':');
		if (colon == NULL)
			return 400;
		*colon = '\0';
		value = trim(colon + 1);
		if (strcasecmp(line, "Content-Length") == 0) {
			char *end;
			long long n;

			errno = 0;
			n = strtoll(value, &end, 10);
			if (errno != 0 || end == value || *end != '\0' || n < 0)
				return 400;
			req->content_length = n;
		} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
			if (!has_token(value, "chunked"))
				return 501;
			req->chunked = 1;
		} else if (strcasecmp(line, "Connection") == 0) {
			if (has_token(value, "close"))
				req->keep_alive = 0;
			else if (has_token(value, "keep-alive"))
				req->keep_alive = 1;
		} else if (strcasecmp(line, "Expect") == 0) {
			req->expect_continue = has_token(value, "100-continue");
		} else if (strcasecmp(line, "Content-Type") == 0) {
			free(req->content_type);
			req->content_type = strdup(value);
		} else if (strcasecmp(line, "Accept") == 0) {
			free(req->accept);
			req->accept = strdup(value);
		} else if (strcasecmp(line, "X-Amzn-SageMaker-Custom-Attributes") == 0) {
			free(req->custom_attributes);
			req->custom_attributes = strdup(value);
		}
	}
	return 0;
}

/* Read a chunked body into req: 0, an HTTP status (400, 413) or -1. */
static int read_chunked(struct conn *c, struct request *req)
{
	size_t cap = 0;
	char *line, *end;

	for (;;) {
		unsigned long long n;

		if ((line = conn_read_line(c)) == NULL)
			return c->end - c->start == sizeof c->buf ? 400 : -1;
		errno = 0;
		n = strtoull(line, &end, 16);
		if (errno != 0 || end == line || (*end != '\0' && *end != ';' && *end != ' '))
			return 400;
		if (n == 0)
			break;
		if (n > MAX_BODY || req->body_len + n > MAX_BODY)
			return 413;
		if (req->body_len + n > cap) {
			unsigned char *b;

			cap = (req->body_len + n) * 2;
			if (cap > MAX_BODY)
				cap = MAX_BODY;
			if ((b = realloc(req->body, cap)) == NULL)
				return 413;
			req->body = b;
		}
		if (conn_read_exact(c, req->body + req->body_len, n) < 0)
			return -1;
		req->body_len += n;
		if ((line = conn_read_line(c)) == NULL)
			return -1;
		if (*line != '\0')
			return 400;
	}
	/* Trailers, up to the empty line. */
	do {
		if ((line = conn_read_line(c)) == NULL)
			return -1;
	} while (*line != '\0');
	return 0;
}

/* Read the body announced by the head into req: 0, a status or -1. */
static int read_body(struct conn *c, struct request *req)
{
	if (!req->chunked && req->content_length <= 0)
		return 0;
	if (!req->chunked && req->content_length > MAX_BODY)
		return 413;
	if (req->expect_continue && c->start == c->end) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		if (send_all(c->fd, cont, sizeof cont - 1, 0) < 0)
			return -1;
	}
	if (req->chunked)
		return read_chunked(c, req);
	req->body_len = (size_t)req->content_length;
	if ((req->body = malloc(req->body_len)) == NULL)
		return 413;
	return conn_read_exact(c, req->body, req->body_len);
}

/* Append s to out as a JSON string literal; out must have 6*len+3 bytes. */
static char *json_string(char *out, const char *s)
{
	*out++ = '"';
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			*out++ = '\\';
			*out++ = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			out += sprintf(out, "\\u%04x", ch);
		} else {
			*out++ = (char)ch;
		}
	}
	*out++ = '"';
	*out = '\0';
	return out;
}

/* Length of s, treating NULL as empty. */
static size_t len0(const char *s)
{
	return s != NULL ? strlen(s) : 0;
}

/* The numeric address of fd's peer into ret (INET6_ADDRSTRLEN bytes), or "". */
static void peer_address(int fd, char *ret)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	const void *addr = NULL;

	ret[0] = '\0';
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET)
		addr = &((struct sockaddr_in *)&ss)->sin_addr;
	else if (ss.ss_family == AF_INET6)
		addr = &((struct sockaddr_in6 *)&ss)->sin6_addr;
	if (addr == NULL || inet_ntop(ss.ss_family, addr, ret, INET6_ADDRSTRLEN) == NULL)
		ret[0] = '\0';
}

/* End the whole process mid-stream for DEMO_STREAM_EXIT_AFTER, saying so first. */
static void __attribute__((noreturn)) stream_exit(long sent)
{
	fprintf(stderr,
	        "demo-model: exiting with code %ld after %ld streamed tokens "
	        "(DEMO_STREAM_EXIT_AFTER)\n",
	        opt_exit_code, sent);
	fflush(stdout);
	_exit((int)opt_exit_code);
}

/*
 * Answer POST /invocations as a stream of DEMO_STREAM_TOKENS tokens: chunked,
 * or until close.  The head goes out with the first token so that the first
 * byte is not held back; returns -1 when the connection must close (the
 * client went away, a failure was asked for, or the body ends at close).
 */
static int handle_invocations_stream(int fd, struct request *req)
{
	/* The head, then one token as a chunk: "%lx\r\ntoken %ld \r\n". */
	char buf[4096 + 64];
	size_t len = 0;
	int keep = req->keep_alive && !opt_stream_until_close;
	int n;

	n = format_head(buf, 4096, req, 200, "text/plain",
	                opt_stream_until_close ? "" : "Transfer-Encoding: chunked\r\n", keep);
	if (n < 0)
		return -1;
	len = (size_t)n;
	for (long i = 1; i <= opt_stream_tokens; i++) {
		char token[64];
		int tl;

		if (i - 1 == opt_stream_exit_after) {
			if (len > 0)
				send_all(fd, buf, len, 0);
			stream_exit(i - 1);
		}
		if (i - 1 == opt_stream_fail_after) {
			if (len > 0)
				send_all(fd, buf, len, 0);
			return -1;
		}
		if (i > 1 && opt_stream_gap_ms > 0)
			sleep_ms(opt_stream_gap_ms);
		if (opt_stream_stamp) {
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			tl = snprintf(token, sizeof token, "token %ld @%lld ", i,
			              (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
		} else {
			tl = snprintf(token, sizeof token, "token %ld ", i);
		}
		if (opt_stream_until_close)
			n = snprintf(buf + len, sizeof buf - len, "%s", token);
		else
			n = snprintf(buf + len, sizeof buf - len, "%x\r\n%s\r\n", (unsigned)tl,
			             token);
		if (n < 0 || (size_t)n >= sizeof buf - len)
			return -1;
		if (send_all(fd, buf, len + (size_t)n, 0) < 0)
			return -1;
		len = 0;
	}
	/* Every token out: the exit or failure asked for after the last one. */
	if (opt_stream_exit_after == opt_stream_tokens)
		stream_exit(opt_stream_tokens);
	if (opt_stream_fail_after == opt_stream_tokens || opt_stream_until_close)
		return -1;
	return send_all(fd, "0\r\n\r\n", 5, 0);
}

/* Answer POST /invocations. */
static int handle_invocations(int fd, struct request *req)
{
	struct sha256 sha;
	char hex[65], status_text[64], peer[INET6_ADDRSTRLEN], *json, *p;
	size_t cap;
	int r;

	if (opt_invoke_delay_ms > 0)
		sleep_ms(opt_invoke_delay_ms);
	if (opt_invoke_status != 200 && opt_invoke_error_echo)
		return respond(fd, req, opt_invoke_status, "text/plain", req->body, req->body_len);
	if (opt_invoke_status != 200) {
		snprintf(status_text, sizeof status_text, "demo-model error %ld",
		         opt_invoke_status);
		return respond_text(fd, req, opt_invoke_status, status_text);
	}
	if (opt_stream_tokens > 0)
		return handle_invocations_stream(fd, req);
	if (req->accept != NULL &&
	    strncasecmp(req->accept, OCTET_STREAM, strlen(OCTET_STREAM)) == 0)
		return respond(fd, req, 200, OCTET_STREAM, req->body, req->body_len);

	sha256_init(&sha);
	sha256_update(&sha, req->body, req->body_len);
	sha256_final_hex(&sha, hex);
	peer_address(fd, peer);
	cap =
	    256 + 6 * (len0(req->content_type) + len0(req->accept) + len0(req->custom_attributes) +
	               len0(hostname) + len0(opt_variant) + len0(peer));
	if ((json = malloc(cap)) == NULL)
		return respond_text(fd, req, 500, "demo-model: out of memory");
	p = json + sprintf(json, "{\"length\":%zu,\"sha256\":\"%s\"", req->body_len, hex);
	p = json_string(stpcpy(p, ",\"content_type\":"), req->content_type);
	p = json_string(stpcpy(p, ",\"accept\":"), req->accept);
	p = json_string(stpcpy(p, ",\"custom_attributes\":"), req->custom_attributes);
	p = json_string(stpcpy(p, ",\"hostname\":"), hostname);
	p = json_string(stpcpy(p, ",\"variant\":"), opt_variant);
	p = json_string(stpcpy(p, ",\"peer\":"), peer);
	p = stpcpy(p, "}");
	r = respond(fd, req, 200, "application/json", json, (size_t)(p - json));
	free(json);
	return r;
}

/* Answer GET /ping. */
static int handle_ping(int fd, struct request *req)
{
	char text[64];

	if (opt_ping_status == 200)
		return respond_text(fd, req, 200, "ok");
	snprintf(text, sizeof text, "demo-model ping status %ld", opt_ping_status);
	return respond_text(fd, req, opt_ping_status, text);
}

/* Route one request to its handler. */
static int handle_request(int fd, struct request *req)
{
	int get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;

	if (strcmp(req->path, "/ping") == 0)
		return get ? handle_ping(fd, req)
		           : respond_text(fd, req, 405, "method not allowed");
	if (strcmp(req->path, "/invocations") == 0)
		return strcmp(req->method, "POST") == 0
		           ? handle_invocations(fd, req)
		           : respond_text(fd, req, 405, "method not allowed");
	return respond_text(fd, req, 404, "not found");
}

/* Thread body: serve requests on one connection until it closes. */
static void *conn_thread(void *arg)
{
	struct conn *c = arg;
	struct request req = {.content_length = -1};

	for (;;) {
		int r = read_head(c, &req);

		if (r == 0)
			r = read_body(c, &req);
		if (r < 0)
			break;
		if (r > 0) {
			/* Malformed or too big: answer, then close. */
			req.keep_alive = 0;
			respond_text(c->fd, &req, r, status_reason(r));
			break;
		}
		if (handle_request(c->fd, &req) < 0 || !req.keep_alive)
			break;
		request_clear(&req);
	}
	request_clear(&req);
	close(c->fd);
	free(c);
	atomic_fetch_sub(&connections, 1);
	return NULL;
}

/* Count the entries of the model directory, or -1 when it cannot be read. */
static int model_dir_entries(void)
{
	DIR *d = opendir(MODEL_DIR);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Bind and listen on 0.0.0.0:port, or exit 1. */
static int listen_port(long port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd, one = 1;

	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_ANY);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(fd, SOMAXCONN) < 0) {
		fprintf(stderr, "demo-model: cannot listen on port %ld: %s\n", port,
		        strerror(errno));
		exit(1);
	}
	return fd;
}

/* Print how to run us and exit 2. */
static void __attribute__((noreturn)) usage(void)
{
	fputs("usage: demo-model serve\n"
	      "environment: SAGEMAKER_BIND_TO_PORT DEMO_START_DELAY_MS "
	      "DEMO_PING_STATUS\n"
	      "             DEMO_EXIT_AFTER_MS DEMO_EXIT_CODE DEMO_INVOKE_STATUS "
	      "DEMO_INVOKE_DELAY_MS\n"
	      "             DEMO_INVOKE_ERROR_ECHO\n"
	      "             DEMO_VARIANT\n"
	      "             DEMO_STREAM_TOKENS DEMO_STREAM_GAP_MS "
	      "DEMO_STREAM_FAIL_AFTER\n"
	      "             DEMO_STREAM_EXIT_AFTER DEMO_STREAM_UNTIL_CLOSE "
	      "DEMO_STREAM_STAMP\n",
	      stderr);
	exit(2);
}

/* Read the settings, start the exit timer, listen and accept forever. */
int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal};
	pthread_attr_t attr;
	pthread_t tid;
	int lfd, entries;
	const char *v;

	if (argc != 2 || strcmp(argv[1], "serve") != 0)
		usage();

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	env_long("SAGEMAKER_BIND_TO_PORT", 1, 65535, &opt_port);
	env_long("DEMO_START_DELAY_MS", 0, INT_MAX, &opt_start_delay_ms);
	env_long("DEMO_PING_STATUS", 100, 599, &opt_ping_status);
	env_long("DEMO_EXIT_AFTER_MS", 0, INT_MAX, &opt_exit_after_ms);
	env_long("DEMO_EXIT_CODE", 0, 255, &opt_exit_code);
	env_long("DEMO_INVOKE_STATUS", 100, 599, &opt_invoke_status);
	env_long("DEMO_INVOKE_DELAY_MS", 0, INT_MAX, &opt_invoke_delay_ms);
	env_long("DEMO_INVOKE_ERROR_ECHO", 0, 1, &opt_invoke_error_echo);
	env_long("DEMO_STREAM_TOKENS", 0, 10000000, &opt_stream_tokens);
	env_long("DEMO_STREAM_GAP_MS", 0, 3600000, &opt_stream_gap_ms);
	env_long("DEMO_STREAM_FAIL_AFTER", 0, 10000000, &opt_stream_fail_after);
	env_long("DEMO_STREAM_EXIT_AFTER", 0, 10000000, &opt_stream_exit_after);
	env_long("DEMO_STREAM_UNTIL_CLOSE", 0, 1, &opt_stream_until_close);
	env_long("DEMO_STREAM_STAMP", 0, 1, &opt_stream_stamp);
	if ((v = getenv("DEMO_VARIANT")) != NULL)
		opt_variant = v;
	if (gethostname(hostname, sizeof hostname - 1) < 0)
		hostname[0] = '\0';

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	if (opt_exit_after_ms >= 0 && pthread_create(&tid, &attr, exit_timer, NULL) != 0) {
		fputs("demo-model: cannot start the exit timer\n", stderr);
		return 1;
	}

	if (opt_start_delay_ms > 0)
		sleep_ms(opt_start_delay_ms);
	lfd = listen_port(opt_port);
	entries = model_dir_entries();
	if (entries >= 0)
		printf("demo-model: listening on port %ld, model dir %s has "
		       "%d entries\n",
		       opt_port, MODEL_DIR, entries);
	else
		printf("demo-model: listening on port %ld, model dir %s is "
		       "missing\n",
		       opt_port, MODEL_DIR);

	for (;;) {
		struct timeval tv = {.tv_sec = IDLE_TIMEOUT_S};
		struct conn *c;
		int fd, one = 1;

		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				sleep_ms(10); /* EMFILE and friends: back off */
			continue;
		}
		if (atomic_fetch_add(&connections, 1) >= MAX_CONNECTIONS) {
			atomic_fetch_sub(&connections, 1);
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		if ((c = malloc(sizeof *c)) != NULL) {
			c->fd = fd;
			c->start = c->end = 0;
		}
		if (c == NULL || pthread_create(&tid, &attr, conn_thread, c) != 0) {
			free(c);
			close(fd);
			atomic_fetch_sub(&connections, 1);
			continue;
		}
		/* The thread owns c from here on. */
	}
}
