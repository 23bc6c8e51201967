"""Build the per-customer feature table at an as-of date.

One implementation serves training, batch scoring, the service and the notebooks: all of
them call :func:`build_features` on clean transactions (see :mod:`features.contract`) with
the feature rules their caller loaded (:func:`features.config.load_feature_config`).
``engine="spark"`` hands the same SQL to :mod:`features.spark`, imported only then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from features.config import FeatureConfig
from features.customer_days import aggregate_customer_days, concatenate
from features.duckdb_engine import connect
from features.errors import WinbackError
from features.rules import ids_in_order, revenue_before_and_total
from features.sql import (
    DUCKDB,
    day_lines_sql,
    feature_sql,
    population_gap_sql,
    window_accounting_sql,
    window_totals_sql,
)
from features.table import FeatureTable, feature_frame, to_date

if TYPE_CHECKING:  # the type only
    import duckdb

#: ``duckdb`` runs in-process (the default, up to tens of millions of rows on one machine);
#: ``spark`` runs the same SQL on PySpark (see :mod:`features.spark`).
ENGINES = ("duckdb", "spark")


def build_features(
    transactions: pd.DataFrame,
    as_of: str | dt.date | pd.Timestamp,
    config: FeatureConfig,
    engine: str = "duckdb",
    master: str | None = None,
    spark_conf: Mapping[str, str] | None = None,
    memory_limit: str | None = None,
    population_gap_days: float | None = None,
) -> FeatureTable:
    """One row per customer with at least one purchase day on or before ``as_of``.

    ``transactions`` are clean contract rows (``customer_id``, ``timestamp``, ``amount``,
    optional ``order_id``, ``product``). Rows after ``as_of`` are counted, never read into
    a feature.

    ``engine="spark"`` runs the same SQL on PySpark and returns an equal table; ``master``
    (default ``local[2]``) and ``spark_conf`` are passed to
    :func:`features.spark.build_features_spark` and ignored by DuckDB. ``memory_limit``
    (e.g. ``"1GB"``) caps DuckDB's working memory (default: ``WINBACK_DUCKDB_MEMORY_LIMIT``,
    else DuckDB's own default; see :mod:`features.duckdb_engine`).

    ``population_gap_days``: the gap one-time buyers get, taken from a reference population
    instead of this table's repeat buyers (see :mod:`features.population`).
    """
    if engine not in ENGINES:
        raise WinbackError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    if engine == "spark":
        from features.spark import DEFAULT_MASTER, build_features_spark

        return build_features_spark(
            transactions,
            as_of,
            config,
            master=master or DEFAULT_MASTER,
            spark_conf=spark_conf,
            population_gap_days=population_gap_days,
        )
    return _build_on_duckdb(transactions, to_date(as_of), config, memory_limit, population_gap_days)


#: Transaction rows per partition of the sorted lines (:func:`line_partitions`): the most
#: one piece may hold for a 10M-row table to stay under issue 18's 2 GB, data included.
PARTITION_ROWS = 10_000_000
#: Rows per batch streamed from DuckDB to :mod:`features.customer_days`.
LINE_BATCH_ROWS = 1 << 20


def line_partitions(n_rows: int) -> int:
    """How many pieces the lines of ``n_rows`` transactions are sorted and aggregated in.

    One up to :data:`PARTITION_ROWS`; above, each piece scans the transactions again but
    sorts only its customers' lines, so the memory above the loaded frame stays that of
    one piece. Measured on 9.7M rows, two cores: in one piece (with the copy below) 2.8 s
    and a peak of 1.65 GB, data included; in two pieces 3.3 s and 1.2 GB.
    """
    return max(1, -(-n_rows // PARTITION_ROWS))


def _build_on_duckdb(
    transactions: pd.DataFrame,
    as_of: dt.date,
    config: FeatureConfig,
    memory_limit: str | None,
    population_gap_days: float | None,
) -> FeatureTable:
    """The frame in DuckDB, then :func:`build_features_in_duckdb`."""
    con = connect(memory_limit)
    try:
        if line_partitions(len(transactions)) == 1:
            # DuckDB sorts its own strings faster than a frame's: the copy saves 0.05 s on
            # 3M rows and 0.25 s on 9.7M (for 200 MB more at the peak). Tables of several
            # pieces are read where they are: each piece would copy the whole table.
            con.register("tx_frame", transactions)
            con.execute("CREATE TEMP TABLE tx AS SELECT * FROM tx_frame")
        else:
            con.register("tx", transactions)
        return build_features_in_duckdb(con, "tx", as_of, config, population_gap_days)
    finally:
        con.close()


def build_features_in_duckdb(
    con: duckdb.DuckDBPyConnection,
    table: str,
    as_of: str | dt.date | pd.Timestamp,
    config: FeatureConfig,
    population_gap_days: float | None = None,
) -> FeatureTable:
    """:func:`build_features` of clean rows already in DuckDB: ``table`` (a table or view on
    ``con``) as :func:`features.contract.validate_in_place` leaves them, or a frame copied
    in. DuckDB's sorted lines, :mod:`features.customer_days`'s one pass, the feature SQL.
    Leaves ``con`` open; changes its insertion-order setting."""
    as_of = to_date(as_of)
    names = {row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()}
    has_order_id, has_product = "order_id" in names, "product" in names
    ((n_rows,),) = con.execute(f"SELECT COUNT(*) FROM {table}").fetchall()
    # The sort streams its rows with less memory when their order need not be kept.
    con.execute("SET preserve_insertion_order = false")
    partitions = line_partitions(n_rows)
    # Arrow, not .df(): DuckDB's pandas conversion of a million strings costs ~1 s.
    # Streamed in batches, in partitions of the customers on large tables: the sorted
    # lines are the build's largest object (issue 18: peak memory at 10M rows under
    # 2 GB, see line_partitions).
    customer_days = concatenate(
        [
            aggregate_customer_days(
                con.sql(
                    day_lines_sql(table, as_of, config, has_order_id, (index, partitions))
                ).to_arrow_reader(LINE_BATCH_ROWS)
            )
            for index in range(partitions)
        ]
    )
    con.register("customer_aggregates", _with_ranking(customer_days.aggregates))
    arrow = _features_of_aggregates(
        con, table, as_of, config, has_order_id, has_product, population_gap_days
    )
    rows_after, net_spend = con.sql(window_totals_sql(table, as_of)).fetchall()[0]
    return _feature_table(
        arrow,
        as_of,
        n_rows,
        rows_after,
        net_spend,
        customer_days.customers_without_purchase,
        customer_days.excluded_spend,
    )


def _features_of_aggregates(
    con: duckdb.DuckDBPyConnection,
    table: str,
    as_of: dt.date,
    config: FeatureConfig,
    has_order_id: bool,
    has_product: bool,
    population_gap_days: float | None,
) -> pa.Table:
    """The feature SQL on ``customer_aggregates`` (in customer order), in customer order.

    Without order ids or products the query is a projection of the aggregates, one row
    each: with the population's gap computed first (the same SQL as the query's own CTE)
    and handed in as a literal, and the connection told to keep the rows' order, it needs
    no ``ORDER BY`` (0.25 s -> 0.13 s at 1M customers, issue 18). The order is checked,
    and the rows sorted only if it did not hold.
    """
    projection = not has_order_id and not has_product
    if projection and population_gap_days is None:
        ((population_gap_days,),) = con.execute(
            population_gap_sql("customer_aggregates")
        ).fetchall()
    ordered = not projection or population_gap_days is None  # NULL gap: the query's own
    sql = feature_sql(
        table,
        as_of,
        config,
        has_order_id,
        has_product,
        DUCKDB,
        population_gap_days,
        aggregates_table="customer_aggregates",
        ordered=ordered,
    )
    if ordered:
        return con.sql(sql).to_arrow_table()
    con.execute("SET preserve_insertion_order = true")
    return in_customer_order(con.sql(sql).to_arrow_table())


def in_customer_order(table: pa.Table) -> pa.Table:
    """``table`` ordered by ``customer_id`` (byte order, as DuckDB's ORDER BY); unchanged,
    without a sort, when it already is."""
    return table if ids_in_order(table.column("customer_id")) else table.sort_by("customer_id")


def _with_ranking(aggregates: pa.Table) -> pa.Table:
    """The aggregates with ABC's :data:`features.sql.RANKING_COLUMNS` appended."""
    before, total = revenue_before_and_total(
        aggregates.column("total_spend").to_numpy(), aggregates.column("customer_id")
    )
    return aggregates.append_column("revenue_before", pa.array(before)).append_column(
        "revenue_total", pa.array(np.full(len(before), total))
    )


def build_features_in_sql(
    transactions: pd.DataFrame,
    as_of: str | dt.date | pd.Timestamp,
    config: FeatureConfig,
    population_gap_days: float | None = None,
) -> FeatureTable:
    """The same table from the feature SQL alone, aggregates included, on DuckDB.

    The text Spark runs; slower than :func:`build_features` (three passes over the rows
    where the kernel makes one). It is the reference the kernel is tested against.
    """
    as_of = to_date(as_of)
    has_order_id = "order_id" in transactions.columns
    has_product = "product" in transactions.columns
    sql = feature_sql("tx", as_of, config, has_order_id, has_product, DUCKDB, population_gap_days)
    con = connect()
    try:
        con.register("tx", transactions)
        arrow = con.sql(sql).to_arrow_table()
        accounting = con.sql(window_accounting_sql("tx", as_of)).fetchall()[0]
    finally:
        con.close()
    rows_after, net_spend, excluded, excluded_spend = accounting
    return _feature_table(
        arrow, as_of, len(transactions), rows_after, net_spend, int(excluded), excluded_spend
    )


def _feature_table(
    arrow: pa.Table,
    as_of: dt.date,
    n_rows: int,
    rows_after: int,
    net_spend: float,
    customers_without_purchase: int,
    excluded_spend: float,
) -> FeatureTable:
    return FeatureTable(
        features=feature_frame(arrow),
        as_of=as_of,
        rows_used=n_rows - int(rows_after),
        rows_after_as_of=int(rows_after),
        customers_without_purchase=int(customers_without_purchase),
        net_spend=float(net_spend),
        excluded_spend=float(excluded_spend),
    )
