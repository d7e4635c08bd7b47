"""Shared plumbing of the endpointd benchmarks (stdlib only).

Not a test: these scripts are run by hand against a real Docker Engine.
Every loop here is bounded in count and in time.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

CONTENT_TYPE = "application/x-amz-json-1.1"
LABEL_ENDPOINT = "io.endpointd.endpoint"
DEFAULT_IMAGE = "endpointd-demo-model:latest"
DEFAULT_CONFIG_NAME = "demo-config"

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def die(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def now():
    return time.perf_counter()


def ms(seconds):
    return seconds * 1000.0


def percentile(values, p):
    """Nearest-rank percentile of values (p in 0..100)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


# ---------------------------------------------------------------------------
# Docker Engine API over its Unix socket


def socket_path(docker_host):
    if docker_host.startswith("unix://"):
        return docker_host[len("unix://"):]
    if docker_host.startswith("/"):
        return docker_host
    die(f"--docker-host must be unix:///path (got {docker_host!r})")


def default_docker_host():
    env = os.environ.get("DOCKER_HOST", "")
    return env if env.startswith("unix://") else "unix:///var/run/docker.sock"


def default_docker_cli():
    return "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else (shutil.which("docker") or "docker")


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30.0):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path
        self.raw_sock = None

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = self.raw_sock = s


class Engine:
    """The few Engine API calls the benchmarks need (unversioned paths)."""

    def __init__(self, docker_host):
        self.path = socket_path(docker_host)

    def call(self, method, path, timeout=30.0):
        c = UnixHTTPConnection(self.path, timeout=timeout)
        try:
            c.request(method, path, headers={"Host": "docker"})
            r = c.getresponse()
            data = r.read()
            if "json" in (r.getheader("Content-Type") or "") and data.strip():
                return r.status, json.loads(data)
            return r.status, data.decode(errors="replace")
        finally:
            c.close()

    def ping(self):
        st, _ = self.call("GET", "/_ping", timeout=5)
        return st == 200

    def containers(self, label):
        f = urllib.parse.quote(json.dumps({"label": [label]}))
        st, body = self.call("GET", f"/containers/json?all=1&filters={f}")
        if st != 200:
            raise RuntimeError(f"container list: HTTP {st}: {body}")
        return body

    def host_port(self, cid, port="8080/tcp"):
        st, body = self.call("GET", f"/containers/{cid}/json")
        if st != 200:
            raise RuntimeError(f"inspect {cid[:12]}: HTTP {st}: {body}")
        for b in (body.get("NetworkSettings") or {}).get("Ports", {}).get(port) or []:
            if b.get("HostPort"):
                return int(b["HostPort"])
        raise RuntimeError(f"container {cid[:12]} publishes no host port for {port}")

    def remove(self, cid):
        st, body = self.call("DELETE", f"/containers/{cid}?force=1&v=1")
        if st not in (204, 404):
            raise RuntimeError(f"remove {cid[:12]}: HTTP {st}: {body}")

    def wait_no_containers(self, label, timeout=60.0):
        """Until nothing carries label; True when none is left."""
        deadline = now() + timeout
        while now() < deadline:
            if not self.containers(label):
                return True
            time.sleep(0.05)
        return False

    def remove_labelled(self, label):
        n = 0
        for c in self.containers(label):
            self.remove(c["Id"])
            n += 1
        return n


class EventWatcher:
    """Container events from the Engine (create, start, die, destroy, …),
    each with the Engine's own nanosecond wall-clock stamp, converted to this
    process's perf_counter clock.  The stream carries `until`, so it ends by
    itself even if stop() is never called."""

    def __init__(self, engine, max_seconds):
        self.engine = engine
        self.events = []  # (perf_counter time, action, container name, id)
        self.endpoint_of = {}  # container id -> its io.endpointd.endpoint label
        self.lock = threading.Lock()
        # perf_counter = wall + offset
        self.offset = time.perf_counter() - time.time()
        since = int(time.time()) - 1
        until = int(time.time() + max_seconds) + 1
        f = urllib.parse.quote(json.dumps({"type": ["container"]}))
        self.conn = UnixHTTPConnection(engine.path, timeout=None)
        self.conn.request("GET", f"/events?since={since}&until={until}&filters={f}",
                          headers={"Host": "docker"})
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            raise RuntimeError(f"/events: HTTP {self.resp.status}")
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            for _ in range(10_000_000):
                line = self.resp.readline()
                if not line:
                    return
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                t = e.get("timeNano", 0) / 1e9 + self.offset
                attrs = (e.get("Actor") or {}).get("Attributes") or {}
                name = attrs.get("name", "")
                with self.lock:
                    self.events.append((t, e.get("Action", ""), name, e.get("id", "")))
                    if attrs.get(LABEL_ENDPOINT):
                        self.endpoint_of[e.get("id", "")] = attrs[LABEL_ENDPOINT]
        except (OSError, http.client.HTTPException, ValueError):
            return

    def first(self, action, name, after=0.0):
        with self.lock:
            for t, a, n, _ in self.events:
                if a == action and n == name and t >= after:
                    return t
        return None

    def of_endpoint(self, action, endpoint, after=0.0):
        """Stamps of every `action` event at or after `after` of a container
        labelled io.endpointd.endpoint=endpoint (a container of the daemon
        or a Swarm task's), in order."""
        with self.lock:
            return [t for t, a, _, cid in self.events
                    if a == action and t >= after and self.endpoint_of.get(cid) == endpoint]

    def stop(self):
        try:
            if self.conn.raw_sock:
                self.conn.raw_sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(2)
        self.conn.close()


