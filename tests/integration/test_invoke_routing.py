"""InvokeEndpoint picks a variant by weight, or the one TargetVariant names.

weighted-config: variant Heavy (weight 3) and Light (weight 1), one instance
each; each variant's container reports its name as "variant".
"""

import math
import threading

import pytest

from test_invoke_support import INVOKED_VARIANT_HEADER, assert_invoke_error, create_in_service, invoke

WEIGHTED_CALLS = 400
HEAVY_SHARE = 0.75
WEIGHTED_THREADS = 8
TARGETED_CALLS = 20


@pytest.fixture(scope="module")
def endpoint(api, module_endpoints):
    (name,) = create_in_service(module_endpoints, api, [("route", "weighted-config")])
    return name


@pytest.fixture(scope="module")
def weighted_run(api, endpoint):
    """WEIGHTED_CALLS untargeted calls from a few threads: [(status, header variant, body variant)]."""
    per_thread = WEIGHTED_CALLS // WEIGHTED_THREADS
    results = []
    lock = threading.Lock()

    def worker():
        mine = []
        for _ in range(per_thread):
            try:
                r = invoke(api, endpoint, b"w", timeout=10)
                body_variant = r.json.get("variant") if isinstance(r.json, dict) else None
                mine.append((r.status, r.headers.get(INVOKED_VARIANT_HEADER), body_variant))
            except OSError as e:
                mine.append((None, repr(e), None))
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(WEIGHTED_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "weighted calls still running after 60 s"
    return results


@pytest.mark.parametrize("variant", ["Heavy", "Light"])
def test_target_variant_routes_every_call_to_that_variant(api, endpoint, variant):
    seen = []
    for _ in range(TARGETED_CALLS):
        r = invoke(api, endpoint, b"t", target_variant=variant)
        assert r.status == 200, r
        seen.append(r.json["variant"])
    assert seen == [variant] * TARGETED_CALLS


def test_target_variant_is_named_as_the_invoked_variant(api, endpoint):
    r = invoke(api, endpoint, b"t", target_variant="Light")
    assert r.status == 200, r
    assert r.headers.get(INVOKED_VARIANT_HEADER) == "Light", r


def test_unknown_target_variant_is_a_validation_error(api, endpoint):
    r = invoke(api, endpoint, b"t", target_variant="NoSuchVariant")
    assert_invoke_error(r, 400, "ValidationError")


def test_every_untargeted_call_succeeds(weighted_run):
    failed = [x for x in weighted_run if x[0] != 200]
    assert len(weighted_run) == WEIGHTED_CALLS
    assert not failed, f"{len(failed)} failed, e.g. {failed[:5]}"


def test_invoked_variant_header_names_the_variant_that_answered(weighted_run):
    wrong = [x for x in weighted_run if x[0] == 200 and x[1] != x[2]]
    assert not wrong, f"{len(wrong)} answers name another variant than the one that answered, e.g. {wrong[:5]}"


def test_weights_3_to_1_split_traffic_3_to_1(weighted_run):
    n = len(weighted_run)
    heavy = sum(1 for x in weighted_run if x[0] == 200 and x[2] == "Heavy")
    light = sum(1 for x in weighted_run if x[0] == 200 and x[2] == "Light")
    assert heavy + light == n, f"{n - heavy - light} calls answered by neither variant"
    mean = n * HEAVY_SHARE
    sigma = math.sqrt(n * HEAVY_SHARE * (1 - HEAVY_SHARE))
    assert abs(heavy - mean) <= 4 * sigma, f"Heavy got {heavy} of {n} calls, expected {mean:.0f} ± {4 * sigma:.1f}"
