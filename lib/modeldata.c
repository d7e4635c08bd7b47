/*
 * Model data: ModelDataUrl -> a host directory to bind-mount read-only.
 *
 * DESIGN
 *
 * One struct modeldata_op per call walks: classify the URL (synchronously;
 * stat() and realpath() are metadata calls) -> download when it is http(s)
 * (httpc, streamed into <cache_dir>/.dl-<hash>-<pid>-<n>) -> unpack (a tar
 * child extracts into <cache_dir>/.tmp-<hash>-<pid>-<n>, which is renamed to
 * <cache_dir>/<hash> once tar has succeeded) -> deliver.  The rename is the
 * commit point: a cache directory is either complete or absent, a hit costs
 * one stat(), and when two preparations of the same archive race the loser
 * uses the winner's directory and throws its own away.
 *
 * Every way out goes through op_finish(), which keeps the first result,
 * cancels a download, kills a tar that is still running and arms a zero timer
 * that calls done.  A killed tar must still be reaped, so the op outlives its
 * callback until its child is gone; it then removes what it left behind
 * (rm -rf, another child) and frees itself (op_settle()).
 *
 * Children are watched through a pidfd, or by polling waitpid(WNOHANG) where
 * pidfd_open() is refused (old kernels, seccomp).  They run in their own
 * process group, so that the SIGKILL on timeout also reaches the gzip that tar
 * forked, with a minimal environment (no TAR_OPTIONS, C locale messages).
 */
#define _GNU_SOURCE
#include "modeldata.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "httpc.h"
#include "log.h"
#include "util.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define MODELDATA_STDERR_MAX 1024 /* of a child's stderr kept for the message */
#define MODELDATA_HEAD_MAX 512    /* first bytes of a download: gzip sniffing, errors */
#define MODELDATA_POLL_MS 20      /* child polling when there is no pidfd */

enum modeldata_child {
	MODELDATA_CHILD_NONE,
	MODELDATA_CHILD_TAR,
	MODELDATA_CHILD_RM,
};

/* One preparation.  It owns itself: op_settle() frees it once done has been
 * called and no child, request or event can reach it any more. */
struct modeldata_op {
	struct event_base *base;
	struct httpc *h; /* borrowed */
	char *url;
	char *cache_dir;
	uint64_t timeout_ms;
	uint64_t max_download;
	modeldata_done_fn done;
	void *userdata;
	struct event *timer;   /* the deadline */
	struct event *deliver; /* zero timer that calls done */
	uint64_t deadline_ms;  /* monotonic */

	char *archive;   /* the tarball to unpack */
	bool gzip;       /* tar -z */
	uint64_t hash;   /* names the cache entry */
	char *final_dir; /* <cache_dir>/<hash> */
	char *tmp_dir;   /* extraction target; NULL when not made or renamed */
	char *dl_path;   /* the download; NULL when none */
	int dl_fd;
	uint64_t dl_len;
	int dl_err;
	long http_status;
	struct buf head;         /* first bytes of the body */
	struct httpc_call *call; /* the download, while it runs */

	enum modeldata_child child;
	pid_t pid; /* 0 when no child */
	int pidfd; /* -1 when polling */
	struct event *child_ev;
	int err_fd; /* the child's stderr, -1 when closed */
	struct event *err_ev;
	struct buf err;

	bool finished; /* result known, deliver armed */
	bool delivered;
	bool cleaned; /* cleanup started (or nothing to clean) */
	int result;
	char *result_dir;
	char *message;
};

static unsigned modeldata_seq;

static void op_settle(struct modeldata_op *op);

/* Frees the op and everything it holds. */
static void op_free(struct modeldata_op *op)
{
	if (op->timer)
		event_free(op->timer);
	if (op->deliver)
		event_free(op->deliver);
	if (op->child_ev)
		event_free(op->child_ev);
	if (op->err_ev)
		event_free(op->err_ev);
	if (op->pidfd >= 0)
		close(op->pidfd);
	if (op->err_fd >= 0)
		close(op->err_fd);
	if (op->dl_fd >= 0)
		close(op->dl_fd);
	free(op->url);
	free(op->cache_dir);
	free(op->archive);
	free(op->final_dir);
	free(op->tmp_dir);
	free(op->dl_path);
	buf_reset(&op->head);
	buf_reset(&op->err);
	free(op->result_dir);
	free(op->message);
	free(op);
}

