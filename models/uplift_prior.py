"""Today's uplift assumption, as cells (a prior to shrink toward) and as a policy.

Why it is kept: every learned policy must beat it on randomised data before it replaces
it, and the shrinkage model needs a prior per cell. The rule is the one of
``configs/channels.yaml``: ``uplift = (1 - p_anyway) x response_rate[channel] x
status_factor[status]`` -- never negative (no sleeping dogs), and within a channel
ordered by ``p_anyway`` alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from models.uplift_data import NO_OFFER, UpliftDataError

PRIOR_COLUMNS = ("channel", "offer", "segment", "p_anyway", "p_if_contacted")


def prior_table(
    p_anyway_by_segment: Mapping[str, float],
    response_rates: Mapping[str, float],
    status_factors: Mapping[str, float] | None = None,
    offers: Sequence[str] = (NO_OFFER,),
    offer_factors: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Winback's prior as one row per channel x offer x segment (:data:`PRIOR_COLUMNS`).

    ``p_if_contacted = p + (1 - p) x response_rate[channel] x status_factor[segment] x
    offer_factor[offer]`` (factors default to 1): the rule of ``configs/channels.yaml``.
    """
    factors = dict(status_factors or {})
    lifts = dict(offer_factors or {})
    rows = []
    for channel, rate in response_rates.items():
        for offer in offers:
            for segment, p in p_anyway_by_segment.items():
                wake = rate * factors.get(segment, 1.0) * lifts.get(offer, 1.0)
                rows.append((channel, offer, segment, p, p + (1.0 - p) * wake))
    return pd.DataFrame(rows, columns=list(PRIOR_COLUMNS))


def prior_uplift(
    p_anyway: Any,
    segment: Any,
    channel: Any,
    response_rates: Mapping[str, float],
    status_factors: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Today's uplift per row: ``(1 - p_anyway) x response_rate[channel] x factor[segment]``.

    Never negative and ordered by ``p_anyway`` within a channel: the policy a learned one
    must beat on randomised data before it replaces it.
    """
    p = np.asarray(p_anyway, float).reshape(-1)
    channels = pd.Series(np.asarray(channel, dtype=object).reshape(-1))
    rate = channels.map(dict(response_rates))
    if rate.isna().any():
        raise UpliftDataError(f"channel {channels[rate.isna()].iloc[0]!r} has no prior rate")
    factor = pd.Series(np.asarray(segment, dtype=object).reshape(-1)).map(
        dict(status_factors or {})
    )
    return (1.0 - p) * rate.to_numpy(float) * factor.fillna(1.0).to_numpy(float)


class PriorUplift:
    """Today's policy as a model: :func:`prior_uplift` per row, so it predicts like a learner.

    ``p_anyway`` is read from ``p_anyway_column``, or ``1 - p_dormant_column`` (the scorer's
    output) when that is given. It has no uncertainty model: ``uplift_lower = uplift``.
    """

    def __init__(
        self,
        response_rates: Mapping[str, float],
        status_factors: Mapping[str, float] | None = None,
        segment_column: str = "status",
        p_anyway_column: str | None = None,
        p_dormant_column: str | None = "p_dormant",
    ) -> None:
        self.response_rates = response_rates
        self.status_factors = status_factors
        self.segment_column = segment_column
        self.p_anyway_column = p_anyway_column
        self.p_dormant_column = p_dormant_column

    def to_dict(self) -> dict[str, Any]:
        """Plain state, so the current policy is stored beside the learned one."""
        return {
            "kind": "prior",
            "params": {
                "response_rates": dict(self.response_rates),
                "status_factors": None
                if self.status_factors is None
                else dict(self.status_factors),
                "segment_column": self.segment_column,
                "p_anyway_column": self.p_anyway_column,
                "p_dormant_column": self.p_dormant_column,
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PriorUplift:
        """Inverse of :meth:`to_dict`."""
        return cls(**data["params"])

    def fit(self, log: pd.DataFrame | None = None, outcome: str = "returned") -> PriorUplift:
        """Nothing to learn: the prior is an assumption (kept for a uniform surface)."""
        return self

    def predict(self, X: pd.DataFrame, channel: Any, offer: Any = NO_OFFER) -> pd.DataFrame:
        """``p_anyway, p_if_contacted, uplift, uplift_lower`` per row (offers change nothing)."""
        if self.p_anyway_column is not None:
            p = X[self.p_anyway_column].to_numpy(float)
        elif self.p_dormant_column is not None:
            p = 1.0 - X[self.p_dormant_column].to_numpy(float)
        else:
            raise ValueError("PriorUplift needs p_anyway_column or p_dormant_column")
        n = len(X)
        channel = np.broadcast_to(np.asarray(channel, dtype=object), (n,))
        uplift = prior_uplift(
            p,
            X[self.segment_column].to_numpy(object),
            channel,
            self.response_rates,
            self.status_factors,
        )
        return pd.DataFrame(
            {"p_anyway": p, "p_if_contacted": p + uplift, "uplift": uplift, "uplift_lower": uplift},
            index=X.index,
        )
