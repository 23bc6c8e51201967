"""Metric functions against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.training.metrics import (
    dormancy_metrics,
    gini,
    lift_at,
    normalized_gini,
    revenue_captured,
    spend_metrics,
)


def test_normalized_gini_is_one_for_a_perfect_ranking_and_negative_for_a_reversed_one():
    actual = np.array([0.0, 5.0, 1.0, 10.0, 0.0])
    assert normalized_gini(actual, actual) == pytest.approx(1.0)
    assert normalized_gini(actual, -actual) < 0


def test_gini_by_hand():
    # Ordered by prediction: actual [3, 1, 0]; cumulative shares .75, 1, 1 -> mean .9167
    assert gini(np.array([1.0, 3.0, 0.0]), np.array([2.0, 3.0, 1.0])) == pytest.approx(
        (0.75 + 1 + 1) / 3 - 4 / 6
    )


def test_revenue_captured_and_lift():
    actual = np.array([10.0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    predicted = np.arange(10.0)[::-1]  # customer 0 ranked first
    assert revenue_captured(actual, predicted, 0.1) == 1.0
    labels = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    assert lift_at(labels, predicted, 0.1) == pytest.approx(1 / 0.2)


def test_dormancy_metrics_leave_probability_metrics_out_for_rank_only_scores():
    labels = np.array([0, 0, 1, 1])
    ranked = dormancy_metrics(labels, np.array([10.0, 20, 30, 40]), is_probability=False)
    assert ranked["auc"] == 1.0 and ranked["brier"] is None
    probabilities = dormancy_metrics(labels, np.array([0.1, 0.2, 0.8, 0.9]), True)
    assert probabilities["brier"] == pytest.approx((0.01 + 0.04 + 0.04 + 0.01) / 4)


def test_spend_metrics_level_ratio():
    metrics = spend_metrics(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0]))
    assert metrics["predicted_over_actual"] == pytest.approx(2.0)
    assert metrics["spearman"] == pytest.approx(1.0)