def ping_until_200(port, poll, timeout, host="127.0.0.1"):
    """Time (perf_counter) of the first GET /ping to host:port answering 200,
    like the daemon's probe: connect timeout 250 ms, 2 s in all, a new
    connection each try, every `poll` seconds; None on timeout."""
    deadline = now() + timeout
    for _ in range(int(timeout / poll) + 1):
        c = http.client.HTTPConnection(host, port, timeout=0.25)
        try:
            c.connect()
            c.sock.settimeout(2.0)
            c.request("GET", "/ping")
            r = c.getresponse()
            r.read()
            if r.status == 200:
                return now()
        except (OSError, http.client.HTTPException):
            pass
        finally:
            c.close()
        if now() > deadline:
            return None
        time.sleep(poll)
    return None


# ---------------------------------------------------------------------------
# wrk (Debian's /usr/bin/wrk) with invoke-post.lua

INVOKE_LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "invoke-post.lua")


def run_wrk(wrk, url, connections, threads, duration, body_bytes, headers=None):
    """Run wrk once with invoke-post.lua: its parsed INVOKE-RESULT line plus
    rps, p50 and p99 (ms), errs (socket errors), non2xx and wrk's text.
    headers ({name: value}) go on every request, but Content-Type and
    Content-Length, which the script sets."""
    cmd = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{duration}s",
           "--timeout", "5s", "--latency", "-s", INVOKE_LUA]
    for k, v in (headers or {}).items():
        if k.lower() not in ("content-type", "content-length"):
            cmd += ["-H", f"{k}: {v}"]
    cmd += [url, "--", str(body_bytes)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    if p.returncode != 0:
        raise RuntimeError(f"wrk exited {p.returncode}: {p.stderr.strip() or p.stdout.strip()}")
    res = None
    for line in p.stdout.splitlines():
        if line.startswith("INVOKE-RESULT "):
            res = json.loads(line[len("INVOKE-RESULT "):])
    if res is None:
        raise RuntimeError(f"no INVOKE-RESULT line from wrk:\n{p.stdout}\n{p.stderr}")
    # wrk's own text, as a cross-check of the Lua figures
    res["non2xx_text"] = 0
    for line in p.stdout.splitlines():
        s = line.strip()
        if s.startswith("Non-2xx or 3xx responses:"):
            res["non2xx_text"] = int(s.split(":")[1])
    res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
    res["p50"] = res["p"]["50"] / 1000.0
    res["p99"] = res["p"]["99"] / 1000.0
    res["errs"] = sum(v for k, v in res["errors"].items() if k != "status")
    res["non2xx"] = max(res["errors"]["status"], res["non2xx_text"])
    res["text"] = p.stdout
    return res


# ---------------------------------------------------------------------------
# The daemon's API


class ApiError(Exception):
    pass


class Client:
    """One keep-alive connection to endpointd speaking AWS JSON 1.1."""

    def __init__(self, url, timeout=30.0):
        u = urllib.parse.urlsplit(url)
        if u.scheme != "http" or not u.hostname:
            die(f"--url must be http://host:port (got {url!r})")
        self.host, self.port = u.hostname, u.port or 80
        self.timeout = timeout
        self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def call(self, op, body):
        """(HTTP status, decoded JSON body).  One retry on a fresh connection
        when a kept-alive one turns out to be closed."""
        data = json.dumps(body).encode()
        headers = {"X-Amz-Target": f"SageMaker.{op}", "Content-Type": CONTENT_TYPE}
        for attempt in range(2):
            if self.conn is None:
                self._connect()
            try:
                self.conn.request("POST", "/", body=data, headers=headers)
                r = self.conn.getresponse()
                raw = r.read()
                if r.will_close:
                    self.close()
                return r.status, (json.loads(raw) if raw else {})
            except (http.client.HTTPException, ConnectionError, socket.timeout) as e:
                self.close()
                if attempt == 1:
                    raise ApiError(f"{op}: {e!r}")
        raise AssertionError("unreachable")

    def close(self):
        if self.conn:
            self.conn.close()
        self.conn = None

    # -- helpers ------------------------------------------------------------

    def create(self, name, config_name):
        st, b = self.call("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": config_name})
        if st != 200:
            raise ApiError(f"CreateEndpoint {name}: HTTP {st}: {b}")
        return b

    def status(self, name):
        """EndpointStatus, or None once DescribeEndpoint answers ValidationException."""
        st, b = self.call("DescribeEndpoint", {"EndpointName": name})
        if st == 200:
            return b.get("EndpointStatus"), b
        if st == 400 and b.get("__type") == "ValidationException":
            return None, b
        raise ApiError(f"DescribeEndpoint {name}: HTTP {st}: {b}")

    def delete(self, name):
        st, b = self.call("DeleteEndpoint", {"EndpointName": name})
        if st == 200:
            return True
        if st == 400 and "Could not find" in b.get("message", ""):
            return False
        raise ApiError(f"DeleteEndpoint {name}: HTTP {st}: {b}")

    def wait_deleted(self, name, timeout=120.0, poll=0.02):
        deadline = now() + timeout
        while now() < deadline:
            s, _ = self.status(name)
            if s is None:
                return True
            time.sleep(poll)
        return False


