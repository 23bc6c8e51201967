"""Uplift models in MLflow: one run per learned model, beside the scorer's runs.

Why runs and not a registered model: the file ``campaign learn`` writes is the model's
contract (plain JSON, no pickles) and ``winback rank`` reads that file; what MLflow adds
is the history a data scientist compares: which log, which learner, the held-out Qini of
every learner, and the guard's verdict against the prior. Each run of the experiment
``winback-uplift`` holds

* params: learner, the features, the options, the source log and its SHA-256, the horizon;
* metrics: rows, ``heldout.<learner>.qini`` and ``.uplift_at_30`` for every learner judged,
  ``random_qini_95``, and the guard's ``guard.difference`` with its ``guard.difference_lower``;
* tags: ``promoted`` (``true``/``false``) and ``guard.reason`` in words;
* the model file itself as the artifact ``uplift_model.json``;
* from ``campaign import``: the decision monitoring of the list that made the campaign.

The store is the scorer's (:func:`pipelines.registry.store.tracking_uri`), so ``mlflow ui``
shows both experiments side by side.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

UPLIFT_EXPERIMENT = "winback-uplift"
ARTIFACT_NAME = "uplift_model.json"


def _metrics(document: Mapping[str, Any]) -> dict[str, float]:
    """Numbers worth plotting across runs (none is computed on training rows)."""
    rows = document.get("rows") or {}
    metrics = {f"rows.{k}": float(rows[k]) for k in ("used", "treatment", "control") if k in rows}
    evaluation = document.get("evaluation") or {}
    for result in evaluation.get("results", []):
        for key in ("qini", "uplift_at_30"):
            if result.get(key) is not None:
                metrics[f"heldout.{result['learner']}.{key}"] = float(result[key])
    if evaluation.get("random_qini_95") is not None:
        metrics["heldout.random_qini_95"] = float(evaluation["random_qini_95"])
    numbers = (document.get("promotion") or {}).get("numbers") or {}
    for key in ("difference", "difference_lower", "difference_upper", "n_rows"):
        if key in numbers:
            metrics[f"guard.{key}"] = float(numbers[key])
    return metrics


def _params(document: Mapping[str, Any]) -> dict[str, str]:
    source = document.get("source") or {}
    options = ", ".join(f"{o['channel']}|{o['offer']}" for o in document.get("options", []))
    params = {
        "learner": str(document.get("learner")),
        "learner_requested": str(document.get("learner_requested", document.get("learner"))),
        "features": ",".join(document.get("features", []))[:500],
        "options": options[:500],
        "first_contact": str(document.get("first_contact")),
        "last_contact": str(document.get("last_contact")),
    }
    for key in ("log", "log_sha256", "transactions", "horizon_days"):
        if key in source:
            params[f"source.{key}"] = str(source[key])[:500]
    return params


def _monitoring_metrics(monitoring: Mapping[str, Any]) -> dict[str, float]:
    """The last list's decisions against what happened (``campaign import``'s monitoring)."""
    value = monitoring.get("value") or {}
    metrics = {
        f"monitoring.{key}": float(value[key])
        for key in ("contacts", "contact_cost", "predicted_value", "realised_value")
        if value.get(key) is not None
    }
    for key in ("predicted_roi", "realised_roi"):
        if value.get(key) is not None:
            metrics[f"monitoring.{key}"] = float(value[key])
    return metrics


def log_uplift_model(
    document: Mapping[str, Any], monitoring: Mapping[str, Any] | None = None
) -> str:
    """Log one uplift model document as an MLflow run; returns the run id.

    ``monitoring``: ``campaign import``'s check of the list that made the campaign
    (predicted vs realised uplift by decile, predicted vs realised value), logged as
    ``monitoring.*`` metrics and the artifact ``monitoring.json`` (issue 13, point 6)."""
    from pipelines.registry.presentation import describe_experiment
    from pipelines.registry.store import configure_mlflow

    mlflow = configure_mlflow()
    if mlflow.get_experiment_by_name(UPLIFT_EXPERIMENT) is None:
        scorer_experiment = mlflow.get_experiment_by_name("winback")
        location = None
        if scorer_experiment is not None and scorer_experiment.artifact_location:
            location = scorer_experiment.artifact_location.rstrip("/") + "-uplift"
        mlflow.create_experiment(UPLIFT_EXPERIMENT, artifact_location=location)
    describe_experiment(mlflow, UPLIFT_EXPERIMENT)
    experiment = mlflow.get_experiment_by_name(UPLIFT_EXPERIMENT)
    promotion = document.get("promotion") or {}
    tags = {
        "promoted": str(bool(promotion.get("promote"))).lower(),
        "guard.reason": str(promotion.get("reason", ""))[:5000],
    }
    with mlflow.start_run(
        experiment_id=experiment.experiment_id,
        run_name=f"uplift-{document.get('learner')}-{document.get('last_contact')}",
        tags=tags,
    ) as run:
        mlflow.log_params(_params(document))
        mlflow.log_metrics({**_metrics(document), **_monitoring_metrics(monitoring or {})})
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / ARTIFACT_NAME
            path.write_text(json.dumps(document, indent=1) + "\n")
            mlflow.log_artifact(str(path))
            if monitoring:
                checked = Path(folder) / "monitoring.json"
                checked.write_text(json.dumps(monitoring, indent=1) + "\n")
                mlflow.log_artifact(str(checked))
        return str(run.info.run_id)
