/*
 * The journal against real files in a fresh directory under /tmp: round
 * trips, replay, torn tails at every byte, bit flips, group commit on a real
 * event base, compaction and the crash between its rename and its cut, and
 * journal_check's reports.  A test's fatal hook stands in for the exit.  A
 * before_sync hook holds the writer thread's sync until a loop timer lets it
 * go, to show what the loop does meanwhile.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "journal.h"
#include "log.h"
#include "util.h"

static char dir[64];
static struct event_base *base;
static char fatal_msg[512];
static unsigned fatal_calls;
static bool fatal_off_main; /* the hook ran on a thread other than the test's */
static pthread_t main_thread;
static const struct journal_options fast = {.no_sync = true};

/* Stands in for the exit: remember the message and the thread. */
static void test_fatal(const char *msg)
{
	fatal_calls++;
	if (!pthread_equal(pthread_self(), main_thread))
		fatal_off_main = true;
	snprintf(fatal_msg, sizeof(fatal_msg), "%s", msg);
}

/* The before_sync hook's state, shared with the writer thread. */
static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hook_cond = PTHREAD_COND_INITIALIZER;
static bool hook_hold;        /* the hook waits while this is set */
static bool hook_timed_out;   /* it waited 10 s: the loop never let it go */
static unsigned hook_entered; /* syncs started */
static unsigned hook_left;    /* syncs let go */
static unsigned hook_sleep_ms;
static int hook_error;            /* returned by the hook: fails the sync */
static bool hook_on_main;         /* a sync ran on the test's thread */

/* Stands before each sync: count it, then wait while held. */
static int hook_before_sync(void *userdata)
{
	pthread_mutex_lock(&hook_lock);
	hook_entered++;
	if (pthread_equal(pthread_self(), main_thread))
		hook_on_main = true;
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 10;
	while (hook_hold && !hook_timed_out)
		if (pthread_cond_timedwait(&hook_cond, &hook_lock, &deadline) == ETIMEDOUT)
			hook_timed_out = true;
	unsigned sleep_ms = hook_sleep_ms;
	int r = hook_error;
	pthread_mutex_unlock(&hook_lock);
	if (sleep_ms)
		usleep(sleep_ms * 1000);
	pthread_mutex_lock(&hook_lock);
	hook_left++;
	pthread_mutex_unlock(&hook_lock);
	return r;
}

/* Let a held sync go. */
static void hook_release(void)
{
	pthread_mutex_lock(&hook_lock);
	hook_hold = false;
	pthread_cond_broadcast(&hook_cond);
	pthread_mutex_unlock(&hook_lock);
}

/* Syncs started and syncs let go so far. */
static void hook_counts(unsigned *ret_entered, unsigned *ret_left)
{
	pthread_mutex_lock(&hook_lock);
	*ret_entered = hook_entered;
	*ret_left = hook_left;
	pthread_mutex_unlock(&hook_lock);
}

/* Real syncs, each going through the hook. */
static const struct journal_options hooked = {.before_sync = hook_before_sync};

/* A fresh directory, event base and fatal hook for each test. */
static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/journal-test-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	base = event_base_new();
	journal_fatal_hook = test_fatal;
	fatal_calls = 0;
	fatal_msg[0] = '\0';
	fatal_off_main = false;
	main_thread = pthread_self();
	hook_hold = hook_timed_out = hook_on_main = false;
	hook_entered = hook_left = hook_sleep_ms = 0;
	hook_error = 0;
	log_open("test_journal", LOG_INFO, 0);
}

/* nftw callback: remove one entry. */
static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* Remove the directory and all in it. */
static void teardown(void)
{
	event_base_free(base);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* DIR/name, in a static buffer. */
static const char *path_of(const char *name)
{
	static char p[128];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

/* A whole file (NUL-terminated), or NULL when it is missing. */
static char *slurp(const char *path, size_t *ret_size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct buf b = {0};
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	if (ret_size)
		*ret_size = b.len;
	return buf_steal(&b);
}

/* Replace a file's contents. */
static void spit(const char *path, const char *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(data, 1, size, f), size);
	cr_assert_eq(fclose(f), 0);
}

/* A file's size, or -1 when missing. */
static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) < 0 ? -1 : (long long)st.st_size;
}

/* What the load callback saw. */
struct loaded {
	json_t *map;
	unsigned calls;
	char last_key[128];
	bool out_of_order;
	int fail_with; /* returned for every key when nonzero */
};

/* Collect a loaded key, checking the order. */
static int on_load(const char *key, json_t *value, void *userdata)
{
	struct loaded *l = userdata;
	if (l->calls && strcmp(l->last_key, key) >= 0)
		l->out_of_order = true;
	snprintf(l->last_key, sizeof(l->last_key), "%s", key);
	l->calls++;
	json_object_set(l->map, key, value);
	return l->fail_with;
}

/* Open dir (no event base unless eb), failing the test on error. */
static struct journal *open_ok(struct event_base *eb, const struct journal_options *opt,
			       struct loaded *l)
{
	struct journal *j = NULL;
	char *error = NULL;
	int r = journal_open(eb, dir, opt, l ? on_load : NULL, l, &j, &error);
	cr_assert_eq(r, 0, "journal_open: %s (%s)", strerror(-r), error ? error : "");
	cr_assert_null(error);
	return j;
}

/* Open dir expecting failure r; returns the error message. */
static char *open_fails(int expect, struct loaded *l)
{
	struct loaded unused = {.map = json_object()};
	struct journal *j = NULL;
	char *error = NULL;
	int r = journal_open(NULL, dir, &fast, on_load, l ? l : &unused, &j, &error);
	json_decref(unused.map);
	cr_assert_eq(r, expect, "journal_open returned %d (%s), not %d", r, error ? error : "",
		     expect);
	cr_assert_null(j);
	cr_assert_not_null(error);
	return error;
}

/* The live map after opening dir anew. */
static json_t *reopen_map(void)
{
	struct loaded l = {.map = json_object()};
	journal_free(open_ok(NULL, &fast, &l));
	return l.map;
}

