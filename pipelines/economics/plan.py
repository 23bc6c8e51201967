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
   worth making, independent of the budget (steps 1 and 2 are
   :func:`pipelines.economics.prepared.prepare_plan`, computed once per snapshot and
   channel settings by the service);
3. the budget takes the longest prefix of that ordering that fits
   (:func:`pipelines.economics.prepared.cut`), so a bigger budget never does worse;
4. :mod:`pipelines.economics.reasons` writes each chosen row's contact-by date, offer and
   reason (:mod:`pipelines.economics.list_rows`: for every row here, for a page's rows in
   ``POST /rank``);
5. :mod:`pipelines.economics.holdout` splits the chosen customers into the contacted
   (``treatment``), a randomised ``control`` group, and, in cells no campaign has measured,
   the ``deferred`` beyond the exploration share. The list holds the treatment rows; the
   campaign log (:attr:`WinbackPlan.campaign`) holds treatment and control, ready for
   ``winback campaign import``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipelines.economics.channels import ChannelConfig
from pipelines.economics.holdout import cell_power
from pipelines.economics.list_context import list_id_for
from pipelines.economics.list_rows import ranked_rows
from pipelines.economics.options import ContactOptions
from pipelines.economics.prepared import (  # noqa: F401  (BudgetError: part of this API)
    BudgetError,
    PreparedPlan,
    as_sent,
    as_sent_totals,
    check_budget,
    cut,
    list_totals,
    prepare_plan,
)
from pipelines.economics.response import ResponseModel
from pipelines.economics.selection import (
    budget_curve,
    chosen_channels,
    expected_value_upper_bound,
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
    # Context for the CRM and the marketer: when and by what the list was made, who the
    # customer is, and which uplift group the decision put them in.
    "as_of",
    "model_version",
    "list_id",
    "abc",
    "ladder_stage",
    "last_order_date",
    "days_since_last_order",
    "clv",
    "favorite_product",
    "churn_risk",
    "uplift_group",
)

#: Columns of the campaign log a list writes beside itself (``<list>.campaign.csv``): the
#: format ``winback campaign import`` reads, then the decision-time numbers.
CAMPAIGN_LOG_COLUMNS = (
    "customer_id",
    "contacted_at",
    "channel",
    "offer",
    "group",
    "status",
    "p_anyway",
    "predicted_uplift",
    "expected_incremental_value",
    "model_version",
    "response_source",
    "list_id",
)


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
    #: Every chosen customer: the list's columns plus ``group`` (treatment, control,
    #: deferred); the list is its treatment rows.
    chosen: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: Treatment and control rows of the chosen customers (:data:`CAMPAIGN_LOG_COLUMNS`).
    campaign: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: Per channel x status cell: group sizes and whether the cell can show its effect.
    cells: pd.DataFrame = field(default_factory=pd.DataFrame)

    def curve(self) -> pd.DataFrame:
        return budget_curve(self.sequence)


def plan_winback(
    scores: pd.DataFrame,
    budget: float,
    channels: ChannelConfig | None = None,
    limit: int | None = None,
    as_of: str | dt.date | None = None,
    response: ResponseModel | None = None,
    seed: str | None = None,
) -> WinbackPlan:
    """Choose whom to contact, how, and in which order, for ``budget`` (expected cost).

    ``response``: where the chance of a return if contacted comes from (default: the
    configured rates). ``seed`` fixes the control-group draw (default: the as-of date and
    the scores' model version, so a re-run gives the same groups).
    """
    check_budget(budget, limit)
    return plan_for_budget(prepare_plan(scores, channels, as_of, response, seed), budget, limit)


def plan_for_budget(prepared: PreparedPlan, budget: float, limit: int | None = None) -> WinbackPlan:
    """The plan for ``budget`` from the budget-independent part of a plan: the cut, every
    chosen row with its words, the groups, the summary and the campaign log."""
    check_budget(budget, limit)
    options, config, as_of, seed = prepared.options, prepared.config, prepared.as_of, prepared.seed
    chosen = cut(prepared, budget)
    selected = ranked_rows(prepared, chosen)
    contacted = selected[selected["group"] == "treatment"].reset_index(drop=True)
    contacted["rank"] = np.arange(1, len(contacted) + 1, dtype="int64")
    contacted["as_of"] = as_of.isoformat()
    contacted["model_version"] = prepared.model_version or ""
    contacted["list_id"] = list_id_for(seed)
    shown = contacted if limit is None else contacted.head(limit).reset_index(drop=True)
    cells = cell_power(selected)
    summary = _plan_summary(
        options, prepared.sequence, chosen.n_moves, contacted, len(shown), budget, as_of, config
    )
    summary.update(_group_summary(selected, cells, config, seed))
    return WinbackPlan(
        list=shown.loc[:, list(LIST_COLUMNS)],
        options=options,
        sequence=prepared.sequence,
        budget=float(budget),
        as_of=as_of,
        config=config,
        n_moves=chosen.n_moves,
        summary=summary,
        campaign=_campaign_log(
            selected, as_of, seed, prepared.model_version, options.response_source
        ),
        cells=cells,
        chosen=selected,
    )


