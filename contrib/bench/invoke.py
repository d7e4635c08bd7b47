#!/usr/bin/python3
"""invoke: what InvokeEndpoint through endpointd costs next to POSTing to the
model container directly.

It starts endpointd, creates one endpoint with one instance of the demo model,
waits for InService and reads the container's published host port from the
Engine.  Then:
  (1) throughput and latency with wrk (Debian's /usr/bin/wrk): 512-byte POSTs
      (application/octet-stream), 32 connections, 2 threads, --duration s,
      --runs times alternating (a) straight to the container's
      http://127.0.0.1:PORT/invocations, (b) through a haproxy of its own
      (one thread, a free loopback port) in front of that same port, as a
      reference for what one dedicated proxy hop costs on this host, and
      (c) through endpointd's /endpoints/NAME/invocations.  Prints every run
      and the medians: the throughput ratio endpointd/direct (target >= 0.8)
      and the p50 latency endpointd added (target <= 0.3 ms), the same
      figures for haproxy (a reference, not a target), and the non-2xx counts
      (must be 0).  Then one single-connection run each way (-c 1 -t 1): the
      added latency without queueing.
  (2) the daemon's memory while 32 clients, each on its own connection, POST
      6 MiB bodies: VmRSS sampled every 5 ms and VmHWM from /proc/PID/status,
      next to the bound 6 MiB x in flight x copies.
Then it stops haproxy, deletes the endpoint, stops the daemon and leaves
nothing behind.  It never touches a system haproxy service.

Run by hand, never from the test suite:
  sudo /usr/bin/python3 contrib/bench/invoke.py \\
      --docker-host unix:///var/run/docker.sock
"""

import argparse
import hashlib
import http.client
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

TARGET_RATIO = 0.8      # throughput endpointd / direct, at least
TARGET_ADDED_P50 = 0.3  # ms added to p50, at most
PHASE_TIMEOUT = 120.0   # seconds any one wait may take
LUA = bl.INVOKE_LUA
MIB = 1 << 20
BIG_BODY = 6 * MIB      # SageMaker's limit, and endpointd's PROXY_MAX_BODY
HAPROXY = "/usr/sbin/haproxy"  # Debian's package


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--docker-host", default=bl.default_docker_host(),
                   help="unix:///path of the Docker Engine (default $DOCKER_HOST or /var/run/docker.sock)")
    p.add_argument("--endpointd", default=None,
                   help="daemon binary (default $ENDPOINTD, ./daemon/endpointd, then PATH)")
    p.add_argument("--image", default=bl.DEFAULT_IMAGE, help="model image (default %(default)s)")
    p.add_argument("--wrk", default="/usr/bin/wrk", help="wrk binary (default %(default)s)")
    p.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--runs", type=int, default=3, help="runs of each side, alternating (default 3)")
    p.add_argument("--warmup", type=int, default=2,
                   help="seconds of an uncounted wrk run on each side first (default 2, 0: none)")
    p.add_argument("--body-bytes", type=int, default=512, help="body of the wrk POSTs (default 512)")
    p.add_argument("--rss-clients", type=int, default=32,
                   help="concurrent clients of the memory phase (default 32, 0: skip it)")
    p.add_argument("--rss-requests", type=int, default=4,
                   help="6 MiB POSTs per client in the memory phase (default 4)")
    p.add_argument("--instance-cpus", default=str(os.cpu_count() or 1),
                   help="cpus of the instance type (default: this host's CPU count, so that "
                        "the container is not throttled below what the host gives)")
    p.add_argument("--instance-memory", default="1GiB",
                   help="memory of the instance type (default 1GiB: the container holds "
                        "32 x 6 MiB bodies at once in the memory phase)")
    p.add_argument("--perf", type=int, default=0, metavar="SECONDS",
                   help="after the counted runs, `perf record -g` the daemon for SECONDS "
                        "during one more endpointd run and print its top symbols (default 0: no)")
    ref = p.add_mutually_exclusive_group()
    ref.add_argument("--reference-haproxy", metavar="PATH", default=None,
                     help="haproxy binary of the reference side (default %s when it is "
                          "there; it runs as this script's child with its own config on a "
                          "free port)" % HAPROXY)
    ref.add_argument("--no-reference", action="store_true",
                     help="no haproxy reference side")
    p.add_argument("--log-level", default="info",
                   help="log level of the started daemon (default info)")
    p.add_argument("--no-dialer", action="store_true",
                   help="container_dialer: none, so endpointd goes through the published port")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory and daemon log")
    a = p.parse_args()
    if not 1 <= a.runs <= 100:
        p.error("--runs must be 1..100")
    if not 1 <= a.duration <= 600:
        p.error("--duration must be 1..600")
    if not 1 <= a.threads <= a.connections <= 10000:
        p.error("need 1 <= --threads <= --connections <= 10000")
    if not 0 <= a.warmup <= 60 or not 0 <= a.perf <= 60:
        p.error("--warmup and --perf must be 0..60")
    if not 0 <= a.body_bytes <= BIG_BODY:
        p.error("--body-bytes must be 0..6291456")
    if not 0 <= a.rss_clients <= 256 or not 1 <= a.rss_requests <= 100:
        p.error("--rss-clients must be 0..256 and --rss-requests 1..100")
    return a


