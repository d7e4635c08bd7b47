/*
 * The AWS wire envelopes: AWS JSON 1.1 for the control plane (X-Amz-Target,
 * {"__type","message"} errors) and REST-JSON for the runtime
 * ({"ErrorCode","Message"}).  Reading a request body goes through a reader
 * that records the first type mismatch (a SerializationException, as AWS
 * answers it) and collects validation errors worded the way SageMaker words
 * them: "2 validation errors detected: Value 'x' at 'endpointName' failed to
 * satisfy constraint: …; Value …".  Nothing here touches the network.
 */
#ifndef ENDPOINTD_AWSPROTO_H
#define ENDPOINTD_AWSPROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define AWS_JSON_CONTENT_TYPE "application/x-amz-json-1.1"
#define AWS_TARGET_PREFIX "SageMaker."
#define AWS_REQUEST_ID_LEN 36
/* Bytes of a bad value a validation message echoes back. */
#define AWS_SHOWN_VALUE_MAX 256

/* A control-plane error about to be sent. */
struct aws_error {
	int status;       /* 400, 403, 404, 413, 500 … */
	const char *code; /* ValidationException, ResourceLimitExceeded … (static) */
	char *message;    /* owned */
};

void aws_error_set(struct aws_error *e, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void aws_error_clear(struct aws_error *e);

/*
 * Reads members of a request object, checking their JSON types.  A nested
 * reader (aws_read_object(), aws_read_list_object()) reads a structure
 * inside the request under its member path ("primaryContainer",
 * "productionVariants.1.member") and records its errors in the top
 * reader's, so that one message lists every error of the request.
 */
struct aws_reader {
	json_t *obj;       /* borrowed */
	char *type_error;  /* the first type mismatch, worded for SerializationException */
	struct buf verrs;  /* "Value … failed to satisfy constraint: …" joined with "; " */
	unsigned n_verrs;
	struct aws_reader *top; /* a nested reader's top reader; NULL on the top one */
	char *path;             /* a nested reader's member path; NULL on the top one */
};

void aws_reader_init(struct aws_reader *r, json_t *obj);
void aws_reader_clear(struct aws_reader *r);
/* A string member, or NULL when absent or null; a non-string is a type error. */
const char *aws_read_string(struct aws_reader *r, const char *field);
/* An integer member; false when absent. */
bool aws_read_int(struct aws_reader *r, const char *field, long long *ret);
/* A timestamp member (epoch seconds, a JSON number, as botocore sends it). */
bool aws_read_time(struct aws_reader *r, const char *field, double *ret);
/* An array member, or NULL when absent. */
json_t *aws_read_array(struct aws_reader *r, const char *field);
/* Records a validation error; value NULL prints as null.  field is the API's
 * name in the message's form (endpointName, tags.1.member.key). */
void aws_reader_invalid(struct aws_reader *r, const char *value, const char *field,
			const char *constraint);
/* Checks a required name member (pattern and length), recording errors;
 * returns the value when it is valid. */
const char *aws_read_name(struct aws_reader *r, const char *field, bool required);
/* Turns what the reader found into an error; false when the input is fine. */
bool aws_reader_error(const struct aws_reader *r, struct aws_error *ret);

/* The constraints of a string shape in the service model. */
struct aws_string_rule {
	bool required;
	long min_len, max_len;         /* in characters; max_len 0: no maximum */
	const char *pattern;           /* as the message shows it; NULL: none */
	bool (*matches)(const char *); /* whether a value matches pattern */
};

/* The constraints of a string-to-string map shape (EnvironmentMap). */
struct aws_map_rule {
	bool required;
	size_t max_entries;
	struct aws_string_rule key, value;
};

/* A string member that satisfies rule, or NULL (absent, or an error
 * recorded).  One error a member: null, then length, then pattern. */
const char *aws_read_valid_string(struct aws_reader *r, const char *field,
				  const struct aws_string_rule *rule);
/* An integer member in [min, max]; false when absent or out of range. */
bool aws_read_int_in(struct aws_reader *r, const char *field, bool required, long long min,
		     long long max, long long *ret);
/* A number member (integer or not) in [min, max]. */
bool aws_read_number_in(struct aws_reader *r, const char *field, bool required, double min,
			double max, double *ret);
/* A boolean member; false when absent. */
bool aws_read_bool(struct aws_reader *r, const char *field, bool *ret);
/* A string member that is one of values (NULL-terminated), or NULL. */
const char *aws_read_enum(struct aws_reader *r, const char *field, bool required,
			  const char *const *values);
/* A structure member: ret reads it under its member path.  ret is set up
 * either way (aws_reader_clear() it); false when absent or not an object. */
bool aws_read_object(struct aws_reader *r, const char *field, bool required,
		     struct aws_reader *ret);
/* A list member of min to max items; its size, 0 with *ret NULL when it is
 * absent, not a list or of a size out of bounds. */
size_t aws_read_list(struct aws_reader *r, const char *field, bool required, size_t min, size_t max,
		     json_t **ret);
/* Item i (from 0) of the list field, a structure: ret reads it under
 * "<field>.<i + 1>.member".  ret is set up either way; false when the item
 * is not an object. */
bool aws_read_list_object(struct aws_reader *r, json_t *list, const char *field, size_t i,
			  struct aws_reader *ret);
/* A string-to-string map member whose size, keys and values satisfy rule,
 * or NULL (absent, or an error recorded). */
json_t *aws_read_map(struct aws_reader *r, const char *field, const struct aws_map_rule *rule);

/* "EndpointName" -> "endpointName". */
char *aws_field_name(const char *pascal);

/* Parses a JSON 1.1 body: empty means {}, anything but an object is an error. */
int aws_parse_body(const char *body, size_t len, json_t **ret, struct aws_error *err);
/* "SageMaker.CreateEndpoint" -> "CreateEndpoint"; NULL when not ours. */
const char *aws_target_operation(const char *target);

/* {"__type":code,"message":msg}; code and msg may be any bytes. */
char *aws_json_error_body(const char *code, const char *message);
/* {"ErrorCode":code,"Message":msg, …extra members} */
char *aws_rest_error_body(const char *code, const char *message, json_t *extra);
/* Serialises a response object (timestamps as epoch numbers with ms); never
 * NULL and never aborts: a NULL obj gives an InternalFailure body. */
char *aws_dump(json_t *obj);
/* A JSON string (never NULL) of s, repaired to UTF-8 if it is not; NULL s
 * gives JSON null. */
json_t *aws_string(const char *s);
/* An epoch-seconds timestamp rounded to milliseconds. */
json_t *aws_time(double t);
/* A random version-4 UUID, as AWS request ids are. */
void aws_request_id(char ret[AWS_REQUEST_ID_LEN + 1]);

#endif
