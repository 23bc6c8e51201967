"""Vectorised BTYD negative log-likelihoods with analytic gradients, and their fitters.

Why not lifetimes' fitters: they evaluate the likelihood once per customer and let
``autograd`` differentiate it, which takes seconds at a million customers. Here

* customers are collapsed to their unique ``(x, t_x, T)`` patterns (``(x, m)`` for
  Gamma-Gamma; :mod:`models.patterns`), weighted by how many customers share each pattern;
* every term that depends on ``x`` alone or on ``T`` alone is computed on the few unique
  values of that column and summed with pre-aggregated weights, so only the two-component
  mixture term of the likelihood is evaluated once per pattern;
* the gradient is analytic (``digamma`` and elementary functions), so the optimiser needs
  one pass over the patterns per iteration.

The objectives are lifetimes' own, so that fitted parameters agree: the mean negative
log-likelihood per customer plus ``penalizer_coef * sum(params ** 2)``, minimised over log
parameters. Transaction models are fitted on time rescaled so that the oldest customer has
``T == 1``, as lifetimes does (the penalizer therefore acts on the rescaled ``alpha``).
Rows may carry lifetimes' ``weights`` (customers per row). Gamma-Gamma's fitter, with its
``q_constraint``, is in :mod:`models.gamma_gamma_fit`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, expit, gammaln

from features.errors import WinbackError
from models.patterns import Patterns, unique_patterns

ObjectiveWithGradient = Callable[[np.ndarray], tuple[float, np.ndarray]]

#: Starting point of every fit in log-parameter space (lifetimes starts there too).
_INITIAL_LOG_PARAM = 0.1
#: Rows in the sample that warm-starts fits on large data.
_WARM_START_ROWS = 20_000
#: Largest gradient (mean log-likelihood, log-parameters) accepted as converged: lifetimes'
#: own tolerance. Well-determined fits end near 1e-12 after the Newton step.
_MAX_GRADIENT = 1e-7


class ConvergenceError(WinbackError, RuntimeError):
    """The likelihood's optimum was not reached: typically a flat likelihood towards a
    boundary (few repeat buyers, nobody seeming to drop out). An L2 penalizer fixes it."""

    def __init__(self, message: str, detail: str = "", summary: str = "") -> None:
        super().__init__(message)
        #: What the optimiser reported, for messages that add the model and the fix.
        self.detail = detail or message
        #: The message without the fix, for a caller that applies a fix itself.
        self.summary = summary or message


@dataclass(frozen=True)
class MaximumLikelihoodFit:
    """Natural-scale parameters and what their standard errors need."""

    params: np.ndarray
    #: Hessian of the mean penalised negative log-likelihood in log-parameter space.
    log_hessian: np.ndarray
    mean_negative_log_likelihood: float
    n_observations: int

    def covariance(self) -> np.ndarray:
        """Delta-method covariance of the natural parameters, ``D H⁻¹ D / n``, ``D = diag(θ)``.

        ``H`` is the Hessian of the *mean* log-likelihood, hence the division by the number
        of customers; ``D`` carries log-parameter curvature back to the natural scale.
        """
        scale = np.diag(self.params)
        return scale @ np.linalg.inv(self.log_hessian) @ scale / self.n_observations


class _MeanNegativeLogLikelihood:
    """Shared tail of the objectives: lifetimes' scaling and L2 penalty, in log-parameters."""

    penalizer_coef: float
    total_weight: float

    def _penalised(
        self, log_lik: float, grad: np.ndarray, params: np.ndarray
    ) -> tuple[float, np.ndarray]:
        value = -log_lik / self.total_weight + self.penalizer_coef * (params @ params)
        log_grad = -grad * params / self.total_weight + 2.0 * self.penalizer_coef * params**2
        return float(value), log_grad


