/*
 * The journal: a write-ahead log plus a snapshot holding a key -> JSON map.
 *
 * DESIGN
 *
 * Files in DIR:
 *   journal       records appended by group commits (O_APPEND)
 *   snapshot      a header record {"snapshot":1,"s":S}, then one record per live key
 *   snapshot.tmp  a snapshot being written; removed at open
 *
 * A record is the payload's length (4 bytes, little-endian), the zlib crc32 of
 * the payload (4 bytes, little-endian), then the payload: compact JSON
 * {"s":SEQ,"k":KEY,"v":VALUE}, where a null v deletes KEY.  Every put takes the
 * next sequence number; they never go back, across snapshots and restarts.
 * Snapshot records carry the snapshot's S.
 *
 * Group commit.  journal_put() encodes its record into the staged buffer and
 * changes the map at once.  The first put or barrier after a flush arms a
 * zero-timeout timer, so the flush runs after whatever else the loop has ready
 * this turn.  The flush hands the batch to the writer thread: it swaps the
 * staged buffer with the job's empty one and moves the barriers waiting into
 * the job, so barriers made later (by callbacks too) wait for a later batch.
 * The writer does one write plus one fdatasync for every put of the batch,
 * then writes an eventfd; the loop, woken by it, takes the outcome, arms the
 * next flush if anything was staged meanwhile, and calls the job's barriers in
 * order; it then touches the journal no more, so a callback may free it.  Only
 * one job is in flight: puts made during a sync form the next batch, so a slow
 * disk makes bigger batches, not more syncs, and the loop never waits on it.
 * A flush that finds nothing staged and nothing in flight calls its barriers
 * at once: what they wait for is already durable.
 *
 * Threads.  The job is the loop's until it sets job_ready under the lock and
 * the writer's until it sets job_done; the writer touches nothing else but
 * what open set before the thread started (jansson only on the job's own copy
 * of the map).  It never logs, and reports an error as (what, path, errno) in
 * the job.  The loop
 * raises it through journal_fatal_hook, so the hook, the log and the
 * callbacks all run on the loop.  journal_compact() and journal_free() wait
 * on a condition variable for the job in flight, then do their own writing on
 * the caller's thread while the writer is idle; free then tells it to quit
 * and joins it.  Offline (no event base) there is no thread, and barriers
 * write on the caller's thread.
 *
 * Compaction.  When a batch will take the journal past the threshold, the loop
 * copies the map (json_deep_copy) into the job as it hands the batch over:
 * the map is then exactly what the batch's records make it, S is the last
 * sequence number given out, and the copy is the writer's alone, while the
 * loop's values may change under later puts (a copy costs the loop about half
 * of what encoding would, see journal_encode_snapshot()).  The writer appends
 * and syncs the batch, encodes the copy (header {"snapshot":1,"s":S}, every
 * live key at S), then writes snapshot.tmp, fsyncs it, renames it
 * over snapshot, fsyncs DIR, truncates the journal and fsyncs it; the
 * barriers run after all of that.  Puts made meanwhile have seq > S and are
 * staged for the next batch, which is appended only after the cut.  A crash
 * before the rename leaves the old snapshot and the whole journal; one after
 * it leaves the new snapshot and a journal whose records all have seq <= S.
 * Replay skips those; replaying them anyway would give the same map, since for
 * each key they end on the value the snapshot holds.
 *
 * Torn tail or corruption.  A crash while appending can leave the journal's
 * end short or, where the file grew before its data landed, full of zeros or
 * garbage.  A record that fails (short, too long, bad checksum, not our JSON)
 * is a torn tail when no good record starts anywhere after it: replay keeps
 * what came before and open truncates the rest.  When a good record does
 * start after it, data that was acknowledged is damaged, and open refuses with
 * -EBADMSG.  Searching every offset after the bad record, rather than trusting
 * its length to say where the next one starts, is what catches a flipped
 * length bit pointing past the end of the file.  A good record cannot be found
 * inside another's payload: payloads hold no NUL byte, and a length's top byte
 * is always 0.  The snapshot is written whole and renamed into place, so any
 * bad record in it is corruption.
 *
 * Errors.  A failed write, fsync, rename or truncate means the disk may not
 * hold what clients were told it holds, and retrying does not help (the kernel
 * may have dropped the dirty pages): log at LOG_CRIT and call
 * journal_fatal_hook on the loop, which exits; replay on restart sorts it out.
 * A hook that returns (tests) leaves the journal broken: nothing more is
 * written and no barrier of the failed job, or any later one, is called.
 */
#define _GNU_SOURCE
#include "journal.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "log.h"
#include "util.h"

#define JOURNAL_HEADER_SIZE 8
/* Room a put leaves so that the key's snapshot record, whose sequence number
 * may be longer, still fits JOURNAL_RECORD_MAX. */
#define JOURNAL_SEQ_SLACK 24
/* Staged bytes past which a put writes them out (unsynced) to bound memory. */
#define JOURNAL_STAGE_MAX (64u * 1024 * 1024)
/* A staged buffer bigger than this is given back after its flush. */
#define JOURNAL_STAGE_KEEP (1u * 1024 * 1024)
#define JOURNAL_WHY_MAX (JSON_ERROR_TEXT_LENGTH + 64)

static const char journal_prefix[] = "{\"s\":";

struct journal_waiter {
	journal_done_fn done;
	void *userdata;
};

/* A list of barriers, in the order they were made. */
struct journal_waiters {
	struct journal_waiter *v;
	size_t n, cap;
};

/* When a job also writes a snapshot. */
enum journal_snapshot {
	JOURNAL_SNAPSHOT_NEVER,
	JOURNAL_SNAPSHOT_IF_DUE,
	JOURNAL_SNAPSHOT_NOW,
};

