"""An endpoint caught half-way by kill -9 is taken up again after the
restart: one still Creating goes InService, one being deleted goes away and
leaves no container behind."""

from endpointd_harness import unique_name
from recovery_helpers import wait_for


def test_endpoint_creating_at_kill9_goes_in_service_after_restart(make_daemon):
    d = make_daemon(grace=1)
    name = unique_name("resume-create")
    # slow-config's model takes 3 s to answer /ping: Creating when killed.
    created = d.api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": "slow-config"})
    d.kill()
    d.start()
    desc = d.wait_converged(name)
    assert desc["EndpointArn"] == created["EndpointArn"]
    wait_for(lambda: [c["Id"] for c in d.containers()] == d.running_ids(name), d.grace + 20,
             "only the endpoint's running container to be left", d.container_report)


def test_endpoint_deleting_at_kill9_is_gone_after_restart(make_daemon):
    d = make_daemon(grace=1)
    name = unique_name("resume-delete")
    d.api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": "rec-pair-config"})
    d.wait_converged(name)
    d.api.ok("DeleteEndpoint", {"EndpointName": name})
    d.kill()
    d.start()
    wait_for(lambda: d.api.describe(name) is None, 30, f"{name} to be gone")
    wait_for(lambda: not d.containers(), d.grace + 20, "its containers to be removed", d.container_report)
