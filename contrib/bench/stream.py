#!/usr/bin/python3
"""stream: what InvokeEndpointWithResponseStream through endpointd adds to
each piece of a streamed answer, next to reading the model container directly.

It starts endpointd with two models of the demo image in streaming mode
(contrib/demo-model/demo-model.c, DEMO_STREAM_*), creates one endpoint of
each, waits for InService and reads the containers' published host ports
from the Engine.  Then:

  (1) latency: --calls calls on each side, alternating, one connection per
      call (the same for both sides), of the "paced" model: --tokens tokens
      --gap-ms apart, each stamped by the container with CLOCK_MONOTONIC as
      it writes it (DEMO_STREAM_STAMP=1; a container shares the host's
      monotonic clock).  Direct: POST http://127.0.0.1:PORT/invocations, the
      chunked answer read as it comes.  endpointd: POST
      /endpoints/NAME/invocations-response-stream, the event stream decoded
      as it comes (both CRCs checked, every event a PayloadPart).  For every
      token the script notes when its last byte arrived.  Prints, per side,
      the medians (and p99) of the time to first byte (request sent to first
      token), of the gap between tokens and of each token's transit (arrival
      minus the container's stamp), and what endpointd adds to each: the
      target is at most 0.2 ms added transit per piece.  Direct goes through
      the published port (docker-proxy, where the Engine uses it);
      endpointd through endpointd-dialer unless --no-dialer.
  (2) memory: --streams concurrent calls (default 100) of the "flood" model
      (--flood-tokens tokens, no gap: it writes as fast as it may) through
      endpointd, each read slowly (a small receive buffer, --read-bytes every
      --read-interval-ms) for --rss-seconds.  VmRSS of the daemon sampled
      every 50 ms: idle, median, peak and VmHWM, and (median - idle) per
      stream; the bytes each stream got show that the readers, not the
      model, set the pace.  Then the clients hang up and the daemon's VmRSS
      is read once more after --settle-s.

Then it deletes the endpoints, stops the daemon and leaves nothing behind.
Needs a daemon with InvokeEndpointWithResponseStream and the demo image
built from a demo-model.c with the streaming mode.

Run by hand, never from the test suite:
  /usr/bin/python3 contrib/bench/stream.py \\
      --docker-host unix:///var/run/docker.sock --endpointd build/daemon/endpointd
"""

import argparse
import os
import re
import socket
import statistics
import struct
import sys
import threading
import time
import zlib

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

