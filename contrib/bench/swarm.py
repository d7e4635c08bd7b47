#!/usr/bin/python3
"""swarm: endpointd in swarm mode on a three-node cluster of this machine,
next to one host.

It starts the cluster itself (contrib/swarm-cluster.sh start DIR 3: three
dockerds, each in a network namespace of its own on one 10.214.S.0/24, node
1 the manager), builds the demo model image into every node, and stops the
cluster at the end, also after an error or Ctrl-C.  Both daemons run in node
1's network namespace (nsenter --net), as a daemon on the manager host would,
and listen on node 1's address: there the single-host daemon reaches its
containers' ports, published on node 1's loopback.

  (1) CreateEndpoint -> InService, alternating in each round: (a) endpointd
      in engine mode on node 1's dockerd (one host); (b) endpointd in swarm
      mode on the manager, its instance type constrained to node 1
      (--create-node), so that the same dockerd starts the container and
      the difference is what swarm mode adds.  Same model, same instance
      count (--instances, 1 and 2).  Timed from just before the
      CreateEndpoint POST to the first DescribeEndpoint (every --poll-ms,
      20 ms) that answers InService; then DeleteEndpoint and a wait until
      the containers and the service are gone (not counted).  Each round
      also runs the baseline: `docker run -d -p ADDR::8080` of the image on
      that node, then GET /ping at the node's address every --poll-ms until
      200.  A warm-up round comes first.  Prints every round, median and
      p90 per side, the ratio swarm/single-host of the medians, and where
      the time goes (the Engines' events, the daemons' log lines).
  (2) Invoke throughput through a task on another node: an endpoint of the
      swarm daemon whose instance type carries the placement constraint
      node.labels.endpointd.test.node==2 (--invoke-node), so that its task
      runs on node 2.  The script finds the task's node address and host
      port in the manager's tasks API and checks them against the daemon's
      log line "task ... at ADDR:PORT".  Then wrk (Debian's /usr/bin/wrk,
      invoke-post.lua: --body-bytes POSTs over --connections keep-alive
      connections from --threads threads) alternates, --runs times after an
      uncounted --warmup, between "direct", http://ADDR:PORT/invocations,
      and "endpointd", the daemon's InvokeEndpoint of the same task.  Then
      one single-connection run each way.  Prints req/s, p50 and p99 of
      every run, the medians, the ratio endpointd/direct and the daemon's
      CPU per call.

Traffic goes only to the cluster's 10.214.S.0/24 (the host's own link and
the namespaces the script made).  Run by hand, as root, never from the test
suite:
  sudo /usr/bin/python3 contrib/bench/swarm.py --endpointd build/daemon/endpointd

Example, default options, on the 2-core test machine shared with other test
runs (load average 1 to 6); the whole output is in contrib/bench/README.md:

    n=1 single endpointd median    276.1 ms   p90    320.2   min 230.9   max 366.6
    n=1 swarm  endpointd median    680.1 ms   p90    701.8   min 604.8   max 705.2
    n=1 ratio swarm/single-host of the medians: 2.46 (+404 ms); single/docker run 1.13, swarm/docker run 2.77
    n=2 ratio swarm/single-host of the medians: 1.64 (+271 ms)
    median direct         41801 req/s   p50 0.534 ms   p99 28.031 ms
    median endpointd      20797 req/s   p50 1.404 ms   p99 11.903 ms
    ratio endpointd/direct: throughput 0.498, p50 +870 us, p99 -16128 us; daemon CPU 36.3 us per call
    one connection: direct p50 74 us, endpointd p50 149 us: added +75 us
"""

import argparse
import datetime
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

