/*
 * The Swarm API client on the Engine's own replies, kept in tests/data/swarm/
 * (captured from docker.io 28.2 in a single-node swarm; see README there):
 * the parsers are fed the files and hostile variants of them; the
 * asynchronous operations talk to a fake engine (evhttp on a Unix socket)
 * that answers with the same files.  Also the service spec of a variant and
 * the placement constraint check.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "docker.h"
#include "fake_engine.h"
#include "httpc.h"
#include "swarm.h"
#include "util.h"

/* Reads tests/data/swarm/<name>. */
static char *fixture(const char *name, size_t *ret_len)
{
	return fake_engine_fixture("swarm", name, ret_len);
}

/* Parses a JSON text as a list parser would be fed it. */
#define PARSE_STR(fn, s, ret, n) fn((s), strlen(s), (ret), (n))

/* Parsers. */

Test(swarm_parse, info_of_a_manager_gives_its_node_id_and_address)
{
	size_t len;
	_cleanup_free_ char *json = fixture("info.json", &len);
	struct swarm_info info;

	cr_assert_eq(swarm_parse_info(json, len, &info), 0);
	cr_assert(info.active);
	cr_assert(info.manager);
	cr_assert_str_eq(info.node_id, "wj8rwgyspjnii9pl8ba80lbm8");
	cr_assert_str_eq(info.node_addr, "127.0.0.1");
	cr_assert_null(info.error);
	swarm_info_clear(&info);
}

Test(swarm_parse, info_of_an_engine_outside_a_swarm_is_inactive_and_no_manager)
{
	const char *json = "{\"Swarm\":{\"NodeID\":\"\",\"NodeAddr\":\"\",\"LocalNodeState\":"
	                   "\"inactive\",\"ControlAvailable\":false,\"Error\":\"\"}}";
	struct swarm_info info;

	cr_assert_eq(swarm_parse_info(json, strlen(json), &info), 0);
	cr_assert_not(info.active);
	cr_assert_not(info.manager);
	cr_assert_null(info.node_id);
	swarm_info_clear(&info);
}

Test(swarm_parse, info_with_wrong_types_is_refused_and_leaves_ret_alone)
{
	static const char *const bad[] = {
	    "[]",
	    "{}",
	    "{\"Swarm\":[]}",
	    "{\"Swarm\":{\"LocalNodeState\":7}}",
	    "{\"Swarm\":{\"LocalNodeState\":\"active\"}}", /* active without a NodeID */
	    "{\"Swarm\":{\"LocalNodeState\":\"active\",\"NodeID\":\"x\",\"ControlAvailable\":"
	    "\"yes\"}}",
	    "{\"Swarm\":{\"LocalNodeState\":\"active\",\"NodeID\":{}}}",
	};
	struct swarm_info info = {.node_id = (char *)"untouched"};

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		cr_assert_eq(swarm_parse_info(bad[i], strlen(bad[i]), &info), -EINVAL, "%s",
		             bad[i]);
		cr_assert_str_eq(info.node_id, "untouched");
	}
}

