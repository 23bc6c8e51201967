"""Plots of a training run's held-out evaluation, written as PNG files for MLflow."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from pipelines.training.evaluation import EvaluationResult  # noqa: E402


def _dormancy_candidates(result: EvaluationResult) -> list[str]:
    return [name for name, row in result.rows.items() if row["dormancy"] is not None]


def plot_roc(result: EvaluationResult, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    labels = result.labels["dormant"].to_numpy()
    for name in _dormancy_candidates(result):
        fpr, tpr, _ = roc_curve(labels, result.predictions[name]["p_dormant"].to_numpy())
        auc = result.rows[name]["dormancy"]["auc"]
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set(
        xlabel="false positive rate",
        ylabel="true positive rate",
        title=f"Dormancy ROC, held-out window after {result.cutoff}",
    )
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_calibration(result: EvaluationResult, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name in _dormancy_candidates(result):
        table = result.rows[name]["dormancy"]["calibration"]
        if not table:
            continue
        frame = pd.DataFrame(table)
        ax.plot(frame["mean_predicted"], frame["observed_rate"], marker="o", label=name)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set(
        xlabel="mean predicted P(dormant)",
        ylabel="observed dormant share",
        title="Calibration (deciles of the prediction)",
    )
    ax.legend(loc="upper left")
    return _save(fig, path)


def plot_gains(result: EvaluationResult, path: Path) -> Path:
    """Cumulative share of dormant customers and of revenue captured vs share targeted."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    dormant = result.labels["dormant"].to_numpy(dtype=float)
    spend = result.labels["future_spend"].to_numpy(dtype=float)
    share = np.arange(1, len(dormant) + 1) / len(dormant)
    for name, row in result.rows.items():
        predictions = result.predictions[name]
        if row["dormancy"] is not None:
            order = np.argsort(-predictions["p_dormant"].to_numpy(), kind="stable")
            left.plot(share, np.cumsum(dormant[order]) / dormant.sum(), label=name)
        if row["spend"] is not None:
            order = np.argsort(-predictions["predicted_spend"].to_numpy(), kind="stable")
            right.plot(share, np.cumsum(spend[order]) / spend.sum(), label=name)
    for ax, title in ((left, "dormant customers captured"), (right, "future revenue captured")):
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
        ax.set(
            xlabel="share of customers, best-ranked first",
            ylabel="share captured",
            title=f"Gains: {title}",
        )
        ax.legend(loc="lower right")
    return _save(fig, path)


def plot_importance(importance: pd.Series, shap_mean_abs: pd.Series, path: Path) -> Path:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5))
    importance.sort_values().plot.barh(ax=left, color="#4c72b0")
    left.set(title="Dormancy model: share of total gain", xlabel="share")
    shap_mean_abs.sort_values().plot.barh(ax=right, color="#dd8452")
    right.set(title="Mean |SHAP contribution| (log-odds)", xlabel="mean |contribution|")
    return _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
