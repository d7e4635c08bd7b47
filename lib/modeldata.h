/*
 * Model data: turns a model's ModelDataUrl into a host directory that the
 * container can bind-mount read-only at /opt/ml/model, without ever blocking
 * the event loop.  A directory is used where it is; a tarball (.tar, .tar.gz,
 * .tgz; local or downloaded over http(s)) is unpacked once by a tar child
 * process into <cache_dir>/<url hash>-<version hash>/model and reused from
 * there afterwards.
 *
 * Only what the operator allows is used: a local path (file:///… or /…) must
 * resolve under one of the policy's roots, an http(s) URL must start with one
 * of its URL prefixes.  modeldata_check_url() says so up front (config load,
 * API calls); modeldata_prepare() checks again when it opens the data, which
 * is the check that counts.  The cache is bounded by modeldata_cache_trim().
 */
#ifndef ENDPOINTD_MODELDATA_H
#define ENDPOINTD_MODELDATA_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct httpc;

#define MODELDATA_DEFAULT_TIMEOUT_S 1200
#define MODELDATA_DEFAULT_MAX_DOWNLOAD (UINT64_C(64) << 30)
#define MODELDATA_DEFAULT_CACHE_MAX_BYTES (UINT64_C(20) << 30)

/*
 * Where model data may come from; the daemon config owns the strings.  roots
 * are absolute, lexically normal (no ".", "..", "//" or trailing "/") and need
 * not exist; url_prefixes start with http:// or https://.  Empty lists allow
 * nothing of that kind.
 */
struct modeldata_policy {
	char **roots;
	size_t n_roots;
	char **url_prefixes;
	size_t n_url_prefixes;
	uint64_t cache_max_bytes; /* for modeldata_cache_trim() */
	/* The daemon's own state (journal, cache): never model data, nor any
	 * directory that holds it; NULL when unknown. */
	const char *state_dir;
};

/*
 * Whether url may be used under p: 0 for NULL, "" and allowed URLs; -EPERM for
 * a path outside every root (lexically, or once its symlinks are resolved,
 * where it exists yet), one in or above p->state_dir, or a URL under no
 * prefix; -EINVAL for one that is
 * malformed.  On failure *ret_error says which and why, as
 * 'ModelDataUrl "…" is not under any of model_data_roots (/srv/models)'.
 */
int modeldata_check_url(const struct modeldata_policy *p, const char *url, char **ret_error);

/*
 * Called exactly once per modeldata_prepare(), always from the event loop and
 * never from inside modeldata_prepare().  err is 0 or -errno (-ETIMEDOUT,
 * -ENOENT, -EINVAL, -EPROTONOSUPPORT, -EIO for tar or HTTP failures, -EFBIG
 * …).  On success host_dir is the directory to mount, or NULL when the URL was
 * NULL or empty (no model data); message is NULL.  On failure host_dir is NULL
 * and message names the URL and says what went wrong (tar's own words when tar
 * failed).  Both strings are valid only during the call.
 */
typedef void (*modeldata_done_fn)(int err, const char *host_dir, const char *message,
                                  void *userdata);

/*
 * Prepares url (NULL/"", /abs/path, file:///abs/path, http://…, https://…).
 * cache_dir is <state_dir>/models; it is created when missing (its parent must
 * exist).  timeout_s bounds the whole preparation (0 = the default); h may be
 * NULL when http(s) is not needed.  Every string is copied; p is read during
 * the call only (NULL allows nothing but no model data).  A URL that p does
 * not allow fails with -EPERM.  base (and h) must outlive the preparation:
 * after done, it may still reap a killed tar and remove its temporary files
 * from the loop.
 */
void modeldata_prepare(struct event_base *base, struct httpc *h, const struct modeldata_policy *p,
                       const char *url, const char *cache_dir, unsigned timeout_s,
                       modeldata_done_fn done, void *userdata);

/* The same with the timeout in milliseconds (0 = the default) and a cap on the
 * size of a download (0 = MODELDATA_DEFAULT_MAX_DOWNLOAD). */
void modeldata_prepare_ms(struct event_base *base, struct httpc *h,
                          const struct modeldata_policy *p, const char *url, const char *cache_dir,
                          uint64_t timeout_ms, uint64_t max_download, modeldata_done_fn done,
                          void *userdata);

/* What one modeldata_cache_trim() found and did. */
struct modeldata_trim_stats {
	uint64_t bytes_in_use; /* entries that urls may be using */
	uint64_t bytes_kept;   /* all entries left, in use or not */
	uint64_t bytes_removed;
	unsigned removed; /* entries removed */
	unsigned stale;   /* leftovers of earlier daemons' preparations removed */
};

/*
 * Bounds the cache in cache_dir.  An entry is in use when it was made for one
 * of urls (the ModelDataUrl of every endpoint that still exists); in-use
 * entries are never removed and count as used now.  The others are removed
 * least recently used first (last prepared or last seen in use) until the
 * whole cache holds at most max_bytes (0: nothing that is not in use is
 * kept), and so are the half-made files of daemons that are gone.  Entries
 * leave the cache at once (renamed away, in this call); the files are removed
 * by an rm child on base, off the loop.  0 or -errno (cache_dir unreadable;
 * a missing one is empty); *ret_stats may be NULL.
 */
int modeldata_cache_trim(struct event_base *base, const char *cache_dir, uint64_t max_bytes,
                         const char *const *urls, size_t n_urls,
                         struct modeldata_trim_stats *ret_stats);

/*
 * Lexically normal form of an absolute path: "//", "." and ".." resolved
 * without looking at the file system, no trailing "/" (except for "/");
 * NULL when path is not absolute.
 */
char *modeldata_normalize_path(const char *path);

#endif