/* An endpoint-ish value. */
static json_t *value_for(unsigned i)
{
	return json_pack("{s:i, s:s+, s:[i,i], s:{s:b}}", "n", (int)i, "name", "endpoint-",
			 i % 2 ? "odd" : "even", "list", (int)i, (int)(i * 7), "nested", "ok",
			 (int)(i % 3 == 0));
}

/* Write n records (keys k0000..) offline with no sync; returns the file and the
 * offset of every record (offs[n] = the file's size). */
static char *write_records(unsigned n, size_t *offs, size_t *ret_size)
{
	struct journal *j = open_ok(NULL, &fast, NULL);
	for (unsigned i = 0; i < n; i++) {
		char key[32];
		snprintf(key, sizeof(key), "k%04u", i);
		json_t *v = value_for(i);
		cr_assert_eq(journal_put(j, key, v), 0);
		json_decref(v);
	}
	journal_free(j);
	size_t size;
	char *data = slurp(path_of("journal"), &size);
	size_t off = 0;
	for (unsigned i = 0; i < n; i++) {
		offs[i] = off;
		uint32_t len = (uint32_t)(unsigned char)data[off] |
			       (uint32_t)(unsigned char)data[off + 1] << 8 |
			       (uint32_t)(unsigned char)data[off + 2] << 16 |
			       (uint32_t)(unsigned char)data[off + 3] << 24;
		off += 8 + len;
	}
	cr_assert_eq(off, size);
	offs[n] = size;
	*ret_size = size;
	return data;
}

static int saved_stderr = -1;
static FILE *captured;

/* Send stderr (the log) to a temporary file. */
static void capture_begin(void)
{
	fflush(stderr);
	captured = tmpfile();
	cr_assert_not_null(captured);
	saved_stderr = dup(STDERR_FILENO);
	dup2(fileno(captured), STDERR_FILENO);
}

/* Put stderr back; returns what was logged meanwhile. */
static char *capture_end(void)
{
	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	rewind(captured);
	struct buf b = {0};
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), captured)) > 0)
		buf_append(&b, chunk, n);
	fclose(captured);
	return buf_steal(&b);
}

/* The report journal_check writes, and its return value. */
static char *check_report(int *ret)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	*ret = journal_check(dir, f);
	fclose(f);
	return text;
}

/* A small xorshift PRNG, so runs repeat. */
static uint64_t rng_state;

/* The next pseudo-random number. */
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

TestSuite(journal, .init = setup, .fini = teardown);

Test(journal, values_put_are_there_after_reopen)
{
	struct journal *j = open_ok(NULL, NULL, NULL);
	json_t *a = value_for(1), *b = value_for(2);
	journal_put(j, "endpoint/a", a);
	journal_put(j, "endpoint/b", b);
	journal_free(j);

	json_t *map = reopen_map();
	cr_assert_eq(json_object_size(map), 2);
	cr_assert(json_equal(json_object_get(map, "endpoint/a"), a));
	cr_assert(json_equal(json_object_get(map, "endpoint/b"), b));
	json_decref(map);
	json_decref(a);
	json_decref(b);
}

Test(journal, a_delete_survives_reopen)
{
	struct journal *j = open_ok(NULL, &fast, NULL);
	json_t *v = value_for(1);
	journal_put(j, "endpoint/a", v);
	journal_put(j, "endpoint/b", v);
	journal_put(j, "endpoint/a", NULL);
	cr_assert_null(journal_get(j, "endpoint/a"));
	journal_free(j);

	json_t *map = reopen_map();
	cr_assert_eq(json_object_size(map), 1);
	cr_assert_null(json_object_get(map, "endpoint/a"));
	json_decref(map);
	json_decref(v);
}

Test(journal, a_json_null_value_deletes_like_null)
{
	struct journal *j = open_ok(NULL, &fast, NULL);
	json_t *v = value_for(1);
	journal_put(j, "endpoint/a", v);
	journal_put(j, "endpoint/a", json_null());
	cr_assert_null(journal_get(j, "endpoint/a"));
	journal_free(j);

	json_t *map = reopen_map();
	cr_assert_eq(json_object_size(map), 0);
	json_decref(map);
	json_decref(v);
}

Test(journal, the_last_put_of_a_key_wins_after_reopen)
{
	struct journal *j = open_ok(NULL, &fast, NULL);
	for (unsigned i = 0; i < 10; i++) {
		json_t *v = value_for(i);
		journal_put(j, "endpoint/a", v);
		json_decref(v);
	}
	journal_free(j);

	json_t *map = reopen_map(), *want = value_for(9);
	cr_assert(json_equal(json_object_get(map, "endpoint/a"), want));
	json_decref(map);
	json_decref(want);
}

Test(journal, replaying_twice_gives_the_same_map_as_replaying_once)
{
	struct journal *j = open_ok(NULL, &fast, NULL);
	for (unsigned i = 0; i < 50; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%u", i % 7);
		json_t *v = value_for(i);
		journal_put(j, key, i % 5 == 4 ? NULL : v);
		json_decref(v);
	}
	journal_free(j);

	json_t *once = reopen_map(), *twice = reopen_map();
	cr_assert(json_equal(once, twice));
	cr_assert_gt(json_object_size(once), 0);
	json_decref(once);
	json_decref(twice);
}

Test(journal, records_are_length_crc32_and_compact_json)
{
	struct journal *j = open_ok(NULL, &fast, NULL);
	json_t *v = json_pack("{s:i}", "x", 1);
	journal_put(j, "endpoint/a", v);
	journal_put(j, "endpoint/a", NULL);
	journal_free(j);
	json_decref(v);

	size_t size;
	_cleanup_free_ char *data = slurp(path_of("journal"), &size);
	const char *p1 = "{\"s\":1,\"k\":\"endpoint/a\",\"v\":{\"x\":1}}";
	const char *p2 = "{\"s\":2,\"k\":\"endpoint/a\",\"v\":null}";
	size_t l1 = strlen(p1), l2 = strlen(p2);
	cr_assert_eq(size, 8 + l1 + 8 + l2);
	uint32_t len, crc;
	memcpy(&len, data, 4); /* the test host is little-endian */
	memcpy(&crc, data + 4, 4);
	cr_assert_eq(len, l1);
	cr_assert_eq(crc, (uint32_t)crc32(0, (const Bytef *)p1, (uInt)l1));
	cr_assert_eq(memcmp(data + 8, p1, l1), 0);
	cr_assert_eq(memcmp(data + 16 + l1, p2, l2), 0);
}

