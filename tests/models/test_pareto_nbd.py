"""Pareto/NBD: lifetimes' optimum and closed forms, stable where lifetimes overflows, and
right on data simulated from the model itself."""

from __future__ import annotations

import importlib.resources
import json
import pickle

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad
from scipy.optimize import approx_fprime

from features.datasets import load_cdnow_raw
from models.pareto_nbd import ParetoNBDModel
from models.pareto_nbd_likelihood import ParetoNBDNegativeLogLikelihood, log_likelihood
from models.synthetic_pareto_nbd import generate_pareto_nbd_summary

NAMES = ["r", "alpha", "s", "beta"]
#: lifetimes' test_params_out_is_close_to_Hardie_paper (CDNOW sample, weeks; 3 decimals).
LIFETIMES_CDNOW = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
#: R BTYD walkthrough's estimates on the same data, used there for P(alive) = 0.9979.
BTYD_CDNOW = {"r": 0.5534, "alpha": 10.5802, "s": 0.6061, "beta": 11.6562}
#: Known parameters for simulation, in days: a mean lifetime of about a year within a
#: two-year window, so that the death process is well determined by 20,000 customers.
SIMULATED = {"r": 0.7, "alpha": 60.0, "s": 0.8, "beta": 200.0}


@pytest.fixture(scope="module")
def cdnow_weekly() -> pd.DataFrame:
    """The per-customer summary lifetimes ships (2,357 customers, weeks)."""
    path = importlib.resources.files("lifetimes") / "datasets" / "cdnow_customers_summary.csv"
    return pd.read_csv(str(path), index_col="ID")


@pytest.fixture(scope="module")
def cdnow_daily() -> pd.DataFrame:
    """Full CDNOW, summarised per customer in days (23,570 customers)."""
    from lifetimes.utils import summary_data_from_transaction_data

    return summary_data_from_transaction_data(load_cdnow_raw(), "customer_id", "timestamp")


@pytest.fixture(scope="module")
def cdnow_daily_spend() -> pd.DataFrame:
    """Full CDNOW in days with ``monetary_value``, for CLV."""
    from lifetimes.utils import summary_data_from_transaction_data

    return summary_data_from_transaction_data(
        load_cdnow_raw(), "customer_id", "timestamp", monetary_value_col="amount"
    )


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    """20,000 customers from the Pareto/NBD process (continuous time), with the truth."""
    return generate_pareto_nbd_summary(20_000, SIMULATED, seed=3)


def _known(params: dict[str, float]) -> ParetoNBDModel:
    state = {"params": params, "covariance": np.eye(4).tolist(), "n_customers": 1}
    return ParetoNBDModel.from_dict(state)


def _lifetimes(params: pd.Series, penalizer_coef: float = 0.0):
    from lifetimes import ParetoNBDFitter

    fitter = ParetoNBDFitter(penalizer_coef=penalizer_coef)
    fitter.params_ = params.copy()
    return fitter


def _rfm(features: pd.DataFrame) -> list[np.ndarray]:
    return [features[c].to_numpy(np.float64) for c in ("frequency", "recency", "T")]


def _lifetimes_objective(params: pd.Series, features: pd.DataFrame, penalizer: float) -> float:
    """lifetimes' own penalised objective, on its scaled time, at natural parameters."""
    from lifetimes import ParetoNBDFitter

    x, t_x, T = _rfm(features)
    scale = 1.0 / T.max()
    scaled = params.to_numpy() * np.array([1.0, scale, 1.0, scale])
    return ParetoNBDFitter._negative_log_likelihood(
        scaled, x, t_x * scale, T * scale, np.ones_like(x), penalizer
    )


@pytest.mark.parametrize("penalizer_coef", [0.0, 0.1])
def test_fit_is_lifetimes_optimum(penalizer_coef: float, cdnow_weekly: pd.DataFrame) -> None:
    """lifetimes' Nelder-Mead stops at tolerance 1e-4 from a random start (its parameters
    move in the fourth digit between runs); run to convergence it lands on our optimum."""
    from lifetimes import ParetoNBDFitter

    ours = ParetoNBDModel(penalizer_coef=penalizer_coef).fit(cdnow_weekly).params_
    np.random.seed(0)  # lifetimes draws its starting point from the global generator
    reference = ParetoNBDFitter(penalizer_coef=penalizer_coef).fit(
        *_rfm(cdnow_weekly), tol=1e-10, maxiter=20_000
    )
    pd.testing.assert_series_equal(ours, reference.params_[NAMES], rtol=1e-6)
    # Also at lifetimes' default tolerance: we are never worse on lifetimes' own objective.
    default = ParetoNBDFitter(penalizer_coef=penalizer_coef).fit(*_rfm(cdnow_weekly))
    pd.testing.assert_series_equal(ours, default.params_[NAMES], rtol=1e-3)
    ours_value = _lifetimes_objective(ours, cdnow_weekly, penalizer_coef)
    assert ours_value <= _lifetimes_objective(default.params_[NAMES], cdnow_weekly, penalizer_coef)


