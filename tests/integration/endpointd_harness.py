"""Shared harness for the Docker-backed suites (integration and e2e).

Map of this file:
  - environment: ENDPOINTD_BIN, DOCKER_SOCK, DEMO_IMAGE (set by
    tests/run-docker-tests; a missing one skips the suites), and
    ENDPOINTD_TEST_DOCKER_MODE (engine, the default, or swarm: every daemon
    of the suites then runs in docker mode swarm, on a suite engine that is
    a single-node swarm)
  - Resp / ApiClient: a raw AWS JSON 1.1 client on http.client, so tests see
    the exact status line, headers and body the daemon sends
  - DockerClient: the Engine API over the Unix socket (no docker CLI needed)
  - Daemon: writes the config, starts endpointd on a free loopback port,
    keeps its stderr in a file and stops it at the end of the session
  - fixtures: `daemon`, `api`, `docker`, `endpoints` (creates endpoints and
    deletes them again), `ready_endpoint`, `failing_ping_endpoint`
  - hooks: daemon stderr attached to every failed test's report; tests
    marked `run_last` move to the end of the session; tests marked
    `engine_only("why")` are skipped in swarm mode, saying why

Both tests/integration/conftest.py and tests/e2e/conftest.py register this
module as one plugin, so the whole session shares one daemon.
"""

import filecmp
import http.client
import io
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.parse

import pytest

REGION = "us-east-1"
ACCOUNT = "000000000000"
ARN_PREFIX = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:"
JSON_CT = "application/x-amz-json-1.1"
ONE_MIB = 1024 * 1024
MISSING_IMAGE = "endpointd-no-such-image:latest"
PING_PREFIX = "The primary container for production variant {} did not pass the ping health check."
LABEL = "io.endpointd"

# Every endpoint this session makes starts with this, so that the safety net
# at the end never touches containers of anybody else sharing the engine.
SESSION_PREFIX = "t" + secrets.token_hex(3)

POLL_S = 0.05
CREATE_DEADLINE_S = 90
DELETE_DEADLINE_S = 60
STARTUP_TIMEOUT_S = 60  # ContainerStartupHealthCheckTimeoutInSeconds used below

# The docker mode of every daemon the suites start (tests/run-swarm-e2e-tests
# says swarm); a test that passes docker_mode to Daemon chooses for itself.
DOCKER_MODES = ("engine", "swarm")
DOCKER_MODE = os.environ.get("ENDPOINTD_TEST_DOCKER_MODE") or "engine"
SWARM = DOCKER_MODE == "swarm"


def endpoint_arn(name):
    return f"{ARN_PREFIX}endpoint/{name}"


def endpoint_config_arn(name):
    return f"{ARN_PREFIX}endpoint-config/{name}"


def model_arn(name):
    return f"{ARN_PREFIX}model/{name}"


def unique_name(what):
    """An endpoint name owned by this session: `<prefix>-<what>-<random>`."""
    return f"{SESSION_PREFIX}-{what}-{secrets.token_hex(2)}"


def wait_until(pred, timeout, interval=POLL_S, what="condition"):
    """Poll pred() until it returns a truthy value; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def env_setting(name):
    value = os.environ.get(name)
    if not value:
        pytest.skip(f"{name} is not set (run these suites through tests/run-docker-tests)")
    return value


# ---------------------------------------------------------------------------
# The AWS SDK for JavaScript v3, as tests/js/package-lock.json pins it

NODE = "/usr/bin/node"
NPM = "/usr/bin/npm"
JS_SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "js"))
JS_LOCK = "package-lock.json"
# Where the lock file that the installed node_modules came from is kept.
JS_INSTALLED_LOCK = ".installed-package-lock.json"
NPM_TIMEOUT_S = 300


def _js_installed(dest):
    """Whether dest/node_modules came from the lock file as it is now."""
    stamp = os.path.join(dest, JS_INSTALLED_LOCK)
    return (os.path.isdir(os.path.join(dest, "node_modules")) and os.path.exists(stamp)
            and filecmp.cmp(os.path.join(JS_SRC, JS_LOCK), stamp, shallow=False))


def js_modules():
    """The node_modules directory the lock file describes, installed with
    `npm ci` into $ENDPOINTD_JS_DIR (tests/run-docker-tests puts it in the
    build tree: the source tree may be read-only) the first time any test
    asks, whichever it is.  Skips without /usr/bin/node and /usr/bin/npm
    (apt-get install nodejs npm)."""
    if not (os.access(NODE, os.X_OK) and os.access(NPM, os.X_OK)):
        pytest.skip(f"{NODE} or {NPM} is not installed (apt-get install nodejs npm)")
    dest = os.path.abspath(env_setting("ENDPOINTD_JS_DIR"))
    if _js_installed(dest):
        return os.path.join(dest, "node_modules")
    os.makedirs(dest, exist_ok=True)
    if not os.path.samefile(dest, JS_SRC):
        for f in ("package.json", JS_LOCK):
            shutil.copyfile(os.path.join(JS_SRC, f), os.path.join(dest, f))
    cmd = [NPM, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--prefer-offline",
           "--update-notifier=false"]
    try:
        p = subprocess.run(cmd, cwd=dest, capture_output=True, text=True, timeout=NPM_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(cmd)} in {dest} took more than {NPM_TIMEOUT_S} s", pytrace=False)
    if p.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} in {dest} -> {p.returncode}\n{p.stdout}\n{p.stderr}", pytrace=False)
    shutil.copyfile(os.path.join(JS_SRC, JS_LOCK), os.path.join(dest, JS_INSTALLED_LOCK))
    return os.path.join(dest, "node_modules")


# ---------------------------------------------------------------------------
# Raw AWS JSON 1.1 client


class Resp:
    """One HTTP answer as it came off the wire."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    @property
    def error_type(self):
        return (self.json or {}).get("__type") if isinstance(self.json, dict) else None

    @property
    def message(self):
        if not isinstance(self.json, dict):
            return None
        # AWS JSON 1.1 says "message"; some services say "Message".
        return self.json.get("message", self.json.get("Message"))

    def __repr__(self):
        body = self.body[:2000]
        return f"<HTTP {self.status} headers={self.headers!r} body={body!r}>"


