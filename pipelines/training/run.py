"""``winback train``: evaluate out-of-time, fit, log to MLflow, register, guard the champion."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.metrics import roc_auc_score

from features.build import build_features, to_date
from features.config import load_feature_config
from features.contract import LoadedTransactions
from models.boosting import MODEL_FEATURES, design_matrix, feature_importance
from pipelines.featurize import no_data_before
from pipelines.registry import store as registry
from pipelines.training.evaluation import BASELINES, EvaluationResult, btyd_candidate, evaluate
from pipelines.training.fit import TrainingReport, TrainingSettings, train_scorer, xgboost_candidate
from pipelines.training.plots import plot_calibration, plot_gains, plot_importance, plot_roc


@dataclass
class TrainingOutcome:
    run_id: str
    version: str
    promoted: bool
    reason: str
    evaluation: EvaluationResult
    report: TrainingReport


def data_fingerprint(transactions: pd.DataFrame) -> dict[str, Any]:
    """A content hash plus counts and dates, so a run says exactly what it was trained on."""
    ordered = transactions.sort_values(["customer_id", "timestamp", "amount"], kind="stable")
    row_hashes = pd.util.hash_pandas_object(ordered, index=False).to_numpy()
    return {
        "sha256": hashlib.sha256(row_hashes.tobytes()).hexdigest(),
        "rows": len(transactions),
        "customers": int(transactions["customer_id"].nunique()),
        "first_timestamp": str(transactions["timestamp"].min()),
        "last_timestamp": str(transactions["timestamp"].max()),
    }


def flat_metrics(result: EvaluationResult) -> dict[str, float]:
    """``heldout.<candidate>.<task>.<metric>`` for every scalar metric."""
    flat = {}
    for name, row in result.rows.items():
        for task in ("dormancy", "spend"):
            for metric, value in (row[task] or {}).items():
                if isinstance(value, int | float) and value is not None:
                    flat[f"heldout.{name}.{task}.{metric}"] = float(value)
    flat["heldout.dormant_share"] = result.dormant_share
    return flat


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
    mlflow_client = registry.client()
    current = registry.champion_version(mlflow_client)
    if current is None:
        return None, "no champion yet"
    run = mlflow_client.get_run(current.run_id)
    same_window = run.data.params.get("validation_cutoff") == cutoff.isoformat() and int(
        run.data.params.get("horizon_days", -1)
    ) == int(horizon_days)
    logged = run.data.metrics.get(registry.PROMOTION_METRIC)
    if same_window and logged is not None:
        return float(logged), f"champion v{current.version} AUC {logged:.4f} on the same window"
    scorer, _ = registry.load_scorer(current.version)
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


def run_training(
    loaded: LoadedTransactions,
    as_of: str | dt.date,
    settings: TrainingSettings | None = None,
    on_step: Callable[[str], None] = lambda _: None,
) -> TrainingOutcome:
    as_of = to_date(as_of)
    settings = settings or TrainingSettings()
    config = load_feature_config()
    transactions = loaded.transactions
    history = transactions[transactions["timestamp"].dt.normalize() <= pd.Timestamp(as_of)]
    cutoff = as_of - dt.timedelta(days=settings.horizon_days)

    on_step(f"held-out evaluation on ({cutoff}, {as_of}]")
    candidates = [xgboost_candidate(settings), btyd_candidate("bgnbd"), btyd_candidate("mbgnbd")]
    evaluation = evaluate(
        history,
        cutoff,
        settings.horizon_days,
        candidates + list(BASELINES),
        config=config,
        on_step=on_step,
    )
    scorer, report = train_scorer(history, as_of, settings, config, on_step=on_step)

    on_step("logging to MLflow")
    mlflow = registry.configure_mlflow()
    metrics = flat_metrics(evaluation)
    with mlflow.start_run(run_name=f"train as-of {as_of}") as run:
        mlflow.log_params(
            {
                **settings.flat(),
                "as_of": as_of.isoformat(),
                "validation_cutoff": cutoff.isoformat(),
                "snapshots": ",".join(d.isoformat() for d in report.snapshots),
                "calibration_snapshot": report.calibration_snapshot.isoformat(),
                "n_training_examples": report.n_training_examples,
                "n_calibration_examples": report.n_calibration_examples,
                "feature_schema": json.dumps(list(MODEL_FEATURES)),
                **{f"data.{k}": v for k, v in data_fingerprint(history).items()},
                "data.source": loaded.report.source,
                "data.rows_quarantined": loaded.report.rows_quarantined,
            }
        )
        mlflow.log_metrics(metrics)
        _log_artifacts(mlflow, evaluation, scorer, report.as_of_features, as_of)
        info = registry.log_scorer(mlflow, scorer)
        version = str(info.registered_model_version)
        run_id = run.info.run_id

    new_auc = metrics[registry.PROMOTION_METRIC]
    champion_auc, why = champion_auc_on_window(
        history, cutoff, settings.horizon_days, evaluation.labels
    )
    if champion_auc is None and why == "no champion yet":
        promoted, reason = True, f"first model: held-out AUC {new_auc:.4f}"
    elif champion_auc is None:
        promoted, reason = False, why + "; use `winback promote` to decide by hand"
    elif new_auc > champion_auc:
        promoted, reason = True, f"held-out AUC {new_auc:.4f} beats {why}"
    else:
        promoted, reason = False, f"held-out AUC {new_auc:.4f} does not beat {why}"
    if promoted:
        registry.promote(version, reason, manual=False)
    else:
        registry.record_not_promoted(version, reason)
    mlflow.MlflowClient().set_tag(run_id, "promoted", str(promoted).lower())
    mlflow.MlflowClient().set_tag(run_id, "promotion_reason", reason)
    return TrainingOutcome(run_id, version, promoted, reason, evaluation, report)


def _log_artifacts(
    mlflow: Any,
    evaluation: EvaluationResult,
    scorer: Any,
    features: pd.DataFrame,
    as_of: dt.date,
) -> None:
    """Held-out metrics, importance and SHAP on the as-of ``features`` (by customer_id)."""
    matrix = design_matrix(features, scorer.btyd_predictions(features, as_of))
    importance = feature_importance(scorer.dormancy.booster_)
    contributions = scorer.dormancy.contributions(matrix).drop(columns="bias")
    shap_mean_abs = contributions.abs().mean().sort_values(ascending=False)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        (out / "heldout_metrics.json").write_text(json.dumps(evaluation.to_dict(), indent=2))
        (out / "feature_importance.json").write_text(
            json.dumps(
                {
                    "total_gain_share": importance.to_dict(),
                    "mean_abs_shap": shap_mean_abs.to_dict(),
                },
                indent=2,
            )
        )
        plot_roc(evaluation, out / "roc.png")
        plot_calibration(evaluation, out / "calibration.png")
        plot_gains(evaluation, out / "gains.png")
        plot_importance(importance, shap_mean_abs, out / "importance.png")
        mlflow.log_artifacts(str(out), artifact_path="evaluation")


def score_to_parquet(
    loaded: LoadedTransactions,
    as_of: str | dt.date,
    out: str | Path,
    model_version: str | int | None = None,
    engine: str = "duckdb",
    master: str | None = None,
    spark_conf: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, str]:
    """Score every customer at ``as_of`` with a registered version (champion by default).

    ``engine="spark"`` builds the features with Spark SQL and scores them in
    ``mapInPandas`` (:mod:`pipelines.scoring.spark`); the scores come back to the driver and
    are written by the same code as DuckDB's, so the file is the same either way.
    """
    as_of = to_date(as_of)
    scorer, version = registry.load_scorer(model_version)
    version_text = str(version.version)
    if engine == "spark":
        from pipelines.scoring.spark import score_transactions_spark

        scores = score_transactions_spark(
            loaded.transactions, scorer, as_of, version_text, master, spark_conf
        )
        if scores.empty:
            raise no_data_before(loaded, as_of)
    else:
        table = build_features(loaded.transactions, as_of, scorer.feature_config, engine=engine)
        if table.features.empty:  # score_features refuses an empty table
            raise no_data_before(loaded, as_of)
        scores = scorer.score_features(table.features, as_of, model_version=version_text)
    write_scores_parquet(scores, out, as_of, scorer.horizon_days, version_text)
    return scores, version_text


def write_scores_parquet(
    scores: pd.DataFrame, out: str | Path, as_of: dt.date, horizon_days: int, model_version: str
) -> Path:
    """Write scores with the ``winback.*`` metadata that ``winback rank`` and ``report`` read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(scores, preserve_index=False)
    metadata = dict(arrow.schema.metadata or {})
    metadata.update(
        {
            b"winback.as_of": as_of.isoformat().encode(),
            b"winback.horizon_days": str(horizon_days).encode(),
            b"winback.model_version": model_version.encode(),
        }
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(arrow.replace_schema_metadata(metadata), out)
    return out
