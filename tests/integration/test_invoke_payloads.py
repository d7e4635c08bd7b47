"""InvokeEndpoint carries bodies and headers to the container and back.

The demo model answers with JSON describing what it received (length, sha256,
content type, accept, custom attributes, its DEMO_VARIANT), or with
`Accept: application/octet-stream` echoes the body verbatim.
"""

import http.client
import threading
import time

import pytest

from endpointd_harness import ONE_MIB
from test_invoke_support import (
    CUSTOM_ATTRIBUTES_HEADER,
    INVOKED_VARIANT_HEADER,
    MAX_INVOKE_BODY,
    OCTET,
    assert_invoke_error,
    create_in_service,
    invoke,
    payload,
    send_oversized_invocation,
    sha256_hex,
)

CONCURRENT_CLIENTS = 200
CONCURRENT_DEADLINE_S = 60


@pytest.fixture(scope="module")
def endpoint(api, module_endpoints):
    (name,) = create_in_service(module_endpoints, api, [("inv", "invoke-config")])
    return name


def _described(resp):
    assert resp.status == 200, resp
    assert isinstance(resp.json, dict), f"not the demo model's JSON: {resp!r}"
    return resp.json


@pytest.mark.parametrize("size", [0, 1, ONE_MIB, MAX_INVOKE_BODY], ids=["0B", "1B", "1MiB", "6MiB"])
def test_body_reaches_the_container_intact(api, endpoint, size):
    body = payload(size, seed=size)
    got = _described(invoke(api, endpoint, body))
    assert got["length"] == size
    assert got["sha256"] == sha256_hex(body)


def test_body_of_1_mib_echoes_back_verbatim_with_octet_stream_accept(api, endpoint):
    body = payload(ONE_MIB, seed=7)
    r = invoke(api, endpoint, body, accept=OCTET)
    assert r.status == 200, r
    assert r.headers.get("content-type") == OCTET, r
    assert len(r.body) == len(body)
    assert r.body == body


def test_body_over_6_mib_is_refused_with_413_and_an_error_body(api, endpoint):
    r = send_oversized_invocation(api, endpoint, MAX_INVOKE_BODY + 1)
    assert_invoke_error(r, 413, "ValidationError")


def test_endpoint_answers_normally_after_an_oversized_body(api, endpoint):
    send_oversized_invocation(api, endpoint, MAX_INVOKE_BODY + 1)
    body = payload(100, seed=1)
    assert _described(invoke(api, endpoint, body))["sha256"] == sha256_hex(body)


def test_content_type_reaches_the_container(api, endpoint):
    got = _described(invoke(api, endpoint, b"a,b\n1,2\n", content_type="text/csv"))
    assert got["content_type"] == "text/csv"


def test_accept_reaches_the_container(api, endpoint):
    got = _described(invoke(api, endpoint, b"{}", accept="application/json"))
    assert got["accept"] == "application/json"


def test_containers_content_type_comes_back(api, endpoint):
    r = invoke(api, endpoint, b"{}", content_type="application/json")
    assert r.status == 200, r
    assert r.headers.get("content-type", "").split(";")[0].strip() == "application/json", r


def test_custom_attributes_reach_the_container(api, endpoint):
    attrs = "c000b4f9-df62-4c85-a0bf-7c525f9104a4,trace=on"
    got = _described(invoke(api, endpoint, b"x", custom_attributes=attrs))
    assert got["custom_attributes"] == attrs


def test_containers_custom_attributes_come_back(api, endpoint):
    attrs = "session=42;mode=fast"
    r = invoke(api, endpoint, b"x", custom_attributes=attrs)
    assert r.status == 200, r
    assert r.headers.get(CUSTOM_ATTRIBUTES_HEADER.lower()) == attrs, r


def test_answer_names_the_invoked_production_variant(api, endpoint):
    r = invoke(api, endpoint, b"x")
    assert r.status == 200, r
    assert r.headers.get(INVOKED_VARIANT_HEADER) == "AllTraffic", r
    assert _described(r)["variant"] == "AllTraffic"


def test_answer_has_a_request_id(api, endpoint):
    r = invoke(api, endpoint, b"x")
    assert r.status == 200, r
    assert r.headers.get("x-amzn-requestid"), r


def test_200_concurrent_clients_all_get_their_own_answer(api, endpoint):
    """Each client: its own connection, 1 or 2 calls, a body of its own whose
    sha256 must come back (no answer goes to the wrong client)."""
    start = threading.Barrier(CONCURRENT_CLIENTS, timeout=30)
    results = [None] * CONCURRENT_CLIENTS

    def client(i):
        out = []
        conn = http.client.HTTPConnection(api.host, api.port, timeout=30)
        try:
            try:
                start.wait()
            except threading.BrokenBarrierError:
                pass
            for k in range(1 + i % 2):
                body = f"client {i} call {k}".encode()
                r = invoke(api, endpoint, body, conn=conn)
                ok = r.status == 200 and isinstance(r.json, dict) and r.json.get("sha256") == sha256_hex(body)
                out.append("ok" if ok else repr(r)[:300])
        except Exception as e:  # noqa: BLE001 - reported below
            out.append(f"{type(e).__name__}: {e}")
        finally:
            conn.close()
            results[i] = out

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CONCURRENT_CLIENTS)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, began + CONCURRENT_DEADLINE_S - time.monotonic()))
    hung = sum(1 for t in threads if t.is_alive())
    assert hung == 0, f"{hung} clients still waiting after {CONCURRENT_DEADLINE_S} s"
    bad = [(i, x) for i, out in enumerate(results) for x in out if x != "ok"]
    calls = sum(len(out) for out in results)
    assert calls == sum(1 + i % 2 for i in range(CONCURRENT_CLIENTS))
    assert not bad, f"{len(bad)} of {calls} calls failed, e.g. {bad[:5]}"
