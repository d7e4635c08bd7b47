/*
 * HTTP routes and the control-plane operations.
 *
 * Map: api_request_cb() routes a request; api_control() reads the AWS JSON
 * 1.1 envelope and calls one api_op_*() from api_ops[]; the List* operations
 * share api_list(), which filters, sorts and pages a table of summaries the
 * same way for endpoints, endpoint configs and models.
 */
#define _GNU_SOURCE
#include "api.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "endpoint.h"
#include "httpd.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "names.h"
#include "proxy.h"
#include "utf8.h"
#include "util.h"

/* An answer waiting for its journal records to reach the disk. */
struct api_pending {
	TAILQ_ENTRY(api_pending) link;
	struct api *api;
	struct httpd_request *req;
	int status;
	char *body;
	char request_id[AWS_REQUEST_ID_LEN + 1];
};

struct api {
	struct event_base *base;
	struct endpoint_manager *manager;
	struct journal *journal; /* borrowed; may be NULL */
	struct proxy *proxy;     /* borrowed */
	struct httpd *httpd;
	struct config *limits_from; /* a reference: the config httpd's limits came from */
	TAILQ_HEAD(, api_pending) pending;
	/* Tags set through the API on models and endpoint configs, by
	 * lower-cased ARN; the YAML's own tags until the first change. */
	struct strmap *tags;
};

typedef int (*api_op_fn)(struct api *a, struct aws_reader *r, json_t *out, struct aws_error *err);

/* The config operations read. */
static struct config *api_config(struct api *a)
{
	return endpoint_manager_config(a->manager);
}

/* An ARN in this daemon's region and account. */
static char *api_arn(struct api *a, const char *kind, const char *name)
{
	struct config *c = api_config(a);
	return names_arn(c->region, c->account_id, kind, name);
}

/* Reads a Tags member: at most 50, each key and value valid. */
static size_t api_read_tags(struct aws_reader *r, const char *field, struct endpoint_tag **ret)
{
	json_t *arr = aws_read_array(r, field);
	*ret = NULL;
	if (!arr)
		return 0;
	_cleanup_free_ char *f = aws_field_name(field);
	size_t n = json_array_size(arr);
	if (n > NAMES_MAX_TAGS) {
		_cleanup_free_ char *shown = json_dumps(arr, JSON_COMPACT);
		aws_reader_invalid(r, shown, f, "Member must have length less than or equal to 50");
		return 0;
	}
	struct endpoint_tag *tags = xcalloc(n ? n : 1, sizeof(*tags));
	for (size_t i = 0; i < n; i++) {
		json_t *t = json_array_get(arr, i);
		struct aws_reader tr;
		aws_reader_init(&tr, t);
		if (!json_is_object(t)) {
			r->type_error = r->type_error ? r->type_error
						      : xasprintf("Cannot deserialize %s: expected "
								  "a Tag structure",
								  field);
			continue;
		}
		const char *key = aws_read_string(&tr, "Key");
		const char *value = aws_read_string(&tr, "Value");
		if (tr.type_error && !r->type_error)
			r->type_error = TAKE_PTR(tr.type_error);
		_cleanup_free_ char *kf = xasprintf("%s.%zu.member.key", f, i + 1);
		_cleanup_free_ char *vf = xasprintf("%s.%zu.member.value", f, i + 1);
		long kl = key ? names_utf8_length(key) : 0;
		if (!key)
			aws_reader_invalid(r, NULL, kf, "Member must not be null");
		else if (kl < 1)
			aws_reader_invalid(r, key, kf,
					   "Member must have length greater than or equal to 1");
		else if (kl > NAMES_TAG_KEY_MAX)
			aws_reader_invalid(r, key, kf,
					   "Member must have length less than or equal to 128");
		else if (!names_valid_tag_key(key))
			aws_reader_invalid(r, key, kf,
					   "Member must satisfy regular expression pattern: " NAMES_TAG_PATTERN);
		if (value && names_utf8_length(value) > NAMES_TAG_VALUE_MAX)
			aws_reader_invalid(r, value, vf,
					   "Member must have length less than or equal to 256");
		else if (value && !names_valid_tag_value(value))
			aws_reader_invalid(r, value, vf,
					   "Member must satisfy regular expression pattern: " NAMES_TAG_PATTERN);
		tags[i].key = (char *)key;
		tags[i].value = (char *)(value ? value : "");
		aws_reader_clear(&tr);
	}
	*ret = tags;
	return n;
}

/* A Tags list for a response. */
static json_t *api_tags_json(const struct tagset *ts)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < ts->n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s}", "Key", ts->tags[i].key, "Value",
						     ts->tags[i].value));
	return arr;
}

/* The ValidationException for an endpoint that is not there. */
static int api_no_endpoint(struct api *a, const char *name, struct aws_error *err)
{
	_cleanup_free_ char *arn = api_arn(a, "endpoint", name);
	aws_error_set(err, 400, "ValidationException", "Could not find endpoint \"%s\".", arn);
	return -ENOENT;
}

