"""New-customer (cohort) forecasts: what a group of customers not acquired yet will buy.

The scores table answers for customers who exist; planning an acquisition campaign needs
the same models' answer for customers who have just made their first purchase (CLVTools'
``newcustomer()``, lifetimes' ``expected_number_of_purchases_up_to_time``). A new
customer's history is ``x = t_x = T = 0``, so every fitted transaction model (BG/NBD,
MBG/NBD, Pareto/NBD) gives ``E(t)``, the expected repeat purchases in the ``t`` days after
acquisition, in closed form. Gamma-Gamma gives a new customer's expected value per
purchase: the population mean ``p v / (q - 1)`` (no history to shrink towards).

A cohort of ``N`` customers acquired uniformly over ``D`` days (``D = 0``: all on day 0)
has, ``t`` days after the acquisition period started, ``N min(t, D) / D`` customers, each
with the time since their own acquisition left to buy:

    repeat(t) = N / D ∫_0^min(t, D) E(t - u) du = N / D ∫_max(0, t-D)^t E(v) dv,

integrated adaptively (``E`` is smooth and increasing; a hand-rolled rule would need care
when ``t`` is far larger than the models' ``alpha``). Purchases include each customer's
first one (the acquisition), as a revenue plan counts it; spend is purchases times the
value per purchase, since the model draws every transaction's value from the same
distribution. Time is in the unit the models were fitted in: days for winback's features.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.integrate import quad_vec

from models.gamma_gamma import DAYS_PER_MONTH, GammaGammaModel

#: Relative tolerance of the integral over acquisition times; far below any model error.
_INTEGRAL_RTOL = 1e-10


class NewCustomerModel(Protocol):
    """What a transaction model needs for a cohort forecast (BG/NBD, MBG/NBD, Pareto/NBD)."""

    def expected_number_of_purchases_up_to_time(self, t: ArrayLike) -> np.ndarray: ...


def expected_repeat_purchases(model: NewCustomerModel, t: ArrayLike) -> np.ndarray:
    """E[repeat purchases in (0, t]] of one customer acquired at time 0 (0 at ``t = 0``).

    A thin, checked wrapper so the cohort code never feeds a model a negative age (the
    closed forms would extrapolate instead of saying "not acquired yet").
    """
    t = np.asarray(t, dtype=np.float64)
    if (t < 0).any() or not np.isfinite(t).all():
        raise ValueError("t must be finite days >= 0 since acquisition")
    return np.asarray(model.expected_number_of_purchases_up_to_time(t), dtype=np.float64)


def cohort_repeat_purchases(
    model: NewCustomerModel,
    t: ArrayLike,
    cohort_size: float,
    acquired_over_days: float = 0.0,
) -> np.ndarray:
    """Cumulative expected repeat purchases of the cohort by ``t`` days after it starts.

    ``acquired_over_days = 0``: the whole cohort is acquired on day 0, so this is
    ``cohort_size * E(t)``. Otherwise acquisitions are uniform over ``(0, D)`` and each
    customer contributes ``E`` of the time left after their own acquisition (module
    docstring); the integral is evaluated for all ``t`` at once by ``quad_vec``.
    """
    _check_cohort(cohort_size, acquired_over_days)
    t = np.asarray(t, dtype=np.float64)
    if (t < 0).any() or not np.isfinite(t).all():
        raise ValueError("t must be finite days >= 0 since the cohort's first acquisition")
    if acquired_over_days == 0:
        return cohort_size * expected_repeat_purchases(model, t)
    flat = t.ravel()
    start = np.maximum(flat - acquired_over_days, 0.0)
    width = flat - start

    def integrand(share: float) -> np.ndarray:
        return expected_repeat_purchases(model, start + share * width) * width

    integral, _ = quad_vec(integrand, 0.0, 1.0, epsrel=_INTEGRAL_RTOL, epsabs=0.0)
    return (cohort_size / acquired_over_days * integral).reshape(t.shape)


def customers_acquired(
    t: ArrayLike, cohort_size: float, acquired_over_days: float = 0.0
) -> np.ndarray:
    """Customers acquired by ``t``: all of them at once, or ``N min(t, D) / D``."""
    _check_cohort(cohort_size, acquired_over_days)
    t = np.asarray(t, dtype=np.float64)
    if acquired_over_days == 0:
        return np.full(t.shape, float(cohort_size))
    return cohort_size * np.minimum(t, acquired_over_days) / acquired_over_days


def value_per_purchase(spend_model: GammaGammaModel) -> float:
    """A new customer's expected value per purchase, Gamma-Gamma's ``p v / (q - 1)``.

    Refused for ``q <= 1``: the population mean does not exist there (Gamma-Gamma then
    says a new customer's spend is unbounded), which a forecast must not print as a number.
    """
    p, q, v = (float(spend_model.params_[name]) for name in ("p", "q", "v"))
    if not q > 1.0:
        raise ValueError(
            f"the Gamma-Gamma fit has q = {q:.4g} <= 1: its mean value per purchase does not "
            "exist, so no spend can be forecast (fit it on more repeat buyers)"
        )
    return p * v / (q - 1.0)


def cohort_forecast_table(
    transaction_model: NewCustomerModel,
    spend_model: GammaGammaModel,
    cohort_size: float,
    horizon_days: float,
    acquired_over_days: float = 0.0,
    step_days: float = DAYS_PER_MONTH,
) -> pd.DataFrame:
    """Cumulative forecast every ``step_days`` (30 by default: lifetimes' month) to the horizon.

    One row per step, the last at ``horizon_days`` exactly: ``day``, ``customers``
    (acquired so far), ``repeat_purchases``, ``purchases`` (repeat plus each customer's
    first) and ``spend`` (purchases times :func:`value_per_purchase`). Cumulative, because
    "what will the cohort have bought by month k" is the planning question; differences
    of consecutive rows give each step's own numbers.
    """
    if not horizon_days > 0 or not step_days > 0:
        raise ValueError("horizon_days and step_days must be > 0")
    days = np.arange(step_days, horizon_days, step_days, dtype=np.float64)
    days = np.append(days[days < horizon_days], float(horizon_days))
    customers = customers_acquired(days, cohort_size, acquired_over_days)
    repeat = cohort_repeat_purchases(transaction_model, days, cohort_size, acquired_over_days)
    purchases = customers + repeat
    return pd.DataFrame(
        {
            "day": days,
            "customers": customers,
            "repeat_purchases": repeat,
            "purchases": purchases,
            "spend": purchases * value_per_purchase(spend_model),
        }
    )


def _check_cohort(cohort_size: float, acquired_over_days: float) -> None:
    if not cohort_size > 0 or not np.isfinite(cohort_size):
        raise ValueError(f"cohort_size must be a positive number, got {cohort_size}")
    if not acquired_over_days >= 0 or not np.isfinite(acquired_over_days):
        raise ValueError(f"acquired_over_days must be >= 0, got {acquired_over_days}")
