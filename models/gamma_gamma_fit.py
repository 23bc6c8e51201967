"""The Gamma-Gamma fitter, with lifetimes' ``weights`` and ``q_constraint``.

The objective is :class:`models.likelihoods.GammaGammaNegativeLogLikelihood` and the
optimiser :func:`models.likelihoods._maximise_likelihood`, as for the transaction models;
this module adds what only Gamma-Gamma needs: lifetimes' ``q_constraint``. Why it exists:
the population mean spend ``p v / (q - 1)`` is finite only for ``q > 1``, so with ``q < 1``
expected spend and CLV come out negative. lifetimes bounds ``ln q >= 0`` in L-BFGS-B; here
the unconstrained optimum is used when it satisfies the bound and otherwise the likelihood
is maximised on the boundary ``q = 1`` over ``p, v`` (the same point for a likelihood with
one optimum, which the first-order check below confirms).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from models.likelihoods import (
    _MAX_GRADIENT,
    ConvergenceError,
    GammaGammaNegativeLogLikelihood,
    MaximumLikelihoodFit,
    ObjectiveWithGradient,
    _maximise_likelihood,
)

#: Position of q in ``(p, q, v)``.
_Q = 1


class _FixedLogParameter:
    """An objective with one log-parameter held fixed: the free ones in, their gradient out."""

    def __init__(self, objective: ObjectiveWithGradient, index: int, value: float) -> None:
        self.objective, self.index, self.value = objective, index, value

    def __call__(self, free: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = self.objective(np.insert(free, self.index, self.value))
        return value, np.delete(gradient, self.index)


def fit_gamma_gamma(
    frequency: np.ndarray,
    monetary_value: np.ndarray,
    *,
    penalizer_coef: float = 0.0,
    optimum: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    q_constraint: bool = False,
) -> MaximumLikelihoodFit:
    """Maximum-likelihood Gamma-Gamma parameters ``p, q, v`` (only for x > 0 and m > 0).

    ``optimum`` and ``weights`` as in :func:`models.likelihoods.fit_beta_geo`.
    ``q_constraint``: constrain ``q >= 1`` as lifetimes does (module docstring). On the
    boundary the standard errors come from the unconstrained Hessian there, as lifetimes'
    do; the one of q then says little.
    """
    frequency, monetary_value = (np.asarray(v, np.float64) for v in (frequency, monetary_value))
    weights = None if weights is None else np.asarray(weights, np.float64)

    def objective_on(rows: slice) -> GammaGammaNegativeLogLikelihood:
        return GammaGammaNegativeLogLikelihood(
            frequency[rows],
            monetary_value[rows],
            penalizer_coef=penalizer_coef,
            weights=None if weights is None else weights[rows],
        )

    settings: dict[str, Any] = {
        "n_rows": len(frequency),
        "n_observations": None if weights is None else float(weights.sum()),
        "central_hessian": True,
    }
    if optimum is not None or not q_constraint:
        return _maximise_likelihood(objective_on, n_params=3, optimum=optimum, **settings)
    try:
        fit = _maximise_likelihood(objective_on, n_params=3, **settings)
        if fit.params[_Q] >= 1.0:
            return fit
    except ConvergenceError:
        pass  # e.g. q -> 0 without bound: the bounded optimum may still exist
    return _fit_on_q_boundary(objective_on, settings)


def _fit_on_q_boundary(
    objective_on: Callable[[slice], ObjectiveWithGradient], settings: dict[str, Any]
) -> MaximumLikelihoodFit:
    """The optimum with ``q = 1``: maximise over ``p, v``, then complete at the full point.

    Refused if the likelihood still rises into ``q > 1`` there (first-order condition
    ``d(-ln L)/d ln q >= 0``): the bounded optimum would then be interior, away from the
    unconstrained one, which a likelihood with one optimum cannot have.
    """
    boundary = _maximise_likelihood(
        lambda rows: _FixedLogParameter(objective_on(rows), _Q, 0.0), n_params=2, **settings
    )
    full = np.insert(boundary.params, _Q, 1.0)
    fit = _maximise_likelihood(objective_on, n_params=3, optimum=full, **settings)
    slope = objective_on(slice(None))(np.log(full))[1][_Q]
    if not slope >= -_MAX_GRADIENT:
        detail = f"the likelihood rises into q > 1 at q = 1 (gradient {slope:.1e})"
        raise ConvergenceError(f"q-constrained Gamma-Gamma fit failed: {detail}", detail=detail)
    return fit
