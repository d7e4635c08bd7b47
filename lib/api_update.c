/*
 * The operations that change a running endpoint: UpdateEndpoint (a new
 * endpoint config, rolled out blue/green or rolling as its DeploymentConfig
 * says) and UpdateEndpointWeightsAndCapacities (weights and instance counts
 * of the serving variants).  The rollout itself is the endpoint's
 * (endpoint_update(), planned by deploy.h); this file reads the request,
 * checks it, and words the endpoint's refusals.
 *
 * UpdateEndpoint is checked in three passes, each over what the one before
 * let through, so that a request is refused before anything changes:
 *
 *   1. the request's shape, with SageMaker's member paths and words: types,
 *      lengths, patterns, enums and ranges of botocore's service model, and
 *      the rules between members of one structure (exactly one of
 *      BlueGreenUpdatePolicy and RollingUpdatePolicy; CanarySize with
 *      CANARY only, LinearStepSize with LINEAR only), all in one message;
 *   2. the endpoint and the target endpoint config exist;
 *   3. the step sizes against the new fleet (the target config's instances,
 *      all variants together): CanarySize at most 50%, LinearStepSize 10% to
 *      50%, a rolling MaximumBatchSize of 5% to 50% when it is a percentage,
 *      a RollbackMaximumBatchSize of 5% to 100%.
 *
 * What only the endpoint knows (its status, an alarm the YAML does not
 * declare, capacity) comes back from endpoint_update() as -errno.
 */
#define _GNU_SOURCE
#include "api_private.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "deploy.h"
#include "endpoint.h"
#include "log.h"
#include "names.h"
#include "util.h"

/* WaitIntervalInSeconds, TerminationWaitInSeconds. */
#define API_WAIT_MAX_S 3600
/* MaximumExecutionTimeoutInSeconds. */
#define API_EXECUTION_MIN_S 600
#define API_EXECUTION_MAX_S 28800
/* CapacitySize's Value: botocore says only "min 1"; an Integer is 32 bits. */
#define API_CAPACITY_MAX 2147483647LL
/* ExcludeRetainedVariantProperties. */
#define API_MAX_VARIANT_PROPERTIES 3
/* DesiredWeightsAndCapacities: no more entries than an endpoint has variants,
 * and no more instances than CreateEndpointConfig lets a variant have. */
#define API_MAX_CAPACITIES 10
#define API_MAX_DESIRED_INSTANCES 100
#define API_MAX_WEIGHT 1e9

static const char *const api_routing_types[] = {"ALL_AT_ONCE", "CANARY", "LINEAR", NULL};
static const char *const api_capacity_types[] = {"INSTANCE_COUNT", "CAPACITY_PERCENT", NULL};
static const char *const api_variant_properties[] = {"DesiredInstanceCount", "DesiredWeight",
                                                     "DataCaptureConfig", NULL};

/* AlarmName: not blank, one line ("(?!\s*$).+"). */
static bool api_alarm_name_ok(const char *s)
{
	bool blank = true;
	for (; *s; s++) {
		if (*s == '\n' || *s == '\r')
			return false;
		if (*s != ' ' && *s != '\t' && *s != '\f' && *s != '\v')
			blank = false;
	}
	return !blank;
}

static const struct aws_string_rule api_alarm_name_rule = {.required = true,
                                                           .min_len = 1,
                                                           .max_len = 255,
                                                           .pattern = "(?!\\s*$).+",
                                                           .matches = api_alarm_name_ok};
static const struct aws_string_rule api_variant_name_rule = {
    .required = true, .max_len = 63, .pattern = NAMES_PATTERN, .matches = names_valid_resource};

/* Whether the request has field in r's structure (null is not having it). */
static bool api_given(const struct aws_reader *r, const char *field)
{
	json_t *v = json_object_get(r->obj, field);
	return v && !json_is_null(v);
}

/* A CapacitySize {Type, Value} member read into ret; false when absent or
 * wrong (the error recorded). */
