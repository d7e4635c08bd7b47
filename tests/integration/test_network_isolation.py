"""A model with EnableNetworkIsolation runs in a container without a network.

Its container has NetworkMode "none" (a loopback and nothing else) and no
published port; endpointd-dialer is started in it as soon as it runs, and
both its pings and its invocations go over the connections the dialer makes
inside it (the demo model sees them come from 127.0.0.1).  A dialer that
goes away is started again after its backoff, and a restarted daemon adopts
the container and starts its dialer again.

One daemon of its own, whose YAML declares the isolated model (and which is
restarted by the last test), and CreateModel through its API.

In swarm mode a task may run on another node, out of the dialer's reach:
CreateEndpoint and UpdateEndpoint refuse such a model there, and nothing
runs (the last tests, on the suite's daemon).
"""

import os
import shutil
import time

import pytest

import endpointd_harness as h
from endpointd_harness import POLL_S, ApiClient, Daemon
from test_invoke_dialer import (
    container_id,
    dialer_processes,
    invoke_described,
    kill_dialer,
    wait_dialer_ready,
)

ISOLATED_YAML = """\
Models:
  - ModelName: demo-isolated
    EnableNetworkIsolation: true
    PrimaryContainer:
      Image: {image}
      Environment: {{ DEMO_VARIANT: AllTraffic }}
EndpointConfigs:
  - EndpointConfigName: isolated-config
    ProductionVariants:
      - VariantName: AllTraffic
        ModelName: demo-isolated
        InitialInstanceCount: 1
        InstanceType: {instance_type}
        ContainerStartupHealthCheckTimeoutInSeconds: {timeout}
"""

# How long calls may fail while a killed dialer waits out its first backoff.
RECOVERY_S = 20

ENGINE_ONLY = pytest.mark.engine_only("swarm mode refuses EnableNetworkIsolation (the tests at the end)")
SWARM_ONLY = pytest.mark.skipif(not h.SWARM, reason="engine mode runs isolated models (the tests above)")


