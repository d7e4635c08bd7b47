/*
 * Allocation, strings, a bounded buffer, clocks and a small hash map.
 */
#define _GNU_SOURCE
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Abort: out of memory is not a condition the daemon can answer. */
static void __attribute__((noreturn)) util_oom(void)
{
	fputs("endpointd: out of memory\n", stderr);
	abort();
}

/* malloc that never returns NULL. */
void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		util_oom();
	return p;
}

/* calloc that never returns NULL. */
void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		util_oom();
	return p;
}

/* reallocarray that never returns NULL. */
void *xreallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		util_oom();
	p = realloc(p, n && size ? n * size : 1);
	if (!p)
		util_oom();
	return p;
}

/* strdup that never returns NULL; NULL in, NULL out. */
char *xstrdup(const char *s)
{
	if (!s)
		return NULL;
	return xstrndup(s, strlen(s));
}

/* strndup that never returns NULL. */
char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* vasprintf that never returns NULL. */
char *xvasprintf(const char *fmt, va_list ap)
{
	char *s;
	if (vasprintf(&s, fmt, ap) < 0)
		util_oom();
	return s;
}

/* asprintf that never returns NULL. */
char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

/* Free n strings and their array. */
void strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* A lower-case copy (ASCII only: names are ASCII). */
char *str_tolower(const char *s)
{
	char *r = xstrdup(s);
	for (char *p = r; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return r;
}

/* Whether s starts with prefix. */
bool str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Whether s ends with suffix. */
bool str_has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* Case-insensitive substring test. */
bool str_contains_ci(const char *haystack, const char *needle)
{
	return strcasestr(haystack, needle) != NULL;
}

/* Append n bytes, refusing to pass b->max. */
int buf_append(struct buf *b, const void *p, size_t n)
{
	if (b->max && (n > b->max || b->len > b->max - n))
		return -E2BIG;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = xreallocarray(b->data, cap, 1);
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

/* Append formatted text, refusing to pass b->max. */
int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *s = xvasprintf(fmt, ap);
	va_end(ap);
	return buf_append(b, s, strlen(s));
}

/* Free the data; the limit stays. */
void buf_reset(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Take the data out; an empty buffer yields "". */
char *buf_steal(struct buf *b)
{
	char *s = b->data ? b->data : xstrdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return s;
}

/* Wall-clock seconds since the epoch. */
double now_realtime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Monotonic milliseconds. */
uint64_t now_monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Monotonic seconds, fractional. */
double now_monotonic(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* FNV-1a over n bytes, continuing from h. */
uint64_t hash_fnv1a(const void *p, size_t n, uint64_t h)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

/*
 * The map: open addressing with linear probing and tombstones, grown at 50%
 * load so that probes stay short.
 */
struct strmap_slot {
	char *key; /* NULL = empty; STRMAP_TOMBSTONE = deleted */
	void *value;
};

struct strmap {
	struct strmap_slot *slots;
	size_t cap;  /* power of two */
	size_t size; /* live entries */
	size_t used; /* live + tombstones */
};

static char strmap_tombstone_mark;
#define STRMAP_TOMBSTONE (&strmap_tombstone_mark)

/* An empty map. */
struct strmap *strmap_new(void)
{
	struct strmap *m = xcalloc(1, sizeof(*m));
	m->cap = 16;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	return m;
}

/* Free the map and its keys (not the values). */
struct strmap *strmap_free(struct strmap *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key && m->slots[i].key != STRMAP_TOMBSTONE)
			free(m->slots[i].key);
	free(m->slots);
	free(m);
	return NULL;
}

/* The slot holding key, or NULL. */
static struct strmap_slot *strmap_find(const struct strmap *m, const char *key)
{
	size_t i = hash_fnv1a(key, strlen(key), HASH_FNV1A_INIT) & (m->cap - 1);
	for (;; i = (i + 1) & (m->cap - 1)) {
		struct strmap_slot *s = &m->slots[i];
		if (!s->key)
			return NULL;
		if (s->key != STRMAP_TOMBSTONE && strcmp(s->key, key) == 0)
			return s;
	}
}

/* Insert without checking for an existing key or growing. */
static void strmap_insert(struct strmap *m, char *key, void *value)
{
	size_t i = hash_fnv1a(key, strlen(key), HASH_FNV1A_INIT) & (m->cap - 1);
	while (m->slots[i].key && m->slots[i].key != STRMAP_TOMBSTONE)
		i = (i + 1) & (m->cap - 1);
	if (!m->slots[i].key)
		m->used++;
	m->slots[i].key = key;
	m->slots[i].value = value;
	m->size++;
}

/* Rehash into a table big enough for the live entries. */
static void strmap_grow(struct strmap *m)
{
	struct strmap_slot *old = m->slots;
	size_t old_cap = m->cap;
	while (m->cap < 4 * (m->size + 1))
		m->cap *= 2;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	m->size = m->used = 0;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].key && old[i].key != STRMAP_TOMBSTONE)
			strmap_insert(m, old[i].key, old[i].value);
	free(old);
}

/* The value for key, or NULL. */
void *strmap_get(const struct strmap *m, const char *key)
{
	struct strmap_slot *s = strmap_find(m, key);
	return s ? s->value : NULL;
}

/* Set key to value; returns the value it replaced. */
void *strmap_put(struct strmap *m, const char *key, void *value)
{
	struct strmap_slot *s = strmap_find(m, key);
	if (s) {
		void *old = s->value;
		s->value = value;
		return old;
	}
	if (2 * (m->used + 1) > m->cap)
		strmap_grow(m);
	strmap_insert(m, xstrdup(key), value);
	return NULL;
}

/* Remove key; returns its value or NULL. */
void *strmap_remove(struct strmap *m, const char *key)
{
	struct strmap_slot *s = strmap_find(m, key);
	if (!s)
		return NULL;
	void *v = s->value;
	free(s->key);
	s->key = STRMAP_TOMBSTONE;
	s->value = NULL;
	m->size--;
	return v;
}

/* Live entries. */
size_t strmap_size(const struct strmap *m)
{
	return m->size;
}

/* Visit every entry. */
void strmap_foreach(const struct strmap *m, void (*fn)(const char *key, void *value, void *userdata),
		    void *userdata)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key && m->slots[i].key != STRMAP_TOMBSTONE)
			fn(m->slots[i].key, m->slots[i].value, userdata);
}

/* A hex digit's value (either case), or -1. */
int hex_digit_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
