"""MLflow access: where runs are tracked, how the scorer is stored and found again.

The tracking URI comes from ``MLFLOW_TRACKING_URI``; the default is a SQLite store under
the project's ``mlflow/`` folder with artifacts beside it. The registered model is
``winback``; the alias ``champion`` marks the version the service and ``winback score``
use. Who may become champion is decided in :mod:`pipelines.registry.promotion`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import io
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import RegistryError, WinbackError
from models.scorer import WinbackScorer
from pipelines.paths import MLFLOW_DIR
from pipelines.registry import housekeeping, read_cache

MODEL_NAME = "winback"
CHAMPION = "champion"
EXPERIMENT = "winback"
PROMOTION_METRIC = "heldout.xgboost.dormancy.auc"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{MLFLOW_DIR / 'mlflow.db'}"


def configure_mlflow() -> Any:
    """Point MLflow at our store and make sure the experiment exists. Returns ``mlflow``."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)

    uri = tracking_uri()
    with store_faults():
        if uri.startswith("sqlite:///"):
            Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        if mlflow.get_experiment_by_name(EXPERIMENT) is None:
            artifacts = None
            if uri.startswith("sqlite:///"):
                folder = Path(uri.removeprefix("sqlite:///")).parent / "artifacts"
                artifacts = folder.resolve().as_uri()
            mlflow.create_experiment(EXPERIMENT, artifact_location=artifacts)
        mlflow.set_experiment(EXPERIMENT)
    return mlflow


def settle_orphaned_runs() -> list[str]:
    """Mark the runs of killed trainings FAILED and their undecided versions not promoted
    (see :mod:`pipelines.registry.housekeeping`); returns the run ids it marked."""
    mlflow = configure_mlflow()
    with store_faults():
        experiment = mlflow.get_experiment_by_name(EXPERIMENT)
        return housekeeping.fail_orphaned_runs(
            mlflow.MlflowClient(), experiment.experiment_id, MODEL_NAME
        )


def _store_fault_types() -> tuple[type[BaseException], ...]:
    """What a damaged or unreachable store raises: MLflow's own errors, SQLAlchemy's and
    sqlite3's (a truncated ``mlflow.db`` fails before MLflow can wrap it), and I/O."""
    import sqlite3

    import sqlalchemy.exc
    from mlflow.exceptions import MlflowException

    return (MlflowException, sqlalchemy.exc.SQLAlchemyError, sqlite3.Error, OSError)


