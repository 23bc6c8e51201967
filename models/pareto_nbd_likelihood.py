"""The Pareto/NBD log-likelihood in a form that neither overflows nor cancels, and its fitter.

Schmittlein, Morrison & Colombo (1987); formulas from Fader & Hardie's note 009, "A Note on
Deriving the Pareto/NBD Model and Related Expressions" (2005), eq. (18)-(20). While alive a
customer buys at rate ``lambda ~ Gamma(r, rate=alpha)`` and dies at rate
``mu ~ Gamma(s, rate=beta)``. With ``c = r + s + x`` the likelihood of ``(x, t_x, T)`` is

    L = Γ(r+x) α^r β^s / Γ(r) · [ (α+T)^-(r+x) (β+T)^-s + s ∫_{t_x}^T (α+y)^-(r+x) (β+y)^-(s+1) dy ]

and the integral is ``(G(t_x) - G(T)) / c`` with ``G(y) = (α+y)^-(r+x) (β+y)^-s h(y)``:

    α >= β:  h(y) = 2F1(1, r+x; c+1; (α-β)/(α+y))
    α <  β:  h(y) = (α+y)/(β+y) · 2F1(1, s+1; c+1; (β-α)/(β+y))

(note 009's ``2F1(c, ·; c+1; z)``, moved by Euler's transformation to an upper parameter 1).
Why this form rather than lifetimes' ``A_0``: lifetimes evaluates ``2F1(c, ·; c+1; z)``, which
grows like ``(1-z)^(1-r-x)`` and overflows for heavy buyers when α and β differ, and takes the
difference of two such terms with ``logsumexp`` (NaN when rounding makes it negative). Here
``h`` is bounded (``0 < s h / c < 1``), so with ``k = s / c`` and
``D = (r+x) ln((α+T)/(α+t_x)) + s ln((β+T)/(β+t_x)) >= 0``

    ln L = A(x) - (r+x) ln(α+T) - s ln(β+T) + ln B,    B = (1 - k h(T)) + k h(t_x) e^D >= 1

is a sum of two positive terms in log space, and ``P(alive) = 1 / B`` (note 009, eq. 36-37),
which is below 1 for every customer with ``T > t_x``, one-time buyers included.

Fitting follows :mod:`models.likelihoods`: customers collapsed to unique ``(x, t_x, T)``
patterns, terms in ``x`` or ``T`` alone computed on their unique values, ``h`` (the costly
part) computed on the unique ``(x, T)`` and ``(x, t_x)`` pairs, and an analytic gradient except
for ``∂ ln h / ∂(r, s)``, central differences of ``ln 2F1`` on those pairs (the derivatives of
2F1 in its parameters have no closed form in scipy; in ``z``, which carries α and β, they do).
The objective is lifetimes' own: time rescaled to ``max(T) == 1`` and
``penalizer_coef * sum(params**2)`` added to the *summed* negative log-likelihood
(``ParetoNBDFitter`` divides by the mean weight, 1, not by the number of customers as its
BG/NBD fitter does), so penalised fits agree with lifetimes too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln, hyp2f1

from models.likelihoods import (
    MaximumLikelihoodFit,
    _dot,
    _maximise_likelihood,
    _MeanNegativeLogLikelihood,
)
from models.patterns import unique_patterns

#: Step of the central differences of ``ln h`` in log-parameter space: truncation error
#: ``~step**2`` and rounding error ``~1e-16 / step`` both near 1e-11.
_LOG_STEP = 1e-5


def log_h(params: np.ndarray, x: np.ndarray, y: np.ndarray, alpha_ge_beta: bool) -> np.ndarray:
    """``ln h(y)`` of the module docstring; ``alpha_ge_beta`` picks the representation.

    Both representations are the same analytic function; the one with ``0 <= z`` is used,
    where every term of the series is positive. The branch is passed in (and fixed by the
    caller from the unperturbed parameters) so that perturbed evaluations keep it.
    """
    r, alpha, s, beta = params
    b, c, z = _hypergeometric_arguments(params, x, y, alpha_ge_beta)
    log_F = np.log(hyp2f1(1.0, b, c, z))
    return log_F if alpha_ge_beta else log_F + np.log((alpha + y) / (beta + y))


def _hypergeometric_arguments(
    params: np.ndarray, x: np.ndarray, y: np.ndarray, alpha_ge_beta: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(b, c, z)`` of ``h``'s ``2F1(1, b; c; z)``: ``0 <= z < 1`` in either branch."""
    r, alpha, s, beta = params
    c = r + s + x + 1.0
    if alpha_ge_beta:
        return r + x, c, (alpha - beta) / (alpha + y)
    return np.full_like(c, s + 1.0), c, (beta - alpha) / (beta + y)


