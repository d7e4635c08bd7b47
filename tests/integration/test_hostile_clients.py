"""Hostile HTTP clients, over raw sockets, against a daemon of their own.

The daemon here has small limits (a connection cap of 50, a 1 MiB budget of
buffered bodies, two invocations in flight per endpoint and three in all)
and short slow-client deadlines, so that every bound can be reached quickly.
After each test the daemon is alive, DescribeEndpoint answers at once, an
InService endpoint still serves, and (unless the test creates endpoints on
purpose) the journal holds the same bytes as before.
"""

import http.client
import json
import os
import resource
import signal
import socket
import threading
import time

import pytest

import endpointd_harness
from endpointd_harness import JSON_CT, ONE_MIB, ApiClient, Daemon, EndpointFactory
from test_invoke_support import assert_invoke_error, invocations_path

MAX_CONNECTIONS = 50
BUDGET = ONE_MIB
REQUEST_TIMEOUT_S = 2
BODY_TIMEOUT_S = 2
IDLE_TIMEOUT_S = 3
PER_ENDPOINT = 2
IN_ALL = 3
LIMITS = (
    f"limits: {{ max_endpoints: 100, max_connections: {MAX_CONNECTIONS}, "
    f"max_buffered_bytes: 1MiB, max_inflight_invocations: {IN_ALL}, "
    f"max_inflight_per_endpoint: {PER_ENDPOINT}, request_timeout_s: {REQUEST_TIMEOUT_S}, "
    f"body_timeout_s: {BODY_TIMEOUT_S}, idle_timeout_s: {IDLE_TIMEOUT_S} }}"
)
SLACK_S = 2.5  # what a busy test host may add to a deadline
LIST = b'{}'


@pytest.fixture(scope="module")
def hostile(endpointd_bin, docker_sock, demo_image, docker):
    """A daemon with the small limits above."""
    original = endpointd_harness.write_config

    def write_config(*args, **kwargs):
        path = original(*args, **kwargs)
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("limits: { max_endpoints: 100 }", LIMITS))
        return path

    d = Daemon(endpointd_bin, docker_sock, demo_image)
    endpointd_harness.write_config = write_config
    try:
        d.start()
    finally:
        endpointd_harness.write_config = original
    yield d
    err = d.stop()
    assert err is None, err


@pytest.fixture(scope="module")
def hapi(hostile):
    return ApiClient("127.0.0.1", hostile.port, timeout=15)


@pytest.fixture(scope="module")
def serving(hapi):
    """An InService endpoint that every test must leave serving."""
    f = EndpointFactory(hapi)
    name = f.create("serving", config="invoke-config")[0]
    hapi.wait_in_service(name)
    yield name
    f.cleanup()


def _state_files(hostile):
    """The journal and snapshot as bytes, by name."""
    state = os.path.join(hostile.workdir, "state")
    out = {}
    for name in ("journal", "snapshot"):
        try:
            with open(os.path.join(state, name), "rb") as f:
                out[name] = f.read()
        except FileNotFoundError:
            out[name] = None
    return out


# Tests that change state on purpose (they create endpoints).
_CHANGES_STATE = {"slow_endpoints"}


@pytest.fixture(autouse=True)
def stays_alive(request, hostile, hapi, serving):
    """After each test: the process runs, DescribeEndpoint answers at once,
    the InService endpoint still serves, and the journal did not change."""
    check_journal = not _CHANGES_STATE & set(request.fixturenames)
    before = _state_files(hostile) if check_journal else None
    yield
    assert hostile.proc.poll() is None, f"endpointd died:\n{hostile.log_tail(0)}"
    began = time.monotonic()
    r = hapi.call("DescribeEndpoint", {"EndpointName": serving})
    took = time.monotonic() - began
    assert r.status == 200 and r.json["EndpointStatus"] == "InService", r
    assert took < 1.0, f"DescribeEndpoint took {took:.2f} s"
    r = hapi.raw(b"still there", content_type="application/octet-stream",
                 path=invocations_path(serving))
    assert r.status == 200, r
    if check_journal:
        assert _state_files(hostile) == before, "the journal changed"


def connect(hostile, timeout=10):
    return socket.create_connection(("127.0.0.1", hostile.port), timeout=timeout)


_readers = {}