def test_matches_published_cdnow_estimates(cdnow_weekly: pd.DataFrame) -> None:
    params = ParetoNBDModel().fit(cdnow_weekly).params_
    pd.testing.assert_series_equal(params, pd.Series(LIFETIMES_CDNOW), rtol=2e-3, check_names=False)
    for published in (LIFETIMES_CDNOW, BTYD_CDNOW):  # both are slightly off the optimum
        published_value = _lifetimes_objective(pd.Series(published), cdnow_weekly, 0.0)
        assert _lifetimes_objective(params, cdnow_weekly, 0.0) < published_value


def test_penalizer_changes_the_fit(cdnow_weekly: pd.DataFrame) -> None:
    plain = ParetoNBDModel().fit(cdnow_weekly).params_
    penalised = ParetoNBDModel(penalizer_coef=0.1).fit(cdnow_weekly).params_
    assert not np.allclose(plain, penalised, rtol=1e-3)


@pytest.mark.parametrize(
    "point", [[0.55, 0.135, 0.61, 0.15], [1.5, 0.02, 3.0, 0.7], [0.05, 2.0, 0.3, 0.01]]
)
def test_objective_is_lifetimes_mean_and_gradient_is_exact(
    point: list[float], cdnow_daily: pd.DataFrame
) -> None:
    """At points on both sides of alpha = beta (scaled time, as the fitter sees it)."""
    x, t_x, T = _rfm(cdnow_daily)
    objective = ParetoNBDNegativeLogLikelihood(x, t_x, T, time_scale=1.0 / T.max())
    log_point = np.log(point)
    value, gradient = objective(log_point)
    from lifetimes import ParetoNBDFitter

    scaled = (x, t_x / T.max(), T / T.max(), np.ones_like(x), 0.0)
    reference = ParetoNBDFitter._negative_log_likelihood(np.array(point), *scaled) / len(x)
    assert value == pytest.approx(reference, rel=1e-12)
    numerical = approx_fprime(log_point, lambda q: objective(q)[0], 1e-6)
    np.testing.assert_allclose(gradient, numerical, rtol=1e-4, atol=1e-7)


def test_closed_forms_equal_lifetimes(cdnow_daily: pd.DataFrame) -> None:
    model = ParetoNBDModel().fit(cdnow_daily)
    reference = _lifetimes(model.params_)
    x, t_x, T = _rfm(cdnow_daily)
    p_alive = model.conditional_probability_alive(x, t_x, T)
    lifetimes_p_alive = reference.conditional_probability_alive(x, t_x, T)
    # lifetimes' logsumexp of a zero difference is NaN where t_x == T (one heavy buyer who
    # bought on the last day); there nobody had time to die, so P(alive) is exactly 1.
    undefined = np.isnan(lifetimes_p_alive)
    assert 0 < undefined.sum() < 5 and np.all(t_x[undefined] == T[undefined])
    np.testing.assert_array_equal(p_alive[undefined], 1.0)
    x, t_x, T = x[~undefined], t_x[~undefined], T[~undefined]
    np.testing.assert_allclose(p_alive[~undefined], lifetimes_p_alive[~undefined], rtol=1e-9)
    for t in (1.0, 30.0, 90.0, 365.0):
        np.testing.assert_allclose(
            model.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T),
            reference.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T),
            rtol=1e-9,
        )
    times = np.array([1.0, 30.0, 365.0])
    np.testing.assert_allclose(
        model.expected_number_of_purchases_up_to_time(times),
        reference.expected_number_of_purchases_up_to_time(times),
        rtol=1e-12,
    )
    some = slice(None, None, 97)  # lifetimes' P(n purchases) is slow: a sample of customers
    for t in (30.0, 90.0):
        np.testing.assert_allclose(
            model.conditional_probability_no_purchase_up_to_time(t, x[some], t_x[some], T[some]),
            reference.conditional_probability_of_n_purchases_up_to_time(
                0, t, x[some], t_x[some], T[some]
            ),
            rtol=1e-8,
        )


