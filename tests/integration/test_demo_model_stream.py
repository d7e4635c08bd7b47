"""The demo model's streaming mode (DEMO_STREAM_*), run as a plain process.

The streaming tests of the daemon and contrib/bench/stream.py measure against
it, so what it writes and when is checked here first: one chunk per token,
the first one with the head, the gap between them, and each way of failing
mid-stream.  The binary is compiled here from contrib/demo-model/demo-model.c
(no Docker Engine needed; skipped without gcc).
"""

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
                                    "contrib", "demo-model", "demo-model.c"))
CC = shutil.which(os.environ.get("CC", "gcc"))
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler to build the demo model")
READ_TIMEOUT_S = 10


@pytest.fixture(scope="module")
def demo_binary(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("demo-model") / "demo-model")
    subprocess.run([CC, "-std=gnu11", "-O2", "-pthread", "-o", out, SRC], check=True, timeout=120)
    return out


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Demo:
    """A running demo model and what it said on stderr."""

    def __init__(self, binary, env):
        self.port = _free_port()
        full = {"PATH": "/usr/bin:/bin", "SAGEMAKER_BIND_TO_PORT": str(self.port), **env}
        self.proc = subprocess.Popen([binary, "serve"], env=full, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"demo model did not listen: {self.proc.stderr.read()}")
                time.sleep(0.02)

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=READ_TIMEOUT_S)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)


@pytest.fixture
def demo(demo_binary):
    started = []

    def start(**env):
        d = Demo(demo_binary, {k: str(v) for k, v in env.items()})
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