def read_answer(s, method="POST"):
    """One answer off s: (status, headers dict lower-cased, body).  One
    buffered reader per socket, so that pipelined answers are not lost."""
    f = _readers.get(s)
    if f is None or f.closed:
        f = _readers[s] = s.makefile("rb")
    line = f.readline(65536)
    if not line:
        raise ConnectionError("closed without an answer")
    version, status, _ = line.decode("latin-1").split(" ", 2)
    assert version == "HTTP/1.1", line
    headers = {}
    while True:
        line = f.readline(65536).decode("latin-1")
        if line in ("\r\n", ""):
            break
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    length = 0 if method == "HEAD" else int(headers.get("content-length", "0"))
    body = f.read(length) if length else b""
    return int(status), headers, body


def exchange(hostile, data, method="POST"):
    """Send data on a new connection and read one answer."""
    with connect(hostile) as s:
        s.sendall(data)
        return read_answer(s, method)


def closed_by_peer(s, timeout=5):
    """Whether the daemon closes s (EOF or reset) within timeout."""
    s.settimeout(timeout)
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def control_head(body_len, extra=b"", host=b"Host: x\r\n", target=b"/", version=b"HTTP/1.1"):
    return (b"POST " + target + b" " + version + b"\r\n" + host +
            b"Content-Type: " + JSON_CT.encode() + b"\r\n"
            b"X-Amz-Target: SageMaker.ListEndpoints\r\n" + extra +
            b"Content-Length: " + str(body_len).encode() + b"\r\n\r\n")


def list_request(**kw):
    return control_head(len(LIST), **kw) + LIST


def error_type(body):
    return json.loads(body).get("__type")


# --- heads ------------------------------------------------------------------


def test_a_plain_request_is_answered_with_a_date(hostile):
    status, headers, body = exchange(hostile, list_request())
    assert status == 200, body
    assert headers.get("date", "").endswith(" GMT"), headers
    assert "Endpoints" in json.loads(body)


def test_a_header_over_64_kib_is_refused_with_431(hostile):
    status, _, _ = exchange(hostile, list_request(extra=b"X-Big: " + b"a" * (70 * 1024) + b"\r\n"))
    assert status == 431


def test_more_than_100_headers_are_refused_with_431(hostile):
    extra = b"".join(b"X-H%d: v\r\n" % i for i in range(120))
    status, _, _ = exchange(hostile, list_request(extra=extra))
    assert status == 431


def test_a_repeated_host_is_refused(hostile):
    status, _, _ = exchange(hostile, list_request(extra=b"Host: y\r\n"))
    assert status == 400


def test_differing_content_lengths_are_refused(hostile):
    status, _, _ = exchange(hostile, list_request(extra=b"Content-Length: 3\r\n"))
    assert status == 400


def test_content_length_and_transfer_encoding_are_refused_and_the_connection_closed(hostile):
    with connect(hostile) as s:
        s.sendall(list_request(extra=b"Transfer-Encoding: chunked\r\n"))
        status, headers, _ = read_answer(s)
        assert status == 400
        assert headers.get("connection") == "close"
        assert closed_by_peer(s)


def test_absolute_form_is_served_as_its_path(hostile):
    status, _, body = exchange(hostile, list_request(target=b"http://127.0.0.1/"))
    assert status == 200, body


def test_an_over_long_uri_is_refused_with_414(hostile):
    status, _, _ = exchange(hostile, list_request(target=b"/" + b"a" * 10000))
    assert status == 414


def test_http_1_0_is_served_and_closed(hostile):
    with connect(hostile) as s:
        s.sendall(list_request(host=b"", version=b"HTTP/1.0"))
        status, headers, body = read_answer(s)
        assert status == 200, body
        assert closed_by_peer(s)


def test_http_1_1_without_host_is_refused(hostile):
    status, _, _ = exchange(hostile, list_request(host=b""))
    assert status == 400


def test_nul_in_a_header_is_refused(hostile):
    status, _, _ = exchange(hostile, list_request(extra=b"X-A: a\x00b\r\n"))
    assert status == 400


def test_nul_in_the_path_is_refused(hostile):
    status, _, _ = exchange(hostile, list_request(target=b"/a\x00b"))
    assert status == 400


def test_bare_lf_line_endings_are_refused(hostile):
    status, _, _ = exchange(hostile, list_request().replace(b"\r\n", b"\n"))
    assert status == 400


def test_obs_fold_is_refused(hostile):
    status, _, _ = exchange(hostile, list_request(extra=b"X-A: a\r\n b\r\n"))
    assert status == 400


