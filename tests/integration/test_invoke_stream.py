"""InvokeEndpointWithResponseStream: POST /endpoints/<name>/invocations-response-stream.

Raw HTTP, the answer decoded by botocore's own event-stream parser
(EventStreamBuffer).  The demo model's streaming mode writes "token 1 ",
"token 2 ", ... one chunk each (endpointd_harness.py's demo-stream-* models):
every piece must come out as a PayloadPart, in order, as it is written;
failures before the first byte are InvokeEndpoint's, failures after it a
ModelStreamError event that ends the stream cleanly.  Also: variant routing,
a slow reader, a client that hangs up, 100 streams at once, /metrics, and a
daemon with signatures on.
"""

import http.client
import json
import os
import re
import shutil
import socket
import threading
import time

import pytest

from endpointd_harness import (ACCOUNT, REGION, STREAM_IDLE_TIMEOUT_S, ApiClient, Daemon,
                               unique_name, wait_until)
from test_invoke_support import INVOKED_VARIANT_HEADER, assert_invoke_error, create_in_service

eventstream = pytest.importorskip("botocore.eventstream")

EVENTSTREAM_CT = "application/vnd.amazon.eventstream"
CONCURRENT_STREAMS = 100


def stream_path(name):
    return f"/endpoints/{name}/invocations-response-stream"


def tokens(n, first=1):
    return "".join(f"token {i} " for i in range(first, n + 1)).encode()


class Stream:
    """One streamed answer: status, headers, and for a 200 its messages as
    (message type, event or exception type, payload, arrival time)."""

    def __init__(self, status, headers, body=b"", messages=(), ended=True):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body
        self.json = None
        if status != 200:
            try:
                self.json = json.loads(body)
            except ValueError:
                pass
        self.messages = list(messages)
        self.ended = ended

    @property
    def parts(self):
        return [m[2] for m in self.messages if m[0] == "event" and m[1] == "PayloadPart"]

    @property
    def payload(self):
        return b"".join(self.parts)

    @property
    def errors(self):
        return [(m[1], json.loads(m[2])) for m in self.messages if m[0] == "exception"]

    def __repr__(self):
        return (f"<Stream {self.status} headers={self.headers!r} body={self.body[:500]!r} "
                f"messages={[(m[0], m[1], m[2][:80]) for m in self.messages]!r}>")


def read_messages(resp, on_message=None):
    """Decode resp's body as it arrives; (messages, ended cleanly)."""
    buf = eventstream.EventStreamBuffer()
    messages = []
    try:
        while True:
            data = resp.read1(65536)
            if not data:
                break
            buf.add_data(data)
            for m in buf:
                h = m.headers
                kind = h.get(":message-type")
                name = h.get(":event-type") if kind == "event" else h.get(":exception-type")
                messages.append((kind, name, m.payload, time.monotonic()))
                if on_message and on_message(messages):
                    return messages, False
    except http.client.IncompleteRead:
        return messages, False
    return messages, True


def invoke_stream(api, name, body=b"hello", content_type="text/plain", headers=None, timeout=30,
                  on_message=None, port=None):
    hdrs = {"Content-Type": content_type} if content_type else {}
    hdrs.update(headers or {})
    conn = http.client.HTTPConnection(api.host, port or api.port, timeout=timeout)
    try:
        conn.request("POST", stream_path(name), body=body, headers=hdrs)
        r = conn.getresponse()
        if r.status != 200:
            return Stream(r.status, r.getheaders(), r.read())
        messages, ended = read_messages(r, on_message)
        return Stream(r.status, r.getheaders(), messages=messages, ended=ended)
    finally:
        conn.close()


def assert_model_stream_error(s, code, words):
    assert s.status == 200, s
    assert s.ended, f"the stream did not end cleanly: {s!r}"
    assert len(s.errors) == 1, s
    assert s.messages[-1][0] == "exception", "the error event is not the last message"
    kind, body = s.errors[0]
    assert kind == "ModelStreamError", s
    assert body.get("ErrorCode") == code, body
    assert re.search(words, body.get("Message", "")), body


