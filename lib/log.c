/*
 * Log output.  Under systemd (stderr connected to the journal, as
 * JOURNAL_STREAM says) records go to the journal with PRIORITY= and one
 * structured field such as ENDPOINT=; otherwise to stderr as
 * "endpointd[pid]: <level>: message".
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "util.h"

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

/* Write one record. */
void log_emit(int level, const char *key, const char *value, const char *fmt, ...)
{
	int saved_errno = errno;
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *msg = xvasprintf(fmt, ap);
	va_end(ap);

	if (log_to_journal) {
		if (key && value)
			sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", level, "%s=%s", key, value,
					"SYSLOG_IDENTIFIER=%s", log_ident, NULL);
		else
			sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", level,
					"SYSLOG_IDENTIFIER=%s", log_ident, NULL);
	} else {
		const char *name = level >= 0 && level < (int)ELEMENTSOF(log_level_names)
					   ? log_level_names[level]
					   : "?";
		fprintf(stderr, "%s[%d]: %s: %s\n", log_ident, (int)getpid(), name, msg);
	}
	errno = saved_errno;
}
