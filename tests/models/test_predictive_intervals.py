"""Per-customer 90% intervals: calibrated on worlds with known truth, wider with less data.

The worlds are simulated here from each model's own process (histories up to T and the
true purchases in the following horizon, from the same latent rates), then fitted; the
intervals never see the truth. Parameters are the published CDNOW fits (Fader, Hardie & Lee
2005 for BG/NBD, in days), not chosen for the result.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import BTYDModel
from models.predictive_intervals import (
    INTERVAL_COLUMNS,
    PredictiveIntervals,
    _ParetoCounts,
    mixture_interval,
)
from models.synthetic_pareto_nbd import generate_pareto_nbd_summary

HORIZON = 90.0
CDNOW_BGNBD = {"r": 0.243, "alpha": 30.9, "a": 0.793, "b": 2.426}
#: Pareto/NBD fitted on CDNOW in days (winback's fit at 1998-03-31).
PARETO = {"r": 0.616, "alpha": 92.6, "s": 0.288, "beta": 33.5}


def bgnbd_world(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """BG/NBD histories on [0, T] and the true purchases in (T, T + HORIZON].

    ``K ~ Geometric(p)`` repeat purchases before death; the process makes ``Poisson(λT)``
    events in the window and ``Poisson(λh)`` after, so the history has ``min(Y1, K)``
    purchases (the last one the x-th of Y1 uniform times) and the future ``min(Y2, K - Y1)``
    if the customer is still alive.
    """
    rng = np.random.default_rng(seed)
    T = rng.integers(30, 547, n).astype(np.float64)
    rate = rng.gamma(CDNOW_BGNBD["r"], 1.0 / CDNOW_BGNBD["alpha"], n)
    dropout = rng.beta(CDNOW_BGNBD["a"], CDNOW_BGNBD["b"], n)
    lifetime_purchases = rng.geometric(dropout)
    in_window, in_horizon = rng.poisson(rate * T), rng.poisson(rate * HORIZON)
    x = np.minimum(in_window, lifetime_purchases)
    last = T * rng.beta(np.maximum(x, 1), np.maximum(in_window - x, 0) + 1)
    future = np.where(
        lifetime_purchases > in_window, np.minimum(in_horizon, lifetime_purchases - in_window), 0
    )
    features = pd.DataFrame(
        {
            "frequency": x.astype(np.float64),
            "recency": np.where(x > 0, last, 0.0),
            "T": T,
            "monetary_value": np.where(x > 0, rng.gamma(6.0, 35.0 / 6.0, n), 0.0),
        }
    )
    return features, future


def pareto_world(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Pareto/NBD histories and the true purchases in the horizon from the same latent
    ``λ`` and death time: ``Poisson(λ · time alive in (T, T + HORIZON])``."""
    summary = generate_pareto_nbd_summary(n, PARETO, max_T=546.0, min_T=30.0, seed=seed)
    rng = np.random.default_rng(seed + 1)
    alive_time = np.clip(summary["death_time"] - summary["T"], 0.0, HORIZON)
    future = rng.poisson(summary["lambda"].to_numpy() * alive_time.to_numpy())
    features = summary[["frequency", "recency", "T"]].copy()
    spend = rng.gamma(6.0, 35.0 / 6.0, n)
    features["monetary_value"] = np.where(features["frequency"] > 0, spend, 0.0)
    return features, future


def coverage(model_name: str, world, n: int, seed: int) -> tuple[float, pd.DataFrame]:
    features, future = world(n, seed)
    model = BTYDModel(transaction_model=model_name).fit(features)
    intervals = PredictiveIntervals().predict(model, features, HORIZON)
    inside = (future >= intervals["purchases_p05"]) & (future <= intervals["purchases_p95"])
    return float(inside.mean()), intervals


@pytest.mark.parametrize(
    ("model_name", "world"),
    [("bgnbd", bgnbd_world), ("mbgnbd", bgnbd_world), ("pareto_nbd", pareto_world)],
)
def test_the_90_percent_purchase_interval_covers_85_to_95_percent_of_customers(
    model_name: str, world
) -> None:
    """The issue's band. Measured at 20,000 customers (seeds 3, 11, 21): 92.7% (BG/NBD),
    92.8-92.9% (MBG/NBD on BG/NBD data), 92.8-93.3% (Pareto/NBD). Above 90% because a
    count's interval cannot split the mass at 0 of the many customers whose P(no
    purchase) exceeds 90%. (With "at least 90%" per customer it was 94.7-95.05%.)"""
    covered, intervals = coverage(model_name, world, 20_000, seed=3)
    assert 0.85 <= covered <= 0.95, covered
    assert list(intervals.columns) == list(INTERVAL_COLUMNS)
    assert (intervals["purchases_p05"] <= intervals["purchases_p95"]).all()


