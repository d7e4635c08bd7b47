/*
 * The daemon configuration: the daemon's own YAML (snake_case keys) and the
 * model and endpoint-config documents it includes (the API's PascalCase field
 * names).  Loading parses every file, validates the whole set and yields an
 * immutable, reference-counted struct config; a reload parses a new one and
 * swaps it in only when it is valid.  Errors read "file:line:column: what is
 * wrong" so that an operator can jump to the spot.
 */
#ifndef ENDPOINTD_CONFIG_H
#define ENDPOINTD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "modeldata.h"

struct auth_keys;

#define CONFIG_DEFAULT_STARTUP_TIMEOUT_S 240
#define CONFIG_MIN_STARTUP_TIMEOUT_S 60
#define CONFIG_MAX_STARTUP_TIMEOUT_S 3600
#define CONFIG_MIN_VOLUME_SIZE_GB 1
#define CONFIG_MAX_VOLUME_SIZE_GB 512
#define CONFIG_MIN_PROVISION_TIMEOUT_S 300
#define CONFIG_MAX_PROVISION_TIMEOUT_S 3600
#define CONFIG_DEFAULT_MAX_ENDPOINTS 100
#define CONFIG_DEFAULT_ORPHAN_GRACE_S 30
#define CONFIG_DEFAULT_INVOCATION_TIMEOUT_S 60
#define CONFIG_DEFAULT_STREAM_IDLE_TIMEOUT_S 60
#define CONFIG_DEFAULT_STREAM_TIMEOUT_S 600
/* What a client can make the daemon hold (limits:), all in one place. */
#define CONFIG_DEFAULT_MAX_CONNECTIONS 4096
#define CONFIG_DEFAULT_MAX_BUFFERED_BYTES (UINT64_C(512) * 1024 * 1024)
#define CONFIG_MIN_BUFFERED_BYTES (UINT64_C(64) * 1024)
#define CONFIG_DEFAULT_MAX_INFLIGHT_INVOCATIONS 1024
#define CONFIG_DEFAULT_MAX_INFLIGHT_PER_ENDPOINT 256
#define CONFIG_DEFAULT_REQUEST_TIMEOUT_S 10 /* a request head, from its first byte */
#define CONFIG_DEFAULT_BODY_TIMEOUT_S 10    /* a request body must progress this often */
#define CONFIG_BODY_TOTAL_S 120             /* and be read within this */
#define CONFIG_DEFAULT_IDLE_TIMEOUT_S 60    /* a kept-alive connection between requests */
#define CONFIG_DEFAULT_WRITE_TIMEOUT_S 30   /* an answer must progress this often */
#define CONFIG_DEFAULT_DRAIN_TIMEOUT_S 20   /* calls in flight at SIGTERM (< TimeoutStopSec=) */
#define CONFIG_MAX_TIMEOUT_S 3600
/* How many models and endpoint configs may be created through the API. */
#define CONFIG_DEFAULT_MAX_MODELS 1000
#define CONFIG_DEFAULT_MAX_ENDPOINT_CONFIGS 1000
/* The file name in messages about the API's document (config_with_api()). */
#define CONFIG_API_FILE "(API)"

/* Where a value was written, for messages about it. */
struct config_origin {
	const char *file; /* owned by struct config (its files array), or CONFIG_API_FILE */
	unsigned line;    /* 1-based */
	unsigned column;  /* 1-based */
};

/* TLS on a listener: the files are named here and read by tls.c when the
 * listener starts and at each reload, never by the loader. */
struct config_tls {
	char *certificate; /* absolute path: PEM, the server's certificate then its chain */
	char *key;         /* absolute path: PEM, the private key */
	struct config_origin origin; /* where the tls: mapping was written */
};

struct config_listen {
	char *host;      /* NULL for a Unix socket */
	uint16_t port;
	char *unix_path; /* NULL for TCP */
	char *address;   /* as written ("0.0.0.0:8443", "unix:/run/x.sock"), for messages */
	struct config_tls *tls; /* NULL: plain HTTP */
};

/* docker.mode: one Engine's containers, or a Swarm's services. */
enum config_docker_mode {
	CONFIG_DOCKER_ENGINE,
	CONFIG_DOCKER_SWARM,
};

