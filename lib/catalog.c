/*
 * Models and endpoint configs created through the API (see catalog.h).
 *
 * The documents live in two JSON objects keyed by lower-cased name.  Every
 * change builds the would-be config first (the YAML config plus all the
 * documents, the new one included, in CreationTime order so that messages
 * are stable); only when that config loads is anything changed: the
 * document kept, the record staged in the journal, the config swapped.  So
 * a refused call leaves the catalog, the config and the journal as they
 * were.  A journal put that fails is fatal, as everywhere: the daemon exits
 * and the restart replays what is on disk.
 */
#define _GNU_SOURCE
#include "catalog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "journal.h"
#include "log.h"
#include "util.h"

struct catalog {
	struct config *yaml;      /* the operator's files (a reference) */
	struct config *config;    /* yaml + the documents (a reference) */
	json_t *models;           /* lower-cased name -> CreateModel document */
	json_t *endpoint_configs; /* lower-cased name -> CreateEndpointConfig document */
	struct journal *journal;  /* may be NULL */
};

struct catalog *catalog_new(struct config *yaml, struct journal *journal)
{
	struct catalog *cat = xcalloc(1, sizeof(*cat));
	cat->yaml = config_ref(yaml);
	cat->config = config_ref(yaml);
	cat->models = json_object();
	cat->endpoint_configs = json_object();
	cat->journal = journal;
	return cat;
}

struct catalog *catalog_free(struct catalog *cat)
{
	if (!cat)
		return NULL;
	config_unref(cat->yaml);
	config_unref(cat->config);
	json_decref(cat->models);
	json_decref(cat->endpoint_configs);
	free(cat);
	return NULL;
}

struct config *catalog_config(const struct catalog *cat)
{
	return cat->config;
}

struct config *catalog_yaml(const struct catalog *cat)
{
	return cat->yaml;
}

size_t catalog_models(const struct catalog *cat)
{
	return json_object_size(cat->models);
}

size_t catalog_endpoint_configs(const struct catalog *cat)
{
	return json_object_size(cat->endpoint_configs);
}

bool catalog_owns_key(const char *key)
{
	return str_has_prefix(key, CATALOG_MODEL_KEY_PREFIX) ||
	       str_has_prefix(key, CATALOG_ENDPOINT_CONFIG_KEY_PREFIX);
}

/* For qsort: documents by CreationTime, then by name. */
static int catalog_doc_cmp(const void *p, const void *q)
{
	json_t *a = *(json_t *const *)p, *b = *(json_t *const *)q;
	double ta = json_number_value(json_object_get(a, "CreationTime"));
	double tb = json_number_value(json_object_get(b, "CreationTime"));
	if (ta != tb)
		return ta < tb ? -1 : 1;
	const char *na = json_string_value(json_object_get(a, "ModelName"));
	const char *nb = json_string_value(json_object_get(b, "ModelName"));
	if (!na) {
		na = json_string_value(json_object_get(a, "EndpointConfigName"));
		nb = json_string_value(json_object_get(b, "EndpointConfigName"));
	}
	return strcmp(na ? na : "", nb ? nb : "");
}

/* The documents of one object as an array, oldest first. */
static json_t *catalog_sorted(json_t *docs)
{
	size_t n = json_object_size(docs), i = 0;
	_cleanup_free_ json_t **v = xcalloc(n ? n : 1, sizeof(*v));
	const char *key;
	json_t *doc;
	json_object_foreach(docs, key, doc)
		v[i++] = doc;
	qsort(v, n, sizeof(*v), catalog_doc_cmp);
	json_t *a = json_array();
	for (i = 0; i < n; i++)
		json_array_append(a, v[i]);
	return a;
}

/* The config of yaml with models and endpoint_configs; -EINVAL + message. */
static int catalog_build(struct config *yaml, json_t *models, json_t *endpoint_configs,
			 struct config **ret, char **ret_error)
{
	if (json_object_size(models) == 0 && json_object_size(endpoint_configs) == 0) {
		*ret = config_ref(yaml);
		return 0;
	}
	json_t *doc = json_pack("{s:o, s:o}", "Models", catalog_sorted(models), "EndpointConfigs",
				catalog_sorted(endpoint_configs));
	_cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17));
	json_decref(doc);
	if (!text)
		abort();
	return config_with_api(yaml, text, ret, ret_error);
}

int catalog_rebuild(struct catalog *cat, struct config *yaml, char **ret_error)
{
	struct config *c = NULL;
	int r = catalog_build(yaml ? yaml : cat->yaml, cat->models, cat->endpoint_configs, &c,
			      ret_error);
	if (r < 0)
		return r;
	if (yaml) {
		config_unref(cat->yaml);
		cat->yaml = config_ref(yaml);
	}
	config_unref(cat->config);
	cat->config = c;
	return 0;
}

/* What one kind of document is called and where it goes. */
struct catalog_kind {
	const char *name_member; /* "ModelName" */
	const char *key_prefix;  /* "model/" */
};

