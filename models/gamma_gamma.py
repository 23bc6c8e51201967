"""Gamma-Gamma spend model: what a customer's purchases will be worth.

Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base
Analysis"; formulas as in Hardie's note 025 "The Gamma-Gamma Model of Monetary Value".
Each transaction is worth ``z ~ Gamma(p, rate=nu)`` with ``nu ~ Gamma(q, rate=v)`` across
customers, independent of the purchase process. Only repeat purchases enter
``monetary_value``, so the model is fitted on customers with ``frequency > 0`` and a
positive ``monetary_value``. Predictions follow lifetimes (a zero value shrinks towards
zero); a negative value, which winback's features never produce, is outside the model's
support and says nothing about the next purchase, so it gets the population mean.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from models.btyd_api import LifetimesParameterErrors, customer_weights
from models.estimator import (
    MaximumLikelihoodModel,
    ModelFitError,
    convergence_error,
    feature_arrays,
)
from models.gamma_gamma_fit import fit_gamma_gamma
from models.likelihoods import ConvergenceError, MaximumLikelihoodFit

if TYPE_CHECKING:
    from models.bgnbd import BetaGeoModel, ModifiedBetaGeoModel

#: lifetimes' month for ``freq='D'`` features in ``customer_lifetime_value``.
DAYS_PER_MONTH = 30


class GammaGammaModel(LifetimesParameterErrors, MaximumLikelihoodModel):
    """Gamma-Gamma spend model with lifetimes-compatible closed forms.

    ``__init__`` only stores its arguments; ``fit(features)`` learns ``params_`` (p, q, v),
    ``covariance_`` and ``n_customers_`` (the customers it was fitted on).
    """

    param_names: ClassVar[tuple[str, ...]] = ("p", "q", "v")

    def __init__(self, penalizer_coef: float = 0.0, fitter: str = "fast") -> None:
        self.penalizer_coef = penalizer_coef
        self.fitter = fitter

    def fit(
        self,
        features: pd.DataFrame,
        weights: ArrayLike | str | None = None,
        q_constraint: bool = False,
    ) -> Self:
        """Fit on the customers with ``frequency > 0`` and ``monetary_value > 0``, the
        only ones the model is valid for; the others are left out, never an error.

        ``weights`` and ``q_constraint`` are lifetimes' ``fit`` arguments: customers per row
        (a column name or an array; see :meth:`models.bgnbd.BetaGeoModel.fit`), and
        ``q >= 1``, without which the population mean spend ``p v / (q - 1)`` and hence
        CLV can come out negative (:mod:`models.gamma_gamma_fit`).
        """
        frequency, monetary_value = feature_arrays(
            features, ("frequency", "monetary_value"), signed=("monetary_value",)
        )
        row_weights = customer_weights(features, weights)
        repeat_buyers = (frequency > 0) & (monetary_value > 0)
        if not repeat_buyers.any():
            raise ModelFitError(
                f"Gamma-Gamma needs customers with frequency > 0 and monetary_value > 0; none "
                f"of {len(frequency):,} found (no repeat purchase with a positive value yet): "
                "use a later as-of date"
            )
        frequency, monetary_value = frequency[repeat_buyers], monetary_value[repeat_buyers]
        if row_weights is not None:
            row_weights = row_weights[repeat_buyers]
        options = {"weights": row_weights, "q_constraint": q_constraint}
        if self.fitter == "fast":
            try:
                fit = fit_gamma_gamma(
                    frequency, monetary_value, penalizer_coef=self.penalizer_coef, **options
                )
            except ConvergenceError as error:
                raise convergence_error("Gamma-Gamma", len(frequency), self, error) from None
        elif self.fitter == "lifetimes":
            fit = self._fit_with_lifetimes(frequency, monetary_value, **options)
        else:
            raise ValueError(f"fitter must be 'fast' or 'lifetimes', got {self.fitter!r}")
        self._store_fit(fit)
        return self

    def _fit_with_lifetimes(
        self,
        frequency: np.ndarray,
        monetary_value: np.ndarray,
        weights: np.ndarray | None = None,
        q_constraint: bool = False,
    ) -> MaximumLikelihoodFit:
        from lifetimes import GammaGammaFitter  # heavy, warns on import, reference fits only

        fitter = GammaGammaFitter(penalizer_coef=self.penalizer_coef)
        fitter.fit(frequency, monetary_value, weights=weights, q_constraint=q_constraint)
        # Standard errors from our objective's Hessian at lifetimes' optimum, as for our fits.
        return fit_gamma_gamma(
            frequency,
            monetary_value,
            penalizer_coef=self.penalizer_coef,
            optimum=fitter.params_[list(self.param_names)].to_numpy(dtype=np.float64),
            weights=weights,
        )

    def conditional_expected_average_profit(
        self, frequency: ArrayLike, monetary_value: ArrayLike
    ) -> np.ndarray:
        """E[value of a purchase | x, m]: note 025, eq. (5).

        A credibility-weighted mean of the customer's own ``m`` and the population mean
        ``p v / (q - 1)``, the weight on ``m`` being ``p x / (p x + q - 1)`` (0 for x = 0).
        Needs ``q > 1`` for the population mean to exist. A negative or non-finite ``m``
        gets the population mean, as one-time buyers do (lifetimes would shrink towards it).

        Computed as the equal posterior mean ``p (v + x m) / (p x + q - 1)``: at ``q = 1``,
        where ``fit(q_constraint=True)`` can end, lifetimes' weighted form gives
        ``0 · inf = NaN`` for repeat buyers; this gives their finite value (and ``inf`` for
        one-time buyers, whose expected spend the model then leaves unbounded).
        """
        p, q, v = self._fitted_params()
        frequency = np.asarray(frequency, dtype=np.float64)
        monetary_value = np.asarray(monetary_value, dtype=np.float64)
        valid = np.isfinite(monetary_value) & (monetary_value >= 0)
        frequency = np.where(valid, frequency, 0.0)
        monetary_value = np.where(valid, monetary_value, 0.0)
        with np.errstate(divide="ignore"):
            return p * (v + frequency * monetary_value) / (p * frequency + q - 1.0)

    def customer_lifetime_value(
        self,
        transaction_model: BetaGeoModel | ModifiedBetaGeoModel,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        monetary_value: ArrayLike,
        months: int = 12,
        margin: float = 1.0,
        monthly_discount_rate: float = 0.01,
    ) -> np.ndarray:
        """Discounted expected profit over the next ``months`` months (time unit: days).

        lifetimes' ``customer_lifetime_value(..., freq='D')`` times ``margin``: with
        ``E(t)`` the expected purchases up to ``t`` days and ``m̂`` the expected average
        profit, ``CLV = margin m̂ sum_{i=1..months} (E(30 i) - E(30 (i-1))) / (1 + d)^i``.
        """
        # sum_i d_i (E_i - E_(i-1)) = sum_i E_i (d_i - d_(i+1)), with E_0 = d_(months+1) = 0
        discount = (1.0 + monthly_discount_rate) ** -np.arange(1.0, months + 1)
        discounted_purchases = transaction_model.weighted_expected_purchases(
            DAYS_PER_MONTH * np.arange(1, months + 1),
            discount - np.append(discount[1:], 0.0),
            frequency,
            recency,
            T,
        )
        profit = self.conditional_expected_average_profit(frequency, monetary_value)
        return margin * profit * discounted_purchases
