"""A damaged journal: a torn tail (half a record at the end) is cut at start
and the daemon starts with the state before it; a bad record in the middle
makes the daemon refuse to start, naming the file and the offset; and
`endpointd --check-state` tells the two apart by its exit status."""

import re
import struct

import pytest

from endpointd_harness import unique_name
from recovery_helpers import journal_records, read_file

# A frame header promising 300 bytes, then the first bytes of a payload.
TORN = struct.pack("<II", 300, 0xDEADBEEF) + b'{"s":999999,"k":"endpoint/'


def _create(d, what, config="demo-config"):
    name = unique_name(what)
    d.api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": config})
    return name


@pytest.fixture(scope="module")
def torn(module_daemon_factory):
    """An InService endpoint, kill -9, half a record appended to the journal,
    the daemon started again."""
    d = module_daemon_factory()
    name = _create(d, "torn")
    d.wait_converged(name)
    ids = d.running_ids(name)
    d.kill()
    good = read_file(d.journal_path)
    with open(d.journal_path, "ab") as f:
        f.write(TORN)
    since = d.log_size()
    d.start()
    return d, name, ids, good, since


def test_torn_tail_is_cut_and_the_daemon_starts_with_the_earlier_state(torn):
    d, name, ids, _, _ = torn
    d.wait_converged(name)
    assert d.running_ids(name) == ids, d.container_report()


def test_torn_tail_is_cut_from_the_journal_file(torn):
    d, _, _, good, _ = torn
    data = read_file(d.journal_path)
    records, end = journal_records(data)
    assert end == len(data), f"the journal still has {len(data) - end} bad bytes at offset {end}"
    assert TORN not in data
    # Whatever was written since follows the good records (unless a snapshot cut the journal).
    if len(data) >= len(good):
        assert data[:len(good)] == good


def test_torn_tail_cut_is_logged(torn):
    d, _, _, good, since = torn
    log = d.log_tail(since, max_lines=10000)
    hits = [line for line in log.splitlines() if "journal" in line and re.search(r"torn|truncat", line, re.I)]
    assert hits, f"no log line about cutting the journal's torn tail; the daemon said:\n{log}"


def test_changes_after_a_torn_tail_survive_the_next_kill(torn):
    d, first, _, _, _ = torn
    second = _create(d, "after-torn")
    d.kill()
    d.start()
    d.wait_converged(first)
    d.wait_converged(second)


@pytest.fixture(scope="module")
def corrupt(module_daemon_factory):
    """Three acknowledged changes, kill -9, `--check-state` on the clean
    journal, one payload byte flipped in a record that has good ones after
    it, then `--check-state` and a start on the corrupt journal."""
    d = module_daemon_factory()
    a = _create(d, "corrupt-a")
    _create(d, "corrupt-b")
    d.api.ok("AddTags", {"ResourceArn": d.api.describe(a)["EndpointArn"], "Tags": [{"Key": "k", "Value": "v"}]})
    d.kill()
    out = {"clean_check": d.run_once("--check-state")}
    data = bytearray(read_file(d.journal_path))
    records, end = journal_records(bytes(data))
    assert end == len(data), f"the journal of a killed daemon has bad bytes at offset {end}"
    if len(records) < 3:
        pytest.fail(f"the journal holds {len(records)} records after 3 acknowledged changes "
                    f"({len(data)} bytes): every change must be journalled before it is answered",
                    pytrace=False)
    off, payload = records[len(records) // 2] if len(records) > 3 else records[1]
    data[off + 8 + len(payload) // 2] ^= 0x01
    with open(d.journal_path, "wb") as f:
        f.write(data)
    out["offset"] = off
    out["corrupt_bytes"] = bytes(data)
    out["corrupt_check"] = d.run_once("--check-state")
    out["start"] = d.run_once(timeout=15)
    out["after_start"] = read_file(d.journal_path)
    return d, out


def test_check_state_exits_0_on_a_clean_state_dir(corrupt):
    rc, stdout, stderr = corrupt[1]["clean_check"]
    assert rc == 0, f"--check-state: exit {rc}\nstdout: {stdout}\nstderr: {stderr}"
    assert (stdout + stderr).strip(), "--check-state printed no report"


def test_check_state_exits_1_on_a_journal_corrupt_in_the_middle(corrupt):
    rc, stdout, stderr = corrupt[1]["corrupt_check"]
    assert rc == 1, f"--check-state: exit {rc}\nstdout: {stdout}\nstderr: {stderr}"


def test_corrupt_middle_refuses_to_start(corrupt):
    rc, _, stderr = corrupt[1]["start"]
    assert rc is not None, f"endpointd started on a journal corrupt in the middle; stderr:\n{stderr}"
    assert rc != 0, stderr


def test_corrupt_middle_refusal_names_the_journal_file_and_the_offset(corrupt):
    d, out = corrupt
    _, _, stderr = out["start"]
    assert d.journal_path in stderr, stderr
    assert re.search(rf"(?<!\d){out['offset']}(?!\d)", stderr), f"offset {out['offset']} not named: {stderr}"


def test_corrupt_middle_refusal_leaves_the_journal_untouched(corrupt):
    out = corrupt[1]
    assert out["after_start"] == out["corrupt_bytes"]