static bool api_read_capacity(struct aws_reader *r, const char *field, bool required,
                              struct deploy_size *ret)
{
	struct aws_reader cr;
	bool ok = false;
	*ret = (struct deploy_size){.type = DEPLOY_SIZE_NONE};
	if (aws_read_object(r, field, required, &cr)) {
		const char *type = aws_read_enum(&cr, "Type", true, api_capacity_types);
		long long value = 0;
		bool has_value = aws_read_int_in(&cr, "Value", true, 1, API_CAPACITY_MAX, &value);
		if (type && has_value) {
			ret->type = strcmp(type, "INSTANCE_COUNT") == 0
			                ? DEPLOY_SIZE_INSTANCE_COUNT
			                : DEPLOY_SIZE_CAPACITY_PERCENT;
			ret->value = (unsigned)value;
			ok = true;
		}
	}
	aws_reader_clear(&cr);
	return ok;
}

/* Records that field of r, given, must not be: it belongs to another Type. */
static void api_not_for_type(struct aws_reader *r, const char *field, const char *type)
{
	_cleanup_free_ char *f = aws_field_name(field);
	_cleanup_free_ char *path = xasprintf("%s.%s", r->path, f);
	_cleanup_free_ char *shown =
	    json_dumps(json_object_get(r->obj, field), JSON_COMPACT | JSON_ENCODE_ANY);
	_cleanup_free_ char *words =
	    xasprintf("Member must be null when the traffic routing Type is %s", type);
	aws_reader_invalid(r, shown, path, words);
}

/* Records that field of r, absent, is needed by the Type. */
static void api_needed_by_type(struct aws_reader *r, const char *field, const char *type)
{
	_cleanup_free_ char *f = aws_field_name(field);
	_cleanup_free_ char *path = xasprintf("%s.%s", r->path, f);
	_cleanup_free_ char *words =
	    xasprintf("Member must not be null when the traffic routing Type is %s", type);
	aws_reader_invalid(r, NULL, path, words);
}

/* BlueGreenUpdatePolicy into p. */
static void api_read_blue_green(struct aws_reader *br, struct deploy_policy *p)
{
	struct aws_reader tr;
	long long wait = 0, termination = 0, execution = 0;
	if (aws_read_int_in(br, "TerminationWaitInSeconds", false, 0, API_WAIT_MAX_S, &termination))
		p->termination_wait_s = (unsigned)termination;
	if (aws_read_int_in(br, "MaximumExecutionTimeoutInSeconds", false, API_EXECUTION_MIN_S,
	                    API_EXECUTION_MAX_S, &execution))
		p->max_execution_s = (unsigned)execution;
	if (aws_read_object(br, "TrafficRoutingConfiguration", true, &tr)) {
		const char *type = aws_read_enum(&tr, "Type", true, api_routing_types);
		if (aws_read_int_in(&tr, "WaitIntervalInSeconds", true, 0, API_WAIT_MAX_S, &wait))
			p->wait_s = (unsigned)wait;
		struct deploy_size canary, linear;
		bool has_canary = api_read_capacity(&tr, "CanarySize", false, &canary);
		bool has_linear = api_read_capacity(&tr, "LinearStepSize", false, &linear);
		bool canary_given = api_given(&tr, "CanarySize");
		bool linear_given = api_given(&tr, "LinearStepSize");
		if (type && strcmp(type, "CANARY") == 0) {
			p->kind = DEPLOY_CANARY;
			if (!canary_given)
				api_needed_by_type(&tr, "CanarySize", type);
			if (linear_given)
				api_not_for_type(&tr, "LinearStepSize", type);
			if (has_canary)
				p->step = canary;
		} else if (type && strcmp(type, "LINEAR") == 0) {
			p->kind = DEPLOY_LINEAR;
			if (!linear_given)
				api_needed_by_type(&tr, "LinearStepSize", type);
			if (canary_given)
				api_not_for_type(&tr, "CanarySize", type);
			if (has_linear)
				p->step = linear;
		} else if (type) {
			p->kind = DEPLOY_ALL_AT_ONCE;
			if (canary_given)
				api_not_for_type(&tr, "CanarySize", type);
			if (linear_given)
				api_not_for_type(&tr, "LinearStepSize", type);
		}
	}
	aws_reader_clear(&tr);
}

