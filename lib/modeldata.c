/*
 * Model data: ModelDataUrl -> a host directory to bind-mount read-only.
 *
 * DESIGN
 *
 * One struct modeldata_op per call walks: check the URL against the policy
 * and classify it (synchronously; stat(), realpath() and openat() are
 * metadata calls) -> download when it is http(s) (httpc, streamed into
 * <cache_dir>/.dl-<hash>-<pid>-<n>) -> unpack (a tar child extracts into
 * <cache_dir>/.tmp-<hash>-<pid>-<n>/model, beside which "size" records what
 * tar read; the directory is renamed to <cache_dir>/<url hash>-<version hash>
 * once tar has succeeded) -> deliver <entry>/model.  The rename is the commit
 * point: a cache entry is either complete or absent, a hit costs one stat(),
 * and when two preparations of the same archive race the loser uses the
 * winner's entry and throws its own away.
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
 *
 * ALLOWED ROOTS, AND WHAT IS GUARANTEED
 *
 * A local path is checked twice.  modeldata_check_url() (config load, API
 * calls) normalises it lexically and, where it exists, resolves it with
 * realpath(); both forms must lie under a root, so neither ".." nor a symlink
 * leads out.  At preparation, the one check that counts, the path is resolved
 * again, the root that holds it found (roots are resolved too: a root that is
 * itself a symlink is the operator's choice), and the resolved path is opened
 * from that root one component at a time with O_NOFOLLOW: a symlink swapped
 * in between realpath() and the walk is refused.  The opened object is then
 * what is used:
 *  - an archive is handed to tar as that very descriptor (/proc/self/fd/3),
 *    so no later rename or symlink can make tar read anything else, and the
 *    container gets a copy under the daemon's own state_dir;
 *  - a directory is bind-mounted by its resolved, symlink-free path.  The
 *    Engine resolves that path again when it creates the container, so
 *    whoever can write inside a root can still swap a component for a
 *    symlink in that window.  What is guaranteed is that no URL, and no
 *    symlink present when the model data is prepared, leads outside the
 *    roots; roots must therefore be writable only by those trusted with what
 *    the containers may read.
 * An http(s) URL must start with an allowed prefix at a "/" boundary and may
 * not hold "." or ".." segments (libcurl would squash them); redirects are
 * not followed (httpc), so the prefix is where the bytes come from.
 *
 * THE CACHE
 *
 * An entry is named <fnv(url)>-<fnv(resolved path, size, mtime)> (the
 * version is 0 for downloads), so that every entry made for a URL is found
 * from the URL alone: a container adopted after a restart may still have an
 * older version mounted, and all of them count as in use while an endpoint
 * names the URL.  The entry directory's mtime is its last use (touched on
 * every hit and by every trim that finds it in use).  modeldata_cache_trim()
 * decides and renames victims into one .trash-<pid>-<n> directory within one
 * call, so no preparation can see an entry half removed, and leaves the rm -rf
 * to a child.  The half-made files of a daemon that is gone (named with
 * another pid, or with ours but older than this process) go too; names it
 * does not know (another layout, the operator's files) are left alone.
 */
#define _GNU_SOURCE
#include "modeldata.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
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
#define MODELDATA_TAIL_MAX 96     /* last bytes of tar's stderr: its totals */
#define MODELDATA_ARCHIVE_FD 3    /* where tar finds a local archive */
#define MODELDATA_TOTALS "Total bytes read: "

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

	const struct modeldata_policy *policy; /* during op_start() only */
	char *archive;                         /* the tarball to unpack */
	int archive_fd;                        /* a local one, opened where it was checked; -1 */
	uint64_t archive_size;
	bool gzip;       /* tar -z */
	uint64_t hash;   /* the version half of the entry's name */
	char *final_dir; /* <cache_dir>/<fnv(url)>-<hash> */
	char *model_dir; /* <final_dir>/model, what is mounted */
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
	char tail[MODELDATA_TAIL_MAX]; /* the last bytes of the child's stderr */
	size_t tail_len;

	bool finished; /* result known, deliver armed */
	bool delivered;
	bool cleaned;                     /* cleanup started (or nothing to clean) */
	struct modeldata_op *prev, *next; /* modeldata_ops */
	int result;
	char *result_dir;
	char *message;
};

