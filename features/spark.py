"""The feature table on Spark: the same feature SQL text as DuckDB, run by Spark SQL.

Why: DuckDB on one machine handles tens of millions of transactions; beyond what one
machine's memory and cores can do, the same query runs on a Spark cluster. Nothing is
re-implemented: :func:`features.sql.feature_sql` is rendered with the :data:`SPARK`
dialect and executed over a temporary view of the transactions, so the two engines cannot
drift apart (``tests/spark`` checks that they agree exactly on CDNOW).

The session is created lazily on first use and reused within the process (starting one
costs about 8 s). Local mode (``local[2]``) is the default; for a cluster pass
``master="spark://host:7077"`` (or ``yarn``, ``k8s://...``) and any Spark settings as
``spark_conf={"spark.executor.memory": "8g"}`` -- on the command line
``winback features --engine spark --master spark://host:7077 --spark-conf
spark.executor.memory=8g``. On a cluster, give a Parquet path readable by every executor
(HDFS, S3, a shared disk) rather than a DataFrame, which would be shipped from the driver.

Spark-specific settings that matter for equality with DuckDB:

* ``spark.sql.session.timeZone=UTC``: transaction timestamps are naive wall-clock times;
  with a UTC session ``CAST(timestamp AS DATE)`` takes the calendar day as written, not the
  day in the JVM's local time zone.
* ``PYSPARK_PYTHON`` = this interpreter, so Python workers (``mapInPandas``) import the
  same pyarrow, pandas and numpy as the driver instead of the system Python's.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.config import FeatureConfig
from features.errors import WinbackError
from features.sql import SPARK, feature_sql, window_accounting_sql
from features.table import FeatureTable, normalise_feature_types, to_date

if TYPE_CHECKING:  # pyspark is imported lazily: its import alone takes about a second
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[2]"
#: Errors-only logging for Spark's JVM (its default profile logs every stage).
LOG4J2_CONFIG = Path(__file__).resolve().with_name("spark_log4j2.properties")
#: Name of the temporary view holding the transactions (the DuckDB path registers ``tx``).
TRANSACTIONS_VIEW = "tx"

#: Settings applied to every session; ``spark_conf`` entries override them.
BASE_SPARK_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # Local mode: few cores, so a few shuffle partitions beat Spark's default of 200.
    "spark.sql.shuffle.partitions": "8",
    "spark.driver.memory": "4g",
    "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{LOG4J2_CONFIG}",
}

_session: SparkSession | None = None
_session_key: tuple[str, tuple[tuple[str, str], ...]] | None = None


class SparkEngineError(WinbackError):
    """Spark could not be started or could not run the feature query."""


def parse_spark_conf(entries: list[str] | None) -> dict[str, str]:
    """Parse ``["spark.executor.memory=8g", ...]`` from the command line into a dict."""
    conf: dict[str, str] = {}
    for entry in entries or []:
        key, sep, value = entry.partition("=")
        if not sep or not key.strip():
            raise SparkEngineError(
                f"--spark-conf {entry!r} is not of the form key=value "
                "(e.g. spark.executor.memory=8g)"
            )
        conf[key.strip()] = value.strip()
    return conf


def get_spark(master: str = DEFAULT_MASTER, spark_conf: Mapping[str, str] | None = None):
    """The process's SparkSession, started on first call and reused afterwards.

    Asking for a different ``master`` or configuration stops the current session and starts
    a new one (static settings such as the driver memory cannot change in a live session).
    """
    global _session, _session_key
    conf = {**BASE_SPARK_CONF, **dict(spark_conf or {})}
    key = (master, tuple(sorted(conf.items())))
    if _session is not None and _session_key == key and _is_alive(_session):
        return _session
    stop_spark()
    # Workers must run this interpreter (the venv's, which has pyarrow), not the system one.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if master.startswith("local"):
        # Else Spark warns that the host name resolves to a loopback address.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # PySpark 4.x warns on every conversion that pandas 3 is "not fully supported"; the
    # CDNOW equality test in tests/spark is what vouches for the path we use.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    try:
        from pyspark.logger import PySparkLogger
        from pyspark.sql import SparkSession
    except ImportError as error:  # pragma: no cover - pyspark is a locked dependency
        raise SparkEngineError("--engine spark needs the pyspark package") from error
    # Failed queries are raised as exceptions; PySpark would also log each one as JSON.
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)
    builder = SparkSession.builder.master(master).appName("winback")
    for name, value in conf.items():
        builder = builder.config(name, value)
    try:
        session = builder.getOrCreate()
    except Exception as error:  # Java missing, bad master URL, ...
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise SparkEngineError(
            f"cannot start Spark with master {master!r} ({first_line}); "
            "Spark needs Java 17 or 21 on the PATH or in JAVA_HOME"
        ) from error
    session.sparkContext.setLogLevel("ERROR")
    _session, _session_key = session, key
    return session


def stop_spark() -> None:
    """Stop the process's session, if one was started here."""
    global _session, _session_key
    if _session is not None:
        try:
            _session.stop()
        finally:
            _session, _session_key = None, None


