/*
 * The models and endpoint configs created through the API, beside the ones
 * the operator's YAML declares.
 *
 * Each is kept as the document the API accepted (SageMaker's own shape, with
 * its CreationTime), journaled under "model/<name>" or
 * "endpoint-config/<name>" (lower-cased) before the call that made it
 * answers.  The config the daemon works from is the operator's YAML config
 * with these documents added (config_with_api): a model or config is then
 * found, listed and used the same way wherever it came from, and a document
 * that would clash with the YAML is refused like a bad file.  Endpoints keep
 * the config they were created from, so deleting a model or a config takes
 * nothing from an endpoint that uses it.
 */
#ifndef ENDPOINTD_CATALOG_H
#define ENDPOINTD_CATALOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct config;
struct journal;
struct catalog;

#define CATALOG_MODEL_KEY_PREFIX "model/"
#define CATALOG_ENDPOINT_CONFIG_KEY_PREFIX "endpoint-config/"

/* A catalog over the operator's config yaml (a reference is taken); journal
 * may be NULL (nothing is journaled). */
struct catalog *catalog_new(struct config *yaml, struct journal *journal);
struct catalog *catalog_free(struct catalog *cat);

/* At start, before catalog_rebuild(): one journal record of ours.  -EINVAL
 * with *ret_error when it is not one a catalog wrote. */
int catalog_restore(struct catalog *cat, const char *key, json_t *value, char **ret_error);
/* Whether key names one of the catalog's records. */
bool catalog_owns_key(const char *key);
/* After the records are restored, or with a new YAML config (a reload; yaml
 * NULL keeps the current one): the config with every document.  On failure
 * (a document that the YAML now contradicts) -EINVAL with *ret_error, and
 * nothing changes. */
int catalog_rebuild(struct catalog *cat, struct config *yaml, char **ret_error);

/* The config with the API's documents (borrowed; the next change replaces
 * it: take a reference to keep it). */
struct config *catalog_config(const struct catalog *cat);
/* The operator's own (borrowed). */
struct config *catalog_yaml(const struct catalog *cat);

/*
 * Adds a model (doc: a CreateModel input the caller has validated, which
 * takes ownership of nothing) or an endpoint config.  -EEXIST when the name
 * is taken (by the YAML or the API), -ENOSPC past limits.max_models or
 * limits.max_endpoint_configs, -EINVAL with *ret_error when the config
 * refuses the document.  On success it is journaled and the config
 * replaced.
 */
int catalog_add_model(struct catalog *cat, json_t *doc, char **ret_error);
int catalog_add_endpoint_config(struct catalog *cat, json_t *doc, char **ret_error);
/* Deletes one created through the API: -ENOENT when there is none of that
 * name, -EPERM when the YAML declares it. */
int catalog_delete_model(struct catalog *cat, const char *name);
int catalog_delete_endpoint_config(struct catalog *cat, const char *name);

/* How many the API created. */
size_t catalog_models(const struct catalog *cat);
size_t catalog_endpoint_configs(const struct catalog *cat);

#endif
