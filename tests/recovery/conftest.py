"""The crash-recovery suite: endpointd killed, stopped and restarted on the
same state_dir, its journal damaged, its containers changed behind its back,
and its Docker Engine restarted under it (DESIGN.md, Durability).

It reuses tests/integration/endpointd_harness.py (ApiClient, DockerClient,
Daemon, the failure-report hooks) but not its session daemon: every test
starts its own daemons, so tests/run-docker-tests runs this suite as a pytest
invocation of its own, after the others.

Knobs: ENDPOINTD_RECOVERY_SEED (the kill -9 trials' seed; printed at the end),
ENDPOINTD_RECOVERY_TRIALS (default 20), ENDPOINTD_TEST_PRIVATE_DOCKERD_DIR (the
directory of a private-dockerd.sh engine that the outage tests may restart; set
by run-docker-tests when it started the engine itself).
"""

import os
import secrets
import sys

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_here, os.pardir, "integration"))
sys.path.insert(0, _here)

import pytest  # noqa: E402

pytest.register_assert_rewrite("endpointd_harness", "recovery_helpers")
import endpointd_harness  # noqa: E402
from recovery_helpers import RecoveryDaemon  # noqa: E402

SEED = int(os.environ.get("ENDPOINTD_RECOVERY_SEED") or secrets.randbits(32))


def pytest_configure(config):
    if not config.pluginmanager.is_registered(endpointd_harness):
        config.pluginmanager.register(endpointd_harness, "endpointd_harness")


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f"recovery suite: kill -9 trials seed {SEED} (ENDPOINTD_RECOVERY_SEED={SEED} repeats them)")


@pytest.fixture(scope="session")
def recovery_seed():
    print(f"kill -9 trials: seed {SEED} (ENDPOINTD_RECOVERY_SEED={SEED} repeats them)")
    return SEED


class DaemonFactory:
    def __init__(self, endpointd_bin, docker_sock, demo_image, docker):
        self.args = (endpointd_bin, docker_sock, demo_image, docker)
        self.daemons = []

    def __call__(self, grace=2, start=True, extra_config=(), models=None, configs=()):
        d = RecoveryDaemon(*self.args, grace=grace, extra_config=extra_config, models=models,
                           configs=configs)
        self.daemons.append(d)
        if start:
            d.start()
        return d

    def close(self):
        while self.daemons:
            self.daemons.pop().close()


@pytest.fixture
def make_daemon(endpointd_bin, docker_sock, demo_image, docker):
    """make_daemon(grace=2): a started RecoveryDaemon, killed and its
    containers removed after the test."""
    f = DaemonFactory(endpointd_bin, docker_sock, demo_image, docker)
    yield f
    f.close()


@pytest.fixture(scope="module")
def module_daemon_factory(endpointd_bin, docker_sock, demo_image, docker):
    f = DaemonFactory(endpointd_bin, docker_sock, demo_image, docker)
    yield f
    f.close()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """The harness attaches each daemon's stderr since the test began; these
    daemons mostly did their work in fixtures, so attach the end of the whole
    log of every daemon still known when a test fails."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    for d in list(endpointd_harness._DAEMONS):
        if not any(d.stderr_path in title for title, _ in report.sections):
            text = d.log_tail(0, max_lines=150)
            if text:
                report.sections.append((f"endpointd stderr, last lines ({report.when}, {d.stderr_path})", text))