def _is_alive(session: SparkSession) -> bool:
    try:
        return not session.sparkContext._jsc.sc().isStopped()  # noqa: SLF001
    except Exception:  # pragma: no cover - a dead gateway
        return False


def read_transactions(
    spark: SparkSession, transactions: pd.DataFrame | str | Path
) -> SparkDataFrame:
    """Clean contract transactions as a Spark DataFrame (from pandas via Arrow, or Parquet)."""
    if isinstance(transactions, pd.DataFrame):
        frame = transactions.copy(deep=False)
        # Arrow converts datetime64[ns|us] alike; strings must be plain object/str columns.
        for column in ("customer_id", "order_id", "product"):
            if column in frame.columns:
                frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
        return spark.createDataFrame(frame)
    path = Path(transactions)
    if not path.exists() and "://" not in str(transactions):
        raise SparkEngineError(f"{path}: file not found (give a Parquet file or folder)")
    return spark.read.parquet(str(transactions))


def feature_dataframe_spark(
    transactions: pd.DataFrame | str | Path,
    as_of: str | dt.date | pd.Timestamp,
    config: FeatureConfig,
    master: str = DEFAULT_MASTER,
    spark_conf: Mapping[str, str] | None = None,
    population_gap_days: float | None = None,
) -> SparkDataFrame:
    """The feature table as a lazy Spark DataFrame: nothing is collected to the driver.

    For data that should stay on the cluster: score it with
    ``pipelines.scoring.spark.score_dataframe_spark`` and write it with
    ``.write.parquet(...)``. Registers the transactions as the temporary view ``tx``,
    which the returned DataFrame reads.
    """
    as_of = to_date(as_of)
    spark = get_spark(master, spark_conf)
    sdf = read_transactions(spark, transactions)
    missing = [c for c in ("customer_id", "timestamp", "amount") if c not in sdf.columns]
    if missing:
        raise SparkEngineError(
            f"transactions lack column(s) {', '.join(missing)}; columns are: "
            f"{', '.join(sdf.columns)} (load raw files with features.contract first)"
        )
    sdf.createOrReplaceTempView(TRANSACTIONS_VIEW)
    sql = feature_sql(
        TRANSACTIONS_VIEW,
        as_of,
        config,
        has_order_id="order_id" in sdf.columns,
        has_product="product" in sdf.columns,
        dialect=SPARK,
        population_gap_days=population_gap_days,
    )
    return spark.sql(sql)


def build_features_spark(
    transactions: pd.DataFrame | str | Path,
    as_of: str | dt.date | pd.Timestamp,
    config: FeatureConfig,
    master: str = DEFAULT_MASTER,
    spark_conf: Mapping[str, str] | None = None,
    population_gap_days: float | None = None,
) -> FeatureTable:
    """:func:`features.build.build_features` on Spark: same SQL, same table, same dtypes.

    ``transactions`` are clean contract rows as a pandas DataFrame, or the path of a Parquet
    file or folder with contract column names and types (``customer_id`` string,
    ``timestamp`` timestamp or date, ``amount`` double, optional ``order_id``, ``product``).
    """
    as_of = to_date(as_of)
    spark = get_spark(master, spark_conf)
    features = _to_pandas(
        feature_dataframe_spark(
            transactions, as_of, config, master, spark_conf, population_gap_days
        )
    )
    n_rows = spark.sql(f"SELECT COUNT(*) AS n FROM {TRANSACTIONS_VIEW}").collect()[0]["n"]
    counts = spark.sql(window_accounting_sql(TRANSACTIONS_VIEW, as_of)).collect()[0]
    features = normalise_feature_types(features)
    rows_after = int(counts["rows_after"] or 0)
    return FeatureTable(
        features=features,
        as_of=as_of,
        rows_used=int(n_rows) - rows_after,
        rows_after_as_of=rows_after,
        customers_without_purchase=int(counts["excluded_customers"]),
        net_spend=float(counts["net_spend"]),
        excluded_spend=float(counts["excluded_spend"]),
    )


def _to_pandas(sdf: SparkDataFrame) -> pd.DataFrame:
    """Collect through Arrow; an empty result keeps its columns."""
    frame: Any = sdf.toPandas()
    return frame
