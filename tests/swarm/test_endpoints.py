"""An endpointd in swarm mode on the three-node cluster, end to end.

The daemon runs on the host against the cluster's manager (node 1); its
instance type keeps tasks off the manager, so every instance is a task on
another node, reached at that node's address in the cluster's subnet.
Killing the dockerd of a node with a task takes that instance out of
rotation, and the other keeps serving.

ENDPOINTD_BIN (default: the build's daemon/endpointd, from top_builddir or
the current directory's parent, as tests/run-swarm-tests runs in the
build's tests/) is the daemon under test; the suite skips without one.
"""

import json
import os
import shutil
import sys

import pytest

from conftest import TOP_SRCDIR, wait_until

sys.path.insert(0, os.path.join(TOP_SRCDIR, "tests", "integration"))
import endpointd_harness as h  # noqa: E402
from endpointd_harness import ApiClient, Daemon  # noqa: E402

WORKER_TYPE = "ml.c5.large"
CONFIG = "swarm-workers-config"


def _binary():
    path = os.environ.get("ENDPOINTD_BIN") or os.path.join(
        os.environ.get("top_builddir") or os.path.join(os.getcwd(), os.pardir), "daemon",
        "endpointd")
    if not os.access(path, os.X_OK):
        pytest.skip(f"no endpointd to test at {path} (set ENDPOINTD_BIN)")
    return path


def _configs_yaml():
    return h.endpoint_configs_yaml([(CONFIG, "demo-invoke", 2, WORKER_TYPE)],
                                   startup_timeout_s=60)


@pytest.fixture(scope="module")
def daemon(cluster, demo_image):
    d = Daemon(_binary(), cluster.env["manager_socket"], demo_image, docker_mode="swarm",
               extra_yaml=_configs_yaml(),
               extra_instance_types={
                   WORKER_TYPE: '{ cpus: 0.1, memory: 128MiB, constraints: [ "node.role!=manager" ] }'})
    try:
        d.start()
        yield d
        api = ApiClient("127.0.0.1", d.port)
        for name in api.endpoint_names():
            h._cleanup_endpoint(api, name)
    finally:
        d.stop()
        if not os.environ.get("ENDPOINTD_TEST_KEEP"):
            shutil.rmtree(d.workdir, ignore_errors=True)


def _count(api, name):
    return api.describe(name)["ProductionVariants"][0]["CurrentInstanceCount"]


def _invoke(api, name):
    r = api.raw(b"{}", path=f"/endpoints/{name}/invocations",
                content_type="application/json", target=None)
    return r.status, (json.loads(r.body) if r.status == 200 else r.body)


def _hostnames(api, name, calls):
    seen = set()
    for _ in range(calls):
        status, body = _invoke(api, name)
        assert status == 200, body
        seen.add(body["hostname"])
    return seen


def test_tasks_on_other_nodes_are_invoked_and_a_killed_node_leaves_the_rotation(cluster, daemon):
    api = ApiClient("127.0.0.1", daemon.port)
    name = h.unique_name("mn")
    since = daemon.log_size()
    api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": CONFIG})
    api.wait_in_service(name, timeout=120)
    log = daemon.log_tail(since, max_lines=1000)
    workers = [n for n in cluster.nodes if n.role != "manager"]
    assert any(f"at {n.address}:" in log for n in workers), log
    assert len(_hostnames(api, name, 20)) == 2

    service = next(s for s in cluster.manager.ok("GET", "/services")
                   if s["Spec"]["Labels"].get("io.endpointd.endpoint") == name)
    running = [t for t in cluster.manager.tasks(service["ID"]) if t["DesiredState"] == "running"]
    victim = cluster.node_by_id(running[0]["NodeID"])
    survivor = next(n for n in workers if n is not victim)
    since = daemon.log_size()
    cluster.run("kill", str(victim.number))
    try:
        wait_until(lambda: _count(api, name) == 1, 60, interval=0.25,
                   what="the killed node's instance leaves the rotation")
        _hostnames(api, name, 10)
        # Swarm would not move the task (restart policy none): endpointd
        # asks for a new one, which only the other worker can take.
        wait_until(lambda: _count(api, name) == 2, 120, interval=0.5,
                   what="a new task on the other worker replaces it")
        log = daemon.log_tail(since, max_lines=1000)
        assert "lost its node (down)" in log, log
        assert f"at {survivor.address}:" in log, log
        assert len(_hostnames(api, name, 20)) == 2
        variant = api.describe(name)["ProductionVariants"][0]
        assert variant["CurrentInstanceCount"] == 2 and variant["DesiredInstanceCount"] == 2
    finally:
        cluster.run("restart", str(victim.number), timeout=120)

    # The node is back and stops its stale task; the endpoint keeps its two.
    def stale_task_over():
        tasks = cluster.manager.tasks(service["ID"])
        return all(t["Status"]["State"] != "running" for t in tasks
                   if t["NodeID"] == victim.id)
    wait_until(stale_task_over, 120, interval=0.5, what="the returned node stops its stale task")
    assert _count(api, name) == 2
    assert len(_hostnames(api, name, 20)) == 2
    assert api.describe(name)["EndpointStatus"] == "InService"