/* RollingUpdatePolicy into p. */
static void api_read_rolling(struct aws_reader *rr, struct deploy_policy *p)
{
	long long wait = 0, execution = 0;
	p->kind = DEPLOY_ROLLING;
	api_read_capacity(rr, "MaximumBatchSize", true, &p->step);
	if (aws_read_int_in(rr, "WaitIntervalInSeconds", true, 0, API_WAIT_MAX_S, &wait))
		p->wait_s = (unsigned)wait;
	if (aws_read_int_in(rr, "MaximumExecutionTimeoutInSeconds", false, API_EXECUTION_MIN_S,
	                    API_EXECUTION_MAX_S, &execution))
		p->max_execution_s = (unsigned)execution;
	api_read_capacity(rr, "RollbackMaximumBatchSize", false, &p->rollback);
}

/* AutoRollbackConfiguration's alarm names, strdup'd into p. */
static void api_read_auto_rollback(struct aws_reader *ar, struct deploy_policy *p)
{
	json_t *list = NULL;
	size_t n = aws_read_list(ar, "Alarms", false, 1, DEPLOY_MAX_ALARMS, &list);
	for (size_t i = 0; i < n; i++) {
		struct aws_reader alr;
		if (aws_read_list_object(ar, list, "Alarms", i, &alr)) {
			const char *name =
			    aws_read_valid_string(&alr, "AlarmName", &api_alarm_name_rule);
			if (name && p->n_alarms < DEPLOY_MAX_ALARMS)
				p->alarms[p->n_alarms++] = xstrdup(name);
		}
		aws_reader_clear(&alr);
	}
}

/*
 * DeploymentConfig into p (pass 1).  Exactly one update policy: the
 * refusal of two or none is returned as a message of its own (owned), since
 * it is about no one member; NULL otherwise.
 */
static char *api_read_deployment_config(struct aws_reader *r, struct deploy_policy *p)
{
	struct aws_reader dr, br, rr, ar;
	char *refusal = NULL;
	if (aws_read_object(r, "DeploymentConfig", false, &dr)) {
		p->given = true;
		bool blue_green = aws_read_object(&dr, "BlueGreenUpdatePolicy", false, &br);
		bool rolling = aws_read_object(&dr, "RollingUpdatePolicy", false, &rr);
		if (blue_green)
			api_read_blue_green(&br, p);
		if (rolling)
			api_read_rolling(&rr, p);
		if (aws_read_object(&dr, "AutoRollbackConfiguration", false, &ar))
			api_read_auto_rollback(&ar, p);
		aws_reader_clear(&ar);
		aws_reader_clear(&br);
		aws_reader_clear(&rr);
		if (blue_green == rolling && !dr.top->type_error)
			refusal = xstrdup(
			    blue_green
			        ? "DeploymentConfig may have only one of BlueGreenUpdatePolicy "
			          "and RollingUpdatePolicy."
			        : "DeploymentConfig must have one of BlueGreenUpdatePolicy and "
			          "RollingUpdatePolicy.");
	}
	aws_reader_clear(&dr);
	return refusal;
}

/* ExcludeRetainedVariantProperties into u (DataCaptureConfig: nothing to
 * retain, there is no data capture). */
