/*
 * What endpointctl's command files share with endpointctl.c, which owns
 * them: the run's settings, the command table's entry, option parsing that
 * knows the global options, the call to the daemon that prints its error,
 * and JSON output.  Exit statuses: usage errors 2, API, connection and file
 * errors 1.
 */
#ifndef ENDPOINTCTL_CTL_H
#define ENDPOINTCTL_CTL_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define CTL_EXIT_OK 0
#define CTL_EXIT_FAILURE 1
#define CTL_EXIT_USAGE 2
#define CTL_EXIT_INTERRUPTED 130

/* How long a --wait waits unless --timeout says otherwise. */
#define CTL_WAIT_DEFAULT_TIMEOUT_S 1800.0

enum ctl_output {
	CTL_OUTPUT_TABLE,
	CTL_OUTPUT_JSON,
};

struct ctl_command;

/* The run's settings and its client; lives in main(). */
struct ctl {
	const char *url; /* NULL: $ENDPOINTD_URL, then the default */
	const char *profile;   /* --profile: NULL, $AWS_PROFILE or default (awsconfig) */
	const char *region;    /* --region */
	const char *ca_bundle; /* --ca-bundle */
	enum ctl_output output;
	bool verbose;
	const struct ctl_command *command;
	struct client *client; /* made on first use */
};

struct ctl_command {
	const char *name;
	const char *synopsis; /* what follows "endpointctl NAME" */
	const char *brief;    /* one line for the command list */
	const char *summary;
	const char *options; /* the command's own options, for --help */
	int (*run)(struct ctl *ctl, int argc, char **argv);
};

#define CTL_COMMON_SHORT ":o:vh"
/* The global options without a letter: above the commands' own such
 * options (update.c's start at 0x100). */
#define CTL_OPT_PROFILE 0x1001
#define CTL_OPT_REGION 0x1002
#define CTL_OPT_CA_BUNDLE 0x1003
/* clang-format off */
#define CTL_COMMON_LONG \
	{"url", required_argument, NULL, 'U'}, \
	{"profile", required_argument, NULL, CTL_OPT_PROFILE}, \
	{"region", required_argument, NULL, CTL_OPT_REGION}, \
	{"ca-bundle", required_argument, NULL, CTL_OPT_CA_BUNDLE}, \
	{"output", required_argument, NULL, 'o'}, \
	{"verbose", no_argument, NULL, 'v'}, \
	{"help", no_argument, NULL, 'h'}
/* clang-format on */
/* Returned by ctl_next_option when the command is to end with *ret_exit. */
#define CTL_OPTION_EXIT (-2)

/* Prints "endpointctl: <what>" and the short usage line; returns 2. */
int ctl_usage_error(const struct ctl *ctl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * getopt_long for a command: handles the global options and --help itself
 * and returns the command's own, -1 at the end, or CTL_OPTION_EXIT with
 * *ret_exit set (help printed, or a usage error).
 */
int ctl_next_option(struct ctl *ctl, int argc, char **argv, const char *shortopts,
                    const struct option *longopts, int *ret_exit);
/* The options of a command that has none of its own: false when it is to
 * end with *ret_exit (help shown, or a usage error). */
bool ctl_common_options_only(struct ctl *ctl, int argc, char **argv, int *ret_exit);
/* Checks the number of operands left after the options (max -1: any). */
int ctl_want_operands(const struct ctl *ctl, int argc, char **argv, int min, int max);
/* Parses a number of seconds (fractions allowed) for --timeout; a usage
 * error (2) when s is not one. */
int ctl_parse_seconds(const struct ctl *ctl, const char *s, double *ret);

/* The client for --url / $ENDPOINTD_URL / the default, signing with the
 * AWS credentials and region the AWS CLI would use (--profile, --region,
 * --ca-bundle, the AWS_* environment, ~/.aws); NULL on a bad URL (exit 2)
 * or AWS settings that cannot be used (exit 1, said on stderr). */
struct client *ctl_client(struct ctl *ctl, int *ret_exit);
/* SageMaker.<op>; prints the error and returns NULL on failure. */
json_t *ctl_call(struct ctl *ctl, const char *op, json_t *params);

/* The API's JSON, indented, on stdout; no control character in it raw. */
void ctl_print_json(const json_t *v);
/* A string member, or NULL. */
const char *ctl_str(const json_t *o, const char *key);

/* Reads all of stdin, at most max bytes (then one more, to show it is more). */
int ctl_read_stdin(struct buf *b, size_t max);

#endif