def test_invalid_utf8_in_headers_and_path_gets_an_answer(hostile):
    bad = list_request().replace(b"SageMaker.ListEndpoints", b"SageMaker.\xff")
    status, _, body = exchange(hostile, bad)
    assert 400 <= status < 500, body
    status, _, body = exchange(hostile, b"POST /endpoints/a\xffb/invocations HTTP/1.1\r\n"
                                        b"Host: x\r\nContent-Length: 0\r\n\r\n")
    assert 400 <= status < 500, body
    json.loads(body)


def test_a_tls_hello_is_refused_at_once(hostile):
    with connect(hostile) as s:
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 32)
        status, _, _ = read_answer(s)
        assert status == 400
        assert closed_by_peer(s)


def test_pipelined_requests_are_answered_in_order(hostile):
    with connect(hostile) as s:
        describe = json.dumps({"EndpointName": "no-such-endpoint"}).encode()
        second = list_request().replace(b"ListEndpoints", b"DescribeEndpoint")
        second = second[:second.index(b"Content-Length")] + b"Content-Length: %d\r\n\r\n" % len(describe) + describe
        s.sendall(list_request() + second + list_request())
        assert read_answer(s)[0] == 200
        assert read_answer(s)[0] == 400
        assert read_answer(s)[0] == 200


def test_pipelined_garbage_after_a_request_gets_a_400_and_a_close(hostile):
    with connect(hostile) as s:
        s.sendall(list_request() + b"\x01\x02garbage\r\n\r\n")
        assert read_answer(s)[0] == 200
        status, headers, _ = read_answer(s)
        assert status == 400
        assert closed_by_peer(s)


# --- bodies -------------------------------------------------------------------


def test_control_plane_body_over_1_mib_is_refused_before_it_is_sent(hostile):
    with connect(hostile) as s:
        s.sendall(control_head(ONE_MIB + 1))
        s.settimeout(2)
        status, headers, body = read_answer(s)  # no body byte was sent
        assert status == 413
        assert error_type(body) == "ValidationException"
        assert headers.get("x-amzn-requestid")


def test_invocation_body_over_6_mib_is_refused_before_it_is_sent(hostile):
    with connect(hostile) as s:
        s.sendall(b"POST /endpoints/x/invocations HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: %d\r\n\r\n" % (6 * ONE_MIB + 1))
        s.settimeout(2)
        status, headers, body = read_answer(s)
        assert status == 413
        assert json.loads(body)["ErrorCode"] == "ValidationError"


def test_a_chunked_body_is_read(hostile):
    head = control_head(0).replace(b"Content-Length: 0", b"Transfer-Encoding: chunked")
    status, _, body = exchange(hostile, head + b"1\r\n{\r\n1;x=y\r\n}\r\n0\r\n\r\n")
    assert status == 200, body


def test_a_chunk_size_with_0x_is_refused(hostile):
    head = control_head(0).replace(b"Content-Length: 0", b"Transfer-Encoding: chunked")
    status, _, _ = exchange(hostile, head + b"0x2\r\n{}\r\n0\r\n\r\n")
    assert status == 400


def test_a_chunked_body_over_the_limit_is_refused(hostile):
    head = control_head(0).replace(b"Content-Length: 0", b"Transfer-Encoding: chunked")
    with connect(hostile) as s:
        s.sendall(head + b"%x\r\n" % (ONE_MIB + 1))
        chunk = b" " * 65536
        try:
            for _ in range(17):
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, _, _ = read_answer(s)
        assert status == 413


