/*
 * YAML text -> struct cy_node tree, from libyaml's event stream.
 *
 * libyaml's document API would resolve aliases into shared nodes and forget
 * which ones were aliases, so a walk over it could still blow up; the event
 * API lets us refuse an anchor or alias where it is written.  The builder is
 * iterative (an explicit stack of open collections, CY_MAX_DEPTH deep) and
 * counts nodes, so neither a deep nor a wide file can exhaust the stack or
 * memory.  libyaml marks are 0-based; ours are 1-based.
 */
#include "config_yaml.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "util.h"

/* Keys of mappings larger than this are checked for duplicates with a map. */
#define CY_LINEAR_DUP_CHECK 16

struct cy_builder {
	const char *file;
	const char *text;
	size_t len;
	struct cy_node *root;
	struct cy_node *stack[CY_MAX_DEPTH];
	size_t depth;
	size_t n_nodes;
	unsigned documents;
	char *error;
};

struct cy_node *cy_free(struct cy_node *n)
{
	if (n == NULL)
		return NULL;
	for (size_t i = 0; i < n->n_items; i++)
		cy_free(n->items[i]);
	free(n->items);
	free(n->value);
	free(n);
	return NULL;
}

bool cy_is_null(const struct cy_node *n)
{
	if (n == NULL)
		return true;
	if (n->type != CY_SCALAR || !n->plain)
		return false;
	return n->value[0] == '\0' || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0 ||
	       strcmp(n->value, "Null") == 0 || strcmp(n->value, "NULL") == 0;
}

const char *cy_describe(const struct cy_node *n)
{
	if (cy_is_null(n))
		return "null";
	switch (n->type) {
	case CY_MAPPING:
		return "a mapping";
	case CY_SEQUENCE:
		return "a list";
	case CY_SCALAR:
	default:
		return "a string";
	}
}

const struct cy_node *cy_map_get(const struct cy_node *map, const char *key)
{
	for (size_t i = 0; i < cy_map_size(map); i++)
		if (strcmp(cy_map_key(map, i)->value, key) == 0)
			return cy_map_value(map, i);
	return NULL;
}

static int cy_builder_fail(struct cy_builder *b, unsigned line, unsigned column, const char *fmt,
                           ...) __attribute__((format(printf, 4, 5)));

static int cy_builder_fail(struct cy_builder *b, unsigned line, unsigned column, const char *fmt,
                           ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	free(b->error);
	b->error = xasprintf("%s:%u:%u: %s", b->file, line, column, msg);
	return -EINVAL;
}

/* Line and column (1-based, in characters) of a byte offset into the text. */
static void cy_offset_position(const struct cy_builder *b, size_t offset, unsigned *ret_line,
                               unsigned *ret_column)
{
	unsigned line = 1, column = 1;

	for (size_t i = 0; i < offset && i < b->len; i++) {
		unsigned char c = (unsigned char)b->text[i];

		if (c == '\n') {
			line++;
			column = 1;
		} else if ((c & 0xc0) != 0x80) {
			column++;
		}
	}
	*ret_line = line;
	*ret_column = column;
}

/* libyaml's problem, at its position (reader errors give only a byte offset). */
static int cy_syntax_error(struct cy_builder *b, const yaml_parser_t *parser)
{
	unsigned line, column;
	const char *problem = parser->problem ? parser->problem : "invalid YAML";

	switch (parser->error) {
	case YAML_READER_ERROR:
		cy_offset_position(b, parser->problem_offset, &line, &column);
		if (parser->problem_value != -1)
			return cy_builder_fail(b, line, column, "%s (byte 0x%02X)", problem,
			                       (unsigned)parser->problem_value);
		return cy_builder_fail(b, line, column, "%s", problem);
	case YAML_SCANNER_ERROR:
	case YAML_PARSER_ERROR:
		line = (unsigned)parser->problem_mark.line + 1;
		column = (unsigned)parser->problem_mark.column + 1;
		if (parser->context != NULL)
			return cy_builder_fail(b, line, column, "%s (%s that started at %u:%u)",
			                       problem, parser->context,
			                       (unsigned)parser->context_mark.line + 1,
			                       (unsigned)parser->context_mark.column + 1);
		return cy_builder_fail(b, line, column, "%s", problem);
	default:
		return cy_builder_fail(b, 1, 1, "YAML parser failed: %s", problem);
	}
}