/* Records the result (the first one wins), stops the work and arms delivery. */
static void __attribute__((format(printf, 4, 5)))
op_finish(struct modeldata_op *op, int err, const char *dir, const char *fmt, ...)
{
	static const struct timeval now = {0, 0};
	va_list ap;

	if (op->finished)
		return;
	op->finished = true;
	op->result = err;
	op->result_dir = dir ? xstrdup(dir) : NULL;
	if (fmt) {
		_cleanup_free_ char *m = NULL;
		va_start(ap, fmt);
		m = xvasprintf(fmt, ap);
		va_end(ap);
		op->message = xasprintf("model data %s: %s", op->url, m);
		log_debug("%s", op->message);
	}
	event_del(op->timer);
	httpc_cancel(op->call);
	op->call = NULL;
	if (op->pid > 0 && op->child == MODELDATA_CHILD_TAR)
		(void)kill(-op->pid, SIGKILL);
	event_add(op->deliver, &now);
}

/* Calls done, from the loop. */
static void op_deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	struct modeldata_op *op = arg;

	(void)fd;
	(void)what;
	op->delivered = true;
	if (op->result)
		op->done(op->result, NULL, op->message ? op->message : strerror(-op->result),
		         op->userdata);
	else
		op->done(0, op->result_dir, NULL, op->userdata);
	op_settle(op);
}

/* Fails the op at its deadline. */
static void op_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct modeldata_op *op = arg;
	const char *phase = op->child == MODELDATA_CHILD_TAR ? "unpacking with tar"
	                    : op->call                       ? "downloading"
	                                                     : "preparing";

	(void)fd;
	(void)what;
	op_finish(op, -ETIMEDOUT, NULL, "timed out after %" PRIu64 " %s while %s",
	          op->timeout_ms % 1000 ? op->timeout_ms : op->timeout_ms / 1000,
	          op->timeout_ms % 1000 ? "ms" : "s", phase);
}

/* A copy of s on one line: line breaks become "; ", other controls spaces. */
static char *text_oneline(const char *s, size_t n)
{
	struct buf b = {0};

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		n--;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '\n')
			buf_append(&b, "; ", 2);
		else
			buf_append(&b, (unsigned char)c < 0x20 || c == 0x7f ? " " : &c, 1);
	}
	return buf_steal(&b);
}

/* Reads what the child wrote to stderr, keeping the first
 * MODELDATA_STDERR_MAX bytes; closes the pipe at EOF. */
static void op_read_stderr(struct modeldata_op *op)
{
	char chunk[4096];
	ssize_t n;

	while (op->err_fd >= 0) {
		n = read(op->err_fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			event_free(op->err_ev);
			op->err_ev = NULL;
			close(op->err_fd);
			op->err_fd = -1;
			return;
		}
		if (op->err.len < MODELDATA_STDERR_MAX) {
			size_t room = MODELDATA_STDERR_MAX - op->err.len;
			buf_append(&op->err, chunk, (size_t)n < room ? (size_t)n : room);
		}
	}
}

/* The child's stderr is readable. */
static void op_stderr_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	op_read_stderr(arg);
}

/* tar is gone: commit its directory, or fail with its words. */
static void op_tar_exited(struct modeldata_op *op, int werr, int st)
{
	_cleanup_free_ char *words = text_oneline(op->err.data ? op->err.data : "", op->err.len);
	struct stat fst;

	if (werr)
		op_finish(op, werr, NULL, "cannot wait for tar: %s", strerror(-werr));
	else if (WIFSIGNALED(st))
		op_finish(op, -EIO, NULL, "tar was killed by signal %d%s%s", WTERMSIG(st),
		          *words ? ": " : "", words);
	else if (WEXITSTATUS(st) != 0)
		op_finish(op, -EIO, NULL, "tar failed (exit status %d)%s%s", WEXITSTATUS(st),
		          *words ? ": " : "", words);
	else if (rename(op->tmp_dir, op->final_dir) == 0) {
		free(op->tmp_dir);
		op->tmp_dir = NULL;
		op_finish(op, 0, op->final_dir, NULL);
	} else if ((errno == EEXIST || errno == ENOTEMPTY) && stat(op->final_dir, &fst) == 0 &&
	           S_ISDIR(fst.st_mode))
		op_finish(op, 0, op->final_dir, NULL); /* another preparation won */
	else
		op_finish(op, -errno, NULL, "cannot rename %s to %s: %s", op->tmp_dir,
		          op->final_dir, strerror(errno));
}

