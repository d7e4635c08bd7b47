/*
 * A small YAML tree for config.c, built from libyaml's events so that every
 * node keeps the line and column it was written at.  The builder refuses
 * anchors and aliases (so a "billion laughs" file cannot expand), tags other
 * than YAML's own, more than one document, duplicate mapping keys, non-scalar
 * keys, strings holding NUL, and trees deeper or larger than fixed bounds.
 * Private to lib/: only config.c uses it.
 */
#ifndef ENDPOINTD_CONFIG_YAML_H
#define ENDPOINTD_CONFIG_YAML_H

#include <stdbool.h>
#include <stddef.h>

#define CY_MAX_DEPTH 64
#define CY_MAX_NODES 500000

enum cy_type {
	CY_SCALAR,
	CY_SEQUENCE,
	CY_MAPPING,
};

/* A node owns its children; the root is owned by whoever called cy_parse(). */
struct cy_node {
	enum cy_type type;
	unsigned line;          /* 1-based */
	unsigned column;        /* 1-based, in characters */
	char *value;            /* scalars: the text, never holding a NUL */
	bool plain;             /* scalars: unquoted and untagged, so may be a number or null */
	struct cy_node **items; /* sequences: the elements; mappings: key, value, key, value… */
	size_t n_items;
	size_t cap;
};

/*
 * Reads a whole file of at most max bytes (NUL-terminated) and its mtime in
 * epoch seconds.  Returns -errno (-EISDIR for a directory), or -EINVAL for
 * something not a regular file or too large, with *ret_error set to
 * "file: message".
 */
int cy_read_file(const char *path, size_t max, char **ret_text, size_t *ret_len, double *ret_mtime,
                 char **ret_error);

/*
 * Parses len bytes of text into a tree; *ret_root is NULL for a stream with no
 * document (an empty file, or only comments).  On failure returns -EINVAL and
 * sets *ret_error to "file:line:column: message".
 */
int cy_parse(const char *file, const char *text, size_t len, struct cy_node **ret_root,
             char **ret_error);
struct cy_node *cy_free(struct cy_node *n);

/* A plain "", "~" or "null": what YAML reads as no value. */
bool cy_is_null(const struct cy_node *n);
/* "a mapping", "a list", "a string" or "null", for "expected X, found Y". */
const char *cy_describe(const struct cy_node *n);

static inline size_t cy_map_size(const struct cy_node *map)
{
	return map->n_items / 2;
}
static inline const struct cy_node *cy_map_key(const struct cy_node *map, size_t i)
{
	return map->items[2 * i];
}
static inline const struct cy_node *cy_map_value(const struct cy_node *map, size_t i)
{
	return map->items[2 * i + 1];
}
/* The value under key (keys are scalars and unique), or NULL. */
const struct cy_node *cy_map_get(const struct cy_node *map, const char *key);

/*
 * Typed access with messages.  Each getter returns 0, or -EINVAL with
 * ctx->error set to "file:line:column: message" about the node; "what" names
 * the field in that message.
 */
struct cy_ctx {
	const char *file; /* for messages; borrowed */
	char *error;      /* owned; the latest failure */
};

int cy_fail(struct cy_ctx *ctx, const struct cy_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A node of the type, and not null. */
int cy_expect(struct cy_ctx *ctx, const struct cy_node *n, enum cy_type type, const char *what);
/* Any scalar but null, as written (so 42 gives "42"); frees the old *ret. */
int cy_get_string(struct cy_ctx *ctx, const struct cy_node *n, const char *what, char **ret);
/* Decimal notation only: no hex, octal, .inf or .nan. */
bool cy_is_decimal(const char *s);
int cy_get_number(struct cy_ctx *ctx, const struct cy_node *n, const char *what, double *ret);
int cy_get_uint(struct cy_ctx *ctx, const struct cy_node *n, const char *what, unsigned min,
                unsigned max, unsigned *ret);
/* true or false (also True, TRUE, False, FALSE), unquoted. */
int cy_get_bool(struct cy_ctx *ctx, const struct cy_node *n, const char *what, bool *ret);
bool cy_in(const char *const *list, const char *s);
/* Refuses a key not in known (NULL-terminated); keys in unsupported get "not supported". */
int cy_check_keys(struct cy_ctx *ctx, const struct cy_node *map, const char *what,
                  const char *const *known, const char *const *unsupported);
/* The value of a key that must be present. */
int cy_required(struct cy_ctx *ctx, const struct cy_node *map, const char *key, const char *what,
                const struct cy_node **ret);

#endif
