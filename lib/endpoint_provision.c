/*
 * Provisioning a variant: its image (inspected, pulled when missing, then
 * named by what it resolved to), then its model data (modeldata.c), then its
 * instances launched (endpoint.c).  An image or model data that cannot be
 * had fails a Creating endpoint (at once when the Engine's answer was
 * definite, else once the startup timeout is spent) and is retried with
 * backoff for a serving one.  Every step holds an op and does nothing once
 * it is stale, as in endpoint.c.
 */
#define _GNU_SOURCE
#include "endpoint.h"
#include "endpoint_private.h"

#include <errno.h>
#include <event2/event.h>
#include <string.h>

#include "docker.h"
#include "log.h"
#include "modeldata.h"
#include "util.h"

/* Retry timer: provision the variant again. */
static void variant_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct variant *v = arg;
	if (!v->provisioning && endpoint_wants_instances(v->endpoint))
		endpoint_provision_variant(v);
}

/*
 * The variant's image or model data could not be had.  A Creating endpoint
 * fails (at once when the answer was definite, else once its startup timeout
 * is spent); a serving one tries again after delay_ms, as the instances it
 * would replace are missing.
 */
static void variant_failed(struct variant *v, const char *reason, bool definite)
{
	struct endpoint *ep = v->endpoint;
	unsigned delay_ms = definite ? ENDPOINT_RETRY_MAX_MS : endpoint_backoff_ms(v->retries++);
	v->provisioning = false;
	if (ep->state == ENDPOINT_CREATING &&
	    (definite || now_monotonic_ms() >= v->deadline_ms)) {
		endpoint_fail(ep, NULL, NULL, reason);
		return;
	}
	if (definite && endpoint_update_failed(ep, NULL, v, NULL, reason))
		return;
	log_endpoint(LOG_WARNING, ep->name, "endpoint %s: %s; trying again in %u ms", ep->name,
		     reason, delay_ms);
	if (!v->retry)
		v->retry = evtimer_new(ep->manager->base, variant_retry_cb, v);
	struct timeval tv = {.tv_sec = delay_ms / 1000, .tv_usec = (delay_ms % 1000) * 1000};
	evtimer_add(v->retry, &tv);
}

/* Model data is in place: launch the variant's instances. */
static void variant_model_data_cb(int err, const char *host_dir, const char *message,
				  void *userdata)
{
	struct op *op = userdata;
	struct variant *v = op->variant;
	if (!op_current(op))
		goto out;
	if (err) {
		_cleanup_free_ char *reason = xasprintf(
			"Failed to prepare the model data of production variant %s from %s: %s",
			v->name, v->cv->model->primary.model_data_url,
			message ? message : strerror(-err));
		variant_failed(v, reason, true);
		goto out;
	}
	free(v->model_dir);
	v->model_dir = xstrdup(host_dir);
	v->ready = true;
	v->provisioning = false;
	v->retries = 0;
	for (size_t i = 0; i < v->n_wanted; i++)
		if (v->instances[i]->state == INSTANCE_PENDING && !v->instances[i]->restored)
			instance_launch(v->instances[i]);
out:
	op_free(op);
}

/* The image is here: note what it resolved to, then fetch the model data. */
static void variant_image_ready(struct op *op, const struct docker_image *img)
{
	struct variant *v = op->variant;
	struct endpoint *ep = op->ep;
	struct endpoint_manager *m = ep->manager;
	const char *image = v->cv->model->primary.image;
	free(v->resolved_image);
	if (img->n_repo_digests > 0) {
		v->resolved_image = xstrdup(img->repo_digests[0]);
	} else {
		/* A local image has no registry digest: name it by its ID. */
		_cleanup_free_ char *repo = NULL, *tag = NULL;
		docker_split_image(image, &repo, &tag);
		v->resolved_image = xasprintf("%s@%s", repo, img->id);
	}
	v->resolution_time = now_realtime();

	const char *url = v->cv->model->primary.model_data_url;
	_cleanup_free_ char *cache = xasprintf("%s/models", m->config->state_dir);
	struct op *next = op_new(ep, v, NULL);
	modeldata_prepare(m->base, m->httpc, &m->config->model_data, url, cache,
			  v->cv->model_data_download_timeout_s, variant_model_data_cb, next);
}

static void variant_image_inspected_cb(const struct docker_result *r, const struct docker_image *img,
				       void *userdata);

/* The pull ended: look again. */
static void variant_pulled_cb(const struct docker_result *r, void *userdata)
{
	struct op *op = userdata;
	struct variant *v = op->variant;
	if (!op_current(op)) {
		op_free(op);
		return;
	}
	if (r->err) {
		_cleanup_free_ char *reason = xasprintf(
			"Failed to pull image \"%s\" for production variant %s: %s",
			v->cv->model->primary.image, v->name, r->message ? r->message : strerror(-r->err));
		variant_failed(v, reason, !engine_unreachable(r));
		op_free(op);
		return;
	}
	op->may_retry = false; /* pulled: a second miss is an error */
	docker_image_inspect(op->ep->manager->docker, v->cv->model->primary.image,
			     variant_image_inspected_cb, op);
}

/* Image inspect: present, or pull it. */
static void variant_image_inspected_cb(const struct docker_result *r, const struct docker_image *img,
				       void *userdata)
{
	struct op *op = userdata;
	struct variant *v = op->variant;
	const char *image = v->cv->model->primary.image;
	if (!op_current(op))
		goto out;
	if (r->err == -ENOENT && op->may_retry) {
		log_endpoint(LOG_INFO, op->ep->name, "endpoint %s: pulling image %s", op->ep->name,
			     image);
		docker_image_pull(op->ep->manager->docker, image, variant_pulled_cb, op);
		return;
	}
	if (r->err) {
		_cleanup_free_ char *reason =
			xasprintf("Failed to find image \"%s\" for production variant %s: %s", image,
				  v->name, r->message ? r->message : strerror(-r->err));
		variant_failed(v, reason, !engine_unreachable(r));
		goto out;
	}
	variant_image_ready(op, img);
out:
	op_free(op);
}

/* Begin a variant: image, model data, then its instances. */
void endpoint_provision_variant(struct variant *v)
{
	struct endpoint *ep = v->endpoint;
	v->provisioning = true;
	if (!v->deadline_ms)
		v->deadline_ms = now_monotonic_ms() + (uint64_t)v->cv->startup_timeout_s * 1000;
	struct op *op = op_new(ep, v, NULL);
	op->may_retry = true; /* may pull */
	docker_image_inspect(ep->manager->docker, v->cv->model->primary.image,
			     variant_image_inspected_cb, op);
}
