"""The words and dates of a list row: when to contact, what to offer, and why.

A marketer acts on a row only when they can say why this customer and why this channel, so
every number the economics used is written out in :func:`reason_text`; the contact-by date
keeps the contact ahead of the customer's next purchase date, and :func:`offer_text` fills
the offer's template from ``configs/channels.yaml``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from pipelines.economics.channels import ChannelConfig
from pipelines.economics.money import money


def contact_by_dates(customers: pd.DataFrame, as_of: dt.date, config: ChannelConfig) -> pd.Series:
    """Contact-by date per customer: before their next purchase would have been due.

    ``days = clip(floor(min(gap_fraction x gap, days_until_due - 1)), min_days, max_days)``
    where ``days_until_due = k x gap - days_since_last`` for the first whole number ``k`` of
    cycles that lands after the as-of date. A customer buying every 21 days is contacted
    within a week; a sleeper whose next cycle date is near is contacted before it.
    """
    rule = config.contact_by
    gap = customers["typical_gap_days"].to_numpy(float)
    since = customers["days_since_last"].to_numpy(float)
    cycles = np.floor(since / gap) + 1
    until_due = cycles * gap - since
    days = np.floor(np.minimum(rule.gap_fraction * gap, until_due - 1))
    days = np.clip(days, rule.min_days, rule.max_days).astype("int64")
    return pd.Series(
        pd.Timestamp(as_of) + pd.to_timedelta(days, unit="D"), index=customers.index
    ).dt.date


def offer_text(
    offer_name: str, favorite_product: str | None, contact_by: dt.date, config: ChannelConfig
) -> str:
    """The offer's text with the customer's favourite product and the offer's end date."""
    offer = config.offers[offer_name]
    valid_until = contact_by + dt.timedelta(days=int(offer.valid_days))
    return offer.text.format(
        favorite_product=favorite_product or "your favourite",
        discount=f"{offer.discount:.0%}",
        valid_until=valid_until.isoformat(),
    )


def reason_text(
    customer: dict,
    channel: str,
    offer_name: str,
    p_anyway: float,
    p_contacted: float,
    value: float,
    spend: float,
    config: ChannelConfig,
) -> str:
    """The row's numbers in words, so a manager can say why this customer, why this channel.

    ``customer`` needs ``frequency``, ``typical_gap_days``, ``days_since_last``,
    ``overdue_cycles`` and ``favorite_product``.
    """
    parts = _history_words(customer)
    parts.append(f"comes back anyway {p_anyway:.0%}, {p_contacted:.0%} if contacted")
    parts.append(f"expected value if woken {money(value, config.currency)}")
    parts.append(_cost_words(channel, offer_name, p_contacted, spend, config))
    return "; ".join(parts)


def _history_words(customer: dict) -> list[str]:
    """The customer's rhythm, their silence and their favourite product."""
    gap = float(customer["typical_gap_days"])
    if int(customer["frequency"]) > 0:
        parts = [f"usually buys every {gap:.0f} days"]
    else:
        parts = [f"one purchase day so far (customers like this buy every {gap:.0f} days)"]
    parts.append(
        f"{int(customer['days_since_last'])} days since last order "
        f"({float(customer['overdue_cycles']):.1f} cycles missed)"
    )
    favourite = customer.get("favorite_product")
    if isinstance(favourite, str) and favourite.strip():
        parts.append(f"favourite: {favourite}")
    return parts


def _cost_words(
    channel: str, offer_name: str, p_contacted: float, spend: float, config: ChannelConfig
) -> str:
    """The contact's price, and the offer's costs that are paid only on a return."""
    cur = config.currency
    chan = config.channels[channel]
    offer = config.offers[offer_name]
    words = f"{chan.label} costs {money(chan.cost, cur)}"
    extras = []
    if offer.cost_if_redeemed > 0:
        extras.append(f"{offer.name.replace('_', ' ')} {money(offer.cost_if_redeemed, cur)}")
    if offer.discount > 0:
        extras.append(f"{offer.discount:.0%} off {money(spend, cur)}")
    if extras:
        expected = p_contacted * (offer.cost_if_redeemed + offer.discount * spend)
        words += f" + {' and '.join(extras)} if redeemed (expected {money(expected, cur)})"
    return words