/* CreateEndpoint. */
static int api_op_create_endpoint(struct api *a, struct aws_reader *r, json_t *out,
				  struct aws_error *err)
{
	const char *name = aws_read_name(r, "EndpointName", true);
	const char *config_name = aws_read_name(r, "EndpointConfigName", true);
	_cleanup_free_ struct endpoint_tag *tags = NULL;
	size_t n_tags = api_read_tags(r, "Tags", &tags);
	if (aws_reader_error(r, err))
		return -EINVAL;

	struct config *c = api_config(a);
	struct endpoint *ep;
	int res = endpoint_create(a->manager, name, config_name, tags, n_tags, &ep);
	if (res == -EEXIST) {
		_cleanup_free_ char *arn = api_arn(a, "endpoint", name);
		aws_error_set(err, 400, "ValidationException",
			      "Cannot create already existing endpoint \"%s\".", arn);
	} else if (res == -ENOENT) {
		_cleanup_free_ char *arn = api_arn(a, "endpoint-config", config_name);
		aws_error_set(err, 400, "ValidationException",
			      "Could not find endpoint configuration \"%s\".", arn);
	} else if (res == -ENOSPC) {
		size_t used = endpoint_manager_endpoints(a->manager);
		aws_error_set(err, 400, "ResourceLimitExceeded",
			      "The limit 'max_endpoints' is %u Endpoints, with current utilization "
			      "of %zu Endpoints and a request delta of 1 Endpoints. Raise "
			      "limits.max_endpoints in the daemon config to allow more.",
			      c->max_endpoints, used);
	} else if (res == -EDQUOT) {
		const struct config_endpoint_config *ec = config_find_endpoint_config(c, config_name);
		unsigned want = 0;
		for (size_t i = 0; ec && i < ec->n_variants; i++)
			want += ec->variants[i].initial_instance_count;
		aws_error_set(err, 400, "ResourceLimitExceeded",
			      "The limit 'max_instances' is %u Instances, with current utilization "
			      "of %zu Instances and a request delta of %u Instances. Raise "
			      "limits.max_instances in the daemon config to allow more.",
			      c->max_instances, endpoint_manager_instances(a->manager), want);
	} else if (res == -ENODEV) {
		const struct config_endpoint_config *ec = config_find_endpoint_config(c, config_name);
		size_t want = ec ? endpoint_config_gpus(ec) : 0;
		aws_error_set(err, 400, "ResourceLimitExceeded",
			      "Endpoint configuration %s needs %zu GPU%s; this host has %zu, %zu of "
			      "them free.",
			      config_name, want, want == 1 ? "" : "s", endpoint_manager_gpus(a->manager),
			      endpoint_manager_free_gpus(a->manager));
	} else if (res < 0) {
		aws_error_set(err, 400, "ValidationException", "Cannot create endpoint: %s",
			      strerror(-res));
	}
	if (res < 0)
		return res;
	json_object_set_new(out, "EndpointArn", json_string(ep->arn));
	return 0;
}

/* Whether every variant's image has been resolved. */
static bool api_variants_known(const struct endpoint *ep)
{
	for (size_t i = 0; i < ep->n_variants; i++)
		if (!ep->variants[i].resolved_image)
			return false;
	return ep->n_variants > 0;
}

/* Reads EndpointName and finds it; NULL with the error set otherwise. */
static struct endpoint *api_read_endpoint(struct api *a, struct aws_reader *r,
					  struct aws_error *err)
{
	const char *name = aws_read_name(r, "EndpointName", true);
	if (aws_reader_error(r, err))
		return NULL;
	struct endpoint *ep = endpoint_find(a->manager, name);
	if (!ep)
		api_no_endpoint(a, name, err);
	return ep;
}

/* DescribeEndpoint. */
static int api_op_describe_endpoint(struct api *a, struct aws_reader *r, json_t *out,
				    struct aws_error *err)
{
	struct endpoint *ep = api_read_endpoint(a, r, err);
	if (!ep)
		return -EINVAL;

	json_object_set_new(out, "EndpointName", json_string(ep->name));
	json_object_set_new(out, "EndpointArn", json_string(ep->arn));
	json_object_set_new(out, "EndpointConfigName", json_string(ep->config_name));
	json_object_set_new(out, "EndpointStatus",
			    json_string(endpoint_state_to_string(ep->state)));
	if (ep->state == ENDPOINT_FAILED && ep->failure_reason)
		json_object_set_new(out, "FailureReason", aws_string(ep->failure_reason));
	json_object_set_new(out, "CreationTime", aws_time(ep->creation_time));
	json_object_set_new(out, "LastModifiedTime", aws_time(ep->last_modified_time));
	if (!api_variants_known(ep))
		return 0;
	json_t *pvs = json_array();
	for (size_t i = 0; i < ep->n_variants; i++) {
		const struct variant *v = &ep->variants[i];
		json_t *images = json_pack(
			"[{s:s, s:s, s:o}]", "SpecifiedImage", v->cv->model->primary.image,
			"ResolvedImage", v->resolved_image, "ResolutionTime",
			aws_time(v->resolution_time));
		json_array_append_new(
			pvs, json_pack("{s:s, s:o, s:f, s:f, s:i, s:i}", "VariantName", v->name,
				       "DeployedImages", images, "CurrentWeight", v->current_weight,
				       "DesiredWeight", v->desired_weight, "CurrentInstanceCount",
				       (int)v->n_healthy, "DesiredInstanceCount",
				       (int)v->n_instances));
	}
	json_object_set_new(out, "ProductionVariants", pvs);
	return 0;
}

