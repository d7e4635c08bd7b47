"""A restarted daemon adopts the model containers it left running: same
container IDs, not restarted, and the endpoint keeps its ARN, CreationTime
and Tags (kill -9 and SIGTERM alike)."""

import time

import pytest

from endpointd_harness import unique_name
from recovery_helpers import DESIRED, docker_post

TAGS = [{"Key": "team", "Value": "ml"}, {"Key": "stage", "Value": "prod"}]


def _started_at(d, ids):
    return {cid: d.docker.inspect(cid)["State"]["StartedAt"] for cid in ids}


def _still_the_same_after_grace(d, name, ids):
    """After the orphan grace (and a margin) this owner runs exactly ids."""
    time.sleep(d.grace + 1.5)
    assert d.running_ids(name) == ids, d.container_report()
    every = sorted(c["Id"] for c in d.containers())
    assert every == ids, f"containers of this owner besides the endpoint's:\n{d.container_report()}"


@pytest.fixture(scope="module")
def killed_after_in_service(module_daemon_factory):
    d = module_daemon_factory(grace=2)
    name = unique_name("kill9")
    d.api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": "two-variant-config", "Tags": TAGS})
    before = d.wait_converged(name)
    ids = d.running_ids(name)
    started = _started_at(d, ids)
    tags = d.api.ok("ListTags", {"ResourceArn": before["EndpointArn"]}).get("Tags")
    d.kill()
    d.start()
    return d, name, before, ids, started, tags


def test_kill9_after_in_service_adopts_the_same_containers_without_restarting_them(killed_after_in_service):
    d, name, _, ids, started, _ = killed_after_in_service
    d.wait_converged(name)
    assert d.running_ids(name) == ids, d.container_report()
    assert _started_at(d, ids) == started, "adopted containers were restarted"
    _still_the_same_after_grace(d, name, ids)


def test_kill9_after_in_service_keeps_arn_creation_time_and_tags(killed_after_in_service):
    d, name, before, _, _, tags = killed_after_in_service
    after = d.api.describe(name)
    assert after is not None, f"{name} was lost by kill -9 after InService"
    for key in ("EndpointName", "EndpointArn", "EndpointConfigName", "CreationTime"):
        assert after.get(key) == before.get(key), f"{key}: {before.get(key)!r} before, {after.get(key)!r} after"
    assert after["EndpointStatus"] == "InService", after
    got = d.api.ok("ListTags", {"ResourceArn": before["EndpointArn"]}).get("Tags")
    pairs = sorted((t["Key"], t["Value"]) for t in got or [])
    assert pairs == sorted((t["Key"], t["Value"]) for t in tags or []), (tags, got)
    assert pairs == sorted((t["Key"], t["Value"]) for t in TAGS), got


@pytest.fixture(scope="module")
def sigtermed(module_daemon_factory):
    """An InService endpoint, then SIGTERM; containers inspected while the
    daemon is down, then the daemon started again."""
    d = module_daemon_factory(grace=2)
    name = unique_name("term")
    d.api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": "rec-pair-config"})
    d.wait_converged(name)
    ids = d.running_ids(name)
    started = _started_at(d, ids)
    rc = d.term()
    while_down = {cid: d.docker.inspect(cid)["State"]["Status"] for cid in ids}
    d.start()
    return d, name, ids, started, rc, while_down


def test_sigterm_exits_0(sigtermed):
    rc = sigtermed[4]
    assert rc == 0, f"endpointd exited with {rc} on SIGTERM (None: not within 15 s)"


def test_sigterm_leaves_model_containers_running(sigtermed):
    _, _, ids, _, _, while_down = sigtermed
    assert len(ids) == DESIRED["rec-pair-config"]
    assert while_down == {cid: "running" for cid in ids}


def test_containers_left_by_sigterm_are_adopted_on_next_start(sigtermed):
    d, name, ids, started, _, _ = sigtermed
    d.wait_converged(name)
    assert d.running_ids(name) == ids, d.container_report()
    assert _started_at(d, ids) == started, "adopted containers were restarted"
    _still_the_same_after_grace(d, name, ids)


def test_containers_named_as_an_earlier_release_named_them_are_adopted_after_an_upgrade(make_daemon):
    """Labels, not names, say whose a container is: one that an earlier
    release named "endpointd-<owner>-<endpoint>-<variant>-<slot>-<gen>" is
    adopted as it runs, and keeps its name."""
    d = make_daemon(grace=1)
    name = unique_name("old-names")
    d.api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": "demo-config"})
    d.wait_converged(name)
    (cid,) = d.running_ids(name)
    started = _started_at(d, [cid])
    d.kill()
    old = f"endpointd-{d.owner[:8]}-{name.lower()}-alltraffic-0-0"
    status, body = docker_post(d.docker, f"/containers/{cid}/rename", query={"name": old})
    assert status == 204, f"docker rename: {status} {body!r}"
    d.start()
    d.wait_converged(name)
    assert d.running_ids(name) == [cid], d.container_report()
    assert _started_at(d, [cid]) == started, "the adopted container was restarted"
    assert d.docker.inspect(cid)["Name"] == f"/{old}"
    _still_the_same_after_grace(d, name, [cid])
