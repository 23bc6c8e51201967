"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987): the BTYD model whose one-time buyers
can be gone.

While alive a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, rate=alpha)``
and dies, at any moment rather than only right after a purchase as in BG/NBD, at rate
``mu ~ Gamma(s, rate=beta)``. A customer silent since the first purchase has therefore had
all of ``T`` to die, and ``P(alive)`` falls with ``T`` for one-time buyers too, where BG/NBD
says exactly 1 (the artefact behind lifetimes #218, #379, #446).

The surface, names and argument order are lifetimes' ``ParetoNBDFitter``'s, so users can
switch; ``fit`` takes winback's feature table like :class:`models.bgnbd.BetaGeoModel`. The
likelihood and its fitter are in :mod:`models.pareto_nbd_likelihood`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import hyp2f1

from models.bgnbd import NEXT_ORDER_MAX_DAYS, rfm_arrays
from models.estimator import MaximumLikelihoodModel, convergence_error
from models.likelihoods import ConvergenceError, MaximumLikelihoodFit
from models.pareto_nbd_likelihood import fit_pareto_nbd, log_alive_odds_terms
from models.patterns import integer_codes


class ParetoNBDModel(MaximumLikelihoodModel):
    """Pareto/NBD with lifetimes-compatible closed forms (time unit: the features', days).

    ``__init__`` only stores its arguments; ``fit(features)`` learns ``params_`` (r, alpha,
    s, beta), ``covariance_`` and ``n_customers_``. ``penalizer_coef`` is lifetimes' (added
    to the *summed* negative log-likelihood on time scaled to ``max(T) == 1``).
    """

    param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "s", "beta")

    def __init__(self, penalizer_coef: float = 0.0, fitter: str = "fast") -> None:
        self.penalizer_coef = penalizer_coef
        self.fitter = fitter

    def fit(self, features: pd.DataFrame) -> Self:
        """Maximum-likelihood parameters from per-customer ``frequency, recency, T``.

        ``fitter="fast"``: unique patterns, (semi-)analytic gradient, BFGS and a Newton step
        (:mod:`models.pareto_nbd_likelihood`). ``fitter="lifetimes"``: lifetimes'
        ``ParetoNBDFitter`` (Nelder-Mead from a random start, tolerance 1e-4, so its
        parameters vary in the fourth digit between runs), completed with our Hessian.
        """
        frequency, recency, T = rfm_arrays(features)
        if self.fitter == "fast":
            try:
                fit = fit_pareto_nbd(frequency, recency, T, penalizer_coef=self.penalizer_coef)
            except ConvergenceError as error:
                raise convergence_error("Pareto/NBD", len(frequency), self, error) from None
        elif self.fitter == "lifetimes":
            fit = self._fit_with_lifetimes(frequency, recency, T)
        else:
            raise ValueError(f"fitter must be 'fast' or 'lifetimes', got {self.fitter!r}")
        self._store_fit(fit)
        return self

    def _fit_with_lifetimes(
        self, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray
    ) -> MaximumLikelihoodFit:
        from lifetimes import ParetoNBDFitter  # heavy, warns on import, reference fits only

        fitter = ParetoNBDFitter(penalizer_coef=self.penalizer_coef)
        fitter.fit(frequency, recency, T)
        return fit_pareto_nbd(
            frequency,
            recency,
            T,
            penalizer_coef=self.penalizer_coef,
            optimum=fitter.params_[list(self.param_names)].to_numpy(dtype=np.float64),
        )

    def conditional_probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """P(alive at T | x, t_x, T) = 1 / B (note 009, eq. 36-37; module docstring of
        :mod:`models.pareto_nbd_likelihood`): below 1 whenever ``T > t_x``."""
        frequency, recency, T = _floats(frequency, recency, T)
        return np.exp(-self._log_B(frequency, recency, T))

    def conditional_probability_no_purchase_up_to_time(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """P(no purchase in (T, T+t] | x, t_x, T) = L(x, t_x, T+t) / L(x, t_x, T).

        Why: "history up to T and nothing in (T, T+t]" is the event "x purchases, the last at
        t_x, observed until T+t", whose likelihood is the model's own. The ``Γ`` and ``α^r β^s``
        factors cancel. Equals lifetimes' ``conditional_probability_of_n_purchases_up_to_time``
        with ``n = 0`` (note 028), without its four hypergeometric terms.
        """
        frequency, recency, T, t = _floats(frequency, recency, T, t)
        r, alpha, s, beta = self._fitted_params()
        later = T + t
        log_ratio = (
            -(r + frequency) * np.log1p(t / (alpha + T))
            - s * np.log1p(t / (beta + T))
            + self._log_B(frequency, recency, later)
            - self._log_B(frequency, recency, T)
        )
        return np.exp(log_ratio)

    def conditional_expected_number_of_purchases_up_to_time(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """E[purchases in (T, T+t] | x, t_x, T] (note 009, eq. 41).

        ``P(alive) (r+x)/(α+T) (β+T)/(s-1) (1 - ((β+T)/(β+T+t))^(s-1))``: the posterior mean
        rate times the expected time alive within the horizon. The ``s -> 1`` limit,
        ``(β+T) ln(1 + t/(β+T))``, is used near ``s = 1`` (lifetimes divides by zero there).
        """
        frequency, recency, T, t = _floats(frequency, recency, T, t)
        r, alpha, s, beta = self._fitted_params()
        p_alive = self.conditional_probability_alive(frequency, recency, T)
        return p_alive * (r + frequency) / (alpha + T) * _expected_time_alive(t, s, beta + T)

    def weighted_expected_purchases(
        self,
        times: Sequence[float],
        weights: Sequence[float],
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
    ) -> np.ndarray:
        """``sum_k weights[k] E[purchases in (T, T+times[k]] | x, t_x, T]`` per customer.

        The interface :meth:`models.gamma_gamma.GammaGammaModel.customer_lifetime_value`
        calls (as for BG/NBD): P(alive), the costly part, is computed once for all horizons.
        """
        frequency, recency, T = _floats(frequency, recency, T)
        r, alpha, s, beta = self._fitted_params()
        p_alive = self.conditional_probability_alive(frequency, recency, T)
        time_alive = sum(
            weight * _expected_time_alive(np.float64(t), s, beta + T)
            for t, weight in zip(times, weights, strict=True)
        )
        return p_alive * (r + frequency) / (alpha + T) * time_alive

    def expected_number_of_purchases_up_to_time(self, t: ArrayLike) -> np.ndarray:
        """E[repeat purchases in (0, t]] of a new customer (note 009, eq. 27):
        ``r β / (α (s-1)) (1 - (β/(β+t))^(s-1))``; the cohort forecast's building block."""
        r, alpha, s, beta = self._fitted_params()
        return r / alpha * _expected_time_alive(np.asarray(t, dtype=np.float64), s, beta)

    def conditional_probability_alive_matrix(
        self, max_frequency: int, max_recency: int
    ) -> np.ndarray:
        """P(alive) on the grid ``[t_x, x]`` for ``0 <= t_x <= max_recency``,
        ``0 <= x <= max_frequency`` and ``T = max_recency`` (lifetimes' layout; vectorised)."""
        recency, frequency = np.meshgrid(
            np.arange(max_recency + 1.0), np.arange(max_frequency + 1.0), indexing="ij"
        )
        return self.conditional_probability_alive(frequency, recency, float(max_recency))

    def predict(self, features: pd.DataFrame, horizon_days: float = 90.0) -> pd.DataFrame:
        """Per-customer scores over the next ``horizon_days``, indexed like ``features``, with
        the columns of :meth:`models.bgnbd.BetaGeoModel.predict`: ``p_alive``, ``p_dormant``
        (P(no purchase within the horizon)), ``expected_purchases`` within the horizon and
        ``days_to_next_order`` (:meth:`expected_days_to_next_purchase`)."""
        frequency, recency, T = rfm_arrays(features)
        return pd.DataFrame(
            {
                "p_alive": self.conditional_probability_alive(frequency, recency, T),
                "p_dormant": self.conditional_probability_no_purchase_up_to_time(
                    horizon_days, frequency, recency, T
                ),
                "expected_purchases": self.conditional_expected_number_of_purchases_up_to_time(
                    horizon_days, frequency, recency, T
                ),
                "days_to_next_order": self.median_days_to_next_purchase(frequency, recency, T),
            },
            index=features.index,
        )

    def median_days_to_next_purchase(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        max_days: float = NEXT_ORDER_MAX_DAYS,
    ) -> np.ndarray:
        """Median days to the next purchase, given that the customer buys again (as
        :meth:`models.bgnbd.BetaGeoModel.median_days_to_next_purchase`, whose docstring
        says why conditional).

        Dead customers never buy, so "buys again" is "alive at T and buys before dying";
        given alive, ``λ ~ Gamma(r+x, rate=α+T)`` and ``μ ~ Gamma(s, rate=β+T)`` are
        independent (the history's likelihood is ``λ^x e^{-(λ+μ)T}``), so P(alive) cancels
        and the answer depends on ``(x, T)`` only: solved per unique pair with
        :func:`_median_days_if_alive`. NaN beyond ``max_days`` and where P(alive) is 0 to
        double precision.
        """
        frequency, recency, T = _floats(frequency, recency, T)
        p_alive = self.conditional_probability_alive(frequency, recency, T)
        pattern_of_row, (x, age), shape = _unique_rows(frequency, T)
        median = _median_days_if_alive(self._fitted_params(), x, age, max_days)
        days = median[pattern_of_row].reshape(shape)
        return np.where(p_alive > 0.0, days, np.nan)

    def expected_days_to_next_purchase(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        probability: float = 0.5,
        max_days: float = 730.0,
    ) -> np.ndarray:
        """Smallest t with P(at least one purchase in (T, T+t]) >= ``probability``, as
        :meth:`models.bgnbd.BetaGeoModel.expected_days_to_next_purchase`.

        NaN when that needs more than ``max_days``, and whenever the customer's chance of
        ever buying again is below ``probability``. Solved per unique ``(x, t_x, T)`` by
        Newton's method on ``ln t``, kept inside a bisection bracket. Why Newton is cheap:
        differentiating the likelihood in its horizon, the death terms cancel and
        ``d ln P(0 in t)/dt = -(r+x)/(α+T+t) · P(alive at T+t | no purchase until then)``.
        """
        if not 0.0 < probability < 1.0:
            raise ValueError(f"probability must be in (0, 1), got {probability}")
        pattern_of_row, (x, tx, age), shape = _unique_rows(frequency, recency, T)
        r, alpha, s, beta = params = np.array(self._fitted_params())
        log_B_now = np.logaddexp(*log_alive_odds_terms(params, x, tx, age))
        target = np.log1p(-probability)

        def excess(t: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """ln P(0 in t) - target and its derivative in ln t, for patterns ``rows``."""
            log_B_later = np.logaddexp(
                *log_alive_odds_terms(params, x[rows], tx[rows], age[rows] + t)
            )
            log_p0 = (
                -(r + x[rows]) * np.log1p(t / (alpha + age[rows]))
                - s * np.log1p(t / (beta + age[rows]))
                + log_B_later
                - log_B_now[rows]
            )
            slope = -t * (r + x[rows]) / (alpha + age[rows] + t) * np.exp(-log_B_later)
            return log_p0 - target, slope

        everyone = np.arange(len(x))
        reachable = excess(np.full(len(x), float(max_days)), everyone)[0] <= 0.0
        rows = everyone[reachable]
        low = np.full(len(rows), np.log(1e-9))
        high = np.full(len(rows), np.log(max_days))
        log_t = high.copy()
        solution = np.full(len(x), np.nan)
        for _ in range(100):
            if len(rows) == 0:
                break
            gap, slope = excess(np.exp(log_t), rows)
            low, high = np.where(gap > 0, log_t, low), np.where(gap > 0, high, log_t)
            done = (np.abs(gap) < 1e-12) | (high - low < 1e-13)
            solution[rows[done]] = np.exp(log_t[done])  # the point just evaluated
            with np.errstate(divide="ignore", invalid="ignore"):
                newton = log_t - gap / slope
            inside = (newton > low) & (newton < high)
            log_t = np.where(inside, newton, (low + high) / 2.0)
            rows, low, high, log_t = rows[~done], low[~done], high[~done], log_t[~done]
        return solution[pattern_of_row].reshape(shape)

    def _log_B(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """``ln B = -ln P(alive)``, computed on the unique ``(x, t_x, T)`` of the input.

        The hypergeometric function dominates the cost, and scoring tables repeat patterns
        (a million customers hold about half as many): evaluating each once halves the work.
        """
        params = np.array(self._fitted_params())
        pattern_of_row, (x, tx, age), shape = _unique_rows(frequency, recency, T)
        alive, died = log_alive_odds_terms(params, x, tx, age)
        return np.logaddexp(alive, died)[pattern_of_row].reshape(shape)


def _unique_rows(*columns: ArrayLike) -> tuple[np.ndarray, list[np.ndarray], tuple[int, ...]]:
    """Broadcast columns collapsed to unique rows: (row -> unique row, the unique rows'
    columns, the broadcast shape)."""
    arrays = np.broadcast_arrays(*(np.asarray(c, dtype=np.float64) for c in columns))
    encoded = [integer_codes(array.ravel()) for array in arrays]
    sizes = [len(values) for _, values in encoded]
    if np.prod(np.array(sizes, dtype=np.float64)) < 2.0**62:
        keys = np.ravel_multi_index([codes for codes, _ in encoded], sizes)
        row_of, unique_keys = pd.factorize(keys)
        unique_codes = np.unravel_index(unique_keys, sizes)
    else:  # millions of distinct non-integer values: no sharing worth finding
        row_of = np.arange(arrays[0].size)
        unique_codes = [codes for codes, _ in encoded]
    values = [v[codes] for (_, v), codes in zip(encoded, unique_codes, strict=True)]
    return row_of, values, arrays[0].shape


def _buys_before_dying(A: np.ndarray, s: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``E[λ/(λ+μ)]`` for ``λ ~ Gamma(A, rate=a)``, ``μ ~ Gamma(s, rate=b)`` independent:
    the probability that the next event of "buy" and "die" is a purchase.

    With ``B = aλ / (aλ + bμ) ~ Beta(A, s)``, ``λ/(λ+μ) = B / (1 - (1 - a/b)(1 - B))``;
    size-biasing by ``B`` gives ``A/(A+s) 2F1(1, s; A+s+1; 1 - a/b)``, a sum of positive
    terms (no cancellation) that scipy evaluates for any ``a/b``.
    """
    return A / (A + s) * hyp2f1(1.0, s, A + s + 1.0, 1.0 - a / b)


def _median_days_if_alive(
    params: Sequence[float], x: np.ndarray, T: np.ndarray, max_days: float
) -> np.ndarray:
    """Per ``(x, T)``: the t with ``G(t) = G(∞) / 2``, G the probability of a purchase in
    ``(T, T+t]`` for a customer alive at T; NaN if beyond ``max_days``.

    ``G(t) = h(a, b) - S(t) h(a+t, b+t)`` with ``S(t) = (a/(a+t))^A (b/(b+t))^s``, ``h``
    :func:`_buys_before_dying`, ``a = α+T``, ``b = β+T``, ``A = r+x``: buying first, minus
    buying first but after t (tilting the Gammas by ``e^{-(λ+μ)t}``). Its derivative
    ``S(t) A/(a+t)`` needs no hypergeometric function, so Newton's method on ``ln t``,
    kept inside a bisection bracket, converges in a few steps.
    """
    r, _, s, _ = params
    A, a, b = r + x, params[1] + T, params[3] + T
    half = 0.5 * _buys_before_dying(A, s, a, b)

    def gap(t: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """G(t) - G(∞)/2 and its derivative in ln t, for the pairs ``rows``."""
        survive = np.exp(-A[rows] * np.log1p(t / a[rows]) - s * np.log1p(t / b[rows]))
        later = _buys_before_dying(A[rows], s, a[rows] + t, b[rows] + t)
        return half[rows] - survive * later, t * survive * A[rows] / (a[rows] + t)

    solution = np.full(len(x), np.nan)
    rows = np.flatnonzero(gap(np.full(len(x), float(max_days)), np.arange(len(x)))[0] >= 0.0)
    low = np.full(len(rows), np.log(1e-9))
    high = np.full(len(rows), np.log(max_days))
    log_t = (low + high) / 2.0
    for _ in range(100):
        if len(rows) == 0:
            break
        excess, slope = gap(np.exp(log_t), rows)
        low, high = np.where(excess < 0, log_t, low), np.where(excess < 0, high, log_t)
        done = (np.abs(excess) <= 1e-12 * half[rows]) | (high - low < 1e-12)
        solution[rows[done]] = np.exp(log_t[done])
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = log_t - excess / slope
        inside = (newton > low) & (newton < high)
        log_t = np.where(inside, newton, (low + high) / 2.0)
        rows, low, high, log_t = rows[~done], low[~done], high[~done], log_t[~done]
    return solution


def _expected_time_alive(t: np.ndarray, s: float, scale: np.ndarray | float) -> np.ndarray:
    """``scale/(s-1) (1 - (scale/(scale+t))^(s-1))``: E[time alive in (0, t]] for a death rate
    ``mu ~ Gamma(s, rate=scale)``, with its ``s -> 1`` limit ``scale ln(1 + t/scale)``."""
    log_growth = np.log1p(t / scale)
    if abs(s - 1.0) < 1e-8:
        return scale * log_growth
    return scale * -np.expm1(-(s - 1.0) * log_growth) / (s - 1.0)


def _floats(*arrays: ArrayLike) -> list[np.ndarray]:
    return [np.asarray(array, dtype=np.float64) for array in arrays]
