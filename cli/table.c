/*
 * Aligned text columns.  Widths count UTF-8 characters, not bytes, so that
 * a name or a tag value with accents still lines up.  Cells are escaped
 * (text.h): a control character in a cell can neither break the columns
 * nor reach the terminal.
 */
#include "table.h"

#include <string.h>

#include "text.h"
#include "util.h"

struct table {
	size_t n_cols;
	char **cells; /* n_rows * n_cols, the header row first */
	size_t n_rows;
};

/* Creates a table with its header row. */
struct table *table_new(size_t n_cols, const char *const *headers)
{
	struct table *t = xcalloc(1, sizeof(*t));
	t->n_cols = n_cols;
	table_add_row(t, headers);
	return t;
}

/* NULL-safe. */
struct table *table_free(struct table *t)
{
	if (!t)
		return NULL;
	strv_free(t->cells, t->n_rows * t->n_cols);
	free(t);
	return NULL;
}

/* Appends a row; the cells are copied, escaped. */
void table_add_row(struct table *t, const char *const *cells)
{
	t->cells = xreallocarray(t->cells, (t->n_rows + 1) * t->n_cols, sizeof(*t->cells));
	for (size_t i = 0; i < t->n_cols; i++)
		t->cells[t->n_rows * t->n_cols + i] = text_escape(cells[i] ? cells[i] : "-");
	t->n_rows++;
}

/* Characters (not bytes) in a UTF-8 string. */
static size_t table_width(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* Prints the table. */
void table_print(const struct table *t, FILE *f, unsigned indent)
{
	_cleanup_free_ size_t *widths = xcalloc(t->n_cols, sizeof(*widths));
	for (size_t r = 0; r < t->n_rows; r++)
		for (size_t c = 0; c < t->n_cols; c++) {
			size_t w = table_width(t->cells[r * t->n_cols + c]);
			if (w > widths[c])
				widths[c] = w;
		}
	for (size_t r = 0; r < t->n_rows; r++) {
		fprintf(f, "%*s", (int)indent, "");
		for (size_t c = 0; c < t->n_cols; c++) {
			const char *s = t->cells[r * t->n_cols + c];
			fputs(s, f);
			if (c + 1 < t->n_cols)
				fprintf(f, "%*s", (int)(widths[c] - table_width(s) + 2), "");
		}
		fputc('\n', f);
	}
}