Test(journal, sequence_numbers_continue_after_reopen)
{
	struct journal *j = open_ok(NULL, &fast, NULL);
	journal_put(j, "a", json_true());
	journal_free(j);
	j = open_ok(NULL, &fast, NULL);
	journal_put(j, "b", json_true());
	journal_free(j);

	_cleanup_free_ char *data = slurp(path_of("journal"), NULL);
	cr_assert_not_null(memmem(data, 80, "{\"s\":2,\"k\":\"b\"", 14));
}

Test(journal, load_is_called_once_per_live_key_in_key_order)
{
	struct journal *j = open_ok(NULL, &fast, NULL);
	const char *keys[] = {"m", "b", "z", "a", "endpoint/x", "endpoint/a"};
	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		journal_put(j, keys[i], json_true());
	journal_put(j, "b", NULL);
	journal_free(j);

	struct loaded l = {.map = json_object()};
	journal_free(open_ok(NULL, &fast, &l));
	cr_assert_eq(l.calls, ELEMENTSOF(keys) - 1);
	cr_assert_not(l.out_of_order);
	json_decref(l.map);
}

Test(journal, a_load_callback_error_aborts_open_with_it)
{
	struct journal *j = open_ok(NULL, &fast, NULL);
	journal_put(j, "a", json_true());
	journal_free(j);

	struct loaded l = {.map = json_object(), .fail_with = -ENOMEM};
	_cleanup_free_ char *error = open_fails(-ENOMEM, &l);
	cr_assert_eq(l.calls, 1);
	cr_assert_not_null(strstr(error, "a"));
	json_decref(l.map);
}

Test(journal, random_operations_with_compactions_match_the_model_after_reopen)
{
	rng_state = 0x9e3779b97f4a7c15ull;
	json_t *model = json_object();
	struct journal_options opt = {.compact_bytes = 8192};
	struct journal *j = open_ok(base, &opt, NULL);
	unsigned compactions = 0, forced = 0;
	for (unsigned op = 0; op < 3000; op++) {
		char key[32];
		snprintf(key, sizeof(key), "endpoint/e%02u", (unsigned)(rng() % 40));
		uint64_t dice = rng() % 100;
		if (dice < 20) {
			journal_put(j, key, NULL);
			json_object_del(model, key);
		} else {
			json_t *v = value_for((unsigned)rng());
			journal_put(j, key, v);
			json_object_set(model, key, v);
			json_decref(v);
		}
		if (dice == 99) {
			cr_assert_eq(journal_compact(j), 0);
			forced++;
		}
		if (rng() % 8 == 0)
			event_base_dispatch(base); /* runs the flush */
		if (rng() % 300 == 0) {
			compactions += journal_compactions(j);
			journal_free(j);
			json_t *map = reopen_map();
			cr_assert(json_equal(map, model), "after op %u", op);
			json_decref(map);
			j = open_ok(base, &opt, NULL);
		}
	}
	compactions += journal_compactions(j);
	cr_assert_gt(compactions - forced, 2, "automatic compactions ran too");
	journal_free(j);

	json_t *map = reopen_map();
	cr_assert(json_equal(map, model));
	json_decref(map);
	json_decref(model);
}

Test(journal, a_cut_anywhere_in_the_last_record_drops_only_that_record)
{
	enum { N = 5 };
	size_t offs[N + 1], size;
	_cleanup_free_ char *data = write_records(N, offs, &size);
	size_t last = offs[N - 1];

	for (size_t cut = last; cut <= size; cut++) {
		spit(path_of("journal"), data, cut);
		struct loaded l = {.map = json_object()};
		capture_begin();
		struct journal *j = open_ok(NULL, &fast, &l);
		_cleanup_free_ char *log = capture_end();
		journal_free(j);

		bool whole = cut == size;
		cr_assert_eq(l.calls, whole ? N : N - 1, "cut at %zu", cut);
		cr_assert_eq(json_object_get(l.map, "k0004") != NULL, whole, "cut at %zu", cut);
		cr_assert_eq(file_size(path_of("journal")), (long long)(whole ? size : last),
			     "cut at %zu", cut);
		if (cut > last && cut < size) {
			char want[64];
			snprintf(want, sizeof(want), "torn tail at offset %zu", last);
			cr_assert_not_null(strstr(log, want), "cut at %zu logged: %s", cut, log);
			cr_assert_not_null(strstr(log, "warning"), "cut at %zu logged: %s", cut,
					   log);
			cr_assert_not_null(strstr(log, path_of("journal")));
		} else {
			cr_assert_eq(log[0], '\0', "cut at %zu logged: %s", cut, log);
		}
		json_decref(l.map);
	}
}

Test(journal, a_zero_filled_tail_is_a_torn_tail)
{
	enum { N = 4 };
	size_t offs[N + 1], size;
	_cleanup_free_ char *data = write_records(N, offs, &size);
	char *longer = xcalloc(1, size + 4096);
	memcpy(longer, data, size);
	spit(path_of("journal"), longer, size + 4096);
	free(longer);

	struct loaded l = {.map = json_object()};
	capture_begin();
	journal_free(open_ok(NULL, &fast, &l));
	free(capture_end());
	cr_assert_eq(l.calls, N);
	cr_assert_eq(file_size(path_of("journal")), (long long)size);
	json_decref(l.map);
}

Test(journal, a_bit_flip_in_a_middle_record_is_refused_naming_its_offset)
{
	enum { N = 8, TRIALS = 300 };
	size_t offs[N + 1], size;
	_cleanup_free_ char *data = write_records(N, offs, &size);
	rng_state = 12345;
	for (unsigned t = 0; t < TRIALS; t++) {
		unsigned rec = (unsigned)(rng() % (N - 1));
		size_t byte = offs[rec] + rng() % (offs[rec + 1] - offs[rec]);
		unsigned bit = (unsigned)(rng() % 8);
		data[byte] ^= (char)(1u << bit);
		spit(path_of("journal"), data, size);
		data[byte] ^= (char)(1u << bit);

		struct loaded l = {.map = json_object()};
		_cleanup_free_ char *error = open_fails(-EBADMSG, &l);
		char want[256];
		snprintf(want, sizeof(want),
			 "%s: corrupt record at offset %zu: ", path_of("journal"), offs[rec]);
		cr_assert(str_has_prefix(error, want), "flip of bit %u at %zu: %s", bit, byte,
			  error);
		cr_assert_eq(l.calls, 0);
		cr_assert_eq(file_size(path_of("journal")), (long long)size, "not truncated");
		json_decref(l.map);
	}
}

