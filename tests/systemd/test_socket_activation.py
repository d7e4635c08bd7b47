"""Socket activation: the listening sockets passed in LISTEN_FDS are served
and the config's listen: addresses are not bound; without them (or with ones
meant for another process) the daemon binds listen: as usual."""

import socket
import time

import pytest

from sd_harness import api, find_tool, free_port, port_refuses


@pytest.fixture
def socket_activate():
    tool = find_tool("systemd-socket-activate")
    if tool is None:
        pytest.skip("no systemd-socket-activate (apt-get install systemd)")
    return tool


def test_serves_the_passed_socket_instead_of_listen(make_daemon, notify, socket_activate):
    passed = free_port()
    d = make_daemon()  # listen: names d.port, another port
    # systemd-socket-activate binds the port, then starts endpointd on the
    # first connection and passes it the listening socket.
    d.start(prefix=[socket_activate, "-l", f"127.0.0.1:{passed}",
                    "-E", f"NOTIFY_SOCKET={notify.path}"])
    assert d.wait_api(port=passed) == 200
    notify.wait_for(lambda m: m.get("READY") == "1")
    status, body = api(passed, "ListEndpointConfigs")
    assert status == 200, body
    assert [c["EndpointConfigName"] for c in body["EndpointConfigs"]] == ["demo-config"]
    assert port_refuses(d.port)
    assert "socket-activated" in d.read_log()
    assert d.stop() == 0


def test_sigterm_under_socket_activation_exits_0(make_daemon, notify, socket_activate):
    passed = free_port()
    d = make_daemon().start(prefix=[socket_activate, "-l", f"127.0.0.1:{passed}",
                                    "-E", f"NOTIFY_SOCKET={notify.path}"])
    assert d.wait_api(port=passed) == 200
    ready = notify.wait_for(lambda m: m.get("READY") == "1")
    assert d.stop() == 0
    notify.wait_for(lambda m: m.get("STOPPING") == "1", start=ready + 1, timeout=1)


def test_listen_fds_for_another_process_are_ignored(make_daemon, notify):
    d = make_daemon().start(notify=notify, env={"LISTEN_FDS": "1", "LISTEN_PID": "1"})
    notify.wait_for(lambda m: m.get("READY") == "1")
    assert d.wait_api() == 200
    assert "listening on 127.0.0.1:" in d.read_log()


def test_without_systemd_it_binds_listen(make_daemon):
    d = make_daemon().start()
    assert d.wait_api() == 200
    assert "socket-activated" not in d.read_log()
    assert d.stop() == 0


def test_a_passed_socket_beyond_loopback_without_credentials_is_refused(make_daemon, socket_activate):
    passed = free_port()
    d = make_daemon()
    # A ListenStream=0.0.0.0:… drop-in: the daemon must not serve it unsigned.
    d.start(prefix=[socket_activate, "-l", f"0.0.0.0:{passed}"])
    # The first connection (over loopback) makes systemd-socket-activate start it.
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", passed), timeout=2).close()
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "systemd-socket-activate did not bind"
            time.sleep(0.02)
    assert d.proc.wait(10) != 0
    log = d.read_log()
    assert "is not bound to loopback and no credentials are configured" in log, log
    assert "allow_remote_without_auth: true" in log, log


def test_a_passed_socket_beyond_loopback_is_served_when_the_config_allows_it(make_daemon, notify,
                                                                                socket_activate):
    passed = free_port()
    d = make_daemon()
    d.write_config(extra_yaml="allow_remote_without_auth: true\n")
    d.start(prefix=[socket_activate, "-l", f"0.0.0.0:{passed}", "-E", f"NOTIFY_SOCKET={notify.path}"])
    assert d.wait_api(port=passed) == 200
    assert d.stop() == 0