struct config_instance_type {
	char *name;          /* ml.m5.large */
	double cpus;         /* 0 = no CPU limit */
	uint64_t memory;     /* bytes; 0 = no memory limit */
	unsigned gpus;
	/* Swarm placement constraints ("node.labels.gpu==h100"), checked;
	 * swarm mode only. */
	char **constraints;
	size_t n_constraints;
	struct config_origin origin;
};

struct config_tag {
	char *key;
	char *value;
};

struct config_env {
	char *name;
	char *value;
};

struct config_container {
	char *image;
	char *model_data_url; /* NULL, file:///dir, file:///x.tar.gz, /abs/path, http(s)://… */
	struct config_env *env;
	size_t n_env;
	char *container_hostname; /* may be NULL */
	char *mode;               /* "SingleModel" when the document said so, else NULL */
};

struct config_model {
	char *name;
	struct config_container primary;
	/* Written as a Containers list of one rather than as PrimaryContainer
	 * (so that DescribeModel answers in the shape it was given). */
	bool from_containers;
	bool enable_network_isolation; /* EnableNetworkIsolation, default false */
	char *execution_role_arn;      /* may be NULL */
	struct config_tag *tags;
	size_t n_tags;
	/* YAML: mtime of the file that defines it; API: its CreationTime.
	 * Epoch seconds. */
	double creation_time;
	bool from_api; /* created through the API, not written in YAML */
	struct config_origin origin;
};

struct config_variant {
	char *variant_name;
	char *model_name;
	/* Resolved after load; NULL only in a config created through the API
	 * whose model was deleted since (or instance type reloaded away). */
	const struct config_model *model;
	unsigned initial_instance_count;  /* >= 1 */
	char *instance_type;
	const struct config_instance_type *type; /* the same */
	double initial_weight;                   /* >= 0, default 1.0 */
	unsigned startup_timeout_s;              /* 60-3600, default 240 */
	unsigned model_data_download_timeout_s;  /* 60-3600, default 1200 */
	/* Taken and shown back (DescribeEndpointConfig), not acted on: the
	 * host's disk is not sized per variant.  0 = not given. */
	unsigned volume_size_gb;               /* 1-512 */
	unsigned instance_provision_timeout_s; /* 300-3600 */
	bool enable_ssm_access_given;          /* EnableSSMAccess: false was written */
	struct config_origin origin;
};

struct config_endpoint_config {
	char *name;
	struct config_variant *variants;
	size_t n_variants;
	struct config_tag *tags;
	size_t n_tags;
	double creation_time;
	bool from_api; /* created through the API, not written in YAML */
	struct config_origin origin;
};

/* Bounds of an alarm (PutMetricAlarm's), and of what endpointd keeps. */
#define CONFIG_MAX_ALARM_NAME 255
#define CONFIG_MAX_ALARM_DESCRIPTION 1024
#define CONFIG_MAX_ALARM_WINDOW_S 3600 /* Period x EvaluationPeriods */

enum config_alarm_comparison {
	CONFIG_ALARM_GREATER_OR_EQUAL, /* GreaterThanOrEqualToThreshold */
	CONFIG_ALARM_GREATER,          /* GreaterThanThreshold */
	CONFIG_ALARM_LESS,             /* LessThanThreshold */
	CONFIG_ALARM_LESS_OR_EQUAL,    /* LessThanOrEqualToThreshold */
};

enum config_alarm_missing {
	CONFIG_ALARM_MISSING,       /* missing (the default) */
	CONFIG_ALARM_NOT_BREACHING, /* notBreaching */
	CONFIG_ALARM_BREACHING,     /* breaching */
	CONFIG_ALARM_IGNORE,        /* ignore */
};

/* One of the resource YAML's Alarms, in PutMetricAlarm's terms; YAML only
 * (no API creates one), evaluated by alarm.c. */
