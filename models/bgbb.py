"""BG/BB (Fader, Hardie & Shang 2010): the discrete-time BTYD model, for yearly donations,
event attendance, or any business whose customers can act once per period.

After the first transaction a customer has ``n`` transaction opportunities. While alive they
transact at each with probability ``p ~ Beta(alpha, beta)``; at the start of each they die
with probability ``theta ~ Beta(gamma, delta)``. The summary is ``frequency`` x (repeat
transactions), ``recency`` t_x (the opportunity of the last one, 0 if none) and
``n_periods`` n. Customers with the same ``(x, t_x, n)`` are interchangeable, so data
usually come as those patterns with counts (lifetimes' donations data: 22 rows for 11,104
donors); ``fit`` accepts either.

The surface, names and argument order are lifetimes' ``BetaGeoBetaBinomFitter``'s (note the
future horizon first in ``conditional_probability_alive``), so users can switch. The
likelihood is in log space with an analytic gradient, fitted like the other BTYD models
(:func:`models.likelihoods._maximise_likelihood`); lifetimes' objective, the mean negative
log-likelihood plus ``penalizer_coef * sum(params**2)``, with one difference: lifetimes adds
``1e-15`` to the likelihood's sum term to guard its ``log``, which is not needed here.
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import betaln, digamma, gammaln, logsumexp, softmax

from models.estimator import MaximumLikelihoodModel, convergence_error, feature_arrays
from models.likelihoods import (
    ConvergenceError,
    MaximumLikelihoodFit,
    _maximise_likelihood,
    _MeanNegativeLogLikelihood,
)

BGBB_COLUMNS = ("frequency", "recency", "n_periods")


def _log_terms(params: np.ndarray, x: np.ndarray, recency: np.ndarray, n: np.ndarray) -> tuple:
    """The likelihood's terms (FHS 2010, eq. 5) in logs, before ``- ln B(α,β) - ln B(γ,δ)``.

    Column 0: alive through all ``n`` opportunities, ``ln B(α+x, β+n-x) + ln B(γ, δ+n)``.
    Column ``1+i``: died at the start of opportunity ``t_x+i+1`` (``i < n - t_x``),
    ``ln B(α+x, β+t_x-x+i) + ln B(γ+1, δ+t_x+i)``; ``-inf`` where ``i >= n - t_x``.
    Returns the terms and ``j = t_x + i`` (the matrix of the death columns' periods).
    """
    alpha, beta, gamma, delta = params
    width = int(np.max(n - recency, initial=0))
    j = recency[:, None] + np.arange(width)[None, :]
    valid = j < n[:, None]
    died = betaln(alpha + x[:, None], beta + j - x[:, None]) + betaln(gamma + 1.0, delta + j)
    alive = betaln(alpha + x, beta + n - x) + betaln(gamma, delta + n)
    return np.column_stack([alive, np.where(valid, died, -np.inf)]), j, valid


def log_likelihood(
    params: np.ndarray, x: np.ndarray, recency: np.ndarray, n: np.ndarray
) -> np.ndarray:
    """Per-pattern ``ln L`` (FHS 2010, eq. 5), in log space: no overflow for long histories."""
    alpha, beta, gamma, delta = params
    terms, _, _ = _log_terms(params, x, recency, n)
    return logsumexp(terms, axis=1) - betaln(alpha, beta) - betaln(gamma, delta)


class BetaGeoBetaBinomNegativeLogLikelihood(_MeanNegativeLogLikelihood):
    """Mean negative BG/BB log-likelihood of weighted patterns and its log-gradient.

    With ``ln L = logsumexp_k(term_k) - ln B(α,β) - ln B(γ,δ)``, the gradient is the
    softmax-weighted mean of the terms' gradients minus the normalisers', and
    ``∂ ln B(a, b)/∂a = ψ(a) - ψ(a+b)``.
    """

    def __init__(
        self,
        frequency: np.ndarray,
        recency: np.ndarray,
        n_periods: np.ndarray,
        weights: np.ndarray,
        *,
        penalizer_coef: float = 0.0,
    ) -> None:
        table = pd.DataFrame({"x": frequency, "t": recency, "n": n_periods, "w": weights})
        patterns = table.groupby(["x", "t", "n"], sort=False)["w"].sum().reset_index()
        self.x, self.recency, self.n = (patterns[c].to_numpy(np.float64) for c in "xtn")
        self.weights = patterns["w"].to_numpy(np.float64)
        self.total_weight = float(self.weights.sum())
        self.penalizer_coef = penalizer_coef

    def __call__(self, log_params: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(log_params)
        alpha, beta, gamma, delta = params
        x, n = self.x, self.n
        terms, j, valid = _log_terms(params, x, self.recency, n)
        log_lik = self.weights @ logsumexp(terms, axis=1)
        log_lik -= self.total_weight * (betaln(alpha, beta) + betaln(gamma, delta))
        share = softmax(terms, axis=1) * self.weights[:, None]  # w × P(term | history)
        alive_share, died_share = share[:, 0], np.where(valid, share[:, 1:], 0.0)
        psi_ab, psi_gd = digamma(alpha + beta), digamma(gamma + delta)
        psi_alpha_x = digamma(alpha + x)
        d_alpha = self.weights @ psi_alpha_x - alive_share @ digamma(alpha + beta + n)
        d_alpha -= np.sum(died_share * digamma(alpha + beta + j))
        d_beta = alive_share @ (digamma(beta + n - x) - digamma(alpha + beta + n))
        d_beta += np.sum(died_share * (digamma(beta + j - x[:, None]) - digamma(alpha + beta + j)))
        d_gamma = alive_share @ (digamma(gamma) - digamma(gamma + delta + n))
        d_gamma += np.sum(died_share * (digamma(gamma + 1.0) - digamma(gamma + delta + 1.0 + j)))
        d_delta = alive_share @ (digamma(delta + n) - digamma(gamma + delta + n))
        d_delta += np.sum(died_share * (digamma(delta + j) - digamma(gamma + delta + 1.0 + j)))
        normaliser = self.total_weight * np.array(
            [
                digamma(alpha) - psi_ab,
                digamma(beta) - psi_ab,
                digamma(gamma) - psi_gd,
                digamma(delta) - psi_gd,
            ]
        )
        grad = np.array([d_alpha, d_beta, d_gamma, d_delta]) - normaliser
        return self._penalised(float(log_lik), grad, params)


def fit_beta_geo_beta_binom(
    frequency: np.ndarray,
    recency: np.ndarray,
    n_periods: np.ndarray,
    weights: np.ndarray,
    *,
    penalizer_coef: float = 0.0,
    optimum: np.ndarray | None = None,
) -> MaximumLikelihoodFit:
    """Maximum-likelihood ``alpha, beta, gamma, delta``; ``optimum`` as in
    :func:`models.likelihoods.fit_beta_geo` (complete a fit found elsewhere)."""
    arrays = [np.asarray(v, np.float64) for v in (frequency, recency, n_periods, weights)]

    def objective_on(rows: slice) -> BetaGeoBetaBinomNegativeLogLikelihood:
        return BetaGeoBetaBinomNegativeLogLikelihood(
            *(array[rows] for array in arrays), penalizer_coef=penalizer_coef
        )

    # Patterns are few (at most n^2/2 per n): no warm start on a sample is needed.
    fit = _maximise_likelihood(objective_on, n_rows=1, n_params=4, optimum=optimum)
    return MaximumLikelihoodFit(
        fit.params, fit.log_hessian, fit.mean_negative_log_likelihood, int(arrays[3].sum())
    )


class BetaGeoBetaBinomModel(MaximumLikelihoodModel):
    """BG/BB with lifetimes-compatible closed forms (time unit: transaction opportunities).

    ``__init__`` only stores its arguments; ``fit(features, weights)`` learns ``params_``
    (alpha, beta, gamma, delta), ``covariance_`` and ``n_customers_`` (the summed weights).
    """

    param_names: ClassVar[tuple[str, ...]] = ("alpha", "beta", "gamma", "delta")

    def __init__(self, penalizer_coef: float = 0.0) -> None:
        self.penalizer_coef = penalizer_coef

    def fit(self, features: pd.DataFrame, weights: ArrayLike | str | None = None) -> Self:
        """Fit on ``frequency, recency, n_periods`` (whole periods); ``weights`` counts the
        customers of each row (an array, or the name of a column), 1 each by default."""
        frequency, recency, n_periods = _checked(features)
        if weights is None:
            counts = np.ones_like(frequency)
        elif isinstance(weights, str):
            (counts,) = feature_arrays(features, (weights,))
        else:
            counts = np.asarray(weights, dtype=np.float64)
            if counts.shape != frequency.shape or not np.all(np.isfinite(counts) & (counts >= 0)):
                raise ValueError("weights must be one finite, non-negative count per row")
        try:
            fit = fit_beta_geo_beta_binom(
                frequency, recency, n_periods, counts, penalizer_coef=self.penalizer_coef
            )
        except ConvergenceError as error:
            raise convergence_error("BG/BB", int(counts.sum()), self, error) from None
        self._store_fit(fit)
        return self

    def conditional_probability_alive(
        self,
        m_periods_in_future: ArrayLike,
        frequency: ArrayLike,
        recency: ArrayLike,
        n_periods: ArrayLike,
    ) -> np.ndarray:
        """P(alive at opportunity ``n + m`` | x, t_x, n) (FHS 2010, eq. 11; lifetimes' A10):
        ``B(α+x, β+n-x)/B(α,β) · B(γ, δ+n+m)/B(γ,δ) / L``."""
        alpha, beta, gamma, delta = params = np.array(self._fitted_params())
        m, x, tx, n = _broadcast(m_periods_in_future, frequency, recency, n_periods)
        log_alive = betaln(alpha + x, beta + n - x) + betaln(gamma, delta + n + m)
        log_alive -= betaln(alpha, beta) + betaln(gamma, delta)
        return np.exp(log_alive - log_likelihood(params, x, tx, n)).reshape(x.shape)

    def conditional_expected_number_of_purchases_up_to_time(
        self,
        m_periods_in_future: ArrayLike,
        frequency: ArrayLike,
        recency: ArrayLike,
        n_periods: ArrayLike,
    ) -> np.ndarray:
        """E[transactions in opportunities n+1..n+m | x, t_x, n] (FHS 2010, eq. 13):

        ``B(α+x+1, β+n-x)/B(α,β) · δ/(γ-1) · Γ(γ+δ)/Γ(1+δ) · (Γ(1+δ+n)/Γ(γ+δ+n) -
        Γ(1+δ+n+m)/Γ(γ+δ+n+m)) / L``, with the Gamma ratios in logs.
        """
        alpha, beta, gamma, delta = params = np.array(self._fitted_params())
        m, x, tx, n = _broadcast(m_periods_in_future, frequency, recency, n_periods)
        log_scale = betaln(alpha + x + 1.0, beta + n - x) - betaln(alpha, beta)
        log_scale += (
            gammaln(gamma + delta) - gammaln(1.0 + delta) - log_likelihood(params, x, tx, n)
        )
        return np.exp(log_scale) * delta / (gamma - 1.0) * _survival_difference(gamma, delta, n, m)

    def expected_number_of_purchases_up_to_time(self, n_periods: ArrayLike) -> np.ndarray:
        """E[repeat transactions in the first ``n`` opportunities] of a new customer
        (FHS 2010, eq. 9): ``α/(α+β) · δ/(γ-1) · (1 - Γ(γ+δ) Γ(1+δ+n) / (Γ(γ+δ+n) Γ(1+δ)))``;
        the cohort forecast's building block."""
        alpha, beta, gamma, delta = self._fitted_params()
        n = np.asarray(n_periods, dtype=np.float64)
        growth = gammaln(gamma + delta) - gammaln(1.0 + delta)
        growth = growth + gammaln(1.0 + delta + n) - gammaln(gamma + delta + n)
        return alpha / (alpha + beta) * delta / (gamma - 1.0) * -np.expm1(growth)


def _survival_difference(gamma: float, delta: float, n: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``Γ(1+δ+n)/Γ(γ+δ+n) - Γ(1+δ+n+m)/Γ(γ+δ+n+m)``, as one ratio times ``-expm1``: exact
    for small ``m`` where the two ratios nearly cancel."""
    first = gammaln(1.0 + delta + n) - gammaln(gamma + delta + n)
    second = gammaln(1.0 + delta + n + m) - gammaln(gamma + delta + n + m)
    return np.exp(first) * -np.expm1(second - first)


def _broadcast(*arrays: ArrayLike) -> list[np.ndarray]:
    """Float arrays broadcast to one shape and flattened (the likelihood works on vectors)."""
    return [a.ravel() for a in np.broadcast_arrays(*(np.asarray(v, np.float64) for v in arrays))]


def _checked(features: pd.DataFrame) -> list[np.ndarray]:
    """``frequency, recency, n_periods`` with the model's constraints, named on failure."""
    frequency, recency, n_periods = feature_arrays(features, BGBB_COLUMNS)
    if len(frequency) == 0:
        raise ValueError("features have no rows")
    for name, column in zip(BGBB_COLUMNS, (frequency, recency, n_periods), strict=True):
        if (column != np.floor(column)).any():
            raise ValueError(f"column {name!r} must hold whole numbers of periods")
    if (recency > n_periods).any() or (frequency > recency).any():
        raise ValueError("need frequency <= recency <= n_periods in every row")
    if ((frequency == 0) != (recency == 0)).any():
        raise ValueError("column 'recency' must be 0 exactly where column 'frequency' is 0")
    return [frequency, recency, n_periods]