# ---------------------------------------------------------------------------
# /proc figures


def proc_status(pid):
    """VmRSS and VmHWM of pid, in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out


def proc_cpu_seconds(pid):
    """utime + stime of pid, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def host_cpu():
    """(busy, total) jiffies of the whole host."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


def children_cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def mib(b):
    return b / MIB


# ---------------------------------------------------------------------------
# wrk


def run_wrk(a, url, connections, threads, duration):
    """Run wrk once; its parsed INVOKE-RESULT line plus rps, p50, p99 (ms)."""
    return bl.run_wrk(a.wrk, url, connections, threads, duration, a.body_bytes)


def proc_schedstat_wait(pid):
    """Seconds the threads of pid have waited on a run queue (runnable, not
    running), from /proc/PID/task/*/schedstat; None where schedstats are off."""
    total = 0
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return total / 1e9


def netns_tcp(pid):
    """PassiveOpens and InSegs of the TCP stack in pid's network namespace
    (/proc/PID/net/snmp): for the container, the connections it accepted and
    the segments it received, whoever sent them."""
    try:
        with open(f"/proc/{pid}/net/snmp") as f:
            rows = [ln.split() for ln in f if ln.startswith("Tcp:")]
        t = dict(zip(rows[0][1:], (int(x) for x in rows[1][1:])))
        return t["PassiveOpens"], t["InSegs"]
    except (OSError, IndexError, KeyError, ValueError):
        return None


def find_docker_proxy(port):
    """Pid of the docker-proxy that publishes 127.0.0.1:port, or None (the
    Engine may run without its userland proxy)."""
    want = ["-host-port", str(port)]
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/comm") as f:
                if f.read().strip() != "docker-proxy":
                    continue
            with open(f"/proc/{d}/cmdline") as f:
                args = f.read().split("\0")
        except OSError:
            continue
        if any(args[i:i + 2] == want for i in range(len(args) - 1)):
            return int(d)
    return None


class CpuMeter:
    """CPU seconds spent during one wrk run by each of some processes
    (/proc/PID/stat, exited threads included), by wrk (this script's reaped
    children), the run-queue wait of the hop (endpointd or haproxy, None for
    direct) and how busy the host was."""

    def __init__(self, pids, hop_pid, container_pid):
        self.pids = {k: v for k, v in pids.items() if v}
        self.hop_pid = hop_pid
        self.container_pid = container_pid

    def _read(self):
        out = {}
        for k, pid in self.pids.items():
            try:
                out[k] = proc_cpu_seconds(pid)
            except (OSError, IndexError, ValueError):
                out[k] = None
        return out

    def start(self):
        self.p0 = self._read()
        self.q0 = proc_schedstat_wait(self.hop_pid) if self.hop_pid else None
        self.n0 = netns_tcp(self.container_pid)
        self.w0 = children_cpu_seconds()
        self.h0 = host_cpu()

    def stop(self, res):
        h1 = host_cpu()
        p1 = self._read()
        q1 = proc_schedstat_wait(self.hop_pid) if self.hop_pid else None
        n1 = netns_tcp(self.container_pid)
        res["new_conns"] = n1[0] - self.n0[0] if n1 and self.n0 else None
        res["in_segs"] = n1[1] - self.n0[1] if n1 and self.n0 else None
        res["cpu"] = {k: (p1[k] - self.p0[k]) if p1.get(k) is not None and self.p0.get(k) is not None
                      else None for k in self.pids}
        res["cpu"]["wrk"] = children_cpu_seconds() - self.w0
        res["rq_wait"] = q1 - self.q0 if q1 is not None and self.q0 is not None else None
        busy, total = h1[0] - self.h0[0], h1[1] - self.h0[1]
        res["host_busy"] = busy / total if total else float("nan")


# ---------------------------------------------------------------------------
# haproxy, the reference hop

HAPROXY_CONFIG = """\
# contrib/bench/invoke.py: one proxy hop in front of the model container
global
    nbthread 1
    maxconn 1000

defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    option http-keep-alive
    http-reuse always

frontend bench
    bind 127.0.0.1:{port}
    default_backend container

backend container
    server model 127.0.0.1:{backend_port}
"""


class Haproxy:
    """haproxy as this script's child, in the foreground (-db), with its own
    config and log in tmp and a free loopback port.  It has nothing to do
    with a system haproxy service, which is left alone.  stop() is
    idempotent and always reaps the process."""

    def __init__(self, binary, tmp):
        self.binary = binary
        self.cfg = os.path.join(tmp, "haproxy.cfg")
        self.log_path = os.path.join(tmp, "haproxy.log")
        self.proc = None
        self.logf = None
        self.port = None

    def version(self):
        p = subprocess.run([self.binary, "-v"], capture_output=True, text=True, timeout=10,
                           stdin=subprocess.DEVNULL)
        first = (p.stdout or p.stderr).strip().splitlines()
        return first[0].split(" - ")[0] if first else "haproxy (unknown version)"

    def start(self, backend_port):
        for _ in range(3):  # a free port can be taken between probe and bind
            self.port = bl.free_port()
            with open(self.cfg, "w") as f:
                f.write(HAPROXY_CONFIG.format(port=self.port, backend_port=backend_port))
            self.logf = open(self.log_path, "a")
            self.proc = subprocess.Popen([self.binary, "-db", "-f", self.cfg],
                                         stdin=subprocess.DEVNULL, stdout=self.logf,
                                         stderr=subprocess.STDOUT)
            if self._wait_ready(10.0):
                return
            self.stop()
        raise RuntimeError(f"haproxy did not come up: {self.log_tail()}")

    def _wait_ready(self, timeout):
        deadline = bl.now() + timeout
        while bl.now() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def log_tail(self, n=800):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-n:].strip() or "(empty log)"
        except OSError as e:
            return str(e)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.logf:
            self.logf.close()
            self.logf = None


# ---------------------------------------------------------------------------


class Bench:
    def __init__(self, a):
        self.a = a
        self.engine = bl.Engine(a.docker_host)
        self.name = f"bench-{os.getpid()}-invoke"
        self.daemon = None
        self.live = False
        self.haproxy_bin = None  # set by check_tools when there is a reference side
        self.haproxy = None
        self.sides = ["direct", "endpointd"]
        self.hop = {"endpointd": "daemon", "haproxy": "haproxy"}  # the process each side adds

    def check_tools(self):
        a = self.a
        if not os.access(a.wrk, os.X_OK):
            bl.die(f"{a.wrk} not found: apt-get install wrk (or pass --wrk)")
        if not os.path.exists(LUA):
            bl.die(f"{LUA} is missing")
        if a.reference_haproxy:
            if not os.access(a.reference_haproxy, os.X_OK):
                bl.die(f"{a.reference_haproxy} is not an executable; apt-get install haproxy "
                       f"(or pass --no-reference)")
            self.haproxy_bin = a.reference_haproxy
        elif not a.no_reference:
            if os.access(HAPROXY, os.X_OK):
                self.haproxy_bin = HAPROXY
            else:
                print(f"note: no {HAPROXY}, so no haproxy reference side "
                      f"(apt-get install haproxy, or --reference-haproxy PATH)")
        if not self.engine.ping():
            bl.die(f"no Docker Engine answers at {a.docker_host}")
        st, _ = self.engine.call("GET", f"/images/{a.image}/json")
        if st != 200:
            bl.die(f"image {a.image} is missing; build it with "
                   f"contrib/demo-model/build-image.sh --docker-host {a.docker_host}")

    def setup(self):
        a = self.a
        binary = a.endpointd or bl.default_endpointd()
        if not binary:
            bl.die("no endpointd binary; pass --endpointd PATH")
        self.daemon = bl.Daemon(binary, a.docker_host, a.image, log_level=a.log_level,
                                stamp_log=False, cpus=a.instance_cpus, memory=a.instance_memory,
                                keep=a.keep,
                                extra_config="container_dialer: none\n" if a.no_dialer else "")
        self.pid = self.daemon.proc.pid
        print(f"endpointd {binary} (pid {self.pid}) on {self.daemon.url}, log {self.daemon.log_path}")
        client = bl.Client(self.daemon.url)
        try:
            t0 = bl.now()
            client.create(self.name, bl.DEFAULT_CONFIG_NAME)
            self.live = True
            for _ in range(int(PHASE_TIMEOUT / 0.05) + 1):
                s, body = client.status(self.name)
                if s == "InService":
                    break
                if s in ("Failed", None):
                    raise RuntimeError(f"endpoint {self.name}: {s}: {body.get('FailureReason') or body}")
                if bl.now() - t0 > PHASE_TIMEOUT:
                    raise RuntimeError(f"endpoint {self.name} not InService within {PHASE_TIMEOUT:.0f} s")
                time.sleep(0.05)
            print(f"endpoint {self.name} InService after {bl.ms(bl.now() - t0):.0f} ms")
        finally:
            client.close()
        running = [c for c in self.engine.containers(f"{bl.LABEL_ENDPOINT}={self.name}")
                   if c.get("State") == "running"]
        if len(running) != 1:
            raise RuntimeError(f"expected 1 running container of {self.name}, found {len(running)}")
        self.cid = running[0]["Id"]
        self.cport = self.engine.host_port(self.cid)
        st, info = self.engine.call("GET", f"/containers/{self.cid}/json")
        if st != 200:
            raise RuntimeError(f"inspect {self.cid[:12]}: HTTP {st}: {info}")
        self.cpid = info["State"]["Pid"]
        self.chostname = info["Config"]["Hostname"]
        self.cip = (info.get("NetworkSettings") or {}).get("IPAddress", "")
        self.proxy_pid = find_docker_proxy(self.cport)
        self.dialer = self.wait_dialer()
        self.direct_url = f"http://127.0.0.1:{self.cport}/invocations"
        self.daemon_url = f"{self.daemon.url}/endpoints/{self.name}/invocations"
        self.urls = {"direct": self.direct_url, "endpointd": self.daemon_url}
        if self.haproxy_bin:
            self.haproxy = Haproxy(self.haproxy_bin, self.daemon.tmp)
            version = self.haproxy.version()
            self.haproxy.start(self.cport)
            self.urls["haproxy"] = f"http://127.0.0.1:{self.haproxy.port}/invocations"
            self.sides = ["direct", "haproxy", "endpointd"]
            print(f"{version}, pid {self.haproxy.proc.pid}, 1 thread, config "
                  f"{self.haproxy.cfg}: the reference hop")
        print(f"container {running[0]['Names'][0].lstrip('/')} ({self.cid[:12]}, pid {self.cpid}, "
              f"{self.cip or 'no IP'}), instance type {a.instance_cpus} cpus / {a.instance_memory}; "
              + (f"published by docker-proxy pid {self.proxy_pid}" if self.proxy_pid
                 else "no docker-proxy (the Engine forwards the port in the kernel)"))
        print("endpointd reaches the model server through "
              + ("endpointd-dialer: sockets made in the container, over its own loopback"
                 if self.dialer else "the published port (no endpointd-dialer runs in the container)"))
        for side in self.sides:
            print(f"  {side + ':':<10} {self.urls[side]}")

    def wait_dialer(self, timeout=5.0):
        """Whether endpointd-dialer runs in the container (the daemon starts
        it once the instance is healthy)."""
        deadline = bl.now() + timeout
        while True:
            st, top = self.engine.call("GET", f"/containers/{self.cid}/top")
            if st == 200 and any("/.endpointd/dialer" in " ".join(p) for p in top.get("Processes") or []):
                return True
            if self.a.no_dialer or bl.now() > deadline:
                return False
            time.sleep(0.05)

    def post(self, url, body, timeout=30.0, conn=None):
        """One POST; (status, headers dict, JSON body)."""
        u = urllib.parse.urlsplit(url)
        c = conn or http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        try:
            c.request("POST", u.path, body=body,
                      headers={"Content-Type": "application/octet-stream"})
            r = c.getresponse()
            raw = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            try:
                data = json.loads(raw)
            except ValueError:
                data = raw[:200]
            return r.status, hdrs, data
        finally:
            if conn is None:
                c.close()

    def sanity(self):
        """One POST on each side answers 200 with the body's sha256."""
        body = os.urandom(self.a.body_bytes)
        want = hashlib.sha256(body).hexdigest()
        for label in self.sides:
            st, hdrs, data = self.post(self.urls[label], body)
            if st != 200 or not isinstance(data, dict) or data.get("sha256") != want:
                raise RuntimeError(f"{label} POST: HTTP {st}: {data!r}")
            # Another engine on the same bridge can hand out the same IP, and
            # then the port may lead to someone else's container.
            if data.get("hostname") != self.chostname:
                raise RuntimeError(f"{label} POST was answered by host {data.get('hostname')!r}, "
                                   f"not by our container {self.chostname!r}: is another Docker "
                                   f"Engine using the same bridge and addresses?")
            if label == "endpointd" and hdrs.get("x-amzn-invoked-production-variant") != "AllTraffic":
                raise RuntimeError(f"endpointd POST: no x-Amzn-Invoked-Production-Variant: {hdrs}")
        print(f"sanity: one {self.a.body_bytes}-byte POST on each side ({', '.join(self.sides)}) "
              f"answered 200 with its sha256, from our container")

    # -- (1) wrk ------------------------------------------------------------

    def measure(self, side, connections, threads, duration):
        hop_pid = {"endpointd": self.pid,
                   "haproxy": self.haproxy.proc.pid if self.haproxy else None}.get(side)
        m = CpuMeter({"daemon": self.pid, "container": self.cpid, "proxy": self.proxy_pid,
                      "haproxy": self.haproxy.proc.pid if self.haproxy else None},
                     hop_pid, self.cpid)
        m.start()
        res = run_wrk(self.a, self.urls[side], connections, threads, duration)
        m.stop(res)
        return res

    def row(self, label, side, r):
        def per_req(x):
            return f"{x / r['requests'] * 1e6:6.1f}" if x is not None and r["requests"] else f"{'-':>6}"
        cpu = r["cpu"]
        hop = self.hop.get(side)
        return (f"{label:>6} {side:<10} {r['rps']:9.0f} {r['p50']:7.3f} {r['p99']:8.3f} "
                f"{r['lat_us']['max'] / 1000:8.2f} {r['non2xx']:6d} {r['errs']:5d} "
                f"{per_req(cpu.get(hop)) if hop else f'{chr(45):>6}'} "
                f"{per_req(cpu.get('container'))} {per_req(cpu.get('proxy'))} "
                f"{per_req(cpu.get('wrk'))} "
                f"{per_req(r['rq_wait']) if hop else f'{chr(45):>6}'} "
                f"{r['host_busy'] * 100:4.0f}% "
                f"{r['new_conns'] if r['new_conns'] is not None else '-':>6} "
                + (f"{r['in_segs'] / r['requests']:5.2f}" if r["in_segs"] is not None and r["requests"]
                   else f"{'-':>5}"))

    HEADER = (f"{'':>6} {'':<10} {'':>9} {'':>7} {'':>8} {'':>8} {'':>6} {'sock':>5} "
              f"{'---- CPU us per request ----':^27} {'hop':>6} {'host':>5} "
              f"{'-- container --':>12}\n"
              f"{'run':>6} {'side':<10} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>8} {'max ms':>8} "
              f"{'non2xx':>6} {'errs':>5} {'hop':>6} {'contnr':>6} {'dproxy':>6} {'wrk':>6} "
              f"{'rqwait':>6} {'busy':>5} {'conns':>6} {'segs':>5}")

    def header(self):
        hops = " or ".join(f"{'the daemon' if p == 'daemon' else p} for {s}"
                           for s, p in self.hop.items() if s in self.sides)
        return f"(hop: the process the side adds, {hops}; none for direct)\n{self.HEADER}"

    def throughput(self):
        a = self.a
        sides = self.sides
        print(f"\n== throughput and latency: wrk -t{a.threads} -c{a.connections} -d{a.duration}s, "
              f"{a.body_bytes}-byte POSTs, {a.runs} runs each side, alternating ==")
        if a.warmup:
            for side in sides:
                r = self.measure(side, a.connections, a.threads, a.warmup)
                print(f"warm-up {side}: {r['rps']:.0f} req/s")
        print(self.header())
        rows = {s: [] for s in sides}
        for i in range(a.runs):
            for side in sides:
                r = self.measure(side, a.connections, a.threads, a.duration)
                rows[side].append(r)
                print(self.row(str(i + 1), side, r), flush=True)
        d, e = rows["direct"], rows["endpointd"]
        med = {s: {k: statistics.median(r[k] for r in rows[s]) for k in ("rps", "p50", "p99")}
               for s in rows}
        for s in sides:
            print(f"median {s:<10} {med[s]['rps']:10.0f} req/s   p50 {med[s]['p50']:.3f} ms   "
                  f"p99 {med[s]['p99']:.3f} ms")

        def ratio_of(num, den):
            """Ratio of the medians of two sides, and of each run's pair."""
            per_run = " ".join(f"{n['rps'] / m['rps']:.3f}" for n, m in zip(rows[num], rows[den]))
            return med[num]["rps"] / med[den]["rps"], per_run

        ratio, per_run = ratio_of("endpointd", "direct")
        added = med["endpointd"]["p50"] - med["direct"]["p50"]
        added99 = med["endpointd"]["p99"] - med["direct"]["p99"]
        v1 = "meets" if ratio >= TARGET_RATIO else "MISSES"
        v2 = "meets" if added <= TARGET_ADDED_P50 else "MISSES"
        print(f"throughput ratio endpointd/direct of the medians: {ratio:.3f}  "
              f"(per run {per_run}; target >= {TARGET_RATIO}: {v1})")
        print(f"p50 added by endpointd: {added:+.3f} ms  (target <= {TARGET_ADDED_P50} ms: {v2});  "
              f"p99 added: {added99:+.3f} ms")
        if "haproxy" in rows:
            hr, hr_runs = ratio_of("haproxy", "direct")
            eh, eh_runs = ratio_of("endpointd", "haproxy")
            print(f"reference, not a target: haproxy with one thread shows what one dedicated proxy "
                  f"hop costs on this host")
            print(f"  throughput ratio haproxy/direct of the medians: {hr:.3f}  (per run {hr_runs})")
            print(f"  throughput ratio endpointd/haproxy of the medians: {eh:.3f}  (per run {eh_runs})")
            print(f"  p50 added by haproxy: {med['haproxy']['p50'] - med['direct']['p50']:+.3f} ms;  "
                  f"p99 added: {med['haproxy']['p99'] - med['direct']['p99']:+.3f} ms")
        bad = sum(r["non2xx"] + r["errs"] for s in rows for r in rows[s])
        print(f"non-2xx responses: "
              + ", ".join(f"{s} {sum(r['non2xx'] for r in rows[s])}" for s in sides)
              + "; socket errors: "
              + ", ".join(f"{s} {sum(r['errs'] for r in rows[s])}" for s in sides)
              + f"  ({'ok' if bad == 0 else 'NOT ZERO'})")

        def total_cpu(r, parts):
            v = [r["cpu"].get(k) for k in parts]
            return None if None in v or not r["requests"] else sum(v) / r["requests"] * 1e6
        tot = {}
        for s in sides:
            parts = ("container", "proxy", "wrk") + ((self.hop[s],) if s in self.hop else ())
            v = [x for x in (total_cpu(r, parts) for r in rows[s]) if x is not None]
            if v:
                tot[s] = statistics.median(v)
        if len(tot) == len(sides):
            ceil = f"at most {tot['direct'] / tot['endpointd']:.2f}"
            if "haproxy" in tot:
                ceil += f" (haproxy/direct: {tot['direct'] / tot['haproxy']:.2f})"
            print(f"CPU per request, all parties: "
                  + ", ".join(f"{s} {tot[s]:.1f} us" for s in sides)
                  + f". Where the CPUs are the limit, the ratio endpointd/direct can reach {ceil}")
        for s in sides:
            if s not in self.hop:
                continue
            who = self.hop[s]
            cpu = [r["cpu"][self.hop[s]] / r["requests"] * 1e6 for r in rows[s]
                   if r["requests"] and r["cpu"].get(self.hop[s]) is not None]
            if not cpu:
                continue
            util = statistics.median(r["cpu"][self.hop[s]] / (r["duration_us"] / 1e6)
                                     for r in rows[s] if r["cpu"].get(self.hop[s]) is not None)
            waits = [r["rq_wait"] / (r["duration_us"] / 1e6) for r in rows[s]
                     if r["rq_wait"] is not None]
            wait = f", and runnable but waiting for a CPU {statistics.median(waits) * 100:.0f}% of the time" \
                if waits else ""
            thread = "its event loop thread" if s == "endpointd" else "its one thread"
            print(f"{who}: {statistics.median(cpu):.1f} us CPU per request; {thread} "
                  f"ran {util * 100:.0f}% of the time{wait}.")
        print(f"The host has {os.cpu_count()} CPUs.")
        return {"ratio": ratio, "added": added, "bad": bad}

    def single(self):
        a = self.a
        print(f"\n== single connection: wrk -t1 -c1 -d{a.duration}s (no queueing) ==")
        print(self.header())
        out = {}
        for side in self.sides:
            r = self.measure(side, 1, 1, a.duration)
            out[side] = r
            print(self.row("c1", side, r), flush=True)

        def added(side):
            d, s = out["direct"], out[side]
            return (s["p50"] - d["p50"], (s["lat_us"]["mean"] - d["lat_us"]["mean"]) / 1000,
                    s["p99"] - d["p99"])
        p50, mean, p99 = added("endpointd")
        print(f"added by endpointd at one connection: p50 {p50:+.3f} ms, mean {mean:+.3f} ms, "
              f"p99 {p99:+.3f} ms  "
              f"(target <= {TARGET_ADDED_P50} ms: {'meets' if p50 <= TARGET_ADDED_P50 else 'MISSES'})")
        if "haproxy" in out:
            p50, mean, p99 = added("haproxy")
            print(f"added by haproxy at one connection: p50 {p50:+.3f} ms, mean {mean:+.3f} ms, "
                  f"p99 {p99:+.3f} ms  (reference, not a target)")
        return out

    def perf(self):
        a = self.a
        perf = shutil.which("perf")
        if not perf:
            print("\nperf not found; skipping --perf")
            return
        data = os.path.join(self.daemon.tmp, "perf.data")
        print(f"\n== perf record -g -p {self.pid} for {a.perf} s during an endpointd run ==")
        rec = subprocess.Popen([perf, "record", "-q", "-g", "-o", data, "-p", str(self.pid),
                                "--", "sleep", str(a.perf)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(0.2)
        r = run_wrk(a, self.daemon_url, a.connections, a.threads, a.perf + 1)
        try:
            _, err = rec.communicate(timeout=a.perf + 30)
        except subprocess.TimeoutExpired:
            rec.kill()
            _, err = rec.communicate()
        print(f"(that run: {r['rps']:.0f} req/s, p50 {r['p50']:.3f} ms)")
        if rec.returncode != 0 or not os.path.exists(data):
            print(f"perf record failed: {err.strip()[-500:]}")
            return
        for sort, limit, n in (("dso", "0.5", 12), ("dso,sym", "1", 25)):
            rep = subprocess.run([perf, "report", "-i", data, "--stdio", "--no-children",
                                  "--sort", sort, "--percent-limit", limit, "-g", "none"],
                                 capture_output=True, text=True, timeout=120)
            lines = [ln for ln in rep.stdout.splitlines() if ln.strip() and not ln.startswith("#")]
            print(f"-- by {sort} (self time, >= {limit}%):")
            print("\n".join(lines[:n]) or rep.stderr.strip()[-500:])

    # -- (2) memory ---------------------------------------------------------

    def memory(self):
        a = self.a
        n, k = a.rss_clients, a.rss_requests
        print(f"\n== daemon memory: {n} clients x {k} POSTs of {mib(BIG_BODY):.0f} MiB, "
              f"each client on its own connection ==")
        body = os.urandom(BIG_BODY)
        want = hashlib.sha256(body).hexdigest()
        before = proc_status(self.pid)
        print(f"before: VmRSS {mib(before['VmRSS']):7.1f} MiB   VmHWM {mib(before['VmHWM']):7.1f} MiB")
        samples = []
        stop = threading.Event()

        def sampler():
            for _ in range(int(10 * PHASE_TIMEOUT / 0.005)):
                if stop.is_set():
                    return
                try:
                    samples.append((bl.now(), proc_status(self.pid)["VmRSS"]))
                except OSError:
                    return
                time.sleep(0.005)

        barrier = threading.Barrier(n)
        results = [None] * n  # (ok, failed, first error)
        lock = threading.Lock()

        def client(i):
            ok, bad, err = 0, 0, None
            u = urllib.parse.urlsplit(self.daemon_url)
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=PHASE_TIMEOUT)
            try:
                c.connect()
                c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                barrier.wait(timeout=PHASE_TIMEOUT)
                for _ in range(k):
                    st, _, data = self.post(self.daemon_url, body, conn=c)
                    if st == 200 and isinstance(data, dict) and data.get("sha256") == want:
                        ok += 1
                    else:
                        bad += 1
                        err = err or f"HTTP {st}: {data!r}"[:300]
            except Exception as e:  # noqa: BLE001
                bad += 1
                err = err or repr(e)
            finally:
                c.close()
            with lock:
                results[i] = (ok, bad, err)

        t = threading.Thread(target=sampler, daemon=True)
        t.start()
        t0 = bl.now()
        ths = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(max(1.0, 5 * PHASE_TIMEOUT - (bl.now() - t0)))
        elapsed = bl.now() - t0
        time.sleep(0.05)
        stop.set()
        t.join(5)
        after = proc_status(self.pid)
        time.sleep(1.0)
        settled = proc_status(self.pid)
        ok = sum(r[0] for r in results if r)
        bad = sum(r[1] for r in results if r) + sum(1 for r in results if r is None)
        errs = [r[2] for r in results if r and r[2]]
        peak_sampled = max((v for _, v in samples), default=0)
        t_peak = next((ts - t0 for ts, v in samples if v == peak_sampled), 0.0)
        print(f"{ok} POSTs answered 200 with the right sha256, {bad} failed, in {elapsed:.2f} s "
              f"({ok * mib(BIG_BODY) / elapsed:.0f} MiB/s)")
        if errs:
            print(f"  first error: {errs[0]}")
        print(f"peak:   VmRSS {mib(peak_sampled):7.1f} MiB sampled (at +{t_peak:.2f} s, "
              f"{len(samples)} samples)   VmHWM {mib(after['VmHWM']):7.1f} MiB")
        print(f"after:  VmRSS {mib(after['VmRSS']):7.1f} MiB at once, {mib(settled['VmRSS']):7.1f} MiB 1 s later")
        grew = after["VmHWM"] - before["VmRSS"]
        per_copy = n * BIG_BODY
        print(f"growth over idle: {mib(grew):.1f} MiB = {grew / BIG_BODY:.1f} bodies of 6 MiB")
        print(f"bound: {n} in flight x 6 MiB x 1 copy = {mib(per_copy):.0f} MiB (each body once, as "
              f"httpd read it and the daemon sends it on; the answer takes the place of the request "
              f"as the call ends)")
        print(f"measured: {grew / per_copy:.2f} copies per body in flight, if all {n} were in flight "
              f"at once")
        return {"ok": ok, "bad": bad, "peak": after["VmHWM"], "idle": before["VmRSS"]}

    # -- the whole thing ----------------------------------------------------

    def run(self):
        a = self.a
        self.check_tools()
        print(f"Docker Engine {a.docker_host}, image {a.image}, host {os.cpu_count()} CPUs, "
              f"load {open('/proc/loadavg').read().split()[0]}")
        self.setup()
        self.sanity()
        idle = proc_status(self.pid)
        print(f"daemon idle: VmRSS {mib(idle['VmRSS']):.1f} MiB, VmHWM {mib(idle['VmHWM']):.1f} MiB")
        self.throughput()
        self.single()
        if a.perf:
            self.perf()
        if a.rss_clients:
            self.memory()
        return 0

    def cleanup(self):
        if self.haproxy:
            self.haproxy.stop()
        if self.daemon and self.live:
            c = bl.Client(self.daemon.url)
            try:
                left = bl.delete_and_wait(c, self.engine, [self.name], timeout=60)
                if left:
                    print(f"warning: not deleted in time: {' '.join(left)}", file=sys.stderr)
                else:
                    self.live = False
            except Exception as e:  # noqa: BLE001
                print(f"warning: deleting {self.name}: {e}", file=sys.stderr)
            finally:
                c.close()
        if self.daemon:
            self.daemon.stop()
            try:  # last resort: nothing of ours may outlive the benchmark
                k = self.engine.remove_labelled(f"{bl.LABEL_ENDPOINT}={self.name}")
                if k:
                    print(f"warning: removed {k} leftover container(s) of {self.name}", file=sys.stderr)
            except Exception as e:  # noqa: BLE001
                print(f"warning: {e}", file=sys.stderr)
            if self.daemon.keep:
                print(f"kept {self.daemon.tmp}", file=sys.stderr)
            self.daemon.cleanup()


def main():
    a = parse_args()
    b = Bench(a)
    try:
        return b.run()
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    except (RuntimeError, bl.ApiError, OSError, subprocess.TimeoutExpired, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        if b.daemon:
            b.daemon.keep = True
            print(f"daemon log kept: {b.daemon.log_path}", file=sys.stderr)
        if b.haproxy:
            print(f"haproxy log kept: {b.haproxy.log_path}", file=sys.stderr)
        return 1
    finally:
        b.cleanup()


if __name__ == "__main__":
    sys.exit(main())
