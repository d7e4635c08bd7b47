"""endpointd-dialer works for a daemon in a pid namespace of its own.

A daemon run inside a container, or as a service of a booted
systemd-nspawn, has a pid namespace of its own while the Engine runs on the
host: the pid the Engine reports for the dialer's exec means nothing to it,
and SO_PEERCRED names the dialer as pid 0 (a process it cannot see).  The
dialer's token, handed to it in the exec's environment, then decides alone
(lib/dialer.h).  Here the daemon is started in a new pid namespace of its
own (and nothing else of its own: the same filesystem, network and Engine)
and its invocations must still reach the model over the container's
loopback, with no connection refused.

Map: a launcher that runs the daemon as pid 1 of a new pid namespace and
passes SIGTERM on; the fixture; the tests.
"""

import os
import shutil
import stat

import pytest

import endpointd_harness as h
from endpointd_harness import ApiClient, Daemon
from test_invoke_dialer import (
    INVOCATIONS_IN_A_ROW,
    LOOPBACK,
    container_id,
    peers_of_invocations_in_a_row,
    wait_dialer_ready,
)
from test_invoke_support import create_in_service

pytestmark = pytest.mark.engine_only(
    "endpointd-dialer is an exec into a container of the local engine; swarm mode runs none")

# unshare(2) the pid namespace, then fork: the child (pid 1 there) execs the
# daemon; the launcher passes SIGTERM and SIGINT on and exits as it did.
LAUNCHER = """#!/usr/bin/python3
import ctypes, os, signal, sys
CLONE_NEWPID = 0x20000000
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(CLONE_NEWPID) != 0:
    sys.exit("unshare(CLONE_NEWPID): " + os.strerror(ctypes.get_errno()))
pid = os.fork()
if pid == 0:
    os.execv({binary!r}, [{binary!r}] + sys.argv[1:])
for s in (signal.SIGTERM, signal.SIGINT):
    signal.signal(s, lambda n, f: os.kill(pid, n))
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def daemon_in_namespace(launcher_pid):
    """The daemon's host pid: the launcher's one child."""
    with open(f"/proc/{launcher_pid}/task/{launcher_pid}/children") as f:
        children = f.read().split()
    assert len(children) == 1, f"launcher {launcher_pid}: children {children!r}"
    return int(children[0])


def nspids(pid):
    """pid as each pid namespace it is in numbers it, outermost first."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return [int(p) for p in line.split()[1:]]
    return []


@pytest.fixture(scope="module")
def namespaced(endpointd_bin, docker_sock, demo_image, docker):
    """(daemon, its host pid, api, endpoint name, container id) for a daemon
    in a pid namespace of its own."""
    probe = os.fork()
    if probe == 0:
        import ctypes
        os._exit(0 if ctypes.CDLL(None).unshare(0x20000000) == 0 else 1)
    _, status = os.waitpid(probe, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        pytest.skip("cannot make a pid namespace here")
    d = Daemon(endpointd_bin, docker_sock, demo_image)
    launcher = os.path.join(d.workdir, "in-pid-namespace")
    with open(launcher, "w") as f:
        f.write(LAUNCHER.format(binary=os.path.realpath(endpointd_bin)))
    os.chmod(launcher, stat.S_IRWXU)
    d.binary = launcher
    d.start()
    h._DAEMONS.append(d)
    api = ApiClient("127.0.0.1", d.port)
    factory = h.EndpointFactory(api)
    try:
        (name,) = create_in_service(factory, api, [("pidns", "invoke-config")])
        yield d, daemon_in_namespace(d.proc.pid), api, name, container_id(docker, name)
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


def test_daemon_runs_as_pid_1_of_a_pid_namespace_of_its_own(namespaced):
    _, pid, _, _, _ = namespaced
    assert nspids(pid)[-1] == 1, nspids(pid)


def test_dialer_of_a_daemon_in_its_own_pid_namespace_is_connected(docker, namespaced):
    _, pid, _, _, cid = namespaced
    wait_dialer_ready(docker, pid, cid)


def test_invocations_reach_the_model_over_the_container_loopback_from_its_own_pid_namespace(
        docker, namespaced):
    _, pid, api, name, cid = namespaced
    wait_dialer_ready(docker, pid, cid)
    assert peers_of_invocations_in_a_row(api, name) == [LOOPBACK] * INVOCATIONS_IN_A_ROW


def test_daemon_in_its_own_pid_namespace_refuses_no_dialer_connection(docker, namespaced):
    d, pid, _, _, cid = namespaced
    wait_dialer_ready(docker, pid, cid)
    assert "refused a connection" not in d.log_tail(0), d.log_tail(0)
