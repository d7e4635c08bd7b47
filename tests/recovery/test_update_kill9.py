"""kill -9 at any moment of UpdateEndpoint: after a restart on the same
state_dir the endpoint ends InService on exactly one config, old or new,
with that config's instance count, no container doubled or left behind, and
DescribeEndpoint tells which (DESIGN.md, Updates and Durability).

Each seeded trial: a fresh daemon (orphan_grace_s: 1); an endpoint InService
on a v1 config (the model's DEMO_VARIANT is "v1", 1-2 instances);
UpdateEndpoint to a v2 config (1-3 instances) with a policy the seed picks
(none, BlueGreen ALL_AT_ONCE, CANARY or LINEAR baking 0-2 s, or rolling in
batches of one baking 0-1 s; sometimes TerminationWaitInSeconds 1-3); kill
-9 0-3 s after the call went out (some trials aim at the call itself),
start again (sometimes kill -9 once more while it recovers, and start
again); then, within SETTLE_S:
  - DescribeEndpoint says InService on the v1 or the v2 config, nothing
    pending, and CurrentInstanceCount is that config's count; an update
    answered 200 before the kill was journaled: the endpoint goes on
    updating and ends on v2 (these models are healthy: a rollback, or v1
    with no FailureReason, means the update was lost)
  - the endpoint's running containers are exactly that many, of one fleet,
    one per slot, all with that config's DEMO_VARIANT in their Env
  - invocations are answered by that variant only
  - after the orphan grace no other container of this daemon's owner exists
    (created, exited or running)
Then one test each kills it at a chosen moment: while the new fleet
launches, while a canary bakes (both fleets serve), in a rolling update's
bake after its first batch, and during TerminationWaitInSeconds.

The seed is printed at the end of the run (ENDPOINTD_RECOVERY_SEED repeats
it); ENDPOINTD_RECOVERY_TRIALS sets the number of trials (default 20).
"""

import http.client
import os
import random
import threading
import time

import pytest

from endpointd_harness import unique_name
from recovery_helpers import FLEET, LABEL, Op, wait_for
from test_invoke_support import invoke

TRIALS = int(os.environ.get("ENDPOINTD_RECOVERY_TRIALS") or 20)
GRACE_S = 1
SETTLE_S = 60
KILL_WINDOW_S = 3.0
# Some kills aim at the UpdateEndpoint call itself (journal write, answer).
EARLY_KILL_P = 0.2
EARLY_KILL_WINDOW_S = 0.01
SECOND_KILL_P = 0.3
SECOND_KILL_WINDOW_S = 1.0
TERMINATION_WAIT_P = 0.4
CALLS = 6  # invocations that must all come from the variant settled on

MODELS = {
    "rk-v1": {"DEMO_VARIANT": "v1"},
    "rk-v2": {"DEMO_VARIANT": "v2"},
    # Long enough a launch that a kill can be aimed at it.
    "rk-v2-slow": {"DEMO_VARIANT": "v2", "DEMO_START_DELAY_MS": "2500"},
}
CONFIGS = [("rk-v1-1", "rk-v1", 1), ("rk-v1-2", "rk-v1", 2),
           ("rk-v2-1", "rk-v2", 1), ("rk-v2-2", "rk-v2", 2), ("rk-v2-3", "rk-v2", 3),
           ("rk-v2-slow-2", "rk-v2-slow", 2)]
COUNT = {name: count for name, _, count in CONFIGS}
VARIANT = {name: MODELS[model]["DEMO_VARIANT"] for name, model, _ in CONFIGS}


def new_daemon(make_daemon):
    """A started daemon of make_daemon's that knows the v1 and v2 configs."""
    return make_daemon(grace=GRACE_S, models=MODELS, configs=CONFIGS)


@pytest.fixture
def update_daemon(make_daemon):
    """update_daemon(): a new daemon that knows the v1 and v2 configs."""
    return lambda: new_daemon(make_daemon)


def random_policy(rng):
    """(what, DeploymentConfig or None) for an update."""
    kind = rng.choice(["none", "ALL_AT_ONCE", "CANARY", "LINEAR", "ROLLING"])
    if kind == "none":
        return "blue/green without a DeploymentConfig", None
    if kind == "ROLLING":
        wait = rng.randint(0, 1)
        return f"rolling, batches of 1, wait {wait} s", {"RollingUpdatePolicy": {
            "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
            "WaitIntervalInSeconds": wait}}
    routing = {"Type": kind, "WaitIntervalInSeconds": rng.randint(0, 2)}
    what = f"{kind}, wait {routing['WaitIntervalInSeconds']} s"
    if kind == "CANARY":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": rng.choice([25, 50])}
        what += f", canary {routing['CanarySize']['Value']}%"
    elif kind == "LINEAR":
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": rng.choice([34, 50])}
        what += f", steps of {routing['LinearStepSize']['Value']}%"
    policy = {"TrafficRoutingConfiguration": routing}
    if rng.random() < TERMINATION_WAIT_P:
        policy["TerminationWaitInSeconds"] = rng.randint(1, 3)
        what += f", termination wait {policy['TerminationWaitInSeconds']} s"
    return what, {"BlueGreenUpdatePolicy": policy}