int cy_read_file(const char *path, size_t max, char **ret_text, size_t *ret_len, double *ret_mtime,
                 char **ret_error)
{
	struct buf b = {.max = max};
	char chunk[65536];
	struct stat st;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		goto bad;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto bad;
	}
	if (S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		goto bad;
	}
	if (!S_ISREG(st.st_mode)) {
		*ret_error = xasprintf("%s: not a regular file", path);
		r = -EINVAL;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto bad;
		}
		if (n == 0)
			break;
		if (buf_append(&b, chunk, (size_t)n) < 0) {
			*ret_error = xasprintf("%s: larger than %zu MiB", path, max >> 20);
			r = -EINVAL;
			goto out;
		}
	}
	close(fd);
	*ret_len = b.len;
	*ret_text = buf_steal(&b);
	*ret_mtime = (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
	return 0;

bad:
	*ret_error = xasprintf("%s: %s", path, strerror(-r));
out:
	if (fd >= 0)
		close(fd);
	buf_reset(&b);
	return r;
}

/* Tags: only YAML's own (and "!", which means "a string"); CloudFormation's !Ref is not ours. */
static int cy_check_tag(struct cy_builder *b, const yaml_event_t *ev, const yaml_char_t *tag,
                        bool *ret_is_str)
{
	const char *t = (const char *)tag;

	*ret_is_str = false;
	if (t == NULL)
		return 0;
	if (strcmp(t, "!") == 0 || strcmp(t, "tag:yaml.org,2002:str") == 0) {
		*ret_is_str = true;
		return 0;
	}
	if (str_has_prefix(t, "tag:yaml.org,2002:"))
		return 0;
	return cy_builder_fail(b, (unsigned)ev->start_mark.line + 1,
	                       (unsigned)ev->start_mark.column + 1, "unsupported YAML tag \"%s\"",
	                       t);
}

/* Anchors exist only to be aliased, and aliases are refused. */
static int cy_check_anchor(struct cy_builder *b, const yaml_event_t *ev, const yaml_char_t *anchor)
{
	if (anchor == NULL)
		return 0;
	return cy_builder_fail(b, (unsigned)ev->start_mark.line + 1,
	                       (unsigned)ev->start_mark.column + 1,
	                       "YAML anchors (&%s) are not supported", (const char *)anchor);
}

static void cy_append(struct cy_node *parent, struct cy_node *child)
{
	if (parent->n_items == parent->cap) {
		parent->cap = parent->cap ? 2 * parent->cap : 4;
		parent->items = xreallocarray(parent->items, parent->cap, sizeof(*parent->items));
	}
	parent->items[parent->n_items++] = child;
}

/* Hangs a new node on the open collection (or makes it the root), then checks it. */
static int cy_attach(struct cy_builder *b, struct cy_node *n)
{
	struct cy_node *parent;

	if (b->depth == 0) {
		b->root = n;
		return 0;
	}
	parent = b->stack[b->depth - 1];
	cy_append(parent, n);
	if (++b->n_nodes > CY_MAX_NODES)
		return cy_builder_fail(b, n->line, n->column, "too many YAML nodes (more than %u)",
		                       (unsigned)CY_MAX_NODES);
	if (parent->type == CY_MAPPING && parent->n_items % 2 == 1 && n->type != CY_SCALAR)
		return cy_builder_fail(b, n->line, n->column, "expected a string key, found %s",
		                       cy_describe(n));
	return 0;
}

static struct cy_node *cy_node_new(enum cy_type type, const yaml_event_t *ev)
{
	struct cy_node *n = xcalloc(1, sizeof(*n));

	n->type = type;
	n->line = (unsigned)ev->start_mark.line + 1;
	n->column = (unsigned)ev->start_mark.column + 1;
	return n;
}

/* A scalar; plain ones remember it, so "007" and 007 can be told apart. */
static int cy_scalar(struct cy_builder *b, const yaml_event_t *ev)
{
	const char *value = (const char *)ev->data.scalar.value;
	size_t length = ev->data.scalar.length;
	struct cy_node *n;
	bool is_str;
	int r;

	r = cy_check_anchor(b, ev, ev->data.scalar.anchor);
	if (r < 0)
		return r;
	r = cy_check_tag(b, ev, ev->data.scalar.tag, &is_str);
	if (r < 0)
		return r;
	n = cy_node_new(CY_SCALAR, ev);
	n->value = xstrndup(value, length);
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !is_str;
	r = cy_attach(b, n);
	if (r < 0)
		return r;
	if (memchr(value, '\0', length) != NULL)
		return cy_builder_fail(b, n->line, n->column,
		                       "strings may not contain NUL characters");
	return 0;
}

