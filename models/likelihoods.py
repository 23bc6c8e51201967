"""Vectorised BTYD negative log-likelihoods with analytic gradients, and their fitters.

Why not lifetimes' fitters: they evaluate the likelihood once per customer and let
``autograd`` differentiate it, which takes seconds at a million customers. Here

* customers are collapsed to their unique ``(x, t_x, T)`` patterns (``(x, m)`` for
  Gamma-Gamma), weighted by how many customers share each pattern;
* every term that depends on ``x`` alone or on ``T`` alone is computed on the few unique
  values of that column and summed with pre-aggregated weights, so only the two-component
  mixture term of the likelihood is evaluated once per pattern;
* the gradient is analytic (``digamma`` and elementary functions), so the optimiser needs
  one pass over the patterns per iteration.

The objectives are lifetimes' own, so that fitted parameters agree: the mean negative
log-likelihood per customer plus ``penalizer_coef * sum(params ** 2)``, minimised over log
parameters. Transaction models are fitted on time rescaled so that the oldest customer has
``T == 1``, as lifetimes does (the penalizer therefore acts on the rescaled ``alpha``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln

ObjectiveWithGradient = Callable[[np.ndarray], tuple[float, np.ndarray]]

#: Starting point of every fit in log-parameter space (lifetimes starts there too).
_INITIAL_LOG_PARAM = 0.1
#: Rows in the sample that warm-starts fits on large data.
_WARM_START_ROWS = 20_000
#: Largest gradient (mean log-likelihood, log-parameters) accepted as converged: lifetimes'
#: own tolerance. Well-determined fits end near 1e-12 after the Newton step.
_MAX_GRADIENT = 1e-7
#: A column of integers in ``[0, _MAX_DENSE_CODE]`` is its own code: no hashing needed.
_MAX_DENSE_CODE = 100_000
#: Patterns are keyed by one int64 per row while the columns' code ranges multiply below this.
_MAX_ROW_KEYS = 2**63


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


@dataclass(frozen=True)
class Patterns:
    """Unique rows of some columns: per column, the unique values and each pattern's code.

    ``values[j][codes[j][i]]`` is column ``j`` of pattern ``i``; ``weights[i]`` counts the
    rows (customers) that share pattern ``i``. ``values`` may hold values no row has.
    """

    values: list[np.ndarray]
    codes: list[np.ndarray]
    weights: np.ndarray

    def column(self, j: int) -> np.ndarray:
        return self.values[j][self.codes[j]]


def unique_patterns(*columns: np.ndarray) -> Patterns:
    """Collapse equally long columns to their unique rows and count each row's customers.

    Each column is first coded as integers (integer-valued columns with a small range, such
    as day counts, are their own codes; others are hashed with ``pd.factorize``); the codes
    are then combined into one integer per row, which sorts several times faster than
    ``np.unique(..., axis=0)`` on a million rows.
    """
    encoded = [integer_codes(np.asarray(column, dtype=np.float64)) for column in columns]
    codes = [codes for codes, _ in encoded]
    sizes = [len(values) for _, values in encoded]
    if math.prod(sizes) < _MAX_ROW_KEYS:
        keys, counts = np.unique(np.ravel_multi_index(codes, sizes), return_counts=True)
        pattern_codes = list(np.unravel_index(keys, sizes))
    else:  # only with millions of distinct non-integer values in several columns
        rows, counts = np.unique(np.column_stack(codes), axis=0, return_counts=True)
        pattern_codes = list(rows.T)
    return Patterns(
        values=[values for _, values in encoded],
        codes=pattern_codes,
        weights=counts.astype(np.float64),
    )


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
    pass ``1 / max(T)``, as lifetimes does).
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
    ) -> None:
        # Collapse before rescaling: integer day counts are encoded without hashing.
        patterns = unique_patterns(frequency, recency, T)
        self.x = patterns.values[0]
        self.recency = patterns.values[1] * time_scale
        self.T = patterns.values[2] * time_scale
        x_codes, recency_codes, T_codes = patterns.codes
        weights = patterns.weights
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
    ) -> None:
        patterns = unique_patterns(frequency, monetary_value)
        self.x = patterns.values[0]
        self.penalizer_coef = penalizer_coef
        self.weights = patterns.weights
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
) -> MaximumLikelihoodFit:
    """Maximum-likelihood BG/NBD (``modified=False``) or MBG/NBD parameters ``r, alpha, a, b``.

    Time is rescaled so that ``max(T) == 1`` while fitting (better conditioning, and the
    penalizer means what it means in lifetimes); ``alpha`` is returned in the input's unit.
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
        )

    fit = _maximise_likelihood(objective_on, n_rows=len(frequency), n_params=4)
    params = fit.params * np.array([1.0, 1.0 / time_scale, 1.0, 1.0])
    return MaximumLikelihoodFit(
        params, fit.log_hessian, fit.mean_negative_log_likelihood, fit.n_observations
    )


