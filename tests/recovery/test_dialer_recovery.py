"""A restarted daemon gives each adopted container a new endpointd-dialer.

The dialer a container runs (tests/integration/test_invoke_dialer.py says
what it is) is connected to the daemon that started it; when that daemon
dies (kill -9) or stops (SIGTERM) the dialer reads EOF and exits, and the
daemon started next on the same state_dir, adopting the container, runs a
new one.  Invocations then again reach the model over the container's
loopback rather than through the published port.
"""

import pytest

from endpointd_harness import unique_name
from test_invoke_dialer import (
    DIALER_ARGV,
    INVOCATIONS_IN_A_ROW,
    LOOPBACK,
    dialer_processes,
    peers_of_invocations_in_a_row,
    wait_dialer_ready,
)


@pytest.fixture(scope="module", params=["kill9", "sigterm"])
def restarted(request, module_daemon_factory):
    """An InService endpoint with a connected dialer, the daemon killed (or
    stopped) and started again: (daemon, name, container id, old dialer PID,
    peers seen before)."""
    d = module_daemon_factory(grace=2)
    name = unique_name(f"dialrec-{request.param}")
    d.api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": "demo-config"})
    d.wait_converged(name)
    (cid,) = d.running_ids(name)
    old_pid = wait_dialer_ready(d.docker, d.proc.pid, cid)
    before = peers_of_invocations_in_a_row(d.api, name)
    if request.param == "kill9":
        d.kill()
    else:
        assert d.term() == 0, "endpointd did not exit 0 on SIGTERM"
    d.start()
    d.wait_converged(name)
    return d, name, cid, old_pid, before


def test_dialer_was_used_before_the_restart(restarted):
    before = restarted[4]
    assert before == [LOOPBACK] * INVOCATIONS_IN_A_ROW, before


def test_restarted_daemon_adopts_the_container_and_runs_exactly_one_new_dialer(restarted):
    d, name, cid, old_pid, _ = restarted
    assert d.running_ids(name) == [cid], d.container_report()
    new_pid = wait_dialer_ready(d.docker, d.proc.pid, cid)
    assert new_pid != old_pid, "the old dialer is still the one running"
    assert dialer_processes(d.docker, cid) == [(new_pid, DIALER_ARGV)]


def test_after_the_restart_invocations_again_come_over_the_container_loopback(restarted):
    d, name, cid, _, _ = restarted
    wait_dialer_ready(d.docker, d.proc.pid, cid)
    peers = peers_of_invocations_in_a_row(d.api, name)
    assert peers == [LOOPBACK] * INVOCATIONS_IN_A_ROW, peers
