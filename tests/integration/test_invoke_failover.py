"""An instance that dies leaves the rotation at once and is replaced, while
the endpoint stays InService.

Two scenarios, each run once by a module fixture and checked by several tests:
  - load_kill: invoke-pair-config (two instances) under load from WORKERS
    threads; one container is SIGKILLed through the Engine API.
  - lone_kill: slow-config (one instance whose container takes 3 s to
    listen); its container is killed, so until the replacement passes its
    ping there is no healthy instance.
"""

import threading
import time
from types import SimpleNamespace

import pytest

from endpointd_harness import INVOCATION_TIMEOUT_S
from test_invoke_support import (
    assert_invoke_error,
    create_in_service,
    error_code,
    invoke,
    kill_container,
    running_ids,
    variant_counts,
)

WORKERS = 8
LOAD_BEFORE_KILL_S = 1.0
LOAD_AFTER_REPLACEMENT_S = 1.0
REPLACE_DEADLINE_S = 60
MAX_CALLS_PER_WORKER = 20000


@pytest.fixture(scope="module")
def names(api, module_endpoints):
    pair, lone = create_in_service(module_endpoints, api, [("pair", "invoke-pair-config"), ("lone", "slow-config")])
    return SimpleNamespace(pair=pair, lone=lone)


@pytest.fixture(scope="module")
def load_kill(api, docker, names):
    name = names.pair
    before = running_ids(docker, name)
    assert len(before) == 2, before
    stop = threading.Event()
    calls = []  # (started, finished, status or None, error code or exception text)
    lock = threading.Lock()
    hard_deadline = time.monotonic() + LOAD_BEFORE_KILL_S + REPLACE_DEADLINE_S + LOAD_AFTER_REPLACEMENT_S + 10

    def worker(i):
        mine = []
        for k in range(MAX_CALLS_PER_WORKER):
            if stop.is_set() or time.monotonic() > hard_deadline:
                break
            t0 = time.monotonic()
            try:
                r = invoke(api, name, f"{i}/{k}".encode(), timeout=INVOCATION_TIMEOUT_S + 10)
                mine.append((t0, time.monotonic(), r.status, None if r.status == 200 else (error_code(r), r.body[:200])))
            except OSError as e:
                mine.append((t0, time.monotonic(), None, repr(e)))
        with lock:
            calls.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(WORKERS)]
    for t in threads:
        t.start()
    try:
        time.sleep(LOAD_BEFORE_KILL_S)
        victim = sorted(before)[0]
        t_kill = time.monotonic()
        kill_container(docker, victim)
        statuses = []
        replaced = None
        deadline = time.monotonic() + REPLACE_DEADLINE_S
        while replaced is None and time.monotonic() < deadline:
            d = api.describe(name)
            ids = running_ids(docker, name)
            statuses.append(d["EndpointStatus"])
            if variant_counts(d).get("AllTraffic", (None,))[0] == 2 and ids - before and victim not in ids:
                replaced = (d, ids)
            else:
                time.sleep(0.1)
        t_replaced = time.monotonic()
        time.sleep(LOAD_AFTER_REPLACEMENT_S)
    finally:
        stop.set()
        for t in threads:
            t.join(INVOCATION_TIMEOUT_S + 15)
    hung = sum(1 for t in threads if t.is_alive())
    return SimpleNamespace(calls=sorted(calls), before=before, victim=victim, t_kill=t_kill, t_replaced=t_replaced,
                           replaced=replaced, statuses=statuses, hung=hung)


def _failures(run):
    return [c for c in run.calls if c[2] != 200]


def test_killed_instance_costs_at_most_the_calls_in_flight(load_kill):
    failed = _failures(load_kill)
    ok = len(load_kill.calls) - len(failed)
    assert ok > 0, "no call succeeded at all"
    if len(failed) > WORKERS:
        first, last = failed[0][0] - load_kill.t_kill, failed[-1][1] - load_kill.t_kill
        pytest.fail(f"{len(failed)} of {len(load_kill.calls)} calls failed (more than the {WORKERS} in flight), "
                    f"from {first * 1000:.0f} ms to {last * 1000:.0f} ms after the kill; e.g. {failed[-3:]}")


