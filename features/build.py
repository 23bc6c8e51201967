"""Build the per-customer feature table at an as-of date.

One implementation serves training, batch scoring, the service and the notebooks: all of
them call :func:`build_features` on clean transactions (see :mod:`features.contract`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.config import FeatureConfig, load_feature_config
from features.duckdb_engine import connect
from features.errors import WinbackError
from features.sql import DUCKDB, FEATURE_COLUMNS, feature_sql

INTEGER_COLUMNS = ("frequency", "recency", "T", "n_orders", "days_since_last")
FLOAT_COLUMNS = (
    "monetary_value",
    "total_spend",
    "avg_order_value",
    "typical_gap_days",
    "overdue_cycles",
)
#: ``duckdb`` runs in-process (the default, up to tens of millions of rows on one machine);
#: ``spark`` runs the same SQL on PySpark (see :mod:`features.spark`).
ENGINES = ("duckdb", "spark")
DATE_COLUMNS = ("first_purchase", "last_purchase")


@dataclass
class FeatureTable:
    """The feature table plus the row accounting of the as-of cut."""

    features: pd.DataFrame
    as_of: dt.date
    rows_used: int
    rows_after_as_of: int
    customers_without_purchase: int

    def write_parquet(self, path: str | Path) -> Path:
        """Write the table; the as-of date travels in the Parquet metadata."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(self.features, preserve_index=False)
        metadata = dict(table.schema.metadata or {})
        metadata[b"winback.as_of"] = self.as_of.isoformat().encode()
        pq.write_table(table.replace_schema_metadata(metadata), path)
        return path


def to_date(value: str | dt.date | dt.datetime | pd.Timestamp) -> dt.date:
    """Accept 'YYYY-MM-DD', a date, a datetime or a Timestamp; return a date."""
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise WinbackError(f"as-of date {value!r} is not of the form YYYY-MM-DD") from None


def build_features(
    transactions: pd.DataFrame,
    as_of: str | dt.date | pd.Timestamp,
    config: FeatureConfig | None = None,
    engine: str = "duckdb",
    master: str | None = None,
    spark_conf: Mapping[str, str] | None = None,
    memory_limit: str | None = None,
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
    """
    if engine not in ENGINES:
        raise WinbackError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    if engine == "spark":
        from features.spark import DEFAULT_MASTER, build_features_spark

        return build_features_spark(
            transactions, as_of, config, master=master or DEFAULT_MASTER, spark_conf=spark_conf
        )
    as_of = to_date(as_of)
    config = config or load_feature_config()
    has_order_id = "order_id" in transactions.columns
    has_product = "product" in transactions.columns
    sql = feature_sql("tx", as_of, config, has_order_id, has_product, DUCKDB)
    con = connect(memory_limit)
    try:
        con.register("tx", transactions)
        # Arrow, not .df(): DuckDB's pandas conversion of a million strings costs ~1 s.
        arrow = con.sql(sql).to_arrow_table()
        rows_after, returners = _window_accounting(con, as_of)
    finally:
        con.close()
    without_purchase = _count_missing(returners, arrow.column("customer_id"))
    features = normalise_feature_types(arrow.to_pandas(date_as_object=False))
    return FeatureTable(
        features=features,
        as_of=as_of,
        rows_used=len(transactions) - rows_after,
        rows_after_as_of=rows_after,
        customers_without_purchase=without_purchase,
    )


def _window_accounting(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> tuple[int, pa.Array]:
    """Rows after ``as_of`` and the customers with a return line on or before it."""
    day = f"CAST(timestamp AS DATE) <= DATE '{as_of.isoformat()}'"
    rows_after = con.sql(f"SELECT COUNT(*) FROM tx WHERE NOT ({day})").fetchall()[0][0]
    returners = con.sql(
        f"SELECT DISTINCT customer_id FROM tx WHERE amount < 0 AND {day}"
    ).to_arrow_table()
    return int(rows_after), returners.column("customer_id").combine_chunks()


def _count_missing(returners: pa.Array, customer_ids: pa.ChunkedArray) -> int:
    """Returners absent from the table: customers whose lines in the window are all returns.

    Counting the few returners against the table avoids a distinct count over every
    customer's lines (and pandas' ``isin`` on Arrow strings, which builds a Python list).
    """
    if len(returners) == 0:
        return 0
    present = pc.is_in(returners, value_set=customer_ids.combine_chunks())
    return len(returners) - int(pc.sum(present).as_py() or 0)


def normalise_feature_types(features: pd.DataFrame) -> pd.DataFrame:
    """Same dtypes whichever engine produced the table."""
    features = features.loc[:, list(FEATURE_COLUMNS)].copy()
    for column in INTEGER_COLUMNS:
        features[column] = features[column].astype("int64")
    for column in DATE_COLUMNS:
        features[column] = pd.to_datetime(features[column]).astype("datetime64[us]")
    for column in FLOAT_COLUMNS:
        features[column] = features[column].astype("float64")
    for column in ("customer_id", "status", "abc", "xyz", "ladder_stage", "favorite_product"):
        features[column] = features[column].astype("object").where(features[column].notna(), None)
    return features.reset_index(drop=True)