struct config_alarm {
	char *name;        /* AlarmName: 1-255 characters, unique (case-sensitive) */
	char *description; /* AlarmDescription; may be NULL */
	enum metrics_metric metric;
	enum metrics_statistic statistic; /* METRICS_STAT_PERCENTILE for an ExtendedStatistic */
	double percentile;                /* 0-100, for an ExtendedStatistic */
	char *extended_statistic;         /* "p99.9" as written; NULL for a Statistic */
	char *endpoint_name; /* the EndpointName dimension; NULL = the endpoint asked about */
	char *variant_name;  /* the VariantName dimension; NULL = all variants */
	unsigned period;     /* seconds: 10, 20, 30 or a multiple of 60 */
	unsigned evaluation_periods;  /* >= 1 */
	unsigned datapoints_to_alarm; /* 1..evaluation_periods, default evaluation_periods */
	double threshold;
	enum config_alarm_comparison comparison;
	enum config_alarm_missing treat_missing_data;
	char *unit; /* Unit, taken and not acted on; may be NULL */
	struct config_origin origin;
};

/* One file as it was read, kept so that config_with_api() can replay the
 * load from memory. */
struct config_source {
	char *text; /* NUL-terminated */
	size_t len;
	double mtime;   /* epoch seconds, at the time it was read */
	unsigned depth; /* 0 for the main file, 1 for a file it includes, … */
	/* The credentials file (auth: credentials): its text is not kept, so
	 * that the secrets are in memory once (in auth_keys), and a replay
	 * shares the keys rather than reading it again. */
	bool credentials;
};

struct config {
	unsigned refs;
	char **files; /* every file read, main file first */
	size_t n_files;
	struct config_source *sources; /* files[i] as it was read is sources[i] */
	/* Whether the YAML's ModelDataUrls were checked against the model data
	 * keys (config_load) or not (config_load_string). */
	bool model_data_checked;

	struct config_listen *listen;
	size_t n_listen;
	char *state_dir;
	char *region;
	char *account_id;
	char *docker_socket; /* path; DOCKER_HOST=unix://… overrides at load */
	enum config_docker_mode docker_mode; /* docker.mode; default engine */
	struct config_instance_type *instance_types;
	size_t n_instance_types;
	unsigned max_endpoints;
	unsigned max_instances; /* all endpoints together; default 256 */
	/* How many models and endpoint configs the API may create (those in
	 * YAML do not count); default 1000 each. */
	unsigned max_models;
	unsigned max_endpoint_configs;
	/* fnmatch(3) patterns one of which an API-created model's Image must
	 * match; none by default, so the API can create no model. */
	char **allowed_images;
	size_t n_allowed_images;
	/* HTTP clients: connections open at once, request body bytes buffered
	 * at once, InvokeEndpoint calls in flight (in all, per endpoint). */
	unsigned max_connections;
	uint64_t max_buffered_bytes;
	unsigned max_inflight_invocations;
	unsigned max_inflight_per_endpoint;
	/* Slow clients: a request head, body progress, an idle kept-alive
	 * connection, answer progress. */
	unsigned request_timeout_s;
	unsigned body_timeout_s;
	unsigned idle_timeout_s;
	unsigned write_timeout_s;
	/* At SIGTERM, how long the calls in flight may take to finish. */
	unsigned drain_timeout_s;
	/* A container of ours that belongs to nothing is removed once this old:
	 * long enough for a create in flight to be recorded. */
	unsigned orphan_grace_s;
	/* How long InvokeEndpoint waits for a container's answer. */
	unsigned invocation_timeout_s;
	/* How long InvokeEndpointWithResponseStream waits for a container's
	 * next piece (its first included), and for the whole stream. */
	unsigned stream_idle_timeout_s;
	unsigned stream_timeout_s;
	/* endpointd-dialer, run in each container so that invocations reach the
	 * model server over the container's loopback; NULL = go through the
	 * published port. */
	char *container_dialer;
	/* NVML, which tells the host's GPUs; NULL = libnvidia-ml.so.1. */
	char *nvml_library;
	/* Where model data may come from (model_data_roots, model_data_urls;
	 * nothing by default) and the model cache's bound
	 * (model_cache_max_bytes); the config owns the strings. */
	struct modeldata_policy model_data;

	struct config_model *models;
	size_t n_models;
	struct config_endpoint_config *endpoint_configs;
	size_t n_endpoint_configs;
	/* The Alarms of every YAML file, in the order read. */
	struct config_alarm *alarms;
	size_t n_alarms;

