"""The estimator surface the BTYD models share: fitted state, summary, plain-dict form.

Fitted state is three plain attributes (``params_``, ``covariance_``, ``n_customers_``),
learned by ``fit`` and never set in ``__init__``; :func:`feature_arrays` checks the feature
columns at the boundary. The likelihoods and their fitters are in :mod:`models.likelihoods`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar, Self

import numpy as np
import pandas as pd

from features.errors import WinbackError
from models.likelihoods import ConvergenceError, MaximumLikelihoodFit


class ModelFitError(WinbackError, ValueError):
    """A model cannot be fitted on this data (e.g. no customer it is valid for).

    A :class:`WinbackError`, so that the command line prints the message, which names the
    cause and the fix, in one line instead of a traceback.
    """


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


def convergence_error(
    model_name: str, n_customers: int, model: object, error: Exception
) -> ConvergenceError:
    """One line that names the model, the data, what happened and the fix."""
    penalizer = float(getattr(model, "penalizer_coef", 0.0))
    suggestion = 0.001 if penalizer <= 0 else penalizer * 10
    detail = getattr(error, "detail", str(error))
    summary = (
        f"{model_name} fit on {n_customers:,} customers did not converge with penalizer "
        f"{penalizer:g} ({detail})"
    )
    return ConvergenceError(
        f"{summary}: rerun with a larger one, e.g. --penalizer {suggestion:g} "
        f"(penalizer_coef={suggestion:g} in Python)",
        detail=detail,
        summary=summary,
    )


def feature_arrays(
    features: pd.DataFrame, columns: Sequence[str], signed: Sequence[str] = ()
) -> list[np.ndarray]:
    """The named columns of a per-customer feature frame as float64, checked.

    Raised here, at the boundary, so that the error names the column and the fix rather
    than surfacing as a NaN parameter or a failed optimisation. Columns in ``signed`` may
    be negative: a model that is valid only for positive values (Gamma-Gamma's monetary
    value) leaves those customers out, or predicts them from the population, instead.
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
        if column not in signed and (values < 0).any():
            raise ValueError(f"column {column!r} has {np.sum(values < 0)} negative values")
        arrays.append(values)
    return arrays