/* DeleteEndpoint. */
static int api_op_delete_endpoint(struct api *a, struct aws_reader *r, json_t *out,
				  struct aws_error *err)
{
	struct endpoint *ep = api_read_endpoint(a, r, err);
	if (!ep)
		return -EINVAL;
	if (endpoint_delete(ep) < 0) {
		aws_error_set(err, 400, "ValidationException",
			      "Cannot update in-progress endpoint \"%s\".", ep->arn);
		return -EBUSY;
	}
	return 0;
}

/*
 * Listing.  Every List* operation builds a table of items, and api_list()
 * applies the request's filters, sort and page, and fills the response.
 */
struct api_item {
	const char *name;
	char *name_lc;
	double creation_time;
	double last_modified_time; /* NAN when the resource has none */
	const char *status;        /* NULL when the resource has none */
	json_t *summary;           /* owned */
};

enum api_sort_by { API_SORT_NAME, API_SORT_CREATION_TIME, API_SORT_STATUS };

struct api_list_spec {
	const char *result_key;     /* "Endpoints" */
	bool has_status;            /* StatusEquals, SortBy Status */
	bool has_last_modified;     /* LastModifiedTime{Before,After} */
	const char *status_values;  /* for the enum message */
};

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
static int api_list(struct aws_reader *r, const struct api_list_spec *spec, struct api_item *items,
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

/* ListEndpoints. */
static int api_op_list_endpoints(struct api *a, struct aws_reader *r, json_t *out,
				 struct aws_error *err)
{
	_cleanup_free_ struct endpoint **eps = NULL;
	size_t n = endpoint_list(a->manager, &eps);
	_cleanup_free_ struct api_item *items = xcalloc(n ? n : 1, sizeof(*items));
	for (size_t i = 0; i < n; i++) {
		struct endpoint *ep = eps[i];
		const char *status = endpoint_state_to_string(ep->state);
		items[i] = (struct api_item){
			.name = ep->name,
			.name_lc = xstrdup(ep->name_lc),
			.creation_time = ep->creation_time,
			.last_modified_time = ep->last_modified_time,
			.status = status,
			.summary = json_pack("{s:s, s:s, s:o, s:o, s:s}", "EndpointName", ep->name,
					     "EndpointArn", ep->arn, "CreationTime",
					     aws_time(ep->creation_time), "LastModifiedTime",
					     aws_time(ep->last_modified_time), "EndpointStatus",
					     status),
		};
	}
	static const struct api_list_spec spec = {
		.result_key = "Endpoints",
		.has_status = true,
		.has_last_modified = true,
		.status_values = "Member must satisfy enum value set: [OutOfService, Creating, "
				 "Updating, SystemUpdating, RollingBack, InService, Deleting, "
				 "Failed, UpdateRollbackFailed]",
	};
	return api_list(r, &spec, items, n, out, err);
}

/* The tags of a model or endpoint config: changed ones, or the YAML's. */
static struct tagset *api_resource_tags(struct api *a, const char *arn,
					const struct config_tag *yaml, size_t n_yaml)
{
	_cleanup_free_ char *key = str_tolower(arn);
	struct tagset *ts = strmap_get(a->tags, key);
	if (ts)
		return ts;
	ts = xcalloc(1, sizeof(*ts));
	for (size_t i = 0; i < n_yaml; i++) {
		struct endpoint_tag t = {.key = yaml[i].key, .value = yaml[i].value};
		(void)tagset_add(ts, &t, 1);
	}
	strmap_put(a->tags, key, ts);
	return ts;
}

/* DescribeEndpointConfig. */
static int api_op_describe_endpoint_config(struct api *a, struct aws_reader *r, json_t *out,
					   struct aws_error *err)
{
	const char *name = aws_read_name(r, "EndpointConfigName", true);
	if (aws_reader_error(r, err))
		return -EINVAL;
	const struct config_endpoint_config *ec = config_find_endpoint_config(api_config(a), name);
	_cleanup_free_ char *arn = api_arn(a, "endpoint-config", ec ? ec->name : name);
	if (!ec) {
		aws_error_set(err, 400, "ValidationException",
			      "Could not find endpoint configuration \"%s\".", arn);
		return -ENOENT;
	}
	json_t *pvs = json_array();
	for (size_t i = 0; i < ec->n_variants; i++) {
		const struct config_variant *v = &ec->variants[i];
		json_array_append_new(
			pvs, json_pack("{s:s, s:s, s:i, s:s, s:f, s:i, s:i}", "VariantName",
				       v->variant_name, "ModelName", v->model_name,
				       "InitialInstanceCount", (int)v->initial_instance_count,
				       "InstanceType", v->instance_type, "InitialVariantWeight",
				       v->initial_weight,
				       "ContainerStartupHealthCheckTimeoutInSeconds",
				       (int)v->startup_timeout_s, "ModelDataDownloadTimeoutInSeconds",
				       (int)v->model_data_download_timeout_s));
	}
	json_object_set_new(out, "EndpointConfigName", json_string(ec->name));
	json_object_set_new(out, "EndpointConfigArn", json_string(arn));
	json_object_set_new(out, "ProductionVariants", pvs);
	json_object_set_new(out, "CreationTime", aws_time(ec->creation_time));
	return 0;
}

/* A listing item of a resource the YAML defines: {<Kind>Name, <Kind>Arn,
 * CreationTime}. */
static struct api_item api_named_item(struct api *a, const char *arn_kind, const char *kind,
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

/* ListEndpointConfigs. */
static int api_op_list_endpoint_configs(struct api *a, struct aws_reader *r, json_t *out,
					struct aws_error *err)
{
	struct config *c = api_config(a);
	size_t n = c->n_endpoint_configs;
	_cleanup_free_ struct api_item *items = xcalloc(n ? n : 1, sizeof(*items));
	for (size_t i = 0; i < n; i++)
		items[i] = api_named_item(a, "endpoint-config", "EndpointConfig",
					  c->endpoint_configs[i].name,
					  c->endpoint_configs[i].creation_time);
	static const struct api_list_spec spec = {.result_key = "EndpointConfigs"};
	return api_list(r, &spec, items, n, out, err);
}

/* DescribeModel. */
static int api_op_describe_model(struct api *a, struct aws_reader *r, json_t *out,
				 struct aws_error *err)
{
	const char *name = aws_read_name(r, "ModelName", true);
	if (aws_reader_error(r, err))
		return -EINVAL;
	const struct config_model *m = config_find_model(api_config(a), name);
	_cleanup_free_ char *arn = api_arn(a, "model", m ? m->name : name);
	if (!m) {
		aws_error_set(err, 400, "ValidationException", "Could not find model \"%s\".", arn);
		return -ENOENT;
	}
	json_t *model = endpoint_model_json(m);
	json_object_update(out, model);
	json_decref(model);
	json_object_set_new(out, "ModelArn", json_string(arn));
	json_object_set_new(out, "CreationTime", aws_time(m->creation_time));
	return 0;
}

/* ListModels. */
static int api_op_list_models(struct api *a, struct aws_reader *r, json_t *out,
			      struct aws_error *err)
{
	struct config *c = api_config(a);
	size_t n = c->n_models;
	_cleanup_free_ struct api_item *items = xcalloc(n ? n : 1, sizeof(*items));
	for (size_t i = 0; i < n; i++)
		items[i] = api_named_item(a, "model", "Model", c->models[i].name,
					  c->models[i].creation_time);
	static const struct api_list_spec spec = {.result_key = "Models"};
	return api_list(r, &spec, items, n, out, err);
}

/* The tag set an ARN names, or NULL with the error set; *ret_ep is the
 * endpoint when it is one's, else *ret_key the key of the API's own set. */
static struct tagset *api_tags_for_arn(struct api *a, const char *arn, struct aws_error *err,
				       struct endpoint **ret_ep, char **ret_key)
{
	struct config *c = api_config(a);
	_cleanup_free_ char *kind = NULL, *name = NULL;
	if (names_parse_arn(arn, c->region, c->account_id, &kind, &name) < 0) {
		aws_error_set(err, 400, "ValidationException",
			      "Could not find resource \"%s\": not a SageMaker ARN of region %s and "
			      "account %s.",
			      arn, c->region, c->account_id);
		return NULL;
	}
	if (strcmp(kind, "endpoint") == 0) {
		struct endpoint *ep = endpoint_find(a->manager, name);
		if (ep) {
			*ret_ep = ep;
			return &ep->tags;
		}
		api_no_endpoint(a, name, err);
		return NULL;
	}
	if (strcmp(kind, "endpoint-config") == 0) {
		const struct config_endpoint_config *ec = config_find_endpoint_config(c, name);
		if (ec) {
			_cleanup_free_ char *canon = api_arn(a, kind, ec->name);
			*ret_key = str_tolower(canon);
			return api_resource_tags(a, canon, ec->tags, ec->n_tags);
		}
		aws_error_set(err, 400, "ValidationException",
			      "Could not find endpoint configuration \"%s\".", arn);
		return NULL;
	}
	if (strcmp(kind, "model") == 0) {
		const struct config_model *m = config_find_model(c, name);
		if (m) {
			_cleanup_free_ char *canon = api_arn(a, kind, m->name);
			*ret_key = str_tolower(canon);
			return api_resource_tags(a, canon, m->tags, m->n_tags);
		}
		aws_error_set(err, 400, "ValidationException", "Could not find model \"%s\".", arn);
		return NULL;
	}
	aws_error_set(err, 400, "ValidationException", "Could not find resource \"%s\".", arn);
	return NULL;
}

/* Reads ResourceArn (required, at most 2048 characters). */
static const char *api_read_arn(struct aws_reader *r)
{
	const char *arn = aws_read_string(r, "ResourceArn");
	if (!arn && !r->type_error)
		aws_reader_invalid(r, NULL, "resourceArn", "Member must not be null");
	else if (arn && strlen(arn) > NAMES_ARN_MAX)
		aws_reader_invalid(r, "…", "resourceArn",
				   "Member must have length less than or equal to 2048");
	return arn;
}

/* Journal a changed tag set. */
static void api_persist_tags(struct api *a, struct endpoint *ep, const char *key,
			     const struct tagset *ts)
{
	if (ep) {
		endpoint_persist(ep);
		return;
	}
	if (!a->journal || !key)
		return;
	_cleanup_free_ char *jkey = xasprintf(API_TAGS_KEY_PREFIX "%s", key);
	json_t *v = api_tags_json(ts);
	int r = journal_put(a->journal, jkey, v);
	json_decref(v);
	if (r < 0) {
		/* The answer would say the tags are kept when the disk may
		 * not hold them: as for every journal error, exit and let the
		 * restart replay what is there. */
		_cleanup_free_ char *msg =
			xasprintf("cannot journal the tags of %s: %s", key, strerror(-r));
		log_fields(LOG_CRIT, NULL, "%s; exiting to recover on restart", msg);
		journal_fatal_hook(msg);
	}
}

/* AddTags. */
static int api_op_add_tags(struct api *a, struct aws_reader *r, json_t *out,
			   struct aws_error *err)
{
	const char *arn = api_read_arn(r);
	_cleanup_free_ struct endpoint_tag *tags = NULL;
	if (!json_object_get(r->obj, "Tags"))
		aws_reader_invalid(r, NULL, "tags", "Member must not be null");
	size_t n = api_read_tags(r, "Tags", &tags);
	if (aws_reader_error(r, err))
		return -EINVAL;
	struct endpoint *ep = NULL;
	_cleanup_free_ char *key = NULL;
	struct tagset *ts = api_tags_for_arn(a, arn, err, &ep, &key);
	if (!ts)
		return -ENOENT;
	if (tagset_add(ts, tags, n) < 0) {
		aws_error_set(err, 400, "ResourceLimitExceeded",
			      "Resource \"%s\" would have more than 50 tags: it has %zu.", arn, ts->n);
		return -E2BIG;
	}
	api_persist_tags(a, ep, key, ts);
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s}", "Key", tags[i].key, "Value",
						     tags[i].value));
	json_object_set_new(out, "Tags", arr);
	return 0;
}

