/*
 * What lib/config.c (daemon keys, files, the public API),
 * lib/config_resources.c (Models, EndpointConfigs and Alarms) and
 * lib/config_auth.c (auth:, the credentials file) share: the state of one
 * load and the helpers they use.  Private to those files.
 */
#ifndef ENDPOINTD_CONFIG_PRIVATE_H
#define ENDPOINTD_CONFIG_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "config_yaml.h"

#define CONFIG_MAX_FILE_SIZE (4u << 20)
/* The API's document holds every model and endpoint config it created. */
#define CONFIG_MAX_API_DOC_SIZE (64u << 20)
#define CONFIG_MAX_VARIANTS 10
#define CONFIG_MAX_INSTANCE_COUNT 100
#define CONFIG_MAX_ENV 100
#define CONFIG_MAX_ENV_LEN 1024
#define CONFIG_MAX_URL_LEN 1024
#define CONFIG_MAX_IMAGE_LEN 255
#define CONFIG_DEFAULT_DOWNLOAD_TIMEOUT_S 1200

/* A variant's ModelName and InstanceType, resolved once every file is read. */
struct config_pending_ref {
	size_t config_index;
	size_t variant_index;
	struct config_origin model_at;
	struct config_origin type_at;
};

/* State of one load; owns c until it is handed to the caller. */
struct config_loader {
	struct config *c;
	struct cy_ctx ctx; /* the file being read (an entry of c->files) and the error */
	double mtime;      /* of that file */
	size_t files_cap, sources_cap, models_cap, configs_cap, types_cap, listen_cap, alarms_cap;
	struct strmap *model_index;  /* lower-case name -> struct config_origin of its definition */
	struct strmap *config_index; /* the same for endpoint configs */
	struct strmap *alarm_index;  /* AlarmName as written -> its index in c->alarms + 1 */
	struct strmap *read_paths;   /* realpath of every file read, so none is read twice */
	struct config_pending_ref *refs;
	size_t n_refs, refs_cap;
	bool listen_set;
	bool check_model_data; /* ModelDataUrls against model_data_roots/urls */
	bool api;              /* reading the API's document (config_with_api()) */
	bool replay;           /* config_with_api(): files come from memory, not disk */
	/* auth: credentials, made absolute against the main file's directory
	 * (as include: patterns are), and where it was written; read once
	 * every file is. */
	char *credentials_path;
	struct config_origin credentials_at;
};

/* Makes room for element n of a growable array, zeroing the new slots. */
void *config_grow(void *p, size_t *cap, size_t n, size_t size);
/* Sets the loader's error to "file:line:column: message" at o; returns -EINVAL. */
int config_fail_at(struct config_loader *ld, const struct config_origin *o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Where node n of the file being read was written. */
struct config_origin config_origin_of(const struct config_loader *ld, const struct cy_node *n);

static inline bool config_is_abs_path(const char *s)
{
	return s[0] == '/';
}

/* A ModelDataUrl (node n) must be allowed by the main file's model data keys. */
int config_check_model_data_at(struct config_loader *ld, const struct cy_node *n, const char *url);

/* config_resources.c: the Models and EndpointConfigs lists of one file. */
int config_parse_models(struct config_loader *ld, const struct cy_node *n);
int config_parse_endpoint_configs(struct config_loader *ld, const struct cy_node *n);
/* The Alarms list of one YAML file. */
int config_parse_alarms(struct config_loader *ld, const struct cy_node *n);
/* Points every variant at its model and instance type; the arrays are final now. */
int config_resolve(struct config_loader *ld);
/* Frees c's models, endpoint configs and alarms. */
void config_resources_free(struct config *c);

/* config_auth.c: the main file's auth: and allow_remote_without_auth; dir
 * is the main file's directory (NULL: the working directory). */
int config_parse_auth(struct config_loader *ld, const struct cy_node *root, const char *dir);
/* Every listen address (node listen, as parsed into c->listen) is loopback
 * or a Unix socket, unless credentials are named or remote is allowed. */
int config_check_listen_auth(struct config_loader *ld, const struct cy_node *listen);
/*
 * Reads the credentials file: checks that it is a regular file (symlinks
 * followed) that only its owner may read, owned by root or by this user,
 * and parses its keys.  Returns 0 with *ret_keys (one reference) and the
 * file's mtime, or -EINVAL / -errno with ld->ctx.error set.
 */
int config_read_credentials(struct config_loader *ld, struct auth_keys **ret_keys,
                            double *ret_mtime);

#endif
