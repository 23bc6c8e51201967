"""How a contact changes a customer's chance of coming back: the response the plan uses.

The plan needs, for every eligible customer ``i`` and channel ``c`` with its offer ``o``:
``p_return_if_contacted``, a lower bound of the uplift it decides on, and whether the
effect of that (channel, segment) cell has been measured. Two sources give them:

* :class:`PriorResponse`: the assumption of ``configs/channels.yaml``, ``p_anyway + (1 -
  p_anyway) x response_rate[c, status]``, with campaign-measured rates replacing the prior
  where ``winback campaign import`` measured them. It can never be negative and it has no
  uncertainty of its own, so its lower bound is the point value; cells no campaign measured
  are *unmeasured* and the plan only explores them (:mod:`pipelines.economics.holdout`).
* :class:`LearnedResponse`: an uplift model learned from randomised campaign logs
  (:mod:`models.uplift`), per customer, channel and offer, with a lower bound; the uplift
  can be negative ("sleeping dogs": do not contact). It replaces the prior only after it
  won on held-out randomised data (see ``winback campaign learn``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from pipelines.economics.channels import ChannelConfig


@dataclass
class ResponseEstimate:
    """Arrays of shape ``(n_customers, n_channels)``."""

    p_return_if_contacted: np.ndarray
    #: Lower bound of ``p_return_if_contacted - p_return_anyway``, the uplift decided on.
    uplift_lower: np.ndarray
    #: True where the cell's effect was measured on randomised data.
    measured: np.ndarray


class ResponseModel(Protocol):
    """What the plan asks of a response source."""

    #: Shown in the list's summary and the campaign log: where the uplift comes from.
    name: str

    def estimate(
        self,
        customers: pd.DataFrame,
        p_anyway: np.ndarray,
        channels: tuple[str, ...],
        offers: np.ndarray,
    ) -> ResponseEstimate: ...


@dataclass
class PriorResponse:
    """The configured wake rates (prior, or campaign-measured per channel and status)."""

    config: ChannelConfig
    name: str = "prior"

    def rates(self, customers: pd.DataFrame, channels: tuple[str, ...]) -> np.ndarray:
        """``response_rate[c, status]`` for every customer and channel."""
        return _per_channel_and_status(customers, channels, self.config.response_rate, float)

    def estimate(
        self,
        customers: pd.DataFrame,
        p_anyway: np.ndarray,
        channels: tuple[str, ...],
        offers: np.ndarray,
    ) -> ResponseEstimate:
        rates = self.rates(customers, channels)
        p_contacted = p_anyway[:, None] + (1.0 - p_anyway[:, None]) * rates
        measured = _per_channel_and_status(customers, channels, self.config.is_measured, bool)
        return ResponseEstimate(p_contacted, p_contacted - p_anyway[:, None], measured)


def _per_channel_and_status(
    customers: pd.DataFrame, channels: tuple[str, ...], value: Any, dtype: type
) -> np.ndarray:
    """``value(channel, status)`` for every customer and channel, computed once per status."""
    statuses = customers["status"].astype(str).to_numpy()
    out = np.empty((len(customers), len(channels)), dtype=dtype)
    for j, name in enumerate(channels):
        by_status = {s: value(name, s) for s in np.unique(statuses)}
        out[:, j] = [by_status[s] for s in statuses]
    return out


@dataclass
class LearnedResponse:
    """An uplift model's predictions, per customer, channel and offer.

    ``model`` has ``predict(customers, channel, offer) -> DataFrame`` with ``p_anyway``,
    ``p_if_contacted``, ``uplift`` and ``uplift_lower`` columns (the surface of
    :mod:`models.uplift`'s learners). The model's own ``p_anyway`` is replaced by the
    scorer's (the champion's dormancy model, judged out of time), and the model's uplift is
    added to it, clipped to a probability. Every cell counts as measured: the model was
    promoted only after it won on held-out randomised data.
    """

    model: Any
    name: str = "learned"

    def estimate(
        self,
        customers: pd.DataFrame,
        p_anyway: np.ndarray,
        channels: tuple[str, ...],
        offers: np.ndarray,
    ) -> ResponseEstimate:
        shape = (len(customers), len(channels))
        p_contacted, lower = np.empty(shape), np.empty(shape)
        for j, channel in enumerate(channels):
            predicted = self.model.predict(customers, channel, offers[:, j])
            uplift = predicted["uplift"].to_numpy(dtype=float)
            p_contacted[:, j] = np.clip(p_anyway + uplift, 0.0, 1.0)
            lower[:, j] = predicted["uplift_lower"].to_numpy(dtype=float)
        return ResponseEstimate(p_contacted, lower, np.ones(shape, dtype=bool))