/* The child may have exited: reap it without blocking. */
static void op_child_cb(evutil_socket_t fd, short what, void *arg)
{
	struct modeldata_op *op = arg;
	enum modeldata_child kind = op->child;
	int st = 0, werr = 0;
	pid_t r;

	(void)fd;
	(void)what;
	do
		r = waitpid(op->pid, &st, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return;
	if (r < 0)
		werr = -errno; /* ECHILD: SIGCHLD ignored, or reaped by someone else */
	event_free(op->child_ev);
	op->child_ev = NULL;
	if (op->pidfd >= 0)
		close(op->pidfd);
	op->pidfd = -1;
	op->pid = 0;
	op->child = MODELDATA_CHILD_NONE;
	op_read_stderr(op); /* what is already in the pipe; gzip may hold it open */
	if (op->err_fd >= 0) {
		event_free(op->err_ev);
		op->err_ev = NULL;
		close(op->err_fd);
		op->err_fd = -1;
	}
	if (kind == MODELDATA_CHILD_TAR)
		op_tar_exited(op, werr, st);
	else if (werr || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		log_debug("model data %s: rm -rf failed; left behind in %s", op->url,
		          op->cache_dir);
	op_settle(op);
}

/* Starts argv[0] as the op's child, stdin/stdout on /dev/null and stderr
 * captured; 0 or -errno. */
static int op_spawn(struct modeldata_op *op, enum modeldata_child kind, const char *const *argv)
{
	static const int sigs[] = {SIGPIPE, SIGCHLD, SIGHUP,  SIGINT, SIGTERM,
	                           SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM};
	_cleanup_free_ char *path_env = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t mask, dfl;
	int pipefd[2], r;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	(void)fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	path_env =
	    xasprintf("PATH=%s", getenv("PATH") ? getenv("PATH") : "/usr/sbin:/usr/bin:/sbin:/bin");
	char *envp[] = {path_env, (char *)"LC_ALL=C", NULL};

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	posix_spawnattr_init(&attr);
	sigemptyset(&mask);
	sigemptyset(&dfl);
	for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
		sigaddset(&dfl, sigs[i]);
	posix_spawnattr_setsigmask(&attr, &mask);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
	                                    POSIX_SPAWN_SETPGROUP);
	r = posix_spawnp(&pid, argv[0], &fa, &attr, (char *const *)argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pipefd[1]);
	if (r) {
		close(pipefd[0]);
		return -r;
	}

	op->child = kind;
	op->pid = pid;
	op->err_fd = pipefd[0];
	buf_reset(&op->err);
	op->err_ev = event_new(op->base, op->err_fd, EV_READ | EV_PERSIST, op_stderr_cb, op);
	event_add(op->err_ev, NULL);
	op->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (op->pidfd >= 0) {
		op->child_ev =
		    event_new(op->base, op->pidfd, EV_READ | EV_PERSIST, op_child_cb, op);
		event_add(op->child_ev, NULL);
	} else {
		struct timeval tv = {0, MODELDATA_POLL_MS * 1000};
		op->child_ev = event_new(op->base, -1, EV_PERSIST, op_child_cb, op);
		event_add(op->child_ev, &tv);
	}
	log_debug("model data %s: started %s as pid %d", op->url, argv[0], (int)pid);
	return 0;
}

/* Removes the leftovers (tmp dir, download) with rm -rf; false when there is
 * nothing to wait for. */
static bool op_start_cleanup(struct modeldata_op *op)
{
	const char *argv[6] = {"rm", "-rf", "--"};
	size_t n = 3;
	int r;

	if (op->tmp_dir)
		argv[n++] = op->tmp_dir;
	if (op->dl_path)
		argv[n++] = op->dl_path;
	if (n == 3)
		return false;
	r = op_spawn(op, MODELDATA_CHILD_RM, argv);
	if (r < 0)
		log_debug("model data %s: cannot start rm: %s", op->url, strerror(-r));
	return r == 0;
}

/* Once finished and nothing runs any more: clean up, then free. */
static void op_settle(struct modeldata_op *op)
{
	if (!op->finished || op->pid > 0)
		return;
	if (!op->cleaned) {
		op->cleaned = true;
		if (op_start_cleanup(op))
			return;
	}
	if (op->delivered)
		op_free(op);
}

/* Makes <cache_dir>/<prefix><hash>-<pid>-<n>, a directory or an empty file;
 * returns its path and, for a file, its fd. */
static int op_make_tmp(struct modeldata_op *op, const char *prefix, bool dir, char **ret_path,
                       int *ret_fd)
{
	for (unsigned tries = 0;; tries++) {
		_cleanup_free_ char *p =
		    xasprintf("%s/%s%016" PRIx64 "-%d-%u", op->cache_dir, prefix, op->hash,
		              (int)getpid(), modeldata_seq++);
		int fd = -1;

		if (dir ? mkdir(p, 0755)
		        : (fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
			if (errno == EEXIST && tries < 16)
				continue; /* left over by an earlier daemon with our pid */
			return -errno;
		}
		if (dir)
			(void)chmod(p, 0755); /* despite the umask: containers read it */
		else
			*ret_fd = fd;
		*ret_path = TAKE_PTR(p);
		return 0;
	}
}

/* Unpacks op->archive into a new directory and starts tar on it. */
static void op_unpack(struct modeldata_op *op)
{
	int r;

	r = op_make_tmp(op, ".tmp-", true, &op->tmp_dir, NULL);
	if (r < 0) {
		op_finish(op, r, NULL, "cannot create a directory in %s: %s", op->cache_dir,
		          strerror(-r));
		return;
	}
	/* GNU tar refuses members with "..", strips a leading "/" and defers
	 * symlinks that point outside until the end, so nothing lands outside
	 * tmp_dir (tests/unit/test_modeldata.c checks each). */
	/* clang-format off */
	const char *argv[] = {"tar", op->gzip ? "-xzf" : "-xf", op->archive, "-C", op->tmp_dir,
			      "--no-same-owner", "--no-same-permissions", "--no-overwrite-dir", NULL};
	/* clang-format on */
	r = op_spawn(op, MODELDATA_CHILD_TAR, argv);
	if (r < 0)
		op_finish(op, r, NULL, "cannot run tar: %s", strerror(-r));
}

/* Sets op->final_dir for hash; true (and finished) when it is cached already
 * or the cache directory cannot be made. */
static bool op_cached(struct modeldata_op *op, uint64_t hash)
{
	struct stat st;

	op->hash = hash;
	op->final_dir = xasprintf("%s/%016" PRIx64, op->cache_dir, hash);
	if (stat(op->final_dir, &st) == 0 && S_ISDIR(st.st_mode)) {
		log_debug("model data %s: cached in %s", op->url, op->final_dir);
		op_finish(op, 0, op->final_dir, NULL);
		return true;
	}
	if (mkdir(op->cache_dir, 0755) < 0 && errno != EEXIST) {
		op_finish(op, -errno, NULL, "cannot create cache directory %s: %s", op->cache_dir,
		          strerror(errno));
		return true;
	}
	return false;
}

/* The status is in: remember it for op_http_data_cb(). */
static bool op_http_headers_cb(long status, void *userdata)
{
	struct modeldata_op *op = userdata;

	op->http_status = status;
	return true;
}

/* A chunk of the body: append it to the file, within the size cap; of an
 * error page keep only the start, for the message. */
static bool op_http_data_cb(const char *data, size_t len, void *userdata)
{
	struct modeldata_op *op = userdata;

	if (op->head.len < MODELDATA_HEAD_MAX) {
		size_t room = MODELDATA_HEAD_MAX - op->head.len;
		buf_append(&op->head, data, len < room ? len : room);
	}
	if (op->http_status < 200 || op->http_status > 299)
		return op->head.len < MODELDATA_HEAD_MAX;
	if (op->dl_len + len > op->max_download) {
		op->dl_err = -EFBIG;
		return false;
	}
	op->dl_len += len;
	while (len > 0) {
		ssize_t n = write(op->dl_fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			op->dl_err = -errno;
			return false;
		}
		data += n;
		len -= (size_t)n;
	}
	return true;
}

/* The download ended: unpack it, or fail with the reason. */
static void op_downloaded(struct modeldata_op *op, const struct httpc_response *resp)
{
	_cleanup_free_ char *body = NULL;

	if (op->dl_err == -EFBIG)
		op_finish(op, -EFBIG, NULL, "download is larger than %" PRIu64 " bytes",
		          op->max_download);
	else if (op->dl_err)
		op_finish(op, op->dl_err, NULL, "cannot write %s: %s", op->dl_path,
		          strerror(-op->dl_err));
	else if (resp->status && (resp->status < 200 || resp->status > 299)) {
		body = text_oneline(op->head.data ? op->head.data : "", op->head.len);
		op_finish(op, -EIO, NULL, "download failed: HTTP status %ld%s%.200s", resp->status,
		          *body ? ": " : "", body);
	} else if (resp->result)
		op_finish(op, resp->result, NULL, "download failed: %s",
		          resp->error ? resp->error : strerror(-resp->result));
	else {
		op->archive = xstrdup(op->dl_path);
		op->gzip = op->head.len >= 2 && (unsigned char)op->head.data[0] == 0x1f &&
		           (unsigned char)op->head.data[1] == 0x8b;
		op_unpack(op);
	}
}

/* httpc is done with the request, whatever the way (never after op_finish(),
 * which cancels it). */
static void op_http_done_cb(const struct httpc_response *resp, void *userdata)
{
	struct modeldata_op *op = userdata;

	op->call = NULL;
	close(op->dl_fd);
	op->dl_fd = -1;
	op_downloaded(op, resp);
	op_settle(op);
}

/* Downloads an http(s) URL into the cache, cached by the URL's hash. */
static void op_download(struct modeldata_op *op)
{
	uint64_t now = now_monotonic_ms();
	struct httpc_request req = {0};
	int r;

	if (!op->h) {
		op_finish(op, -EPROTONOSUPPORT, NULL, "no HTTP client to download with");
		return;
	}
	if (op_cached(op, hash_fnv1a(op->url, strlen(op->url), HASH_FNV1A_INIT)))
		return;
	r = op_make_tmp(op, ".dl-", false, &op->dl_path, &op->dl_fd);
	if (r < 0) {
		op_finish(op, r, NULL, "cannot create a file in %s: %s", op->cache_dir,
		          strerror(-r));
		return;
	}
	req.url = op->url;
	/* A backstop only: op_timeout_cb() is to fire first, with its message. */
	req.timeout_ms = (long)(op->deadline_ms > now ? op->deadline_ms - now : 0) + 1000;
	req.max_response = op->max_download > SIZE_MAX ? SIZE_MAX : (size_t)op->max_download;
	req.on_headers = op_http_headers_cb;
	req.on_data = op_http_data_cb;
	op->call = httpc_start_call(op->h, &req, op_http_done_cb, op);
}

/* 0-15 for a hex digit, else -1. */
static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The path of a file:// URL, percent-decoded; NULL when it names another host
 * or decodes to a NUL. */
static char *file_url_path(const char *url)
{
	const char *s = url + strlen("file://");
	struct buf b = {0};

	if (str_has_prefix(s, "localhost/"))
		s += strlen("localhost");
	if (*s != '/')
		return NULL;
	for (; *s; s++) {
		int hi = *s == '%' ? hex_value(s[1]) : 0,
		    lo = hi >= 0 && *s == '%' ? hex_value(s[2]) : 0;
		char c = (char)(hi * 16 + lo);
		if (*s != '%')
			buf_append(&b, s, 1);
		else if (hi < 0 || lo < 0 || c == 0) {
			buf_reset(&b);
			return NULL;
		} else {
			buf_append(&b, &c, 1);
			s += 2;
		}
	}
	return buf_steal(&b);
}

/* A local directory or archive. */
static void op_local(struct modeldata_op *op, const char *path)
{
	_cleanup_free_ char *real = NULL;
	struct stat st;
	uint64_t hash;

	if (stat(path, &st) < 0 || !(real = realpath(path, NULL))) {
		op_finish(op, -errno, NULL, "cannot access %s: %s", path, strerror(errno));
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		op_finish(op, 0, real, NULL);
		return;
	}
	op->gzip = str_has_suffix(path, ".tar.gz") || str_has_suffix(path, ".tgz");
	if ((!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) ||
	    !(op->gzip || str_has_suffix(path, ".tar"))) {
		op_finish(op, -EINVAL, NULL,
		          "%s is neither a directory nor a .tar, .tar.gz or .tgz archive", path);
		return;
	}
	hash = hash_fnv1a(real, strlen(real), HASH_FNV1A_INIT);
	hash = hash_fnv1a(&st.st_size, sizeof(st.st_size), hash);
	hash = hash_fnv1a(&st.st_mtim.tv_sec, sizeof(st.st_mtim.tv_sec), hash);
	hash = hash_fnv1a(&st.st_mtim.tv_nsec, sizeof(st.st_mtim.tv_nsec), hash);
	if (op_cached(op, hash))
		return;
	op->archive = TAKE_PTR(real);
	op_unpack(op);
}

/* Sorts the URL out and starts the matching work. */
static void op_start(struct modeldata_op *op)
{
	const char *url = op->url;
	_cleanup_free_ char *path = NULL;

	if (!*url)
		op_finish(op, 0, NULL, NULL);
	else if (strncasecmp(url, "file://", 7) == 0 && (path = file_url_path(url)))
		op_local(op, path);
	else if (strncasecmp(url, "file://", 7) == 0)
		op_finish(op, -EINVAL, NULL, "a file URL must read file:///absolute/path");
	else if (url[0] == '/')
		op_local(op, url);
	else if (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0)
		op_download(op);
	else if (strstr(url, "://"))
		op_finish(op, -EPROTONOSUPPORT, NULL,
		          "unsupported URL scheme (use file://, an absolute path, http:// or "
		          "https://)");
	else
		op_finish(op, -EINVAL, NULL,
		          "neither an absolute path nor a file://, http:// or https:// URL");
}

/* Prepares url; see modeldata.h. */
void modeldata_prepare_ms(struct event_base *base, struct httpc *h, const char *url,
                          const char *cache_dir, uint64_t timeout_ms, uint64_t max_download,
                          modeldata_done_fn done, void *userdata)
{
	struct modeldata_op *op = xcalloc(1, sizeof(*op));
	struct timeval tv;

	op->base = base;
	op->h = h;
	op->url = xstrdup(url ? url : "");
	op->cache_dir = xstrdup(cache_dir);
	op->timeout_ms = timeout_ms ? timeout_ms : MODELDATA_DEFAULT_TIMEOUT_S * UINT64_C(1000);
	op->max_download = max_download ? max_download : MODELDATA_DEFAULT_MAX_DOWNLOAD;
	op->done = done;
	op->userdata = userdata;
	op->dl_fd = op->pidfd = op->err_fd = -1;
	op->deadline_ms = now_monotonic_ms() + op->timeout_ms;
	op->deliver = evtimer_new(base, op_deliver_cb, op);
	op->timer = evtimer_new(base, op_timeout_cb, op);
	tv.tv_sec = (time_t)(op->timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(op->timeout_ms % 1000 * 1000);
	evtimer_add(op->timer, &tv);
	op_start(op);
}

/* Prepares url with a timeout in seconds; see modeldata.h. */
void modeldata_prepare(struct event_base *base, struct httpc *h, const char *url,
                       const char *cache_dir, unsigned timeout_s, modeldata_done_fn done,
                       void *userdata)
{
	modeldata_prepare_ms(base, h, url, cache_dir, timeout_s * UINT64_C(1000), 0, done,
	                     userdata);
}
