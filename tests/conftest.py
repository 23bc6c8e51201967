"""Shared fixtures: the real CDNOW data, loaded once per test session."""

from __future__ import annotations

import os

import pandas as pd
import pytest

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session", autouse=True)
def _tests_never_write_the_project_store(tmp_path_factory: pytest.TempPathFactory):
    """Commands that log to MLflow by default (``campaign learn``/``import``) write to a
    throw-away store; tests that need their own store still set it themselves."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        yield
        return
    folder = tmp_path_factory.mktemp("mlflow_default")
    with pytest.MonkeyPatch.context() as patcher:
        patcher.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
        yield


@pytest.fixture(scope="session")
def cdnow_transactions() -> pd.DataFrame:
    """CDNOW as clean contract rows (69,659 transactions, 23,570 customers)."""
    from features.contract import load_transactions

    return load_transactions("cdnow").transactions