def test_calls_lost_to_a_killed_instance_are_model_or_server_errors(load_kill):
    odd = [c for c in _failures(load_kill) if c[2] is None or not (c[2] == 424 or 500 <= c[2] <= 599)]
    assert not odd, f"failed calls that are neither 424 nor 5xx answers: {odd[:10]}"


def test_no_call_hangs_when_an_instance_is_killed(load_kill):
    assert load_kill.hung == 0, f"{load_kill.hung} clients still waiting"
    slowest = max(c[1] - c[0] for c in load_kill.calls)
    assert slowest <= INVOCATION_TIMEOUT_S + 2, f"the slowest call took {slowest:.2f} s"


def test_killed_instance_is_replaced_by_a_new_container(load_kill):
    assert load_kill.replaced is not None, f"no new container within {REPLACE_DEADLINE_S} s of the kill"
    d, ids = load_kill.replaced
    assert variant_counts(d)["AllTraffic"] == (2, 2), d
    assert len(ids) == 2 and load_kill.victim not in ids, ids


def test_calls_succeed_after_the_killed_instance_is_replaced(load_kill):
    assert load_kill.replaced is not None, "never replaced"
    later = [c for c in load_kill.calls if c[0] >= load_kill.t_replaced]
    assert later, "no calls were made after the replacement"
    failed = [c for c in later if c[2] != 200]
    assert not failed, f"{len(failed)} of {len(later)} calls after the replacement failed, e.g. {failed[:5]}"


def test_endpoint_stays_in_service_while_an_instance_is_replaced(load_kill):
    assert load_kill.statuses and set(load_kill.statuses) == {"InService"}, load_kill.statuses


@pytest.fixture(scope="module")
def lone_kill(api, docker, names):
    """Kill the only container, then invoke and describe in turns (quickly)
    until an invocation succeeds on the replacement."""
    name = names.lone
    (victim,) = running_ids(docker, name)
    kill_container(docker, victim)
    t_kill = time.monotonic()
    answers, described, back = [], [], None
    deadline = t_kill + REPLACE_DEADLINE_S
    for _ in range(10000):
        if time.monotonic() > deadline:
            break
        try:
            r = invoke(api, name, b"x", timeout=INVOCATION_TIMEOUT_S + 10)
        except OSError as e:
            r = e
        answers.append(r)
        d = api.describe(name)
        described.append((d["EndpointStatus"], variant_counts(d).get("AllTraffic")))
        if not isinstance(r, OSError) and r.status == 200:
            ids = running_ids(docker, name)
            if ids and victim not in ids:
                back = (r, ids)
                break
        time.sleep(0.02)
    return SimpleNamespace(answers=answers, described=described, back=back, victim=victim)


def test_no_healthy_instance_answers_503_service_unavailable(lone_kill):
    unavailable = [r for r in lone_kill.answers if not isinstance(r, OSError) and r.status == 503]
    summary = sorted({getattr(r, "status", repr(r)) for r in lone_kill.answers}, key=str)
    assert unavailable, f"no 503 between the kill and the replacement; answers seen: {summary}"
    for r in unavailable:
        assert_invoke_error(r, 503, "ServiceUnavailable")


def test_calls_without_a_healthy_instance_fail_fast_with_server_errors(lone_kill):
    odd = [r for r in lone_kill.answers
           if isinstance(r, OSError) or not (r.status in (200, 424) or 500 <= r.status <= 599)]
    assert not odd, f"answers that are neither 200, 424 nor 5xx: {odd[:5]}"


def test_current_instance_count_shows_the_gap_while_the_instance_is_replaced(lone_kill):
    counts = [c for _, c in lone_kill.described]
    assert (0, 1) in counts, f"(Current, Desired) seen: {sorted(set(counts), key=str)}"


def test_endpoint_stays_in_service_while_its_only_instance_is_replaced(lone_kill):
    statuses = {s for s, _ in lone_kill.described}
    assert statuses == {"InService"}, statuses


def test_calls_succeed_again_once_the_replacement_passes_its_ping(lone_kill):
    assert lone_kill.back is not None, (
        f"no successful call on a new container within {REPLACE_DEADLINE_S} s; last answer {lone_kill.answers[-1:]!r}")
