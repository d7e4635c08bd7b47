/*
 * modeldata: ModelDataUrl -> a directory to mount.  Fixtures are built at
 * test time in a fresh temporary directory (tar -czf), and every test runs its
 * own event loop until nothing is left on it, so that "done is called exactly
 * once" and "nothing is left behind" (children reaped, temporary directories
 * removed) are checked on every path.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "httpc.h"
#include "modeldata.h"
#include "util.h"

static char tmp[64];         /* this test's scratch directory */
static char cache[PATH_MAX]; /* <tmp>/models, not made in advance */
static char root[PATH_MAX];  /* <tmp>/in: the one model_data_roots entry */
static char url_prefix[128]; /* the one model_data_urls entry */
static char *roots[] = {root};
static char *prefixes[] = {url_prefix};
/* What the tests allow: <tmp>/in (where the fixtures are) and url_prefix. */
static struct modeldata_policy policy = {
    .roots = roots, .n_roots = 1, .url_prefixes = prefixes, .n_url_prefixes = 1};

/* What one done call reported. */
struct result {
	int calls;
	int err;
	char *dir;
	char *msg;
	struct event_base *base; /* loopexit on done, when set */
};

/* Runs a shell command line built from fmt, failing the test when it fails. */
static void __attribute__((format(printf, 1, 2))) sh(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *cmd = xvasprintf(fmt, ap);
	va_end(ap);
	cr_assert_eq(system(cmd), 0, "command failed: %s", cmd);
}

/* Writes s to <tmp>/<rel>. */
static void write_file(const char *rel, const char *s)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", tmp, rel);
	FILE *f = fopen(p, "w");
	cr_assert(f, "cannot create %s", p);
	fputs(s, f);
	fclose(f);
}

/* The contents of path, or NULL. */
static char *read_file(const char *path)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return xstrdup(buf);
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* Entries of cache that start with prefix. */
static int count_entries(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (str_has_prefix(e->d_name, prefix))
			n++;
	closedir(d);
	return n;
}

/* A model tree in <tmp>/src and its tarball <tmp>/model.tar.gz. */
static void make_model_tarball(void)
{
	sh("mkdir -p %s/src/code", tmp);
	write_file("src/weights.bin", "weights-v1");
	write_file("src/code/inference.py", "print('hi')\n");
	sh("tar -czf %s/model.tar.gz -C %s/src .", tmp, tmp);
}

static void result_free(struct result *r)
{
	free(r->dir);
	free(r->msg);
}

static void on_done(int err, const char *dir, const char *msg, void *userdata)
{
	struct result *r = userdata;

	r->calls++;
	r->err = err;
	free(r->dir);
	free(r->msg);
	r->dir = dir ? xstrdup(dir) : NULL;
	r->msg = msg ? xstrdup(msg) : NULL;
	if (r->base)
		event_base_loopexit(r->base, NULL);
}

/* Prepares url with a timeout in ms and runs the loop until it is empty. */
static struct result prepare_ms(const char *url, uint64_t timeout_ms)
{
	struct event_base *base = event_base_new();
	struct result r = {0};

	modeldata_prepare_ms(base, NULL, &policy, url, cache, timeout_ms, 0, on_done, &r);
	cr_assert_eq(r.calls, 0, "done was called from inside modeldata_prepare()");
	event_base_dispatch(base);
	event_base_free(base);
	cr_assert_eq(r.calls, 1, "done was called %d times", r.calls);
	cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "every child has been reaped");
	return r;
}

static struct result prepare(const char *url)
{
	return prepare_ms(url, 10000);
}

static void setup(void)
{
	strcpy(tmp, "/tmp/test-modeldata-XXXXXX");
	cr_assert(mkdtemp(tmp));
	snprintf(cache, sizeof(cache), "%s/models", tmp);
	snprintf(root, sizeof(root), "%s/in", tmp);
	cr_assert_eq(mkdir(root, 0755), 0);
	strcpy(url_prefix, "http://127.0.0.1:1/");
	/* Fixtures are made in <tmp>: let the tests write "tmp" and mean root. */
	strcpy(tmp, root);
}

static void teardown(void)
{
	_cleanup_free_ char *top = xstrndup(root, strlen(root) - strlen("/in"));
	sh("chmod -R u+rwX %s; rm -rf %s", top, top);
}

TestSuite(modeldata, .init = setup, .fini = teardown, .timeout = 30);

Test(modeldata, no_url_means_no_model_data)
{
	_cleanup_(result_free) struct result r1 = prepare(NULL);
	cr_assert_eq(r1.err, 0);
	cr_assert_null(r1.dir);
	cr_assert_null(r1.msg);
	_cleanup_(result_free) struct result r2 = prepare("");
	cr_assert_eq(r2.err, 0);
	cr_assert_null(r2.dir);
}

Test(modeldata, directory_url_passes_through_as_its_realpath)
{
	sh("mkdir -p %s/src/sub", tmp);
	_cleanup_free_ char *url = xasprintf("file://%s/src/sub/..", tmp);
	_cleanup_free_ char *want = xasprintf("%s/src", tmp);
	_cleanup_(result_free) struct result r = prepare(url);
	cr_assert_eq(r.err, 0, "%s", r.msg);
	cr_assert_str_eq(r.dir, want);
	cr_assert_not(exists(cache), "a directory needs no cache");
}

Test(modeldata, absolute_directory_path_passes_through)
{
	sh("mkdir -p %s/src", tmp);
	_cleanup_free_ char *path = xasprintf("%s/src", tmp);
	_cleanup_(result_free) struct result r = prepare(path);
	cr_assert_eq(r.err, 0, "%s", r.msg);
	cr_assert_str_eq(r.dir, path);
}

