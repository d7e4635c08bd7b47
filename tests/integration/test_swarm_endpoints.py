"""Endpoints in docker mode swarm, end to end, on a single-node swarm.

The module starts a dockerd of its own (never the suite's shared engine: a
swarm init would change it for everyone) with two fake NVIDIA-GPU generic
resources, makes it a swarm over 127.0.0.1, loads the demo image into it and
runs an endpointd of its own on it with `docker: { mode: swarm }`.  Each
production variant is then a service, each instance a task, reached at its
node's address and host-mode port.  Skipped when that dockerd cannot be
started or cannot make a swarm.  When the whole suite runs in swarm mode
(ENDPOINTD_TEST_DOCKER_MODE=swarm) its engine is such a swarm already, with
the same two fake GPUs, and the module uses it.
"""

import json
import os
import shutil
import threading

import pytest

import endpointd_harness as h
from endpointd_harness import ApiClient, Daemon
from test_invoke_support import invoke
from test_swarm_services import _docker, single_node_swarm

GPU_TYPE = "ml.g5.xlarge"
HUGE_GPU_TYPE = "ml.p4d.24xlarge"
INSTANCE_TYPES = {
    GPU_TYPE: "{ cpus: 0.1, memory: 128MiB, gpus: 1 }",
    HUGE_GPU_TYPE: "{ cpus: 0.1, memory: 128MiB, gpus: 8 }",
}
GPU_TRIO_CONFIG = "swarm-gpu-trio-config"
HUGE_GPU_CONFIG = "swarm-huge-gpu-config"
SERVICE_LABEL = "io.endpointd.endpoint"


def _configs_yaml():
    # The least startup timeout the API takes: a task never placed fails then.
    return h.endpoint_configs_yaml([(GPU_TRIO_CONFIG, "demo", 3, GPU_TYPE),
                                    (HUGE_GPU_CONFIG, "demo", 1, HUGE_GPU_TYPE)],
                                   startup_timeout_s=60)


@pytest.fixture(scope="module")
def swarm_sock(docker_sock):
    if h.SWARM:
        yield docker_sock
        return
    with single_node_swarm("esd.") as sock:
        yield sock


@pytest.fixture(scope="module")
def swarm_daemon(endpointd_bin, swarm_sock, demo_image):
    """An endpointd in swarm mode on the module's swarm."""
    d = Daemon(endpointd_bin, swarm_sock, demo_image, docker_mode="swarm",
               extra_yaml=_configs_yaml(), extra_instance_types=INSTANCE_TYPES)
    h._DAEMONS.append(d)
    try:
        try:
            d.start()
        except RuntimeError as e:
            pytest.fail(str(e), pytrace=False)
        yield d
        api = ApiClient("127.0.0.1", d.port)
        for name in api.endpoint_names():
            h._cleanup_endpoint(api, name)
    finally:
        err = d.stop()
        h._DAEMONS.remove(d)
        if not os.environ.get("ENDPOINTD_TEST_KEEP"):
            shutil.rmtree(d.workdir, ignore_errors=True)
        assert err is None, err


@pytest.fixture
def swarm_api(swarm_daemon):
    """A client of the swarm daemon (its port changes when a test restarts it)."""
    return ApiClient("127.0.0.1", swarm_daemon.port)


def _create(api, config):
    name = h.unique_name("sw")
    api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": config})
    return name


def _services(sock, name):
    """{service name: replicas} of the endpoint's services."""
    out = _docker(sock, "service", "ls", "--filter", f"label={SERVICE_LABEL}={name}",
                  "--format", "{{json .}}").stdout
    return {s["Name"]: s["Replicas"] for s in map(json.loads, out.splitlines())}


def _running_tasks(sock, service):
    return _docker(sock, "service", "ps", "-q", "--filter", "desired-state=running",
                   service).stdout.split()


def _instances(api, name, variant):
    ep = api.describe(name)
    return next(v for v in ep["ProductionVariants"] if v["VariantName"] == variant)


def test_each_variant_is_a_service_with_one_replica_per_instance_and_goes_in_service(
        swarm_api, swarm_sock):
    name = _create(swarm_api, "two-variant-config")
    swarm_api.wait_in_service(name)
    services = _services(swarm_sock, name)
    assert len(services) == 2, services
    assert sorted(services.values()) == ["2/2", "2/2"]
    for variant in ("VariantA", "VariantB"):
        assert _instances(swarm_api, name, variant)["CurrentInstanceCount"] == 2


def test_invocations_reach_each_task_at_its_nodes_address(swarm_api):
    name = _create(swarm_api, "invoke-pair-config")
    swarm_api.wait_in_service(name)
    hostnames = set()
    for _ in range(40):
        r = invoke(swarm_api, name, b'{"x": 1}', content_type="application/json")
        assert r.status == 200, r.body
        hostnames.add(json.loads(r.body)["hostname"])
    assert len(hostnames) == 2, "both tasks answer, each on its own port"


