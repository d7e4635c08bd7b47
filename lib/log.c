/*
 * Log output.  Under systemd (stderr connected to the journal, as
 * JOURNAL_STREAM says) records go to the journal natively, with PRIORITY=,
 * CODE_FILE=/CODE_LINE=/CODE_FUNC= of the caller and the structured fields
 * it passed (ENDPOINT=, VARIANT=, CONTAINER_ID=, REQUEST_ID=); otherwise to
 * stderr as "endpointd[pid]: <level>: message".  A record the journal refuses
 * (journald gone) goes to stderr instead, so that nothing is lost silently.
 */
#define SD_JOURNAL_SUPPRESS_LOCATION /* the caller's location is passed explicitly */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "utf8.h"
#include "util.h"

/* Structured fields of one record, beyond the ones log.c adds itself. */
#define LOG_MAX_FIELDS 8

int log_max_level = LOG_INFO;
static const char *log_ident = "endpointd";
static bool log_to_journal;

static const char *const log_level_names[] = {
	[LOG_EMERG] = "emerg",   [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit",
	[LOG_ERR] = "err",       [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",     [LOG_DEBUG] = "debug",
};

/* Whether stderr is the journal stream systemd handed us. */
static bool log_stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long dev, ino;
	struct stat st;
	if (!e || sscanf(e, "%lu:%lu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

/* Set the identity, level and destination. */
void log_open(const char *ident, int max_level, int use_journal)
{
	if (ident)
		log_ident = ident;
	log_max_level = max_level;
	log_to_journal = use_journal < 0 ? log_stderr_is_journal() : use_journal > 0;
}

/* Whether records go to the journal. */
int log_uses_journal(void)
{
	return log_to_journal;
}

/* A level name to its number. */
int log_level_from_string(const char *s)
{
	for (size_t i = 0; i < ELEMENTSOF(log_level_names); i++)
		if (strcasecmp(s, log_level_names[i]) == 0)
			return (int)i;
	if (strcasecmp(s, "error") == 0)
		return LOG_ERR;
	if (strcasecmp(s, "warn") == 0)
		return LOG_WARNING;
	return -EINVAL;
}

/* The journal's rule for a field name a client may set. */
static bool log_valid_field_name(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > 64 || s[0] == '_' || (s[0] >= '0' && s[0] <= '9'))
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == len;
}

/* One record to the journal; -errno when it would not take it. */
static int log_send_journal(int level, const char *file, int line, const char *func,
			    const struct log_field *fields, const char *msg)
{
	_cleanup_free_ char *m = xasprintf("MESSAGE=%s", msg);
	_cleanup_free_ char *ident = xasprintf("SYSLOG_IDENTIFIER=%s", log_ident);
	_cleanup_free_ char *code_file = file ? xasprintf("CODE_FILE=%s", file) : NULL;
	_cleanup_free_ char *code_line = file ? xasprintf("CODE_LINE=%d", line) : NULL;
	_cleanup_free_ char *code_func = func ? xasprintf("CODE_FUNC=%s", func) : NULL;
	char prio[32];
	char *extra[LOG_MAX_FIELDS] = {0};
	struct iovec iov[6 + LOG_MAX_FIELDS];
	size_t n = 0, n_extra = 0;

	snprintf(prio, sizeof(prio), "PRIORITY=%d", level & LOG_PRIMASK);
	iov[n++] = (struct iovec){m, strlen(m)};
	iov[n++] = (struct iovec){prio, strlen(prio)};
	iov[n++] = (struct iovec){ident, strlen(ident)};
	if (code_file) {
		iov[n++] = (struct iovec){code_file, strlen(code_file)};
		iov[n++] = (struct iovec){code_line, strlen(code_line)};
	}
	if (code_func)
		iov[n++] = (struct iovec){code_func, strlen(code_func)};
	for (size_t i = 0; fields && fields[i].key && n_extra < LOG_MAX_FIELDS; i++) {
		if (!fields[i].value || !log_valid_field_name(fields[i].key))
			continue;
		extra[n_extra] = xasprintf("%s=%s", fields[i].key, fields[i].value);
		iov[n++] = (struct iovec){extra[n_extra], strlen(extra[n_extra])};
		n_extra++;
	}
	int r = sd_journal_sendv(iov, (int)n);
	for (size_t i = 0; i < n_extra; i++)
		free(extra[i]);
	return r;
}

/* A line for stderr: valid UTF-8, control characters (a newline would start
 * a forged record, an escape sequence would drive the terminal) as \xNN. */
static char *log_escape(const char *raw)
{
	char *text = utf8_sanitize_str(raw);
	const unsigned char *q = (const unsigned char *)text;
	while ((*q >= 0x20 || *q == '\t') && *q != 0x7f)
		q++;
	if (!*q)
		return text;
	_cleanup_free_ char *owned = text;
	struct buf b = {0};
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			(void)buf_printf(&b, "\\x%02x", *p);
		else
			(void)buf_append(&b, p, 1);
	}
	return buf_steal(&b);
}

/* Write one record with any number of structured fields. */
void log_emit_fields(int level, const char *file, int line, const char *func,
		     const struct log_field *fields, const char *fmt, ...)
{
	int saved_errno = errno;
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *raw = xvasprintf(fmt, ap);
	va_end(ap);
	/* Messages quote requests and containers: what reaches the journal or
	 * a terminal is text, and on stderr one record stays one line. */
	_cleanup_free_ char *msg = log_to_journal ? utf8_sanitize_str(raw) : log_escape(raw);

	if (!log_to_journal || log_send_journal(level, file, line, func, fields, msg) < 0) {
		const char *name = level >= 0 && level < (int)ELEMENTSOF(log_level_names)
					   ? log_level_names[level]
					   : "?";
		fprintf(stderr, "%s[%d]: %s: %s\n", log_ident, (int)getpid(), name, msg);
	}
	errno = saved_errno;
}

/* Write one record with at most one structured field (kept for callers of
 * the original interface; the macros use log_emit_fields()). */
void log_emit(int level, const char *key, const char *value, const char *fmt, ...)
{
	int saved_errno = errno;
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	errno = saved_errno;
	log_emit_fields(level, NULL, 0, NULL, LOG_FIELDS({key, value}), "%s", msg);
}
