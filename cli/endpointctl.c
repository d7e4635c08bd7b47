/*
 * endpointctl: the operator's CLI for endpointd, a thin client of the same
 * HTTP API that the AWS SDKs use (client.c), plus an offline config check
 * with the daemon's own loader.
 *
 * Map of this file:
 *   - options and usage: global options before the command, each command's
 *     own after it (the global ones are accepted there too); usage errors
 *     exit 2, API and connection errors 1
 *   - output helpers: JSON (-o json), local times, aligned tables (table.c);
 *     every string from the daemon is escaped before it reaches a terminal
 *     (text.c), in tables, in text and on stderr
 *   - wait: what InService / gone means to create, delete and wait, with
 *     progress on stderr (one line rewritten on a terminal, a line per status
 *     change otherwise); the polling loop itself is watch.c's
 *   - the commands, then the command table and main(); the commands for
 *     models and endpoint configs made through the API are in resources.c,
 *     and what they share with this file is declared in ctl.h
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "awsconfig.h"
#include "client.h"
#include "config.h"
#include "ctl.h"
#include "log.h"
#include "resources.h"
#include "table.h"
#include "text.h"
#include "update.h"
#include "util.h"
#include "watch.h"

#define CTL_DEFAULT_URL "http://127.0.0.1:8780"
/* Poll fast at first (endpointd starts containers in seconds), then slower. */
#define CTL_WAIT_FAST_POLL_S 0.2
#define CTL_WAIT_SLOW_POLL_S 0.5
#define CTL_WAIT_FAST_FOR_S 10.0

/* SageMaker's InvokeEndpoint limit; one byte more is read so that the daemon
 * can refuse a body that is too large with its own words. */
#define CTL_MAX_INVOKE_BODY 6291456u

static void ctl_usage(FILE *f);
static const struct ctl_command *ctl_find_command(const char *name);

/* ------------------------------------------------------------------------ */
/* Options and usage                                                         */

/* Prints "endpointctl: <what>" and the short usage line; returns 2. */
int ctl_usage_error(const struct ctl *ctl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("endpointctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	if (ctl->command)
		fprintf(stderr, "Usage: endpointctl %s %s\nTry 'endpointctl %s --help'.\n",
		        ctl->command->name, ctl->command->synopsis, ctl->command->name);
	else
		fputs("Usage: endpointctl [--url URL] [--profile NAME] [--region REGION] "
		      "[--ca-bundle FILE]\n"
		      "                   [-o table|json] [-v] COMMAND [ARG]...\n"
		      "Try 'endpointctl --help'.\n",
		      stderr);
	return CTL_EXIT_USAGE;
}

/* One command's --help. */
static void ctl_command_help(const struct ctl_command *cmd, FILE *f)
{
	fprintf(f, "Usage: endpointctl %s %s\n\n%s\n", cmd->name, cmd->synopsis, cmd->summary);
	if (cmd->options && *cmd->options)
		fprintf(f, "\nOptions:\n%s", cmd->options);
	fputs(
	    "\nThe global options (--url URL, --profile NAME, --region REGION, --ca-bundle FILE,\n"
	    "-o table|json, -v) are accepted here too.\n",
	    f);
}

/* Reads -o's value. */
static int ctl_parse_output(struct ctl *ctl, const char *s)
{
	if (strcmp(s, "table") == 0)
		ctl->output = CTL_OUTPUT_TABLE;
	else if (strcmp(s, "json") == 0)
		ctl->output = CTL_OUTPUT_JSON;
	else
		return ctl_usage_error(ctl, "unknown output format \"%s\" (table or json)", s);
	return 0;
}

/* Says what getopt did not like. */
static int ctl_option_error(const struct ctl *ctl, int c, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?";
	if (c == ':')
		return ctl_usage_error(ctl, "option %s needs an argument", arg);
	if (optopt)
		return ctl_usage_error(ctl, "unknown option -%c", optopt);
	return ctl_usage_error(ctl, "unknown option %s", arg);
}

/*
 * getopt_long for a command: handles the global options and --help itself
 * and returns the command's own, -1 at the end, or CTL_OPTION_EXIT with
 * *ret_exit set (help printed, or a usage error).
 */
int ctl_next_option(struct ctl *ctl, int argc, char **argv, const char *shortopts,
                    const struct option *longopts, int *ret_exit)
{
	for (;;) {
		int c = getopt_long(argc, argv, shortopts, longopts, NULL);
		switch (c) {
		case 'U':
			ctl->url = optarg;
			break;
		case CTL_OPT_PROFILE:
			ctl->profile = optarg;
			break;
		case CTL_OPT_REGION:
			ctl->region = optarg;
			break;
		case CTL_OPT_CA_BUNDLE:
			ctl->ca_bundle = optarg;
			break;
		case 'o':
			if (ctl_parse_output(ctl, optarg) != 0) {
				*ret_exit = CTL_EXIT_USAGE;
				return CTL_OPTION_EXIT;
			}
			break;
		case 'v':
			ctl->verbose = true;
			break;
		case 'h':
			ctl_command_help(ctl->command, stdout);
			*ret_exit = CTL_EXIT_OK;
			return CTL_OPTION_EXIT;
		case ':':
		case '?':
			*ret_exit = ctl_option_error(ctl, c, argv);
			return CTL_OPTION_EXIT;
		default:
			return c;
		}
	}
}

/* The options of a command that has none of its own: false when it is to
 * end with *ret_exit (help shown, or a usage error). */
bool ctl_common_options_only(struct ctl *ctl, int argc, char **argv, int *ret_exit)
{
	static const struct option opts[] = {CTL_COMMON_LONG, {0}};
	return ctl_next_option(ctl, argc, argv, CTL_COMMON_SHORT, opts, ret_exit) == -1;
}

/* Checks the number of operands left after the options. */
int ctl_want_operands(const struct ctl *ctl, int argc, char **argv, int min, int max)
{
	int n = argc - optind;
	if (n < min)
		return ctl_usage_error(ctl, "%s: missing operand", ctl->command->name);
	if (max >= 0 && n > max)
		return ctl_usage_error(ctl, "%s: unexpected operand \"%s\"", ctl->command->name,
		                       argv[optind + max]);
	return 0;
}

/* Parses a number of seconds (fractions allowed) for --timeout. */
int ctl_parse_seconds(const struct ctl *ctl, const char *s, double *ret)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0)
		return ctl_usage_error(ctl, "\"%s\" is not a number of seconds", s);
	*ret = v;
	return 0;
}

/* Parses --page-size (ListEndpoints' MaxResults: 1-100). */
static int ctl_parse_page_size(const struct ctl *ctl, const char *s, int *ret)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > 100)
		return ctl_usage_error(ctl, "--page-size takes a number from 1 to 100, not \"%s\"",
		                       s);
	*ret = (int)v;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Talking to the daemon                                                     */