def fit_gamma_gamma(
    frequency: np.ndarray, monetary_value: np.ndarray, *, penalizer_coef: float = 0.0
) -> MaximumLikelihoodFit:
    """Maximum-likelihood Gamma-Gamma parameters ``p, q, v`` (only for x > 0 and m > 0)."""
    frequency, monetary_value = (np.asarray(v, np.float64) for v in (frequency, monetary_value))

    def objective_on(rows: slice) -> GammaGammaNegativeLogLikelihood:
        return GammaGammaNegativeLogLikelihood(
            frequency[rows], monetary_value[rows], penalizer_coef=penalizer_coef
        )

    return _maximise_likelihood(objective_on, n_rows=len(frequency), n_params=3)


def numerical_hessian(
    objective: ObjectiveWithGradient,
    point: np.ndarray,
    gradient: np.ndarray | None = None,
    step: float = 1e-6,
) -> np.ndarray:
    """Symmetrised forward-difference Jacobian of the analytic gradient at ``point``.

    Forward rather than central differences: half the gradient evaluations (the gradient
    at ``point`` is usually known already), and an error of order ``step`` relative, far
    below what standard errors or a Newton step need.
    """
    if gradient is None:
        gradient = objective(point)[1]
    hessian = np.column_stack(
        [(objective(point + shift)[1] - gradient) / step for shift in np.eye(len(point)) * step]
    )
    return (hessian + hessian.T) / 2.0


def _maximise_likelihood(
    objective_on: Callable[[slice], ObjectiveWithGradient], *, n_rows: int, n_params: int
) -> MaximumLikelihoodFit:
    """BFGS on all rows, warm-started from a sample, then one Newton step.

    * The warm start is a fit on an evenly strided sample of ``_WARM_START_ROWS`` rows: from
      its optimum and inverse-Hessian estimate BFGS needs about five passes over the full
      data instead of about twenty-five.
    * BFGS stops at lifetimes' tolerance: below it the line search works on objective
      differences under float64 resolution and stalls. The Newton step, with the Hessian
      that the standard errors need anyway, usually takes the gradient from there to
      ~1e-12, so the result is the optimum itself, not where an optimiser happened to stop.
    """
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
        raise RuntimeError(
            f"maximum-likelihood fit did not converge ({result.message}); "
            "a positive penalizer_coef usually helps"
        )
    return MaximumLikelihoodFit(np.exp(log_params), hessian, value, n_rows)