def _campaign_log(
    selected: pd.DataFrame,
    as_of: dt.date,
    seed: str,
    model_version: str | None,
    response_source: str,
) -> pd.DataFrame:
    """The list's own campaign log: every treatment and control row, in the import format.

    ``contacted_at`` is the day after the as-of date (the list's first working day); a CRM
    that sends later may overwrite it before ``winback campaign import``.
    """
    logged = selected[selected["group"].isin(["treatment", "control"])]
    list_id = list_id_for(seed)
    return pd.DataFrame(
        {
            "customer_id": logged["customer_id"].to_numpy(),
            "contacted_at": (as_of + dt.timedelta(days=1)).isoformat(),
            "channel": logged["channel"].to_numpy(),
            "offer": logged["offer_name"].to_numpy(),
            "group": logged["group"].to_numpy(),
            "status": logged["status"].to_numpy(),
            "p_anyway": logged["p_return_anyway"].to_numpy(),
            "predicted_uplift": (
                logged["p_return_if_contacted"] - logged["p_return_anyway"]
            ).to_numpy(),
            "expected_incremental_value": logged["expected_incremental_value"].to_numpy(),
            "model_version": model_version or "",
            "response_source": response_source,
            "list_id": list_id,
        },
        columns=list(CAMPAIGN_LOG_COLUMNS),
    )


def _group_summary(
    selected: pd.DataFrame, cells: pd.DataFrame, config: ChannelConfig, seed: str
) -> dict:
    """How the chosen customers were split, and which cells are too small to measure."""
    counts = selected["group"].value_counts()
    too_small = cells[~cells["measurable"]]
    return {
        "chosen": len(selected),
        "control": int(counts.get("control", 0)),
        "deferred": int(counts.get("deferred", 0)),
        "holdout_share": float(config.holdout_share),
        "exploration_share": float(config.exploration_share),
        "unmeasured_cells": int((cells["deferred"] > 0).sum() if len(cells) else 0),
        "cells_too_small_to_measure": [
            f"{row.channel}/{row.status}" for row in too_small.itertuples(index=False)
        ],
        "list_seed": seed,
    }


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
    total_cost, total_value = list_totals(
        full["cost"].to_numpy(), full["expected_incremental_value"].to_numpy()
    )
    cost_as_sent, value_as_sent = as_sent_totals(sequence, n_moves)
    return {
        "as_of": as_of.isoformat(),
        "budget": float(budget),
        "eligible_customers": len(options.customers),
        "contacts": len(full),
        "rows": rows,
        "total_cost": total_cost,
        "total_expected_value": total_value,
        "channel_mix": {c: int(n) for c, n in full["channel"].value_counts().items()},
        # What the selection expects to spend and gain on the contacts actually sent (the
        # budget's measure; the list's own totals above differ by the luck of the draw).
        "expected_cost_as_sent": cost_as_sent,
        "expected_value_as_sent": value_as_sent,
        "saturation_budget": float(sequence["cumulative_cost"].iloc[-1]) if len(sequence) else 0.0,
        "max_expected_value": (
            float(sequence["cumulative_value"].iloc[-1]) if len(sequence) else 0.0
        ),
        "gap_bound_without_capacities": (
            float(next_move["delta_value"]) if next_move is not None else 0.0
        ),
        **_capacity_gap(options, config, sequence, n_moves, budget),
        "measured_response_rates": {c: dict(v) for c, v in config.measured_response_rates.items()},
    }


def _capacity_gap(
    options: ContactOptions,
    config: ChannelConfig,
    sequence: pd.DataFrame,
    n_moves: int,
    budget: float,
) -> dict:
    """The true gap to the optimum when a channel's capacity binds.

    Without binding capacities the prefix rule is at most one move short of the optimum
    (``gap_bound_without_capacities``). A full channel makes the ordering a heuristic, so
    the gap is then measured against the LP relaxation's optimum, which no list can beat.
    """
    chosen = chosen_channels(sequence, n_moves, len(options.customers))
    capacities = [config.capacity(c) for c in options.channels]
    full = [
        name
        for j, name in enumerate(options.channels)
        if math.isfinite(capacities[j]) and int((chosen == j).sum()) >= capacities[j]
    ]
    if not full:
        return {"full_channels": [], "gap_to_optimum_at_most": None}
    bound = expected_value_upper_bound(as_sent(options, config), float(budget), capacities)
    value = float(sequence["cumulative_value"].iloc[n_moves - 1]) if n_moves else 0.0
    return {"full_channels": full, "gap_to_optimum_at_most": max(bound - value, 0.0)}


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
