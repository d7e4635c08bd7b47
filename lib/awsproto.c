/*
 * AWS JSON 1.1 and REST-JSON envelopes, and the request reader.
 */
#define _GNU_SOURCE
#include "awsproto.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "names.h"
#include "utf8.h"

/* Fill in an error. */
void aws_error_set(struct aws_error *e, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(e->message);
	e->message = xvasprintf(fmt, ap);
	va_end(ap);
	e->status = status;
	e->code = code;
}

/* Release an error's message. */
void aws_error_clear(struct aws_error *e)
{
	free(e->message);
	e->message = NULL;
	e->code = NULL;
	e->status = 0;
}

/* Start reading obj. */
void aws_reader_init(struct aws_reader *r, json_t *obj)
{
	*r = (struct aws_reader){.obj = obj, .verrs = {.max = 64 * 1024}};
}

/* Release what the reader collected. */
void aws_reader_clear(struct aws_reader *r)
{
	free(r->type_error);
	buf_reset(&r->verrs);
	r->type_error = NULL;
	r->n_verrs = 0;
}

/* Name of a JSON type the way AWS's deserialiser says it. */
static const char *aws_json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "START_OBJECT";
	case JSON_ARRAY:
		return "START_ARRAY";
	case JSON_STRING:
		return "VALUE_STRING";
	case JSON_INTEGER:
		return "VALUE_NUMBER_INT";
	case JSON_REAL:
		return "VALUE_NUMBER_FLOAT";
	case JSON_TRUE:
		return "VALUE_TRUE";
	case JSON_FALSE:
		return "VALUE_FALSE";
	case JSON_NULL:
		return "VALUE_NULL";
	}
	return "VALUE";
}

/* Record the first type mismatch. */
static void aws_reader_type_error(struct aws_reader *r, const char *field, const json_t *v,
				  const char *want)
{
	if (r->type_error)
		return;
	r->type_error = xasprintf("Cannot deserialize %s: expected %s but found %s", field, want,
				  aws_json_type_name(v));
}

/* The member, or NULL when absent or JSON null. */
static json_t *aws_reader_member(struct aws_reader *r, const char *field)
{
	json_t *v = json_object_get(r->obj, field);
	return v && !json_is_null(v) ? v : NULL;
}

/* A string member. */
const char *aws_read_string(struct aws_reader *r, const char *field)
{
	json_t *v = aws_reader_member(r, field);
	if (!v)
		return NULL;
	if (!json_is_string(v)) {
		aws_reader_type_error(r, field, v, "a string");
		return NULL;
	}
	return json_string_value(v);
}

/* An integer member. */
bool aws_read_int(struct aws_reader *r, const char *field, long long *ret)
{
	json_t *v = aws_reader_member(r, field);
	if (!v)
		return false;
	if (!json_is_integer(v)) {
		aws_reader_type_error(r, field, v, "an integer");
		return false;
	}
	*ret = json_integer_value(v);
	return true;
}

/* A timestamp member. */
bool aws_read_time(struct aws_reader *r, const char *field, double *ret)
{
	json_t *v = aws_reader_member(r, field);
	if (!v)
		return false;
	if (!json_is_number(v) || !isfinite(json_number_value(v))) {
		aws_reader_type_error(r, field, v, "a timestamp in epoch seconds");
		return false;
	}
	*ret = json_number_value(v);
	return true;
}

/* An array member. */
json_t *aws_read_array(struct aws_reader *r, const char *field)
{
	json_t *v = aws_reader_member(r, field);
	if (!v)
		return NULL;
	if (!json_is_array(v)) {
		aws_reader_type_error(r, field, v, "a list");
		return NULL;
	}
	return v;
}

/* Add one validation error. */
void aws_reader_invalid(struct aws_reader *r, const char *value, const char *field,
			const char *constraint)
{
	_cleanup_free_ char *shown = NULL;
	if (value) {
		/* Long values are cut (on a character boundary), as AWS does not
		 * echo megabytes back. */
		size_t n = strlen(value);
		_cleanup_free_ char *v = utf8_sanitize(value, n, AWS_SHOWN_VALUE_MAX);
		shown = xasprintf("'%s%s'", v, strlen(v) < n ? "…" : "");
	}
	(void)buf_printf(&r->verrs, "%sValue %s at '%s' failed to satisfy constraint: %s",
			 r->n_verrs ? "; " : "", shown ? shown : "null", field, constraint);
	r->n_verrs++;
}

/* "EndpointName" -> "endpointName". */
char *aws_field_name(const char *pascal)
{
	char *s = xstrdup(pascal);
	s[0] = (char)tolower((unsigned char)s[0]);
	return s;
}

/* A name member: required or not, pattern and length checked. */
const char *aws_read_name(struct aws_reader *r, const char *field, bool required)
{
	_cleanup_free_ char *f = aws_field_name(field);
	const char *v = aws_read_string(r, field);
	if (!v) {
		/* Sent as JSON null counts as not sent; of another type, it
		 * is a type error already. */
		json_t *m = json_object_get(r->obj, field);
		if (required && (!m || json_is_null(m)))
			aws_reader_invalid(r, NULL, f, "Member must not be null");
		return NULL;
	}
	bool ok = true;
	if (strlen(v) > NAMES_MAX_LEN) {
		aws_reader_invalid(r, v, f, "Member must have length less than or equal to 63");
		ok = false;
	}
	if (!names_valid_resource(v) && *v && strlen(v) <= NAMES_MAX_LEN) {
		aws_reader_invalid(r, v, f,
				   "Member must satisfy regular expression pattern: " NAMES_PATTERN);
		ok = false;
	}
	if (!*v) {
		aws_reader_invalid(r, v, f, "Member must have length greater than or equal to 1");
		ok = false;
	}
	return ok ? v : NULL;
}

