"""Bytes that are not UTF-8, wherever a client or a model puts them, get an
answer that is valid JSON, and the daemon keeps serving.

Each request here once aborted the daemon: replies were built with
json_pack(), which refuses such strings, and the NULL it returned was fatal.
"""

import json
import socket

import pytest

from endpointd_harness import unique_name
from test_invoke_support import create_in_service, invoke

MESSAGE_BODY_MAX = 1024  # bytes of a model's words that Message quotes


def send_raw(api, head, body=b"", timeout=10):
    """Send one request as raw bytes; return (status, headers, body)."""
    with socket.create_connection((api.host, api.port), timeout=timeout) as s:
        s.sendall(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head_part, _, rest = data.partition(b"\r\n\r\n")
    lines = head_part.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    return status, headers, rest


def strict_json(body):
    """The body parsed as JSON from strict UTF-8 (a bad byte raises)."""
    return json.loads(body.decode("utf-8", errors="strict"))


@pytest.fixture
def alive(api, daemon):
    """Checks after the request that the daemon still runs and answers."""
    before = api.endpoint_names()

    def check():
        assert daemon.proc.poll() is None, "endpointd exited"
        assert api.endpoint_names() == before
        return True

    return check


def test_target_with_a_byte_that_is_not_utf8_is_an_unknown_operation(api, alive):
    status, headers, body = send_raw(
        api,
        b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: SageMaker.\xff\r\n"
        b"Content-Type: application/x-amz-json-1.1\r\n",
        b"{}",
    )
    assert status == 400
    assert strict_json(body)["__type"] == "UnknownOperationException"
    assert alive()


def test_invocation_path_with_a_byte_that_is_not_utf8_is_not_found(api, alive):
    status, _, body = send_raw(api, b"POST /endpoints/a\xffb/invocations HTTP/1.1\r\nHost: x\r\n", b"x")
    assert status == 400
    doc = strict_json(body)
    assert doc["ErrorCode"] == "ValidationError"
    assert "\ufffd" in doc["Message"]
    assert alive()


def test_unknown_route_with_bytes_that_are_not_utf8_is_valid_json(api, alive):
    status, _, body = send_raw(api, b"POST /\xc3\x28/\xed\xa0\x80 HTTP/1.1\r\nHost: x\r\n")
    assert status == 404
    assert strict_json(body)["__type"] == "UnknownOperationException"
    assert alive()


def test_target_variant_with_a_byte_that_is_not_utf8_is_a_validation_error(api, ready_endpoint, alive):
    status, _, body = send_raw(
        api,
        b"POST /endpoints/%s/invocations HTTP/1.1\r\nHost: x\r\n"
        b"X-Amzn-SageMaker-Target-Variant: All\xffTraffic\r\n" % ready_endpoint.encode(),
        b"x",
    )
    assert status == 400
    assert "All\ufffdTraffic" in strict_json(body)["Message"]
    assert alive()
    assert invoke(api, ready_endpoint, b"still serving").status == 200


@pytest.mark.parametrize("value", [b"\xff\xfe", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xe2\x82"])
def test_header_values_that_are_not_utf8_do_not_stop_the_daemon(api, ready_endpoint, alive, value):
    status, _, body = send_raw(
        api,
        b"POST /endpoints/%s/invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/\xff\r\n"
        b"Accept: %s\r\nX-Amzn-SageMaker-Custom-Attributes: %s\r\n" % (ready_endpoint.encode(), value, value),
        b"x",
    )
    assert status in (200, 400)
    strict_json(body)
    assert alive()


def test_json_body_with_a_byte_that_is_not_utf8_is_a_serialization_exception(api, alive):
    status, _, body = send_raw(
        api,
        b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: SageMaker.CreateEndpoint\r\n"
        b"Content-Type: application/x-amz-json-1.1\r\n",
        b'{"EndpointName": "a\xffb", "EndpointConfigName": "demo-config"}',
    )
    assert status == 400
    assert strict_json(body)["__type"] == "SerializationException"
    assert alive()


def test_long_multibyte_name_is_echoed_cut_on_a_character_boundary(api, alive):
    # 1 + 2 * 200 bytes: a cut at 256 bytes lands inside a character.
    name = "a" + "é" * 200
    r = api.error("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": "demo-config"})
    assert r.error_type == "ValidationException", r
    r.body.decode("utf-8", errors="strict")
    assert "aééé" in r.message and "…" in r.message, r
    assert alive()


@pytest.fixture(scope="module")
def echo_500(api, module_endpoints):
    """An endpoint whose model answers 500 with the request's body."""
    return create_in_service(module_endpoints, api, [("echo500", "invoke-echo-500-config")])[0]


@pytest.mark.parametrize("shift", [0, 1, 2, 3])
def test_model_error_cut_inside_a_character_is_valid_json(api, echo_500, alive, shift):
    # A 4-byte character straddles the cut for some shift: each is dropped
    # whole, not split.
    words = ("x" * shift + "😀" * 600).encode()
    r = invoke(api, echo_500, words, content_type="text/plain")
    assert r.status == 424, r
    doc = strict_json(r.body)
    assert doc["ErrorCode"] == "SERVER_ERROR_FROM_MODEL"
    quoted = doc["Message"].split('"')[1]
    assert quoted == ("x" * shift + "😀" * 600)[: len(quoted)]
    assert len(quoted.encode()) <= MESSAGE_BODY_MAX
    assert doc["OriginalMessage"] == words.decode()
    assert alive()


def test_model_error_with_bytes_that_are_not_utf8_is_valid_json(api, echo_500, alive):
    r = invoke(api, echo_500, b"bad \xff\xfe bytes \x00 and \xc3", content_type="text/plain")
    assert r.status == 424, r
    doc = strict_json(r.body)
    assert doc["OriginalMessage"] == "bad \ufffd\ufffd bytes \ufffd and \ufffd"
    assert alive()