Test(journal, a_middle_length_pointing_past_the_end_is_corruption_not_a_torn_tail)
{
	enum { N = 4 };
	size_t offs[N + 1], size;
	_cleanup_free_ char *data = write_records(N, offs, &size);
	uint32_t len = (uint32_t)size; /* past the end, under the limit */
	memcpy(data + offs[1], &len, 4);
	spit(path_of("journal"), data, size);

	_cleanup_free_ char *error = open_fails(-EBADMSG, NULL);
	char want[256];
	snprintf(want, sizeof(want), "%s: corrupt record at offset %zu: ", path_of("journal"),
		 offs[1]);
	cr_assert(str_has_prefix(error, want), "%s", error);
	cr_assert_eq(file_size(path_of("journal")), (long long)size);
}

Test(journal, a_bit_flip_in_the_last_record_drops_it_as_a_torn_tail)
{
	enum { N = 8, TRIALS = 200 };
	size_t offs[N + 1], size;
	_cleanup_free_ char *data = write_records(N, offs, &size);
	rng_state = 54321;
	for (unsigned t = 0; t < TRIALS; t++) {
		size_t byte = offs[N - 1] + rng() % (size - offs[N - 1]);
		unsigned bit = (unsigned)(rng() % 8);
		data[byte] ^= (char)(1u << bit);
		spit(path_of("journal"), data, size);
		data[byte] ^= (char)(1u << bit);

		struct loaded l = {.map = json_object()};
		capture_begin();
		journal_free(open_ok(NULL, &fast, &l));
		free(capture_end());
		cr_assert_eq(l.calls, N - 1, "flip of bit %u at %zu", bit, byte);
		cr_assert_null(json_object_get(l.map, "k0007"));
		cr_assert_eq(file_size(path_of("journal")), (long long)offs[N - 1]);
		json_decref(l.map);
	}
}

Test(journal, ten_thousand_records_load_with_every_key_right)
{
	enum { N = 10000 };
	struct journal *j = open_ok(NULL, &fast, NULL);
	for (unsigned i = 0; i < N; i++) {
		char key[32];
		snprintf(key, sizeof(key), "endpoint/e%05u", i);
		json_t *v = value_for(i);
		journal_put(j, key, v);
		json_decref(v);
	}
	journal_free(j);

	struct loaded l = {.map = json_object()};
	uint64_t t0 = now_monotonic_ms();
	journal_free(open_ok(NULL, &fast, &l));
	uint64_t ms = now_monotonic_ms() - t0;
	fprintf(stderr, "journal: opening %d records (%lld bytes) took %" PRIu64 " ms\n", N,
		file_size(path_of("journal")), ms);
	cr_assert_eq(l.calls, N);
	cr_assert_not(l.out_of_order);
	for (unsigned i = 0; i < N; i++) {
		char key[32];
		snprintf(key, sizeof(key), "endpoint/e%05u", i);
		json_t *want = value_for(i);
		cr_assert(json_equal(json_object_get(l.map, key), want), "%s", key);
		json_decref(want);
	}
	json_decref(l.map);
}

/* What a barrier callback saw. */
struct done {
	unsigned calls;
	unsigned syncs_let_go; /* before_sync hooks returned by the time of the call */
	bool data_in_file;
	bool inside_barrier;
	unsigned order;
	unsigned *counter;
	struct journal **jp;
};

static bool in_barrier;

/* Note the call and whether the record of "endpoint/a" is in the file. */
static void on_done(void *userdata)
{
	struct done *d = userdata;
	d->calls++;
	d->inside_barrier = in_barrier;
	size_t size;
	_cleanup_free_ char *data = slurp(path_of("journal"), &size);
	d->data_in_file = data && memmem(data, size, "\"k\":\"endpoint/a\"", 16);
	unsigned entered;
	hook_counts(&entered, &d->syncs_let_go);
	if (d->counter)
		d->order = ++*d->counter;
}

Test(journal, a_barrier_runs_once_after_the_data_is_in_the_file)
{
	struct journal *j = open_ok(base, NULL, NULL);
	struct done d = {0};
	journal_put(j, "endpoint/a", json_true());
	journal_barrier(j, on_done, &d);
	cr_assert_eq(d.calls, 0);
	event_base_dispatch(base);
	cr_assert_eq(d.calls, 1);
	cr_assert(d.data_in_file);
	cr_assert_eq(journal_syncs(j), 1);
	journal_free(j);
}

Test(journal, a_barrier_never_runs_inside_journal_barrier)
{
	struct journal *j = open_ok(base, &fast, NULL);
	struct done d = {0};
	in_barrier = true;
	journal_barrier(j, on_done, &d);
	in_barrier = false;
	event_base_dispatch(base);
	cr_assert_eq(d.calls, 1);
	cr_assert_not(d.inside_barrier);
	journal_free(j);
}

Test(journal, a_hundred_puts_in_one_loop_turn_take_one_sync)
{
	struct journal *j = open_ok(base, NULL, NULL);
	struct done d = {0};
	for (unsigned i = 0; i < 100; i++) {
		char key[32];
		snprintf(key, sizeof(key), "endpoint/e%u", i);
		journal_put(j, key, json_true());
		if (i % 10 == 0)
			journal_barrier(j, on_done, &d);
	}
	event_base_dispatch(base);
	cr_assert_eq(journal_syncs(j), 1);
	cr_assert_eq(d.calls, 10);
	journal_free(j);
}

Test(journal, a_barrier_with_nothing_staged_runs_without_a_sync)
{
	struct journal *j = open_ok(base, NULL, NULL);
	struct done d = {0};
	journal_barrier(j, on_done, &d);
	event_base_dispatch(base);
	cr_assert_eq(d.calls, 1);
	cr_assert_eq(journal_syncs(j), 0);
	journal_free(j);
}

