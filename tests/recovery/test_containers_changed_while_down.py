"""What the Engine runs changed while the daemon was down: start-up reconcile
replaces what is gone or exited, removes its own orphans after the grace
period, and never touches a container of another owner."""

import time

from endpointd_harness import unique_name
from recovery_helpers import container_exists, create_container, instance_labels, stop_container, wait_for


def _in_service_then_down(make_daemon, grace=2, sigterm=True):
    d = make_daemon(grace=grace)
    name = unique_name("down")
    d.api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": "demo-config"})
    d.wait_converged(name)
    (cid,) = d.running_ids(name)
    if sigterm:
        d.term()
    else:
        d.kill()
    return d, name, cid


def _no_leftovers(d, name, keep):
    """Only `keep` remains of this owner's containers (after the grace)."""
    def only_keep():
        return sorted(c["Id"] for c in d.containers()) == sorted(keep)
    wait_for(only_keep, d.grace + 20, f"only {keep} to be left of this owner", d.container_report)


def test_container_removed_while_down_is_replaced(make_daemon):
    d, name, old = _in_service_then_down(make_daemon)
    d.docker.remove(old)
    d.start()
    d.wait_converged(name)
    (new,) = d.running_ids(name)
    assert new != old
    desc = d.api.describe(name)
    assert [v.get("CurrentInstanceCount") for v in desc.get("ProductionVariants", [])] == [1], desc


def test_container_stopped_while_down_is_replaced(make_daemon):
    d, name, old = _in_service_then_down(make_daemon, sigterm=False)
    stop_container(d.docker, old)
    assert d.docker.inspect(old)["State"]["Status"] == "exited"
    d.start()
    d.wait_converged(name)
    (new,) = d.running_ids(name)
    assert new != old, "the exited container was started again, not replaced"
    _no_leftovers(d, name, [new])


def test_orphan_of_this_owner_is_removed_after_the_grace_period(make_daemon, demo_image):
    grace = 3
    d = make_daemon(grace=grace)
    owner = d.owner
    d.term()
    unknown = unique_name("orphan")
    running = create_container(d.docker, demo_image, instance_labels(owner, unknown))
    created = create_container(d.docker, demo_image, instance_labels(owner, unknown, slot="1"), start=False)
    made = time.monotonic()
    d.start()
    if time.monotonic() - made < grace - 1:
        # Younger than the grace: a daemon of the same owner may still be making it.
        assert container_exists(d.docker, running), "orphan removed before the grace period"
    wait_for(lambda: not container_exists(d.docker, running) and not container_exists(d.docker, created),
             grace + 20, "the orphans to be removed", d.container_report)


def test_containers_of_another_owner_are_left_alone(make_daemon, demo_image):
    d = make_daemon(grace=1)
    name = unique_name("foreign")
    d.api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": "demo-config"})
    d.wait_converged(name)
    (ours,) = d.running_ids(name)
    d.term()
    other = "not-" + d.owner
    # One for an endpoint this daemon has (same name, variant, slot), one for one it has not.
    same = create_container(d.docker, demo_image, instance_labels(other, name))
    unknown = create_container(d.docker, demo_image, instance_labels(other, unique_name("foreign")))
    try:
        d.start()
        d.wait_converged(name)
        time.sleep(d.grace + 2)
        for cid in (same, unknown):
            assert d.docker.inspect(cid)["State"]["Status"] == "running", f"{cid[:12]} of another owner was touched"
        assert d.running_ids(name) == [ours], d.container_report()
    finally:
        d.docker.remove(same)
        d.docker.remove(unknown)