def test_expect_100_continue_is_answered(hostile):
    with connect(hostile) as s:
        s.sendall(control_head(len(LIST), extra=b"Expect: 100-continue\r\n"))
        s.settimeout(2)
        assert s.recv(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(LIST)
        assert read_answer(s)[0] == 200


def test_buffered_body_budget_refuses_the_next_body_and_serves_the_others(hostile, hapi):
    size = 300 * 1024  # three fit in the 1 MiB budget, a fourth does not
    body = b"{}" + b" " * (size - 2)
    socks = [connect(hostile) for _ in range(3)]
    try:
        for s in socks:
            s.sendall(control_head(size) + body[: size // 2])
        time.sleep(0.3)
        with connect(hostile) as s4:
            s4.sendall(control_head(size))
            s4.settimeout(5)
            status, headers, answer = read_answer(s4)
            assert status == 503
            assert error_type(answer) == "ServiceUnavailable"
        for s in socks:
            s.sendall(body[size // 2:])
        for s in socks:
            s.settimeout(5)
            assert read_answer(s)[0] == 200
    finally:
        for s in socks:
            s.close()
    # The budget came back.
    assert hapi.raw(body, target="SageMaker.ListEndpoints").status == 200


# --- slow clients -------------------------------------------------------------


def test_a_slow_head_is_cut_off(hostile):
    with connect(hostile) as s:
        began = time.monotonic()
        s.sendall(b"POST / HTTP/1.1\r\n")
        closed = False
        for i in range(int((REQUEST_TIMEOUT_S + SLACK_S) / 0.25)):
            try:
                s.sendall(b"X-%d: a\r\n" % i)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.25)
        assert closed or closed_by_peer(s, 1)
        assert time.monotonic() - began < REQUEST_TIMEOUT_S + SLACK_S + 1


def test_a_slow_body_is_cut_off(hostile):
    with connect(hostile) as s:
        s.sendall(control_head(100) + b"{")
        began = time.monotonic()
        assert closed_by_peer(s, BODY_TIMEOUT_S + SLACK_S)
        assert time.monotonic() - began >= BODY_TIMEOUT_S - 0.5


def test_an_idle_connection_is_closed(hostile):
    with connect(hostile) as s:
        s.sendall(list_request())
        assert read_answer(s)[0] == 200
        began = time.monotonic()
        assert closed_by_peer(s, IDLE_TIMEOUT_S + SLACK_S)
        assert time.monotonic() - began >= IDLE_TIMEOUT_S - 0.5


def test_a_connection_that_never_speaks_is_closed(hostile):
    with connect(hostile) as s:
        assert closed_by_peer(s, REQUEST_TIMEOUT_S + SLACK_S)


# --- connections --------------------------------------------------------------


def test_idle_connections_past_the_cap_do_not_lock_others_out(hostile, hapi):
    socks = []
    try:
        for _ in range(MAX_CONNECTIONS + 20):
            socks.append(connect(hostile))
        time.sleep(0.2)
        r = hapi.call("DescribeEndpoint", {"EndpointName": "no-such-endpoint"})
        assert r.status == 400, r
    finally:
        for s in socks:
            s.close()


def test_ten_thousand_idle_connections_do_not_lock_others_out(hostile, hapi):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 10000 + 256
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is below {want}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    socks = []
    try:
        for _ in range(10000):
            socks.append(connect(hostile, timeout=30))
        began = time.monotonic()
        r = hapi.call("ListEndpoints", {})
        took = time.monotonic() - began
        assert r.status == 200, r
        assert took < REQUEST_TIMEOUT_S + SLACK_S, f"ListEndpoints took {took:.2f} s"
    finally:
        for s in socks:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_busy_connections_at_the_cap_hold_newcomers_only_until_their_deadline(hostile, hapi):
    socks = []
    try:
        for _ in range(MAX_CONNECTIONS):
            s = connect(hostile)
            s.sendall(b"POST / HTTP/1.1\r\n")  # a head begun: not idle
            socks.append(s)
        time.sleep(0.2)
        began = time.monotonic()
        r = hapi.call("ListEndpoints", {})
        assert r.status == 200, r
        assert time.monotonic() - began < REQUEST_TIMEOUT_S + SLACK_S
    finally:
        for s in socks:
            s.close()


def _cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_running_out_of_file_descriptors_does_not_spin_the_loop(hostile, hapi):
    """accept() failing with EMFILE while clients wait in the backlog: the
    listeners rest instead of being woken again and again."""
    pid = hostile.proc.pid
    old = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (len(os.listdir(f"/proc/{pid}/fd")) + 5, old[1]))
    socks = []
    try:
        for _ in range(20):
            s = connect(hostile)
            s.sendall(b"POST / HTTP/1.1\r\n")  # a head begun: nothing to evict
            socks.append(s)
        time.sleep(0.3)
        before = _cpu_seconds(pid)
        time.sleep(1.5)
        used = _cpu_seconds(pid) - before
        assert used < 0.2, f"the daemon used {used:.2f} s of CPU in 1.5 s while out of descriptors"
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, old)
        for s in socks:
            s.close()


# --- invocations in flight ----------------------------------------------------


@pytest.fixture(scope="module")
def slow_endpoints(hapi):
    """Two endpoints whose model takes 5 s (the daemon gives up after 2 s)."""
    f = EndpointFactory(hapi)
    names = [f.create("slow", config="invoke-delay-config")[0] for _ in range(2)]
    for name in names:
        hapi.wait_in_service(name)
    yield names
    f.cleanup()


def _invoke_in_background(hostile, name, results):
    def run():
        conn = http.client.HTTPConnection("127.0.0.1", hostile.port, timeout=30)
        try:
            conn.request("POST", invocations_path(name), body=b"x")
            results.append(conn.getresponse().status)
        finally:
            conn.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _invoke(hapi, name):
    return hapi.raw(b"x", content_type="application/octet-stream", path=invocations_path(name))


def test_invocations_past_the_per_endpoint_cap_get_429_throttling(hostile, hapi, slow_endpoints):
    a = slow_endpoints[0]
    results = []
    threads = [_invoke_in_background(hostile, a, results) for _ in range(PER_ENDPOINT)]
    time.sleep(0.5)
    r = _invoke(hapi, a)
    assert_invoke_error(r, 429, "ThrottlingException")
    for t in threads:
        t.join(30)
    assert results == [424] * PER_ENDPOINT  # they ran (and timed out) as usual
    assert _invoke(hapi, a).status == 424  # room again


def test_invocations_past_the_total_cap_get_429_throttling(hostile, hapi, slow_endpoints):
    a, b = slow_endpoints
    results = []
    threads = [_invoke_in_background(hostile, a, results) for _ in range(PER_ENDPOINT)]
    threads += [_invoke_in_background(hostile, b, results) for _ in range(IN_ALL - PER_ENDPOINT)]
    time.sleep(0.5)
    r = _invoke(hapi, b)
    assert_invoke_error(r, 429, "ThrottlingException")
    assert "on this host" in r.json["Message"], r
    for t in threads:
        t.join(30)
    assert results == [424] * IN_ALL


def test_control_plane_is_served_while_invocations_are_capped(hostile, hapi, slow_endpoints):
    a = slow_endpoints[0]
    results = []
    threads = [_invoke_in_background(hostile, a, results) for _ in range(PER_ENDPOINT)]
    time.sleep(0.5)
    assert hapi.call("DescribeEndpoint", {"EndpointName": a}).status == 200
    for t in threads:
        t.join(30)


# --- reload -------------------------------------------------------------------


def _reload_with(hostile, old, new):
    with open(hostile.config_path) as f:
        text = f.read()
    assert old in text
    with open(hostile.config_path, "w") as f:
        f.write(text.replace(old, new))
    since = hostile.log_size()
    hostile.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "reloaded" not in hostile.log_tail(since):
        assert time.monotonic() < deadline, hostile.log_tail(since)
        time.sleep(0.05)


def test_a_reload_applies_new_client_limits(hostile):
    size = 100 * 1024
    _reload_with(hostile, "max_buffered_bytes: 1MiB", "max_buffered_bytes: 64KiB")
    try:
        with connect(hostile) as s:
            s.sendall(control_head(size))
            s.settimeout(5)
            assert read_answer(s)[0] == 503
    finally:
        _reload_with(hostile, "max_buffered_bytes: 64KiB", "max_buffered_bytes: 1MiB")
    body = b"{}" + b" " * (size - 2)
    status, _, _ = exchange(hostile, control_head(size) + body)
    assert status == 200


def accepted_sockets(pid, port):
    """How many of pid's descriptors are connections accepted on port (the
    daemon's own sockets, to containers and the Engine, are not counted)."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                rows = f.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            fields = row.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] != "0A":  # 0A: LISTEN
                inodes.add(fields[9])
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        n += link.startswith("socket:[") and link[8:-1] in inodes
    return n


def test_connections_are_kept_to_half_the_open_file_limit(hostile, hapi):
    pid = hostile.proc.pid
    old = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (64, old[1]))
    socks = []
    try:
        since = hostile.log_size()
        _reload_with(hostile, "max_endpoints: 100,", "max_endpoints: 100,")
        assert hapi.call("ListEndpoints", {}).status == 200  # the next head applies it
        assert "accepting at most 32 connections" in hostile.log_tail(since), hostile.log_tail(since)
        for _ in range(40):
            s = connect(hostile)
            s.sendall(b"POST / HTTP/1.1\r\n")
            socks.append(s)
        time.sleep(0.5)
        taken = accepted_sockets(pid, hostile.port)
        assert taken <= 32, f"clients took {taken} descriptors"
    finally:
        for s in socks:
            s.close()
        resource.prlimit(pid, resource.RLIMIT_NOFILE, old)
        _reload_with(hostile, "max_endpoints: 100,", "max_endpoints: 100,")
