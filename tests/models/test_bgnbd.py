"""BG/NBD and MBG/NBD: lifetimes' estimates and closed forms, checked against simulation."""

from __future__ import annotations

import importlib.resources
import json
import pickle

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from features.datasets import load_cdnow_raw
from models import BetaGeoModel, ModifiedBetaGeoModel, generate_transactions

MODELS = [BetaGeoModel, ModifiedBetaGeoModel]
#: Fader, Hardie & Lee (2005) on the CDNOW 1/10 sample, 39-week calibration, in weeks.
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
#: Known parameters for simulation, in days. alpha is large (about 0.6 purchases a year on
#: average) so that purchases sharing a calendar day, which freq='D' merges, stay rare.
SIMULATED_BGNBD = {"r": 0.5, "alpha": 300.0, "a": 0.8, "b": 2.5}
SIMULATED_GG = {"p": 6.25, "q": 3.74, "v": 15.45}


def _summary(transactions: pd.DataFrame, end: pd.Timestamp | None = None) -> pd.DataFrame:
    from lifetimes.utils import summary_data_from_transaction_data

    return summary_data_from_transaction_data(
        transactions,
        "customer_id",
        "timestamp",
        monetary_value_col="amount",
        observation_period_end=end,
    )


@pytest.fixture(scope="module")
def cdnow_weekly() -> pd.DataFrame:
    """The per-customer summary lifetimes ships (2,357 customers, weeks)."""
    path = importlib.resources.files("lifetimes") / "datasets" / "cdnow_customers_summary.csv"
    return pd.read_csv(str(path), index_col="ID")


@pytest.fixture(scope="module")
def cdnow_daily() -> pd.DataFrame:
    """Full CDNOW, summarised per customer in days (23,570 customers)."""
    return _summary(load_cdnow_raw())


def _known(model_class: type, params: dict[str, float] = SIMULATED_BGNBD):
    """A model with given parameters, without fitting."""
    state = {"params": params, "covariance": np.eye(4).tolist(), "n_customers": 1}
    return model_class.from_dict(state)


def _lifetimes_fitter(model_class: type, params: pd.Series):
    import lifetimes

    fitter = getattr(lifetimes, model_class._lifetimes_fitter)()
    fitter.params_ = params.copy()
    return fitter


def test_reproduces_published_cdnow_parameters(cdnow_weekly: pd.DataFrame) -> None:
    params = BetaGeoModel().fit(cdnow_weekly).params_
    for name, published in PUBLISHED_BGNBD.items():
        assert params[name] == pytest.approx(published, abs=1e-3)


@pytest.mark.parametrize("model_class", MODELS)
@pytest.mark.parametrize("data", ["cdnow_weekly", "cdnow_daily"])
def test_fast_fitter_equals_lifetimes_fitter(
    model_class: type, data: str, request: pytest.FixtureRequest
) -> None:
    features = request.getfixturevalue(data)
    fast = model_class(fitter="fast").fit(features)
    reference = model_class(fitter="lifetimes").fit(features)
    pd.testing.assert_series_equal(fast.params_, reference.params_, rtol=1e-4)
    pd.testing.assert_frame_equal(fast.summary, reference.summary, rtol=1e-3)


def test_optimum_on_a_ridge_is_returned_like_lifetimes_does() -> None:
    """CDNOW's first month: nobody seems to drop out yet, so the likelihood rises towards
    a -> 0, b -> inf along a flat ridge. a and b are not identified there, but the fit must
    still return, with lifetimes' r and alpha and lifetimes' predictions."""
    as_of = "1997-01-31"
    raw = load_cdnow_raw()
    features = _summary(raw[raw["timestamp"] <= as_of], pd.Timestamp(as_of))
    fast = BetaGeoModel().fit(features)
    reference = BetaGeoModel(fitter="lifetimes").fit(features)
    assert fast.params_["a"] < 0.01 and fast.params_["b"] > 100
    pd.testing.assert_series_equal(
        fast.params_[["r", "alpha"]], reference.params_[["r", "alpha"]], rtol=1e-4
    )
    pd.testing.assert_frame_equal(fast.predict(features), reference.predict(features), rtol=1e-4)


@pytest.mark.parametrize("model_class", MODELS)
def test_penalized_fit_equals_lifetimes(model_class: type, cdnow_weekly: pd.DataFrame) -> None:
    fast = model_class(penalizer_coef=0.05).fit(cdnow_weekly)
    reference = model_class(penalizer_coef=0.05, fitter="lifetimes").fit(cdnow_weekly)
    pd.testing.assert_series_equal(fast.params_, reference.params_, rtol=1e-4)
    assert not np.allclose(fast.params_, model_class().fit(cdnow_weekly).params_, rtol=1e-2)