def start_on(d, config):
    """A new endpoint on config, InService with all its containers."""
    name = unique_name("upk")
    d.api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": config})
    d.wait_converged(name, desired=COUNT[config])
    return name


def update_params(name, config, policy):
    params = {"EndpointName": name, "EndpointConfigName": config}
    if policy is not None:
        params["DeploymentConfig"] = policy
    return params


def pending_status(desc):
    """The pending fleet's VariantStatus Status, or None when nothing is pending."""
    pending = desc.get("PendingDeploymentSummary") if desc else None
    if not pending:
        return None
    return pending["ProductionVariants"][0]["VariantStatus"][0]["Status"]


def running_fleets(d, name):
    """{fleet label: running containers} of the endpoint."""
    out = {}
    for c in d.containers(name):
        if c.get("State") == "running":
            f = (c.get("Labels") or {}).get(FLEET, "0")
            out[f] = out.get(f, 0) + 1
    return out


def answered_by(d, name, calls=CALLS):
    """Who answered calls invocations (DEMO_VARIANT, or what went wrong)."""
    out = []
    for _ in range(calls):
        try:
            r = invoke(d.api, name, b'{"x": 1}', content_type="application/json", timeout=10)
        except OSError as e:
            out.append(f"{type(e).__name__}: {e}")
            continue
        body = r.json if r.status == 200 and isinstance(r.json, dict) else None
        out.append(body.get("variant", "?") if body else f"{r.status} {r.body[:200]!r}")
    return out


class Ending:
    """Where an updated endpoint must end after kills, and why it has not yet."""

    def __init__(self, d, name, old, new, acked):
        self.d, self.name, self.old, self.new, self.acked = d, name, old, new, acked
        self.desc = None

    def fatal(self):
        """What waiting cannot cure; None when all may still end well."""
        desc = self.desc
        if desc is None:
            return "DescribeEndpoint says the endpoint does not exist"
        status, config = desc["EndpointStatus"], desc["EndpointConfigName"]
        if status in ("Failed", "UpdateRollbackFailed"):
            return f"{status}: {desc.get('FailureReason')!r}"
        if config not in (self.old, self.new):
            return f"it serves config {config}, neither {self.old} nor {self.new}"
        if "FailureReason" in desc:
            return f"the update was rolled back (the models are healthy): {desc['FailureReason']!r}"
        settled = status == "InService" and "PendingDeploymentSummary" not in desc
        if self.acked and settled and config == self.old:
            return (f"UpdateEndpoint to {self.new} was answered 200 before the kill, "
                    f"but the endpoint is InService on {self.old} with no FailureReason")
        return None

    def problems(self, grace_over):
        """What is not (yet) as it must end; [] when all is."""
        desc = self.desc
        status, config = desc["EndpointStatus"], desc["EndpointConfigName"]
        if status != "InService" or "PendingDeploymentSummary" in desc:
            return [f"{status} on {config}, pending {pending_status(desc)}"]
        want, variant = COUNT[config], VARIANT[config]
        out = []
        current = sum(pv.get("CurrentInstanceCount", 0) for pv in desc.get("ProductionVariants", []))
        if current != want:
            out.append(f"CurrentInstanceCount {current}, {config} has {want}")
        running, others = [], []
        for c in self.d.containers():  # the daemon has no other endpoint
            (running if c.get("State") == "running" else others).append(c)
        if len(running) != want:
            out.append(f"{len(running)} running containers, {config} has {want}")
        labels = [c.get("Labels") or {} for c in running]
        fleets = {lab.get(FLEET, "0") for lab in labels}
        if len(fleets) > 1:
            out.append(f"running containers of fleets {sorted(fleets)}")
        slots = [(lab.get(f"{LABEL}.variant"), lab.get(f"{LABEL}.slot")) for lab in labels]
        if len(set(slots)) != len(slots):
            out.append(f"two running containers for one slot: {sorted(slots)}")
        for c in running:
            status_code, body = self.d.docker.request("GET", f"/containers/{c['Id']}/json")
            env = ((body.get("Config") or {}).get("Env") or []) if status_code == 200 else []
            if f"DEMO_VARIANT={variant}" not in env:
                seen = [e for e in env if e.startswith("DEMO_VARIANT=")] or [f"inspect {status_code}"]
                out.append(f"container {c['Id'][:12]} runs {seen}, {config} means DEMO_VARIANT={variant}")
        if grace_over:
            out += [f"container {c['Id'][:12]} is {c.get('State')} after the orphan grace" for c in others]
        if not out:
            calls = answered_by(self.d, self.name)
            if set(calls) != {variant}:
                out.append(f"invocations answered by {calls}, {config} serves {variant}")
        return out