static void api_read_excluded_properties(struct aws_reader *r, struct endpoint_update *u)
{
	json_t *list = NULL;
	size_t n = aws_read_list(r, "ExcludeRetainedVariantProperties", false, 0,
	                         API_MAX_VARIANT_PROPERTIES, &list);
	for (size_t i = 0; i < n; i++) {
		struct aws_reader vr;
		if (aws_read_list_object(r, list, "ExcludeRetainedVariantProperties", i, &vr)) {
			const char *t =
			    aws_read_enum(&vr, "VariantPropertyType", true, api_variant_properties);
			if (t && strcmp(t, "DesiredInstanceCount") == 0)
				u->exclude_instance_count = true;
			else if (t && strcmp(t, "DesiredWeight") == 0)
				u->exclude_weight = true;
		}
		aws_reader_clear(&vr);
	}
}

/* The percentage of a fleet of total instances that size is. */
static double api_size_percent(const struct deploy_size *size, unsigned total)
{
	if (size->type == DEPLOY_SIZE_CAPACITY_PERCENT)
		return size->value;
	return total ? 100.0 * size->value / total : 100.0;
}

/* Records a step size out of [min_pct, max_pct] of the new fleet's total
 * instances, at path. */
static void api_check_size(struct aws_reader *r, const char *path, const struct deploy_size *size,
                           unsigned total, double min_pct, double max_pct)
{
	if (size->type == DEPLOY_SIZE_NONE)
		return;
	double pct = api_size_percent(size, total);
	if (pct >= min_pct && pct <= max_pct)
		return;
	char shown[32];
	snprintf(shown, sizeof(shown), "%u", size->value);
	_cleanup_free_ char *f = xasprintf("%s.value", path);
	_cleanup_free_ char *range = min_pct > 0 ? xasprintf("from %g%% to %g%%", min_pct, max_pct)
	                                         : xasprintf("at most %g%%", max_pct);
	_cleanup_free_ char *words =
	    size->type == DEPLOY_SIZE_CAPACITY_PERCENT
	        ? xasprintf("Member must be %s (CAPACITY_PERCENT)", range)
	        : xasprintf("Member must be %s of the new fleet's %u instance%s (INSTANCE_COUNT)",
	                    range, total, total == 1 ? "" : "s");
	aws_reader_invalid(r, shown, f, words);
}

/* Pass 3: the policy's sizes against the new fleet of total instances. */
static void api_check_sizes(struct aws_reader *r, const struct deploy_policy *p, unsigned total)
{
#define API_ROUTING_PATH "deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration"
#define API_ROLLING_PATH "deploymentConfig.rollingUpdatePolicy"
	if (!p->given)
		return;
	switch (p->kind) {
	case DEPLOY_CANARY:
		api_check_size(r, API_ROUTING_PATH ".canarySize", &p->step, total, 0, 50);
		break;
	case DEPLOY_LINEAR:
		api_check_size(r, API_ROUTING_PATH ".linearStepSize", &p->step, total, 10, 50);
		break;
	case DEPLOY_ROLLING:
		if (p->step.type == DEPLOY_SIZE_CAPACITY_PERCENT)
			api_check_size(r, API_ROLLING_PATH ".maximumBatchSize", &p->step, total, 5,
			               50);
		if (p->rollback.type == DEPLOY_SIZE_CAPACITY_PERCENT)
			api_check_size(r, API_ROLLING_PATH ".rollbackMaximumBatchSize",
			               &p->rollback, total, 5, 100);
		break;
	case DEPLOY_ALL_AT_ONCE:
		break;
	}
#undef API_ROUTING_PATH
#undef API_ROLLING_PATH
}

/* The new fleet's size: every variant's InitialInstanceCount. */
static unsigned api_fleet_instances(const struct config_endpoint_config *ec)
{
	unsigned total = 0;
	for (size_t i = 0; i < ec->n_variants; i++)
		total += ec->variants[i].initial_instance_count;
	return total;
}

/* The refusal of an update of a Failed endpoint. */
static int api_failed_endpoint(const struct endpoint *ep, struct aws_error *err)
{
	aws_error_set(err, 400, "ValidationException",
	              "Cannot update failed endpoint \"%s\". A Failed endpoint can only be "
	              "deleted (DeleteEndpoint).",
	              ep->arn);
	return -EPERM;
}