def test_intervals_widen_when_there_are_fewer_customers_to_learn_from() -> None:
    features, _ = bgnbd_world(40_000, seed=5)
    widths = {}
    for n in (400, 40_000):
        model = BTYDModel().fit(features.iloc[:n])
        intervals = PredictiveIntervals().predict(model, features.iloc[:400], HORIZON)
        widths[n] = {
            name: (intervals[f"{name}_p95"] - intervals[f"{name}_p05"]).mean()
            for name in ("btyd_p_dormant", "clv", "purchases")
        }
    assert widths[400]["btyd_p_dormant"] > 3 * widths[40_000]["btyd_p_dormant"]
    assert widths[400]["clv"] > 3 * widths[40_000]["clv"]
    assert widths[400]["purchases"] >= widths[40_000]["purchases"]


def test_intervals_surround_the_point_scores() -> None:
    features, _ = bgnbd_world(5_000, seed=7)
    model = BTYDModel().fit(features)
    points = model.predict(features, pd.Timestamp("2000-01-01"), HORIZON)
    intervals = PredictiveIntervals().predict(model, features, HORIZON)
    for name, point in (("btyd_p_dormant", "p_dormant"), ("clv", "clv")):
        low, high = intervals[f"{name}_p05"], intervals[f"{name}_p95"]
        assert ((low <= points[point] + 1e-12) & (points[point] <= high + 1e-12)).all(), name
        assert (high > low).mean() > 0.99, name  # parameter uncertainty is there
    rounded = points["expected_purchases"].round()
    inside = (intervals["purchases_p05"] <= rounded) & (rounded <= intervals["purchases_p95"])
    assert inside.mean() > 0.99
    heavy = points["expected_purchases"] > 2.0
    assert heavy.sum() > 20 and (intervals.loc[heavy, "purchases_p95"] > rounded[heavy]).all()


def test_the_pareto_nbd_predictive_law_matches_lifetimes_closed_form() -> None:
    """With the parameters fixed, the stratified remaining lifetimes reproduce lifetimes'
    ``conditional_probability_of_n_purchases_up_to_time`` (Hardie's note 028)."""
    pytest.importorskip("lifetimes")
    from lifetimes import ParetoNBDFitter

    from models.pareto_nbd import ParetoNBDModel

    state = {"params": PARETO, "covariance": np.zeros((4, 4)).tolist(), "n_customers": 1}
    model = ParetoNBDModel.from_dict(state)
    fitter = ParetoNBDFitter()
    fitter.params_ = pd.Series(PARETO)
    x, tx, T = np.array([0.0, 2.0, 8.0]), np.array([0.0, 100.0, 300.0]), np.full(3, 400.0)
    n_draws = 200
    draws = np.tile(list(PARETO.values()), (n_draws, 1))
    recursion = _ParetoCounts(draws, (np.arange(n_draws) + 0.5) / n_draws, x, T, HORIZON)
    p_alive = model.conditional_probability_alive(x, tx, T)
    for n in range(6):
        ours = p_alive * recursion.pmf(n).mean(axis=1) + (1.0 - p_alive) * (n == 0)
        recursion.advance(n)
        theirs = [
            fitter.conditional_probability_of_n_purchases_up_to_time(n, HORIZON, *history)
            for history in zip(x, tx, T, strict=True)
        ]
        np.testing.assert_allclose(ours, theirs, atol=2e-3, err_msg=f"n = {n}")