/* The client for --url / $ENDPOINTD_URL / the default, with the AWS
 * credentials, region and CA bundle the AWS CLI would use. */
struct client *ctl_client(struct ctl *ctl, int *ret_exit)
{
	if (ctl->client)
		return ctl->client;
	const char *url = ctl->url;
	if (!url) {
		const char *e = getenv("ENDPOINTD_URL");
		url = e && *e ? e : CTL_DEFAULT_URL;
	}
	_cleanup_free_ char *error = NULL;
	struct awsconfig aws;
	if (awsconfig_load(ctl->profile, ctl->region, ctl->ca_bundle, (const char *const *)environ,
	                   &aws, &error) < 0) {
		_cleanup_free_ char *shown = text_escape(error);
		fprintf(stderr, "endpointctl: %s\n", shown);
		*ret_exit = CTL_EXIT_FAILURE;
		return NULL;
	}
	const struct client_options opts = {
	    .access_key_id = aws.access_key_id,
	    .secret_access_key = aws.secret_access_key,
	    .session_token = aws.session_token,
	    .region = aws.region,
	    .ca_bundle = aws.ca_bundle,
	};
	int r = client_new(url, &opts, &ctl->client, &error);
	awsconfig_clear(&aws);
	if (r < 0) {
		*ret_exit = ctl_usage_error(ctl, "%s", error);
		return NULL;
	}
	return ctl->client;
}

/* SageMaker.<op>; prints the error and returns NULL on failure. */
json_t *ctl_call(struct ctl *ctl, const char *op, json_t *params)
{
	struct client_error err = {0};
	json_t *answer = NULL;
	if (client_call(ctl->client, op, params, &answer, &err) < 0) {
		client_error_print(&err);
		client_error_clear(&err);
		return NULL;
	}
	return answer;
}

/*
 * Every item of a List* operation, NextToken after NextToken, as one object
 * {key: [...]} like a single page without a NextToken; NULL on failure.
 */
