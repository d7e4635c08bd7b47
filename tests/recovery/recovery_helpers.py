"""Helpers for the crash-recovery suite, on top of tests/integration's harness.

  - RecoveryDaemon: a harness Daemon with `orphan_grace_s` and the suite's
    models and endpoint configs (and any more a test names), that can be
    killed (SIGKILL) or stopped (SIGTERM) and started again on the same
    state_dir; it knows its owner id (<state_dir>/daemon-id) and lists the
    containers carrying it
  - journal_records / journal_frame: the journal's framing (4-byte LE length,
    4-byte LE zlib crc32, JSON payload)
  - create_container: a container made behind the daemon's back
  - expectation bookkeeping for the kill -9 trials (Op, expected_outcome)
"""

import json
import os
import shutil
import signal
import struct
import subprocess
import threading
import time
import zlib

import pytest

import endpointd_harness as h

# Endpoint configs this suite uses and how many instances each asks for.
PAIR_CONFIG = "rec-pair-config"
SLOW_CALL_CONFIG = "rec-slow-call-config"
# How long the model of SLOW_CALL_CONFIG takes over a call (below the
# harness's invocation timeout).
SLOW_CALL_MS = 1500
DESIRED = {"demo-config": 1, PAIR_CONFIG: 2, "two-variant-config": 4, "slow-config": 1,
           SLOW_CALL_CONFIG: 1}
# The suite's own models ({name: Environment}) and endpoint configs
# ([(name, model, InitialInstanceCount)]) beside the harness's.
EXTRA_MODELS = {"rec-slow-call": {"DEMO_INVOKE_DELAY_MS": str(SLOW_CALL_MS)}}
EXTRA_CONFIGS = [(SLOW_CALL_CONFIG, "rec-slow-call", 1), (PAIR_CONFIG, "demo", 2)]


def extra_yaml(demo_image, models=None, configs=()):
    """The included file of a RecoveryDaemon: the suite's models and configs
    and those given (same shapes as EXTRA_MODELS, EXTRA_CONFIGS)."""
    lines = ["Models:"]
    for name, env in {**EXTRA_MODELS, **(models or {})}.items():
        lines += [f"  - ModelName: {name}", "    PrimaryContainer:",
                  f"      Image: {json.dumps(demo_image)}", "      Environment:"]
        lines += [f"        {k}: {json.dumps(v)}" for k, v in env.items()]
    lines.append("EndpointConfigs:")
    for name, model, count in [*EXTRA_CONFIGS, *configs]:
        lines += [f"  - EndpointConfigName: {name}", "    ProductionVariants:",
                  "      - VariantName: AllTraffic", f"        ModelName: {model}",
                  f"        InitialInstanceCount: {count}", f"        InstanceType: {h.INSTANCE_TYPE}",
                  "        InitialVariantWeight: 1.0",
                  f"        ContainerStartupHealthCheckTimeoutInSeconds: {h.STARTUP_TIMEOUT_S}"]
    return "\n".join(lines) + "\n"


LABEL = h.LABEL
OWNER = f"{LABEL}.owner"
ENDPOINT = f"{LABEL}.endpoint"
FLEET = f"{LABEL}.fleet"  # on the containers of every fleet but an endpoint's first

RESTART_READY_S = 20  # the daemon answers ListEndpoints within this of a start
CONVERGE_S = 60       # endpoints InService with their containers after a restart