/* ListTags. */
static int api_op_list_tags(struct api *a, struct aws_reader *r, json_t *out,
			    struct aws_error *err)
{
	const char *arn = api_read_arn(r);
	long long max = 50;
	if (aws_read_int(r, "MaxResults", &max) && (max < 50 || max > 100))
		aws_reader_invalid(r, max < 50 ? "<50" : ">100", "maxResults",
				   max < 50 ? "Member must have value greater than or equal to 50"
					    : "Member must have value less than or equal to 100");
	(void)aws_read_string(r, "NextToken");
	if (aws_reader_error(r, err))
		return -EINVAL;
	struct endpoint *ep = NULL;
	_cleanup_free_ char *key = NULL;
	struct tagset *ts = api_tags_for_arn(a, arn, err, &ep, &key);
	if (!ts)
		return -ENOENT;
	/* At most 50 tags and at least 50 a page: one page holds them all. */
	json_object_set_new(out, "Tags", api_tags_json(ts));
	return 0;
}

/* DeleteTags. */
static int api_op_delete_tags(struct api *a, struct aws_reader *r, json_t *out,
			      struct aws_error *err)
{
	const char *arn = api_read_arn(r);
	json_t *keys = aws_read_array(r, "TagKeys");
	if (!keys && !r->type_error)
		aws_reader_invalid(r, NULL, "tagKeys", "Member must not be null");
	size_t n = keys ? json_array_size(keys) : 0;
	if (keys && (n < 1 || n > NAMES_MAX_TAGS))
		aws_reader_invalid(r, "[…]", "tagKeys",
				   n < 1 ? "Member must have length greater than or equal to 1"
					 : "Member must have length less than or equal to 50");
	_cleanup_free_ const char **v = xcalloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; i < n && !r->type_error; i++) {
		json_t *k = json_array_get(keys, i);
		if (!json_is_string(k))
			r->type_error = xasprintf("Cannot deserialize TagKeys: expected a string");
		else
			v[i] = json_string_value(k);
	}
	if (aws_reader_error(r, err))
		return -EINVAL;
	struct endpoint *ep = NULL;
	_cleanup_free_ char *key = NULL;
	struct tagset *ts = api_tags_for_arn(a, arn, err, &ep, &key);
	if (!ts)
		return -ENOENT;
	tagset_remove(ts, v, n);
	api_persist_tags(a, ep, key, ts);
	return 0;
}

