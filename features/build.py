"""Build the per-customer feature table at an as-of date.

One implementation serves training, batch scoring, the service and the notebooks: all of
them call :func:`build_features` on clean transactions (see :mod:`features.contract`) with
the feature rules their caller loaded (:func:`features.config.load_feature_config`).
``engine="spark"`` hands the same SQL to :mod:`features.spark`, imported only then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pandas as pd

from features.config import FeatureConfig
from features.duckdb_engine import connect
from features.errors import WinbackError
from features.sql import DUCKDB, feature_sql, window_accounting_sql
from features.table import FeatureTable, normalise_feature_types, to_date

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
    as_of = to_date(as_of)
    has_order_id = "order_id" in transactions.columns
    has_product = "product" in transactions.columns
    sql = feature_sql("tx", as_of, config, has_order_id, has_product, DUCKDB, population_gap_days)
    con = connect(memory_limit)
    try:
        con.register("tx", transactions)
        # Arrow, not .df(): DuckDB's pandas conversion of a million strings costs ~1 s.
        arrow = con.sql(sql).to_arrow_table()
        accounting = con.sql(window_accounting_sql("tx", as_of)).fetchall()[0]
    finally:
        con.close()
    rows_after, net_spend, excluded, excluded_spend = accounting
    features = normalise_feature_types(arrow.to_pandas(date_as_object=False))
    return FeatureTable(
        features=features,
        as_of=as_of,
        rows_used=len(transactions) - int(rows_after),
        rows_after_as_of=int(rows_after),
        customers_without_purchase=int(excluded),
        net_spend=float(net_spend),
        excluded_spend=float(excluded_spend),
    )