static unsigned modeldata_seq;
/* Every op that is not freed yet: one may outlive its caller (an rm child to
 * reap), and at exit it is still accounted for here. */
static struct modeldata_op *modeldata_ops;
/* When this process first prepared or trimmed (CLOCK_REALTIME_COARSE, as file
 * times are): leftovers named with our pid but older are an earlier
 * daemon's that had the same pid (a container's pid 1). */
static time_t modeldata_started;

/* Notes modeldata_started, once. */
static void modeldata_note_start(void)
{
	struct timespec ts;

	if (!modeldata_started && clock_gettime(CLOCK_REALTIME_COARSE, &ts) == 0)
		modeldata_started = ts.tv_sec;
}

static void op_settle(struct modeldata_op *op);

/* A new op, listed in modeldata_ops. */
static struct modeldata_op *op_new(struct event_base *base)
{
	struct modeldata_op *op = xcalloc(1, sizeof(*op));

	op->base = base;
	op->dl_fd = op->pidfd = op->err_fd = op->archive_fd = -1;
	op->next = modeldata_ops;
	if (modeldata_ops)
		modeldata_ops->prev = op;
	modeldata_ops = op;
	return op;
}

/* Frees the op and everything it holds. */
static void op_free(struct modeldata_op *op)
{
	if (op->prev)
		op->prev->next = op->next;
	else
		modeldata_ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
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
	if (op->archive_fd >= 0)
		close(op->archive_fd);
	free(op->url);
	free(op->cache_dir);
	free(op->archive);
	free(op->final_dir);
	free(op->model_dir);
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

/* Keeps the last MODELDATA_TAIL_MAX bytes the child wrote. */
static void op_keep_tail(struct modeldata_op *op, const char *p, size_t n)
{
	if (n >= sizeof(op->tail)) {
		memcpy(op->tail, p + n - sizeof(op->tail), sizeof(op->tail));
		op->tail_len = sizeof(op->tail);
		return;
	}
	if (op->tail_len + n > sizeof(op->tail)) {
		size_t drop = op->tail_len + n - sizeof(op->tail);
		memmove(op->tail, op->tail + drop, op->tail_len - drop);
		op->tail_len -= drop;
	}
	memcpy(op->tail + op->tail_len, p, n);
	op->tail_len += n;
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
		op_keep_tail(op, chunk, (size_t)n);
	}
}

/* The child's stderr is readable. */
static void op_stderr_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	op_read_stderr(arg);
}

/* What tar said it read (--totals), else the archive's size: what the
 * entry holds, near enough to bound the cache. */
static uint64_t op_unpacked_size(const struct modeldata_op *op)
{
	char tail[MODELDATA_TAIL_MAX + 1];
	const char *t;

	memcpy(tail, op->tail, op->tail_len);
	tail[op->tail_len] = '\0';
	t = strstr(tail, MODELDATA_TOTALS);
	if (t && t[strlen(MODELDATA_TOTALS)] >= '0' && t[strlen(MODELDATA_TOTALS)] <= '9')
		return strtoull(t + strlen(MODELDATA_TOTALS), NULL, 10);
	return op->archive_size;
}

/* Writes <tmp_dir>/size for modeldata_cache_trim(); 0 or -errno. */
static int op_write_size(struct modeldata_op *op)
{
	_cleanup_free_ char *path = xasprintf("%s/size", op->tmp_dir);
	char text[32];
	ssize_t w;
	int fd, n, r = 0;

	n = snprintf(text, sizeof(text), "%" PRIu64 "\n", op_unpacked_size(op));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	w = write(fd, text, (size_t)n);
	if (w < 0)
		r = -errno;
	else if (w != n)
		r = -EIO;
	close(fd);
	return r;
}

/* Marks the entry final_dir as used now (its mtime), for the LRU order. */
static void entry_touch(const char *final_dir)
{
	(void)utimensat(AT_FDCWD, final_dir, NULL, 0);
}