class ApiClient:
    """Speaks AWS JSON 1.1 to the daemon, one connection per request."""

    def __init__(self, host, port, timeout=30):
        self.host = host
        self.port = port
        self.timeout = timeout

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def raw(self, body, target=None, content_type=JSON_CT, method="POST", path="/", headers=None):
        if isinstance(body, str):
            body = body.encode()
        hdrs = {"Content-Type": content_type} if content_type else {}
        if target is not None:
            hdrs["X-Amz-Target"] = target
        hdrs.update(headers or {})
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            return Resp(r.status, r.getheaders(), r.read())
        finally:
            conn.close()

    def call(self, op, params=None):
        """Send SageMaker.<op> with params as the JSON body; return the Resp."""
        body = json.dumps({} if params is None else params)
        return self.raw(body, target=f"SageMaker.{op}")

    def ok(self, op, params=None):
        """Call op and insist on 200; return the parsed body."""
        r = self.call(op, params)
        assert r.status == 200, f"{op} {params!r} -> {r!r}"
        assert isinstance(r.json, dict), f"{op}: body is not a JSON object: {r!r}"
        return r.json

    def error(self, op, params=None, status=400):
        """Call op and insist on an error answer; return the Resp."""
        r = self.call(op, params)
        assert r.status == status, f"{op} {params!r}: expected {status}, got {r!r}"
        return r

    def send_oversized(self, op, size, wait_s=0.5):
        """A control-plane call with a body of `size` bytes (see send_large)."""
        return self.send_large("/", {"Content-Type": JSON_CT, "X-Amz-Target": f"SageMaker.{op}"},
                               size, wait_s)

    def send_large(self, path, headers, size, wait_s=0.5):
        """POST a body of `size` bytes to path, reading an early answer if one comes.

        A server that refuses on Content-Length may answer and close before
        the body is sent; writing the body then could reset the connection
        and lose the answer. So: send the head, give the server a moment,
        then the body, and read whatever answer there is.
        """
        s = socket.create_connection((self.host, self.port), timeout=self.timeout)
        try:
            lines = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            lines.append(f"Content-Length: {size}")
            s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            readable, _, _ = select.select([s], [], [], wait_s)
            if not readable:
                chunk = b" " * 65536
                left = size
                try:
                    while left > 0:
                        n = min(left, len(chunk))
                        s.sendall(chunk[:n])
                        left -= n
                except (BrokenPipeError, ConnectionResetError):
                    pass
            r = http.client.HTTPResponse(s, method="POST")
            r.begin()
            try:
                body = r.read()
            except (ConnectionResetError, http.client.IncompleteRead) as e:
                body = getattr(e, "partial", b"")
            return Resp(r.status, r.getheaders(), body)
        finally:
            s.close()

    # -- conveniences used all over the suites --

    def describe(self, name):
        """DescribeEndpoint's body, or None when the daemon says it is gone."""
        r = self.call("DescribeEndpoint", {"EndpointName": name})
        if r.status == 200:
            return r.json
        if r.status == 400 and r.error_type == "ValidationException" and "Could not find endpoint" in (r.message or ""):
            return None
        raise AssertionError(f"DescribeEndpoint {name}: unexpected answer {r!r}")

    def wait_settled(self, name, timeout=CREATE_DEADLINE_S):
        """Poll until the endpoint leaves Creating; return its description."""

        def settled():
            d = self.describe(name)
            assert d is not None, f"endpoint {name} vanished while waiting for it"
            return d if d["EndpointStatus"] != "Creating" else None

        return wait_until(settled, timeout, what=f"{name} to leave Creating")

    def wait_in_service(self, name, timeout=CREATE_DEADLINE_S):
        d = self.wait_settled(name, timeout)
        assert d["EndpointStatus"] == "InService", f"{name} settled as {d!r}"
        return d

    def wait_gone(self, name, timeout=DELETE_DEADLINE_S):
        wait_until(lambda: self.describe(name) is None, timeout, what=f"{name} to be deleted")

    def all_endpoints(self, **params):
        """Every endpoint ListEndpoints shows, following NextToken."""
        out = []
        params = dict(params)
        params.setdefault("MaxResults", 100)
        for _ in range(1000):
            body = self.ok("ListEndpoints", params)
            out.extend(body.get("Endpoints", []))
            token = body.get("NextToken")
            if not token:
                return out
            params["NextToken"] = token
        raise AssertionError("ListEndpoints never stopped handing out NextToken")

    def endpoint_names(self):
        return sorted(e["EndpointName"] for e in self.all_endpoints())


