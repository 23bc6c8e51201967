"""BG/BB: lifetimes' estimates and closed forms on the donations data, and the truth on data
simulated from the model."""

from __future__ import annotations

import importlib.resources
import json
import pickle

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import approx_fprime

from models.bgbb import BetaGeoBetaBinomModel, BetaGeoBetaBinomNegativeLogLikelihood

NAMES = ["alpha", "beta", "gamma", "delta"]
#: Fader, Hardie & Shang (2010), Table 2: the donations data (11,104 donors, 6 years).
PUBLISHED = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
#: Known parameters for simulation: about one donor in four lapses each year.
SIMULATED = {"alpha": 1.2, "beta": 0.75, "gamma": 0.65, "delta": 2.8}


@pytest.fixture(scope="module")
def donations() -> pd.DataFrame:
    """lifetimes' donations data: 22 patterns with counts (``periods`` renamed)."""
    path = importlib.resources.files("lifetimes") / "datasets" / "donations.csv"
    return pd.read_csv(str(path)).rename(columns={"periods": "n_periods"})


def _arrays(frame: pd.DataFrame) -> list[np.ndarray]:
    return [frame[c].to_numpy(np.float64) for c in ("frequency", "recency", "n_periods")]


def _lifetimes_fit(frame: pd.DataFrame, penalizer_coef: float = 0.0):
    from lifetimes import BetaGeoBetaBinomFitter

    fitter = BetaGeoBetaBinomFitter(penalizer_coef=penalizer_coef)
    return fitter.fit(*_arrays(frame), weights=frame["weights"])


def _lifetimes_with(params: pd.Series):
    from lifetimes import BetaGeoBetaBinomFitter

    fitter = BetaGeoBetaBinomFitter()
    fitter.params_ = params.copy()
    return fitter


def _known(params: dict[str, float]) -> BetaGeoBetaBinomModel:
    state = {"params": params, "covariance": np.eye(4).tolist(), "n_customers": 1}
    return BetaGeoBetaBinomModel.from_dict(state)


def _simulate(n_customers: int, n_periods: int, future: int, seed: int) -> pd.DataFrame:
    """Donors from the BG/BB process: per opportunity, death with probability theta at its
    start, then a transaction with probability p; ``future`` opportunities beyond ``n``."""
    rng = np.random.default_rng(seed)
    p = rng.beta(SIMULATED["alpha"], SIMULATED["beta"], n_customers)
    theta = rng.beta(SIMULATED["gamma"], SIMULATED["delta"], n_customers)
    alive_opportunities = rng.geometric(theta) - 1  # alive at opportunities 1..K-1
    periods = np.arange(1, n_periods + future + 1)
    buys = (rng.random((n_customers, len(periods))) < p[:, None]) & (
        periods[None, :] <= alive_opportunities[:, None]
    )
    past = buys[:, :n_periods]
    return pd.DataFrame(
        {
            "frequency": past.sum(axis=1).astype(float),
            "recency": np.where(past.any(axis=1), n_periods - np.argmax(past[:, ::-1], axis=1), 0),
            "n_periods": float(n_periods),
            "alive": alive_opportunities >= n_periods,
            "future": buys[:, n_periods:].sum(axis=1).astype(float),
        }
    )


@pytest.mark.parametrize("penalizer_coef", [0.0, 0.1])
def test_fit_equals_lifetimes(penalizer_coef: float, donations: pd.DataFrame) -> None:
    model = BetaGeoBetaBinomModel(penalizer_coef=penalizer_coef)
    ours = model.fit(donations, weights="weights")
    reference = _lifetimes_fit(donations, penalizer_coef)
    pd.testing.assert_series_equal(ours.params_, reference.params_[NAMES], rtol=1e-6)
    pd.testing.assert_frame_equal(ours.summary, reference.summary.loc[NAMES], rtol=1e-4)
    assert ours.n_customers_ == 11_104


def test_reproduces_published_donations_estimates(donations: pd.DataFrame) -> None:
    params = BetaGeoBetaBinomModel().fit(donations, weights="weights").params_
    for name, published in PUBLISHED.items():
        assert params[name] == pytest.approx(published, abs=1e-3)


def test_rows_and_weighted_patterns_give_the_same_fit(donations: pd.DataFrame) -> None:
    rows = donations.loc[donations.index.repeat(donations["weights"].to_numpy())]
    by_rows = BetaGeoBetaBinomModel().fit(rows.drop(columns="weights"))
    by_patterns = BetaGeoBetaBinomModel().fit(donations, weights=donations["weights"])
    pd.testing.assert_series_equal(by_rows.params_, by_patterns.params_, rtol=1e-9)


@pytest.mark.parametrize("point", [[1.2, 0.75, 0.66, 2.78], [0.3, 3.0, 5.0, 0.5]])
def test_objective_is_lifetimes_and_gradient_is_exact(
    point: list[float], donations: pd.DataFrame
) -> None:
    from lifetimes import BetaGeoBetaBinomFitter

    x, t_x, n = _arrays(donations)
    weights = donations["weights"].to_numpy(np.float64)
    objective = BetaGeoBetaBinomNegativeLogLikelihood(x, t_x, n, weights)
    log_point = np.log(point)
    value, gradient = objective(log_point)
    integers = (a.astype(int) for a in (x, t_x, n))
    reference = BetaGeoBetaBinomFitter._negative_log_likelihood(log_point, *integers, weights, 0)
    assert value == pytest.approx(reference, rel=1e-10)  # lifetimes adds 1e-15 inside its log
    numerical = approx_fprime(log_point, lambda q: objective(q)[0], 1e-7)
    np.testing.assert_allclose(gradient, numerical, rtol=1e-5, atol=1e-7)