static json_t *ctl_list_all(struct ctl *ctl, const char *op, const char *key, json_t *params)
{
	json_t *all = json_array();
	_cleanup_free_ char *last_token = NULL;

	for (;;) {
		json_t *page = ctl_call(ctl, op, params);
		if (!page)
			goto fail;
		json_t *items = json_object_get(page, key);
		if (json_is_array(items))
			json_array_extend(all, items);
		const char *token = json_string_value(json_object_get(page, "NextToken"));
		if (!token || !*token) {
			json_decref(page);
			break;
		}
		if (last_token && strcmp(token, last_token) == 0) {
			fprintf(stderr, "endpointctl: %s handed out the same NextToken twice\n",
			        op);
			json_decref(page);
			goto fail;
		}
		free(last_token);
		last_token = xstrdup(token);
		json_object_set_new(params, "NextToken", json_string(token));
		json_decref(page);
	}
	return json_pack("{s:o}", key, all);
fail:
	json_decref(all);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                    */

/* The API's JSON, indented, on stdout; no control character in it raw. */
void ctl_print_json(const json_t *v)
{
	/* 15 digits: an epoch time with milliseconds prints as sent. */
	_cleanup_free_ char *dump = json_dumps(v, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
	_cleanup_free_ char *safe = text_escape_json(dump ? dump : "null");
	puts(safe);
}

/* An epoch-seconds JSON number as local time; "-" when absent. */
static const char *ctl_time(const json_t *v, char *buf, size_t size)
{
	if (!json_is_number(v))
		return "-";
	time_t t = (time_t)json_number_value(v);
	struct tm tm;
	if (!localtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		return "-";
	return buf;
}

/* A string member, or NULL. */
const char *ctl_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* An integer member, or -1. */
static long long ctl_int(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_number(v) ? (long long)json_number_value(v) : -1;
}

/* Elapsed time as "4.2s" or "3m07.5s". */
static void ctl_format_elapsed(double s, char *buf, size_t size)
{
	if (s < 60)
		snprintf(buf, size, "%.1fs", s);
	else
		snprintf(buf, size, "%dm%04.1fs", (int)(s / 60), fmod(s, 60));
}

/* Sums CurrentInstanceCount and DesiredInstanceCount over the variants;
 * false when the description has none yet. */
static bool ctl_instances(const json_t *desc, long long *ret_up, long long *ret_desired)
{
	const json_t *pvs = json_object_get(desc, "ProductionVariants");
	size_t i;
	const json_t *pv;
	long long up = 0, desired = 0;

	if (!json_is_array(pvs) || json_array_size(pvs) == 0)
		return false;
	json_array_foreach(pvs, i, pv)
	{
		long long cur = ctl_int(pv, "CurrentInstanceCount");
		long long want = ctl_int(pv, "DesiredInstanceCount");
		up += cur > 0 ? cur : 0;
		desired += want > 0 ? want : 0;
	}
	*ret_up = up;
	*ret_desired = desired;
	return true;
}

/* ------------------------------------------------------------------------ */
/* Waiting                                                                   */

enum ctl_wait_for {
	CTL_WAIT_IN_SERVICE,
	CTL_WAIT_DELETED,
};

/* Progress of a wait on stderr. */
struct ctl_progress {
	const char *name;
	bool live;         /* stderr is a terminal: one line, rewritten */
	size_t shown;      /* characters on the live line now */
	char *last_status; /* what the last plain line said */
};

/* Shows where the endpoint is; plain lines only when the status changes. */
static void ctl_progress_show(struct ctl_progress *p, const char *status, const json_t *desc,
                              double elapsed)
{
	char took[32];
	long long up, desired;
	_cleanup_free_ char *line = NULL;

	ctl_format_elapsed(elapsed, took, sizeof(took));
	_cleanup_free_ char *name = text_escape(p->name), *shown = text_escape(status);
	if (desc && ctl_instances(desc, &up, &desired))
		line =
		    xasprintf("%s: %s, %lld/%lld instances up, %s", name, shown, up, desired, took);
	else
		line = xasprintf("%s: %s, %s", name, shown, took);

	if (p->live) {
		size_t n = strlen(line);
		fprintf(stderr, "\r%s%*s", line, p->shown > n ? (int)(p->shown - n) : 0, "");
		p->shown = n;
		fflush(stderr);
		return;
	}
	if (p->last_status && strcmp(p->last_status, status) == 0)
		return;
	free(p->last_status);
	p->last_status = xstrdup(status);
	fprintf(stderr, "%s\n", line);
}

/* Ends the live line. */
static void ctl_progress_end(struct ctl_progress *p)
{
	if (p->live && p->shown)
		fputc('\n', stderr);
	p->shown = 0;
	free(p->last_status);
	p->last_status = NULL;
}

/* One wait of create, delete or wait: its target and its progress line. */
struct ctl_wait {
	const char *name;
	enum ctl_wait_for target;
	struct ctl_progress progress;
};

/* Shows the endpoint's status; done at the target, failed when Failed. */
static enum watch_verdict ctl_wait_seen(void *data, const json_t *desc, double elapsed)
{
	struct ctl_wait *w = data;

	if (!desc) { /* gone, which only a wait for Deleted takes as an answer */
		ctl_progress_show(&w->progress, "Deleted", NULL, elapsed);
		ctl_progress_end(&w->progress);
		return WATCH_DONE;
	}
	const char *status = ctl_str(desc, "EndpointStatus");
	if (!status)
		status = "?";
	ctl_progress_show(&w->progress, status, desc, elapsed);
	if (w->target == CTL_WAIT_IN_SERVICE && strcmp(status, "InService") == 0) {
		ctl_progress_end(&w->progress);
		return WATCH_DONE;
	}
	if (strcmp(status, "Failed") == 0) {
		const char *reason = ctl_str(desc, "FailureReason");
		_cleanup_free_ char *shown_name = text_escape(w->name);
		_cleanup_free_ char *shown =
		    text_escape(reason && *reason ? reason : "(no FailureReason given)");
		ctl_progress_end(&w->progress);
		fprintf(stderr, "endpointctl: %s: Failed: %s\n", shown_name, shown);
		return WATCH_FAILED;
	}
	return WATCH_AGAIN;
}

/* Says what the endpoint still is when the time runs out. */
static void ctl_wait_timed_out(void *data, const json_t *desc, double timeout_s)
{
	struct ctl_wait *w = data;
	const char *status = ctl_str(desc, "EndpointStatus");
	_cleanup_free_ char *shown_name = text_escape(w->name);
	_cleanup_free_ char *shown = text_escape(status ? status : "?");

	ctl_progress_end(&w->progress);
	fprintf(stderr, "endpointctl: %s: timed out after %g s waiting for %s (it is %s)\n",
	        shown_name, timeout_s, w->target == CTL_WAIT_IN_SERVICE ? "InService" : "Deleted",
	        shown);
}

/* Ends the progress line before the wait's own message. */
static void ctl_wait_stop(void *data)
{
	struct ctl_wait *w = data;
	ctl_progress_end(&w->progress);
}

/* Fast at first, when containers start, slower after. */
static double ctl_wait_interval(double elapsed)
{
	return elapsed < CTL_WAIT_FAST_FOR_S ? CTL_WAIT_FAST_POLL_S : CTL_WAIT_SLOW_POLL_S;
}

/*
 * Polls DescribeEndpoint until the endpoint is InService (or gone, for
 * CTL_WAIT_DELETED).  Returns the exit code; *ret_desc (may be NULL) gets the
 * last description when it ends InService.
 */
static int ctl_wait(struct ctl *ctl, const char *name, enum ctl_wait_for target, double timeout_s,
                    json_t **ret_desc)
{
	struct ctl_wait w = {
	    .name = name,
	    .target = target,
	    .progress = {.name = name, .live = isatty(STDERR_FILENO)},
	};
	const struct watch watch = {
	    .seen = ctl_wait_seen,
	    .gone_is_answer = target == CTL_WAIT_DELETED,
	    .timed_out = ctl_wait_timed_out,
	    .stop = ctl_wait_stop,
	    .interval = ctl_wait_interval,
	    .data = &w,
	};
	return watch_endpoint(ctl, name, timeout_s, &watch, ret_desc);
}

/* Reads --for's value. */
static int ctl_parse_wait_for(const struct ctl *ctl, const char *s, enum ctl_wait_for *ret)
{
	if (strcasecmp(s, "InService") == 0)
		*ret = CTL_WAIT_IN_SERVICE;
	else if (strcasecmp(s, "Deleted") == 0)
		*ret = CTL_WAIT_DELETED;
	else
		return ctl_usage_error(ctl, "--for takes InService or Deleted, not \"%s\"", s);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Commands                                                                  */

/* create NAME --config CONFIG [--tag K=V]... [--wait] [--timeout S] */
static int ctl_cmd_create(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    CTL_COMMON_LONG,
	    {"config", required_argument, NULL, 'c'},
	    {"tag", required_argument, NULL, 't'},
	    {"wait", no_argument, NULL, 'w'},
	    {"timeout", required_argument, NULL, 'T'},
	    {0},
	};
	const char *config = NULL;
	bool wait = false;
	double timeout_s = CTL_WAIT_DEFAULT_TIMEOUT_S;
	int c, ex = CTL_EXIT_OK;
	json_t *tags = json_array();
	json_t *params = NULL, *answer = NULL;

	while ((c = ctl_next_option(ctl, argc, argv, CTL_COMMON_SHORT "c:t:w", opts, &ex)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 't': {
			const char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg) {
				ex = ctl_usage_error(ctl, "--tag takes KEY=VALUE, not \"%s\"",
				                     optarg);
				goto out;
			}
			json_array_append_new(tags,
			                      json_pack("{s:s%, s:s}", "Key", optarg,
			                                (size_t)(eq - optarg), "Value", eq + 1));
			break;
		}
		case 'w':
			wait = true;
			break;
		case 'T':
			if (ctl_parse_seconds(ctl, optarg, &timeout_s) != 0) {
				ex = CTL_EXIT_USAGE;
				goto out;
			}
			break;
		default:
			goto out;
		}
	}
	if ((ex = ctl_want_operands(ctl, argc, argv, 1, 1)) != 0)
		goto out;
	if (!config) {
		ex = ctl_usage_error(ctl, "create: --config CONFIG is required");
		goto out;
	}
	if (!ctl_client(ctl, &ex))
		goto out;

	const char *name = argv[optind];
	params = json_pack("{s:s, s:s}", "EndpointName", name, "EndpointConfigName", config);
	if (json_array_size(tags) > 0)
		json_object_set(params, "Tags", tags);
	answer = ctl_call(ctl, "CreateEndpoint", params);
	if (!answer) {
		ex = CTL_EXIT_FAILURE;
		goto out;
	}
	if (ctl->output == CTL_OUTPUT_TABLE) {
		_cleanup_free_ char *arn = text_escape(
		    ctl_str(answer, "EndpointArn") ? ctl_str(answer, "EndpointArn") : name);
		printf("%s\n", arn);
		fflush(stdout);
	} else if (!wait) {
		ctl_print_json(answer);
	}
	if (wait) {
		json_t *desc = NULL;
		ex = ctl_wait(ctl, name, CTL_WAIT_IN_SERVICE, timeout_s, &desc);
		if (ex == CTL_EXIT_OK && ctl->output == CTL_OUTPUT_JSON)
			ctl_print_json(desc);
		json_decref(desc);
	}
out:
	json_decref(answer);
	json_decref(params);
	json_decref(tags);
	return ex;
}

/* describe NAME */
static int ctl_cmd_describe(struct ctl *ctl, int argc, char **argv)
{
	int ex = CTL_EXIT_OK;
	char t1[64], t2[64];

	if (!ctl_common_options_only(ctl, argc, argv, &ex))
		return ex;
	if ((ex = ctl_want_operands(ctl, argc, argv, 1, 1)) != 0)
		return ex;
	if (!ctl_client(ctl, &ex))
		return ex;

	json_t *params = json_pack("{s:s}", "EndpointName", argv[optind]);
	json_t *d = ctl_call(ctl, "DescribeEndpoint", params);
	json_decref(params);
	if (!d)
		return CTL_EXIT_FAILURE;
	if (ctl->output == CTL_OUTPUT_JSON) {
		ctl_print_json(d);
		json_decref(d);
		return CTL_EXIT_OK;
	}

	static const char *const keys[] = {
	    "EndpointName",  "EndpointArn",  "EndpointConfigName", "EndpointStatus",
	    "FailureReason", "CreationTime", "LastModifiedTime",
	};
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		const json_t *v = json_object_get(d, keys[i]);
		const char *shown;
		if (!v)
			continue;
		if (strcmp(keys[i], "CreationTime") == 0)
			shown = ctl_time(v, t1, sizeof(t1));
		else if (strcmp(keys[i], "LastModifiedTime") == 0)
			shown = ctl_time(v, t2, sizeof(t2));
		else
			shown = json_string_value(v) ? json_string_value(v) : "-";
		_cleanup_free_ char *safe = text_escape(shown);
		printf("%s:%*s%s\n", keys[i],
		       (int)(strlen("EndpointConfigName") - strlen(keys[i]) + 2), "", safe);
	}

	const json_t *pvs = json_object_get(d, "ProductionVariants");
	if (json_is_array(pvs) && json_array_size(pvs) > 0) {
		struct table *t = TABLE_NEW("VARIANT", "INSTANCES", "WEIGHT", "IMAGE", "RESOLVED");
		size_t i, j;
		const json_t *pv, *img;
		json_array_foreach(pvs, i, pv)
		{
			char instances[64], weight[64];
			struct buf images = {0}, resolved = {0};
			long long cur = ctl_int(pv, "CurrentInstanceCount");
			long long want = ctl_int(pv, "DesiredInstanceCount");
			if (cur >= 0 && want >= 0)
				snprintf(instances, sizeof(instances), "%lld/%lld", cur, want);
			else if (cur >= 0)
				snprintf(instances, sizeof(instances), "%lld", cur);
			else
				snprintf(instances, sizeof(instances), "-");
			double cw = json_number_value(json_object_get(pv, "CurrentWeight"));
			double dw = json_number_value(json_object_get(pv, "DesiredWeight"));
			if (json_object_get(pv, "DesiredWeight") && dw != cw)
				snprintf(weight, sizeof(weight), "%g->%g", cw, dw);
			else
				snprintf(weight, sizeof(weight), "%g", cw);
			json_array_foreach(json_object_get(pv, "DeployedImages"), j, img)
			{
				const char *s = ctl_str(img, "SpecifiedImage");
				const char *r = ctl_str(img, "ResolvedImage");
				buf_printf(&images, "%s%s", j ? ", " : "", s ? s : "-");
				buf_printf(&resolved, "%s%s", j ? ", " : "", r ? r : "-");
			}
			_cleanup_free_ char *is = buf_steal(&images), *rs = buf_steal(&resolved);
			TABLE_ROW(t, ctl_str(pv, "VariantName"), instances, weight, *is ? is : NULL,
			          *rs ? rs : NULL);
		}
		printf("ProductionVariants:\n");
		table_print(t, stdout, 2);
		table_free(t);
	}
	json_decref(d);
	return CTL_EXIT_OK;
}

/* What one of the listing commands lists. */
struct ctl_listing {
	const char *op;       /* ListEndpoints */
	const char *key;      /* Endpoints */
	const char *name_key; /* EndpointName */
	bool endpoints;       /* --status, and STATUS and MODIFIED columns */
};

/*
 * list / configs / models: [--status S] (list only) [--name-contains X]
 * [--sort-by F] [--sort-order O] [--page-size N], every page of them.
 */
static int ctl_list(struct ctl *ctl, int argc, char **argv, const struct ctl_listing *what)
{
	static const struct option opts[] = {
	    CTL_COMMON_LONG,
	    {"status", required_argument, NULL, 's'},
	    {"name-contains", required_argument, NULL, 'n'},
	    {"sort-by", required_argument, NULL, 'S'},
	    {"sort-order", required_argument, NULL, 'O'},
	    {"page-size", required_argument, NULL, 'P'},
	    {0},
	};
	/* Without a status to filter on, --status is an unknown option. */
	const struct option *o = opts;
	static struct option no_status[ELEMENTSOF(opts)];
	if (!what->endpoints) {
		size_t k = 0;
		for (size_t i = 0; i < ELEMENTSOF(opts); i++)
			if (!opts[i].name || strcmp(opts[i].name, "status") != 0)
				no_status[k++] = opts[i];
		o = no_status;
	}
	int c, ex = CTL_EXIT_OK, page_size = 100;
	json_t *params = json_object();

	while ((c = ctl_next_option(ctl, argc, argv,
	                            what->endpoints ? CTL_COMMON_SHORT "s:n:" : CTL_COMMON_SHORT "n:",
	                            o, &ex)) != -1) {
		switch (c) {
		case 's':
			json_object_set_new(params, "StatusEquals", json_string(optarg));
			break;
		case 'n':
			json_object_set_new(params, "NameContains", json_string(optarg));
			break;
		case 'S':
			json_object_set_new(params, "SortBy", json_string(optarg));
			break;
		case 'O':
			json_object_set_new(params, "SortOrder", json_string(optarg));
			break;
		case 'P':
			if (ctl_parse_page_size(ctl, optarg, &page_size) != 0) {
				ex = CTL_EXIT_USAGE;
				goto out;
			}
			break;
		default:
			goto out;
		}
	}
	if ((ex = ctl_want_operands(ctl, argc, argv, 0, 0)) != 0)
		goto out;
	if (!ctl_client(ctl, &ex))
		goto out;
	json_object_set_new(params, "MaxResults", json_integer(page_size));

	json_t *all = ctl_list_all(ctl, what->op, what->key, params);
	if (!all) {
		ex = CTL_EXIT_FAILURE;
		goto out;
	}
	if (ctl->output == CTL_OUTPUT_JSON) {
		ctl_print_json(all);
	} else {
		struct table *t = what->endpoints ? TABLE_NEW("NAME", "STATUS", "CREATED", "MODIFIED")
		                                  : TABLE_NEW("NAME", "CREATED");
		size_t i;
		const json_t *e;
		json_array_foreach(json_object_get(all, what->key), i, e)
		{
			char t1[64], t2[64];
			const char *created = ctl_time(json_object_get(e, "CreationTime"), t1, sizeof(t1));
			if (what->endpoints)
				TABLE_ROW(t, ctl_str(e, what->name_key), ctl_str(e, "EndpointStatus"),
				          created,
				          ctl_time(json_object_get(e, "LastModifiedTime"), t2, sizeof(t2)));
			else
				TABLE_ROW(t, ctl_str(e, what->name_key), created);
		}
		table_print(t, stdout, 0);
		table_free(t);
	}
	json_decref(all);
out:
	json_decref(params);
	return ex;
}

/* list */
static int ctl_cmd_list(struct ctl *ctl, int argc, char **argv)
{
	static const struct ctl_listing what = {"ListEndpoints", "Endpoints", "EndpointName", true};
	return ctl_list(ctl, argc, argv, &what);
}

/* configs */
static int ctl_cmd_configs(struct ctl *ctl, int argc, char **argv)
{
	static const struct ctl_listing what = {"ListEndpointConfigs", "EndpointConfigs",
	                                        "EndpointConfigName", false};
	return ctl_list(ctl, argc, argv, &what);
}

/* models */
static int ctl_cmd_models(struct ctl *ctl, int argc, char **argv)
{
	static const struct ctl_listing what = {"ListModels", "Models", "ModelName", false};
	return ctl_list(ctl, argc, argv, &what);
}

/* tags NAME-or-ARN */
static int ctl_cmd_tags(struct ctl *ctl, int argc, char **argv)
{
	int ex = CTL_EXIT_OK;
	_cleanup_free_ char *arn = NULL;

	if (!ctl_common_options_only(ctl, argc, argv, &ex))
		return ex;
	if ((ex = ctl_want_operands(ctl, argc, argv, 1, 1)) != 0)
		return ex;
	if (!ctl_client(ctl, &ex))
		return ex;

	const char *what = argv[optind];
	if (str_has_prefix(what, "arn:")) {
		arn = xstrdup(what);
	} else {
		/* A name is an endpoint's; its ARN says the daemon's region and account. */
		json_t *params = json_pack("{s:s}", "EndpointName", what);
		json_t *d = ctl_call(ctl, "DescribeEndpoint", params);
		json_decref(params);
		if (!d)
			return CTL_EXIT_FAILURE;
		arn = xstrdup(ctl_str(d, "EndpointArn") ? ctl_str(d, "EndpointArn") : "");
		json_decref(d);
	}

	json_t *params = json_pack("{s:s}", "ResourceArn", arn);
	json_t *all = ctl_list_all(ctl, "ListTags", "Tags", params);
	json_decref(params);
	if (!all)
		return CTL_EXIT_FAILURE;
	if (ctl->output == CTL_OUTPUT_JSON) {
		ctl_print_json(all);
	} else {
		struct table *t = TABLE_NEW("KEY", "VALUE");
		size_t i;
		const json_t *tag;
		json_array_foreach(json_object_get(all, "Tags"), i, tag)
		{
			TABLE_ROW(t, ctl_str(tag, "Key"), ctl_str(tag, "Value"));
		}
		table_print(t, stdout, 0);
		table_free(t);
	}
	json_decref(all);
	return CTL_EXIT_OK;
}

/* delete NAME [--wait] [--timeout S] */
static int ctl_cmd_delete(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    CTL_COMMON_LONG,
	    {"wait", no_argument, NULL, 'w'},
	    {"timeout", required_argument, NULL, 'T'},
	    {0},
	};
	bool wait = false;
	double timeout_s = CTL_WAIT_DEFAULT_TIMEOUT_S;
	int c, ex = CTL_EXIT_OK;

	while ((c = ctl_next_option(ctl, argc, argv, CTL_COMMON_SHORT "w", opts, &ex)) != -1) {
		switch (c) {
		case 'w':
			wait = true;
			break;
		case 'T':
			if (ctl_parse_seconds(ctl, optarg, &timeout_s) != 0)
				return CTL_EXIT_USAGE;
			break;
		default:
			return ex;
		}
	}
	if ((ex = ctl_want_operands(ctl, argc, argv, 1, 1)) != 0)
		return ex;
	if (!ctl_client(ctl, &ex))
		return ex;

	const char *name = argv[optind];
	json_t *params = json_pack("{s:s}", "EndpointName", name);
	json_t *answer = ctl_call(ctl, "DeleteEndpoint", params);
	json_decref(params);
	if (!answer)
		return CTL_EXIT_FAILURE;
	if (ctl->output == CTL_OUTPUT_JSON)
		ctl_print_json(answer);
	fflush(stdout);
	json_decref(answer);
	if (wait)
		return ctl_wait(ctl, name, CTL_WAIT_DELETED, timeout_s, NULL);
	return CTL_EXIT_OK;
}

