"""SIGTERM stops without failing a call, and a start serves only once it can.

At SIGTERM the daemon stops accepting, answers the calls it has begun (with
Connection: close) within limits.drain_timeout_s, closes connections left
idle, and exits 0.  At start it binds its listeners but accepts only once
the containers of restored endpoints are listed and adopted, so that the
first call it takes is routed, not refused for want of an instance.
"""

import http.client
import threading
import time

from endpointd_harness import unique_name
from recovery_helpers import SLOW_CALL_CONFIG, SLOW_CALL_MS


def _invoke(port, name, result, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", f"/endpoints/{name}/invocations", body=b"{}",
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        result.update(status=r.status, body=r.read(), connection=r.getheader("Connection"))
    except OSError as e:
        result.update(error=repr(e))
    finally:
        conn.close()


def _call_in_flight(d, name):
    result = {}
    t = threading.Thread(target=_invoke, args=(d.port, name, result))
    t.start()
    time.sleep(0.4)  # the call is with the model now
    return t, result


def test_sigterm_answers_a_call_in_flight_then_exits_0(make_daemon):
    d = make_daemon()
    name = unique_name("drain")
    d.api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": SLOW_CALL_CONFIG})
    d.wait_converged(name)
    t, result = _call_in_flight(d, name)
    rc = d.term()
    t.join(10)
    assert result.get("status") == 200, result
    assert result["connection"] == "close", result
    assert rc == 0


def test_sigterm_closes_an_idle_kept_alive_connection_and_exits_at_once(make_daemon):
    d = make_daemon()
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    conn.request("POST", "/", body=b"{}", headers={"X-Amz-Target": "SageMaker.ListEndpoints",
                                                   "Content-Type": "application/x-amz-json-1.1"})
    r = conn.getresponse()
    r.read()
    assert r.status == 200 and not r.will_close
    t0 = time.monotonic()
    rc = d.term()
    assert rc == 0
    assert time.monotonic() - t0 < 5, "SIGTERM waited on an idle connection"
    conn.close()


def test_drain_timeout_bounds_how_long_sigterm_waits_for_a_call(make_daemon):
    d = make_daemon(extra_config=["limits: { max_endpoints: 100, drain_timeout_s: 1 }"])
    name = unique_name("drainto")
    d.api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": SLOW_CALL_CONFIG})
    d.wait_converged(name)
    t, result = _call_in_flight(d, name)
    t0 = time.monotonic()
    rc = d.term()
    waited = time.monotonic() - t0
    t.join(10)
    assert rc == 0
    # The call (SLOW_CALL_MS) outlasts the 1 s drain: it is cut at the
    # deadline with an answer, not left hanging.
    assert waited < SLOW_CALL_MS / 1000 + 5
    assert result.get("status") == 503, result
    assert b"shutting down" in result["body"], result


def test_a_restarted_daemon_routes_its_very_first_call_to_an_adopted_container(make_daemon):
    d = make_daemon()
    name = unique_name("first")
    d.api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": "demo-config"})
    d.wait_converged(name)
    for _ in range(3):
        assert d.term() == 0
        d.start()  # returns at the first answer the new daemon gives
        result = {}
        _invoke(d.port, name, result)
        assert result.get("status") == 200, result