/* A sequence or mapping start: attach it and make it the open collection. */
static int cy_open(struct cy_builder *b, const yaml_event_t *ev, enum cy_type type)
{
	const yaml_char_t *anchor, *tag;
	struct cy_node *n;
	bool is_str;
	int r;

	if (type == CY_MAPPING) {
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
	} else {
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
	}
	r = cy_check_anchor(b, ev, anchor);
	if (r < 0)
		return r;
	r = cy_check_tag(b, ev, tag, &is_str);
	if (r < 0)
		return r;
	n = cy_node_new(type, ev);
	r = cy_attach(b, n);
	if (r < 0)
		return r;
	if (b->depth == CY_MAX_DEPTH)
		return cy_builder_fail(b, n->line, n->column, "YAML nested deeper than %u levels",
		                       (unsigned)CY_MAX_DEPTH);
	b->stack[b->depth++] = n;
	return 0;
}

static int cy_check_duplicate_keys(struct cy_builder *b, const struct cy_node *map)
{
	size_t n = cy_map_size(map);
	struct strmap *seen;
	int r = 0;

	if (n <= CY_LINEAR_DUP_CHECK) {
		for (size_t i = 1; i < n; i++)
			for (size_t j = 0; j < i; j++)
				if (strcmp(cy_map_key(map, i)->value, cy_map_key(map, j)->value) ==
				    0)
					return cy_builder_fail(
					    b, cy_map_key(map, i)->line, cy_map_key(map, i)->column,
					    "duplicate key \"%s\" (first at %u:%u)",
					    cy_map_key(map, i)->value, cy_map_key(map, j)->line,
					    cy_map_key(map, j)->column);
		return 0;
	}

	seen = strmap_new();
	for (size_t i = 0; i < n && r == 0; i++) {
		const struct cy_node *key = cy_map_key(map, i);
		const struct cy_node *first = strmap_get(seen, key->value);

		if (first != NULL)
			r = cy_builder_fail(b, key->line, key->column,
			                    "duplicate key \"%s\" (first at %u:%u)", key->value,
			                    first->line, first->column);
		else
			strmap_put(seen, key->value, (void *)key);
	}
	strmap_free(seen);
	return r;
}

/* A sequence or mapping end: its keys are all known now. */
static int cy_close(struct cy_builder *b)
{
	struct cy_node *n = b->stack[--b->depth];

	if (n->type == CY_MAPPING)
		return cy_check_duplicate_keys(b, n);
	return 0;
}

/* Handles one event; 1 at the end of the stream. */
static int cy_event(struct cy_builder *b, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		return 1;
	case YAML_DOCUMENT_START_EVENT:
		if (++b->documents > 1)
			return cy_builder_fail(b, (unsigned)ev->start_mark.line + 1,
			                       (unsigned)ev->start_mark.column + 1,
			                       "only one YAML document per file is allowed");
		return 0;
	case YAML_ALIAS_EVENT:
		return cy_builder_fail(
		    b, (unsigned)ev->start_mark.line + 1, (unsigned)ev->start_mark.column + 1,
		    "YAML aliases (*%s) are not supported", (const char *)ev->data.alias.anchor);
	case YAML_SCALAR_EVENT:
		return cy_scalar(b, ev);
	case YAML_SEQUENCE_START_EVENT:
		return cy_open(b, ev, CY_SEQUENCE);
	case YAML_MAPPING_START_EVENT:
		return cy_open(b, ev, CY_MAPPING);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return cy_close(b);
	default:
		return 0;
	}
}

int cy_parse(const char *file, const char *text, size_t len, struct cy_node **ret_root,
             char **ret_error)
{
	struct cy_builder b = {.file = file, .text = text, .len = len};
	yaml_parser_t parser;
	int r;

	if (!yaml_parser_initialize(&parser)) {
		*ret_error = xasprintf("%s: cannot initialize the YAML parser", file);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);

	for (;;) {
		yaml_event_t ev;

		if (!yaml_parser_parse(&parser, &ev)) {
			r = cy_syntax_error(&b, &parser);
			break;
		}
		r = cy_event(&b, &ev);
		yaml_event_delete(&ev);
		if (r != 0)
			break;
	}
	yaml_parser_delete(&parser);

	if (r < 0) {
		cy_free(b.root);
		*ret_error = b.error;
		return r;
	}
	*ret_root = b.root;
	return 0;
}

