"""Helpers of the serving tests: a small registered model, and a real server process."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

from serving.launcher import free_port, server_command, stop_server

AS_OF = "1997-09-30"
API_KEY = "test-key-" + secrets.token_urlsafe(24)
SECOND_KEY = "second-key-" + secrets.token_urlsafe(24)
STARTUP_TIMEOUT = 240


@dataclass
class ServedModel:
    folder: Path
    tracking_uri: str
    scores_path: Path
    version: str
    transactions: pd.DataFrame
    scores: pd.DataFrame


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen
    log_path: Path
    model: ServedModel


#: The session server's header timeout (WINBACK_HEADER_TIMEOUT), in seconds.
HEADER_TIMEOUT_SECONDS = 2


def train_and_score(folder: Path) -> ServedModel:
    """Register a small champion in a store under ``folder`` and score CDNOW with it."""
    from features.config import load_feature_config
    from features.contract import load_transactions
    from models.boosting import MODEL_FEATURES
    from pipelines.registry import promotion
    from pipelines.registry import store as registry
    from pipelines.scoring.batch import score_to_parquet
    from pipelines.training.fit import TrainingSettings, train_scorer

    loaded = load_transactions("cdnow")
    settings = TrainingSettings(
        max_snapshots=2,
        dormancy_params={"n_estimators": 40},
        spend_params={"n_estimators": 40},
    )
    scorer, _ = train_scorer(loaded.transactions, AS_OF, settings, load_feature_config())
    mlflow = registry.configure_mlflow()
    with mlflow.start_run(run_name="serving tests"):
        mlflow.log_params(
            {
                "as_of": AS_OF,
                "validation_cutoff": "1997-07-02",
                "horizon_days": settings.horizon_days,
                "feature_schema": json.dumps(list(MODEL_FEATURES)),
            }
        )
        info = registry.log_scorer(mlflow, scorer)
    version = str(info.registered_model_version)
    promotion.promote(version, "serving tests", manual=True)
    scores_path = folder / "scores.parquet"
    scores, _ = score_to_parquet(loaded, AS_OF, scores_path)
    return ServedModel(
        folder=folder,
        tracking_uri=registry.tracking_uri(),
        scores_path=scores_path,
        version=version,
        transactions=loaded.transactions,
        scores=scores,
    )


def server_env(model: ServedModel, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("WINBACK_") and key != "MLFLOW_TRACKING_URI"
    }
    env.update(
        {
            "BENTOML_DO_NOT_TRACK": "true",
            "MLFLOW_TRACKING_URI": model.tracking_uri,
            "WINBACK_SCORES": str(model.scores_path),
            "WINBACK_API_KEYS": f"{API_KEY}, {SECOND_KEY}",
        }
    )
    env.update(extra)
    return env


def start_server(model: ServedModel, log_path: Path, env: dict[str, str]) -> Server:
    """``bentoml serve`` on a free loopback port; returns once ``/readyz`` answers 200."""
    port = free_port()
    log = log_path.open("wb")
    process = subprocess.Popen(
        server_command("127.0.0.1", port),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return Server(base_url, process, log_path, model)
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    stop_server(process)
    tail = log_path.read_text(errors="replace")[-3000:]
    pytest.fail(f"server did not become ready within {STARTUP_TIMEOUT}s:\n{tail}")


def transactions_of(transactions: pd.DataFrame, customer_id: str, as_of: str = AS_OF) -> list[dict]:
    """A customer's contract rows up to ``as_of`` as the JSON the service takes."""
    rows = transactions[
        (transactions["customer_id"] == customer_id)
        & (transactions["timestamp"] <= pd.Timestamp(as_of))
    ]
    return [
        {"timestamp": row.timestamp.isoformat(), "amount": float(row.amount),
         "quantity": float(row.quantity)}
        for row in rows.itertuples()
    ]  # fmt: skip
