"""Model containers are started the way DESIGN.md's Containers section says."""

import pytest

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


def test_container_publishes_8080_on_loopback_only(container):
    assert published_port(container) > 0


def test_container_gets_the_models_environment(container):
    assert _env(container).get("DEMO_START_DELAY_MS") == "0"


def test_container_is_told_its_port(container):
    assert _env(container).get("SAGEMAKER_BIND_TO_PORT") == "8080"


def test_container_without_gpus_sees_no_nvidia_devices(container):
    assert _env(container).get("NVIDIA_VISIBLE_DEVICES") == "void"


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
