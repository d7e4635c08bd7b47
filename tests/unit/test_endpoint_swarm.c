/*
 * The Swarm backend's pure part (lib/endpoint_swarm.c): what a task means
 * for its instance, on the tasks captured in tests/data/swarm/, what a
 * variant's service is called, and what its instance type asks of Swarm.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "config.h"
#include "endpoint.h"
#include "endpoint_private.h"
#include "fake_engine.h"
#include "swarm.h"
#include "util.h"

/* The tasks of tests/data/swarm/<name>; *ret_n of them. */
static struct swarm_task *tasks(const char *name, size_t *ret_n)
{
	size_t len;
	_cleanup_free_ char *json = fake_engine_fixture("swarm", name, &len);
	struct swarm_task *ts;

	cr_assert_eq(swarm_parse_tasks(json, len, &ts, ret_n), 0);
	return ts;
}

static void tasks_free(struct swarm_task *ts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		swarm_task_clear(&ts[i]);
	free(ts);
}

Test(endpoint_swarm, a_running_task_is_an_instance_still_to_be_probed)
{
	size_t n;
	struct swarm_task *ts = tasks("tasks-running.json", &n);

	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(endpoint_swarm_task_state(&ts[i]), INSTANCE_PROBING);
		cr_assert_not(endpoint_swarm_task_unplaced(&ts[i]));
	}
	tasks_free(ts, n);
}

Test(endpoint_swarm, a_task_the_scheduler_cannot_place_is_creating_and_unplaced_with_its_reason)
{
	size_t n;
	struct swarm_task *ts = tasks("tasks-pending.json", &n);

	cr_assert_eq(endpoint_swarm_task_state(&ts[0]), INSTANCE_CREATING);
	cr_assert(endpoint_swarm_task_unplaced(&ts[0]));
	cr_assert_str_eq(endpoint_swarm_task_reason(&ts[0]),
	                 "no suitable node (insufficient resources on 1 node)");
	tasks_free(ts, n);
}

Test(endpoint_swarm, a_killed_task_is_a_failed_instance_though_swarm_no_longer_wants_it)
{
	size_t n;
	struct swarm_task *ts = tasks("tasks-killed.json", &n);

	cr_assert_eq(n, 3);
	for (size_t i = 0; i < n; i++) {
		bool killed = ts[i].slot == 2;

		cr_assert_eq(endpoint_swarm_task_state(&ts[i]),
		             killed ? INSTANCE_FAILED : INSTANCE_PROBING, "slot %u", ts[i].slot);
		if (killed)
			cr_assert_str_eq(endpoint_swarm_task_reason(&ts[i]),
			                 "task: non-zero exit (137)");
	}
	tasks_free(ts, n);
}

Test(endpoint_swarm, a_task_swarm_is_retiring_is_no_instance)
{
	struct swarm_task running = {.state = (char *)"running",
	                             .desired_state = (char *)"shutdown"};
	struct swarm_task stopped = {.state = (char *)"shutdown",
	                             .desired_state = (char *)"shutdown"};

	cr_assert_eq(endpoint_swarm_task_state(&running), INSTANCE_GONE);
	cr_assert_eq(endpoint_swarm_task_state(&stopped), INSTANCE_GONE);
}

Test(endpoint_swarm, ended_and_unknown_task_states_are_failures)
{
	struct swarm_task t = {.desired_state = (char *)"running"};
	static const char *const ended[] = {"complete", "failed", "rejected", "orphaned",
	                                    "shutdown", "remove", "exploded"};

	for (size_t i = 0; i < ELEMENTSOF(ended); i++) {
		t.state = (char *)ended[i];
		cr_assert_eq(endpoint_swarm_task_state(&t), INSTANCE_FAILED, "%s", ended[i]);
	}
	t.state = (char *)"starting";
	cr_assert_eq(endpoint_swarm_task_state(&t), INSTANCE_STARTING);
	t.message = (char *)"started";
	cr_assert_str_eq(endpoint_swarm_task_reason(&t), "started");
}

Test(endpoint_swarm, service_names_fit_swarms_63_characters_and_tell_variants_and_fleets_apart)
{
	char e[64], v[64];
	memset(e, 'e', 63);
	e[63] = '\0';
	memset(v, 'v', 63);
	v[63] = '\0';
	_cleanup_free_ char *a = endpoint_swarm_service_name("0123456789abcdef", e, v, 0);
	_cleanup_free_ char *b = endpoint_swarm_service_name("0123456789abcdef", e, v, 1);
	_cleanup_free_ char *c = endpoint_swarm_service_name("0123456789abcdef", e, "w", 0);
	_cleanup_free_ char *d = endpoint_swarm_service_name("0123456789abcdef", "EP", "V", 0);
	_cleanup_free_ char *d2 = endpoint_swarm_service_name("0123456789abcdef", "ep", "v", 0);

	cr_assert_leq(strlen(a), 63);
	cr_assert(str_has_prefix(a, "endpointd_01234567_"), "%s", a);
	cr_assert_str_neq(a, b);
	cr_assert_str_neq(a, c);
	cr_assert_str_eq(d, d2, "names are case-insensitive");
}

