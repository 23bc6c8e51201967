"""``POST /rank`` without HTTP: suppressions, the request's channel settings, and the cache.

The plan is :mod:`pipelines.economics.prepared`'s, the same code as ``winback rank``
(:func:`pipelines.economics.plan.plan_winback`). What a CRM adds happens here, before it:

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

A plan costs seconds on a real snapshot and a CRM pages through lists at several budgets
(issue 18): :mod:`serving.rank_cache` keeps the budget-independent part of the plan per
channel settings and suppressions (computed at start-up for the configured settings,
:func:`warm_rankings`), and each list per budget, overrides and suppressions, so a new
budget is a cut of a kept sequence and a page writes only its own rows' words
(:func:`answer_page`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.errors import WinbackError
from pipelines.economics.channels import ChannelConfig
from pipelines.economics.options import ContactOptions
from pipelines.economics.prepared import PreparedPlan, prepare_plan
from pipelines.economics.response import PriorResponse, ResponseEstimate, ResponseModel
from serving.ids import IdFormat
from serving.rank_cache import (  # noqa: F401  (part of this module's API)
    RANK_CACHE_SIZE,
    Ranking,
    RankingCache,
    cut_ranking,
    page,
)
from serving.rank_schemas import (
    FrequencyCapRequest,
    RankResponse,
    SuppressionReport,
)
from serving.schemas import ProblemField

if TYPE_CHECKING:
    from serving.scoring import Snapshot

logger = logging.getLogger("winback.serving")

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
def prepare_ranking(
    scores: pd.DataFrame,
    config: ChannelConfig,
    as_of: dt.date,
    response: ResponseModel | None,
    suppression: Suppression,
    options: ContactOptions | None = None,
) -> PreparedPlan:
    """The budget-independent part of the plan for the scores left after the
    suppressions (the slow part: run it off the event loop). ``options``: contact options
    of the same scores, response and suppressions, to reuse."""
    if suppression.removed:
        scores = scores[~scores["customer_id"].isin(suppression.removed)]
    if suppression.blocked:
        response = ConsentResponse(response or PriorResponse(config), dict(suppression.blocked))
    return prepare_plan(scores, config, as_of, response, options=options)


def compute_ranking(
    scores: pd.DataFrame,
    budget: float,
    config: ChannelConfig,
    as_of: dt.date,
    response: ResponseModel | None,
    suppression: Suppression,
) -> Ranking:
    """The whole list for one request, computed afresh (no cache)."""
    return cut_ranking(prepare_ranking(scores, config, as_of, response, suppression), budget)


def _prepared(
    cache: RankingCache,
    snapshot: Snapshot,
    response: ResponseModel | None,
    config: ChannelConfig,
    suppression: Suppression,
    pin: bool = False,
) -> tuple[PreparedPlan, str]:
    """The snapshot's prepared plan for these settings and suppressions, from the cache
    or computed (and how); ``pin``: never evicted (the start-up plan)."""

    def prepare(
        config: ChannelConfig, suppression: Suppression, options: ContactOptions | None
    ) -> PreparedPlan:
        return prepare_ranking(
            snapshot.scores, config, snapshot.as_of, response, suppression, options
        )

    return cache.prepared(config, suppression, (snapshot.scores, response), prepare, pin)


def no_suppression(snapshot: Snapshot, config: ChannelConfig) -> Suppression:
    """The suppressions of a request that sends none."""
    return suppress(
        snapshot.by_id, snapshot.id_format, config.channels, snapshot.as_of + dt.timedelta(days=1)
    )


def warm_rankings(
    snapshot: Snapshot | None, config: ChannelConfig, response: ResponseModel | None
) -> RankingCache:
    """A cache holding the prepared plan of the configured channel settings, so that the
    first ``POST /rank`` only cuts it (about a second at start-up on CDNOW, logged). A
    snapshot the economics refuses is left for the requests to report."""
    cache = RankingCache()
    if snapshot is None:
        return cache
    started = time.perf_counter()
    try:
        none = no_suppression(snapshot, config)
        plan, _ = _prepared(cache, snapshot, response, config, none, pin=True)
    except WinbackError as error:
        logger.warning("/rank not prepared at start-up: %s", error)
        return cache
    logger.info(
        "prepared the /rank selection for %d eligible customers (%d moves) in %.2f s",
        len(plan.options.customers),
        len(plan.sequence),
        time.perf_counter() - started,
    )
    return cache


def answer_page(
    cache: RankingCache,
    snapshot: Snapshot,
    served: tuple[str, ResponseModel | None],
    request: tuple[float, ChannelConfig, tuple[Any, Any]],
    suppressions: tuple[Any, Any, Any],
    window: tuple[int, int | None],
) -> RankResponse:
    """One page of ``POST /rank``: the list from the cache, or cut from a kept (or newly
    prepared) plan. ``served``: the service's model version and response source;
    ``request``: budget, channel settings and the raw overrides (costs, capacities)."""
    version, response = served
    budget, config, overrides = request
    exclude, no_consent, frequency_cap = suppressions
    suppression = suppress(
        snapshot.by_id,
        snapshot.id_format,
        config.channels,
        snapshot.as_of + dt.timedelta(days=1),
        exclude,
        no_consent,
        frequency_cap,
    )
    key = cache.key(budget, *overrides, suppression)
    ranking = cache.get(key)
    if ranking is None:
        started = time.perf_counter()
        plan, how = _prepared(cache, snapshot, response, config, suppression)
        ranking = cut_ranking(plan, budget)
        cache.put(key, ranking)
        # Counts only, never ids: a CRM's suppression lists stay out of the logs.
        logger.info(
            "computed the win-back list for budget %s: %d rows, %d suppressed, %.3f s "
            "(selection %s)",
            budget,
            ranking.total_rows,
            suppression.report.total,
            time.perf_counter() - started,
            how,
        )
    offset, limit = window
    rows, next_offset = page(ranking, offset, limit)
    return RankResponse(
        model_version=snapshot.model_version or version,
        as_of=snapshot.as_of,
        budget=float(budget),
        **ranking.totals,
        control=ranking.control,
        list_id=ranking.list_id,
        suppressed=suppression.report,
        total_rows=ranking.total_rows,
        computed_at=ranking.computed_at,
        offset=offset,
        next_offset=next_offset,
        rows=rows,
    )