/* Whether the input failed; fills ret when it did. */
bool aws_reader_error(const struct aws_reader *r, struct aws_error *ret)
{
	if (r->type_error) {
		aws_error_set(ret, 400, "SerializationException", "%s", r->type_error);
		return true;
	}
	if (r->n_verrs) {
		aws_error_set(ret, 400, "ValidationException", "%u validation error%s detected: %s",
			      r->n_verrs, r->n_verrs == 1 ? "" : "s", r->verrs.data);
		return true;
	}
	return false;
}

/* Parse a request body into an object. */
int aws_parse_body(const char *body, size_t len, json_t **ret, struct aws_error *err)
{
	size_t i = 0;
	while (i < len && isspace((unsigned char)body[i]))
		i++;
	if (i == len) {
		*ret = json_object();
		return 0;
	}
	json_error_t jerr;
	json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!v) {
		aws_error_set(err, 400, "SerializationException",
			      "Malformed JSON request body at line %d, column %d: %s", jerr.line,
			      jerr.column, jerr.text);
		return -EINVAL;
	}
	if (!json_is_object(v)) {
		aws_error_set(err, 400, "SerializationException",
			      "Request body must be a JSON object, found %s", aws_json_type_name(v));
		json_decref(v);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

/* The operation an X-Amz-Target names, or NULL. */
const char *aws_target_operation(const char *target)
{
	if (!target || !str_has_prefix(target, AWS_TARGET_PREFIX))
		return NULL;
	const char *op = target + strlen(AWS_TARGET_PREFIX);
	return *op ? op : NULL;
}

/* What a reply says when it could not be built: never an abort. */
static const char aws_unbuildable[] =
	"{\"__type\":\"InternalFailure\",\"message\":\"The response could not be encoded.\"}";

/* Serialise compactly, timestamps with millisecond precision.  obj may be
 * NULL (json_pack() refused a value): the reply is then an InternalFailure
 * body rather than a crash. */
char *aws_dump(json_t *obj)
{
	char *s = obj ? json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(13)) : NULL;
	return s ? s : xstrdup(aws_unbuildable);
}

/* An error envelope {code_key: code, message_key: message}, its strings
 * repaired so that building it cannot fail. */
static json_t *aws_error_object(const char *code_key, const char *code, const char *message_key,
				const char *message)
{
	_cleanup_free_ char *c = utf8_sanitize_str(code ? code : "InternalFailure");
	_cleanup_free_ char *m = utf8_sanitize_str(message ? message : "");
	json_t *o = json_object();
	json_object_set_new(o, code_key, json_string(c));
	json_object_set_new(o, message_key, json_string(m));
	return o;
}

/* The AWS JSON 1.1 error body. */
char *aws_json_error_body(const char *code, const char *message)
{
	json_t *o = aws_error_object("__type", code, "message", message);
	char *s = aws_dump(o);
	json_decref(o);
	return s;
}

/* The REST-JSON (runtime) error body. */
char *aws_rest_error_body(const char *code, const char *message, json_t *extra)
{
	json_t *o = aws_error_object("ErrorCode", code, "Message", message);
	if (extra)
		json_object_update(o, extra);
	char *s = aws_dump(o);
	json_decref(o);
	return s;
}

/* A JSON string of text that came from outside: repaired when it is not
 * well-formed UTF-8, so that it is never NULL. */
json_t *aws_string(const char *s)
{
	if (!s)
		return json_null();
	size_t n = strlen(s);
	if (utf8_valid(s, n))
		return json_stringn_nocheck(s, n);
	_cleanup_free_ char *fixed = utf8_sanitize(s, n, 0);
	return json_string(fixed);
}

/* An epoch timestamp, millisecond precision. */
json_t *aws_time(double t)
{
	return json_real(round(t * 1000.0) / 1000.0);
}

/* A random UUID v4: from a generator seeded once by the kernel, as request
 * ids need to be unique, not secret (a getrandom() per request shows up in
 * the data plane's profile). */
void aws_request_id(char ret[AWS_REQUEST_ID_LEN + 1])
{
	static uint64_t state[2];
	if (!state[0] && !state[1]) {
		if (getrandom(state, sizeof(state), 0) != sizeof(state) || (!state[0] && !state[1])) {
			state[0] = hash_fnv1a(&state, sizeof(state), now_monotonic_ms()) | 1;
			state[1] = (uint64_t)now_realtime();
		}
	}
	unsigned char b[16];
	for (int i = 0; i < 2; i++) {
		/* xorshift128+ */
		uint64_t x = state[0], y = state[1];
		state[0] = y;
		x ^= x << 23;
		state[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
		uint64_t r = state[1] + y;
		memcpy(b + 8 * i, &r, 8);
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(ret, AWS_REQUEST_ID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
		 b[15]);
}
