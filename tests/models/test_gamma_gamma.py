"""Gamma-Gamma: lifetimes' estimates, expected profit and CLV, and recovery from simulation."""

from __future__ import annotations

import importlib.resources
import json
import pickle

import numpy as np
import pandas as pd
import pytest

from features.datasets import load_cdnow_raw
from models import BetaGeoModel, GammaGammaModel, ModifiedBetaGeoModel, generate_transactions

#: Fader, Hardie & Lee (2005), published to two decimals: tolerance half a unit of the last.
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "v": 15.45}


@pytest.fixture(scope="module")
def cdnow_spend() -> pd.DataFrame:
    """lifetimes' shipped summary with average spend (2,357 customers, 946 repeat buyers)."""
    path = (
        importlib.resources.files("lifetimes")
        / "datasets"
        / "cdnow_customers_summary_with_transactions.csv"
    )
    frame = pd.read_csv(str(path), index_col="ID")
    return frame.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"})


@pytest.fixture(scope="module")
def cdnow_daily() -> pd.DataFrame:
    """Full CDNOW, summarised per customer in days (23,570 customers; some spend 0)."""
    from lifetimes.utils import summary_data_from_transaction_data

    return summary_data_from_transaction_data(
        load_cdnow_raw(), "customer_id", "timestamp", monetary_value_col="amount"
    )


def _repeat_buyers(features: pd.DataFrame) -> pd.DataFrame:
    return features[(features["frequency"] > 0) & (features["monetary_value"] > 0)]


def test_reproduces_published_cdnow_parameters(cdnow_spend: pd.DataFrame) -> None:
    params = GammaGammaModel().fit(cdnow_spend).params_
    for name, published in PUBLISHED_GG.items():
        assert params[name] == pytest.approx(published, abs=5e-3)


@pytest.mark.parametrize("data", ["cdnow_spend", "cdnow_daily"])
@pytest.mark.parametrize("penalizer_coef", [0.0, 0.01])
def test_fast_fitter_equals_lifetimes_fitter(
    data: str, penalizer_coef: float, request: pytest.FixtureRequest
) -> None:
    features = request.getfixturevalue(data)
    fast = GammaGammaModel(penalizer_coef=penalizer_coef).fit(features)
    reference = GammaGammaModel(penalizer_coef=penalizer_coef, fitter="lifetimes").fit(features)
    pd.testing.assert_series_equal(fast.params_, reference.params_, rtol=1e-4)
    pd.testing.assert_frame_equal(fast.summary, reference.summary, rtol=1e-3)


def test_fits_on_repeat_buyers_with_positive_spend_only(cdnow_daily: pd.DataFrame) -> None:
    model = GammaGammaModel().fit(cdnow_daily)
    repeat = _repeat_buyers(cdnow_daily)
    assert model.n_customers_ == len(repeat) < len(cdnow_daily[cdnow_daily["frequency"] > 0])
    pd.testing.assert_series_equal(GammaGammaModel().fit(repeat).params_, model.params_)


def test_expected_average_profit_equals_lifetimes(cdnow_daily: pd.DataFrame) -> None:
    from lifetimes import GammaGammaFitter

    model = GammaGammaModel().fit(cdnow_daily)
    reference = GammaGammaFitter()
    reference.params_ = model.params_.copy()
    x, m = cdnow_daily["frequency"], cdnow_daily["monetary_value"]
    np.testing.assert_allclose(
        model.conditional_expected_average_profit(x, m),
        reference.conditional_expected_average_profit(x, m),
        rtol=1e-12,
    )
    p, q, v = model.params_
    one_time_buyers = model.conditional_expected_average_profit(np.zeros(3), np.zeros(3))
    np.testing.assert_allclose(one_time_buyers, p * v / (q - 1))


