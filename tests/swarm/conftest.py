"""A three-node Docker Swarm on this one machine, for the Swarm backend's tests.

Map of this file:
  - Engine: the Engine API over a node's Unix socket (raw http.client, JSON
    bodies), so tests see exactly what the manager answers
  - Cluster / Node: what contrib/swarm-cluster.sh printed (sockets, node
    addresses, namespaces, Swarm node IDs, fake NVIDIA-GPU IDs)
  - fixtures: `cluster` (started once per session in a fresh /tmp/esc.XXXXXX,
    stopped at the end; skips with the reason when namespaces or dockerd
    cannot be set up), `demo_image` (the demo model built into every node)
  - findings: what the tests measured (timings, the scheduler's texts), shown
    at the end of the run and written to $ENDPOINTD_SWARM_FINDINGS when set

Knobs: ENDPOINTD_SWARM_NODES (default 3), ENDPOINTD_SWARM_HEARTBEAT (the
dispatcher heartbeat, default Docker's 5s), ENDPOINTD_SWARM_DIR (an empty
directory for the cluster, short: containerd's socket paths), DEMO_IMAGE,
top_srcdir.
"""

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)

import pytest  # noqa: E402

TOP_SRCDIR = os.environ.get("top_srcdir") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir))
CLUSTER_SCRIPT = os.path.join(TOP_SRCDIR, "contrib", "swarm-cluster.sh")
BUILD_IMAGE = os.path.join(TOP_SRCDIR, "contrib", "demo-model", "build-image.sh")
DOCKER = "/usr/bin/docker"
DOCKERD = "/usr/sbin/dockerd"
DEMO_IMAGE = os.environ.get("DEMO_IMAGE", "endpointd-demo-model:latest")
START_TIMEOUT_S = 150
STOP_TIMEOUT_S = 150

FINDINGS = {}


def record(key, value):
    """Keeps one measured fact for the summary at the end of the run."""
    FINDINGS[key] = value


def wait_until(pred, timeout, interval=0.2, what="condition"):
    """pred()'s first truthy value, or a failure naming what never happened."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(interval)


# ---------------------------------------------------------------------------
# Engine API over a Unix socket


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._unix_path)
        self.sock = s


class Engine:
    """One node's Engine API; 1.41 is what docker.io's dockerd 20.10 speaks."""

    API = "/v1.41"

    def __init__(self, sock_path, timeout=30):
        self.sock_path = sock_path
        self.timeout = timeout

    def request(self, method, path, query=None, body=None):
        url = self.API + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        conn = _UnixHTTPConnection(self.sock_path, self.timeout)
        try:
            headers = {}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, url, body=data, headers=headers)
            r = conn.getresponse()
            raw = r.read()
            return r.status, (json.loads(raw) if raw[:1] in (b"[", b"{") else raw)
        finally:
            conn.close()

    def ok(self, method, path, query=None, body=None):
        status, reply = self.request(method, path, query, body)
        assert 200 <= status < 300, f"{method} {path}: {status} {reply!r}"
        return reply

    def tasks(self, service):
        return self.ok("GET", "/tasks", {"filters": json.dumps({"service": [service]})})

    def node(self, node_id):
        return self.ok("GET", f"/nodes/{node_id}")

    def create_service(self, spec):
        return self.ok("POST", "/services/create", body=spec)["ID"]

    def remove_service(self, service):
        self.request("DELETE", f"/services/{service}")

    def events(self, filters, since):
        """An open /events stream (a response to readline() from)."""
        conn = _UnixHTTPConnection(self.sock_path, None)
        conn.request("GET", self.API + "/events?" + urllib.parse.urlencode(
            {"filters": json.dumps(filters), "since": f"{since:.9f}"}))
        r = conn.getresponse()
        assert r.status == 200, f"GET /events: {r.status}"
        return conn, r


# ---------------------------------------------------------------------------
# The cluster


class Node:
    def __init__(self, env, k):
        self.number = k
        self.socket = env[f"node{k}_socket"]
        self.address = env[f"node{k}_address"]
        self.netns = env[f"node{k}_netns"]
        self.id = env[f"node{k}_id"]
        self.role = env[f"node{k}_role"]
        self.gpus = [g for g in env[f"node{k}_gpus"].split(",") if g]
        self.engine = Engine(self.socket)


class Cluster:
    def __init__(self, env):
        self.env = env
        self.dir = env["dir"]
        self.subnet = env["subnet"]
        self.host_address = env["host_address"]
        self.host_link = env["host_link"]
        self.nodes = [Node(env, k) for k in range(1, int(env["nodes"]) + 1)]
        self.manager = Engine(env["manager_socket"])

    def node_by_id(self, node_id):
        return next(n for n in self.nodes if n.id == node_id)

    def run(self, *args, timeout=60):
        """swarm-cluster.sh ARGS on this cluster's directory."""
        p = subprocess.run([CLUSTER_SCRIPT, args[0], self.dir, *args[1:]],
                           capture_output=True, text=True, timeout=timeout)
        assert p.returncode == 0, f"swarm-cluster.sh {' '.join(args)}: {p.returncode}: {p.stderr}"
        return p.stdout