@pytest.mark.parametrize("model_class", MODELS)
def test_closed_forms_equal_lifetimes(model_class: type, cdnow_daily: pd.DataFrame) -> None:
    model = model_class().fit(cdnow_daily)
    reference = _lifetimes_fitter(model_class, model.params_)
    x, t_x, T = (cdnow_daily[c].to_numpy() for c in ("frequency", "recency", "T"))
    np.testing.assert_allclose(
        model.conditional_probability_alive(x, t_x, T),
        reference.conditional_probability_alive(x, t_x, T),
        rtol=1e-10,
    )
    for t in (1.0, 30.0, 90.0, 365.0):
        np.testing.assert_allclose(
            model.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T),
            reference.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T),
            rtol=1e-9,
        )


@pytest.mark.parametrize("model_class", MODELS)
def test_weighted_expected_purchases_is_the_weighted_sum(
    model_class: type, cdnow_daily: pd.DataFrame
) -> None:
    model = _known(model_class)
    x, t_x, T = (cdnow_daily[c].to_numpy() for c in ("frequency", "recency", "T"))
    times, weights = [30.0, 90.0, 400.0], [0.5, -1.0, 2.0]
    expected = sum(
        w * model.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T)
        for t, w in zip(times, weights, strict=True)
    )
    np.testing.assert_allclose(
        model.weighted_expected_purchases(times, weights, x, t_x, T), expected, rtol=1e-12
    )


def test_bgnbd_one_time_buyers_are_alive_but_dormancy_grows_with_silence() -> None:
    model = _known(BetaGeoModel)
    T = np.array([10.0, 100.0, 400.0])
    zeros = np.zeros_like(T)
    np.testing.assert_array_equal(model.conditional_probability_alive(zeros, zeros, T), 1.0)
    p_dormant = model.conditional_probability_no_purchase_up_to_time(90.0, zeros, zeros, T)
    assert np.all((p_dormant > 0) & (p_dormant < 1))
    assert np.all(np.diff(p_dormant) > 0)


def _importance_sampled_future(
    params: dict[str, float],
    modified: bool,
    x: float,
    t_x: float,
    T: float,
    t: float,
    n: int = 400_000,
) -> dict[str, tuple[float, float]]:
    """(estimate, standard error) of P(alive), P(0 in (T, T+t]), E[purchases in (T, T+t]].

    Independent of the closed forms: draws (lambda, p) from their priors (lambda through a
    wider Gamma proposal, reweighted), weighs each draw by the individual-level likelihood
    of the history in its two states -- active at T, or dropped out at the last purchase
    (FHL 2005, eq. 3; one more drop-out chance for MBG/NBD) -- and simulates the future
    purchases of active draws.
    """
    r, alpha, a, b = (params[name] for name in ("r", "alpha", "a", "b"))
    rng = np.random.default_rng(11)
    rate = rng.gamma(r + x, 1.0 / (alpha + t_x), n)
    dropout = rng.beta(a, b, n)
    k = int(modified)
    log_prior_ratio = stats.gamma.logpdf(rate, r, scale=1 / alpha) - stats.gamma.logpdf(
        rate, r + x, scale=1 / (alpha + t_x)
    )
    log_history = x * np.log(rate) + log_prior_ratio
    w_alive = np.exp(log_history + (x + k) * np.log1p(-dropout) - rate * T)
    w_dead = (
        np.exp(log_history + np.log(dropout) + (x + k - 1) * np.log1p(-dropout) - rate * t_x)
        if x + k > 0
        else np.zeros(n)
    )
    future = np.minimum(rng.poisson(rate * t), rng.geometric(dropout))
    total = w_alive + w_dead

    def estimate(values_alive: np.ndarray, value_dead: float) -> tuple[float, float]:
        mean = (w_alive * values_alive + w_dead * value_dead).sum() / total.sum()
        deviations = w_alive * (values_alive - mean) + w_dead * (value_dead - mean)
        return mean, np.sqrt((deviations**2).sum()) / total.sum()

    return {
        "p_alive": estimate(np.ones(n), 0.0),
        "p_no_purchase": estimate((future == 0).astype(float), 1.0),
        "expected_purchases": estimate(future.astype(float), 0.0),
    }


#: CDNOW's penalised weekly fit has a + b < 1: for x = 0, BG/NBD's 2F1 is then negative
#: (lifetimes' log of it gives NaN) while the expectation is positive.
SMALL_A_B = {"r": 0.243, "alpha": 4.43, "a": 0.286, "b": 0.658}