@pytest.fixture(scope="module")
def isolated(endpointd_bin, docker_sock, demo_image, docker):
    """(daemon, api) of a daemon whose YAML declares demo-isolated."""
    d = Daemon(endpointd_bin, docker_sock, demo_image,
               extra_yaml=ISOLATED_YAML.format(image=h._q(demo_image),
                                               instance_type=h.INSTANCE_TYPE,
                                               timeout=h.STARTUP_TIMEOUT_S))
    d.start()
    h._DAEMONS.append(d)
    try:
        yield d, ApiClient("127.0.0.1", d.port)
    finally:
        d.stop()
        with open(os.path.join(d.workdir, "state", "daemon-id")) as f:
            owner = f.read().strip()
        for c in docker.containers(f"{h.LABEL}.managed=true", f"{h.LABEL}.owner={owner}"):
            docker.remove(c["Id"])
        h._DAEMONS.remove(d)
        if not os.environ.get("ENDPOINTD_TEST_KEEP"):
            shutil.rmtree(d.workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def endpoint(isolated, docker):
    """(name, container id) of an InService endpoint of demo-isolated."""
    d, api = isolated
    name = h.unique_name("iso")
    api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": "isolated-config"})
    api.wait_in_service(name)
    return name, container_id(docker, name)


def invoke_until_ok(api, name, timeout):
    """Invoke until a call succeeds; the demo model's description of it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return invoke_described(api, name)
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(POLL_S)


@ENGINE_ONLY
def test_isolated_endpoint_is_in_service_and_answers_over_the_containers_loopback(isolated, endpoint):
    _, api = isolated
    name, _ = endpoint
    for i in range(3):
        assert invoke_described(api, name, size=10 + i, seed=i)["peer"] == "127.0.0.1"


@ENGINE_ONLY
def test_isolated_container_has_no_network_and_no_published_port(docker, endpoint):
    _, cid = endpoint
    inspect = docker.inspect(cid)
    assert inspect["HostConfig"]["NetworkMode"] == "none", inspect["HostConfig"]
    assert not inspect["HostConfig"].get("PortBindings"), inspect["HostConfig"]
    ports = (inspect.get("NetworkSettings") or {}).get("Ports") or {}
    assert not ports.get("8080/tcp"), ports
    nets = (inspect.get("NetworkSettings") or {}).get("Networks") or {}
    assert set(nets) <= {"none"}, nets


@ENGINE_ONLY
def test_killed_dialer_is_started_again_and_calls_recover(isolated, endpoint, docker):
    d, api = isolated
    name, cid = endpoint
    pid = wait_dialer_ready(docker, d.proc.pid, cid)
    kill_dialer(docker, cid, pid)
    new_pid = wait_dialer_ready(docker, d.proc.pid, cid, timeout=RECOVERY_S)
    assert new_pid != pid
    assert invoke_until_ok(api, name, RECOVERY_S)["peer"] == "127.0.0.1"
    assert api.describe(name)["EndpointStatus"] == "InService"
    assert container_id(docker, name) == cid, "recovered without a new container"


@ENGINE_ONLY
def test_restarted_daemon_adopts_the_isolated_container_and_serves(isolated, endpoint, docker):
    d, api = isolated
    name, cid = endpoint
    assert d.stop() is None
    d.start()
    api = ApiClient("127.0.0.1", d.port)
    api.wait_in_service(name)
    assert invoke_until_ok(api, name, RECOVERY_S)["peer"] == "127.0.0.1"
    assert container_id(docker, name) == cid, "adopted, not replaced"
    assert len(dialer_processes(docker, cid)) >= 1


@ENGINE_ONLY
def test_create_model_takes_enable_network_isolation_and_serves_without_a_network(isolated, docker, demo_image):
    d, _ = isolated
    api = ApiClient("127.0.0.1", d.port)
    model, config, name = h.unique_name("isom"), h.unique_name("isoc"), h.unique_name("isoa")
    api.ok("CreateModel", {"ModelName": model, "EnableNetworkIsolation": True,
                           "PrimaryContainer": {"Image": demo_image,
                                                "Environment": {"DEMO_VARIANT": "AllTraffic"}}})
    assert api.ok("DescribeModel", {"ModelName": model})["EnableNetworkIsolation"] is True
    api.ok("CreateEndpointConfig", {"EndpointConfigName": config, "ProductionVariants": [
        {"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1,
         "InstanceType": h.INSTANCE_TYPE}]})
    api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": config})
    try:
        api.wait_in_service(name)
        assert invoke_described(api, name)["peer"] == "127.0.0.1"
        assert docker.inspect(container_id(docker, name))["HostConfig"]["NetworkMode"] == "none"
    finally:
        api.call("DeleteEndpoint", {"EndpointName": name})
        api.wait_gone(name)


def _isolated_config(api, demo_image):
    """An endpoint config (made through the API) of a model with
    EnableNetworkIsolation."""
    model, config = h.unique_name("isom"), h.unique_name("isoc")
    api.ok("CreateModel", {"ModelName": model, "EnableNetworkIsolation": True,
                           "PrimaryContainer": {"Image": demo_image}})
    api.ok("CreateEndpointConfig", {"EndpointConfigName": config, "ProductionVariants": [
        {"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1,
         "InstanceType": h.INSTANCE_TYPE}]})
    return config


def _assert_isolation_refused(r, config):
    assert r.error_type == "ValidationException", r
    assert r.message == (f"Endpoint configuration {config} has a model with EnableNetworkIsolation, "
                         "which docker mode swarm does not run: its container would be reachable "
                         "only from the node it runs on."), r


@SWARM_ONLY
def test_in_swarm_mode_create_endpoint_refuses_a_model_with_network_isolation_and_runs_nothing(
        api, docker, demo_image):
    config, name = _isolated_config(api, demo_image), h.unique_name("isor")
    r = api.error("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": config})
    _assert_isolation_refused(r, config)
    assert api.describe(name) is None
    docker.assert_endpoint_left_nothing(name)


@SWARM_ONLY
def test_in_swarm_mode_update_endpoint_refuses_a_model_with_network_isolation_and_keeps_serving(
        api, endpoints, demo_image):
    config = _isolated_config(api, demo_image)
    name, _ = endpoints.create("isou")
    before = api.wait_in_service(name)
    r = api.error("UpdateEndpoint", {"EndpointName": name, "EndpointConfigName": config})
    _assert_isolation_refused(r, config)
    after = api.describe(name)
    assert after["EndpointStatus"] == "InService", after
    assert after["EndpointConfigName"] == before["EndpointConfigName"], after
