/*
 * Request signing: AWS Signature Version 4 as every AWS client signs, checked
 * against the keys of the credentials file, and each key's policy (IAM's
 * spelling of actions and resources); and the signer that endpointctl signs
 * its own requests with, on the same canonical request.
 *
 * The checks are pure: a request is described by struct auth_request (what
 * httpd read, with the body's SHA-256 computed by the caller over its
 * chunks), the keys by struct auth_keys, the time by a number; the verdict
 * says which key signed it or why it is refused, in AWS's words.
 */
#ifndef ENDPOINTD_AUTH_H
#define ENDPOINTD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct evbuffer;

/* One allow rule of a key: any action of actions on any resource of
 * resources (IAM wildcards: * any run, ? one character; "*" alone, all). */
struct auth_rule {
	char **actions;   /* "sagemaker:InvokeEndpoint", "sagemaker:Describe*", "sagemaker:*" */
	size_t n_actions;
	char **resources; /* ARNs ("arn:aws:sagemaker:*:*:endpoint/team-a-*") or "*" */
	size_t n_resources;
};

/* One access key of the credentials file. */
struct auth_key {
	char *name;              /* for logs and AccessDenied messages */
	char *access_key_id;
	char *secret_access_key;
	struct auth_rule *rules;
	size_t n_rules;
};

/* The credentials file, loaded (config.c reads it; auth_keys_free frees). */
struct auth_keys {
	unsigned refs;
	struct auth_key *keys;
	size_t n_keys;
};

struct auth_keys *auth_keys_ref(struct auth_keys *k);
struct auth_keys *auth_keys_unref(struct auth_keys *k);
/* The key of an access key id, or NULL. */
const struct auth_key *auth_keys_find(const struct auth_keys *k, const char *access_key_id);

/* A request as it came, for the signature. */
struct auth_request {
	const char *method;
	const char *raw_path;  /* the request target's path, as sent (percent-encoded) */
	const char *raw_query; /* after '?', as sent; NULL or "" when none */
	/* Every header line as sent, in order (names as sent; values untrimmed). */
	const char *const *header_names;
	const char *const *header_values;
	size_t n_headers;
	const char *body_sha256_hex; /* lower-case hex SHA-256 of the body */
};

/* Why a request is refused (AWS's error codes). */
enum auth_error {
	AUTH_OK,
	AUTH_MISSING,      /* MissingAuthenticationTokenException (403) */
	AUTH_INCOMPLETE,   /* IncompleteSignatureException (400) */
	AUTH_UNKNOWN_KEY,  /* UnrecognizedClientException (403) */
	AUTH_BAD_SIGNATURE, /* InvalidSignatureException (403) */
	AUTH_EXPIRED,      /* InvalidSignatureException, "Signature expired: …" (403) */
};

/* The verdict on a request. */
struct auth_verdict {
	enum auth_error error;
	const struct auth_key *key; /* AUTH_OK: who signed it (borrowed from the keys) */
	char *message;              /* otherwise: AWS's words (owned) */
};

/*
 * Checks req's signature (Authorization header, or the presigned query
 * form) for region and service at now (seconds since the epoch, UTC).
 * Always fills *ret; 0 when signed by a known key, -EACCES otherwise.
 */
int auth_verify(const struct auth_keys *keys, const struct auth_request *req, const char *region,
		const char *service, double now, struct auth_verdict *ret);
void auth_verdict_clear(struct auth_verdict *v);
/* The error's code for x-amzn-ErrorType / __type, and its HTTP status. */
const char *auth_error_code(enum auth_error e);
int auth_error_status(enum auth_error e);

/* Whether key may do action ("sagemaker:DescribeEndpoint") on resource (an ARN, or "*"). */
bool auth_allowed(const struct auth_key *key, const char *action, const char *resource);

/* Who signs a request: an access key, its secret, and the session token
 * of temporary credentials (NULL: none). */
struct auth_credentials {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token;
};

/*
 * Signs req as botocore's SigV4Auth does at now (seconds since the epoch,
 * UTC) for region and service: the headers req carries are the ones signed
 * (host among them; each name once or joined as botocore joins repeats),
 * with X-Amz-Date and, for a session token, X-Amz-Security-Token added to
 * them.  The caller sends every header of req, then X-Amz-Date:
 * ret_amz_date, X-Amz-Security-Token when creds has a token, and
 * Authorization: *ret_authorization (owned by the caller).  req's
 * body_sha256_hex is the body's hash.  -EINVAL when something could not be
 * sent as it would be signed (no host, a header already the signer's, a
 * control character in a value, an access key id, region or service that
 * would break the credential scope, a presigned query's parameters, an
 * x-amz-content-sha256 that is not the body's); -E2BIG past the verifier's
 * bounds, so that what is signed always verifies.  Nothing is written on failure.
 */
int auth_sign(const struct auth_request *req, const struct auth_credentials *creds,
              const char *region, const char *service, time_t now, char ret_amz_date[17],
              char **ret_authorization);

/* The SHA-256 of n bytes, in lower-case hex. */
void auth_sha256_hex(const void *p, size_t n, char out[65]);

/* The SHA-256 of a body held in an evbuffer, in lower-case hex, read chunk
 * by chunk (no copy). */
void auth_sha256_evbuffer(struct evbuffer *body, char out[65]);

#endif