@pytest.fixture(scope="module")
def eps(api, module_endpoints):
    specs = [("stream", "stream-config"), ("sweight", "stream-weighted-config"),
             ("sfail", "stream-fail-config"), ("sexit", "stream-exit-config"),
             ("sclose", "stream-until-close-config"), ("sstall", "stream-stall-config"),
             ("slong", "stream-long-config"), ("sslow", "stream-slow-long-config"),
             ("s500", "stream-500-config")]
    names = create_in_service(module_endpoints, api, specs)
    return dict(zip([s[1] for s in specs], names))


# --- the stream ------------------------------------------------------------


def test_every_piece_arrives_in_order_as_one_payload_part(api, eps):
    s = invoke_stream(api, eps["stream-config"])
    assert s.status == 200, s
    assert s.ended, s
    assert s.errors == [], s
    assert s.payload == tokens(5), s
    assert s.parts == [f"token {i} ".encode() for i in range(1, 6)], s


def test_answer_names_the_encoding_the_model_content_type_and_the_variant(api, eps):
    s = invoke_stream(api, eps["stream-config"])
    assert s.status == 200, s
    assert s.headers["content-type"] == EVENTSTREAM_CT, s
    assert s.headers["x-amzn-sagemaker-content-type"] == "text/plain", s
    assert s.headers[INVOKED_VARIANT_HEADER] == "AllTraffic", s
    assert s.headers.get("x-amzn-requestid"), s
    assert s.headers.get("transfer-encoding") == "chunked", s


def test_pieces_leave_as_the_model_writes_them_not_at_the_end(api, eps):
    s = invoke_stream(api, eps["stream-config"])
    times = [m[3] for m in s.messages]
    assert len(times) == 5, s
    # The model waits 20 ms between tokens: four gaps.
    assert times[-1] - times[0] >= 0.06, times


def test_a_model_that_writes_until_close_is_streamed_whole(api, eps):
    s = invoke_stream(api, eps["stream-until-close-config"])
    assert s.status == 200 and s.ended, s
    assert s.errors == [], s
    assert s.payload == tokens(4), s


def test_the_connection_serves_another_stream_after_one_ends(api, eps):
    conn = http.client.HTTPConnection(api.host, api.port, timeout=30)
    try:
        for _ in range(3):
            conn.request("POST", stream_path(eps["stream-config"]), body=b"x",
                         headers={"Content-Type": "text/plain"})
            r = conn.getresponse()
            messages, ended = read_messages(r)
            assert r.status == 200 and ended
            assert b"".join(m[2] for m in messages) == tokens(5)
    finally:
        conn.close()


# --- routing ---------------------------------------------------------------


@pytest.mark.parametrize("variant,count", [("Heavy", 3), ("Light", 4)])
def test_target_variant_streams_from_that_variant(api, eps, variant, count):
    for _ in range(5):
        s = invoke_stream(api, eps["stream-weighted-config"],
                          headers={"X-Amzn-SageMaker-Target-Variant": variant})
        assert s.status == 200, s
        assert s.headers[INVOKED_VARIANT_HEADER] == variant, s
        assert s.payload == tokens(count), s


def test_untargeted_streams_reach_every_weighted_variant(api, eps):
    seen = {}
    for _ in range(40):
        s = invoke_stream(api, eps["stream-weighted-config"])
        assert s.status == 200, s
        seen[s.headers[INVOKED_VARIANT_HEADER]] = seen.get(s.headers[INVOKED_VARIANT_HEADER], 0) + 1
    assert set(seen) == {"Heavy", "Light"}, seen
    assert seen["Heavy"] > seen["Light"], seen


def test_unknown_target_variant_is_a_validation_error(api, eps):
    s = invoke_stream(api, eps["stream-config"], headers={"X-Amzn-SageMaker-Target-Variant": "Nope"})
    assert_invoke_error(s, 400, "ValidationError")


# --- errors before the first byte ---------------------------------------------


def test_unknown_endpoint_is_invoke_endpoints_validation_error(api):
    name = unique_name("nosuch")
    s = invoke_stream(api, name)
    msg = assert_invoke_error(s, 400, "ValidationError")
    assert msg == f"Endpoint {name} of account {ACCOUNT} not found.", msg