def test_btyd_walkthrough_values(cdnow_weekly: pd.DataFrame) -> None:
    """lifetimes' own checks against R BTYD: P(alive) and E[purchases in 52 weeks]."""
    p_alive = _known(BTYD_CDNOW).conditional_probability_alive(26.0, 30.86, 31.0)
    assert p_alive == pytest.approx(0.9979, abs=1e-3)
    fitted = ParetoNBDModel().fit(cdnow_weekly)
    expected = fitted.conditional_expected_number_of_purchases_up_to_time(52, 26.0, 30.86, 31.0)
    assert expected == pytest.approx(25.46, abs=0.01)


def test_one_time_buyers_are_not_certainly_alive() -> None:
    """The point of the model: a silent customer has had all of T to die."""
    model = _known(SIMULATED)
    T = np.array([1.0, 30.0, 90.0, 365.0, 730.0])
    p_alive = model.conditional_probability_alive(np.zeros_like(T), np.zeros_like(T), T)
    assert np.all((p_alive > 0) & (p_alive < 1))
    assert np.all(np.diff(p_alive) < 0)
    # and P(alive) is 1 exactly when there was no time to die since the last purchase
    assert model.conditional_probability_alive(3.0, 50.0, 50.0) == pytest.approx(1.0, abs=1e-12)


def test_lost_customers_get_a_low_p_alive_on_cdnow(cdnow_transactions: pd.DataFrame) -> None:
    """Issue 16's criterion, on winback's own feature table at 1998-03-31: at most 10% of
    the customers whose status is ``lost`` have P(alive) above 0.5 (BG/NBD: about 80%)."""
    from features.build import build_features
    from features.config import FeatureConfig
    from models.bgnbd import BetaGeoModel

    features = build_features(cdnow_transactions, "1998-03-31", FeatureConfig()).features
    lost = (features["status"] == "lost").to_numpy()
    assert lost.sum() > 10_000
    x, t_x, T = _rfm(features)
    shares = {}
    for model in (ParetoNBDModel().fit(features), BetaGeoModel().fit(features)):
        p_alive = model.conditional_probability_alive(x, t_x, T)
        shares[type(model).__name__] = (p_alive[lost] > 0.5).mean()
    assert shares["ParetoNBDModel"] <= 0.10
    assert shares["BetaGeoModel"] > 0.5  # the artefact the model is here to fix


def _p_alive_by_quadrature(params: dict[str, float], x: float, t_x: float, T: float) -> float:
    """1 / (1 + s ∫_{t_x}^T ((α+T)/(α+y))^(r+x) ((β+T)/(β+y))^s / (β+y) dy): the integral
    form of note 009, without any hypergeometric function."""
    r, alpha, s, beta = (params[name] for name in NAMES)

    def integrand(y: float) -> float:
        log_value = (r + x) * np.log((alpha + T) / (alpha + y)) + s * np.log(
            (beta + T) / (beta + y)
        )
        return np.exp(log_value - np.log(beta + y) - 700.0)  # shifted to stay finite

    integral, _ = quad(integrand, t_x, T, epsabs=0.0, epsrel=1e-12, limit=200)
    log_tail = np.log(s) + np.log(integral) + 700.0
    return float(np.exp(-np.logaddexp(0.0, log_tail)))


@pytest.mark.parametrize(
    ("params", "x", "t_x", "T"),
    [
        ({"r": 0.5, "alpha": 1.0, "s": 0.5, "beta": 1000.0}, 1000.0, 300.0, 365.0),
        ({"r": 0.5, "alpha": 1.0, "s": 0.5, "beta": 1000.0}, 3000.0, 364.0, 365.0),
        ({"r": 0.5, "alpha": 1000.0, "s": 0.5, "beta": 1.0}, 50.0, 300.0, 365.0),
        ({"r": 10.465, "alpha": 7.98565181e-03, "s": 3.0516, "beta": 2.820}, 40.0, 5.0, 6.0),
        (SIMULATED, 0.0, 0.0, 600.0),
        (SIMULATED, 2.0, 10.0, 700.0),
    ],
)
def test_p_alive_is_finite_and_right_where_lifetimes_overflows(
    params: dict[str, float], x: float, t_x: float, T: float
) -> None:
    """lifetimes' ``2F1(r+s+x, r+x; ...)`` overflows for heavy buyers when alpha << beta
    (it returns NaN for the first two cases); the bounded form here does not."""
    model = _known(params)
    p_alive = model.conditional_probability_alive(x, t_x, T)
    assert p_alive == pytest.approx(_p_alive_by_quadrature(params, x, t_x, T), rel=1e-7)
    log_lik = log_likelihood(np.array([params[n] for n in NAMES]), x, t_x, T)
    assert np.isfinite(log_lik)