def integer_codes(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of a float column and the values they stand for (``values[codes]``).

    Integer-valued columns with a small range (day counts) are offset by their minimum
    instead of hashed, which is several times faster; their ``values`` then cover the whole
    range, including values no row has.
    """
    if len(column) and column.min() >= 0 and column.max() <= _MAX_DENSE_CODE:
        as_int = column.astype(np.int64)
        if np.array_equal(as_int, column):
            low = as_int.min()
            return as_int - low, np.arange(low, as_int.max() + 1, dtype=np.float64)
    codes, values = pd.factorize(column)
    return codes.astype(np.int64), np.asarray(values, dtype=np.float64)


def _softplus(d: np.ndarray) -> np.ndarray:
    """``ln(1 + e^d)`` without overflow."""
    return np.maximum(d, 0.0) + np.log1p(np.exp(-np.abs(d)))


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    """Dot product of long vectors without BLAS: threaded ``ddot`` is erratic when the cores
    are busy (10-100x slower than this in measurements here)."""
    return float(np.einsum("i,i->", u, v))


class MaximumLikelihoodModel:
    """What the BTYD models share: fitted state, its summary and its plain-dict form.

    Fitted state is three plain attributes (``params_``, ``covariance_``, ``n_customers_``):
    no training data and no closures, so models pickle as they are and ``to_dict`` gives
    MLflow or BentoML something to store without pickle at all.
    """

    param_names: ClassVar[tuple[str, ...]]
    params_: pd.Series
    covariance_: pd.DataFrame
    n_customers_: int

    def _store_fit(self, fit: MaximumLikelihoodFit) -> None:
        self._store(fit.params, fit.covariance(), fit.n_observations)

    def _store(self, params: np.ndarray, covariance: np.ndarray, n_customers: int) -> None:
        names = list(self.param_names)
        self.params_ = pd.Series(params, index=names, dtype=np.float64)
        self.covariance_ = pd.DataFrame(covariance, index=names, columns=names, dtype=np.float64)
        self.n_customers_ = int(n_customers)

    def _fitted_params(self) -> tuple[float, ...]:
        if not hasattr(self, "params_"):
            raise ValueError(f"{type(self).__name__} is not fitted yet; call fit(features) first")
        return tuple(float(self.params_[name]) for name in self.param_names)

    @property
    def summary(self) -> pd.DataFrame:
        """Estimates with delta-method standard errors and Wald 95% intervals (as lifetimes)."""
        self._fitted_params()
        se = pd.Series(np.sqrt(np.diag(self.covariance_.to_numpy())), index=self.params_.index)
        return pd.DataFrame(
            {
                "coef": self.params_,
                "se(coef)": se,
                "lower 95% bound": self.params_ - 1.96 * se,
                "upper 95% bound": self.params_ + 1.96 * se,
            }
        )

    def to_dict(self) -> dict[str, object]:
        """Fitted state as plain floats and lists (JSON-serialisable)."""
        self._fitted_params()
        return {
            "params": {name: float(value) for name, value in self.params_.items()},
            "covariance": self.covariance_.to_numpy().tolist(),
            "n_customers": self.n_customers_,
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, object], **init_kwargs: object) -> Self:
        """Rebuild a fitted model from :meth:`to_dict` output, without refitting."""
        model = cls(**init_kwargs)
        params = state["params"]
        model._store(
            np.array([params[name] for name in cls.param_names], dtype=np.float64),
            np.asarray(state["covariance"], dtype=np.float64),
            state["n_customers"],
        )
        return model


def feature_arrays(features: pd.DataFrame, columns: Sequence[str]) -> list[np.ndarray]:
    """The named columns of a per-customer feature frame as float64, checked.

    Raised here, at the boundary, so that the error names the column and the fix rather
    than surfacing as a NaN parameter or a failed optimisation.
    """
    missing = [column for column in columns if column not in features.columns]
    if missing:
        raise ValueError(
            f"features lack column(s) {missing}; expected per-customer columns {list(columns)} "
            "as produced by lifetimes.utils.summary_data_from_transaction_data"
        )
    arrays = []
    for column in columns:
        if not pd.api.types.is_numeric_dtype(features[column]):
            raise ValueError(
                f"column {column!r} must be numeric, got dtype {features[column].dtype}"
            )
        values = features[column].to_numpy(dtype=np.float64, na_value=np.nan)
        if not np.isfinite(values).all():
            raise ValueError(f"column {column!r} has {np.sum(~np.isfinite(values))} NaN/inf values")
        if (values < 0).any():
            raise ValueError(f"column {column!r} has {np.sum(values < 0)} negative values")
        arrays.append(values)
    return arrays
