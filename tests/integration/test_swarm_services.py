"""A variant's service on a real single-node swarm, through lib/swarm.c.

The module starts a dockerd of its own (never the suite's shared engine: a
swarm init would change it for everyone), declares two fake NVIDIA-GPU
generic resources on it, labels its node gpu=h100, makes it a swarm over
127.0.0.1 and loads the demo image into it; tests/swarm-run creates each
service from swarm_service_spec() and reports where its tasks answer.
Skipped when that dockerd cannot be started or cannot make a swarm, and
when the whole suite runs in swarm mode: it drives lib/swarm.c, not a
daemon, and the engine-mode run has it.
"""

import contextlib
import http.client
import json
import os
import random
import socket
import subprocess
import tempfile
import time

import pytest

import endpointd_harness as h

TOP_SRCDIR = os.environ.get("top_srcdir", os.path.join(os.path.dirname(__file__), "..", ".."))
TOP_BUILDDIR = os.environ.get("top_builddir", TOP_SRCDIR)
SWARM_RUN = os.environ.get("SWARM_RUN", os.path.join(TOP_BUILDDIR, "tests", "swarm-run"))
PRIVATE_DOCKERD = os.path.join(TOP_SRCDIR, "contrib", "private-dockerd.sh")
DEMO_IMAGE = os.environ.get("DEMO_IMAGE", "endpointd-demo-model:latest")
DOCKER = "/usr/bin/docker"

pytestmark = pytest.mark.skipif(h.SWARM, reason="drives lib/swarm.c, not a daemon: the engine-mode run has it")


def _free_udp_port():
    """A UDP port no one holds, in the range Swarm takes for its data path."""
    for _ in range(100):
        port = random.randint(20000, 40000)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free UDP port in 20000-40000")


def _docker(sock, *args, **kw):
    return subprocess.run([DOCKER, "-H", "unix://" + sock, *args], capture_output=True,
                          text=True, timeout=kw.pop("timeout", 120), **kw)


def _load_demo_image(sock):
    """The demo image from the suite's engine when it has one, else built."""
    shared = os.environ.get("DOCKER_SOCK")
    if shared and os.path.exists(shared):
        save = subprocess.Popen([DOCKER, "-H", "unix://" + shared, "save", DEMO_IMAGE],
                                stdout=subprocess.PIPE)
        load = subprocess.run([DOCKER, "-H", "unix://" + sock, "load"], stdin=save.stdout,
                              capture_output=True, timeout=300)
        save.stdout.close()
        if save.wait() == 0 and load.returncode == 0:
            return True
    build = subprocess.run([os.path.join(TOP_SRCDIR, "contrib", "demo-model", "build-image.sh"),
                            "--docker-host", "unix://" + sock], capture_output=True,
                           timeout=600)
    return build.returncode == 0


@contextlib.contextmanager
def single_node_swarm(prefix):
    """The socket of a dockerd of its own in a fresh /tmp/<prefix>XXXXXX, with
    two fake GPUs, its node labelled gpu=h100, made a swarm over 127.0.0.1
    and given the demo image; stopped at the end.  Skips when it cannot."""
    if os.geteuid() != 0:
        pytest.skip("a dockerd of its own needs root")
    top = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    env = dict(os.environ, PRIVATE_DOCKERD_ARGS="--node-generic-resource NVIDIA-GPU=gpu0 "
                                                 "--node-generic-resource NVIDIA-GPU=gpu1")
    start = subprocess.run([PRIVATE_DOCKERD, "start", top], capture_output=True, text=True,
                           env=env, timeout=120)
    if start.returncode != 0:
        os.rmdir(top) if os.path.isdir(top) and not os.listdir(top) else None
        pytest.skip(f"cannot start a dockerd of its own: {start.stderr.strip()[-300:]}")
    sock = start.stdout.strip().splitlines()[-1]
    try:
        # Its own ports on loopback: another swarm on this machine may hold
        # the defaults (2377, and 4789 for the data path).
        port = h.free_port()
        init = _docker(sock, "swarm", "init", "--advertise-addr", f"127.0.0.1:{port}",
                       "--listen-addr", f"127.0.0.1:{port}",
                       "--data-path-port", str(_free_udp_port()))
        if init.returncode != 0:
            pytest.skip(f"dockerd cannot make a swarm: {init.stderr.strip()}")
        node = _docker(sock, "node", "ls", "-q").stdout.split()[0]
        _docker(sock, "node", "update", "--label-add", "gpu=h100", node)
        if not _load_demo_image(sock):
            pytest.skip(f"cannot load {DEMO_IMAGE} into the swarm's dockerd")
        yield sock
    finally:
        subprocess.run([PRIVATE_DOCKERD, "stop", top], capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def swarm_sock():
    if not os.access(SWARM_RUN, os.X_OK):
        pytest.skip(f"{SWARM_RUN} is not built")
    with single_node_swarm("esw.") as sock:
        yield sock


def _swarm_run(sock, *args):
    return subprocess.run([SWARM_RUN, sock, *args], capture_output=True, text=True,
                          timeout=90)


@pytest.fixture
def service(swarm_sock):
    """Creates services by name; removes them afterwards."""
    names = []

    def create(name, replicas, gpus, *constraints):
        names.append(name)
        return _swarm_run(swarm_sock, "create", name, DEMO_IMAGE, str(replicas), str(gpus),
                          *constraints)

    yield create
    for name in names:
        _swarm_run(swarm_sock, "remove", name)
    # Removed tasks give their GPUs back once their containers are gone.
    deadline = time.time() + 30
    while time.time() < deadline and _docker(swarm_sock, "ps", "-q").stdout.strip():
        time.sleep(0.5)


def _running(out):
    """[(slot, addr, port)] of swarm-run's "running" lines."""
    return [(int(w[1]), w[2], int(w[3])) for w in (line.split() for line in out.splitlines())
            if w and w[0] == "running"]


def _task_ids(out):
    """{slot: task id} of swarm-run's "running" lines."""
    return {int(w[1]): w[4] for w in (line.split() for line in out.splitlines())
            if w and w[0] == "running"}


def _get(addr, port, method, path, body=None):
    """One request to a task, retried while its server starts."""
    deadline = time.time() + 30
    while True:
        try:
            c = http.client.HTTPConnection(addr, port, timeout=5)
            c.request(method, path, body=body,
                      headers={"Content-Type": "application/json"} if body else {})
            r = c.getresponse()
            return r.status, r.read()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.25)