Test(journal, barriers_run_in_the_order_they_were_made)
{
	struct journal *j = open_ok(base, &fast, NULL);
	unsigned counter = 0;
	struct done d[5] = {0};
	for (unsigned i = 0; i < 5; i++) {
		d[i].counter = &counter;
		journal_put(j, "k", json_true());
		journal_barrier(j, on_done, &d[i]);
	}
	event_base_dispatch(base);
	for (unsigned i = 0; i < 5; i++)
		cr_assert_eq(d[i].order, i + 1);
	journal_free(j);
}

static struct journal *nested_j;
static unsigned nested_syncs_seen;
static struct done nested_second;

/* Put and make a barrier from inside a done callback. */
static void on_done_put_more(void *userdata)
{
	nested_syncs_seen = journal_syncs(nested_j);
	journal_put(nested_j, "endpoint/b", json_true());
	journal_barrier(nested_j, on_done, &nested_second);
	cr_assert_eq(nested_second.calls, 0);
}

Test(journal, puts_and_barriers_made_in_a_done_callback_go_to_the_next_batch)
{
	nested_j = open_ok(base, &fast, NULL);
	journal_put(nested_j, "endpoint/a", json_true());
	journal_barrier(nested_j, on_done_put_more, NULL);
	event_base_dispatch(base);
	cr_assert_eq(nested_syncs_seen, 1);
	cr_assert_eq(nested_second.calls, 1);
	cr_assert_eq(journal_syncs(nested_j), 2);
	journal_free(nested_j);
}

/* Free the journal from its own barrier callback. */
static void on_done_free(void *userdata)
{
	struct done *d = userdata;
	d->calls++;
	*d->jp = journal_free(*d->jp);
}

Test(journal, a_done_callback_may_free_the_journal)
{
	struct journal *j = open_ok(base, &fast, NULL);
	struct done first = {.jp = &j}, second = {0};
	journal_put(j, "endpoint/a", json_true());
	journal_barrier(j, on_done_free, &first);
	journal_barrier(j, on_done, &second);
	event_base_dispatch(base);
	cr_assert_null(j);
	cr_assert_eq(first.calls, 1);
	cr_assert_eq(second.calls, 1);
}

Test(journal, journal_free_writes_what_is_staged)
{
	struct journal *j = open_ok(base, NULL, NULL);
	struct done d = {0};
	journal_put(j, "endpoint/a", json_true());
	journal_barrier(j, on_done, &d);
	journal_free(j);
	cr_assert_eq(d.calls, 0, "barriers left waiting are dropped");

	json_t *map = reopen_map();
	cr_assert_not_null(json_object_get(map, "endpoint/a"));
	json_decref(map);
}

Test(journal, a_write_error_is_fatal_and_never_acknowledged)
{
	cr_assert_eq(symlink("/dev/full", path_of("journal")), 0);
	struct journal *j = open_ok(base, NULL, NULL);
	struct done d = {0};
	journal_put(j, "endpoint/a", json_true());
	journal_barrier(j, on_done, &d);
	capture_begin();
	event_base_dispatch(base);
	_cleanup_free_ char *log = capture_end();
	cr_assert_not_null(strstr(log, "crit: "), "%s", log);
	cr_assert_eq(fatal_calls, 1);
	cr_assert_not(fatal_off_main, "the fatal hook runs on the loop's thread");
	cr_assert_not_null(strstr(fatal_msg, path_of("journal")), "%s", fatal_msg);
	cr_assert_not_null(strstr(fatal_msg, strerror(ENOSPC)), "%s", fatal_msg);
	cr_assert_eq(d.calls, 0);
	cr_assert_eq(journal_compact(j), -EIO);
	journal_free(j);
	cr_assert_eq(fatal_calls, 1, "nothing more is tried");
}

Test(journal, an_oversized_value_is_refused_and_changes_nothing)
{
	struct journal *j = open_ok(base, NULL, NULL);
	journal_put(j, "endpoint/a", json_true());
	char *big = xmalloc(JOURNAL_RECORD_MAX + 1);
	memset(big, 'x', JOURNAL_RECORD_MAX);
	big[JOURNAL_RECORD_MAX] = '\0';
	json_t *v = json_string(big);
	free(big);
	cr_assert_eq(journal_put(j, "endpoint/a", v), -E2BIG);
	json_decref(v);
	cr_assert(json_is_true(journal_get(j, "endpoint/a")));
	journal_free(j);
	cr_assert_lt(file_size(path_of("journal")), 100);
}

Test(journal, a_key_that_is_not_utf8_is_refused)
{
	struct journal *j = open_ok(base, &fast, NULL);
	cr_assert_eq(journal_put(j, "endpoint/\xff", json_true()), -EINVAL);
	cr_assert_eq(journal_size(j), 0);
	journal_free(j);
	cr_assert_eq(file_size(path_of("journal")), 0);
}

Test(journal, compaction_leaves_an_empty_journal_and_the_same_map)
{
	struct journal *j = open_ok(NULL, NULL, NULL);
	json_t *model = json_object();
	for (unsigned i = 0; i < 30; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%u", i % 11);
		json_t *v = value_for(i);
		journal_put(j, key, i % 4 == 3 ? NULL : v);
		if (i % 4 == 3)
			json_object_del(model, key);
		else
			json_object_set(model, key, v);
		json_decref(v);
	}
	cr_assert_eq(journal_compact(j), 0);
	cr_assert_eq(file_size(path_of("journal")), 0);
	cr_assert_gt(file_size(path_of("snapshot")), 0);
	cr_assert_eq(file_size(path_of("snapshot.tmp")), -1);
	journal_free(j);

	json_t *map = reopen_map();
	cr_assert(json_equal(map, model));
	json_decref(map);
	json_decref(model);
}

Test(journal, a_flush_past_the_threshold_compacts)
{
	struct journal_options opt = {.compact_bytes = 1000, .no_sync = true};
	struct journal *j = open_ok(base, &opt, NULL);
	for (unsigned i = 0; i < 20; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%u", i);
		json_t *v = value_for(i);
		journal_put(j, key, v);
		json_decref(v);
	}
	cr_assert_eq(journal_compactions(j), 0);
	event_base_dispatch(base);
	cr_assert_eq(journal_compactions(j), 1);
	cr_assert_eq(file_size(path_of("journal")), 0);
	journal_free(j);
}

