"""Batch scoring: every customer at an as-of date, scored by a registered version.

DuckDB builds the features and :meth:`models.scorer.WinbackScorer.score_features` scores
them; with ``engine="spark"`` the same scorer runs in Spark (:mod:`pipelines.scoring.spark`).
Either way the scores are written by one function with the same metadata
(:func:`pipelines.scoring.table.write_scores_parquet`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from features.build import build_features
from features.contract import LoadedTransactions
from features.table import FeatureTable, to_date
from pipelines.featurize import no_data_before_loaded
from pipelines.registry import store as registry
from pipelines.scoring.table import write_scores_parquet

__all__ = ["score_features_to_parquet", "score_to_parquet", "write_scores_parquet"]


def score_to_parquet(
    loaded: LoadedTransactions,
    as_of: str | dt.date,
    out: str | Path,
    model_version: str | int | None = None,
    engine: str = "duckdb",
    master: str | None = None,
    spark_conf: Mapping[str, str] | None = None,
    registered: registry.RegisteredScorer | None = None,
) -> tuple[pd.DataFrame, str]:
    """Score every customer at ``as_of`` with a registered version (champion by default).

    ``engine="spark"`` builds the features with Spark SQL and scores them in
    ``mapInPandas`` (:mod:`pipelines.scoring.spark`); the scores come back to the driver and
    are written by the same code as DuckDB's, so the file is the same either way.
    ``registered``: the version already loaded (``registry.load_registered``), else it is
    loaded here.
    """
    as_of = to_date(as_of)
    registered = registered or registry.load_registered(model_version)
    scorer, version_text = registered.scorer, registered.version
    if engine == "spark":
        from pipelines.scoring.spark import score_transactions_spark

        scores = score_transactions_spark(
            loaded.transactions, scorer, as_of, version_text, master, spark_conf
        )
        if scores.empty:
            raise no_data_before_loaded(loaded, as_of)
        write_scores_parquet(scores, out, as_of, scorer.horizon_days, version_text)
        return scores, version_text
    table = build_features(loaded.transactions, as_of, scorer.feature_config, engine=engine)
    if table.features.empty:  # score_features refuses an empty table
        raise no_data_before_loaded(loaded, as_of)
    return score_features_to_parquet(table, out, registered)


def score_features_to_parquet(
    table: FeatureTable, out: str | Path, registered: registry.RegisteredScorer
) -> tuple[pd.DataFrame, str]:
    """Score a feature table (built with the version's feature rules, at its as-of date)
    with a registered version and write the scores file; ``winback score`` builds the
    table where it validated the rows (:func:`pipelines.featurize.load_and_build`)."""
    scorer, version_text = registered.scorer, registered.version
    scores = scorer.score_features(table.features, table.as_of, model_version=version_text)
    write_scores_parquet(scores, out, table.as_of, scorer.horizon_days, version_text)
    return scores, version_text
