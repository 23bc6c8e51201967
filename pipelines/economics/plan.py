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
   reason;
5. :mod:`pipelines.economics.holdout` splits the chosen customers into the contacted
   (``treatment``), a randomised ``control`` group, and, in cells no campaign has measured,
   the ``deferred`` beyond the exploration share. The list holds the treatment rows; the
   campaign log (:attr:`WinbackPlan.campaign`) holds treatment and control, ready for
   ``winback campaign import``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from features.errors import WinbackError
from pipelines.economics.channels import ChannelConfig
from pipelines.economics.holdout import (
    assign_groups,
    cell_power,
    list_seed,
    treatment_probability,
    uniform_draws,
)
from pipelines.economics.list_context import context_columns, list_id_for
from pipelines.economics.options import (
    ContactOptions,
    as_of_from_scores,
    contact_options,
    order_value_of,
    validate_scores,
)
from pipelines.economics.reasons import contact_by_dates, offer_text, reason_text
from pipelines.economics.response import ResponseModel
from pipelines.economics.selection import (
    budget_curve,
    chosen_channels,
    expected_value_upper_bound,
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
    #: Every chosen customer: the list's columns plus ``group`` (treatment, control,
    #: deferred); the list is its treatment rows.
    chosen: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: Treatment and control rows of the chosen customers (:data:`CAMPAIGN_LOG_COLUMNS`).
    campaign: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: Per channel x status cell: group sizes and whether the cell can show its effect.
    cells: pd.DataFrame = field(default_factory=pd.DataFrame)

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
    response: ResponseModel | None = None,
    seed: str | None = None,
) -> WinbackPlan:
    """Choose whom to contact, how, and in which order, for ``budget`` (expected cost).

    ``response``: where the chance of a return if contacted comes from (default: the
    configured rates). ``seed`` fixes the control-group draw (default: the as-of date and
    the scores' model version, so a re-run gives the same groups).
    """
    _check_budget(budget, limit)
    config = (channels or ChannelConfig()).validate()
    validate_scores(scores)
    as_of = _as_of_date(scores, as_of)
    options = contact_options(scores, config, response)
    capacities = [config.capacity(c) for c in options.channels]
    sequence = selection_sequence(as_sent(options, config), capacities)
    n_moves = prefix_length(sequence, float(budget))
    chosen = chosen_channels(sequence, n_moves, len(options.customers))
    seed = seed or list_seed(as_of.isoformat(), _model_version(scores))
    selected = _ranked_rows(options, chosen, as_of, config, seed)
    contacted = selected[selected["group"] == "treatment"].reset_index(drop=True)
    contacted["rank"] = np.arange(1, len(contacted) + 1, dtype="int64")
    contacted["as_of"] = as_of.isoformat()
    contacted["model_version"] = _model_version(scores) or ""
    contacted["list_id"] = list_id_for(seed)
    shown = contacted if limit is None else contacted.head(limit).reset_index(drop=True)
    cells = cell_power(selected)
    summary = _plan_summary(
        options, sequence, n_moves, contacted, len(shown), budget, as_of, config
    )
    summary.update(_group_summary(selected, cells, config, seed))
    return WinbackPlan(
        list=shown.loc[:, list(LIST_COLUMNS)],
        options=options,
        sequence=sequence,
        budget=float(budget),
        as_of=as_of,
        config=config,
        n_moves=n_moves,
        summary=summary,
        campaign=_campaign_log(
            selected, as_of, seed, _model_version(scores), options.response_source
        ),
        cells=cells,
        chosen=selected,
    )


def as_sent(options: ContactOptions, config: ChannelConfig) -> ContactOptions:
    """The options as the budget sees them: only the treatment share of a cell is
    contacted (the control is held out, unmeasured cells only explored), so an option's
    expected cost and value are its own times the chance that a chosen customer is sent.
    Selection on these fills the budget with contacts that are actually made."""
    share = treatment_probability(options.measured, config.holdout_share, config.exploration_share)
    return replace(
        options, cost=options.cost * share, decision_value=options.decision_value * share
    )


def _model_version(scores: pd.DataFrame) -> str | None:
    if "model_version" not in scores or scores["model_version"].isna().all():
        return None
    return str(scores["model_version"].dropna().iloc[0])


def _ranked_rows(
    options: ContactOptions,
    chosen: np.ndarray,
    as_of: dt.date,
    config: ChannelConfig,
    seed: str,
) -> pd.DataFrame:
    """One row per chosen customer with its group, best expected incremental value first."""
    rows = np.flatnonzero(chosen >= 0)
    cols = chosen[rows]
    customers = options.customers.iloc[rows].reset_index(drop=True)
    contact_by = contact_by_dates(customers, as_of, config)
    offers = options.offer[rows, cols]
    channel_names = [options.channels[j] for j in cols]
    p_anyway = options.p_return_anyway[rows]
    p_contacted = options.p_return_if_contacted[rows, cols]
    value = options.value_if_returned[rows]
    order_value = order_value_of(customers)
    records = customers.loc[:, _REASON_COLUMNS].to_dict("records")
    groups = assign_groups(
        uniform_draws(customers["customer_id"], seed),
        options.measured[rows, cols],
        float(config.holdout_share),
        float(config.exploration_share),
    )
    result = pd.DataFrame(
        {
            "customer_id": customers["customer_id"].astype(str).to_numpy(),
            "status": customers["status"].astype(str).to_numpy(),
            "channel": channel_names,
            "offer_name": offers,
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
                    order_value[k],
                    config,
                )
                for k in range(len(rows))
            ],
            "group": groups,
            **context_columns(customers, p_anyway, p_contacted, config),
        }
    )
    result = result.sort_values(
        ["expected_incremental_value", "customer_id"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)
    result.insert(0, "rank", np.arange(1, len(result) + 1, dtype="int64"))
    return result


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
    return {
        "as_of": as_of.isoformat(),
        "budget": float(budget),
        "eligible_customers": len(options.customers),
        "contacts": len(full),
        "rows": rows,
        "total_cost": float(full["cost"].sum()),
        "total_expected_value": float(full["expected_incremental_value"].sum()),
        "channel_mix": {c: int(n) for c, n in full["channel"].value_counts().items()},
        # What the selection expects to spend and gain on the contacts actually sent (the
        # budget's measure; the list's own totals above differ by the luck of the draw).
        "expected_cost_as_sent": (
            float(sequence["cumulative_cost"].iloc[n_moves - 1]) if n_moves else 0.0
        ),
        "expected_value_as_sent": (
            float(sequence["cumulative_value"].iloc[n_moves - 1]) if n_moves else 0.0
        ),
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
