"""Snapshot training: label windows end by the as-of date and nothing leaks across them."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from features.config import FeatureConfig
from features.errors import WinbackError
from pipelines.training.fit import TrainingSettings, snapshot_dates, snapshot_examples, train_scorer

FAST = TrainingSettings(
    max_snapshots=3,
    dormancy_params={"n_estimators": 40},
    spend_params={"n_estimators": 40},
)


def test_every_label_window_ends_by_the_as_of_date():
    as_of = dt.date(1997, 9, 30)
    settings = TrainingSettings(horizon_days=90, snapshot_step_days=30, max_snapshots=12)
    dates = snapshot_dates(dt.date(1997, 1, 1), as_of, settings)
    assert dates[0] == as_of - dt.timedelta(days=90)
    assert all(d + dt.timedelta(days=90) <= as_of for d in dates)
    assert all(d >= dt.date(1997, 1, 31) for d in dates)  # at least 30 days of history
    assert [a - b for a, b in zip(dates, dates[1:], strict=False)] == [dt.timedelta(days=30)] * (
        len(dates) - 1
    )


def test_snapshot_features_ignore_everything_after_the_snapshot(cdnow_transactions):
    snapshot = dt.date(1997, 6, 1)
    window_end = pd.Timestamp(snapshot) + pd.Timedelta(days=90)
    altered = cdnow_transactions.copy()
    after = altered["timestamp"] > pd.Timestamp(snapshot)
    altered.loc[after, "amount"] *= 5  # the future changes...
    beyond = altered["timestamp"] > window_end
    altered = altered[~beyond]  # ...and everything after the label window disappears

    settings = replace(FAST, transaction_model="bgnbd")  # examples need a model, not "auto"
    original = snapshot_examples(cdnow_transactions, snapshot, settings, FeatureConfig())
    changed = snapshot_examples(altered, snapshot, settings, FeatureConfig())
    inputs = [c for c in original.columns if c not in ("dormant", "future_spend")]
    pd.testing.assert_frame_equal(original[inputs], changed[inputs])  # inputs: identical
    pd.testing.assert_series_equal(original["dormant"], changed["dormant"])
    np.testing.assert_allclose(changed["future_spend"], 5 * original["future_spend"])


def test_training_ignores_rows_after_the_as_of_date(cdnow_transactions):
    as_of = pd.Timestamp("1997-09-30")
    truncated = cdnow_transactions[cdnow_transactions["timestamp"] <= as_of]
    full_scorer, _ = train_scorer(cdnow_transactions, as_of, FAST, FeatureConfig())
    truncated_scorer, report = train_scorer(truncated, as_of, FAST, FeatureConfig())
    assert report.calibration_snapshot == dt.date(1997, 7, 2)
    assert full_scorer.to_dict() == truncated_scorer.to_dict()


def test_too_little_history_is_explained(cdnow_transactions):
    with pytest.raises(WinbackError, match="training needs 2"):
        train_scorer(cdnow_transactions, "1997-05-15", FAST, FeatureConfig())
