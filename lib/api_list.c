/*
 * Listing, as every List* operation shares it.  An operation builds a table
 * of items (a name, times, a status, the summary to answer with) and
 * api_list() reads the request's SortBy, SortOrder, MaxResults,
 * NameContains, StatusEquals and time filters, then filters, sorts and
 * pages the table and fills the response.  NextToken names the last item
 * shown, so a listing goes on correctly when items come and go between
 * pages.
 */
#define _GNU_SOURCE
#include "api_private.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "names.h"

/* The keys a listing sorts by (SortBy). */
enum api_sort_by { API_SORT_NAME, API_SORT_CREATION_TIME, API_SORT_STATUS };

/* Compare two items by key (ascending), ties broken by name. */
static int api_item_cmp(const struct api_item *x, const struct api_item *y, enum api_sort_by by)
{
	int c = 0;
	if (by == API_SORT_CREATION_TIME)
		c = x->creation_time < y->creation_time ? -1 : x->creation_time > y->creation_time;
	else if (by == API_SORT_STATUS)
		c = strcmp(x->status ? x->status : "", y->status ? y->status : "");
	if (c == 0)
		c = strcmp(x->name_lc, y->name_lc);
	return c;
}

/* How api_item_qsort() orders. */
struct api_sort_ctx {
	enum api_sort_by by;
	bool descending;
};

/* qsort_r comparator. */
static int api_item_qsort(const void *p, const void *q, void *arg)
{
	const struct api_sort_ctx *ctx = arg;
	int c = api_item_cmp(p, q, ctx->by);
	return ctx->descending ? -c : c;
}

/* "v1|by|order|key|name" as hex, so the token is opaque and URL-safe.  Times
 * are written with every digit: a rounded key would compare unequal to the
 * item it names and repeat or skip items. */
