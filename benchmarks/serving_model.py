"""The small served model of the serving tests and benchmarks: one recipe, one place.

A champion trained on CDNOW up to :data:`AS_OF` by the short path (``train_scorer`` with
two snapshots and small boosters, logged and registered through
:mod:`pipelines.registry.store`) into the MLflow store of ``MLFLOW_TRACKING_URI``, and every
customer scored into ``scores.parquet``. The serving tests (``tests/serving``) and the
serving benchmarks (:mod:`benchmarks.serving_wrk`) use this same function, so the numbers
in ``benchmarks/SERVING.md`` are measured on the model the tests serve.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

AS_OF = "1997-09-30"


@dataclass
class ServedModel:
    folder: Path
    tracking_uri: str
    scores_path: Path
    version: str
    transactions: pd.DataFrame
    scores: pd.DataFrame


def train_and_score(folder: Path) -> ServedModel:
    """Register a small champion in the current store and score CDNOW with it into
    ``folder / "scores.parquet"``."""
    from features.config import load_feature_config
    from features.contract import load_transactions
    from models.boosting import MODEL_FEATURES
    from pipelines.registry import promotion
    from pipelines.registry import store as registry
    from pipelines.scoring.batch import score_to_parquet
    from pipelines.training.fit import TrainingSettings, train_scorer

    loaded = load_transactions("cdnow")
    settings = TrainingSettings(
        max_snapshots=2,
        dormancy_params={"n_estimators": 40},
        spend_params={"n_estimators": 40},
    )
    scorer, _ = train_scorer(loaded.transactions, AS_OF, settings, load_feature_config())
    mlflow = registry.configure_mlflow()
    with mlflow.start_run(run_name="serving tests"):
        mlflow.log_params(
            {
                "as_of": AS_OF,
                "validation_cutoff": "1997-07-02",
                "horizon_days": settings.horizon_days,
                "feature_schema": json.dumps(list(MODEL_FEATURES)),
            }
        )
        info = registry.log_scorer(mlflow, scorer)
    version = str(info.registered_model_version)
    promotion.promote(version, "serving tests", manual=True)
    scores_path = folder / "scores.parquet"
    scores, _ = score_to_parquet(loaded, AS_OF, scores_path)
    return ServedModel(
        folder=folder,
        tracking_uri=registry.tracking_uri(),
        scores_path=scores_path,
        version=version,
        transactions=loaded.transactions,
        scores=scores,
    )


def cached_model(folder: Path) -> tuple[str, Path]:
    """(tracking URI, snapshot path) of the recipe's model in ``folder``: trained there
    once (about a minute), then reused while its store and snapshot are both present."""
    folder.mkdir(parents=True, exist_ok=True)
    store, scores = folder / "mlflow.db", folder / "scores.parquet"
    uri = f"sqlite:///{store}"
    if not (store.is_file() and scores.is_file()):
        for stale in (store, scores):
            stale.unlink(missing_ok=True)
        previous = os.environ.get("MLFLOW_TRACKING_URI")
        os.environ["MLFLOW_TRACKING_URI"] = uri
        try:
            train_and_score(folder)
        finally:
            if previous is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = previous
    return uri, scores
