/*
 * Journal replay (lib/journal.c) and what the daemon does with the records
 * (endpoint_manager_restore, api_restore_tags): a state directory written
 * from the input, then journal_check, journal_open, a put and a compaction
 * that must keep every key as it was, and the records restored into a daemon
 * wired with no Engine.
 *
 * Input: a flags byte, then payloads separated by NUL bytes (a payload never
 * holds one).  Flags: 1 = frame each payload as a record (length and crc32
 * made right, so that the fuzzer reaches the JSON), else the bytes are the
 * file as they are; 2 = the first payload is the snapshot; 4 = restore the
 * records into a daemon.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "api.h"
#include "endpoint.h"
#include "fuzz.h"
#include "journal.h"
#include "util.h"

static char dir[256];
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	snprintf(dir, sizeof(dir), "%s/state", fuzz_scratch_dir());
	if (mkdir(dir, 0700) < 0)
		abort();
	devnull = fopen("/dev/null", "w");
	if (!devnull)
		abort();
	return 0;
}

/* Appends data as one record, or as it is. */
static void add(struct buf *b, const uint8_t *data, size_t len, bool framed)
{
	if (framed) {
		uint32_t n = (uint32_t)len, crc = (uint32_t)crc32(0, data, (uInt)len);
		uint8_t h[8] = {n, n >> 8, n >> 16, n >> 24, crc, crc >> 8, crc >> 16, crc >> 24};
		buf_append(b, h, sizeof(h));
	}
	buf_append(b, data, len);
}

/* journal_open's load callback: keep a copy of each record. */
static int collect(const char *key, json_t *value, void *userdata)
{
	json_object_set(userdata, key, value);
	return 0;
}

/* Open dir into a map of what it holds; the journal stays open in *ret. */
static int open_journal(json_t **ret_map, struct journal **ret)
{
	struct journal_options opt = {.no_sync = true};
	json_t *map = json_object();
	char *error = NULL;
	int r = journal_open(NULL, dir, &opt, collect, map, ret, &error);
	if (r < 0) {
		if (!error && r == -EBADMSG)
			__builtin_trap(); /* corruption is reported with where and why */
		json_decref(map);
		map = NULL;
	}
	free(error);
	*ret_map = map;
	return r;
}

/* What the daemon does with the records at start. */
static void restore(struct journal *j, json_t *records)
{
	struct fuzz_world w;
	fuzz_world_new(&w, j);
	const char *key;
	json_t *value;
	json_object_foreach(records, key, value)
	{
		char *error = NULL;
		if (str_has_prefix(key, "endpoint/"))
			endpoint_manager_restore(w.manager, value, &error);
		else if (str_has_prefix(key, API_TAGS_KEY_PREFIX))
			api_restore_tags(w.api, key, value);
		free(error);
	}
	fuzz_world_turn(&w);
	fuzz_world_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned flags = data[0];
	bool framed = flags & 1;
	struct buf snapshot = {0}, journal = {0};
	const uint8_t *p = data + 1, *end = data + size;
	bool first = true;
	while (p < end) {
		const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
		size_t len = nul ? (size_t)(nul - p) : (size_t)(end - p);
		if (!framed) /* the NUL bytes are data too */
			len = nul ? len + 1 : len;
		add(first && (flags & 2) ? &snapshot : &journal, p, len, framed);
		first = false;
		p += len + (framed && nul ? 1 : 0);
	}

	fuzz_empty_dir(dir);
	fuzz_write_file(dir, "journal", journal.data ? journal.data : "", journal.len);
	if (flags & 2)
		fuzz_write_file(dir, "snapshot", snapshot.data ? snapshot.data : "", snapshot.len);
	buf_reset(&journal);
	buf_reset(&snapshot);

	journal_check(dir, devnull);
	struct journal *j = NULL;
	json_t *before = NULL, *after = NULL;
	if (open_journal(&before, &j) < 0)
		return 0;
	if (flags & 4)
		restore(j, before);
	/* A put and a compaction keep every key as it was. */
	if (journal_put(j, "fuzz/put", json_true()) < 0 || journal_compact(j) < 0)
		__builtin_trap();
	j = journal_free(j);
	json_object_set_new(before, "fuzz/put", json_true());
	if (open_journal(&after, &j) < 0 || !json_equal(before, after))
		__builtin_trap();
	journal_free(j);
	json_decref(before);
	json_decref(after);
	return 0;
}