def test_a_variant_service_runs_each_replica_on_its_own_host_mode_port(service):
    run = service("endpointd_t_two", 2, 0)
    assert run.returncode == 0, run.stderr + run.stdout
    tasks = _running(run.stdout)
    assert sorted(t[0] for t in tasks) == [1, 2]
    assert all(addr == "127.0.0.1" for _, addr, _ in tasks), "the node's Swarm address"
    assert len({port for _, _, port in tasks}) == 2 and all(port for _, _, port in tasks)


def test_each_task_answers_ping_and_invocations_at_its_nodes_address(service):
    run = service("endpointd_t_invoke", 2, 0)
    assert run.returncode == 0, run.stderr + run.stdout
    hostnames = set()
    for _, addr, port in _running(run.stdout):
        assert _get(addr, port, "GET", "/ping")[0] == 200
        status, body = _get(addr, port, "POST", "/invocations", b'{"x": 1}')
        assert status == 200, body
        hostnames.add(json.loads(body)["hostname"])
    assert len(hostnames) == 2, "each port reaches its own task, not a routing mesh"


def test_gpu_replicas_are_placed_while_the_nodes_gpus_last(service):
    run = service("endpointd_t_gpu", 2, 1, "node.labels.gpu==h100")
    assert run.returncode == 0, run.stderr + run.stdout
    assert len(_running(run.stdout)) == 2


def test_more_gpus_than_any_node_has_leave_the_task_unplaced_with_the_schedulers_reason(service):
    run = service("endpointd_t_gpus3", 1, 3)
    assert run.returncode == 3, run.stderr + run.stdout
    assert "unplaced pending no suitable node (insufficient resources on 1 node)" in run.stdout


def test_a_constraint_no_node_meets_leaves_the_task_unplaced_with_the_schedulers_reason(service):
    run = service("endpointd_t_a100", 1, 0, "node.labels.gpu==a100")
    assert run.returncode == 3, run.stderr + run.stdout
    assert "scheduling constraints not satisfied" in run.stdout


def test_a_dead_instance_is_replaced_alone_by_scaling_down_and_up_again(swarm_sock, service):
    name = "endpointd_t_replace"
    run = service(name, 3, 0)
    assert run.returncode == 0, run.stderr + run.stdout
    before = _task_ids(run.stdout)
    assert sorted(before) == [1, 2, 3]

    dead = _docker(swarm_sock, "ps", "-q", "--filter", f"name={name}.2.").stdout.split()
    assert len(dead) == 1
    _docker(swarm_sock, "kill", dead[0])
    deadline = time.time() + 30
    while True:
        wanted = _docker(swarm_sock, "service", "ps", "-q", "--filter", "desired-state=running",
                         name).stdout.split()
        if len(wanted) == 2:
            break
        assert time.time() < deadline, "the killed task is still wanted"
        time.sleep(0.25)
    # Restart policy none: nothing replaces it on its own.
    time.sleep(2)
    assert len(_docker(swarm_sock, "service", "ps", "-q", "--filter", "desired-state=running",
                       name).stdout.split()) == 2

    scale = _swarm_run(swarm_sock, "scale", name, "2")
    assert scale.returncode == 0, scale.stderr
    # Scaling up before the dead slot's tasks are gone leaves the slot empty:
    # Swarm still counts it, then deletes it without a new task.
    deadline = time.time() + 30
    while f"{name}.2" in _docker(swarm_sock, "service", "ps", "--format", "{{.Name}}",
                                 name).stdout.split():
        assert time.time() < deadline, "the dead slot is never dropped"
        time.sleep(0.25)
    scale = _swarm_run(swarm_sock, "scale", name, "3")
    assert scale.returncode == 0, scale.stderr
    wait = _swarm_run(swarm_sock, "wait", name, "3")
    assert wait.returncode == 0, wait.stderr + wait.stdout
    after = _task_ids(wait.stdout)
    assert sorted(after) == [1, 2, 3]
    assert after[1] == before[1] and after[3] == before[3], "the running tasks were kept"
    assert after[2] != before[2], "the dead slot has a new task"