def wait_ending(d, name, old, new, acked, restarted, report):
    """Poll until the endpoint ends as Ending says (fail with report() at once
    on what cannot end well, or after SETTLE_S); its last description."""
    e = Ending(d, name, old, new, acked)
    deadline = restarted + SETTLE_S
    problems = []
    while True:
        try:
            e.desc = d.api.describe(name)
            fatal = e.fatal()
            if fatal:
                pytest.fail(report(e.desc, [fatal]), pytrace=False)
            grace_over = time.monotonic() >= restarted + GRACE_S
            problems = e.problems(grace_over)
        except (OSError, AssertionError) as exc:
            broke = f"{type(exc).__name__}: {exc}"
        else:
            broke = None
        if broke:
            status = d.proc.poll()
            pytest.fail(report(e.desc, [broke, "the daemon " + (
                "runs" if status is None else f"exited with status {status}")]), pytrace=False)
        if not problems and grace_over:
            return e.desc
        if time.monotonic() >= deadline:
            pytest.fail(f"not settled within {SETTLE_S} s of the restart\n" + report(e.desc, problems),
                        pytrace=False)
        time.sleep(0.2)


def reporter(d, head):
    """report(description, problems) for a failure: what was done, what
    Describe said, the containers, the end of the daemon's stderr."""

    def report(desc, problems):
        return "\n".join([head(), f"last DescribeEndpoint: {desc!r}",
                          "containers of this owner:\n" + d.container_report(),
                          "problems:\n  " + "\n  ".join(problems),
                          "endpointd stderr, last lines:\n" + d.log_tail(0, max_lines=40)])

    return report


def restart(d, report):
    """Start d again on its state_dir; fail with report() if it does not come up."""
    try:
        d.start()
        return time.monotonic()
    except pytest.fail.Exception as e:
        why = e.msg.splitlines()[0]
    pytest.fail(report(None, [f"the daemon did not come up again: {why}"]), pytrace=False)


# ---------------------------------------------------------------------------
# Seeded trials


def _run_trial(make_daemon, seed, trial, rng):
    d = new_daemon(make_daemon)
    old = rng.choice(["rk-v1-1", "rk-v1-2"])
    new = rng.choice(["rk-v2-1", "rk-v2-2", "rk-v2-3"])
    what, policy = random_policy(rng)
    kill_at = rng.uniform(0, EARLY_KILL_WINDOW_S if rng.random() < EARLY_KILL_P else KILL_WINDOW_S)
    again = rng.uniform(0, SECOND_KILL_WINDOW_S) if rng.random() < SECOND_KILL_P else None
    name = start_on(d, old)

    op = Op(name, "Update", new, 0.0)
    api = d.api

    def send():
        try:
            r = api.call("UpdateEndpoint", update_params(name, new, policy))
        except (OSError, http.client.HTTPException) as e:
            op.result, op.detail = "lost", type(e).__name__
            return
        op.result = "ack" if r.status == 200 else "error"
        op.detail = "" if r.status == 200 else repr(r)

    events = []

    def head():
        return (f"seed {seed} trial {trial} (ENDPOINTD_RECOVERY_SEED={seed}): {name} {old} -> {new}, "
                f"{what}; UpdateEndpoint -> {op.result} {op.detail}".rstrip() + "; " + ", ".join(events))

    report = reporter(d, head)
    sender = threading.Thread(target=send, daemon=True)
    sent = time.monotonic()
    sender.start()
    time.sleep(max(0.0, sent + kill_at - time.monotonic()))
    d.kill()
    sender.join(20)
    assert not sender.is_alive(), "the UpdateEndpoint call hung"
    events.append(f"kill -9 {kill_at:.3f} s after UpdateEndpoint went out")
    restart(d, report)
    if again is not None:
        time.sleep(again)
        d.kill()
        events.append(f"kill -9 again {again:.3f} s into recovery")
        restart(d, report)
    restarted = time.monotonic()
    if op.result == "error":
        pytest.fail(report(None, [f"UpdateEndpoint was refused: {op.detail}"]), pytrace=False)
    desc = wait_ending(d, name, old, new, op.result == "ack", restarted, report)
    print(f"trial {trial}: {old} -> {new}, {what}; UpdateEndpoint {op.result}; {', '.join(events)}; "
          f"ended on {desc['EndpointConfigName']} {time.monotonic() - restarted:.1f} s after the restart")
    make_daemon.daemons.remove(d)
    d.close()