static const struct catalog_kind catalog_model_kind = {"ModelName", CATALOG_MODEL_KEY_PREFIX};
static const struct catalog_kind catalog_config_kind = {"EndpointConfigName",
							CATALOG_ENDPOINT_CONFIG_KEY_PREFIX};

int catalog_restore(struct catalog *cat, const char *key, json_t *value, char **ret_error)
{
	bool model = str_has_prefix(key, CATALOG_MODEL_KEY_PREFIX);
	const struct catalog_kind *k = model ? &catalog_model_kind : &catalog_config_kind;
	const char *name = json_string_value(json_object_get(value, k->name_member));
	_cleanup_free_ char *lc = name ? str_tolower(name) : NULL;
	if (!json_is_object(value) || !name ||
	    !json_is_number(json_object_get(value, "CreationTime")) ||
	    strcmp(key + strlen(k->key_prefix), lc) != 0) {
		*ret_error = xasprintf("journal record %s: not a %s document of that name", key,
				       model ? "CreateModel" : "CreateEndpointConfig");
		return -EINVAL;
	}
	json_object_set(model ? cat->models : cat->endpoint_configs, lc, value);
	return 0;
}

/* Add doc of kind k to docs (one of the catalog's objects). */
static int catalog_add(struct catalog *cat, const struct catalog_kind *k, json_t *docs,
		       bool taken, unsigned limit, json_t *doc, char **ret_error)
{
	const char *name = json_string_value(json_object_get(doc, k->name_member));
	if (!name)
		return -EINVAL;
	_cleanup_free_ char *lc = str_tolower(name);
	if (taken || json_object_get(docs, lc))
		return -EEXIST;
	if (json_object_size(docs) >= limit)
		return -ENOSPC;
	json_t *kept = json_deep_copy(doc);
	if (!json_object_get(kept, "CreationTime"))
		json_object_set_new(kept, "CreationTime", json_real(now_realtime()));
	json_t *tried = json_deep_copy(docs);
	json_object_set(tried, lc, kept);
	struct config *c = NULL;
	bool model = docs == cat->models;
	int r = catalog_build(cat->yaml, model ? tried : cat->models,
			      model ? cat->endpoint_configs : tried, &c, ret_error);
	json_decref(tried);
	if (r < 0) {
		json_decref(kept);
		return r;
	}
	json_object_set(docs, lc, kept);
	_cleanup_free_ char *key = xasprintf("%s%s", k->key_prefix, lc);
	journal_put_or_exit(cat->journal, key, kept);
	json_decref(kept);
	config_unref(cat->config);
	cat->config = c;
	return 0;
}

int catalog_add_model(struct catalog *cat, json_t *doc, char **ret_error)
{
	const char *name = json_string_value(json_object_get(doc, "ModelName"));
	bool taken = name && config_find_model(cat->config, name);
	return catalog_add(cat, &catalog_model_kind, cat->models, taken, cat->yaml->max_models,
			   doc, ret_error);
}

int catalog_add_endpoint_config(struct catalog *cat, json_t *doc, char **ret_error)
{
	const char *name = json_string_value(json_object_get(doc, "EndpointConfigName"));
	bool taken = name && config_find_endpoint_config(cat->config, name);
	return catalog_add(cat, &catalog_config_kind, cat->endpoint_configs, taken,
			   cat->yaml->max_endpoint_configs, doc, ret_error);
}

/* Delete name of kind k from docs, or say why not. */
static int catalog_delete(struct catalog *cat, const struct catalog_kind *k, json_t *docs,
			  bool in_yaml, const char *name)
{
	_cleanup_free_ char *lc = str_tolower(name);
	if (!json_object_get(docs, lc))
		return in_yaml ? -EPERM : -ENOENT;
	json_t *tried = json_deep_copy(docs);
	json_object_del(tried, lc);
	struct config *c = NULL;
	_cleanup_free_ char *error = NULL;
	bool model = docs == cat->models;
	int r = catalog_build(cat->yaml, model ? tried : cat->models,
			      model ? cat->endpoint_configs : tried, &c, &error);
	json_decref(tried);
	if (r < 0) {
		/* The documents loaded with it; they load without it. */
		log_error("catalog: deleting %s %s: %s", k->name_member, name, error);
		return -EIO;
	}
	json_object_del(docs, lc);
	_cleanup_free_ char *key = xasprintf("%s%s", k->key_prefix, lc);
	journal_put_or_exit(cat->journal, key, NULL);
	config_unref(cat->config);
	cat->config = c;
	return 0;
}

int catalog_delete_model(struct catalog *cat, const char *name)
{
	return catalog_delete(cat, &catalog_model_kind, cat->models,
			      config_find_model(cat->yaml, name) != NULL, name);
}

int catalog_delete_endpoint_config(struct catalog *cat, const char *name)
{
	return catalog_delete(cat, &catalog_config_kind, cat->endpoint_configs,
			      config_find_endpoint_config(cat->yaml, name) != NULL, name);
}