CLUSTER_SCRIPT = os.path.join(bl.REPO_ROOT, "contrib", "swarm-cluster.sh")
BUILD_IMAGE = os.path.join(bl.REPO_ROOT, "contrib", "demo-model", "build-image.sh")
PHASE_TIMEOUT = 120.0  # seconds any one wait may take
CLUSTER_TIMEOUT = 150  # seconds swarm-cluster.sh start or stop may take
NODE_LABEL = "node.labels.endpointd.test.node"
INVOKE_TYPE = "ml.c5.xlarge"
INVOKE_CONFIG = "bench-invoke-config"
TOTAL = "Describe saw InService = total"
BASE_TOTAL = "first /ping 200 = total"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpointd", default=None,
                   help="daemon binary (default $ENDPOINTD, ./daemon/endpointd, then PATH)")
    p.add_argument("--nodes", type=int, default=3, help="nodes of the cluster (2-9, default 3)")
    p.add_argument("--parts", default="create,invoke", help="what to run (default create,invoke)")
    p.add_argument("--rounds", type=int, default=10, help="counted rounds of part 1 (default 10)")
    p.add_argument("--instances", default="1,2",
                   help="instance counts of part 1, comma-separated (default 1,2)")
    p.add_argument("--create-node", type=int, default=1,
                   help="node of part 1's swarm tasks and baseline (default 1, the manager; "
                        "0: wherever Swarm places them, baseline on node 1)")
    p.add_argument("--invoke-node", type=int, default=2, help="node of part 2's task (default 2)")
    p.add_argument("--poll-ms", type=float, default=20.0,
                   help="DescribeEndpoint and baseline /ping interval (default 20)")
    p.add_argument("--no-baseline", action="store_true", help="no `docker run` baseline in part 1")
    p.add_argument("--watch-tasks", action="store_true",
                   help="also list the swarm side's tasks on the manager every --poll-ms, to see "
                        "when the manager first lists them running (adds load to the manager)")
    p.add_argument("--wrk", default="/usr/bin/wrk", help="wrk binary (default %(default)s)")
    p.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    p.add_argument("--runs", type=int, default=3, help="counted wrk runs per side (default 3)")
    p.add_argument("--warmup", type=int, default=2,
                   help="seconds of an uncounted wrk run on each side first (default 2, 0: none)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--body-bytes", type=int, default=512, help="body of the wrk POSTs (default 512)")
    p.add_argument("--image", default=bl.DEFAULT_IMAGE,
                   help="tag the demo model is built under in every node (default %(default)s)")
    p.add_argument("--docker-cli", default=bl.default_docker_cli(),
                   help="docker client for the baseline (default /usr/bin/docker)")
    p.add_argument("--log-level", default="info", help="log level of the daemons (default info)")
    p.add_argument("--keep", action="store_true", help="keep the daemons' directories and logs")
    a = p.parse_args()
    a.parts = set(a.parts.split(","))
    if not a.parts or a.parts - {"create", "invoke"}:
        p.error("--parts is a comma-separated list of create and invoke")
    if not 2 <= a.nodes <= 9:
        p.error("--nodes must be 2..9")
    if not 1 <= a.rounds <= 1000:
        p.error("--rounds must be 1..1000")
    try:
        a.instances = [int(n) for n in a.instances.split(",")]
    except ValueError:
        p.error("--instances is a comma-separated list of counts")
    if not a.instances or any(not 1 <= n <= 8 for n in a.instances):
        p.error("--instances: each count 1..8")
    if not 0 <= a.create_node <= a.nodes:
        p.error(f"--create-node must be 0..{a.nodes}")
    if not 1 <= a.invoke_node <= a.nodes or a.invoke_node == 1:
        p.error(f"--invoke-node must be another node than the daemons' (2..{a.nodes})")
    if a.poll_ms <= 0 or a.duration < 1 or a.runs < 1 or a.warmup < 0:
        p.error("--poll-ms, --duration and --runs must be positive")
    if not 1 <= a.body_bytes <= 6 * 1024 * 1024:
        p.error("--body-bytes must be 1..6291456")
    return a


class Interrupted(Exception):
    pass


def on_signal(signum, frame):
    """SIGTERM and SIGHUP end the run as Ctrl-C does, through the clean-up."""
    raise Interrupted(signal.Signals(signum).name)


# ---------------------------------------------------------------------------
# The cluster


class Node:
    def __init__(self, env, k):
        self.number = k
        self.socket = env[f"node{k}_socket"]
        self.address = env[f"node{k}_address"]
        self.netns = env[f"node{k}_netns"]
        self.id = env[f"node{k}_id"]
        self.engine = bl.Engine(f"unix://{self.socket}")


