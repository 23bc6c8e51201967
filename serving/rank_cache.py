"""What ``POST /rank`` keeps between requests, and the pages it cuts from it.

Why (issue 18): a page of 50 rows must answer within 50 ms, but a whole plan of a CDNOW
snapshot takes seconds, most of it budget-independent (the contact options and the
selection sequence, :mod:`pipelines.economics.prepared`) or for rows nobody reads on this
page (each row's offer and reason). So three things are kept, each as long as the worker
(the life of its snapshot), most recently used first:

* the **prepared plan** (options and selection sequence) per channel settings and
  suppressions: computed at start-up for the configured settings
  (:meth:`RankingCache.warm`), again only for a request whose channel settings or
  suppressions differ;
* the **contact options** alone, per channel settings without their capacities: a
  ``daily_capacity`` override reshapes the sequence only, so it reuses them;
* the **list** per budget, overrides and suppressions (:class:`Ranking`): numbers only,
  the cut of a prepared plan at the budget (milliseconds), so every page of one list
  shares its ``computed_at``, selection and control group.

A page writes the words of its own rows only (:func:`page`, through
:func:`pipelines.economics.list_rows.row_words`, the code ``winback rank`` writes every
row with), so the rows are those of the full plan, value for value.

Entries remember the scores and response source they were computed from and are not
reused for others: a cache never answers with another snapshot's sequence.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from pipelines.economics.channels import ChannelConfig
from pipelines.economics.list_context import list_id_for
from pipelines.economics.list_rows import customer_columns, row_words
from pipelines.economics.options import ContactOptions
from pipelines.economics.prepared import (
    PreparedPlan,
    as_sent_totals,
    check_budget,
    cut,
    list_totals,
)
from serving.rank_schemas import RankRow

if TYPE_CHECKING:
    from pipelines.economics.response import ResponseModel
    from serving.ranking import Suppression
    from serving.scoring import Snapshot

#: Lists kept per worker (numbers only: 0.2 MB each on CDNOW).
RANK_CACHE_SIZE = 16
#: Prepared plans (and contact options) kept per worker: about 13 MB each on CDNOW.
PLAN_CACHE_SIZE = 4


@dataclass(frozen=True)
class Ranking:
    """A whole win-back list, as the pages of ``POST /rank`` cut it: its numbers, with
    the rows' words written only when a page shows them."""

    plan: PreparedPlan
    #: Row of ``plan.options.customers`` and channel index of each list row, best first.
    rows: np.ndarray
    cols: np.ndarray
    totals: dict[str, Any]
    control: list[str]
    list_id: str
    #: When the list was computed (UTC): the same on every page served from the cache.
    computed_at: dt.datetime

    @property
    def total_rows(self) -> int:
        return len(self.rows)


def cut_ranking(prepared: PreparedPlan, budget: float) -> Ranking:
    """The list for ``budget`` from a prepared plan: the same rows, order and totals as
    :func:`pipelines.economics.plan.plan_for_budget`, without writing any row's words."""
    check_budget(budget, None)
    chosen = cut(prepared, budget)
    options = prepared.options
    rows, cols = chosen.in_group("treatment")
    control, _ = chosen.in_group("control")
    total_cost, total_value = list_totals(
        options.cost[rows, cols], options.expected_incremental_value[rows, cols]
    )
    cost_as_sent, _ = as_sent_totals(prepared.sequence, chosen.n_moves)
    totals = {
        # Six decimals: the sum of the chosen costs may exceed the budget by float noise
        # (1e-14) that a client checking total_cost <= budget should not see.
        "total_cost": round(total_cost, 6),
        "total_expected_value": round(total_value, 6),
        "expected_cost_as_sent": round(cost_as_sent, 6),
        "contacts": len(rows),
        "deferred": int((chosen.groups == "deferred").sum()),
        "eligible_customers": len(options.customers),
    }
    ids = options.customers["customer_id"].to_numpy()
    return Ranking(
        plan=prepared,
        rows=rows,
        cols=cols,
        totals=totals,
        control=[str(customer_id) for customer_id in ids[control]],
        list_id=list_id_for(prepared.seed) if len(rows) + len(control) else "",
        computed_at=dt.datetime.now(dt.UTC),
    )


