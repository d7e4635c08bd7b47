/*
 * update and update-weights: an endpoint moved to a new endpoint config
 * (UpdateEndpoint) or its variants' weights and instance counts changed
 * (UpdateEndpointWeightsAndCapacities), and, with --wait, the rollout
 * followed to its end.
 *
 * update's options become the request's DeploymentConfig by one rule:
 * --rolling makes a RollingUpdatePolicy; any other deployment option
 * (--canary, --linear, --wait-interval, --termination-wait,
 * --max-execution, --alarm) a BlueGreenUpdatePolicy, ALL_AT_ONCE unless
 * --canary or --linear says otherwise; no deployment option, no
 * DeploymentConfig (the daemon's default: blue/green, all at once).  Only
 * the syntax of a value is checked here (a size is N or N%, a time a whole
 * number of seconds); whether it is in range is for the daemon to say, in
 * SageMaker's words.
 *
 * The wait polls DescribeEndpoint every 0.5 s and prints a line on stderr
 * whenever the status or the pending fleet's variant statuses change:
 *
 *   Updating  pending resnet-v2: AllTraffic Creating (Launching 2 instance(s).)
 *
 * It ends when the endpoint leaves Updating, RollingBack and the like: exit
 * 0 when it is InService without a FailureReason, 1 when the update rolled
 * back (InService again, with the FailureReason saying why) or the endpoint
 * ended Failed, or the time ran out.  update-weights does not roll back: it
 * ends well InService whatever FailureReason an earlier update left.
 */
#define _GNU_SOURCE
#include "update.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "ctl.h"
#include "text.h"
#include "util.h"
#include "watch.h"

#define UPDATE_POLL_S 0.5

/* Statuses an update passes through; any other ends the wait. */
static const char *const update_moving[] = {"Creating",    "Updating", "SystemUpdating",
                                            "RollingBack", "Deleting", NULL};

/* A CapacitySize from "N" (INSTANCE_COUNT) or "N%" (CAPACITY_PERCENT); NULL
 * when s is neither. */
static json_t *update_parse_size(const char *s)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || (*end && strcmp(end, "%") != 0) || s[0] == '+' || s[0] == ' ')
		return NULL;
	return json_pack("{s:s, s:I}", "Type", *end ? "CAPACITY_PERCENT" : "INSTANCE_COUNT",
	                 "Value", (json_int_t)v);
}

/* A whole number of seconds; false when s is not one. */
static bool update_parse_int(const char *s, long long *ret)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || s[0] == ' ')
		return false;
	*ret = v;
	return true;
}

/* What update's options asked for. */
struct update_options {
	const char *config;
	bool wait;
	double timeout_s;
	bool retain;
	bool retain_deployment_config;
	const char *step_option; /* --canary, --linear or --rolling, for messages */
	const char *routing;     /* ALL_AT_ONCE, CANARY, LINEAR; NULL with --rolling */
	json_t *step;            /* CapacitySize of that option */
	json_t *rollback;        /* --rollback-batch */
	bool has_wait_interval, has_termination, has_execution;
	long long wait_interval, termination, execution;
	json_t *alarms;   /* [{AlarmName}] */
	json_t *excluded; /* [{VariantPropertyType}] */
};

/* The DeploymentConfig the options make, or NULL for none (see the top). */
static json_t *update_deployment_config(const struct update_options *o)
{
	bool any = o->step || o->rollback || o->has_wait_interval || o->has_termination ||
	           o->has_execution || json_array_size(o->alarms) > 0;
	if (!any)
		return NULL;
	json_t *dc = json_object();
	json_t *policy = json_object();
	if (!o->routing) {
		json_object_set(policy, "MaximumBatchSize", o->step);
		json_object_set_new(policy, "WaitIntervalInSeconds",
		                    json_integer(o->wait_interval));
		if (o->rollback)
			json_object_set(policy, "RollbackMaximumBatchSize", o->rollback);
	} else {
		json_t *routing = json_pack("{s:s, s:I}", "Type", o->routing,
		                            "WaitIntervalInSeconds", (json_int_t)o->wait_interval);
		if (strcmp(o->routing, "CANARY") == 0)
			json_object_set(routing, "CanarySize", o->step);
		else if (strcmp(o->routing, "LINEAR") == 0)
			json_object_set(routing, "LinearStepSize", o->step);
		json_object_set_new(policy, "TrafficRoutingConfiguration", routing);
		if (o->has_termination)
			json_object_set_new(policy, "TerminationWaitInSeconds",
			                    json_integer(o->termination));
	}
	if (o->has_execution)
		json_object_set_new(policy, "MaximumExecutionTimeoutInSeconds",
		                    json_integer(o->execution));
	json_object_set_new(dc, o->routing ? "BlueGreenUpdatePolicy" : "RollingUpdatePolicy",
	                    policy);
	if (json_array_size(o->alarms) > 0)
		json_object_set_new(dc, "AutoRollbackConfiguration",
		                    json_pack("{s:O}", "Alarms", o->alarms));
	return dc;
}

