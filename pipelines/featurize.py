"""Stage: raw transactions -> validated rows -> feature table at an as-of date.

The feature rules arrive as a loaded :class:`features.config.FeatureConfig`: the command
line (or a notebook) reads ``--config`` once and passes it down, so the rules a table was
built with are the rules the caller chose.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from features.build import build_features
from features.config import FeatureConfig
from features.contract import LoadedTransactions, TransactionsSource, load_transactions
from features.errors import WinbackError
from features.table import FeatureTable, to_date

if TYPE_CHECKING:  # the type only
    from features.reading import ReadOptions


class NoDataBeforeAsOf(WinbackError):
    """The as-of date precedes every accepted transaction."""


def load_and_build(
    source: TransactionsSource,
    as_of: str | dt.date,
    config: FeatureConfig,
    column_map: Mapping[str, str] | None = None,
    quarantine_path: str | Path | None = None,
    on_step: Callable[[str], None] = lambda _: None,
    engine: str = "duckdb",
    master: str | None = None,
    spark_conf: dict[str, str] | None = None,
    read_options: ReadOptions | None = None,
) -> tuple[LoadedTransactions, FeatureTable]:
    """Load and validate ``source`` (always DuckDB), then build features at ``as_of`` on
    ``engine`` (``"duckdb"`` or ``"spark"`` with an optional master and settings)."""
    as_of = to_date(as_of)
    on_step("reading and validating transactions")
    loaded = load_transactions(
        source,
        column_map=column_map,
        quarantine_path=quarantine_path,
        read_options=read_options,
        lines=config.lines,
    )
    on_step(f"building features at {as_of}" + (" on Spark" if engine == "spark" else ""))
    table = build_features(
        loaded.transactions, as_of, config, engine=engine, master=master, spark_conf=spark_conf
    )
    if table.features.empty:
        raise no_data_before(loaded, as_of)
    return loaded, table


def ensure_loaded(
    transactions: TransactionsSource | LoadedTransactions,
    column_map: Mapping[str, str] | None = None,
) -> LoadedTransactions:
    """Transactions a command already read (and reported) pass through; anything else is
    read by the data contract here. Lets a stage take either, so the CLI reads once."""
    if isinstance(transactions, LoadedTransactions):
        return transactions
    return load_transactions(transactions, column_map=column_map)


def no_data_before(loaded: LoadedTransactions, as_of: dt.date) -> NoDataBeforeAsOf:
    """The error for an as-of date before every accepted transaction, naming the first."""
    first = loaded.transactions["timestamp"].min() if len(loaded.transactions) else None
    return NoDataBeforeAsOf(
        f"{loaded.report.source}: no accepted transaction on or before as-of {as_of}"
        + (f" (the first is on {pd.Timestamp(first).date()})" if first is not None else "")
    )


def status_summary(features: pd.DataFrame) -> pd.DataFrame:
    """Customers and past revenue by status, in the order of the customer life cycle."""
    from features.sql import STATUSES

    summary = (
        features.groupby("status")
        .agg(customers=("customer_id", "size"), past_revenue=("total_spend", "sum"))
        .reindex(list(STATUSES), fill_value=0)
    )
    summary["share"] = summary["customers"] / max(len(features), 1)
    return summary