static char *api_token_encode(enum api_sort_by by, bool descending, const struct api_item *last)
{
	_cleanup_free_ char *plain = NULL;
	if (by == API_SORT_CREATION_TIME)
		plain = xasprintf("v1|%d|%d|%.17g|%s", by, descending, last->creation_time,
				  last->name_lc);
	else
		plain = xasprintf("v1|%d|%d|%s|%s", by, descending,
				  by == API_SORT_STATUS && last->status ? last->status : "",
				  last->name_lc);
	size_t n = strlen(plain);
	char *hex = xmalloc(2 * n + 1);
	for (size_t i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", (unsigned char)plain[i]);
	return hex;
}

/* Decode a token into a probe item; -EINVAL when it is not one of ours. */
static int api_token_decode(const char *token, enum api_sort_by by, bool descending,
			    struct api_item *ret, char **ret_status)
{
	size_t n = strlen(token);
	if (n == 0 || n % 2 || n > 2048)
		return -EINVAL;
	_cleanup_free_ char *plain = xmalloc(n / 2 + 1);
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(token + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		plain[i] = (char)v;
	}
	plain[n / 2] = '\0';
	if (strlen(plain) != n / 2)
		return -EINVAL;
	char *parts[5];
	char *p = plain;
	for (int i = 0; i < 5; i++) {
		parts[i] = strsep(&p, "|");
		if (!parts[i])
			return -EINVAL;
	}
	if (p || strcmp(parts[0], "v1") != 0 || atoi(parts[1]) != (int)by ||
	    atoi(parts[2]) != (int)descending)
		return -EINVAL;
	*ret = (struct api_item){.name_lc = xstrdup(parts[4])};
	if (by == API_SORT_CREATION_TIME)
		ret->creation_time = strtod(parts[3], NULL);
	*ret_status = xstrdup(parts[3]);
	ret->status = *ret_status;
	return 0;
}

/* Reads an optional name filter (NameContains). */
static const char *api_read_name_contains(struct aws_reader *r)
{
	const char *s = aws_read_string(r, "NameContains");
	if (!s)
		return NULL;
	bool ok = *s && strlen(s) <= NAMES_MAX_LEN;
	for (const char *p = s; ok && *p; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		     (*p >= '0' && *p <= '9') || *p == '-';
	if (!ok)
		aws_reader_invalid(r, s, "nameContains",
				   "Member must satisfy regular expression pattern: [a-zA-Z0-9-]+");
	return ok ? s : NULL;
}

/* Filter, sort and page items into out; frees the items' summaries. */
int api_list(struct aws_reader *r, const struct api_list_spec *spec, struct api_item *items,
	     size_t n, json_t *out, struct aws_error *err)
{
	int res = -EINVAL;
	enum api_sort_by by = API_SORT_CREATION_TIME;
	bool descending = true;
	long long max = 10;
	struct api_item probe = {0};
	_cleanup_free_ char *probe_status = NULL;

	const char *sort_by = aws_read_string(r, "SortBy");
	if (sort_by) {
		if (strcmp(sort_by, "Name") == 0)
			by = API_SORT_NAME;
		else if (strcmp(sort_by, "CreationTime") == 0)
			by = API_SORT_CREATION_TIME;
		else if (spec->has_status && strcmp(sort_by, "Status") == 0)
			by = API_SORT_STATUS;
		else
			aws_reader_invalid(r, sort_by, "sortBy",
					   spec->has_status
						   ? "Member must satisfy enum value set: [Name, "
						     "CreationTime, Status]"
						   : "Member must satisfy enum value set: [Name, "
						     "CreationTime]");
	}
	const char *order = aws_read_string(r, "SortOrder");
	if (order) {
		if (strcmp(order, "Ascending") == 0)
			descending = false;
		else if (strcmp(order, "Descending") != 0)
			aws_reader_invalid(r, order, "sortOrder",
					   "Member must satisfy enum value set: [Ascending, "
					   "Descending]");
	}
	if (aws_read_int(r, "MaxResults", &max) && (max < 1 || max > 100)) {
		char shown[32];
		snprintf(shown, sizeof(shown), "%lld", max);
		aws_reader_invalid(r, shown, "maxResults",
				   max < 1 ? "Member must have value greater than or equal to 1"
					   : "Member must have value less than or equal to 100");
	}
	const char *contains = api_read_name_contains(r);
	const char *status = NULL;
	if (spec->has_status) {
		status = aws_read_string(r, "StatusEquals");
		if (status && endpoint_state_from_string(status) < 0) {
			aws_reader_invalid(r, status, "statusEquals", spec->status_values);
			status = NULL;
		}
	}
	bool has_cb, has_ca, has_lb = false, has_la = false;
	double cb = 0, ca = 0, lb = 0, la = 0;
	has_cb = aws_read_time(r, "CreationTimeBefore", &cb);
	has_ca = aws_read_time(r, "CreationTimeAfter", &ca);
	if (spec->has_last_modified) {
		has_lb = aws_read_time(r, "LastModifiedTimeBefore", &lb);
		has_la = aws_read_time(r, "LastModifiedTimeAfter", &la);
	}
	const char *token = aws_read_string(r, "NextToken");
	if (token && strlen(token) > 8192)
		aws_reader_invalid(r, "…", "nextToken",
				   "Member must have length less than or equal to 8192");
	if (aws_reader_error(r, err))
		goto out;
	if (token && api_token_decode(token, by, descending, &probe, &probe_status) < 0) {
		aws_error_set(err, 400, "ValidationException",
			      "Invalid pagination token: it does not continue a listing with the "
			      "same SortBy and SortOrder.");
		goto out;
	}

	/* Filter in place. */
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		struct api_item *it = &items[i];
		bool keep = (!contains || str_contains_ci(it->name, contains)) &&
			    (!status || (it->status && strcmp(it->status, status) == 0)) &&
			    (!has_cb || it->creation_time < cb) &&
			    (!has_ca || it->creation_time > ca) &&
			    (!has_lb || it->last_modified_time < lb) &&
			    (!has_la || it->last_modified_time > la);
		if (keep) {
			struct api_item tmp = items[kept];
			items[kept++] = *it;
			*it = tmp;
		}
	}
	struct api_sort_ctx ctx = {.by = by, .descending = descending};
	qsort_r(items, kept, sizeof(*items), api_item_qsort, &ctx);

	size_t start = 0;
	if (token)
		while (start < kept && api_item_qsort(&items[start], &probe, &ctx) <= 0)
			start++;
	json_t *arr = json_array();
	size_t end = start + (size_t)max < kept ? start + (size_t)max : kept;
	for (size_t i = start; i < end; i++)
		json_array_append(arr, items[i].summary);
	json_object_set_new(out, spec->result_key, arr);
	if (end < kept) {
		_cleanup_free_ char *next = api_token_encode(by, descending, &items[end - 1]);
		json_object_set_new(out, "NextToken", json_string(next));
	}
	res = 0;
out:
	for (size_t i = 0; i < n; i++) {
		json_decref(items[i].summary);
		free(items[i].name_lc);
	}
	free(probe.name_lc);
	return res;
}

/* A listing item of a resource the YAML defines: {<Kind>Name, <Kind>Arn,
 * CreationTime}. */
struct api_item api_named_item(struct api *a, const char *arn_kind, const char *kind,
			       const char *name, double creation_time)
{
	_cleanup_free_ char *arn = api_arn(a, arn_kind, name);
	_cleanup_free_ char *name_key = xasprintf("%sName", kind);
	_cleanup_free_ char *arn_key = xasprintf("%sArn", kind);
	return (struct api_item){
		.name = name,
		.name_lc = str_tolower(name),
		.creation_time = creation_time,
		.last_modified_time = NAN,
		.summary = json_pack("{s:s, s:s, s:o}", name_key, name, arn_key, arn,
				     "CreationTime", aws_time(creation_time)),
	};
}
