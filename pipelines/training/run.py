"""``winback train``: evaluate out-of-time, fit, log to MLflow, register, guard the champion."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from features.config import FeatureConfig
from features.contract import LoadedTransactions
from features.table import to_date
from models.boosting import MODEL_FEATURES, design_matrix, feature_importance
from pipelines.registry import promotion
from pipelines.registry import store as registry
from pipelines.registry.housekeeping import owner_tags, promotion_lock
from pipelines.registry.presentation import describe_experiment, log_training_data
from pipelines.registry.versions import describe_version
from pipelines.training.candidates import btyd_candidate, xgboost_candidate
from pipelines.training.evaluation import BASELINES, EvaluationResult, evaluate
from pipelines.training.fit import TrainingReport, TrainingSettings, train_scorer
from pipelines.training.plots import plot_calibration, plot_gains, plot_importance, plot_roc


@dataclass
class TrainingOutcome:
    run_id: str
    version: str
    promoted: bool
    reason: str
    evaluation: EvaluationResult
    report: TrainingReport
    #: Runs of killed trainings this run found and marked FAILED before it started.
    orphans_failed: list[str] = field(default_factory=list)


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


def run_training(
    loaded: LoadedTransactions,
    as_of: str | dt.date,
    settings: TrainingSettings,
    config: FeatureConfig,
    on_step: Callable[[str], None] = lambda _: None,
) -> TrainingOutcome:
    """Evaluate out of time, fit on everything up to ``as_of``, log, register, guard."""
    as_of = to_date(as_of)
    transactions = loaded.transactions
    history = transactions[transactions["timestamp"].dt.normalize() <= pd.Timestamp(as_of)]
    cutoff = as_of - dt.timedelta(days=settings.horizon_days)
    # Before the long part: a broken store fails now, and killed runs are settled.
    orphans = registry.settle_orphaned_runs()

    on_step(f"held-out evaluation on ({cutoff}, {as_of}]")
    held_out: list[Any] = []  # the XGBoost candidate's scorer, trained up to the cutoff
    candidates = [
        xgboost_candidate(settings, on_trained=held_out.append),
        btyd_candidate("bgnbd", settings.penalizer_coef),
        btyd_candidate("mbgnbd", settings.penalizer_coef),
        btyd_candidate("pareto_nbd", settings.penalizer_coef),
    ]
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
    describe_experiment(mlflow, registry.EXPERIMENT)
    metrics = flat_metrics(evaluation)
    fingerprint = data_fingerprint(history)
    # The run stays RUNNING until the promotion decision is recorded: a training killed
    # before it leaves an orphan that the next `winback train` settles.
    with mlflow.start_run(run_name=f"train as-of {as_of}", tags=owner_tags()) as run:
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
                **{f"data.{k}": v for k, v in fingerprint.items()},
                "validation_customers": evaluation.n_customers,
                "data.source": loaded.report.source,
                "data.rows_quarantined": loaded.report.rows_quarantined,
            }
        )
        # Six significant digits are what a held-out metric can tell; the decision uses
        # the unrounded numbers.
        mlflow.log_metrics({k: float(f"{v:.6g}") for k, v in metrics.items()})
        _log_model_choice(mlflow, report)
        log_training_data(mlflow, history, loaded.report.source, fingerprint["sha256"])
        _log_artifacts(mlflow, evaluation, scorer, report.as_of_features, as_of)
        promotion.log_heldout_scorer(mlflow, held_out[0])
        info = registry.log_scorer(mlflow, scorer)
        version = str(info.registered_model_version)
        run_id = run.info.run_id
        promoted, reason = _decide_and_record(
            mlflow, run_id, version, metrics, history, evaluation, fingerprint["sha256"]
        )
        describe_version(
            version,
            as_of.isoformat(),
            f"{loaded.report.source} ({fingerprint['rows']:,} rows, "
            f"{fingerprint['customers']:,} customers)",
            metrics,
            promoted,
            reason,
        )
    return TrainingOutcome(run_id, version, promoted, reason, evaluation, report, orphans)


def _log_model_choice(mlflow: Any, report: TrainingReport) -> None:
    """The transaction-model comparison of the final fit: the winner as a parameter, each
    model's Brier and AUC on the newest snapshot's window as ``choice.<model>.<metric>``,
    and the table as ``model_choice.json``."""
    choice = report.model_choice
    if choice is None:
        return
    mlflow.log_param("transaction_model.chosen", choice.winner)
    mlflow.set_tag("transaction_model", choice.winner)
    mlflow.log_metrics(
        {
            f"choice.{name}.{metric}": float(f"{value:.6g}")
            for name, row in choice.table.items()
            for metric, value in row.items()
            if isinstance(value, float) and value == value  # NaN AUC: one class only
        }
    )
    mlflow.log_dict(choice.to_dict(), "model_choice.json")


def _decide_and_record(
    mlflow: Any,
    run_id: str,
    version: str,
    metrics: dict[str, float],
    history: pd.DataFrame,
    evaluation: EvaluationResult,
    data_sha256: str,
) -> tuple[bool, str]:
    """Check the champion and move the alias as one step under the store's promotion lock,
    so that two concurrent trainings never both become champion; the reason goes on the
    version's and the run's tags."""
    with promotion_lock(registry.tracking_uri()):
        promoted, reason = promotion.decide(
            metrics[registry.PROMOTION_METRIC],
            history,
            evaluation.cutoff,
            evaluation.horizon_days,
            evaluation.labels,
            data_sha256=data_sha256,
        )
        promotion.record(version, promoted, reason)
        mlflow.MlflowClient().set_tag(run_id, "promoted", str(promoted).lower())
        mlflow.MlflowClient().set_tag(run_id, "promotion_reason", reason)
    return promoted, reason


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
        # lifetimes' BTYD diagnostics (pipelines/training/diagnostics.py): evaluation/diagnostics/
        from pipelines.training.diagnostics import write_diagnostics

        write_diagnostics(
            out / "diagnostics", scorer.btyd, features, evaluation, scorer.horizon_days
        )
        mlflow.log_artifacts(str(out), artifact_path="evaluation")