def test_a_model_error_before_the_stream_is_a_424_model_error(api, eps):
    s = invoke_stream(api, eps["stream-500-config"])
    msg = assert_invoke_error(s, 424, "ModelError")
    assert s.json["OriginalStatusCode"] == 500, s
    assert msg.startswith("Received server error (500) from primary with message"), msg


@pytest.mark.parametrize("header,value,field,constraint", [
    ("Content-Type", "x" * 1025, "contentType", "Member must have length less than or equal to 1024"),
    ("X-Amzn-SageMaker-Accept", "a" * 1025, "accept", "Member must have length less than or equal to 1024"),
    ("X-Amzn-SageMaker-Custom-Attributes", "c" * 1025, "customAttributes",
     "Member must have length less than or equal to 1024"),
    ("X-Amzn-SageMaker-Target-Variant", "-bad", "targetVariant", "Member must satisfy regular expression pattern"),
    ("X-Amzn-SageMaker-Inference-Id", "i" * 65, "inferenceId", "Member must have length less than or equal to 64"),
    # Only InvokeEndpoint opens a session: NEW_SESSION is not an id here.
    ("X-Amzn-SageMaker-Session-Id", "NEW_SESSION", "sessionId", "Member must satisfy regular expression pattern"),
    ("X-Amzn-SageMaker-Session-Id", "s" * 257, "sessionId", "Member must have length less than or equal to 256"),
    ("X-Amzn-SageMaker-Session-Id", "s-", "sessionId", "Member must satisfy regular expression pattern"),
    ("X-Amzn-SageMaker-Inference-Component", "-ic", "inferenceComponentName",
     "Member must satisfy regular expression pattern"),
])
def test_bad_members_are_refused_in_sagemakers_words(api, eps, header, value, field, constraint):
    s = invoke_stream(api, eps["stream-config"], headers={header: value})
    msg = assert_invoke_error(s, 400, "ValidationError")
    assert msg.startswith("1 validation error detected: Value '"), msg
    assert f"at '{field}' failed to satisfy constraint: {constraint}" in msg, msg


def test_a_session_id_of_sagemakers_shape_is_streamed(api, eps):
    s = invoke_stream(api, eps["stream-config"], headers={"X-Amzn-SageMaker-Session-Id": "s" * 200 + "-1"})
    assert s.status == 200 and s.ended, s
    assert s.payload == tokens(5), s


def test_an_inference_component_is_refused_on_an_endpoint_without_them(api, eps):
    s = invoke_stream(api, eps["stream-config"], headers={"X-Amzn-SageMaker-Inference-Component": "ic-1"})
    msg = assert_invoke_error(s, 400, "ValidationError")
    assert "Inference Component Name header is not allowed" in msg, msg


def test_a_content_type_that_is_not_ascii_is_refused(api, eps):
    conn = http.client.HTTPConnection(api.host, api.port, timeout=30)
    try:
        conn.putrequest("POST", stream_path(eps["stream-config"]))
        conn.putheader("Content-Type", "text/pl\xe4in".encode("utf-8"))
        conn.putheader("Content-Length", "0")
        conn.endheaders()
        r = conn.getresponse()
        s = Stream(r.status, r.getheaders(), r.read())
    finally:
        conn.close()
    msg = assert_invoke_error(s, 400, "ValidationError")
    assert "at 'contentType' failed to satisfy constraint" in msg, msg


# --- errors after it ----------------------------------------------------------


def test_a_model_failing_mid_stream_ends_it_with_model_stream_error(api, eps):
    s = invoke_stream(api, eps["stream-fail-config"])
    assert s.payload == tokens(2), s
    assert_model_stream_error(s, "StreamBroken", "closed the connection")


def test_a_container_that_dies_mid_stream_ends_it_with_model_stream_error(api, eps):
    s = invoke_stream(api, eps["stream-exit-config"])
    assert s.payload == tokens(2), s
    assert_model_stream_error(s, "StreamBroken", "primary")


def test_a_gap_longer_than_the_idle_timeout_ends_the_stream(api, eps):
    t0 = time.monotonic()
    s = invoke_stream(api, eps["stream-stall-config"])
    took = time.monotonic() - t0
    assert s.payload == tokens(1), s
    assert_model_stream_error(s, "ModelInvocationTimeExceeded", f"after {STREAM_IDLE_TIMEOUT_S} seconds")
    assert took < STREAM_IDLE_TIMEOUT_S + 1.5, took