class RecoveryDaemon(h.Daemon):
    def __init__(self, binary, docker_sock, demo_image, docker, grace=2, extra_config=(),
                 models=None, configs=()):
        super().__init__(binary, docker_sock, demo_image,
                         extra_config=[f"orphan_grace_s: {grace}", *extra_config],
                         extra_yaml=extra_yaml(demo_image, models, configs))
        self.docker = docker
        self.grace = grace
        self.api = None
        self._owner = None

    # -- life cycle --

    def start(self, attempts=3):
        """Start (again, on the same state_dir); fail the test if it does not come up."""
        if self not in h._DAEMONS:
            h._DAEMONS.append(self)
        try:
            super().start(attempts)
        except RuntimeError as e:
            pytest.fail(str(e), pytrace=False)
        self.api = h.ApiClient("127.0.0.1", self.port, timeout=10)
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """kill -9, and wait for the process to be gone."""
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)

    def term(self, timeout=15):
        """SIGTERM; its exit status (None: it did not exit in time and was killed)."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def run_once(self, *args, timeout=15):
        """endpointd ARGS --config PATH (not as the daemon): (rc, stdout, stderr);
        rc None when it was still running after timeout (then killed)."""
        try:
            p = subprocess.run([self.binary, *args, "--config", self.config_path],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                               env=h.daemon_env(self.docker_sock))
            return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace")
            err = (e.stderr or b"").decode(errors="replace")
            return None, out, err

    def close(self):
        """Kill it, remove every container of its owner, forget it."""
        try:
            self.kill()
        except Exception:
            pass
        try:
            owner = self.owner
        except Exception:
            owner = None
        if owner:
            remove_all(self.docker, [c["Id"] for c in self.docker.containers(f"{OWNER}={owner}")])
        if self in h._DAEMONS:
            h._DAEMONS.remove(self)
        if os.environ.get("ENDPOINTD_TEST_KEEP"):
            print(f"\nkept {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- state dir --

    @property
    def state_dir(self):
        return os.path.join(self.workdir, "state")

    @property
    def journal_path(self):
        return os.path.join(self.state_dir, "journal")

    @property
    def owner(self):
        if self._owner is None:
            path = os.path.join(self.state_dir, "daemon-id")
            try:
                with open(path) as f:
                    value = f.read().strip()
            except OSError as e:
                pytest.fail(f"the daemon has no identity: cannot read {path}: {e}", pytrace=False)
            assert value, f"{path} is empty"
            self._owner = value
        return self._owner

    # -- containers --

    def containers(self, endpoint=None, all=True):
        labels = [f"{LABEL}.managed=true", f"{OWNER}={self.owner}"]
        if endpoint is not None:
            labels.append(f"{ENDPOINT}={endpoint}")
        return self.docker.containers(*labels, all=all)

    def running_ids(self, endpoint):
        return sorted(c["Id"] for c in self.containers(endpoint) if c.get("State") == "running")

    def container_report(self):
        rows = []
        for c in self.containers():
            lab = c.get("Labels") or {}
            rows.append(f"  {c['Id'][:12]} {c.get('State')} endpoint={lab.get(ENDPOINT)} "
                        f"variant={lab.get(LABEL + '.variant')} slot={lab.get(LABEL + '.slot')} "
                        f"gen={lab.get(LABEL + '.generation')} fleet={lab.get(FLEET, '0')} "
                        f"({c.get('Status')})")
        return "\n".join(rows) or "  (none)"

    # -- waiting --

    def converged(self, name, desired=None):
        """The description when name is InService with exactly its desired
        count of running containers of this owner, all of them counted up by
        the daemon (CurrentInstanceCount), else None."""
        d = self.api.describe(name)
        if d is None or d["EndpointStatus"] != "InService":
            return None
        want = desired if desired is not None else DESIRED[d["EndpointConfigName"]]
        up = sum(v.get("CurrentInstanceCount", 0) for v in d.get("ProductionVariants", []))
        return d if up == want and len(self.running_ids(name)) == want else None

    def wait_converged(self, name, desired=None, timeout=CONVERGE_S):
        deadline = time.monotonic() + timeout
        while True:
            d = self.api.describe(name)
            if d is not None and d["EndpointStatus"] == "Failed":
                pytest.fail(f"{name} Failed: {d.get('FailureReason')!r}", pytrace=False)
            got = self.converged(name, desired)
            if got:
                return got
            if time.monotonic() >= deadline:
                pytest.fail(f"{name} did not converge within {timeout} s: {d!r}\n"
                            f"containers of this owner:\n{self.container_report()}", pytrace=False)
            time.sleep(0.1)


def remove_all(docker, ids):
    """Force-remove containers, a few at a time."""
    ids = list(ids)
    threads = [threading.Thread(target=docker.remove, args=(cid,), daemon=True) for cid in ids]
    for i in range(0, len(threads), 8):
        batch = threads[i:i + 8]
        for t in batch:
            t.start()
        for t in batch:
            t.join(60)


def docker_post(docker, path, body=None, query=None, timeout=60):
    """POST to the Engine with an optional JSON body: (status, parsed body)."""
    import urllib.parse
    url = docker.API + path + ("?" + urllib.parse.urlencode(query) if query else "")
    conn = h._UnixHTTPConnection(docker.sock_path, timeout)
    try:
        data = json.dumps(body).encode() if body is not None else b""
        conn.request("POST", url, body=data, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        raw = r.read()
        return r.status, (json.loads(raw) if raw and raw[:1] in b"[{" else raw)
    finally:
        conn.close()


def create_container(docker, image, labels, start=True):
    """A container of the demo image made behind the daemon's back; its id."""
    status, body = docker_post(docker, "/containers/create", {
        "Image": image, "Cmd": ["serve"], "Labels": labels,
        "Env": ["DEMO_START_DELAY_MS=0"], "HostConfig": {"RestartPolicy": {"Name": "no"}},
    })
    assert status == 201, f"docker create: {status} {body!r}"
    cid = body["Id"]
    if start:
        status, body = docker_post(docker, f"/containers/{cid}/start")
        assert status in (204, 304), f"docker start {cid}: {status} {body!r}"
    return cid


