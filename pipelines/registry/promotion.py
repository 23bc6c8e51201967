"""The champion policy: when a newly trained version may replace the champion.

The alias ``champion`` moves only when a new version's held-out dormancy AUC beats the
champion's on the same window, or by an explicit ``winback promote``; either way the
version's tags record the decision and its reason.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sklearn.metrics import roc_auc_score

from features.build import build_features
from pipelines.registry.store import (
    CHAMPION,
    MODEL_NAME,
    PROMOTION_METRIC,
    champion_version,
    client,
    load_scorer,
    resolve_version,
)

__all__ = ["CHAMPION", "champion_auc_on_window", "decide", "promote", "record"]


def champion_auc_on_window(
    history: pd.DataFrame, cutoff: dt.date, horizon_days: int, labels: pd.DataFrame
) -> tuple[float | None, str]:
    """The current champion's held-out dormancy AUC on this run's window, if it is fair.

    * Same window as the champion's own held-out window: its logged held-out AUC (its
      validation model never saw the window).
    * The champion was trained on data up to the window's start at the latest: it is
      scored on the window now.
    * Otherwise the champion has seen the window and no automatic comparison is fair.
    """
    mlflow_client = client()
    current = champion_version(mlflow_client)
    if current is None:
        return None, "no champion yet"
    run = mlflow_client.get_run(current.run_id)
    same_window = run.data.params.get("validation_cutoff") == cutoff.isoformat() and int(
        run.data.params.get("horizon_days", -1)
    ) == int(horizon_days)
    logged = run.data.metrics.get(PROMOTION_METRIC)
    if same_window and logged is not None:
        return float(logged), f"champion v{current.version} AUC {logged:.4f} on the same window"
    scorer, _ = load_scorer(current.version)
    if scorer.trained_as_of > cutoff:
        return None, (
            f"champion v{current.version} was trained up to {scorer.trained_as_of}, after this "
            f"window's start {cutoff}: it has seen the window, so no fair comparison"
        )
    past = history[history["timestamp"].dt.normalize() <= pd.Timestamp(cutoff)]
    features = build_features(past, cutoff, scorer.feature_config).features
    scores = scorer.score_features(features, cutoff).set_index("customer_id")
    truth = labels["dormant"].reindex(scores.index)
    auc = float(roc_auc_score(truth.to_numpy(), scores["p_dormant"].to_numpy()))
    return auc, f"champion v{current.version} AUC {auc:.4f} rescored on the same window"


def decide(
    new_auc: float,
    history: pd.DataFrame,
    cutoff: dt.date,
    horizon_days: int,
    labels: pd.DataFrame,
) -> tuple[bool, str]:
    """Whether a version with held-out AUC ``new_auc`` on ``(cutoff, cutoff + horizon]``
    becomes champion, and why in words."""
    champion_auc, why = champion_auc_on_window(history, cutoff, horizon_days, labels)
    if champion_auc is None and why == "no champion yet":
        return True, f"first model: held-out AUC {new_auc:.4f}"
    if champion_auc is None:
        return False, why + "; use `winback promote` to decide by hand"
    if new_auc > champion_auc:
        return True, f"held-out AUC {new_auc:.4f} beats {why}"
    return False, f"held-out AUC {new_auc:.4f} does not beat {why}"


def record(version: str | int, promoted: bool, reason: str) -> None:
    """Carry out an automatic decision: move the alias, or tag the version not promoted."""
    if promoted:
        promote(version, reason, manual=False)
    else:
        record_not_promoted(version, reason)


def promote(version: str | int, reason: str, manual: bool) -> None:
    """Move the champion alias to ``version`` and record why, on the version's tags."""
    mlflow_client = client()
    resolve_version(version)
    previous = champion_version(mlflow_client)
    mlflow_client.set_registered_model_alias(MODEL_NAME, CHAMPION, str(version))
    tags = {
        "promoted": "true",
        "promotion_reason": reason,
        "promotion": "manual" if manual else "automatic",
        "promoted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "previous_champion": previous.version if previous is not None else "",
    }
    for key, value in tags.items():
        mlflow_client.set_model_version_tag(MODEL_NAME, str(version), key, value)


def record_not_promoted(version: str | int, reason: str) -> None:
    mlflow_client = client()
    mlflow_client.set_model_version_tag(MODEL_NAME, str(version), "promoted", "false")
    mlflow_client.set_model_version_tag(MODEL_NAME, str(version), "promotion_reason", reason)


