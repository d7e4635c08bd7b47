/*
 * AWS JSON 1.1 and REST-JSON envelopes, and the request reader.
 *
 * Validation errors are worded as SageMaker's front end words them, from
 * the constraints of the service model: "Value 'x' at
 * 'productionVariants.1.member.modelName' failed to satisfy constraint:
 * Member must …", the member path in camelCase with list items counted
 * from 1 and ".member" after each item, a map's keys and values judged as
 * a whole ("Value at 'primaryContainer.environment' failed to satisfy
 * constraint: Map keys must satisfy constraint: [Member must …]").
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
	free(r->path);
	r->type_error = NULL;
	r->n_verrs = 0;
	r->path = NULL;
}

/* The reader that collects r's errors. */
static struct aws_reader *aws_reader_top(struct aws_reader *r)
{
	return r->top ? r->top : r;
}

/* The member path of field read through r, as messages show it. */
static char *aws_reader_path(const struct aws_reader *r, const char *field)
{
	_cleanup_free_ char *f = aws_field_name(field);
	return r->path ? xasprintf("%s.%s", r->path, f) : TAKE_PTR(f);
}

/* Set ret up to read obj, nested under path (taken). */
static void aws_reader_nest(struct aws_reader *r, json_t *obj, char *path, struct aws_reader *ret)
{
	aws_reader_init(ret, obj);
	ret->top = aws_reader_top(r);
	ret->path = path;
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
	struct aws_reader *top = aws_reader_top(r);
	if (top->type_error)
		return;
	_cleanup_free_ char *path = r->path ? aws_reader_path(r, field) : xstrdup(field);
	top->type_error = xasprintf("Cannot deserialize %s: expected %s but found %s", path, want,
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

/* Add one validation error; shown is "'value' " or "null " or "". */
static void aws_reader_add(struct aws_reader *r, const char *shown, const char *field,
			   const char *constraint)
{
	struct aws_reader *top = aws_reader_top(r);
	(void)buf_printf(&top->verrs, "%sValue %sat '%s' failed to satisfy constraint: %s",
			 top->n_verrs ? "; " : "", shown, field, constraint);
	top->n_verrs++;
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
		shown = xasprintf("'%s%s' ", v, strlen(v) < n ? "…" : "");
	}
	aws_reader_add(r, shown ? shown : "null ", field, constraint);
}

/* "EndpointName" -> "endpointName". */
char *aws_field_name(const char *pascal)
{
	char *s = xstrdup(pascal);
	s[0] = (char)tolower((unsigned char)s[0]);
	return s;
}

/* Record a required member that is absent or null. */
static void aws_check_required(struct aws_reader *r, const char *field, bool required)
{
	if (!required)
		return;
	json_t *v = json_object_get(r->obj, field);
	if (!v || json_is_null(v)) {
		_cleanup_free_ char *f = aws_reader_path(r, field);
		aws_reader_invalid(r, NULL, f, "Member must not be null");
	}
}

/* A name member: required or not, pattern and length checked. */
const char *aws_read_name(struct aws_reader *r, const char *field, bool required)
{
	_cleanup_free_ char *f = aws_reader_path(r, field);
	const char *v = aws_read_string(r, field);
	if (!v) {
		aws_check_required(r, field, required);
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

/* The first constraint of rule that v breaks, worded for a message, or
 * NULL.  buf holds a worded length bound. */
static const char *aws_string_rule_broken(const struct aws_string_rule *rule, const char *v,
					  char *buf, size_t size)
{
	long n = names_utf8_length(v);
	if (n < rule->min_len) {
		snprintf(buf, size, "Member must have length greater than or equal to %ld",
			 rule->min_len);
		return buf;
	}
	if (rule->max_len && n > rule->max_len) {
		snprintf(buf, size, "Member must have length less than or equal to %ld",
			 rule->max_len);
		return buf;
	}
	if (rule->pattern && rule->matches && !rule->matches(v)) {
		snprintf(buf, size, "Member must satisfy regular expression pattern: %s",
			 rule->pattern);
		return buf;
	}
	return NULL;
}

/* A string member checked against rule. */
const char *aws_read_valid_string(struct aws_reader *r, const char *field,
				  const struct aws_string_rule *rule)
{
	const char *v = aws_read_string(r, field);
	if (!v) {
		aws_check_required(r, field, rule->required);
		return NULL;
	}
	char buf[1024];
	const char *broken = aws_string_rule_broken(rule, v, buf, sizeof(buf));
	if (broken) {
		_cleanup_free_ char *f = aws_reader_path(r, field);
		aws_reader_invalid(r, v, f, broken);
		return NULL;
	}
	return v;
}

/* Record a value (shown as sent) below its minimum or above its maximum
 * (bound, as the service model writes it). */
static void aws_range_error(struct aws_reader *r, const char *field, const char *shown,
			    bool below, const char *bound)
{
	_cleanup_free_ char *f = aws_reader_path(r, field);
	_cleanup_free_ char *c = xasprintf("Member must have value %s than or equal to %s",
					   below ? "greater" : "less", bound);
	aws_reader_invalid(r, shown, f, c);
}

/* An integer member in range. */
bool aws_read_int_in(struct aws_reader *r, const char *field, bool required, long long min,
		     long long max, long long *ret)
{
	long long v;
	if (!aws_read_int(r, field, &v)) {
		aws_check_required(r, field, required);
		return false;
	}
	if (v < min || v > max) {
		char shown[32], bound[32];
		snprintf(shown, sizeof(shown), "%lld", v);
		snprintf(bound, sizeof(bound), "%lld", v < min ? min : max);
		aws_range_error(r, field, shown, v < min, bound);
		return false;
	}
	*ret = v;
	return true;
}

/* A number member in range. */
bool aws_read_number_in(struct aws_reader *r, const char *field, bool required, double min,
			double max, double *ret)
{
	json_t *v = aws_reader_member(r, field);
	if (!v) {
		aws_check_required(r, field, required);
		return false;
	}
	if (!json_is_number(v) || !isfinite(json_number_value(v))) {
		aws_reader_type_error(r, field, v, "a number");
		return false;
	}
	double d = json_number_value(v);
	if (d < min || d > max) {
		_cleanup_free_ char *shown = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		char bound[32];
		snprintf(bound, sizeof(bound), "%g", d < min ? min : max);
		aws_range_error(r, field, shown, d < min, bound);
		return false;
	}
	*ret = d;
	return true;
}

/* A boolean member. */
bool aws_read_bool(struct aws_reader *r, const char *field, bool *ret)
{
	json_t *v = aws_reader_member(r, field);
	if (!v)
		return false;
	if (!json_is_boolean(v)) {
		aws_reader_type_error(r, field, v, "a boolean");
		return false;
	}
	*ret = json_is_true(v);
	return true;
}

/* An enum member. */
const char *aws_read_enum(struct aws_reader *r, const char *field, bool required,
			  const char *const *values)
{
	const char *v = aws_read_string(r, field);
	if (!v) {
		aws_check_required(r, field, required);
		return NULL;
	}
	for (size_t i = 0; values[i]; i++)
		if (strcmp(v, values[i]) == 0)
			return values[i];
	struct buf set = {0};
	(void)buf_printf(&set, "Member must satisfy enum value set: [");
	for (size_t i = 0; values[i]; i++)
		(void)buf_printf(&set, "%s%s", i ? ", " : "", values[i]);
	(void)buf_printf(&set, "]");
	_cleanup_free_ char *f = aws_reader_path(r, field);
	aws_reader_invalid(r, v, f, set.data);
	buf_reset(&set);
	return NULL;
}

/* A structure member. */
bool aws_read_object(struct aws_reader *r, const char *field, bool required, struct aws_reader *ret)
{
	json_t *v = aws_reader_member(r, field);
	aws_reader_nest(r, v, aws_reader_path(r, field), ret);
	if (!v) {
		aws_check_required(r, field, required);
		return false;
	}
	if (!json_is_object(v)) {
		aws_reader_type_error(r, field, v, "a structure");
		ret->obj = NULL;
		return false;
	}
	return true;
}

/* A list member of bounded size. */
size_t aws_read_list(struct aws_reader *r, const char *field, bool required, size_t min, size_t max,
		     json_t **ret)
{
	*ret = NULL;
	json_t *v = aws_read_array(r, field);
	if (!v) {
		aws_check_required(r, field, required);
		return 0;
	}
	size_t n = json_array_size(v);
	if (n < min || n > max) {
		_cleanup_free_ char *f = aws_reader_path(r, field);
		_cleanup_free_ char *shown = json_dumps(v, JSON_COMPACT);
		char c[96];
		snprintf(c, sizeof(c), "Member must have length %s than or equal to %zu",
			 n < min ? "greater" : "less", n < min ? min : max);
		aws_reader_invalid(r, shown ? shown : "[…]", f, c);
		return 0;
	}
	*ret = v;
	return n;
}

/* A structure in a list. */
bool aws_read_list_object(struct aws_reader *r, json_t *list, const char *field, size_t i,
			  struct aws_reader *ret)
{
	json_t *v = json_array_get(list, i);
	_cleanup_free_ char *f = aws_reader_path(r, field);
	aws_reader_nest(r, v, xasprintf("%s.%zu.member", f, i + 1), ret);
	if (!json_is_object(v)) {
		struct aws_reader *top = aws_reader_top(r);
		if (!top->type_error)
			top->type_error = xasprintf(
			    "Cannot deserialize %s.%zu.member: expected a structure but found %s",
			    f, i + 1, v ? aws_json_type_name(v) : "nothing");
		ret->obj = NULL;
		return false;
	}
	return true;
}

/* Record "Map keys/value must satisfy constraint: […]" for the constraints
 * of rule that some of strs break, each named once. */
static bool aws_check_map_strings(struct aws_reader *r, const char *path, const char *what,
				  const struct aws_string_rule *rule, const char *const *strs,
				  size_t n)
{
	struct buf broken = {0};
	size_t n_broken = 0;
	for (size_t i = 0; i < n; i++) {
		char buf[1024];
		const char *c = aws_string_rule_broken(rule, strs[i], buf, sizeof(buf));
		if (!c || (broken.data && strstr(broken.data, c)))
			continue;
		(void)buf_printf(&broken, "%s%s", n_broken++ ? ", " : "", c);
	}
	if (n_broken) {
		_cleanup_free_ char *c =
		    xasprintf("%s must satisfy constraint: [%s]", what, broken.data);
		aws_reader_add(r, "", path, c);
	}
	buf_reset(&broken);
	return n_broken == 0;
}

/* A string-to-string map member. */
json_t *aws_read_map(struct aws_reader *r, const char *field, const struct aws_map_rule *rule)
{
	json_t *v = aws_reader_member(r, field);
	if (!v) {
		aws_check_required(r, field, rule->required);
		return NULL;
	}
	if (!json_is_object(v)) {
		aws_reader_type_error(r, field, v, "a map");
		return NULL;
	}
	_cleanup_free_ char *f = aws_reader_path(r, field);
	size_t n = json_object_size(v);
	if (n > rule->max_entries) {
		char c[96];
		snprintf(c, sizeof(c), "Member must have length less than or equal to %zu",
			 rule->max_entries);
		aws_reader_add(r, "", f, c);
		return NULL;
	}
	_cleanup_free_ const char **keys = xcalloc(n ? n : 1, sizeof(*keys));
	_cleanup_free_ const char **values = xcalloc(n ? n : 1, sizeof(*values));
	size_t i = 0;
	const char *k;
	json_t *e;
	json_object_foreach(v, k, e)
	{
		if (!json_is_string(e)) {
			_cleanup_free_ char *ef = xasprintf("%s.%s", field, k);
			aws_reader_type_error(r, ef, e, "a string");
			return NULL;
		}
		keys[i] = k;
		values[i++] = json_string_value(e);
	}
	bool ok = aws_check_map_strings(r, f, "Map keys", &rule->key, keys, n);
	ok = aws_check_map_strings(r, f, "Map value", &rule->value, values, n) && ok;
	return ok ? v : NULL;
}

/* Whether the input failed; fills ret when it did. */
bool aws_reader_error(const struct aws_reader *r, struct aws_error *ret)
{
	r = r->top ? r->top : r;
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
