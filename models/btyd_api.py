"""lifetimes' names for what winback's fitted models already know, so that users can switch.

lifetimes' fitters expose the parameters' uncertainty as ``variance_matrix_``,
``standard_errors_`` and ``confidence_intervals_`` (and ``summary``, which
:class:`models.estimator.MaximumLikelihoodModel` has), and take ``fit(..., weights=...)``
for data condensed to one row per purchase pattern. Here they are derived on demand from
``params_`` and ``covariance_``, so the fitted state stays those plain attributes (pickles
and ``to_dict`` unchanged).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

#: lifetimes' ``inv_cdf_at_5_confidence``: the 97.5% normal quantile, rounded as it does.
_Z_95 = 1.96


class LifetimesParameterErrors:
    """``variance_matrix_``, ``standard_errors_`` and ``confidence_intervals_`` as in lifetimes.

    All from ``covariance_``: the delta-method covariance ``D H⁻¹ D / n`` of the natural
    parameters, with ``H`` the Hessian of the mean penalised negative log-likelihood in
    log-parameters at the optimum and ``D = diag(params)``. lifetimes' ``BaseFitter.
    _compute_variance_matrix`` computes ``params**2 * inv(H) / sum(weights)``, which
    broadcasts ``params_j**2`` over column j: the same diagonal (hence the same standard
    errors and intervals), but not symmetric off it; ``variance_matrix_`` here is the
    symmetric ``D H⁻¹ D / n``.
    """

    params_: pd.Series
    covariance_: pd.DataFrame

    def _require_fit(self) -> None:
        # AttributeError, as lifetimes raises before fit: hasattr() and getattr(m, x, None)
        # then work on unfitted models.
        if "params_" not in vars(self):
            raise AttributeError(f"{type(self).__name__} is not fitted yet; call fit first")

    @property
    def variance_matrix_(self) -> pd.DataFrame:
        """Covariance of the parameter estimates (lifetimes' name for ``covariance_``)."""
        self._require_fit()
        return self.covariance_.copy()

    @property
    def standard_errors_(self) -> pd.Series:
        """Standard errors of ``params_``: square roots of the covariance's diagonal."""
        self._require_fit()
        variances = np.diag(self.covariance_.to_numpy())
        return pd.Series(np.sqrt(variances), index=self.params_.index, dtype=np.float64)

    @property
    def confidence_intervals_(self) -> pd.DataFrame:
        """Wald 95% intervals ``params_ ± 1.96 se`` (lifetimes' columns and rounding)."""
        se = self.standard_errors_
        return pd.DataFrame(
            {
                "lower 95% bound": self.params_ - _Z_95 * se,
                "upper 95% bound": self.params_ + _Z_95 * se,
            },
            index=self.params_.index,
        )


def customer_weights(features: pd.DataFrame, weights: ArrayLike | str | None) -> np.ndarray | None:
    """lifetimes' ``weights``: how many customers each row of ``features`` stands for.

    A column name or an array as long as ``features`` (positional, as lifetimes'
    ``np.asarray``). Checked here so that a wrong weight is named rather than turning into
    a NaN likelihood: finite, non-negative, and not all zero.
    """
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights not in features.columns:
            raise ValueError(f"weights column {weights!r} is not in the features")
        weights = features[weights]
    values = np.asarray(weights, dtype=np.float64)
    if values.shape != (len(features),):
        raise ValueError(
            f"weights must hold one number per row of the features ({len(features):,}), "
            f"got shape {values.shape}"
        )
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError("weights must be finite and non-negative (customers per row)")
    if not values.sum() > 0:
        raise ValueError("weights sum to zero: no customer to fit on")
    return values
