/*
 * Aligned text columns for endpointctl's human-readable output: a header
 * row in capitals, then one row per item, each column as wide as its widest
 * cell, two spaces apart, the last column not padded.
 */
#ifndef ENDPOINTCTL_TABLE_H
#define ENDPOINTCTL_TABLE_H

#include <stddef.h>
#include <stdio.h>

#include "util.h"

struct table;

/* A table of n_cols columns; headers are copied. */
struct table *table_new(size_t n_cols, const char *const *headers);
/* NULL-safe; returns NULL. */
struct table *table_free(struct table *t);
/* Adds a row of n_cols cells (copied and escaped; NULL shows as "-"). */
void table_add_row(struct table *t, const char *const *cells);
/* Prints every row, each line starting with indent spaces. */
void table_print(const struct table *t, FILE *f, unsigned indent);

#define TABLE_NEW(...)                                                                             \
	table_new(ELEMENTSOF(((const char *const[]){__VA_ARGS__})),                                \
	          (const char *const[]){__VA_ARGS__})
#define TABLE_ROW(t, ...) table_add_row((t), (const char *const[]){__VA_ARGS__})

#endif