Test(modeldata, file_url_is_percent_decoded)
{
	sh("mkdir -p '%s/my model'", tmp);
	_cleanup_free_ char *url = xasprintf("file://%s/my%%20model", tmp);
	_cleanup_free_ char *want = xasprintf("%s/my model", tmp);
	_cleanup_(result_free) struct result r = prepare(url);
	cr_assert_eq(r.err, 0, "%s", r.msg);
	cr_assert_str_eq(r.dir, want);
}

Test(modeldata, unpacks_tar_gz_into_cache_once)
{
	make_model_tarball();
	_cleanup_free_ char *url = xasprintf("file://%s/model.tar.gz", tmp);
	_cleanup_(result_free) struct result r = prepare(url);
	cr_assert_eq(r.err, 0, "%s", r.msg);
	cr_assert_null(r.msg);

	_cleanup_free_ char *prefix = xasprintf("%s/", cache);
	cr_assert(str_has_prefix(r.dir, prefix), "%s is not in %s", r.dir, cache);
	const char *name = r.dir + strlen(prefix);
	cr_assert_eq(strlen(name), 33 + strlen("/model"), "%s", name);
	cr_assert_eq(strspn(name, "0123456789abcdef"), 16, "%s: not 16 hex digits", name);
	cr_assert_eq(name[16], '-');
	cr_assert_eq(strspn(name + 17, "0123456789abcdef"), 16, "%s: not 16 hex digits", name);
	cr_assert_str_eq(name + 33, "/model");

	_cleanup_free_ char *w = xasprintf("%s/weights.bin", r.dir);
	_cleanup_free_ char *py = xasprintf("%s/code/inference.py", r.dir);
	_cleanup_free_ char *wc = read_file(w), *pyc = read_file(py);
	cr_assert_str_eq(wc, "weights-v1");
	cr_assert_str_eq(pyc, "print('hi')\n");
	cr_assert_eq(count_entries(cache, "."), 2, "only . and .. may be left in the cache");
	cr_assert_eq(count_entries(cache, ""), 3);
}

Test(modeldata, second_prepare_hits_the_cache_without_unpacking_again)
{
	struct stat st1, st2;

	make_model_tarball();
	_cleanup_free_ char *url = xasprintf("%s/model.tar.gz", tmp);
	_cleanup_(result_free) struct result r1 = prepare(url);
	cr_assert_eq(r1.err, 0, "%s", r1.msg);
	cr_assert_eq(stat(r1.dir, &st1), 0);
	/* tar would not remove this; a second extraction would land in a new
	 * directory without it. */
	_cleanup_free_ char *marker = xasprintf("%s/marker", r1.dir);
	sh("touch %s", marker);
	cr_assert_eq(stat(r1.dir, &st1), 0);

	_cleanup_(result_free) struct result r2 = prepare(url);
	cr_assert_eq(r2.err, 0, "%s", r2.msg);
	cr_assert_str_eq(r2.dir, r1.dir);
	cr_assert_eq(stat(r2.dir, &st2), 0);
	cr_assert_eq(st1.st_ino, st2.st_ino);
	cr_assert_eq(st1.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);
	cr_assert_eq(st1.st_mtim.tv_sec, st2.st_mtim.tv_sec);
	cr_assert(exists(marker));
}

Test(modeldata, changed_tarball_is_unpacked_afresh)
{
	make_model_tarball();
	_cleanup_free_ char *url = xasprintf("%s/model.tar.gz", tmp);
	_cleanup_(result_free) struct result r1 = prepare(url);
	cr_assert_eq(r1.err, 0, "%s", r1.msg);

	write_file("src/weights.bin", "weights-v2-longer");
	sh("tar -czf %s/model.tar.gz -C %s/src .", tmp, tmp);
	_cleanup_(result_free) struct result r2 = prepare(url);
	cr_assert_eq(r2.err, 0, "%s", r2.msg);
	cr_assert_str_neq(r2.dir, r1.dir);
	_cleanup_free_ char *w = xasprintf("%s/weights.bin", r2.dir);
	_cleanup_free_ char *wc = read_file(w);
	cr_assert_str_eq(wc, "weights-v2-longer");
}

Test(modeldata, unpacks_plain_tar_and_tgz)
{
	sh("mkdir -p %s/src && echo plain > %s/src/f", tmp, tmp);
	sh("tar -cf %s/m.tar -C %s/src . && tar -czf %s/m.tgz -C %s/src .", tmp, tmp, tmp, tmp);
	const char *names[] = {"m.tar", "m.tgz"};
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		_cleanup_free_ char *url = xasprintf("file://%s/%s", tmp, names[i]);
		_cleanup_(result_free) struct result r = prepare(url);
		cr_assert_eq(r.err, 0, "%s", r.msg);
		_cleanup_free_ char *f = xasprintf("%s/f", r.dir);
		_cleanup_free_ char *c = read_file(f);
		cr_assert_str_eq(c, "plain\n", "%s", names[i]);
	}
}

Test(modeldata, concurrent_prepares_of_one_tarball_share_one_directory)
{
	struct event_base *base = event_base_new();
	struct result r[3] = {{0}};

	make_model_tarball();
	_cleanup_free_ char *url = xasprintf("%s/model.tar.gz", tmp);
	for (size_t i = 0; i < ELEMENTSOF(r); i++)
		modeldata_prepare(base, NULL, &policy, url, cache, 10, on_done, &r[i]);
	event_base_dispatch(base);
	event_base_free(base);
	for (size_t i = 0; i < ELEMENTSOF(r); i++) {
		cr_assert_eq(r[i].calls, 1);
		cr_assert_eq(r[i].err, 0, "%s", r[i].msg);
		cr_assert_str_eq(r[i].dir, r[0].dir);
	}
	cr_assert_eq(count_entries(cache, ".tmp-"), 0, "the losers' directories are removed");
	_cleanup_free_ char *w = xasprintf("%s/weights.bin", r[0].dir);
	cr_assert(exists(w));
	for (size_t i = 0; i < ELEMENTSOF(r); i++)
		result_free(&r[i]);
}

