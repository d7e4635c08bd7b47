"""GET /metrics: the Prometheus text moves as endpoints are created and invoked."""

import http.client
import re

import pytest

from test_invoke_support import invoke

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def scrape(api):
    """{(name, labels): value} of every sample, and the Content-Type."""
    conn = http.client.HTTPConnection(api.host, api.port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        text = r.read().decode()
        assert r.status == 200, text
        content_type = r.getheader("Content-Type")
    finally:
        conn.close()
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        samples[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return samples, content_type


@pytest.fixture(scope="module")
def moved(api, module_endpoints):
    """Metrics before and after an endpoint is created and invoked 3 times
    (once with a TargetVariant that does not exist)."""
    before, _ = scrape(api)
    name, _ = module_endpoints.create("metrics", config="invoke-config")
    api.wait_in_service(name)
    for _ in range(2):
        assert invoke(api, name, b"x").status == 200
    assert invoke(api, name, b"x", target_variant="NoSuchVariant").status == 400
    after, content_type = scrape(api)
    return name, before, after, content_type


def test_metrics_are_served_in_the_prometheus_text_format(moved):
    *_, content_type = moved
    assert content_type.startswith("text/plain; version=0.0.4")


def test_provisioning_histogram_counts_the_new_endpoint(moved):
    _, before, after, _ = moved
    key = ("endpointd_provisioning_seconds_count", "")
    assert after[key] >= before.get(key, 0) + 1


def test_endpoints_gauge_counts_in_service_endpoints(moved):
    _, _, after, _ = moved
    assert after[("endpointd_endpoints", '{status="InService"}')] >= 1


def test_successful_invocations_are_counted_by_endpoint_and_variant(moved):
    name, _, after, _ = moved
    key = ("endpointd_invocations_total",
           f'{{endpoint="{name}",variant="AllTraffic",outcome="success"}}')
    assert after[key] == 2


def test_rejected_invocations_are_counted_apart(moved):
    name, _, after, _ = moved
    key = ("endpointd_invocations_total", f'{{endpoint="{name}",variant="",outcome="rejected"}}')
    assert after[key] == 1


def test_invocation_latency_histogram_has_every_forwarded_call(moved):
    name, _, after, _ = moved
    key = ("endpointd_invocation_duration_seconds_count",
           f'{{endpoint="{name}",variant="AllTraffic"}}')
    assert after[key] == 2