def test_recovers_known_parameters_from_simulated_data(simulated: pd.DataFrame) -> None:
    """Within 4 standard errors of the truth, and those errors small enough (< 15% of
    each parameter) for that to mean something. (beta is the least determined: with 20,000
    customers its standard error is about 10%.)"""
    summary = ParetoNBDModel().fit(simulated).summary
    truth = pd.Series(SIMULATED)
    assert np.all(np.abs(summary["coef"] - truth) < 4 * summary["se(coef)"])
    assert np.all(summary["se(coef)"] < 0.15 * truth)


def test_closed_forms_match_the_simulated_truth_and_future(simulated: pd.DataFrame) -> None:
    """Per frequency group: mean P(alive) against the share truly alive at T, and the
    predicted purchases / share without a purchase in the next 180 days against what the
    simulated customers then do (Poisson purchases until their true death). Tolerance: 4
    standard errors of the simulated group mean."""
    model, horizon = _known(SIMULATED), 180.0
    x, t_x, T = _rfm(simulated)
    rng = np.random.default_rng(8)
    time_alive = np.clip(simulated["death_time"].to_numpy() - T, 0.0, horizon)
    future = rng.poisson(simulated["lambda"].to_numpy() * time_alive)
    scores = model.predict(simulated, horizon_days=horizon)
    groups = pd.cut(simulated["frequency"], [-1, 0, 2, 5, np.inf]).to_numpy()
    for group in np.unique(groups):
        members = groups == group
        n = members.sum()
        pairs = [
            (scores["p_alive"], simulated["alive"].to_numpy(float)),
            (scores["p_dormant"], (future == 0).astype(float)),
            (scores["expected_purchases"], future.astype(float)),
        ]
        for predicted, observed in pairs:
            predicted_mean = predicted.to_numpy()[members].mean()
            standard_error = observed[members].std() / np.sqrt(n)
            assert predicted_mean == pytest.approx(
                observed[members].mean(), abs=4 * standard_error
            ), (group, predicted.name)


def test_customer_lifetime_value_with_gamma_gamma_equals_lifetimes(
    cdnow_daily_spend: pd.DataFrame,
) -> None:
    """A drop-in transaction model for Gamma-Gamma's CLV (``weighted_expected_purchases``),
    as lifetimes' ``customer_lifetime_value`` takes a ``ParetoNBDFitter``."""
    import lifetimes

    from models.gamma_gamma import GammaGammaModel

    transactions = ParetoNBDModel().fit(cdnow_daily_spend)
    spend = GammaGammaModel().fit(cdnow_daily_spend)
    reference_transactions = _lifetimes(transactions.params_)
    reference_transactions.predict = (
        reference_transactions.conditional_expected_number_of_purchases_up_to_time
    )
    reference_spend = lifetimes.GammaGammaFitter()
    reference_spend.params_ = spend.params_.copy()
    history = [cdnow_daily_spend[c] for c in ("frequency", "recency", "T", "monetary_value")]
    defined = (cdnow_daily_spend["recency"] < cdnow_daily_spend["T"]).to_numpy()  # lifetimes NaN
    with np.errstate(divide="ignore"):  # lifetimes takes log(0) at its month 0, then drops it
        expected = reference_spend.customer_lifetime_value(
            reference_transactions, *(h[defined] for h in history), time=12, freq="D"
        )
    clv = spend.customer_lifetime_value(transactions, *history, months=12)
    np.testing.assert_allclose(clv[defined], expected.to_numpy(), rtol=1e-8)
    assert np.all(np.isfinite(clv))