class Cluster:
    """contrib/swarm-cluster.sh's cluster in a fresh /tmp/esb.XXXXXX (short:
    containerd's socket paths must fit)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="esb.", dir="/tmp")
        self.nodes = []

    def start(self, n):
        """swarm-cluster.sh start DIR n; its key=value lines are kept."""
        env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
        try:
            p = subprocess.run([CLUSTER_SCRIPT, "start", self.dir, str(n)], capture_output=True,
                               text=True, timeout=CLUSTER_TIMEOUT, env=env)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"swarm-cluster.sh start did not finish in {CLUSTER_TIMEOUT} s")
        if p.returncode != 0:
            raise RuntimeError(f"swarm-cluster.sh start: exit {p.returncode}: {p.stderr.strip()}")
        self.env = dict(line.split("=", 1) for line in p.stdout.splitlines() if "=" in line)
        self.subnet = self.env["subnet"]
        self.nodes = [Node(self.env, k) for k in range(1, int(self.env["nodes"]) + 1)]
        self.manager = self.nodes[0].engine

    def node(self, k):
        """Node k, counted from 1 as swarm-cluster.sh does."""
        return self.nodes[k - 1]

    def node_by_id(self, node_id):
        """The node of a Swarm node ID; None for one that is not ours."""
        return next((n for n in self.nodes if n.id == node_id), None)

    def build_image(self, tag):
        """The demo model into every node (FROM scratch: nothing is pulled)."""
        work = tempfile.mkdtemp(prefix="esb-img.")
        try:
            for n in self.nodes:
                p = subprocess.run([BUILD_IMAGE, "--docker-host", f"unix://{n.socket}", "--tag", tag],
                                   capture_output=True, text=True, timeout=PHASE_TIMEOUT,
                                   env={**os.environ, "BUILD_DIR": os.path.join(work, str(n.number))})
                if p.returncode != 0:
                    raise RuntimeError(f"build-image.sh on node {n.number}: {p.stderr.strip()}")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def services(self, endpoint):
        """The manager's services labelled with the endpoint."""
        f = urllib.parse.quote(json.dumps({"label": [f"{bl.LABEL_ENDPOINT}={endpoint}"]}))
        st, body = self.manager.call("GET", f"/services?filters={f}")
        if st != 200:
            raise RuntimeError(f"service list: HTTP {st}: {body}")
        return body

    def running_tasks(self, service_id):
        """The service's tasks that are meant to run and do."""
        f = urllib.parse.quote(json.dumps({"service": [service_id], "desired-state": ["running"]}))
        st, body = self.manager.call("GET", f"/tasks?filters={f}")
        if st != 200:
            raise RuntimeError(f"task list: HTTP {st}: {body}")
        return [t for t in body if (t.get("Status") or {}).get("State") == "running"]

    def wait_gone(self, endpoint, timeout):
        """Until no service and no container on any node carries the endpoint's
        label; True when all are gone."""
        deadline = bl.now() + timeout
        label = f"{bl.LABEL_ENDPOINT}={endpoint}"
        while bl.now() < deadline:
            if not self.services(endpoint) and not any(n.engine.containers(label) for n in self.nodes):
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        """swarm-cluster.sh stop: services, nodes, namespaces and DIR go."""
        try:
            p = subprocess.run([CLUSTER_SCRIPT, "stop", self.dir], capture_output=True, text=True,
                               timeout=CLUSTER_TIMEOUT)
            if p.returncode != 0:
                print(f"warning: swarm-cluster.sh stop {self.dir}: exit {p.returncode}: "
                      f"{p.stderr.strip()}", file=sys.stderr)
        except subprocess.TimeoutExpired:
            print(f"warning: swarm-cluster.sh stop {self.dir} did not finish in "
                  f"{CLUSTER_TIMEOUT} s", file=sys.stderr)


# ---------------------------------------------------------------------------
# The benchmark


def config_name(n):
    return bl.DEFAULT_CONFIG_NAME if n == 1 else f"bench-config-{n}"


def endpoint_configs(counts, invoke=False):
    """More EndpointConfigs items (after benchlib's demo-config)."""
    out = ""
    items = [(config_name(n), n, "ml.t2.medium") for n in counts if n != 1]
    if invoke:
        items.append((INVOKE_CONFIG, 1, INVOKE_TYPE))
    for name, n, itype in items:
        out += (f"  - EndpointConfigName: {name}\n"
                "    ProductionVariants:\n"
                f"      - {{ VariantName: AllTraffic, ModelName: bench-demo, "
                f"InitialInstanceCount: {n}, InstanceType: {itype} }}\n")
    return out


def p90(values):
    """Nearest-rank 90th percentile (of 10 rounds, the 9th fastest)."""
    return bl.percentile(values, 90)


