"""``POST /rank`` without HTTP: suppressions, the request's channel settings, and the cache.

The plan itself is :func:`pipelines.economics.plan.plan_winback`, the same code as
``winback rank``. What a CRM adds happens here, before it:

* :func:`suppress` resolves the request's ``exclude``, ``no_consent`` and
  ``frequency_cap`` against the snapshot's ids. Customers excluded, recently contacted, or
  without consent on every channel are removed from the scores, so the budget is spent on
  customers who may be contacted; the :class:`serving.rank_schemas.SuppressionReport`
  counts what each rule removed.
* A customer without consent on *some* channels stays, and :class:`ConsentResponse` makes
  those (customer, channel) options worthless to the selection (their uplift's lower bound
  is -1, so their decision value is below zero and no move reaches them): the selection
  picks the best channel still allowed. This goes through the plan's response interface
  (:class:`pipelines.economics.response.ResponseModel`), so the economics stay untouched.

A list costs a second or more to compute on a real snapshot (issue 18), and a CRM pages
through it: :class:`RankingCache` keeps the whole list per (budget, channel settings,
suppressions) for the life of the worker, which is the life of its snapshot, so every page
after the first is a slice.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from pipelines.economics.channels import ChannelConfig
from pipelines.economics.response import PriorResponse, ResponseEstimate, ResponseModel
from serving.ids import IdFormat
from serving.rank_schemas import FrequencyCapRequest, RankRow, SuppressionReport
from serving.schemas import ProblemField

#: Lists kept per worker (each holds its rows: a few MB on a large snapshot).
RANK_CACHE_SIZE = 16
#: Lower bound of the uplift given to an option the customer did not consent to: below
#: any real uplift, so the option's decision value is negative and it is never chosen.
NO_CONSENT_UPLIFT = -1.0


# --------------------------------------------------------------------------- validation
def channel_problems(
    config: ChannelConfig, **by_field: Mapping[str, Any] | None
) -> list[ProblemField]:
    """One problem per unknown channel name in each per-channel field of the request."""
    known = ", ".join(config.channels)
    return [
        ProblemField(field=f"{name}.{channel}", reason=f"unknown channel; known: {known}")
        for name, values in by_field.items()
        for channel in values or {}
        if channel not in config.channels
    ]


def request_config(
    config: ChannelConfig,
    costs: Mapping[str, float] | None,
    daily_capacity: Mapping[str, int] | None,
) -> ChannelConfig:
    """The service's channel settings with this request's overrides (names checked first);
    raises :class:`features.errors.WinbackError` for values the settings refuse."""
    if costs:
        config = config.with_costs(costs)
    if daily_capacity:
        channels = dict(config.channels)
        for name, capacity in daily_capacity.items():
            channels[name] = replace(channels[name], daily_capacity=int(capacity))
        config = replace(config, channels=channels).validate()
    return config


# --------------------------------------------------------------------------- suppression
@dataclass
class _Resolver:
    """Matches sent ids to snapshot ids, remembering the near misses for the report."""

    known: Mapping[str, Any]
    id_format: IdFormat
    unmatched: set[str] = field(default_factory=set)
    padded: set[str] = field(default_factory=set)

    def resolve(self, ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for customer_id in set(ids):
            if customer_id in self.known:
                found.add(customer_id)
                continue
            match = self.id_format.near_match(customer_id, self.known)
            if match is None:
                self.unmatched.add(customer_id)
            else:
                self.padded.add(customer_id)
                found.add(match)
        return found

    def note(self) -> str | None:
        if self.padded:
            return (
                f"{len(self.padded):,} id(s) matched only once zero-padded and were "
                f"suppressed; {self.id_format.describe()}: send ids as text"
            )
        if self.unmatched:
            return f"{len(self.unmatched):,} id(s) are not in the snapshot; " + (
                self.id_format.describe()
            )
        return None


@dataclass(frozen=True)
class Suppression:
    """The request's suppressions, resolved against the snapshot."""

    #: Snapshot ids removed before the selection.
    removed: frozenset[str]
    #: Per channel, ids kept but not to be contacted on it.
    blocked: tuple[tuple[str, frozenset[str]], ...]
    report: SuppressionReport


def suppress(
    known: Mapping[str, Any],
    id_format: IdFormat,
    channels: Iterable[str],
    list_date: dt.date,
    exclude: Iterable[str] | None = None,
    no_consent: Mapping[str, Iterable[str]] | None = None,
    frequency_cap: FrequencyCapRequest | None = None,
) -> Suppression:
    """Resolve the three rules; ``list_date`` is the day the list is sent (as-of + 1)."""
    resolver = _Resolver(known, id_format)
    excluded = resolver.resolve(exclude or ())
    per_channel = {name: resolver.resolve(ids) for name, ids in (no_consent or {}).items()}
    channels = tuple(channels)
    no_channel_left = (
        set.intersection(*(per_channel.get(name, set()) for name in channels))
        if channels
        else set()
    )
    since = None
    capped: set[str] = set()
    if frequency_cap is not None:
        since = list_date - dt.timedelta(days=frequency_cap.days)
        recent = (c.customer_id for c in frequency_cap.contacts if c.contacted_at.date() >= since)
        capped = resolver.resolve(recent)
    removed = frozenset(excluded | no_channel_left | capped)
    blocked = {name: frozenset(ids - removed) for name, ids in per_channel.items()}
    report = SuppressionReport(
        total=len(removed),
        excluded=len(excluded),
        no_consent=len(no_channel_left),
        frequency_cap=len(capped),
        restricted_channels={name: len(ids) for name, ids in blocked.items()},
        frequency_cap_since=since,
        ids_not_in_snapshot=len(resolver.unmatched),
        ids_matched_after_zero_padding=len(resolver.padded),
        note=resolver.note(),
    )
    kept = tuple(sorted((name, ids) for name, ids in blocked.items() if ids))
    return Suppression(removed, kept, report)


