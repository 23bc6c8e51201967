"""One object that turns transactions into per-customer scores.

It bundles the whole chain -- feature rules, the BTYD models (fitted at the training as-of
date) and the XGBoost dormancy and spend models -- so that batch scoring, the MLflow pyfunc,
the BentoML service and the notebooks all score the same way. Its state is plain JSON.

:meth:`WinbackScorer.score_features` is the one scoring step every path calls: batch
scoring on DuckDB (``pipelines.scoring.batch``), on Spark in ``mapInPandas``
(``pipelines.scoring.spark``) and the service's on-the-fly scoring (``serving.scoring``,
after :func:`features.population.features_against_population`).
"""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.build import build_features
from features.config import FeatureConfig
from features.contract import load_transactions
from features.sql import FEATURE_COLUMNS
from features.table import to_date
from models.boosting import DormancyClassifier, SpendRegressor, design_matrix
from models.btyd import BTYDModel
from models.predictive_intervals import INTERVAL_COLUMNS, PredictiveIntervals

SCORE_COLUMNS = (
    "customer_id",
    "p_dormant",
    "p_alive",
    "expected_purchases",
    "predicted_spend",
    "clv",
    "expected_next_order_date",
    "status",
    "model_version",
    # 90% intervals (models/predictive_intervals.py): after the original columns, so that
    # readers of the first nine by position see the same table.
    *INTERVAL_COLUMNS,
)
#: Rows from which :meth:`WinbackScorer._boosted_predictions` runs both boosters at once.
PARALLEL_BOOSTER_ROWS = 20_000
#: How the score intervals are drawn: fixed, so that scores are deterministic.
SCORE_INTERVALS = PredictiveIntervals(n_draws=32, seed=0)


@dataclass
class WinbackScorer:
    """Fitted feature rules + BTYD + XGBoost. Build it with ``pipelines.training.fit``."""

    feature_config: FeatureConfig
    btyd: BTYDModel
    dormancy: DormancyClassifier
    spend: SpendRegressor
    horizon_days: int
    trained_as_of: dt.date
    metadata: dict[str, Any] = field(default_factory=dict)

    def btyd_predictions(self, features: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
        return self.btyd.predict(features, pd.Timestamp(as_of), self.horizon_days)

    def score_features(
        self, features: pd.DataFrame, as_of: str | dt.date, model_version: str = ""
    ) -> pd.DataFrame:
        """Scores for a feature table (as built by ``features.build``) at ``as_of``.

        Returns :data:`SCORE_COLUMNS` followed by the remaining feature columns, one row per
        customer, in the input's order.
        """
        as_of = to_date(as_of)
        indexed = features.set_index("customer_id", drop=False)
        btyd = self.btyd_predictions(indexed, as_of)
        matrix = design_matrix(indexed, btyd)
        scores = pd.DataFrame(index=indexed.index)
        scores["customer_id"] = indexed["customer_id"].to_numpy()
        p_dormant, predicted_spend = self._boosted_predictions(matrix)
        scores["p_dormant"] = p_dormant
        scores["p_alive"] = btyd["p_alive"].to_numpy()
        scores["expected_purchases"] = btyd["expected_purchases"].to_numpy()
        scores["predicted_spend"] = predicted_spend
        scores["clv"] = btyd["clv"].to_numpy()
        scores["expected_next_order_date"] = btyd["expected_next_order_date"].to_numpy()
        scores["status"] = indexed["status"].to_numpy()
        scores["model_version"] = str(model_version)
        intervals = SCORE_INTERVALS.predict(self.btyd, indexed, self.horizon_days)
        for column in INTERVAL_COLUMNS:
            scores[column] = intervals[column].to_numpy()
        rest = [c for c in FEATURE_COLUMNS if c not in scores.columns]
        scores = pd.concat([scores, indexed[rest]], axis=1)
        return scores.reset_index(drop=True)

    def _boosted_predictions(self, matrix: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """P(dormant) and predicted spend; on large tables the two boosters run at once.

        Each booster keeps one OpenMP thread (see :mod:`models.boosting`), and XGBoost
        releases the GIL while it predicts, so two Python threads use two cores: 0.48 s ->
        0.25-0.30 s for 300,000 customers (issue 18). The service's few rows stay serial.
        """
        if len(matrix) < PARALLEL_BOOSTER_ROWS:
            return self.dormancy.predict_proba_dormant(matrix), self.spend.predict(matrix)
        with ThreadPoolExecutor(max_workers=2) as pool:
            dormant = pool.submit(self.dormancy.predict_proba_dormant, matrix)
            spend = pool.submit(self.spend.predict, matrix)
            return dormant.result(), spend.result()

    def score(
        self,
        transactions: pd.DataFrame,
        as_of: str | dt.date,
        model_version: str = "",
    ) -> pd.DataFrame:
        """Scores from raw transactions (validated by the data contract) at ``as_of``."""
        loaded = load_transactions(transactions, lines=self.feature_config.lines)
        table = build_features(loaded.transactions, as_of, self.feature_config)
        return self.score_features(table.features, as_of, model_version)

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature_config": self.feature_config.to_dict(),
            "btyd": self.btyd.to_dict(),
            "dormancy": self.dormancy.to_dict(),
            "spend": self.spend.to_dict(),
            "horizon_days": self.horizon_days,
            "trained_as_of": self.trained_as_of.isoformat(),
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WinbackScorer:
        return cls(
            feature_config=FeatureConfig.from_dict(data["feature_config"]),
            btyd=BTYDModel.from_dict(data["btyd"]),
            dormancy=DormancyClassifier.from_dict(data["dormancy"]),
            spend=SpendRegressor.from_dict(data["spend"]),
            horizon_days=int(data["horizon_days"]),
            trained_as_of=dt.date.fromisoformat(data["trained_as_of"]),
            metadata=dict(data.get("metadata", {})),
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict()))
        return path

    @classmethod
    def load(cls, path: str | Path) -> WinbackScorer:
        return cls.from_dict(json.loads(Path(path).read_text()))