TARGET_ADDED_PER_PIECE_MS = 0.2
PHASE_TIMEOUT = 120.0        # seconds any one wait may take
CALL_TIMEOUT = 60.0          # seconds one latency call may take
PACED_MODEL, PACED_CONFIG = "bench-paced", "bench-paced-config"
FLOOD_MODEL, FLOOD_CONFIG = "bench-flood", "bench-flood-config"
TOKEN_RE = re.compile(rb"token (\d+) @(\d+) ")
MAX_HEAD = 64 * 1024
MAX_MESSAGE = 16 << 20       # AWS's limit on one event-stream message
MiB = 1 << 20


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--docker-host", default=bl.default_docker_host(),
                   help="unix:///path of the Docker Engine (default $DOCKER_HOST or /var/run/docker.sock)")
    p.add_argument("--endpointd", default=None,
                   help="daemon binary (default $ENDPOINTD, ./daemon/endpointd, then PATH)")
    p.add_argument("--image", default=bl.DEFAULT_IMAGE, help="model image (default %(default)s)")
    p.add_argument("--calls", type=int, default=30, help="latency calls per side (default 30)")
    p.add_argument("--tokens", type=int, default=20, help="tokens per latency call (default 20)")
    p.add_argument("--gap-ms", type=int, default=10, help="gap between tokens (default 10 ms)")
    p.add_argument("--streams", type=int, default=100,
                   help="concurrent slow streams of the memory phase (default 100, 0: skip it)")
    p.add_argument("--flood-tokens", type=int, default=1000000,
                   help="tokens of each memory-phase stream (default 1000000, about 12 MiB)")
    p.add_argument("--read-bytes", type=int, default=1024,
                   help="bytes a slow reader takes at a time (default 1024)")
    p.add_argument("--read-interval-ms", type=int, default=100,
                   help="how often a slow reader reads (default 100 ms)")
    p.add_argument("--rcvbuf", type=int, default=4096,
                   help="SO_RCVBUF of a slow reader's socket (default 4096)")
    p.add_argument("--rss-seconds", type=int, default=20, help="length of the memory phase (default 20 s)")
    p.add_argument("--settle-s", type=float, default=3.0,
                   help="wait after the slow clients hang up before the last VmRSS (default 3 s)")
    p.add_argument("--instance-cpus", default="1", help="cpus of the instance type (default 1)")
    p.add_argument("--instance-memory", default="512MiB", help="memory of the instance type (default 512MiB)")
    p.add_argument("--log-level", default="info", help="log level of the started daemon (default info)")
    p.add_argument("--no-dialer", action="store_true",
                   help="container_dialer: none, so endpointd too goes through the published port")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory and daemon log")
    a = p.parse_args()
    if not 1 <= a.calls <= 10000 or not 2 <= a.tokens <= 100000 or not 0 <= a.gap_ms <= 10000:
        p.error("need 1 <= --calls <= 10000, 2 <= --tokens <= 100000, 0 <= --gap-ms <= 10000")
    if a.tokens * a.gap_ms > CALL_TIMEOUT * 1000 / 2:
        p.error(f"--tokens x --gap-ms must stay under {CALL_TIMEOUT / 2:.0f} s")
    if not 0 <= a.streams <= 1000 or not 1 <= a.flood_tokens <= 10000000:
        p.error("need 0 <= --streams <= 1000 and 1 <= --flood-tokens <= 10000000")
    if not 1 <= a.read_bytes <= MiB or not 1 <= a.read_interval_ms <= 10000:
        p.error("need 1 <= --read-bytes <= 1048576 and 1 <= --read-interval-ms <= 10000")
    if not 1024 <= a.rcvbuf <= 16 * MiB or not 1 <= a.rss_seconds <= 600 or not 0 <= a.settle_s <= 60:
        p.error("need 1024 <= --rcvbuf <= 16MiB, 1 <= --rss-seconds <= 600, 0 <= --settle-s <= 60")
    return a


def median(v):
    return statistics.median(v) if v else float("nan")


