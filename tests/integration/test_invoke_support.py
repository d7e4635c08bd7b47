"""Helpers shared by the InvokeEndpoint suites (tests/*/test_invoke_*.py).

No tests here.  The runtime API is REST-JSON on the control plane's listener:
`POST /endpoints/<name>/invocations` with the raw body; errors are
`{"ErrorCode": …, "Message": …}` plus `x-amzn-ErrorType`.
"""

import hashlib
import http.client
import time

from endpointd_harness import ONE_MIB, POLL_S, Resp

MAX_INVOKE_BODY = 6 * ONE_MIB  # 6,291,456 bytes
OCTET = "application/octet-stream"
CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
TARGET_VARIANT_HEADER = "X-Amzn-SageMaker-Target-Variant"
INVOKED_VARIANT_HEADER = "x-amzn-invoked-production-variant"  # as Resp lower-cases it


def invocations_path(name):
    return f"/endpoints/{name}/invocations"


def invoke(api, name, body=b"", content_type=OCTET, accept=None, custom_attributes=None,
           target_variant=None, headers=None, timeout=30, conn=None):
    """One InvokeEndpoint call on a connection of its own (or on conn)."""
    hdrs = {}
    if content_type is not None:
        hdrs["Content-Type"] = content_type
    if accept is not None:
        hdrs["Accept"] = accept
    if custom_attributes is not None:
        hdrs[CUSTOM_ATTRIBUTES_HEADER] = custom_attributes
    if target_variant is not None:
        hdrs[TARGET_VARIANT_HEADER] = target_variant
    hdrs.update(headers or {})
    own = conn is None
    if own:
        conn = http.client.HTTPConnection(api.host, api.port, timeout=timeout)
    try:
        conn.request("POST", invocations_path(name), body=body, headers=hdrs)
        r = conn.getresponse()
        return Resp(r.status, r.getheaders(), r.read())
    finally:
        if own:
            conn.close()


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def payload(size, seed=0):
    """size bytes that are not all alike (so a truncation or shift shows)."""
    block = hashlib.sha256(f"endpointd-{seed}".encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


def error_code(resp):
    return resp.json.get("ErrorCode") if isinstance(resp.json, dict) else None


def error_type_header(resp):
    return resp.headers.get("x-amzn-errortype", "").split(":")[0]


def assert_invoke_error(resp, status, code):
    """A runtime error answer: status, error-type header and JSON body agree.

    A ModelError's body says in ErrorCode what the model did, as SageMaker
    does (CLIENT_ERROR_FROM_MODEL, …); its header says ModelError."""
    assert resp.status == status, resp
    assert isinstance(resp.json, dict), f"error body is not a JSON object: {resp!r}"
    assert error_type_header(resp) == code, resp
    if code == "ModelError":
        assert isinstance(error_code(resp), str) and error_code(resp), resp
    else:
        assert error_code(resp) == code, resp
    assert isinstance(resp.json.get("Message"), str), resp
    return resp.json["Message"]


def send_oversized_invocation(api, name, size, wait_s=0.5):
    """POST an invocation body of `size` bytes, reading an early answer if
    one comes (ApiClient.send_large says why)."""
    return api.send_large(invocations_path(name), {"Content-Type": OCTET}, size, wait_s)


def create_in_service(factory, api, specs):
    """Create every (what, config) endpoint at once, then wait for them all;
    return their names in order."""
    names = [factory.create(what, config=config)[0] for what, config in specs]
    for name in names:
        api.wait_in_service(name)
    return names


def running_ids(docker, name):
    return {c["Id"] for c in docker.endpoint_containers(name, all=False)}


def kill_container(docker, cid):
    """SIGKILL through the Engine API, as an OOM kill or a crash would."""
    status, body = docker.request("POST", f"/containers/{cid}/kill")
    assert status == 204, f"docker kill {cid}: {status} {body!r}"


def variant_counts(description):
    """{VariantName: (CurrentInstanceCount, DesiredInstanceCount)}."""
    return {
        v["VariantName"]: (v.get("CurrentInstanceCount"), v.get("DesiredInstanceCount"))
        for v in description.get("ProductionVariants") or []
    }


def poll(pred, timeout, interval=POLL_S):
    """pred()'s first truthy value within timeout, else None (no failure)."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