Test(journal, a_crash_between_snapshot_rename_and_journal_cut_reopens_to_the_same_map)
{
	json_t *model = json_object();
	struct journal *j = open_ok(NULL, NULL, NULL);
	for (unsigned i = 0; i < 40; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%u", i % 9);
		json_t *v = value_for(i);
		journal_put(j, key, i % 5 == 4 ? NULL : v);
		if (i % 5 == 4)
			json_object_del(model, key);
		else
			json_object_set(model, key, v);
		json_decref(v);
		if (i == 15)
			journal_compact(j);
	}
	journal_barrier(j, on_done, &(struct done){0});
	size_t size;
	_cleanup_free_ char *old = slurp(path_of("journal"), &size);
	cr_assert_gt(size, 0);
	cr_assert_eq(journal_compact(j), 0);
	journal_free(j);
	spit(path_of("journal"), old, size); /* as if the cut never happened */

	json_t *map = reopen_map();
	cr_assert(json_equal(map, model));
	json_decref(map);

	/* New records after the stale ones still count. */
	j = open_ok(NULL, NULL, NULL);
	journal_put(j, "k1", NULL);
	journal_put(j, "new", json_true());
	journal_free(j);
	json_object_del(model, "k1");
	json_object_set_new(model, "new", json_true());
	map = reopen_map();
	cr_assert(json_equal(map, model));
	json_decref(map);
	json_decref(model);
}

Test(journal, a_leftover_snapshot_tmp_is_ignored_and_removed)
{
	struct journal *j = open_ok(NULL, &fast, NULL);
	journal_put(j, "a", json_true());
	journal_free(j);
	spit(path_of("snapshot.tmp"), "garbage", 7);

	json_t *map = reopen_map();
	cr_assert_eq(json_object_size(map), 1);
	cr_assert_eq(file_size(path_of("snapshot.tmp")), -1);
	json_decref(map);
}

Test(journal, check_reports_a_clean_dir)
{
	struct journal *j = open_ok(NULL, &fast, NULL);
	journal_put(j, "a", json_true());
	journal_put(j, "b", json_true());
	journal_compact(j);
	journal_put(j, "c", json_true());
	journal_free(j);

	int r;
	_cleanup_free_ char *text = check_report(&r);
	cr_assert_eq(r, 0, "%s", text);
	cr_assert_not_null(strstr(text, "snapshot: 2 keys at seq 2"), "%s", text);
	cr_assert_not_null(strstr(text, "journal: 1 records"), "%s", text);
	cr_assert_not_null(strstr(text, "3 live keys"), "%s", text);
	cr_assert_null(strstr(text, "torn"), "%s", text);
}

Test(journal, check_reports_a_torn_tail_and_truncates_nothing)
{
	enum { N = 3 };
	size_t offs[N + 1], size;
	_cleanup_free_ char *data = write_records(N, offs, &size);
	spit(path_of("journal"), data, size - 3);

	int r;
	_cleanup_free_ char *text = check_report(&r);
	char want[64];
	snprintf(want, sizeof(want), "torn tail at offset %zu", offs[N - 1]);
	cr_assert_eq(r, 0, "%s", text);
	cr_assert_not_null(strstr(text, want), "%s", text);
	cr_assert_not_null(strstr(text, "2 live keys"), "%s", text);
	cr_assert_eq(file_size(path_of("journal")), (long long)(size - 3));
}

Test(journal, check_reports_a_corrupt_middle)
{
	enum { N = 3 };
	size_t offs[N + 1], size;
	_cleanup_free_ char *data = write_records(N, offs, &size);
	data[offs[1] + 12] ^= 0x10;
	spit(path_of("journal"), data, size);

	int r;
	_cleanup_free_ char *text = check_report(&r);
	char want[64];
	snprintf(want, sizeof(want), "corrupt record at offset %zu", offs[1]);
	cr_assert_eq(r, -EBADMSG, "%s", text);
	cr_assert_not_null(strstr(text, want), "%s", text);
}

Test(journal, check_creates_nothing_in_an_empty_dir)
{
	int r;
	_cleanup_free_ char *text = check_report(&r);
	cr_assert_eq(r, 0, "%s", text);
	cr_assert_not_null(strstr(text, "snapshot: none"), "%s", text);
	cr_assert_eq(file_size(path_of("journal")), -1);
}

Test(journal, a_missing_dir_is_a_clear_error)
{
	struct journal *j = NULL;
	char *error = NULL;
	char missing[96];
	snprintf(missing, sizeof(missing), "%s/nope", dir);
	int r = journal_open(NULL, missing, NULL, NULL, NULL, &j, &error);
	cr_assert_eq(r, -ENOENT);
	cr_assert_null(j);
	_cleanup_free_ char *want = xasprintf("%s: %s", missing, strerror(ENOENT));
	cr_assert_str_eq(error, want);
	free(error);
}

Test(journal, a_second_open_of_the_same_dir_is_refused_while_the_first_holds_it)
{
	struct journal *j = open_ok(NULL, &fast, NULL);
	_cleanup_free_ char *error = open_fails(-EBUSY, NULL);
	cr_assert(str_has_prefix(error, path_of("journal")), "%s", error);
	journal_free(j);
	journal_free(open_ok(NULL, &fast, NULL));
}

Test(journal, a_corrupt_snapshot_is_refused_naming_the_snapshot)
{
	struct journal *j = open_ok(NULL, &fast, NULL);
	journal_put(j, "a", json_true());
	journal_put(j, "b", json_true());
	journal_compact(j);
	journal_free(j);
	size_t size;
	_cleanup_free_ char *data = slurp(path_of("snapshot"), &size);
	data[size - 2] ^= 0x01; /* the last record: in a snapshot, no tail is torn */
	spit(path_of("snapshot"), data, size);

	struct loaded l = {.map = json_object()};
	_cleanup_free_ char *error = open_fails(-EBADMSG, &l);
	cr_assert(str_has_prefix(error, path_of("snapshot")), "%s", error);
	cr_assert_not_null(strstr(error, "corrupt record at offset"), "%s", error);
	cr_assert_eq(l.calls, 0);
	cr_assert_eq(file_size(path_of("snapshot")), (long long)size);
	json_decref(l.map);
}