Test(swarm_parse, nodes_give_state_address_labels_resources_and_gpus)
{
	size_t len, n;
	_cleanup_free_ char *json = fixture("nodes.json", &len);
	struct swarm_node *nodes;

	cr_assert_eq(swarm_parse_nodes(json, len, &nodes, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(nodes[0].id, "wj8rwgyspjnii9pl8ba80lbm8");
	cr_assert_str_eq(nodes[0].hostname, "vm");
	cr_assert_str_eq(nodes[0].role, "manager");
	cr_assert_str_eq(nodes[0].state, "ready");
	cr_assert_str_eq(nodes[0].availability, "active");
	cr_assert_str_eq(nodes[0].addr, "127.0.0.1");
	cr_assert_str_eq(json_string_value(json_object_get(nodes[0].labels, "gpu")), "h100");
	cr_assert_eq(nodes[0].nano_cpus, 2000000000);
	cr_assert_gt(nodes[0].memory_bytes, 0);
	cr_assert_eq(nodes[0].gpus, 2, "two named NVIDIA-GPU resources");
	swarm_node_clear(&nodes[0]);
	free(nodes);
}

Test(swarm_parse, discrete_gpu_resources_count_their_value_and_other_kinds_do_not_count)
{
	const char *json =
	    "[{\"ID\":\"n1\",\"Spec\":{\"Availability\":\"active\"},\"Status\":{\"State\":"
	    "\"ready\"},"
	    "\"Description\":{\"Resources\":{\"GenericResources\":["
	    "{\"DiscreteResourceSpec\":{\"Kind\":\"NVIDIA-GPU\",\"Value\":4}},"
	    "{\"DiscreteResourceSpec\":{\"Kind\":\"SSD\",\"Value\":2}},"
	    "{\"NamedResourceSpec\":{\"Kind\":\"NVIDIA-GPU\",\"Value\":\"gpu9\"}}]}}}]";
	struct swarm_node *nodes;
	size_t n;

	cr_assert_eq(PARSE_STR(swarm_parse_nodes, json, &nodes, &n), 0);
	cr_assert_eq(nodes[0].gpus, 5);
	cr_assert_null(nodes[0].addr);
	swarm_node_clear(&nodes[0]);
	free(nodes);
}

Test(swarm_parse, a_node_list_with_one_bad_entry_is_refused_whole)
{
	static const char *const bad[] = {
	    "{}",
	    "[7]",
	    "[{\"ID\":\"n1\",\"Spec\":{\"Availability\":\"active\"}}]", /* no Status */
	    "[{\"ID\":\"n1\",\"Spec\":{\"Availability\":\"active\",\"Labels\":{\"a\":1}},"
	    "\"Status\":{\"State\":\"ready\"}}]",
	    "[{\"ID\":\"n1\",\"Spec\":{\"Availability\":\"active\"},\"Status\":{\"State\":"
	    "\"ready\"},"
	    "\"Description\":{\"Resources\":{\"NanoCPUs\":-1}}}]",
	    "[{\"ID\":\"n1\",\"Spec\":{\"Availability\":\"active\"},\"Status\":{\"State\":"
	    "\"ready\"},"
	    "\"Description\":{\"Resources\":{\"GenericResources\":[{\"DiscreteResourceSpec\":"
	    "{\"Kind\":\"NVIDIA-GPU\",\"Value\":1e9}}]}}}]",
	    "[{\"ID\":\"n1\",\"Spec\":{\"Availability\":\"active\"},\"Status\":{\"State\":"
	    "\"ready\","
	    "\"Addr\":\"a\\u0000b\"}}]",
	};
	struct swarm_node *nodes = NULL;
	size_t n = 99;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		cr_assert_eq(PARSE_STR(swarm_parse_nodes, bad[i], &nodes, &n), -EINVAL, "%s",
		             bad[i]);
		cr_assert_null(nodes);
		cr_assert_eq(n, 99);
	}
}

Test(swarm_parse, service_gives_id_version_labels_replicas_and_spec)
{
	size_t len;
	_cleanup_free_ char *json = fixture("service-inspect.json", &len);
	struct swarm_service s;

	cr_assert_eq(swarm_parse_service(json, len, &s), 0);
	cr_assert_str_eq(s.id, "sbafssvvrxgv4i51lg3qm2aop");
	cr_assert_str_eq(s.name, "endpointd_fixture_ep_v");
	cr_assert_gt(s.version, 0);
	cr_assert_eq(s.replicas, 2);
	cr_assert_str_eq(json_string_value(json_object_get(s.labels, "io.endpointd.owner")),
	                 "fixture");
	cr_assert_not_null(json_object_get(s.spec, "TaskTemplate"));
	swarm_service_clear(&s);
}

Test(swarm_parse, service_list_gives_every_service)
{
	size_t len, n;
	_cleanup_free_ char *json = fixture("services.json", &len);
	struct swarm_service *ss;

	cr_assert_eq(swarm_parse_services(json, len, &ss, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(ss[0].name, "endpointd_fixture_ep_v");
	swarm_service_clear(&ss[0]);
	free(ss);
}

Test(swarm_parse, a_service_without_a_spec_or_with_a_negative_replica_count_is_refused)
{
	static const char *const bad[] = {
	    "{\"ID\":\"s\"}",
	    "{\"ID\":\"s\",\"Spec\":{}}",
	    "{\"ID\":\"s\",\"Spec\":{\"Name\":\"n\",\"Mode\":{\"Replicated\":{\"Replicas\":-1}}}}",
	    "{\"ID\":\"s\",\"Version\":{\"Index\":\"3\"},\"Spec\":{\"Name\":\"n\"}}",
	};
	struct swarm_service s = {.id = (char *)"untouched"};

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		cr_assert_eq(swarm_parse_service(bad[i], strlen(bad[i]), &s), -EINVAL, "%s",
		             bad[i]);
		cr_assert_str_eq(s.id, "untouched");
	}
}

Test(swarm_parse, running_tasks_give_slot_node_container_and_one_host_port_each)
{
	size_t len, n;
	_cleanup_free_ char *json = fixture("tasks-running.json", &len);
	struct swarm_task *ts;

	cr_assert_eq(swarm_parse_tasks(json, len, &ts, &n), 0);
	cr_assert_eq(n, 2);
	for (size_t i = 0; i < n; i++) {
		cr_assert_str_eq(ts[i].state, "running");
		cr_assert_str_eq(ts[i].desired_state, "running");
		cr_assert_str_eq(ts[i].node_id, "wj8rwgyspjnii9pl8ba80lbm8");
		cr_assert_str_eq(ts[i].service_id, "sbafssvvrxgv4i51lg3qm2aop");
		cr_assert_not_null(ts[i].container_id);
		cr_assert_eq(ts[i].n_ports, 1, "the IPv4 and IPv6 entries are one port");
		cr_assert_gt(ts[i].timestamp, 0);
		cr_assert_eq(ts[i].exit_code, 0);
		cr_assert_null(ts[i].err);
	}
	cr_assert_eq(ts[0].slot, 2);
	cr_assert_eq(swarm_task_published_port(&ts[0], 8080), 32769);
	cr_assert_eq(swarm_task_published_port(&ts[1], 8080), 32768);
	cr_assert_eq(swarm_task_published_port(&ts[1], 9090), 0);
	for (size_t i = 0; i < n; i++)
		swarm_task_clear(&ts[i]);
	free(ts);
}

Test(swarm_parse, a_task_that_cannot_be_placed_says_why_in_err)
{
	size_t len, n;
	_cleanup_free_ char *json = fixture("tasks-pending.json", &len);
	struct swarm_task *ts;

	cr_assert_eq(swarm_parse_tasks(json, len, &ts, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(ts[0].state, "pending");
	cr_assert_str_eq(ts[0].err, "no suitable node (insufficient resources on 1 node)");
	cr_assert_null(ts[0].node_id);
	cr_assert_null(ts[0].container_id);
	cr_assert_eq(ts[0].n_ports, 0);
	for (size_t i = 0; i < n; i++)
		swarm_task_clear(&ts[i]);
	free(ts);
}

Test(swarm_parse, tasks_after_scaling_keep_the_shut_down_one_with_its_desired_state)
{
	size_t len, n, shutdown = 0;
	_cleanup_free_ char *json = fixture("tasks-after-scaling.json", &len);
	struct swarm_task *ts;

	cr_assert_eq(swarm_parse_tasks(json, len, &ts, &n), 0);
	for (size_t i = 0; i < n; i++) {
		shutdown += !strcmp(ts[i].desired_state, "shutdown");
		swarm_task_clear(&ts[i]);
	}
	free(ts);
	cr_assert_eq(shutdown, 1);
}

Test(swarm_parse, task_ports_in_ingress_mode_or_over_udp_are_not_host_ports)
{
	const char *json =
	    "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"DesiredState\":\"running\",\"Status\":{\"State\":"
	    "\"running\",\"PortStatus\":{\"Ports\":["
	    "{\"Protocol\":\"tcp\",\"TargetPort\":8080,\"PublishedPort\":30000,\"PublishMode\":"
	    "\"ingress\"},"
	    "{\"Protocol\":\"udp\",\"TargetPort\":8080,\"PublishedPort\":30001,\"PublishMode\":"
	    "\"host\"},"
	    "{\"Protocol\":\"tcp\",\"TargetPort\":8080,\"PublishedPort\":0,\"PublishMode\":"
	    "\"host\"}]}}}]";
	struct swarm_task *ts;
	size_t n;

	cr_assert_eq(PARSE_STR(swarm_parse_tasks, json, &ts, &n), 0);
	cr_assert_eq(ts[0].n_ports, 0);
	cr_assert_eq(ts[0].exit_code, -1, "no ContainerStatus: no exit code");
	swarm_task_clear(&ts[0]);
	free(ts);
}

Test(swarm_parse, hostile_task_lists_are_refused_whole)
{
	static const char *const bad[] = {
	    "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"DesiredState\":\"running\"}]", /* no Status */
	    "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"DesiredState\":\"running\",\"Status\":{}}]",
	    "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"DesiredState\":\"running\",\"Slot\":-1,"
	    "\"Status\":{\"State\":\"running\"}}]",
	    "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"DesiredState\":\"running\",\"Status\":{\"State\":"
	    "\"running\",\"PortStatus\":{\"Ports\":[{\"TargetPort\":70000,\"PublishedPort\":1,"
	    "\"PublishMode\":\"host\"}]}}}]",
	    "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"DesiredState\":\"running\",\"Status\":{\"State\":"
	    "\"running\",\"PortStatus\":{\"Ports\":{}}}}]",
	    "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"DesiredState\":\"running\",\"Status\":{\"State\":"
	    "\"running\",\"Err\":[]}}]",
	    "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"DesiredState\":\"running\",\"Status\":{\"State\":"
	    "\"running\",\"ContainerStatus\":{\"ExitCode\":1.5}}}]",
	};
	struct swarm_task *ts = NULL;
	size_t n = 99;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		cr_assert_eq(PARSE_STR(swarm_parse_tasks, bad[i], &ts, &n), -EINVAL, "%s", bad[i]);
		cr_assert_null(ts);
		cr_assert_eq(n, 99);
	}
}

Test(swarm_parse, too_many_ports_on_a_task_or_too_long_a_string_is_refused)
{
	struct buf b = {0};
	struct swarm_task *ts = NULL;
	size_t n = 0;
	_cleanup_free_ char *big = xcalloc(SWARM_MAX_STRING + 2, 1);

	buf_printf(&b, "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"DesiredState\":\"running\",\"Status\":"
	               "{\"State\":\"running\",\"PortStatus\":{\"Ports\":[");
	for (int i = 0; i <= SWARM_MAX_PORTS; i++)
		buf_printf(&b,
		           "%s{\"TargetPort\":%d,\"PublishedPort\":%d,\"PublishMode\":\"host\"}",
		           i ? "," : "", 1 + i, 1000 + i);
	buf_printf(&b, "]}}}]");
	cr_assert_eq(swarm_parse_tasks(b.data, b.len, &ts, &n), -EINVAL);
	buf_reset(&b);

	memset(big, 'x', SWARM_MAX_STRING + 1);
	buf_printf(&b,
	           "[{\"ID\":\"%s\",\"ServiceID\":\"s\",\"DesiredState\":\"running\","
	           "\"Status\":{\"State\":\"running\"}}]",
	           big);
	cr_assert_eq(swarm_parse_tasks(b.data, b.len, &ts, &n), -EINVAL);
	buf_reset(&b);
	cr_assert_null(ts);
}

/* The service spec. */

/* A container spec as instance_container_spec() makes one. */
static json_t *container_spec(bool isolated)
{
	json_t *cs = json_pack(
	    "{s:s, s:[s], s:[s,s], s:s, s:{s:s, s:s, s:s, s:s, s:s}, s:{s:[{s:s, s:s, s:s, s:b}]}}",
	    "Image", "endpointd-demo-model:latest", "Cmd", "serve", "Env",
	    "SAGEMAKER_BIND_TO_PORT=8080", "NVIDIA_VISIBLE_DEVICES=void", "Hostname", "model",
	    "Labels", "io.endpointd.managed", "true", "io.endpointd.endpoint", "ep",
	    "io.endpointd.slot", "0", "io.endpointd.generation", "3", "io.endpointd.gpus", "GPU-1",
	    "HostConfig", "Mounts", "Type", "bind", "Source", "/srv/model", "Target",
	    "/opt/ml/model", "ReadOnly", 1);

	if (isolated)
		json_object_set_new(json_object_get(cs, "HostConfig"), "NetworkMode",
		                    json_string("none"));
	return cs;
}

Test(swarm_spec, a_variant_becomes_a_replicated_service_with_a_host_mode_port)
{
	static const char *const constraints[] = {"node.labels.gpu==h100"};
	json_t *cs = container_spec(false);
	struct swarm_service_params p = {.name = "endpointd_fixture_ep_v",
	                                 .replicas = 2,
	                                 .cpus = 0.5,
	                                 .memory = 268435456,
	                                 .gpus = 1,
	                                 .constraints = constraints,
	                                 .n_constraints = 1,
	                                 .port = 8080};
	const char *why = NULL;
	json_t *spec = swarm_service_spec(cs, &p, &why);
	size_t len;
	_cleanup_free_ char *want_text = fixture("service-create-request.json", &len);
	json_t *want = json_loads(want_text, 0, NULL);
	json_t *task = json_object_get(spec, "TaskTemplate");

	cr_assert_not_null(spec);
	/* What the Engine took in the capture, field by field. */
	cr_assert(json_equal(json_object_get(spec, "Mode"), json_object_get(want, "Mode")));
	cr_assert(json_equal(json_object_get(spec, "EndpointSpec"),
	                     json_object_get(want, "EndpointSpec")));
	cr_assert(json_equal(json_object_get(task, "Resources"),
	                     json_object_get(json_object_get(want, "TaskTemplate"), "Resources")));
	cr_assert(
	    json_equal(json_object_get(task, "RestartPolicy"),
	               json_object_get(json_object_get(want, "TaskTemplate"), "RestartPolicy")));
	cr_assert(json_equal(json_object_get(task, "Placement"),
	                     json_object_get(json_object_get(want, "TaskTemplate"), "Placement")));
	json_decref(want);
	json_decref(spec);
	json_decref(cs);
}

Test(swarm_spec, the_container_spec_carries_over_and_instance_labels_stay_off_the_service_and_its_tasks)
{
	json_t *cs = container_spec(false);
	struct swarm_service_params p = {.name = "s", .replicas = 1, .port = 8080};
	const char *why = NULL;
	json_t *spec = swarm_service_spec(cs, &p, &why);
	json_t *c = json_object_get(json_object_get(spec, "TaskTemplate"), "ContainerSpec");
	json_t *labels = json_object_get(spec, "Labels");

	cr_assert_str_eq(json_string_value(json_object_get(c, "Image")),
	                 "endpointd-demo-model:latest");
	cr_assert(json_equal(json_object_get(c, "Args"), json_object_get(cs, "Cmd")));
	cr_assert(json_equal(json_object_get(c, "Env"), json_object_get(cs, "Env")));
	cr_assert(json_equal(json_object_get(c, "Labels"), labels));
	cr_assert(json_equal(json_object_get(c, "Mounts"),
	                     json_object_get(json_object_get(cs, "HostConfig"), "Mounts")));
	cr_assert_str_eq(json_string_value(json_object_get(c, "Hostname")), "model");
	cr_assert_str_eq(json_string_value(json_object_get(labels, "io.endpointd.endpoint")), "ep");
	cr_assert_null(json_object_get(labels, "io.endpointd.slot"));
	cr_assert_null(json_object_get(labels, "io.endpointd.generation"));
	cr_assert_null(json_object_get(labels, "io.endpointd.gpus"));
	json_decref(spec);
	json_decref(cs);
}

Test(swarm_spec, an_instance_type_without_limits_or_gpus_reserves_nothing)
{
	json_t *cs = container_spec(false);
	struct swarm_service_params p = {.name = "s", .replicas = 3, .port = 8080};
	const char *why = NULL;
	json_t *spec = swarm_service_spec(cs, &p, &why);
	json_t *res = json_object_get(json_object_get(spec, "TaskTemplate"), "Resources");

	cr_assert_eq(json_object_size(json_object_get(res, "Limits")), 0);
	cr_assert_eq(json_object_size(json_object_get(res, "Reservations")), 0);
	cr_assert_null(json_object_get(json_object_get(spec, "TaskTemplate"), "Placement"));
	json_decref(spec);
	json_decref(cs);
}

Test(swarm_spec, a_network_isolated_model_gets_no_network_and_no_port)
{
	json_t *cs = container_spec(true);
	struct swarm_service_params p = {.name = "s", .replicas = 1, .port = 8080};
	const char *why = NULL;
	json_t *spec = swarm_service_spec(cs, &p, &why);
	json_t *task = json_object_get(spec, "TaskTemplate");

	cr_assert_null(json_object_get(json_object_get(spec, "EndpointSpec"), "Ports"));
	cr_assert_str_eq(json_string_value(json_object_get(
	                     json_array_get(json_object_get(task, "Networks"), 0), "Target")),
	                 "none");
	json_decref(spec);
	json_decref(cs);
}

Test(swarm_spec, a_container_spec_without_an_image_makes_no_service)
{
	json_t *cs = json_object();
	struct swarm_service_params p = {.name = "s", .replicas = 1};
	const char *why = NULL;

	cr_assert_null(swarm_service_spec(cs, &p, &why));
	cr_assert_not_null(why);
	json_decref(cs);
}

Test(swarm_spec, replicas_change_in_a_copy_of_the_spec)
{
	json_t *spec =
	    json_pack("{s:s, s:{s:{s:i}}}", "Name", "s", "Mode", "Replicated", "Replicas", 2);
	json_t *scaled = swarm_spec_with_replicas(spec, 5);

	cr_assert_eq(
	    json_integer_value(json_object_get(
	        json_object_get(json_object_get(scaled, "Mode"), "Replicated"), "Replicas")),
	    5);
	cr_assert_eq(json_integer_value(json_object_get(
	                 json_object_get(json_object_get(spec, "Mode"), "Replicated"), "Replicas")),
	             2);
	cr_assert_str_eq(json_string_value(json_object_get(scaled, "Name")), "s");
	json_decref(scaled);
	json_decref(spec);
}

/* Constraints. */

Test(swarm_constraint, swarms_own_attributes_and_labels_are_taken)
{
	static const char *const good[] = {
	    "node.labels.gpu==h100",      "node.role!=manager",
	    "node.hostname == gpu-1",     "engine.labels.zone==eu-west-1a",
	    "node.platform.arch==x86_64", "node.id==abc123",
	};
	const char *why = NULL;

	for (size_t i = 0; i < ELEMENTSOF(good); i++)
		cr_assert_eq(swarm_constraint_check(good[i], &why), 0, "%s: %s", good[i], why);
}

Test(swarm_constraint, what_swarm_would_refuse_is_refused_with_the_reason)
{
	static const struct {
		const char *s, *why;
	} bad[] = {
	    {"node.labels.gpu", "no == or !="},
	    {"node.labels.gpu=h100", "no == or !="},
	    {"node.colour==red", "does not name"},
	    {"node.labels.==h100", "does not name"},
	    {"node.labels.gpu==", "no value"},
	    {"node.labels.gpu==h100;rm", "character"},
	    {"node.labels.gpu==a==b", "more than one operator"},
	};
	const char *why = NULL;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		cr_assert_eq(swarm_constraint_check(bad[i].s, &why), -EINVAL, "%s", bad[i].s);
		cr_assert(strstr(why, bad[i].why), "%s: %s", bad[i].s, why);
	}
}

Test(swarm_constraint, a_node_meets_what_its_id_hostname_role_and_labels_say)
{
	size_t len, n;
	_cleanup_free_ char *json = fixture("nodes.json", &len);
	struct swarm_node *nodes;
	static const char *const met[] = {
	    "node.labels.gpu==h100",
	    "node.labels.gpu == H100",
	    "node.labels.zone==a",
	    "node.labels.rack!=r1",
	    "node.role==manager",
	    "node.hostname!=gpu-2",
	    "node.id==wj8rwgyspjnii9pl8ba80lbm8",
	    "engine.labels.any==thing",
	    "node.platform.os==linux",
	};
	static const char *const unmet[] = {
	    "node.labels.gpu==a100", "node.labels.gpu!=h100", "node.labels.zone!=a",
	    "node.labels.rack==r1",  "node.role==worker",     "node.hostname==gpu-2",
	};

	cr_assert_eq(swarm_parse_nodes(json, len, &nodes, &n), 0);
	for (size_t i = 0; i < ELEMENTSOF(met); i++)
		cr_assert(swarm_node_meets(&nodes[0], met[i]), "%s", met[i]);
	for (size_t i = 0; i < ELEMENTSOF(unmet); i++)
		cr_assert_not(swarm_node_meets(&nodes[0], unmet[i]), "%s", unmet[i]);
	swarm_node_clear(&nodes[0]);
	free(nodes);
}

/* The operations, against a fake engine. */

static struct event_base *base;
static struct evhttp *engine;
static struct httpc *hc;
static struct docker *dk;
static char sockdir[64];
static char sockpath[100];
static bool stale_once; /* answer the first update "out of sequence" */

static void reply_fixture(struct evhttp_request *req, int code, const char *name)
{
	size_t len;
	_cleanup_free_ char *body = fixture(name, &len);

	fake_engine_reply(req, code, body, len);
}

#define REPLY_STR(req, code, s) fake_engine_reply((req), (code), (s), strlen(s))

static void on_engine(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *p = uri + strlen("/v1.41");

	(void)arg;
	fake_engine_record(req);
	if (!strcmp(uri, "/_ping"))
		return REPLY_STR(req, 200, "OK");
	if (!strcmp(uri, "/version"))
		return REPLY_STR(req, 200, "{\"ApiVersion\":\"1.50\",\"MinAPIVersion\":\"1.24\"}");
	if (!str_has_prefix(uri, "/v1.41/"))
		return REPLY_STR(req, 400, "{\"message\":\"client version not pinned\"}");
	if (!strcmp(p, "/info"))
		return reply_fixture(req, 200, "info.json");
	if (!strcmp(p, "/nodes"))
		return reply_fixture(req, 200, "nodes.json");
	if (!strcmp(p, "/services/create"))
		return strstr(fake_engine_last_body() ? fake_engine_last_body() : "", "\"taken\"")
		           ? reply_fixture(req, 409, "error-service-exists.json")
		           : reply_fixture(req, 201, "service-create.json");
	if (str_has_prefix(p, "/services?filters="))
		return reply_fixture(req, 200, "services.json");
	if (!strcmp(p, "/services/garbage"))
		return REPLY_STR(req, 200, "{\"ID\":7}");
	if (str_has_prefix(p, "/services/nope"))
		return reply_fixture(req, 404, "error-no-such-service.json");
	if (str_has_prefix(p, "/services/sbafssvvrxgv4i51lg3qm2aop/update")) {
		if (stale_once) {
			stale_once = false;
			return reply_fixture(req, 500, "error-update-out-of-sequence.json");
		}
		return reply_fixture(req, 200, "service-update.json");
	}
	if (!strcmp(p, "/services/sbafssvvrxgv4i51lg3qm2aop") && cmd == EVHTTP_REQ_GET)
		return reply_fixture(req, 200, "service-inspect.json");
	if (str_has_prefix(p, "/services/") && cmd == EVHTTP_REQ_DELETE)
		return REPLY_STR(req, 200, "");
	if (str_has_prefix(p, "/events?filters="))
		return reply_fixture(req, 200, "events.jsonl");
	if (str_has_prefix(p, "/tasks"))
		return reply_fixture(
		    req, 200, strstr(p, "big") ? "tasks-pending.json" : "tasks-running.json");
	REPLY_STR(req, 404, "{\"message\":\"page not found\"}");
}

static void engine_setup(void)
{
	snprintf(sockdir, sizeof(sockdir), "/tmp/swarm-test-XXXXXX");
	cr_assert_not_null(mkdtemp(sockdir));
	snprintf(sockpath, sizeof(sockpath), "%s/docker.sock", sockdir);
	base = event_base_new();
	engine = evhttp_new(base);
	evhttp_set_gencb(engine, on_engine, NULL);
	fake_engine_listen(base, engine, sockpath);
	hc = httpc_new(base);
	dk = docker_new(base, hc, sockpath, NULL, NULL);
}

static void engine_teardown(void)
{
	dk = docker_free(dk);
	hc = httpc_free(hc);
	evhttp_free(engine);
	event_base_free(base);
	fake_engine_forget();
	unlink(sockpath);
	rmdir(sockdir);
}

TestSuite(swarm_client, .init = engine_setup, .fini = engine_teardown, .timeout = 30);

static bool seen_request(const char *what)
{
	return fake_engine_seen(what);
}

static void run_until(const int *count, int want)
{
	fake_engine_run_until(base, count, want, 10000);
}

/* What each kind of callback got. */
struct got {
	int calls;
	int err;
	char message[512];
	char text[512];
	size_t n;
};

static void got_result(struct got *g, const struct docker_result *r)
{
	g->calls++;
	g->err = r->err;
	snprintf(g->message, sizeof(g->message), "%s", r->message ? r->message : "");
	cr_assert(r->err ? r->message != NULL : r->message == NULL, "message iff error");
}

static void on_done(const struct docker_result *r, void *userdata)
{
	got_result(userdata, r);
}

static void on_info(const struct docker_result *r, const struct swarm_info *info, void *userdata)
{
	struct got *g = userdata;

	got_result(g, r);
	if (info)
		snprintf(g->text, sizeof(g->text), "%s %d", info->node_id, info->manager);
}

static void on_nodes(const struct docker_result *r, const struct swarm_node *nodes, size_t n,
                     void *userdata)
{
	struct got *g = userdata;

	got_result(g, r);
	g->n = n;
	if (n)
		snprintf(g->text, sizeof(g->text), "%s %u", nodes[0].addr, nodes[0].gpus);
}

static void on_create(const struct docker_result *r, const char *id, void *userdata)
{
	struct got *g = userdata;

	got_result(g, r);
	snprintf(g->text, sizeof(g->text), "%s", id ? id : "");
}

static void on_services(const struct docker_result *r, const struct swarm_service *ss, size_t n,
                        void *userdata)
{
	struct got *g = userdata;

	got_result(g, r);
	g->n = n;
	if (n)
		snprintf(g->text, sizeof(g->text), "%s", ss[0].name);
}

static void on_service(const struct docker_result *r, const struct swarm_service *s, void *userdata)
{
	struct got *g = userdata;

	got_result(g, r);
	snprintf(g->text, sizeof(g->text), "%s", s ? s->name : "(none)");
}

static void on_tasks(const struct docker_result *r, const struct swarm_task *ts, size_t n,
                     void *userdata)
{
	struct got *g = userdata;

	got_result(g, r);
	g->n = n;
	if (n)
		snprintf(g->text, sizeof(g->text), "%s %u", ts[0].state,
		         swarm_task_published_port(&ts[0], 8080));
}

Test(swarm_client, info_is_read_on_the_pinned_version)
{
	struct got g = {0};

	swarm_info(dk, on_info, &g);
	cr_assert_eq(g.calls, 0, "never from inside the call");
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, 0, "%s", g.message);
	cr_assert_str_eq(g.text, "wj8rwgyspjnii9pl8ba80lbm8 1");
	cr_assert(seen_request("GET /v1.41/info"));
}

Test(swarm_client, nodes_are_listed_with_their_address_and_gpus)
{
	struct got g = {0};

	swarm_node_list(dk, on_nodes, &g);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, 0, "%s", g.message);
	cr_assert_eq(g.n, 1);
	cr_assert_str_eq(g.text, "127.0.0.1 2");
}

