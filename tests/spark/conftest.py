"""One Spark session for the whole test run: starting one costs about 8 s (more on a busy
machine), so the modules share it; it stops when the session ends."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "spark: starts a local PySpark session (needs Java 17+); -m 'not spark' skips"
    )


@pytest.fixture(scope="session")
def spark():
    from features.spark import get_spark, stop_spark

    session = get_spark("local[2]")
    yield session
    stop_spark()