/* Reads one of --canary, --linear, --rolling; a usage error (2) for a
 * second one or a size that is not N or N%. */
static int update_set_step(struct ctl *ctl, struct update_options *o, const char *option,
                           const char *routing, const char *value)
{
	if (o->step_option)
		return ctl_usage_error(ctl,
		                       "%s and %s: give one of --canary, --linear and --rolling",
		                       o->step_option, option);
	o->step = update_parse_size(value);
	if (!o->step)
		return ctl_usage_error(
		    ctl, "%s takes N (instances) or N%% (of the new fleet), not \"%s\"", option,
		    value);
	o->step_option = option;
	o->routing = routing;
	return 0;
}

/* Reads a whole number of seconds of option; a usage error (2) otherwise. */
static int update_set_seconds(struct ctl *ctl, const char *option, const char *value, bool *ret_has,
                              long long *ret)
{
	if (!update_parse_int(value, ret))
		return ctl_usage_error(ctl, "%s takes a whole number of seconds, not \"%s\"",
		                       option, value);
	*ret_has = true;
	return 0;
}

/* "Status  pending CONFIG: VARIANT Status (message), ..." for desc. */
static char *update_progress_line(const json_t *desc)
{
	struct buf b = {0};
	const char *status = ctl_str(desc, "EndpointStatus");
	_cleanup_free_ char *shown = text_escape(status ? status : "?");
	(void)buf_printf(&b, "%s", shown);

	const json_t *pending = json_object_get(desc, "PendingDeploymentSummary");
	if (!json_is_object(pending))
		return buf_steal(&b);
	const char *config = ctl_str(pending, "EndpointConfigName");
	_cleanup_free_ char *config_shown = text_escape(config ? config : "?");
	(void)buf_printf(&b, "  pending %s:", config_shown);
	size_t i, j;
	const json_t *pv, *vs;
	json_array_foreach(json_object_get(pending, "ProductionVariants"), i, pv)
	{
		const char *variant = ctl_str(pv, "VariantName");
		_cleanup_free_ char *variant_shown = text_escape(variant ? variant : "?");
		(void)buf_printf(&b, "%s %s", i ? "," : "", variant_shown);
		const json_t *statuses = json_object_get(pv, "VariantStatus");
		if (json_array_size(statuses) == 0)
			continue;
		json_array_foreach(statuses, j, vs)
		{
			const char *s = ctl_str(vs, "Status");
			const char *msg = ctl_str(vs, "StatusMessage");
			_cleanup_free_ char *s_shown = text_escape(s ? s : "?");
			(void)buf_printf(&b, "%s %s", j ? ";" : "", s_shown);
			if (msg && *msg) {
				_cleanup_free_ char *msg_shown = text_escape(msg);
				(void)buf_printf(&b, " (%s)", msg_shown);
			}
		}
	}
	return buf_steal(&b);
}

/* Whether status is one an update passes through. */
static bool update_is_moving(const char *status)
{
	for (size_t i = 0; update_moving[i]; i++)
		if (strcmp(status, update_moving[i]) == 0)
			return true;
	return false;
}

/* One update's wait: the line last printed. */
struct update_wait {
	char *shown_name;
	bool rollbacks; /* see update_wait */
	char *last;
};

/* Prints the line when it changed; done when the endpoint stops moving. */
static enum watch_verdict update_wait_seen(void *data, const json_t *desc, double elapsed)
{
	struct update_wait *w = data;