# --- back-pressure and clients that go away ---------------------------------


def daemon_rss_kib(daemon):
    with open(f"/proc/{daemon.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def metric(api, name, endpoint):
    r = ApiClient(api.host, api.port).raw(b"", method="GET", path="/metrics")
    for line in r.body.decode().splitlines():
        if line.startswith(name + "{") and f'endpoint="{endpoint}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def test_a_slow_reader_gets_every_piece_and_the_daemon_holds_a_bounded_amount(api, daemon, eps):
    name = eps["stream-long-config"]
    before = daemon_rss_kib(daemon)
    peak = [before]
    sock = socket.create_connection((api.host, api.port), timeout=60)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    conn = http.client.HTTPConnection(api.host, api.port, timeout=60)
    conn.sock = sock
    try:
        conn.request("POST", stream_path(name), body=b"x", headers={"Content-Type": "text/plain"})
        r = conn.getresponse()
        assert r.status == 200
        time.sleep(2)  # the model writes on; the daemon must stop reading it
        peak.append(daemon_rss_kib(daemon))

        def slowly(messages):
            if len(messages) % 50 == 0:
                peak.append(daemon_rss_kib(daemon))
            return False
        messages, ended = read_messages(r, slowly)
    finally:
        conn.close()
    assert ended
    assert b"".join(m[2] for m in messages if m[0] == "event") == tokens(20000)
    assert max(peak) - before < 32 * 1024, f"RSS grew from {before} KiB to {max(peak)} KiB"


def test_a_client_that_hangs_up_cancels_the_call_to_the_container(api, eps):
    name = eps["stream-slow-long-config"]
    s = invoke_stream(api, name, on_message=lambda messages: len(messages) >= 2)
    assert s.status == 200 and len(s.messages) == 2, s
    # 1000 tokens 50 ms apart would take 50 s: the stream is gone long before.
    wait_until(lambda: metric(api, "endpointd_streams_open", name) == 0, 5,
               what="the stream closed")
    assert metric(api, "endpointd_stream_bytes_total", name) < len(tokens(1000))


def test_a_hundred_streams_at_once_each_get_every_piece(api, eps):
    name = eps["stream-config"]
    results = [None] * CONCURRENT_STREAMS

    def one(i):
        try:
            results[i] = invoke_stream(api, name, timeout=60)
        except OSError as e:
            results[i] = e

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(CONCURRENT_STREAMS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert not any(t.is_alive() for t in threads)
    bad = [r for r in results if not isinstance(r, Stream) or r.status != 200 or r.payload != tokens(5)
           or not r.ended]
    assert not bad, f"{len(bad)} of {CONCURRENT_STREAMS} failed, e.g. {bad[:3]!r}"


def test_metrics_show_streams_bytes_and_time_to_first_byte(api, eps):
    name = eps["stream-config"]
    invoke_stream(api, name)
    assert metric(api, "endpointd_streams_open", name) == 0
    assert metric(api, "endpointd_stream_bytes_total", name) >= len(tokens(5))
    assert metric(api, "endpointd_stream_first_byte_seconds_count", name) >= 1


# --- with signatures ----------------------------------------------------------

botocore_auth = pytest.importorskip("botocore.auth")
botocore_awsrequest = pytest.importorskip("botocore.awsrequest")
botocore_credentials = pytest.importorskip("botocore.credentials")

ADMIN = ("AKIDSTREAMADMIN00001", "stream/Admin+Secret00000000000000000001")
INVOKER = ("AKIDSTREAMINVOKE0001", "stream/Invoke+Secret0000000000000000002")
READER = ("AKIDSTREAMREADER0001", "stream/Reader+Secret0000000000000000003")
CREDENTIALS = f"""keys:
  - name: admin
    access_key_id: {ADMIN[0]}
    secret_access_key: "{ADMIN[1]}"
    allow:
      - actions: ["sagemaker:*"]
        resources: ["*"]
  - name: invoker
    access_key_id: {INVOKER[0]}
    secret_access_key: "{INVOKER[1]}"
    allow:
      - actions: ["sagemaker:InvokeEndpoint"]
        resources: ["*"]
  - name: reader
    access_key_id: {READER[0]}
    secret_access_key: "{READER[1]}"
    allow:
      - actions: ["sagemaker:Describe*", "sagemaker:List*"]
        resources: ["*"]
"""


def signed(port, key, method, path, body=b"", headers=None):
    req = botocore_awsrequest.AWSRequest(method=method, url=f"http://127.0.0.1:{port}{path}",
                                         data=body, headers=headers or {})
    botocore_auth.SigV4Auth(botocore_credentials.Credentials(*key), "sagemaker", REGION).add_auth(req)
    p = req.prepare()
    return {k: v for k, v in p.headers.items()}


def signed_call(port, key, op, params):
    body = json.dumps(params).encode()
    headers = {"X-Amz-Target": f"SageMaker.{op}", "Content-Type": "application/x-amz-json-1.1"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/", body=body, headers=signed(port, key, "POST", "/", body, headers))
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"{}")
    finally:
        conn.close()


class SignedDaemon(Daemon):
    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                signed_call(self.port, ADMIN, "ListEndpoints", {})
                return True
            except OSError:
                time.sleep(0.05)
        return False


@pytest.fixture(scope="module")
def signed_daemon(endpointd_bin, docker_sock, demo_image, docker):
    d = SignedDaemon(endpointd_bin, docker_sock, demo_image)
    creds = os.path.join(d.workdir, "credentials.yaml")
    fd = os.open(creds, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(CREDENTIALS)
    d.extra_config = ("auth:", f"  credentials: {json.dumps(creds)}")
    try:
        d.start()
    except RuntimeError as e:
        shutil.rmtree(d.workdir, ignore_errors=True)
        pytest.fail(str(e), pytrace=False)
    name = unique_name("sauth")
    status, body = signed_call(d.port, ADMIN, "CreateEndpoint",
                               {"EndpointName": name, "EndpointConfigName": "stream-config"})
    assert status == 200, body
    wait_until(lambda: signed_call(d.port, ADMIN, "DescribeEndpoint", {"EndpointName": name})[1]
               .get("EndpointStatus") == "InService", 90, interval=0.2, what=f"{name} InService")
    yield d, name
    signed_call(d.port, ADMIN, "DeleteEndpoint", {"EndpointName": name})
    wait_until(lambda: signed_call(d.port, ADMIN, "DescribeEndpoint", {"EndpointName": name})[0] != 200,
               60, what=f"{name} deleted")
    d.stop()
    shutil.rmtree(d.workdir, ignore_errors=True)


def signed_stream(d, name, key):
    path = stream_path(name)
    body = b"hello"
    headers = signed(d.port, key, "POST", path, body, {"Content-Type": "text/plain"})
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        r = conn.getresponse()
        if r.status != 200:
            return Stream(r.status, r.getheaders(), r.read())
        messages, ended = read_messages(r)
        return Stream(r.status, r.getheaders(), messages=messages, ended=ended)
    finally:
        conn.close()


def test_a_signed_stream_is_served(signed_daemon):
    d, name = signed_daemon
    s = signed_stream(d, name, ADMIN)
    assert s.status == 200 and s.ended, s
    assert s.payload == tokens(5), s


def test_a_key_allowed_invoke_endpoint_may_stream(signed_daemon):
    # SageMaker authorizes the streaming call as sagemaker:InvokeEndpoint.
    d, name = signed_daemon
    s = signed_stream(d, name, INVOKER)
    assert s.status == 200 and s.ended, s
    assert s.payload == tokens(5), s


def test_a_key_not_allowed_invoke_endpoint_may_not_stream(signed_daemon):
    d, name = signed_daemon
    s = signed_stream(d, name, READER)
    assert s.status == 403, s
    assert s.headers.get("x-amzn-errortype", "").startswith("AccessDeniedException"), s
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name}"
    assert ("User: reader is not authorized to perform: sagemaker:InvokeEndpoint "
            f"on resource: {arn}") in s.body.decode(), s


def test_an_unsigned_stream_is_refused(signed_daemon):
    d, name = signed_daemon
    s = invoke_stream(ApiClient("127.0.0.1", d.port), name, port=d.port)
    assert s.status in (400, 403), s