static const struct api_op {
	const char *name;
	api_op_fn fn;
	bool changes_state; /* answer only once journaled */
} api_ops[] = {
	{"CreateEndpoint", api_op_create_endpoint, true},
	{"DescribeEndpoint", api_op_describe_endpoint, false},
	{"DeleteEndpoint", api_op_delete_endpoint, true},
	{"ListEndpoints", api_op_list_endpoints, false},
	{"DescribeEndpointConfig", api_op_describe_endpoint_config, false},
	{"ListEndpointConfigs", api_op_list_endpoint_configs, false},
	{"DescribeModel", api_op_describe_model, false},
	{"ListModels", api_op_list_models, false},
	{"AddTags", api_op_add_tags, true},
	{"ListTags", api_op_list_tags, false},
	{"DeleteTags", api_op_delete_tags, true},
};

/* The operation named name, or NULL. */
static const struct api_op *api_find_op(const char *name)
{
	for (size_t i = 0; name && i < ELEMENTSOF(api_ops); i++)
		if (strcmp(api_ops[i].name, name) == 0)
			return &api_ops[i];
	return NULL;
}

/* Run one operation on a parsed body. */
int api_call(struct api *a, const char *operation, json_t *input, char **ret_body,
	     const char **ret_code)
{
	struct aws_error err = {0};
	const struct api_op *op = api_find_op(operation);
	api_op_fn fn = op ? op->fn : NULL;
	if (!fn) {
		aws_error_set(&err, 400, "UnknownOperationException",
			      operation ? "The operation %s is not supported by this endpoint."
					: "%sMissing or malformed X-Amz-Target header.",
			      operation ? operation : "");
	} else {
		struct aws_reader r;
		aws_reader_init(&r, input);
		json_t *out = json_object();
		int res = fn(a, &r, out, &err);
		aws_reader_clear(&r);
		if (res >= 0) {
			*ret_body = aws_dump(out);
			*ret_code = NULL;
			json_decref(out);
			return 200;
		}
		json_decref(out);
	}
	int status = err.status ? err.status : 500;
	*ret_body = aws_json_error_body(err.code, err.message);
	*ret_code = err.code;
	aws_error_clear(&err);
	return status;
}