/* wait NAME [--for InService|Deleted] [--timeout S] */
static int ctl_cmd_wait(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    CTL_COMMON_LONG,
	    {"for", required_argument, NULL, 'f'},
	    {"timeout", required_argument, NULL, 'T'},
	    {0},
	};
	enum ctl_wait_for target = CTL_WAIT_IN_SERVICE;
	double timeout_s = CTL_WAIT_DEFAULT_TIMEOUT_S;
	int c, ex = CTL_EXIT_OK;

	while ((c = ctl_next_option(ctl, argc, argv, CTL_COMMON_SHORT, opts, &ex)) != -1) {
		switch (c) {
		case 'f':
			if (ctl_parse_wait_for(ctl, optarg, &target) != 0)
				return CTL_EXIT_USAGE;
			break;
		case 'T':
			if (ctl_parse_seconds(ctl, optarg, &timeout_s) != 0)
				return CTL_EXIT_USAGE;
			break;
		default:
			return ex;
		}
	}
	if ((ex = ctl_want_operands(ctl, argc, argv, 1, 1)) != 0)
		return ex;
	if (!ctl_client(ctl, &ex))
		return ex;

	json_t *desc = NULL;
	ex = ctl_wait(ctl, argv[optind], target, timeout_s, &desc);
	if (ex == CTL_EXIT_OK && desc && ctl->output == CTL_OUTPUT_JSON)
		ctl_print_json(desc);
	json_decref(desc);
	return ex;
}

