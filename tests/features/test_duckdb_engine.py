"""DuckDB resource settings: applied from the environment, refused with a clear message."""

from __future__ import annotations

import pandas as pd
import pytest

from features.build import build_features
from features.config import load_feature_config
from features.duckdb_engine import MEMORY_LIMIT_ENV, THREADS_ENV, connect
from features.errors import ConfigError


def setting(name: str) -> str:
    con = connect()
    try:
        return str(con.sql(f"SELECT current_setting('{name}')").fetchall()[0][0])
    finally:
        con.close()


def test_environment_sets_memory_limit_and_threads(monkeypatch):
    default_limit = setting("memory_limit")
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "300MB")
    monkeypatch.setenv(THREADS_ENV, "1")
    limited = setting("memory_limit")
    assert limited != default_limit
    assert limited.endswith("MiB") and float(limited.split()[0]) < 300
    assert setting("threads") == "1"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (MEMORY_LIMIT_ENV, "lots", "DuckDB refused memory limit 'lots'"),
        (THREADS_ENV, "two", "WINBACK_DUCKDB_THREADS='two' must be a whole number"),
        (THREADS_ENV, "0", "WINBACK_DUCKDB_THREADS='0' must be a whole number"),
    ],
)
def test_bad_settings_are_one_line_config_errors(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=message) as raised:
        connect()
    assert "\n" not in str(raised.value)


def test_a_small_memory_limit_gives_the_same_feature_table(cdnow_transactions):
    rules = load_feature_config()
    default = build_features(cdnow_transactions, "1997-12-31", rules).features
    limited = build_features(cdnow_transactions, "1997-12-31", rules, memory_limit="20MB").features
    pd.testing.assert_frame_equal(limited, default, check_exact=False, rtol=1e-12)