/* Send a JSON body with the AWS headers. */
static void api_send(struct httpd_request *req, int status, const char *content_type,
		     const char *body, const char *error_code, const char *request_id)
{
	httpd_add_header(req, "Content-Type", content_type);
	httpd_add_header(req, "x-amzn-RequestId", request_id);
	if (error_code)
		httpd_add_header(req, "x-amzn-ErrorType", error_code);
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, body, strlen(body));
	httpd_send_reply(req, status, b);
	evbuffer_free(b);
}

/* The journal has the records: answer. */
static void api_pending_durable_cb(void *userdata)
{
	struct api_pending *p = userdata;
	TAILQ_REMOVE(&p->api->pending, p, link);
	api_send(p->req, p->status, AWS_JSON_CONTENT_TYPE, p->body, NULL, p->request_id);
	free(p->body);
	free(p);
}

/* Answer once everything staged so far (this call's records) is on disk. */
static void api_answer_when_durable(struct api *a, struct httpd_request *req, int status,
				    char *body, const char *request_id)
{
	struct api_pending *p = xcalloc(1, sizeof(*p));
	p->api = a;
	p->req = req;
	p->status = status;
	p->body = body;
	snprintf(p->request_id, sizeof(p->request_id), "%s", request_id);
	TAILQ_INSERT_TAIL(&a->pending, p, link);
	journal_barrier(a->journal, api_pending_durable_cb, p);
}