Test(journal, an_empty_snapshot_is_refused)
{
	spit(path_of("snapshot"), "", 0);
	_cleanup_free_ char *error = open_fails(-EBADMSG, NULL);
	cr_assert(str_has_prefix(error, path_of("snapshot")), "%s", error);
}

/* A 1 ms timer that acts while the writer's sync is held, and stops once
 * until has been called. */
struct ticker {
	struct event *ev;
	unsigned ticks;
	unsigned held_ticks;    /* ticks while a sync was under way */
	unsigned release_after; /* let the held sync go after this many */
	unsigned done_while_held; /* barriers of until seen called meanwhile */
	void (*on_held_tick)(struct ticker *t);
	struct done *until;
	struct journal *j;
	struct done *extra; /* for on_held_tick */
	unsigned *counter;
};

/* One tick: count it, act if a sync is under way, stop when done. */
static void ticker_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ticker *t = arg;
	unsigned entered, left;
	t->ticks++;
	hook_counts(&entered, &left);
	if (entered > left) {
		t->held_ticks++;
		t->done_while_held += t->until->calls;
		if (t->on_held_tick)
			t->on_held_tick(t);
		if (t->held_ticks == t->release_after)
			hook_release();
	}
	if (t->until->calls || t->ticks > 10000) {
		hook_release();
		event_del(t->ev);
	}
}

/* Start ticking every millisecond. */
static void ticker_start(struct ticker *t)
{
	static const struct timeval ms = {0, 1000};
	t->ev = event_new(base, -1, EV_PERSIST, ticker_cb, t);
	event_add(t->ev, &ms);
}

/* Spin the loop one turn at a time until the writer has started n syncs. */
static void run_until_syncs_started(unsigned n)
{
	unsigned entered = 0, left;
	for (unsigned i = 0; i < 5000 && entered < n; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		hook_counts(&entered, &left);
		if (entered < n)
			usleep(1000);
	}
	cr_assert_geq(entered, n, "the writer started no sync");
}

Test(journal, the_loop_runs_its_timers_while_a_sync_is_held)
{
	hook_hold = true;
	struct journal *j = open_ok(base, &hooked, NULL);
	struct done d = {0};
	struct ticker t = {.release_after = 20, .until = &d};
	ticker_start(&t);
	journal_put(j, "endpoint/a", json_true());
	journal_barrier(j, on_done, &d);
	event_base_dispatch(base);
	event_free(t.ev);
	cr_assert_not(hook_timed_out, "the loop never let the sync go");
	cr_assert_geq(t.held_ticks, 20);
	cr_assert_eq(t.done_while_held, 0, "the barrier ran before its sync");
	cr_assert_not(hook_on_main, "the sync ran on the loop's thread");
	cr_assert_eq(d.calls, 1);
	cr_assert(d.data_in_file);
	cr_assert_eq(journal_syncs(j), 1);
	journal_free(j);
}

Test(journal, a_barrier_runs_only_after_its_sync_returned)
{
	hook_sleep_ms = 50;
	struct journal *j = open_ok(base, &hooked, NULL);
	struct done d = {0};
	journal_put(j, "endpoint/a", json_true());
	journal_barrier(j, on_done, &d);
	event_base_dispatch(base);
	cr_assert_eq(d.calls, 1);
	cr_assert_eq(d.syncs_let_go, 1);
	journal_free(j);
}

/* While the first sync is held, put a key and make a barrier on each tick. */
static void put_on_held_tick(struct ticker *t)
{
	if (t->held_ticks > 10)
		return;
	char key[32];
	snprintf(key, sizeof(key), "endpoint/e%u", t->held_ticks);
	journal_put(t->j, key, json_true());
	t->extra[t->held_ticks].counter = t->counter;
	journal_barrier(t->j, on_done, &t->extra[t->held_ticks]);
}

Test(journal, puts_made_during_a_slow_sync_take_one_more_sync)
{
	hook_hold = true;
	struct journal *j = open_ok(base, &hooked, NULL);
	unsigned counter = 0;
	struct done d[11] = {0};
	d[0].counter = &counter;
	struct ticker t = {.release_after = 10,
			   .until = &d[10],
			   .on_held_tick = put_on_held_tick,
			   .j = j,
			   .extra = d,
			   .counter = &counter};
	ticker_start(&t);
	journal_put(j, "endpoint/e0", json_true());
	journal_barrier(j, on_done, &d[0]);
	event_base_dispatch(base);
	event_free(t.ev);
	cr_assert_not(hook_timed_out);
	cr_assert_eq(journal_syncs(j), 2, "ten puts made during one sync share the next");
	for (unsigned i = 0; i < 11; i++) {
		cr_assert_eq(d[i].calls, 1, "barrier %u", i);
		cr_assert_eq(d[i].order, i + 1, "barrier %u ran %u-th", i, d[i].order);
	}
	cr_assert_eq(d[0].syncs_let_go, 1);
	cr_assert_eq(d[1].syncs_let_go, 2);
	journal_free(j);
	json_t *map = reopen_map();
	cr_assert_eq(json_object_size(map), 11);
	json_decref(map);
}

/* While the sync is held, make a barrier with nothing staged. */
static void barrier_on_held_tick(struct ticker *t)
{
	if (t->held_ticks == 1) {
		t->extra->counter = t->counter;
		journal_barrier(t->j, on_done, t->extra);
	}
	cr_assert_eq(t->extra->calls, 0, "a barrier ran before the batch in flight");
}

Test(journal, a_barrier_with_nothing_staged_waits_for_the_batch_in_flight)
{
	hook_hold = true;
	struct journal *j = open_ok(base, &hooked, NULL);
	unsigned counter = 0;
	struct done first = {.counter = &counter}, second = {0};
	struct ticker t = {.release_after = 5,
			   .until = &second,
			   .on_held_tick = barrier_on_held_tick,
			   .j = j,
			   .extra = &second,
			   .counter = &counter};
	ticker_start(&t);
	journal_put(j, "endpoint/a", json_true());
	journal_barrier(j, on_done, &first);
	event_base_dispatch(base);
	event_free(t.ev);
	cr_assert_eq(first.order, 1);
	cr_assert_eq(second.order, 2);
	cr_assert_eq(second.syncs_let_go, 1);
	cr_assert_eq(journal_syncs(j), 1, "nothing was staged for the second barrier");
	journal_free(j);
}

