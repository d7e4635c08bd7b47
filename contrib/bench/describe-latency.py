#!/usr/bin/python3
"""describe-latency: does DescribeEndpoint stay fast while the daemon is busy
bringing many endpoints up at once?

Creates N endpoints at the same instant (N threads, each on its own
connection) while M other threads (default 4) call DescribeEndpoint on
random ones of them in a tight loop, each over its own keep-alive connection,
recording every call's latency, until all N are InService (at most --timeout
seconds).  Prints count, p50, p90, p99 and max in ms (target p99 < 20 ms),
the same for a short steady phase afterwards (all InService, nothing else
going on) as a reference, and the create -> InService time of the slowest
endpoint.  Then deletes them all and waits until their containers are gone.

Latencies are measured in this Python client, so they include its own
overhead (see the steady-phase figures for the floor).

Run by hand, never from the test suite:
  sudo /usr/bin/python3 contrib/bench/describe-latency.py \\
      --docker-host unix:///var/run/docker.sock --endpoints 20
"""

import argparse
import os
import random
import statistics
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

TARGET_P99_MS = 20.0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoints", type=int, default=20, help="N endpoints created at once (default 20)")
    p.add_argument("--describers", type=int, default=4, help="M DescribeEndpoint threads (default 4)")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds to wait for all N to be InService (default 120)")
    p.add_argument("--steady", type=float, default=2.0,
                   help="seconds of describes after all are InService, reported apart (default 2; 0 = none)")
    p.add_argument("--docker-host", default=bl.default_docker_host(),
                   help="unix:///path of the Docker Engine (default $DOCKER_HOST or /var/run/docker.sock)")
    p.add_argument("--endpointd", default=None,
                   help="daemon binary (default $ENDPOINTD, ./daemon/endpointd, then PATH)")
    p.add_argument("--url", default=None,
                   help="use a running endpointd at http://host:port instead of starting one "
                        "(it must know --endpoint-config and use the same Docker Engine)")
    p.add_argument("--endpoint-config", default=bl.DEFAULT_CONFIG_NAME,
                   help="endpoint config to create from, with --url (default demo-config)")
    p.add_argument("--image", default=bl.DEFAULT_IMAGE, help="model image (default %(default)s)")
    p.add_argument("--log-level", default="debug", help="log level of the started daemon (default debug)")
    p.add_argument("--seed", type=int, default=None, help="random seed of the describers")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory and daemon log")
    a = p.parse_args()
    if not 1 <= a.endpoints <= 100:
        p.error("--endpoints must be 1..100")
    if not 1 <= a.describers <= 64:
        p.error("--describers must be 1..64")
    if not 1 <= a.timeout <= 3600 or not 0 <= a.steady <= 600:
        p.error("--timeout must be 1..3600 and --steady 0..600")
    return a


def summary(lat):
    if not lat:
        return "no calls"
    v = [bl.ms(x) for x in lat]
    return (f"count {len(v)}, p50 {bl.percentile(v, 50):.2f} ms, p90 {bl.percentile(v, 90):.2f} ms, "
            f"p99 {bl.percentile(v, 99):.2f} ms, max {max(v):.2f} ms")