/*
 * One batch of disk work.  The loop fills it while no job is in flight; from
 * the moment it is handed over (job_ready) until the writer says it is done
 * (job_done), only the writer thread touches it.
 */
struct journal_job {
	struct buf data;      /* framed records to append */
	bool sync;            /* fdatasync the journal after the append */
	json_t *snapshot_map; /* when set: a copy of the map to snapshot, then cut */
	uint64_t snapshot_seq;
	struct buf snapshot; /* snapshot_map, encoded by the writer */
	size_t snapshot_keys;
	struct journal_waiters waiters; /* run once the job is done */
	/* The outcome: err (a positive errno) when what on path failed. */
	int err;
	const char *what;
	const char *path;
};

/*
 * Owned by whoever opened it.  The flush timer and the writer's done event are
 * the only callbacks holding it; journal_free() joins the writer thread and
 * removes them.  Everything but the job and the fields under lock belongs to
 * the loop's thread; the writer reads only the job and what open set before
 * the thread started (fd, paths, no_sync, before_sync).
 */
struct journal {
	struct event_base *base;
	struct event *flush_ev; /* zero-timeout timer: the group commit */
	bool flush_armed;
	char *dir;
	char *journal_path;
	char *snapshot_path;
	char *tmp_path;
	int fd;            /* the journal, O_APPEND */
	json_t *map;       /* key -> value: the live state */
	uint64_t seq;      /* the last sequence number given out */
	struct buf staged;              /* framed records not yet handed to the writer */
	bool unsynced;                  /* written but not yet fdatasync'ed (offline only) */
	struct journal_waiters waiters; /* barriers for what is staged */
	struct journal_waiters ready;   /* barriers whose records are durable */
	size_t journal_bytes;
	size_t snapshot_bytes;
	size_t compact_bytes;
	bool no_sync;
	int (*before_sync)(void *userdata);
	void *before_sync_data;
	bool broken; /* a fatal error was reported: write nothing more */
	unsigned syncs;
	unsigned compactions;

	/* The writer thread (only with an event base). */
	pthread_t thread;
	bool thread_started;
	struct journal_job job;
	bool inflight;         /* the job is the writer's */
	int done_fd;           /* eventfd: the writer finished a job */
	struct event *done_ev; /* reads done_fd */
	pthread_mutex_t lock;  /* guards the three flags below */
	pthread_cond_t wake;   /* job_ready or quit was set */
	pthread_cond_t done;   /* job_done was set */
	bool job_ready;        /* loop -> writer: run the job */
	bool job_done;         /* writer -> loop: the job ran */
	bool quit;             /* loop -> writer: leave once no job is ready */
};

/* What one file held, as replay found it. */
struct journal_scan {
	size_t bytes;    /* the file's size */
	size_t good_end; /* the offset after the last good record */
	size_t records;  /* good records (snapshot: keys) */
	size_t skipped;  /* journal records the snapshot already holds */
	uint64_t first_seq;
	uint64_t last_seq; /* snapshot: its S */
	bool present;
	bool loaded; /* replayed without corruption */
	bool torn;
	char why[JOURNAL_WHY_MAX]; /* what is wrong at good_end when torn */
	double mtime;
};

/* A directory's state as read from disk. */
struct journal_state {
	json_t *map;
	struct journal_scan snapshot;
	struct journal_scan journal;
};

/* The default: leave at once; systemd restarts us and replay recovers. */
static void journal_default_fatal(const char *msg)
{
	_exit(EXIT_FAILURE);
}

void (*journal_fatal_hook)(const char *msg) = journal_default_fatal;

/* Report that what on path failed with err, and stop writing. */
static void journal_fatal(struct journal *j, const char *what, const char *path, int err)
{
	_cleanup_free_ char *msg = xasprintf("%s: %s failed: %s", path, what, strerror(err));
	log_full(LOG_CRIT, NULL, NULL, "%s; exiting to recover on restart", msg);
	j->broken = true;
	journal_fatal_hook(msg);
}

void journal_put_or_exit(struct journal *j, const char *key, json_t *value)
{
	if (!j)
		return;
	int r = journal_put(j, key, value);
	if (r < 0) {
		_cleanup_free_ char *msg = xasprintf("cannot journal %s: %s", key, strerror(-r));
		log_full(LOG_CRIT, NULL, NULL, "%s; exiting to recover on restart", msg);
		journal_fatal_hook(msg);
	}
}

/* Append a barrier to l. */
static void journal_waiters_add(struct journal_waiters *l, journal_done_fn done, void *userdata)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 8;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = (struct journal_waiter){.done = done, .userdata = userdata};
}

/* A little-endian 32-bit number at p. */
static uint32_t journal_le32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

/* Store v at p, little-endian. */
static void journal_store_le32(char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (char)(v >> (8 * i));
}

/* The crc32 of n bytes. */
static uint32_t journal_crc(const char *p, size_t n)
{
	return (uint32_t)crc32_z(0, (const Bytef *)p, n);
}

/* json_dump_callback's sink into a struct buf. */
static int journal_dump_cb(const char *p, size_t n, void *data)
{
	return buf_append(data, p, n) < 0 ? -1 : 0;
}

/* Append v's compact JSON to b: 0, or -E2BIG. */
static int journal_append_json(struct buf *b, json_t *v)
{
	if (json_dump_callback(v, journal_dump_cb, b, JSON_COMPACT | JSON_ENCODE_ANY) < 0)
		return -E2BIG;
	return 0;
}

/* Append one framed record to b, payload no longer than max: {"s":seq,"k":key,
 * "v":value} (NULL value: a delete).  0, or -EINVAL / -E2BIG with b as it was. */