Test(swarm_client, create_sends_the_spec_and_gives_the_new_id)
{
	struct got g = {0};
	json_t *spec = json_pack("{s:s}", "Name", "fresh");

	swarm_service_create(dk, spec, on_create, &g);
	json_decref(spec);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, 0, "%s", g.message);
	cr_assert_str_eq(g.text, "sbafssvvrxgv4i51lg3qm2aop");
	cr_assert_str_eq(fake_engine_last_body(), "{\"Name\":\"fresh\"}");
}

Test(swarm_client, create_of_a_name_in_use_is_eexist_with_the_engines_words)
{
	struct got g = {0};
	json_t *spec = json_pack("{s:s}", "Name", "taken");

	swarm_service_create(dk, spec, on_create, &g);
	json_decref(spec);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, -EEXIST);
	cr_assert(strstr(g.message, "already exists"), "%s", g.message);
	cr_assert_str_eq(g.text, "");
}

Test(swarm_client, services_are_listed_by_label)
{
	struct got g = {0};

	swarm_service_list(dk, "io.endpointd.owner=fixture", on_services, &g);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, 0, "%s", g.message);
	cr_assert_eq(g.n, 1);
	cr_assert(seen_request("GET /v1.41/services?filters="
	                       "%7B%22label%22%3A%5B%22io.endpointd.owner%3Dfixture%22%5D%7D"));
}

