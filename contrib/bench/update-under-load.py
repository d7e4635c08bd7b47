#!/usr/bin/python3
"""update-under-load: how many invocations fail while UpdateEndpoint rolls a
new model out, for each deployment policy and for a rollback, and how long
an all-at-once update takes next to CreateEndpoint of the same config.

Part 1, failed calls (target: 0).  For each scenario an endpoint of 2
instances of model v1 goes InService; 8 client threads then invoke it at
200 calls/s together (each paced to 25 calls/s, a new call only when its
last one returned), for 2 s before UpdateEndpoint and until 2 s after the
endpoint is InService again.  Scenarios:
  all-at-once   no DeploymentConfig (blue/green, all traffic at once)
  canary        CANARY, 1 instance of 2, WaitIntervalInSeconds 2
  linear        LINEAR, 50% steps, WaitIntervalInSeconds 1
  rolling       RollingUpdatePolicy, batches of 1, WaitIntervalInSeconds 1
  rollback      blue/green to a model that exits at start: rolls back
Every non-200 answer counts as failed, and so does a connection error.

Part 2, time to all traffic on the new fleet (target: ratio <= 1.2).  Each
of --runs runs times CreateEndpoint of config v2 to InService, and
UpdateEndpoint of another endpoint from v1 to v2 (no DeploymentConfig) to
the first DescribeEndpoint whose EndpointConfigName is v2 (the new fleet
takes all calls then), both polled every 5 ms.  Medians and their ratio.

Run by hand, never from the test suite:
  sudo /usr/bin/python3 contrib/bench/update-under-load.py \\
      --docker-host unix:///var/run/docker.sock
"""

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

TARGET_RATIO = 1.2
PHASE_TIMEOUT = 120.0
THREADS = 8
RATE = 200.0  # calls per second, all threads together

EXTRA_YAML = """\
Models:
  - ModelName: bench-v1
    PrimaryContainer: {{ Image: "{image}", Environment: {{ DEMO_VARIANT: v1 }} }}
  - ModelName: bench-v2
    PrimaryContainer: {{ Image: "{image}", Environment: {{ DEMO_VARIANT: v2 }} }}
  - ModelName: bench-exit
    PrimaryContainer:
      Image: "{image}"
      Environment: {{ DEMO_START_DELAY_MS: "60000", DEMO_EXIT_AFTER_MS: "300", DEMO_EXIT_CODE: "3" }}
EndpointConfigs:
  - EndpointConfigName: bench-v1
    ProductionVariants:
      - {{ VariantName: AllTraffic, ModelName: bench-v1, InitialInstanceCount: 2, InstanceType: ml.t2.medium }}
  - EndpointConfigName: bench-v2
    ProductionVariants:
      - {{ VariantName: AllTraffic, ModelName: bench-v2, InitialInstanceCount: 2, InstanceType: ml.t2.medium }}
  - EndpointConfigName: bench-exit
    ProductionVariants:
      - {{ VariantName: AllTraffic, ModelName: bench-exit, InitialInstanceCount: 2, InstanceType: ml.t2.medium }}
"""

