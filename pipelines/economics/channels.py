"""Win-back economics settings: channels, margin, offers (``configs/channels.yaml``).

The dataclass defaults equal the shipped YAML (a test keeps them in step), so the pure
functions in :mod:`pipelines.economics.plan` and the service work without reading a file.
Measured campaign uplift replaces a channel's prior response rate through
:meth:`ChannelConfig.with_measured_response_rates`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from features.errors import ConfigError
from pipelines.economics.channel_parts import (  # noqa: F401  (part of this module's API)
    LIST_CONDITIONS,
    RULE_CONDITIONS,
    Channel,
    ContactByRule,
    Offer,
    OfferRule,
    default_channels,
    default_offers,
    default_rules,
)
from pipelines.paths import CONFIG_DIR

DEFAULT_CHANNELS_PATH = CONFIG_DIR / "channels.yaml"


@dataclass(frozen=True)
class ChannelConfig:
    """Everything the win-back economics needs besides the scores."""

    currency: str = "$"
    margin: float = 0.30
    eligible_statuses: tuple[str, ...] = ("sleeping", "at_risk", "lost")
    campaign_days: int = 10
    contact_by: ContactByRule = field(default_factory=ContactByRule)
    rule_of_thumb_win_back_rate: float = 0.30
    ltv_lifetime_months: float = 24.0
    min_campaign_group_size: int = 100
    holdout_share: float = 0.10
    exploration_share: float = 0.25
    min_expected_value_per_contact: float = 0.0
    #: P(dormant) from which a listed customer's churn risk is "medium" and "high" (the
    #: list's ``churn_risk`` column); below the first it is "low".
    churn_risk_medium_from: float = 0.50
    churn_risk_high_from: float = 0.80
    response_factor_by_status: Mapping[str, float] = field(
        default_factory=lambda: {"at_risk": 1.0, "sleeping": 1.0, "lost": 0.3}
    )
    channels: Mapping[str, Channel] = field(default_factory=default_channels)
    offers: Mapping[str, Offer] = field(default_factory=default_offers)
    offer_rules: tuple[OfferRule, ...] = field(default_factory=default_rules)
    #: Campaign-measured response rates, channel -> {status or "all": rate}; set only by
    #: :meth:`with_measured_response_rates`, never from the YAML.
    measured_response_rates: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    measured_source: str | None = None

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ChannelConfig:
        """Settings as read from the YAML; unknown keys are an error naming the known ones."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)} - _NOT_SETTINGS
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(known)}")
        # Scalars are taken as they are (validate checks them); the rest is built.
        kwargs = {key: value for key, value in data.items() if key not in _SETTING_PARSERS}
        for key, parse in _SETTING_PARSERS.items():
            if key in data:
                kwargs[key] = parse(data[key])
        return cls(**kwargs)

    def validate(self) -> ChannelConfig:
        """Check every value; the error names the setting and what is allowed.

        The checks run in a fixed order (scalar settings, the contact-by rule, offers,
        status factors, channels, offer rules) and the first problem found is reported.
        """
        if not isinstance(self.currency, str):
            raise ConfigError('currency must be text, e.g. "$"')
        for name, allowed, message in _SCALAR_CHECKS:
            if not allowed(_number(getattr(self, name), name)):
                raise ConfigError(message)
        if not self.channels:
            raise ConfigError("channels: at least one channel is needed")
        if not self.eligible_statuses:
            raise ConfigError("eligible_statuses: at least one status is needed")
        _check_contact_by(self.contact_by)
        for name, offer in self.offers.items():
            _check_offer(f"offers.{name}", offer)
        for status, factor in self.response_factor_by_status.items():
            if not 0 <= _number(factor, f"response_factor_by_status.{status}") <= 1:
                raise ConfigError(f"response_factor_by_status.{status} must be in [0, 1]")
        for name, channel in self.channels.items():
            _check_channel(f"channels.{name}", channel, self.offers)
        _check_offer_rules(self.offer_rules, self.offers)
        if self.churn_risk_medium_from > self.churn_risk_high_from:
            raise ConfigError("churn_risk_medium_from must not exceed churn_risk_high_from")
        return self

    def churn_risk(self, p_dormant: Any) -> np.ndarray:
        """``low``, ``medium`` or ``high`` per P(dormant), by the configured thresholds."""
        p = np.asarray(p_dormant, float)
        return np.select(
            [p >= self.churn_risk_high_from, p >= self.churn_risk_medium_from],
            ["high", "medium"],
            "low",
        ).astype(object)

    # ----------------------------------------------------------------- variants
    def with_costs(self, costs: Mapping[str, float]) -> ChannelConfig:
        """A copy with some channels' cost per contact replaced (the service's overrides)."""
        channels = dict(self.channels)
        for name, cost in costs.items():
            if name not in channels:
                raise ConfigError(
                    f"cost override for unknown channel {name!r}; channels: " + ", ".join(channels)
                )
            channels[name] = replace(channels[name], cost=float(cost))
        return replace(self, channels=channels).validate()

    def with_measured_response_rates(
        self, measured: Mapping[str, Mapping[str, Mapping[str, Any]]], source: str
    ) -> ChannelConfig:
        """Replace priors by campaign-measured response rates where the groups are large enough.

        ``measured`` maps channel -> segment (a status, or ``"all"`` for the channel's
        contacts pooled over statuses) -> ``{"response_rate": r, "n_treatment": n,
        "n_control": m}``, as
        :func:`pipelines.economics.campaign_results.measured_response_rates` returns. A
        measurement counts only when both groups have at least ``min_campaign_group_size``
        contacts. See :meth:`response_rate` for precedence.
        """
        kept: dict[str, dict[str, float]] = {}
        for channel, by_segment in measured.items():
            if channel not in self.channels:
                continue
            for segment, result in by_segment.items():
                smaller = min(int(result["n_treatment"]), int(result["n_control"]))
                if smaller < int(self.min_campaign_group_size):
                    continue
                rate = min(max(float(result["response_rate"]), 0.0), 1.0)
                kept.setdefault(channel, {})[str(segment)] = rate
        return replace(self, measured_response_rates=kept, measured_source=source)

    def response_rate(self, channel: str, status: str) -> float:
        """Wake rate of ``channel`` for a customer in ``status``. Precedence, first wins:

        1. the rate measured by a campaign for this channel and status;
        2. the rate measured for this channel over all statuses the campaign contacted,
           times the status factor: the pooled rate replaces the channel's prior rate, not
           the segment's difference (lost customers still answer less than sleepers);
        3. the prior: ``channels.<channel>.response_rate x response_factor_by_status``
           (a status without a factor counts 1.0).
        """
        measured = self.measured_response_rates.get(channel, {})
        if status in measured:
            return measured[status]
        factor = float(self.response_factor_by_status.get(status, 1.0))
        if "all" in measured:
            return min(measured["all"] * factor, 1.0)
        return float(self.channels[channel].response_rate) * factor

    def response_rate_source(self, channel: str, status: str) -> str:
        measured = self.measured_response_rates.get(channel, {})
        if status in measured:
            return f"measured ({self.measured_source})"
        if "all" in measured:
            return f"measured for the channel ({self.measured_source}) x status factor"
        return "prior"

    def is_measured(self, channel: str, status: str) -> bool:
        """Whether a campaign measured this channel on customers of this status: only such
        a cell's effect is known well enough for a full send (others get exploration)."""
        return status in self.measured_response_rates.get(channel, {})

    def capacity(self, channel: str) -> float:
        """Contacts this channel can make for one list (daily capacity x campaign days)."""
        daily = self.channels[channel].daily_capacity
        return math.inf if daily is None else int(daily) * int(self.campaign_days)