	char *line = update_progress_line(desc);
	if (!w->last || strcmp(line, w->last) != 0) {
		fprintf(stderr, "%s\n", line);
		free(w->last);
		w->last = line;
	} else {
		free(line);
	}
	const char *status = ctl_str(desc, "EndpointStatus");
	const char *reason = ctl_str(desc, "FailureReason");
	if (!status || update_is_moving(status))
		return WATCH_AGAIN;
	if (strcmp(status, "InService") == 0 && !(w->rollbacks && reason && *reason))
		return WATCH_DONE;
	_cleanup_free_ char *status_shown = text_escape(status);
	_cleanup_free_ char *reason_shown =
	    text_escape(reason && *reason ? reason : "(no FailureReason given)");
	if (strcmp(status, "InService") == 0)
		fprintf(stderr, "endpointctl: %s: the update rolled back: %s\n", w->shown_name,
		        reason_shown);
	else
		fprintf(stderr, "endpointctl: %s: %s: %s\n", w->shown_name, status_shown,
		        reason_shown);
	return WATCH_FAILED;
}

/* Says that the update had not ended in time. */
static void update_wait_timed_out(void *data, const json_t *desc, double timeout_s)
{
	struct update_wait *w = data;
	fprintf(stderr, "endpointctl: %s: timed out after %g s waiting for the update to end\n",
	        w->shown_name, timeout_s);
}

/* Every UPDATE_POLL_S, from start to end. */
static double update_wait_interval(double elapsed)
{
	return UPDATE_POLL_S;
}

/*
 * Follows the endpoint until its update ends (see the top).  A FailureReason
 * on an InService endpoint means a rollback only after UpdateEndpoint
 * (rollbacks true); after UpdateEndpointWeightsAndCapacities (false) it is
 * an earlier update's, since weights and counts do not roll back.  Returns the exit status; *ret_desc gets the
 * last description when it ends well.
 */
static int update_wait(struct ctl *ctl, const char *name, double timeout_s, bool rollbacks,
                       json_t **ret_desc)
{
	struct update_wait w = {.shown_name = text_escape(name), .rollbacks = rollbacks};
	const struct watch watch = {
	    .seen = update_wait_seen,
	    .timed_out = update_wait_timed_out,
	    .interval = update_wait_interval,
	    .data = &w,
	};
	int res = watch_endpoint(ctl, name, timeout_s, &watch, ret_desc);
	free(w.last);
	free(w.shown_name);
	return res;
}

/* What update and update-weights do once the call is accepted: print the
 * ARN (or the answer), then wait if asked to (rollbacks: see update_wait). */
static int update_answered(struct ctl *ctl, const char *name, json_t *answer, bool wait,
                           double timeout_s, bool rollbacks)
{
	if (ctl->output == CTL_OUTPUT_TABLE) {
		const char *arn = ctl_str(answer, "EndpointArn");
		_cleanup_free_ char *shown = text_escape(arn ? arn : name);
		printf("%s\n", shown);
		fflush(stdout);
	} else if (!wait) {
		ctl_print_json(answer);
	}
	if (!wait)
		return CTL_EXIT_OK;
	json_t *desc = NULL;
	int ex = update_wait(ctl, name, timeout_s, rollbacks, &desc);
	if (ex == CTL_EXIT_OK && ctl->output == CTL_OUTPUT_JSON)
		ctl_print_json(desc);
	json_decref(desc);
	return ex;
}

