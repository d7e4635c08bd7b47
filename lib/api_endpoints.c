/*
 * The endpoint operations: CreateEndpoint, DescribeEndpoint, ListEndpoints
 * and DeleteEndpoint.  They read the request, call the endpoint manager and
 * word its refusals the way SageMaker does (the limits in the daemon's
 * terms); the endpoint's own state machine lives in lib/endpoint*.c.
 */
#define _GNU_SOURCE
#include "api_private.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "config.h"
#include "endpoint.h"

/* The ValidationException for an endpoint that is not there. */
int api_no_endpoint(struct api *a, const char *name, struct aws_error *err)
{
	_cleanup_free_ char *arn = api_arn(a, "endpoint", name);
	aws_error_set(err, 400, "ValidationException", "Could not find endpoint \"%s\".", arn);
	return -ENOENT;
}

/*
 * The refusals CreateEndpoint and UpdateEndpoint share, of an endpoint
 * config that is not there or cannot run here now (endpoint_create(),
 * endpoint_update()): true with err set for -ENOENT, -EDQUOT, -ENXIO,
 * -ENETUNREACH, -ENODEV, -ERANGE and -EPROTONOSUPPORT (swarm mode), false
 * for any other res.
 */
bool api_endpoint_config_refusal(struct api *a, int res, const char *config_name,
				 struct aws_error *err)
{
	struct config *c = api_config(a);
	if (res == -ENOENT) {
		_cleanup_free_ char *arn = api_arn(a, "endpoint-config", config_name);
		aws_error_set(err, 400, "ValidationException",
			      "Could not find endpoint configuration \"%s\".", arn);
		return true;
	}
	if (res == -EDQUOT) {
		const struct config_endpoint_config *ec = config_find_endpoint_config(c, config_name);
		unsigned want = 0;
		for (size_t i = 0; ec && i < ec->n_variants; i++)
			want += ec->variants[i].initial_instance_count;
		aws_error_set(err, 400, "ResourceLimitExceeded",
			      "The limit 'max_instances' is %u Instances, with current utilization "
			      "of %zu Instances and a request delta of %u Instances. Raise "
			      "limits.max_instances in the daemon config to allow more.",
			      c->max_instances, endpoint_manager_instances(a->manager), want);
		return true;
	}
	if (res == -ENXIO) {
		/* A config of the API's whose model was deleted since. */
		const struct config_endpoint_config *ec = config_find_endpoint_config(c, config_name);
		const char *gone = NULL;
		for (size_t i = 0; ec && i < ec->n_variants && !gone; i++)
			if (!ec->variants[i].model)
				gone = ec->variants[i].model_name;
		if (gone) {
			_cleanup_free_ char *arn = api_arn(a, "model", gone);
			aws_error_set(err, 400, "ValidationException", "Could not find model \"%s\".",
				      arn);
		} else {
			aws_error_set(err, 400, "ValidationException",
				      "Endpoint configuration %s names an instance type this host "
				      "no longer defines.",
				      config_name);
		}
		return true;
	}
	if (res == -ENETUNREACH) {
		aws_error_set(err, 400, "ValidationException",
			      "Endpoint configuration %s has a model with EnableNetworkIsolation: "
			      "its container has no network and is reached only through "
			      "endpointd-dialer, which this host does not run (container_dialer is "
			      "none in the daemon config).",
			      config_name);
		return true;
	}
	if (res == -ERANGE) {
		aws_error_set(err, 400, "ResourceLimitExceeded",
			      "Endpoint configuration %s asks for an instance type that no node of "
			      "the swarm can hold (by the CPUs, memory, NVIDIA-GPU generic resources "
			      "and labels its nodes advertise).",
			      config_name);
		return true;
	}
	if (res == -EPROTONOSUPPORT) {
		aws_error_set(err, 400, "ValidationException",
			      "Endpoint configuration %s has a model with EnableNetworkIsolation, "
			      "which docker mode swarm does not run: its container would be "
			      "reachable only from the node it runs on.",
			      config_name);
		return true;
	}
	if (res == -ENODEV) {
		const struct config_endpoint_config *ec = config_find_endpoint_config(c, config_name);
		size_t want = ec ? endpoint_config_gpus(ec) : 0;
		aws_error_set(err, 400, "ResourceLimitExceeded",
			      "Endpoint configuration %s needs %zu GPU%s; this host has %zu, %zu of "
			      "them free.",
			      config_name, want, want == 1 ? "" : "s", endpoint_manager_gpus(a->manager),
			      endpoint_manager_free_gpus(a->manager));
		return true;
	}
	return false;
}

