"""The out-of-time evaluation harness: the yardstick every model is judged by.

At a cutoff date every candidate (model or baseline) sees only the transactions on or
before the cutoff -- the harness cuts them before handing them over, so no candidate can
peek. Labels come only from the window (cutoff, cutoff + horizon]: ``dormant`` = no purchase
day in the window, ``future_spend`` = net spend in the window. A model that does not beat
the simple baselines here is not shipped as better.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.atomic import write_text_atomic
from features.build import build_features
from features.config import FeatureConfig
from features.errors import WinbackError
from features.table import to_date
from pipelines.training.metrics import dormancy_metrics, spend_metrics


@dataclass(frozen=True)
class EvaluationContext:
    """What a candidate may see: history up to the cutoff, the features built from it, and
    the feature rules they were built with (a candidate that builds features of its own,
    like the XGBoost training, must use the same rules)."""

    history: pd.DataFrame
    features: pd.DataFrame
    cutoff: dt.date
    horizon_days: int
    config: FeatureConfig


@dataclass(frozen=True)
class Candidate:
    """A model or baseline. ``predict`` returns a frame indexed by customer_id with
    ``p_dormant`` (or another dormancy score) and/or ``predicted_spend``."""

    name: str
    kind: str  # "model" or "baseline"
    predict: Callable[[EvaluationContext], pd.DataFrame]
    dormancy_is_probability: bool = True


def window_labels(
    transactions: pd.DataFrame, customers: pd.Index, cutoff: dt.date, horizon_days: int
) -> pd.DataFrame:
    """Per customer: ``dormant`` (no purchase day in the window) and ``future_spend``."""
    start = pd.Timestamp(cutoff) + pd.Timedelta(days=1)
    end = pd.Timestamp(cutoff) + pd.Timedelta(days=horizon_days + 1)
    days = transactions["timestamp"].dt.normalize()
    window = transactions[(days >= start) & (days < end)]
    spend = window.groupby("customer_id")["amount"].sum()
    bought = window[window["amount"] >= 0].groupby("customer_id").size()
    labels = pd.DataFrame(index=customers)
    labels["future_spend"] = spend.reindex(customers, fill_value=0.0).astype(float)
    labels["dormant"] = bought.reindex(customers, fill_value=0).eq(0).astype(int)
    return labels


def check_window_is_complete(transactions: pd.DataFrame, cutoff: dt.date, horizon: int) -> None:
    if transactions.empty:
        raise WinbackError(
            f"no transactions up to {cutoff + dt.timedelta(days=horizon)} (the cutoff {cutoff} "
            f"+ {horizon} days): choose a later --as-of or --cutoff"
        )
    data_end = transactions["timestamp"].max().date()
    window_end = cutoff + dt.timedelta(days=horizon)
    if window_end > data_end:
        raise WinbackError(
            f"label window ({cutoff}, {window_end}] ends after the last transaction "
            f"({data_end}); choose a cutoff on or before {data_end - dt.timedelta(days=horizon)}"
        )


def days_since_last_baseline(context: EvaluationContext) -> pd.DataFrame:
    """The longer the silence, the likelier the dormancy."""
    features = context.features.set_index("customer_id")
    return pd.DataFrame({"p_dormant": features["days_since_last"].astype(float)})


def past_spend_baseline(context: EvaluationContext) -> pd.DataFrame:
    """Customers keep spending at their past daily rate: spend / tenure x horizon."""
    features = context.features.set_index("customer_id")
    daily_rate = features["total_spend"] / features["T"].clip(lower=1)
    return pd.DataFrame({"predicted_spend": daily_rate * context.horizon_days})


BASELINES = (
    Candidate("days_since_last", "baseline", days_since_last_baseline, False),
    Candidate("past_spend", "baseline", past_spend_baseline),
)


@dataclass
class EvaluationResult:
    cutoff: dt.date
    horizon_days: int
    n_customers: int
    dormant_share: float
    actual_spend: float
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Per-candidate predictions and the labels, for plots; not part of the JSON.
    predictions: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    labels: pd.DataFrame | None = field(default=None, repr=False)
    #: The feature table at the cutoff every candidate saw (the BTYD diagnostics' calibration
    #: period, :mod:`pipelines.training.diagnostics`); not part of the JSON.
    features: pd.DataFrame | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff.isoformat(),
            "horizon_days": self.horizon_days,
            "n_customers": self.n_customers,
            "dormant_share": self.dormant_share,
            "actual_spend": self.actual_spend,
            "candidates": self.rows,
        }

    def write_json(self, path: str | Path) -> Path:
        path = Path(path)
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2))
        return path

    def metric(self, candidate: str, task: str, name: str) -> float | None:
        task_metrics = self.rows.get(candidate, {}).get(task)
        return None if task_metrics is None else task_metrics.get(name)


def evaluate(
    transactions: pd.DataFrame,
    cutoff: str | dt.date,
    horizon_days: int,
    candidates: list[Candidate],
    *,
    config: FeatureConfig,
    on_step: Callable[[str], None] = lambda _: None,
) -> EvaluationResult:
    """Score every candidate at ``cutoff`` and judge it on the following ``horizon_days``."""
    cutoff = to_date(cutoff)
    if horizon_days < 1:
        raise WinbackError(f"--horizon-days must be at least 1, got {horizon_days}")
    check_window_is_complete(transactions, cutoff, horizon_days)
    history = transactions[transactions["timestamp"].dt.normalize() <= pd.Timestamp(cutoff)]
    on_step(f"building features at {cutoff}")
    features = build_features(history, cutoff, config).features
    if features.empty:
        raise WinbackError(f"no transaction on or before cutoff {cutoff}")
    context = EvaluationContext(history, features, cutoff, horizon_days, config)
    customers = pd.Index(features["customer_id"], name="customer_id")
    labels = window_labels(transactions, customers, cutoff, horizon_days)
    result = EvaluationResult(
        cutoff=cutoff,
        horizon_days=horizon_days,
        n_customers=len(customers),
        dormant_share=float(labels["dormant"].mean()),
        actual_spend=float(labels["future_spend"].sum()),
        labels=labels,
        features=features,
    )
    for candidate in candidates:
        on_step(f"scoring {candidate.name}")
        predictions = candidate.predict(context).reindex(customers)
        result.predictions[candidate.name] = predictions
        row: dict[str, Any] = {"kind": candidate.kind, "dormancy": None, "spend": None}
        if "p_dormant" in predictions:
            scores = predictions["p_dormant"].to_numpy(dtype=float)
            _require_finite(candidate.name, "p_dormant", scores)
            row["dormancy"] = dormancy_metrics(
                labels["dormant"].to_numpy(), scores, candidate.dormancy_is_probability
            )
        if "predicted_spend" in predictions:
            spend = predictions["predicted_spend"].to_numpy(dtype=float)
            _require_finite(candidate.name, "predicted_spend", spend)
            row["spend"] = spend_metrics(labels["future_spend"].to_numpy(), spend)
        result.rows[candidate.name] = row
    return result


def _require_finite(candidate: str, column: str, values: np.ndarray) -> None:
    if not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).sum())
        raise RuntimeError(f"{candidate} returned {bad} missing or infinite {column} values")
