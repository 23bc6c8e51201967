"""Contact options: for every eligible customer and channel, what a contact would bring and cost.

Pure functions over a scores table (one row per customer: the feature columns of
:data:`features.sql.FEATURE_COLUMNS` plus the scorer's ``p_dormant``, ``predicted_spend``
...). The scores are checked here, at the economics' boundary, and every later step
(:mod:`pipelines.economics.selection`, :mod:`pipelines.economics.plan`) works on the
:class:`ContactOptions` computed from them.

The numbers of one list row
---------------------------
For customer ``i`` and channel ``c`` (settings in ``configs/channels.yaml``), all over the
scorer's horizon (the same horizon as the probabilities):

* ``p_return_anyway = 1 - p_dormant``: the model's chance that the customer buys within
  the horizon without any contact.
* ``p_return_if_contacted``: from the response source (:mod:`pipelines.economics.response`):
  the prior ``p_anyway + (1 - p_anyway) x response_rate[c, status]``, or a learned uplift
  model. ``uplift_lower`` is the lower bound the decision uses (the point value for the
  prior, which has no uncertainty of its own).
* ``spend_if_returned = E[spend | return] = predicted_spend / p_return_anyway``: the
  scorer's ``predicted_spend`` is the *unconditional* expected spend over the horizon
  (zero for those who do not come back), so the spend of a returning customer is that
  divided by the chance of returning. Two guards: ``p_return_anyway`` is floored at
  :data:`MIN_P_RETURN_FOR_SPEND` (the ratio is noise below it), and a returning customer
  places at least one order of their usual size (``avg_order_value``).
* ``value_if_returned = spend_if_returned x margin``.
* ``cost = channel cost + p_return_if_contacted x (offer cost_if_redeemed + offer discount
  x avg_order_value)``: the contact is paid now; a gift or a discount only when the
  customer comes back, and then by everyone who comes back with it, including those who
  would have come anyway. A discount applies to the one order it is redeemed on (the
  customer's usual order), not to the whole horizon's spend. ``cost`` is an expected
  cost, and the budget is a budget of expected cost.
* ``expected_incremental_value = (p_return_if_contacted - p_return_anyway) x
  value_if_returned - cost``, the point estimate the list reports;
  ``decision_value = uplift_lower x value_if_returned - cost`` is what selection ranks on,
  and an option is chosen only when it is above ``min_expected_value_per_contact``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.errors import WinbackError
from pipelines.economics.channels import LIST_CONDITIONS, ChannelConfig
from pipelines.economics.response import PriorResponse, ResponseModel

#: Columns of the scores table the economics reads (all part of the scorer's contract).
ECONOMICS_INPUT_COLUMNS = (
    "customer_id",
    "status",
    "p_dormant",
    "predicted_spend",
    "avg_order_value",
    "n_orders",
    "frequency",
    "last_purchase",
    "days_since_last",
    "typical_gap_days",
    "overdue_cycles",
    "ladder_stage",
    "abc",
    "xyz",
    "favorite_product",
)

#: Below this chance of returning, ``predicted_spend / p_return_anyway`` is not trusted.
MIN_P_RETURN_FOR_SPEND = 0.05
#: Tolerance on probabilities read from the scores (floating point noise of the models).
_PROBABILITY_SLACK = 1e-9


class ScoresError(WinbackError):
    """A scores table the economics cannot use (missing columns, impossible values)."""


def validate_scores(scores: pd.DataFrame, source: str = "scores") -> None:
    """Fail at the boundary, naming the missing column or the first bad customer."""
    missing = [c for c in ECONOMICS_INPUT_COLUMNS if c not in scores.columns]
    if missing:
        raise ScoresError(
            f"{source}: missing column(s) {', '.join(missing)}; the scores table needs the "
            "feature columns plus p_dormant and predicted_spend (run the scorer first)"
        )
    if scores["customer_id"].isna().any():
        raise ScoresError(f"{source}: customer_id is empty in some rows")
    duplicated = scores["customer_id"].astype(str).duplicated()
    if duplicated.any():
        first = scores["customer_id"].astype(str)[duplicated].iloc[0]
        raise ScoresError(f"{source}: customer_id {first!r} appears more than once")
    p = pd.to_numeric(scores["p_dormant"], errors="coerce")
    bad = p.notna() & ((p < -_PROBABILITY_SLACK) | (p > 1 + _PROBABILITY_SLACK))
    if bad.any():
        row = scores.loc[bad].iloc[0]
        raise ScoresError(
            f"{source}: p_dormant must be a probability in [0, 1]; customer "
            f"{row['customer_id']!r} has {row['p_dormant']!r} ({int(bad.sum())} such rows)"
        )


def as_of_from_scores(scores: pd.DataFrame) -> dt.date:
    """The as-of date the features were built at: ``last_purchase + days_since_last``."""
    if scores.empty:
        raise ScoresError("scores: no customers, so no as-of date can be derived")
    dates = pd.to_datetime(scores["last_purchase"]) + pd.to_timedelta(
        scores["days_since_last"].astype("int64"), unit="D"
    )
    return pd.Timestamp(dates.mode().iloc[0]).date()


def assign_offers(scores: pd.DataFrame, config: ChannelConfig) -> pd.Series:
    """Offer name per customer: the first rule of ``config.offer_rules`` whose conditions hold."""
    offers = pd.Series(pd.NA, index=scores.index, dtype="object")
    undecided = pd.Series(True, index=scores.index)
    share = scores["favorite_product_share"] if "favorite_product_share" in scores else None
    for rule in config.offer_rules:
        match = undecided.copy()
        for key, value in rule.when.items():
            if key in LIST_CONDITIONS:
                match &= scores[key].astype(str).isin([str(v) for v in value])
            elif key == "min_days_since_last":
                match &= scores["days_since_last"] >= float(value)
            elif key == "min_orders":
                match &= scores["n_orders"] >= float(value)
            elif key == "favorite_product":
                present = scores["favorite_product"].notna() & (
                    scores["favorite_product"].astype(str).str.strip() != ""
                )
                match &= present if value else ~present
            elif key == "min_favorite_share" and share is not None:
                match &= pd.to_numeric(share, errors="coerce").fillna(0.0) >= float(value)
        offers[match] = rule.offer
        undecided &= ~match
    return offers


@dataclass
class ContactOptions:
    """Every (eligible customer, channel) option with its numbers; rows follow ``customers``.

    2-D arrays are ``(n_customers, n_channels)`` in the order of ``channels``.
    """

    customers: pd.DataFrame
    channels: tuple[str, ...]
    p_return_anyway: np.ndarray
    spend_if_returned: np.ndarray
    value_if_returned: np.ndarray
    segment_offer: np.ndarray
    offer: np.ndarray
    p_return_if_contacted: np.ndarray
    uplift_lower: np.ndarray
    measured: np.ndarray
    cost: np.ndarray
    expected_incremental_value: np.ndarray
    #: What selection ranks on: value at the uplift's lower bound, minus the floor (options
    #: at or below zero are never chosen).
    decision_value: np.ndarray
    response_source: str = "prior"

    def to_frame(self) -> pd.DataFrame:
        """Long format: one row per customer and channel."""
        n, m = self.cost.shape
        return pd.DataFrame(
            {
                "customer_id": np.repeat(self.customers["customer_id"].to_numpy(), m),
                "channel": np.tile(np.array(self.channels, dtype=object), n),
                "offer": self.offer.ravel(),
                "p_return_anyway": np.repeat(self.p_return_anyway, m),
                "p_return_if_contacted": self.p_return_if_contacted.ravel(),
                "value_if_returned": np.repeat(self.value_if_returned, m),
                "cost": self.cost.ravel(),
                "expected_incremental_value": self.expected_incremental_value.ravel(),
            }
        )


def eligible_customers(scores: pd.DataFrame, config: ChannelConfig) -> pd.DataFrame:
    """Customers in an eligible status with a dormancy score, sorted by customer_id."""
    eligible = scores[
        scores["status"].astype(str).isin(config.eligible_statuses) & scores["p_dormant"].notna()
    ].copy()
    eligible["customer_id"] = eligible["customer_id"].astype(str)
    return eligible.sort_values("customer_id", kind="stable").reset_index(drop=True)


def contact_options(
    scores: pd.DataFrame, config: ChannelConfig, response: ResponseModel | None = None
) -> ContactOptions:
    """Compute p_return, value, cost and expected incremental value for every option.

    ``response`` gives the chance of returning if contacted (default: the configured
    rates, :class:`pipelines.economics.response.PriorResponse`).
    """
    response = response or PriorResponse(config)
    customers = eligible_customers(scores, config)
    channels = tuple(config.channels)
    p_anyway = 1.0 - np.clip(customers["p_dormant"].to_numpy(dtype=float), 0.0, 1.0)
    spend = spend_if_returned(customers, p_anyway)
    value = spend * float(config.margin)
    segment_offer = assign_offers(customers, config).to_numpy(dtype=object)
    offer = np.empty((len(customers), len(channels)), dtype=object)
    for j, name in enumerate(channels):
        forced = config.channels[name].offer
        offer[:, j] = segment_offer if forced is None else forced
    estimate = response.estimate(customers, p_anyway, channels, offer)
    order_value = order_value_of(customers)
    floor = float(config.min_expected_value_per_contact)
    _choose_learned_offers(
        response, customers, p_anyway, value, order_value, offer, estimate, config
    )
    p_contacted = estimate.p_return_if_contacted
    cost = _option_cost(config, channels, offer, p_contacted, order_value)
    gain = (p_contacted - p_anyway[:, None]) * value[:, None]
    return ContactOptions(
        customers=customers,
        channels=channels,
        p_return_anyway=p_anyway,
        spend_if_returned=spend,
        value_if_returned=value,
        segment_offer=segment_offer,
        offer=offer,
        p_return_if_contacted=p_contacted,
        uplift_lower=estimate.uplift_lower,
        measured=estimate.measured,
        cost=cost,
        expected_incremental_value=gain - cost,
        decision_value=estimate.uplift_lower * value[:, None] - cost - floor,
        response_source=response.name,
    )


def _option_cost(
    config: ChannelConfig,
    channels: tuple[str, ...],
    offer: np.ndarray,
    p_contacted: np.ndarray,
    order_value: np.ndarray,
) -> np.ndarray:
    """Expected cost per (customer, channel): the contact, plus the offer if redeemed."""
    channel_cost = np.array([config.channels[c].cost for c in channels], dtype=float)
    redeem_cost = _per_offer(offer, {n: o.cost_if_redeemed for n, o in config.offers.items()})
    discount = _per_offer(offer, {n: o.discount for n, o in config.offers.items()})
    return channel_cost[None, :] + p_contacted * (redeem_cost + discount * order_value[:, None])


def _choose_learned_offers(
    response: ResponseModel,
    customers: pd.DataFrame,
    p_anyway: np.ndarray,
    value: np.ndarray,
    order_value: np.ndarray,
    offer: np.ndarray,
    estimate: Any,
    config: ChannelConfig,
) -> None:
    """Offers as a decision once a campaign measured them (issue 13, point 5).

    The offer rules of the channels file give each customer an offer; when the response is
    a learned model that measured other offers of the channels file on a channel, each
    customer gets the offer whose value at the uplift's lower bound, less its cost, is
    highest. ``offer`` and ``estimate`` are updated in place; a channel that forces its
    offer, or a prior response, keeps the rules' offer.
    """
    learned_offers = getattr(response, "offers_for", None)
    if learned_offers is None:
        return
    for j, channel in enumerate(tuple(config.channels)):
        if config.channels[channel].offer is not None:
            continue
        candidates = [o for o in learned_offers(channel) if o in config.offers]
        for candidate in candidates:
            column = np.full((len(customers), 1), candidate, dtype=object)
            alt = response.estimate(customers, p_anyway, (channel,), column)
            current = _decision(estimate, j, value, offer[:, [j]], config, channel, order_value)
            other = _decision(alt, 0, value, column, config, channel, order_value)
            better = (other > current) & alt.measured[:, 0]
            offer[better, j] = candidate
            estimate.p_return_if_contacted[better, j] = alt.p_return_if_contacted[better, 0]
            estimate.uplift_lower[better, j] = alt.uplift_lower[better, 0]
            estimate.measured[better, j] = True


def _decision(
    estimate: Any,
    j: int,
    value: np.ndarray,
    offer: np.ndarray,
    config: ChannelConfig,
    channel: str,
    order_value: np.ndarray,
) -> np.ndarray:
    """Value at the lower bound less the expected cost, for column ``j`` of ``estimate``."""
    p = estimate.p_return_if_contacted[:, [j]]
    cost = _option_cost(config, (channel,), offer, p, order_value)[:, 0]
    return estimate.uplift_lower[:, j] * value - cost


def _per_offer(offer: np.ndarray, values: dict[str, float]) -> np.ndarray:
    """An offer attribute for every cell of the (customer, channel) offer array."""
    return np.array([values[o] for o in offer.ravel()], dtype=float).reshape(offer.shape)


def order_value_of(customers: pd.DataFrame) -> np.ndarray:
    """The customer's usual order (``avg_order_value``), never below zero."""
    average = pd.to_numeric(customers["avg_order_value"], errors="coerce").fillna(0.0)
    return np.maximum(average.to_numpy(float), 0.0)


def spend_if_returned(customers: pd.DataFrame, p_anyway: np.ndarray) -> np.ndarray:
    """E[spend | return] over the horizon: ``predicted_spend / p_return_anyway`` (floored at
    :data:`MIN_P_RETURN_FOR_SPEND`), and at least one usual order."""
    predicted = pd.to_numeric(customers["predicted_spend"], errors="coerce").fillna(0.0)
    conditional = np.maximum(predicted.to_numpy(float), 0.0) / np.maximum(
        p_anyway, MIN_P_RETURN_FOR_SPEND
    )
    return np.maximum(conditional, order_value_of(customers))
