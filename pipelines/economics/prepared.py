"""The budget-independent part of a plan, prepared once, and the budget's cut of it.

Why: a CRM asks ``POST /rank`` for lists at several budgets from one snapshot, and pages
through each. Steps 1 and 2 of a plan (:mod:`pipelines.economics.plan`), the contact
options and the selection sequence, cost about a second on CDNOW and depend only on the
scores, the channel settings and the response source; the budget only takes the longest
prefix of the sequence that fits (step 3), which costs milliseconds. So
:func:`prepare_plan` computes what the budget does not change, once, and :func:`cut`
applies a budget to it. The selection is one fixed sequence even under channel
capacities (a channel that fills is dropped from the sequence's later moves), so a new
budget never needs the sequence again; only new channel settings, scores or suppressions
do.

``winback rank`` (:func:`pipelines.economics.plan.plan_winback` = :func:`prepare_plan`
then :func:`pipelines.economics.plan.plan_for_budget`) and ``POST /rank``
(:mod:`serving.ranking`) both go through here, so a list is the same whichever asks.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from features.errors import WinbackError
from pipelines.economics.channels import ChannelConfig
from pipelines.economics.holdout import (
    assign_groups,
    list_seed,
    treatment_probability,
    uniform_draws,
)
from pipelines.economics.options import (
    ContactOptions,
    as_of_from_scores,
    contact_options,
    validate_scores,
)
from pipelines.economics.response import ResponseModel
from pipelines.economics.selection import chosen_channels, prefix_length, selection_sequence


class BudgetError(WinbackError):
    """A budget or list limit that makes no sense."""


@dataclass(frozen=True)
class PreparedPlan:
    """What every budget's list of one snapshot and channel settings shares."""

    options: ContactOptions
    #: Every move worth making, in the one order each budget takes a prefix of.
    sequence: pd.DataFrame
    as_of: dt.date
    config: ChannelConfig
    #: Fixes the control-group draw and the list id.
    seed: str
    model_version: str | None
    #: Each eligible customer's control-group draw (rows of ``options.customers``).
    draws: np.ndarray


@dataclass(frozen=True)
class BudgetCut:
    """The customers a budget chooses, best expected incremental value first."""

    budget: float
    #: Moves of the sequence that fit in the budget.
    n_moves: int
    #: Row of ``options.customers`` and channel index of each chosen customer, list order.
    rows: np.ndarray
    cols: np.ndarray
    #: ``treatment``, ``control`` or ``deferred`` per chosen customer.
    groups: np.ndarray

    def in_group(self, group: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows and channels of the chosen customers of one group, in list order."""
        mask = self.groups == group
        return self.rows[mask], self.cols[mask]


def check_budget(budget: float, limit: int | None) -> None:
    """Refuse a budget that is not a finite number >= 0, or a limit that is not >= 1."""
    if (
        isinstance(budget, bool)
        or not isinstance(budget, int | float)
        or not math.isfinite(budget)
        or budget < 0
    ):
        raise BudgetError(f"budget must be a number >= 0, got {budget!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise BudgetError(f"limit must be a whole number >= 1, got {limit!r}")


def as_of_date(scores: pd.DataFrame, as_of: str | dt.date | None) -> dt.date:
    """The given as-of date, or the one the features were built at."""
    if as_of is None:
        return as_of_from_scores(scores)
    if isinstance(as_of, dt.date):
        return as_of
    return dt.date.fromisoformat(str(as_of))


def model_version_of(scores: pd.DataFrame) -> str | None:
    """The version of the model that scored ``scores`` (None when they do not say)."""
    if "model_version" not in scores or scores["model_version"].isna().all():
        return None
    return str(scores["model_version"].dropna().iloc[0])


def as_sent(options: ContactOptions, config: ChannelConfig) -> ContactOptions:
    """The options as the budget sees them: only the treatment share of a cell is
    contacted (the control is held out, unmeasured cells only explored), so an option's
    expected cost and value are its own times the chance that a chosen customer is sent.
    Selection on these fills the budget with contacts that are actually made."""
    share = treatment_probability(options.measured, config.holdout_share, config.exploration_share)
    return replace(
        options, cost=options.cost * share, decision_value=options.decision_value * share
    )


def prepare_plan(
    scores: pd.DataFrame,
    channels: ChannelConfig | None = None,
    as_of: str | dt.date | None = None,
    response: ResponseModel | None = None,
    seed: str | None = None,
    options: ContactOptions | None = None,
) -> PreparedPlan:
    """Contact options and the selection sequence: everything of a plan but the budget.

    ``options``: contact options already computed for these scores, channel settings
    (capacities aside: they only shape the sequence) and response, to reuse. ``seed``
    fixes the control-group draw (default: the as-of date and the scores' model version,
    so a re-run gives the same groups).
    """
    config = (channels or ChannelConfig()).validate()
    validate_scores(scores)
    as_of = as_of_date(scores, as_of)
    if options is None:
        options = contact_options(scores, config, response)
    capacities = [config.capacity(c) for c in options.channels]
    sequence = selection_sequence(as_sent(options, config), capacities)
    version = model_version_of(scores)
    seed = seed or list_seed(as_of.isoformat(), version)
    return PreparedPlan(
        options=options,
        sequence=sequence,
        as_of=as_of,
        config=config,
        seed=seed,
        model_version=version,
        draws=uniform_draws(options.customers["customer_id"], seed),
    )


def cut(prepared: PreparedPlan, budget: float) -> BudgetCut:
    """The chosen customers for ``budget``: the longest prefix of the sequence that fits,
    each customer's last channel in it, ordered and split into groups."""
    options = prepared.options
    n_moves = prefix_length(prepared.sequence, float(budget))
    chosen = chosen_channels(prepared.sequence, n_moves, len(options.customers))
    rows = np.flatnonzero(chosen >= 0)
    cols = chosen[rows]
    # Best expected incremental value first, ties by customer id: the options' customers
    # are sorted by id, so ascending rows are ascending ids (a sort on the ids themselves
    # gives the same order in ten times the time).
    order = np.lexsort((rows, -options.expected_incremental_value[rows, cols]))
    rows, cols = rows[order], cols[order]
    config = prepared.config
    groups = assign_groups(
        prepared.draws[rows],
        options.measured[rows, cols],
        float(config.holdout_share),
        float(config.exploration_share),
    )
    return BudgetCut(float(budget), n_moves, rows, cols, groups)


def as_sent_totals(sequence: pd.DataFrame, n_moves: int) -> tuple[float, float]:
    """What the selection expects the first ``n_moves`` moves of ``sequence`` to cost and
    to gain on the contacts actually sent (the budget's measure)."""
    if not n_moves:
        return 0.0, 0.0
    return (
        float(sequence["cumulative_cost"].iloc[n_moves - 1]),
        float(sequence["cumulative_value"].iloc[n_moves - 1]),
    )


def list_totals(cost: np.ndarray, value: np.ndarray) -> tuple[float, float]:
    """Total cost and expected incremental value of a list's rows (in list order: the
    same sum, to the last bit, whichever caller asks)."""
    return float(np.sum(cost)), float(np.sum(value))
