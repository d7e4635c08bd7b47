/*
 * Handing the host's GPUs to instances by UUID (lib/endpoint_gpu.c), on a
 * manager, an endpoint and instances made by hand: no Engine, no loop.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "endpoint_private.h"
#include "gpu.h"

static char small[] = "ml.g5.xlarge", big[] = "ml.g5.12xlarge";
static char ep_name[] = "ep", one_name[] = "one", two_name[] = "two";
static struct config_instance_type type_one = {.name = small, .gpus = 1};
static struct config_instance_type type_two = {.name = big, .gpus = 2};
static struct config_variant cv_one = {.instance_type = small, .type = &type_one};
static struct config_variant cv_two = {.instance_type = big, .type = &type_two};
static struct endpoint_manager manager;
static struct endpoint ep = {.manager = &manager, .name = ep_name};
static struct variant one = {.endpoint = &ep, .cv = &cv_one, .name = one_name};
static struct variant two = {.endpoint = &ep, .cv = &cv_two, .name = two_name};

/* A manager with n GPUs named GPU-<i>. */
static void give_gpus(size_t n)
{
	struct gpu *g = calloc(n ? n : 1, sizeof(*g));
	for (size_t i = 0; i < n; i++) {
		g[i].index = (unsigned)i;
		snprintf(g[i].uuid, sizeof(g[i].uuid), "GPU-%zu", i);
		snprintf(g[i].name, sizeof(g[i].name), "Fake %zu", i);
	}
	endpoint_manager_set_gpus(&manager, g, n, n ? NULL : "no NVIDIA driver");
}

/* Forget the manager's GPUs. */
static void teardown(void)
{
	endpoint_manager_free_gpu_use(&manager);
	free(manager.gpus);
	free(manager.gpu_error);
	memset(&manager, 0, sizeof(manager));
}

TestSuite(endpoint_gpu, .fini = teardown);

Test(endpoint_gpu, instances_take_distinct_gpus)
{
	give_gpus(2);
	struct instance a = {.variant = &one}, b = {.variant = &one, .slot = 1};
	char *why = NULL;
	cr_assert_eq(instance_take_gpus(&a, &why), 0);
	cr_assert_eq(instance_take_gpus(&b, &why), 0);
	char *ua = instance_gpu_uuids(&a), *ub = instance_gpu_uuids(&b);
	cr_assert_str_eq(ua, "GPU-0");
	cr_assert_str_eq(ub, "GPU-1");
	free(ua);
	free(ub);
}

Test(endpoint_gpu, a_type_with_two_gpus_takes_two)
{
	give_gpus(3);
	struct instance a = {.variant = &two};
	char *why = NULL;
	cr_assert_eq(instance_take_gpus(&a, &why), 0);
	char *u = instance_gpu_uuids(&a);
	cr_assert_str_eq(u, "GPU-0,GPU-1");
	cr_assert_eq(endpoint_manager_unheld_gpus(&manager), 1);
	free(u);
}

Test(endpoint_gpu, too_few_free_gpus_is_refused_with_the_counts)
{
	give_gpus(1);
	struct instance a = {.variant = &one}, b = {.variant = &one, .slot = 1};
	char *why = NULL;
	cr_assert_eq(instance_take_gpus(&a, &why), 0);
	cr_assert_eq(instance_take_gpus(&b, &why), -ENOSPC);
	cr_assert(strstr(why, "needs 1 GPU; 0 of this host's 1 are free"), "%s", why);
	cr_assert_null(instance_gpu_uuids(&b));
	free(why);
}

Test(endpoint_gpu, a_host_without_gpus_says_why)
{
	give_gpus(0);
	struct instance a = {.variant = &one};
	char *why = NULL;
	cr_assert_eq(instance_take_gpus(&a, &why), -ENOSPC);
	cr_assert(strstr(why, "sees none on this host (no NVIDIA driver)"), "%s", why);
	free(why);
}

Test(endpoint_gpu, released_gpus_are_free_again)
{
	give_gpus(1);
	struct instance a = {.variant = &one}, b = {.variant = &one, .slot = 1};
	char *why = NULL;
	cr_assert_eq(instance_take_gpus(&a, &why), 0);
	instance_release_gpus(&a);
	cr_assert_eq(endpoint_manager_unheld_gpus(&manager), 1);
	cr_assert_eq(instance_take_gpus(&b, &why), 0);
}

Test(endpoint_gpu, taking_again_for_a_new_container_does_not_hold_more)
{
	give_gpus(2);
	struct instance a = {.variant = &one};
	char *why = NULL;
	cr_assert_eq(instance_take_gpus(&a, &why), 0);
	cr_assert_eq(instance_take_gpus(&a, &why), 0);
	cr_assert_eq(endpoint_manager_unheld_gpus(&manager), 1);
}