def _parse_env(text):
    env = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            env[key] = value
    return env


def _why_not_possible():
    """The reason this machine cannot host the cluster, or None."""
    if os.geteuid() != 0:
        return "network namespaces and dockerd need root"
    if not shutil.which("ip"):
        return "no ip (apt-get install iproute2)"
    if not os.access(DOCKERD, os.X_OK) or not os.access(DOCKER, os.X_OK):
        return f"no {DOCKERD} or {DOCKER} (apt-get install docker.io)"
    probe = f"escprobe{os.getpid()}"
    p = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if p.returncode != 0:
        return f"cannot make a network namespace: {p.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


@pytest.fixture(scope="session")
def cluster():
    why = _why_not_possible()
    if why:
        pytest.skip(why)
    nodes = os.environ.get("ENDPOINTD_SWARM_NODES", "3")
    # tests/run-swarm-tests makes the directory (and removes it whatever
    # happens); run alone, pytest makes its own.
    tmp = os.environ.get("ENDPOINTD_SWARM_DIR") or tempfile.mkdtemp(prefix="esc.", dir="/tmp")
    env = dict(os.environ)
    env.pop("DOCKER_HOST", None)
    env["SWARM_CLUSTER_HEARTBEAT"] = os.environ.get("ENDPOINTD_SWARM_HEARTBEAT", "5s")
    stop = [CLUSTER_SCRIPT, "stop", tmp]
    try:
        p = subprocess.run([CLUSTER_SCRIPT, "start", tmp, nodes], capture_output=True,
                           text=True, timeout=START_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        subprocess.run(stop, capture_output=True, timeout=STOP_TIMEOUT_S)
        pytest.fail(f"swarm-cluster.sh start did not finish within {START_TIMEOUT_S} s")
    if p.returncode != 0:
        subprocess.run(stop, capture_output=True, timeout=STOP_TIMEOUT_S)
        if "did not start" in p.stderr:
            pytest.skip(f"dockerd cannot run in a network namespace here: {p.stderr[-600:]}")
        pytest.fail(f"swarm-cluster.sh start: exit {p.returncode}: {p.stderr}")
    try:
        yield Cluster(_parse_env(p.stdout))
    finally:
        s = subprocess.run(stop, capture_output=True, text=True, timeout=STOP_TIMEOUT_S)
        if s.returncode != 0:
            print(f"swarm-cluster.sh stop: exit {s.returncode}: {s.stderr}", file=sys.stderr)


@pytest.fixture(scope="session")
def demo_image(cluster):
    """DEMO_IMAGE, built into every node (FROM scratch: nothing is pulled)."""
    work = tempfile.mkdtemp(prefix="esc-img.")

    def build(node):
        return subprocess.run(
            [BUILD_IMAGE, "--docker-host", f"unix://{node.socket}", "--tag", DEMO_IMAGE],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "BUILD_DIR": os.path.join(work, str(node.number))})

    try:
        with ThreadPoolExecutor(len(cluster.nodes)) as pool:
            results = list(pool.map(build, cluster.nodes))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for node, p in zip(cluster.nodes, results):
        assert p.returncode == 0, f"build-image.sh on node {node.number}: {p.stderr}"
    return DEMO_IMAGE


def pytest_terminal_summary(terminalreporter):
    if not FINDINGS:
        return
    terminalreporter.section("swarm cluster findings")
    for key, value in FINDINGS.items():
        terminalreporter.write_line(f"{key}: {json.dumps(value)}")
    path = os.environ.get("ENDPOINTD_SWARM_FINDINGS")
    if path:
        with open(path, "w") as f:
            json.dump(FINDINGS, f, indent=1)