/* CreateEndpoint. */
int api_op_create_endpoint(struct api *a, struct aws_reader *r, json_t *out,
			   struct aws_error *err)
{
	const char *name = aws_read_name(r, "EndpointName", true);
	const char *config_name = aws_read_name(r, "EndpointConfigName", true);
	_cleanup_free_ struct endpoint_tag *tags = NULL;
	size_t n_tags = api_read_tags(r, "Tags", &tags);
	if (aws_reader_error(r, err))
		return -EINVAL;

	struct config *c = api_config(a);
	struct endpoint *ep;
	int res = endpoint_create(a->manager, name, config_name, tags, n_tags, &ep);
	if (res == -EEXIST) {
		_cleanup_free_ char *arn = api_arn(a, "endpoint", name);
		aws_error_set(err, 400, "ValidationException",
			      "Cannot create already existing endpoint \"%s\".", arn);
	} else if (res == -ENOSPC) {
		size_t used = endpoint_manager_endpoints(a->manager);
		aws_error_set(err, 400, "ResourceLimitExceeded",
			      "The limit 'max_endpoints' is %u Endpoints, with current utilization "
			      "of %zu Endpoints and a request delta of 1 Endpoints. Raise "
			      "limits.max_endpoints in the daemon config to allow more.",
			      c->max_endpoints, used);
	} else if (res < 0 && !api_endpoint_config_refusal(a, res, config_name, err)) {
		aws_error_set(err, 400, "ValidationException", "Cannot create endpoint: %s",
			      strerror(-res));
	}
	if (res < 0)
		return res;
	json_object_set_new(out, "EndpointArn", json_string(ep->arn));
	return 0;
}

/* Whether every variant's image has been resolved. */
static bool api_variants_known(const struct fleet *f)
{
	for (size_t i = 0; i < f->n_variants; i++)
		if (!f->variants[i].resolved_image)
			return false;
	return f->n_variants > 0;
}

/* A variant as DescribeEndpoint shows it (ProductionVariantSummary, and
 * PendingProductionVariantSummary's common members). */
static json_t *api_variant_summary(const struct variant *v)
{
	json_t *o = json_pack("{s:s, s:f, s:f, s:i, s:i}", "VariantName", v->name,
			      "CurrentWeight", v->current_weight, "DesiredWeight", v->desired_weight,
			      "CurrentInstanceCount", (int)v->n_healthy, "DesiredInstanceCount",
			      (int)v->n_desired);
	if (v->resolved_image)
		json_object_set_new(o, "DeployedImages",
				    json_pack("[{s:s, s:s, s:o}]", "SpecifiedImage",
					      v->cv->model->primary.image, "ResolvedImage",
					      v->resolved_image, "ResolutionTime",
					      aws_time(v->resolution_time)));
	return o;
}

/* Where a variant of the fleet an update brings stands (VariantStatus). */
static json_t *api_variant_status(const struct endpoint *ep, const struct variant *v)
{
	const struct deploy_state *s = &ep->deploy;
	const char *status = "Creating";
	_cleanup_free_ char *msg = NULL;
	size_t launching = v->n_wanted > v->n_healthy ? v->n_wanted - v->n_healthy : 0;
	switch (s->phase) {
	case DEPLOY_LAUNCHING:
		msg = xasprintf("Launching %zu instance(s).", launching);
		break;
	case DEPLOY_BAKING:
		status = s->new_share >= 1 ? "Baking" : "ActivatingTraffic";
		msg = xasprintf("Taking %.0f%% of the traffic; baking for %.0f more second(s).",
				s->new_share * 100, fmax(0, ceil(s->bake_until - now_realtime())));
		break;
	case DEPLOY_ROLLING_BACK:
		status = "Deleting";
		msg = xasprintf("Rolling back: %s", s->reason ? s->reason : "the update failed.");
		break;
	default:
		status = "Updating";
		break;
	}
	return json_pack("[{s:s, s:s, s:o}]", "Status", status, "StatusMessage", msg ? msg : "",
			 "StartTime", aws_time(s->phase_since));
}

/* PendingDeploymentSummary: the fleet an update brings. */
static json_t *api_pending_summary(const struct endpoint *ep)
{
	const struct fleet *f = ep->pending;
	json_t *pvs = json_array();
	for (size_t i = 0; i < f->n_variants; i++) {
		const struct variant *v = &f->variants[i];
		json_t *o = api_variant_summary(v);
		json_object_set_new(o, "InstanceType", json_string(v->cv->instance_type));
		json_object_set_new(o, "VariantStatus", api_variant_status(ep, v));
		json_array_append_new(pvs, o);
	}
	return json_pack("{s:s, s:o, s:o}", "EndpointConfigName", f->config_name,
			 "ProductionVariants", pvs, "StartTime", aws_time(ep->deploy.started));
}

