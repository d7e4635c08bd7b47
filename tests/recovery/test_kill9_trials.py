"""kill -9 at random moments while endpoints are created and deleted from a
few threads; after a restart on the same state_dir nothing acknowledged is
lost, nothing deleted comes back, no instance is doubled and no container is
left behind.

Each trial: a fresh daemon (orphan_grace_s: 1); 3-5 endpoint names shared
out over 3 worker threads that create (demo-config: 1 instance,
rec-pair-config: 2) and delete them, noting which calls got 200; kill -9
after a random 0-1.5 s; start again (and in some trials kill -9 once more
while it recovers, and start again); then, within CONVERGE_S:
  - a name whose last acknowledged call was CreateEndpoint exists and goes
    InService; one whose last was DeleteEndpoint (or that was never created)
    is gone; one with a call in flight at the kill may be either
  - every endpoint there runs exactly its desired count of containers with
    its labels and this daemon's owner, and ListEndpoints shows just them
  - after the orphan grace no container of this owner is created, exited or
    for an endpoint that is gone
The seed is printed at the end of the run (ENDPOINTD_RECOVERY_SEED repeats it).
"""

import http.client
import os
import random
import threading
import time

import pytest

from endpointd_harness import ApiClient, unique_name
from recovery_helpers import DESIRED, ENDPOINT, PAIR_CONFIG, Op, expected_outcome

TRIALS = int(os.environ.get("ENDPOINTD_RECOVERY_TRIALS") or 20)
WORKERS = 3
CONFIGS = ["demo-config", PAIR_CONFIG]
KILL_WINDOW_S = 1.5
SECOND_KILL_P = 0.3
DELETE_P = 0.4  # chance that a worker deletes an endpoint it believes exists, per turn
GRACE_S = 1
CONVERGE_S = 45
EXPECTED_REFUSALS = ("Cannot create already existing endpoint", "Cannot update in-progress endpoint",
                     "Could not find endpoint")


class Worker(threading.Thread):
    def __init__(self, port, names, rng, stop, t0, histories, surprises):
        super().__init__(daemon=True)
        self.api = ApiClient("127.0.0.1", port, timeout=10)
        self.names, self.rng, self.stop, self.t0 = names, rng, stop, t0
        self.histories, self.surprises = histories, surprises
        self.exists = {n: bool(histories[n]) for n in names}

    def run(self):
        for _ in range(1000):  # bounded; the kill comes long before
            if self.stop.is_set():
                return
            name = self.rng.choice(self.names)
            if self.exists[name] and self.rng.random() >= DELETE_P:
                time.sleep(self.rng.uniform(0, 0.15))  # let it live a while
                continue
            if self.exists[name]:
                op = Op(name, "Delete", None, time.monotonic() - self.t0)
                params = {"EndpointName": name}
            else:
                op = Op(name, "Create", self.rng.choice(CONFIGS), time.monotonic() - self.t0)
                params = {"EndpointName": name, "EndpointConfigName": op.config}
            self.histories[name].append(op)
            try:
                r = self.api.call(op.op + "Endpoint", params)
            except ConnectionRefusedError:
                op.result, op.detail = "error", "connection refused"  # never reached the daemon
                return
            except (OSError, http.client.HTTPException) as e:
                op.result, op.detail = "lost", type(e).__name__
                return
            msg = r.message or ""
            if r.status == 200:
                op.result = "ack"
                self.exists[name] = op.op == "Create"
            elif r.status == 400 and r.error_type == "ValidationException" and msg.startswith(EXPECTED_REFUSALS):
                op.result, op.detail = "error", msg
                self.exists[name] = not msg.startswith("Could not find endpoint")
            else:
                op.result, op.detail = "lost", f"unexpected answer {r!r}"
                self.surprises.append(f"{name}: {op.op}Endpoint -> {r!r}")
            time.sleep(self.rng.uniform(0, 0.15))


def _problems(d, names, expect):
    """What is not (yet) as it must end up; [] when all is well."""
    out = []
    there = {}
    for n in names:
        desc = d.api.describe(n)
        e = expect[n]
        if desc is None:
            if e == "present":
                out.append(f"{n}: CreateEndpoint was acknowledged, DescribeEndpoint says it does not exist")
            continue
        there[n] = desc
        status = desc["EndpointStatus"]
        if e == "gone":
            out.append(f"{n}: DeleteEndpoint was acknowledged (or it was never created) but it is {status}")
            continue
        if status != "InService":
            out.append(f"{n}: {status} {desc.get('FailureReason', '')}".rstrip())
            continue
        want = DESIRED[desc["EndpointConfigName"]]
        got = len(d.running_ids(n))
        if got != want:
            out.append(f"{n}: {got} running containers, desired {want}")
    listed = {e["EndpointName"] for e in d.api.all_endpoints()}
    if listed != set(there):
        out.append(f"ListEndpoints shows {sorted(listed)}, DescribeEndpoint finds {sorted(there)}")
    for c in d.containers():
        ep = (c.get("Labels") or {}).get(ENDPOINT)
        if ep not in there:
            out.append(f"container {c['Id'][:12]} ({c.get('State')}) of gone endpoint {ep}")
        elif c.get("State") != "running":
            out.append(f"container {c['Id'][:12]} of {ep} is {c.get('State')}")
    return out