def test_expected_purchases_is_continuous_at_s_equal_one() -> None:
    near = [_known({**SIMULATED, "s": s}) for s in (1.0 - 1e-6, 1.0, 1.0 + 1e-6)]
    values = [m.conditional_expected_number_of_purchases_up_to_time(90, 2, 50, 200) for m in near]
    np.testing.assert_allclose(values, values[1], rtol=1e-5)
    new = [m.expected_number_of_purchases_up_to_time(365.0) for m in near]
    np.testing.assert_allclose(new, new[1], rtol=1e-5)


def test_no_purchase_probability_falls_with_the_horizon() -> None:
    model = _known(SIMULATED)
    t = np.array([0.0, 1.0, 30.0, 365.0, 1e5])
    p_none = model.conditional_probability_no_purchase_up_to_time(t, 2.0, 100.0, 300.0)
    assert p_none[0] == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(p_none) < 0)
    # never below the chance of never buying again: dead, or dying before the next purchase
    assert p_none[-1] > 1.0 - model.conditional_probability_alive(2.0, 100.0, 300.0)


def test_days_to_next_purchase_is_where_purchase_probability_reaches_target(
    cdnow_daily: pd.DataFrame,
) -> None:
    model = ParetoNBDModel().fit(cdnow_daily)
    x, t_x, T = _rfm(cdnow_daily)
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
        # Not found: not within two years (which includes never).
        history = x[~found], t_x[~found], T[~found]
        in_two_years = 1.0 - model.conditional_probability_no_purchase_up_to_time(730.0, *history)
        assert np.all(in_two_years < probability)
    with pytest.raises(ValueError, match="probability"):
        model.expected_days_to_next_purchase(1, 10, 100, probability=1.0)


def test_alive_matrix_is_the_pointwise_probability() -> None:
    model = _known(SIMULATED)
    matrix = model.conditional_probability_alive_matrix(max_frequency=5, max_recency=40)
    assert matrix.shape == (41, 6)
    assert matrix[17, 3] == model.conditional_probability_alive(3, 17, 40)


def test_fitter_lifetimes_gives_lifetimes_parameters(cdnow_weekly: pd.DataFrame) -> None:
    np.random.seed(1)
    reference = ParetoNBDModel(fitter="lifetimes").fit(cdnow_weekly)
    fast = ParetoNBDModel().fit(cdnow_weekly)
    pd.testing.assert_series_equal(fast.params_, reference.params_, rtol=1e-3)
    # Standard errors from our Hessian at lifetimes' (slightly imprecise) optimum.
    columns = ["coef", "se(coef)"]
    pd.testing.assert_frame_equal(fast.summary[columns], reference.summary[columns], rtol=2e-2)


def test_fitted_state_is_plain_pickles_and_round_trips(cdnow_weekly: pd.DataFrame) -> None:
    model = ParetoNBDModel(penalizer_coef=0.01).fit(cdnow_weekly)
    assert set(vars(model)) == {
        "penalizer_coef",
        "fitter",
        "params_",
        "covariance_",
        "n_customers_",
    }
    for restored in (
        pickle.loads(pickle.dumps(model)),
        ParetoNBDModel.from_dict(json.loads(json.dumps(model.to_dict()))),
    ):
        pd.testing.assert_frame_equal(restored.predict(cdnow_weekly), model.predict(cdnow_weekly))
        pd.testing.assert_frame_equal(restored.summary, model.summary)


def test_predict_is_indexed_like_features(cdnow_weekly: pd.DataFrame) -> None:
    model = _known(LIFETIMES_CDNOW)
    scores = model.predict(cdnow_weekly, horizon_days=10)
    pd.testing.assert_index_equal(scores.index, cdnow_weekly.index)
    assert list(scores.columns) == [
        "p_alive",
        "p_dormant",
        "expected_purchases",
        "days_to_next_order",
    ]
    x, t_x, T = _rfm(cdnow_weekly)
    np.testing.assert_array_equal(scores["p_alive"], model.conditional_probability_alive(x, t_x, T))


def test_bad_input_and_state_are_refused(cdnow_weekly: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="not fitted"):
        ParetoNBDModel().predict(cdnow_weekly)
    with pytest.raises(ValueError, match="fitter"):
        ParetoNBDModel(fitter="autograd").fit(cdnow_weekly)
    with pytest.raises(ValueError, match="'recency'"):
        ParetoNBDModel().fit(cdnow_weekly.drop(columns="recency"))
