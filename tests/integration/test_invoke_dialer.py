"""InvokeEndpoint reaches the model server over its container's own loopback.

The daemon bind-mounts endpointd-dialer (at /.endpointd/dialer) and a
per-instance directory <state_dir>/dialers/<16 hex> (at /.endpointd/run),
both read-only, into every model container; once the container is healthy it
runs the dialer there through Docker exec, and the dialer hands it TCP
sockets connected to 127.0.0.1:8080 inside the container (lib/dialer.h).
The demo model says in "peer" whom it sees as the client: 127.0.0.1 through
the dialer, the bridge's gateway through the published port (docker-proxy).
Without a dialer (`container_dialer: none`, or the process gone) invocations
go through the published port.

Map: helpers to find the dialer (the Engine's `top`) and to tell when the
daemon holds its connection (/proc; the tests run as root in the Engine's PID
namespace), also used by tests/recovery/test_dialer_recovery.py; then the
tests with the session daemon; then a daemon of its own with
`container_dialer: none`.
"""

import os
import re
import shutil
import signal
import time

import pytest

import endpointd_harness as h
from endpointd_harness import ONE_MIB, POLL_S, ApiClient, Daemon
from test_invoke_support import (
    MAX_INVOKE_BODY,
    OCTET,
    create_in_service,
    invoke,
    payload,
    sha256_hex,
)

pytestmark = pytest.mark.engine_only(
    "endpointd-dialer is an exec into a container of the local engine; swarm mode runs none")

DIALER_BIN = "/.endpointd/dialer"
DIALER_RUN_DIR = "/.endpointd/run"
DIALER_SOCKET = "sock"
DIALER_MODEL_PORT = 8080
DIALER_ARGV = f"{DIALER_BIN} {DIALER_RUN_DIR}/{DIALER_SOCKET} {DIALER_MODEL_PORT}"
LOOPBACK = "127.0.0.1"

# How long the daemon may take, once a container is healthy (or adopted), to
# have its dialer running and connected; and an old dialer to exit.
DIALER_READY_S = 20
DIR_GONE_S = 10
INVOCATIONS_IN_A_ROW = 5

# ---------------------------------------------------------------------------
# Helpers


def dialer_processes(docker, cid):
    """[(host PID, command line)] of the dialer processes in container cid."""
    status, body = docker.request("GET", f"/containers/{cid}/top")
    assert status == 200, f"docker top {cid}: {status} {body!r}"
    titles = body.get("Titles") or []
    assert "PID" in titles and "CMD" in titles, f"docker top {cid}: no PID or CMD column: {titles!r}"
    pid_at, cmd_at = titles.index("PID"), titles.index("CMD")
    return [(int(row[pid_at]), row[cmd_at]) for row in body.get("Processes") or []
            if row[cmd_at].split(" ", 1)[0] == DIALER_BIN]


def container_id(docker, name):
    """The one running container of endpoint name."""
    running = docker.endpoint_containers(name, all=False)
    assert len(running) == 1, f"{name}: expected one running container, got {running!r}"
    return running[0]["Id"]


def mounts_by_destination(inspect):
    return {m.get("Destination"): m for m in inspect.get("Mounts") or []}


def run_dir_of(docker, cid):
    """The host directory mounted at /.endpointd/run in container cid."""
    mounts = mounts_by_destination(docker.inspect(cid))
    assert DIALER_RUN_DIR in mounts, f"{cid}: no mount at {DIALER_RUN_DIR}: {sorted(mounts)!r}"
    return mounts[DIALER_RUN_DIR]["Source"]


def _socket_inodes(pid):
    """Inodes of the sockets process pid has open."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return inodes
    for name in names:
        try:
            link = os.readlink(os.path.join(fd_dir, name))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:["):-1])
    return inodes


def daemon_holds_dialer(daemon_pid, dialer_pid, sock_path):
    """Whether the daemon has accepted the dialer's connection on sock_path:
    one of its fds is a connected (St 03) Unix socket with that path.  An
    accepted socket lives in the connecting side's network namespace, so it
    is listed in the container's /proc/net/unix, not the daemon's."""
    mine = _socket_inodes(daemon_pid)
    try:
        with open(f"/proc/{dialer_pid}/net/unix") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return False
    for line in lines:
        fields = line.split()  # Num RefCount Protocol Flags Type St Inode [Path]
        if len(fields) >= 8 and fields[5] == "03" and fields[6] in mine and fields[7] == sock_path:
            return True
    return False


def wait_dialer_ready(docker, daemon_pid, cid, timeout=DIALER_READY_S):
    """Wait until cid runs exactly one dialer and the daemon holds its
    connection; return the dialer's host PID."""
    sock = os.path.join(run_dir_of(docker, cid), DIALER_SOCKET)
    deadline = time.monotonic() + timeout
    while True:
        procs = dialer_processes(docker, cid)
        held = len(procs) == 1 and daemon_holds_dialer(daemon_pid, procs[0][0], sock)
        if held:
            return procs[0][0]
        if time.monotonic() >= deadline:
            pytest.fail(f"container {cid[:12]}: no single connected dialer within {timeout} s "
                        f"(dialer processes: {procs!r}; the daemon holds a connection on {sock}: {held})",
                        pytrace=False)
        time.sleep(POLL_S)