def test_the_interval_is_the_counts_90_percent_interval() -> None:
    """One draw, known pmf: P(n) = 0.5^(n+1); bounds by the documented rule."""

    class Known:
        def __init__(self) -> None:
            self.rows = np.arange(1)

        def pmf(self, n: int) -> np.ndarray:
            return np.array([[0.5 ** (n + 1)]])

        def advance(self, n: int) -> None:
            pass

        def keep(self, rows: np.ndarray) -> None:
            pass

    bounds = mixture_interval(Known(), np.ones((1, 1)))
    # CDF 0.5, 0.75, 0.875, 0.9375: lower 0 (0.5 >= 0.05); upper 2: 0.875 is nearer 0.9
    # than 0.9375.
    np.testing.assert_array_equal(bounds, [[0.0, 2.0]])
    # Half of them dead: CDF 0.75, 0.875, 0.9375: upper 1 (0.875 nearer than 0.9375).
    bounds = mixture_interval(Known(), np.full((1, 1), 0.5))
    np.testing.assert_array_equal(bounds, [[0.0, 1.0]])
    # A quarter alive: CDF 0.875, 0.9375: [0, 0] already holds 0.875, the nearest.
    bounds = mixture_interval(Known(), np.full((1, 1), 0.25))
    np.testing.assert_array_equal(bounds, [[0.0, 0.0]])


def test_the_delta_method_bounds_match_brute_force_draws_of_the_exact_closed_forms() -> None:
    """P(dormant) and CLV bounds are normal quantiles of linearised closed forms; here
    the exact closed forms are evaluated under 1,000 parameter draws instead (what the
    linearisation saves), on a small fit where the parameters are uncertain and the
    linearisation is at its worst. Measured: mean error 3.7% (P(dormant)) and 2.6% (CLV)
    of the interval's width, at most 16% and 12% (the earlier empirical quantiles of 200
    linearised draws: 4.0% and 4.3%, at most 21% and 22%). A wrong gradient or a
    forgotten variance (the Gamma-Gamma fit's) moves the bounds far more."""
    from models.predictive_intervals import _with_params, log_covariance_root

    features, _ = bgnbd_world(2_000, seed=13)
    model = BTYDModel().fit(features.iloc[:400])
    sample = features.iloc[:40]
    intervals = PredictiveIntervals().predict(model, sample, HORIZON)
    rng = np.random.default_rng(0)
    transactions, spend = model.transaction_model_, model.spend_model_
    x, tx, T = (sample[c].to_numpy() for c in ("frequency", "recency", "T"))
    m = sample["monetary_value"].to_numpy()
    dormant, clv = [], []

    def parameter_draws(model):  # ln θ ~ N(ln θ̂, covariance_ / θ̂θ̂ᵀ), as the intervals assume
        root = log_covariance_root(model)
        return model.params_.to_numpy() * np.exp(rng.standard_normal((1_000, len(root))) @ root.T)

    for theta, phi in zip(parameter_draws(transactions), parameter_draws(spend), strict=True):
        moved = _with_params(transactions, theta)
        dormant.append(moved.conditional_probability_no_purchase_up_to_time(HORIZON, x, tx, T))
        spend_moved = _with_params(spend, phi)
        clv.append(
            spend_moved.customer_lifetime_value(
                moved,
                x,
                tx,
                T,
                m,
                months=model.clv_months,
                margin=model.margin,
                monthly_discount_rate=model.monthly_discount_rate,
            )
        )
    for name, values in (("btyd_p_dormant", dormant), ("clv", clv)):
        low, high = np.quantile(np.array(values), (0.05, 0.95), axis=0)
        width = high - low
        assert (width > 0).all(), name
        errors = np.concatenate(
            [
                np.abs(intervals[f"{name}_{bound}"].to_numpy() - brute) / width
                for bound, brute in (("p05", low), ("p95", high))
            ]
        )
        assert errors.mean() < 0.05 and errors.max() < 0.20, (name, errors.mean(), errors.max())


@pytest.mark.parametrize("model_name", ["bgnbd", "pareto_nbd"])
def test_threaded_and_serial_intervals_are_the_same(monkeypatch, model_name: str) -> None:
    """Large tables evaluate the delta method's moved parameters on threads; a small
    threshold sends this table there too, and nothing may change."""
    import models.predictive_intervals as intervals_module

    features, _ = (bgnbd_world if model_name == "bgnbd" else pareto_world)(3_000, seed=9)
    model = BTYDModel(transaction_model=model_name).fit(features)
    monkeypatch.setattr(intervals_module, "_PARALLEL_PATTERNS", 10**9)
    serial = PredictiveIntervals().predict(model, features, HORIZON)
    monkeypatch.setattr(intervals_module, "_PARALLEL_PATTERNS", 1)
    monkeypatch.setattr(intervals_module, "_THREADS", 2)
    threaded = PredictiveIntervals().predict(model, features, HORIZON)
    pd.testing.assert_frame_equal(threaded, serial)