#: Fields of :class:`ChannelConfig` that the YAML may not set.
_NOT_SETTINGS = {"measured_response_rates", "measured_source"}


def _parse_factors(value: Any) -> dict[str, Any]:
    factors = _mapping(value, "response_factor_by_status")
    return {str(k): v for k, v in factors.items()}


def _parse_channels(value: Any) -> dict[str, Channel]:
    return {
        name: _build(
            Channel,
            {"label": name, **_mapping(spec, f"channels.{name}")},
            f"channels.{name}",
            name=str(name),
        )
        for name, spec in _mapping(value, "channels").items()
    }


def _parse_offers(value: Any) -> dict[str, Offer]:
    return {
        name: _build(Offer, _mapping(spec, f"offers.{name}"), f"offers.{name}", name=str(name))
        for name, spec in _mapping(value, "offers").items()
    }


def _parse_offer_rules(rules: Any) -> tuple[OfferRule, ...]:
    if not isinstance(rules, list):
        raise ConfigError("offer_rules must be a list of {offer: ..., when: {...}}")
    built = []
    for i, rule in enumerate(rules):
        where = f"offer_rules[{i}]"
        values = _mapping(rule, where)
        values["when"] = _mapping(values.get("when") or {}, f"{where}.when")
        built.append(_build(OfferRule, values, where))
    return tuple(built)


#: Settings built from the YAML's lists and mappings, in this order; the others are scalars.
_SETTING_PARSERS: dict[str, Callable[[Any], Any]] = {
    "eligible_statuses": lambda value: tuple(_as_list(value, "eligible_statuses")),
    "response_factor_by_status": _parse_factors,
    "contact_by": lambda value: _build(ContactByRule, value, "contact_by"),
    "channels": _parse_channels,
    "offers": _parse_offers,
    "offer_rules": _parse_offer_rules,
}


