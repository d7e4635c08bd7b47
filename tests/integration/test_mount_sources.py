"""What a model container mounts from the host must exist when it is created
(DESIGN.md, Containers).

The daemon asks for its bind mounts (model data, endpointd-dialer, the
dialer's directory) as HostConfig.Mounts, not HostConfig.Binds: for a Bind
whose source is missing the Engine makes an empty root-owned directory on the
host and starts the container without what it should see; for a Mount it
refuses the create ("bind source path does not exist"), and the endpoint
fails in those words.

The config load checks that container_dialer exists, so the tests remove it
once the daemon runs: a daemon of their own, whose dialer is a copy in its
work directory.
"""

import os
import shutil

import pytest

import endpointd_harness as h
from endpointd_harness import ApiClient, Daemon

pytestmark = pytest.mark.engine_only(
    "the missing mount is endpointd-dialer's, which swarm mode does not mount")


@pytest.fixture(scope="module")
def dialer_gone(endpointd_bin, docker_sock, demo_image, docker):
    """(daemon, the dialer path it was given, DescribeEndpoint's body once
    settled, the endpoint's name) for a CreateEndpoint made after that
    dialer was deleted."""
    d = Daemon(endpointd_bin, docker_sock, demo_image)
    dialer = os.path.join(d.workdir, "bin", "endpointd-dialer")
    os.makedirs(os.path.dirname(dialer))
    shutil.copy(shutil.which("true"), dialer)
    os.chmod(dialer, 0o755)
    d.extra_config = (f"container_dialer: {h._q(dialer)}",)
    d.start()
    h._DAEMONS.append(d)
    api = ApiClient("127.0.0.1", d.port)
    factory = h.EndpointFactory(api)
    try:
        os.unlink(dialer)
        name, _ = factory.create("nodialer")
        yield d, dialer, api.wait_settled(name), name
    finally:
        try:
            factory.cleanup()
        finally:
            d.stop()
            with open(os.path.join(d.workdir, "state", "daemon-id")) as f:
                owner = f.read().strip()
            for c in docker.containers(f"{h.LABEL}.managed=true", f"{h.LABEL}.owner={owner}"):
                docker.remove(c["Id"])
            h._DAEMONS.remove(d)
            if not os.environ.get("ENDPOINTD_TEST_KEEP"):
                shutil.rmtree(d.workdir, ignore_errors=True)


def test_a_dialer_deleted_after_start_fails_the_endpoint(dialer_gone):
    _, _, described, _ = dialer_gone
    assert described["EndpointStatus"] == "Failed", described


def test_the_failure_reason_is_the_engines_naming_the_missing_path(dialer_gone):
    _, dialer, described, _ = dialer_gone
    reason = described.get("FailureReason", "")
    assert reason.startswith("Failed to create the container of production variant AllTraffic: "), reason
    assert f"bind source path does not exist: {dialer}" in reason, reason


def test_the_engine_makes_nothing_where_the_dialer_was(dialer_gone):
    _, dialer, _, _ = dialer_gone
    assert not os.path.lexists(dialer)


def test_no_container_is_left_for_the_failed_endpoint(dialer_gone, docker):
    _, _, _, name = dialer_gone
    assert docker.endpoint_containers(name) == []
