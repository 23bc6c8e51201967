"""A real scoring server on a free port of 127.0.0.1, started once per test session.

The model is trained on CDNOW up to 1997-09-30 into a temporary MLflow store and made
champion; every customer is scored into a temporary ``scores.parquet``. Training takes the
short path (``train_scorer`` with two snapshots and small boosters, logged and registered
through :mod:`pipelines.registry.store`) rather than ``run_training``, whose held-out evaluation
of every candidate would take most of this suite's time budget; the service reads nothing
the short path does not log.
"""

from __future__ import annotations

import httpx
import pytest
from serving_support import (
    API_KEY,
    HEADER_TIMEOUT_SECONDS,
    ServedModel,
    Server,
    server_env,
    start_server,
    stop_server,
    train_and_score,
)


@pytest.fixture(scope="session")
def served_model(tmp_path_factory) -> ServedModel:
    folder = tmp_path_factory.mktemp("serving")
    patcher = pytest.MonkeyPatch()
    patcher.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
    try:
        yield train_and_score(folder)
    finally:
        patcher.undo()


@pytest.fixture(scope="session")
def server(served_model, tmp_path_factory) -> Server:
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    # A short header timeout, so the slow-client test need not wait the default 10 s.
    env = server_env(served_model, WINBACK_HEADER_TIMEOUT=str(HEADER_TIMEOUT_SECONDS))
    running = start_server(served_model, log_path, env)
    try:
        yield running
    finally:
        stop_server(running.process)


@pytest.fixture
def client(server) -> httpx.Client:
    with httpx.Client(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=120,
    ) as http:
        yield http


@pytest.fixture
def anonymous(server) -> httpx.Client:
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        yield http