/* update NAME --config CONFIG [deployment options] [--retain] [--wait] */
int update_cmd_update(struct ctl *ctl, int argc, char **argv)
{
	enum {
		OPT_CANARY = 0x100,
		OPT_LINEAR,
		OPT_ROLLING,
		OPT_WAIT_INTERVAL,
		OPT_TERMINATION_WAIT,
		OPT_MAX_EXECUTION,
		OPT_ROLLBACK_BATCH,
		OPT_ALARM,
		OPT_RETAIN,
		OPT_EXCLUDE,
		OPT_RETAIN_DEPLOYMENT_CONFIG,
		OPT_TIMEOUT,
	};
	static const struct option opts[] = {
	    CTL_COMMON_LONG,
	    {"config", required_argument, NULL, 'c'},
	    {"wait", no_argument, NULL, 'w'},
	    {"timeout", required_argument, NULL, OPT_TIMEOUT},
	    {"canary", required_argument, NULL, OPT_CANARY},
	    {"linear", required_argument, NULL, OPT_LINEAR},
	    {"rolling", required_argument, NULL, OPT_ROLLING},
	    {"wait-interval", required_argument, NULL, OPT_WAIT_INTERVAL},
	    {"termination-wait", required_argument, NULL, OPT_TERMINATION_WAIT},
	    {"max-execution", required_argument, NULL, OPT_MAX_EXECUTION},
	    {"rollback-batch", required_argument, NULL, OPT_ROLLBACK_BATCH},
	    {"alarm", required_argument, NULL, OPT_ALARM},
	    {"retain", no_argument, NULL, OPT_RETAIN},
	    {"exclude", required_argument, NULL, OPT_EXCLUDE},
	    {"retain-deployment-config", no_argument, NULL, OPT_RETAIN_DEPLOYMENT_CONFIG},
	    {0},
	};
	struct update_options o = {
	    .timeout_s = CTL_WAIT_DEFAULT_TIMEOUT_S,
	    .routing = "ALL_AT_ONCE",
	    .alarms = json_array(),
	    .excluded = json_array(),
	};
	json_t *params = NULL, *dc = NULL, *answer = NULL;
	int c, ex = CTL_EXIT_OK;

	while ((c = ctl_next_option(ctl, argc, argv, CTL_COMMON_SHORT "c:w", opts, &ex)) != -1) {
		switch (c) {
		case 'c':
			o.config = optarg;
			break;
		case 'w':
			o.wait = true;
			break;
		case OPT_TIMEOUT:
			if (ctl_parse_seconds(ctl, optarg, &o.timeout_s) != 0) {
				ex = CTL_EXIT_USAGE;
				goto out;
			}
			break;
		case OPT_CANARY:
			ex = update_set_step(ctl, &o, "--canary", "CANARY", optarg);
			break;
		case OPT_LINEAR:
			ex = update_set_step(ctl, &o, "--linear", "LINEAR", optarg);
			break;
		case OPT_ROLLING:
			ex = update_set_step(ctl, &o, "--rolling", NULL, optarg);
			break;
		case OPT_WAIT_INTERVAL:
			ex = update_set_seconds(ctl, "--wait-interval", optarg,
			                        &o.has_wait_interval, &o.wait_interval);
			break;
		case OPT_TERMINATION_WAIT:
			ex = update_set_seconds(ctl, "--termination-wait", optarg,
			                        &o.has_termination, &o.termination);
			break;
		case OPT_MAX_EXECUTION:
			ex = update_set_seconds(ctl, "--max-execution", optarg, &o.has_execution,
			                        &o.execution);
			break;
		case OPT_ROLLBACK_BATCH:
			json_decref(o.rollback);
			o.rollback = update_parse_size(optarg);
			if (!o.rollback)
				ex = ctl_usage_error(
				    ctl,
				    "--rollback-batch takes N (instances) or N%% (of the "
				    "fleet), not \"%s\"",
				    optarg);
			break;
		case OPT_ALARM: {
			json_t *alarm = json_pack("{s:s}", "AlarmName", optarg);
			if (!alarm)
				ex = ctl_usage_error(ctl, "--alarm: the name is not UTF-8 text");
			else
				json_array_append_new(o.alarms, alarm);
			break;
		}
		case OPT_RETAIN:
			o.retain = true;
			break;
		case OPT_EXCLUDE: {
			json_t *property = json_pack("{s:s}", "VariantPropertyType", optarg);
			if (!property)
				ex = ctl_usage_error(ctl, "--exclude: not UTF-8 text");
			else
				json_array_append_new(o.excluded, property);
			break;
		}
		case OPT_RETAIN_DEPLOYMENT_CONFIG:
			o.retain_deployment_config = true;
			break;
		default:
			goto out;
		}
		if (ex != CTL_EXIT_OK)
			goto out;
	}
	if ((ex = ctl_want_operands(ctl, argc, argv, 1, 1)) != 0)
		goto out;
	if (!o.config) {
		ex = ctl_usage_error(ctl, "update: --config CONFIG is required");
		goto out;
	}
	if (!o.routing && o.has_termination) {
		ex = ctl_usage_error(ctl,
		                     "--termination-wait is for blue/green updates, not --rolling");
		goto out;
	}
	if (o.routing && o.rollback) {
		ex = ctl_usage_error(ctl, "--rollback-batch goes with --rolling");
		goto out;
	}
	if (json_array_size(o.excluded) > 0 && !o.retain) {
		ex = ctl_usage_error(ctl, "--exclude goes with --retain");
		goto out;
	}
	if (!ctl_client(ctl, &ex))
		goto out;

	const char *name = argv[optind];
	params = json_pack("{s:s, s:s}", "EndpointName", name, "EndpointConfigName", o.config);
	if (!params) {
		ex = ctl_usage_error(ctl, "update: the names are not UTF-8 text");
		goto out;
	}
	if (o.retain)
		json_object_set_new(params, "RetainAllVariantProperties", json_true());
	if (json_array_size(o.excluded) > 0)
		json_object_set(params, "ExcludeRetainedVariantProperties", o.excluded);
	if (o.retain_deployment_config)
		json_object_set_new(params, "RetainDeploymentConfig", json_true());
	dc = update_deployment_config(&o);
	if (dc)
		json_object_set(params, "DeploymentConfig", dc);
	answer = ctl_call(ctl, "UpdateEndpoint", params);
	if (!answer) {
		ex = CTL_EXIT_FAILURE;
		goto out;
	}
	ex = update_answered(ctl, name, answer, o.wait, o.timeout_s, true);
out:
	json_decref(answer);
	json_decref(dc);
	json_decref(params);
	json_decref(o.step);
	json_decref(o.rollback);
	json_decref(o.alarms);
	json_decref(o.excluded);
	return ex;
}

