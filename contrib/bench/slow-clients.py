#!/usr/bin/python3
"""slow-clients: is the daemon's memory bounded by its body budget?

Starts its own endpointd with limits.max_buffered_bytes set to --budget
(and max_connections, body_timeout_s and request_timeout_s from the command
line), creates one InService endpoint of the demo model, and measures the
daemon's VmRSS idle.  Then, one phase after the other, --clients connections
are opened at once from one thread (non-blocking sockets, epoll):

  heads    each sends half a request head and stalls: what a connection
           costs with no body at all (first, while the heap is fresh);
  invoke   each sends the head of an InvokeEndpoint with Content-Length
           --body-bytes (6 MiB), then --sent-fraction of that body (half)
           all at once, and stalls;
  control  the same to the control plane: POST / with Content-Length
           --control-bytes (1 MiB), half of it sent.

The daemon reserves a body's whole Content-Length from the budget when it
reads the head, and answers 503 at once when the budget cannot cover it, so
at most budget / Content-Length bodies are held and the rest are refused.
Once the daemon has read every byte sent (nothing is left queued on either
side of the loopback connections, /proc/net/tcp), the script samples VmRSS
--samples times and reports the median, VmHWM (reset through clear_refs at
the phase's start), the held and refused counts, and RSS - idle (VmRSS before
the first phase) and (RSS - idle) / budget: the figure that must stay at or
under 1 plus a fixed cost per held connection, which the heads phase gives.
Then it closes the phase's sockets and waits for the daemon to let the
connections go.  Half-sent bodies fill half the budget; --sent-fraction
0.999 fills it.

Loopback only; every wait is bounded.  Run by hand, never from the test suite:
  /usr/bin/python3 contrib/bench/slow-clients.py \\
      --docker-host unix:///var/run/docker.sock --endpointd build/daemon/endpointd --budget 64MiB
"""

import argparse
import errno
import os
import re
import resource
import selectors
import socket
import statistics
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

MiB = 1024 * 1024
MAX_INVOKE_BODY = 6291456  # the most an InvokeEndpoint body may be
MAX_CONTROL_BODY = MiB  # the most a control-plane body may be
UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": MiB, "mb": 1000 ** 2,
         "mib": MiB, "g": 1024 ** 3, "gb": 1000 ** 3, "gib": 1024 ** 3}


def parse_size(text):
    m = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in UNITS:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: use bytes or e.g. 64MiB, 2GiB")
    return int(m.group(1)) * UNITS[m.group(2).lower()]


def fmt_mib(n):
    return f"{n / MiB:8.1f} MiB"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=parse_size, default=parse_size("512MiB"),
                   help="limits.max_buffered_bytes (default 512MiB)")
    p.add_argument("--clients", type=int, default=1000, help="connections per phase (default 1000)")
    p.add_argument("--body-bytes", type=int, default=MAX_INVOKE_BODY,
                   help=f"Content-Length of each invocation (default {MAX_INVOKE_BODY})")
    p.add_argument("--control-bytes", type=int, default=MAX_CONTROL_BODY,
                   help=f"Content-Length of each control-plane body (default {MAX_CONTROL_BODY})")
    p.add_argument("--sent-fraction", type=float, default=0.5,
                   help="share of each body sent before the client stalls (default 0.5)")
    p.add_argument("--max-connections", type=int, default=4096,
                   help="limits.max_connections (default 4096)")
    p.add_argument("--body-timeout", type=int, default=60,
                   help="limits.body_timeout_s and request_timeout_s: longer than a phase (default 60)")
    p.add_argument("--samples", type=int, default=5, help="VmRSS samples per phase (default 5)")
    p.add_argument("--sample-interval", type=float, default=0.2,
                   help="seconds between samples (default 0.2)")
    p.add_argument("--phases", default="heads,invoke,control",
                   help="comma-separated phases to run, in order (default %(default)s)")
    p.add_argument("--docker-host", default=bl.default_docker_host(),
                   help="unix:///path of the Docker Engine (default $DOCKER_HOST or /var/run/docker.sock)")
    p.add_argument("--endpointd", default=None,
                   help="daemon binary (default $ENDPOINTD, ./daemon/endpointd, then PATH)")
    p.add_argument("--image", default=bl.DEFAULT_IMAGE, help="model image (default %(default)s)")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="bound of each wait: InService, a phase's sends, the drain (default 30)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory and daemon log")
    a = p.parse_args()
    if not 1 <= a.clients <= 10000:
        bl.die("--clients must be 1..10000")
    if not 64 * 1024 <= a.budget <= 64 * 1024 ** 3:
        bl.die("--budget must be 64KiB..64GiB")
    if not 1 <= a.body_bytes <= MAX_INVOKE_BODY or not 1 <= a.control_bytes <= MAX_CONTROL_BODY:
        bl.die(f"--body-bytes must be 1..{MAX_INVOKE_BODY}, --control-bytes 1..{MAX_CONTROL_BODY}")
    if not 0.0 <= a.sent_fraction < 1.0:
        bl.die("--sent-fraction must be in [0, 1): a whole body would be answered, not held")
    if not 1 <= a.max_connections <= 1000000:
        bl.die("--max-connections must be 1..1000000")
    if not 5 <= a.body_timeout <= 3600:
        bl.die("--body-timeout must be 5..3600")
    if not 1 <= a.samples <= 50 or not 0.01 <= a.sample_interval <= 5.0:
        bl.die("--samples 1..50, --sample-interval 0.01..5")
    if not 1.0 <= a.timeout <= 600.0:
        bl.die("--timeout must be 1..600")
    a.phases = [x for x in a.phases.split(",") if x]
    if not a.phases or any(x not in ("invoke", "control", "heads") for x in a.phases):
        bl.die("--phases: a comma-separated list of invoke, control, heads")
    a.endpointd = a.endpointd or bl.default_endpointd()
    if not a.endpointd:
        bl.die("no endpointd binary: pass --endpointd")
    return a