# ---------------------------------------------------------------------------
# Docker Engine API over the Unix socket


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._unix_path)
        self.sock = s


class DockerClient:
    API = "/v1.41"

    def __init__(self, sock_path, timeout=30):
        self.sock_path = sock_path
        self.timeout = timeout

    def request(self, method, path, query=None):
        url = self.API + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        conn = _UnixHTTPConnection(self.sock_path, self.timeout)
        try:
            conn.request(method, url)
            r = conn.getresponse()
            body = r.read()
            return r.status, (json.loads(body) if body and body[:1] in b"[{" else body)
        finally:
            conn.close()

    def containers(self, *labels, all=True):
        """Containers carrying every `key=value` (or bare `key`) label given."""
        query = {"all": "1" if all else "0", "filters": json.dumps({"label": list(labels)})}
        status, body = self.request("GET", "/containers/json", query)
        assert status == 200, f"docker list containers: {status} {body!r}"
        return body

    def endpoint_containers(self, endpoint, all=True):
        return self.containers(f"{LABEL}.managed=true", f"{LABEL}.endpoint={endpoint}", all=all)

    def inspect(self, cid):
        status, body = self.request("GET", f"/containers/{cid}/json")
        assert status == 200, f"docker inspect {cid}: {status} {body!r}"
        return body

    def logs(self, cid):
        """stdout and stderr of a (non-TTY) container, frame headers removed."""
        conn = _UnixHTTPConnection(self.sock_path, self.timeout)
        try:
            conn.request("GET", f"{self.API}/containers/{cid}/logs?stdout=1&stderr=1")
            r = conn.getresponse()
            raw = r.read()
        finally:
            conn.close()
        assert r.status == 200, f"docker logs {cid}: {r.status} {raw!r}"
        out, i = bytearray(), 0
        while i + 8 <= len(raw):
            n = int.from_bytes(raw[i + 4:i + 8], "big")
            out += raw[i + 8:i + 8 + n]
            i += 8 + n
        return out.decode("utf-8", "replace")

    def image(self, name):
        status, body = self.request("GET", f"/images/{urllib.parse.quote(name, safe='')}/json")
        return body if status == 200 else None

    def remove(self, cid):
        self.request("DELETE", f"/containers/{cid}", {"force": "1", "v": "1"})

    # In swarm mode a variant is a service and its instances are the
    # service's tasks; on the suite's single-node swarm each task's container
    # runs on this engine, labelled as the service is (less the slot), so
    # the container calls above see the instances too.

    def services(self, *labels):
        """Swarm services carrying every `key=value` (or bare `key`) label given."""
        status, body = self.request("GET", "/services", {"filters": json.dumps({"label": list(labels)})})
        assert status == 200, f"docker list services: {status} {body!r}"
        return body

    def endpoint_services(self, endpoint):
        return self.services(f"{LABEL}.managed=true", f"{LABEL}.endpoint={endpoint}")

    def remove_service(self, sid):
        self.request("DELETE", f"/services/{sid}")

    def assert_endpoint_left_nothing(self, endpoint, timeout=30):
        """No container of endpoint's is left on one Engine; in swarm mode no
        service at once, and no task's container once the node's agent has
        taken them down after their service (that is not endpointd's)."""
        if SWARM:
            assert self.endpoint_services(endpoint) == []
            wait_until(lambda: self.endpoint_containers(endpoint) == [], timeout, interval=0.25,
                       what=f"the containers of {endpoint}'s removed services to go")
        assert self.endpoint_containers(endpoint) == []

    def remove_owned_by(self, owner):
        """Everything of the daemon whose id is owner: its services (swarm
        mode), then its containers."""
        if SWARM:
            for s in self.services(f"{LABEL}.managed=true", f"{LABEL}.owner={owner}"):
                self.remove_service(s["ID"])
        for c in self.containers(f"{LABEL}.managed=true", f"{LABEL}.owner={owner}"):
            self.remove(c["Id"])


def instance_slot(container):
    """Which instance of its variant a container (of GET /containers/json)
    runs: endpointd's slot label on one Engine; in swarm mode the slot of
    its task, whose name is <service>.<slot>.<task id>."""
    labels = container["Labels"]
    if SWARM:
        return labels["com.docker.swarm.task.name"].split(".")[1]
    return labels[f"{LABEL}.slot"]


def published_port(inspect):
    """The host port that 8080/tcp is published on: on 127.0.0.1 only in
    engine mode; in swarm mode a task's host-mode port listens on its node's
    addresses (README: swarm mode)."""
    bindings = (inspect.get("NetworkSettings", {}).get("Ports") or {}).get("8080/tcp") or []
    assert bindings, f"8080/tcp is not published: {inspect.get('NetworkSettings', {}).get('Ports')!r}"
    for b in bindings:
        assert SWARM or b["HostIp"] == "127.0.0.1", f"8080/tcp published beyond loopback: {bindings!r}"
    return int(bindings[0]["HostPort"])