def kill_dialer(docker, cid, pid):
    """SIGKILL the dialer (host PID pid) and wait until `top` no longer shows it."""
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    assert argv[0] == DIALER_BIN.encode(), f"PID {pid} is not the dialer: {argv!r}"
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + DIALER_READY_S
    while dialer_processes(docker, cid):
        if time.monotonic() >= deadline:
            pytest.fail(f"container {cid[:12]}: dialer still there {DIALER_READY_S} s after SIGKILL: "
                        f"{dialer_processes(docker, cid)!r}", pytrace=False)
        time.sleep(POLL_S)


def invoke_described(api, name, size=64, seed=0):
    """One JSON invocation of size bytes; the demo model's description of it,
    checked to be of the whole body."""
    body = payload(size, seed=seed)
    r = invoke(api, name, body)
    assert r.status == 200, r
    assert isinstance(r.json, dict), f"not the demo model's JSON: {r!r}"
    assert r.json.get("length") == size, r.json
    assert r.json.get("sha256") == sha256_hex(body), r.json
    assert "peer" in r.json, f"the demo model does not report its peer (an old image?): {r.json!r}"
    return r.json


def peers_of_invocations_in_a_row(api, name, n=INVOCATIONS_IN_A_ROW):
    return [invoke_described(api, name, size=100 + i, seed=i)["peer"] for i in range(n)]


def gateway_of(inspect):
    """The container's bridge gateway, as docker-proxy connects from it."""
    ns = inspect.get("NetworkSettings") or {}
    if ns.get("Gateway"):
        return ns["Gateway"]
    for net in (ns.get("Networks") or {}).values():
        if net.get("Gateway"):
            return net["Gateway"]
    return None


def dialed_endpoint(factory, api, docker, daemon, what):
    """A fresh InService invoke-config endpoint whose dialer is connected and
    has not been used: (name, container id, dialer host PID)."""
    (name,) = create_in_service(factory, api, [(what, "invoke-config")])
    cid = container_id(docker, name)
    return name, cid, wait_dialer_ready(docker, daemon.proc.pid, cid)


# ---------------------------------------------------------------------------
# With the session daemon (run from the build tree: its default dialer is the
# endpointd-dialer built beside it)


@pytest.fixture(scope="module")
def dialed(api, docker, daemon, module_endpoints):
    return dialed_endpoint(module_endpoints, api, docker, daemon, "dial")


def test_build_tree_daemon_mounts_the_dialer_built_beside_it(docker, dialed, endpointd_bin):
    _, cid, _ = dialed
    source = mounts_by_destination(docker.inspect(cid))[DIALER_BIN]["Source"]
    beside = os.path.join(os.path.dirname(os.path.realpath(endpointd_bin)), "endpointd-dialer")
    assert os.access(beside, os.X_OK), f"no endpointd-dialer was built beside {endpointd_bin}"
    # An installed one (<libexecdir>/endpointd/endpointd-dialer) would come first.
    assert source == beside or source.endswith("/endpointd/endpointd-dialer"), source


def test_dialer_and_its_run_directory_are_mounted_read_only(docker, daemon, dialed):
    _, cid, _ = dialed
    mounts = mounts_by_destination(docker.inspect(cid))
    for dest in (DIALER_BIN, DIALER_RUN_DIR):
        assert dest in mounts, f"no mount at {dest}: {mounts!r}"
        assert mounts[dest]["RW"] is False, mounts[dest]
    run_dir = mounts[DIALER_RUN_DIR]["Source"]
    assert os.path.dirname(run_dir) == os.path.join(daemon.workdir, "state", "dialers"), run_dir
    base = os.path.basename(run_dir)
    assert len(base) == 16 and all(c in "0123456789abcdef" for c in base), run_dir


def test_container_runs_one_dialer_on_its_run_socket(docker, dialed):
    _, cid, pid = dialed
    assert dialer_processes(docker, cid) == [(pid, DIALER_ARGV)]


def test_dialer_token_is_not_left_in_its_environment(dialed):
    # The daemon hands it over in the exec's environment (argv is readable by
    # every process of the container); the dialer wipes it once read.
    _, _, pid = dialed
    with open(f"/proc/{pid}/environ", "rb") as f:
        environ = f.read()
    assert not re.search(rb"ENDPOINTD_DIALER_TOKEN=[0-9a-f]", environ), environ