def delete_and_wait(client, engine, names, timeout=120.0):
    """DeleteEndpoint each of names (Deleting ones too), wait for Describe to
    answer ValidationException and for their containers to be gone.  Returns
    the names that did not go away in time."""
    deadline = now() + timeout
    pending = list(names)
    for n in pending:
        for _ in range(int(timeout / 0.1)):
            try:
                client.delete(n)
                break
            except ApiError as e:
                # e.g. "Cannot update in-progress endpoint" while still Creating
                if "in-progress" not in str(e) or now() > deadline:
                    print(f"warning: {e}", file=sys.stderr)
                    break
                time.sleep(0.1)
    left = []
    for n in pending:
        if not client.wait_deleted(n, timeout=max(1.0, deadline - now())):
            left.append(n)
            continue
        if engine and not engine.wait_no_containers(f"{LABEL_ENDPOINT}={n}",
                                                    timeout=max(1.0, deadline - now())):
            left.append(n)
    return left


# ---------------------------------------------------------------------------
# A private endpointd


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_endpointd():
    for p in (os.environ.get("ENDPOINTD"), os.path.join(REPO_ROOT, "daemon", "endpointd"),
              shutil.which("endpointd"), "/usr/local/sbin/endpointd", "/usr/sbin/endpointd"):
        if p and os.access(p, os.X_OK):
            return p
    return None


CONFIG_TEMPLATE = """\
listen: ["{listen_host}:{port}"]
state_dir: {state_dir}
region: us-east-1
account_id: "000000000000"
docker: {{ socket: {socket}{docker_mode} }}
instance_types:
  ml.t2.medium: {{ cpus: {cpus}, memory: {memory}{constraints} }}
{instance_types}limits: {{ max_endpoints: {max_endpoints}, max_instances: {max_instances} }}
Models:
  - ModelName: bench-demo
    PrimaryContainer: {{ Image: "{image}" }}
EndpointConfigs:
  - EndpointConfigName: {config_name}
    ProductionVariants:
      - {{ VariantName: AllTraffic, ModelName: bench-demo, InitialInstanceCount: 1, InstanceType: ml.t2.medium }}
"""