def http_get(port, path, timeout=5):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


# ---------------------------------------------------------------------------
# The daemon

# Instances are kept small: test hosts may have 2 CPUs, and a daemon that
# checks host capacity must still fit every endpoint the session runs at once.
INSTANCE_TYPE = "ml.t2.medium"

MODELS = {
    # name: (image or None for the demo image, Environment)
    "demo": (None, {"DEMO_START_DELAY_MS": "0"}),
    "demo-b": (None, {"DEMO_START_DELAY_MS": "0"}),
    "demo-slow": (None, {"DEMO_START_DELAY_MS": "3000"}),
    "demo-bad-ping": (None, {"DEMO_PING_STATUS": "500"}),
    # Exits before it ever listens: the exit timer runs during the start delay.
    "demo-exit": (None, {"DEMO_START_DELAY_MS": "60000", "DEMO_EXIT_AFTER_MS": "500", "DEMO_EXIT_CODE": "3"}),
    "demo-missing": (MISSING_IMAGE, {}),
    # Model data: {workdir} is filled in by write_config, which makes both.
    "demo-data-dir": (None, {}, "{workdir}/model-dir"),
    "demo-data-tar": (None, {}, "file://{workdir}/model.tar.gz"),
    # InvokeEndpoint (tests/*/test_invoke_*.py): DEMO_VARIANT is the name of
    # the variant the model serves in; the other three misbehave on purpose.
    "demo-invoke": (None, {"DEMO_VARIANT": "AllTraffic"}),
    "demo-heavy": (None, {"DEMO_VARIANT": "Heavy"}),
    "demo-light": (None, {"DEMO_VARIANT": "Light"}),
    "demo-invoke-400": (None, {"DEMO_INVOKE_STATUS": "400"}),
    "demo-invoke-500": (None, {"DEMO_INVOKE_STATUS": "500"}),
    "demo-invoke-delay": (None, {"DEMO_INVOKE_DELAY_MS": "5000"}),
    "demo-invoke-echo-500": (None, {"DEMO_INVOKE_STATUS": "500", "DEMO_INVOKE_ERROR_ECHO": "1"}),
    # InvokeEndpointWithResponseStream (test_invoke_stream.py,
    # tests/js/stream.test.js): the demo model's streaming mode writes
    # "token 1 ", "token 2 ", ... one chunk each, STREAM_GAP_MS apart.
    "demo-stream": (None, {"DEMO_VARIANT": "AllTraffic", "DEMO_STREAM_TOKENS": "5",
                           "DEMO_STREAM_GAP_MS": "20"}),
    "demo-stream-heavy": (None, {"DEMO_STREAM_TOKENS": "3"}),
    "demo-stream-light": (None, {"DEMO_STREAM_TOKENS": "4"}),
    "demo-stream-fail": (None, {"DEMO_STREAM_TOKENS": "5", "DEMO_STREAM_FAIL_AFTER": "2"}),
    "demo-stream-exit": (None, {"DEMO_STREAM_TOKENS": "5", "DEMO_STREAM_EXIT_AFTER": "2",
                                "DEMO_EXIT_CODE": "7"}),
    "demo-stream-until-close": (None, {"DEMO_STREAM_TOKENS": "4", "DEMO_STREAM_UNTIL_CLOSE": "1"}),
    # A gap longer than the daemon's stream_idle_timeout_s after two tokens.
    "demo-stream-stall": (None, {"DEMO_STREAM_TOKENS": "3", "DEMO_STREAM_GAP_MS": "4000"}),
    # Many tokens, for slow readers and clients that hang up.
    "demo-stream-long": (None, {"DEMO_STREAM_TOKENS": "20000"}),
    "demo-stream-slow-long": (None, {"DEMO_STREAM_TOKENS": "1000", "DEMO_STREAM_GAP_MS": "50"}),
    "demo-stream-500": (None, {"DEMO_STREAM_TOKENS": "5", "DEMO_INVOKE_STATUS": "500"}),
}

# What write_config puts in the model data: a directory of two files and a
# tarball of three.
MODEL_DIR_FILES = {"weights.bin": b"\x00\x01\x02", "config.json": b"{}"}
MODEL_TAR_FILES = {"a.txt": b"a", "b.txt": b"bb", "c.txt": b"ccc"}

