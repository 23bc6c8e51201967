"""The benchmark smoke test starts Spark (in a subprocess): it carries the spark marker."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "spark: starts a local PySpark session (needs Java 17+); -m 'not spark' skips"
    )