@pytest.mark.parametrize("transaction_class", [BetaGeoModel, ModifiedBetaGeoModel])
def test_customer_lifetime_value_equals_lifetimes(
    transaction_class: type, cdnow_daily: pd.DataFrame
) -> None:
    import lifetimes

    transactions = transaction_class().fit(cdnow_daily)
    spend = GammaGammaModel().fit(cdnow_daily)
    reference_transactions = getattr(lifetimes, transaction_class._lifetimes_fitter)()
    reference_transactions.params_ = transactions.params_.copy()
    # lifetimes' fit() assigns this alias; set it as fit() would.
    reference_transactions.predict = (
        reference_transactions.conditional_expected_number_of_purchases_up_to_time
    )
    reference_spend = lifetimes.GammaGammaFitter()
    reference_spend.params_ = spend.params_.copy()
    x, t_x, T, m = (cdnow_daily[c] for c in ("frequency", "recency", "T", "monetary_value"))
    expected = reference_spend.customer_lifetime_value(
        reference_transactions, x, t_x, T, m, time=12, discount_rate=0.01, freq="D"
    )
    clv = spend.customer_lifetime_value(
        transactions, x, t_x, T, m, months=12, monthly_discount_rate=0.01
    )
    np.testing.assert_allclose(clv, expected.to_numpy(), rtol=1e-6)


def test_clv_scales_with_margin_and_grows_with_months(cdnow_daily: pd.DataFrame) -> None:
    transactions = BetaGeoModel().fit(cdnow_daily)
    spend = GammaGammaModel().fit(cdnow_daily)
    history = [cdnow_daily[c] for c in ("frequency", "recency", "T", "monetary_value")]
    clv = spend.customer_lifetime_value(transactions, *history)
    np.testing.assert_allclose(
        spend.customer_lifetime_value(transactions, *history, margin=0.3), 0.3 * clv
    )
    assert np.all(spend.customer_lifetime_value(transactions, *history, months=24) > clv)


def test_recovers_known_parameters_from_simulated_data() -> None:
    from lifetimes.utils import summary_data_from_transaction_data

    truth = pd.Series({"p": 6.25, "q": 3.74, "v": 15.45})
    end = pd.Timestamp("2024-01-01")
    transactions = generate_transactions(
        50_000,
        {"r": 0.5, "alpha": 300.0, "a": 0.8, "b": 2.5},
        truth.to_dict(),
        start="2020-01-01",
        observation_end=end,
        seed=0,
    )
    features = summary_data_from_transaction_data(
        transactions, "customer_id", "timestamp", monetary_value_col="amount",
        observation_period_end=end,
    )  # fmt: skip
    summary = GammaGammaModel().fit(features).summary
    assert np.all(np.abs(summary["coef"] / truth - 1) < 0.15)
    assert np.all(np.abs(summary["coef"] - truth) < 4 * summary["se(coef)"])


def test_fitted_state_pickles_and_round_trips_through_json(cdnow_spend: pd.DataFrame) -> None:
    model = GammaGammaModel().fit(cdnow_spend)
    assert set(vars(model)) == {
        "penalizer_coef",
        "fitter",
        "params_",
        "covariance_",
        "n_customers_",
    }
    x, m = cdnow_spend["frequency"], cdnow_spend["monetary_value"]
    expected = model.conditional_expected_average_profit(x, m)
    for restored in (
        pickle.loads(pickle.dumps(model)),
        GammaGammaModel.from_dict(json.loads(json.dumps(model.to_dict()))),
    ):
        np.testing.assert_array_equal(restored.conditional_expected_average_profit(x, m), expected)
        pd.testing.assert_frame_equal(restored.summary, model.summary)


def test_missing_monetary_value_is_named(cdnow_spend: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="'monetary_value'"):
        GammaGammaModel().fit(cdnow_spend.drop(columns="monetary_value"))


def test_no_repeat_buyers_is_refused(cdnow_spend: pd.DataFrame) -> None:
    one_time_buyers = cdnow_spend[cdnow_spend["frequency"] == 0]
    with pytest.raises(ValueError, match="frequency > 0 and monetary_value > 0"):
        GammaGammaModel().fit(one_time_buyers)
