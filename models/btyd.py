"""The BTYD bundle the pipelines train, register and serve: a transaction model plus spend.

One object so that training, batch scoring and the service agree on what a score means;
its fitted state is a handful of floats (:meth:`BTYDModel.to_dict`), so MLflow and BentoML
can store it as JSON instead of a pickle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np
import pandas as pd

from models.bgnbd import BetaGeoModel, ModifiedBetaGeoModel, rfm_arrays
from models.estimator import feature_arrays
from models.gamma_gamma import GammaGammaModel
from models.pareto_nbd import ParetoNBDModel

TRANSACTION_MODELS: dict[str, type[BetaGeoModel | ModifiedBetaGeoModel | ParetoNBDModel]] = {
    "bgnbd": BetaGeoModel,
    "mbgnbd": ModifiedBetaGeoModel,
    # The original of the family: P(alive) < 1 for one-time buyers (models/pareto_nbd.py).
    "pareto_nbd": ParetoNBDModel,
}


class BTYDModel:
    """BG/NBD or MBG/NBD for who buys and when, Gamma-Gamma for how much.

    ``__init__`` only stores its arguments; ``fit(features)`` learns ``transaction_model_``
    and ``spend_model_`` from a per-customer frame with ``frequency, recency, T,
    monetary_value`` (lifetimes' ``summary_data_from_transaction_data`` with ``freq='D'``).
    """

    def __init__(
        self,
        transaction_model: str = "bgnbd",
        penalizer_coef: float = 0.0,
        clv_months: int = 12,
        margin: float = 1.0,
        monthly_discount_rate: float = 0.01,
    ) -> None:
        self.transaction_model = transaction_model
        self.penalizer_coef = penalizer_coef
        self.clv_months = clv_months
        self.margin = margin
        self.monthly_discount_rate = monthly_discount_rate

    def fit(self, features: pd.DataFrame) -> Self:
        model_class = _transaction_model_class(self.transaction_model)
        self.transaction_model_ = model_class(penalizer_coef=self.penalizer_coef).fit(features)
        self.spend_model_ = GammaGammaModel(penalizer_coef=self.penalizer_coef).fit(features)
        return self

    def predict(
        self, features: pd.DataFrame, as_of: pd.Timestamp, horizon_days: float = 90.0
    ) -> pd.DataFrame:
        """Scores per customer, indexed like ``features``.

        ``as_of`` is the date the features' ``T`` runs to. ``p_dormant`` is P(no purchase in
        the next ``horizon_days``); ``expected_next_order_date`` is the first day by which,
        *if* the customer buys again, they have done so with probability 0.5 (the median
        next purchase day given that there is one; ``median_days_to_next_purchase`` of the
        transaction model). ``p_alive`` / ``p_dormant`` say whether, this says when. NaT
        where that median is more than two years away (BG/NBD and MBG/NBD: one-time buyers
        of long standing) or P(alive) is 0 to double precision;
        ``predicted_spend`` is the expected purchases in the horizon times the expected
        value per purchase; ``clv`` is the discounted expected profit over ``clv_months``.
        """
        if not hasattr(self, "transaction_model_"):
            raise ValueError("BTYDModel is not fitted yet; call fit(features) first")
        frequency, recency, T = rfm_arrays(features)
        # Negative values cannot come from winback's features; from elsewhere they are
        # predicted at the population's value per purchase, not refused (see gamma_gamma).
        (monetary_value,) = feature_arrays(
            features, ("monetary_value",), signed=("monetary_value",)
        )
        transactions, spend = self.transaction_model_, self.spend_model_
        scores = transactions.predict(features, horizon_days=horizon_days)
        days_to_next_order = scores.pop("days_to_next_order").to_numpy()
        # Whole days: the order date is the first calendar day the probability is reached.
        scores["expected_next_order_date"] = pd.Timestamp(as_of) + pd.to_timedelta(
            np.ceil(days_to_next_order), unit="D"
        )
        profit_per_purchase = spend.conditional_expected_average_profit(frequency, monetary_value)
        scores["predicted_spend"] = scores["expected_purchases"] * profit_per_purchase
        scores["clv"] = spend.customer_lifetime_value(
            transactions,
            frequency,
            recency,
            T,
            monetary_value,
            months=self.clv_months,
            margin=self.margin,
            monthly_discount_rate=self.monthly_discount_rate,
        )
        return scores

    def to_dict(self) -> dict[str, Any]:
        """Configuration and fitted parameters as plain values (JSON-serialisable)."""
        if not hasattr(self, "transaction_model_"):
            raise ValueError("BTYDModel is not fitted yet; call fit(features) first")
        return {
            "transaction_model": self.transaction_model,
            "penalizer_coef": self.penalizer_coef,
            "clv_months": self.clv_months,
            "margin": self.margin,
            "monthly_discount_rate": self.monthly_discount_rate,
            "transaction_model_state": self.transaction_model_.to_dict(),
            "spend_model_state": self.spend_model_.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Rebuild a fitted bundle from :meth:`to_dict` output, without refitting."""
        config = {
            key: value
            for key, value in data.items()
            if key not in ("transaction_model_state", "spend_model_state")
        }
        model = cls(**config)
        model.transaction_model_ = _transaction_model_class(model.transaction_model).from_dict(
            data["transaction_model_state"], penalizer_coef=model.penalizer_coef
        )
        model.spend_model_ = GammaGammaModel.from_dict(
            data["spend_model_state"], penalizer_coef=model.penalizer_coef
        )
        return model


def _transaction_model_class(name: str) -> type[BetaGeoModel | ModifiedBetaGeoModel]:
    if name not in TRANSACTION_MODELS:
        raise ValueError(
            f"transaction_model must be one of {sorted(TRANSACTION_MODELS)}, got {name!r}"
        )
    return TRANSACTION_MODELS[name]