Test(modeldata, missing_file_fails_naming_the_path)
{
	_cleanup_free_ char *url = xasprintf("file://%s/nope.tar.gz", tmp);
	_cleanup_(result_free) struct result r = prepare(url);
	cr_assert_eq(r.err, -ENOENT);
	cr_assert_null(r.dir);
	cr_assert(strstr(r.msg, "/nope.tar.gz"), "%s", r.msg);
	cr_assert(strstr(r.msg, "No such file"), "%s", r.msg);
}

Test(modeldata, corrupt_tarball_fails_with_tars_words)
{
	write_file("bad.tar.gz", "this is not a tarball\n");
	_cleanup_free_ char *url = xasprintf("file://%s/bad.tar.gz", tmp);
	_cleanup_(result_free) struct result r = prepare(url);
	cr_assert_lt(r.err, 0);
	cr_assert_null(r.dir);
	cr_assert(strstr(r.msg, url), "the message names the URL: %s", r.msg);
	cr_assert(strstr(r.msg, "not in gzip format"), "%s", r.msg);
	cr_assert(strstr(r.msg, "tar"), "%s", r.msg);
	cr_assert_null(strchr(r.msg, '\n'), "one line: %s", r.msg);
	cr_assert_eq(count_entries(cache, ".tmp-"), 0, "the partial extraction is removed");
	cr_assert_eq(count_entries(cache, ""), 2, "nothing is cached");
}

Test(modeldata, member_named_dotdot_does_not_escape)
{
	sh("mkdir -p %s/src && echo evil > %s/src/evil", tmp, tmp);
	sh("tar -czf %s/evil.tar.gz -C %s/src --transform 's,^,../,' evil 2>/dev/null", tmp, tmp);
	sh("tar -tzf %s/evil.tar.gz 2>/dev/null | grep -qx '[.][.]/evil'", tmp);
	_cleanup_free_ char *url = xasprintf("%s/evil.tar.gz", tmp);
	_cleanup_(result_free) struct result r = prepare(url);
	cr_assert_lt(r.err, 0, "GNU tar refuses the member and fails");
	cr_assert(strstr(r.msg, "Member name contains '..'"), "%s", r.msg);
	_cleanup_free_ char *escaped = xasprintf("%s/evil", cache);
	cr_assert_not(exists(escaped));
	cr_assert_eq(count_entries(cache, ""), 2);
}

Test(modeldata, absolute_member_lands_inside_the_cache)
{
	_cleanup_free_ char *abs = xasprintf("%s/victim", tmp);
	write_file("victim", "original");
	sh("tar -czPf %s/abs.tar.gz %s 2>/dev/null", tmp, abs);
	write_file("victim", "unchanged");
	_cleanup_free_ char *url = xasprintf("%s/abs.tar.gz", tmp);
	_cleanup_(result_free) struct result r = prepare(url);
	cr_assert_eq(r.err, 0, "%s", r.msg);
	_cleanup_free_ char *victim = read_file(abs);
	cr_assert_str_eq(victim, "unchanged");
	_cleanup_free_ char *inside = xasprintf("%s%s", r.dir, abs);
	_cleanup_free_ char *c = read_file(inside);
	cr_assert_str_eq(c, "original");
}

Test(modeldata, symlink_member_does_not_redirect_later_members)
{
	sh("mkdir -p %s/outside %s/s1 %s/s2/link", tmp, tmp, tmp);
	sh("ln -s %s/outside %s/s1/link && echo pwned > %s/s2/link/pwned", tmp, tmp, tmp);
	sh("tar -cf %s/sym.tar -C %s/s1 link && tar -rf %s/sym.tar -C %s/s2 link/pwned", tmp, tmp,
	   tmp, tmp);
	_cleanup_free_ char *url = xasprintf("%s/sym.tar", tmp);
	_cleanup_(result_free) struct result r = prepare(url); /* GNU tar fails: fine too */
	_cleanup_free_ char *outside = xasprintf("%s/outside", tmp);
	cr_assert_eq(count_entries(outside, ""), 2, "%s must stay empty", outside);
}

Test(modeldata, times_out_and_kills_tar_when_the_archive_never_arrives)
{
	_cleanup_free_ char *fifo = xasprintf("%s/stuck.tar.gz", tmp);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	uint64_t t0 = now_monotonic_ms();
	_cleanup_(result_free) struct result r = prepare_ms(fifo, 300);
	uint64_t took = now_monotonic_ms() - t0;
	cr_assert_eq(r.err, -ETIMEDOUT);
	cr_assert_null(r.dir);
	cr_assert(strstr(r.msg, "timed out after 300 ms"), "%s", r.msg);
	cr_assert(strstr(r.msg, fifo), "%s", r.msg);
	cr_assert_lt(took, 5000, "the loop emptied only after %llu ms", (unsigned long long)took);
	cr_assert_eq(count_entries(cache, ".tmp-"), 0);
}

Test(modeldata, timeout_in_seconds_bounds_the_whole_preparation)
{
	struct event_base *base = event_base_new();
	_cleanup_(result_free) struct result r = {0};

	_cleanup_free_ char *fifo = xasprintf("%s/stuck.tar", tmp);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	uint64_t t0 = now_monotonic_ms();
	modeldata_prepare(base, NULL, &policy, fifo, cache, 1, on_done, &r);
	event_base_dispatch(base);
	event_base_free(base);
	uint64_t took = now_monotonic_ms() - t0;
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.err, -ETIMEDOUT);
	cr_assert(strstr(r.msg, "timed out after 1 s"), "%s", r.msg);
	cr_assert_geq(took, 900);
	cr_assert_lt(took, 5000);
}

Test(modeldata, unsupported_scheme_is_refused_clearly)
{
	_cleanup_(result_free) struct result r = prepare("s3://bucket/model.tar.gz");
	cr_assert_eq(r.err, -EPROTONOSUPPORT);
	cr_assert(strstr(r.msg, "s3://bucket/model.tar.gz"), "%s", r.msg);
	cr_assert(strstr(r.msg, "unsupported URL scheme"), "%s", r.msg);
}