def raise_nofile(want):
    """Raise this process's open file limit to at least want (the daemon
    inherits it); the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
                hard = want
            except (ValueError, OSError):
                pass
        soft = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---------------------------------------------------------------------------
# The daemon's memory and the loopback queues


def proc_status(pid):
    """VmRSS and VmHWM of pid, in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out


def reset_hwm(pid):
    """Reset the VmHWM of pid to its VmRSS; False where the kernel refuses."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def loopback_queues(port):
    """(bytes the daemon has not read yet, bytes the clients have not sent
    yet, established connections to the daemon) on port, from /proc/net/tcp."""
    unread = unsent = conns = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            tx, rx = (int(x, 16) for x in fields[4].split(":"))
            if int(local.split(":")[1], 16) == port:
                unread += rx
                conns += state == "01"
            elif int(remote.split(":")[1], 16) == port:
                unsent += tx
    return unread, unsent, conns


def sample_rss(pid, n, interval):
    values = []
    for i in range(n):
        if i:
            time.sleep(interval)
        values.append(proc_status(pid)["VmRSS"])
    return statistics.median(values), values


# ---------------------------------------------------------------------------
# Slow clients


class Slow:
    __slots__ = ("sock", "sent", "reply", "status", "closed", "writing")

    def __init__(self, sock):
        self.sock = sock
        self.sent = 0
        self.reply = b""
        self.status = None  # the answer's status code, once one came
        self.closed = None  # why the connection ended, if it did
        self.writing = True


class Phase:
    """--clients connections that each send msg (a head and part of a body)
    and stall, driven from this thread."""

    def __init__(self, port, msg, n, timeout):
        self.port = port
        self.msg = memoryview(msg)
        self.sel = selectors.DefaultSelector()
        self.clients = []
        self.connect_errors = 0
        self.timeout = timeout
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex(("127.0.0.1", port))
            if err not in (0, errno.EINPROGRESS):
                s.close()
                self.connect_errors += 1
                continue
            c = Slow(s)
            self.clients.append(c)
            self.sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)

    def _end(self, c, why):
        if c.closed is None:
            c.closed = why
            self.sel.unregister(c.sock)

    def _read(self, c):
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as e:
            self._end(c, errno.errorcode.get(e.errno, str(e.errno)))
            return
        if not data:
            self._end(c, "eof")
            return
        if c.status is None:
            c.reply = (c.reply + data)[:256]
            m = re.match(rb"HTTP/1\.[01] (\d{3}) ", c.reply)
            if m:
                c.status = int(m.group(1))
                if c.writing:  # answered: send nothing more
                    c.writing = False
                    self.sel.modify(c.sock, selectors.EVENT_READ, c)

    def _write(self, c):
        try:
            n = c.sock.send(self.msg[c.sent:c.sent + 1024 * 1024])
        except BlockingIOError:
            return
        except OSError as e:
            self._end(c, errno.errorcode.get(e.errno, str(e.errno)))
            return
        c.sent += n
        if c.sent >= len(self.msg):
            c.writing = False
            self.sel.modify(c.sock, selectors.EVENT_READ, c)

    def poll(self, seconds):
        deadline = bl.now() + seconds
        while True:
            left = deadline - bl.now()
            if left <= 0 or not self.sel.get_map():
                return
            for key, ev in self.sel.select(min(left, 0.1)):
                c = key.data
                if ev & selectors.EVENT_READ:
                    self._read(c)
                if c.closed is None and c.writing and ev & selectors.EVENT_WRITE:
                    self._write(c)

    def drive(self):
        """Until every client has sent what it had to send or was answered,
        and the daemon has read every byte; False when that took too long."""
        deadline = bl.now() + self.timeout
        while bl.now() < deadline:
            self.poll(0.05)
            if any(c.writing and c.closed is None for c in self.clients):
                continue
            unread, unsent, _ = loopback_queues(self.port)
            if unread == 0 and unsent == 0:
                self.poll(0.2)  # answers the last reads made
                return True
        return False

    def counts(self):
        held = sum(1 for c in self.clients if c.status is None and c.closed is None)
        refused = sum(1 for c in self.clients if c.status == 503)
        other = {}
        for c in self.clients:
            if c.status not in (None, 503):
                other[f"HTTP {c.status}"] = other.get(f"HTTP {c.status}", 0) + 1
            elif c.status is None and c.closed is not None:
                other[f"closed ({c.closed})"] = other.get(f"closed ({c.closed})", 0) + 1
        if self.connect_errors:
            other["connect failed"] = self.connect_errors
        return held, refused, other

    def held_bytes(self):
        return sum(c.sent for c in self.clients if c.status is None and c.closed is None)

    def close(self):
        for c in self.clients:
            if c.closed is None:
                self.sel.unregister(c.sock)
            c.sock.close()
        self.sel.close()


# ---------------------------------------------------------------------------


class Bench:
    def __init__(self, a):
        self.a = a
        self.daemon = None
        self.name = None
        self.results = []

    def start_daemon(self):
        a = self.a
        bl.CONFIG_TEMPLATE = bl.CONFIG_TEMPLATE.replace(
            "max_instances: {max_instances} }}",
            "max_instances: {max_instances},"
            f" max_buffered_bytes: {a.budget}, max_connections: {a.max_connections},"
            f" body_timeout_s: {a.body_timeout}, request_timeout_s: {a.body_timeout},"
            f" idle_timeout_s: {a.body_timeout} }}}}")
        self.daemon = bl.Daemon(a.endpointd, a.docker_host, a.image, log_level="info",
                                stamp_log=False, cpus="1", memory="512MiB", keep=a.keep)
        self.pid = self.daemon.proc.pid

    def create_endpoint(self):
        a = self.a
        c = bl.Client(self.daemon.url, timeout=30.0)
        try:
            self.name = f"bench-{os.getpid()}-slow"
            c.create(self.name, bl.DEFAULT_CONFIG_NAME)
            deadline = bl.now() + a.timeout
            while True:
                s, b = c.status(self.name)
                if s == "InService":
                    return
                if s == "Failed" or bl.now() > deadline:
                    bl.die(f"endpoint {self.name} did not come InService ({s}):"
                           f" {b.get('FailureReason', '')}")
                time.sleep(0.05)
        finally:
            c.close()

    def settle(self, base_conns=0):
        """Until the daemon holds no more connections than base_conns and its
        VmRSS has stopped moving (bounded); its VmRSS then."""
        deadline = bl.now() + min(self.a.timeout, 10.0)
        last = None
        while bl.now() < deadline:
            _, _, conns = loopback_queues(self.daemon.port)
            rss = proc_status(self.pid)["VmRSS"]
            if conns <= base_conns and last is not None and abs(rss - last) < 64 * 1024:
                return rss
            last = rss
            time.sleep(0.25)
        return proc_status(self.pid)["VmRSS"]

    def message(self, phase):
        a = self.a
        port = self.daemon.port
        if phase == "heads":
            head = (f"POST /endpoints/{self.name}/invocations HTTP/1.1\r\n"
                    f"Host: 127.0.0.1:{port}\r\n").encode()
            return head, 0, 0
        if phase == "invoke":
            length = a.body_bytes
            head = (f"POST /endpoints/{self.name}/invocations HTTP/1.1\r\n"
                    f"Host: 127.0.0.1:{port}\r\nContent-Type: application/octet-stream\r\n")
        else:
            length = a.control_bytes
            head = (f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                    f"X-Amz-Target: SageMaker.DescribeEndpoint\r\nContent-Type: {bl.CONTENT_TYPE}\r\n")
        head = (head + f"Content-Length: {length}\r\n\r\n").encode()
        part = int(length * a.sent_fraction)
        body = bytes((i * 7 + 13) % 251 for i in range(min(part, 4096)))
        body = (body * (part // max(1, len(body)) + 1))[:part]
        return head + body, length, part

    def phase(self, name, idle_rss):
        a = self.a
        msg, length, part = self.message(name)
        base = self.settle()
        base_fds = open_fds(self.pid)
        hwm_reset = reset_hwm(self.pid)
        t0 = bl.now()
        ph = Phase(self.daemon.port, msg, a.clients, a.timeout)
        try:
            drained = ph.drive()
            took = bl.now() - t0
            rss, samples = sample_rss(self.pid, a.samples, a.sample_interval)
            st = proc_status(self.pid)
            fds = open_fds(self.pid)
            ph.poll(0.0)
            held, refused, other = ph.counts()
            r = dict(name=name, length=length, part=part, base=base, idle=idle_rss, rss=rss,
                     samples=samples, hwm=st["VmHWM"], hwm_reset=hwm_reset, held=held,
                     refused=refused, other=other, drained=drained, took=took,
                     held_bytes=ph.held_bytes(), fds=fds - base_fds)
        finally:
            ph.close()
        r["after"] = self.settle()
        self.results.append(r)
        self.print_phase(r)
        return r

    def print_phase(self, r):
        a = self.a
        what = {"invoke": f"InvokeEndpoint, Content-Length {r['length']}, {r['part']} bytes sent",
                "control": f"POST / (control plane), Content-Length {r['length']}, {r['part']} bytes sent",
                "heads": "half a head each, no body"}[r["name"]]
        print(f"\n[{r['name']}] {a.clients} clients: {what}")
        others = ", ".join(f"{k}: {v}" for k, v in sorted(r["other"].items()))
        print(f"  held {r['held']}, refused (503) {r['refused']}" + (f", other: {others}" if others else "")
              + f"; daemon fds +{r['fds']}; sent and read in {r['took']:.2f} s"
              + ("" if r["drained"] else "  (NOT DRAINED: the daemon had not read everything in time)"))
        grow = r["rss"] - r["idle"]
        print(f"  VmRSS idle {fmt_mib(r['idle'])}   before phase {fmt_mib(r['base'])}"
              f"   under load (median of {len(r['samples'])}) {fmt_mib(r['rss'])}"
              f"   VmHWM {fmt_mib(r['hwm'])}" + ("" if r["hwm_reset"] else " (since start: clear_refs refused)"))
        print(f"  RSS - idle {fmt_mib(grow)}   RSS - before {fmt_mib(r['rss'] - r['base'])}"
              f"   body bytes held {fmt_mib(r['held_bytes'])}   after close {fmt_mib(r['after'])}")
        if r["name"] == "heads":
            if r["held"]:
                print(f"  per connection: {(r['rss'] - r['base']) / r['held'] / 1024:.1f} KiB")
            return
        if r["held"]:
            over = (grow - r["held_bytes"]) / r["held"]
            print(f"  per held connection beyond its body bytes: {over / 1024:.1f} KiB;"
                  f" (RSS - idle) / body bytes held {grow / max(1, r['held_bytes']):.2f}")
        bound = a.budget // r["length"]
        print(f"  (RSS - idle) / budget = {grow / a.budget:.3f}   (VmHWM - idle) / budget ="
              f" {(r['hwm'] - r['idle']) / a.budget:.3f}   bodies the budget covers: {bound}")

    def run(self):
        a = self.a
        self.create_endpoint()
        idle = self.settle()
        st = proc_status(self.pid)
        print(f"endpointd {a.endpointd} pid {self.pid}; budget {a.budget} bytes ({a.budget / MiB:g} MiB),"
              f" max_connections {a.max_connections}, body_timeout_s {a.body_timeout};"
              f" open file limit {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}")
        print(f"idle baseline: VmRSS {fmt_mib(idle)}   VmHWM {fmt_mib(st['VmHWM'])}"
              f"   (one endpoint InService: {self.name})")
        for name in a.phases:
            self.phase(name, idle)
        self.summary()

    def summary(self):
        a = self.a
        heads = next((r for r in self.results if r["name"] == "heads"), None)
        per_conn = (heads["rss"] - heads["base"]) / heads["held"] if heads and heads["held"] else None
        print(f"\nsummary (budget {a.budget / MiB:g} MiB, {a.clients} clients, idle VmRSS"
              f" {self.results[0]['idle'] / MiB:.1f} MiB)")
        print(f"  {'phase':8s} {'held':>5s} {'refused':>7s} {'RSS idle':>9s} {'RSS load':>9s}"
              f" {'RSS-idle':>9s} {'HWM-idle':>9s} {'bodies':>9s} {'/budget':>7s}  verdict")
        for r in self.results:
            grow = r["rss"] - r["idle"]
            verdict = ""
            if r["name"] != "heads":
                # The budget plus the fixed cost of each connection held.
                allowance = a.budget + (r["held"] * per_conn if per_conn else 0)
                peak = max(grow, r["hwm"] - r["idle"])
                verdict = "bounded" if peak <= 1.05 * allowance + MiB else "OVER BUDGET"
            print(f"  {r['name']:8s} {r['held']:5d} {r['refused']:7d} {r['idle'] / MiB:9.1f}"
                  f" {r['rss'] / MiB:9.1f} {grow / MiB:9.1f} {(r['hwm'] - r['idle']) / MiB:9.1f}"
                  f" {r['held_bytes'] / MiB:9.1f} {grow / a.budget:7.3f}  {verdict}")
        if per_conn is not None:
            print(f"  fixed cost per connection (heads phase): {per_conn / 1024:.1f} KiB")
        print("  (MiB; idle: VmRSS before the first phase; bodies: body bytes the held clients sent;\n"
              "   /budget: (RSS - idle) / budget, to stay <= 1 plus the fixed cost per connection;\n"
              "   bounded: RSS and VmHWM - idle <= budget + held x the heads phase's cost per connection,"
              " 5% + 1 MiB slack)")

    def cleanup(self):
        if not self.daemon:
            return
        engine = bl.Engine(self.a.docker_host)
        c = bl.Client(self.daemon.url, timeout=30.0)
        try:
            if self.name:
                left = bl.delete_and_wait(c, engine, [self.name], timeout=self.a.timeout)
                if left:
                    print(f"warning: not deleted in time: {', '.join(left)}", file=sys.stderr)
        except (bl.ApiError, OSError) as e:
            print(f"warning: cleanup: {e}", file=sys.stderr)
        finally:
            c.close()
            self.daemon.stop()
            if self.name:
                try:
                    engine.remove_labelled(f"{bl.LABEL_ENDPOINT}={self.name}")
                except (RuntimeError, OSError) as e:
                    print(f"warning: {e}", file=sys.stderr)
            if self.a.keep:
                print(f"kept {self.daemon.tmp}")
            self.daemon.cleanup()


def main():
    a = parse_args()
    # The daemon keeps max_connections to half its open file limit, and this
    # process holds one descriptor per client.
    want = max(2 * max(a.max_connections, a.clients) + 256, a.clients + 256)
    got = raise_nofile(want)
    if got < a.clients + 64:
        bl.die(f"open file limit {got} is too low for {a.clients} clients")
    if got < want:
        print(f"note: open file limit {got}: the daemon takes at most {got // 2} connections")
    if not bl.Engine(a.docker_host).ping():
        bl.die(f"no Docker Engine answers at {a.docker_host}")
    t0 = bl.now()
    b = Bench(a)
    try:
        b.start_daemon()
        b.run()
    finally:
        b.cleanup()
    print(f"whole run {bl.now() - t0:.1f} s")


if __name__ == "__main__":
    main()