ENDPOINT_CONFIGS = {
    # name: [(VariantName, ModelName, InitialInstanceCount)]
    "demo-config": [("AllTraffic", "demo", 1)],
    "two-variant-config": [("VariantA", "demo", 2), ("VariantB", "demo-b", 2)],
    "slow-config": [("AllTraffic", "demo-slow", 1)],
    "bad-ping-config": [("AllTraffic", "demo-bad-ping", 1)],
    "exit-config": [("AllTraffic", "demo-exit", 1)],
    "missing-image-config": [("AllTraffic", "demo-missing", 1)],
    "data-dir-config": [("AllTraffic", "demo-data-dir", 1)],
    "data-tar-config": [("AllTraffic", "demo-data-tar", 1)],
    # An optional fourth member is the InitialVariantWeight (default 1.0).
    "invoke-config": [("AllTraffic", "demo-invoke", 1)],
    "invoke-pair-config": [("AllTraffic", "demo-invoke", 2)],
    "weighted-config": [("Heavy", "demo-heavy", 1, 3.0), ("Light", "demo-light", 1, 1.0)],
    "invoke-400-config": [("AllTraffic", "demo-invoke-400", 1)],
    "invoke-500-config": [("AllTraffic", "demo-invoke-500", 1)],
    "invoke-delay-config": [("AllTraffic", "demo-invoke-delay", 1)],
    "invoke-echo-500-config": [("AllTraffic", "demo-invoke-echo-500", 1)],
    "stream-config": [("AllTraffic", "demo-stream", 1)],
    "stream-weighted-config": [("Heavy", "demo-stream-heavy", 1, 3.0),
                               ("Light", "demo-stream-light", 1, 1.0)],
    "stream-fail-config": [("AllTraffic", "demo-stream-fail", 1)],
    "stream-exit-config": [("AllTraffic", "demo-stream-exit", 1)],
    "stream-until-close-config": [("AllTraffic", "demo-stream-until-close", 1)],
    "stream-stall-config": [("AllTraffic", "demo-stream-stall", 1)],
    "stream-long-config": [("AllTraffic", "demo-stream-long", 1)],
    "stream-slow-long-config": [("AllTraffic", "demo-stream-slow-long", 1)],
    "stream-500-config": [("AllTraffic", "demo-stream-500", 1)],
}

# These go into an included file, the rest into the main config, so that
# `include:` is exercised too.
INCLUDED_MODELS = {"demo-b", "demo-exit", "demo-missing"}
INCLUDED_CONFIGS = {"two-variant-config", "exit-config", "missing-image-config"}


# invocation_timeout_s in the generated daemon config: how long the daemon
# waits for a container's answer to an invocation.
INVOCATION_TIMEOUT_S = 2
# stream_idle_timeout_s and stream_timeout_s: the most between two pieces of
# a streamed answer, and for all of it.
STREAM_IDLE_TIMEOUT_S = 2
STREAM_TIMEOUT_S = 120


def _q(s):
    return json.dumps(s)  # a JSON string is a valid YAML double-quoted scalar


def _models_yaml(names, demo_image, workdir):
    lines = ["Models:"]
    for name in names:
        image, env, *data = MODELS[name]
        lines.append(f"  - ModelName: {name}")
        lines.append("    PrimaryContainer:")
        lines.append(f"      Image: {_q(image or demo_image)}")
        if data:
            lines.append(f"      ModelDataUrl: {_q(data[0].format(workdir=workdir))}")
        if env:
            lines.append("      Environment:")
            for k, v in env.items():
                lines.append(f"        {k}: {_q(v)}")
    return lines


def _configs_yaml(names):
    lines = ["EndpointConfigs:"]
    for name in names:
        lines.append(f"  - EndpointConfigName: {name}")
        lines.append("    ProductionVariants:")
        for variant, model, count, *weight in ENDPOINT_CONFIGS[name]:
            lines.append(f"      - VariantName: {variant}")
            lines.append(f"        ModelName: {model}")
            lines.append(f"        InitialInstanceCount: {count}")
            lines.append(f"        InstanceType: {INSTANCE_TYPE}")
            lines.append(f"        InitialVariantWeight: {weight[0] if weight else 1.0}")
            lines.append(f"        ContainerStartupHealthCheckTimeoutInSeconds: {STARTUP_TIMEOUT_S}")
    return lines


def endpoint_configs_yaml(configs, startup_timeout_s=STARTUP_TIMEOUT_S):
    """An EndpointConfigs document (for Daemon's extra_yaml) of configs
    [(name, model, instance count, instance type)], one AllTraffic variant
    each."""
    lines = ["EndpointConfigs:"]
    for name, model, count, itype in configs:
        lines += [
            f"  - EndpointConfigName: {name}",
            "    ProductionVariants:",
            "      - VariantName: AllTraffic",
            f"        ModelName: {model}",
            f"        InitialInstanceCount: {count}",
            f"        InstanceType: {itype}",
            f"        ContainerStartupHealthCheckTimeoutInSeconds: {startup_timeout_s}",
        ]
    return "\n".join(lines) + "\n"


def _write_model_data(workdir):
    d = os.path.join(workdir, "model-dir")
    os.makedirs(d, exist_ok=True)  # again when a Daemon is restarted
    for name, data in MODEL_DIR_FILES.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    with tarfile.open(os.path.join(workdir, "model.tar.gz"), "w:gz") as tar:
        for name, data in MODEL_TAR_FILES.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def docker_yaml(docker_sock, docker_mode=None):
    """The daemon config's `docker:` line for docker_sock; docker_mode None
    is the suite's mode, and engine mode says nothing (the config's default)."""
    mode = docker_mode or DOCKER_MODE
    return f"docker: {{ socket: {_q(docker_sock)}" + (f", mode: {mode}" if mode != "engine" else "") + " }"


