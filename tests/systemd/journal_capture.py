"""Runs endpointd with its stderr "connected to the journal" and prints, as
JSON lines, the records it sends to the journal's native socket.

Meant to run in a mount namespace of its own with a tmpfs on /run (see
test_journal_fields.py), where it can bind /run/systemd/journal/socket
without touching the host's journald.

usage: journal_capture.py ENDPOINTD CONFIG PORT
"""

import json
import os
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from sd_harness import api  # noqa: E402


def parse(datagram):
    """The journal's native protocol: KEY=value lines, or KEY\\n<le64 size><value>\\n."""
    fields, i = {}, 0
    while i < len(datagram):
        nl = datagram.index(b"\n", i)
        line = datagram[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            fields[k.decode()] = v.decode(errors="replace")
            i = nl + 1
        else:
            (size,) = struct.unpack("<Q", datagram[nl + 1:nl + 9])
            fields[line.decode()] = datagram[nl + 9:nl + 9 + size].decode(errors="replace")
            i = nl + 9 + size + 1
    return fields


def main():
    endpointd, config, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    os.makedirs("/run/systemd/journal", exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("/run/systemd/journal/socket")
    sock.settimeout(0.1)

    stderr_path = os.path.join(os.path.dirname(config), "stderr")
    stderr = open(stderr_path, "wb")
    st = os.fstat(stderr.fileno())
    env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
    proc = subprocess.Popen([endpointd, "--config", config, "--log-level", "debug"],
                            stdout=stderr, stderr=stderr, env=env)
    records = []

    def drain(seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                records.append(parse(sock.recv(1 << 20)))
            except socket.timeout:
                pass

    deadline = time.monotonic() + 10
    while not any("ready" in r.get("MESSAGE", "") for r in records):
        assert time.monotonic() < deadline, "endpointd did not get ready"
        drain(0.1)
    status, body = api(port, "CreateEndpoint",
                       {"EndpointName": "journaled", "EndpointConfigName": "demo-config"})
    assert status == 200, body
    drain(0.5)
    proc.terminate()
    proc.wait(10)
    drain(0.2)
    stderr.close()
    for r in records:
        print(json.dumps(r))
    with open(stderr_path) as f:
        print(json.dumps({"STDERR": f.read()}))


if __name__ == "__main__":
    main()
