"""Drives the endpointd just built as systemd would: a notify socket of the
test's own (NOTIFY_SOCKET), watchdog and socket-activation variables, signals.
No Docker Engine is needed: the daemon's docker socket names a path that does
not exist (or the FakeEngine of fake_engine.py, where a test needs endpoints
to reach Failed)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ENDPOINTD_BIN = os.environ.get("ENDPOINTD_BIN") or os.path.join(
    os.environ.get("top_builddir", os.path.join(os.path.dirname(__file__), "..", "..")),
    "daemon", "endpointd")

BASE_CONFIG = """\
listen: [127.0.0.1:{port}]
state_dir: {state_dir}
docker: {{ socket: {docker_socket} }}
instance_types:
  ml.m5.large: {{ cpus: 1, memory: 512MiB }}
Models:
  - ModelName: demo
    PrimaryContainer: {{ Image: "endpointd-test-missing:1" }}
EndpointConfigs:
  - EndpointConfigName: demo-config
    ProductionVariants:
      - VariantName: AllTraffic
        ModelName: demo
        InitialInstanceCount: 1
        InstanceType: ml.m5.large
{extra}"""


def find_tool(name):
    """The path of a tool, in PATH or where Debian puts systemd's."""
    path = shutil.which(name)
    if path:
        return path
    for d in ("/usr/bin", "/bin", "/usr/sbin", "/sbin", "/lib/systemd", "/usr/lib/systemd"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


def free_port():
    """A loopback TCP port that nothing listens on (now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_refuses(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        try:
            s.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
        return False


def api(port, operation, body=None, timeout=5):
    """One control-plane call; (HTTP status, parsed JSON body)."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/", data=json.dumps(body or {}).encode(), method="POST",
        headers={"X-Amz-Target": "SageMaker." + operation,
                 "Content-Type": "application/x-amz-json-1.1"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def endpoint_config_names(port):
    status, body = api(port, "ListEndpointConfigs", {"MaxResults": 100})
    assert status == 200, body
    return sorted(c["EndpointConfigName"] for c in body["EndpointConfigs"])


class NotifySocket:
    """An AF_UNIX datagram socket bound where NOTIFY_SOCKET will point; keeps
    every message as (monotonic time, {KEY: value})."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []

    def _fill(self, timeout):
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        fields = {}
        for line in data.decode().split("\n"):
            if "=" in line:
                k, v = line.split("=", 1)
                fields[k] = v
        self.messages.append((time.monotonic(), fields))
        return True

    def wait_for(self, predicate, timeout=10, start=0):
        """The index of the first message from start on that satisfies
        predicate; fails the test after timeout seconds."""
        deadline = time.monotonic() + timeout
        i = start
        while True:
            while i < len(self.messages):
                if predicate(self.messages[i][1]):
                    return i
                i += 1
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"no such notify message in {timeout} s; got {[m for _, m in self.messages]}")
            self._fill(left)

    def collect(self, seconds):
        """Everything that arrives within seconds."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._fill(left)
        return self.messages

    def close(self):
        self.sock.close()


class Daemon:
    """One endpointd, its config, state directory and stderr."""

    def __init__(self, workdir, port=None, docker_socket=None, extra_yaml=""):
        os.makedirs(workdir, exist_ok=True)
        self.workdir = workdir
        self.port = port or free_port()
        self.state_dir = os.path.join(workdir, "state")
        self.config_path = os.path.join(workdir, "endpointd.yaml")
        self.docker_socket = docker_socket or os.path.join(workdir, "no-docker.sock")
        self.log_path = os.path.join(workdir, "endpointd.log")
        self.proc = None
        self.write_config(extra_yaml)

    def config_text(self, extra_yaml="", port=None, state_dir=None):
        return BASE_CONFIG.format(port=port or self.port, state_dir=state_dir or self.state_dir,
                                  docker_socket=self.docker_socket, extra=extra_yaml)

    def write_config(self, extra_yaml="", text=None, **kw):
        """Replaces the config file atomically, as an editor would."""
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text if text is not None else self.config_text(extra_yaml, **kw))
        os.replace(tmp, self.config_path)

    def start(self, args=(), env=None, notify=None, prefix=(), watchdog_usec=None,
              watchdog_pid="self"):
        """Starts it; prefix is a wrapper command (systemd-socket-activate …)."""
        e = {k: v for k, v in os.environ.items()
             if k not in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
                          "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "DOCKER_HOST")}
        if notify is not None:
            e["NOTIFY_SOCKET"] = notify.path
        if env:
            e.update(env)
        argv = [ENDPOINTD_BIN, "--config", self.config_path, *args]
        if watchdog_usec is not None:
            e["WATCHDOG_USEC"] = str(watchdog_usec)
            if watchdog_pid == "self":
                # The pid is known only once the process exists: let the
                # shell export its own, then exec the daemon in its place.
                argv = ["/bin/sh", "-c", 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$0" "$@"',
                        *argv]
            elif watchdog_pid is not None:
                e["WATCHDOG_PID"] = str(watchdog_pid)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([*prefix, *argv], env=e, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def wait_api(self, port=None, timeout=10):
        """Waits until the API answers on port (the daemon's by default)."""
        port = port or self.port
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, f"endpointd exited: {self.read_log()}"
            try:
                status, _ = api(port, "ListEndpointConfigs", timeout=2)
                return status
            except (ConnectionError, urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10):
        """SIGTERM; the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_log(self, needle, timeout=10):
        deadline = time.monotonic() + timeout
        while needle not in (text := self.read_log()):
            assert time.monotonic() < deadline, f"{needle!r} not logged in {timeout} s:\n{text}"
            time.sleep(0.02)
        return text

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def short_tmpdir():
    """Unix socket paths are limited to 107 bytes: pytest's tmp_path may be longer."""
    return tempfile.mkdtemp(prefix="edsd.", dir="/tmp")
