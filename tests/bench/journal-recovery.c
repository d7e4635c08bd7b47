/*
 * How long journal_open() takes to recover the daemon's state: 1,000
 * endpoints of about 2 KiB of JSON each, each written once and updated 9
 * times (10,000 puts in batches of 10).  Two layouts: the one the daemon
 * keeps (default compaction, so a snapshot plus a journal under 4 MiB), and
 * the worst case with compaction off (every record replayed).  Each is opened
 * 7 times (syncing as the daemon does, page cache warm) and the median
 * printed.  The target for the daemon's whole recovery is 250 ms; this
 * should be a small part of it.
 *
 * Build and run from the top of the tree:
 *   gcc -O2 -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Ilib lib/util.c lib/log.c \
 *       lib/journal.c tests/bench/journal-recovery.c \
 *       $(pkg-config --cflags --libs libevent jansson zlib libsystemd) -lm \
 *       -o /tmp/journal-recovery && /tmp/journal-recovery [DIR-PARENT]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "util.h"

#define ENDPOINTS 1000
#define UPDATES 10
#define BATCH 10
#define RUNS 7

static const char *const states[] = {"Creating", "InService", "Updating", "InService"};

/* An endpoint's record, about 2 KiB, as it stands after its nth update. */
static json_t *endpoint_json(unsigned i, unsigned n)
{
	char name[64], arn[160], pad[900];
	snprintf(name, sizeof(name), "bench-endpoint-%04u", i);
	snprintf(arn, sizeof(arn), "arn:aws:sagemaker:us-east-1:123456789012:endpoint/%s", name);
	memset(pad, 'a' + (char)(i % 26), sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	json_t *instances = json_array();
	for (unsigned k = 0; k < 3; k++)
		json_array_append_new(
		    instances, json_pack("{s:s+, s:s, s:i, s:i, s:s}", "ContainerId", "c0ffee",
					 name, "State", n + k > UPDATES ? "Healthy" : "Probing",
					 "Port", 30000 + (int)(i * 3 + k), "Generation", (int)n,
					 "Image", "registry.local/models/xgboost:1.7-1"));
	return json_pack(
	    "{s:s, s:s, s:s+, s:s, s:f, s:f, s:s?, s:[{s:s, s:s+, s:i, s:s, s:f, s:o}],"
	    " s:[{s:s, s:s}, {s:s, s:s}], s:s}",
	    "EndpointName", name, "EndpointArn", arn, "EndpointConfigName", name, "-config",
	    "EndpointStatus", states[n % ELEMENTSOF(states)], "CreationTime", 1.7e9 + i,
	    "LastModifiedTime", 1.7e9 + i + n, "FailureReason", NULL, "ProductionVariants",
	    "VariantName", "AllTraffic", "ModelName", name, "-model", "CurrentInstanceCount", 3,
	    "InstanceType", "ml.m5.xlarge", "CurrentWeight", 1.0, "Instances", instances, "Tags",
	    "Key", "team", "Value", "ml-platform", "Key", "cost-center", "Value", "4711", "Notes",
	    pad);
}

/* A barrier that waits for nothing more. */
static void on_durable(void *userdata)
{
}

/* Fill dir with the state, batch by batch. */
static void populate(const char *dir, size_t compact_bytes)
{
	struct journal_options opt = {.compact_bytes = compact_bytes, .no_sync = true};
	struct journal *j;
	_cleanup_free_ char *error = NULL;
	if (journal_open(NULL, dir, &opt, NULL, NULL, &j, &error) < 0) {
		fprintf(stderr, "%s\n", error);
		exit(EXIT_FAILURE);
	}
	unsigned puts = 0;
	for (unsigned n = 0; n < UPDATES; n++)
		for (unsigned i = 0; i < ENDPOINTS; i++) {
			char key[64];
			snprintf(key, sizeof(key), "endpoint/bench-endpoint-%04u", i);
			json_t *v = endpoint_json(i, n);
			journal_put(j, key, v);
			json_decref(v);
			if (++puts % BATCH == 0)
				journal_barrier(j, on_durable,
						NULL); /* offline: flushes, maybe compacts */
		}
	journal_free(j);
}

/* Count what load hands over. */
static int count_key(const char *key, json_t *value, void *userdata)
{
	(*(unsigned *)userdata)++;
	return 0;
}

/* Ascending doubles, for qsort. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* A file's size in bytes, 0 when missing. */
static long long size_of(const char *dir, const char *name)
{
	char p[512];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &st) < 0 ? 0 : (long long)st.st_size;
}

/* Open dir RUNS times and print the median. */
static void measure(const char *dir, const char *label)
{
	double ms[RUNS];
	for (int r = 0; r < RUNS; r++) {
		struct journal *j;
		unsigned keys = 0;
		_cleanup_free_ char *error = NULL;
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		int ret = journal_open(NULL, dir, NULL, count_key, &keys, &j, &error);
		clock_gettime(CLOCK_MONOTONIC, &b);
		if (ret < 0 || keys != ENDPOINTS) {
			fprintf(stderr, "%s: open: %s, %u keys\n", dir, error ? error : "?", keys);
			exit(EXIT_FAILURE);
		}
		journal_free(j);
		ms[r] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	}
	qsort(ms, RUNS, sizeof(ms[0]), cmp_double);
	printf("%-28s snapshot %7.2f MiB, journal %7.2f MiB: median %6.1f ms (min %.1f, max %.1f) "
	       "over %d runs\n",
	       label, (double)size_of(dir, "snapshot") / 1048576.0,
	       (double)size_of(dir, "journal") / 1048576.0, ms[RUNS / 2], ms[0], ms[RUNS - 1],
	       RUNS);
}

/* nftw callback: remove one entry. */
static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* Populate a fresh directory, measure, remove it. */
static void scenario(const char *parent, size_t compact_bytes, const char *label)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/journal-bench-XXXXXX", parent);
	if (!mkdtemp(dir)) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		exit(EXIT_FAILURE);
	}
	populate(dir, compact_bytes);
	measure(dir, label);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(int argc, char **argv)
{
	const char *parent = argc > 1 ? argv[1] : "/tmp";
	log_open("journal-recovery", LOG_WARNING, 0);
	json_t *sample = endpoint_json(0, 0);
	_cleanup_free_ char *text = json_dumps(sample, JSON_COMPACT);
	json_decref(sample);
	printf("%d endpoints x %d puts, %zu bytes of JSON each\n", ENDPOINTS, UPDATES,
	       strlen(text));
	scenario(parent, 0, "default compaction:");
	scenario(parent, SIZE_MAX, "compaction off (worst):");
	return 0;
}