/* The refusal of an update of an endpoint that is Creating, Updating, ... */
static int api_endpoint_busy(const struct endpoint *ep, struct aws_error *err)
{
	aws_error_set(err, 400, "ValidationException", "Cannot update in-progress endpoint \"%s\".",
	              ep->arn);
	return -EBUSY;
}

/* The answer to an endpoint_update() that returned res < 0. */
static int api_update_refusal(struct api *a, const struct endpoint *ep, const char *config_name,
                              int res, const char *alarm, struct aws_error *err)
{
	if (res == -EPERM || (res == -EBUSY && ep->state == ENDPOINT_FAILED))
		return api_failed_endpoint(ep, err);
	if (res == -EBUSY)
		return api_endpoint_busy(ep, err);
	if (res == -ESRCH) {
		aws_error_set(
		    err, 400, "ValidationException",
		    "Could not find alarm \"%s\": AutoRollbackConfiguration can name only "
		    "alarms declared in the daemon config (Alarms).",
		    alarm ? alarm : "?");
		return res;
	}
	if (res == -ENOSYS) {
		aws_error_set(err, 500, "InternalFailure",
		              "UpdateEndpoint is not available in this endpointd.");
		return res;
	}
	if (!api_endpoint_config_refusal(a, res, config_name, err))
		aws_error_set(err, 500, "InternalFailure", "Cannot update endpoint \"%s\": %s",
		              ep->arn, strerror(-res));
	return res;
}

/* UpdateEndpoint. */
int api_op_update_endpoint(struct api *a, struct aws_reader *r, json_t *out, struct aws_error *err)
{
	struct endpoint_update u = {0};
	const char *name = aws_read_name(r, "EndpointName", true);
	u.config_name = aws_read_name(r, "EndpointConfigName", true);
	aws_read_bool(r, "RetainAllVariantProperties", &u.retain_all_variant_properties);
	aws_read_bool(r, "RetainDeploymentConfig", &u.retain_deployment_config);
	api_read_excluded_properties(r, &u);
	_cleanup_free_ char *refusal = api_read_deployment_config(r, &u.policy);
	int res = -EINVAL;

	/* Pass 1: the shape. */
	if (aws_reader_error(r, err))
		goto out;
	if (refusal) {
		aws_error_set(err, 400, "ValidationException", "%s", refusal);
		goto out;
	}
	/* Pass 2: what it names. */
	struct endpoint *ep = endpoint_find(a->manager, name);
	if (!ep) {
		res = api_no_endpoint(a, name, err);
		goto out;
	}
	const struct config_endpoint_config *ec =
	    config_find_endpoint_config(api_config(a), u.config_name);
	if (!ec) {
		res = -ENOENT;
		api_endpoint_config_refusal(a, res, u.config_name, err);
		goto out;
	}
	/* Pass 3: the sizes against the new fleet. */
	api_check_sizes(r, &u.policy, api_fleet_instances(ec));
	if (aws_reader_error(r, err)) {
		res = -EINVAL;
		goto out;
	}

	const char *alarm = NULL;
	res = endpoint_update(ep, &u, &alarm);
	if (res < 0) {
		api_update_refusal(a, ep, u.config_name, res, alarm, err);
		goto out;
	}
	log_notice("endpoint %s: update to endpoint config %s accepted", ep->name, u.config_name);
	json_object_set_new(out, "EndpointArn", json_string(ep->arn));
	res = 0;
out:
	deploy_policy_clear(&u.policy);
	return res;
}

/* One entry of DesiredWeightsAndCapacities into c, its errors recorded. */
static void api_read_capacity_entry(struct aws_reader *er, struct endpoint_capacity *c)
{
	long long count = 0;
	c->variant = aws_read_valid_string(er, "VariantName", &api_variant_name_rule);
	c->has_weight =
	    aws_read_number_in(er, "DesiredWeight", false, 0, API_MAX_WEIGHT, &c->weight);
	c->has_count = aws_read_int_in(er, "DesiredInstanceCount", false, 0,
	                               API_MAX_DESIRED_INSTANCES, &count);
	c->count = (unsigned)count;
	api_unsupported(er, "ServerlessUpdateConfig", "instances run on this host");
	if (!api_given(er, "DesiredWeight") && !api_given(er, "DesiredInstanceCount") &&
	    !api_given(er, "ServerlessUpdateConfig"))
		aws_reader_invalid(er, NULL, er->path,
		                   "Member must have DesiredWeight or DesiredInstanceCount");
}