class BetaGeoNegativeLogLikelihood(_MeanNegativeLogLikelihood):
    """Mean negative log-likelihood of BG/NBD or MBG/NBD and its gradient in log-parameters.

    BG/NBD: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An
    Alternative to the Pareto/NBD Model", Marketing Science 24(2), eq. (6):

        L = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
            + δ(x>0) · B(a+1, b+x-1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))

    MBG/NBD: Batislam, Denizel & Filiztekin (2007), "Empirical validation and comparison of
    models for customer base analysis", IJRM 24(3), as implemented by lifetimes'
    ``ModifiedBetaGeoFitter`` -- customers may also drop out right after their first
    purchase: ``B(a, b+x+1)`` in the first term, ``B(a+1, b+x)`` in the second, and no
    ``δ(x>0)``.

    With ``k = 0`` (BG/NBD) or ``1`` (MBG/NBD), ``c = r + x`` and
    ``d = ln a - ln(b+x+k-1) + c (ln(α+T) - ln(α+t_x))``:

        ln L = A(x) - c ln(α+T) + softplus(d)    (softplus only where the mixture exists)
        A(x) = ln Γ(r+x) - ln Γ(r) + r ln α + ln B(a, b+x+k) - ln B(a, b)

    ``w = expit(d)`` is the posterior probability that the customer has dropped out, and

        ∂/∂r = ψ(r+x) - ψ(r) + ln α - ln(α+T) + w (ln(α+T) - ln(α+t_x))
        ∂/∂α = r/α - c/(α+T) + w c (1/(α+T) - 1/(α+t_x))
        ∂/∂a = ψ(a+b) - ψ(a+b+x+k) + w/a
        ∂/∂b = ψ(a+b) + ψ(b+x+k) - ψ(b) - ψ(a+b+x+k) - w/(b+x+k-1)

    ``time_scale`` multiplies ``recency`` and ``T`` after they are collapsed (the fitters
    pass ``1 / max(T)``, as lifetimes does). ``weights``: customers per row (lifetimes'
    ``weights``), see :func:`weighted_patterns`.
    """

    def __init__(
        self,
        frequency: np.ndarray,
        recency: np.ndarray,
        T: np.ndarray,
        *,
        modified: bool,
        penalizer_coef: float = 0.0,
        time_scale: float = 1.0,
        weights: np.ndarray | None = None,
    ) -> None:
        # Collapse before rescaling: integer day counts are encoded without hashing.
        patterns, weights = weighted_patterns((frequency, recency, T), weights)
        self.x = patterns.values[0]
        self.recency = patterns.values[1] * time_scale
        self.T = patterns.values[2] * time_scale
        x_codes, recency_codes, T_codes = patterns.codes[:3]
        pattern_x = patterns.column(0)
        self.offset = 1.0 if modified else 0.0
        self.penalizer_coef = penalizer_coef
        self.total_weight = float(weights.sum())
        self.weight_per_x = np.bincount(x_codes, weights, len(self.x))
        self.weight_per_T = np.bincount(T_codes, weights, len(self.T))
        self.weighted_x_per_T = np.bincount(T_codes, weights * pattern_x, len(self.T))
        # Only these patterns have the "dropped out after the last purchase" component.
        mixture = np.ones(len(weights), bool) if modified else pattern_x > 0
        self.mix_weight = weights[mixture]
        self.mix_x = pattern_x[mixture]
        self.mix_x_codes = x_codes[mixture]
        self.mix_T_codes = T_codes[mixture]
        self.mix_recency_codes = recency_codes[mixture]

    def __call__(self, log_params: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = params = np.exp(log_params)
        x, k = self.x, self.offset
        log_alpha_T = np.log(alpha + self.T)
        log_alpha_recency = np.log(alpha + self.recency)
        # max(., 1) only guards BG/NBD's x == 0 value, which never enters the mixture.
        b_x = b + np.maximum(x + k, 1.0) - 1.0
        T_weights = r * self.weight_per_T + self.weighted_x_per_T
        A = (
            gammaln(r + x)
            - gammaln(r)
            + r * np.log(alpha)
            + gammaln(a + b)
            + gammaln(b + x + k)
            - gammaln(b)
            - gammaln(a + b + x + k)
        )
        log_lik = self.weight_per_x @ A - T_weights @ log_alpha_T

        c = r + self.mix_x
        log_ratio = log_alpha_T[self.mix_T_codes] - log_alpha_recency[self.mix_recency_codes]
        d = (np.log(a) - np.log(b_x))[self.mix_x_codes] + c * log_ratio
        log_lik += _dot(self.mix_weight, _softplus(d))
        weighted_dropout = self.mix_weight * expit(d)
        dropout_per_x = np.bincount(self.mix_x_codes, weighted_dropout, len(x))
        inverse_alpha_T = 1.0 / (alpha + self.T)
        inverse_alpha_recency = 1.0 / (alpha + self.recency)
        inverse_gap = (
            inverse_alpha_T[self.mix_T_codes] - inverse_alpha_recency[self.mix_recency_codes]
        )

        psi_ab = digamma(a + b)
        psi_abx = digamma(a + b + x + k)
        grad = np.array(
            [
                self.weight_per_x @ (digamma(r + x) - digamma(r) + np.log(alpha))
                - self.weight_per_T @ log_alpha_T
                + _dot(weighted_dropout, log_ratio),
                self.total_weight * r / alpha
                - T_weights @ inverse_alpha_T
                + _dot(weighted_dropout, c * inverse_gap),
                self.weight_per_x @ (psi_ab - psi_abx) + dropout_per_x.sum() / a,
                self.weight_per_x @ (psi_ab + digamma(b + x + k) - digamma(b) - psi_abx)
                - dropout_per_x @ (1.0 / b_x),
            ]
        )
        return self._penalised(log_lik, grad, params)


class GammaGammaNegativeLogLikelihood(_MeanNegativeLogLikelihood):
    """Mean negative log-likelihood of the Gamma-Gamma spend model and its log-gradient.

    Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base
    Analysis", JMR 42(4), in the per-customer form of Hardie's note 025 ("The Gamma-Gamma
    Model of Monetary Value"), eq. (1a), for ``x`` repeat purchases of mean value ``m``
    (constants dropped as in lifetimes):

        ln L = ln Γ(px+q) - ln Γ(px) - ln Γ(q) + q ln v + (px-1) ln m + px ln x
               - (px+q) ln(xm+v)

        ∂/∂p = x (ψ(px+q) - ψ(px) + ln m + ln x - ln(xm+v))
        ∂/∂q = ψ(px+q) - ψ(q) + ln v - ln(xm+v)
        ∂/∂v = q/v - (px+q)/(xm+v)
    """

    def __init__(
        self,
        frequency: np.ndarray,
        monetary_value: np.ndarray,
        *,
        penalizer_coef: float = 0.0,
        weights: np.ndarray | None = None,
    ) -> None:
        patterns, self.weights = weighted_patterns((frequency, monetary_value), weights)
        self.x = patterns.values[0]
        self.penalizer_coef = penalizer_coef
        self.total_weight = float(self.weights.sum())
        self.weight_per_x = np.bincount(patterns.codes[0], self.weights, len(self.x))
        pattern_x, pattern_m = patterns.column(0), patterns.column(1)
        self.weighted_x = self.weights * pattern_x
        self.spend = pattern_x * pattern_m
        # Data-only sums of the terms linear in p.
        log_m = np.log(pattern_m)
        self.sum_x_log_xm = _dot(self.weighted_x, log_m + np.log(pattern_x))
        self.sum_log_m = _dot(self.weights, log_m)

    def __call__(self, log_params: np.ndarray) -> tuple[float, np.ndarray]:
        p, q, v = params = np.exp(log_params)
        px = p * self.x
        log_spend_v = np.log(self.spend + v)
        psi_pxq = digamma(px + q)
        log_lik = (
            self.weight_per_x @ (gammaln(px + q) - gammaln(px))
            + self.total_weight * (q * np.log(v) - gammaln(q))
            + p * self.sum_x_log_xm
            - self.sum_log_m
            - _dot(p * self.weighted_x + q * self.weights, log_spend_v)
        )
        grad = np.array(
            [
                (self.weight_per_x * self.x) @ (psi_pxq - digamma(px))
                + self.sum_x_log_xm
                - _dot(self.weighted_x, log_spend_v),
                self.weight_per_x @ psi_pxq
                + self.total_weight * (np.log(v) - digamma(q))
                - _dot(self.weights, log_spend_v),
                self.total_weight * q / v
                - _dot(p * self.weighted_x + q * self.weights, 1.0 / (self.spend + v)),
            ]
        )
        return self._penalised(log_lik, grad, params)


def fit_beta_geo(
    frequency: np.ndarray,
    recency: np.ndarray,
    T: np.ndarray,
    *,
    modified: bool = False,
    penalizer_coef: float = 0.0,
    optimum: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> MaximumLikelihoodFit:
    """Maximum-likelihood BG/NBD (``modified=False``) or MBG/NBD parameters ``r, alpha, a, b``.

    Time is rescaled so that ``max(T) == 1`` while fitting (better conditioning, and the
    penalizer means what it means in lifetimes); ``alpha`` is returned in the input's unit.
    ``optimum``: parameters found elsewhere (lifetimes' reference fitter), at which the fit
    is completed without optimising (see :func:`_maximise_likelihood`). ``weights``: how
    many customers each row stands for (lifetimes' ``weights``); the standard errors are
    then those of ``sum(weights)`` customers.
    """
    frequency, recency, T = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
    if not T.max() > 0:
        raise ValueError("every customer has T == 0: there is no purchase history to fit")
    time_scale = 1.0 / T.max()

    def objective_on(rows: slice) -> BetaGeoNegativeLogLikelihood:
        return BetaGeoNegativeLogLikelihood(
            frequency[rows],
            recency[rows],
            T[rows],
            modified=modified,
            penalizer_coef=penalizer_coef,
            time_scale=time_scale,
            weights=None if weights is None else weights[rows],
        )

    alpha_scale = np.array([1.0, 1.0 / time_scale, 1.0, 1.0])
    fit = _maximise_likelihood(
        objective_on,
        n_rows=len(frequency),
        n_params=4,
        optimum=None if optimum is None else np.asarray(optimum, np.float64) / alpha_scale,
        n_observations=None if weights is None else float(np.sum(weights)),
        central_hessian=True,
    )
    params = fit.params * alpha_scale
    return MaximumLikelihoodFit(
        params, fit.log_hessian, fit.mean_negative_log_likelihood, fit.n_observations
    )


def numerical_hessian(
    objective: ObjectiveWithGradient,
    point: np.ndarray,
    gradient: np.ndarray | None = None,
    step: float = 1e-6,
    central: bool = False,
) -> np.ndarray:
    """Symmetrised finite-difference Jacobian of the analytic gradient at ``point``.

    Forward differences by default: half the gradient evaluations (the gradient at
    ``point`` is usually known already), and an error of order ``step`` relative (~1e-6),
    below what a Newton step needs. ``central=True`` costs ``len(point)`` more gradients
    for an error of order ``step**2`` (with ``step = 1e-4``: ~1e-8), so that standard errors
    agree with lifetimes' exact (autograd) Hessian to ~1e-8 instead of ~1e-5.
    """
    shifts = np.eye(len(point)) * step
    if central:
        columns = [(objective(point + h)[1] - objective(point - h)[1]) / (2 * step) for h in shifts]
    else:
        if gradient is None:
            gradient = objective(point)[1]
        columns = [(objective(point + h)[1] - gradient) / step for h in shifts]
    hessian = np.column_stack(columns)
    return (hessian + hessian.T) / 2.0


def _maximise_likelihood(
    objective_on: Callable[[slice], ObjectiveWithGradient],
    *,
    n_rows: int,
    n_params: int,
    optimum: np.ndarray | None = None,
    n_observations: float | None = None,
    central_hessian: bool = False,
) -> MaximumLikelihoodFit:
    """BFGS on all rows, warm-started from a sample, then one Newton step.

    ``n_observations``: customers behind the rows (the sum of their weights; default
    ``n_rows``), which the covariance divides by. ``central_hessian``: the Hessian kept
    for the standard errors is then a central-difference one at the final point
    (:func:`numerical_hessian`); the Newton step's stays the forward one either way.

    With ``optimum`` (natural-scale parameters of the objective, e.g. lifetimes' fit) no
    optimisation runs: the fit is completed at that point with this objective's value and
    Hessian, so reference fits get their standard errors exactly as ours do, without
    reading lifetimes' private state.

    * The warm start is a fit on an evenly strided sample of ``_WARM_START_ROWS`` rows: from
      its optimum and inverse-Hessian estimate BFGS needs about five passes over the full
      data instead of about twenty-five.
    * BFGS stops at lifetimes' tolerance: below it the line search works on objective
      differences under float64 resolution and stalls. The Newton step, with the Hessian
      that the standard errors need anyway, usually takes the gradient from there to
      ~1e-12, so the result is the optimum itself, not where an optimiser happened to stop.
    """
    n_observations = n_rows if n_observations is None else n_observations
    hessian_step = {"step": 1e-4, "central": True} if central_hessian else {}
    if optimum is not None:
        objective, log_params = objective_on(slice(None)), np.log(optimum)
        value, gradient = objective(log_params)
        hessian = numerical_hessian(objective, log_params, gradient, **hessian_step)
        return MaximumLikelihoodFit(np.exp(log_params), hessian, value, n_observations)
    # Imported here: scoring only reads fitted parameters, and scipy.optimize costs a
    # process about 0.15 s more than scipy.special (issue 18: each command imports only
    # what it uses).
    from scipy.optimize import minimize

    start, inverse_hessian = np.full(n_params, _INITIAL_LOG_PARAM), np.eye(n_params)
    stride = n_rows // _WARM_START_ROWS
    if stride >= 2:
        sample = minimize(objective_on(slice(None, None, stride)), start, jac=True, method="BFGS")
        if sample.success:  # scipy insists on exact symmetry, which BFGS's updates lose
            start, inverse_hessian = sample.x, (sample.hess_inv + sample.hess_inv.T) / 2.0
    objective = objective_on(slice(None))
    result = minimize(
        objective,
        start,
        jac=True,
        method="BFGS",
        options={"gtol": 1e-7, "hess_inv0": inverse_hessian},
    )
    hessian = numerical_hessian(objective, result.x, result.jac)
    log_params, value, gradient = result.x, float(result.fun), result.jac
    newton = log_params - np.linalg.solve(hessian, gradient)
    newton_value, newton_gradient = objective(newton)
    # Kept only if it helps: along a flat ridge (an optimum at the boundary, such as
    # a -> 0 and b -> inf when nobody seems to drop out) the step can do nothing useful.
    if np.max(np.abs(newton_gradient)) < np.max(np.abs(gradient)):
        log_params, value, gradient = newton, newton_value, newton_gradient
    if not np.all(np.isfinite(gradient)) or np.max(np.abs(gradient)) > _MAX_GRADIENT:
        detail = f"{result.message.rstrip('.')}; largest gradient {np.max(np.abs(gradient)):.1e}"
        raise ConvergenceError(
            f"maximum-likelihood fit did not converge ({detail}); "
            "a positive penalizer_coef usually helps",
            detail=detail,
        )
    if central_hessian:
        hessian = numerical_hessian(objective, log_params, **hessian_step)
    return MaximumLikelihoodFit(np.exp(log_params), hessian, value, n_observations)


def weighted_patterns(
    columns: tuple[np.ndarray, ...], weights: np.ndarray | None = None
) -> tuple[Patterns, np.ndarray]:
    """Unique patterns of ``columns`` and the number of customers each stands for.

    With ``weights`` (customers per row, lifetimes' ``weights``) the weight becomes one more
    pattern column, so rows that share values but not weight stay separate patterns whose
    customers are ``count * weight``. Why: the likelihood is a weighted sum over patterns
    either way, so a repeated pattern changes nothing, and :func:`unique_patterns` needs no
    row-to-pattern map. The patterns' first ``len(columns)`` columns are ``columns``'.
    """
    if weights is None:
        patterns = unique_patterns(*columns)
        return patterns, patterns.weights
    patterns = unique_patterns(*columns, np.asarray(weights, dtype=np.float64))
    return patterns, patterns.weights * patterns.column(len(columns))


def _softplus(d: np.ndarray) -> np.ndarray:
    """``ln(1 + e^d)`` without overflow."""
    return np.maximum(d, 0.0) + np.log1p(np.exp(-np.abs(d)))


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    """Dot product of long vectors without BLAS: threaded ``ddot`` is erratic when the cores
    are busy (10-100x slower than this in measurements here)."""
    return float(np.einsum("i,i->", u, v))
