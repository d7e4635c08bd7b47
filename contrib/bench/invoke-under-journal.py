#!/usr/bin/python3
"""invoke-under-journal: does InvokeEndpoint wait behind the journal's fsync?

Starts its own endpointd with one InService endpoint of the demo model, then
alternates two phases of --duration seconds each (--rounds times):

  quiet  --invokers threads POST --body-bytes bytes to
         /endpoints/NAME/invocations in a loop, each over its own keep-alive
         connection, and record every call's latency;
  churn  the same, while --churn-rate pairs per second of CreateEndpoint +
         DeleteEndpoint are made (open loop: one every 1/rate s, spread over
         --churners threads).  Each of those answers only once its record is
         fdatasync'ed, and the daemon journals the endpoint's removal too.

The churned endpoints use a model whose image cannot be pulled
(127.0.0.1:1/…), so no container is ever created for them: what they add is
the API and the journal, not the Engine.  Prints count, p50, p90, p99 and max
of the invocations of each phase, and the ratios churn / quiet of the median
and the p99.  Where the daemon syncs on its event loop, every invocation that
arrives during a sync waits for it, and the churn p99 grows by about one
fdatasync.

The state directory must be on a real disk, not tmpfs, or fdatasync costs
nothing: it is made under --state-parent (default $TMPDIR or /tmp), and the
script prints the filesystem and device it is on.

Run by hand, never from the test suite:
  sudo /usr/bin/python3 contrib/bench/invoke-under-journal.py \\
      --docker-host unix:///var/run/docker.sock --endpointd build/daemon/endpointd
"""

import argparse
import http.client
import os
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

CHURN_CONFIG = "churn-config"
CHURN_IMAGE = "127.0.0.1:1/endpointd-bench-absent:never"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=20.0, help="seconds per phase (default 20)")
    p.add_argument("--rounds", type=int, default=1, help="quiet + churn pairs (default 1)")
    p.add_argument("--warmup", type=float, default=2.0, help="uncounted seconds of invokes first (default 2)")
    p.add_argument("--invokers", type=int, default=2, help="invoking threads (default 2)")
    p.add_argument("--body-bytes", type=int, default=512, help="body of each invocation (default 512)")
    p.add_argument("--churn-rate", type=float, default=20.0,
                   help="CreateEndpoint + DeleteEndpoint pairs per second in churn (default 20)")
    p.add_argument("--churners", type=int, default=8,
                   help="threads making the churn calls (default 8)")
    p.add_argument("--docker-host", default=bl.default_docker_host(),
                   help="unix:///path of the Docker Engine (default $DOCKER_HOST or /var/run/docker.sock)")
    p.add_argument("--endpointd", default=None,
                   help="daemon binary (default $ENDPOINTD, ./daemon/endpointd, then PATH)")
    p.add_argument("--image", default=bl.DEFAULT_IMAGE, help="model image (default %(default)s)")
    p.add_argument("--state-parent", default=None,
                   help="directory to make the daemon's temporary directory in (default $TMPDIR or /tmp)")
    p.add_argument("--timeout", type=float, default=120.0, help="bound of every wait (default 120)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory and daemon log")
    a = p.parse_args()
    if not 1.0 <= a.duration <= 600.0:
        bl.die("--duration must be 1..600")
    if not 1 <= a.rounds <= 10 or not 1 <= a.invokers <= 32 or not 1 <= a.churners <= 64:
        bl.die("--rounds 1..10, --invokers 1..32, --churners 1..64")
    if not 0.1 <= a.churn_rate <= 500.0:
        bl.die("--churn-rate must be 0.1..500")
    a.endpointd = a.endpointd or bl.default_endpointd()
    if not a.endpointd:
        bl.die("no endpointd binary: pass --endpointd")
    return a


def filesystem_of(path):
    """(mount point, type, device) of the filesystem holding path."""
    path = os.path.realpath(path)
    best = ("/", "?", "?")
    with open("/proc/mounts") as f:
        for line in f:
            dev, mnt, fstype = line.split()[:3]
            mnt = mnt.replace("\\040", " ")
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best[0]):
                best = (mnt, fstype, dev)
    return best