Test(modeldata, relative_path_is_refused)
{
	_cleanup_(result_free) struct result r = prepare("models/x.tar.gz");
	cr_assert_eq(r.err, -EINVAL);
	cr_assert(strstr(r.msg, "models/x.tar.gz"), "%s", r.msg);
}

Test(modeldata, file_url_with_a_host_is_refused)
{
	_cleanup_(result_free) struct result r = prepare("file://fileserver/srv/m.tar.gz");
	cr_assert_eq(r.err, -EINVAL);
	cr_assert(strstr(r.msg, "file:///absolute/path"), "%s", r.msg);
}

Test(modeldata, file_that_is_not_a_tarball_is_refused)
{
	write_file("model.zip", "PK");
	_cleanup_free_ char *path = xasprintf("%s/model.zip", tmp);
	_cleanup_(result_free) struct result r = prepare(path);
	cr_assert_eq(r.err, -EINVAL);
	cr_assert(strstr(r.msg, "neither a directory nor"), "%s", r.msg);
}

Test(modeldata, http_without_a_client_is_refused)
{
	_cleanup_(result_free) struct result r = prepare("http://127.0.0.1:1/model.tar.gz");
	cr_assert_eq(r.err, -EPROTONOSUPPORT);
	cr_assert(strstr(r.msg, "http://127.0.0.1:1/model.tar.gz"), "%s", r.msg);
}

/* An in-process HTTP server on the test's loop: /model.tar.gz and /blob (the
 * same tarball, no suffix, not gzipped) are served; /stall never answers;
 * anything else is a 404 with an S3-like body. */
struct server {
	struct evhttp *http;
	int port;
	int requests;
	char *tgz; /* body of /model.tar.gz */
	size_t tgz_len;
	char *tar;
	size_t tar_len;
};

static void server_cb(struct evhttp_request *req, void *arg)
{
	struct server *s = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *b = evbuffer_new();

	s->requests++;
	if (strcmp(uri, "/stall") == 0) {
		evbuffer_free(b);
		return;
	}
	if (strcmp(uri, "/model.tar.gz") == 0) {
		evbuffer_add(b, s->tgz, s->tgz_len);
		evhttp_send_reply(req, 200, "OK", b);
	} else if (strcmp(uri, "/blob") == 0) {
		evbuffer_add(b, s->tar, s->tar_len);
		evhttp_send_reply(req, 200, "OK", b);
	} else {
		evbuffer_add_printf(b, "<Error><Code>NoSuchKey</Code></Error>\n");
		evhttp_send_reply(req, 404, "Not Found", b);
	}
	evbuffer_free(b);
}

/* The whole of a file. */
static char *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	cr_assert(f, "%s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	p = xmalloc((size_t)n + 1);
	cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*ret_len = (size_t)n;
	return p;
}

static void server_start(struct server *s, struct event_base *base)
{
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	make_model_tarball();
	sh("tar -cf %s/model.tar -C %s/src .", tmp, tmp);
	_cleanup_free_ char *tgz = xasprintf("%s/model.tar.gz", tmp);
	_cleanup_free_ char *tar = xasprintf("%s/model.tar", tmp);
	s->tgz = slurp(tgz, &s->tgz_len);
	s->tar = slurp(tar, &s->tar_len);
	s->http = evhttp_new(base);
	bs = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
	cr_assert(bs);
	cr_assert_eq(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &len), 0);
	s->port = ntohs(sin.sin_port);
	evhttp_set_gencb(s->http, server_cb, s);
}

/* Prepares http://127.0.0.1:<port><path> against a fresh server. */
static struct result prepare_http(const char *path, uint64_t timeout_ms, uint64_t max_download,
                                  int *ret_requests)
{
	struct event_base *base = event_base_new();
	struct httpc *h = httpc_new(base);
	struct server s = {0};
	struct result r = {.base = base};

	server_start(&s, base);
	_cleanup_free_ char *url = xasprintf("http://127.0.0.1:%d%s", s.port, path);
	snprintf(url_prefix, sizeof(url_prefix), "http://127.0.0.1:%d/", s.port);
	for (int i = 0; i < 2; i++) { /* the second one must hit the cache */
		modeldata_prepare_ms(base, h, &policy, url, cache, timeout_ms, max_download,
		                     on_done, &r);
		cr_assert_eq(r.calls, i, "done was called from inside modeldata_prepare()");
		event_base_dispatch(base);
		cr_assert_eq(r.calls, i + 1, "done was called %d times", r.calls);
		if (r.err)
			break;
	}
	/* Stop both ends, then let the loop finish what is left (cleanup). */
	httpc_free(h);
	evhttp_free(s.http);
	r.base = NULL;
	event_base_dispatch(base);
	event_base_free(base);
	free(s.tgz);
	free(s.tar);
	cr_assert_eq(count_entries(cache, ".dl-"), 0, "the download is removed");
	cr_assert_eq(count_entries(cache, ".tmp-"), 0);
	*ret_requests = s.requests;
	return r;
}

Test(modeldata, http_tarball_is_downloaded_unpacked_and_cached_by_url)
{
	int requests;
	_cleanup_(result_free) struct result r = prepare_http("/model.tar.gz", 10000, 0, &requests);
	cr_assert_eq(r.err, 0, "%s", r.msg);
	cr_assert_eq(requests, 1, "the second prepare must not download again");
	_cleanup_free_ char *w = xasprintf("%s/weights.bin", r.dir);
	_cleanup_free_ char *wc = read_file(w);
	cr_assert_str_eq(wc, "weights-v1");
}

Test(modeldata, http_uncompressed_tar_is_recognised_without_a_suffix)
{
	int requests;
	_cleanup_(result_free) struct result r = prepare_http("/blob", 10000, 0, &requests);
	cr_assert_eq(r.err, 0, "%s", r.msg);
	_cleanup_free_ char *py = xasprintf("%s/code/inference.py", r.dir);
	cr_assert(exists(py));
}

