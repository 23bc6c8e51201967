"""Per-customer ``(frequency, recency, T)`` drawn from the Pareto/NBD process, with the truth.

For recovery tests and benchmarks of :class:`models.pareto_nbd.ParetoNBDModel`.
``lifetimes.generate_data.pareto_nbd_model`` loops over customers in Python (minutes at a
million) and counts purchases by ``np.unique(times.astype(int))``, so its ``frequency`` is
not the model's; this draws the summary directly, without any per-transaction array:

* ``lambda ~ Gamma(r, rate=alpha)``, ``mu ~ Gamma(s, rate=beta)``, death after
  ``tau ~ Exponential(mu)``;
* purchases form a Poisson process of rate ``lambda`` on ``[0, min(tau, T)]``: their number
  is ``x ~ Poisson(lambda min(tau, T))`` and, given ``x``, they are uniform there, so the
  last one is at ``t_x = min(tau, T) U^(1/x)`` (the maximum of ``x`` uniforms).

``whole_days=True`` floors ``t_x`` to a whole day and draws ``T`` as whole days, as a
day-based feature table holds them (a purchase on a later day than the first one counts, so
this is the model up to the rounding of ``t_x``, floored at day 1 for repeat buyers;
same-day repeat purchases are not merged).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd


def generate_pareto_nbd_summary(
    n_customers: int,
    params: Mapping[str, float],
    *,
    max_T: float = 730.0,
    min_T: float = 1.0,
    whole_days: bool = False,
    seed: int = 0,
) -> pd.DataFrame:
    """``n_customers`` rows with ``frequency, recency, T`` and the latent ``lambda, mu,
    death_time, alive`` (alive at ``T``); ``T`` is uniform on ``[min_T, max_T]`` (customers
    acquired uniformly over the period), in the unit of ``alpha`` and ``beta``."""
    if not 0 < min_T <= max_T:
        raise ValueError(f"need 0 < min_T <= max_T, got min_T={min_T}, max_T={max_T}")
    rng = np.random.default_rng(seed)
    if whole_days:
        T = rng.integers(int(np.ceil(min_T)), int(max_T) + 1, n_customers).astype(np.float64)
    else:
        T = rng.uniform(min_T, max_T, n_customers)
    rate = rng.gamma(params["r"], 1.0 / params["alpha"], n_customers)
    death_rate = rng.gamma(params["s"], 1.0 / params["beta"], n_customers)
    with np.errstate(divide="ignore"):  # a death rate that underflowed to 0 never dies
        death_time = rng.exponential(1.0 / death_rate)
    observed = np.minimum(death_time, T)
    frequency = rng.poisson(rate * observed).astype(np.float64)
    with np.errstate(divide="ignore"):
        last_share = rng.uniform(size=n_customers) ** (1.0 / frequency)
    recency = np.where(frequency > 0, observed * last_share, 0.0)
    if whole_days:
        # A repeat purchase day is a later day than the first purchase: t_x >= 1.
        recency = np.where(frequency > 0, np.clip(np.floor(recency), 1.0, T), 0.0)
    return pd.DataFrame(
        {
            "frequency": frequency,
            "recency": recency,
            "T": T,
            "lambda": rate,
            "mu": death_rate,
            "death_time": death_time,
            "alive": death_time > T,
        }
    )
