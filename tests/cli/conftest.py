"""The CLI suite shares the integration suite's harness (and its daemon)."""

import os
import sys

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "integration"))

import pytest  # noqa: E402

pytest.register_assert_rewrite("endpointd_harness")
import endpointd_harness  # noqa: E402


def pytest_configure(config):
    if not config.pluginmanager.is_registered(endpointd_harness):
        config.pluginmanager.register(endpointd_harness, "endpointd_harness")
