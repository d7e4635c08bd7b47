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

struct auth_key;
struct endpoint_tag;
struct api_pending;
struct httpd_request;

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

/* Which envelope an answer has: AWS JSON 1.1 (control plane, everything
 * but the runtime) or the runtime's REST-JSON. */
enum api_shape {
	API_SHAPE_JSON,
	API_SHAPE_REST,
};

/* Send body (JSON) with the AWS headers; error_code NULL on success. */
void api_send(struct httpd_request *req, int status, const char *content_type, const char *body,
	      const char *error_code, const char *request_id);

/* Send err in shape's envelope, and clear it. */
void api_send_error(struct httpd_request *req, enum api_shape shape, struct aws_error *err,
		    const char *request_id);

/* api_auth.c: signatures and key policies (auth.h) on the API's requests. */
/* Whether a request for path must be signed (credentials configured, and
 * not an open /metrics). */
bool api_auth_needed(struct api *a, const char *path);
/* A head that needs a signature and carries none is refused at once,
 * before its body is read: true when it was answered. */
bool api_auth_refuse_unsigned_head(struct api *a, struct httpd_request *req, enum api_shape shape);
/* Checks a complete request's signature.  true: go on, *ret_key the key
 * that signed it (NULL when no signature is needed); false: it was
 * answered with the refusal. */
bool api_auth_verify(struct api *a, struct httpd_request *req, enum api_shape shape,
		     const char *request_id, const struct auth_key **ret_key);
/* Whether key (NULL: anyone) may run operation on what input (the parsed
 * body, or NULL when it is not JSON) names; false with err set to
 * AccessDeniedException. */
bool api_auth_allow_operation(struct api *a, const struct auth_key *key, const char *operation,
			      json_t *input, const char *request_id, struct aws_error *err);
/* The same for the runtime's operations on endpoint, which SageMaker
 * authorizes as sagemaker:InvokeEndpoint (streaming included), and for
 * GET /metrics. */
bool api_auth_allow_invoke(struct api *a, const struct auth_key *key, const char *endpoint,
			   const char *request_id, struct aws_error *err);
bool api_auth_allow_metrics(struct api *a, const struct auth_key *key, const char *request_id,
			    struct aws_error *err);

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
