/*
 * What the files of the HTTP API share: struct api, the type of an
 * operation and the helpers operations use.  api.c routes requests, reads
 * the envelope and answers; each api_<resource>.c holds the operations on
 * one resource; api_list.c the listing every List* operation shares.
 */
#ifndef ENDPOINTD_API_PRIVATE_H
#define ENDPOINTD_API_PRIVATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

#include "api.h"
#include "awsproto.h"

struct endpoint_tag;
struct api_pending;

/* The API, owned by the daemon (api_new(), api_free()). */
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
	/* Models and endpoint configs created through the API (borrowed;
	 * NULL: their Create and Delete operations are refused). */
	struct catalog *catalog;
};

/* One control-plane operation: reads the request through r, fills out and
 * returns 0, or sets err and returns -errno. */
typedef int (*api_op_fn)(struct api *a, struct aws_reader *r, json_t *out, struct aws_error *err);

/* api.c */
struct config *api_config(struct api *a);
char *api_arn(struct api *a, const char *kind, const char *name);
/* The catalog changed: new calls and new endpoints see its config. */
void api_catalog_changed(struct api *a);
/* Answers that the daemon takes no API-created resources (no catalog). */
int api_no_catalog(struct aws_error *err);
/* Refuses a member endpointd does not support, naming it. */
void api_unsupported(struct aws_reader *r, const char *field, const char *why);

/* api_list.c: one row of a listing. */
struct api_item {
	const char *name;
	char *name_lc;
	double creation_time;
	double last_modified_time; /* NAN when the resource has none */
	const char *status;        /* NULL when the resource has none */
	json_t *summary;           /* owned */
};

/* What one List* operation accepts and answers with. */
struct api_list_spec {
	const char *result_key;    /* "Endpoints" */
	bool has_status;           /* StatusEquals, SortBy Status */
	bool has_last_modified;    /* LastModifiedTime{Before,After} */
	const char *status_values; /* for the enum message */
};

int api_list(struct aws_reader *r, const struct api_list_spec *spec, struct api_item *items,
	     size_t n, json_t *out, struct aws_error *err);
struct api_item api_named_item(struct api *a, const char *arn_kind, const char *kind,
			       const char *name, double creation_time);

/* api_endpoints.c */
int api_no_endpoint(struct api *a, const char *name, struct aws_error *err);
/* The refusal of an endpoint config endpoint_create() or endpoint_update()
 * answered with res (-ENOENT, -EDQUOT, -ENXIO, -ENETUNREACH, -ENODEV), in
 * err; false, err untouched, for any other res. */
bool api_endpoint_config_refusal(struct api *a, int res, const char *config_name,
				 struct aws_error *err);
int api_op_create_endpoint(struct api *a, struct aws_reader *r, json_t *out, struct aws_error *err);
int api_op_describe_endpoint(struct api *a, struct aws_reader *r, json_t *out,
			     struct aws_error *err);
int api_op_list_endpoints(struct api *a, struct aws_reader *r, json_t *out, struct aws_error *err);
int api_op_delete_endpoint(struct api *a, struct aws_reader *r, json_t *out, struct aws_error *err);

/* api_endpoint_configs.c */
int api_op_create_endpoint_config(struct api *a, struct aws_reader *r, json_t *out,
				  struct aws_error *err);
int api_op_delete_endpoint_config(struct api *a, struct aws_reader *r, json_t *out,
				  struct aws_error *err);
int api_op_describe_endpoint_config(struct api *a, struct aws_reader *r, json_t *out,
				    struct aws_error *err);
int api_op_list_endpoint_configs(struct api *a, struct aws_reader *r, json_t *out,
				 struct aws_error *err);

/* api_models.c */
int api_op_create_model(struct api *a, struct aws_reader *r, json_t *out, struct aws_error *err);
int api_op_delete_model(struct api *a, struct aws_reader *r, json_t *out, struct aws_error *err);
int api_op_describe_model(struct api *a, struct aws_reader *r, json_t *out, struct aws_error *err);
int api_op_list_models(struct api *a, struct aws_reader *r, json_t *out, struct aws_error *err);

/* api_update.c */
int api_op_update_endpoint(struct api *a, struct aws_reader *r, json_t *out, struct aws_error *err);
int api_op_update_endpoint_weights_and_capacities(struct api *a, struct aws_reader *r, json_t *out,
						  struct aws_error *err);

/* api_tags.c */
size_t api_read_tags(struct aws_reader *r, const char *field, struct endpoint_tag **ret);
/* A Tags list ([{Key, Value}]) of n tags, for an answer or a document. */
json_t *api_tags_list(const struct endpoint_tag *tags, size_t n);
int api_op_add_tags(struct api *a, struct aws_reader *r, json_t *out, struct aws_error *err);
int api_op_list_tags(struct api *a, struct aws_reader *r, json_t *out, struct aws_error *err);
int api_op_delete_tags(struct api *a, struct aws_reader *r, json_t *out, struct aws_error *err);
void api_tags_free(struct api *a);
/* A model or endpoint config was deleted: so are the tags set on it. */
void api_forget_tags(struct api *a, const char *arn);

#endif