Test(modeldata, http_error_status_fails_with_status_and_body)
{
	int requests;
	_cleanup_(result_free) struct result r =
	    prepare_http("/missing.tar.gz", 10000, 0, &requests);
	cr_assert_eq(r.err, -EIO);
	cr_assert(strstr(r.msg, "/missing.tar.gz"), "%s", r.msg);
	cr_assert(strstr(r.msg, "HTTP status 404"), "%s", r.msg);
	cr_assert(strstr(r.msg, "NoSuchKey"), "%s", r.msg);
	cr_assert_eq(count_entries(cache, ""), 2, "nothing is cached");
}

Test(modeldata, http_download_over_the_cap_fails)
{
	int requests;
	_cleanup_(result_free) struct result r =
	    prepare_http("/model.tar.gz", 10000, 64, &requests);
	cr_assert_eq(r.err, -EFBIG);
	cr_assert(strstr(r.msg, "larger than 64 bytes"), "%s", r.msg);
}

Test(modeldata, http_download_that_stalls_times_out)
{
	int requests;
	uint64_t t0 = now_monotonic_ms();
	_cleanup_(result_free) struct result r = prepare_http("/stall", 300, 0, &requests);
	cr_assert_eq(r.err, -ETIMEDOUT);
	cr_assert(strstr(r.msg, "timed out after 300 ms while downloading"), "%s", r.msg);
	cr_assert_lt(now_monotonic_ms() - t0, 5000);
}

/* --- model_data_roots and model_data_urls --------------------------------- */

/* The error of modeldata_check_url(), which must refuse url with err. */
static char *check_error(const struct modeldata_policy *p, const char *url, int err)
{
	char *error = NULL;
	int r = modeldata_check_url(p, url, &error);

	cr_assert_eq(r, err, "%s: %d (%s)", url, r, error ? error : "accepted");
	cr_assert_not_null(error, "%s", url);
	return error;
}

/* modeldata_check_url() must accept url. */
static void check_ok(const struct modeldata_policy *p, const char *url)
{
	_cleanup_free_ char *error = NULL;
	int r = modeldata_check_url(p, url, &error);

	cr_assert_eq(r, 0, "%s: %s", url, error ? error : "?");
	cr_assert_null(error);
}

/* <tmp>/../outside: a directory beside the root, with a tarball in it. */
static char *make_outside(void)
{
	char *outside = xasprintf("%s/../outside", tmp);
	sh("mkdir -p %s/src && echo secret > %s/src/secret && tar -czf %s/secret.tar.gz -C "
	   "%s/src .",
	   outside, outside, outside, outside);
	return outside;
}

Test(modeldata, check_accepts_no_url)
{
	check_ok(&policy, NULL);
	check_ok(&policy, "");
	check_ok(NULL, "");
}

Test(modeldata, check_accepts_a_path_inside_a_root_whether_or_not_it_exists)
{
	_cleanup_free_ char *url = xasprintf("file://%s/model.tar.gz", tmp);
	_cleanup_free_ char *plain = xasprintf("%s/dir/", tmp);

	check_ok(&policy, url);
	check_ok(&policy, plain);
	check_ok(&policy, root); /* the root itself */
	make_model_tarball();
	check_ok(&policy, url);
}

Test(modeldata, check_refuses_a_path_outside_every_root_naming_them)
{
	_cleanup_free_ char *error = check_error(&policy, "file:///etc/passwd", -EPERM);
	_cleanup_free_ char *want = xasprintf(
	    "ModelDataUrl \"file:///etc/passwd\" is not under any of model_data_roots (%s)", root);

	cr_assert_str_eq(error, want);
	free(check_error(&policy, "/etc", -EPERM));
	free(check_error(&policy, "file:///", -EPERM));
}

Test(modeldata, check_refuses_a_sibling_that_only_shares_the_roots_prefix)
{
	_cleanup_free_ char *url = xasprintf("%s-evil/model.tar.gz", root);
	free(check_error(&policy, url, -EPERM));
}

Test(modeldata, check_refuses_dotdot_that_leads_out_of_the_root)
{
	_cleanup_free_ char *url = xasprintf("file://%s/../outside/secret.tar.gz", tmp);
	_cleanup_free_ char *deep = xasprintf("%s/a/b/../../../etc", tmp);

	free(check_error(&policy, url, -EPERM));
	free(check_error(&policy, deep, -EPERM));
}

Test(modeldata, check_accepts_dotdot_that_stays_inside_the_root)
{
	_cleanup_free_ char *url = xasprintf("file://%s/a/../b/model.tar.gz", tmp);
	check_ok(&policy, url);
}

Test(modeldata, check_refuses_percent_encoded_dotdot_that_leads_out)
{
	_cleanup_free_ char *url = xasprintf("file://%s/%%2e%%2E/outside/secret.tar.gz", tmp);
	free(check_error(&policy, url, -EPERM));
}

Test(modeldata, check_refuses_a_symlink_that_leads_out_naming_its_target)
{
	_cleanup_free_ char *outside = make_outside(), *real = realpath(outside, NULL);
	sh("ln -s %s %s/escape", outside, tmp);
	_cleanup_free_ char *url = xasprintf("file://%s/escape/secret.tar.gz", tmp);
	_cleanup_free_ char *error = check_error(&policy, url, -EPERM);
	_cleanup_free_ char *want =
	    xasprintf("resolves to %s/secret.tar.gz, which is not under any "
	              "of model_data_roots (%s)",
	              real, root);

	cr_assert(strstr(error, want), "%s", error);
}

Test(modeldata, check_accepts_a_symlink_that_stays_inside_the_root)
{
	make_model_tarball();
	sh("ln -s model.tar.gz %s/current.tar.gz", tmp);
	_cleanup_free_ char *url = xasprintf("file://%s/current.tar.gz", tmp);
	check_ok(&policy, url);
}

