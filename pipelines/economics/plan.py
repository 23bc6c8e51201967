"""Win-back economics: whom it is worth waking, by which channel, under a budget.

Pure functions over a scores table (one row per customer: the feature columns of
:data:`features.sql.FEATURE_COLUMNS` plus the scorer's ``p_dormant``, ``predicted_spend``
...). No file is read or written here, so the CLI, the report, the demo and the service's
``POST /rank`` all call the same code.

The numbers of one list row
---------------------------
For customer ``i`` and channel ``c`` (settings in ``configs/channels.yaml``):

* ``p_return_anyway = 1 - p_dormant``: the model's chance that the customer buys within
  the scorer's horizon without any contact.
* ``p_return_if_contacted = p_anyway + (1 - p_anyway) x response_rate[c, status]``. The
  response (wake) rate acts only on the customers who would *not* have come back on their
  own, so a contact can never lower the chance of a return and a customer who comes back
  anyway gains nothing from it: the uplift ``(1 - p_anyway) x response_rate`` shrinks to
  zero as ``p_anyway`` approaches one. ``response_rate`` is the channel's prior times the
  status factor (lost customers answer less often), or a campaign's measurement
  (:meth:`pipelines.economics.channels.ChannelConfig.response_rate` gives the precedence).
* ``value_if_returned = max(predicted_spend, avg_order_value) x margin``. A returning
  customer places at least one order of their usual size; when the model expects more than
  that over the horizon, the model's spend is used. The horizon value is chosen over the
  lifetime CLV on purpose: the probabilities above speak of the same horizon, and a wake-up
  call buys one return, not a restored lifetime (a sleeper's CLV is dominated by the
  P(alive) the contact is trying to change, so CLV x uplift would count the contact's
  effect twice).
* ``cost = channel cost + p_return_if_contacted x (offer cost_if_redeemed + offer discount
  x spend_if_returned)``: the contact is paid now; a gift or a discount only when the
  customer comes back, and then by everyone who comes back with it, including those who
  would have come anyway. ``cost`` is therefore an expected cost, and the budget is a
  budget of expected cost.
* ``expected_incremental_value = (p_return_if_contacted - p_return_anyway) x
  value_if_returned - cost``. Options with a value of zero or less are never chosen.

Selection under a budget, and why a bigger budget never does worse
-----------------------------------------------------------------
At most one contact per customer, a total budget and per-channel capacities make a
multiple-choice knapsack problem. :func:`selection_sequence` orders every possible step
once, independently of the budget: each customer's options form an upper convex hull in
(cost, value) starting at "no contact"; every hull segment is a *move* (contact by e-mail,
or upgrade e-mail -> phone) with a positive extra cost and a positive extra value, and the
moves of all customers are taken best extra-value-per-extra-cost first (Sinha & Zoltners,
1979). A channel whose capacity is used up is dropped and the affected customers' next
moves are recomputed over the channels still open. The list for a budget ``B`` is the
longest *prefix* of this one sequence whose cost fits in ``B``; a larger budget is a longer
prefix, and every move adds positive value, so total expected value never falls when the
budget rises, and every customer on a smaller budget's list stays on a larger one's (some
by a dearer channel). (Greedy that skips a move that does not fit and keeps filling the
budget with smaller ones can lose value when the budget grows; the prefix rule cannot.)

How far from optimal: without capacity limits, a prefix of this sequence is the optimum of
the problem's LP relaxation at its own cost, so for any budget
``OPT(B) - value(B) < extra value of the first move that did not fit``: less than one
contact's worth. At most ``extra cost of that move`` of the budget stays unspent. Capacity
limits make the ordering a heuristic without that guarantee (slots freed by upgrades are
not offered again); :func:`expected_value_upper_bound` gives the LP bound to measure the
gap on real data (CDNOW at a $1,000 budget with the shipped channels: within 0.01% of it).
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.errors import WinbackError
from pipelines.economics.channels import LIST_CONDITIONS, ChannelConfig

#: Columns of the win-back list, in order.
LIST_COLUMNS = (
    "rank",
    "customer_id",
    "status",
    "channel",
    "offer",
    "p_return_if_contacted",
    "p_return_anyway",
    "value_if_returned",
    "cost",
    "expected_incremental_value",
    "contact_by",
    "reason",
)

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

#: Tolerance on probabilities read from the scores (floating point noise of the models).
_PROBABILITY_SLACK = 1e-9


class ScoresError(WinbackError):
    """A scores table the economics cannot use (missing columns, impossible values)."""


class BudgetError(WinbackError):
    """A budget or list limit that makes no sense."""


# --------------------------------------------------------------------------- inputs
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


# --------------------------------------------------------------------------- options
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
    response_rate: np.ndarray
    p_return_if_contacted: np.ndarray
    cost: np.ndarray
    expected_incremental_value: np.ndarray

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


def contact_options(scores: pd.DataFrame, config: ChannelConfig) -> ContactOptions:
    """Compute p_return, value, cost and expected incremental value for every option."""
    customers = eligible_customers(scores, config)
    channels = tuple(config.channels)
    p_anyway = 1.0 - np.clip(customers["p_dormant"].to_numpy(dtype=float), 0.0, 1.0)
    spend = spend_if_returned(customers)
    value = spend * float(config.margin)
    segment_offer = assign_offers(customers, config).to_numpy(dtype=object)

    statuses = customers["status"].astype(str).to_numpy()
    rates = np.empty((len(customers), len(channels)), dtype=float)
    for j, name in enumerate(channels):
        by_status = {s: config.response_rate(name, s) for s in np.unique(statuses)}
        rates[:, j] = [by_status[s] for s in statuses]
    channel_cost = np.array([config.channels[c].cost for c in channels], dtype=float)
    offer = np.empty((len(customers), len(channels)), dtype=object)
    for j, name in enumerate(channels):
        forced = config.channels[name].offer
        offer[:, j] = segment_offer if forced is None else forced
    redeem_cost = _per_offer(offer, {n: o.cost_if_redeemed for n, o in config.offers.items()})
    discount = _per_offer(offer, {n: o.discount for n, o in config.offers.items()})

    p_contacted = p_anyway[:, None] + (1.0 - p_anyway[:, None]) * rates
    cost = channel_cost[None, :] + p_contacted * (redeem_cost + discount * spend[:, None])
    gain = (p_contacted - p_anyway[:, None]) * value[:, None]
    return ContactOptions(
        customers=customers,
        channels=channels,
        p_return_anyway=p_anyway,
        spend_if_returned=spend,
        value_if_returned=value,
        segment_offer=segment_offer,
        offer=offer,
        response_rate=rates,
        p_return_if_contacted=p_contacted,
        cost=cost,
        expected_incremental_value=gain - cost,
    )


def _per_offer(offer: np.ndarray, values: dict[str, float]) -> np.ndarray:
    """An offer attribute for every cell of the (customer, channel) offer array."""
    return np.array([values[o] for o in offer.ravel()], dtype=float).reshape(offer.shape)


def spend_if_returned(customers: pd.DataFrame) -> np.ndarray:
    """max(predicted_spend over the horizon, avg_order_value), never below zero."""
    predicted = pd.to_numeric(customers["predicted_spend"], errors="coerce").fillna(0.0)
    average = pd.to_numeric(customers["avg_order_value"], errors="coerce").fillna(0.0)
    return np.maximum(np.maximum(predicted.to_numpy(float), average.to_numpy(float)), 0.0)


# --------------------------------------------------------------------------- selection
def _hull(
    start_cost: float,
    start_value: float,
    costs: np.ndarray,
    values: np.ndarray,
    allowed: np.ndarray,
) -> list[int]:
    """Channel indices on the upper concave hull of (cost, value) above the start point.

    Only options dearer and more valuable than the start qualify; consecutive hull points
    have decreasing extra-value-per-extra-cost, so each hull segment is a move worth making
    before the next one.
    """
    candidates = [
        j
        for j in np.flatnonzero(allowed)
        if costs[j] > start_cost and values[j] > start_value and values[j] > 0
    ]
    # Cheapest first; at equal cost the most valuable first, then channel order.
    candidates.sort(key=lambda j: (costs[j], -values[j], j))
    points: list[int] = []
    for j in candidates:
        if points and costs[j] == costs[points[-1]]:
            continue  # same cost, less value
        if points and values[j] <= values[points[-1]]:
            continue  # dearer and not better
        while points:
            # Drop the last point while it lies on or below the segment to the new one.
            prev_cost, prev_value = (
                (costs[points[-2]], values[points[-2]])
                if len(points) > 1
                else (start_cost, start_value)
            )
            last = points[-1]
            slope_last = (values[last] - prev_value) / (costs[last] - prev_cost)
            slope_new = (values[j] - prev_value) / (costs[j] - prev_cost)
            if slope_new >= slope_last:
                points.pop()
            else:
                break
        points.append(j)
    return points


def selection_sequence(
    options: ContactOptions, capacities: Sequence[float] | None = None
) -> pd.DataFrame:
    """All moves in the one fixed order from which every budget takes a prefix.

    Returns one row per move: ``customer`` (row of ``options.customers``), ``from_channel``
    and ``to_channel`` (channel indices, -1 = no contact), ``delta_cost``, ``delta_value``
    and their running totals ``cumulative_cost`` and ``cumulative_value``. Capacities are per
    channel in ``options.channels`` order (``inf`` = unlimited).
    """
    costs = options.cost
    values = options.expected_incremental_value
    n, m = costs.shape
    capacity = np.full(m, math.inf) if capacities is None else np.asarray(capacities, float)
    usage = np.zeros(m, dtype=np.int64)
    state = np.full(n, -1, dtype=np.int64)
    pending: list[list[int]] = [[] for _ in range(n)]
    heap: list[tuple[float, int, int]] = []
    open_channels = capacity > 0

    def start_point(i: int) -> tuple[float, float]:
        j = state[i]
        return (0.0, 0.0) if j < 0 else (float(costs[i, j]), float(values[i, j]))

    def push_next(i: int) -> None:
        if not pending[i]:
            return
        j = pending[i][0]
        c0, v0 = start_point(i)
        ratio = (values[i, j] - v0) / (costs[i, j] - c0)
        heapq.heappush(heap, (-ratio, i, j))

    for i in range(n):
        pending[i] = _hull(0.0, 0.0, costs[i], values[i], open_channels)
        push_next(i)

    moves: list[tuple[int, int, int, float, float]] = []
    while heap:
        _, i, j = heapq.heappop(heap)
        if usage[j] >= capacity[j]:
            # Channel full: recompute this customer's way up over the channels still open.
            open_channels = usage < capacity
            c0, v0 = start_point(i)
            pending[i] = _hull(c0, v0, costs[i], values[i], open_channels)
            push_next(i)
            continue
        c0, v0 = start_point(i)
        previous = int(state[i])
        moves.append((i, previous, j, float(costs[i, j]) - c0, float(values[i, j]) - v0))
        usage[j] += 1
        if previous >= 0:
            usage[previous] -= 1
        state[i] = j
        pending[i].pop(0)
        push_next(i)

    sequence = pd.DataFrame(
        moves, columns=["customer", "from_channel", "to_channel", "delta_cost", "delta_value"]
    ).astype(
        {
            "customer": "int64",
            "from_channel": "int64",
            "to_channel": "int64",
            "delta_cost": "float64",
            "delta_value": "float64",
        }
    )
    sequence["cumulative_cost"] = sequence["delta_cost"].cumsum()
    sequence["cumulative_value"] = sequence["delta_value"].cumsum()
    return sequence


def prefix_length(sequence: pd.DataFrame, budget: float) -> int:
    """Number of moves of the sequence that fit in ``budget`` (the longest fitting prefix)."""
    # A hair of tolerance so that a budget equal to a prefix's cost buys that prefix.
    tolerance = 1e-9 * max(1.0, abs(budget))
    return int(
        np.searchsorted(sequence["cumulative_cost"].to_numpy(), budget + tolerance, side="right")
    )


def chosen_channels(sequence: pd.DataFrame, n_moves: int, n_customers: int) -> np.ndarray:
    """Channel index per customer after the first ``n_moves`` moves (-1 = not contacted)."""
    chosen = np.full(n_customers, -1, dtype=np.int64)
    head = sequence.iloc[:n_moves]
    # Later moves of a customer overwrite earlier ones (an upgrade replaces the contact).
    chosen[head["customer"].to_numpy()] = head["to_channel"].to_numpy()
    return chosen


def budget_curve(sequence: pd.DataFrame) -> pd.DataFrame:
    """Total expected incremental value for every budget: the prefix totals, from zero."""
    return pd.concat(
        [
            pd.DataFrame({"budget": [0.0], "expected_value": [0.0], "contacts": [0]}),
            pd.DataFrame(
                {
                    "budget": sequence["cumulative_cost"].to_numpy(),
                    "expected_value": sequence["cumulative_value"].to_numpy(),
                    "contacts": (sequence["from_channel"] < 0).cumsum().to_numpy(),
                }
            ),
        ],
        ignore_index=True,
    )


def expected_value_upper_bound(
    options: ContactOptions, budget: float, capacities: Sequence[float] | None = None
) -> float:
    """LP relaxation optimum: no selection of contacts can beat it (used to measure the gap)."""
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix, vstack

    values = options.expected_incremental_value
    rows, cols = np.nonzero(values > 0)
    if len(rows) == 0:
        return 0.0
    k = len(rows)
    v = values[rows, cols]
    c = options.cost[rows, cols]
    one_each = coo_matrix((np.ones(k), (rows, np.arange(k))), shape=(values.shape[0], k))
    constraints = [one_each, coo_matrix(c.reshape(1, -1))]
    bounds = [np.ones(values.shape[0]), np.array([budget])]
    if capacities is not None:
        capacity = np.asarray(capacities, float)
        limited = [j for j in range(values.shape[1]) if math.isfinite(capacity[j])]
        for j in limited:
            mask = (cols == j).astype(float)
            constraints.append(coo_matrix(mask.reshape(1, -1)))
            bounds.append(np.array([capacity[j]]))
    result = linprog(
        -v,
        A_ub=vstack(constraints).tocsr(),
        b_ub=np.concatenate(bounds),
        bounds=(0, 1),
        method="highs-ipm",
    )
    if not result.success:  # pragma: no cover - the LP is always feasible (x = 0)
        raise RuntimeError(f"LP bound failed: {result.message}")
    return float(-result.fun)


# --------------------------------------------------------------------------- rows
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


def _money(amount: float, currency: str) -> str:
    return f"{currency}{amount:,.2f}"


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
    cur = config.currency
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
    parts.append(f"comes back anyway {p_anyway:.0%}, {p_contacted:.0%} if contacted")
    parts.append(f"expected value if woken {_money(value, cur)}")
    chan = config.channels[channel]
    offer = config.offers[offer_name]
    cost_words = f"{chan.label} costs {_money(chan.cost, cur)}"
    extras = []
    if offer.cost_if_redeemed > 0:
        extras.append(f"{offer.name.replace('_', ' ')} {_money(offer.cost_if_redeemed, cur)}")
    if offer.discount > 0:
        extras.append(f"{offer.discount:.0%} off {_money(spend, cur)}")
    if extras:
        expected = p_contacted * (offer.cost_if_redeemed + offer.discount * spend)
        cost_words += f" + {' and '.join(extras)} if redeemed (expected {_money(expected, cur)})"
    parts.append(cost_words)
    return "; ".join(parts)


# --------------------------------------------------------------------------- the plan
@dataclass
class WinbackPlan:
    """A ranked list for one budget, plus what is needed to explain and plot it."""

    list: pd.DataFrame
    options: ContactOptions
    sequence: pd.DataFrame
    budget: float
    as_of: dt.date
    config: ChannelConfig
    n_moves: int
    summary: dict = field(default_factory=dict)

    def curve(self) -> pd.DataFrame:
        return budget_curve(self.sequence)


def _check_budget(budget: float, limit: int | None) -> None:
    if (
        isinstance(budget, bool)
        or not isinstance(budget, int | float)
        or not math.isfinite(budget)
        or budget < 0
    ):
        raise BudgetError(f"budget must be a number >= 0, got {budget!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise BudgetError(f"limit must be a whole number >= 1, got {limit!r}")


def plan_winback(
    scores: pd.DataFrame,
    budget: float,
    channels: ChannelConfig | None = None,
    limit: int | None = None,
    as_of: str | dt.date | None = None,
) -> WinbackPlan:
    """Choose whom to contact, how, and in which order, for ``budget`` (expected cost)."""
    _check_budget(budget, limit)
    config = (channels or ChannelConfig()).validate()
    validate_scores(scores)
    as_of = (
        as_of_from_scores(scores)
        if as_of is None
        else as_of
        if isinstance(as_of, dt.date)
        else dt.date.fromisoformat(str(as_of))
    )
    options = contact_options(scores, config)
    capacities = [config.capacity(c) for c in options.channels]
    sequence = selection_sequence(options, capacities)
    n_moves = prefix_length(sequence, float(budget))
    chosen = chosen_channels(sequence, n_moves, len(options.customers))
    rows = np.flatnonzero(chosen >= 0)
    cols = chosen[rows]
    customers = options.customers.iloc[rows].reset_index(drop=True)
    contact_by = contact_by_dates(customers, as_of, config)
    offers = options.offer[rows, cols]
    channel_names = [options.channels[j] for j in cols]
    p_anyway = options.p_return_anyway[rows]
    p_contacted = options.p_return_if_contacted[rows, cols]
    value = options.value_if_returned[rows]
    spend = options.spend_if_returned[rows]
    records = customers.loc[
        :,
        ["frequency", "typical_gap_days", "days_since_last", "overdue_cycles", "favorite_product"],
    ].to_dict("records")
    result = pd.DataFrame(
        {
            "customer_id": customers["customer_id"].astype(str).to_numpy(),
            "status": customers["status"].astype(str).to_numpy(),
            "channel": channel_names,
            "offer": [
                offer_text(offers[k], records[k]["favorite_product"], contact_by.iloc[k], config)
                for k in range(len(rows))
            ],
            "p_return_if_contacted": p_contacted,
            "p_return_anyway": p_anyway,
            "value_if_returned": value,
            "cost": options.cost[rows, cols],
            "expected_incremental_value": options.expected_incremental_value[rows, cols],
            "contact_by": contact_by.to_numpy(),
            "reason": [
                reason_text(
                    records[k],
                    channel_names[k],
                    offers[k],
                    p_anyway[k],
                    p_contacted[k],
                    value[k],
                    spend[k],
                    config,
                )
                for k in range(len(rows))
            ],
        }
    )
    result = result.sort_values(
        ["expected_incremental_value", "customer_id"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)
    result.insert(0, "rank", np.arange(1, len(result) + 1, dtype="int64"))
    full = result
    if limit is not None:
        result = result.head(limit).reset_index(drop=True)
    next_move = sequence.iloc[n_moves] if n_moves < len(sequence) else None
    summary = {
        "as_of": as_of.isoformat(),
        "budget": float(budget),
        "eligible_customers": len(options.customers),
        "contacts": len(full),
        "rows": len(result),
        "total_cost": float(full["cost"].sum()),
        "total_expected_value": float(full["expected_incremental_value"].sum()),
        "channel_mix": {c: int(n) for c, n in full["channel"].value_counts().items()},
        "saturation_budget": float(sequence["cumulative_cost"].iloc[-1]) if len(sequence) else 0.0,
        "max_expected_value": (
            float(sequence["cumulative_value"].iloc[-1]) if len(sequence) else 0.0
        ),
        "gap_bound_without_capacities": (
            float(next_move["delta_value"]) if next_move is not None else 0.0
        ),
        "measured_response_rates": {c: dict(v) for c, v in config.measured_response_rates.items()},
    }
    return WinbackPlan(
        list=result.loc[:, list(LIST_COLUMNS)],
        options=options,
        sequence=sequence,
        budget=float(budget),
        as_of=as_of,
        config=config,
        n_moves=n_moves,
        summary=summary,
    )


def rank_winback(
    scores: pd.DataFrame,
    budget: float,
    channels: ChannelConfig | None = None,
    limit: int | None = None,
    as_of: str | dt.date | None = None,
) -> pd.DataFrame:
    """The win-back list for ``budget``: columns :data:`LIST_COLUMNS`, best first.

    ``channels`` defaults to the shipped ``configs/channels.yaml`` values (use
    ``ChannelConfig.with_costs`` for per-request cost overrides). ``limit`` keeps the top
    rows of the list chosen under the budget. ``as_of`` defaults to the date the features
    were built at (``last_purchase + days_since_last``). Rows are ordered by expected
    incremental value, largest first.
    """
    return plan_winback(scores, budget, channels, limit, as_of).list