Test(swarm_client, inspect_of_a_missing_service_is_enoent)
{
	struct got g = {0};

	swarm_service_inspect(dk, "nope", on_service, &g);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, -ENOENT);
	cr_assert_str_eq(g.message, "service nope not found");
	cr_assert_str_eq(g.text, "(none)");
}

Test(swarm_client, a_reply_that_does_not_parse_fails_with_eio)
{
	struct got g = {0};

	swarm_service_inspect(dk, "garbage", on_service, &g);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, -EIO);
	cr_assert(strstr(g.message, "cannot parse the service"), "%s", g.message);
}

Test(swarm_client, scale_inspects_then_updates_at_the_version_read)
{
	struct got g = {0};

	swarm_service_scale(dk, "sbafssvvrxgv4i51lg3qm2aop", 5, on_done, &g);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, 0, "%s", g.message);
	cr_assert(seen_request("GET /v1.41/services/sbafssvvrxgv4i51lg3qm2aop"));
	const char *body = fake_engine_last_body();
	cr_assert(seen_request("POST /v1.41/services/sbafssvvrxgv4i51lg3qm2aop/update?version=38"));
	cr_assert(strstr(body, "\"Replicas\":5"), "%s", body);
	cr_assert(strstr(body, "\"Name\":\"endpointd_fixture_ep_v\""), "%s", body);
}