Test(endpoint_gpu, device_requests_name_the_gpus_by_uuid)
{
	give_gpus(2);
	struct instance a = {.variant = &two};
	char *why = NULL;
	cr_assert_eq(instance_take_gpus(&a, &why), 0);
	json_t *r = instance_gpu_requests(&a);
	char *text = json_dumps(r, JSON_COMPACT);
	cr_assert_str_eq(text, "[{\"Driver\":\"nvidia\",\"DeviceIDs\":[\"GPU-0\",\"GPU-1\"],"
	                       "\"Capabilities\":[[\"gpu\"]]}]");
	free(text);
	json_decref(r);
}

Test(endpoint_gpu, an_adopted_container_holds_the_gpus_its_label_names)
{
	give_gpus(3);
	struct instance a = {.variant = &two};
	instance_claim_gpus(&a, "c-a", "GPU-2,GPU-0");
	char *u = instance_gpu_uuids(&a);
	cr_assert_str_eq(u, "GPU-0,GPU-2");
	cr_assert_eq(endpoint_manager_unheld_gpus(&manager), 1);
	free(u);
}

Test(endpoint_gpu, a_label_naming_a_gpu_the_host_lacks_claims_only_the_others)
{
	give_gpus(1);
	struct instance a = {.variant = &two};
	instance_claim_gpus(&a, "c-a", "GPU-0,GPU-9");
	char *u = instance_gpu_uuids(&a);
	cr_assert_str_eq(u, "GPU-0");
	free(u);
}

Test(endpoint_gpu, a_gpu_held_by_one_instance_is_not_claimed_by_another)
{
	give_gpus(1);
	struct instance a = {.variant = &one}, b = {.variant = &one, .slot = 1};
	instance_claim_gpus(&a, "c-a", "GPU-0");
	instance_claim_gpus(&b, "c-b", "GPU-0");
	char *ua = instance_gpu_uuids(&a);
	cr_assert_str_eq(ua, "GPU-0");
	cr_assert_null(instance_gpu_uuids(&b));
	free(ua);
}

Test(endpoint_gpu, gpus_handed_to_a_container_going_away_are_not_free_until_it_is_gone)
{
	give_gpus(1);
	struct instance a = {.variant = &one}, b = {.variant = &one, .slot = 1};
	char *why = NULL;
	cr_assert_eq(instance_take_gpus(&a, &why), 0);
	instance_drain_gpus(&a, "old-container");
	cr_assert_eq(a.n_gpus, 0);
	cr_assert_eq(endpoint_manager_unheld_gpus(&manager), 0);
	cr_assert_eq(instance_take_gpus(&b, &why), -EAGAIN);
	cr_assert(strstr(why, "still held by containers being removed"), "%s", why);
	free(why);
	cr_assert_null(instance_gpu_uuids(&b));
	cr_assert_not(endpoint_manager_container_gone(&manager, "another-container"));
	cr_assert_eq(endpoint_manager_unheld_gpus(&manager), 0);
	cr_assert(endpoint_manager_container_gone(&manager, "old-container"));
	cr_assert_eq(instance_take_gpus(&b, &why), 0);
	char *u = instance_gpu_uuids(&b);
	cr_assert_str_eq(u, "GPU-0");
	free(u);
}

Test(endpoint_gpu, the_same_instance_waits_for_its_own_old_container_too)
{
	give_gpus(1);
	struct instance a = {.variant = &one};
	char *why = NULL;
	cr_assert_eq(instance_take_gpus(&a, &why), 0);
	instance_drain_gpus(&a, "gen-0");
	cr_assert_eq(instance_take_gpus(&a, &why), -EAGAIN);
	free(why);
}

Test(endpoint_gpu, with_no_container_to_wait_for_gpus_are_free_at_once)
{
	give_gpus(1);
	struct instance a = {.variant = &one};
	char *why = NULL;
	cr_assert_eq(instance_take_gpus(&a, &why), 0);
	instance_drain_gpus(&a, NULL);
	cr_assert_eq(endpoint_manager_unheld_gpus(&manager), 1);
}

Test(endpoint_gpu, more_gpus_than_held_and_draining_together_is_still_no_space)
{
	give_gpus(1);
	struct instance a = {.variant = &two};
	char *why = NULL;
	cr_assert_eq(instance_take_gpus(&a, &why), -ENOSPC);
	free(why);
}

/* A listed container named name, with a gpus label when uuids. */
static struct docker_container listed(const char *name, const char *uuids)
{
	struct docker_container c = {.name = (char *)name, .labels = json_object()};
	if (uuids)
		json_object_set_new(c.labels, "io.endpointd.gpus", json_string(uuids));
	return c;
}

