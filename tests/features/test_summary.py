"""The drop-in summary equals lifetimes' ``summary_data_from_transaction_data`` exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifetimes import utils as lifetimes_utils

from features.errors import WinbackError
from features.summary import summary_data_from_transaction_data


def assert_same_summary(ours: pd.DataFrame, reference: pd.DataFrame) -> None:
    """Same index (values and order), columns, dtypes; counts exact, means to float noise."""
    assert list(ours.columns) == list(reference.columns)
    assert ours.index.name == reference.index.name
    assert ours.index.tolist() == reference.index.tolist()
    assert (ours.dtypes == reference.dtypes).all()
    for column in ("frequency", "recency", "T"):
        np.testing.assert_array_equal(ours[column].to_numpy(), reference[column].to_numpy())
    if "monetary_value" in reference:
        np.testing.assert_allclose(
            ours["monetary_value"], reference["monetary_value"], rtol=1e-12, atol=1e-9
        )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"monetary_value_col": "amount"},
        {"monetary_value_col": "amount", "observation_period_end": "1997-09-30"},
        {"monetary_value_col": "amount", "observation_period_end": "1997-09-30", "freq": "W"},
        {"monetary_value_col": "amount", "include_first_transaction": True},
        {"observation_period_end": "1998-01-15", "freq_multiplier": 7},
        {"observation_period_end": "1997-03-01"},
    ],
    ids=["all", "as-of", "weekly", "with-first", "no-money-multiplier", "early"],
)
def test_equals_lifetimes_on_cdnow(cdnow_transactions, kwargs):
    args = (cdnow_transactions, "customer_id", "timestamp")
    ours = summary_data_from_transaction_data(*args, **kwargs)
    reference = lifetimes_utils.summary_data_from_transaction_data(*args, **kwargs)
    assert len(reference) > 1000
    assert_same_summary(ours, reference)


def test_equals_lifetimes_on_intraday_returns_and_hours():
    """Times of day, several lines a day, a return-only day, integer ids, hourly periods."""
    rng = np.random.default_rng(7)
    n = 3_000
    frame = pd.DataFrame(
        {
            "cust": rng.integers(0, 200, n),
            "when": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 90 * 24 * 60, n), unit="min"),
            "value": np.round(rng.normal(30, 25, n), 2),
        }
    )
    for freq in ("D", "W", "h"):
        kwargs = {
            "monetary_value_col": "value",
            "observation_period_end": "2024-03-01",
            "freq": freq,
        }
        ours = summary_data_from_transaction_data(frame, "cust", "when", **kwargs)
        reference = lifetimes_utils.summary_data_from_transaction_data(
            frame, "cust", "when", **kwargs
        )
        assert_same_summary(ours, reference)


def test_string_datetimes_with_a_format():
    frame = pd.DataFrame(
        {"id": ["a", "a", "b"], "date": ["20240105", "20240110", "20240107"], "x": [1.0, 3.0, 2.0]}
    )
    ours = summary_data_from_transaction_data(frame, "id", "date", "x", datetime_format="%Y%m%d")
    assert ours.loc["a"].tolist() == [1.0, 5.0, 5.0, 3.0]
    assert ours.loc["b"].tolist() == [0.0, 0.0, 3.0, 0.0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"freq": "M"}, "freq='M' is not supported"),
        ({"customer_id_col": "who"}, "no column(s) 'who'"),
    ],
)
def test_bad_arguments_name_the_problem(change, message):
    frame = pd.DataFrame({"id": ["a"], "date": [pd.Timestamp("2024-01-01")], "x": [1.0]})
    kwargs = {"customer_id_col": "id", "datetime_col": "date", "monetary_value_col": "x"}
    with pytest.raises(WinbackError, match=message.replace("(", r"\(").replace(")", r"\)")):
        summary_data_from_transaction_data(frame, **{**kwargs, **change})


def test_missing_values_are_an_error_not_a_silent_drop():
    frame = pd.DataFrame(
        {"id": ["a", None], "date": [pd.Timestamp("2024-01-01")] * 2, "x": [1.0, 2.0]}
    )
    with pytest.raises(WinbackError, match="column 'id' has 1 missing value"):
        summary_data_from_transaction_data(frame, "id", "date", "x")


def test_no_rows_is_an_error():
    frame = pd.DataFrame(
        {"id": pd.Series([], dtype=str), "date": pd.Series([], dtype="datetime64[us]")}
    )
    with pytest.raises(WinbackError, match="transactions have no rows"):
        summary_data_from_transaction_data(frame, "id", "date")
