/*
 * Logging: to the journal with structured fields when stderr is connected to
 * it (JOURNAL_STREAM), to stderr otherwise.  The macros check the level before
 * anything is formatted.  Library code logs at debug, or returns -errno and
 * lets the caller that decides log once.
 */
#ifndef ENDPOINTD_LOG_H
#define ENDPOINTD_LOG_H

#include <syslog.h>

extern int log_max_level;

/* use_journal: -1 = detect from JOURNAL_STREAM, 0 = stderr, 1 = journal. */
void log_open(const char *ident, int max_level, int use_journal);
/* Parses "debug", "info", "notice", "warning", "err"; -EINVAL otherwise. */
int log_level_from_string(const char *s);

/* key/value is one optional structured field (ENDPOINT=, CONTAINER_ID=…). */
void log_emit(int level, const char *key, const char *value, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_full(level, key, value, ...)                            \
	do {                                                        \
		if ((level) <= log_max_level)                       \
			log_emit((level), (key), (value), __VA_ARGS__); \
	} while (0)

#define log_error(...) log_full(LOG_ERR, NULL, NULL, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, NULL, NULL, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, NULL, NULL, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, NULL, NULL, __VA_ARGS__)
#define log_debug(...) log_full(LOG_DEBUG, NULL, NULL, __VA_ARGS__)
#define log_endpoint(level, name, ...) log_full(level, "ENDPOINT", name, __VA_ARGS__)
#define log_container(level, id, ...) log_full(level, "CONTAINER_ID", id, __VA_ARGS__)

#endif
