"""The DuckDB connections winback opens, with the resource settings users can turn.

DuckDB by default may use 80% of the machine's RAM and every core. That is the fast choice
and stays the default. On a shared or small machine set

* ``WINBACK_DUCKDB_MEMORY_LIMIT`` (e.g. ``1GB``): DuckDB keeps its working memory under it
  and spills aggregates and sorts to a temporary folder instead (slower, same results;
  ``benchmarks/RESULTS.md`` measures the cost);
* ``WINBACK_DUCKDB_THREADS`` (e.g. ``2``): at most that many threads.

Both apply to loading transactions and to building features, wherever winback runs DuckDB
(CLI, training, batch scoring, the service).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import duckdb

from features.errors import ConfigError

MEMORY_LIMIT_ENV = "WINBACK_DUCKDB_MEMORY_LIMIT"
THREADS_ENV = "WINBACK_DUCKDB_THREADS"


def connect(
    memory_limit: str | None = None, preserve_insertion_order: bool = False
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with winback's settings.

    ``memory_limit`` overrides ``WINBACK_DUCKDB_MEMORY_LIMIT``. Insertion order is not kept
    unless asked: every winback query that needs an order says ``ORDER BY``, and without
    the guarantee DuckDB streams aggregates with less memory.
    """
    config: dict[str, str | bool | int] = {"preserve_insertion_order": preserve_insertion_order}
    limit = memory_limit or os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    if limit:
        config["memory_limit"] = limit
        spill = Path(tempfile.gettempdir()) / "winback-duckdb"
        config["temp_directory"] = str(spill)
    threads = os.environ.get(THREADS_ENV, "").strip()
    if threads:
        if not threads.isdigit() or int(threads) < 1:
            raise ConfigError(f"{THREADS_ENV}={threads!r} must be a whole number of threads >= 1")
        config["threads"] = int(threads)
    try:
        return duckdb.connect(config=config)
    except (duckdb.Error, ValueError) as error:
        if not limit:
            raise
        first_line = str(error).splitlines()[0]
        raise ConfigError(
            f"DuckDB refused memory limit {limit!r} ({MEMORY_LIMIT_ENV}); "
            f"use a size such as 1GB or 500MB: {first_line}"
        ) from None
