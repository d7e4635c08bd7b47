/*
 * Logging: to the journal with structured fields when stderr is connected to
 * it (JOURNAL_STREAM), to stderr otherwise.  The macros check the level before
 * anything is formatted.  Library code logs at debug, or returns -errno and
 * lets the caller that decides log once.
 *
 * Structured fields: log_endpoint() and log_container() carry one (ENDPOINT=,
 * CONTAINER_ID=); log_variant() and log_request() two; log_fields() any
 * number, as in
 *
 *	log_fields(LOG_INFO, LOG_FIELDS({"ENDPOINT", ep->name}, {"VARIANT", v->name},
 *					{"CONTAINER_ID", id}),
 *		   "endpoint %s: ...", ep->name);
 *
 * Field names are upper-case letters, digits and '_' (the journal's rule); a
 * field whose value is NULL is left out.  On stderr the fields are not shown:
 * the message itself names what it is about.
 */
#ifndef ENDPOINTD_LOG_H
#define ENDPOINTD_LOG_H

#include <syslog.h>

extern int log_max_level;

/* One structured field; arrays of them end with {NULL, NULL}. */
struct log_field {
	const char *key;
	const char *value;
};

/* use_journal: -1 = detect from JOURNAL_STREAM, 0 = stderr, 1 = journal. */
void log_open(const char *ident, int max_level, int use_journal);
/* Parses "debug", "info", "notice", "warning", "err"; -EINVAL otherwise. */
int log_level_from_string(const char *s);
/* Whether records go to the journal (after log_open). */
int log_uses_journal(void);

/* key/value is one optional structured field (ENDPOINT=, CONTAINER_ID=…). */
void log_emit(int level, const char *key, const char *value, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* fields ends with {NULL, NULL} and may be NULL; file/line/func may be NULL. */
void log_emit_fields(int level, const char *file, int line, const char *func,
		     const struct log_field *fields, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* A NULL-terminated field array for log_fields(). */
#define LOG_FIELDS(...) ((const struct log_field[]){__VA_ARGS__, {NULL, NULL}})

#define log_fields(level, fields, ...)                                                    \
	do {                                                                              \
		if ((level) <= log_max_level)                                             \
			log_emit_fields((level), __FILE__, __LINE__, __func__, (fields), \
					__VA_ARGS__);                                     \
	} while (0)

#define log_full(level, key, value, ...) \
	log_fields(level, LOG_FIELDS({(key), (value)}), __VA_ARGS__)

#define log_error(...) log_fields(LOG_ERR, NULL, __VA_ARGS__)
#define log_warning(...) log_fields(LOG_WARNING, NULL, __VA_ARGS__)
#define log_notice(...) log_fields(LOG_NOTICE, NULL, __VA_ARGS__)
#define log_info(...) log_fields(LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) log_fields(LOG_DEBUG, NULL, __VA_ARGS__)
#define log_endpoint(level, name, ...) log_full(level, "ENDPOINT", name, __VA_ARGS__)
#define log_container(level, id, ...) log_full(level, "CONTAINER_ID", id, __VA_ARGS__)
#define log_variant(level, endpoint, variant, ...)                                          \
	log_fields(level, LOG_FIELDS({"ENDPOINT", (endpoint)}, {"VARIANT", (variant)}), __VA_ARGS__)
#define log_request(level, request_id, endpoint, ...)                                         \
	log_fields(level, LOG_FIELDS({"REQUEST_ID", (request_id)}, {"ENDPOINT", (endpoint)}), \
		   __VA_ARGS__)

#endif