/* The answer to an endpoint_update_capacities() that returned res < 0
 * other than -EBUSY and -ENOENT. */
static int api_capacities_refusal(struct api *a, const struct endpoint *ep, int res,
                                  struct aws_error *err)
{
	const struct config *c = api_config(a);
	if (res == -EDQUOT)
		aws_error_set(
		    err, 400, "ResourceLimitExceeded",
		    "The limit 'max_instances' is %u Instances, with current utilization "
		    "of %zu Instances: the DesiredInstanceCount asked for would go over it. "
		    "Raise limits.max_instances in the daemon config to allow more.",
		    c->max_instances, endpoint_manager_instances(a->manager));
	else if (res == -ENODEV)
		aws_error_set(err, 400, "ResourceLimitExceeded",
		              "The DesiredInstanceCount asked for needs more GPUs than are free: "
		              "this host has %zu, %zu of them free.",
		              endpoint_manager_gpus(a->manager),
		              endpoint_manager_free_gpus(a->manager));
	else if (res == -ENOSYS)
		aws_error_set(
		    err, 500, "InternalFailure",
		    "UpdateEndpointWeightsAndCapacities is not available in this endpointd.");
	else
		aws_error_set(err, 500, "InternalFailure", "Cannot update endpoint \"%s\": %s",
		              ep->arn, strerror(-res));
	return res;
}

/* UpdateEndpointWeightsAndCapacities. */
int api_op_update_endpoint_weights_and_capacities(struct api *a, struct aws_reader *r, json_t *out,
                                                  struct aws_error *err)
{
	const char *name = aws_read_name(r, "EndpointName", true);
	json_t *list = NULL;
	size_t n =
	    aws_read_list(r, "DesiredWeightsAndCapacities", true, 1, API_MAX_CAPACITIES, &list);
	struct endpoint_capacity caps[API_MAX_CAPACITIES] = {0};
	for (size_t i = 0; i < n; i++) {
		struct aws_reader er;
		if (aws_read_list_object(r, list, "DesiredWeightsAndCapacities", i, &er))
			api_read_capacity_entry(&er, &caps[i]);
		aws_reader_clear(&er);
	}
	if (aws_reader_error(r, err))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (strcasecmp(caps[i].variant, caps[j].variant) == 0) {
				aws_error_set(err, 400, "ValidationException",
				              "DesiredWeightsAndCapacities names variant %s twice: "
				              "give each variant once.",
				              caps[i].variant);
				return -EINVAL;
			}

	struct endpoint *ep = endpoint_find(a->manager, name);
	if (!ep)
		return api_no_endpoint(a, name, err);
	const char *variant = NULL;
	int res = endpoint_update_capacities(ep, caps, n, &variant);
	if (res == -EBUSY && ep->state == ENDPOINT_FAILED)
		return api_failed_endpoint(ep, err);
	if (res == -EBUSY)
		return api_endpoint_busy(ep, err);
	if (res == -ENOENT) {
		aws_error_set(err, 400, "ValidationException",
		              "The variant(s) \"[%s]\" is/are not present in the endpoint \"%s\".",
		              variant ? variant : "?", ep->arn);
		return res;
	}
	if (res < 0)
		return api_capacities_refusal(a, ep, res, err);
	log_notice("endpoint %s: weights and capacities of %zu variant%s changed", ep->name, n,
	           n == 1 ? "" : "s");
	json_object_set_new(out, "EndpointArn", json_string(ep->arn));
	return 0;
}
