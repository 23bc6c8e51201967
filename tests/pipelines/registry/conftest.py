"""Shared by the registry tests: each test module trains into its own MLflow store."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def store(tmp_path_factory, request):
    """A temporary MLflow store for the whole module (``MLFLOW_TRACKING_URI``)."""
    folder = tmp_path_factory.mktemp(f"mlflow-{request.module.__name__.rsplit('.', 1)[-1]}")
    patcher = pytest.MonkeyPatch()
    patcher.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
    yield folder
    patcher.undo()