SCENARIOS = [
    ("all-at-once", "bench-v2", None),
    ("canary", "bench-v2", {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "CANARY", "WaitIntervalInSeconds": 2, "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}}}}),
    ("linear", "bench-v2", {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "LINEAR", "WaitIntervalInSeconds": 1, "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 50}}}}),
    ("rolling", "bench-v2", {"RollingUpdatePolicy": {
        "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1}, "WaitIntervalInSeconds": 1}}),
    ("rollback", "bench-exit", None),
]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--docker-host", default=bl.default_docker_host(),
                   help="unix:///path of the Docker Engine (default $DOCKER_HOST or /var/run/docker.sock)")
    p.add_argument("--runs", type=int, default=5, help="runs of part 2 (default 5)")
    p.add_argument("--endpointd", default=None,
                   help="daemon binary (default $ENDPOINTD, ./daemon/endpointd, then PATH)")
    p.add_argument("--image", default=bl.DEFAULT_IMAGE, help="the demo model image")
    p.add_argument("--only", default=None, help="run only these scenarios of part 1 (comma-separated)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory and the daemon log")
    return p.parse_args()


class Load:
    """THREADS threads invoking at RATE calls/s together."""

    def __init__(self, port, name):
        self.port, self.name = port, name
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.failed = []
        self.who = {}
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(THREADS)]

    def run(self):
        period = THREADS / RATE
        conn = None
        next_t = bl.now()
        for _ in range(100000):  # bounded; stop comes long before
            if self.stop.is_set():
                break
            delay = next_t - bl.now()
            if delay > 0:
                time.sleep(delay)
            next_t += period
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                conn.request("POST", f"/endpoints/{self.name}/invocations", body=b'{"x":1}',
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                body = r.read()
                if r.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                if conn:
                    conn.close()
                conn = None
                with self.lock:
                    self.failed.append(repr(e))
                continue
            with self.lock:
                if r.status == 200:
                    self.ok += 1
                    try:
                        v = json.loads(body).get("variant", "?")
                    except ValueError:
                        v = "?"
                    self.who[v] = self.who.get(v, 0) + 1
                else:
                    self.failed.append(f"HTTP {r.status}: {body[:200]!r}")
        if conn:
            conn.close()

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)


def wait_status(client, name, done, timeout=PHASE_TIMEOUT, poll=0.005):
    deadline = bl.now() + timeout
    while bl.now() < deadline:
        _, body = client.status(name)
        if done(body):
            return body
        time.sleep(poll)
    raise RuntimeError(f"{name}: timed out; last Describe: {body}")


def not_updating(body):
    return body.get("EndpointStatus") not in ("Updating", "RollingBack")


def update(client, name, config, policy):
    params = {"EndpointName": name, "EndpointConfigName": config}
    if policy:
        params["DeploymentConfig"] = policy
    st, b = client.call("UpdateEndpoint", params)
    if st != 200:
        raise bl.ApiError(f"UpdateEndpoint {name}: HTTP {st}: {b}")


def scenario(daemon, client, what, config, policy):
    name = f"bench-{os.getpid()}-{what}"
    client.create(name, "bench-v1")
    wait_status(client, name, lambda b: b.get("EndpointStatus") == "InService")
    load = Load(daemon.port, name)
    load.start()
    time.sleep(2)
    t0 = bl.now()
    update(client, name, config, policy)
    final = wait_status(client, name, not_updating, poll=0.05)
    took = bl.now() - t0
    time.sleep(2)
    load.finish()
    return name, final, took, load


def part1(daemon, client, only):
    print(f"Part 1: failed invocations during an update, {THREADS} clients at {RATE:.0f} calls/s")
    print(f"{'scenario':<12} {'calls':>6} {'failed':>6}  {'v1':>6} {'v2':>6}  {'took s':>6}  ends on")
    names, total_failed = [], 0
    for what, config, policy in SCENARIOS:
        if only and what not in only:
            continue
        name, final, took, load = scenario(daemon, client, what, config, policy)
        names.append(name)
        total_failed += len(load.failed)
        ends = final.get("EndpointConfigName")
        if final.get("FailureReason"):
            ends += " (rolled back)"
        print(f"{what:<12} {load.ok + len(load.failed):>6} {len(load.failed):>6}  "
              f"{load.who.get('v1', 0):>6} {load.who.get('v2', 0):>6}  {took:>6.1f}  {ends}")
        for f in load.failed[:3]:
            print(f"    failed: {f}")
    return names, total_failed


def part2(client, runs):
    print(f"\nPart 2: to all traffic on the new fleet, {runs} runs (ms)")
    creates, updates, names = [], [], []
    for i in range(runs):
        a = f"bench-{os.getpid()}-create-{i}"
        t0 = bl.now()
        client.create(a, "bench-v2")
        wait_status(client, a, lambda b: b.get("EndpointStatus") == "InService")
        creates.append(bl.now() - t0)
        b = f"bench-{os.getpid()}-update-{i}"
        client.create(b, "bench-v1")
        wait_status(client, b, lambda d: d.get("EndpointStatus") == "InService")
        t0 = bl.now()
        update(client, b, "bench-v2", None)
        wait_status(client, b, lambda d: d.get("EndpointConfigName") == "bench-v2")
        updates.append(bl.now() - t0)
        print(f"  run {i + 1}: CreateEndpoint {bl.ms(creates[-1]):8.1f}   UpdateEndpoint {bl.ms(updates[-1]):8.1f}")
        wait_status(client, b, not_updating)
        names += [a, b]
    mc, mu = statistics.median(creates), statistics.median(updates)
    ratio = mu / mc
    print(f"  median: CreateEndpoint {bl.ms(mc):.1f}  UpdateEndpoint {bl.ms(mu):.1f}  "
          f"ratio {ratio:.2f} (target <= {TARGET_RATIO})")
    return names, ratio


def main():
    args = parse_args()
    binary = args.endpointd or bl.default_endpointd()
    if not binary:
        bl.die("no endpointd binary: build it or pass --endpointd")
    engine = bl.Engine(args.docker_host)
    if not engine.ping():
        bl.die(f"no Docker Engine at {args.docker_host}")
    extra_dir = tempfile.mkdtemp(prefix="endpointd-bench-update.")
    extra = os.path.join(extra_dir, "update.yaml")
    with open(extra, "w") as f:
        f.write(EXTRA_YAML.format(image=args.image))
    daemon = bl.Daemon(binary, args.docker_host, args.image, log_level="info", stamp_log=False,
                       keep=args.keep, extra_config=f'include: ["{extra}"]\n')
    client = bl.Client(daemon.url)
    names, failed, ratio = [], 0, None
    try:
        only = set(args.only.split(",")) if args.only else None
        n1, failed = part1(daemon, client, only)
        names += n1
        if not only:
            n2, ratio = part2(client, args.runs)
            names += n2
    finally:
        left = bl.delete_and_wait(client, engine, names)
        client.close()
        daemon.stop()
        for c in engine.containers(bl.LABEL_ENDPOINT):  # whatever of ours is left
            if c.get("Labels", {}).get(bl.LABEL_ENDPOINT, "").startswith(f"bench-{os.getpid()}-"):
                engine.remove(c["Id"])
        if left:
            print(f"warning: not cleaned up in time: {left}", file=sys.stderr)
        daemon.cleanup()
        os.unlink(extra)
        os.rmdir(extra_dir)
    print(f"\nfailed invocations in all scenarios: {failed} (target 0)")
    return 0 if failed == 0 and (ratio is None or ratio <= TARGET_RATIO) else 1


if __name__ == "__main__":
    sys.exit(main())
