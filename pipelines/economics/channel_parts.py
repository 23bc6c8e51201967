"""The pieces of the channels settings, and the shipped defaults built from them.

A channel, an offer, an offer rule and the contact-by rule are small frozen records;
:class:`pipelines.economics.channels.ChannelConfig` assembles them (and validates them)
from ``configs/channels.yaml``. The defaults here equal the shipped YAML (a test keeps them
in step).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Channel:
    """One way of contacting a customer.

    ``response_rate`` is the wake rate: the share of contacted customers who would *not*
    have come back on their own and whom the contact brings back within the horizon.
    """

    name: str
    label: str
    cost: float
    response_rate: float
    daily_capacity: int | None = None
    offer: str | None = None


@dataclass(frozen=True)
class Offer:
    """What a contact proposes; its costs are paid only when the customer comes back."""

    name: str
    text: str
    cost_if_redeemed: float = 0.0
    discount: float = 0.0
    valid_days: int = 14


#: Condition keys an offer rule may use.
RULE_CONDITIONS = (
    "ladder_stage",
    "status",
    "abc",
    "xyz",
    "min_days_since_last",
    "favorite_product",
    "min_orders",
    "min_favorite_share",
)


#: Conditions whose value is a list of allowed values.
LIST_CONDITIONS = ("ladder_stage", "status", "abc", "xyz")


@dataclass(frozen=True)
class OfferRule:
    """``offer`` for the customers meeting every condition in ``when`` (empty = everyone)."""

    offer: str
    when: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ContactByRule:
    """Contact-by = as_of + clip(gap_fraction x typical_gap_days, min_days, max_days)."""

    gap_fraction: float = 0.3333
    min_days: int = 1
    max_days: int = 30


def default_channels() -> dict[str, Channel]:
    return {
        "email": Channel("email", "e-mail", 0.05, 0.12),
        "sms": Channel("sms", "SMS", 0.20, 0.14),
        "mass_mailing": Channel("mass_mailing", "mass mailing (printed)", 0.45, 0.16),
        "special_offer": Channel(
            "special_offer",
            "special offer (e-mail, time-limited discount)",
            0.05,
            0.18,
            offer="time_limited_offer",
        ),
        "phone": Channel("phone", "phone call (own staff)", 2.50, 0.28, daily_capacity=100),
        "call_centre": Channel("call_centre", "call centre", 5.00, 0.22, daily_capacity=500),
    }


def default_offers() -> dict[str, Offer]:
    return {
        "gift": Offer("gift", "a thank-you gift with your next order", cost_if_redeemed=2.0),
        "repeat_last_order": Offer(
            "repeat_last_order", "repeat your last order: {favorite_product}"
        ),
        "event_invitation": Offer("event_invitation", "an invitation to our customer event"),
        "time_limited_offer": Offer(
            "time_limited_offer",
            "{discount} off your next order until {valid_until}",
            discount=0.10,
            valid_days=14,
        ),
        "default": Offer("default", "new arrivals picked for you"),
    }


def default_rules() -> tuple[OfferRule, ...]:
    return (
        OfferRule("gift", {"ladder_stage": ["loyal", "advocate"]}),
        OfferRule(
            "repeat_last_order",
            {"favorite_product": True, "min_orders": 3, "min_favorite_share": 0.5},
        ),
        OfferRule("event_invitation", {"min_days_since_last": 90}),
        OfferRule("default", {}),
    )