/* Reads all of stdin, at most max bytes (then one more, to show it is more). */
int ctl_read_stdin(struct buf *b, size_t max)
{
	char chunk[65536];
	b->max = max + 1;
	for (;;) {
		ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		size_t room = b->max - b->len;
		if ((size_t)n >= room) {
			(void)buf_append(b, chunk, room);
			return 0;
		}
		(void)buf_append(b, chunk, (size_t)n);
	}
}

/* invoke NAME [--content-type T] [--accept A] [--variant V] [--custom-attributes X] */
static int ctl_cmd_invoke(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    CTL_COMMON_LONG,
	    {"content-type", required_argument, NULL, 'c'},
	    {"accept", required_argument, NULL, 'a'},
	    {"variant", required_argument, NULL, 'V'},
	    {"custom-attributes", required_argument, NULL, 'C'},
	    {0},
	};
	struct client_invoke req = {.content_type = "application/octet-stream", .out = stdout};
	struct client_invoke_result result = {0};
	struct client_error err = {0};
	struct buf body = {0};
	int c, ex = CTL_EXIT_OK;

	while ((c = ctl_next_option(ctl, argc, argv, CTL_COMMON_SHORT "c:a:", opts, &ex)) != -1) {
		switch (c) {
		case 'c':
			req.content_type = optarg;
			break;
		case 'a':
			req.accept = optarg;
			break;
		case 'V':
			req.target_variant = optarg;
			break;
		case 'C':
			req.custom_attributes = optarg;
			break;
		default:
			return ex;
		}
	}
	if ((ex = ctl_want_operands(ctl, argc, argv, 1, 1)) != 0)
		return ex;
	if (!ctl_client(ctl, &ex))
		return ex;

	int r = ctl_read_stdin(&body, CTL_MAX_INVOKE_BODY);
	if (r < 0) {
		fprintf(stderr, "endpointctl: reading the request body from stdin: %s\n",
		        strerror(-r));
		buf_reset(&body);
		return CTL_EXIT_FAILURE;
	}
	req.endpoint = argv[optind];
	req.body = body.data;
	req.len = body.len;
	if (client_invoke(ctl->client, &req, &result, &err) < 0) {
		fflush(stdout);
		client_error_print(&err);
		client_error_clear(&err);
		buf_reset(&body);
		return CTL_EXIT_FAILURE;
	}
	buf_reset(&body);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "endpointctl: writing the answer: %s\n", strerror(errno));
		client_invoke_result_clear(&result);
		return CTL_EXIT_FAILURE;
	}
	if (ctl->verbose) {
		_cleanup_free_ char *variant = text_escape(result.invoked_variant);
		_cleanup_free_ char *type = text_escape(result.content_type);
		_cleanup_free_ char *attrs = text_escape(result.custom_attributes);
		fprintf(stderr, "InvokedProductionVariant: %s\n", variant ? variant : "-");
		fprintf(stderr, "ContentType: %s\n", type ? type : "-");
		if (attrs)
			fprintf(stderr, "CustomAttributes: %s\n", attrs);
	}
	client_invoke_result_clear(&result);
	return CTL_EXIT_OK;
}