Test(modeldata, check_accepts_a_root_that_is_itself_a_symlink)
{
	_cleanup_free_ char *link = xasprintf("%s-link", root);
	char *link_roots[] = {link};
	struct modeldata_policy p = {.roots = link_roots, .n_roots = 1};

	make_model_tarball();
	sh("ln -s %s %s", root, link);
	_cleanup_free_ char *url = xasprintf("%s/model.tar.gz", link);
	check_ok(&p, url);
	unlink(link);
}

Test(modeldata, check_refuses_a_file_url_with_a_host_but_takes_localhost)
{
	_cleanup_free_ char *local = xasprintf("file://localhost%s/m.tar.gz", tmp);
	_cleanup_free_ char *other = xasprintf("file://fileserver%s/m.tar.gz", tmp);
	_cleanup_free_ char *error = check_error(&policy, other, -EINVAL);

	cr_assert(strstr(error, "file:///absolute/path"), "%s", error);
	check_ok(&policy, local);
}

Test(modeldata, check_decodes_percent_escapes_before_comparing)
{
	_cleanup_free_ char *url = xasprintf("file://%s/my%%20model", tmp);
	_cleanup_free_ char *nul = xasprintf("file://%s/a%%00b", tmp);

	check_ok(&policy, url);
	free(check_error(&policy, nul, -EINVAL));
}

Test(modeldata, check_refuses_every_path_when_no_root_is_configured)
{
	struct modeldata_policy none = {0};
	_cleanup_free_ char *url = xasprintf("file://%s/model.tar.gz", tmp);
	_cleanup_free_ char *error = check_error(&none, url, -EPERM);

	cr_assert(strstr(error, "model_data_roots (none are configured)"), "%s", error);
	free(check_error(NULL, url, -EPERM));
}

Test(modeldata, check_takes_http_urls_under_a_prefix_only)
{
	char *p[] = {(char *)"https://models.example.com/", (char *)"http://10.0.0.1:8000"};
	struct modeldata_policy web = {.url_prefixes = p, .n_url_prefixes = 2};

	check_ok(&web, "https://models.example.com/resnet/model.tar.gz");
	check_ok(&web, "http://10.0.0.1:8000/m.tar.gz");
	_cleanup_free_ char *error =
	    check_error(&web, "https://evil.example.com/model.tar.gz", -EPERM);
	cr_assert(strstr(error, "is not under any of model_data_urls (https://models.example.com/, "
	                        "http://10.0.0.1:8000)"),
	          "%s", error);
	free(check_error(&web, "http://10.0.0.1:80001/m.tar.gz", -EPERM));
	free(check_error(&web, "http://10.0.0.1:8000@evil.example.com/m.tar.gz", -EPERM));
	free(check_error(&web, "https://models.example.com.evil.net/m.tar.gz", -EPERM));
	free(check_error(&policy, "https://models.example.com/m.tar.gz", -EPERM));
}

Test(modeldata, check_refuses_http_dot_segments_that_could_leave_the_prefix)
{
	char *p[] = {(char *)"https://models.example.com/team-a/"};
	struct modeldata_policy web = {.url_prefixes = p, .n_url_prefixes = 1};

	free(check_error(&web, "https://models.example.com/team-a/../team-b/m.tar.gz", -EPERM));
	free(check_error(&web, "https://models.example.com/team-a/%2E%2e/team-b/m.tar.gz", -EPERM));
	free(check_error(&web, "https://models.example.com/team-a/./m.tar.gz", -EPERM));
	check_ok(&web, "https://models.example.com/team-a/m..tar.gz?v=../x");
}

Test(modeldata, normalize_path_resolves_dots_and_slashes_lexically)
{
	static const char *const cases[][2] = {
	    {"/", "/"},
	    {"//", "/"},
	    {"/srv/models/", "/srv/models"},
	    {"/srv//models", "/srv/models"},
	    {"/srv/./models/.", "/srv/models"},
	    {"/srv/x/../models", "/srv/models"},
	    {"/../..", "/"},
	    {"/srv/models/..", "/srv"},
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *n = modeldata_normalize_path(cases[i][0]);
		cr_assert_str_eq(n, cases[i][1], "%s", cases[i][0]);
	}
	cr_assert_null(modeldata_normalize_path("srv/models"));
	cr_assert_null(modeldata_normalize_path(""));
}

Test(modeldata, prepare_refuses_a_path_outside_the_roots)
{
	_cleanup_free_ char *outside = make_outside();
	_cleanup_free_ char *url = xasprintf("file://%s/secret.tar.gz", outside);
	_cleanup_(result_free) struct result r = prepare(url);

	cr_assert_eq(r.err, -EPERM);
	cr_assert_null(r.dir);
	cr_assert(strstr(r.msg, "not under any of model_data_roots"), "%s", r.msg);
	cr_assert_not(exists(cache), "nothing was unpacked");
}

Test(modeldata, prepare_refuses_a_symlink_that_leads_out)
{
	_cleanup_free_ char *outside = make_outside();
	sh("ln -s %s/secret.tar.gz %s/model.tar.gz && ln -s %s/src %s/dir", outside, tmp, outside,
	   tmp);
	_cleanup_free_ char *dir = xasprintf("%s/dir", tmp);
	_cleanup_free_ char *url = xasprintf("file://%s/model.tar.gz", tmp);
	_cleanup_(result_free) struct result r1 = prepare(url);
	_cleanup_(result_free) struct result r2 = prepare(dir);

	cr_assert_eq(r1.err, -EPERM, "%s", r1.msg);
	cr_assert(strstr(r1.msg, "resolves to"), "%s", r1.msg);
	cr_assert_eq(r2.err, -EPERM, "%s", r2.msg);
	cr_assert_null(r2.dir);
}

