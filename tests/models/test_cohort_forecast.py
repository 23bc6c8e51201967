"""New-customer forecasts: against lifetimes' closed forms and against simulations of the
BG/NBD + Gamma-Gamma and Pareto/NBD processes with known parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import BetaGeoModel, GammaGammaModel, ModifiedBetaGeoModel, generate_transactions
from models.cohort_forecast import (
    cohort_forecast_table,
    cohort_repeat_purchases,
    customers_acquired,
    expected_repeat_purchases,
    value_per_purchase,
)
from models.pareto_nbd import ParetoNBDModel
from models.synthetic_pareto_nbd import generate_pareto_nbd_summary

BGNBD = {"r": 1.0, "alpha": 100.0, "a": 0.8, "b": 2.5}
PARETO = {"r": 1.0, "alpha": 100.0, "s": 1.5, "beta": 200.0}
GG = {"p": 6.0, "q": 4.0, "v": 15.0}
START = pd.Timestamp("2020-01-01")
N_SIMULATED = 200_000


def _known(model_class: type, params: dict[str, float]):
    size = len(params)
    state = {"params": params, "covariance": np.eye(size).tolist(), "n_customers": 1}
    return model_class.from_dict(state)


@pytest.mark.parametrize(
    ("model_class", "params", "fitter"),
    [
        (BetaGeoModel, BGNBD, "BetaGeoFitter"),
        (ModifiedBetaGeoModel, BGNBD, "ModifiedBetaGeoFitter"),
        (ParetoNBDModel, PARETO, "ParetoNBDFitter"),
    ],
)
def test_a_cohort_acquired_at_once_is_lifetimes_new_customer_times_its_size(
    model_class: type, params: dict[str, float], fitter: str
) -> None:
    import lifetimes

    reference = getattr(lifetimes, fitter)()
    reference.params_ = pd.Series(params)
    t = np.array([1.0, 30.0, 90.0, 365.0, 730.0])
    expected = 250 * np.array([reference.expected_number_of_purchases_up_to_time(d) for d in t])
    forecast = cohort_repeat_purchases(_known(model_class, params), t, cohort_size=250)
    np.testing.assert_allclose(forecast, expected, rtol=1e-9)


def _mean_and_error(values: pd.Series | np.ndarray) -> tuple[float, float]:
    values = np.asarray(values, dtype=np.float64)
    return values.mean(), values.std() / np.sqrt(len(values))


@pytest.mark.parametrize("acquisition_days", [1, 90])
def test_bgnbd_cohort_matches_simulated_purchases_and_spend(acquisition_days: int) -> None:
    """A year after the cohort's first acquisition. Every simulated transaction is a row
    (no same-day merging), so rows - 1 per customer is the process's repeat purchases, and
    every transaction's value is drawn as Gamma-Gamma says. The simulator acquires on
    whole days 0..D-1, a continuous uniform on (-0.5, D-0.5): with D > 1 the forecast is
    read half a day later."""
    days = 365
    transactions = generate_transactions(
        N_SIMULATED,
        BGNBD,
        GG,
        acquisition_days=acquisition_days,
        observation_end=START + pd.Timedelta(days=days),
        seed=11,
    )
    per_customer = transactions.groupby("customer_id").agg(
        repeat=("amount", "size"), spend=("amount", "sum")
    )
    per_customer["repeat"] -= 1
    over, shift = (0.0, 0.0) if acquisition_days == 1 else (float(acquisition_days), 0.5)
    last = cohort_forecast_table(
        _known(BetaGeoModel, BGNBD), _known(GammaGammaModel, GG), 1.0, days + shift, over
    ).iloc[-1]
    for column in ("repeat", "spend"):
        mean, error = _mean_and_error(per_customer[column])
        forecast = last["repeat_purchases" if column == "repeat" else "spend"]
        assert abs(forecast - mean) < 4 * error, (column, forecast, mean, error)


@pytest.mark.parametrize(
    ("acquired_over_days", "days"), [(0.0, 365.0), (180.0, 365.0), (180.0, 90.0)]
)
def test_pareto_cohort_matches_simulated_purchases(acquired_over_days, days) -> None:
    """generate_pareto_nbd_summary draws T uniform on [min_T, max_T]: the customers of a
    cohort acquired uniformly over (0, D) who are acquired by t have T uniform on
    [max(t - D, 0), t]; they are min(t, D) / D of it."""
    world = generate_pareto_nbd_summary(
        N_SIMULATED, PARETO, min_T=max(days - acquired_over_days, 1e-9), max_T=days, seed=12
    )
    share = 1.0 if acquired_over_days == 0 else min(days, acquired_over_days) / acquired_over_days
    mean, error = _mean_and_error(world["frequency"] * share)
    model = _known(ParetoNBDModel, PARETO)
    forecast = cohort_repeat_purchases(model, days, 1.0, acquired_over_days)
    assert abs(forecast - mean) < 4 * error


def test_the_integral_over_acquisition_times_is_accurate() -> None:
    model = _known(BetaGeoModel, {"r": 0.25, "alpha": 2.0, "a": 0.8, "b": 2.5})
    t, D = np.array([10.0, 100.0, 400.0]), 120.0
    acquisition = (np.arange(200_000) + 0.5) / 200_000 * D  # midpoint rule
    for day, forecast in zip(t, cohort_repeat_purchases(model, t, 1.0, D), strict=True):
        ages = day - acquisition[acquisition < day]
        riemann = expected_repeat_purchases(model, ages).sum() / len(acquisition)
        assert forecast == pytest.approx(riemann, rel=1e-6)


def test_the_table_is_cumulative_by_step_and_ends_at_the_horizon() -> None:
    model, spend_model = _known(BetaGeoModel, BGNBD), _known(GammaGammaModel, GG)
    table = cohort_forecast_table(model, spend_model, 1_000, 100, acquired_over_days=45)
    assert list(table.columns) == ["day", "customers", "repeat_purchases", "purchases", "spend"]
    np.testing.assert_array_equal(table["day"], [30.0, 60.0, 90.0, 100.0])
    np.testing.assert_allclose(table["customers"], [1000 * 30 / 45, 1000, 1000, 1000])
    assert (np.diff(table[["repeat_purchases", "purchases", "spend"]], axis=0) > 0).all()
    np.testing.assert_allclose(table["purchases"], table["customers"] + table["repeat_purchases"])
    mean_value = GG["p"] * GG["v"] / (GG["q"] - 1)
    np.testing.assert_allclose(table["spend"], table["purchases"] * mean_value)
    np.testing.assert_allclose(customers_acquired([0.0, 50.0], 10, 0), [10.0, 10.0])


def test_bad_inputs_are_refused() -> None:
    model = _known(BetaGeoModel, BGNBD)
    with pytest.raises(ValueError, match="q = 0.9"):
        value_per_purchase(_known(GammaGammaModel, {"p": 6.0, "q": 0.9, "v": 15.0}))
    with pytest.raises(ValueError, match="cohort_size"):
        cohort_repeat_purchases(model, 10.0, 0)
    with pytest.raises(ValueError, match="acquired_over_days"):
        cohort_repeat_purchases(model, 10.0, 5, -1)
    with pytest.raises(ValueError, match="t must be"):
        expected_repeat_purchases(model, [-1.0])
