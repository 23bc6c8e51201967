"""The next order date: the median time to the next purchase given that there is one,
checked against simulations of BG/NBD, MBG/NBD and Pareto/NBD with known parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import BetaGeoModel, ModifiedBetaGeoModel, generate_transactions
from models.pareto_nbd import ParetoNBDModel, _buys_before_dying
from models.synthetic_pareto_nbd import generate_pareto_nbd_summary

#: Known parameters, in days, chosen so that the medians fall inside two years.
BGNBD = {"r": 1.0, "alpha": 100.0, "a": 0.8, "b": 2.5}
PARETO = {"r": 1.0, "alpha": 100.0, "s": 1.5, "beta": 200.0}
GG = {"p": 6.0, "q": 4.0, "v": 15.0}
AGE = 200.0  # every simulated customer's T, so that customers with equal x share a history


def _known(model_class: type, params: dict[str, float]):
    state = {"params": params, "covariance": np.eye(4).tolist(), "n_customers": 1}
    return model_class.from_dict(state)


@pytest.fixture(scope="module")
def bgnbd_world() -> pd.DataFrame:
    """200,000 BG/NBD customers of age 200 days: repeat purchases x (every event counts)
    and, for those alive at T, their next purchase time (memoryless: Exp(lambda))."""
    transactions, truth = generate_transactions(
        200_000,
        BGNBD,
        GG,
        acquisition_days=1,
        observation_end=pd.Timestamp("2020-01-01") + pd.Timedelta(days=AGE),
        seed=3,
        return_truth=True,
    )
    truth["x"] = transactions.groupby("customer_id").size().reindex(truth.index) - 1.0
    rng = np.random.default_rng(4)
    truth["next"] = np.where(truth["alive_at_end"], rng.exponential(1.0 / truth["lambda"]), np.inf)
    return truth


def test_bgnbd_median_is_the_simulated_median_of_customers_who_buy_again(bgnbd_world) -> None:
    model = _known(BetaGeoModel, BGNBD)
    for x in (0.0, 1.0, 2.0, 4.0):
        group = bgnbd_world[bgnbd_world["x"] == x]
        buyers = group["next"][np.isfinite(group["next"])]
        assert len(buyers) > 2_000
        predicted = model.median_days_to_next_purchase(x, AGE if x else 0.0, AGE)
        assert predicted == pytest.approx(np.median(buyers), rel=0.04), x


def test_mbgnbd_uses_the_same_conditional_median(bgnbd_world) -> None:
    """Given alive at T both models have the same rate posterior; P(alive) cancels."""
    x, t_x = np.array([0.0, 1.0, 3.0]), np.array([0.0, 50.0, 150.0])
    np.testing.assert_allclose(
        _known(ModifiedBetaGeoModel, BGNBD).median_days_to_next_purchase(x, t_x, AGE),
        _known(BetaGeoModel, BGNBD).median_days_to_next_purchase(x, t_x, AGE),
    )


def test_bgnbd_median_beyond_two_years_is_undefined() -> None:
    model = _known(BetaGeoModel, {"r": 0.25, "alpha": 30.0, "a": 0.8, "b": 2.5})
    # A one-time buyer of age 300: (330) (2^4 - 1) = 4,950 days, far beyond 730.
    days = model.median_days_to_next_purchase([0.0, 5.0], [0.0, 290.0], [300.0, 300.0])
    assert np.isnan(days[0]) and 0 < days[1] < 730
    assert model.median_days_to_next_purchase(0.0, 0.0, 300.0, max_days=10_000) == (
        pytest.approx(330.0 * 15.0)
    )


@pytest.fixture(scope="module")
def pareto_world() -> pd.DataFrame:
    """300,000 Pareto/NBD customers of age 200 days; ``next`` is the time after T of the
    next purchase of those alive who buy before dying (inf otherwise)."""
    world = generate_pareto_nbd_summary(300_000, PARETO, min_T=AGE, max_T=AGE, seed=5)
    rng = np.random.default_rng(6)
    gap = rng.exponential(1.0 / world["lambda"])
    buys = world["alive"] & (AGE + gap < world["death_time"])
    world["next"] = np.where(buys, gap, np.inf)
    return world


def test_pareto_probability_of_buying_before_dying_matches_simulation(pareto_world) -> None:
    for x in (0.0, 1.0, 3.0):
        alive = pareto_world[(pareto_world["frequency"] == x) & pareto_world["alive"]]
        simulated = np.isfinite(alive["next"]).mean()
        a, b = PARETO["alpha"] + AGE, PARETO["beta"] + AGE
        model = _buys_before_dying(np.array(PARETO["r"] + x), PARETO["s"], a, b)
        standard_error = np.sqrt(simulated * (1 - simulated) / len(alive))
        assert abs(model - simulated) < 4 * standard_error, x


def test_pareto_median_is_the_simulated_median_of_customers_who_buy_again(pareto_world) -> None:
    model = _known(ParetoNBDModel, PARETO)
    for x in (0.0, 1.0, 2.0, 4.0):
        group = pareto_world[pareto_world["frequency"] == x]
        buyers = group["next"][np.isfinite(group["next"])]
        assert len(buyers) > 2_000
        # t_x does not matter (P(alive) cancels); any valid one will do.
        predicted = model.median_days_to_next_purchase(x, AGE / 2 if x else 0.0, AGE)
        assert predicted == pytest.approx(np.median(buyers), rel=0.04), x


def test_pareto_median_is_defined_for_long_gone_one_time_buyers_and_nan_past_the_horizon():
    model = _known(ParetoNBDModel, PARETO)
    x, t_x, T = np.array([0.0, 0.0, 8.0]), np.array([0.0, 0.0, 10.0]), np.array([5.0, 700, 700])
    days = model.median_days_to_next_purchase(x, t_x, T)
    assert np.isfinite(days).all() and (days > 0).all()
    assert np.isnan(model.median_days_to_next_purchase(0.0, 0.0, 700.0, max_days=5.0))
    # Where the median exists for both, the horizon does not move it.
    np.testing.assert_allclose(
        model.median_days_to_next_purchase(x, t_x, T, max_days=5_000.0), days, rtol=1e-9
    )
