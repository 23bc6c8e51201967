"""XGBoost models on the feature table plus the BTYD outputs.

``DormancyClassifier`` predicts P(no purchase in the horizon) and is calibrated with
isotonic regression on a time-later fold; ``SpendRegressor`` predicts spend in the horizon
with a Tweedie objective (many exact zeros, a long right tail).

Three choices make them generalise across snapshot dates (chosen on CDNOW's validation
windows at cutoffs 1997-06-02 and 1997-07-02, never on a later test window):

* the inputs are scale-free: shares of tenure and rates instead of absolute ages and
  totals, which drift as a customer base ages and which trees cannot extrapolate;
* boosting starts from a strong prior -- the BTYD log-odds of dormancy, the log of the
  past spend rate -- so the trees learn corrections, not the whole curve;
* small capacity (100 trees of depth 3): a young shop has few snapshots to learn from.

Selection, on CDNOW with training data up to each cutoff (dormancy AUC / spend Gini):
300 trees of depth 4 on absolute features 0.603 / 0.460 and 0.723 / 0.591; the defaults
here 0.716 / 0.650 and 0.745 / 0.669; MBG/NBD 0.717 / 0.596 and 0.741 / 0.618; the
baselines (days since last, past spend) 0.699 / 0.639 and 0.727 / 0.655.

Two later changes came from order-line exports (issue 14, ``benchmarks/ORDER_LINES.md``),
where every customer has their own cadence and a silence is long or short only against it:

* ``silence_per_mean_gap``: days since the last purchase over the customer's own mean gap
  (``recency / frequency``). ``overdue_cycles`` divides by the median gap, floored, and
  gives one-time buyers the population's gap; this one is the customer's own, missing (not
  imputed) for one-time buyers;
* the isotonic calibration keeps one knot per pooled block, at the block's midpoint
  ("centred" isotonic regression, :func:`centred_knots`), so it maps increasing scores to
  increasing probabilities; the step function tied each block's customers.

On the benchmark's development seeds (100-109) they raised the dormancy AUC from 0.809 to
0.816 (the input +0.005, the calibration +0.002, with a lower Brier score); CDNOW's held-out
dormancy AUC at 1997-06-02 / 07-02 / 09-30 went from 0.718 / 0.746 / 0.776 to
0.721 / 0.746 / 0.777, spend Gini within 0.003.

Fitted state is plain (the booster as JSON text, calibration knots as float lists) so that
MLflow and BentoML store it without pickling.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from models.xgboost_import import import_xgboost

xgb = import_xgboost()

ORDINALS: dict[str, tuple[str, ...]] = {
    "status": ("new", "active", "at_risk", "sleeping", "lost"),
    "abc": ("A", "B", "C"),
    "xyz": ("X", "Y", "Z"),
    "ladder_stage": ("buyer", "client", "regular", "loyal", "advocate"),
}
SCALE_FREE_FEATURES = (
    "overdue_cycles",
    "monetary_value",
    "avg_order_value",
    "typical_gap_days",
    "recency_share",
    "silence_share",
    "purchase_rate",
    "spend_rate",
)
BTYD_FEATURES = ("p_alive", "btyd_p_dormant", "btyd_expected_purchases", "btyd_predicted_spend")
#: Added after the others, so that the earlier columns keep their order (and models trained
#: before it, which select their own ``feature_names_``, still score).
CADENCE_FEATURES = ("silence_per_mean_gap",)
MODEL_FEATURES = SCALE_FREE_FEATURES + tuple(ORDINALS) + BTYD_FEATURES + CADENCE_FEATURES


def design_matrix(features: pd.DataFrame, btyd: pd.DataFrame) -> pd.DataFrame:
    """The models' inputs, all float, in :data:`MODEL_FEATURES` order.

    ``features`` is the feature table indexed by customer_id; ``btyd`` the BTYD predictions
    for the same customers (``p_alive, p_dormant, expected_purchases, predicted_spend``).
    """
    tenure = features["T"].clip(lower=1).astype(float)
    matrix = pd.DataFrame(index=features.index)
    for column in ("overdue_cycles", "monetary_value", "avg_order_value", "typical_gap_days"):
        matrix[column] = features[column].astype(float)
    matrix["recency_share"] = features["recency"] / tenure
    matrix["silence_share"] = features["days_since_last"] / tenure
    matrix["purchase_rate"] = features["frequency"] / tenure
    matrix["spend_rate"] = features["total_spend"] / tenure
    for column, levels in ORDINALS.items():
        codes = pd.Categorical(features[column], categories=list(levels)).codes
        matrix[column] = np.where(codes < 0, np.nan, codes).astype(float)
    btyd = btyd.reindex(features.index)
    matrix["p_alive"] = btyd["p_alive"].astype(float)
    matrix["btyd_p_dormant"] = btyd["p_dormant"].astype(float)
    matrix["btyd_expected_purchases"] = btyd["expected_purchases"].astype(float)
    matrix["btyd_predicted_spend"] = btyd["predicted_spend"].astype(float)
    # Mean gap = recency / frequency; one-time buyers have none (NaN: XGBoost's missing).
    mean_gap = features["recency"].astype(float) / features["frequency"].where(
        features["frequency"] > 0
    ).astype(float)
    matrix["silence_per_mean_gap"] = features["days_since_last"].astype(float) / mean_gap.where(
        mean_gap > 0
    )
    return matrix.loc[:, list(MODEL_FEATURES)]


class _BoostedModel:
    """Shared hyper-parameters, prior margin, training and plain serialisation."""

    objective: ClassVar[str]
    PARAM_NAMES: ClassVar[tuple[str, ...]] = (
        "n_estimators",
        "max_depth",
        "learning_rate",
        "subsample",
        "colsample_bytree",
        "min_child_weight",
        "random_state",
    )

    def __init__(
        self,
        n_estimators: int = 100,
        max_depth: int = 3,
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
        return {name: getattr(self, name) for name in self.PARAM_NAMES}

    def prior_margin(self, X: pd.DataFrame) -> np.ndarray:
        """Where boosting starts, in the objective's link space."""
        raise NotImplementedError

    def _matrix(self, X: pd.DataFrame, label: np.ndarray | None = None) -> xgb.DMatrix:
        return xgb.DMatrix(
            X.loc[:, self.feature_names_],
            label=label,
            base_margin=self.prior_margin(X),
            feature_names=self.feature_names_,
        )

    def _fit_booster(self, X: pd.DataFrame, y: np.ndarray) -> None:
        self.feature_names_ = list(X.columns)
        params = {
            "objective": self.objective,
            "tree_method": "hist",
            # One thread: on a shared 2-core machine OpenMP spin-waiting made two threads
            # eight times slower than one.
            "nthread": 1,
            "max_depth": self.max_depth,
            "eta": self.learning_rate,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "seed": self.random_state,
        }
        self.booster_ = xgb.train(params, self._matrix(X, y), num_boost_round=self.n_estimators)

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.booster_.inplace_predict(
            X.loc[:, self.feature_names_].to_numpy(float), base_margin=self.prior_margin(X)
        )

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-customer SHAP contributions of each feature (link space) and the bias."""
        values = self.booster_.predict(self._matrix(X), pred_contribs=True)
        return pd.DataFrame(values, columns=self.feature_names_ + ["bias"], index=X.index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.get_params(),
            "feature_names": self.feature_names_,
            "booster": bytes(self.booster_.save_raw(raw_format="json")).decode(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        model = cls(**data["params"])
        model.booster_ = xgb.Booster()
        model.booster_.load_model(bytearray(data["booster"].encode()))
        model.feature_names_ = list(data["feature_names"])
        return model


class DormancyClassifier(_BoostedModel):
    """P(no purchase in the horizon): BTYD log-odds corrected by boosting, then calibrated."""

    objective = "binary:logistic"

    def prior_margin(self, X: pd.DataFrame) -> np.ndarray:
        p = np.clip(X["btyd_p_dormant"].to_numpy(float), 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        X_calibration: pd.DataFrame,
        y_calibration: np.ndarray,
    ) -> DormancyClassifier:
        """Boost on ``X``; fit the isotonic calibration on the time-later ``X_calibration``."""
        self._fit_booster(X, np.asarray(y, dtype=float))
        from sklearn.isotonic import IsotonicRegression  # fitting only: 1.7 s to import

        isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        isotonic.fit(self._predict(X_calibration), np.asarray(y_calibration, dtype=float))
        self.calibration_x_, self.calibration_y_ = centred_knots(
            isotonic.X_thresholds_, isotonic.y_thresholds_
        )
        return self

    def predict_proba_dormant(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated P(no purchase in the horizon)."""
        return np.interp(self._predict(X), self.calibration_x_, self.calibration_y_)

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "calibration_x": self.calibration_x_,
            "calibration_y": self.calibration_y_,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DormancyClassifier:
        model = super().from_dict(data)
        model.calibration_x_ = list(data["calibration_x"])
        model.calibration_y_ = list(data["calibration_y"])
        return model