@pytest.mark.parametrize("model_class", MODELS)
@pytest.mark.parametrize(
    ("params", "x", "t_x", "T"),
    [
        (SIMULATED_BGNBD, 0, 0, 200),
        (SIMULATED_BGNBD, 1, 30, 300),
        (SIMULATED_BGNBD, 3, 150, 250),
        (SIMULATED_BGNBD, 6, 300, 400),
        (SIMULATED_BGNBD, 2, 20, 500),
        (SMALL_A_B, 0, 0, 30),
        (SMALL_A_B, 2, 20, 35),
    ],
)
def test_closed_forms_match_monte_carlo(
    model_class: type, params: dict[str, float], x: float, t_x: float, T: float
) -> None:
    model, t = _known(model_class, params), 90.0
    modified = model_class is ModifiedBetaGeoModel
    simulated = _importance_sampled_future(params, modified, x, t_x, T, t)
    closed_form = {
        "p_alive": model.conditional_probability_alive(x, t_x, T),
        "p_no_purchase": model.conditional_probability_no_purchase_up_to_time(t, x, t_x, T),
        "expected_purchases": model.conditional_expected_number_of_purchases_up_to_time(
            t, x, t_x, T
        ),
    }
    for name, (estimate, standard_error) in simulated.items():
        assert closed_form[name] == pytest.approx(estimate, abs=4 * standard_error + 1e-9), name


def test_closed_forms_match_simulated_holdout() -> None:
    """Customers simulated with known parameters: the predicted share without a purchase and
    mean purchases in the next 180 days match what the simulation then does, per frequency
    group (tolerance: 4 standard errors of the simulated group mean)."""
    calibration_end, horizon = pd.Timestamp("2023-01-01"), 180
    transactions = generate_transactions(
        60_000,
        SIMULATED_BGNBD,
        SIMULATED_GG,
        start="2020-01-01",
        acquisition_days=365,
        observation_end=calibration_end + pd.Timedelta(days=horizon),
        seed=5,
    )
    features = _summary(transactions[transactions["timestamp"] < calibration_end], calibration_end)
    holdout = transactions[transactions["timestamp"] >= calibration_end]
    future = holdout.groupby("customer_id")["timestamp"].nunique()
    future = future.reindex(features.index, fill_value=0).to_numpy(float)
    scores = _known(BetaGeoModel).predict(features, horizon_days=horizon)
    groups = pd.cut(features["frequency"], [-1, 0, 2, 5, np.inf]).to_numpy()
    for group in np.unique(groups):
        members = groups == group
        n = members.sum()
        no_purchase = (future[members] == 0).mean()
        p_dormant = scores["p_dormant"].to_numpy()[members].mean()
        assert p_dormant == pytest.approx(no_purchase, abs=4 * np.sqrt(p_dormant / n)), group
        expected = scores["expected_purchases"].to_numpy()[members].mean()
        standard_error = future[members].std() / np.sqrt(n)
        assert expected == pytest.approx(future[members].mean(), abs=4 * standard_error), group


def test_recovers_known_parameters_from_simulated_data() -> None:
    end = pd.Timestamp("2024-01-01")
    transactions = generate_transactions(
        50_000, SIMULATED_BGNBD, SIMULATED_GG, start="2020-01-01", observation_end=end, seed=0
    )
    summary = BetaGeoModel().fit(_summary(transactions, end)).summary
    truth = pd.Series(SIMULATED_BGNBD)
    assert np.all(np.abs(summary["coef"] / truth - 1) < 0.15)
    assert np.all(np.abs(summary["coef"] - truth) < 4 * summary["se(coef)"])


@pytest.mark.parametrize("model_class", MODELS)
def test_days_to_next_purchase_is_where_purchase_probability_reaches_target(
    model_class: type, cdnow_daily: pd.DataFrame
) -> None:
    model = model_class().fit(cdnow_daily)
    x, t_x, T = (cdnow_daily[c].to_numpy() for c in ("frequency", "recency", "T"))
    for probability in (0.3, 0.5):
        days = model.expected_days_to_next_purchase(x, t_x, T, probability=probability)
        found = ~np.isnan(days)
        assert found.sum() > 1_000
        history = x[found], t_x[found], T[found]
        at, before = (
            1.0 - model.conditional_probability_no_purchase_up_to_time(d, *history)
            for d in (days[found], 0.99 * days[found])
        )
        np.testing.assert_allclose(at, probability, rtol=1e-9)
        assert np.all(before < probability)
        # Not found: the customer is too unlikely to ever buy again, or not within two years.
        history = x[~found], t_x[~found], T[~found]
        p_alive = model.conditional_probability_alive(*history)
        in_two_years = 1.0 - model.conditional_probability_no_purchase_up_to_time(730.0, *history)
        assert np.all((p_alive < probability) | (in_two_years < probability))