Test(modeldata, prepare_refuses_an_http_url_under_no_prefix)
{
	_cleanup_(result_free) struct result r = prepare("http://127.0.0.1:2/model.tar.gz");

	cr_assert_eq(r.err, -EPERM);
	cr_assert(strstr(r.msg, "model_data_urls (http://127.0.0.1:1/)"), "%s", r.msg);
}

Test(modeldata, prepare_mounts_a_directory_reached_through_a_symlink_by_its_real_path)
{
	sh("mkdir -p %s/real && ln -s real %s/current", tmp, tmp);
	_cleanup_free_ char *url = xasprintf("%s/current", tmp);
	_cleanup_free_ char *want = xasprintf("%s/real", tmp);
	_cleanup_free_ char *real = realpath(want, NULL);
	_cleanup_(result_free) struct result r = prepare(url);

	cr_assert_eq(r.err, 0, "%s", r.msg);
	cr_assert_str_eq(r.dir, real);
}

Test(modeldata, archive_swapped_for_a_symlink_after_the_check_is_not_what_is_unpacked)
{
	struct event_base *base = event_base_new();
	_cleanup_(result_free) struct result r = {0};
	_cleanup_free_ char *outside = make_outside();

	make_model_tarball();
	_cleanup_free_ char *url = xasprintf("%s/model.tar.gz", tmp);
	_cleanup_free_ char *swap = xasprintf("%s/swap", tmp);
	sh("ln -s %s/secret.tar.gz %s", outside, swap);
	/* A tar that takes its time to start, so that the swap below comes
	 * before it could open anything by name. */
	_cleanup_free_ char *bin = xasprintf("%s/bin", outside);
	_cleanup_free_ char *path = xstrdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	_cleanup_free_ char *slow_path = xasprintf("%s:%s", bin, path);
	sh("mkdir -p %s && printf '#!/bin/sh\\nsleep 0.3\\nexec %%s \"$@\"\\n' \"$(command -v "
	   "tar)\" > %s/tar && chmod +x %s/tar",
	   bin, bin, bin);
	setenv("PATH", slow_path, 1);
	modeldata_prepare_ms(base, NULL, &policy, url, cache, 10000, 0, on_done, &r);
	/* Checked and opened, tar started: now point the path outside. */
	cr_assert_eq(rename(swap, url), 0);
	event_base_dispatch(base);
	event_base_free(base);
	setenv("PATH", path, 1);

	cr_assert_eq(r.err, 0, "%s", r.msg);
	_cleanup_free_ char *w = xasprintf("%s/weights.bin", r.dir);
	_cleanup_free_ char *s = xasprintf("%s/secret", r.dir);
	cr_assert(exists(w), "the archive that was checked is unpacked");
	cr_assert_not(exists(s), "the one swapped in is not");
}

/* --- the cache's bound ------------------------------------------------------ */

/* Prepares the tarball <tmp>/<name>.tar.gz (made here unless it is there),
 * returning its entry (the directory above <entry>/model). */
static char *prepare_entry(const char *name)
{
	sh("test -e %s/%s.tar.gz || { mkdir -p %s/s-%s && echo %s > %s/s-%s/f && tar -czf "
	   "%s/%s.tar.gz -C %s/s-%s .; }",
	   tmp, name, tmp, name, name, tmp, name, tmp, name, tmp, name);
	_cleanup_free_ char *url = xasprintf("%s/%s.tar.gz", tmp, name);
	_cleanup_(result_free) struct result r = prepare(url);
	cr_assert_eq(r.err, 0, "%s", r.msg);
	cr_assert(str_has_suffix(r.dir, "/model"), "%s", r.dir);
	return xstrndup(r.dir, strlen(r.dir) - strlen("/model"));
}

/* The URL prepare_entry() used for name. */
static char *entry_url(const char *name)
{
	return xasprintf("%s/%s.tar.gz", tmp, name);
}

/* Sets an entry's recorded size and last use (seconds since the epoch). */
static void entry_set(const char *entry, uint64_t size, time_t used)
{
	_cleanup_free_ char *size_file = xasprintf("%s/size", entry);
	FILE *f = fopen(size_file, "w");
	struct timespec ts[2] = {{used, 0}, {used, 0}};

	cr_assert(f);
	fprintf(f, "%llu\n", (unsigned long long)size);
	fclose(f);
	cr_assert_eq(utimensat(AT_FDCWD, entry, ts, 0), 0);
}

/* Trims and runs a loop until the rm child is reaped. */
static struct modeldata_trim_stats trim(uint64_t max, const char *const *urls, size_t n)
{
	struct event_base *base = event_base_new();
	struct modeldata_trim_stats st;

	cr_assert_eq(modeldata_cache_trim(base, cache, max, urls, n, &st), 0);
	event_base_dispatch(base);
	event_base_free(base);
	cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "every child has been reaped");
	cr_assert_eq(count_entries(cache, ".trash-"), 0, "the trash is emptied");
	return st;
}

Test(modeldata, an_entry_records_what_tar_unpacked)
{
	_cleanup_free_ char *entry = prepare_entry("a");
	_cleanup_free_ char *size_file = xasprintf("%s/size", entry);
	_cleanup_free_ char *text = read_file(size_file);

	cr_assert_not_null(text);
	cr_assert_geq(strtoull(text, NULL, 10), 512, "%s", text);
}

Test(modeldata, trim_of_a_missing_cache_is_a_no_op)
{
	struct modeldata_trim_stats st = trim(0, NULL, 0);
	cr_assert_eq(st.removed, 0);
	cr_assert_eq(st.bytes_kept, 0);
}

Test(modeldata, trim_removes_an_entry_no_endpoint_uses_when_over_the_bound)
{
	_cleanup_free_ char *entry = prepare_entry("a");
	struct modeldata_trim_stats st = trim(0, NULL, 0);

	cr_assert_eq(st.removed, 1);
	cr_assert_gt(st.bytes_removed, 0);
	cr_assert_not(exists(entry));
	cr_assert_eq(count_entries(cache, ""), 2, "the cache is empty");
}