def centred_knots(x: np.ndarray, y: np.ndarray) -> tuple[list[float], list[float]]:
    """One knot per block of equal isotonic values, at the midpoint of the block's scores.

    Interpolating between these knots is strictly increasing between the first and the last
    block, so calibration no longer ties the customers of a block (the step function did):
    the ranking, and with it the AUC, is the booster's.
    """
    knots_x: list[float] = []
    knots_y: list[float] = []
    start = 0
    for end in range(1, len(x) + 1):
        if end == len(x) or y[end] != y[start]:
            knots_x.append(float(x[start] + x[end - 1]) / 2)
            knots_y.append(float(y[start]))
            start = end
    return knots_x, knots_y


class SpendRegressor(_BoostedModel):
    """Spend in the horizon: Tweedie boosting from the log of the past spend rate."""

    objective = "reg:tweedie"

    def prior_margin(self, X: pd.DataFrame) -> np.ndarray:
        # A rate of a cent a day stands in for customers with no net spend.
        return np.log(np.clip(X["spend_rate"].to_numpy(float), 0.01, None))

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> SpendRegressor:
        self._fit_booster(X, np.clip(np.asarray(y, dtype=float), 0.0, None))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self._predict(X)


def feature_importance(booster: xgb.Booster) -> pd.Series:
    """Total gain per feature, as a share of all gain."""
    gain = pd.Series(booster.get_score(importance_type="total_gain"), dtype=float)
    return (gain / gain.sum()).sort_values(ascending=False)
