"""Fixtures for the systemd integration tests (see sd_harness.py)."""

import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from sd_harness import ENDPOINTD_BIN, Daemon, NotifySocket, short_tmpdir  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def built_daemon():
    if not os.access(ENDPOINTD_BIN, os.X_OK):
        pytest.fail(f"{ENDPOINTD_BIN} is not built")
    return ENDPOINTD_BIN


@pytest.fixture
def workdir():
    """A short directory (Unix socket paths are limited), removed afterwards."""
    d = short_tmpdir()
    yield d
    if os.environ.get("ENDPOINTD_TEST_KEEP") == "1":
        print(f"kept {d}")
    else:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def notify(workdir):
    n = NotifySocket(workdir)
    yield n
    n.close()


@pytest.fixture
def make_daemon(workdir):
    """make_daemon(**kw) -> Daemon (not started); every one is killed afterwards."""
    made = []

    def make(**kw):
        d = Daemon(os.path.join(workdir, f"d{len(made)}"), **kw) if made else Daemon(workdir, **kw)
        made.append(d)
        return d

    yield make
    for d in made:
        d.kill()
        if d.proc is not None and os.environ.get("ENDPOINTD_TEST_VERBOSE") == "1":
            print(d.read_log())