Test(endpoint_swarm, the_instance_type_gives_the_services_resources_constraints_and_port)
{
	static const char *const yaml =
	    "instance_types:\n"
	    "  ml.g5.xlarge: { cpus: 4, memory: 16GiB, gpus: 1,\n"
	    "                  constraints: [ \"node.labels.gpu==h100\" ] }\n"
	    "Models:\n"
	    "  - { ModelName: m, PrimaryContainer: { Image: m:1 } }\n"
	    "  - { ModelName: iso, PrimaryContainer: { Image: m:1 }, EnableNetworkIsolation: true "
	    "}\n"
	    "EndpointConfigs:\n"
	    "  - EndpointConfigName: ec\n"
	    "    ProductionVariants:\n"
	    "      - { VariantName: a, ModelName: m, InitialInstanceCount: 2,\n"
	    "          InstanceType: ml.g5.xlarge }\n"
	    "      - { VariantName: b, ModelName: iso, InitialInstanceCount: 1,\n"
	    "          InstanceType: ml.g5.xlarge }\n";
	struct config *c = NULL;
	char *error = NULL;
	struct swarm_service_params p;

	cr_assert_eq(config_load_string("swarm.yaml", yaml, &c, &error), 0, "%s", error);
	const struct config_endpoint_config *ec = config_find_endpoint_config(c, "ec");
	endpoint_swarm_service_params(&ec->variants[0], "s", 2, &p);
	cr_assert_str_eq(p.name, "s");
	cr_assert_eq(p.replicas, 2);
	cr_assert_float_eq(p.cpus, 4.0, 1e-9);
	cr_assert_eq(p.memory, 16ULL << 30);
	cr_assert_eq(p.gpus, 1);
	cr_assert_eq(p.n_constraints, 1);
	cr_assert_str_eq(p.constraints[0], "node.labels.gpu==h100");
	cr_assert_eq(p.port, 8080);
	endpoint_swarm_service_params(&ec->variants[1], "s", 1, &p);
	cr_assert_eq(p.port, 0, "a network-isolated model publishes no port");
	config_unref(c);
}

/* The node of tests/data/swarm/nodes.json: 2 CPUs, ~23.5 GiB, 2 GPUs, gpu=h100. */
static struct swarm_node *nodes(size_t *ret_n)
{
	size_t len;
	_cleanup_free_ char *json = fake_engine_fixture("swarm", "nodes.json", &len);
	struct swarm_node *ns;

	cr_assert_eq(swarm_parse_nodes(json, len, &ns, ret_n), 0);
	return ns;
}

Test(endpoint_swarm, admission_takes_a_type_some_node_could_hold_and_refuses_one_none_could)
{
	static const char *const h100[] = {"node.labels.gpu==h100"};
	static const char *const a100[] = {"node.labels.gpu==a100"};
	static const struct {
		struct config_instance_type t;
		bool fits;
	} cases[] = {
	    {{.name = (char *)"none"}, true},
	    {{.name = (char *)"fits",
	      .cpus = 2,
	      .memory = 1ULL << 30,
	      .gpus = 2,
	      .constraints = (char **)h100,
	      .n_constraints = 1},
	     true},
	    {{.name = (char *)"cpus", .cpus = 2.5}, false},
	    {{.name = (char *)"memory", .memory = 64ULL << 30}, false},
	    {{.name = (char *)"gpus", .gpus = 3}, false},
	    {{.name = (char *)"label", .constraints = (char **)a100, .n_constraints = 1}, false},
	};
	size_t n;
	struct swarm_node *ns = nodes(&n);

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		cr_assert_eq(endpoint_swarm_type_fits(ns, n, &cases[i].t), cases[i].fits, "%s",
		             cases[i].t.name);
	cr_assert_not(endpoint_swarm_type_fits(ns, 0, &cases[0].t), "a swarm with no node");
	for (size_t i = 0; i < n; i++)
		swarm_node_clear(&ns[i]);
	free(ns);
}

#define LIVE(n, node) {.slot = n, .node_id = node, .running = true, .kind = SWARM_SLOT_LIVE}
#define DEAD(n, node) {.slot = n, .node_id = node, .running = false, .kind = SWARM_SLOT_DEAD}

Test(endpoint_swarm, dropping_dead_slots_is_exact_when_swarm_would_drop_them_first)
{
	/* One node: the dead slot is the service's second on it. */
	const struct endpoint_swarm_slot one_node[] = {DEAD(1, "a"), LIVE(2, "a")};
	/* Each dead slot shares its node with a live one, which is kept first. */
	const struct endpoint_swarm_slot shared[] = {LIVE(1, "a"), DEAD(2, "b"), LIVE(3, "b")};
	/* The lost node came back: its dead slot and one live slot elsewhere. */
	const struct endpoint_swarm_slot alone[] = {DEAD(1, "b"), LIVE(2, "a")};

	cr_assert(endpoint_swarm_drop_is_exact(one_node, ELEMENTSOF(one_node)));
	cr_assert(endpoint_swarm_drop_is_exact(shared, ELEMENTSOF(shared)));
	cr_assert(endpoint_swarm_drop_is_exact(alone, ELEMENTSOF(alone)));
}

Test(endpoint_swarm, dropping_dead_slots_is_not_exact_when_swarm_would_drop_a_live_one)
{
	/* Alone on its node, the dead slot ranks with the first of node a and
	 * before its second, which Swarm would drop. */
	const struct endpoint_swarm_slot balanced[] = {LIVE(1, "a"), DEAD(2, "b"), LIVE(3, "a")};
	/* A slot not placed yet has no node and goes first. */
	const struct endpoint_swarm_slot unplaced[] = {
	    LIVE(1, "a"), DEAD(2, "a"), {.slot = 3, .kind = SWARM_SLOT_LIVE}};
	const struct endpoint_swarm_slot none_dead[] = {LIVE(1, "a"), LIVE(2, "b")};

	cr_assert_not(endpoint_swarm_drop_is_exact(balanced, ELEMENTSOF(balanced)));
	cr_assert_not(endpoint_swarm_drop_is_exact(unplaced, ELEMENTSOF(unplaced)));
	cr_assert_not(endpoint_swarm_drop_is_exact(none_dead, ELEMENTSOF(none_dead)));
	cr_assert_not(endpoint_swarm_drop_is_exact(NULL, 0));
}