def page(ranking: Ranking, offset: int, limit: int | None) -> tuple[list[RankRow], int | None]:
    """Rows ``offset`` to ``offset + limit`` of the list, and the next page's offset."""
    from serving.scoring import plain_value

    total = ranking.total_rows
    end = total if limit is None else min(total, offset + limit)
    start = min(offset, end)
    rows, cols = ranking.rows[start:end], ranking.cols[start:end]
    if not len(rows):
        return [], None
    options = ranking.plan.options
    contact_by, offers, reasons = row_words(ranking.plan, rows, cols)
    customers = customer_columns(options.customers, rows, ["customer_id", "status"])
    ids = customers["customer_id"].to_numpy()
    statuses = customers["status"].astype(str).to_numpy()
    dates = contact_by.to_numpy()
    result = []
    for k, (i, j) in enumerate(zip(rows, cols, strict=True)):
        result.append(
            RankRow(
                rank=start + k + 1,
                customer_id=str(ids[k]),
                status=statuses[k],
                channel=options.channels[j],
                offer=offers[k],
                p_return_if_contacted=plain_value(options.p_return_if_contacted[i, j]),
                p_return_anyway=plain_value(options.p_return_anyway[i]),
                value_if_returned=plain_value(options.value_if_returned[i]),
                cost=plain_value(options.cost[i, j]),
                expected_incremental_value=plain_value(options.expected_incremental_value[i, j]),
                contact_by=plain_value(dates[k]),
                reason=reasons[k],
            )
        )
    return result, (end if end < total else None)


class _Recent:
    """A small most-recently-used map whose entries remember what they were computed
    from (compared by identity): an entry for other scores is a miss. Pinned entries
    (the start-up plan) are never evicted, so requests with ever new suppression lists
    cannot push the configured settings' plan out."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[tuple[Any, ...], Any]] = OrderedDict()
        self._pinned: set[Hashable] = set()

    def get(self, key: Hashable, sources: tuple[Any, ...] = ()) -> Any:
        found = self._entries.get(key)
        if found is None or len(found[0]) != len(sources):
            return None
        if any(a is not b for a, b in zip(found[0], sources, strict=True)):
            return None
        self._entries.move_to_end(key)
        return found[1]

    def put(
        self, key: Hashable, value: Any, sources: tuple[Any, ...] = (), pin: bool = False
    ) -> None:
        self._entries[key] = (sources, value)
        self._entries.move_to_end(key)
        if pin:
            self._pinned.add(key)
        evictable = [k for k in self._entries if k not in self._pinned]
        while len(evictable) > self.size:
            del self._entries[evictable.pop(0)]


def _capacity_free(config: ChannelConfig) -> ChannelConfig:
    """The settings the contact options depend on: capacities only shape the sequence."""
    channels = {name: replace(c, daily_capacity=None) for name, c in config.channels.items()}
    return replace(config, channels=channels, campaign_days=1)


#: Prepares a plan from channel settings, suppressions and options to reuse (or None).
Prepare = Callable[[ChannelConfig, "Suppression", ContactOptions | None], PreparedPlan]


class RankingCache:
    """The most recently used lists, prepared plans and contact options; safe across the
    worker's threads."""

    def __init__(self, size: int = RANK_CACHE_SIZE, plans: int = PLAN_CACHE_SIZE) -> None:
        self.size = size
        self._lists = _Recent(size)
        self._plans = _Recent(plans)
        self._options = _Recent(plans)
        self._lock = threading.Lock()
        #: Lists, plans and contact options computed (not found in the cache).
        self.computed = 0
        self.plans_computed = 0
        self.options_computed = 0

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
            return self._lists.get(key)

    def put(self, key: Hashable, ranking: Ranking) -> None:
        with self._lock:
            self.computed += 1
            self._lists.put(key, ranking)

    def prepared(
        self,
        config: ChannelConfig,
        suppression: Suppression,
        sources: tuple[Any, ...],
        prepare: Prepare,
        pin: bool = False,
    ) -> tuple[PreparedPlan, str]:
        """The prepared plan for these channel settings and suppressions, and how it was
        found: ``cached``, ``options reused`` (only the sequence computed) or
        ``computed``. ``sources``: the scores and response the plan is computed from;
        ``pin``: keep the plan (and its options) however many others come after it."""
        suppressed = (suppression.removed, suppression.blocked)
        plan_key = (repr(config), *suppressed)
        options_key = (repr(_capacity_free(config)), *suppressed)
        with self._lock:
            found = self._plans.get(plan_key, sources)
            options = None if found is not None else self._options.get(options_key, sources)
        if found is not None:
            return found, "cached"
        # Computed outside the lock: a second thread asking for the same plan meanwhile
        # computes it too (the same plan), rather than every list waiting on one.
        prepared = prepare(config, suppression, options)
        with self._lock:
            self.plans_computed += 1
            self._plans.put(plan_key, prepared, sources, pin)
            if options is None:
                self.options_computed += 1
                self._options.put(options_key, prepared.options, sources, pin)
        return prepared, "computed" if options is None else "options reused"

    @classmethod
    def warm(
        cls, snapshot: Snapshot | None, config: ChannelConfig, response: ResponseModel | None
    ) -> RankingCache:
        """A cache holding the snapshot's prepared plan for ``config``
        (:func:`serving.ranking.warm_rankings`): the service builds it at start-up."""
        from serving.ranking import warm_rankings

        return warm_rankings(snapshot, config, response)