/* metrics */
static int ctl_cmd_metrics(struct ctl *ctl, int argc, char **argv)
{
	struct client_error err = {0};
	int ex = CTL_EXIT_OK;

	if (!ctl_common_options_only(ctl, argc, argv, &ex))
		return ex;
	if ((ex = ctl_want_operands(ctl, argc, argv, 0, 0)) != 0)
		return ex;
	if (!ctl_client(ctl, &ex))
		return ex;
	if (client_get(ctl->client, "/metrics", stdout, &err) < 0) {
		fflush(stdout);
		client_error_print(&err);
		client_error_clear(&err);
		return CTL_EXIT_FAILURE;
	}
	return CTL_EXIT_OK;
}

/* check-config FILE... (offline) */
static int ctl_cmd_check_config(struct ctl *ctl, int argc, char **argv)
{
	int ex = CTL_EXIT_OK;

	if (!ctl_common_options_only(ctl, argc, argv, &ex))
		return ex;
	if ((ex = ctl_want_operands(ctl, argc, argv, 1, -1)) != 0)
		return ex;

	json_t *files = json_array();
	for (int i = optind; i < argc; i++) {
		struct config *config = NULL;
		_cleanup_free_ char *error = NULL;
		if (config_load(argv[i], &config, &error) < 0) {
			ex = CTL_EXIT_FAILURE;
			if (ctl->output == CTL_OUTPUT_JSON) {
				json_array_append_new(files, json_pack("{s:s, s:b, s:s}", "File",
				                                       argv[i], "Valid", 0, "Error",
				                                       error ? error : "invalid"));
			} else {
				_cleanup_free_ char *shown = text_escape(error ? error : "invalid");
				fprintf(stderr, "%s\n", shown);
			}
			continue;
		}
		if (ctl->output == CTL_OUTPUT_JSON) {
			json_array_append_new(
			    files,
			    json_pack("{s:s, s:b, s:I, s:I}", "File", argv[i], "Valid", 1, "Models",
			              (json_int_t)config->n_models, "EndpointConfigs",
			              (json_int_t)config->n_endpoint_configs));
		} else {
			_cleanup_free_ char *file = text_escape(argv[i]);
			printf("%s: OK (%zu models, %zu endpoint configs)\n", file,
			       config->n_models, config->n_endpoint_configs);
		}
		config_unref(config);
	}
	if (ctl->output == CTL_OUTPUT_JSON) {
		json_t *out = json_pack("{s:o}", "Files", files);
		ctl_print_json(out);
		json_decref(out);
	} else {
		json_decref(files);
	}
	return ex;
}