/* POST / with X-Amz-Target. */
static void api_control(struct api *a, struct httpd_request *req, const char *request_id)
{
	struct evbuffer *body = httpd_request_body(req);
	size_t len = evbuffer_get_length(body);
	const char *op = aws_target_operation(httpd_request_header(req, "X-Amz-Target"));
	_cleanup_free_ char *out = NULL;
	const char *code = NULL;
	int status;
	struct aws_error err = {0};
	json_t *input = NULL;

	if (len > API_MAX_CONTROL_BODY) {
		aws_error_set(&err, 413, "ValidationException",
			      "Request body of %zu bytes is over the limit of %d bytes.", len,
			      API_MAX_CONTROL_BODY);
	} else if (op && aws_parse_body((const char *)evbuffer_pullup(body, -1), len, &input,
					&err) == 0) {
		status = api_call(a, op, input, &out, &code);
		json_decref(input);
		log_request(LOG_DEBUG, request_id, NULL, "request %s: %s -> %d%s%s", request_id, op,
			    status, code ? " " : "", code ? code : "");
		const struct api_op *o = api_find_op(op);
		if (status == 200 && o && o->changes_state && a->journal) {
			api_answer_when_durable(a, req, status, TAKE_PTR(out), request_id);
			return;
		}
		api_send(req, status, AWS_JSON_CONTENT_TYPE, out, code, request_id);
		return;
	} else if (!op) {
		status = api_call(a, NULL, NULL, &out, &code);
		api_send(req, status, AWS_JSON_CONTENT_TYPE, out, code, request_id);
		return;
	}
	out = aws_json_error_body(err.code, err.message);
	api_send(req, err.status, AWS_JSON_CONTENT_TYPE, out, err.code, request_id);
	aws_error_clear(&err);
}

/* Every request. */
static void api_request_cb(struct httpd_request *req, void *arg)
{
	struct api *a = arg;
	char request_id[AWS_REQUEST_ID_LEN + 1];
	aws_request_id(request_id);
	/* httpd hands over the path and header values as valid UTF-8. */
	const char *path = httpd_request_path(req);
	const char *method = httpd_request_method(req);

	if (strcmp(path, "/") == 0 && strcmp(method, "POST") == 0) {
		api_control(a, req, request_id);
		return;
	}
	if (strcmp(path, "/metrics") == 0 && strcmp(method, "GET") == 0) {
		_cleanup_free_ char *text = metrics_render(a->manager);
		httpd_add_header(req, "Content-Type", METRICS_CONTENT_TYPE);
		struct evbuffer *b = evbuffer_new();
		evbuffer_add(b, text, strlen(text));
		httpd_send_reply(req, 200, b);
		evbuffer_free(b);
		return;
	}
	/* /endpoints/<name>/invocations */
	static const char prefix[] = "/endpoints/", suffix[] = "/invocations";
	if (a->proxy && str_has_prefix(path, prefix)) {
		const char *name = path + strlen(prefix);
		const char *slash = strchr(name, '/');
		if (slash && slash > name && strcmp(slash, suffix) == 0) {
			_cleanup_free_ char *n = xstrndup(name, (size_t)(slash - name));
			proxy_invoke(a->proxy, req, n, request_id);
			return;
		}
	}
	_cleanup_free_ char *msg = xasprintf("No route for %s %s.", method, path);
	_cleanup_free_ char *body = aws_json_error_body("UnknownOperationException", msg);
	api_send(req, 404, AWS_JSON_CONTENT_TYPE, body, "UnknownOperationException", request_id);
}

/* Free a changed tag set. */
static void api_free_tagset(const char *key, void *value, void *userdata)
{
	tagset_clear(value);
	free(value);
}

/*
 * max_connections, kept to half the open file limit: clients must never
 * take the descriptors that the Engine, health checks and the connections
 * to the containers need.
 */
static unsigned api_max_connections(const struct config *c)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    c->max_connections <= rl.rlim_cur / 2)
		return c->max_connections;
	unsigned cap = rl.rlim_cur / 2 ? (unsigned)(rl.rlim_cur / 2) : 1;
	log_warning("limits.max_connections is %u but the open file limit is %llu: "
		    "accepting at most %u connections (raise LimitNOFILE= or ulimit -n)",
		    c->max_connections, (unsigned long long)rl.rlim_cur, cap);
	return cap;
}

/* The server's limits from the daemon config. */
static struct httpd_limits api_limits(const struct config *c)
{
	return (struct httpd_limits){
		.max_connections = api_max_connections(c),
		.max_buffered_bytes = c->max_buffered_bytes,
		.head_timeout_ms = c->request_timeout_s * 1000,
		.body_timeout_ms = c->body_timeout_s * 1000,
		.body_total_ms = CONFIG_BODY_TOTAL_S * 1000,
		.idle_timeout_ms = c->idle_timeout_s * 1000,
		.write_timeout_ms = c->write_timeout_s * 1000,
	};
}

/* Follow a reloaded config's limits. */
static void api_refresh_limits(struct api *a)
{
	struct config *c = api_config(a);
	if (c == a->limits_from)
		return;
	struct httpd_limits l = api_limits(c);
	httpd_set_limits(a->httpd, &l);
	config_unref(a->limits_from);
	a->limits_from = config_ref(c);
}

/* Whether path is a data-plane (runtime) path: its errors are REST-JSON. */
static bool api_is_runtime_path(const char *path)
{
	return path && str_has_prefix(path, "/endpoints/");
}