def log_h_gradient(
    params: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``ln h`` and its gradient in the natural parameters (rows r, alpha, s, beta).

    alpha and beta enter through ``z`` only (and the elementary prefactor of the ``α < β``
    branch), and ``d 2F1(1, b; c; z)/dz = (b/c) 2F1(2, b+1; c+1; z)``: analytic. r and s
    enter through ``b`` and ``c``, whose derivatives have no closed form: central
    differences of ``ln 2F1`` at fixed ``z``.
    """
    r, alpha, s, beta = params
    alpha_ge_beta = bool(alpha >= beta)
    b, c, z = _hypergeometric_arguments(params, x, y, alpha_ge_beta)
    F = hyp2f1(1.0, b, c, z)
    d_log_F_dz = b / c * hyp2f1(2.0, b + 1.0, c + 1.0, z) / F
    grad = np.empty((4, len(F)))
    if alpha_ge_beta:
        value = np.log(F)
        grad[1] = d_log_F_dz * (beta + y) / (alpha + y) ** 2
        grad[3] = -d_log_F_dz / (alpha + y)
    else:
        value = np.log(F) + np.log((alpha + y) / (beta + y))
        grad[1] = -d_log_F_dz / (beta + y) + 1.0 / (alpha + y)
        grad[3] = d_log_F_dz * (alpha + y) / (beta + y) ** 2 - 1.0 / (beta + y)
    for j in (0, 2):  # r, s
        up, down = params.copy(), params.copy()
        up[j] *= np.exp(_LOG_STEP)
        down[j] *= np.exp(-_LOG_STEP)
        b_up, c_up, _ = _hypergeometric_arguments(up, x, y, alpha_ge_beta)
        b_down, c_down, _ = _hypergeometric_arguments(down, x, y, alpha_ge_beta)
        difference = np.log(hyp2f1(1.0, b_up, c_up, z)) - np.log(hyp2f1(1.0, b_down, c_down, z))
        grad[j] = difference / (2.0 * _LOG_STEP * params[j])
    return value, grad


def log_alive_odds_terms(
    params: np.ndarray, x: np.ndarray, recency: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``ln(1 - k h(T))`` and ``ln(k h(t_x)) + D``, both finite for any history: ``ln B`` is
    their ``logaddexp`` and ``P(alive) = exp(-ln B)``. (``k h(T) < 1``; the clip only
    guards rounding.)
    """
    r, alpha, s, beta = params
    alpha_ge_beta = bool(alpha >= beta)
    log_k = np.log(s) - np.log(r + s + x)
    k_h_T = np.exp(log_k + log_h(params, x, T, alpha_ge_beta))
    D = (r + x) * np.log((alpha + T) / (alpha + recency)) + s * np.log(
        (beta + T) / (beta + recency)
    )
    alive = np.log1p(-np.minimum(k_h_T, 1.0))
    died = log_k + log_h(params, x, recency, alpha_ge_beta) + D
    return alive, died


def log_likelihood(
    params: np.ndarray, x: np.ndarray, recency: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Per-customer ``ln L`` (note 009, eq. 18), elementwise: lifetimes'
    ``_conditional_log_likelihood`` wherever that is finite, and finite where it is not."""
    r, alpha, s, beta = params
    alive, died = log_alive_odds_terms(params, x, recency, T)
    return (
        gammaln(r + x)
        - gammaln(r)
        + r * np.log(alpha)
        + s * np.log(beta)
        - (r + x) * np.log(alpha + T)
        - s * np.log(beta + T)
        + np.logaddexp(alive, died)
    )


def _pairs(first_codes: np.ndarray, second_codes: np.ndarray, n_second: int) -> tuple:
    """Unique (first, second) code pairs: (pair of each pattern, first code, second code)."""
    pair_of_pattern, keys = pd.factorize(first_codes * n_second + second_codes)
    return pair_of_pattern, keys // n_second, keys % n_second


class ParetoNBDNegativeLogLikelihood(_MeanNegativeLogLikelihood):
    """Mean negative Pareto/NBD log-likelihood (lifetimes' penalty) and its log-gradient.

    With ``P = 1/B`` (P(alive)) and ``Q = k h(t_x) e^D / B`` (the share of ``B``'s second
    term) the mixture term's derivative is

        ∂ ln B = -P k h(T) (∂ ln k + ∂ ln h(T)) + Q (∂ ln k + ∂ ln h(t_x) + ∂D),

    and the ``∂ ln h`` terms are summed per ``(x, T)`` or ``(x, t_x)`` pair, where they live.
    """

    def __init__(
        self,
        frequency: np.ndarray,
        recency: np.ndarray,
        T: np.ndarray,
        *,
        penalizer_coef: float = 0.0,
        time_scale: float = 1.0,
    ) -> None:
        patterns = unique_patterns(frequency, recency, T)
        self.x = patterns.values[0]
        self.recency = patterns.values[1] * time_scale
        self.T = patterns.values[2] * time_scale
        x_codes, recency_codes, T_codes = patterns.codes
        weights = patterns.weights
        self.weights = weights
        self.total_weight = float(weights.sum())
        # lifetimes penalises the summed likelihood: per customer, the penalty is 1/n of it.
        self.penalizer_coef = penalizer_coef / self.total_weight
        self.x_codes, self.recency_codes, self.T_codes = x_codes, recency_codes, T_codes
        self.pattern_x = patterns.column(0)
        self.weight_per_x = np.bincount(x_codes, weights, len(self.x))
        self.weight_per_T = np.bincount(T_codes, weights, len(self.T))
        self.weighted_x_per_T = np.bincount(T_codes, weights * self.pattern_x, len(self.T))
        self.T_pair, T_pair_x, T_pair_T = _pairs(x_codes, T_codes, len(self.T))
        self.T_pair_x, self.T_pair_y = self.x[T_pair_x], self.T[T_pair_T]
        self.recency_pair, tx_pair_x, tx_pair_t = _pairs(x_codes, recency_codes, len(self.recency))
        self.recency_pair_x, self.recency_pair_y = self.x[tx_pair_x], self.recency[tx_pair_t]

    def __call__(self, log_params: np.ndarray) -> tuple[float, np.ndarray]:
        # The line search probes steps whose parameters overflow (inf - inf): it reads the
        # non-finite value as "too far" and backtracks, so the warning says nothing to a user.
        with np.errstate(over="ignore", invalid="ignore"):
            return self._value_and_gradient(log_params)

    def _value_and_gradient(self, log_params: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(log_params)
        r, alpha, s, beta = params
        x = self.x
        log_alpha_T, log_beta_T = np.log(alpha + self.T), np.log(beta + self.T)
        log_alpha_tx, log_beta_tx = np.log(alpha + self.recency), np.log(beta + self.recency)
        T_weights = r * self.weight_per_T + self.weighted_x_per_T
        log_lik = (
            _dot(self.weight_per_x, gammaln(r + x) - gammaln(r))
            + self.total_weight * (r * np.log(alpha) + s * np.log(beta))
            - _dot(T_weights, log_alpha_T)
            - s * _dot(self.weight_per_T, log_beta_T)
        )
        grad = np.array(
            [
                _dot(self.weight_per_x, digamma(r + x) - digamma(r))
                + self.total_weight * np.log(alpha)
                - _dot(self.weight_per_T, log_alpha_T),
                self.total_weight * r / alpha - _dot(T_weights, 1.0 / (alpha + self.T)),
                self.total_weight * np.log(beta) - _dot(self.weight_per_T, log_beta_T),
                self.total_weight * s / beta - s * _dot(self.weight_per_T, 1.0 / (beta + self.T)),
            ]
        )
        mixture_value, mixture_grad = self._mixture(
            params, log_alpha_T, log_beta_T, log_alpha_tx, log_beta_tx
        )
        return self._penalised(log_lik + mixture_value, grad + mixture_grad, params)

    def _mixture(
        self,
        params: np.ndarray,
        log_alpha_T: np.ndarray,
        log_beta_T: np.ndarray,
        log_alpha_tx: np.ndarray,
        log_beta_tx: np.ndarray,
    ) -> tuple[float, np.ndarray]:
        """``sum w ln B`` and its gradient: the only part evaluated per pattern."""
        r, alpha, s, beta = params
        px, T_codes, tx_codes = self.pattern_x, self.T_codes, self.recency_codes
        h_T, dh_T = log_h_gradient(params, self.T_pair_x, self.T_pair_y)
        h_tx, dh_tx = log_h_gradient(params, self.recency_pair_x, self.recency_pair_y)
        c = r + s + px
        log_k = np.log(s) - np.log(c)
        log_ratio_alpha = log_alpha_T[T_codes] - log_alpha_tx[tx_codes]
        log_ratio_beta = log_beta_T[T_codes] - log_beta_tx[tx_codes]
        k_h_T = np.exp(log_k + h_T[self.T_pair])
        died = log_k + h_tx[self.recency_pair] + (r + px) * log_ratio_alpha + s * log_ratio_beta
        log_B = np.logaddexp(np.log1p(-np.minimum(k_h_T, 1.0)), died)
        value = _dot(self.weights, log_B)

        weighted_alive_term = self.weights * np.exp(-log_B) * k_h_T  # w P k h(T)
        weighted_died = self.weights * np.exp(died - log_B)  # w Q
        net = weighted_died - weighted_alive_term
        inverse_gap_alpha = 1.0 / (alpha + self.T[T_codes]) - 1.0 / (alpha + self.recency[tx_codes])
        inverse_gap_beta = 1.0 / (beta + self.T[T_codes]) - 1.0 / (beta + self.recency[tx_codes])
        per_T_pair = np.bincount(self.T_pair, weighted_alive_term, len(self.T_pair_x))
        per_tx_pair = np.bincount(self.recency_pair, weighted_died, len(self.recency_pair_x))
        grad = np.einsum("j,ij->i", per_tx_pair, dh_tx) - np.einsum("j,ij->i", per_T_pair, dh_T)
        grad += np.array(
            [
                -_dot(net, 1.0 / c) + _dot(weighted_died, log_ratio_alpha),
                _dot(weighted_died, (r + px) * inverse_gap_alpha),
                net.sum() / s - _dot(net, 1.0 / c) + _dot(weighted_died, log_ratio_beta),
                s * _dot(weighted_died, inverse_gap_beta),
            ]
        )
        return value, grad


def fit_pareto_nbd(
    frequency: np.ndarray,
    recency: np.ndarray,
    T: np.ndarray,
    *,
    penalizer_coef: float = 0.0,
    optimum: np.ndarray | None = None,
) -> MaximumLikelihoodFit:
    """Maximum-likelihood Pareto/NBD parameters ``r, alpha, s, beta``.

    As :func:`models.likelihoods.fit_beta_geo`: time rescaled to ``max(T) == 1`` while
    fitting, ``alpha`` and ``beta`` returned in the input's unit; ``optimum`` completes a fit
    found elsewhere (lifetimes') with this objective's Hessian.
    """
    frequency, recency, T = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
    if not T.max() > 0:
        raise ValueError("every customer has T == 0: there is no purchase history to fit")
    time_scale = 1.0 / T.max()

    def objective_on(rows: slice) -> ParetoNBDNegativeLogLikelihood:
        return ParetoNBDNegativeLogLikelihood(
            frequency[rows],
            recency[rows],
            T[rows],
            penalizer_coef=penalizer_coef,
            time_scale=time_scale,
        )

    time_unit = np.array([1.0, 1.0 / time_scale, 1.0, 1.0 / time_scale])
    fit = _maximise_likelihood(
        objective_on,
        n_rows=len(frequency),
        n_params=4,
        optimum=None if optimum is None else np.asarray(optimum, np.float64) / time_unit,
    )
    return MaximumLikelihoodFit(
        fit.params * time_unit,
        fit.log_hessian,
        fit.mean_negative_log_likelihood,
        fit.n_observations,
    )
