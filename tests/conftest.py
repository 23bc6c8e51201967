"""Shared fixtures: the real CDNOW data, loaded once per test session."""

from __future__ import annotations

import os

import pandas as pd
import pytest

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def cdnow_transactions() -> pd.DataFrame:
    """CDNOW as clean contract rows (69,659 transactions, 23,570 customers)."""
    from features.contract import load_transactions

    return load_transactions("cdnow").transactions
