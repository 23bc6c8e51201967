"""Out-of-time metrics for dormancy scores and spend forecasts.

Pure functions of (actual, predicted) arrays so that every model and every baseline is
judged by exactly the same code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def lift_at(labels: np.ndarray, scores: np.ndarray, top_share: float = 0.1) -> float:
    """Positive rate among the top ``top_share`` by score, over the overall positive rate."""
    labels = np.asarray(labels, dtype=float)
    n_top = max(1, int(round(len(labels) * top_share)))
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    base_rate = labels.mean()
    return float(labels[order[:n_top]].mean() / base_rate) if base_rate > 0 else float("nan")


def calibration_table(labels: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> list[dict]:
    """Mean predicted probability vs observed rate in equal-count bins of the prediction."""
    frame = pd.DataFrame({"label": labels, "p": probabilities})
    frame["bin"] = pd.qcut(frame["p"].rank(method="first"), bins, labels=False)
    grouped = frame.groupby("bin").agg(
        n=("label", "size"),
        mean_predicted=("p", "mean"),
        observed_rate=("label", "mean"),
    )
    return [
        {"bin": int(b), **{k: float(v) for k, v in row.items()}} for b, row in grouped.iterrows()
    ]


def dormancy_metrics(labels: np.ndarray, scores: np.ndarray, is_probability: bool) -> dict:
    """AUC, average precision, top-decile lift; Brier and calibration for probabilities.

    A rank-only baseline (days since last purchase) has no probability scale, so its Brier
    score and calibration table are reported as missing rather than invented.
    """
    labels = np.asarray(labels, dtype=int)
    scores = np.asarray(scores, dtype=float)
    metrics = {
        "auc": float(roc_auc_score(labels, scores)),
        "average_precision": float(average_precision_score(labels, scores)),
        "lift_top_decile": lift_at(labels, scores, 0.1),
        "brier": None,
        "calibration": None,
    }
    if is_probability:
        metrics["brier"] = float(brier_score_loss(labels, np.clip(scores, 0.0, 1.0)))
        metrics["calibration"] = calibration_table(labels, scores)
    return metrics


def gini(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Gini of ``actual`` ordered by ``predicted`` (descending; ties keep input order)."""
    actual = np.asarray(actual, dtype=float)
    order = np.argsort(-np.asarray(predicted, dtype=float), kind="stable")
    cumulative = np.cumsum(actual[order]) / actual.sum()
    n = len(actual)
    return float(cumulative.sum() / n - (n + 1) / (2 * n))


def normalized_gini(actual: np.ndarray, predicted: np.ndarray) -> float:
    """1 for a perfect ranking of actual values, 0 for a random one."""
    return gini(actual, predicted) / gini(actual, actual)


def revenue_captured(actual: np.ndarray, predicted: np.ndarray, top_share: float) -> float:
    """Share of actual revenue held by the top ``top_share`` of customers by prediction."""
    actual = np.asarray(actual, dtype=float)
    n_top = max(1, int(round(len(actual) * top_share)))
    order = np.argsort(-np.asarray(predicted, dtype=float), kind="stable")
    return float(actual[order[:n_top]].sum() / actual.sum())


def spend_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict:
    """Ranking and level of a spend forecast against what customers really spent."""
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    return {
        "normalized_gini": normalized_gini(actual, predicted),
        "spearman": float(spearmanr(actual, predicted).statistic),
        "predicted_over_actual": float(predicted.sum() / actual.sum()),
        "revenue_captured_top10": revenue_captured(actual, predicted, 0.1),
        "revenue_captured_top20": revenue_captured(actual, predicted, 0.2),
    }
