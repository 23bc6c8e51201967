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

from models.uplift_data import NO_OFFER
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
    # Statuses factorised once: sorting the ids' statuses per channel was most of the
    # contact options' time on CDNOW, which POST /rank pays for each new channel setting.
    codes, unique = pd.factorize(customers["status"].astype(str).to_numpy())
    out = np.empty((len(customers), len(channels)), dtype=dtype)
    for j, name in enumerate(channels):
        by_code = np.array([value(name, s) for s in unique], dtype=dtype)
        out[:, j] = by_code[codes]
    return out


@dataclass
class LearnedResponse:
    """An uplift model's predictions, per customer, channel and offer.

    ``model`` has ``predict(customers, channel, offer) -> DataFrame`` with ``uplift`` and
    ``uplift_lower`` columns (the surface of :mod:`models.uplift`'s learners). The model's
    own baseline is replaced by the scorer's ``p_anyway`` (the champion's dormancy model,
    judged out of time), and the model's uplift is added to it, clipped to a probability.
    Cells the model predicts count as measured: it was used only after it won on held-out
    randomised data (:mod:`pipelines.economics.uplift_choice`).

    ``options``: the (channel, offer) pairs the model learned from (None: every pair). A
    customer whose channel and offer the model never saw keeps ``prior``'s estimate and its
    measured flag, so an unlearned channel is explored, never guessed by a model that has
    not seen it. A customer without an offer is the model's ``"none"`` offer.
    """

    model: Any
    name: str = "learned"
    options: frozenset[tuple[str, str]] | None = None
    prior: PriorResponse | None = None

    def estimate(
        self,
        customers: pd.DataFrame,
        p_anyway: np.ndarray,
        channels: tuple[str, ...],
        offers: np.ndarray,
    ) -> ResponseEstimate:
        shape = (len(customers), len(channels))
        known = self._known(channels, offers)
        fallback = None
        if not known.all():
            if self.prior is None:
                raise ValueError("LearnedResponse: options outside the model need a prior")
            fallback = self.prior.estimate(customers, p_anyway, channels, offers)
        p_contacted, lower = np.empty(shape), np.empty(shape)
        measured = np.ones(shape, dtype=bool)
        for j, channel in enumerate(channels):
            rows = np.flatnonzero(known[:, j])
            if fallback is not None:
                p_contacted[:, j] = fallback.p_return_if_contacted[:, j]
                lower[:, j] = fallback.uplift_lower[:, j]
                measured[:, j] = fallback.measured[:, j]
                measured[rows, j] = True
            if not len(rows):
                continue
            predicted = self.model.predict(
                customers.iloc[rows], channel, _offer_names(offers[rows, j])
            )
            uplift = predicted["uplift"].to_numpy(dtype=float)
            p_contacted[rows, j] = np.clip(p_anyway[rows] + uplift, 0.0, 1.0)
            lower[rows, j] = predicted["uplift_lower"].to_numpy(dtype=float)
        return ResponseEstimate(p_contacted, lower, measured)

    def offers_for(self, channel: str) -> list[str]:
        """The offers the model learned on ``channel`` (the plan may choose among them)."""
        if self.options is None:
            return []
        return sorted(o for c, o in self.options if c == channel and o != NO_OFFER)

    def _known(self, channels: tuple[str, ...], offers: np.ndarray) -> np.ndarray:
        """True where the model learned the customer's (channel, offer)."""
        if self.options is None:
            return np.ones(offers.shape, dtype=bool)
        known = np.zeros(offers.shape, dtype=bool)
        for j, channel in enumerate(channels):
            names = _offer_names(offers[:, j])
            known[:, j] = [(channel, o) in self.options for o in names]
        return known


def _offer_names(offers: np.ndarray) -> np.ndarray:
    """The plan's offers as a model names them: no offer is ``"none"``."""
    series = pd.Series(offers, dtype=object)
    return series.where(series.notna(), NO_OFFER).astype(str).to_numpy(dtype=object)