@dataclass
class ConsentResponse:
    """A response source whose options on a channel without consent are never chosen."""

    inner: ResponseModel
    blocked: Mapping[str, frozenset[str]]

    @property
    def name(self) -> str:
        return self.inner.name

    def estimate(
        self,
        customers: pd.DataFrame,
        p_anyway: np.ndarray,
        channels: tuple[str, ...],
        offers: np.ndarray,
    ) -> ResponseEstimate:
        estimate = self.inner.estimate(customers, p_anyway, channels, offers)
        ids = customers["customer_id"].astype(str)
        for j, channel in enumerate(channels):
            blocked = self.blocked.get(channel)
            if blocked:
                estimate.uplift_lower[ids.isin(blocked).to_numpy(), j] = NO_CONSENT_UPLIFT
        return estimate

    def offers_for(self, channel: str) -> list[str]:
        """The inner source's learned offers (none for the prior), as the plan asks."""
        offers_for = getattr(self.inner, "offers_for", None)
        return offers_for(channel) if offers_for is not None else []


# --------------------------------------------------------------------------- the list
@dataclass(frozen=True)
class Ranking:
    """A whole win-back list, as the pages of ``POST /rank`` cut it."""

    rows: pd.DataFrame
    totals: dict[str, Any]
    control: list[str]
    list_id: str
    #: When the list was computed (UTC): the same on every page served from the cache.
    computed_at: dt.datetime


def compute_ranking(
    scores: pd.DataFrame,
    budget: float,
    config: ChannelConfig,
    as_of: dt.date,
    response: ResponseModel | None,
    suppression: Suppression,
) -> Ranking:
    """The plan for the scores left after the suppressions (the slow part: run it off the
    event loop)."""
    from pipelines.economics.plan import plan_winback

    if suppression.removed:
        scores = scores[~scores["customer_id"].isin(suppression.removed)]
    if suppression.blocked:
        response = ConsentResponse(response or PriorResponse(config), dict(suppression.blocked))
    plan = plan_winback(scores, budget, config, None, as_of, response)
    summary = plan.summary
    campaign = plan.campaign
    totals = {
        # Six decimals: the sum of the chosen costs may exceed the budget by float noise
        # (1e-14) that a client checking total_cost <= budget should not see.
        "total_cost": round(float(summary["total_cost"]), 6),
        "total_expected_value": round(float(summary["total_expected_value"]), 6),
        "expected_cost_as_sent": round(float(summary["expected_cost_as_sent"]), 6),
        "contacts": int(summary["contacts"]),
        "deferred": int(summary["deferred"]),
        "eligible_customers": int(summary["eligible_customers"]),
    }
    return Ranking(
        rows=plan.list.reset_index(drop=True),
        totals=totals,
        control=campaign.loc[campaign["group"] == "control", "customer_id"].astype(str).tolist(),
        list_id=str(campaign["list_id"].iloc[0]) if len(campaign) else "",
        computed_at=dt.datetime.now(dt.UTC),
    )


def page(ranking: Ranking, offset: int, limit: int | None) -> tuple[list[RankRow], int | None]:
    """Rows ``offset`` to ``offset + limit`` of the list, and the next page's offset."""
    from serving.scoring import plain_value

    total = len(ranking.rows)
    end = total if limit is None else min(total, offset + limit)
    rows = []
    for row in ranking.rows.iloc[offset:end].to_dict("records"):
        plain = {key: plain_value(value) for key, value in row.items()}
        plain["customer_id"] = str(plain["customer_id"])
        rows.append(RankRow(**plain))
    return rows, (end if end < total else None)


class RankingCache:
    """The most recently used lists, per key; safe across the worker's threads."""

    def __init__(self, size: int = RANK_CACHE_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, Ranking] = OrderedDict()
        self._lock = threading.Lock()
        self.computed = 0

    @staticmethod
    def key(
        budget: float,
        costs: Mapping[str, float] | None,
        daily_capacity: Mapping[str, int] | None,
        suppression: Suppression,
    ) -> Hashable:
        """What a list depends on besides the snapshot: equal keys, equal lists."""
        return (
            float(budget),
            tuple(sorted((costs or {}).items())),
            tuple(sorted((daily_capacity or {}).items())),
            suppression.removed,
            suppression.blocked,
        )

    def get(self, key: Hashable) -> Ranking | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: Hashable, ranking: Ranking) -> None:
        with self._lock:
            self.computed += 1
            self._entries[key] = ranking
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
