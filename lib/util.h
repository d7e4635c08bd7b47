/*
 * Small helpers every module uses: allocation that aborts on out-of-memory,
 * cleanup attributes, a growable buffer with a hard maximum, clocks and a
 * string-keyed hash map.
 */
#ifndef ENDPOINTD_UTIL_H
#define ENDPOINTD_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static inline void freep(void *p) { free(*(void **)p); }
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define TAKE_PTR(p)                      \
	({                               \
		__typeof__(p) _ptr_ = (p); \
		(p) = NULL;              \
		_ptr_;                   \
	})

/* Free an array of n strings and the array itself. */
void strv_free(char **v, size_t n);
/* Lower-case ASCII copy. */
char *str_tolower(const char *s);
bool str_has_prefix(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);
/* Case-insensitive (ASCII) substring search. */
bool str_contains_ci(const char *haystack, const char *needle);

/* A growable byte buffer that refuses to grow past max (0 = unlimited). */
struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};
/* 0, or -E2BIG when the data would pass buf->max; NUL-terminates. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
/* Hand the data to the caller (never NULL) and empty the buffer. */
char *buf_steal(struct buf *b);

/* Wall clock in seconds (with fraction) and a monotonic clock in ms. */
double now_realtime(void);
uint64_t now_monotonic_ms(void);
/* Monotonic seconds with sub-microsecond resolution, for latencies. */
double now_monotonic(void);

/* A string-keyed open hash map; keys are copied, values are borrowed. */
struct strmap;
struct strmap *strmap_new(void);
struct strmap *strmap_free(struct strmap *m);
void *strmap_get(const struct strmap *m, const char *key);
/* Replaces an existing value; returns the old value or NULL. */
void *strmap_put(struct strmap *m, const char *key, void *value);
void *strmap_remove(struct strmap *m, const char *key);
size_t strmap_size(const struct strmap *m);
/* Calls fn for each entry, in no particular order; fn must not modify m. */
void strmap_foreach(const struct strmap *m, void (*fn)(const char *key, void *value, void *userdata),
		    void *userdata);

/* A hex digit's value (either case), or -1. */
int hex_digit_value(int c);

/* FNV-1a, for hashing specs into short stable identifiers. */
uint64_t hash_fnv1a(const void *p, size_t n, uint64_t h);
#define HASH_FNV1A_INIT UINT64_C(0xcbf29ce484222325)

#endif