/* Reads EndpointName and finds it; NULL with the error set otherwise. */
static struct endpoint *api_read_endpoint(struct api *a, struct aws_reader *r,
					  struct aws_error *err)
{
	const char *name = aws_read_name(r, "EndpointName", true);
	if (aws_reader_error(r, err))
		return NULL;
	struct endpoint *ep = endpoint_find(a->manager, name);
	if (!ep)
		api_no_endpoint(a, name, err);
	return ep;
}

/* DescribeEndpoint. */
int api_op_describe_endpoint(struct api *a, struct aws_reader *r, json_t *out,
			     struct aws_error *err)
{
	struct endpoint *ep = api_read_endpoint(a, r, err);
	if (!ep)
		return -EINVAL;

	/* The config the endpoint serves: the new one once it takes all calls. */
	const struct fleet *serving =
		ep->pending && deploy_switched(&ep->deploy) ? ep->pending : ep->fleet;
	json_object_set_new(out, "EndpointName", json_string(ep->name));
	json_object_set_new(out, "EndpointArn", json_string(ep->arn));
	json_object_set_new(out, "EndpointConfigName", json_string(serving->config_name));
	json_object_set_new(out, "EndpointStatus",
			    json_string(endpoint_state_to_string(ep->state)));
	if (ep->failure_reason)
		json_object_set_new(out, "FailureReason", aws_string(ep->failure_reason));
	json_object_set_new(out, "CreationTime", aws_time(ep->creation_time));
	json_object_set_new(out, "LastModifiedTime", aws_time(ep->last_modified_time));
	json_t *policy = deploy_policy_to_json(&ep->policy);
	if (policy)
		json_object_set_new(out, "LastDeploymentConfig", policy);
	if (ep->pending)
		json_object_set_new(out, "PendingDeploymentSummary", api_pending_summary(ep));
	if (!api_variants_known(serving))
		return 0;
	json_t *pvs = json_array();
	for (size_t i = 0; i < serving->n_variants; i++)
		json_array_append_new(pvs, api_variant_summary(&serving->variants[i]));
	json_object_set_new(out, "ProductionVariants", pvs);
	return 0;
}

/* DeleteEndpoint. */
int api_op_delete_endpoint(struct api *a, struct aws_reader *r, json_t *out,
			   struct aws_error *err)
{
	struct endpoint *ep = api_read_endpoint(a, r, err);
	if (!ep)
		return -EINVAL;
	if (endpoint_delete(ep) < 0) {
		aws_error_set(err, 400, "ValidationException",
			      "Cannot update in-progress endpoint \"%s\".", ep->arn);
		return -EBUSY;
	}
	return 0;
}

/* ListEndpoints. */
int api_op_list_endpoints(struct api *a, struct aws_reader *r, json_t *out,
			  struct aws_error *err)
{
	_cleanup_free_ struct endpoint **eps = NULL;
	size_t n = endpoint_list(a->manager, &eps);
	_cleanup_free_ struct api_item *items = xcalloc(n ? n : 1, sizeof(*items));
	for (size_t i = 0; i < n; i++) {
		struct endpoint *ep = eps[i];
		const char *status = endpoint_state_to_string(ep->state);
		items[i] = (struct api_item){
			.name = ep->name,
			.name_lc = xstrdup(ep->name_lc),
			.creation_time = ep->creation_time,
			.last_modified_time = ep->last_modified_time,
			.status = status,
			.summary = json_pack("{s:s, s:s, s:o, s:o, s:s}", "EndpointName", ep->name,
					     "EndpointArn", ep->arn, "CreationTime",
					     aws_time(ep->creation_time), "LastModifiedTime",
					     aws_time(ep->last_modified_time), "EndpointStatus",
					     status),
		};
	}
	static const struct api_list_spec spec = {
		.result_key = "Endpoints",
		.has_status = true,
		.has_last_modified = true,
		.status_values = "Member must satisfy enum value set: [OutOfService, Creating, "
				 "Updating, SystemUpdating, RollingBack, InService, Deleting, "
				 "Failed, UpdateRollbackFailed]",
	};
	return api_list(r, &spec, items, n, out, err);
}