class TaskWatcher:
    """Lists the endpoint's tasks on the manager every poll seconds, from
    a thread, until n of them are running: when the manager first says so."""

    def __init__(self, cluster, endpoint, n, poll):
        self.cluster, self.endpoint, self.n, self.poll = cluster, endpoint, n, poll
        self.seen = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        deadline = bl.now() + PHASE_TIMEOUT
        while not self.done.is_set() and bl.now() < deadline:
            try:
                running = [t for svc in self.cluster.services(self.endpoint)
                           for t in self.cluster.running_tasks(svc["ID"])]
            except (RuntimeError, OSError, ValueError):
                running = []
            if len(running) >= self.n:
                self.seen = bl.now()
                return
            self.done.wait(self.poll)

    def stop(self):
        """The perf_counter time it saw them running, or None."""
        self.done.set()
        self.thread.join(5)
        return self.seen


class Side:
    """One daemon and its client, under a short name."""

    def __init__(self, label, daemon):
        self.label = label
        self.daemon = daemon
        self.client = bl.Client(daemon.url, timeout=PHASE_TIMEOUT)
        self.live = set()


class Bench:
    """The cluster, the two daemons and the two parts; cleanup() undoes all."""

    def __init__(self, a):
        self.a = a
        self.tag = f"{os.getpid()}"
        self.cluster = None
        self.single = None
        self.swarm = None
        self.watchers = []
        self.baseline_ids = []  # (engine, id)

    # -- set-up ---------------------------------------------------------------

    def setup(self):
        a = self.a
        binary = a.endpointd or bl.default_endpointd()
        if not binary:
            bl.die("no endpointd binary; pass --endpointd PATH")
        if "invoke" in a.parts and not os.access(a.wrk, os.X_OK):
            bl.die(f"{a.wrk} not found: apt-get install wrk (or pass --wrk)")
        if os.geteuid() != 0:
            bl.die("network namespaces and dockerd need root")
        t0 = bl.now()
        self.cluster = c = Cluster()  # stopped by cleanup() even if start fails half-way
        c.start(a.nodes)
        print(f"cluster: {len(c.nodes)} nodes on {c.subnet} in {c.dir}, manager node 1 "
              f"({c.node(1).address}), up in {bl.now() - t0:.1f} s")
        t0 = bl.now()
        c.build_image(a.image)
        print(f"image {a.image} built into every node in {bl.now() - t0:.1f} s")
        n1 = c.node(1)
        counts = a.instances if "create" in a.parts else []
        common = dict(log_level=a.log_level, keep=a.keep, netns=n1.netns, listen_host=n1.address)
        # Node 1's address is beyond loopback; only this host and the
        # namespaces this script made reach its subnet.
        remote = "allow_remote_without_auth: true\n"
        if "create" in a.parts:
            self.single = Side("single", bl.Daemon(
                binary, f"unix://{n1.socket}", a.image, extra_config=endpoint_configs(counts) + remote,
                **common))
        cons = [f"{NODE_LABEL}=={a.create_node}"] if a.create_node else []
        itypes = {}
        if "invoke" in a.parts:
            # As invoke.py: the host's CPUs and 1 GiB, so that the model is not
            # throttled below what the host has.
            itypes[INVOKE_TYPE] = (f'{{ cpus: {os.cpu_count() or 1}, memory: 1GiB, '
                                   f'constraints: ["{NODE_LABEL}=={a.invoke_node}"] }}')
        self.swarm = Side("swarm", bl.Daemon(
            binary, f"unix://{n1.socket}", a.image, docker_mode="swarm", constraints=cons,
            instance_types=itypes,
            extra_config=endpoint_configs(counts, "invoke" in a.parts) + remote,
            **common))
        for s in (self.single, self.swarm):
            if s:
                print(f"endpointd {s.label:<6} {s.daemon.url} (in {n1.netns}), log {s.daemon.log_path}")
        max_s = (a.rounds + 1) * (1 + 2 * len(a.instances)) * 2 * PHASE_TIMEOUT + 3600
        self.watchers = [bl.EventWatcher(n.engine, max_seconds=max_s) for n in c.nodes]

    # -- (1) CreateEndpoint -> InService -------------------------------------

    def events(self, action, endpoint, t0):
        """Stamps of the endpoint's containers' `action` events, any node."""
        return sorted(t for w in self.watchers for t in w.of_endpoint(action, endpoint, t0))

    def baseline(self, i):
        """docker run on the node, then /ping at its address until 200."""
        a = self.a
        node = self.cluster.node(a.create_node or 1)
        name = f"bench-base-{self.tag}-{i}"
        t0 = bl.now()
        p = subprocess.run([a.docker_cli, "-H", f"unix://{node.socket}", "run", "-d", "--name", name,
                            "-p", f"{node.address}::8080", a.image, "serve"],
                           capture_output=True, text=True, timeout=PHASE_TIMEOUT)
        t_run = bl.now()
        if p.returncode != 0:
            raise RuntimeError(f"docker run on node {node.number}: {p.stderr.strip()}")
        cid = p.stdout.strip().splitlines()[-1]
        self.baseline_ids.append((node.engine, cid))
        try:
            port = node.engine.host_port(cid)
            t_ready = bl.ping_until_200(port, a.poll_ms / 1000, PHASE_TIMEOUT, host=node.address)
            if t_ready is None:
                raise RuntimeError(f"baseline container {cid[:12]} never answered /ping with 200")
        finally:
            node.engine.remove(cid)
            self.baseline_ids.remove((node.engine, cid))
        return {"docker run returned": t_run - t0, BASE_TOTAL: t_ready - t0}

    def task_running_stamps(self, name):
        """When each running task of the endpoint's service turned running,
        by its own Status.Timestamp (the node sets it; the manager
        hears of it later), on the perf_counter clock."""
        offset = time.perf_counter() - time.time()
        out = []
        for svc in self.cluster.services(name):
            for t in self.cluster.running_tasks(svc["ID"]):
                stamp = wall_seconds(t["Status"].get("Timestamp", ""))
                if stamp is not None:
                    out.append(stamp + offset)
        return out

    def create(self, side, n, i):
        """One CreateEndpoint -> InService on side, then its deletion."""
        a = self.a
        name = f"bench-{self.tag}-{side.label}-{n}-{i}"
        poll = a.poll_ms / 1000
        c = side.client
        watch = TaskWatcher(self.cluster, name, n, poll) if side is self.swarm and a.watch_tasks else None
        t0 = bl.now()
        c.create(name, config_name(n))
        t_post = bl.now()
        side.live.add(name)
        t_ready = None
        for _ in range(int(PHASE_TIMEOUT / poll) + 1):
            s, body = c.status(name)
            if s == "InService":
                t_ready = bl.now()
                break
            if s in ("Failed", None):
                raise RuntimeError(f"{side.label} endpoint {name}: {s}: "
                                   f"{body.get('FailureReason') or body}")
            if bl.now() > t0 + PHASE_TIMEOUT:
                break
            time.sleep(poll)
        if t_ready is None:
            raise RuntimeError(f"{side.label} endpoint {name} not InService within {PHASE_TIMEOUT:.0f} s")

        # Where the time went.  With n instances, the last of each.
        d = side.daemon
        for _ in range(100):  # the log reader may lag a little
            if d.find(f"endpoint {name}: Creating -> InService", t0)[0] or bl.now() > t_ready + 1:
                break
            time.sleep(0.01)

        def last(stamps):
            return max(stamps) - t0 if len(stamps) >= n else None

        r = {"CreateEndpoint answered": t_post - t0,
             "created (engine event)": last(self.events("create", name, t0)),
             "started (engine event)": last(self.events("start", name, t0))}
        inst = f"endpoint {name}: variant AllTraffic instance "
        if side is self.swarm:
            r["task running (task's stamp)"] = last(self.task_running_stamps(name))
            if watch:
                t = watch.stop()
                r["manager lists it running"] = t - t0 if t else None
            r["log: task running at ADDR:PORT"] = last(d.find_all(inst, ": task ", after=t0))
        else:
            r["log: container created"] = last(d.find_all(inst, ": container ", after=t0))
        r["log: healthy"] = last(d.find_all(inst, " healthy after ", after=t0))
        t, _ = d.find(f"endpoint {name}: Creating -> InService", t0)
        r["log: InService"] = t - t0 if t else None
        r[TOTAL] = t_ready - t0

        t_del = bl.now()
        c.delete(name)
        if not c.wait_deleted(name, timeout=PHASE_TIMEOUT) or \
                not self.cluster.wait_gone(name, PHASE_TIMEOUT):
            raise RuntimeError(f"{side.label} endpoint {name}, its containers or service did not go away")
        side.live.discard(name)
        r["(delete until all gone)"] = bl.now() - t_del
        return r

    def create_part(self):
        """Part 1: rounds of both sides and the baseline, then the figures."""
        a = self.a
        where = f"node {a.create_node}" if a.create_node else "wherever Swarm places them"
        print(f"\nload average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"== (1) CreateEndpoint -> InService: engine mode (single) vs swarm mode (tasks on "
              f"{where}), DescribeEndpoint every {a.poll_ms:g} ms, {a.rounds} rounds after a warm-up ==")
        print(f"{'round':>6} {'n':>2} {'single':>9} {'swarm':>9} {'ratio':>6}"
              + ("" if a.no_baseline else f" {'docker run':>10}") + "   (ms; sides alternate first)")
        rows = {n: {"single": [], "swarm": []} for n in a.instances}
        base = []
        for i in range(a.rounds + 1):
            b = None if a.no_baseline else self.baseline(i)
            for n in a.instances:
                order = (self.single, self.swarm) if i % 2 == 0 else (self.swarm, self.single)
                got = {s.label: self.create(s, n, i) for s in order}
                label = "warmup" if i == 0 else str(i)
                print(f"{label:>6} {n:>2} {bl.ms(got['single'][TOTAL]):9.1f} "
                      f"{bl.ms(got['swarm'][TOTAL]):9.1f} {got['swarm'][TOTAL] / got['single'][TOTAL]:6.2f}"
                      + ("" if b is None or n != a.instances[0] else f" {bl.ms(b[BASE_TOTAL]):10.1f}"),
                      flush=True)
                if i > 0:
                    for k in got:
                        rows[n][k].append(got[k])
            if i > 0 and b:
                base.append(b)

        print()
        if base:
            v = [r[BASE_TOTAL] for r in base]
            print(f"docker run + /ping    median {bl.ms(statistics.median(v)):8.1f} ms   "
                  f"p90 {bl.ms(p90(v)):8.1f}   min {bl.ms(min(v)):.1f}   max {bl.ms(max(v)):.1f}")
        for n in a.instances:
            med = {}
            for k in ("single", "swarm"):
                v = [r[TOTAL] for r in rows[n][k]]
                med[k] = statistics.median(v)
                print(f"n={n} {k:<6} endpointd median {bl.ms(med[k]):8.1f} ms   p90 {bl.ms(p90(v)):8.1f}   "
                      f"min {bl.ms(min(v)):.1f}   max {bl.ms(max(v)):.1f}")
            extra = ""
            if base and n == 1:
                mb = statistics.median(r[BASE_TOTAL] for r in base)
                extra = (f"; single/docker run {med['single'] / mb:.2f}, "
                         f"swarm/docker run {med['swarm'] / mb:.2f}")
            print(f"n={n} ratio swarm/single-host of the medians: {med['swarm'] / med['single']:.2f} "
                  f"(+{bl.ms(med['swarm'] - med['single']):.0f} ms){extra}")
        for n in a.instances:
            for k in ("single", "swarm"):
                self.stages(rows[n][k], f"n={n} {k} stages")

    def stages(self, rows, title):
        """Where the time went, stage by stage, as create-to-inservice.py."""
        print(f"\n{title} (median ms since the POST over the counted rounds; per round in brackets):")
        for k in rows[0]:
            vals = [r.get(k) for r in rows]
            got = [v for v in vals if v is not None]
            if not got:
                continue
            per = " ".join(f"{bl.ms(v):.0f}" if v is not None else "-" for v in vals)
            print(f"  {k:<32} {bl.ms(statistics.median(got)):8.1f}   [{per}]")

    # -- (2) invoke throughput -------------------------------------------------

    def find_task(self, name):
        """(node, address, port, container hostname) of the endpoint's one
        running task, from the manager; checked against the daemon's log."""
        svcs = self.cluster.services(name)
        if len(svcs) != 1:
            raise RuntimeError(f"{len(svcs)} services carry {bl.LABEL_ENDPOINT}={name}")
        tasks = self.cluster.running_tasks(svcs[0]["ID"])
        if len(tasks) != 1:
            raise RuntimeError(f"service {svcs[0]['ID'][:12]} has {len(tasks)} running tasks, not 1")
        t = tasks[0]
        node = self.cluster.node_by_id(t.get("NodeID"))
        if node is None:
            raise RuntimeError(f"task {t['ID'][:12]} runs on an unknown node {t.get('NodeID')}")
        st, info = self.cluster.manager.call("GET", f"/nodes/{node.id}")
        if st != 200:
            raise RuntimeError(f"node {node.id}: HTTP {st}: {info}")
        addr = (info.get("Status") or {}).get("Addr")
        port = next((p.get("PublishedPort") for p in (t["Status"].get("PortStatus") or {}).get("Ports") or []
                     if p.get("TargetPort") == 8080), None)
        if not addr or not port:
            raise RuntimeError(f"task {t['ID'][:12]}: no address ({addr}) or published port ({port})")
        _, line = self.swarm.daemon.find(f"endpoint {name}: variant AllTraffic instance 0: task ")
        m = re.search(r"task (\w+)\b.*? at ([\d.]+):(\d+)", line or "")
        if not m or not t["ID"].startswith(m.group(1)) or (m.group(2), int(m.group(3))) != (addr, port):
            raise RuntimeError(f"the daemon's log says {line!r}, the manager task {t['ID'][:12]} "
                               f"at {addr}:{port}")
        cid = (t["Status"].get("ContainerStatus") or {}).get("ContainerID")
        st, c = node.engine.call("GET", f"/containers/{cid}/json")
        if st != 200:
            raise RuntimeError(f"task container {str(cid)[:12]} on node {node.number}: HTTP {st}")
        return node, addr, port, c["Config"]["Hostname"], t["ID"]

    def post(self, url, body):
        """One POST of body; (status, the JSON answer or its first bytes)."""
        u = urllib.parse.urlsplit(url)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        try:
            c.request("POST", u.path, body=body, headers={"Content-Type": "application/octet-stream"})
            r = c.getresponse()
            raw = r.read()
            try:
                return r.status, json.loads(raw)
            except ValueError:
                return r.status, raw[:200]
        finally:
            c.close()

    def invoke_part(self):
        """Part 2: wrk against the task directly and through endpointd."""
        a = self.a
        s = self.swarm
        name = f"bench-{self.tag}-invoke"
        print(f"\nload average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"== (2) InvokeEndpoint through a task on node {a.invoke_node}: wrk -t{a.threads} "
              f"-c{a.connections} -d{a.duration}s, {a.body_bytes}-byte POSTs, {a.runs} runs per side "
              "alternating ==")
        s.client.create(name, INVOKE_CONFIG)
        s.live.add(name)
        deadline = bl.now() + PHASE_TIMEOUT
        while True:
            st, body = s.client.status(name)
            if st == "InService":
                break
            if st in ("Failed", None) or bl.now() > deadline:
                raise RuntimeError(f"endpoint {name}: {st}: {body.get('FailureReason') or body}")
            time.sleep(0.1)
        node, addr, port, hostname, task = self.find_task(name)
        if node.number != a.invoke_node:
            raise RuntimeError(f"the task runs on node {node.number}, not on node {a.invoke_node}")
        urls = {"direct": f"http://{addr}:{port}/invocations",
                "endpointd": f"{s.daemon.url}/endpoints/{name}/invocations"}
        print(f"task {task[:12]} on node {node.number} ({hostname}), published in host mode at {addr}:{port}")
        for k, u in urls.items():
            print(f"  {k + ':':<10} {u}")
        body = os.urandom(a.body_bytes)
        want = hashlib.sha256(body).hexdigest()
        for k, u in urls.items():
            code, data = self.post(u, body)
            if code != 200 or not isinstance(data, dict) or data.get("sha256") != want \
                    or data.get("hostname") != hostname:
                raise RuntimeError(f"{k} POST: HTTP {code}: {data!r} (want the sha256 from {hostname})")
        print("sanity: one POST each way answered 200 with its sha256, from the task's container")

        pid = s.daemon.proc.pid

        def measure(side, conns, threads, duration):
            before = cpu_seconds(pid)
            r = bl.run_wrk(a.wrk, urls[side], conns, threads, duration, a.body_bytes)
            r["cpu_us"] = (cpu_seconds(pid) - before) * 1e6 / max(r["requests"], 1)
            return r

        def row(label, side, r):
            cpu = f"{r['cpu_us']:8.1f}" if side == "endpointd" else f"{'-':>8}"
            return (f"{label:>6} {side:<10} {r['rps']:9.0f} {r['p50']:7.3f} {r['p99']:8.3f} "
                    f"{r['non2xx']:6d} {r['errs']:5d} {cpu}")

        print(f"\n{'run':>6} {'side':<10} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>8} {'non2xx':>6} "
              f"{'errs':>5} {'daemon':>8}   (daemon: its CPU us per call)")
        if a.warmup:
            for side in urls:
                print(row("warmup", side, measure(side, a.connections, a.threads, a.warmup)), flush=True)
        res = {k: [] for k in urls}
        for i in range(a.runs):
            order = list(urls) if i % 2 == 0 else list(reversed(urls))
            for side in order:
                r = measure(side, a.connections, a.threads, a.duration)
                res[side].append(r)
                print(row(str(i + 1), side, r), flush=True)
        med = {k: {m: statistics.median(r[m] for r in v) for m in ("rps", "p50", "p99")}
               for k, v in res.items()}
        print()
        for k in urls:
            print(f"median {k:<10} {med[k]['rps']:9.0f} req/s   p50 {med[k]['p50']:.3f} ms   "
                  f"p99 {med[k]['p99']:.3f} ms")
        print(f"ratio endpointd/direct: throughput {med['endpointd']['rps'] / med['direct']['rps']:.3f}, "
              f"p50 {(med['endpointd']['p50'] - med['direct']['p50']) * 1000:+.0f} us, "
              f"p99 {(med['endpointd']['p99'] - med['direct']['p99']) * 1000:+.0f} us; "
              f"daemon CPU {statistics.median(r['cpu_us'] for r in res['endpointd']):.1f} us per call")
        busy = statistics.median(r["cpu_us"] * r["rps"] / 1e6 for r in res["endpointd"])
        print(f"the daemon's one thread was busy {busy * 100:.0f}% of a CPU through endpointd's runs "
              f"(host: {os.cpu_count()} CPUs for wrk, the daemon and the model)")
        bad = sum(r["non2xx"] + r["errs"] for v in res.values() for r in v)
        if bad:
            print(f"warning: {bad} calls answered non-2xx or failed")
        one = {k: measure(k, 1, 1, a.duration) for k in urls}
        for k in urls:
            print(row("-c 1", k, one[k]))
        print(f"one connection: direct p50 {one['direct']['p50'] * 1000:.0f} us, endpointd p50 "
              f"{one['endpointd']['p50'] * 1000:.0f} us: added "
              f"{(one['endpointd']['p50'] - one['direct']['p50']) * 1000:+.0f} us")
        self.delete(s, name)

    # -- clean-up ----------------------------------------------------------------

    def delete(self, side, name):
        """DeleteEndpoint, then wait until its service and containers are gone."""
        side.client.delete(name)
        if not side.client.wait_deleted(name, timeout=PHASE_TIMEOUT) or \
                not self.cluster.wait_gone(name, PHASE_TIMEOUT):
            raise RuntimeError(f"endpoint {name}, its containers or service did not go away")
        side.live.discard(name)

    def run(self):
        """Both parts, or those --parts names; the exit status."""
        self.setup()
        if "create" in self.a.parts:
            self.create_part()
        if "invoke" in self.a.parts:
            self.invoke_part()
        return 0

    def cleanup(self):
        """Everything this run made goes, whatever happened; the cluster last
        (stopping it removes whatever is left on its nodes)."""
        for engine, cid in list(self.baseline_ids):
            try:
                engine.remove(cid)
            except Exception as e:  # noqa: BLE001 - cleanup goes on
                print(f"warning: removing {cid[:12]}: {e}", file=sys.stderr)
        for s in (self.single, self.swarm):
            if not s:
                continue
            for name in sorted(s.live):
                try:
                    self.delete(s, name)
                except Exception as e:  # noqa: BLE001
                    print(f"warning: deleting {name}: {e}", file=sys.stderr)
            s.client.close()
            s.daemon.stop()
            if s.daemon.keep:
                print(f"kept {s.daemon.tmp}", file=sys.stderr)
            s.daemon.cleanup()
        for w in self.watchers:
            w.stop()
        if self.cluster:
            self.cluster.stop()


def wall_seconds(rfc3339):
    """Seconds since the epoch of a stamp as the Engine writes them
    (2026-01-02T03:04:05.123456789Z); None for anything else."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z", rfc3339)
    if not m:
        return None
    whole = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    frac = int((m.group(2) or "0").ljust(9, "0")) / 1e9
    return whole.replace(tzinfo=datetime.timezone.utc).timestamp() + frac


def cpu_seconds(pid):
    """User plus system CPU time process pid has used, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    a = parse_args()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    b = Bench(a)
    try:
        return b.run()
    except (KeyboardInterrupt, Interrupted) as e:
        print(f"interrupted ({str(e) or 'SIGINT'}); cleaning up", file=sys.stderr)
        return 130
    except (RuntimeError, bl.ApiError, OSError, subprocess.TimeoutExpired) as e:
        print(f"error: {e}", file=sys.stderr)
        for s in (b.single, b.swarm):
            if s:
                s.daemon.keep = True
                print(f"{s.label} daemon log kept: {s.daemon.log_path}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        b.cleanup()


if __name__ == "__main__":
    sys.exit(main())
