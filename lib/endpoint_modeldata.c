/*
 * The model cache, seen from the endpoints: what they use is kept, the rest
 * goes once the cache is over model_cache_max_bytes.
 *
 * An entry is in use while any endpoint the manager lists (Deleting ones
 * included: their containers may still run) names its ModelDataUrl; modeldata
 * keys entries by that URL, so the URLs are all it needs to know.  The trim
 * runs when an endpoint is dropped and after every match with what the Engine
 * runs (at start, once restored endpoints are listed), and never while the
 * manager shuts down.
 */
#define _GNU_SOURCE
#include "endpoint.h"
#include "endpoint_private.h"

#include <inttypes.h>
#include <string.h>

#include "log.h"
#include "modeldata.h"
#include "util.h"

/* Remove what no endpoint uses from the model cache, down to its bound. */
void endpoint_manager_trim_model_cache(struct endpoint_manager *m)
{
	_cleanup_free_ struct endpoint **eps = NULL;
	_cleanup_free_ const char **urls = NULL;
	struct modeldata_trim_stats stats;
	size_t n_eps, n = 0, cap = 0;
	int r;

	if (m->shutting_down)
		return;
	n_eps = endpoint_list(m, &eps);
	for (size_t i = 0; i < n_eps; i++) {
		struct fleet *f;
		for (size_t k = 0; (f = endpoint_fleet_nth(eps[i], k)); k++)
			for (size_t j = 0; j < f->n_variants; j++) {
				const char *url = f->variants[j].cv->model->primary.model_data_url;
				if (!url || !*url)
					continue;
				if (n == cap) {
					cap = cap ? 2 * cap : 8;
					urls = xreallocarray(urls, cap, sizeof(*urls));
				}
				urls[n++] = url;
			}
	}
	_cleanup_free_ char *cache = xasprintf("%s/models", m->config->state_dir);
	uint64_t max = m->config->model_data.cache_max_bytes;
	r = modeldata_cache_trim(m->base, cache, max, urls, n, &stats);
	if (r < 0) {
		log_warning("model cache %s: cannot trim it: %s", cache, strerror(-r));
		return;
	}
	if (stats.removed || stats.stale)
		log_info("model cache %s: removed %u entries no endpoint uses (%" PRIu64
		         " bytes) and %u leftovers; %" PRIu64 " bytes kept",
		         cache, stats.removed, stats.bytes_removed, stats.stale, stats.bytes_kept);
	if (max > 0 && stats.bytes_in_use > max)
		log_warning("model cache %s: endpoints use %" PRIu64
		            " bytes of model data, more than model_cache_max_bytes (%" PRIu64 ")",
		            cache, stats.bytes_in_use, max);
}
