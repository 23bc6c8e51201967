"""Helpers of the serving tests: a small registered model, and a real server process.

The model's recipe is :mod:`benchmarks.serving_model` (shared with the serving benchmarks).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

from benchmarks.serving_model import AS_OF, ServedModel, train_and_score  # noqa: F401 (re-exported)
from serving.launcher import free_port, server_command, stop_server

API_KEY = "test-key-" + secrets.token_urlsafe(24)
SECOND_KEY = "second-key-" + secrets.token_urlsafe(24)
STARTUP_TIMEOUT = 240


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen
    log_path: Path
    model: ServedModel


#: The session server's header timeout (WINBACK_HEADER_TIMEOUT), in seconds.
HEADER_TIMEOUT_SECONDS = 2


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