def test_kill9_at_random_moments_of_an_update_ends_on_one_config(make_daemon, recovery_seed):
    """Every trial runs; the failures are reported together at the end."""
    rng = random.Random(recovery_seed)
    started = time.monotonic()
    failures = []
    for trial in range(TRIALS):
        try:
            _run_trial(make_daemon, recovery_seed, trial, random.Random(rng.getrandbits(64)))
        except pytest.fail.Exception as e:
            failures.append(e.msg)
            print(f"trial {trial}: FAILED: {e.msg.splitlines()[0]}")
            make_daemon.close()
    print(f"{TRIALS} update trials in {time.monotonic() - started:.1f} s (seed {recovery_seed})")
    if failures:
        pytest.fail(f"{len(failures)} of {TRIALS} trials failed (seed {recovery_seed}):\n\n"
                    + "\n\n".join(failures), pytrace=False)


# ---------------------------------------------------------------------------
# Kills at chosen moments


def _kill_when(d, name, old, new, policy, moment, what):
    """UpdateEndpoint, kill -9 once moment() holds, restart, and insist that
    the update ends on new."""
    d.api.ok("UpdateEndpoint", update_params(name, new, policy))
    wait_for(moment, 30, what, report=d.container_report, interval=0.05)
    d.kill()
    report = reporter(d, lambda: f"{name} {old} -> {new}: kill -9 {what}")
    restarted = restart(d, report)
    return wait_ending(d, name, old, new, True, restarted, report)


def test_kill9_while_the_new_fleet_launches_ends_on_the_new_config(update_daemon):
    d = update_daemon()
    name = start_on(d, "rk-v1-1")

    def launching():
        return pending_status(d.api.describe(name)) == "Creating" and "1" in {
            (c.get("Labels") or {}).get(FLEET) for c in d.containers(name)}

    desc = _kill_when(d, name, "rk-v1-1", "rk-v2-slow-2", None, launching,
                      "while the new fleet launches")
    assert desc["EndpointConfigName"] == "rk-v2-slow-2"


def test_kill9_while_a_canary_bakes_ends_on_the_new_config(update_daemon):
    d = update_daemon()
    name = start_on(d, "rk-v1-2")
    policy = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "CANARY", "WaitIntervalInSeconds": 5,
        "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}}}}
    both = set()

    def canary_serves():
        if pending_status(d.api.describe(name)) != "ActivatingTraffic":
            return False
        both.update(answered_by(d, name, calls=4))
        return {"v1", "v2"} <= both

    desc = _kill_when(d, name, "rk-v1-2", "rk-v2-3", policy, canary_serves,
                      "while the canary bakes and both fleets serve")
    assert desc["EndpointConfigName"] == "rk-v2-3"


def test_kill9_in_a_rolling_updates_bake_after_its_first_batch_ends_on_the_new_config(
        update_daemon):
    d = update_daemon()
    name = start_on(d, "rk-v1-2")
    policy = {"RollingUpdatePolicy": {
        "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1}, "WaitIntervalInSeconds": 5}}

    def first_batch_bakes():
        return (pending_status(d.api.describe(name)) in ("ActivatingTraffic", "Baking")
                and running_fleets(d, name).get("1") == 1)

    desc = _kill_when(d, name, "rk-v1-2", "rk-v2-2", policy, first_batch_bakes,
                      "in the bake after the first batch")
    assert desc["EndpointConfigName"] == "rk-v2-2"


def test_kill9_during_termination_wait_still_removes_the_old_fleet(update_daemon):
    d = update_daemon()
    name = start_on(d, "rk-v1-1")
    wait_s = 4
    policy = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}, "TerminationWaitInSeconds": wait_s}}
    switched = []

    def a_second_into_the_wait():
        desc = d.api.describe(name)
        if desc["EndpointStatus"] != "InService" or desc["EndpointConfigName"] != "rk-v2-1":
            return False
        if not switched:
            switched.append(time.monotonic())
        fleets = running_fleets(d, name)
        after = time.monotonic() - switched[0]
        if "0" not in fleets:
            pytest.fail(f"the old fleet went {after:.1f} s after the switch, within its "
                        f"TerminationWaitInSeconds of {wait_s} s: running {fleets}\n"
                        + d.log_tail(0, max_lines=40), pytrace=False)
        return after >= 1

    desc = _kill_when(d, name, "rk-v1-1", "rk-v2-1", policy, a_second_into_the_wait,
                      "a second into TerminationWaitInSeconds")
    assert desc["EndpointConfigName"] == "rk-v2-1"
    assert running_fleets(d, name) == {"1": 1}