def write_config(workdir, port, docker_sock, demo_image, extra_config=(), extra_yaml=None,
                 extra_instance_types=None, docker_mode=None):
    """The daemon config and its included file; extra_config lines go at the
    end of the main file (top-level keys), extra_instance_types ({name: flow
    mapping}) into its instance_types, extra_yaml (Models and
    EndpointConfigs documents) into one more included file; docker_mode (None:
    the suite's, see docker_yaml) goes into the docker key."""
    state_dir = os.path.join(workdir, "state")
    conf_d = os.path.join(workdir, "conf.d")
    os.makedirs(conf_d)
    main = [
        f"listen: [{_q(f'127.0.0.1:{port}')}]",
        f"state_dir: {_q(state_dir)}",
        f"include: [{_q(os.path.join(conf_d, '*.yaml'))}]",
        f"region: {REGION}",
        f'account_id: "{ACCOUNT}"',
        docker_yaml(docker_sock, docker_mode),
        "instance_types:",
        f"  {INSTANCE_TYPE}: {{ cpus: 0.1, memory: 128MiB }}",
        *(f"  {name}: {spec}" for name, spec in (extra_instance_types or {}).items()),
        # An extra_config "limits:" line replaces this one.
        *([] if any(line.startswith("limits:") for line in extra_config)
          else ["limits: { max_endpoints: 100 }"]),
        f"invocation_timeout_s: {INVOCATION_TIMEOUT_S}",
        f"stream_idle_timeout_s: {STREAM_IDLE_TIMEOUT_S}",
        f"stream_timeout_s: {STREAM_TIMEOUT_S}",
        # The demo-data-* models' data lies in the work directory.
        f"model_data_roots: [{_q(workdir)}]",
        # CreateModel may run the demo image (and nothing else).
        f"allowed_images: [{_q(demo_image)}]",
        *extra_config,
    ]
    _write_model_data(workdir)
    main += _models_yaml([m for m in MODELS if m not in INCLUDED_MODELS], demo_image, workdir)
    main += _configs_yaml([c for c in ENDPOINT_CONFIGS if c not in INCLUDED_CONFIGS])
    included = _models_yaml([m for m in MODELS if m in INCLUDED_MODELS], demo_image, workdir)
    included += _configs_yaml([c for c in ENDPOINT_CONFIGS if c in INCLUDED_CONFIGS])
    path = os.path.join(workdir, "endpointd.yaml")
    with open(path, "w") as f:
        f.write("\n".join(main) + "\n")
    with open(os.path.join(conf_d, "more.yaml"), "w") as f:
        f.write("\n".join(included) + "\n")
    if extra_yaml:
        with open(os.path.join(conf_d, "extra.yaml"), "w") as f:
            f.write(extra_yaml)
    return path


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def daemon_env(docker_sock):
    env = dict(os.environ)
    # DOCKER_HOST overrides the config's socket; make both say the same.
    env["DOCKER_HOST"] = "unix://" + docker_sock
    env.pop("NOTIFY_SOCKET", None)
    env.pop("LISTEN_FDS", None)
    env.pop("LISTEN_PID", None)
    return env