def test_invocations_reach_the_model_over_the_container_loopback(api, dialed):
    name, _, _ = dialed
    assert peers_of_invocations_in_a_row(api, name) == [LOOPBACK] * INVOCATIONS_IN_A_ROW


def test_6_mib_body_reaches_the_model_intact_over_the_container_loopback(api, dialed):
    name, _, _ = dialed
    assert invoke_described(api, name, size=MAX_INVOKE_BODY, seed=6)["peer"] == LOOPBACK


def test_6_mib_body_echoes_back_intact_through_the_dialer(api, dialed):
    name, _, _ = dialed
    body = payload(MAX_INVOKE_BODY, seed=66)
    r = invoke(api, name, body, accept=OCTET)
    assert r.status == 200, r
    assert len(r.body) == len(body)
    assert r.body == body
    # The connection it went over is the dialer's (nothing else was ever pooled).
    assert invoke_described(api, name)["peer"] == LOOPBACK


def test_invocations_go_through_the_published_port_once_the_dialer_is_killed(api, docker, daemon, endpoints):
    # Killed before any invocation: no socket from it is pooled, so every
    # invocation below needs a connection of its own.
    name, cid, pid = dialed_endpoint(endpoints, api, docker, daemon, "dialkill")
    kill_dialer(docker, cid, pid)
    peers = peers_of_invocations_in_a_row(api, name)
    assert LOOPBACK not in peers, peers
    assert peers == [gateway_of(docker.inspect(cid)) or peers[0]] * INVOCATIONS_IN_A_ROW, peers


def test_invocations_keep_succeeding_when_the_dialer_is_killed_after_traffic(api, docker, daemon, endpoints):
    name, cid, pid = dialed_endpoint(endpoints, api, docker, daemon, "dialtraffic")
    assert peers_of_invocations_in_a_row(api, name) == [LOOPBACK] * INVOCATIONS_IN_A_ROW
    kill_dialer(docker, cid, pid)
    for i in range(INVOCATIONS_IN_A_ROW):
        invoke_described(api, name, size=ONE_MIB + i, seed=10 + i)
    body = payload(ONE_MIB, seed=20)
    r = invoke(api, name, body, accept=OCTET)
    assert r.status == 200 and r.body == body, r


def test_delete_endpoint_removes_the_instance_dialer_directory(api, docker, daemon, endpoints):
    name, cid, _ = dialed_endpoint(endpoints, api, docker, daemon, "dialdel")
    run_dir = run_dir_of(docker, cid)
    assert os.path.isdir(run_dir), run_dir
    api.ok("DeleteEndpoint", {"EndpointName": name})
    api.wait_gone(name)
    h.wait_until(lambda: not os.path.exists(run_dir), DIR_GONE_S, what=f"{run_dir} to be removed")


# ---------------------------------------------------------------------------
# A daemon of its own with `container_dialer: none`


@pytest.fixture(scope="module")
def undialed(endpointd_bin, docker_sock, demo_image, docker):
    """(daemon, api, endpoint name, container id) with container_dialer: none."""
    d = Daemon(endpointd_bin, docker_sock, demo_image, extra_config=["container_dialer: none"])
    d.start()
    h._DAEMONS.append(d)
    api = ApiClient("127.0.0.1", d.port)
    factory = h.EndpointFactory(api)
    try:
        (name,) = create_in_service(factory, api, [("nodial", "invoke-config")])
        yield d, api, name, container_id(docker, name)
    finally:
        try:
            factory.cleanup()
        finally:
            d.stop()
            # Whatever it left behind: the containers of its owner id.
            with open(os.path.join(d.workdir, "state", "daemon-id")) as f:
                owner = f.read().strip()
            for c in docker.containers(f"{h.LABEL}.managed=true", f"{h.LABEL}.owner={owner}"):
                docker.remove(c["Id"])
            h._DAEMONS.remove(d)
            if not os.environ.get("ENDPOINTD_TEST_KEEP"):
                shutil.rmtree(d.workdir, ignore_errors=True)


def test_without_a_dialer_invocations_come_through_the_published_port(docker, undialed):
    _, api, name, cid = undialed
    peers = peers_of_invocations_in_a_row(api, name)
    assert LOOPBACK not in peers, peers
    gateway = gateway_of(docker.inspect(cid))
    if gateway:
        assert peers == [gateway] * INVOCATIONS_IN_A_ROW, peers


def test_without_a_dialer_containers_get_no_dialer_mounts_or_process(docker, undialed):
    d, _, _, cid = undialed
    mounts = mounts_by_destination(docker.inspect(cid))
    assert DIALER_BIN not in mounts and DIALER_RUN_DIR not in mounts, mounts
    assert dialer_processes(docker, cid) == []
    assert not os.path.exists(os.path.join(d.workdir, "state", "dialers"))
