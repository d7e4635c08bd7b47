/*
 * Tags: AddTags, ListTags and DeleteTags on an endpoint, an endpoint config
 * or a model, and reading a Tags member (CreateEndpoint takes one too).
 *
 * An endpoint keeps its tags itself and journals them with its record.
 * Models and endpoint configs come from the daemon config, so the tags set
 * on them through the API live here, in struct api's store by lower-cased
 * ARN: a resource's YAML tags until its first change, then its own set,
 * journaled under "tags/<arn>" and restored from there by
 * api_restore_tags().
 */
#define _GNU_SOURCE
#include "api_private.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "endpoint.h"
#include "journal.h"
#include "log.h"
#include "names.h"

/* Reads a Tags member: at most 50, each key and value valid. */
size_t api_read_tags(struct aws_reader *r, const char *field, struct endpoint_tag **ret)
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
		else if (str_has_prefix(key, "aws:"))
			aws_reader_invalid(r, key, kf,
					   "Member must not start with aws: (tag keys starting with "
					   "\"aws:\" are reserved)");
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
json_t *api_tags_list(const struct endpoint_tag *tags, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s}", "Key", tags[i].key, "Value",
						     tags[i].value));
	return arr;
}

/* The same of a tag set. */
static json_t *api_tags_json(const struct tagset *ts)
{
	return api_tags_list(ts->tags, ts->n);
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
	/* The answer would say the tags are kept when the disk may not hold
	 * them: as for every journal error, exit and replay on restart. */
	journal_put_or_exit(a->journal, jkey, v);
	json_decref(v);
}

/* AddTags. */
int api_op_add_tags(struct api *a, struct aws_reader *r, json_t *out,
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
int api_op_list_tags(struct api *a, struct aws_reader *r, json_t *out,
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
int api_op_delete_tags(struct api *a, struct aws_reader *r, json_t *out,
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

void api_forget_tags(struct api *a, const char *arn)
{
	_cleanup_free_ char *key = str_tolower(arn);
	struct tagset *ts = strmap_remove(a->tags, key);
	if (ts) {
		tagset_clear(ts);
		free(ts);
	}
	_cleanup_free_ char *jkey = xasprintf(API_TAGS_KEY_PREFIX "%s", key);
	if (a->journal && journal_get(a->journal, jkey))
		journal_put_or_exit(a->journal, jkey, NULL);
}

/* Free a changed tag set. */
static void api_free_tagset(const char *key, void *value, void *userdata)
{
	tagset_clear(value);
	free(value);
}

/* Free the store of tags set on models and endpoint configs. */
void api_tags_free(struct api *a)
{
	strmap_foreach(a->tags, api_free_tagset, NULL);
	a->tags = strmap_free(a->tags);
}