class Daemon:
    """endpointd in its own work directory.  start() may be called again after
    the process is gone: same work and state directory, a new port."""

    def __init__(self, binary, docker_sock, demo_image, extra_config=(), extra_yaml=None,
                 extra_instance_types=None, docker_mode=None):
        self.binary = binary
        self.docker_mode = docker_mode
        self.extra_config = tuple(extra_config)
        self.extra_yaml = extra_yaml
        self.extra_instance_types = dict(extra_instance_types or {})
        self.docker_sock = docker_sock
        self.demo_image = demo_image
        self.workdir = tempfile.mkdtemp(prefix="endpointd-test.")
        self.stderr_path = os.path.join(self.workdir, "endpointd.stderr")
        self.proc = None
        self.port = None
        self.config_path = None

    def start(self, attempts=3):
        for attempt in range(attempts):
            self.port = free_port()
            if self.config_path:
                shutil.rmtree(os.path.join(self.workdir, "conf.d"), ignore_errors=True)
            self.config_path = write_config(self.workdir, self.port, self.docker_sock, self.demo_image,
                                            self.extra_config, self.extra_yaml,
                                            self.extra_instance_types, self.docker_mode)
            err = open(self.stderr_path, "ab")
            self.proc = subprocess.Popen(
                [self.binary, "--config", self.config_path],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                env=daemon_env(self.docker_sock),
            )
            err.close()
            if self._wait_ready(20):
                return
            if self.proc.poll() is None:
                break  # running but not answering: no point in another port
        raise RuntimeError(
            f"endpointd did not come up on 127.0.0.1:{self.port} "
            f"(exit status {self.proc.poll()}); its stderr:\n{self.log_tail(0)}"
        )

    def _wait_ready(self, timeout):
        api = ApiClient("127.0.0.1", self.port, timeout=5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if api.call("ListEndpoints", {}).status == 200:
                    return True
            except OSError:
                pass
            time.sleep(POLL_S)
        return False

    def log_size(self):
        try:
            return os.path.getsize(self.stderr_path)
        except OSError:
            return 0

    def log_tail(self, since, max_lines=200):
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(since)
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        lines = text.splitlines()
        if len(lines) > max_lines:
            lines = [f"[… {len(lines) - max_lines} earlier lines cut …]"] + lines[-max_lines:]
        return "\n".join(lines)

    def stop(self, timeout=15):
        """SIGTERM and wait; returns an error string if it would not stop
        cleanly (a sanitizer report at exit makes the status non-zero)."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        since = self.log_size()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
            if rc != 0:
                return f"endpointd exited with status {rc} on SIGTERM:\n" + self.log_tail(since)
            return None
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return f"endpointd did not exit within {timeout} s of SIGTERM"


class AuthDaemon(Daemon):
    """A daemon that may refuse unsigned requests: it is up once it answers
    at all, whatever it answers."""

    def write_credentials(self, text):
        """text as the credentials file (mode 0600, in the workdir); its path."""
        path = os.path.join(self.workdir, "credentials.yaml")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                ApiClient("127.0.0.1", self.port, timeout=5).call("ListEndpoints", {})
                return True
            except OSError:
                time.sleep(0.05)
        return False


# Daemons of this session, for the failure-report hook.
_DAEMONS = []


def _cleanup_endpoint(api, name, settle_timeout=CREATE_DEADLINE_S):
    """Delete an endpoint whatever state it is in, and wait until it is gone.

    DeleteEndpoint is retried while the daemon refuses it (an endpoint still
    Creating may be refused as in-progress) until the deadline.
    """
    deadline = time.monotonic() + settle_timeout + DELETE_DEADLINE_S
    while time.monotonic() < deadline:
        d = api.describe(name)
        if d is None:
            return
        if d["EndpointStatus"] != "Deleting":
            api.call("DeleteEndpoint", {"EndpointName": name})
        time.sleep(POLL_S)
    raise AssertionError(f"cleanup: endpoint {name} still there ({api.describe(name)!r})")


# ---------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def docker_sock():
    value = env_setting("DOCKER_SOCK")
    return value[len("unix://"):] if value.startswith("unix://") else value


@pytest.fixture(scope="session")
def demo_image():
    return os.environ.get("DEMO_IMAGE") or "endpointd-demo-model:latest"


@pytest.fixture(scope="session")
def docker(docker_sock):
    client = DockerClient(docker_sock)
    try:
        status, _ = client.request("GET", "/_ping")
    except OSError as e:
        pytest.skip(f"no Docker engine at {docker_sock}: {e}")
    assert status == 200
    return client


@pytest.fixture(scope="session")
def endpointd_bin():
    binary = env_setting("ENDPOINTD_BIN")
    if not os.access(binary, os.X_OK):
        pytest.fail(f"ENDPOINTD_BIN={binary} is not an executable")
    return binary


@pytest.fixture(scope="session")
def daemon(endpointd_bin, docker_sock, demo_image, docker):
    d = Daemon(endpointd_bin, docker_sock, demo_image)
    try:
        d.start()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    _DAEMONS.append(d)
    yield d
    problems = []
    api = ApiClient("127.0.0.1", d.port)
    try:
        names = [e["EndpointName"] for e in api.all_endpoints()] if d.proc.poll() is None else []
        for name in names:
            try:
                _cleanup_endpoint(api, name)
            except (AssertionError, OSError) as e:
                problems.append(str(e))
    finally:
        err = d.stop()
        if err:
            problems.append(err)
        # Safety net: whatever this session left in the engine goes.
        for s in docker.services(f"{LABEL}.managed=true") if SWARM else []:
            ep = s.get("Spec", {}).get("Labels", {}).get(f"{LABEL}.endpoint", "")
            if ep.lower().startswith(SESSION_PREFIX):
                docker.remove_service(s["ID"])
        for c in docker.containers(f"{LABEL}.managed=true"):
            ep = c.get("Labels", {}).get(f"{LABEL}.endpoint", "")
            if ep.lower().startswith(SESSION_PREFIX):
                docker.remove(c["Id"])
        _DAEMONS.remove(d)
        if os.environ.get("ENDPOINTD_TEST_KEEP"):
            print(f"\nkept {d.workdir}")
        else:
            shutil.rmtree(d.workdir, ignore_errors=True)
    if problems:
        pytest.fail("session teardown: " + "; ".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def api(daemon):
    return ApiClient("127.0.0.1", daemon.port)


class EndpointFactory:
    """Creates endpoints for one test (or module) and deletes them after."""

    def __init__(self, api):
        self.api = api
        self.names = []

    def create(self, what, config="demo-config", tags=None, name=None):
        name = name or unique_name(what)
        params = {"EndpointName": name, "EndpointConfigName": config}
        if tags is not None:
            params["Tags"] = tags
        self.names.append(name)
        body = self.api.ok("CreateEndpoint", params)
        return name, body

    def adopt(self, name):
        """Have a name made some other way (CLI, boto3) cleaned up too."""
        self.names.append(name)
        return name

    def cleanup(self):
        problems = []
        for name in self.names:
            try:
                _cleanup_endpoint(self.api, name)
            except (AssertionError, OSError) as e:
                problems.append(str(e))
        self.names.clear()
        assert not problems, "; ".join(problems)


@pytest.fixture
def endpoints(api):
    f = EndpointFactory(api)
    yield f
    f.cleanup()


@pytest.fixture(scope="module")
def module_endpoints(api):
    f = EndpointFactory(api)
    yield f
    f.cleanup()


@pytest.fixture(scope="session")
def ready_endpoint(api):
    """One InService endpoint (demo-config) that tests only read."""
    f = EndpointFactory(api)
    name, _ = f.create("ready")
    api.wait_in_service(name)
    yield name
    f.cleanup()


class StatusWatcher(threading.Thread):
    """Polls one endpoint from the side and notes when it leaves Creating."""

    def __init__(self, api, name, started, timeout):
        super().__init__(daemon=True)
        self.api = ApiClient(api.host, api.port)
        self.name = name
        self.started = started
        self.timeout = timeout
        self.settled_after = None
        self.description = None
        self.error = None

    def run(self):
        deadline = self.started + self.timeout
        try:
            while time.monotonic() < deadline:
                d = self.api.describe(self.name)
                if d is None or d["EndpointStatus"] != "Creating":
                    self.settled_after = time.monotonic() - self.started
                    self.description = d
                    return
                time.sleep(0.1)
        except Exception as e:  # reported by the test that joins us
            self.error = e


@pytest.fixture(scope="session")
def failing_ping_endpoint(api):
    """An endpoint whose container answers /ping with 500, made early.

    It needs the whole 60 s startup timeout to fail, so it is created when
    the session starts and the test that checks it runs last.
    """
    f = EndpointFactory(api)
    started = time.monotonic()
    name, _ = f.create("bad-ping", config="bad-ping-config")
    watcher = StatusWatcher(api, name, started, STARTUP_TIMEOUT_S + 60)
    watcher.start()
    yield name, watcher
    watcher.join(STARTUP_TIMEOUT_S + 60)
    f.cleanup()


@pytest.fixture(scope="session", autouse=True)
def _start_slow_fixtures_early(request):
    """Start the session's long-running endpoints before the first test."""
    if getattr(request.config, "_endpointd_wants_failing_ping", False):
        request.getfixturevalue("failing_ping_endpoint")


@pytest.fixture(scope="session")
def aws_env(tmp_path_factory):
    """Environment for AWS clients: dummy credentials, nothing read from ~."""
    home = tmp_path_factory.mktemp("aws-home")
    config = home / "config"
    creds = home / "credentials"
    config.write_text("")
    creds.write_text("")
    return {
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(creds),
        "AWS_PAGER": "",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_RETRY_MODE": "standard",
    }


@pytest.fixture(scope="module")
def clean_env(aws_env):
    """No AWS setting from outside reaches a client of the module: only
    aws_env's, less its keys (each test signs with the keys it means)."""
    mp = pytest.MonkeyPatch()
    for k in list(os.environ):
        if k.startswith("AWS_"):
            mp.delenv(k)
    for k, v in aws_env.items():
        if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            mp.setenv(k, v)
    yield
    mp.undo()


# ---------------------------------------------------------------------------
# Hooks (this module is registered as a plugin by the conftests)


def pytest_configure(config):
    if DOCKER_MODE not in DOCKER_MODES:
        raise pytest.UsageError(f"ENDPOINTD_TEST_DOCKER_MODE must be one of {', '.join(DOCKER_MODES)}, "
                                f"not {DOCKER_MODE!r}")
    config.addinivalue_line("markers", "run_last: run after every other test (long waits started early)")
    config.addinivalue_line("markers", "engine_only(why): about what one Engine does with the daemon's "
                                       "containers; skipped in swarm mode (ENDPOINTD_TEST_DOCKER_MODE=swarm)")


def _skip_engine_only(items):
    """In swarm mode, skip each test marked engine_only with its reason,
    which it must give."""
    for item in items:
        mark = item.get_closest_marker("engine_only")
        if mark is None:
            continue
        why = mark.args[0] if mark.args else mark.kwargs.get("reason")
        if not why:
            raise pytest.UsageError(f"{item.nodeid}: engine_only needs a reason")
        if SWARM:
            item.add_marker(pytest.mark.skip(reason=f"engine mode only: {why}"))


def pytest_collection_modifyitems(session, config, items):
    _skip_engine_only(items)
    last = [i for i in items if i.get_closest_marker("run_last")]
    if last:
        items[:] = [i for i in items if not i.get_closest_marker("run_last")] + last


def pytest_collection_finish(session):
    # After -k/-m deselection: start the 60 s endpoint only when it is checked.
    session.config._endpointd_wants_failing_ping = any(
        "failing_ping_endpoint" in i.fixturenames for i in session.items
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    item._endpointd_log_marks = [(d, d.log_size()) for d in _DAEMONS]
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    marks = getattr(item, "_endpointd_log_marks", [])
    known = {id(d) for d, _ in marks}
    marks = marks + [(d, 0) for d in _DAEMONS if id(d) not in known]
    for d, since in marks:
        text = d.log_tail(since)
        if text:
            report.sections.append((f"endpointd stderr ({report.when}, {d.stderr_path})", text))


def assert_validation_error(resp, field=None, contains=()):
    """An AWS 'N validation error(s) detected' ValidationException."""
    assert resp.status == 400, resp
    assert resp.error_type == "ValidationException", resp
    msg = resp.message or ""
    assert re.match(r"^\d+ validation errors? detected: ", msg), f"message: {msg!r}"
    if field is not None:
        assert f"at '{field}' failed to satisfy constraint" in msg, f"message: {msg!r}"
    for s in contains:
        assert s in msg, f"{s!r} not in message {msg!r}"