/* tar is gone: commit its directory, or fail with its words. */
static void op_tar_exited(struct modeldata_op *op, int werr, int st)
{
	const char *said = op->err.data ? op->err.data : "";
	const char *totals = memmem(said, op->err.len, MODELDATA_TOTALS, strlen(MODELDATA_TOTALS));
	_cleanup_free_ char *words =
	    text_oneline(said, totals ? (size_t)(totals - said) : op->err.len);
	struct stat fst;
	int r;

	if (werr)
		op_finish(op, werr, NULL, "cannot wait for tar: %s", strerror(-werr));
	else if (WIFSIGNALED(st))
		op_finish(op, -EIO, NULL, "tar was killed by signal %d%s%s", WTERMSIG(st),
		          *words ? ": " : "", words);
	else if (WEXITSTATUS(st) != 0)
		op_finish(op, -EIO, NULL, "tar failed (exit status %d)%s%s", WEXITSTATUS(st),
		          *words ? ": " : "", words);
	else if ((r = op_write_size(op)) < 0)
		op_finish(op, r, NULL, "cannot write to %s: %s", op->tmp_dir, strerror(-r));
	else if (rename(op->tmp_dir, op->final_dir) == 0) {
		free(op->tmp_dir);
		op->tmp_dir = NULL;
		entry_touch(op->final_dir);
		op_finish(op, 0, op->model_dir, NULL);
	} else if ((errno == EEXIST || errno == ENOTEMPTY) && stat(op->model_dir, &fst) == 0 &&
	           S_ISDIR(fst.st_mode)) {
		entry_touch(op->final_dir);
		op_finish(op, 0, op->model_dir, NULL); /* another preparation won */
	} else
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

/* Starts argv[0] as the op's child, stdin/stdout on /dev/null, stderr
 * captured and in_fd (unless -1) as its descriptor 3; 0 or -errno. */
static int op_spawn(struct modeldata_op *op, enum modeldata_child kind, const char *const *argv,
                    int in_fd)
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
	if (in_fd >= 0) /* glibc clears FD_CLOEXEC when in_fd is 3 already */
		posix_spawn_file_actions_adddup2(&fa, in_fd, MODELDATA_ARCHIVE_FD);
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
	op->tail_len = 0;
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
	r = op_spawn(op, MODELDATA_CHILD_RM, argv, -1);
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

/* Makes <cache_dir>/<prefix><url hash>-<pid>-<n>, a directory or an empty file;
 * returns its path and, for a file, its fd. */
static int op_make_tmp(struct modeldata_op *op, const char *prefix, bool dir, char **ret_path,
                       int *ret_fd)
{
	for (unsigned tries = 0;; tries++) {
		_cleanup_free_ char *p =
		    xasprintf("%s/%s%016" PRIx64 "-%d-%u", op->cache_dir, prefix,
		              hash_fnv1a(op->url, strlen(op->url), HASH_FNV1A_INIT), (int)getpid(),
		              modeldata_seq++);
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

/* Unpacks the archive (op->archive_fd, else op->archive) into a new
 * directory and starts tar on it. */
static void op_unpack(struct modeldata_op *op)
{
	_cleanup_free_ char *into = NULL;
	int r;

	r = op_make_tmp(op, ".tmp-", true, &op->tmp_dir, NULL);
	if (r < 0) {
		op_finish(op, r, NULL, "cannot create a directory in %s: %s", op->cache_dir,
		          strerror(-r));
		return;
	}
	into = xasprintf("%s/model", op->tmp_dir);
	if (mkdir(into, 0755) < 0) {
		op_finish(op, -errno, NULL, "cannot create %s: %s", into, strerror(errno));
		return;
	}
	(void)chmod(into, 0755);
	/* GNU tar refuses members with "..", strips a leading "/" and defers
	 * symlinks that point outside until the end, so nothing lands outside
	 * the directory (tests/unit/test_modeldata.c checks each).  A local
	 * archive is read through the descriptor that was checked: reopening
	 * /proc/self/fd/3 reaches that file whatever its path names now. */
	/* clang-format off */
	const char *argv[] = {"tar", op->gzip ? "-xzf" : "-xf",
			      op->archive_fd >= 0 ? "/proc/self/fd/3" : op->archive, "-C", into,
			      "--no-same-owner", "--no-same-permissions", "--no-overwrite-dir",
			      "--totals", NULL};
	/* clang-format on */
	r = op_spawn(op, MODELDATA_CHILD_TAR, argv, op->archive_fd);
	if (r < 0)
		op_finish(op, r, NULL, "cannot run tar: %s", strerror(-r));
}

/* Sets op->final_dir for the version hash; true (and finished) when it is
 * cached already or the cache directory cannot be made. */
static bool op_cached(struct modeldata_op *op, uint64_t hash)
{
	struct stat st;

	op->hash = hash;
	op->final_dir = xasprintf("%s/%016" PRIx64 "-%016" PRIx64, op->cache_dir,
	                          hash_fnv1a(op->url, strlen(op->url), HASH_FNV1A_INIT), hash);
	op->model_dir = xasprintf("%s/model", op->final_dir);
	if (stat(op->model_dir, &st) == 0 && S_ISDIR(st.st_mode)) {
		log_debug("model data %s: cached in %s", op->url, op->final_dir);
		entry_touch(op->final_dir);
		op_finish(op, 0, op->model_dir, NULL);
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
		op->archive_size = op->dl_len;
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
	if (op_cached(op, 0))
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
		int hi = *s == '%' ? hex_digit_value((unsigned char)s[1]) : 0,
		    lo = hi >= 0 && *s == '%' ? hex_digit_value((unsigned char)s[2]) : 0;
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

/* --- the operator's policy ------------------------------------------------ */

/* Lexically normal form of an absolute path; see modeldata.h. */
char *modeldata_normalize_path(const char *path)
{
	struct buf b = {0};
	const char *p = path;

	if (!path || path[0] != '/')
		return NULL;
	while (*p) {
		const char *e;
		size_t n;

		while (*p == '/')
			p++;
		e = strchrnul(p, '/');
		n = (size_t)(e - p);
		if (n == 0)
			break;
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			char *slash = b.len ? memrchr(b.data, '/', b.len) : NULL;
			if (slash) {
				b.len = (size_t)(slash - b.data);
				b.data[b.len] = '\0';
			}
		} else if (n != 1 || p[0] != '.') {
			buf_append(&b, "/", 1);
			buf_append(&b, p, n);
		}
		p = e;
	}
	if (b.len == 0)
		buf_append(&b, "/", 1);
	return buf_steal(&b);
}

/* Whether path is root or below it (both normal, absolute). */
static bool path_is_under(const char *path, const char *root)
{
	size_t n = strlen(root);

	if (strcmp(root, "/") == 0)
		return path[0] == '/';
	return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* "a, b", or "none are configured", for messages. */
static char *policy_list(char *const *items, size_t n)
{
	struct buf b = {.max = 1024};

	if (n == 0)
		return xstrdup("none are configured");
	for (size_t i = 0; i < n; i++)
		if (buf_printf(&b, "%s%s", i ? ", " : "", items[i]) < 0) {
			buf_append(&b, "…", strlen("…"));
			break;
		}
	return buf_steal(&b);
}

/* The realpath of the root of p that holds real (a resolved path), or NULL. */
static char *policy_resolved_root(const struct modeldata_policy *p, const char *real)
{
	for (size_t i = 0; i < p->n_roots; i++) {
		char *root = realpath(p->roots[i], NULL);
		if (root && path_is_under(real, root))
			return root;
		free(root);
	}
	return NULL;
}

/* Whether path (normal) is p->state_dir, inside it or above it; resolved
 * compares with the state_dir's realpath (where it exists). */
static bool policy_holds_state(const struct modeldata_policy *p, const char *path, bool resolved)
{
	_cleanup_free_ char *state = NULL;

	if (!p->state_dir)
		return false;
	state = resolved ? realpath(p->state_dir, NULL) : modeldata_normalize_path(p->state_dir);
	return state && (path_is_under(path, state) || path_is_under(state, path));
}

/* Checks a local path as modeldata_check_url() does; on failure *ret_why
 * completes "ModelDataUrl … " or "model data … ". */
static int policy_check_path(const struct modeldata_policy *p, const char *path, char **ret_why)
{
	_cleanup_free_ char *norm = modeldata_normalize_path(path), *real = NULL, *root = NULL;
	_cleanup_free_ char *roots = policy_list(p->roots, p->n_roots);
	bool under = false;

	if (!norm) {
		*ret_why =
		    xstrdup("is neither an absolute path nor a file://, http:// or https:// URL");
		return -EINVAL;
	}
	for (size_t i = 0; i < p->n_roots && !under; i++)
		under = path_is_under(norm, p->roots[i]);
	if (!under) {
		*ret_why = xasprintf("is not under any of model_data_roots (%s)", roots);
		return -EPERM;
	}
	if (policy_holds_state(p, norm, false)) {
		*ret_why = xasprintf("is in or above the daemon's state_dir (%s)", p->state_dir);
		return -EPERM;
	}
	real = realpath(path, NULL);
	if (!real)
		return 0; /* not there (yet): modeldata_prepare() checks again */
	root = policy_resolved_root(p, real);
	if (!root) {
		*ret_why = xasprintf(
		    "resolves to %s, which is not under any of model_data_roots (%s)", real, roots);
		return -EPERM;
	}
	if (policy_holds_state(p, real, true)) {
		*ret_why = xasprintf("resolves to %s, in or above the daemon's state_dir (%s)",
		                     real, p->state_dir);
		return -EPERM;
	}
	return 0;
}

/* Whether seg (n bytes of a URL path) is "." or "..", percent-encoded or not. */
static bool url_dot_segment(const char *seg, size_t n)
{
	size_t dots = 0;

	for (size_t i = 0; i < n; dots++) {
		if (seg[i] == '.')
			i++;
		else if (n - i >= 3 && seg[i] == '%' && seg[i + 1] == '2' &&
		         (seg[i + 2] == 'e' || seg[i + 2] == 'E'))
			i += 3;
		else
			return false;
	}
	return dots == 1 || dots == 2;
}

/* Checks an http(s) URL against p->url_prefixes. */
static int policy_check_http(const struct modeldata_policy *p, const char *url, char **ret_why)
{
	const char *path = strstr(url, "://");
	bool under = false;

	for (size_t i = 0; i < p->n_url_prefixes && !under; i++) {
		const char *pre = p->url_prefixes[i];
		size_t n = strlen(pre);
		under = strncmp(url, pre, n) == 0 &&
		        (n == 0 || pre[n - 1] == '/' || url[n] == '\0' || strchr("/?#", url[n]));
	}
	if (!under) {
		_cleanup_free_ char *list = policy_list(p->url_prefixes, p->n_url_prefixes);
		*ret_why = xasprintf("is not under any of model_data_urls (%s)", list);
		return -EPERM;
	}
	path = path ? strchr(path + 3, '/') : NULL;
	while (path && *path == '/') {
		size_t n = strcspn(path + 1, "/?#");
		if (url_dot_segment(path + 1, n)) {
			*ret_why = xstrdup("has a \".\" or \"..\" segment, which could lead out of "
			                   "model_data_urls");
			return -EPERM;
		}
		path += 1 + n;
	}
	return 0;
}

/* Whether url is http:// or https://, in any case. */
static bool url_is_http(const char *url)
{
	return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

/* Checks url against p; see modeldata.h. */
int modeldata_check_url(const struct modeldata_policy *p, const char *url, char **ret_error)
{
	static const struct modeldata_policy none = {0};
	_cleanup_free_ char *path = NULL, *why = NULL;
	int r;

	if (!p)
		p = &none;
	if (!url || !*url)
		return 0;
	if (strncasecmp(url, "file://", 7) == 0) {
		path = file_url_path(url);
		if (!path) {
			why = xstrdup("is not a file:///absolute/path URL");
			r = -EINVAL;
		} else
			r = policy_check_path(p, path, &why);
	} else if (url[0] == '/')
		r = policy_check_path(p, url, &why);
	else if (url_is_http(url))
		r = policy_check_http(p, url, &why);
	else {
		why = xstrdup("is neither an absolute path nor a file://, http:// or https:// URL");
		r = -EINVAL;
	}
	if (r < 0 && ret_error)
		*ret_error = xasprintf("ModelDataUrl \"%s\" %s", url, why);
	return r;
}

/*
 * Opens path, which p must allow, from its root one component at a time
 * without following symlinks (see DESIGN): an O_PATH descriptor of what was
 * checked, its resolved path and its stat.  0 or -errno with *ret_why.
 */
static int policy_open(const struct modeldata_policy *p, const char *path, int *ret_fd,
                       char **ret_real, struct stat *ret_st, char **ret_why)
{
	_cleanup_free_ char *real = NULL, *root = NULL;
	const char *rest;
	struct stat st;
	int fd, r;

	r = policy_check_path(p, path, ret_why);
	if (r < 0)
		return r;
	real = realpath(path, NULL);
	if (!real) {
		r = -errno;
		*ret_why = xasprintf("cannot access %s: %s", path, strerror(errno));
		return r;
	}
	root = policy_resolved_root(p, real);
	if (!root) {
		_cleanup_free_ char *roots = policy_list(p->roots, p->n_roots);
		*ret_why = xasprintf(
		    "resolves to %s, which is not under any of model_data_roots (%s)", real, roots);
		return -EPERM;
	}
	fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		*ret_why = xasprintf("cannot open %s: %s", root, strerror(errno));
		return r;
	}
	rest = real + (strcmp(root, "/") == 0 ? 0 : strlen(root));
	for (;;) {
		_cleanup_free_ char *name = NULL;
		size_t n;
		int next;

		while (*rest == '/')
			rest++;
		if (!*rest)
			break;
		n = strcspn(rest, "/");
		name = xstrndup(rest, n);
		rest += n;
		next = openat(fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		r = next < 0 ? -errno : 0;
		close(fd);
		fd = next;
		if (r == 0 && fstat(fd, &st) == 0 && S_ISLNK(st.st_mode))
			r = -ELOOP;
		if (r < 0) {
			if (fd >= 0)
				close(fd);
			*ret_why = xasprintf("changed while it was being opened (%s at %.*s): %s",
			                     r == -ELOOP ? "a symlink appeared" : "gone",
			                     (int)(rest - real), real, strerror(-r));
			return r;
		}
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		*ret_why = xasprintf("cannot access %s: %s", real, strerror(-r));
		return r;
	}
	*ret_fd = fd;
	*ret_real = TAKE_PTR(real);
	*ret_st = st;
	return 0;
}

/* A local directory or archive, opened where it was checked. */
static void op_local(struct modeldata_op *op, const char *path)
{
	_cleanup_free_ char *real = NULL, *why = NULL;
	struct stat st;
	uint64_t hash;
	int fd = -1, r;

	r = policy_open(op->policy, path, &fd, &real, &st, &why);
	if (r < 0) {
		op_finish(op, r, NULL, "%s %s", r == -EPERM ? "it" : "path", why);
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		op_finish(op, 0, real, NULL);
		return;
	}
	op->gzip = str_has_suffix(path, ".tar.gz") || str_has_suffix(path, ".tgz");
	if ((!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) ||
	    !(op->gzip || str_has_suffix(path, ".tar"))) {
		close(fd);
		op_finish(op, -EINVAL, NULL,
		          "%s is neither a directory nor a .tar, .tar.gz or .tgz archive", path);
		return;
	}
	hash = hash_fnv1a(real, strlen(real), HASH_FNV1A_INIT);
	hash = hash_fnv1a(&st.st_size, sizeof(st.st_size), hash);
	hash = hash_fnv1a(&st.st_mtim.tv_sec, sizeof(st.st_mtim.tv_sec), hash);
	hash = hash_fnv1a(&st.st_mtim.tv_nsec, sizeof(st.st_mtim.tv_nsec), hash);
	if (op_cached(op, hash)) {
		close(fd);
		return;
	}
	op->archive_fd = fd;
	op->archive_size = (uint64_t)st.st_size;
	op->archive = TAKE_PTR(real);
	op_unpack(op);
}

/* Sorts the URL out, checks it against the policy and starts the work. */
static void op_start(struct modeldata_op *op)
{
	static const struct modeldata_policy none = {0};
	const char *url = op->url;
	_cleanup_free_ char *path = NULL, *why = NULL;
	int r;

	if (!op->policy)
		op->policy = &none;
	if (!*url)
		op_finish(op, 0, NULL, NULL);
	else if (strncasecmp(url, "file://", 7) == 0 && (path = file_url_path(url)))
		op_local(op, path);
	else if (strncasecmp(url, "file://", 7) == 0)
		op_finish(op, -EINVAL, NULL, "a file URL must read file:///absolute/path");
	else if (url[0] == '/')
		op_local(op, url);
	else if (url_is_http(url) && (r = policy_check_http(op->policy, url, &why)) < 0)
		op_finish(op, r, NULL, "it %s", why);
	else if (url_is_http(url))
		op_download(op);
	else if (strstr(url, "://"))
		op_finish(op, -EPROTONOSUPPORT, NULL,
		          "unsupported URL scheme (use file://, an absolute path, http:// or "
		          "https://)");
	else
		op_finish(op, -EINVAL, NULL,
		          "neither an absolute path nor a file://, http:// or https:// URL");
	op->policy = NULL;
}

/* --- bounding the cache ---------------------------------------------------- */

/* A cache entry as modeldata_cache_trim() sees it. */
struct trim_entry {
	char *name;
	uint64_t size;
	struct timespec used;
	bool in_use;
};

/* Whether name is a lower-case hex number of n digits. */
static bool is_hex(const char *name, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return false;
	return true;
}

/* "<16 hex>-<16 hex>": a cache entry. */
static bool trim_is_entry(const char *name)
{
	return strlen(name) == 33 && is_hex(name, 16) && name[16] == '-' && is_hex(name + 17, 16);
}

/* A preparation's or a trim's leftover (.tmp-<hash>-<pid>-<n>,
 * .dl-<hash>-<pid>-<n>, .trash-<pid>-<n>) of a process other than this one;
 * st is the leftover's. */
static bool trim_is_stale(const char *name, const struct stat *st)
{
	const char *p = NULL;
	char *end;
	long pid;

	if (str_has_prefix(name, ".tmp-"))
		p = name + 5;
	else if (str_has_prefix(name, ".dl-"))
		p = name + 4;
	if (p) {
		if (strlen(p) < 18 || !is_hex(p, 16) || p[16] != '-')
			return false;
		p += 17;
	} else if (str_has_prefix(name, ".trash-"))
		p = name + 7;
	else
		return false;
	errno = 0;
	pid = strtol(p, &end, 10);
	if (errno || end == p || *end != '-' || pid <= 0)
		return false;
	/* A second of slack: file times lag the clock a little. */
	return pid != (long)getpid() || st->st_mtim.tv_sec < modeldata_started - 1;
}

/* What the entry's size file says; 0 when it says nothing. */
static uint64_t trim_entry_size(int dfd, const char *name)
{
	_cleanup_free_ char *path = xasprintf("%s/size", name);
	char text[32];
	ssize_t n;
	int fd = openat(dfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	return strtoull(text, NULL, 10);
}

/* Least recently used first; the name settles ties. */
static int trim_entry_cmp(const void *a, const void *b)
{
	const struct trim_entry *x = a, *y = b;

	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	if (x->used.tv_nsec != y->used.tv_nsec)
		return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Moves name out of the cache into trash (made on first use); false when it
 * could not. */
static bool trim_discard(const char *cache_dir, char **trash, const char *name)
{
	_cleanup_free_ char *from = xasprintf("%s/%s", cache_dir, name), *to = NULL;

	if (!*trash) {
		for (unsigned tries = 0; tries < 16 && !*trash; tries++) {
			char *t =
			    xasprintf("%s/.trash-%d-%u", cache_dir, (int)getpid(), modeldata_seq++);
			if (mkdir(t, 0700) == 0)
				*trash = t;
			else
				free(t);
		}
		if (!*trash)
			return false;
	}
	to = xasprintf("%s/%s", *trash, name);
	if (rename(from, to) < 0) {
		log_debug("model cache: cannot move %s away: %s", from, strerror(errno));
		return false;
	}
	return true;
}

/* Removes trash with an rm child that the op reaps, then frees itself. */
static void trim_remove_trash(struct event_base *base, const char *cache_dir, char *trash)
{
	struct modeldata_op *op = op_new(base);

	op->url = xstrdup("(cache)");
	op->cache_dir = xstrdup(cache_dir);
	op->tmp_dir = trash;
	op->finished = op->delivered = true;
	op_settle(op);
}

/* Bounds the cache; see modeldata.h. */
int modeldata_cache_trim(struct event_base *base, const char *cache_dir, uint64_t max_bytes,
                         const char *const *urls, size_t n_urls,
                         struct modeldata_trim_stats *ret_stats)
{
	struct modeldata_trim_stats stats = {0};
	_cleanup_free_ uint64_t *hashes = xcalloc(n_urls ? n_urls : 1, sizeof(*hashes));
	struct trim_entry *entries = NULL;
	size_t n = 0, cap = 0, n_stale = 0, stale_cap = 0;
	char **stale = NULL, *trash = NULL;
	uint64_t total = 0;
	struct dirent *de;
	DIR *d;

	modeldata_note_start();
	d = opendir(cache_dir);
	if (!d) {
		if (errno != ENOENT)
			return -errno;
		if (ret_stats)
			*ret_stats = stats;
		return 0;
	}
	for (size_t i = 0; i < n_urls; i++)
		hashes[i] = urls[i] ? hash_fnv1a(urls[i], strlen(urls[i]), HASH_FNV1A_INIT) : 0;
	while ((de = readdir(d))) {
		struct stat st;
		struct trim_entry *e;
		uint64_t h;

		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (trim_is_stale(de->d_name, &st)) {
			if (n_stale == stale_cap) {
				stale_cap = stale_cap ? 2 * stale_cap : 8;
				stale = xreallocarray(stale, stale_cap, sizeof(*stale));
			}
			stale[n_stale++] = xstrdup(de->d_name);
			continue;
		}
		if (!trim_is_entry(de->d_name) || !S_ISDIR(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			entries = xreallocarray(entries, cap, sizeof(*entries));
		}
		e = &entries[n++];
		e->name = xstrdup(de->d_name);
		e->size = trim_entry_size(dirfd(d), de->d_name);
		e->used = st.st_mtim;
		h = strtoull(de->d_name, NULL, 16);
		e->in_use = false;
		for (size_t i = 0; i < n_urls && !e->in_use; i++)
			e->in_use = urls[i] && *urls[i] && hashes[i] == h;
		if (e->in_use) {
			(void)utimensat(dirfd(d), de->d_name, NULL, 0);
			stats.bytes_in_use += e->size;
		}
		total += e->size;
	}
	closedir(d);

	if (n > 1)
		qsort(entries, n, sizeof(*entries), trim_entry_cmp);
	for (size_t i = 0; i < n && total > max_bytes; i++) {
		if (entries[i].in_use || !trim_discard(cache_dir, &trash, entries[i].name))
			continue;
		log_debug("model cache: removing %s/%s (%" PRIu64 " bytes, not in use)", cache_dir,
		          entries[i].name, entries[i].size);
		total -= entries[i].size;
		stats.bytes_removed += entries[i].size;
		stats.removed++;
	}
	for (size_t i = 0; i < n_stale; i++) {
		if (trim_discard(cache_dir, &trash, stale[i]))
			stats.stale++;
		free(stale[i]);
	}
	for (size_t i = 0; i < n; i++)
		free(entries[i].name);
	free(entries);
	free(stale);
	stats.bytes_kept = total;
	if (trash)
		trim_remove_trash(base, cache_dir, trash);
	if (ret_stats)
		*ret_stats = stats;
	return 0;
}

/* Prepares url; see modeldata.h. */
void modeldata_prepare_ms(struct event_base *base, struct httpc *h,
                          const struct modeldata_policy *p, const char *url, const char *cache_dir,
                          uint64_t timeout_ms, uint64_t max_download, modeldata_done_fn done,
                          void *userdata)
{
	struct modeldata_op *op = op_new(base);
	struct timeval tv;

	op->h = h;
	op->url = xstrdup(url ? url : "");
	op->cache_dir = xstrdup(cache_dir);
	op->timeout_ms = timeout_ms ? timeout_ms : MODELDATA_DEFAULT_TIMEOUT_S * UINT64_C(1000);
	op->max_download = max_download ? max_download : MODELDATA_DEFAULT_MAX_DOWNLOAD;
	op->done = done;
	op->userdata = userdata;
	op->policy = p;
	modeldata_note_start();
	op->deadline_ms = now_monotonic_ms() + op->timeout_ms;
	op->deliver = evtimer_new(base, op_deliver_cb, op);
	op->timer = evtimer_new(base, op_timeout_cb, op);
	tv.tv_sec = (time_t)(op->timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(op->timeout_ms % 1000 * 1000);
	evtimer_add(op->timer, &tv);
	op_start(op);
}

/* Prepares url with a timeout in seconds; see modeldata.h. */
void modeldata_prepare(struct event_base *base, struct httpc *h, const struct modeldata_policy *p,
                       const char *url, const char *cache_dir, unsigned timeout_s,
                       modeldata_done_fn done, void *userdata)
{
	modeldata_prepare_ms(base, h, p, url, cache_dir, timeout_s * UINT64_C(1000), 0, done,
	                     userdata);
}