class Bench:
    def __init__(self, a):
        self.a = a
        self.engine = bl.Engine(a.docker_host)
        self.names = [f"bench-{os.getpid()}-d{i}" for i in range(a.endpoints)]
        self.created = set()  # names whose CreateEndpoint answered 200
        self.lock = threading.Lock()
        self.daemon = None
        self.events = None
        self.url = None
        # results
        self.t_create = {}      # name -> perf_counter before the POST
        self.create_lat = {}    # name -> seconds the POST took
        self.in_service = {}    # name -> perf_counter of the first InService answer
        self.errors = []
        self.lat_busy = []      # (latency, status) while not all InService
        self.lat_steady = []
        self.done = threading.Event()      # all InService, or gave up
        self.stop = threading.Event()      # describers stop
        self.failed = threading.Event()

    def creator(self, barrier, name):
        c = bl.Client(self.url)
        try:
            c.call("ListEndpoints", {"MaxResults": 1})  # connect before the start
            barrier.wait(30)
            t0 = bl.now()
            self.t_create[name] = t0
            c.create(name, self.a.endpoint_config)
            self.create_lat[name] = bl.now() - t0
            with self.lock:
                self.created.add(name)
        except Exception as e:  # noqa: BLE001
            with self.lock:
                self.errors.append(f"create {name}: {e}")
            self.failed.set()
            self.done.set()
        finally:
            c.close()

    def describer(self, barrier, seed):
        rnd = random.Random(seed)
        c = bl.Client(self.url)
        busy, steady = [], []
        try:
            c.call("ListEndpoints", {"MaxResults": 1})
            barrier.wait(30)
            deadline = bl.now() + self.a.timeout + self.a.steady + 10
            for _ in range(100_000_000):
                if self.stop.is_set() or bl.now() > deadline:
                    break
                name = rnd.choice(self.names)
                phase_steady = self.done.is_set()
                t = bl.now()
                s, body = c.status(name)
                t1 = bl.now()
                (steady if phase_steady else busy).append((t1 - t, s, t))
                if s == "InService":
                    with self.lock:
                        if name not in self.in_service:
                            self.in_service[name] = t1
                            if len(self.in_service) == len(self.names):
                                self.done.set()
                elif s == "Failed":
                    with self.lock:
                        self.errors.append(f"{name} Failed: {body.get('FailureReason')}")
                    self.failed.set()
                    self.done.set()
        except Exception as e:  # noqa: BLE001
            with self.lock:
                self.errors.append(f"describe: {e}")
            self.failed.set()
            self.done.set()
        finally:
            c.close()
            with self.lock:
                self.lat_busy.extend(busy)
                self.lat_steady.extend(steady)

    def run(self):
        a = self.a
        if not self.engine.ping():
            bl.die(f"no Docker Engine answers at {a.docker_host}")
        st, _ = self.engine.call("GET", f"/images/{a.image}/json")
        if st != 200:
            bl.die(f"image {a.image} is missing; build it with "
                   f"contrib/demo-model/build-image.sh --docker-host {a.docker_host}")
        if a.url:
            self.url = a.url
        else:
            binary = a.endpointd or bl.default_endpointd()
            if not binary:
                bl.die("no endpointd binary; pass --endpointd PATH or --url")
            self.daemon = bl.Daemon(binary, a.docker_host, a.image, log_level=a.log_level,
                                    stamp_log=False, keep=a.keep)
            self.url = self.daemon.url
            print(f"endpointd {binary} on {self.url}, log {self.daemon.log_path}")
        print(f"Docker Engine {a.docker_host}, image {a.image}: {a.endpoints} endpoints created at once, "
              f"{a.describers} describers")
        self.events = bl.EventWatcher(self.engine, max_seconds=a.timeout + a.steady + 300)
        sys.setswitchinterval(0.0005)  # keep the client's own GIL hand-offs out of the tail

        n, m = len(self.names), a.describers
        barrier = threading.Barrier(n + m + 1)
        seed = a.seed if a.seed is not None else int(time.time())
        threads = [threading.Thread(target=self.creator, args=(barrier, nm), daemon=True)
                   for nm in self.names]
        threads += [threading.Thread(target=self.describer, args=(barrier, seed + i), daemon=True)
                    for i in range(m)]
        for t in threads:
            t.start()
        barrier.wait(60)
        t_start = bl.now()
        self.done.wait(a.timeout)
        t_all = bl.now()
        all_in = len(self.in_service) == n
        if all_in and not self.failed.is_set() and a.steady > 0:
            time.sleep(a.steady)
        self.stop.set()
        for t in threads:
            t.join(30)

        print()
        for e in self.errors[:10]:
            print(f"error: {e}")
        busy = [x for x, _, _ in self.lat_busy]
        by_status = {}
        for _, s, _ in self.lat_busy:
            by_status[s or "ValidationException"] = by_status.get(s or "ValidationException", 0) + 1
        print(f"DescribeEndpoint while creating ({bl.ms(t_all - t_start) / 1000:.1f} s): {summary(busy)}")
        print("  answers: " + ", ".join(f"{k} {v}" for k, v in sorted(by_status.items())))
        if busy:
            p99 = bl.percentile([bl.ms(x) for x in busy], 99)
            verdict = "meets" if p99 < TARGET_P99_MS else f"MISSES by {p99 - TARGET_P99_MS:.2f} ms"
            print(f"  p99 {p99:.2f} ms (target < {TARGET_P99_MS:g} ms: {verdict})")
            slow = sorted(self.lat_busy, reverse=True)[:5]
            print("  slowest calls (ms @ seconds after the creates began): " + ", ".join(
                f"{bl.ms(x):.1f} @ {t - t_start:.2f}" for x, _, t in slow))
        if self.lat_steady:
            print(f"DescribeEndpoint steady, all InService ({a.steady:g} s): "
                  f"{summary([x for x, _, _ in self.lat_steady])}")
        cl = [bl.ms(x) for x in self.create_lat.values()]
        if cl:
            print(f"CreateEndpoint calls: count {len(cl)}, p50 {bl.percentile(cl, 50):.2f} ms, "
                  f"max {max(cl):.2f} ms")

        ready = {nm: self.in_service[nm] - self.t_create[nm] for nm in self.in_service if nm in self.t_create}
        if ready:
            slow = max(ready, key=ready.get)
            v = sorted(ready.values())
            print(f"create -> InService: {len(v)}/{n} endpoints, fastest {bl.ms(v[0]):.0f} ms, "
                  f"median {bl.ms(statistics.median(v)):.0f} ms, slowest {bl.ms(v[-1]):.0f} ms ({slow})")
            # Where the time went, from the Engine's events (each since its own POST).
            rows = {"created (engine event)": "create", "started (engine event)": "start"}
            for label, action in rows.items():
                got = []
                for nm in ready:
                    t = self._ev(action, nm)
                    if t is not None:
                        got.append(t - self.t_create[nm])
                if got:
                    got.sort()
                    print(f"  {label:<24} median {bl.ms(statistics.median(got)):7.0f} ms, "
                          f"max {bl.ms(got[-1]):7.0f} ms  (since each endpoint's POST)")
            ts = self._ev("start", slow)
            if ts is not None:
                print(f"  slowest {slow}: started {bl.ms(ts - self.t_create[slow]):.0f} ms, "
                      f"InService seen {bl.ms(ready[slow]):.0f} ms after its POST")
        if not all_in:
            print(f"only {len(self.in_service)}/{n} endpoints were seen InService within {a.timeout:g} s")
            return 1
        return 1 if self.failed.is_set() else 0

    def _ev(self, action, name):
        s = f"-{name.lower()}-"
        with self.events.lock:
            for t, act, cname, _ in self.events.events:
                if act == action and s in cname:
                    return t
        return None

    def cleanup(self):
        self.stop.set()
        names = sorted(set(self.t_create) | self.created)  # a timed-out POST may still have created
        if self.url and names:
            c = bl.Client(self.url)
            t0 = bl.now()
            try:
                left = bl.delete_and_wait(c, self.engine, names, timeout=180)
                if left:
                    print(f"warning: not deleted in time: {' '.join(left)}", file=sys.stderr)
                else:
                    print(f"deleted {len(names)} endpoints and their containers in "
                          f"{bl.now() - t0:.1f} s")
            except Exception as e:  # noqa: BLE001
                print(f"warning: deleting endpoints: {e}", file=sys.stderr)
            finally:
                c.close()
        if self.events:
            self.events.stop()
        if self.daemon:
            self.daemon.stop()
            # Last resort: nothing of ours may outlive the benchmark.
            for nm in self.names:
                try:
                    k = self.engine.remove_labelled(f"{bl.LABEL_ENDPOINT}={nm}")
                    if k:
                        print(f"warning: removed {k} leftover container(s) of {nm}", file=sys.stderr)
                except Exception as e:  # noqa: BLE001
                    print(f"warning: {e}", file=sys.stderr)
            if self.daemon.keep:
                print(f"kept {self.daemon.tmp}", file=sys.stderr)
            self.daemon.cleanup()


def main():
    a = parse_args()
    b = Bench(a)
    rc = 1
    try:
        rc = b.run()
        return rc
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    except (RuntimeError, bl.ApiError, OSError, threading.BrokenBarrierError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        if rc != 0 and b.daemon:
            b.daemon.keep = True
        b.cleanup()


if __name__ == "__main__":
    sys.exit(main())