/* --- typed access --------------------------------------------------------- */

int cy_fail(struct cy_ctx *ctx, const struct cy_node *n, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	free(ctx->error);
	ctx->error = xasprintf("%s:%u:%u: %s", ctx->file, n->line, n->column, msg);
	return -EINVAL;
}

/* What a node is, for "found …": a quoted (shortened) scalar or its kind. */
static char *cy_found(const struct cy_node *n)
{
	if (n->type != CY_SCALAR || cy_is_null(n))
		return xstrdup(cy_describe(n));
	if (strlen(n->value) > 64)
		return xasprintf("\"%.60s…\"", n->value);
	return xasprintf("\"%s\"", n->value);
}

int cy_expect(struct cy_ctx *ctx, const struct cy_node *n, enum cy_type type, const char *what)
{
	static const char *const names[] = {
	    [CY_SCALAR] = "a string", [CY_SEQUENCE] = "a list", [CY_MAPPING] = "a mapping"};
	_cleanup_free_ char *found = NULL;

	if (n->type == type && !cy_is_null(n))
		return 0;
	found = cy_found(n);
	return cy_fail(ctx, n, "expected %s for %s, found %s", names[type], what, found);
}

int cy_get_string(struct cy_ctx *ctx, const struct cy_node *n, const char *what, char **ret)
{
	int r = cy_expect(ctx, n, CY_SCALAR, what);

	if (r < 0)
		return r;
	free(*ret);
	*ret = xstrdup(n->value);
	return 0;
}

bool cy_is_decimal(const char *s)
{
	bool digits = false;

	if (*s == '+' || *s == '-')
		s++;
	for (; *s >= '0' && *s <= '9'; s++)
		digits = true;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++)
			digits = true;
	if (!digits)
		return false;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

int cy_get_number(struct cy_ctx *ctx, const struct cy_node *n, const char *what, double *ret)
{
	_cleanup_free_ char *found = NULL;

	if (n->type == CY_SCALAR && cy_is_decimal(n->value)) {
		double d = strtod(n->value, NULL);

		if (isfinite(d)) {
			*ret = d;
			return 0;
		}
	}
	found = cy_found(n);
	return cy_fail(ctx, n, "expected a number for %s, found %s", what, found);
}

int cy_get_uint(struct cy_ctx *ctx, const struct cy_node *n, const char *what, unsigned min,
                unsigned max, unsigned *ret)
{
	double d;
	int r = cy_get_number(ctx, n, what, &d);

	if (r < 0)
		return r;
	if (d != floor(d))
		return cy_fail(ctx, n, "expected a whole number for %s, found %s", what, n->value);
	if (d < min || d > max)
		return cy_fail(ctx, n, "%s must be between %u and %u, not %s", what, min, max,
		               n->value);
	*ret = (unsigned)d;
	return 0;
}

/* YAML 1.2's core schema booleans, which JSON's true and false are too. */
int cy_get_bool(struct cy_ctx *ctx, const struct cy_node *n, const char *what, bool *ret)
{
	static const char *const yes[] = {"true", "True", "TRUE", NULL};
	static const char *const no[] = {"false", "False", "FALSE", NULL};
	int r = cy_expect(ctx, n, CY_SCALAR, what);

	if (r < 0)
		return r;
	if (n->plain && cy_in(yes, n->value))
		*ret = true;
	else if (n->plain && cy_in(no, n->value))
		*ret = false;
	else
		return cy_fail(ctx, n, "%s must be true or false, not \"%s\"", what, n->value);
	return 0;
}

bool cy_in(const char *const *list, const char *s)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

int cy_check_keys(struct cy_ctx *ctx, const struct cy_node *map, const char *what,
                  const char *const *known, const char *const *unsupported)
{
	for (size_t i = 0; i < cy_map_size(map); i++) {
		const struct cy_node *key = cy_map_key(map, i);

		if (cy_in(known, key->value))
			continue;
		if (cy_in(unsupported, key->value))
			return cy_fail(ctx, key, "%s in %s is not supported by endpointd",
			               key->value, what);
		return cy_fail(ctx, key, "unknown key \"%s\" in %s", key->value, what);
	}
	return 0;
}

int cy_required(struct cy_ctx *ctx, const struct cy_node *map, const char *key, const char *what,
                const struct cy_node **ret)
{
	*ret = cy_map_get(map, key);
	if (*ret == NULL)
		return cy_fail(ctx, map, "missing %s in %s", key, what);
	return 0;
}
