"""The Docker Engine goes down under a running daemon and comes back: the
API keeps answering during the outage, and afterwards the daemon re-lists and
converges (containers the engine's stop killed are replaced; endpoints
InService with their desired counts).  An outage shorter than the startup
health-check timeout fails no endpoint, not even one Creating at the time.

This restarts the engine, so it needs one of its own: the private dockerd
that tests/run-docker-tests started (ENDPOINTD_TEST_PRIVATE_DOCKERD_DIR), and
it runs last.  With ENDPOINTD_TEST_DOCKER_HOST (a shared engine) it skips.
"""

import os
import subprocess
import threading
import time

import pytest

from endpointd_harness import ApiClient, unique_name
from recovery_helpers import wait_for

pytestmark = pytest.mark.run_last

OUTAGE_S = 4          # the engine stays down this long (startup timeout: 60 s)
POLL_S = 0.25
API_ANSWER_S = 5      # every API call during the outage answers within this
CONVERGE_S = 90


def _script():
    top = os.environ.get("top_srcdir") or os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir)
    return os.path.join(top, "contrib", "private-dockerd.sh")


def _engine_dir():
    if os.environ.get("ENDPOINTD_TEST_DOCKER_HOST"):
        pytest.skip("ENDPOINTD_TEST_DOCKER_HOST is set: a shared engine is not restarted")
    path = os.environ.get("ENDPOINTD_TEST_PRIVATE_DOCKERD_DIR")
    if not path:
        pytest.skip("no private dockerd to restart (ENDPOINTD_TEST_PRIVATE_DOCKERD_DIR, set by tests/run-docker-tests)")
    return path


def _engine(cmd, path):
    p = subprocess.run([_script(), cmd, path], stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    assert p.returncode == 0, f"private-dockerd.sh {cmd} {path}: exit {p.returncode}: {p.stderr.decode(errors='replace')}"


class Poller(threading.Thread):
    """Describes the endpoints and lists them every POLL_S, noting the phase.

    seen: every call as (phase, what, latency s, status or error);
    changes(): only the calls whose answer differs from the one before."""

    def __init__(self, port, names):
        super().__init__(daemon=True)
        self.api = ApiClient("127.0.0.1", port, timeout=API_ANSWER_S)
        self.names = names
        self.phase = "before"
        self.stop = threading.Event()
        self.t0 = time.monotonic()
        self.seen = []  # (t, phase, what, latency s, status or error)

    def run(self):
        for _ in range(int(600 / POLL_S)):
            if self.stop.is_set():
                return
            for name in self.names:
                self._one(f"DescribeEndpoint {name}", lambda n=name: self.api.call("DescribeEndpoint", {"EndpointName": n}))
            self._one("ListEndpoints", lambda: self.api.call("ListEndpoints", {}))
            time.sleep(POLL_S)

    def _one(self, what, fn):
        phase, t = self.phase, time.monotonic()
        try:
            r = fn()
            if r.status == 200:
                result = (r.json or {}).get("EndpointStatus", "200")
            else:
                result = f"HTTP {r.status} {r.error_type}: {r.message}"
        except Exception as e:  # noqa: BLE001 -- any failure to answer is the finding
            result = f"no answer: {type(e).__name__}: {e}"
        self.seen.append((round(t - self.t0, 2), phase, what, round(time.monotonic() - t, 3), result))

    def changes(self, rows=None):
        last, out = {}, []
        for row in self.seen if rows is None else rows:
            if last.get(row[2]) != (row[1], row[4]):
                last[row[2]] = (row[1], row[4])
                out.append(row)
        return "\n".join(map(str, out))


@pytest.fixture(scope="module")
def outage(module_daemon_factory):
    engine = _engine_dir()
    d = module_daemon_factory(grace=2)
    steady = {unique_name("steady1"): "demo-config", unique_name("steady2"): "rec-pair-config"}
    for name, cfg in steady.items():
        d.api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": cfg})
    for name in steady:
        d.wait_converged(name)
    before = {name: d.running_ids(name) for name in steady}
    creating = unique_name("creating")  # 3 s start delay: still Creating when the engine goes
    poller = Poller(d.port, list(steady) + [creating])
    poller.start()
    try:
        d.api.ok("CreateEndpoint", {"EndpointName": creating, "EndpointConfigName": "slow-config"})
        poller.phase = "outage"
        _engine("kill", engine)
        time.sleep(OUTAGE_S)
        _engine("restart", engine)
        poller.phase = "after"
        # name -> its description once InService with its desired count running
        converged = dict.fromkeys(list(steady) + [creating])
        deadline = time.monotonic() + CONVERGE_S
        while time.monotonic() < deadline and not all(converged.values()):
            for name in converged:
                converged[name] = converged[name] or d.converged(name)
            time.sleep(0.2)
    finally:
        poller.stop.set()
        poller.join(30)
    return d, steady, creating, before, poller, converged


def test_api_answers_while_the_engine_is_down(outage):
    poller = outage[4]
    during = [s for s in poller.seen if s[1] == "outage"]
    assert len(during) >= 4, f"only {len(during)} calls made during the outage"
    bad = [s for s in during if s[4].startswith(("no answer", "HTTP"))]
    assert not bad, f"{len(bad)} of {len(during)} calls did not answer 200 during the outage:\n" + poller.changes(bad)


def test_endpoints_converge_after_the_engine_restarts(outage):
    d, _, _, _, poller, converged = outage
    late = [n for n, desc in converged.items() if desc is None]
    assert not late, (f"not InService with their desired counts within {CONVERGE_S} s of the engine's restart: "
                      f"{late}\ncontainers of this owner:\n{d.container_report()}\nanswers:\n{poller.changes()}")


def test_containers_killed_by_the_engine_stop_leave_nothing_behind(outage):
    d, steady, creating, _, _, _ = outage
    names = set(steady) | {creating}
    wait_for(lambda: all(c.get("State") == "running" and c["Labels"].get("io.endpointd.endpoint") in names
                         for c in d.containers()),
             d.grace + 20, "only running containers of the endpoints to be left", d.container_report)


def test_outage_shorter_than_the_startup_timeout_fails_no_endpoint(outage):
    _, _, creating, _, poller, converged = outage
    failed = [s for s in poller.seen if s[4] == "Failed"]
    assert not failed, "endpoints seen Failed:\n" + poller.changes(failed)
    assert converged.get(creating), f"{creating} (Creating when the engine went down) did not go InService"