Test(modeldata, trim_keeps_unused_entries_while_under_the_bound)
{
	_cleanup_free_ char *entry = prepare_entry("a");
	struct modeldata_trim_stats st = trim(UINT64_C(1) << 30, NULL, 0);

	cr_assert_eq(st.removed, 0);
	cr_assert(exists(entry));
}

Test(modeldata, trim_never_removes_an_entry_in_use_even_over_the_bound)
{
	_cleanup_free_ char *entry = prepare_entry("a"), *url = entry_url("a");
	const char *urls[] = {url};
	struct modeldata_trim_stats st = trim(0, urls, 1);

	cr_assert_eq(st.removed, 0);
	cr_assert(exists(entry));
	cr_assert_gt(st.bytes_in_use, 0, "it reports what is in use over the bound");
	cr_assert_eq(st.bytes_in_use, st.bytes_kept);
}

Test(modeldata, trim_keeps_every_version_of_a_url_in_use)
{
	_cleanup_free_ char *v1 = prepare_entry("a");
	sh("echo v2 > %s/s-a/g && rm %s/a.tar.gz", tmp, tmp);
	_cleanup_free_ char *v2 = prepare_entry("a"), *url = entry_url("a");
	const char *urls[] = {url};

	cr_assert_str_neq(v1, v2);
	trim(0, urls, 1);
	cr_assert(exists(v1), "an adopted container may still have it mounted");
	cr_assert(exists(v2));
}

Test(modeldata, trim_removes_least_recently_used_first_until_under_the_bound)
{
	_cleanup_free_ char *a = prepare_entry("a"), *b = prepare_entry("b"),
	                    *c = prepare_entry("c");
	_cleanup_free_ char *d = prepare_entry("d"), *url_d = entry_url("d");
	const char *urls[] = {url_d};

	entry_set(a, 100, 1000); /* oldest */
	entry_set(b, 100, 3000);
	entry_set(c, 100, 2000);
	entry_set(d, 100, 500); /* oldest of all, but in use */
	struct modeldata_trim_stats st = trim(250, urls, 1);

	cr_assert_eq(st.removed, 2);
	cr_assert_eq(st.bytes_removed, 200);
	cr_assert_eq(st.bytes_kept, 200);
	cr_assert_not(exists(a));
	cr_assert_not(exists(c));
	cr_assert(exists(b));
	cr_assert(exists(d));
}

Test(modeldata, a_cache_hit_counts_as_a_use)
{
	_cleanup_free_ char *a = prepare_entry("a"), *b = prepare_entry("b");

	entry_set(a, 100, 1000);
	entry_set(b, 100, 2000);
	_cleanup_free_ char *again = prepare_entry("a"); /* a hit: a is the newest now */
	cr_assert_str_eq(again, a);
	trim(100, NULL, 0);
	cr_assert(exists(a));
	cr_assert_not(exists(b));
}

Test(modeldata, trim_removes_leftovers_of_other_daemons_only)
{
	_cleanup_free_ char *theirs = xasprintf("%s/.tmp-0123456789abcdef-1-0", cache);
	_cleanup_free_ char *dl = xasprintf("%s/.dl-0123456789abcdef-1-3", cache);
	_cleanup_free_ char *ours =
	    xasprintf("%s/.tmp-0123456789abcdef-%d-7", cache, (int)getpid());
	_cleanup_free_ char *legacy = xasprintf("%s/0123456789abcdef", cache);
	_cleanup_free_ char *other = xasprintf("%s/README", cache);

	sh("mkdir -p %s/model %s %s && touch %s %s", theirs, ours, legacy, dl, other);
	struct modeldata_trim_stats st = trim(0, NULL, 0);

	cr_assert_eq(st.stale, 2);
	cr_assert_not(exists(theirs));
	cr_assert_not(exists(dl));
	cr_assert(exists(ours), "a preparation of this process may still be running");
	cr_assert(exists(legacy), "names it does not know are left alone");
	cr_assert(exists(other));
}

Test(modeldata, trim_removes_leftovers_of_an_earlier_daemon_that_had_our_pid)
{
	_cleanup_free_ char *old = xasprintf("%s/.tmp-0123456789abcdef-%d-0", cache, (int)getpid());
	struct timespec ts[2] = {{1000, 0}, {1000, 0}};

	sh("mkdir -p %s", old);
	cr_assert_eq(utimensat(AT_FDCWD, old, ts, 0), 0);
	struct modeldata_trim_stats st = trim(0, NULL, 0);

	cr_assert_eq(st.stale, 1);
	cr_assert_not(exists(old));
}

Test(modeldata, a_removed_entry_is_unpacked_again_on_the_next_prepare)
{
	_cleanup_free_ char *a = prepare_entry("a");
	trim(0, NULL, 0);
	cr_assert_not(exists(a));
	_cleanup_free_ char *again = prepare_entry("a");
	_cleanup_free_ char *f = xasprintf("%s/model/f", again);
	cr_assert(exists(f));
}

Test(modeldata, check_refuses_the_state_dir_what_is_in_it_and_what_holds_it)
{
	_cleanup_free_ char *state = xasprintf("%s/state", tmp);
	struct modeldata_policy p = policy;
	p.state_dir = state;

	sh("mkdir -p %s/state/models %s/data && ln -s state %s/alias", tmp, tmp, tmp);
	_cleanup_free_ char *inside = xasprintf("file://%s/journal", state);
	_cleanup_free_ char *alias = xasprintf("%s/alias/models", tmp);
	_cleanup_free_ char *beside = xasprintf("%s/data", tmp);
	_cleanup_free_ char *error = check_error(&p, inside, -EPERM);

	cr_assert(strstr(error, "in or above the daemon's state_dir"), "%s", error);
	free(check_error(&p, tmp, -EPERM));
	free(check_error(&p, alias, -EPERM));
	check_ok(&p, beside);
}