#: (setting, allowed values, message): the scalar settings, checked in this order.
_SCALAR_CHECKS: tuple[tuple[str, Callable[[float], bool], str], ...] = (
    ("margin", lambda v: 0 < v <= 1, "margin must be in (0, 1]"),
    ("campaign_days", lambda v: v >= 1, "campaign_days must be at least 1"),
    (
        "rule_of_thumb_win_back_rate",
        lambda v: 0 <= v <= 1,
        "rule_of_thumb_win_back_rate must be in [0, 1]",
    ),
    ("ltv_lifetime_months", lambda v: v > 0, "ltv_lifetime_months must be positive"),
    ("min_campaign_group_size", lambda v: v >= 1, "min_campaign_group_size must be at least 1"),
    ("holdout_share", lambda v: 0 < v < 1, "holdout_share must be in (0, 1)"),
    ("exploration_share", lambda v: 0 < v <= 1, "exploration_share must be in (0, 1]"),
    (
        "min_expected_value_per_contact",
        lambda v: v >= 0,
        "min_expected_value_per_contact must be at least 0",
    ),
    ("churn_risk_medium_from", lambda v: 0 <= v <= 1, "churn_risk_medium_from must be in [0, 1]"),
    ("churn_risk_high_from", lambda v: 0 <= v <= 1, "churn_risk_high_from must be in [0, 1]"),
)


def _check_contact_by(rule: ContactByRule) -> None:
    if not (
        _number(rule.gap_fraction, "contact_by.gap_fraction") > 0
        and 0
        <= _number(rule.min_days, "contact_by.min_days")
        <= _number(rule.max_days, "contact_by.max_days")
    ):
        raise ConfigError("contact_by needs gap_fraction > 0 and 0 <= min_days <= max_days")


def _check_offer(where: str, offer: Offer) -> None:
    if _number(offer.cost_if_redeemed, f"{where}.cost_if_redeemed") < 0:
        raise ConfigError(f"{where}.cost_if_redeemed must be >= 0")
    if not 0 <= _number(offer.discount, f"{where}.discount") < 1:
        raise ConfigError(f"{where}.discount must be in [0, 1)")
    if _number(offer.valid_days, f"{where}.valid_days") < 0:
        raise ConfigError(f"{where}.valid_days must be >= 0")
    if not isinstance(offer.text, str):
        raise ConfigError(f"{where}.text must be text")
    try:
        offer.text.format(favorite_product="X", discount="10%", valid_until="2000-01-01")
    except (KeyError, IndexError, ValueError) as error:
        raise ConfigError(
            f"{where}.text may only use {{favorite_product}}, {{discount}}, "
            f"{{valid_until}} ({error})"
        ) from None


def _check_channel(where: str, channel: Channel, offers: Mapping[str, Offer]) -> None:
    if not _number(channel.cost, f"{where}.cost") > 0:
        raise ConfigError(f"{where}.cost must be positive (every contact costs something)")
    if not 0 <= _number(channel.response_rate, f"{where}.response_rate") <= 1:
        raise ConfigError(f"{where}.response_rate must be in [0, 1]")
    capacity = channel.daily_capacity
    if capacity is not None and _number(capacity, f"{where}.daily_capacity") < 0:
        raise ConfigError(f"{where}.daily_capacity must be >= 0 or null")
    if channel.offer is not None and channel.offer not in offers:
        raise ConfigError(
            f"{where}.offer {channel.offer!r} is not an offer; offers: " + ", ".join(offers)
        )


def _check_offer_rules(rules: tuple[OfferRule, ...], offers: Mapping[str, Offer]) -> None:
    if not rules or rules[-1].when:
        raise ConfigError("offer_rules must end with a rule without conditions (the default)")
    for i, offer_rule in enumerate(rules):
        if offer_rule.offer not in offers:
            raise ConfigError(
                f"offer_rules[{i}].offer {offer_rule.offer!r} is not an offer; offers: "
                + ", ".join(offers)
            )
        unknown = set(offer_rule.when) - set(RULE_CONDITIONS)
        if unknown:
            raise ConfigError(
                f"offer_rules[{i}].when has unknown condition(s) {sorted(unknown)}; "
                f"known: {', '.join(RULE_CONDITIONS)}"
            )
        for key, value in offer_rule.when.items():
            _check_condition(f"offer_rules[{i}].when.{key}", key, value)


def _check_condition(where: str, key: str, value: Any) -> None:
    """A list of values, true/false for ``favorite_product``, otherwise a number."""
    if key in LIST_CONDITIONS:
        _as_list(value, where)
    elif key == "favorite_product":
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false")
    else:
        _number(value, where)


def load_channel_config(path: str | Path | None = None) -> ChannelConfig:
    """Read the channels YAML; a missing default file means the built-in defaults."""
    path = Path(path) if path else DEFAULT_CHANNELS_PATH
    if not path.exists():
        if path == DEFAULT_CHANNELS_PATH:
            return ChannelConfig().validate()
        raise ConfigError(f"{path}: channels config not found")
    try:
        with path.open() as handle:
            data = yaml.safe_load(handle)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        return ChannelConfig.from_dict(data).validate()
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {value!r}")
    return dict(value)


def _as_list(value: Any, where: str) -> list:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigError(f"{where} must be a list, got {value!r}")
    return [str(v) for v in value]


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, got {value!r}")
    return float(value)


def _build(cls: type, values: dict, where: str, **extra: Any) -> Any:
    try:
        return cls(**values, **extra)
    except TypeError as error:
        known = [f for f in cls.__dataclass_fields__ if f not in extra]
        raise ConfigError(f"{where}: {error}; known keys: {', '.join(known)}") from None