def test_delete_endpoint_removes_its_services(swarm_api, swarm_sock):
    name = _create(swarm_api, "demo-config")
    swarm_api.wait_in_service(name)
    assert len(_services(swarm_sock, name)) == 1
    swarm_api.ok("DeleteEndpoint", {"EndpointName": name})
    swarm_api.wait_gone(name)
    h.wait_until(lambda: not _services(swarm_sock, name), 30, interval=0.25,
                 what="the endpoint's services are removed")


def test_an_instance_type_no_node_can_hold_is_refused_at_once(swarm_api):
    r = swarm_api.error("CreateEndpoint", {"EndpointName": h.unique_name("sw"),
                                           "EndpointConfigName": HUGE_GPU_CONFIG})
    assert r.error_type == "ResourceLimitExceeded", r
    assert "no node of the swarm can hold" in r.message


def test_a_task_the_swarm_cannot_place_fails_the_endpoint_with_the_schedulers_reason(
        swarm_api, swarm_sock):
    # Three one-GPU instances on a node with two GPUs: the third waits.
    name = _create(swarm_api, GPU_TRIO_CONFIG)
    ep = swarm_api.wait_settled(name, timeout=120)
    assert ep["EndpointStatus"] == "Failed", ep
    assert "could not be started within 60 seconds" in ep["FailureReason"], ep
    assert "insufficient resources" in ep["FailureReason"], ep
    h.wait_until(lambda: not _services(swarm_sock, name), 30, interval=0.25,
                 what="the failed endpoint's service is removed")


def test_a_task_that_dies_is_replaced_and_the_instance_count_follows(swarm_api, swarm_sock):
    name = _create(swarm_api, "invoke-pair-config")
    swarm_api.wait_in_service(name)
    (service,) = _services(swarm_sock, name)
    before = set(_running_tasks(swarm_sock, service))
    assert len(before) == 2
    victim = _docker(swarm_sock, "ps", "-q", "--filter", f"name={service}.1.").stdout.split()
    assert len(victim) == 1
    _docker(swarm_sock, "kill", victim[0])
    h.wait_until(lambda: _instances(swarm_api, name, "AllTraffic")["CurrentInstanceCount"] == 1,
                 30, interval=0.1, what="the dead instance leaves the count")
    h.wait_until(lambda: _instances(swarm_api, name, "AllTraffic")["CurrentInstanceCount"] == 2,
                 60, interval=0.25, what="a new task replaces it")
    after = set(_running_tasks(swarm_sock, service))
    assert len(after) == 2 and len(after & before) == 1, "only the dead task was replaced"
    assert swarm_api.describe(name)["EndpointStatus"] == "InService"
    for _ in range(10):
        assert invoke(swarm_api, name, b"{}", content_type="application/json").status == 200


def test_after_a_restart_the_daemon_adopts_its_services_and_serves_from_the_same_tasks(
        swarm_daemon, swarm_api, swarm_sock):
    name = _create(swarm_api, "invoke-pair-config")
    swarm_api.wait_in_service(name)
    (service,) = _services(swarm_sock, name)
    before = set(_running_tasks(swarm_sock, service))
    assert swarm_daemon.stop() is None
    swarm_daemon.start()
    api = ApiClient("127.0.0.1", swarm_daemon.port)
    h.wait_until(lambda: _instances(api, name, "AllTraffic")["CurrentInstanceCount"] == 2, 60,
                 interval=0.25, what="the restored instances are back in rotation")
    assert api.describe(name)["EndpointStatus"] == "InService"
    for _ in range(10):
        assert invoke(api, name, b"{}", content_type="application/json").status == 200
    assert list(_services(swarm_sock, name)) == [service], "no second service"
    assert set(_running_tasks(swarm_sock, service)) == before, "no task was replaced"



def _unless_updating(description):
    return None if description["EndpointStatus"] == "Updating" else description


def test_update_endpoint_runs_the_new_fleet_as_a_new_service_and_removes_the_old(
        swarm_api, swarm_sock):
    name = _create(swarm_api, "invoke-pair-config")
    swarm_api.wait_in_service(name)
    (old,) = _services(swarm_sock, name)
    failures = []
    stop = threading.Event()

    def load():
        while not stop.is_set():
            r = invoke(swarm_api, name, b"{}", content_type="application/json")
            if r.status != 200:
                failures.append((r.status, r.body))

    caller = threading.Thread(target=load)
    caller.start()
    try:
        swarm_api.ok("UpdateEndpoint", {"EndpointName": name, "EndpointConfigName": "invoke-config"})
        ep = h.wait_until(lambda: _unless_updating(swarm_api.describe(name)), 120,
                          interval=0.25, what="the update to finish")
    finally:
        stop.set()
        caller.join()
    assert ep["EndpointStatus"] == "InService", ep
    assert ep["EndpointConfigName"] == "invoke-config"
    h.wait_until(lambda: old not in _services(swarm_sock, name), 60, interval=0.25,
                 what="the old fleet's service is removed")
    services = _services(swarm_sock, name)
    assert list(services.values()) == ["1/1"], services
    assert _instances(swarm_api, name, "AllTraffic")["CurrentInstanceCount"] == 1
    assert not failures, failures[:3]
