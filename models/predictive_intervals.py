"""Per-customer 90% intervals: purchases in the horizon, P(dormant) and CLV.

Every BTYD score is a point; a marketer choosing whom to call needs to know how sure it is.
Two sources of uncertainty are mixed here:

* **Parameter uncertainty.** The MLE's asymptotic normal, taken in log-parameters (the
  space the fitters work in, where it is closer to normal): ``ln θ ~ N(ln θ̂, H⁻¹/n)``,
  whose covariance is ``covariance_ / (θ̂ θ̂ᵀ)`` (``covariance_`` is ``D H⁻¹ D / n``,
  :class:`models.likelihoods.MaximumLikelihoodFit`). Log-normal draws are always positive,
  so no transaction-model draw leaves the valid region and none is clipped. Gamma-Gamma
  draws with ``q <= 1`` (no finite mean spend) are redrawn.
* **The customer's own predictive distribution.** Given a history ``(x, t_x, T)`` and
  parameters, the number of purchase days in ``(T, T+t]`` has a known law. A customer
  still alive at T has ``λ ~ Gamma(r+x, rate=α+T)``; BG/NBD/MBG/NBD's drop-out
  probability is ``p ~ Beta(a, b+x+k)`` (k = 1 for MBG/NBD), and the future count is
  ``min(Poisson(λt), Geometric(p))``; Pareto/NBD's death rate is ``μ ~ Gamma(s,
  rate=β+T)``, so the remaining lifetime ``τ`` is Lomax and the count is
  ``NB(r+x, (α+T)/(α+T+min(τ, t)))``. A customer already gone buys nothing.

The purchase interval runs from the 5% quantile of the mixture, over parameter draws, of
that law to the count that brings its probability closest to 90% (:func:`mixture_interval`;
for Pareto/NBD ``τ`` is integrated by stratified sampling: draw ``d`` takes the ``τ``
quantile ``(π(d)+½)/D`` for a fixed random permutation ``π``). The pmf is built by
recurrences in ``n`` on ``(patterns, draws)`` arrays, stopping for each pattern once its
upper bound is found, so no ``gammaln`` or hypergeometric function is evaluated per
count. The draws come in antithetic pairs (``z, -z``), so ``n_draws`` (32) of them centre
the mixture on the estimate; the count is an integer, and parameter uncertainty moves
its bounds by less than a purchase except on small fits.

P(dormant) (P(no purchase in the horizon), the BTYD's) and the expected CLV have no
predictive spread of their own: their intervals are confidence intervals for the number
(not the spread of what the customer will spend), from the delta method on the logit and
log scales (:func:`linearised`): the closed form's gradient in ln θ, a normal on that
scale, and its exact 5%/95% quantiles pushed back. CLV adds the Gamma-Gamma fit's
variance to the transaction model's (independent fits). The P(dormant) interval is the
BTYD's, named ``btyd_p_dormant_*`` because the score table's ``p_dormant`` is XGBoost's.

Everything per customer-history works on unique ``(x, t_x, T)`` patterns, with a fixed
seed, so scores are deterministic. Earlier versions drew 200 parameter sets for all three
intervals and took empirical quantiles: 30 s for 300,000 customers, 100x the point
scores; the quantiles of the linearised forms are now exact and the count's mixture uses
32 draws.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from models.bgnbd import rfm_arrays
from models.btyd import BTYDModel
from models.estimator import MaximumLikelihoodModel, feature_arrays
from models.gamma_gamma import DAYS_PER_MONTH
from models.pareto_nbd import ParetoNBDModel, _unique_rows

INTERVAL_COLUMNS = (
    "purchases_p05",
    "purchases_p95",
    "btyd_p_dormant_p05",
    "btyd_p_dormant_p95",
    "clv_p05",
    "clv_p95",
)
#: Probability the purchase interval holds, and at most how much of it lies below it.
LEVEL, LOWER_TAIL = 0.90, 0.05
#: Standard normal quantile of a central 90% interval (P(dormant) and CLV, on the logit
#: and log scales): ``scipy.stats.norm.ppf(0.95)``.
_Z = 1.6448536269514722
#: Patterns per block of ``(patterns, draws)`` arrays: bounds memory at ~16 MB per array.
_BLOCK_PATTERNS = 10_000
#: Threads for the purchase-count blocks (each thread holds a block's arrays, ~16 MB each).
_THREADS = max(1, min(4, os.cpu_count() or 1))
#: Patterns from which :func:`linearised` evaluates the moved parameters on threads.
_PARALLEL_PATTERNS = 20_000
#: Largest count considered; the recursion stops earlier for every realistic horizon.
_MAX_COUNT = 100_000
#: Forward-difference step in log-parameters for :func:`linearised`.
_LOG_STEP = 1e-4
#: Probabilities and purchases are kept this far from 0 and 1 on the logit and log scales.
_TINY = 1e-12


@dataclass(frozen=True)
class PredictiveIntervals:
    """How intervals are computed: ``n_draws`` parameter draws (antithetic pairs) for the
    purchase count's mixture, from generator ``seed``."""

    n_draws: int = 32
    seed: int = 0

    def predict(self, btyd: BTYDModel, features: pd.DataFrame, horizon_days: float) -> pd.DataFrame:
        """:data:`INTERVAL_COLUMNS` per customer, indexed like ``features``."""
        frequency, recency, T = rfm_arrays(features)
        (monetary_value,) = feature_arrays(
            features, ("monetary_value",), signed=("monetary_value",)
        )
        rng = np.random.default_rng(self.seed)
        transactions = btyd.transaction_model_
        root = log_covariance_root(transactions)
        offsets = antithetic_normals(self.n_draws, len(root), rng) @ root.T  # (draws, k)
        draws = transactions.params_.to_numpy(dtype=np.float64) * np.exp(offsets)
        strata = (rng.permutation(self.n_draws) + 0.5) / self.n_draws
        pattern_of_row, (x, tx, age), _ = _unique_rows(frequency, recency, T)
        history = (x, tx, age)
        # The closed forms on all patterns at once: they deduplicate (x, T) pairs inside.
        centre, slopes = linearised(transactions, _logit_p_dormant(horizon_days, *history))
        spread = _Z * np.linalg.norm(slopes @ root, axis=1)
        p_dormant = expit(centre[:, None] + np.outer(spread, (-1.0, 1.0)))
        centre, slopes = linearised(transactions, _log_discounted_purchases(btyd, *history))
        log_discounted = np.column_stack([centre, np.linalg.norm(slopes @ root, axis=1)])
        logit_alive, alive_slopes = linearised(transactions, _logit_p_alive(*history))
        purchases = np.empty((len(x), 2))
        # Blocks of similar x: light buyers' blocks stop after a few counts, instead of
        # every block running as long as the heaviest buyer in it.
        by_frequency = np.argsort(x, kind="stable")

        def block_bounds(start: int) -> None:
            block = by_frequency[start : start + _BLOCK_PATTERNS]
            p_alive = expit(logit_alive[block, None] + alive_slopes[block] @ offsets.T)
            pair_of_row, (pair_x, pair_age), _ = _unique_rows(x[block], age[block])
            recursion = _count_recursion(
                transactions, draws, strata, pair_x, pair_age, horizon_days
            )
            purchases[block] = mixture_interval(_SharedCounts(recursion, pair_of_row), p_alive)

        # Blocks are independent, and NumPy releases the GIL inside each array operation:
        # two threads use two cores (1.6x on this machine's two).
        starts = range(0, len(x), _BLOCK_PATTERNS)
        if len(starts) <= 1 or _THREADS == 1:  # the service's few customers: no pool
            for start in starts:
                block_bounds(start)
        else:
            with ThreadPoolExecutor(max_workers=min(_THREADS, len(starts))) as pool:
                list(pool.map(block_bounds, starts))
        clv = _clv_interval(btyd, frequency, monetary_value, log_discounted[pattern_of_row])
        return pd.DataFrame(
            {
                "purchases_p05": purchases[pattern_of_row, 0].astype(np.int64),
                "purchases_p95": purchases[pattern_of_row, 1].astype(np.int64),
                "btyd_p_dormant_p05": p_dormant[pattern_of_row, 0],
                "btyd_p_dormant_p95": p_dormant[pattern_of_row, 1],
                "clv_p05": clv[:, 0],
                "clv_p95": clv[:, 1],
            },
            index=features.index,
        )