def vm_rss(pid):
    """VmRSS and VmHWM of pid, in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out


# ---------------------------------------------------------------------------
# An HTTP/1.1 answer read incrementally: head, then a chunked, sized or
# close-delimited body.


class HttpAnswer:
    def __init__(self):
        self.raw = b""
        self.status = None
        self.headers = {}
        self.mode = None       # "chunked", "length" or "close"
        self.left = 0          # bytes of the current chunk / of the body
        self.done = False
        self.chunk_state = "size"

    def feed(self, data):
        """The body bytes in data (the head is taken off first)."""
        self.raw += data
        out = []
        if self.status is None:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                if len(self.raw) > MAX_HEAD:
                    raise RuntimeError("answer head too long")
                return b""
            lines = self.raw[:end].decode("latin-1").split("\r\n")
            self.status = int(lines[0].split()[1])
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                self.headers[k.strip().lower()] = v.strip()
            self.raw = self.raw[end + 4:]
            if "chunked" in self.headers.get("transfer-encoding", "").lower():
                self.mode = "chunked"
            elif "content-length" in self.headers:
                self.mode, self.left = "length", int(self.headers["content-length"])
                self.done = self.left == 0
            else:
                self.mode = "close"
        if self.mode == "close":
            out.append(self.raw)
            self.raw = b""
        elif self.mode == "length":
            take = self.raw[:self.left]
            self.left -= len(take)
            self.raw = self.raw[len(take):]
            out.append(take)
            self.done = self.left == 0
        else:
            while not self.done:
                if self.chunk_state == "size":
                    nl = self.raw.find(b"\r\n")
                    if nl < 0:
                        break
                    self.left = int(self.raw[:nl].split(b";")[0], 16)
                    self.raw = self.raw[nl + 2:]
                    self.chunk_state = "data" if self.left else "trailer"
                elif self.chunk_state == "data":
                    take = self.raw[:self.left]
                    out.append(take)
                    self.left -= len(take)
                    self.raw = self.raw[len(take):]
                    if self.left:
                        break
                    self.chunk_state = "crlf"
                elif self.chunk_state == "crlf":
                    if len(self.raw) < 2:
                        break
                    self.raw = self.raw[2:]
                    self.chunk_state = "size"
                else:  # trailer: up to the empty line
                    nl = self.raw.find(b"\r\n")
                    if nl < 0:
                        break
                    line, self.raw = self.raw[:nl], self.raw[nl + 2:]
                    if not line:
                        self.done = True
        return b"".join(out)


class EventStream:
    """AWS event-stream messages decoded incrementally; both CRCs checked."""

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        """The messages completed by data, as (headers dict, payload)."""
        self.buf += data
        out = []
        while len(self.buf) >= 12:
            total, hlen, pcrc = struct.unpack(">III", self.buf[:12])
            if zlib.crc32(self.buf[:8]) != pcrc or not 16 + hlen <= total <= MAX_MESSAGE:
                raise RuntimeError("bad event-stream prelude")
            if len(self.buf) < total:
                break
            msg, self.buf = self.buf[:total], self.buf[total:]
            if zlib.crc32(msg[:-4]) != struct.unpack(">I", msg[-4:])[0]:
                raise RuntimeError("bad event-stream message CRC")
            headers, pos = {}, 12
            while pos < 12 + hlen:
                nl = msg[pos]
                name = msg[pos + 1:pos + 1 + nl].decode()
                pos += 1 + nl
                if msg[pos] != 7:
                    raise RuntimeError(f"header {name} is not a string")
                vl = struct.unpack(">H", msg[pos + 1:pos + 3])[0]
                headers[name] = msg[pos + 3:pos + 3 + vl].decode()
                pos += 3 + vl
            out.append((headers, msg[12 + hlen:-4]))
        return out


# ---------------------------------------------------------------------------
# One latency call


def request_bytes(path, host, body, extra):
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def timed_call(port, path, eventstream, tokens, extra=""):
    """One call; {"ttfb": ms, "gaps": [ms], "transit": [ms]} from the arrival
    of each token's last byte (CLOCK_MONOTONIC) and the container's stamps."""
    s = socket.create_connection(("127.0.0.1", port), timeout=CALL_TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    answer, events = HttpAnswer(), EventStream() if eventstream else None
    text, seen, arrivals = b"", 0, []
    try:
        t0 = time.monotonic_ns()
        s.sendall(request_bytes(path, "bench", b"{}", extra))
        deadline = time.monotonic() + CALL_TIMEOUT
        while seen < tokens:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{path}: {seen} of {tokens} tokens in {CALL_TIMEOUT:.0f} s")
            data = s.recv(65536)
            t = time.monotonic_ns()
            if not data:
                raise RuntimeError(f"{path}: closed after {seen} of {tokens} tokens "
                                   f"(HTTP {answer.status}: {answer.raw[:200]!r})")
            body = answer.feed(data)
            if answer.status is not None and answer.status != 200:
                raise RuntimeError(f"{path}: HTTP {answer.status} {answer.headers}: {body[:300]!r}")
            if events:
                for headers, payload in events.feed(body):
                    if headers.get(":event-type") != "PayloadPart":
                        raise RuntimeError(f"{path}: event {headers}: {payload[:300]!r}")
                    text += payload
            else:
                text += body
            for m in TOKEN_RE.finditer(text):
                n, stamp = int(m.group(1)), int(m.group(2))
                if n != seen + 1:
                    raise RuntimeError(f"{path}: token {n} after token {seen}")
                arrivals.append((t, stamp))
                seen = n
            # Keep only what follows the last whole token.
            last = None
            for last in TOKEN_RE.finditer(text):
                pass
            if last is not None:
                text = text[last.end():]
    finally:
        s.close()
    times = [t for t, _ in arrivals]
    return {
        "ttfb": (times[0] - t0) / 1e6,
        "gaps": [(b - a) / 1e6 for a, b in zip(times, times[1:])],
        "transit": [(t - st) / 1e6 for t, st in arrivals],
    }


# ---------------------------------------------------------------------------


class Bench:
    def __init__(self, a):
        self.a = a
        self.engine = bl.Engine(a.docker_host)
        self.names = {PACED_CONFIG: f"bench-{os.getpid()}-paced", FLOOD_CONFIG: f"bench-{os.getpid()}-flood"}
        self.daemon = None
        self.live = []

    def check_tools(self):
        a = self.a
        if not self.engine.ping():
            bl.die(f"no Docker Engine answers at {a.docker_host}")
        st, _ = self.engine.call("GET", f"/images/{a.image}/json")
        if st != 200:
            bl.die(f"image {a.image} is missing; build it with "
                   f"contrib/demo-model/build-image.sh --docker-host {a.docker_host}")

    def config(self):
        """The benchmark's two models, in place of benchlib's one."""
        a = self.a
        paced = (f'DEMO_STREAM_TOKENS: "{a.tokens}", DEMO_STREAM_GAP_MS: "{a.gap_ms}", '
                 f'DEMO_STREAM_STAMP: "1"')
        flood = f'DEMO_STREAM_TOKENS: "{a.flood_tokens}"'
        variant = "InitialInstanceCount: 1, InstanceType: ml.t2.medium"
        old = bl.CONFIG_TEMPLATE
        new = old[:old.index("Models:")] + (
            "Models:\n"
            f"  - ModelName: {PACED_MODEL}\n"
            f'    PrimaryContainer: {{{{ Image: "{{image}}", Environment: {{{{ {paced} }}}} }}}}\n'
            f"  - ModelName: {FLOOD_MODEL}\n"
            f'    PrimaryContainer: {{{{ Image: "{{image}}", Environment: {{{{ {flood} }}}} }}}}\n'
            "EndpointConfigs:\n"
            f"  - EndpointConfigName: {PACED_CONFIG}\n"
            "    ProductionVariants:\n"
            f"      - {{{{ VariantName: AllTraffic, ModelName: {PACED_MODEL}, {variant} }}}}\n"
            f"  - EndpointConfigName: {FLOOD_CONFIG}\n"
            "    ProductionVariants:\n"
            f"      - {{{{ VariantName: AllTraffic, ModelName: {FLOOD_MODEL}, {variant} }}}}\n")
        bl.CONFIG_TEMPLATE = new

    def setup(self):
        a = self.a
        binary = a.endpointd or bl.default_endpointd()
        if not binary:
            bl.die("no endpointd binary; pass --endpointd PATH")
        self.config()
        self.daemon = bl.Daemon(binary, a.docker_host, a.image, log_level=a.log_level, stamp_log=False,
                                cpus=a.instance_cpus, memory=a.instance_memory, keep=a.keep,
                                extra_config="container_dialer: none\n" if a.no_dialer else "")
        self.pid = self.daemon.proc.pid
        print(f"endpointd {binary} (pid {self.pid}) on {self.daemon.url}, log {self.daemon.log_path}")
        client = bl.Client(self.daemon.url)
        self.ports = {}
        try:
            t0 = bl.now()
            for cfg, name in self.names.items():
                if cfg == FLOOD_CONFIG and not a.streams:
                    continue
                client.create(name, cfg)
                self.live.append(name)
            for name in self.live:
                while True:
                    s, body = client.status(name)
                    if s == "InService":
                        break
                    if s in ("Failed", None):
                        raise RuntimeError(f"endpoint {name}: {s}: {body.get('FailureReason') or body}")
                    if bl.now() - t0 > PHASE_TIMEOUT:
                        raise RuntimeError(f"endpoint {name} not InService within {PHASE_TIMEOUT:.0f} s")
                    time.sleep(0.05)
                running = [c for c in self.engine.containers(f"{bl.LABEL_ENDPOINT}={name}")
                           if c.get("State") == "running"]
                if len(running) != 1:
                    raise RuntimeError(f"expected 1 running container of {name}, found {len(running)}")
                self.ports[name] = self.engine.host_port(running[0]["Id"])
                print(f"endpoint {name} InService, container {running[0]['Id'][:12]} "
                      f"on 127.0.0.1:{self.ports[name]}")
        finally:
            client.close()

    def stream_path(self, name):
        return f"/endpoints/{name}/invocations-response-stream"

    def latency(self):
        a = self.a
        name = self.names[PACED_CONFIG]
        sides = {
            "direct": lambda: timed_call(self.ports[name], "/invocations", False, a.tokens),
            "endpointd": lambda: timed_call(self.daemon.port, self.stream_path(name), True, a.tokens,
                                            "X-Amzn-SageMaker-Accept: text/plain\r\n"),
        }
        for side, call in sides.items():  # one uncounted call each: connections, caches
            call()
        res = {side: [] for side in sides}
        for _ in range(a.calls):
            for side, call in sides.items():
                res[side].append(call())
        print(f"\n(1) latency: {a.calls} calls per side, alternating, {a.tokens} tokens "
              f"{a.gap_ms} ms apart, one connection per call")
        print(f"    {'':<12}{'ttfb p50':>10}{'p99':>9}{'gap p50':>10}{'p99':>9}"
              f"{'transit p50':>13}{'p99':>9}   (ms)")
        fig = {}
        for side, runs in res.items():
            ttfb = [r["ttfb"] for r in runs]
            gaps = [g for r in runs for g in r["gaps"]]
            transit = [t for r in runs for t in r["transit"]]
            fig[side] = {"ttfb": median(ttfb), "gap": median(gaps), "transit": median(transit)}
            print(f"    {side:<12}{median(ttfb):10.3f}{bl.percentile(ttfb, 99):9.3f}"
                  f"{median(gaps):10.3f}{bl.percentile(gaps, 99):9.3f}"
                  f"{median(transit):13.3f}{bl.percentile(transit, 99):9.3f}")
        d, e = fig["direct"], fig["endpointd"]
        added = e["transit"] - d["transit"]
        print(f"    added by endpointd: ttfb {e['ttfb'] - d['ttfb']:+.3f} ms, gap {e['gap'] - d['gap']:+.3f} ms, "
              f"transit per piece {added:+.3f} ms (target <= {TARGET_ADDED_PER_PIECE_MS} ms): "
              + ("met" if added <= TARGET_ADDED_PER_PIECE_MS else "NOT MET"))
        if not 0 <= d["transit"] < 50:
            print("    note: the direct transit is implausible: does the container share the host's "
                  "CLOCK_MONOTONIC (no time namespace)?")

    def memory(self):
        a = self.a
        name = self.names[FLOOD_CONFIG]
        idle = vm_rss(self.pid)
        try:  # reset VmHWM, so that the peak is this phase's
            with open(f"/proc/{self.pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass
        req = request_bytes(self.stream_path(name), "bench", b"{}", "")
        socks = []
        got = {}
        for _ in range(a.streams):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, a.rcvbuf)
            s.settimeout(10)
            s.connect(("127.0.0.1", self.daemon.port))
            s.sendall(req)
            s.setblocking(False)
            socks.append(s)
            got[s] = 0
        samples, stop = [], threading.Event()

        def sampler():
            while not stop.is_set():
                try:
                    samples.append(vm_rss(self.pid)["VmRSS"])
                except OSError:
                    return
                stop.wait(0.05)

        th = threading.Thread(target=sampler, daemon=True)
        th.start()
        t_end = time.monotonic() + a.rss_seconds
        closed = 0
        try:
            while time.monotonic() < t_end:
                for s in socks:
                    if s.fileno() < 0:
                        continue
                    try:
                        data = s.recv(a.read_bytes)
                    except BlockingIOError:
                        continue
                    if not data:
                        s.close()
                        closed += 1
                        continue
                    got[s] += len(data)
                time.sleep(a.read_interval_ms / 1000.0)
        finally:
            stop.set()
            th.join(2)
            hwm = vm_rss(self.pid)["VmHWM"]
            for s in socks:
                s.close()
        time.sleep(a.settle_s)
        after = vm_rss(self.pid)["VmRSS"]
        med = median(samples)
        per_stream = (med - idle["VmRSS"]) / a.streams
        read = sorted(got.values())
        print(f"\n(2) memory: {a.streams} streams of {a.flood_tokens} tokens through endpointd, each read "
              f"{a.read_bytes} bytes every {a.read_interval_ms} ms (SO_RCVBUF {a.rcvbuf}) for {a.rss_seconds} s")
        print(f"    daemon VmRSS idle {idle['VmRSS'] / MiB:.1f} MiB, median {med / MiB:.1f} MiB, "
              f"peak {max(samples) / MiB:.1f} MiB, VmHWM {hwm / MiB:.1f} MiB; "
              f"(median - idle) per stream {per_stream / 1024:.1f} KiB")
        print(f"    bytes read per stream: min {read[0]}, median {int(median(read))}, max {read[-1]}; "
              f"{closed} streams ended early")
        print(f"    {a.settle_s:g} s after the clients hung up: VmRSS {after / MiB:.1f} MiB")

    def run(self):
        self.check_tools()
        print(f"Docker Engine {self.a.docker_host}, image {self.a.image}, host {os.cpu_count()} CPUs, "
              f"load {open('/proc/loadavg').read().split()[0]}")
        self.setup()
        self.latency()
        if self.a.streams:
            self.memory()
        return 0

    def cleanup(self):
        if self.daemon and self.live:
            c = bl.Client(self.daemon.url)
            try:
                left = bl.delete_and_wait(c, self.engine, self.live, timeout=60)
                if left:
                    print(f"warning: not deleted in time: {' '.join(left)}", file=sys.stderr)
                else:
                    self.live = []
            except Exception as e:  # noqa: BLE001
                print(f"warning: deleting {self.live}: {e}", file=sys.stderr)
            finally:
                c.close()
        if self.daemon:
            self.daemon.stop()
            for name in self.names.values():
                try:  # last resort: nothing of ours may outlive the benchmark
                    k = self.engine.remove_labelled(f"{bl.LABEL_ENDPOINT}={name}")
                    if k:
                        print(f"warning: removed {k} leftover container(s) of {name}", file=sys.stderr)
                except Exception as e:  # noqa: BLE001
                    print(f"warning: {e}", file=sys.stderr)
            if self.daemon.keep:
                print(f"kept {self.daemon.tmp}", file=sys.stderr)
            self.daemon.cleanup()


def main():
    a = parse_args()
    b = Bench(a)
    try:
        return b.run()
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    except (RuntimeError, bl.ApiError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        if b.daemon:
            b.daemon.keep = True
            print(f"daemon log kept: {b.daemon.log_path}", file=sys.stderr)
        return 1
    finally:
        b.cleanup()


if __name__ == "__main__":
    sys.exit(main())
