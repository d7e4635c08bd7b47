#!/usr/bin/python3
"""Durability costs: CreateEndpoint calls per second with fsync on, and
start-up recovery time with many endpoints in the journal.

No Docker Engine is involved (the daemon is pointed at a socket that does not
exist), so the figures are those of the API and the journal alone: every
CreateEndpoint answers only after its record is fdatasync'ed, and the
endpoints stay Creating, which is what a restart must then restore.

  1. CreateEndpoint rate from 1 client, then from 32 concurrent clients, each
     on its own keep-alive connection (medians of per-call latency too);
  2. the daemon is stopped (SIGTERM) and started again --runs times on the
     same state directory: the time from exec to the first ListEndpoints
     answer (the whole recovery, as a user sees it), and the restore time the
     daemon logs.  Target: under 250 ms with 1,000 endpoints.

Usage: recovery.py [--endpointd PATH] [--endpoints 1000] [--runs 7]
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

CONFIG = """\
listen: ["127.0.0.1:{port}"]
state_dir: {state}
docker: {{ socket: {tmp}/no-engine.sock }}
instance_types:
  ml.t2.medium: {{ cpus: 0.5, memory: 256MiB }}
limits: {{ max_endpoints: {n}, max_instances: {n} }}
Models:
  - ModelName: bench-demo
    PrimaryContainer: {{ Image: "endpointd-demo-model:latest" }}
EndpointConfigs:
  - EndpointConfigName: demo-config
    ProductionVariants:
      - {{ VariantName: AllTraffic, ModelName: bench-demo, InitialInstanceCount: 1, InstanceType: ml.t2.medium }}
"""


def start(binary, cfg, log):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "DOCKER_HOST")}
    t0 = time.perf_counter()
    proc = subprocess.Popen([binary, "--config", cfg, "--log-level", "info"],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
    return proc, t0


def wait_ready(url, proc, t0, timeout=30.0):
    """Seconds from exec until ListEndpoints answers."""
    c = benchlib.Client(url, timeout=2.0)
    try:
        while time.perf_counter() - t0 < timeout:
            if proc.poll() is not None:
                benchlib.die("endpointd exited during start-up")
            try:
                st, _ = c.call("ListEndpoints", {})
                if st == 200:
                    return time.perf_counter() - t0
            except (benchlib.ApiError, OSError):
                pass
            time.sleep(0.001)
    finally:
        c.close()
    benchlib.die("endpointd did not come up")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def create_many(url, names, clients):
    """Create names from `clients` threads; returns (seconds, latencies)."""
    lat, lock, errors = [], threading.Lock(), []
    chunks = [names[i::clients] for i in range(clients)]
    barrier = threading.Barrier(clients + 1)

    def worker(chunk):
        c = benchlib.Client(url, timeout=30.0)
        mine = []
        barrier.wait()
        for n in chunk:
            t = time.perf_counter()
            try:
                c.create(n, "demo-config")
            except (benchlib.ApiError, OSError) as e:
                errors.append(str(e))
                break
            mine.append(time.perf_counter() - t)
        c.close()
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=worker, args=(ch,)) for ch in chunks]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join(300)
    took = time.perf_counter() - t0
    if errors:
        benchlib.die(f"CreateEndpoint failed: {errors[0]}")
    return took, lat


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpointd", default=benchlib.default_endpointd())
    ap.add_argument("--endpoints", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the state directory")
    a = ap.parse_args()
    if not a.endpointd:
        benchlib.die("no endpointd binary: pass --endpointd")
    n1 = min(300, a.endpoints // 3)
    tmp = tempfile.mkdtemp(prefix="endpointd-recovery.")
    try:
        binary = os.path.join(tmp, "endpointd")
        shutil.copy2(a.endpointd, binary)
        state = os.path.join(tmp, "state")
        os.mkdir(state)
        port = benchlib.free_port()
        url = f"http://127.0.0.1:{port}"
        cfg = os.path.join(tmp, "endpointd.yaml")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(port=port, state=state, tmp=tmp, n=a.endpoints))
        log = open(os.path.join(tmp, "endpointd.log"), "ab")

        proc, t0 = start(binary, cfg, log)
        wait_ready(url, proc, t0)
        names = [f"bench-{i:05d}" for i in range(a.endpoints)]
        took1, lat1 = create_many(url, names[:n1], 1)
        took32, lat32 = create_many(url, names[n1:], 32)
        stop(proc)
        print(f"CreateEndpoint, fsync on, no Engine ({os.uname().nodename}):")
        print(f"   1 client : {len(lat1):5d} calls in {took1:6.2f} s = {len(lat1) / took1:7.0f}/s,"
              f" p50 {benchlib.ms(statistics.median(lat1)):.2f} ms")
        print(f"  32 clients: {len(lat32):5d} calls in {took32:6.2f} s = {len(lat32) / took32:7.0f}/s,"
              f" p50 {benchlib.ms(statistics.median(lat32)):.2f} ms")

        ready, restore = [], []
        for run in range(a.runs + 1):
            mark = log.tell()
            proc, t0 = start(binary, cfg, log)
            r = wait_ready(url, proc, t0)
            stop(proc)
            log.flush()
            with open(log.name, "rb") as f:
                f.seek(mark)
                text = f.read().decode(errors="replace")
            logged = None
            for line in text.splitlines():
                if "records restored" in line:
                    logged = float(line.split(" in ")[1].split(" ms")[0])
            if run == 0:
                continue  # warm-up: page cache
            ready.append(r)
            if logged is not None:
                restore.append(logged)
            print(f"  restart {run}: ready after {benchlib.ms(r):7.1f} ms"
                  f" (restore logged {logged} ms)")
        print(f"recovery with {a.endpoints} endpoints in the journal, median of {a.runs}:"
              f" ready {benchlib.ms(statistics.median(ready)):.1f} ms,"
              f" restore {statistics.median(restore) if restore else float('nan'):.1f} ms"
              f" (target < 250 ms)")
        print(f"state dir: {sum(os.path.getsize(os.path.join(state, f)) for f in os.listdir(state))}"
              f" bytes ({', '.join(sorted(os.listdir(state)))})")
    finally:
        if a.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
