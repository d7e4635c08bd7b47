"""sd_notify: what endpointd tells the service manager, received on a real
notify socket (AF_UNIX, SOCK_DGRAM) that the test binds."""

import os
import signal
import time

from fake_engine import FakeEngine
from sd_harness import api


def test_ready_is_sent_once_the_api_answers(make_daemon, notify):
    d = make_daemon().start(notify=notify)
    i = notify.wait_for(lambda m: m.get("READY") == "1")
    # The listener is bound before READY=1: the very next call is served.
    status, body = api(d.port, "ListEndpointConfigs")
    assert status == 200
    assert [c["EndpointConfigName"] for c in body["EndpointConfigs"]] == ["demo-config"]
    assert notify.messages[i][1]["STATUS"] == "0 InService, 0 Creating, 0 Failed"


def test_ready_comes_after_the_state_is_recovered(make_daemon, notify):
    make_daemon().start(notify=notify)
    ready = notify.wait_for(lambda m: m.get("READY") == "1")
    recovering = notify.wait_for(lambda m: m.get("STATUS", "").startswith("Recovering state"))
    assert recovering < ready


def test_status_counts_endpoints_by_status(make_daemon, notify, workdir):
    engine = FakeEngine(os.path.join(workdir, "engine.sock"))
    d = make_daemon(docker_socket=engine.path)
    try:
        d.start(notify=notify)
        ready = notify.wait_for(lambda m: m.get("READY") == "1")
        for name in ("ep-a", "ep-b"):
            status, body = api(d.port, "CreateEndpoint",
                               {"EndpointName": name, "EndpointConfigName": "demo-config"})
            assert status == 200, body
        # The fake engine refuses every pull: both end Failed.
        notify.wait_for(lambda m: m.get("STATUS") == "0 InService, 0 Creating, 2 Failed",
                        start=ready + 1)
        status, _ = api(d.port, "DeleteEndpoint", {"EndpointName": "ep-a"})
        assert status == 200
        notify.wait_for(lambda m: m.get("STATUS") == "0 InService, 0 Creating, 1 Failed",
                        start=ready + 1)
    finally:
        assert d.stop() == 0
        engine.stop()


def test_status_shows_creating_endpoints(make_daemon, notify):
    # No engine at all: the endpoint stays Creating, retrying.
    d = make_daemon().start(notify=notify)
    ready = notify.wait_for(lambda m: m.get("READY") == "1")
    status, body = api(d.port, "CreateEndpoint",
                       {"EndpointName": "waiting", "EndpointConfigName": "demo-config"})
    assert status == 200, body
    notify.wait_for(lambda m: m.get("STATUS") == "0 InService, 1 Creating, 0 Failed",
                    start=ready + 1)


def test_status_updates_are_coalesced(make_daemon, notify):
    d = make_daemon().start(notify=notify)
    ready = notify.wait_for(lambda m: m.get("READY") == "1")
    for i in range(20):
        status, body = api(d.port, "CreateEndpoint",
                           {"EndpointName": f"burst-{i}", "EndpointConfigName": "demo-config"})
        assert status == 200, body
    notify.wait_for(lambda m: m.get("STATUS") == "0 InService, 20 Creating, 0 Failed",
                    start=ready + 1)
    times = [t for t, m in notify.messages[ready:] if "STATUS" in m]
    # 20 changes, at most four updates a second (with slack for scheduling).
    assert len(times) < 20
    assert all(b - a >= 0.2 for a, b in zip(times, times[1:])), times


def test_watchdog_pings_at_half_the_interval(make_daemon, notify):
    d = make_daemon().start(notify=notify, watchdog_usec=1_000_000)
    notify.wait_for(lambda m: m.get("READY") == "1")
    messages = notify.collect(2.2)
    pings = [t for t, m in messages if m.get("WATCHDOG") == "1"]
    assert len(pings) >= 3, messages
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    assert all(0.3 <= g <= 0.8 for g in gaps), gaps
    assert d.stop() == 0


def test_watchdog_is_off_when_it_names_another_process(make_daemon, notify):
    make_daemon().start(notify=notify, watchdog_usec=200_000, watchdog_pid=1)
    notify.wait_for(lambda m: m.get("READY") == "1")
    messages = notify.collect(0.6)
    assert not [m for _, m in messages if "WATCHDOG" in m]


def test_watchdog_is_off_without_watchdog_usec(make_daemon, notify):
    make_daemon().start(notify=notify)
    notify.wait_for(lambda m: m.get("READY") == "1")
    assert not [m for _, m in notify.collect(0.5) if "WATCHDOG" in m]


def test_sighup_sends_reloading_then_ready(make_daemon, notify):
    d = make_daemon().start(notify=notify)
    ready = notify.wait_for(lambda m: m.get("READY") == "1")
    before = time.clock_gettime(time.CLOCK_MONOTONIC)
    d.signal(signal.SIGHUP)
    reloading = notify.wait_for(lambda m: m.get("RELOADING") == "1", start=ready + 1)
    after = time.clock_gettime(time.CLOCK_MONOTONIC)
    # MONOTONIC_USEC, as Type=notify-reload (systemd >= 253) wants it.
    usec = int(notify.messages[reloading][1]["MONOTONIC_USEC"])
    assert before * 1e6 - 1000 <= usec <= after * 1e6 + 1000
    again = notify.wait_for(lambda m: m.get("READY") == "1", start=reloading + 1)
    assert notify.messages[again][1]["STATUS"] == "0 InService, 0 Creating, 0 Failed"


def test_sigterm_sends_stopping_and_exits_0(make_daemon, notify):
    d = make_daemon().start(notify=notify)
    ready = notify.wait_for(lambda m: m.get("READY") == "1")
    assert d.stop() == 0
    notify.wait_for(lambda m: m.get("STOPPING") == "1", start=ready + 1, timeout=1)


def test_a_start_that_fails_says_so_with_errno(make_daemon, notify, workdir):
    # state_dir under a regular file cannot be created.
    blocker = os.path.join(workdir, "a-file")
    open(blocker, "w").close()
    d = make_daemon()
    d.write_config(state_dir=os.path.join(blocker, "state"))
    d.start(notify=notify)
    assert d.proc.wait(10) == 1
    i = notify.wait_for(lambda m: "ERRNO" in m, timeout=1)
    assert int(notify.messages[i][1]["ERRNO"]) > 0
    assert not [m for _, m in notify.messages if m.get("READY") == "1"]