def test_closed_forms_equal_lifetimes(donations: pd.DataFrame) -> None:
    model = BetaGeoBetaBinomModel().fit(donations, weights="weights")
    reference = _lifetimes_with(model.params_)
    x, t_x, n = _arrays(donations)
    for m in (1, 5, 10):
        np.testing.assert_allclose(
            model.conditional_probability_alive(m, x, t_x, n),
            reference.conditional_probability_alive(m, x, t_x, n),
            rtol=1e-9,
        )
        np.testing.assert_allclose(
            model.conditional_expected_number_of_purchases_up_to_time(m, x, t_x, n),
            reference.conditional_expected_number_of_purchases_up_to_time(m, x, t_x, n),
            rtol=1e-9,
        )
    # lifetimes' table of expected customers per x in the first 6 opportunities (x <= 6 = n)
    reference.data = donations.rename(columns={"n_periods": "periods"})
    table = reference.expected_number_of_transactions_in_first_n_periods(6)["model"]
    mean = (table.index.to_numpy() * table.to_numpy()).sum() / table.sum()
    assert model.expected_number_of_purchases_up_to_time(6) == pytest.approx(mean, rel=1e-9)


def test_zero_horizon_and_silent_donors() -> None:
    model = _known(SIMULATED)
    assert model.conditional_expected_number_of_purchases_up_to_time(0, 2, 4, 6) == 0.0
    n = np.arange(1.0, 10.0)
    p_alive = model.conditional_probability_alive(0, np.zeros_like(n), np.zeros_like(n), n)
    assert np.all((p_alive > 0) & (p_alive < 1)) and np.all(np.diff(p_alive) < 0)


def test_recovers_known_parameters_and_predicts_the_simulated_future() -> None:
    """Recovery within 4 standard errors; then, per frequency, mean P(alive) against the
    share truly alive and expected transactions in the next 5 opportunities against the
    simulated ones (4 standard errors of the group mean)."""
    donors, horizon = _simulate(30_000, n_periods=6, future=5, seed=4), 5
    summary = BetaGeoBetaBinomModel().fit(donors).summary
    truth = pd.Series(SIMULATED)
    assert np.all(np.abs(summary["coef"] - truth) < 4 * summary["se(coef)"])
    assert np.all(summary["se(coef)"] < 0.15 * truth)
    model = _known(SIMULATED)
    x, t_x, n = _arrays(donors)
    p_alive = model.conditional_probability_alive(0, x, t_x, n)
    expected = model.conditional_expected_number_of_purchases_up_to_time(horizon, x, t_x, n)
    for value in np.unique(x):
        members = x == value
        size = members.sum()
        for predicted, observed in (
            (p_alive, donors["alive"].to_numpy(float)),
            (expected, donors["future"].to_numpy()),
        ):
            standard_error = max(observed[members].std(), 1e-3) / np.sqrt(size)
            assert predicted[members].mean() == pytest.approx(
                observed[members].mean(), abs=4 * standard_error
            ), value
    new = donors["frequency"].mean()
    assert model.expected_number_of_purchases_up_to_time(6) == pytest.approx(
        new, abs=4 * donors["frequency"].std() / np.sqrt(len(donors))
    )


def test_fitted_state_is_plain_pickles_and_round_trips(donations: pd.DataFrame) -> None:
    model = BetaGeoBetaBinomModel().fit(donations, weights="weights")
    assert set(vars(model)) == {"penalizer_coef", "params_", "covariance_", "n_customers_"}
    x, t_x, n = _arrays(donations)
    for restored in (
        pickle.loads(pickle.dumps(model)),
        BetaGeoBetaBinomModel.from_dict(json.loads(json.dumps(model.to_dict()))),
    ):
        np.testing.assert_array_equal(
            restored.conditional_probability_alive(2, x, t_x, n),
            model.conditional_probability_alive(2, x, t_x, n),
        )
        pd.testing.assert_frame_equal(restored.summary, model.summary)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("recency", 7, "frequency <= recency <= n_periods"),
        ("frequency", 1.5, "'frequency' must hold whole numbers"),
        ("n_periods", -1, "'n_periods' has 1 negative"),
    ],
)
def test_invalid_rows_are_refused(
    column: str, value: float, message: str, donations: pd.DataFrame
) -> None:
    features = donations.astype(float)
    features.loc[features.index[3], column] = value
    with pytest.raises(ValueError, match=message):
        BetaGeoBetaBinomModel().fit(features, weights="weights")


def test_bad_weights_and_unfitted_model_are_refused(donations: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="weights"):
        BetaGeoBetaBinomModel().fit(donations, weights=np.ones(3))
    with pytest.raises(ValueError, match="not fitted"):
        BetaGeoBetaBinomModel().conditional_probability_alive(1, 1, 1, 6)