Test(journal, a_failed_sync_is_fatal_on_the_loop_and_never_acknowledged)
{
	hook_error = -EIO;
	struct journal *j = open_ok(base, &hooked, NULL);
	struct done d = {0}, later = {0};
	journal_put(j, "endpoint/a", json_true());
	journal_barrier(j, on_done, &d);
	capture_begin();
	event_base_dispatch(base);
	journal_put(j, "endpoint/b", json_true());
	journal_barrier(j, on_done, &later);
	event_base_dispatch(base);
	_cleanup_free_ char *log = capture_end();
	cr_assert_not_null(strstr(log, "crit: "), "%s", log);
	cr_assert_eq(fatal_calls, 1);
	cr_assert_not(fatal_off_main, "the fatal hook runs on the loop's thread");
	cr_assert_not(hook_on_main);
	cr_assert_not_null(strstr(fatal_msg, "fdatasync"), "%s", fatal_msg);
	cr_assert_not_null(strstr(fatal_msg, strerror(EIO)), "%s", fatal_msg);
	cr_assert_eq(d.calls, 0);
	cr_assert_eq(later.calls, 0);
	cr_assert_not(journal_busy(j), "a broken journal waits for nothing");
	journal_free(j);
	cr_assert_eq(fatal_calls, 1, "nothing more is tried");
	cr_assert_eq(hook_entered, 1);
}

Test(journal, journal_free_waits_for_the_sync_in_flight_then_writes_what_is_staged)
{
	hook_sleep_ms = 100;
	struct journal *j = open_ok(base, &hooked, NULL);
	struct done d = {0};
	journal_put(j, "endpoint/a", json_true());
	journal_barrier(j, on_done, &d);
	run_until_syncs_started(1);
	journal_put(j, "endpoint/b", json_true());
	journal_free(j);
	unsigned entered, left;
	hook_counts(&entered, &left);
	cr_assert_eq(entered, 2);
	cr_assert_eq(left, 2, "free returned before a sync ended");
	event_base_loop(base, EVLOOP_NONBLOCK);
	cr_assert_eq(d.calls, 0, "no barrier runs after free");

	json_t *map = reopen_map();
	cr_assert_not_null(json_object_get(map, "endpoint/a"));
	cr_assert_not_null(json_object_get(map, "endpoint/b"));
	json_decref(map);
}

Test(journal, journal_busy_holds_until_every_barrier_ran)
{
	hook_sleep_ms = 20;
	struct journal *j = open_ok(base, &hooked, NULL);
	struct done d = {0};
	cr_assert_not(journal_busy(j));
	cr_assert_not(journal_busy(NULL));
	journal_put(j, "endpoint/a", json_true());
	journal_barrier(j, on_done, &d);
	unsigned turns = 0;
	while (journal_busy(j) && turns++ < 1000)
		cr_assert_eq(event_base_loop(base, EVLOOP_ONCE), 0);
	cr_assert_eq(d.calls, 1);
	cr_assert(d.data_in_file);
	cr_assert_not(journal_busy(j));
	journal_free(j);
}

/* While the compacting batch's sync is held, put one more key. */
static void put_late_on_held_tick(struct ticker *t)
{
	if (t->held_ticks == 1) {
		journal_put(t->j, "late", json_true());
		journal_barrier(t->j, on_done, t->extra);
	}
}

Test(journal, puts_made_during_a_compaction_are_journaled_after_its_cut)
{
	struct journal_options opt = {.compact_bytes = 1000, .before_sync = hook_before_sync};
	hook_hold = true;
	struct journal *j = open_ok(base, &opt, NULL);
	json_t *model = json_object();
	for (unsigned i = 0; i < 20; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%u", i);
		json_t *v = value_for(i);
		journal_put(j, key, v);
		json_object_set(model, key, v);
		json_decref(v);
	}
	struct done first = {0}, late = {0};
	journal_barrier(j, on_done, &first);
	struct ticker t = {.release_after = 3,
			   .until = &late,
			   .on_held_tick = put_late_on_held_tick,
			   .j = j,
			   .extra = &late};
	ticker_start(&t);
	event_base_dispatch(base);
	event_free(t.ev);
	cr_assert_eq(first.calls, 1);
	cr_assert_eq(late.calls, 1);
	cr_assert_eq(journal_compactions(j), 1);
	cr_assert_eq(journal_syncs(j), 2);
	journal_free(j);

	size_t size;
	_cleanup_free_ char *journal = slurp(path_of("journal"), &size);
	cr_assert(memmem(journal, size, "\"k\":\"late\"", 10), "the late put is in the journal");
	cr_assert_null(memmem(journal, size, "\"k\":\"k0\"", 8), "the journal was cut");
	_cleanup_free_ char *snapshot = slurp(path_of("snapshot"), &size);
	cr_assert_null(memmem(snapshot, size, "\"k\":\"late\"", 10),
		       "the snapshot holds the map as the batch left it");
	json_object_set_new(model, "late", json_true());
	json_t *map = reopen_map();
	cr_assert(json_equal(map, model));
	json_decref(map);
	json_decref(model);
}

Test(journal, journal_compact_waits_for_the_batch_in_flight_and_calls_no_barrier)
{
	hook_sleep_ms = 100;
	struct journal *j = open_ok(base, &hooked, NULL);
	struct done d = {0};
	journal_put(j, "endpoint/a", json_true());
	journal_barrier(j, on_done, &d);
	run_until_syncs_started(1);
	journal_put(j, "endpoint/b", json_true());
	cr_assert_eq(journal_compact(j), 0);
	cr_assert_eq(d.calls, 0, "barriers run from the loop, not from journal_compact");
	cr_assert_eq(file_size(path_of("journal")), 0);
	event_base_dispatch(base);
	cr_assert_eq(d.calls, 1);
	cr_assert_eq(journal_compactions(j), 1);
	journal_free(j);
	json_t *map = reopen_map();
	cr_assert_eq(json_object_size(map), 2);
	json_decref(map);
}