def stop_container(docker, cid):
    status, body = docker_post(docker, f"/containers/{cid}/stop", query={"t": "1"})
    assert status in (204, 304), f"docker stop {cid}: {status} {body!r}"


def instance_labels(owner, endpoint, variant="AllTraffic", slot="0", generation="1"):
    return {f"{LABEL}.managed": "true", OWNER: owner, ENDPOINT: endpoint,
            f"{LABEL}.variant": variant, f"{LABEL}.slot": slot, f"{LABEL}.generation": generation}


def container_exists(docker, cid):
    status, _ = docker.request("GET", f"/containers/{cid}/json")
    return status == 200


# ---------------------------------------------------------------------------
# The journal's framing


def journal_frame(payload):
    return struct.pack("<II", len(payload), zlib.crc32(payload) & 0xFFFFFFFF) + payload


def journal_records(data):
    """[(offset, payload)] of the good records from the start, and the offset
    where the first bad one (or the end) is."""
    out, off = [], 0
    while off + 8 <= len(data):
        length, crc = struct.unpack_from("<II", data, off)
        payload = data[off + 8:off + 8 + length]
        if len(payload) != length or zlib.crc32(payload) & 0xFFFFFFFF != crc:
            break
        out.append((off, payload))
        off += 8 + length
    return out, off


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


# ---------------------------------------------------------------------------
# Bookkeeping for the kill -9 trials


class Op:
    """One CreateEndpoint or DeleteEndpoint as a worker sent it.

    result: None while in flight, "ack" for 200, "error" for an error answer
    (no change), "lost" when the connection broke before an answer (the
    daemon was killed: either outcome is allowed)."""

    __slots__ = ("name", "op", "config", "result", "detail", "t")

    def __init__(self, name, op, config, t):
        self.name, self.op, self.config, self.t = name, op, config, t
        self.result = None
        self.detail = ""

    def __repr__(self):
        cfg = f" {self.config}" if self.config else ""
        return f"{self.t:6.3f}s {self.op}{cfg} -> {self.result} {self.detail}".rstrip()


def expected_outcome(history):
    """'present', 'gone' or 'either' for one name from its ops in order."""
    last_ack = None
    uncertain = False
    for op in history:
        if op.result == "ack":
            last_ack = op
            uncertain = False
        elif op.result in ("lost", None):
            uncertain = True
    if uncertain:
        return "either"
    if last_ack is None or last_ack.op == "Delete":
        return "gone"
    return "present"


def wait_for(pred, timeout, what, report=None, interval=0.1):
    """Poll pred() until truthy; on timeout fail with what and report()."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = ("\n" + report()) if report else ""
            pytest.fail(f"timed out after {timeout} s waiting for {what}{extra}", pytrace=False)
        time.sleep(interval)