/* One VARIANT[=WEIGHT][:COUNT] operand as a DesiredWeightAndCapacity; a
 * usage error (2) when it is not one. */
static int update_parse_capacity(struct ctl *ctl, const char *arg, json_t **ret)
{
	size_t n = strcspn(arg, "=:");
	const char *weight = arg[n] == '=' ? arg + n + 1 : NULL;
	const char *colon = strchr(arg + n, ':');
	const char *count = colon ? colon + 1 : NULL;
	if (n == 0 || (!weight && !count))
		return ctl_usage_error(ctl,
		                       "update-weights takes VARIANT=WEIGHT, VARIANT:COUNT or "
		                       "VARIANT=WEIGHT:COUNT, not \"%s\"",
		                       arg);
	json_t *entry = json_pack("{s:s%}", "VariantName", arg, n);
	if (!entry)
		return ctl_usage_error(ctl, "update-weights: \"%.*s\" is not UTF-8 text", (int)n,
		                       arg);
	if (weight) {
		_cleanup_free_ char *w =
		    xstrndup(weight, colon ? (size_t)(colon - weight) : strlen(weight));
		char *end;
		errno = 0;
		double v = strtod(w, &end);
		if (errno || end == w || *end || !isfinite(v) || w[0] == ' ') {
			json_decref(entry);
			return ctl_usage_error(
			    ctl, "update-weights: \"%s\" is not a weight (in \"%s\")", w, arg);
		}
		json_object_set_new(entry, "DesiredWeight", json_real(v));
	}
	if (count) {
		long long v;
		if (!update_parse_int(count, &v)) {
			json_decref(entry);
			return ctl_usage_error(
			    ctl, "update-weights: \"%s\" is not an instance count (in \"%s\")",
			    count, arg);
		}
		json_object_set_new(entry, "DesiredInstanceCount", json_integer(v));
	}
	*ret = entry;
	return 0;
}

/* update-weights NAME VARIANT[=WEIGHT][:COUNT]... [--wait] [--timeout S] */
int update_cmd_update_weights(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    CTL_COMMON_LONG,
	    {"wait", no_argument, NULL, 'w'},
	    {"timeout", required_argument, NULL, 'T'},
	    {0},
	};
	double timeout_s = CTL_WAIT_DEFAULT_TIMEOUT_S;
	bool wait = false;
	json_t *entries = json_array(), *params = NULL, *answer = NULL;
	int c, ex = CTL_EXIT_OK;

	while ((c = ctl_next_option(ctl, argc, argv, CTL_COMMON_SHORT "w", opts, &ex)) != -1) {
		switch (c) {
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
	if ((ex = ctl_want_operands(ctl, argc, argv, 2, -1)) != 0)
		goto out;
	for (int i = optind + 1; i < argc; i++) {
		json_t *entry = NULL;
		if ((ex = update_parse_capacity(ctl, argv[i], &entry)) != 0)
			goto out;
		json_array_append_new(entries, entry);
	}
	if (!ctl_client(ctl, &ex))
		goto out;

	const char *name = argv[optind];
	params =
	    json_pack("{s:s, s:O}", "EndpointName", name, "DesiredWeightsAndCapacities", entries);
	if (!params) {
		ex = ctl_usage_error(ctl, "update-weights: the name is not UTF-8 text");
		goto out;
	}
	answer = ctl_call(ctl, "UpdateEndpointWeightsAndCapacities", params);
	if (!answer) {
		ex = CTL_EXIT_FAILURE;
		goto out;
	}
	ex = update_answered(ctl, name, answer, wait, timeout_s, false);
out:
	json_decref(answer);
	json_decref(params);
	json_decref(entries);
	return ex;
}