def log_covariance_root(model: MaximumLikelihoodModel) -> np.ndarray:
    """``R`` with ``R Rᵀ`` the covariance of ``ln θ̂``, ``covariance_ / θ̂θ̂ᵀ``.

    A covariance that is not finite (a Hessian that could not be inverted) gives no
    parameter uncertainty: ``R = 0``. Rounding-negative eigenvalues are set to zero rather
    than failing the whole score.
    """
    params = model.params_.to_numpy(dtype=np.float64)
    covariance = model.covariance_.to_numpy(dtype=np.float64) / np.outer(params, params)
    if not np.isfinite(covariance).all():
        return np.zeros_like(covariance)
    eigenvalues, eigenvectors = np.linalg.eigh((covariance + covariance.T) / 2.0)
    return eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))


def antithetic_normals(n_draws: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_draws, k)`` standard normals in pairs ``z, -z``: the mixture's draws are then
    centred on the estimate exactly, which a few dozen independent draws are not."""
    half = rng.standard_normal(((n_draws + 1) // 2, k))
    return np.concatenate([half, -half])[:n_draws]


def mixture_interval(recursion: _BetaGeoCounts | _ParetoCounts, p_alive: np.ndarray) -> np.ndarray:
    """``(patterns, 2)`` interval bounds of ``mean_d [(1 - p_alive_d) δ₀ + p_alive_d pmf_d]``.

    A count's equal-tailed interval over-covers: the lower bound of most customers is 0,
    below which there is nothing, so ``[q05, q95]`` holds 95% or more for them, and even
    "the smallest ``u`` with at least 90% in ``[l, u]``" holds 95% on average (one count
    more is often 97% where one fewer is 88%). Here the lower bound ``l`` is the 5%
    quantile (at most 5% below it) and the upper bound ``u >= l`` the count whose
    ``P(l <= N <= u)`` is closest to ``LEVEL``: a 90% interval in the sense of "about 90%",
    as a count allows. (Where ``[0, 0]`` already holds more, nothing narrower exists.)
    Patterns leave the recursion once their upper bound is found, so heavy buyers alone
    pay for the long tail.
    """
    n_patterns = p_alive.shape[0]
    bounds = np.full((n_patterns, 2), float(_MAX_COUNT))
    upper_target = np.full(n_patterns, np.inf)
    cumulative = 1.0 - p_alive
    previous_cdf = np.zeros(n_patterns)
    rows = np.arange(n_patterns)
    running = np.ones(n_patterns, dtype=bool)  # of ``rows``: upper bound not found yet
    for n in range(_MAX_COUNT):
        cumulative = cumulative + p_alive * recursion.pmf(n)
        cdf = cumulative.mean(axis=1)
        lower = (cdf >= LOWER_TAIL) & (bounds[rows, 0] == _MAX_COUNT)
        bounds[rows[lower], 0] = n
        upper_target[rows[lower]] = LEVEL + previous_cdf[lower]
        upper = running & (cdf >= upper_target[rows])
        below = upper_target[rows] - LEVEL  # P(N < l)
        # One count fewer, when its mass is nearer LEVEL than this one's (and still >= l).
        nearer_below = (LEVEL - (previous_cdf - below)) < ((cdf - below) - LEVEL)
        back = upper & (n - 1 >= bounds[rows, 0]) & nearer_below
        bounds[rows[upper], 1] = n
        bounds[rows[back], 1] = n - 1
        running &= ~upper
        if not running.any():
            break
        # Finished rows ride along until a quarter of them is: copying every array on
        # each count that some row finishes cost as much as the recursion itself.
        if running.mean() < 0.75:
            rows, cumulative, p_alive = rows[running], cumulative[running], p_alive[running]
            cdf = cdf[running]
            recursion.keep(running)
            running = running[running]
        previous_cdf = cdf
        recursion.advance(n)
    return bounds


class _BetaGeoCounts:
    """pmf of purchases in (T, T+t] of an alive BG/NBD/MBG/NBD customer, n = 0, 1, ...

    ``E[(1-p)^n] NB(n) + δ(n>0) E[p(1-p)^(n-1)] P(Poisson >= n)`` with ``p ~ Beta(a, b')``,
    ``b' = b+x+k``, and ``NB(n; r+x, (α+T)/(α+T+t))``: the process makes n events and the
    customer survives them, or dies at the n-th. All factors advance by one ratio per n.
    """

    def __init__(self, draws: np.ndarray, k: int, x: np.ndarray, T: np.ndarray, t: float) -> None:
        r, alpha, a, b = (draws[:, j][None, :] for j in range(4))
        x, T = x[:, None], T[:, None]
        self.shape = r + x + 0.0 * T
        self.a = a + 0.0 * x
        self.b = b + x + k + 0.0 * T
        self.log_miss = -np.log1p((alpha + T) / t) + 0.0 * x  # ln(1 - q)
        self.log_nb = self.shape * -np.log1p(t / (alpha + T))  # ln NB(0)
        self.survival = np.ones_like(self.log_nb)  # P(Poisson >= n)
        self.log_active = np.zeros_like(self.log_nb)  # ln E[(1-p)^n]
        self.log_dying = np.log(self.a / (self.a + self.b))  # ln E[p (1-p)^(n-1)], n = 1

    def pmf(self, n: int) -> np.ndarray:
        active = np.exp(self.log_active + self.log_nb)
        if n == 0:
            return active
        return active + np.exp(self.log_dying) * np.clip(self.survival, 0.0, 1.0)

    def advance(self, n: int) -> None:
        """From count n to n + 1."""
        self.survival = self.survival - np.exp(self.log_nb)
        self.log_nb = self.log_nb + np.log((self.shape + n) / (n + 1.0)) + self.log_miss
        self.log_active = self.log_active + np.log((self.b + n) / (self.a + self.b + n))
        if n >= 1:
            self.log_dying = self.log_dying + np.log((self.b + n - 1.0) / (self.a + self.b + n))

    def keep(self, rows: np.ndarray) -> None:
        for name in ("shape", "a", "b", "log_miss", "log_nb", "survival", "log_active"):
            setattr(self, name, getattr(self, name)[rows])
        self.log_dying = self.log_dying[rows]


class _ParetoCounts:
    """pmf of purchases in (T, T+t] of an alive Pareto/NBD customer, per draw d:
    ``NB(n; r+x, (α+T)/(α+T+min(τ_d, t)))``, ``τ_d`` the draw's stratum of the Lomax
    remaining lifetime ``P(τ > u) = ((β+T)/(β+T+u))^s``."""

    def __init__(
        self, draws: np.ndarray, strata: np.ndarray, x: np.ndarray, T: np.ndarray, t: float
    ) -> None:
        r, alpha, s, beta = (draws[:, j][None, :] for j in range(4))
        x, T = x[:, None], T[:, None]
        remaining = (beta + T) * np.expm1(-np.log1p(-strata[None, :]) / s)
        exposure = np.minimum(remaining, t)
        self.shape = r + x + 0.0 * T
        self.log_miss = -np.log1p((alpha + T) / exposure) + 0.0 * x
        self.log_nb = self.shape * -np.log1p(exposure / (alpha + T))

    def pmf(self, n: int) -> np.ndarray:
        return np.exp(self.log_nb)

    def advance(self, n: int) -> None:
        self.log_nb = self.log_nb + np.log((self.shape + n) / (n + 1.0)) + self.log_miss

    def keep(self, rows: np.ndarray) -> None:
        self.shape, self.log_miss = self.shape[rows], self.log_miss[rows]
        self.log_nb = self.log_nb[rows]


class _SharedCounts:
    """A count recursion on unique ``(x, T)`` pairs, read by the patterns that share them.

    The law of the future count depends on ``x`` and ``T``, not on ``t_x`` (which enters
    through P(alive) only), so patterns differing in ``t_x`` alone share one recursion
    row: within a block of similar ``x``, a few pairs per hundred patterns.
    """

    def __init__(self, recursion: _BetaGeoCounts | _ParetoCounts, pair_of_row: np.ndarray):
        self.recursion = recursion
        self.pair_of_row = pair_of_row
        self.n_pairs = int(pair_of_row.max()) + 1 if len(pair_of_row) else 0

    def pmf(self, n: int) -> np.ndarray:
        return self.recursion.pmf(n)[self.pair_of_row]

    def advance(self, n: int) -> None:
        self.recursion.advance(n)

    def keep(self, rows: np.ndarray) -> None:
        self.pair_of_row = self.pair_of_row[rows]
        used = np.zeros(self.n_pairs, dtype=bool)
        used[self.pair_of_row] = True
        if used.sum() < 0.75 * self.n_pairs:  # drop the pairs no pattern reads any more
            self.recursion.keep(used)
            self.pair_of_row = (np.cumsum(used) - 1)[self.pair_of_row]
            self.n_pairs = int(used.sum())


def _count_recursion(
    model: MaximumLikelihoodModel,
    draws: np.ndarray,
    strata: np.ndarray,
    x: np.ndarray,
    T: np.ndarray,
    t: float,
) -> _BetaGeoCounts | _ParetoCounts:
    if isinstance(model, ParetoNBDModel):
        return _ParetoCounts(draws, strata, x, T, t)
    return _BetaGeoCounts(draws, model._dropout_offset, x, T, t)


def _with_params(model: MaximumLikelihoodModel, params: np.ndarray) -> MaximumLikelihoodModel:
    """A copy of ``model`` with other parameters, for the closed forms under one draw."""
    state = {
        "params": dict(zip(model.param_names, params, strict=True)),
        "covariance": model.covariance_.to_numpy().tolist(),
        "n_customers": model.n_customers_,
    }
    return type(model).from_dict(state, penalizer_coef=model.penalizer_coef)


def linearised(
    model: MaximumLikelihoodModel,
    transformed: Callable[[MaximumLikelihoodModel], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """``(centre, slopes)``: a closed form at the estimate and its gradient in ln θ.

    ``transformed(model)`` is the closed form on a scale where it is close to linear in
    the log-parameters (logit of P(alive), log of expected purchases). Under
    ``ln θ ~ N(ln θ̂, R Rᵀ)`` it is then normal with mean ``centre`` and standard deviation
    ``|slopes R|`` (the delta method), so its quantiles are exact normal quantiles rather
    than empirical quantiles of a few hundred draws, and no ``(patterns, draws)`` array is
    needed except where a mixture over draws is (the purchase count). Why not evaluate it
    under each draw: the hypergeometric functions inside cost about 200x more than the
    ``k + 1`` evaluations of forward differences (step ``1e-4`` in ln θ: a relative error
    of about 1e-4 in the slope), and the draws lie within a few standard errors, where the
    linear term dominates.
    """
    params = model.params_.to_numpy(dtype=np.float64)
    centre = transformed(model)
    moved_models = [
        _with_params(model, params * np.exp(_LOG_STEP * unit)) for unit in np.eye(len(params))
    ]
    # The k evaluations are independent NumPy work (the GIL is released inside it), so on
    # many patterns two threads share them: 0.26 s -> 0.19 s for the three closed forms of
    # 300,000 customers (issue 18).
    if _THREADS > 1 and len(centre) >= _PARALLEL_PATTERNS:
        with ThreadPoolExecutor(max_workers=_THREADS) as pool:
            moved = list(pool.map(transformed, moved_models))
    else:
        moved = [transformed(one) for one in moved_models]
    slopes = np.column_stack([(values - centre) / _LOG_STEP for values in moved])
    return centre, slopes


def _logit_p_alive(
    x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> Callable[[MaximumLikelihoodModel], np.ndarray]:
    """logit P(alive), clipped so that BG/NBD's exact 1 for x = 0 stays finite."""

    def closed_form(model: MaximumLikelihoodModel) -> np.ndarray:
        p_alive = model.conditional_probability_alive(x, tx, T)
        return logit(np.clip(p_alive, _TINY, 1.0 - _TINY))

    return closed_form


def _logit_p_dormant(
    t: float, x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> Callable[[MaximumLikelihoodModel], np.ndarray]:
    """logit of the BTYD P(no purchase in (T, T+t]), the closed form of ``predict``."""

    def closed_form(model: MaximumLikelihoodModel) -> np.ndarray:
        p_zero = model.conditional_probability_no_purchase_up_to_time(t, x, tx, T)
        return logit(np.clip(p_zero, _TINY, 1.0 - _TINY))

    return closed_form


def _log_discounted_purchases(
    btyd: BTYDModel, x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> Callable[[MaximumLikelihoodModel], np.ndarray]:
    """ln of the discounted expected purchases over ``clv_months``: CLV's factor from the
    transaction model, weighed as
    :meth:`models.gamma_gamma.GammaGammaModel.customer_lifetime_value` does."""
    months = btyd.clv_months
    discount = (1.0 + btyd.monthly_discount_rate) ** -np.arange(1.0, months + 1)
    times = DAYS_PER_MONTH * np.arange(1, months + 1)
    weights = discount - np.append(discount[1:], 0.0)

    def closed_form(model: MaximumLikelihoodModel) -> np.ndarray:
        purchases = model.weighted_expected_purchases(times, weights, x, tx, T)
        return np.log(np.maximum(purchases, _TINY))

    return closed_form


def _clv_interval(
    btyd: BTYDModel,
    frequency: np.ndarray,
    monetary_value: np.ndarray,
    log_discounted: np.ndarray,
) -> np.ndarray:
    """5%/95% bounds of ``margin · E[profit | x, m] · discounted purchases``, per customer.

    ``ln CLV`` is the sum of ``ln`` Gamma-Gamma's expected profit
    ``p (v + x m) / (p x + q - 1)`` (a negative or non-finite ``m`` gets the population
    mean, as in :meth:`models.gamma_gamma.GammaGammaModel.conditional_expected_average_profit`)
    and ``ln`` of the discounted purchases (``log_discounted``: centre and standard
    deviation, from the transaction model). The two fits are independent, so the variances
    add; the profit's gradient in ``ln (p, q, v)`` is analytic. Customers, not patterns:
    ``m`` is continuous.
    """
    spend = btyd.spend_model_
    names = list(spend.param_names)
    p, q, v = (float(spend.params_[name]) for name in ("p", "q", "v"))
    valid = np.isfinite(monetary_value) & (monetary_value >= 0)
    x = np.where(valid, frequency, 0.0)
    m = np.where(valid, monetary_value, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        denominator = p * x + q - 1.0
        gradient = {
            "p": 1.0 - p * x / denominator,
            "q": -q / denominator,
            "v": v / (v + x * m),
        }
        # The point's own formula, so the interval surrounds the score table's CLV.
        log_profit = np.log(spend.conditional_expected_average_profit(frequency, monetary_value))
    slopes = np.column_stack([gradient[name] for name in names])
    spend_sd = np.linalg.norm(slopes @ log_covariance_root(spend), axis=1)
    sd = np.hypot(spend_sd, log_discounted[:, 1])
    log_clv = log_profit + log_discounted[:, 0]
    bounds = btyd.margin * np.exp(log_clv[:, None] + np.outer(_Z * sd, (-1.0, 1.0)))
    return np.sort(bounds, axis=1)  # a negative margin swaps the bounds