def _fatal(d, names, expect):
    """Problems that waiting cannot cure: a Failed endpoint, or one whose
    acknowledged creation the restarted daemon does not know."""
    out = []
    for n in names:
        desc = d.api.describe(n)
        if desc is None and expect[n] == "present":
            out.append(f"{n}: CreateEndpoint was acknowledged, DescribeEndpoint after the restart says it does not exist")
        elif desc is not None and desc["EndpointStatus"] == "Failed":
            out.append(f"{n} Failed: {desc.get('FailureReason')!r}")
    return out


def _run_trial(make_daemon, seed, trial, rng):
    d = make_daemon(grace=GRACE_S)
    names = [unique_name(f"k{trial}n{i}") for i in range(rng.randint(3, 5))]
    histories = {n: [] for n in names}
    surprises = []
    # Some endpoints are InService before the workload, so that deleting
    # InService endpoints is in the mix.
    if rng.random() < 0.5:
        n = rng.choice(names)
        cfg = rng.choice(CONFIGS)
        d.api.ok("CreateEndpoint", {"EndpointName": n, "EndpointConfigName": cfg})
        op = Op(n, "Create", cfg, -1.0)
        op.result = "ack"
        histories[n].append(op)
        d.api.wait_in_service(n, timeout=30)

    stop = threading.Event()
    t0 = time.monotonic()
    shares = [names[i::WORKERS] for i in range(WORKERS)]
    workers = [Worker(d.port, share, random.Random(rng.getrandbits(64)), stop, t0, histories, surprises)
               for share in shares if share]
    for w in workers:
        w.start()
    kill_at = rng.uniform(0, KILL_WINDOW_S)
    time.sleep(kill_at)
    stop.set()
    d.kill()
    for w in workers:
        w.join(20)
    assert not any(w.is_alive() for w in workers), "a worker thread hung"
    events = [f"kill -9 at {kill_at:.3f} s"]
    d.start()
    if rng.random() < SECOND_KILL_P:
        again = rng.uniform(0, 1.0)
        time.sleep(again)
        d.kill()
        events.append(f"kill -9 again {again:.3f} s into recovery")
        d.start()
    restarted = time.monotonic()

    expect = {n: expected_outcome(histories[n]) for n in names}

    def report(problems):
        lines = [f"seed {seed} trial {trial}: " + ", ".join(events)]
        for n in names:
            lines.append(f"  {n}: expected {expect[n]}")
            lines += [f"      {op!r}" for op in histories[n]]
        lines.append("containers of this owner:\n" + d.container_report())
        lines.append("problems:\n  " + "\n  ".join(problems))
        return "\n".join(lines)

    assert not surprises, report(surprises)
    deadline = restarted + CONVERGE_S
    while True:
        try:
            fatal = _fatal(d, names, expect)
            if fatal:
                pytest.fail(report(fatal), pytrace=False)
            problems = _problems(d, names, expect)
        except (OSError, AssertionError) as e:
            status = d.proc.poll()
            pytest.fail(report([f"{type(e).__name__}: {e}",
                                "the daemon " + ("runs" if status is None else f"exited with status {status}")]),
                        pytrace=False)
        if not problems and time.monotonic() >= restarted + GRACE_S:
            break
        if time.monotonic() >= deadline:
            pytest.fail(f"not converged within {CONVERGE_S} s of the restart\n" + report(problems), pytrace=False)
        time.sleep(0.1)
    took = time.monotonic() - restarted
    acked = sum(op.result == "ack" for h in histories.values() for op in h)
    print(f"trial {trial}: {len(names)} endpoints, {acked} acknowledged calls, {', '.join(events)}, "
          f"converged {took:.1f} s after the restart; expected {sorted(expect.values())}")
    make_daemon.daemons.remove(d)
    d.close()


def test_kill9_at_random_moments_loses_no_acknowledged_change(make_daemon, recovery_seed):
    rng = random.Random(recovery_seed)
    started = time.monotonic()
    for trial in range(TRIALS):
        _run_trial(make_daemon, recovery_seed, trial, random.Random(rng.getrandbits(64)))
    print(f"{TRIALS} trials in {time.monotonic() - started:.1f} s (seed {recovery_seed})")
