"""What MLflow shows a data scientist: the experiment's purpose, the data a run learned from.

Why: MLflow 3 opens an experiment without a declared kind on its GenAI "Overview" page,
shows an empty Dataset column when the data is logged only as params, and a version page
with no words. The experiments are therefore tagged as custom (classical) model
development with a description (``mlflow.note.content``, shown on the experiment page),
each training logs its transactions as an MLflow dataset input (schema, row count and
digest only; the rows stay where they are), and each version gets a description
(:func:`pipelines.registry.versions.describe_version`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

#: MLflow 3's experiment-kind tag and its value for classical ML (not GenAI).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
CUSTOM_MODEL_DEVELOPMENT = "custom_model_development"
NOTE_TAG = "mlflow.note.content"

DESCRIPTIONS = {
    "winback": (
        "winback scorer training runs: per run, the out-of-time held-out evaluation of "
        "XGBoost, BG/NBD, MBG/NBD and Pareto/NBD against the baselines (metrics "
        "`heldout.*`), the transaction model training chose (param "
        "`transaction_model.chosen`, metrics `choice.*`), the production model trained on "
        "every complete window up to the as-of date, and the champion guard's decision "
        "(tags `promoted`, `promotion_reason`). The registered "
        "model `winback` and its `champion` alias are what `winback score` and "
        "`winback serve` use."
    ),
    "winback-uplift": (
        "winback uplift models learned from randomised campaign logs (`winback campaign "
        "learn` / `import`): held-out Qini and uplift@30% per learner, and the promotion "
        "guard's verdict against the configured prior (tag `promoted`, `guard.reason`)."
    ),
}


def describe_experiment(mlflow: Any, name: str) -> None:
    """Tag experiment ``name`` as classical ML and give it its description (once)."""
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        return
    tags = dict(experiment.tags or {})
    wanted = {EXPERIMENT_KIND_TAG: CUSTOM_MODEL_DEVELOPMENT}
    if name in DESCRIPTIONS:
        wanted[NOTE_TAG] = DESCRIPTIONS[name]
    client = mlflow.MlflowClient()
    for key, value in wanted.items():
        if tags.get(key) != value:
            client.set_experiment_tag(experiment.experiment_id, key, value)


def log_training_data(mlflow: Any, history: pd.DataFrame, source: str, digest: str) -> None:
    """Log the training transactions as the run's dataset input (context ``training``).

    The dataset's digest is the data fingerprint (SHA-256 of the rows) the run also logs as
    a param, so two runs on the same data show the same dataset.
    """
    import warnings

    from mlflow.data.pandas_dataset import from_pandas

    with warnings.catch_warnings():  # "can be interpreted in multiple ways": a local file
        warnings.simplefilter("ignore", UserWarning)
        try:
            dataset = from_pandas(history, source=source, name="transactions", digest=digest[:36])
        except Exception:  # noqa: BLE001 - a source MLflow cannot resolve (e.g. "cdnow")
            dataset = from_pandas(history, name=f"transactions ({source})", digest=digest[:36])
    mlflow.log_input(dataset, context="training")
