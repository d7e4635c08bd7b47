/*
 * endpointctl's HTTP client: AWS JSON 1.1 calls to the control plane, the
 * runtime's InvokeEndpoint and plain GETs, over TCP (http://, https://) or a
 * Unix socket (unix:/path).  Blocking libcurl easy calls on one handle, so
 * that the polls of a wait reuse one connection.  Every request is signed
 * with AWS Signature Version 4 (service "sagemaker") when the client has
 * credentials; https:// verifies the server against a CA bundle or the
 * system's store.
 */
#ifndef ENDPOINTCTL_CLIENT_H
#define ENDPOINTCTL_CLIENT_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Set by a signal handler: the request in flight is abandoned. */
extern volatile sig_atomic_t client_interrupted;

enum client_error_kind {
	CLIENT_ERROR_NONE,
	CLIENT_ERROR_API,       /* the daemon answered with an error */
	CLIENT_ERROR_TRANSPORT, /* no answer: connection refused, timeout, … */
	CLIENT_ERROR_INTERRUPTED,
};

/* What went wrong; owned by the caller, emptied with client_error_clear(). */
struct client_error {
	enum client_error_kind kind;
	long http_status; /* API errors */
	char *code;       /* API errors: "ValidationException", "ModelError", … */
	char *message;
};

/* One InvokeEndpoint request; the answer's body goes to out as it arrives. */
struct client_invoke {
	const char *endpoint;
	const char *content_type;
	const char *accept; /* NULL: no Accept header */
	const char *target_variant;
	const char *custom_attributes;
	const char *body;
	size_t len;
	FILE *out;
};

/* What an invocation's answer said besides its body; owned by the caller. */
struct client_invoke_result {
	char *invoked_variant;
	char *content_type;
	char *custom_attributes;
};

struct client;

/* How a client signs and what it trusts (copied by client_new). */
struct client_options {
	const char *access_key_id; /* NULL: requests go unsigned */
	const char *secret_access_key;
	const char *session_token; /* NULL: none */
	const char *region;        /* the credential scope's; NULL: us-east-1 */
	const char *ca_bundle;     /* PEM file of CAs for https://; NULL: the system's */
};

/*
 * url is http://host:port, https://… or unix:/path; opts may be NULL
 * (unsigned, the system's CAs).  Returns 0, or -EINVAL with *ret_error
 * saying what is wrong with the URL.
 */
int client_new(const char *url, const struct client_options *opts, struct client **ret_client,
               char **ret_error);
struct client *client_free(struct client *c);

/* SageMaker.<op> with params (NULL: {}); 0 and *ret_body, or -1 and *err. */
int client_call(struct client *c, const char *op, json_t *params, json_t **ret_body,
                struct client_error *err);

/* POST /endpoints/<name>/invocations; 0, or -1 and *err. */
int client_invoke(struct client *c, const struct client_invoke *req,
                  struct client_invoke_result *ret, struct client_error *err);
void client_invoke_result_clear(struct client_invoke_result *r);

/* GET path, the body to out; 0, or -1 and *err. */
int client_get(struct client *c, const char *path, FILE *out, struct client_error *err);

void client_error_clear(struct client_error *err);
/* Prints "endpointctl: <Code>: <message>" (or why there was no answer). */
void client_error_print(const struct client_error *err);

#endif