Test(swarm_client, an_update_at_a_stale_version_is_estale)
{
	struct got g = {0};
	json_t *spec = json_pack("{s:s}", "Name", "endpointd_fixture_ep_v");

	stale_once = true;
	swarm_service_update(dk, "sbafssvvrxgv4i51lg3qm2aop", 3, spec, on_done, &g);
	json_decref(spec);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, -ESTALE);
	cr_assert(strstr(g.message, "update out of sequence"), "%s", g.message);
}

Test(swarm_client, removing_a_service_that_is_gone_succeeds)
{
	struct got g1 = {0}, g2 = {0};

	swarm_service_remove(dk, "nope", on_done, &g1);
	swarm_service_remove(dk, "sbafssvvrxgv4i51lg3qm2aop", on_done, &g2);
	run_until(&g1.calls, 1);
	run_until(&g2.calls, 1);
	cr_assert_eq(g1.err, 0, "%s", g1.message);
	cr_assert_eq(g2.err, 0, "%s", g2.message);
	cr_assert(seen_request("DELETE /v1.41/services/nope"));
}

Test(swarm_client, tasks_are_listed_by_service_label_and_desired_state)
{
	struct got g = {0};
	struct swarm_task_filter f = {
	    .service = "big", .label = "io.endpointd.owner=fixture", .desired_state = "running"};

	swarm_task_list(dk, &f, on_tasks, &g);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, 0, "%s", g.message);
	cr_assert_eq(g.n, 2);
	cr_assert_str_eq(g.text, "pending 0");
	cr_assert(seen_request("GET /v1.41/tasks?filters="
	                       "%7B%22desired-state%22%3A%5B%22running%22%5D%2C%22label%22%3A%5B%"
	                       "22io.endpointd.owner%3Dfixture%22%5D%2C%22service%22%3A%5B%22big%"
	                       "22%5D%7D"));
}

