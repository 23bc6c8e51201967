"""Win-back economics: whom it is worth waking, by which channel, under a budget.

Pure functions over a scores table (one row per customer: the feature columns of
:data:`features.sql.FEATURE_COLUMNS` plus the scorer's ``p_dormant``, ``predicted_spend``
...). No file is read or written here, so the CLI, the report, the demo and the service's
``POST /rank`` all call the same code.

A plan is made in four steps, each in the module that explains it:

1. :func:`pipelines.economics.options.contact_options`: every (customer, channel) option
   with its chance of a return, value, expected cost and expected incremental value (the
   formulas of one list row are in that module's docstring);
2. :func:`pipelines.economics.selection.selection_sequence`: one ordering of every move
   worth making, independent of the budget;
3. the budget takes the longest prefix of that ordering that fits
   (:func:`pipelines.economics.selection.prefix_length`), so a bigger budget never does
   worse;
4. :mod:`pipelines.economics.reasons` writes each chosen row's contact-by date, offer and
   reason.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.errors import WinbackError
from pipelines.economics.channels import ChannelConfig
from pipelines.economics.options import (
    ContactOptions,
    as_of_from_scores,
    contact_options,
    validate_scores,
)
from pipelines.economics.reasons import contact_by_dates, offer_text, reason_text
from pipelines.economics.selection import (
    budget_curve,
    chosen_channels,
    prefix_length,
    selection_sequence,
)

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

#: What :func:`reason_text` reads of a customer.
_REASON_COLUMNS = [
    "frequency",
    "typical_gap_days",
    "days_since_last",
    "overdue_cycles",
    "favorite_product",
]


class BudgetError(WinbackError):
    """A budget or list limit that makes no sense."""


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


def _as_of_date(scores: pd.DataFrame, as_of: str | dt.date | None) -> dt.date:
    """The given as-of date, or the one the features were built at."""
    if as_of is None:
        return as_of_from_scores(scores)
    if isinstance(as_of, dt.date):
        return as_of
    return dt.date.fromisoformat(str(as_of))


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
    as_of = _as_of_date(scores, as_of)
    options = contact_options(scores, config)
    capacities = [config.capacity(c) for c in options.channels]
    sequence = selection_sequence(options, capacities)
    n_moves = prefix_length(sequence, float(budget))
    chosen = chosen_channels(sequence, n_moves, len(options.customers))
    full = _ranked_rows(options, chosen, as_of, config)
    shown = full if limit is None else full.head(limit).reset_index(drop=True)
    return WinbackPlan(
        list=shown.loc[:, list(LIST_COLUMNS)],
        options=options,
        sequence=sequence,
        budget=float(budget),
        as_of=as_of,
        config=config,
        n_moves=n_moves,
        summary=_plan_summary(options, sequence, n_moves, full, len(shown), budget, as_of, config),
    )


def _ranked_rows(
    options: ContactOptions, chosen: np.ndarray, as_of: dt.date, config: ChannelConfig
) -> pd.DataFrame:
    """One list row per contacted customer, best expected incremental value first."""
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
    records = customers.loc[:, _REASON_COLUMNS].to_dict("records")
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
    return result


def _plan_summary(
    options: ContactOptions,
    sequence: pd.DataFrame,
    n_moves: int,
    full: pd.DataFrame,
    rows: int,
    budget: float,
    as_of: dt.date,
    config: ChannelConfig,
) -> dict:
    """Totals of the whole list chosen under the budget (``rows``: how many are shown)."""
    next_move = sequence.iloc[n_moves] if n_moves < len(sequence) else None
    return {
        "as_of": as_of.isoformat(),
        "budget": float(budget),
        "eligible_customers": len(options.customers),
        "contacts": len(full),
        "rows": rows,
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


def channel_totals(winback_list: pd.DataFrame) -> pd.DataFrame:
    """Per channel of a list: ``contacts``, ``cost`` and ``expected_value``, most contacts first.

    The console's channel mix and the report's channel table both show these.
    """
    return (
        winback_list.groupby("channel")
        .agg(
            contacts=("customer_id", "size"),
            cost=("cost", "sum"),
            expected_value=("expected_incremental_value", "sum"),
        )
        .sort_values("contacts", ascending=False)
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
