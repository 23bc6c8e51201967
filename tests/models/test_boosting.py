"""The XGBoost models' inputs and calibration: the cadence input and a ranking-keeping map."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score

from models.boosting import MODEL_FEATURES, DormancyClassifier, centred_knots, design_matrix


def _features() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "frequency": [4, 0, 2],
            "recency": [40, 0, 100],
            "T": [100, 30, 150],
            "days_since_last": [60, 30, 50],
            "monetary_value": [10.0, 0.0, 5.0],
            "avg_order_value": [10.0, 8.0, 5.0],
            "typical_gap_days": [10.0, 25.0, 50.0],
            "overdue_cycles": [6.0, 1.2, 1.0],
            "total_spend": [50.0, 8.0, 15.0],
            "status": ["lost", "new", "active"],
            "abc": ["A", "C", "B"],
            "xyz": ["Z", "Z", "Y"],
            "ladder_stage": ["regular", "buyer", "client"],
        },
        index=pd.Index(["a", "b", "c"], name="customer_id"),
    )


def _btyd(index: pd.Index) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "p_alive": [0.5, 0.6, 0.9],
            "p_dormant": [0.7, 0.6, 0.3],
            "expected_purchases": [0.5, 0.4, 1.0],
            "predicted_spend": [5.0, 3.0, 6.0],
        },
        index=index,
    )


def test_silence_is_measured_against_the_customers_own_mean_gap():
    features = _features()
    matrix = design_matrix(features, _btyd(features.index))
    assert list(matrix.columns) == list(MODEL_FEATURES)
    # a: 4 gaps over 40 days (mean 10), silent 60 -> 6 gaps; c: mean 50, silent 50 -> 1.
    assert matrix.loc["a", "silence_per_mean_gap"] == pytest.approx(6.0)
    assert matrix.loc["c", "silence_per_mean_gap"] == pytest.approx(1.0)
    assert np.isnan(matrix.loc["b", "silence_per_mean_gap"])  # one-time buyer: no gap


def test_centred_knots_are_strictly_increasing_and_keep_the_block_values():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=500)
    labels = (rng.random(500) < 1 / (1 + np.exp(-2 * scores))).astype(float)
    isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, labels)
    x, y = centred_knots(isotonic.X_thresholds_, isotonic.y_thresholds_)
    assert np.all(np.diff(x) > 0) and np.all(np.diff(y) > 0)
    assert set(y) == set(isotonic.y_thresholds_.tolist())
    # Between the outer knots the map is strictly increasing: no ties, the ranking is kept.
    inside = np.sort(scores[(scores > x[0]) & (scores < x[-1])])
    assert np.all(np.diff(np.interp(inside, x, y)) > 0)


def test_calibration_keeps_the_boosters_ranking():
    rng = np.random.default_rng(1)
    n = 2000
    X = pd.DataFrame({"signal": rng.normal(size=n), "noise": rng.normal(size=n)})
    X["btyd_p_dormant"] = 0.5
    y = (rng.random(n) < 1 / (1 + np.exp(-1.5 * X["signal"]))).astype(int)
    model = DormancyClassifier(n_estimators=30).fit(X[:1000], y[:1000], X[1000:], y[1000:])
    raw = roc_auc_score(y, model._predict(X))
    calibrated = roc_auc_score(y, model.predict_proba_dormant(X))
    assert calibrated == pytest.approx(raw, abs=0.002)
    restored = DormancyClassifier.from_dict(model.to_dict())
    np.testing.assert_allclose(restored.predict_proba_dormant(X), model.predict_proba_dormant(X))
