"""Full win-back scores on Spark: the feature SQL in Spark SQL, the scorer in ``mapInPandas``.

Why a separate module: :mod:`features.spark` must not import the models (features sit
below models in the layering), while scoring needs the whole :class:`WinbackScorer`.

Nothing is re-implemented. Each Python worker rebuilds the scorer once per task from its
plain JSON state (``to_dict()``; no pickle of the object, so what travels is exactly what
the MLflow registry stores) and calls :meth:`WinbackScorer.score_features` on every Arrow
batch of the feature table. That is sound because ``score_features`` is row-independent:
the population-dependent features (the median gap of one-time buyers, the ABC classes) are
already computed by the feature SQL over all customers, and every step after that -- the
BTYD closed forms, the design matrix with fixed category levels, the XGBoost trees, the
isotonic calibration -- maps one customer's row to that customer's scores. So the batches
Spark happens to cut give the same numbers as one pandas call (``tests/spark`` checks it
on CDNOW).

On a cluster the executors need winback installed (``pip install`` the wheel, or ship it
with ``--py-files``): the workers import :mod:`models.scorer` to rebuild the scorer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

import pandas as pd

from features.spark import DEFAULT_MASTER, SparkEngineError, feature_dataframe_spark
from features.sql import FEATURE_COLUMNS
from features.table import (
    DATE_COLUMNS,
    FLOAT_COLUMNS,
    INTEGER_COLUMNS,
    normalise_feature_types,
    to_date,
)
from models.scorer import SCORE_COLUMNS, WinbackScorer

if TYPE_CHECKING:  # pyspark is imported lazily: its import alone takes about a second
    from pyspark.sql import DataFrame as SparkDataFrame

#: Spark SQL types of the score columns ``score_features`` computes (the others pass
#: through from the features). ``predicted_spend`` is ``float``: XGBoost predicts float32,
#: and the DuckDB path writes it as such, so Spark must not widen it.
COMPUTED_SCORE_TYPES: dict[str, str] = {
    "p_dormant": "double",
    "p_alive": "double",
    "expected_purchases": "double",
    "predicted_spend": "float",
    "clv": "double",
    "expected_next_order_date": "timestamp_ntz",
    "model_version": "string",
    "purchases_p05": "bigint",
    "purchases_p95": "bigint",
    "btyd_p_dormant_p05": "double",
    "btyd_p_dormant_p95": "double",
    "clv_p05": "double",
    "clv_p95": "double",
}


def scored_columns() -> list[str]:
    """Column order of :meth:`WinbackScorer.score_features`: scores, then the other features."""
    return [*SCORE_COLUMNS, *(c for c in FEATURE_COLUMNS if c not in SCORE_COLUMNS)]


def scores_schema() -> str:
    """The scores' Spark schema (DDL), matching the pandas dtypes of ``score_features``.

    Integers (int64 in pandas, which cannot hold a null) are ``bigint not null``; floats are
    nullable ``double`` (NaN, e.g. ``avg_order_value`` without an order, travels as null);
    dates are nullable ``timestamp_ntz`` (``expected_next_order_date`` is empty beyond two
    years); everything else is a nullable string, as a pandas object column may hold None.
    """
    return ", ".join(
        f"`{name}` {spark_type(name)}" + (" NOT NULL" if spark_type(name) == "bigint" else "")
        for name in scored_columns()
    )


def spark_type(column: str) -> str:
    """Spark SQL type of a score column, from the feature table's column groups."""
    if column in COMPUTED_SCORE_TYPES:
        return COMPUTED_SCORE_TYPES[column]
    if column in INTEGER_COLUMNS:
        return "bigint"
    if column in FLOAT_COLUMNS:
        return "double"
    if column in DATE_COLUMNS:
        return "timestamp_ntz"
    return "string"


def score_dataframe_spark(
    features_sdf: SparkDataFrame,
    scorer: WinbackScorer,
    as_of: str | dt.date | pd.Timestamp,
    model_version: str = "",
) -> SparkDataFrame:
    """Every customer of a Spark feature table scored by ``scorer``, as a lazy DataFrame.

    ``features_sdf`` is :func:`features.spark.feature_dataframe_spark`'s output at the same
    ``as_of``. Columns and order are exactly those of :meth:`WinbackScorer.score_features`
    (:data:`models.scorer.SCORE_COLUMNS`, then the remaining feature columns), typed by
    :func:`scores_schema`. Nothing is collected: write it with ``.write.parquet(...)`` to
    keep it on the cluster, or collect it with ``.toPandas()``.
    """
    missing = [c for c in FEATURE_COLUMNS if c not in features_sdf.columns]
    if missing:
        raise SparkEngineError(f"features lack column(s) {', '.join(missing)} needed to score")
    state, as_of = scorer.to_dict(), to_date(as_of)
    columns = scored_columns()

    def score_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        worker_scorer = WinbackScorer.from_dict(state)  # once per task, from plain JSON
        for batch in batches:
            if batch.empty:  # the BTYD checks refuse an empty frame; nothing to score
                continue
            # Spark hands over int32 days and datetime.date objects: the pandas path's types.
            features = normalise_feature_types(batch)
            scores = worker_scorer.score_features(features, as_of, model_version=model_version)
            yield scores.loc[:, columns]

    return features_sdf.select(*FEATURE_COLUMNS).mapInPandas(score_batches, scores_schema())


def score_transactions_spark(
    transactions: pd.DataFrame,
    scorer: WinbackScorer,
    as_of: str | dt.date | pd.Timestamp,
    model_version: str = "",
    master: str | None = None,
    spark_conf: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """``scorer.score_features(build_features(...))`` with both steps on Spark, collected.

    For ``winback score --engine spark``: the scores come back to the driver through Arrow
    with the dtypes the DuckDB path gives, so one writer serves both engines.
    """
    features_sdf = feature_dataframe_spark(
        transactions, as_of, scorer.feature_config, master or DEFAULT_MASTER, spark_conf
    )
    scored = score_dataframe_spark(features_sdf, scorer, as_of, model_version)
    return scores_like_pandas(scored.toPandas())


def scores_like_pandas(collected: pd.DataFrame) -> pd.DataFrame:
    """Collected Spark scores with the dtypes :meth:`WinbackScorer.score_features` returns.

    Arrow already gives the score columns their pandas dtypes; the feature columns that pass
    through are normalised as the feature table is (strings as objects with None), which is
    what ``score_features`` copies into its output.
    """
    frame = collected.reset_index(drop=True)
    features = normalise_feature_types(frame.loc[:, list(FEATURE_COLUMNS)])
    passed_through = [c for c in FEATURE_COLUMNS if c not in SCORE_COLUMNS]
    return pd.concat([frame.loc[:, list(SCORE_COLUMNS)], features[passed_through]], axis=1)
