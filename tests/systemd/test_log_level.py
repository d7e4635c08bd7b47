"""Logs: to stderr outside systemd, filtered by --log-level."""

import re
import subprocess

from sd_harness import ENDPOINTD_BIN


def run_briefly(d, *args, env=None):
    d.start(args=args, env=env)
    d.wait_api()
    # The Engine is missing: a warning is logged once the client gives up.
    d.wait_log("does not answer")
    assert d.stop() == 0
    return d.read_log()


def levels(log):
    return set(re.findall(r"^endpointd\[\d+\]: (\w+): ", log, re.M))


def test_log_level_debug_prints_debug_lines(make_daemon):
    log = run_briefly(make_daemon(), "--log-level", "debug")
    assert "debug" in levels(log)


def test_default_log_level_is_info(make_daemon):
    found = levels(run_briefly(make_daemon()))
    assert "info" in found and "debug" not in found


def test_log_level_warning_hides_info_lines(make_daemon):
    found = levels(run_briefly(make_daemon(), "--log-level", "warning"))
    assert "warning" in found
    assert not found & {"info", "notice", "debug"}


def test_journal_stream_of_another_file_still_logs_to_stderr(make_daemon):
    # JOURNAL_STREAM names stderr's device:inode only under systemd.
    log = run_briefly(make_daemon(), env={"JOURNAL_STREAM": "0:0"})
    assert "info" in levels(log)


def test_unknown_log_level_is_a_usage_error():
    r = subprocess.run([ENDPOINTD_BIN, "--log-level", "chatty"], capture_output=True, text=True)
    assert r.returncode == 2
    assert 'unknown log level "chatty"' in r.stderr