static int journal_encode(struct buf *b, uint64_t seq, const char *key, json_t *value, size_t max)
{
	json_t *k = json_string(key);
	if (!k)
		return -EINVAL;
	size_t start = b->len;
	char seqbuf[32];
	int n = snprintf(seqbuf, sizeof(seqbuf), "%" PRIu64 ",\"k\":", seq);
	int r = buf_append(b, "\0\0\0\0\0\0\0\0", JOURNAL_HEADER_SIZE);
	if (r >= 0)
		r = buf_append(b, journal_prefix, strlen(journal_prefix));
	if (r >= 0)
		r = buf_append(b, seqbuf, (size_t)n);
	if (r >= 0)
		r = journal_append_json(b, k);
	if (r >= 0)
		r = buf_append(b, ",\"v\":", 5);
	if (r >= 0)
		r = value ? journal_append_json(b, value) : buf_append(b, "null", 4);
	if (r >= 0)
		r = buf_append(b, "}", 1);
	json_decref(k);
	size_t len = b->len - start - JOURNAL_HEADER_SIZE;
	if (r >= 0 && len > max)
		r = -E2BIG;
	if (r < 0) {
		b->len = start;
		if (b->data)
			b->data[start] = '\0';
		return r;
	}
	journal_store_le32(b->data + start, (uint32_t)len);
	journal_store_le32(b->data + start + 4,
			   journal_crc(b->data + start + JOURNAL_HEADER_SIZE, len));
	return 0;
}

/* Read the record at off: 0 with its payload (an object) and the offset after
 * it, or -EBADMSG with why. */
static int journal_read_record(const char *data, size_t size, size_t off, json_t **ret_payload,
			       size_t *ret_next, char *why)
{
	size_t left = size - off;
	if (left < JOURNAL_HEADER_SIZE) {
		snprintf(why, JOURNAL_WHY_MAX, "short header (%zu of %d bytes)", left,
			 JOURNAL_HEADER_SIZE);
		return -EBADMSG;
	}
	uint32_t len = journal_le32(data + off), crc = journal_le32(data + off + 4);
	if (len > JOURNAL_RECORD_MAX) {
		snprintf(why, JOURNAL_WHY_MAX, "length %" PRIu32 " over the limit of %u", len,
			 JOURNAL_RECORD_MAX);
		return -EBADMSG;
	}
	if (len > left - JOURNAL_HEADER_SIZE) {
		snprintf(why, JOURNAL_WHY_MAX,
			 "length %" PRIu32 " runs past the end (%zu bytes left)", len,
			 left - JOURNAL_HEADER_SIZE);
		return -EBADMSG;
	}
	const char *payload = data + off + JOURNAL_HEADER_SIZE;
	if (journal_crc(payload, len) != crc) {
		snprintf(why, JOURNAL_WHY_MAX, "checksum mismatch");
		return -EBADMSG;
	}
	json_error_t err;
	json_t *p = json_loadb(payload, len, 0, &err);
	if (!p) {
		snprintf(why, JOURNAL_WHY_MAX, "bad JSON: %.*s", JSON_ERROR_TEXT_LENGTH, err.text);
		return -EBADMSG;
	}
	if (!json_is_object(p)) {
		json_decref(p);
		snprintf(why, JOURNAL_WHY_MAX, "payload is not an object");
		return -EBADMSG;
	}
	*ret_payload = p;
	*ret_next = off + JOURNAL_HEADER_SIZE + len;
	return 0;
}

/* A key record's fields (borrowed from payload): 0, or -EBADMSG with why. */
static int journal_record_fields(json_t *payload, uint64_t *ret_seq, const char **ret_key,
				 json_t **ret_value, char *why)
{
	json_t *s = json_object_get(payload, "s"), *k = json_object_get(payload, "k");
	json_t *v = json_object_get(payload, "v");
	if (!json_is_integer(s) || json_integer_value(s) < 1) {
		snprintf(why, JOURNAL_WHY_MAX, "no sequence number");
		return -EBADMSG;
	}
	if (!json_is_string(k)) {
		snprintf(why, JOURNAL_WHY_MAX, "no key");
		return -EBADMSG;
	}
	if (!v) {
		snprintf(why, JOURNAL_WHY_MAX, "no value");
		return -EBADMSG;
	}
	*ret_seq = (uint64_t)json_integer_value(s);
	*ret_key = json_string_value(k);
	*ret_value = json_is_null(v) ? NULL : v;
	return 0;
}

/* Read a key record at off: 0 with its payload and fields, or -EBADMSG with why. */
static int journal_read_key_record(const char *data, size_t size, size_t off, json_t **ret_payload,
				   size_t *ret_next, uint64_t *ret_seq, const char **ret_key,
				   json_t **ret_value, char *why)
{
	json_t *p;
	size_t next;
	int r = journal_read_record(data, size, off, &p, &next, why);
	if (r < 0)
		return r;
	r = journal_record_fields(p, ret_seq, ret_key, ret_value, why);
	if (r < 0) {
		json_decref(p);
		return r;
	}
	*ret_payload = p;
	*ret_next = next;
	return 0;
}

/* Whether a good key record starts anywhere at or after from.  Our payloads
 * start with {"s":, so only offsets 8 bytes before a '{' are tried. */
static bool journal_good_record_after(const char *data, size_t size, size_t from)
{
	const size_t plen = strlen(journal_prefix);
	if (size < JOURNAL_HEADER_SIZE + plen || from > size - JOURNAL_HEADER_SIZE - plen)
		return false;
	const char *p = data + from + JOURNAL_HEADER_SIZE, *end = data + size - plen + 1;
	while (p < end && (p = memchr(p, '{', (size_t)(end - p)))) {
		size_t off = (size_t)(p - data) - JOURNAL_HEADER_SIZE;
		uint32_t len = journal_le32(data + off);
		p++;
		if (len < plen || len > JOURNAL_RECORD_MAX ||
		    len > size - off - JOURNAL_HEADER_SIZE ||
		    memcmp(data + off + JOURNAL_HEADER_SIZE, journal_prefix, plen) != 0)
			continue;
		json_t *payload, *value;
		size_t next;
		uint64_t seq;
		const char *key;
		char why[JOURNAL_WHY_MAX];
		if (journal_read_key_record(data, size, off, &payload, &next, &seq, &key, &value,
					    why) >= 0) {
			json_decref(payload);
			return true;
		}
	}
	return false;
}