Test(swarm_client, tasks_are_listed_for_any_of_several_services)
{
	static const char *const ids[] = {"big", "small"};
	struct got g = {0};
	struct swarm_task_filter f = {.services = ids, .n_services = 2};

	swarm_task_list(dk, &f, on_tasks, &g);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, 0, "%s", g.message);
	cr_assert(seen_request("GET /v1.41/tasks?filters="
	                       "%7B%22service%22%3A%5B%22big%22%2C%22small%22%5D%7D"));
}

struct watch_log {
	int connects, services, nodes, replica_updates;
};

static void on_event(const struct docker_event *ev, bool ended, void *userdata)
{
	struct watch_log *w = userdata;

	if (ended)
		return;
	if (!ev) {
		w->connects++;
		return;
	}
	w->services += !strcmp(ev->type, "service");
	w->nodes += !strcmp(ev->type, "node");
	w->replica_updates += json_object_get(ev->attributes, "replicas.new") != NULL;
}

Test(swarm_client, service_and_node_events_are_watched_on_one_stream)
{
	struct watch_log w = {0};

	swarm_events_watch(dk, on_event, &w);
	run_until(&w.nodes, 1);
	cr_assert_eq(w.services, 4);
	cr_assert_eq(w.nodes, 1);
	cr_assert_eq(w.replica_updates, 1);
	cr_assert_geq(w.connects, 1);
	cr_assert(seen_request("GET /v1.41/events?filters="
	                       "%7B%22type%22%3A%5B%22service%22%2C%22node%22%5D%7D"));
}

Test(swarm_client, free_completes_every_swarm_operation_once_with_ecanceled)
{
	struct got g1 = {0}, g2 = {0}, g3 = {0};

	swarm_info(dk, on_info, &g1);
	swarm_task_list(dk, NULL, on_tasks, &g2);
	swarm_service_scale(dk, "sbafssvvrxgv4i51lg3qm2aop", 1, on_done, &g3);
	dk = docker_free(dk);
	cr_assert_eq(g1.calls, 1);
	cr_assert_eq(g1.err, -ECANCELED);
	cr_assert_eq(g2.calls, 1);
	cr_assert_eq(g2.err, -ECANCELED);
	cr_assert_eq(g3.calls, 1);
	cr_assert_eq(g3.err, -ECANCELED);
	cr_assert_eq(httpc_active(hc), 0);
}