class Reader:
    """Reads an answer off a socket, noting when each byte arrived."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.eof = False
        self.t0 = time.monotonic()

    def _more(self):
        d = self.sock.recv(65536)
        if not d:
            self.eof = True
        self.buf += d
        return bool(d)

    def until(self, marker):
        while marker not in self.buf:
            if not self._more():
                return None
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def take(self, n):
        while len(self.buf) < n:
            if not self._more():
                return None
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def head(self):
        raw = self.until(b"\r\n\r\n")
        assert raw is not None, "no head before the connection closed"
        lines = raw.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:] if x)}
        return status, headers

    def chunks(self):
        """(chunk bytes, seconds since the request) until the final chunk; then
        (None, t) for the final chunk, or stops when the connection closes."""
        while True:
            line = self.until(b"\r\n")
            if line is None:
                return
            size = int(line[:-2].split(b";")[0], 16)
            t = time.monotonic() - self.t0
            if size == 0:
                assert self.until(b"\r\n") == b"\r\n", "trailers after the final chunk"
                yield None, t
                return
            data = self.take(size + 2)
            assert data is not None and data.endswith(b"\r\n"), "chunk cut short"
            yield data[:-2], t

    def rest(self):
        while self._more():
            pass
        return self.buf


def invoke(sock, body=b"{}", extra=""):
    sock.sendall(f"POST /invocations HTTP/1.1\r\nHost: demo\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n{extra}\r\n".encode() + body)
    return Reader(sock)


def test_each_token_is_one_chunk_and_the_stream_ends_with_the_final_chunk(demo):
    d = demo(DEMO_STREAM_TOKENS=4)
    r = invoke(d.connect())
    status, headers = r.head()
    assert status == 200
    assert headers["transfer-encoding"] == "chunked"
    assert "content-length" not in headers
    got = [c for c, _ in r.chunks()]
    assert got == [b"token 1 ", b"token 2 ", b"token 3 ", b"token 4 ", None]


def test_the_first_token_goes_out_with_the_head_and_the_gap_comes_between_tokens(demo):
    d = demo(DEMO_STREAM_TOKENS=3, DEMO_STREAM_GAP_MS=300)
    r = invoke(d.connect())
    r.head()
    times = [t for c, t in r.chunks() if c is not None]
    assert times[0] < 0.15, f"first token after {times[0]:.3f} s"
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(0.25 <= g < 1.0 for g in gaps), gaps


def test_a_finished_stream_keeps_the_connection_for_the_next_call(demo):
    d = demo(DEMO_STREAM_TOKENS=2)
    s = d.connect()
    for _ in range(2):
        r = invoke(s)
        assert r.head()[1]["connection"] == "keep-alive"
        assert [c for c, _ in r.chunks()] == [b"token 1 ", b"token 2 ", None]


def test_fail_after_closes_the_connection_without_the_final_chunk(demo):
    d = demo(DEMO_STREAM_TOKENS=5, DEMO_STREAM_FAIL_AFTER=2)
    r = invoke(d.connect())
    r.head()
    assert [c for c, _ in r.chunks()] == [b"token 1 ", b"token 2 "]
    assert r.eof
    assert d.proc.poll() is None, "the process went on serving"
    r2 = invoke(d.connect())
    assert r2.head()[0] == 200


def test_fail_after_zero_sends_the_head_alone_then_closes(demo):
    d = demo(DEMO_STREAM_TOKENS=5, DEMO_STREAM_FAIL_AFTER=0)
    r = invoke(d.connect())
    assert r.head()[0] == 200
    assert list(r.chunks()) == []
    assert r.eof


def test_exit_after_ends_the_process_mid_stream_with_its_exit_code(demo):
    d = demo(DEMO_STREAM_TOKENS=5, DEMO_STREAM_EXIT_AFTER=3, DEMO_EXIT_CODE=7)
    r = invoke(d.connect())
    r.head()
    assert [c for c, _ in r.chunks()] == [b"token 1 ", b"token 2 ", b"token 3 "]
    assert d.proc.wait(timeout=10) == 7
    assert "DEMO_STREAM_EXIT_AFTER" in d.proc.stderr.read()


def test_until_close_writes_the_tokens_unframed_and_ends_with_close(demo):
    d = demo(DEMO_STREAM_TOKENS=3, DEMO_STREAM_UNTIL_CLOSE=1)
    r = invoke(d.connect())
    status, headers = r.head()
    assert status == 200
    assert "transfer-encoding" not in headers and "content-length" not in headers
    assert headers["connection"] == "close"
    assert r.rest() == b"token 1 token 2 token 3 "


def test_an_error_status_is_a_whole_answer_not_a_stream(demo):
    d = demo(DEMO_STREAM_TOKENS=3, DEMO_INVOKE_STATUS=500)
    r = invoke(d.connect())
    status, headers = r.head()
    assert status == 500
    assert int(headers["content-length"]) == len(r.take(int(headers["content-length"])))


def test_stamped_tokens_carry_the_monotonic_time_they_were_written(demo):
    d = demo(DEMO_STREAM_TOKENS=3, DEMO_STREAM_GAP_MS=50, DEMO_STREAM_STAMP=1)
    r = invoke(d.connect())
    r.head()
    for i, (c, _) in enumerate(x for x in r.chunks() if x[0] is not None):
        arrived = time.monotonic_ns()
        word, n, stamp = c.decode().split()
        assert (word, n) == ("token", str(i + 1))
        assert stamp.startswith("@") and 0 <= arrived - int(stamp[1:]) < 1e9


def test_custom_attributes_are_echoed_on_a_stream(demo):
    d = demo(DEMO_STREAM_TOKENS=1)
    r = invoke(d.connect(), extra="X-Amzn-SageMaker-Custom-Attributes: a=1\r\n")
    assert r.head()[1]["x-amzn-sagemaker-custom-attributes"] == "a=1"


def test_a_client_that_hangs_up_mid_stream_does_not_stop_the_server(demo):
    d = demo(DEMO_STREAM_TOKENS=50, DEMO_STREAM_GAP_MS=20)
    s = d.connect()
    r = invoke(s)
    r.head()
    next(r.chunks())
    s.close()
    time.sleep(0.2)
    r2 = invoke(d.connect())
    assert r2.head()[0] == 200
    assert d.proc.poll() is None


@pytest.mark.parametrize("setting", ["DEMO_STREAM_TOKENS=-1", "DEMO_STREAM_GAP_MS=x",
                                     "DEMO_STREAM_UNTIL_CLOSE=2", "DEMO_STREAM_FAIL_AFTER=99999999999"])
def test_a_bad_stream_setting_is_refused_at_start(demo_binary, setting):
    name, value = setting.split("=", 1)
    p = subprocess.run([demo_binary, "serve"], env={name: value, "SAGEMAKER_BIND_TO_PORT": str(_free_port())},
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2
    assert name in p.stderr