def _short(error: BaseException) -> str:
    """The first line of an error, capped: SQLAlchemy appends the SQL and a URL."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    return lines[0][:200]


@contextlib.contextmanager
def store_faults() -> Iterator[None]:
    """The registry boundary: a store that cannot be read becomes one :class:`RegistryError`
    line (exit code 1) naming the store and what to do, instead of a 100-line traceback.
    Expected answers (no champion, an unknown version) are handled by the callers first."""
    try:
        yield
    except WinbackError:
        raise
    except _store_fault_types() as error:
        raise RegistryError(
            f"the model registry at {tracking_uri()} cannot be read ({_short(error)}); "
            "restore its database from a backup, or set MLFLOW_TRACKING_URI to a working "
            "store (a new, empty one is filled by `winback train`)"
        ) from None


def _requirements() -> list[str]:
    names = (
        "pandas",
        "numpy",
        "scipy",
        "scikit-learn",
        "xgboost",
        "lifetimes",
        "duckdb",
        "pyarrow",
        "pyyaml",
    )
    return [f"{name}=={importlib.metadata.version(name)}" for name in names]


def _signature() -> Any:
    from mlflow.models import infer_signature

    example_in = pd.DataFrame(
        {"customer_id": ["c1"], "timestamp": [pd.Timestamp("2024-01-01")], "amount": [1.0]}
    )
    example_out = pd.DataFrame(
        {
            "customer_id": ["c1"],
            "p_dormant": [0.5],
            "p_alive": [0.5],
            "expected_purchases": [0.1],
            "predicted_spend": [1.0],
            "clv": [1.0],
        }
    )
    return infer_signature(example_in, example_out, params={"as_of": "2024-01-31"})


def log_scorer(mlflow: Any, scorer: WinbackScorer) -> Any:
    """Log the scorer as a pyfunc under ``model`` and register it as ``winback``.

    MLflow narrates this step on stderr (uv files copied, pickling advice, "Successfully
    registered"); the CLI reports the outcome itself, so the narration is captured.
    """
    with (
        tempfile.TemporaryDirectory() as folder,
        warnings.catch_warnings(),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        # Imported here: mlflow.pyfunc costs seconds, and readers of the registry
        # (``load_registered``) often never need it.
        from pipelines.registry.pyfunc import WinbackPythonModel

        path = scorer.save(Path(folder) / "scorer.json")
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=WinbackPythonModel(),
            artifacts={"scorer": str(path)},
            signature=_signature(),
            pip_requirements=_requirements(),
            registered_model_name=MODEL_NAME,
        )


@dataclass
class ModelVersionInfo:
    version: str
    run_id: str
    aliases: list[str]
    tags: dict[str, str]
    created: str


def client() -> Any:
    mlflow = configure_mlflow()
    return mlflow.MlflowClient()


def champion_version(mlflow_client: Any) -> Any | None:
    from mlflow.exceptions import MlflowException

    with store_faults():
        try:
            return mlflow_client.get_model_version_by_alias(MODEL_NAME, CHAMPION)
        except MlflowException as error:
            # Not registered yet, or no alias: no champion. Anything else is a fault.
            if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise


def resolve_version(version: str | int | None) -> Any:
    """A registered version by number, or the champion when ``version`` is None."""
    from mlflow.exceptions import MlflowException

    mlflow_client = client()
    if version is None:
        found = champion_version(mlflow_client)
        if found is None:
            raise WinbackError(
                f"no '{CHAMPION}' model in the registry at {tracking_uri()}; "
                "run `winback train` first"
            )
        return found
    with store_faults():
        try:
            return mlflow_client.get_model_version(MODEL_NAME, str(version))
        except MlflowException as error:
            if error.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise
    raise WinbackError(f"model version {version} of '{MODEL_NAME}' not found at {tracking_uri()}")


def load_scorer(version: str | int | None = None) -> tuple[WinbackScorer, Any]:
    """The registered scorer (champion by default) and its MLflow model version."""
    model_version = resolve_version(version)
    import mlflow.pyfunc

    damaged = (*_store_fault_types(), EOFError, KeyError, ValueError, ImportError)
    try:
        with tempfile.TemporaryDirectory(prefix="winback-model-") as local:
            # mlflow's own requirement check scans every installed distribution (0.5 s or
            # more per load, issue 18); the pins the model was logged with are compared
            # here instead, one version lookup each.
            model = mlflow.pyfunc.load_model(
                f"models:/{MODEL_NAME}/{model_version.version}",
                suppress_warnings=True,
                dst_path=local,
            )
            warn_requirement_mismatches(Path(local) / "requirements.txt", model_version.version)
        return model.unwrap_python_model().scorer, model_version
    except WinbackError:
        raise
    except damaged as error:  # files deleted, truncated or unreadable
        raise RegistryError(
            f"the model files of {MODEL_NAME} v{model_version.version} in the registry at "
            f"{tracking_uri()} cannot be loaded ({_short(error)}); "
            "restore the store's artifacts folder, make another version champion with "
            "`winback promote --version N --reason ...`, or run `winback train`"
        ) from None


def requirement_mismatches(requirements: Path | str) -> list[str]:
    """``name==logged (installed here: x)`` for every pin of a model's requirements file
    (a path, or the file's text) that the running environment does not satisfy; none when
    the file is missing."""
    if isinstance(requirements, Path):
        if not requirements.is_file():
            return []
        requirements = requirements.read_text()
    mismatches = []
    for line in requirements.splitlines():
        name, _, logged = line.strip().partition("==")
        if not logged or line.lstrip().startswith("#"):
            continue
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != logged:
            mismatches.append(f"{name}=={logged} (installed here: {installed})")
    return mismatches


def warn_requirement_mismatches(requirements: Path | str, version: str | int) -> None:
    """One warning line when the scorer was logged with other library versions."""
    mismatches = requirement_mismatches(requirements)
    if mismatches:
        logging.getLogger(__name__).warning(
            "%s v%s was logged with %s; scores may differ from the training run's",
            MODEL_NAME,
            version,
            ", ".join(mismatches),
        )


@dataclass(frozen=True)
class RegisteredScorer:
    """A registered version as a reader needs it: the scorer, its version number and
    :func:`version_metadata`."""

    scorer: WinbackScorer
    version: str
    metadata: dict[str, Any]


def load_registered(version: str | int | None = None) -> RegisteredScorer:
    """The scorer, version and metadata of a registered version (champion by default).

    For commands that only read the registry (``score``, ``serve``): when
    the store is a local SQLite file that has not changed since the last read of the same
    version, the answer comes from :mod:`pipelines.registry.read_cache` without importing
    MLflow (5-8 s, issue 18); otherwise it is read through MLflow, with the same errors
    as :func:`load_scorer`, and cached.
    """
    reference = CHAMPION if version is None else str(version)
    uri = tracking_uri()
    cached = read_cache.lookup(uri, reference)
    if cached is not None:
        warn_requirement_mismatches(cached.requirements, cached.version)
        scorer = WinbackScorer.from_dict(cached.scorer_state)
        return RegisteredScorer(scorer, cached.version, cached.metadata)
    database = read_cache.database_path(uri)
    before = read_cache.store_fingerprint(database) if database is not None else None
    scorer, model_version = load_scorer(version)
    metadata = version_metadata(model_version)
    number = str(model_version.version)
    with store_faults():
        download = client().get_model_version_download_uri(MODEL_NAME, number)
    read_cache.remember(uri, reference, download, number, metadata, before)
    return RegisteredScorer(scorer, number, metadata)


def version_metadata(model_version: Any) -> dict[str, Any]:
    """Name, version, training date, held-out metrics and feature schema of a version."""
    mlflow_client = client()
    with store_faults():
        run = mlflow_client.get_run(model_version.run_id)
    metrics = {k: v for k, v in run.data.metrics.items() if k.startswith("heldout.")}
    schema = json.loads(run.data.params.get("feature_schema", "[]"))
    return {
        "model_name": MODEL_NAME,
        "model_version": str(model_version.version),
        "aliases": list(getattr(model_version, "aliases", []) or []),
        "run_id": model_version.run_id,
        "trained_at": dt.datetime.fromtimestamp(run.info.start_time / 1000, dt.UTC).isoformat(
            timespec="seconds"
        ),
        "trained_as_of": run.data.params.get("as_of"),
        "validation_cutoff": run.data.params.get("validation_cutoff"),
        "horizon_days": run.data.params.get("horizon_days"),
        "heldout_metrics": metrics,
        "feature_schema": schema,
    }