/* A head was read: how large may its body be? */
static size_t api_head_cb(struct httpd_request *req, void *arg)
{
	struct api *a = arg;
	api_refresh_limits(a);
	const char *path = httpd_request_path(req);
	if (strcmp(path, "/") == 0)
		return API_MAX_CONTROL_BODY;
	if (api_is_runtime_path(path))
		return PROXY_MAX_BODY;
	return API_MAX_OTHER_BODY;
}

/* The server refuses a request: answer in the shape of its API. */
static void api_error_cb(struct httpd_request *req, int status, const char *message, void *arg)
{
	char request_id[AWS_REQUEST_ID_LEN + 1];
	aws_request_id(request_id);
	bool busy = status == 503;
	if (api_is_runtime_path(httpd_request_path(req))) {
		const char *code = busy ? "ServiceUnavailable" : "ValidationError";
		_cleanup_free_ char *body = aws_rest_error_body(code, message, NULL);
		api_send(req, status, "application/json", body, code, request_id);
		return;
	}
	const char *code = busy ? "ServiceUnavailable" : "ValidationException";
	_cleanup_free_ char *body = aws_json_error_body(code, message);
	api_send(req, status, AWS_JSON_CONTENT_TYPE, body, code, request_id);
}

/* An API on base, with no listeners yet. */
struct api *api_new(struct event_base *base, struct endpoint_manager *m, struct journal *journal,
		    struct proxy *proxy)
{
	struct api *a = xcalloc(1, sizeof(*a));
	a->base = base;
	a->manager = m;
	a->journal = journal;
	a->proxy = proxy;
	TAILQ_INIT(&a->pending);
	a->tags = strmap_new();
	a->limits_from = config_ref(api_config(a));
	struct httpd_limits l = api_limits(a->limits_from);
	a->httpd = httpd_new(base, &l, api_head_cb, api_request_cb, api_error_cb, a);
	return a;
}

/* Close listeners and connections. */
struct api *api_free(struct api *a)
{
	if (!a)
		return NULL;
	struct api_pending *p;
	while ((p = TAILQ_FIRST(&a->pending))) {
		TAILQ_REMOVE(&a->pending, p, link);
		free(p->body);
		free(p);
	}
	a->httpd = httpd_free(a->httpd);
	config_unref(a->limits_from);
	strmap_foreach(a->tags, api_free_tagset, NULL);
	strmap_free(a->tags);
	free(a);
	return NULL;
}

/* Serve an already-bound socket. */
int api_listen_fd(struct api *a, int fd)
{
	return httpd_listen_fd(a->httpd, fd);
}

/* Stop accepting. */
void api_close_listeners(struct api *a)
{
	httpd_close_listeners(a->httpd);
}

void api_hold(struct api *a, bool hold)
{
	httpd_hold(a->httpd, hold);
}

void api_drain(struct api *a, void (*cb)(void *userdata), void *userdata)
{
	httpd_drain(a->httpd, cb, userdata);
}

size_t api_connections(const struct api *a)
{
	return httpd_connections(a->httpd);
}

/* Restore one "tags/<arn>" record. */
int api_restore_tags(struct api *a, const char *key, json_t *value)
{
	if (!str_has_prefix(key, API_TAGS_KEY_PREFIX) || !json_is_array(value))
		return -EINVAL;
	struct tagset *ts = xcalloc(1, sizeof(*ts));
	size_t i;
	json_t *t;
	json_array_foreach(value, i, t)
	{
		struct endpoint_tag tag = {
			.key = (char *)json_string_value(json_object_get(t, "Key")),
			.value = (char *)json_string_value(json_object_get(t, "Value")),
		};
		if (!tag.key || !tag.value || tagset_add(ts, &tag, 1) < 0) {
			tagset_clear(ts);
			free(ts);
			return -EINVAL;
		}
	}
	struct tagset *old = strmap_put(a->tags, key + strlen(API_TAGS_KEY_PREFIX), ts);
	if (old) {
		tagset_clear(old);
		free(old);
	}
	return 0;
}

/* Bind a Unix socket (replacing a stale one) and serve it. */
static int api_listen_unix(struct api *a, const char *path, char **ret_error)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		*ret_error = xasprintf("unix:%s: path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail;
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0)
		goto fail;
	if (api_listen_fd(a, fd) < 0) {
		errno = EINVAL;
		goto fail;
	}
	return 0;
fail:;
	int e = errno;
	if (fd >= 0)
		close(fd);
	*ret_error = xasprintf("unix:%s: %s", path, strerror(e));
	return -e;
}

/* Bind one configured address. */
int api_listen(struct api *a, const struct config_listen *l, char **ret_error)
{
	if (l->unix_path)
		return api_listen_unix(a, l->unix_path, ret_error);
	int r = httpd_listen_tcp(a->httpd, l->host, l->port);
	if (r < 0) {
		*ret_error = xasprintf("%s:%u: %s", l->host, (unsigned)l->port, strerror(-r));
		return r;
	}
	return 0;
}
