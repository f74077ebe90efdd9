"""Root pytest configuration, loaded before any test module.

- The OpenDSS library must be loaded through ``gridtwin._dsslib`` (it pins the C environ first; see that
  module), so load it here before any test imports ``opendssdirect`` directly.
- With ``GRIDTWIN_REQUIRE_SERVICES=1`` (set by ``ci/test``) a skipped test fails: every skip in this suite
  means a real part (MariaDB, Redis, Node's DTDL parser, the shared feeders) was missing, and CI must
  test those paths for real rather than pass without them.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import gridtwin._dsslib  # noqa: F401
import pytest

REQUIRE_SERVICES = os.environ.get("GRIDTWIN_REQUIRE_SERVICES") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_SERVICES and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"skipped, but GRIDTWIN_REQUIRE_SERVICES=1 forbids skips: {reason}"