/* help [COMMAND] */
static int ctl_cmd_help(struct ctl *ctl, int argc, char **argv)
{
	int ex = CTL_EXIT_OK;

	if (!ctl_common_options_only(ctl, argc, argv, &ex))
		return ex;
	if ((ex = ctl_want_operands(ctl, argc, argv, 0, 1)) != 0)
		return ex;
	if (optind == argc) {
		ctl_usage(stdout);
		return CTL_EXIT_OK;
	}
	const struct ctl_command *cmd = ctl_find_command(argv[optind]);
	if (!cmd)
		return ctl_usage_error(ctl, "help: unknown command \"%s\"", argv[optind]);
	ctl_command_help(cmd, stdout);
	return CTL_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* The command table and main()                                             */

static const struct ctl_command ctl_commands[] = {
    {"create", "NAME --config CONFIG [--tag KEY=VALUE]... [--wait] [--timeout S]",
     "create an endpoint from an endpoint config",
     "Create an endpoint from an endpoint config (CreateEndpoint) and print its ARN.",
     "  -c, --config CONFIG    the endpoint config (EndpointConfigName); required\n"
     "  -t, --tag KEY=VALUE    a tag; repeat for more\n"
     "  -w, --wait             wait until it is InService (as the wait command does)\n"
     "      --timeout S        give up waiting after S seconds (default 1800)\n",
     ctl_cmd_create},
    {"update",
     "NAME --config CONFIG [--canary N|N%|--linear N|N%|--rolling N|N%] [--wait-interval S] "
     "[--termination-wait S] [--max-execution S] [--rollback-batch N|N%] [--alarm NAME]... "
     "[--retain [--exclude PROPERTY]...] [--retain-deployment-config] [--wait] [--timeout S]",
     "move an endpoint to another endpoint config",
     "Move an endpoint to another endpoint config (UpdateEndpoint) and print its ARN.\n"
     "The new fleet starts beside the old one, which serves until the new one is healthy;\n"
     "traffic then shifts all at once (the default), as a canary then the rest\n"
     "(--canary), in linear steps (--linear), or the fleet is replaced in batches\n"
     "(--rolling).  A size is N instances or N% of the new fleet.  With --wait, a line\n"
     "on stderr for each change of the status or of the new fleet's variant statuses;\n"
     "exits 1 if the update rolled back or failed (printing the FailureReason).",
     "  -c, --config CONFIG         the new endpoint config (EndpointConfigName); required\n"
     "      --canary SIZE           blue/green, a canary of SIZE first (CanarySize)\n"
     "      --linear SIZE           blue/green, SIZE more at each step (LinearStepSize)\n"
     "      --rolling SIZE          rolling, batches of SIZE (MaximumBatchSize)\n"
     "      --wait-interval S       bake S seconds after each step (default 0)\n"
     "      --termination-wait S    keep the old fleet S seconds after the last step\n"
     "      --max-execution S       roll back if not done in S seconds (600-28800)\n"
     "      --rollback-batch SIZE   with --rolling, roll back in batches of SIZE\n"
     "      --alarm NAME            roll back when this alarm fires; repeat for more\n"
     "      --retain                keep the serving variants' instance counts and weights\n"
     "                              (RetainAllVariantProperties)\n"
     "      --exclude PROPERTY      with --retain, take PROPERTY from the new config:\n"
     "                              DesiredInstanceCount, DesiredWeight; repeat for more\n"
     "      --retain-deployment-config  without deployment options, the last update's\n"
     "  -w, --wait                  follow the update until it ends\n"
     "      --timeout S             give up waiting after S seconds (default 1800)\n",
     update_cmd_update},
    {"update-weights", "NAME VARIANT[=WEIGHT][:COUNT]... [--wait] [--timeout S]",
     "change the weights and instance counts of an endpoint's variants",
     "Change the weights and instance counts of an endpoint's variants\n"
     "(UpdateEndpointWeightsAndCapacities) and print its ARN: VARIANT=WEIGHT sets a\n"
     "weight, VARIANT:COUNT an instance count, VARIANT=WEIGHT:COUNT both.  Weights apply\n"
     "at once; new instances start, and spare ones stop, while the endpoint is Updating.",
     "  -w, --wait             follow the change until it ends, as update --wait does\n"
     "      --timeout S        give up waiting after S seconds (default 1800)\n",
     update_cmd_update_weights},
    {"describe", "NAME", "show an endpoint and its variants",
     "Show an endpoint (DescribeEndpoint) and its production variants.", "", ctl_cmd_describe},
    {"list", "[--status STATUS] [--name-contains TEXT]", "list the endpoints",
     "List the endpoints (ListEndpoints, every page), newest first.",
     "  -s, --status STATUS       only endpoints in STATUS (InService, Creating, Failed, ...)\n"
     "  -n, --name-contains TEXT  only endpoints whose name contains TEXT (any case)\n"
     "      --sort-by FIELD       Name, CreationTime (default) or Status\n"
     "      --sort-order ORDER    Ascending or Descending (default)\n"
     "      --page-size N         endpoints asked for per call, 1-100 (default 100)\n",
     ctl_cmd_list},
    {"delete", "NAME [--wait] [--timeout S]", "delete an endpoint",
     "Delete an endpoint (DeleteEndpoint); its containers are stopped and removed.",
     "  -w, --wait             wait until it is gone\n"
     "      --timeout S        give up waiting after S seconds (default 1800)\n",
     ctl_cmd_delete},
    {"wait", "NAME [--for InService|Deleted] [--timeout S]",
     "wait until an endpoint is InService or deleted",
     "Wait until an endpoint is InService (or Deleted), showing its progress on stderr.\n"
     "Exits 1 if it ends Failed (printing its FailureReason) or the time runs out.",
     "      --for STATE        InService (default) or Deleted\n"
     "      --timeout S        give up after S seconds (default 1800)\n",
     ctl_cmd_wait},
    {"invoke",
     "NAME [--content-type TYPE] [--accept TYPE] [--variant VARIANT] "
     "[--custom-attributes TEXT]",
     "send stdin to an endpoint, its answer to stdout",
     "Send standard input to an endpoint (InvokeEndpoint) and write the model's answer,\n"
     "as it is, to standard output.  With -v, the variant that answered goes to stderr.",
     "  -c, --content-type TYPE     the body's Content-Type (default "
     "application/octet-stream)\n"
     "  -a, --accept TYPE           the Accept header\n"
     "      --variant VARIANT       invoke this production variant (TargetVariant)\n"
     "      --custom-attributes X   X-Amzn-SageMaker-Custom-Attributes\n",
     ctl_cmd_invoke},
    {"configs", "[--name-contains TEXT]", "list the endpoint configs",
     "List the endpoint configs (ListEndpointConfigs, every page).",
     "  -n, --name-contains TEXT  only configs whose name contains TEXT\n"
     "      --sort-by FIELD       Name or CreationTime (default)\n"
     "      --sort-order ORDER    Ascending or Descending (default)\n"
     "      --page-size N         configs asked for per call, 1-100 (default 100)\n",
     ctl_cmd_configs},
    {"models", "[--name-contains TEXT]", "list the models",
     "List the models (ListModels, every page).",
     "  -n, --name-contains TEXT  only models whose name contains TEXT\n"
     "      --sort-by FIELD       Name or CreationTime (default)\n"
     "      --sort-order ORDER    Ascending or Descending (default)\n"
     "      --page-size N         models asked for per call, 1-100 (default 100)\n",
     ctl_cmd_models},
    {"create-model", "FILE [--name NAME]", "create a model from a YAML or JSON file",
     "Create a model (CreateModel) from FILE, or standard input for -, and print its ARN.\n"
     "FILE holds the request in the API's own shape, in YAML or JSON: ModelName,\n"
     "PrimaryContainer (Image, Environment, ModelDataUrl), ExecutionRoleArn, Tags.\n"
     "A plain number, true or false is sent as one only for members the API types so\n"
     "(EnableNetworkIsolation); every other value, and any quoted one, is a string.",
     "  -n, --name NAME        the ModelName, instead of the file's\n", resources_cmd_create_model},
    {"create-config", "FILE [--name NAME]", "create an endpoint config from a YAML or JSON file",
     "Create an endpoint config (CreateEndpointConfig) from FILE, or standard input for -,\n"
     "and print its ARN.  FILE holds the request in the API's own shape, in YAML or JSON:\n"
     "EndpointConfigName, ProductionVariants (VariantName, ModelName, InstanceType,\n"
     "InitialInstanceCount, InitialVariantWeight, ...), Tags.  A plain number, true or\n"
     "false is sent as one only for members the API types so (InitialInstanceCount,\n"
     "InitialVariantWeight, VolumeSizeInGB, the *InSeconds timeouts, EnableSSMAccess);\n"
     "every other value, and any quoted one, is a string.",
     "  -n, --name NAME        the EndpointConfigName, instead of the file's\n",
     resources_cmd_create_config},
    {"delete-model", "NAME", "delete a model created through the API",
     "Delete a model (DeleteModel).  Endpoints running it keep running; models declared\n"
     "in the daemon's YAML can only be removed from there.",
     "", resources_cmd_delete_model},
    {"delete-config", "NAME", "delete an endpoint config created through the API",
     "Delete an endpoint config (DeleteEndpointConfig).  Endpoints made from it keep\n"
     "running; configs declared in the daemon's YAML can only be removed from there.",
     "", resources_cmd_delete_config},
    {"tags", "NAME|ARN", "list the tags of an endpoint, config or model",
     "List the tags of an endpoint (by name or ARN), an endpoint config or a model (by ARN).", "",
     ctl_cmd_tags},
    {"check-config", "FILE...", "validate daemon config files offline",
     "Validate daemon config files offline with endpointd's own loader (includes too).\n"
     "Prints FILE: OK (N models, M endpoint configs), or file:line:column: what is wrong\n"
     "on stderr; exits 1 if any file is bad.",
     "", ctl_cmd_check_config},
    {"metrics", "", "print the daemon's metrics",
     "Print the daemon's metrics (GET /metrics, Prometheus text format).", "", ctl_cmd_metrics},
    {"help", "[COMMAND]", "show the usage of endpointctl or of a command",
     "Show the usage of endpointctl or of one command.", "", ctl_cmd_help},
};

/* The command called name, or NULL. */
static const struct ctl_command *ctl_find_command(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(ctl_commands); i++)
		if (strcmp(ctl_commands[i].name, name) == 0)
			return &ctl_commands[i];
	return NULL;
}

