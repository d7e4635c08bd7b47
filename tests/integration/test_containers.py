"""Model containers are started the way DESIGN.md's Containers section says.

In swarm mode the container is the task's, made by the Engine from the
variant's service; on the suite's single-node swarm it runs on the same
engine, labelled as the service is.
"""

import json
import os

import pytest

import endpointd_harness as h
from endpointd_harness import published_port


@pytest.fixture(scope="module")
def container(docker, ready_endpoint):
    (c,) = docker.endpoint_containers(ready_endpoint)
    return docker.inspect(c["Id"])


def _env(container):
    return dict(e.split("=", 1) for e in container["Config"].get("Env") or [])


def test_container_runs_the_model_image_with_serve(container, demo_image):
    assert container["Config"]["Image"] == demo_image
    assert container["Config"]["Cmd"] == ["serve"]


@pytest.mark.engine_only("a task's host-mode port listens on its node's addresses (README: swarm mode)")
def test_container_publishes_8080_on_loopback_only(container):
    assert published_port(container) > 0


def test_container_gets_the_models_environment(container):
    assert _env(container).get("DEMO_START_DELAY_MS") == "0"


def test_container_is_told_its_port(container):
    assert _env(container).get("SAGEMAKER_BIND_TO_PORT") == "8080"


def test_container_without_gpus_sees_no_nvidia_devices(container):
    assert _env(container).get("NVIDIA_VISIBLE_DEVICES") == "void"


@pytest.mark.xfail(h.SWARM, strict=True,
                   reason="a service's ContainerSpec on Engine API 1.41 has no way to ask for "
                          "no-new-privileges (Privileges.NoNewPrivileges is newer)")
def test_container_is_never_privileged_and_cannot_gain_privileges(container):
    host = container["HostConfig"]
    assert host.get("Privileged") is False
    assert "no-new-privileges" in " ".join(host.get("SecurityOpt") or []), host.get("SecurityOpt")


def test_container_is_not_restarted_by_the_engine(container):
    assert (container["HostConfig"].get("RestartPolicy") or {}).get("Name") in ("", "no")


def test_container_is_limited_to_the_instance_types_cpus_and_memory(container):
    host = container["HostConfig"]
    if host.get("NanoCpus"):
        cpus = host["NanoCpus"] / 1e9
    else:
        assert host.get("CpuQuota") and host.get("CpuPeriod"), host
        cpus = host["CpuQuota"] / host["CpuPeriod"]
    assert cpus == pytest.approx(0.1)
    assert host.get("Memory") == 128 * 1024 * 1024


# ---------------------------------------------------------------------------
# A container name taken by a container that is not ours


def _owner(daemon):
    with open(os.path.join(daemon.workdir, "state", "daemon-id")) as f:
        return f.read().strip()


def _create_foreign(docker, name, image):
    """A container created (not started) by someone else, under name."""
    conn = h._UnixHTTPConnection(docker.sock_path, 30)
    try:
        body = json.dumps({"Image": image, "Cmd": ["serve"], "Labels": {"test.foreign": "yes"}})
        conn.request("POST", f"{docker.API}/containers/create?name={name}", body=body,
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        reply = json.loads(r.read())
    finally:
        conn.close()
    assert r.status == 201, f"docker create {name}: {r.status} {reply!r}"
    return reply["Id"]


# Swarm names a task's container after its service, slot and task id.
NAMED_BY_ENDPOINTD = pytest.mark.engine_only("Swarm, not endpointd, names a task's container")


@pytest.fixture
def foreign_holds_the_name(daemon, docker, demo_image, endpoints):
    """(endpoint name, foreign container id, the ids of all of them): a
    container of someone else's sits under the name the endpoint's first
    container is to get, and another under the name an earlier release gave
    it ("-" between the parts)."""
    name = h.unique_name("clash")
    owner = _owner(daemon)[:8]
    cid = _create_foreign(docker, f"endpointd_{owner}_{name.lower()}_alltraffic_0_0", demo_image)
    ids = [cid]
    try:
        ids.append(_create_foreign(docker, f"endpointd-{owner}-{name.lower()}-alltraffic-0-0",
                                   demo_image))
        endpoints.adopt(name)
        yield name, cid, ids
    finally:
        for i in ids:
            docker.remove(i)


@NAMED_BY_ENDPOINTD
def test_container_of_someone_else_holding_the_name_is_never_removed(api, docker,
                                                                     foreign_holds_the_name):
    name, _, ids = foreign_holds_the_name
    api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": "demo-config"})
    api.wait_settled(name)
    for cid in ids:
        status, body = docker.request("GET", f"/containers/{cid}/json")
        assert status == 200, f"the foreign container {cid[:12]} is gone: {status} {body!r}"
        assert body["Config"]["Labels"].get("test.foreign") == "yes"


@NAMED_BY_ENDPOINTD
def test_container_name_held_by_someone_else_fails_the_endpoint_saying_so(api,
                                                                          foreign_holds_the_name):
    name, cid, _ = foreign_holds_the_name
    api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": "demo-config"})
    d = api.wait_settled(name)
    assert d["EndpointStatus"] == "Failed", d
    assert "which endpointd did not create for this instance" in d["FailureReason"], d
    assert cid[:12] in d["FailureReason"], d
