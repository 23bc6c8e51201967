"""Fixtures for the win-back economics tests: a STAND-IN scores table (test fixture only).

The real scorer (models/) writes ``scores.parquet``. Until it lands, and so that these tests
do not depend on model fitting, :func:`stand_in_scores` derives the scorer's columns from
the CDNOW features with simple, honest formulas. Product code never imports this: it only
relies on the scores column contract, so the real scorer drops in.

The stand-in: a customer is alive with a probability that falls with the number of their own
cycles missed (logistic, half at 2.5 cycles); an alive customer buys at their past daily rate
``(frequency + 1) / max(T, 30)``; purchases are Poisson over the horizon.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

STAND_IN_AS_OF = dt.date(1998, 6, 30)
STAND_IN_HORIZON_DAYS = 90
STAND_IN_LIFETIME_DAYS = 730
STAND_IN_MODEL_VERSION = "stand-in-test-fixture"


def stand_in_scores(
    features: pd.DataFrame, horizon_days: int = STAND_IN_HORIZON_DAYS
) -> pd.DataFrame:
    """The feature table plus stand-in score columns (see the module docstring)."""
    scores = features.copy()
    overdue = scores["overdue_cycles"].to_numpy(float)
    p_alive = 1.0 / (1.0 + np.exp(1.5 * (overdue - 2.5)))
    daily_rate = (scores["frequency"].to_numpy(float) + 1.0) / np.maximum(
        scores["T"].to_numpy(float), 30.0
    )
    expected_purchases = p_alive * daily_rate * horizon_days
    p_buy_if_alive = 1.0 - np.exp(-daily_rate * horizon_days)
    average = scores["avg_order_value"].to_numpy(float)
    scores["p_dormant"] = 1.0 - p_alive * p_buy_if_alive
    scores["p_alive"] = p_alive
    scores["expected_purchases"] = expected_purchases
    scores["predicted_spend"] = average * expected_purchases
    scores["clv"] = average * p_alive * daily_rate * STAND_IN_LIFETIME_DAYS
    cycles_ahead = np.floor(scores["days_since_last"] / scores["typical_gap_days"]) + 1
    next_order = pd.to_datetime(scores["last_purchase"]) + pd.to_timedelta(
        np.round(cycles_ahead * scores["typical_gap_days"]), unit="D"
    )
    scores["expected_next_order_date"] = next_order.where(p_alive >= 0.05)
    scores["model_version"] = STAND_IN_MODEL_VERSION
    return scores


def write_scores(
    scores: pd.DataFrame,
    path: Path,
    as_of: dt.date = STAND_IN_AS_OF,
    horizon_days: int = STAND_IN_HORIZON_DAYS,
) -> Path:
    """Write like the scorer: Parquet with ``winback.as_of`` and ``winback.horizon_days``."""
    table = pa.Table.from_pandas(scores, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    metadata[b"winback.as_of"] = as_of.isoformat().encode()
    metadata[b"winback.horizon_days"] = str(horizon_days).encode()
    pq.write_table(table.replace_schema_metadata(metadata), path)
    return path


@pytest.fixture(scope="session")
def cdnow_features(cdnow_transactions: pd.DataFrame) -> pd.DataFrame:
    from features.build import build_features
    from features.config import load_feature_config

    return build_features(cdnow_transactions, STAND_IN_AS_OF, load_feature_config()).features


@pytest.fixture(scope="session")
def cdnow_scores(cdnow_features: pd.DataFrame) -> pd.DataFrame:
    """Stand-in scores for CDNOW at 1998-06-30 (a test fixture, not a model)."""
    return stand_in_scores(cdnow_features)


@pytest.fixture(scope="session")
def cdnow_scores_path(cdnow_scores: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_scores(cdnow_scores, tmp_path_factory.mktemp("scores") / "scores.parquet")


@pytest.fixture(scope="session")
def stand_in_scorer():
    """:func:`stand_in_scores`, for tests that score features of their own as-of date."""
    return stand_in_scores


@pytest.fixture(scope="session")
def scores_writer():
    """:func:`write_scores`, for tests that write their own scores file."""
    return write_scores


@pytest.fixture(scope="session")
def small_scores_path(cdnow_scores: pd.DataFrame, scores_writer, tmp_path_factory) -> Path:
    """Sleeping and at-risk CDNOW customers only: the commands' tests run faster on it."""
    import pyarrow.parquet as pq

    subset = cdnow_scores[cdnow_scores["status"].isin(["sleeping", "at_risk"])]
    path = scores_writer(subset, tmp_path_factory.mktemp("small") / "scores.parquet")
    assert pq.read_schema(path).metadata[b"winback.horizon_days"] == b"90"
    return path