class Daemon:
    """endpointd on a free loopback port with a temporary config and state
    directory.  The binary is copied first so that a rebuild under us does not
    disturb a run.  Its log lines are stamped with perf_counter as they arrive
    (stamp_log) or just written to a file."""

    def __init__(self, binary, docker_host, image, log_level="debug", stamp_log=True,
                 cpus="0.5", memory="256MiB", max_endpoints=100, keep=False, extra_config="",
                 docker_mode=None, constraints=(), instance_types=None, netns=None,
                 listen_host="127.0.0.1"):
        """docker_mode goes into the docker key (None: the default, engine);
        constraints (Swarm placement constraints) into ml.t2.medium;
        instance_types ({name: flow mapping}) are more instance types.  With
        netns (a name under /run/netns) the daemon runs in that network
        namespace and listens on listen_host there."""
        self.tmp = tempfile.mkdtemp(prefix="endpointd-bench.")
        self.keep = keep
        self.lines = []  # (perf_counter, text)
        self.lock = threading.Lock()
        self.proc = None
        self.reader = None
        self.log_path = os.path.join(self.tmp, "endpointd.log")
        bin_copy = os.path.join(self.tmp, "endpointd")
        for attempt in range(20):  # the lead's build may be relinking it
            try:
                shutil.copy2(binary, bin_copy)
                break
            except OSError:
                if attempt == 19:
                    raise
                time.sleep(0.5)
        # endpointd-dialer beside the binary goes along: the daemon looks for
        # it beside itself when none is installed.
        dialer = os.path.join(os.path.dirname(os.path.abspath(binary)), "endpointd-dialer")
        if os.access(dialer, os.X_OK):
            shutil.copy2(dialer, os.path.join(self.tmp, "endpointd-dialer"))
        state = os.path.join(self.tmp, "state")
        os.mkdir(state)
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID")}
        env["DOCKER_HOST"] = docker_host
        quoted = ", ".join(json.dumps(c) for c in constraints)
        types = "".join(f"  {k}: {v}\n" for k, v in (instance_types or {}).items())
        # nsenter --net changes the network namespace only and then execs the
        # daemon, so self.proc is the daemon itself.
        prefix = ["nsenter", f"--net=/run/netns/{netns}"] if netns else []
        for attempt in range(3):  # a free port can be taken between probe and bind
            self.port = free_port()
            self.url = f"http://{listen_host}:{self.port}"
            cfg = os.path.join(self.tmp, "endpointd.yaml")
            with open(cfg, "w") as f:
                f.write(CONFIG_TEMPLATE.format(
                    listen_host=listen_host, port=self.port, state_dir=state,
                    socket=socket_path(docker_host),
                    docker_mode=f", mode: {docker_mode}" if docker_mode else "",
                    constraints=f", constraints: [{quoted}]" if constraints else "",
                    instance_types=types,
                    cpus=cpus, memory=memory, max_endpoints=max_endpoints,
                    max_instances=max(256, max_endpoints), image=image,
                    config_name=DEFAULT_CONFIG_NAME) + extra_config)
            self.logf = open(self.log_path, "a")
            self.proc = subprocess.Popen(
                prefix + [bin_copy, "--config", cfg, "--log-level", log_level],
                stdin=subprocess.DEVNULL, stdout=self.logf,
                stderr=subprocess.PIPE if stamp_log else self.logf, env=env)
            if stamp_log:
                self.reader = threading.Thread(target=self._read, daemon=True)
                self.reader.start()
            if self._wait_ready(15.0):
                return
            self.stop(quiet=True)
        raise RuntimeError(f"endpointd did not come up; see {self.log_path}")

    def _read(self):
        for raw in iter(self.proc.stderr.readline, b""):
            t = now()
            text = raw.decode(errors="replace").rstrip("\n")
            with self.lock:
                self.lines.append((t, text))
            self.logf.write(text + "\n")
            self.logf.flush()

    def _wait_ready(self, timeout):
        c = Client(self.url, timeout=2.0)
        deadline = now() + timeout
        try:
            while now() < deadline:
                if self.proc.poll() is not None:
                    return False
                try:
                    st, _ = c.call("ListEndpoints", {})
                    if st == 200:
                        return True
                except (ApiError, OSError):
                    pass
                time.sleep(0.05)
            return False
        finally:
            c.close()

    def find(self, pattern, after=0.0):
        """perf_counter stamp and text of the first log line containing
        pattern that arrived at or after `after`."""
        with self.lock:
            for t, text in self.lines:
                if t >= after and pattern in text:
                    return t, text
        return None, None

    def find_all(self, *patterns, after=0.0):
        """perf_counter stamps of every log line containing all of patterns
        that arrived at or after `after`, in order."""
        with self.lock:
            return [t for t, text in self.lines
                    if t >= after and all(p in text for p in patterns)]

    def stop(self, quiet=False):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.reader:
            self.reader.join(2)
        self.logf.close()

    def cleanup(self):
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