/* Set or delete key in map. */
static void journal_apply(json_t *map, const char *key, json_t *value)
{
	if (value)
		json_object_set(map, key, value);
	else
		json_object_del(map, key);
}

/* "PATH: corrupt record at offset N: why". */
static char *journal_corrupt_msg(const char *path, size_t off, const char *why)
{
	return xasprintf("%s: corrupt record at offset %zu: %s", path, off, why);
}

/* Load a snapshot into map: 0, or -EBADMSG with *ret_error. */
static int journal_replay_snapshot(const char *path, const char *data, size_t size, json_t *map,
				   struct journal_scan *sc, char **ret_error)
{
	char why[JOURNAL_WHY_MAX];
	json_t *p;
	size_t off = 0, next;
	if (size == 0) {
		*ret_error = journal_corrupt_msg(path, 0, "empty file, no snapshot header");
		return -EBADMSG;
	}
	if (journal_read_record(data, size, 0, &p, &next, why) < 0) {
		*ret_error = journal_corrupt_msg(path, 0, why);
		return -EBADMSG;
	}
	json_t *s = json_object_get(p, "s");
	bool ok = json_integer_value(json_object_get(p, "snapshot")) == 1 && json_is_integer(s) &&
		  json_integer_value(s) >= 0;
	sc->last_seq = ok ? (uint64_t)json_integer_value(s) : 0;
	json_decref(p);
	if (!ok) {
		*ret_error = journal_corrupt_msg(path, 0, "not a snapshot header");
		return -EBADMSG;
	}
	for (off = next; off < size; off = next) {
		uint64_t seq;
		const char *key;
		json_t *value;
		if (journal_read_key_record(data, size, off, &p, &next, &seq, &key, &value, why) <
		    0) {
			*ret_error = journal_corrupt_msg(path, off, why);
			return -EBADMSG;
		}
		journal_apply(map, key, value);
		json_decref(p);
	}
	sc->records = json_object_size(map);
	sc->good_end = size;
	sc->loaded = true;
	return 0;
}

/* Replay a journal onto map, skipping what a snapshot at snap_seq holds.  0
 * (with sc->torn when the tail is torn), or -EBADMSG with *ret_error; map is
 * then half-changed and only good for throwing away. */
static int journal_replay_journal(const char *path, const char *data, size_t size, json_t *map,
				  uint64_t snap_seq, struct journal_scan *sc, char **ret_error)
{
	size_t off = 0, next;
	while (off < size) {
		char why[JOURNAL_WHY_MAX];
		json_t *p, *value;
		uint64_t seq;
		const char *key;
		if (journal_read_key_record(data, size, off, &p, &next, &seq, &key, &value, why) <
		    0) {
			if (journal_good_record_after(data, size, off + 1)) {
				*ret_error = journal_corrupt_msg(path, off, why);
				return -EBADMSG;
			}
			sc->torn = true;
			snprintf(sc->why, sizeof(sc->why), "%s", why);
			break;
		}
		if (seq > snap_seq)
			journal_apply(map, key, value);
		else
			sc->skipped++;
		if (!sc->first_seq)
			sc->first_seq = seq;
		if (seq > sc->last_seq)
			sc->last_seq = seq;
		sc->records++;
		json_decref(p);
		off = next;
	}
	sc->good_end = off;
	sc->loaded = true;
	return 0;
}

/* Read all of fd: 0 with a malloc'd buffer and its size, or -errno.  Only
 * st_size bytes are read, so a device behind the path reads as empty. */
