"""Endpoints whose containers never get healthy end up Failed, saying why."""

import time

import pytest

from endpointd_harness import MISSING_IMAGE, PING_PREFIX, STARTUP_TIMEOUT_S


def test_exiting_container_fails_endpoint_within_seconds(api, endpoints):
    started = time.monotonic()
    name, _ = endpoints.create("exit", config="exit-config")
    d = api.wait_settled(name, timeout=STARTUP_TIMEOUT_S + 30)
    elapsed = time.monotonic() - started
    assert d["EndpointStatus"] == "Failed", d
    assert elapsed < 15, f"took {elapsed:.1f} s: the exit was not noticed until the startup timeout"


def test_exited_container_failure_reason_names_variant_and_exit_code(api, endpoints):
    name, _ = endpoints.create("exit-reason", config="exit-config")
    d = api.wait_settled(name, timeout=STARTUP_TIMEOUT_S + 30)
    reason = d.get("FailureReason", "")
    assert reason.startswith(PING_PREFIX.format("AllTraffic")), reason
    assert "code 3" in reason.lower(), reason


def test_exited_container_failure_reason_carries_its_last_log_line(api, endpoints):
    name, _ = endpoints.create("exit-log", config="exit-config")
    d = api.wait_settled(name, timeout=STARTUP_TIMEOUT_S + 30)
    assert "demo-model: exiting with code 3" in d.get("FailureReason", ""), d


def test_failure_reason_fits_in_1024_characters(api, endpoints):
    name, _ = endpoints.create("exit-len", config="exit-config")
    d = api.wait_settled(name, timeout=STARTUP_TIMEOUT_S + 30)
    assert 0 < len(d.get("FailureReason", "")) <= 1024, d


def test_missing_image_fails_endpoint_naming_the_image(api, endpoints):
    name, _ = endpoints.create("no-image", config="missing-image-config")
    d = api.wait_settled(name, timeout=STARTUP_TIMEOUT_S + 60)
    assert d["EndpointStatus"] == "Failed", d
    assert MISSING_IMAGE.split(":")[0] in d.get("FailureReason", ""), d


def test_failed_endpoint_can_be_deleted(api, endpoints):
    name, _ = endpoints.create("exit-delete", config="exit-config")
    api.wait_settled(name, timeout=STARTUP_TIMEOUT_S + 30)
    assert api.call("DeleteEndpoint", {"EndpointName": name}).status == 200
    api.wait_gone(name)


@pytest.mark.run_last
def test_failing_ping_fails_endpoint_after_the_startup_timeout(failing_ping_endpoint):
    name, watcher = failing_ping_endpoint
    watcher.join(STARTUP_TIMEOUT_S + 60)
    assert watcher.error is None, watcher.error
    assert watcher.description is not None, f"{name} never left Creating (or vanished)"
    assert watcher.description["EndpointStatus"] == "Failed", watcher.description
    # The watcher polls every 100 ms; creation itself took a little too.
    assert watcher.settled_after >= STARTUP_TIMEOUT_S - 0.5, (
        f"failed after {watcher.settled_after:.1f} s, before the {STARTUP_TIMEOUT_S} s startup timeout"
    )
    assert watcher.settled_after < STARTUP_TIMEOUT_S + 20, f"failed only after {watcher.settled_after:.1f} s"


@pytest.mark.run_last
def test_failing_ping_failure_reason_names_the_variant(failing_ping_endpoint, api):
    name, watcher = failing_ping_endpoint
    watcher.join(STARTUP_TIMEOUT_S + 60)
    d = api.describe(name)
    assert d is not None and d["EndpointStatus"] == "Failed", d
    assert d.get("FailureReason", "").startswith(PING_PREFIX.format("AllTraffic")), d
