#!/usr/bin/python3
"""create-to-inservice: how much slower is CreateEndpoint -> InService than a
bare `docker run` of the same image until its /ping answers 200?

Each run does, in turn:
  (a) baseline: `docker run -d -p 127.0.0.1::8080 IMAGE serve`, read the host
      port (Engine API inspect), then GET /ping every 5 ms (connect timeout
      250 ms) until it answers 200; timed from just before `docker run`.
      The container is then removed.
  (b) endpointd: CreateEndpoint, then DescribeEndpoint every 5 ms over one
      keep-alive connection until it answers InService; timed from just
      before the CreateEndpoint POST.  Then DeleteEndpoint, and wait until
      Describe answers ValidationException and the container is gone.
A warm-up run (not counted) comes first.  Prints every run, the medians and
the ratio endpointd/baseline of the medians (target <= 1.25), and where the
time goes, from the Engine's event stream and the daemon's log.

Run by hand, never from the test suite:
  sudo /usr/bin/python3 contrib/bench/create-to-inservice.py \\
      --docker-host unix:///var/run/docker.sock
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

TARGET_RATIO = 1.25
PHASE_TIMEOUT = 120.0  # seconds any one wait may take
TOTAL_B = "first /ping 200 = total"
TOTAL_E = "Describe saw InService = total"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--docker-host", default=bl.default_docker_host(),
                   help="unix:///path of the Docker Engine (default $DOCKER_HOST or /var/run/docker.sock)")
    p.add_argument("--runs", type=int, default=7, help="counted runs (default 7), after one warm-up")
    p.add_argument("--endpointd", default=None,
                   help="daemon binary (default $ENDPOINTD, ./daemon/endpointd, then PATH)")
    p.add_argument("--url", default=None,
                   help="use a running endpointd at http://host:port instead of starting one "
                        "(it must know --endpoint-config and use the same Docker Engine)")
    p.add_argument("--endpoint-config", default=bl.DEFAULT_CONFIG_NAME,
                   help="endpoint config to create from, with --url (default demo-config)")
    p.add_argument("--image", default=bl.DEFAULT_IMAGE, help="model image (default %(default)s)")
    p.add_argument("--docker-cli", default=bl.default_docker_cli(),
                   help="docker client for the baseline (default /usr/bin/docker)")
    p.add_argument("--poll-ms", type=float, default=5.0, help="poll interval of both sides (default 5)")
    p.add_argument("--log-level", default="debug", help="log level of the started daemon (default debug)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory and daemon log")
    a = p.parse_args()
    if not 1 <= a.runs <= 1000:
        p.error("--runs must be 1..1000")
    return a


class Bench:
    def __init__(self, a):
        self.a = a
        self.engine = bl.Engine(a.docker_host)
        self.tag = f"{os.getpid()}"
        self.baseline_ids = set()
        self.live_endpoints = set()
        self.daemon = None
        self.events = None

    # -- (a) docker run ---------------------------------------------------

    def baseline(self, i):
        a = self.a
        name = f"bench-base-{self.tag}-{i}"
        t0 = bl.now()
        p = subprocess.run([a.docker_cli, "-H", a.docker_host, "run", "-d", "--name", name,
                            "-p", "127.0.0.1::8080", a.image, "serve"],
                           capture_output=True, text=True, timeout=PHASE_TIMEOUT)
        t_run = bl.now()
        if p.returncode != 0:
            raise RuntimeError(f"docker run: {p.stderr.strip()}")
        cid = p.stdout.strip().splitlines()[-1]
        self.baseline_ids.add(cid)
        try:
            port = self.engine.host_port(cid)
            t_port = bl.now()
            t_ready = bl.ping_until_200(port, a.poll_ms / 1000, PHASE_TIMEOUT)
            if t_ready is None:
                raise RuntimeError(f"baseline container {cid[:12]} never answered /ping with 200")
        finally:
            self.engine.remove(cid)
            self.baseline_ids.discard(cid)
        return {
            "created (engine event)": self._ev("create", lambda n: n == name, t0),
            "started (engine event)": self._ev("start", lambda n: n == name, t0),
            "docker run returned": t_run - t0,
            "port read (inspect)": t_port - t0,
            "first /ping 200 = total": t_ready - t0,
        }

    def _ev(self, action, match, t0):
        if not self.events:
            return None
        with self.events.lock:
            for t, act, n, _ in self.events.events:
                if act == action and t >= t0 - 0.001 and match(n):
                    return t - t0
        return None

    # -- (b) endpointd ------------------------------------------------------

    def endpointd(self, client, i):
        a = self.a
        name = f"bench-{self.tag}-{i}"
        poll = a.poll_ms / 1000
        t0 = bl.now()
        client.create(name, a.endpoint_config)
        t_post = bl.now()
        self.live_endpoints.add(name)
        t_ready = None
        deadline = t0 + PHASE_TIMEOUT
        for _ in range(int(PHASE_TIMEOUT / poll) + 1):
            s, body = client.status(name)
            if s == "InService":
                t_ready = bl.now()
                break
            if s in ("Failed", None):
                raise RuntimeError(f"endpoint {name}: {s}: {body.get('FailureReason') or body}")
            if bl.now() > deadline:
                break
            time.sleep(poll)
        if t_ready is None:
            raise RuntimeError(f"endpoint {name} not InService within {PHASE_TIMEOUT:.0f} s")

        # Where the time went: Engine events and the daemon's log lines.
        cmatch = (lambda n, s=f"-{name.lower()}-": s in n)
        r = {"CreateEndpoint answered": t_post - t0,
             "created (engine event)": self._ev("create", cmatch, t0),
             "started (engine event)": self._ev("start", cmatch, t0)}
        if self.daemon:
            d = self.daemon
            for _ in range(100):  # the log reader thread may lag a little behind
                if d.find(f"endpoint {name}: Creating -> InService", t0)[0] or bl.now() > t_ready + 1:
                    break
                time.sleep(0.01)
            t, _ = d.find(f"endpoint {name}: variant AllTraffic instance 0: container ", t0)
            r["log: created"] = t - t0 if t else None
            t, text = d.find(f"endpoint {name}: variant AllTraffic instance 0 healthy after", t0)
            r["log: healthy"] = t - t0 if t else None
            if text:
                try:
                    r["healthy after (daemon)"] = float(text.rsplit("after", 1)[1].split()[0]) / 1000
                except (IndexError, ValueError):
                    pass
            t, _ = d.find(f"endpoint {name}: Creating -> InService", t0)
            r["log: InService"] = t - t0 if t else None
        r["Describe saw InService = total"] = t_ready - t0

        t_del = bl.now()
        left = bl.delete_and_wait(client, self.engine, [name], timeout=PHASE_TIMEOUT)
        if left:
            raise RuntimeError(f"endpoint {name} or its container did not go away")
        self.live_endpoints.discard(name)
        r["(delete until container gone)"] = bl.now() - t_del
        return r

    # -- the whole thing ----------------------------------------------------

    def run(self):
        a = self.a
        if not self.engine.ping():
            bl.die(f"no Docker Engine answers at {a.docker_host}")
        st, _ = self.engine.call("GET", f"/images/{a.image}/json")
        if st != 200:
            bl.die(f"image {a.image} is missing; build it with "
                   f"contrib/demo-model/build-image.sh --docker-host {a.docker_host}")
        if a.url:
            url = a.url
        else:
            binary = a.endpointd or bl.default_endpointd()
            if not binary:
                bl.die("no endpointd binary; pass --endpointd PATH or --url")
            self.daemon = bl.Daemon(binary, a.docker_host, a.image, log_level=a.log_level,
                                    keep=a.keep)
            url = self.daemon.url
            print(f"endpointd {binary} on {url}, log {self.daemon.log_path}")
        print(f"Docker Engine {a.docker_host}, image {a.image}, poll every {a.poll_ms:g} ms, "
              f"{a.runs} runs after a warm-up")
        self.events = bl.EventWatcher(self.engine, max_seconds=(a.runs + 1) * 2 * PHASE_TIMEOUT)
        client = bl.Client(url)
        base, epd = [], []
        print(f"\n{'run':>6} {'baseline':>10} {'endpointd':>10} {'ratio':>6}   "
              "(ms, from just before `docker run` / the CreateEndpoint POST)")
        for i in range(a.runs + 1):
            b = self.baseline(i)
            e = self.endpointd(client, i)
            label = "warmup" if i == 0 else str(i)
            print(f"{label:>6} {bl.ms(b[TOTAL_B]):10.1f} {bl.ms(e[TOTAL_E]):10.1f} "
                  f"{e[TOTAL_E] / b[TOTAL_B]:6.2f}", flush=True)
            if i > 0:
                base.append(b)
                epd.append(e)
        client.close()

        mb = statistics.median(r[TOTAL_B] for r in base)
        me = statistics.median(r[TOTAL_E] for r in epd)
        ratio = me / mb
        print(f"\nmedian baseline  {bl.ms(mb):8.1f} ms   (min {bl.ms(min(r[TOTAL_B] for r in base)):.1f}, "
              f"max {bl.ms(max(r[TOTAL_B] for r in base)):.1f})")
        print(f"median endpointd {bl.ms(me):8.1f} ms   (min {bl.ms(min(r[TOTAL_E] for r in epd)):.1f}, "
              f"max {bl.ms(max(r[TOTAL_E] for r in epd)):.1f})")
        verdict = "meets" if ratio <= TARGET_RATIO else \
            f"MISSES by {bl.ms(me - TARGET_RATIO * mb):.1f} ms ({(ratio / TARGET_RATIO - 1) * 100:.0f}% over)"
        print(f"ratio endpointd/baseline of the medians: {ratio:.2f}  (target <= {TARGET_RATIO}: {verdict})")

        def stages(rows, title):
            print(f"\n{title} (median ms since t0 over the counted runs; per run in brackets):")
            for k in rows[0]:
                vals = [r.get(k) for r in rows]
                got = [v for v in vals if v is not None]
                if not got:
                    continue
                per = " ".join(f"{bl.ms(v):.0f}" if v is not None else "-" for v in vals)
                print(f"  {k:<30} {bl.ms(statistics.median(got)):8.1f}   [{per}]")

        stages(base, "baseline stages")
        stages(epd, "endpointd stages ('log:' = when the daemon's log line arrived; "
                    "'healthy after' is the daemon's own figure, from its create call)")
        return 0

    def cleanup(self):
        for cid in list(self.baseline_ids):
            try:
                self.engine.remove(cid)
            except Exception as e:  # noqa: BLE001
                print(f"warning: removing {cid[:12]}: {e}", file=sys.stderr)
        if self.live_endpoints:
            url = self.daemon.url if self.daemon else self.a.url
            c = bl.Client(url)
            try:
                left = bl.delete_and_wait(c, self.engine, sorted(self.live_endpoints), timeout=60)
                if left:
                    print(f"warning: not deleted in time: {' '.join(left)}", file=sys.stderr)
            except Exception as e:  # noqa: BLE001
                print(f"warning: deleting endpoints: {e}", file=sys.stderr)
            finally:
                c.close()
        if self.events:
            self.events.stop()
        if self.daemon:
            self.daemon.stop()
            # Last resort: nothing of ours may outlive the benchmark.
            for n in sorted(self.live_endpoints):
                try:
                    k = self.engine.remove_labelled(f"{bl.LABEL_ENDPOINT}={n}")
                    if k:
                        print(f"warning: removed {k} leftover container(s) of {n}", file=sys.stderr)
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
    except (RuntimeError, bl.ApiError, OSError, subprocess.TimeoutExpired) as e:
        print(f"error: {e}", file=sys.stderr)
        if b.daemon:
            b.daemon.keep = True
            print(f"daemon log kept: {b.daemon.log_path}", file=sys.stderr)
        return 1
    finally:
        b.cleanup()


if __name__ == "__main__":
    sys.exit(main())