	/* auth: the access keys of the credentials file, or NULL when none is
	 * named (then no signature is checked).  A reference of the config's
	 * own, dropped with it; a request in flight may take its own. */
	struct auth_keys *auth_keys;
	char *auth_credentials; /* that file's path as read (also in files); NULL */
	bool metrics_open;      /* /metrics answers unsigned requests; default true */
	/* A listener beyond loopback without credentials: refused at load
	 * unless this is set. */
	bool allow_remote_without_auth;
};

/*
 * Loads path and every file its include: patterns name (relative patterns are
 * taken from the including file's directory).  On failure returns -EINVAL (or
 * -errno for I/O) and sets *ret_error to "file:line:column: message" (or
 * "file: message" when there is no position); *ret_config is untouched.
 */
int config_load(const char *path, struct config **ret_config, char **ret_error);

/*
 * Same as config_load, with yaml as the text of the main file and name the
 * file name used in messages (includes are taken from the working directory).
 * It reads documents the daemon wrote itself (an endpoint's config in the
 * journal): their ModelDataUrls are not checked against model_data_roots and
 * model_data_urls here, as config_load() does, but when the model data is
 * prepared, against the daemon's config of that time.
 */
int config_load_string(const char *name, const char *yaml, struct config **ret_config,
		       char **ret_error);

/*
 * A new config: what base was loaded from (its files as they were read then,
 * replayed from memory in the same order, neither re-read nor globbed again)
 * plus the Models and EndpointConfigs of api_doc, a JSON (so YAML) text of
 * the shape {"Models": [...], "EndpointConfigs": [...]} in the API's own
 * member names.  Each of them may carry "CreationTime" (epoch seconds;
 * default: now), which YAML may not.  base may itself come from
 * config_with_api(): only its YAML is replayed, so its API resources are
 * dropped for api_doc's.  NULL or "" means no API resources.
 *
 * The API's models get from_api and the same checks as YAML ones, and
 * more: their ModelDataUrls are checked against model_data_roots and
 * model_data_urls (whether base was checked or not), and their Images
 * against allowed_images, so that a reload that narrows either is refused
 * while a model it would forbid exists.  Endpoint configs of either kind
 * may use models of either kind.  A name that both YAML and api_doc
 * define is an error at the YAML's file:line:column that says the other
 * was created through the API: the same message for a reload that would
 * shadow an API resource and for a creation that would shadow a YAML one.
 * Errors in api_doc read "(API):line:column: message".  Returns 0, or
 * -EINVAL with *ret_error set; *ret_config is untouched on failure.
 */
int config_with_api(const struct config *base, const char *api_doc, struct config **ret_config,
                    char **ret_error);

/* Whether image matches one of c's allowed_images patterns (fnmatch(3),
 * so "*" matches "/" too); false when there are none. */
bool config_image_allowed(const struct config *c, const char *image);
/* Whether the listening socket fd is bound to loopback or is a Unix socket. */
bool config_socket_is_local(int fd);

struct config *config_ref(struct config *c);
/* Drops a reference; frees on the last one; NULL-safe; returns NULL. */
struct config *config_unref(struct config *c);

const struct config_model *config_find_model(const struct config *c, const char *name);
const struct config_endpoint_config *config_find_endpoint_config(const struct config *c,
								  const char *name);
const struct config_instance_type *config_find_instance_type(const struct config *c,
							      const char *name);

/*
 * Whether url may be a ModelDataUrl under c's model_data_roots and
 * model_data_urls (for models created through the API): 0, or -EPERM (or
 * -EINVAL) and *ret_error = 'ModelDataUrl "…" is not under any of
 * model_data_roots (/srv/models)'.
 */
int config_check_model_data_url(const struct config *c, const char *url, char **ret_error);

/* Parses "8GiB", "512MiB", "1G", "1024" (bytes); -EINVAL on anything else. */
int config_parse_size(const char *s, uint64_t *ret);

/* An alarm of the resource YAML's Alarms by AlarmName (case-sensitive, as
 * CloudWatch's), or NULL. */
const struct config_alarm *config_find_alarm(const struct config *c, const char *name);

#endif
