"""The champion policy: when a newly trained version may replace the champion.

The alias ``champion`` moves only when a new version's held-out dormancy AUC beats the
champion's on the same window *and the same customers* (the new training data's, with the
champion re-scored on them), or by an explicit ``winback promote``; either way the
version's tags record the decision and its reason. A challenger trained on an easy subset
of customers would otherwise look better than a champion judged on everyone.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.metrics import roc_auc_score

from features.build import build_features
from models.scorer import WinbackScorer
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

NO_CHAMPION = "no champion yet"
#: The tags of one promotion decision; earlier decisions are kept in HISTORY_TAG.
DECISION_TAGS = ("promoted", "promotion", "promotion_reason", "promoted_at", "previous_champion")
HISTORY_TAG = "promotion_history"
MAX_HISTORY_CHARS = 4000  # MLflow caps a model-version tag value at 5,000 characters
#: Where a training run logs the scorer its held-out AUC was measured with.
HELDOUT_SCORER = "validation/scorer.json"


def log_heldout_scorer(mlflow: Any, scorer: WinbackScorer) -> None:
    """Log the scorer trained up to the validation cutoff (the one the held-out AUC was
    measured with), so that a later run can re-score it on *its* customers: AUCs measured
    on different populations are never compared."""
    with tempfile.TemporaryDirectory() as folder:
        path = scorer.save(Path(folder) / "scorer.json")
        mlflow.log_artifact(str(path), artifact_path=HELDOUT_SCORER.split("/")[0])


def _heldout_scorer(run_id: str) -> WinbackScorer | None:
    """The champion run's held-out scorer, or None for runs logged before it existed."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    try:
        with tempfile.TemporaryDirectory() as folder:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=HELDOUT_SCORER, dst_path=folder
            )
            return WinbackScorer.load(local)
    except (MlflowException, OSError, KeyError, ValueError):
        return None


def rescored_auc(
    scorer: WinbackScorer, history: pd.DataFrame, cutoff: dt.date, labels: pd.DataFrame
) -> tuple[float | None, str]:
    """``scorer``'s dormancy AUC on exactly the customers of ``labels`` (the challenger's
    population at ``cutoff``), with features built from ``history`` up to the cutoff."""
    past = history[history["timestamp"].dt.normalize() <= pd.Timestamp(cutoff)]
    features = build_features(past, cutoff, scorer.feature_config).features
    scores = scorer.score_features(features, cutoff).set_index("customer_id")["p_dormant"]
    scores = scores.reindex(labels.index)
    missing = int(scores.isna().sum())
    if missing:
        return None, f"it could not score {missing:,} of the {len(labels):,} customers"
    truth = labels["dormant"].to_numpy()
    if len(set(truth)) < 2:
        return None, "every customer of the window has the same label, so AUC is undefined"
    return float(roc_auc_score(truth, scores.to_numpy())), ""


def champion_auc_on_window(
    history: pd.DataFrame,
    cutoff: dt.date,
    horizon_days: int,
    labels: pd.DataFrame,
    data_sha256: str | None = None,
) -> tuple[float | None, str]:
    """The current champion's held-out dormancy AUC on this run's window *and customers*.

    The challenger's AUC is measured on the customers of its own training data at the
    cutoff (``labels``), so the champion is scored on exactly those customers:

    * its held-out scorer (trained up to the same cutoff, logged by its run) re-scored on
      them: it never saw the window;
    * or, when the champion was trained up to the window's start at the latest, the
      champion itself re-scored on them;
    * or, for the very same data (same fingerprint) and window, its logged held-out AUC.

    Otherwise no fair comparison exists: None, with the reason.
    """
    mlflow_client = client()
    current = champion_version(mlflow_client)
    if current is None:
        return None, NO_CHAMPION
    name = f"champion v{current.version}"
    customers = f"the same window and the same {len(labels):,} customers"
    run = mlflow_client.get_run(current.run_id)
    params, logged = run.data.params, run.data.metrics.get(PROMOTION_METRIC)
    same_window = params.get("validation_cutoff") == cutoff.isoformat() and int(
        params.get("horizon_days", -1)
    ) == int(horizon_days)
    if same_window:
        heldout = _heldout_scorer(current.run_id)
        if heldout is not None:
            auc, why_not = rescored_auc(heldout, history, cutoff, labels)
            if auc is None:
                return None, f"{name}'s held-out model cannot be compared: {why_not}"
            return auc, f"{name}'s held-out model, AUC {auc:.4f} re-scored on {customers}"
        if logged is not None and data_sha256 and params.get("data.sha256") == data_sha256:
            return float(logged), f"{name} AUC {logged:.4f} on the same window and the same data"
    scorer, _ = load_scorer(current.version)
    if scorer.trained_as_of > cutoff:
        return None, (
            f"{name} was trained up to {scorer.trained_as_of}, after this window's start "
            f"{cutoff}, and has no held-out model that can be re-scored on this run's "
            f"{len(labels):,} customers: no fair comparison"
        )
    auc, why_not = rescored_auc(scorer, history, cutoff, labels)
    if auc is None:
        return None, f"{name} cannot be compared: {why_not}"
    return auc, f"{name} AUC {auc:.4f} re-scored on {customers}"


def decide(
    new_auc: float,
    history: pd.DataFrame,
    cutoff: dt.date,
    horizon_days: int,
    labels: pd.DataFrame,
    data_sha256: str | None = None,
) -> tuple[bool, str]:
    """Whether a version with held-out AUC ``new_auc`` on ``(cutoff, cutoff + horizon]``
    (measured on the customers of ``labels``) becomes champion, and why in words."""
    champion_auc, why = champion_auc_on_window(history, cutoff, horizon_days, labels, data_sha256)
    if champion_auc is None and why == NO_CHAMPION:
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
    found = resolve_version(version)
    previous = champion_version(mlflow_client)
    _keep_history(mlflow_client, found)
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


def _keep_history(mlflow_client: Any, model_version: Any) -> None:
    """Append the version's current decision to its ``promotion_history`` tag (JSON, oldest
    first) before a new one replaces it: a manual promotion never erases the automatic
    decision and its reason. The oldest entries go first if the tag would grow too long."""
    tags = dict(model_version.tags or {})
    current = {key: tags[key] for key in DECISION_TAGS if key in tags}
    if not current:
        return
    try:
        history = json.loads(tags.get(HISTORY_TAG, "[]"))
    except ValueError:
        history = [{"unreadable_history": tags.get(HISTORY_TAG, "")[:200]}]
    history.append(current)
    text = json.dumps(history)
    while len(text) > MAX_HISTORY_CHARS and len(history) > 1:
        history.pop(0)
        text = json.dumps(history)
    version = str(model_version.version)
    mlflow_client.set_model_version_tag(MODEL_NAME, version, HISTORY_TAG, text)


def record_not_promoted(version: str | int, reason: str) -> None:
    mlflow_client = client()
    _keep_history(mlflow_client, resolve_version(version))
    mlflow_client.set_model_version_tag(MODEL_NAME, str(version), "promoted", "false")
    mlflow_client.set_model_version_tag(MODEL_NAME, str(version), "promotion_reason", reason)
