"""XGBoost models on the feature table plus the BTYD outputs.

``DormancyClassifier`` predicts P(no purchase in the horizon) and is calibrated with
isotonic regression on a time-later fold; ``SpendRegressor`` predicts spend in the horizon
with a Tweedie objective (many exact zeros, a long right tail). Both keep their fitted
state plain (a booster as JSON text, calibration knots as float lists) so that MLflow and
BentoML can store them without pickling.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.isotonic import IsotonicRegression

ORDINALS: dict[str, tuple[str, ...]] = {
    "status": ("new", "active", "at_risk", "sleeping", "lost"),
    "abc": ("A", "B", "C"),
    "xyz": ("X", "Y", "Z"),
    "ladder_stage": ("buyer", "client", "regular", "loyal", "advocate"),
}
NUMERIC_FEATURES = (
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "n_orders",
    "total_spend",
    "avg_order_value",
    "days_since_last",
    "typical_gap_days",
    "overdue_cycles",
)
BTYD_FEATURES = ("p_alive", "btyd_p_dormant", "btyd_expected_purchases", "btyd_predicted_spend")
MODEL_FEATURES = NUMERIC_FEATURES + tuple(ORDINALS) + BTYD_FEATURES


def design_matrix(features: pd.DataFrame, btyd: pd.DataFrame) -> pd.DataFrame:
    """The model's inputs, all float, in :data:`MODEL_FEATURES` order.

    ``features`` is the feature table (indexed by customer_id); ``btyd`` the BTYD
    predictions for the same customers (``p_alive, p_dormant, expected_purchases,
    predicted_spend``).
    """
    matrix = features.loc[:, list(NUMERIC_FEATURES)].astype(float)
    for column, levels in ORDINALS.items():
        codes = pd.Categorical(features[column], categories=list(levels)).codes
        matrix[column] = np.where(codes < 0, np.nan, codes).astype(float)
    btyd = btyd.reindex(features.index)
    matrix["p_alive"] = btyd["p_alive"].astype(float)
    matrix["btyd_p_dormant"] = btyd["p_dormant"].astype(float)
    matrix["btyd_expected_purchases"] = btyd["expected_purchases"].astype(float)
    matrix["btyd_predicted_spend"] = btyd["predicted_spend"].astype(float)
    return matrix.loc[:, list(MODEL_FEATURES)]


def _booster_to_text(booster: xgb.Booster) -> str:
    return bytes(booster.save_raw(raw_format="json")).decode()


def _booster_from_text(text: str) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(bytearray(text.encode()))
    return booster


class DormancyClassifier:
    """Gradient-boosted P(dormant in horizon), isotonic-calibrated on a later fold."""

    def __init__(
        self,
        n_estimators: int = 300,
        max_depth: int = 4,
        learning_rate: float = 0.05,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        min_child_weight: float = 5.0,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.random_state = random_state

    def get_params(self) -> dict[str, Any]:
        return {
            name: getattr(self, name)
            for name in (
                "n_estimators",
                "max_depth",
                "learning_rate",
                "subsample",
                "colsample_bytree",
                "min_child_weight",
                "random_state",
            )
        }

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        X_calibration: pd.DataFrame,
        y_calibration: np.ndarray,
    ) -> DormancyClassifier:
        """Fit the booster on ``X`` and the calibration curve on the later ``X_calibration``."""
        model = xgb.XGBClassifier(
            objective="binary:logistic",
            tree_method="hist",
            n_jobs=2,
            eval_metric="logloss",
            **self.get_params(),
        )
        model.fit(X, np.asarray(y, dtype=int))
        self.booster_ = model.get_booster()
        self.feature_names_ = list(X.columns)
        raw = self._raw_probability(X_calibration)
        isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        isotonic.fit(raw, np.asarray(y_calibration, dtype=float))
        self.calibration_x_ = [float(v) for v in isotonic.X_thresholds_]
        self.calibration_y_ = [float(v) for v in isotonic.y_thresholds_]
        return self

    def _raw_probability(self, X: pd.DataFrame) -> np.ndarray:
        return self.booster_.inplace_predict(X.loc[:, self.feature_names_].to_numpy(float))

    def predict_proba_dormant(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated P(no purchase in the horizon)."""
        raw = self._raw_probability(X)
        return np.interp(raw, self.calibration_x_, self.calibration_y_)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-customer SHAP contributions (log-odds) of each feature, plus the bias."""
        matrix = xgb.DMatrix(X.loc[:, self.feature_names_], feature_names=self.feature_names_)
        values = self.booster_.predict(matrix, pred_contribs=True)
        return pd.DataFrame(values, columns=self.feature_names_ + ["bias"], index=X.index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.get_params(),
            "feature_names": self.feature_names_,
            "booster": _booster_to_text(self.booster_),
            "calibration_x": self.calibration_x_,
            "calibration_y": self.calibration_y_,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DormancyClassifier:
        model = cls(**data["params"])
        model.booster_ = _booster_from_text(data["booster"])
        model.feature_names_ = list(data["feature_names"])
        model.calibration_x_ = list(data["calibration_x"])
        model.calibration_y_ = list(data["calibration_y"])
        return model


class SpendRegressor:
    """Gradient-boosted spend in the horizon, Tweedie objective (zeros and a long tail)."""

    def __init__(
        self,
        n_estimators: int = 300,
        max_depth: int = 4,
        learning_rate: float = 0.05,
        tweedie_variance_power: float = 1.5,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        min_child_weight: float = 5.0,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.tweedie_variance_power = tweedie_variance_power
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.random_state = random_state

    def get_params(self) -> dict[str, Any]:
        return {
            name: getattr(self, name)
            for name in (
                "n_estimators",
                "max_depth",
                "learning_rate",
                "tweedie_variance_power",
                "subsample",
                "colsample_bytree",
                "min_child_weight",
                "random_state",
            )
        }

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> SpendRegressor:
        model = xgb.XGBRegressor(
            objective="reg:tweedie", tree_method="hist", n_jobs=2, **self.get_params()
        )
        model.fit(X, np.clip(np.asarray(y, dtype=float), 0.0, None))
        self.booster_ = model.get_booster()
        self.feature_names_ = list(X.columns)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.booster_.inplace_predict(X.loc[:, self.feature_names_].to_numpy(float))

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.get_params(),
            "feature_names": self.feature_names_,
            "booster": _booster_to_text(self.booster_),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpendRegressor:
        model = cls(**data["params"])
        model.booster_ = _booster_from_text(data["booster"])
        model.feature_names_ = list(data["feature_names"])
        return model


def feature_importance(booster: xgb.Booster) -> pd.Series:
    """Total gain per feature, as a share of all gain."""
    gain = pd.Series(booster.get_score(importance_type="total_gain"), dtype=float)
    return (gain / gain.sum()).sort_values(ascending=False)
