"""Under systemd (stderr is the journal stream) records go to the journal
natively, with the structured fields.  The journal's socket is faked in a
mount namespace of the test's own, so the host's journald is never touched;
without root or unshare(1) these tests skip."""

import json
import os
import subprocess
import sys

import pytest

from sd_harness import ENDPOINTD_BIN, find_tool

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def journal_records(make_daemon):
    unshare = find_tool("unshare")
    if os.geteuid() != 0 or unshare is None:
        pytest.skip("needs root and unshare(1) for a private /run")
    probe = subprocess.run([unshare, "--mount", "--propagation", "private", "true"],
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot make a mount namespace here: " + probe.stderr.decode().strip())
    d = make_daemon()
    script = ('mount -t tmpfs tmpfs /run && exec "$0" "$@"')
    r = subprocess.run([unshare, "--mount", "--propagation", "private", "sh", "-c", script,
                        sys.executable, os.path.join(HERE, "journal_capture.py"),
                        ENDPOINTD_BIN, d.config_path, str(d.port)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def test_records_go_to_the_journal_with_priority_and_location(journal_records):
    ready = [r for r in journal_records if "ready:" in r.get("MESSAGE", "")]
    assert ready, journal_records
    r = ready[0]
    assert r["PRIORITY"] == "5"  # notice
    assert r["SYSLOG_IDENTIFIER"] == "endpointd"
    assert r["CODE_FILE"].endswith("endpointd.c") and int(r["CODE_LINE"]) > 0
    assert r["CODE_FUNC"] == "daemon_serve"


def test_endpoint_records_carry_the_endpoint_field(journal_records):
    created = [r for r in journal_records if "Creating from config" in r.get("MESSAGE", "")]
    assert created, journal_records
    assert created[0]["ENDPOINT"] == "journaled"


def test_debug_records_reach_the_journal_too(journal_records):
    assert any(r.get("PRIORITY") == "7" for r in journal_records)


def test_nothing_goes_to_stderr_while_the_journal_takes_it(journal_records):
    stderr = [r["STDERR"] for r in journal_records if "STDERR" in r]
    assert stderr == [""]