def test_days_to_next_purchase_rejects_probability_outside_unit_interval() -> None:
    with pytest.raises(ValueError, match="probability"):
        _known(BetaGeoModel).expected_days_to_next_purchase(1, 10, 100, probability=1.0)


@pytest.mark.parametrize("model_class", MODELS)
def test_predict_is_indexed_like_features_and_agrees_with_the_methods(
    model_class: type, cdnow_daily: pd.DataFrame
) -> None:
    model = _known(model_class)
    scores = model.predict(cdnow_daily, horizon_days=60)
    x, t_x, T = (cdnow_daily[c].to_numpy() for c in ("frequency", "recency", "T"))
    assert list(scores.columns) == [
        "p_alive",
        "p_dormant",
        "expected_purchases",
        "days_to_next_order",
    ]
    pd.testing.assert_index_equal(scores.index, cdnow_daily.index)
    assert (scores.dtypes == np.float64).all()
    np.testing.assert_allclose(scores["p_alive"], model.conditional_probability_alive(x, t_x, T))
    np.testing.assert_allclose(
        scores["p_dormant"], model.conditional_probability_no_purchase_up_to_time(60, x, t_x, T)
    )
    np.testing.assert_allclose(
        scores["expected_purchases"],
        model.conditional_expected_number_of_purchases_up_to_time(60, x, t_x, T),
        rtol=1e-12,
    )
    np.testing.assert_array_equal(
        scores["days_to_next_order"], model.median_days_to_next_purchase(x, t_x, T)
    )


@pytest.mark.parametrize("model_class", MODELS)
def test_fitted_state_is_plain_and_pickles(model_class: type, cdnow_weekly: pd.DataFrame) -> None:
    model = model_class(penalizer_coef=0.01).fit(cdnow_weekly)
    assert set(vars(model)) == {
        "penalizer_coef",
        "fitter",
        "params_",
        "covariance_",
        "n_customers_",
    }
    restored = pickle.loads(pickle.dumps(model))
    pd.testing.assert_frame_equal(restored.predict(cdnow_weekly), model.predict(cdnow_weekly))
    pd.testing.assert_frame_equal(restored.summary, model.summary)


@pytest.mark.parametrize("model_class", MODELS)
def test_dict_round_trip_through_json(model_class: type, cdnow_weekly: pd.DataFrame) -> None:
    model = model_class().fit(cdnow_weekly)
    restored = model_class.from_dict(json.loads(json.dumps(model.to_dict())))
    pd.testing.assert_frame_equal(restored.predict(cdnow_weekly), model.predict(cdnow_weekly))
    pd.testing.assert_frame_equal(restored.summary, model.summary)
    assert restored.n_customers_ == len(cdnow_weekly)


def test_refit_forgets_the_earlier_fit(cdnow_weekly: pd.DataFrame) -> None:
    model = BetaGeoModel().fit(cdnow_weekly.iloc[:500])
    model.fit(cdnow_weekly)
    pd.testing.assert_series_equal(model.params_, BetaGeoModel().fit(cdnow_weekly).params_)
    assert model.n_customers_ == len(cdnow_weekly)


@pytest.mark.parametrize("missing", ["frequency", "recency", "T"])
def test_missing_column_is_named(missing: str, cdnow_weekly: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=f"'{missing}'"):
        BetaGeoModel().fit(cdnow_weekly.drop(columns=missing))


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("recency", -1.0, "'recency' has 1 negative"),
        ("T", np.nan, "'T' has 1 NaN"),
        ("recency", 1e6, "'recency' exceeds column 'T'"),
        ("frequency", 1.5, "'frequency' must hold whole numbers"),
    ],
)
def test_invalid_values_are_rejected_with_the_column(
    column: str, value: float, message: str, cdnow_weekly: pd.DataFrame
) -> None:
    features = cdnow_weekly.astype(float)
    features.loc[features.index[5], column] = value
    with pytest.raises(ValueError, match=message):
        BetaGeoModel().fit(features)


def test_unfitted_model_and_unknown_fitter_are_refused(cdnow_weekly: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="not fitted"):
        BetaGeoModel().predict(cdnow_weekly)
    with pytest.raises(ValueError, match="fitter"):
        BetaGeoModel(fitter="autograd").fit(cdnow_weekly)
