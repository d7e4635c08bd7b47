/*
 * The journal: the daemon's state as a durable map from string keys
 * ("endpoint/my-ep") to JSON values, kept as a write-ahead log (DIR/journal)
 * plus a snapshot (DIR/snapshot).  Puts change the map at once and are
 * written by a group commit: on the next loop turn, everything staged since
 * the last batch goes to the journal's writer thread for one write and one
 * fdatasync, while the loop goes on (and stages the next batch).
 * journal_barrier() says when what was put before it is on disk.  Any error
 * writing or syncing is fatal (journal_fatal_hook, called on the loop): the
 * daemon exits and recovers on restart.
 *
 * Ownership: the caller owns the journal.  The map holds a reference on each
 * value; a value is encoded when it is put, so a change made to it afterwards
 * reaches the disk only with the next put of its key (or a snapshot).
 */
#ifndef ENDPOINTD_JOURNAL_H
#define ENDPOINTD_JOURNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct event_base;
struct journal;

/* The most a record's payload may hold; a longer length on disk is corruption. */
#define JOURNAL_RECORD_MAX (16u * 1024 * 1024)
/* The default compaction threshold. */
#define JOURNAL_COMPACT_BYTES (4u * 1024 * 1024)

/* Called for every key that survives load, in key order (strcmp), value
 * borrowed; a return < 0 aborts journal_open() with that error. */
typedef int (*journal_load_fn)(const char *key, json_t *value, void *userdata);
typedef void (*journal_done_fn)(void *userdata);

struct journal_options {
	size_t compact_bytes; /* compact when the journal passes this and is > 2x the
			       * last snapshot; 0 = JOURNAL_COMPACT_BYTES */
	bool no_sync;         /* tests and benchmarks of the logic only; never in the daemon */
	/* Tests only: called just before each sync of the journal, on the writer
	 * thread (or the caller's, offline and in journal_compact/free); a
	 * return < 0 fails that sync with that error. */
	int (*before_sync)(void *userdata);
	void *before_sync_data;
};

/* Called with a message (path and errno already logged at LOG_CRIT) when a write
 * or sync fails.  The default calls _exit(EXIT_FAILURE).  Tests may replace it;
 * if it returns, the journal stops writing and calls no more barrier callbacks. */
extern void (*journal_fatal_hook)(const char *msg);

/* Opens DIR/journal and DIR/snapshot (creating the journal when missing; DIR
 * must exist; the journal is locked with flock, -EBUSY when another process
 * holds it), loads the snapshot then replays the journal, truncates a torn
 * tail (logged at warning with the file and offset) and calls load for each
 * live key.  -EBADMSG with *ret_error = "DIR/journal: corrupt record at offset
 * N: <why>" when a bad record is followed by a good one, or when the snapshot
 * has any bad record; nothing is loaded or truncated then.  opt may be NULL.
 * base may be NULL for offline use: puts then wait for a barrier, a compaction
 * or journal_free(), and all writing happens in those calls.  With a base, a
 * writer thread does the writing and syncing.  On failure *ret_error (if
 * ret_error) gets a message to log; on success it is untouched. */
int journal_open(struct event_base *base, const char *dir, const struct journal_options *opt,
		 journal_load_fn load, void *userdata, struct journal **ret, char **ret_error);
/* Stages key -> value (NULL or JSON null deletes); the map takes its own
 * reference on value.  The next flush writes it.  -EINVAL when key is not
 * UTF-8, -E2BIG when the record would come within 24 bytes of
 * JOURNAL_RECORD_MAX (room for the snapshot's longer sequence number); the map
 * and the journal are unchanged then. */
int journal_put(struct journal *j, const char *key, json_t *value);
/* journal_put(), where a failure means that what a client is about to be
 * told cannot be made durable: it is fatal (logged, then journal_fatal_hook),
 * as a failed write is.  j may be NULL (nothing is journaled). */
void journal_put_or_exit(struct journal *j, const char *key, json_t *value);
/* done runs from the loop, never inside this call, once everything put before
 * it is durable; barriers run in the order they were made, and puts and
 * barriers made inside done go to the next batch.  Offline (no base) it
 * flushes and calls done before returning. */
void journal_barrier(struct journal *j, journal_done_fn done, void *userdata);
/* The current value of key (borrowed), or NULL. */
json_t *journal_get(struct journal *j, const char *key);
/* Live keys. */
size_t journal_size(const struct journal *j);
/* Whether records or barriers still wait for the disk (false once a fatal
 * error was reported).  For shutdown: run the loop while it holds, so that
 * every barrier is called, then free.  NULL-safe. */
bool journal_busy(const struct journal *j);
/* Waits for the batch in flight, writes and syncs what is staged, stops the
 * writer thread, then frees; barriers still waiting are dropped without being
 * called.  Blocks on the disk (for shutdown).  Call it before freeing the
 * event base.  NULL-safe; returns NULL. */
struct journal *journal_free(struct journal *j);
/* Writes what is staged, then a snapshot, and cuts the journal, on the
 * caller's thread after waiting for the batch in flight: it blocks on the disk
 * (for tools and tests; the writer also does this after a batch that takes the
 * journal past the threshold).  Barriers are not called from it.  0, or -EIO
 * once a fatal error was reported. */
int journal_compact(struct journal *j);
/* A human report of what DIR holds (records, bytes, keys, snapshot age, torn
 * tail or corruption) to f.  0, -EBADMSG when it found corruption, or -errno
 * when DIR cannot be read.  Read-only: it truncates and creates nothing. */
int journal_check(const char *dir, FILE *f);
/* The live records of DIR (key -> value, a new object) as a start would
 * replay them, read-only as journal_check() is.  -ENOENT when DIR is not
 * there, -EBADMSG on corruption, -errno; *ret_error then says why. */
int journal_read(const char *dir, json_t **ret_map, char **ret_error);

/* Sync points so far: one per flush that wrote something, even with no_sync
 * (for tests and metrics). */
unsigned journal_syncs(const struct journal *j);
/* Compactions so far. */
unsigned journal_compactions(const struct journal *j);

#endif