Test(endpoint_gpu, a_listing_asked_for_after_the_handover_that_lacks_the_container_frees_its_gpus)
{
	give_gpus(2);
	struct instance a = {.variant = &two};
	char *why = NULL;
	cr_assert_eq(instance_take_gpus(&a, &why), 0);
	manager.listings = 4; /* one listing in flight since before */
	instance_drain_gpus(&a, "maybe-created");
	struct docker_container none[1] = {listed("other", NULL)};
	endpoint_manager_gpus_listed(&manager, none, 1, 4);
	cr_assert_eq(endpoint_manager_unheld_gpus(&manager), 0, "listing 4 may predate it");
	endpoint_manager_gpus_listed(&manager, none, 1, 5);
	cr_assert_eq(endpoint_manager_unheld_gpus(&manager), 2);
	json_decref(none[0].labels);
}

Test(endpoint_gpu, a_listing_that_shows_the_container_keeps_its_gpus_held)
{
	give_gpus(1);
	struct instance a = {.variant = &one};
	char *why = NULL;
	cr_assert_eq(instance_take_gpus(&a, &why), 0);
	instance_drain_gpus(&a, "stopping");
	struct docker_container cs[1] = {listed("stopping", "GPU-0")};
	endpoint_manager_gpus_listed(&manager, cs, 1, 1);
	cr_assert_eq(endpoint_manager_unheld_gpus(&manager), 0);
	json_decref(cs[0].labels);
}

Test(endpoint_gpu, gpus_named_by_a_listed_container_are_held_until_it_is_adopted_or_gone)
{
	give_gpus(2);
	struct docker_container cs[1] = {listed("found", "GPU-1")};
	endpoint_manager_gpus_listed(&manager, cs, 1, 1);
	cr_assert_eq(endpoint_manager_unheld_gpus(&manager), 1);
	struct instance a = {.variant = &one}, b = {.variant = &one, .slot = 1};
	instance_claim_gpus(&b, "someone-else", "GPU-1");
	cr_assert_null(instance_gpu_uuids(&b), "held by the container found");
	instance_claim_gpus(&a, "found", "GPU-1");
	char *u = instance_gpu_uuids(&a);
	cr_assert_str_eq(u, "GPU-1");
	free(u);
	json_decref(cs[0].labels);
}

Test(endpoint_gpu, an_endpoint_config_asks_for_count_times_gpus_of_each_variant)
{
	struct config_variant vs[2] = {
	    {.initial_instance_count = 3, .type = &type_one},
	    {.initial_instance_count = 2, .type = &type_two},
	};
	struct config_endpoint_config ec = {.variants = vs, .n_variants = 2};
	cr_assert_eq(endpoint_config_gpus(&ec), 7);
}

Test(endpoint_gpu, live_endpoints_promise_their_gpus_before_their_instances_launch)
{
	give_gpus(2);
	struct config_variant cv = {.initial_instance_count = 1, .type = &type_one};
	struct variant v1 = {.cv = &cv, .n_wanted = 1}, v2 = {.cv = &cv, .n_wanted = 1};
	struct fleet f1 = {.variants = &v1, .n_variants = 1}, f2 = {.variants = &v2, .n_variants = 1};
	struct endpoint creating = {.manager = &manager, .state = ENDPOINT_CREATING, .fleet = &f1};
	struct endpoint failed = {.manager = &manager, .state = ENDPOINT_FAILED, .fleet = &f2};
	manager.by_name = strmap_new();
	strmap_put(manager.by_name, "creating", &creating);
	strmap_put(manager.by_name, "failed", &failed);
	cr_assert_eq(endpoint_manager_free_gpus(&manager), 1);
	strmap_free(manager.by_name);
}

Test(endpoint_gpu, an_updating_endpoint_promises_the_gpus_of_both_fleets_it_wants)
{
	give_gpus(4);
	struct config_variant cv = {.initial_instance_count = 1, .type = &type_one};
	struct variant old = {.cv = &cv, .n_wanted = 1}, new = {.cv = &cv, .n_wanted = 2};
	struct fleet f_old = {.variants = &old, .n_variants = 1};
	struct fleet f_new = {.variants = &new, .n_variants = 1};
	struct endpoint updating = {.manager = &manager, .state = ENDPOINT_UPDATING,
				    .fleet = &f_old, .pending = &f_new};
	manager.by_name = strmap_new();
	strmap_put(manager.by_name, "updating", &updating);
	cr_assert_eq(endpoint_manager_free_gpus(&manager), 1);
	/* A rolling update that retired an old instance gives its GPU back. */
	old.n_wanted = 0;
	cr_assert_eq(endpoint_manager_free_gpus(&manager), 2);
	strmap_free(manager.by_name);
}
