"""(e) Loading and start-up: what a user waits for before any feature is computed.

Issue 18 measured ``load_transactions`` at half of ``winback features`` and ``winback --help``
at several times a bare Typer app. Both are measured here against a reference run in the
same step, one after the other (never in a timed unit test):

* ``cli_startup``: ``winback --help`` against ``python -c "import typer, rich"`` in the same
  venv, each a fresh process, runs interleaved, best of ``repeat``; also which heavy
  libraries ``import pipelines.cli`` pulls in (none is the goal);
* ``load_ours``: :func:`features.contract.load_transactions` on the benchmark's Parquet file
  (every row validated, typed, counted) against ``pd.read_parquet`` of the same file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from benchmarks.measure import best_of

#: Libraries ``winback --help`` must not import (each costs from 0.1 s to several seconds).
HEAVY_MODULES = (
    "pandas",
    "duckdb",
    "pyarrow",
    "mlflow",
    "xgboost",
    "sklearn",
    "scipy",
    "bentoml",
    "pyspark",
)


def _seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def winback_command() -> list[str]:
    """The installed ``winback`` script when there is one (what users run), else ``-m``."""
    script = Path(sys.executable).with_name("winback")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pipelines.cli"]


def cli_startup(repeat: int) -> dict:
    """``winback --help`` vs a bare ``import typer, rich``: best of ``repeat`` (at least 5)."""
    runs = max(repeat, 5)
    bare_command = [sys.executable, "-c", "import typer, rich"]
    help_command = [*winback_command(), "--help"]
    ours, bare = [], []
    for _ in range(runs):
        bare.append(_seconds(bare_command))
        ours.append(_seconds(help_command))
    probe = (
        "import sys, pipelines.cli; "
        f"print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    )
    heavy = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout.strip()
    return {
        "seconds": min(ours),
        "reference_seconds": min(bare),
        "ratio": min(ours) / min(bare),
        "all_seconds": ours,
        "reference_all_seconds": bare,
        "heavy_modules": [m for m in heavy.split(",") if m],
        "bytecode_written": not os.environ.get("PYTHONDONTWRITEBYTECODE"),
    }


def load_ours(data: str, repeat: int) -> dict:
    """winback's ``load_transactions`` on the Parquet file, and ``pd.read_parquet`` of it."""
    import datetime as dt

    from features.contract import load_transactions

    now = dt.datetime.now()
    _, reference = best_of(repeat, lambda: len(pd.read_parquet(data)))
    loaded, stats = best_of(repeat, lambda: load_transactions(data, now=now))
    report = loaded.report
    return {
        **stats,
        "reference_seconds": reference["seconds"],
        "reference_peak_rss_mb": reference["peak_rss_mb"],
        "rows_read": report.rows_read,
        "rows_accepted": report.rows_accepted,
        "reconciles": report.reconciles,
    }