static int journal_read_all(int fd, char **ret_data, size_t *ret_size, double *ret_mtime)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	size_t size = S_ISREG(st.st_mode) ? (size_t)st.st_size : 0, got = 0;
	char *data = xmalloc(size + 1);
	while (got < size) {
		ssize_t n = pread(fd, data + got, size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			free(data);
			return r;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	data[got] = '\0';
	*ret_data = data;
	*ret_size = got;
	*ret_mtime = (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
	return 0;
}

/* Read and replay DIR's files into st.  journal_fd: the journal, already open
 * (open), or -1 to open it read-only if it exists (check).  0 (torn tail
 * noted in st), -EBADMSG or -errno with *ret_error. */
static int journal_read_dir(const char *dir, int journal_fd, struct journal_state *st,
			    char **ret_error)
{
	_cleanup_free_ char *snapshot_path = xasprintf("%s/snapshot", dir);
	_cleanup_free_ char *journal_path = xasprintf("%s/journal", dir);
	_cleanup_free_ char *data = NULL;
	size_t size;
	int r;

	int fd = open(snapshot_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT) {
		r = -errno;
		*ret_error = xasprintf("%s: %s", snapshot_path, strerror(-r));
		return r;
	}
	if (fd >= 0) {
		r = journal_read_all(fd, &data, &size, &st->snapshot.mtime);
		close(fd);
		if (r < 0) {
			*ret_error = xasprintf("%s: %s", snapshot_path, strerror(-r));
			return r;
		}
		st->snapshot.present = true;
		st->snapshot.bytes = size;
		r = journal_replay_snapshot(snapshot_path, data, size, st->map, &st->snapshot,
					    ret_error);
		if (r < 0)
			return r;
		free(TAKE_PTR(data));
	}

	fd = journal_fd;
	if (fd < 0) {
		fd = open(journal_path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			return 0;
		if (fd < 0) {
			r = -errno;
			*ret_error = xasprintf("%s: %s", journal_path, strerror(-r));
			return r;
		}
	}
	r = journal_read_all(fd, &data, &size, &st->journal.mtime);
	if (fd != journal_fd)
		close(fd);
	if (r < 0) {
		*ret_error = xasprintf("%s: %s", journal_path, strerror(-r));
		return r;
	}
	st->journal.present = true;
	st->journal.bytes = size;
	return journal_replay_journal(journal_path, data, size, st->map, st->snapshot.last_seq,
				      &st->journal, ret_error);
}

/* strcmp for qsort over an array of strings. */
static int journal_cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* map's keys (borrowed), sorted; the array is the caller's. */
static const char **journal_sorted_keys(json_t *map, size_t *ret_n)
{
	size_t n = json_object_size(map), i = 0;
	const char **keys = xreallocarray(NULL, n ? n : 1, sizeof(*keys));
	const char *key;
	json_t *value;
	json_object_foreach(map, key, value) keys[i++] = key;
	qsort(keys, n, sizeof(*keys), journal_cmp_keys);
	*ret_n = n;
	return keys;
}

/* fsync a directory, so that a file created or renamed in it stays: 0 or -errno. */
static int journal_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

/* Write all of p to fd through short writes and EINTR: 0 or -errno. */
static int journal_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Serialize map as a snapshot at seq into b: 0, or -E2BIG (which journal_put()
 * leaves no room for).  The writer does this on a copy of the map the loop
 * made: measured on 100 and 1,000 endpoint-sized records, json_deep_copy()
 * takes about half the time this encoding does, so the copy is what the loop
 * pays; the encoding, the key sort and freeing the copy are the writer's.
 */
static int journal_encode_snapshot(json_t *map, uint64_t seq, struct buf *b)
{
	char hdr[64];
	int n = snprintf(hdr, sizeof(hdr), "{\"snapshot\":1,\"s\":%" PRIu64 "}", seq);
	char frame[JOURNAL_HEADER_SIZE];
	journal_store_le32(frame, (uint32_t)n);
	journal_store_le32(frame + 4, journal_crc(hdr, (size_t)n));
	buf_append(b, frame, sizeof(frame));
	buf_append(b, hdr, (size_t)n);
	size_t nkeys;
	_cleanup_free_ const char **keys = journal_sorted_keys(map, &nkeys);
	for (size_t i = 0; i < nkeys; i++) {
		/* Fits: journal_put() left room for the longer sequence number. */
		int r = journal_encode(b, seq, keys[i], json_object_get(map, keys[i]),
				       JOURNAL_RECORD_MAX);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Note that what on path failed with err (a positive errno); false, for returning. */
static bool journal_job_fail(struct journal_job *job, const char *what, const char *path, int err)
{
	job->what = what;
	job->path = path;
	job->err = err;
	return false;
}

/* Encode the job's copy of the map and free it, write that to snapshot.tmp,
 * fsync it, rename it over snapshot, fsync DIR, then cut the journal and fsync
 * it.  false on an error noted in job. */
static bool journal_job_snapshot(struct journal *j, struct journal_job *job)
{
	int r = journal_encode_snapshot(job->snapshot_map, job->snapshot_seq, &job->snapshot);
	job->snapshot_map = (json_decref(job->snapshot_map), NULL);
	if (r < 0)
		return journal_job_fail(job, "encoding a record", j->tmp_path, -r);
	int fd = open(j->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return journal_job_fail(job, "open", j->tmp_path, errno);
	r = journal_write_all(fd, job->snapshot.data, job->snapshot.len);
	if (r < 0)
		journal_job_fail(job, "write", j->tmp_path, -r);
	else if (!j->no_sync && fsync(fd) < 0)
		journal_job_fail(job, "fsync", j->tmp_path, errno);
	if (close(fd) < 0 && !job->err)
		journal_job_fail(job, "close", j->tmp_path, errno);
	if (job->err)
		return false;
	if (rename(j->tmp_path, j->snapshot_path) < 0)
		return journal_job_fail(job, "rename", j->snapshot_path, errno);
	r = j->no_sync ? 0 : journal_fsync_dir(j->dir);
	if (r < 0)
		return journal_job_fail(job, "fsync", j->dir, -r);
	if (ftruncate(j->fd, 0) < 0)
		return journal_job_fail(job, "ftruncate", j->journal_path, errno);
	if (!j->no_sync && fsync(j->fd) < 0)
		return journal_job_fail(job, "fsync", j->journal_path, errno);
	return true;
}

/*
 * Do the disk work of a job: append its records, fdatasync, then write its
 * snapshot if it has one.  Runs on the writer thread (or the caller's, when
 * the thread is idle): it touches only the job (jansson only on the job's own
 * copy of the map) and what never changes after open, and it neither logs nor
 * calls back; the loop reads the outcome.
 */
static void journal_job_run(struct journal *j, struct journal_job *job)
{
	job->err = 0;
	if (job->data.len > 0) {
		int r = journal_write_all(j->fd, job->data.data, job->data.len);
		if (r < 0) {
			journal_job_fail(job, "write", j->journal_path, -r);
			goto out;
		}
	}
	if (job->sync) {
		int r = j->before_sync ? j->before_sync(j->before_sync_data) : 0;
		if (r == 0 && !j->no_sync && fdatasync(j->fd) < 0)
			r = -errno;
		if (r < 0) {
			journal_job_fail(job, "fdatasync", j->journal_path, -r);
			goto out;
		}
	}
	if (job->snapshot_map)
		journal_job_snapshot(j, job);
out:
	job->snapshot_map = (json_decref(job->snapshot_map), NULL);
}

/* Whether the journal, once n more bytes are in it, is worth a snapshot. */
static bool journal_compact_due(const struct journal *j, size_t n)
{
	size_t bytes = j->journal_bytes + n;
	return bytes > j->compact_bytes && bytes / 2 > j->snapshot_bytes;
}

/* Append the waiters of from to to, leaving from empty. */
static void journal_waiters_move(struct journal_waiters *to, struct journal_waiters *from)
{
	if (!to->n) {
		free(to->v);
		*to = *from;
		*from = (struct journal_waiters){0};
		return;
	}
	for (size_t i = 0; i < from->n; i++)
		journal_waiters_add(to, from->v[i].done, from->v[i].userdata);
	free(from->v);
	*from = (struct journal_waiters){0};
}

/*
 * Make the job from what is staged: swap the staged buffer with the job's
 * (empty) one, and copy the map for a snapshot as snap says: now, or if the
 * journal will be past the threshold.
 * 0, or -EIO once a fatal error was reported.
 */
static int journal_job_fill(struct journal *j, bool sync, enum journal_snapshot snap)
{
	struct journal_job *job = &j->job;
	struct buf t = job->data;
	job->data = j->staged;
	j->staged = t;
	job->sync = sync && (job->data.len > 0 || j->unsynced);
	job->err = 0;
	if (snap == JOURNAL_SNAPSHOT_NOW ||
	    (snap == JOURNAL_SNAPSHOT_IF_DUE && journal_compact_due(j, job->data.len))) {
		job->snapshot_map = json_deep_copy(j->map);
		if (!job->snapshot_map) {
			journal_fatal(j, "copying the map for", j->tmp_path, ENOMEM);
			return -EIO;
		}
		job->snapshot_seq = j->seq;
		job->snapshot_keys = json_object_size(j->map);
	}
	return 0;
}

/* Take in the outcome of the job that just ran: counters, or the fatal error
 * (raised here, on the loop); its waiters become ready.  0 or -EIO. */
static int journal_job_done(struct journal *j)
{
	struct journal_job *job = &j->job;
	size_t written = job->data.len;
	if (job->data.cap > JOURNAL_STAGE_KEEP)
		buf_reset(&job->data);
	else
		job->data.len = 0;
	size_t snapshot = job->snapshot.len;
	buf_reset(&job->snapshot);
	if (job->err) {
		free(job->waiters.v);
		job->waiters = (struct journal_waiters){0};
		journal_fatal(j, job->what, job->path, job->err);
		return -EIO;
	}
	j->journal_bytes += written;
	if (job->sync) {
		j->unsynced = false;
		j->syncs++;
	} else if (written) {
		j->unsynced = true;
	}
	if (snapshot) {
		log_debug("%s: snapshot of %zu keys at seq %" PRIu64
			  " (%zu bytes); journal cut from %zu bytes",
			  j->dir, job->snapshot_keys, job->snapshot_seq, snapshot, j->journal_bytes);
		j->journal_bytes = 0;
		j->snapshot_bytes = snapshot;
		j->compactions++;
	}
	journal_waiters_move(&j->ready, &job->waiters);
	return 0;
}

/* Run a job from what is staged on the caller's thread, the writer being idle:
 * offline, for journal_compact() and for journal_free().  0 or -EIO. */
static int journal_run_here(struct journal *j, bool sync, enum journal_snapshot snap)
{
	if (j->broken)
		return -EIO;
	if (journal_job_fill(j, sync, snap) < 0)
		return -EIO;
	journal_job_run(j, &j->job);
	return journal_job_done(j);
}

/* The writer thread: run each job handed to it, then say so through the
 * eventfd; leave when told to quit with no job waiting. */
static void *journal_writer(void *arg)
{
	struct journal *j = arg;
	pthread_mutex_lock(&j->lock);
	for (;;) {
		while (!j->job_ready && !j->quit)
			pthread_cond_wait(&j->wake, &j->lock);
		if (!j->job_ready)
			break;
		j->job_ready = false;
		pthread_mutex_unlock(&j->lock);
		journal_job_run(j, &j->job);
		pthread_mutex_lock(&j->lock);
		j->job_done = true;
		pthread_cond_signal(&j->done);
		uint64_t one = 1;
		/* Only EAGAIN can fail it: the counter is already nonzero then. */
		(void)!write(j->done_fd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

/* Hand what is staged and the barriers waiting on it to the writer thread. */
static void journal_start(struct journal *j)
{
	if (journal_job_fill(j, true, JOURNAL_SNAPSHOT_IF_DUE) < 0)
		return;
	journal_waiters_move(&j->job.waiters, &j->waiters);
	j->inflight = true;
	event_add(j->done_ev, NULL);
	pthread_mutex_lock(&j->lock);
	j->job_ready = true;
	pthread_cond_signal(&j->wake);
	pthread_mutex_unlock(&j->lock);
}

/* Take the in-flight job's outcome if the writer is done with it: whether it was. */
static bool journal_reap(struct journal *j, bool wait)
{
	if (!j->inflight)
		return false;
	pthread_mutex_lock(&j->lock);
	while (wait && !j->job_done)
		pthread_cond_wait(&j->done, &j->lock);
	bool done = j->job_done;
	j->job_done = false;
	pthread_mutex_unlock(&j->lock);
	if (!done)
		return false;
	j->inflight = false;
	journal_job_done(j);
	return true;
}

/* Call the barriers whose records are durable, in order.  j may be freed by
 * any of them, so nothing here touches it afterwards. */
static void journal_deliver(struct journal *j)
{
	struct journal_waiters w = j->ready;
	j->ready = (struct journal_waiters){0};
	for (size_t i = 0; i < w.n; i++)
		w.v[i].done(w.v[i].userdata);
	free(w.v);
}

/* Schedule the flush for the next loop turn, unless it already is. */
static void journal_arm(struct journal *j)
{
	static const struct timeval zero = {0, 0};
	if (j->flush_armed || !j->flush_ev)
		return;
	event_add(j->flush_ev, &zero);
	j->flush_armed = true;
}

/* The writer finished a job: take its outcome, form the next batch from what
 * was staged meanwhile, then tell the barriers of the one that finished. */
static void journal_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct journal *j = arg;
	uint64_t n;
	(void)!read(fd, &n, sizeof(n));
	if (!journal_reap(j, false) && j->inflight)
		event_add(j->done_ev, NULL); /* a count left by a job reaped by waiting */
	if (j->broken)
		return;
	if (j->staged.len > 0 || j->waiters.n > 0)
		journal_arm(j);
	journal_deliver(j);
}

/* The group commit: hand the batch to the writer, unless one is in flight
 * (the next batch forms until it ends); with nothing staged, every barrier
 * waiting is already durable and runs now. */
static void journal_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct journal *j = arg;
	j->flush_armed = false;
	if (j->broken || j->inflight)
		return;
	if (j->staged.len == 0) {
		journal_waiters_move(&j->ready, &j->waiters);
		journal_deliver(j);
		return;
	}
	journal_start(j);
}

/* Open: paths, the journal file, the state on disk, the torn tail cut. */
static int journal_load(struct journal *j, char **ret_error)
{
	struct stat st;
	int r = stat(j->dir, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (r < 0) {
		*ret_error = xasprintf("%s: %s", j->dir, strerror(-r));
		return r;
	}
	j->fd = open(j->journal_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (j->fd < 0) {
		r = -errno;
		*ret_error = xasprintf("%s: %s", j->journal_path, strerror(-r));
		return r;
	}
	/* Two daemons appending to one journal would interleave their records. */
	if (flock(j->fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		*ret_error = xasprintf("%s: %s", j->journal_path,
				       r == -EBUSY ? "in use by another process" : strerror(-r));
		return r;
	}
	struct journal_state s = {.map = j->map};
	r = journal_read_dir(j->dir, j->fd, &s, ret_error);
	if (r < 0)
		return r;
	if (s.journal.torn) {
		size_t dropped = s.journal.bytes - s.journal.good_end;
		if (ftruncate(j->fd, (off_t)s.journal.good_end) < 0 ||
		    (!j->no_sync && fsync(j->fd) < 0)) {
			r = -errno;
			*ret_error = xasprintf("%s: cutting the torn tail at offset %zu: %s",
					       j->journal_path, s.journal.good_end, strerror(-r));
			return r;
		}
		log_warning("%s: torn tail at offset %zu: %s; truncated %zu bytes", j->journal_path,
			    s.journal.good_end, s.journal.why, dropped);
	}
	/* The journal may have just been created: keep its name. */
	if (!j->no_sync && (r = journal_fsync_dir(j->dir)) < 0) {
		*ret_error = xasprintf("%s: fsync: %s", j->dir, strerror(-r));
		return r;
	}
	(void)unlink(j->tmp_path);
	j->seq =
	    s.snapshot.last_seq > s.journal.last_seq ? s.snapshot.last_seq : s.journal.last_seq;
	j->journal_bytes = s.journal.good_end;
	j->snapshot_bytes = s.snapshot.bytes;
	log_debug("%s: %zu keys from a snapshot of %zu bytes and %zu journal records, seq %" PRIu64,
		  j->dir, json_object_size(j->map), s.snapshot.bytes, s.journal.records, j->seq);
	return 0;
}

/* Start the writer thread and the event that hears from it, with every signal
 * blocked in the thread so that they all reach the loop's: 0 or -errno. */
static int journal_start_writer(struct journal *j)
{
	j->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (j->done_fd < 0)
		return -errno;
	j->done_ev = event_new(j->base, j->done_fd, EV_READ, journal_done_cb, j);
	j->flush_ev = evtimer_new(j->base, journal_flush_cb, j);
	if (!j->done_ev || !j->flush_ev)
		return -ENOMEM;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = -pthread_create(&j->thread, NULL, journal_writer, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		return r;
	j->thread_started = true;
	pthread_setname_np(j->thread, "journal");
	return 0;
}

/* Open DIR's journal, replay it and hand every live key to load. */
int journal_open(struct event_base *base, const char *dir, const struct journal_options *opt,
		 journal_load_fn load, void *userdata, struct journal **ret, char **ret_error)
{
	_cleanup_free_ char *error = NULL;
	struct journal *j = xcalloc(1, sizeof(*j));
	j->base = base;
	j->fd = -1;
	j->done_fd = -1;
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->wake, NULL);
	pthread_cond_init(&j->done, NULL);
	j->dir = xstrdup(dir);
	j->journal_path = xasprintf("%s/journal", dir);
	j->snapshot_path = xasprintf("%s/snapshot", dir);
	j->tmp_path = xasprintf("%s/snapshot.tmp", dir);
	j->map = json_object();
	j->compact_bytes = opt && opt->compact_bytes ? opt->compact_bytes : JOURNAL_COMPACT_BYTES;
	j->no_sync = opt && opt->no_sync;
	if (opt) {
		j->before_sync = opt->before_sync;
		j->before_sync_data = opt->before_sync_data;
	}

	int r = journal_load(j, &error);
	if (r >= 0 && load) {
		size_t n;
		_cleanup_free_ const char **keys = journal_sorted_keys(j->map, &n);
		for (size_t i = 0; i < n && r >= 0; i++) {
			r = load(keys[i], json_object_get(j->map, keys[i]), userdata);
			if (r < 0)
				error = xasprintf("%s: loading %s: %s", dir, keys[i], strerror(-r));
		}
	}
	if (r >= 0 && base && (r = journal_start_writer(j)) < 0)
		error = xasprintf("%s: starting the journal writer: %s", dir, strerror(-r));
	if (r < 0) {
		journal_free(j);
		if (ret_error)
			*ret_error = TAKE_PTR(error);
		return r;
	}
	*ret = j;
	return 0;
}

/* Stage key -> value and change the map. */
int journal_put(struct journal *j, const char *key, json_t *value)
{
	if (value && json_is_null(value))
		value = NULL;
	int r = journal_encode(&j->staged, j->seq + 1, key, value,
			       JOURNAL_RECORD_MAX - JOURNAL_SEQ_SLACK);
	if (r < 0)
		return r;
	j->seq++;
	journal_apply(j->map, key, value);
	if (j->staged.len > JOURNAL_STAGE_MAX) {
		/* Bound memory: offline, write it out now; online, start the
		 * batch now unless one is in flight (this one then ends it). */
		if (!j->base)
			journal_run_here(j, false, JOURNAL_SNAPSHOT_NEVER);
		else if (!j->inflight && !j->broken)
			journal_start(j);
	}
	journal_arm(j);
	return 0;
}

/* Call done once what was put before now is durable. */
void journal_barrier(struct journal *j, journal_done_fn done, void *userdata)
{
	if (!j->base) {
		if (journal_run_here(j, true, JOURNAL_SNAPSHOT_IF_DUE) == 0)
			done(userdata);
		return;
	}
	journal_waiters_add(&j->waiters, done, userdata);
	journal_arm(j);
}

/* The value of key, borrowed. */
json_t *journal_get(struct journal *j, const char *key)
{
	return json_object_get(j->map, key);
}

/* Live keys. */
size_t journal_size(const struct journal *j)
{
	return json_object_size(j->map);
}

/* Whether records or barriers still wait for the disk. */
bool journal_busy(const struct journal *j)
{
	return j && !j->broken &&
	       (j->inflight || j->staged.len > 0 || j->waiters.n > 0 || j->ready.n > 0);
}

/* Flush, stop the writer, then free everything; waiting barriers are dropped. */
struct journal *journal_free(struct journal *j)
{
	if (!j)
		return NULL;
	journal_reap(j, true);
	if (j->fd >= 0)
		journal_run_here(j, true, JOURNAL_SNAPSHOT_NEVER);
	if (j->thread_started) {
		pthread_mutex_lock(&j->lock);
		j->quit = true;
		pthread_cond_signal(&j->wake);
		pthread_mutex_unlock(&j->lock);
		pthread_join(j->thread, NULL);
	}
	if (j->flush_ev)
		event_free(j->flush_ev);
	if (j->done_ev)
		event_free(j->done_ev);
	if (j->done_fd >= 0)
		close(j->done_fd);
	if (j->fd >= 0)
		close(j->fd);
	pthread_mutex_destroy(&j->lock);
	pthread_cond_destroy(&j->wake);
	pthread_cond_destroy(&j->done);
	json_decref(j->map);
	buf_reset(&j->staged);
	buf_reset(&j->job.data);
	buf_reset(&j->job.snapshot);
	json_decref(j->job.snapshot_map);
	free(j->job.waiters.v);
	free(j->waiters.v);
	free(j->ready.v);
	free(j->dir);
	free(j->journal_path);
	free(j->snapshot_path);
	free(j->tmp_path);
	free(j);
	return NULL;
}

/* Snapshot the map, then cut the journal: after the batch in flight, on the
 * caller's thread. */
int journal_compact(struct journal *j)
{
	journal_reap(j, true);
	return journal_run_here(j, true, JOURNAL_SNAPSHOT_NOW);
}

/* Report what DIR holds; read-only. */
int journal_read(const char *dir, json_t **ret_map, char **ret_error)
{
	struct stat st;
	if (stat(dir, &st) < 0) {
		int r = -errno;
		*ret_error = xasprintf("%s: %s", dir, strerror(-r));
		return r;
	}
	struct journal_state s = {.map = json_object()};
	int r = journal_read_dir(dir, -1, &s, ret_error);
	if (r < 0) {
		json_decref(s.map);
		return r;
	}
	*ret_map = s.map;
	return 0;
}

int journal_check(const char *dir, FILE *f)
{
	struct stat st;
	if (stat(dir, &st) < 0) {
		int r = -errno;
		fprintf(f, "%s: %s\n", dir, strerror(-r));
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(f, "%s: %s\n", dir, strerror(ENOTDIR));
		return -ENOTDIR;
	}
	_cleanup_free_ char *error = NULL;
	struct journal_state s = {.map = json_object()};
	int r = journal_read_dir(dir, -1, &s, &error);
	if (s.snapshot.loaded)
		fprintf(f,
			"%s/snapshot: %zu keys at seq %" PRIu64 ", %zu bytes, written %.0f s ago\n",
			dir, s.snapshot.records, s.snapshot.last_seq, s.snapshot.bytes,
			now_realtime() - s.snapshot.mtime);
	else if (!s.snapshot.present)
		fprintf(f, "%s/snapshot: none\n", dir);
	if (s.journal.loaded) {
		fprintf(f, "%s/journal: %zu records (%zu already in the snapshot), %zu bytes", dir,
			s.journal.records, s.journal.skipped, s.journal.bytes);
		if (s.journal.records)
			fprintf(f, ", seq %" PRIu64 "..%" PRIu64, s.journal.first_seq,
				s.journal.last_seq);
		fputc('\n', f);
		if (s.journal.torn)
			fprintf(
			    f,
			    "%s/journal: torn tail at offset %zu: %s (%zu bytes that open would "
			    "truncate)\n",
			    dir, s.journal.good_end, s.journal.why,
			    s.journal.bytes - s.journal.good_end);
	} else if (r >= 0) {
		fprintf(f, "%s/journal: none\n", dir);
	}
	if (r >= 0)
		fprintf(f, "%s: %zu live keys\n", dir, json_object_size(s.map));
	else
		fprintf(f, "%s\n", error);
	json_decref(s.map);
	return r;
}

/* Sync points so far. */
unsigned journal_syncs(const struct journal *j)
{
	return j->syncs;
}

/* Compactions so far. */
unsigned journal_compactions(const struct journal *j)
{
	return j->compactions;
}