/* The overall usage text. */
static void ctl_usage(FILE *f)
{
	fputs("Usage: endpointctl [--url URL] [--profile NAME] [--region REGION] "
	      "[--ca-bundle FILE]\n"
	      "                   [-o table|json] [-v] COMMAND [ARG]...\n"
	      "\n"
	      "Manage the endpoints of endpointd, the SageMaker hosting API on this host.\n"
	      "\n"
	      "Commands:\n",
	      f);
	for (size_t i = 0; i < ELEMENTSOF(ctl_commands); i++) {
		const struct ctl_command *cmd = &ctl_commands[i];
		fprintf(f, "  %-15s %s\n", cmd->name, cmd->brief);
	}
	fputs("\n"
	      "Options:\n"
	      "      --url URL        endpointd's address: http://HOST:PORT, https://HOST:PORT\n"
	      "                       or unix:/PATH (default $ENDPOINTD_URL, then\n"
	      "                       " CTL_DEFAULT_URL ")\n"
	      "      --profile NAME   sign with the keys of this profile of ~/.aws/credentials\n"
	      "                       or ~/.aws/config (default $AWS_PROFILE, then default)\n"
	      "      --region REGION  the region requests are signed for (default $AWS_REGION,\n"
	      "                       $AWS_DEFAULT_REGION, the profile's, then us-east-1)\n"
	      "      --ca-bundle FILE the CAs that https:// certificates must chain to\n"
	      "                       (default $AWS_CA_BUNDLE, the profile's, the system's)\n"
	      "  -o, --output FORMAT  table (default) or json (the API's JSON)\n"
	      "  -v, --verbose        say more (invoke: the variant that answered)\n"
	      "  -h, --help           this text; COMMAND --help for one command's\n"
	      "      --version        print the version\n"
	      "\n"
	      "Requests are signed (AWS Signature Version 4) as the AWS CLI signs them:\n"
	      "with the keys of --profile; else $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY\n"
	      "and $AWS_SESSION_TOKEN; else those of $AWS_PROFILE (or default) in\n"
	      "$AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials), then $AWS_CONFIG_FILE\n"
	      "(~/.aws/config).  Without any, requests go unsigned.\n"
	      "\n"
	      "Exit status: 0 success; 1 an API error, endpointd unreachable, a bad config\n"
	      "or request file, unusable AWS settings or a wait that failed; 2 bad usage.\n",
	      f);
}

/* Entry point. */
int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    CTL_COMMON_LONG,
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	struct ctl ctl = {0};
	int c, ex = CTL_EXIT_OK;

	opterr = 0;
	/* "+": stop at the command; its options are its own. */
	while ((c = getopt_long(argc, argv, "+" CTL_COMMON_SHORT, opts, NULL)) != -1) {
		switch (c) {
		case 'U':
			ctl.url = optarg;
			break;
		case CTL_OPT_PROFILE:
			ctl.profile = optarg;
			break;
		case CTL_OPT_REGION:
			ctl.region = optarg;
			break;
		case CTL_OPT_CA_BUNDLE:
			ctl.ca_bundle = optarg;
			break;
		case 'o':
			if (ctl_parse_output(&ctl, optarg) != 0)
				return CTL_EXIT_USAGE;
			break;
		case 'v':
			ctl.verbose = true;
			break;
		case 'h':
			ctl_usage(stdout);
			return CTL_EXIT_OK;
		case 'V':
			printf("endpointctl %s\n", PACKAGE_VERSION);
			return CTL_EXIT_OK;
		default:
			return ctl_option_error(&ctl, c, argv);
		}
	}
	if (optind >= argc)
		return ctl_usage_error(&ctl, "no command given");
	ctl.command = ctl_find_command(argv[optind]);
	if (!ctl.command) {
		const char *name = argv[optind];
		return ctl_usage_error(&ctl, "unknown command \"%s\"", name);
	}

	log_open("endpointctl", LOG_WARNING, 0);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fputs("endpointctl: libcurl failed to initialise\n", stderr);
		return CTL_EXIT_FAILURE;
	}
	/* The command sees its own name as argv[0]; optind = 0 restarts getopt. */
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	optind = 0;
	ex = ctl.command->run(&ctl, sub_argc, sub_argv);
	client_free(ctl.client);
	curl_global_cleanup();
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "endpointctl: writing to stdout: %s\n", strerror(errno));
		if (ex == CTL_EXIT_OK)
			ex = CTL_EXIT_FAILURE;
	}
	return ex;
}
