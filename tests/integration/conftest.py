"""Fixtures for the integration suite live in endpointd_harness.py.

The harness is registered as a plugin (once, even when tests/e2e's conftest
does the same) so that integration and e2e tests share one daemon.
"""

import os
import sys

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pytest  # noqa: E402

pytest.register_assert_rewrite("endpointd_harness")
import endpointd_harness  # noqa: E402


def pytest_configure(config):
    if not config.pluginmanager.is_registered(endpointd_harness):
        config.pluginmanager.register(endpointd_harness, "endpointd_harness")