class Invoker(threading.Thread):
    """POSTs to the endpoint in a loop over one keep-alive connection, and
    files each latency under the phase that was current when it began."""

    def __init__(self, bench, body):
        super().__init__(daemon=True)
        self.bench = bench
        self.body = body
        self.conn = None
        self.errors = 0

    def _post(self):
        b = self.bench
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", b.daemon.port, timeout=30.0)
            self.conn.connect()
            self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn.request("POST", b.invoke_path, body=self.body,
                          headers={"Content-Type": "application/octet-stream"})
        r = self.conn.getresponse()
        r.read()
        if r.will_close:
            self.conn.close()
            self.conn = None
        return r.status

    def run(self):
        b = self.bench
        deadline = bl.now() + b.max_seconds
        while not b.stop.is_set() and bl.now() < deadline:
            phase = b.phase
            t = bl.now()
            try:
                st = self._post()
            except (OSError, http.client.HTTPException):
                if self.conn:
                    self.conn.close()
                self.conn = None
                st = 0
            took = bl.now() - t
            with b.lock:
                if st != 200:
                    self.errors += 1
                elif phase and phase == b.phase:
                    b.latencies[phase].append(took)
        if self.conn:
            self.conn.close()


class Bench:
    def __init__(self, a):
        self.a = a
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.phase = None  # "quiet", "churn" or None (not counted)
        self.latencies = {"quiet": [], "churn": []}
        self.churn_lat = []  # (create, delete) seconds
        self.churn_errors = []
        self.churn_names = []
        self.max_seconds = a.warmup + 2 * a.rounds * a.duration + a.timeout
        self.daemon = None
        self.invoke_name = None

    def start_daemon(self):
        a = self.a
        # A second model, whose image the Engine cannot pull, for the churn.
        bl.CONFIG_TEMPLATE = bl.CONFIG_TEMPLATE.replace(
            "EndpointConfigs:\n",
            f'  - ModelName: bench-absent\n    PrimaryContainer: {{{{ Image: "{CHURN_IMAGE}" }}}}\n'
            "EndpointConfigs:\n")
        extra = (f"  - EndpointConfigName: {CHURN_CONFIG}\n"
                 "    ProductionVariants:\n"
                 "      - { VariantName: AllTraffic, ModelName: bench-absent, InitialInstanceCount: 1,"
                 " InstanceType: ml.t2.medium }\n")
        if a.state_parent:
            os.environ["TMPDIR"] = a.state_parent
        self.daemon = bl.Daemon(a.endpointd, a.docker_host, a.image, log_level="info",
                                stamp_log=False, cpus="1", memory="512MiB", max_endpoints=1000,
                                keep=a.keep, extra_config=extra)

    def churn_one(self, client, i):
        name = f"bench-{os.getpid()}-churn-{i}"
        with self.lock:
            self.churn_names.append(name)
        t0 = bl.now()
        client.create(name, CHURN_CONFIG)
        t1 = bl.now()
        client.delete(name)
        t2 = bl.now()
        with self.lock:
            self.churn_lat.append((t1 - t0, t2 - t1))

    def churn(self, seconds):
        """--churn-rate create + delete pairs per second for seconds, open loop:
        pair k starts at k / rate, on whichever churner is free."""
        a = self.a
        n = int(seconds * a.churn_rate)
        start = bl.now()
        next_k = [0]
        klock = threading.Lock()

        def worker():
            c = bl.Client(self.daemon.url, timeout=30.0)
            try:
                while True:
                    with klock:
                        k = next_k[0]
                        next_k[0] += 1
                    if k >= n:
                        return
                    delay = start + k / a.churn_rate - bl.now()
                    if delay > 0:
                        time.sleep(delay)
                    try:
                        self.churn_one(c, k)
                    except (bl.ApiError, OSError) as e:
                        with self.lock:
                            self.churn_errors.append(str(e))
            finally:
                c.close()

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.churners)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + a.timeout)
        return n, bl.now() - start

    def run(self):
        a = self.a
        c = bl.Client(self.daemon.url, timeout=30.0)
        name = f"bench-{os.getpid()}-invoke"
        self.invoke_name = name
        self.invoke_path = f"/endpoints/{name}/invocations"
        c.create(name, bl.DEFAULT_CONFIG_NAME)
        deadline = bl.now() + a.timeout
        while True:
            s, b = c.status(name)
            if s == "InService":
                break
            if s == "Failed" or bl.now() > deadline:
                bl.die(f"endpoint {name} did not come InService ({s}): {b.get('FailureReason', '')}")
            time.sleep(0.05)
        c.close()

        mnt, fstype, dev = filesystem_of(os.path.join(self.daemon.tmp, "state"))
        print(f"state dir {os.path.join(self.daemon.tmp, 'state')}: {fstype} on {dev} (mounted at {mnt})"
              + ("  WARNING: tmpfs, fdatasync costs nothing here" if fstype == "tmpfs" else ""))
        print(f"endpointd {a.endpointd}; {a.invokers} invokers, {a.body_bytes}-byte bodies;"
              f" churn {a.churn_rate:g} create+delete pairs/s; {a.duration:g} s per phase")

        body = bytes((i * 7 + 13) % 251 for i in range(a.body_bytes))
        invokers = [Invoker(self, body) for _ in range(a.invokers)]
        for t in invokers:
            t.start()
        time.sleep(a.warmup)
        churn_done, churn_took = 0, 0.0
        for _ in range(a.rounds):
            self.phase = "quiet"
            time.sleep(a.duration)
            self.phase = "churn"
            n, took = self.churn(a.duration)
            churn_done += n
            churn_took += took
        self.phase = None
        self.stop.set()
        for t in invokers:
            t.join(a.timeout)
        self.report(churn_done, churn_took, sum(t.errors for t in invokers))

    def report(self, churn_done, churn_took, invoke_errors):
        def row(label, lat):
            if not lat:
                return f"  {label:6s}: no calls", float("nan"), float("nan")
            p50, p99 = bl.ms(bl.percentile(lat, 50)), bl.ms(bl.percentile(lat, 99))
            return (f"  {label:6s}: {len(lat):7d} calls, p50 {p50:7.2f}  p90 "
                    f"{bl.ms(bl.percentile(lat, 90)):7.2f}  p99 {p99:7.2f}  max "
                    f"{bl.ms(max(lat)):7.2f} ms"), p50, p99

        print("InvokeEndpoint latency:")
        qline, q50, q99 = row("quiet", self.latencies["quiet"])
        cline, c50, c99 = row("churn", self.latencies["churn"])
        print(qline)
        print(cline)
        print(f"  ratio churn / quiet: p50 {c50 / q50:.2f}, p99 {c99 / q99:.2f}")
        if invoke_errors:
            print(f"  {invoke_errors} invocations did not answer 200")
        creates = [x[0] for x in self.churn_lat]
        deletes = [x[1] for x in self.churn_lat]
        if creates:
            print(f"churn: {len(creates)} of {churn_done} pairs in {churn_took:.1f} s"
                  f" ({len(creates) / churn_took:.1f}/s); CreateEndpoint p50"
                  f" {bl.ms(bl.percentile(creates, 50)):.2f} p99 {bl.ms(bl.percentile(creates, 99)):.2f} ms,"
                  f" DeleteEndpoint p50 {bl.ms(bl.percentile(deletes, 50)):.2f}"
                  f" p99 {bl.ms(bl.percentile(deletes, 99)):.2f} ms")
        if self.churn_errors:
            print(f"churn: {len(self.churn_errors)} errors, first: {self.churn_errors[0]}")

    def cleanup(self):
        if not self.daemon:
            return
        engine = bl.Engine(self.a.docker_host)
        c = bl.Client(self.daemon.url, timeout=30.0)
        names = [self.invoke_name] if self.invoke_name else []
        try:
            for n in self.churn_names:
                try:
                    if c.status(n)[0] is not None:
                        names.append(n)
                except (bl.ApiError, OSError):
                    pass
            left = bl.delete_and_wait(c, engine, names, timeout=self.a.timeout)
            if left:
                print(f"warning: not deleted in time: {', '.join(left)}", file=sys.stderr)
        except (bl.ApiError, OSError) as e:
            print(f"warning: cleanup: {e}", file=sys.stderr)
        finally:
            c.close()
            self.daemon.stop()
            for n in names:
                try:
                    engine.remove_labelled(f"{bl.LABEL_ENDPOINT}={n}")
                except (RuntimeError, OSError) as e:
                    print(f"warning: {e}", file=sys.stderr)
            if self.a.keep:
                print(f"kept {self.daemon.tmp}")
            self.daemon.cleanup()


def main():
    a = parse_args()
    if not bl.Engine(a.docker_host).ping():
        bl.die(f"no Docker Engine answers at {a.docker_host}")
    b = Bench(a)
    try:
        b.start_daemon()
        b.run()
    finally:
        b.stop.set()
        b.cleanup()


if __name__ == "__main__":
    main()
