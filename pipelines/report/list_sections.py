"""What the list is: its channel mix and ROI, and whom it reaches and leaves out.

Two sections of the page, each from the plan the list came from
(:class:`pipelines.economics.plan.WinbackPlan`) and the list itself:

* :func:`channel_roi_section`: contacts, expected cost, expected incremental value and ROI
  per channel;
* :func:`reach_section`: every scored customer counted once under the reason they are on
  the list or not (not in a win-back status, not worth a contact, beyond the budget,
  control group, waiting for evidence, left out of the list file), with a link to the CSV;

The rule words are written from the config values, never typed twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from pipelines.economics.channels import ChannelConfig
from pipelines.economics.money import money
from pipelines.economics.plan import WinbackPlan
from pipelines.economics.selection import chosen_channels
from pipelines.report.charts import _figure, _img, _mpl, _png
from pipelines.report.html import esc, frame_table

#: Why a scored customer is or is not on the list, in the order the plan decides it.
REACH_REASONS = (
    "on the list",
    "in the plan, not in the list file",
    "control group (held out)",
    "waiting for evidence (deferred)",
    "beyond the budget",
    "not worth a contact",
    "no dormancy score",
    "not in a win-back status",
)


def _count(value: Any) -> str:
    return f"{int(value):,}"


# --------------------------------------------------------------------------- channel ROI
def channel_roi(summary: Mapping[str, Any], config: ChannelConfig) -> pd.DataFrame:
    """Per channel: label, contacts, share, cost, expected incremental value and ROI
    (expected incremental value, already net of the cost, per unit of cost)."""
    table = summary["by_channel"].copy()
    table.insert(
        0, "label", [config.channels[c].label if c in config.channels else c for c in table.index]
    )
    total = int(table["contacts"].sum()) or 1
    table.insert(2, "share", table["contacts"] / total)
    table["roi"] = table["expected_value"] / table["cost"].where(table["cost"] > 0)
    return table


def figure_channel_roi(table: pd.DataFrame, currency: str) -> str:
    fig, ax = _figure(6.4, 0.6 + 0.45 * max(len(table), 1))
    y = np.arange(len(table))
    ax.barh(y - 0.2, table["cost"], 0.4, color="#90a4ae", label="expected cost")
    ax.barh(y + 0.2, table["expected_value"], 0.4, color="#3949ab", label="expected net value")
    ax.set_yticks(y, [str(label) for label in table["label"]])
    ax.invert_yaxis()
    ax.set_xlabel(_mpl(currency))
    ax.set_title("Expected cost and value by channel")
    ax.legend(frameon=False, fontsize=8)
    return _img(_png(fig), "cost and value by channel")


def channel_roi_section(summary: Mapping[str, Any], config: ChannelConfig) -> str:
    """The list's channel mix and the return on each channel's spend."""
    cur = config.currency
    table = channel_roi(summary, config)
    cost, value = summary["total_cost"], summary["total_expected_value"]
    overall = f"{value / cost:.1f}" if cost > 0 else "-"
    figure = figure_channel_roi(table, cur) if len(table) else "<p>The list is empty.</p>"
    formats = {
        "contacts": _count,
        "share": lambda v: f"{v:.0%}",
        "cost": lambda v: money(v, cur, 2),
        "expected_value": lambda v: money(v, cur, 2),
        "roi": lambda v: "-" if pd.isna(v) else f"{v:.1f}",
    }
    return f"""
<section id="channel-roi"><h2>Channel mix and ROI</h2>
<p>The list spends <b>{money(cost, cur, 0)}</b> (expected) for <b>{money(value, cur, 0)}</b> of
expected incremental value after costs: ROI <b>{overall}</b> (each {cur}1 spent is expected
to bring {cur}{overall} of margin above its cost).</p>
<div class="grid"><div>{figure}</div><div>
{
        frame_table(
            table,
            index_label="channel",
            text_columns=("label",),
            formats=formats,
            attrs='id="channel-mix"',
        )
    }
<p class="note">ROI = expected incremental value / expected cost, per channel. Expected
incremental value = (chance of a return if contacted - chance anyway) x value if returned
(spend x margin, {config.margin:.0%}) - cost; cost = the channel's price per contact plus the
offer's cost when redeemed (configs/channels.yaml).</p></div></div></section>"""


# --------------------------------------------------------------------------- reach
def reach_by_reason(
    scores: pd.DataFrame, winback_list: pd.DataFrame, plan: WinbackPlan
) -> pd.Series:
    """The reason (one of :data:`REACH_REASONS`) of every scored customer, by customer id."""
    ids = scores["customer_id"].astype(str)
    reason = pd.Series("not in a win-back status", index=ids.to_numpy(), dtype=object)
    eligible_status = scores["status"].astype(str).isin(plan.config.eligible_statuses).to_numpy()
    reason[eligible_status & scores["p_dormant"].isna().to_numpy()] = "no dormancy score"
    options = plan.options.customers["customer_id"].astype(str).to_numpy()
    worth = np.zeros(len(options), dtype=bool)
    worth[plan.sequence["customer"].unique()] = True
    chosen = chosen_channels(plan.sequence, plan.n_moves, len(options)) >= 0
    reason[options[~worth]] = "not worth a contact"
    reason[options[worth & ~chosen]] = "beyond the budget"
    groups = plan.chosen.set_index(plan.chosen["customer_id"].astype(str))["group"]
    words = {
        "control": "control group (held out)",
        "deferred": "waiting for evidence (deferred)",
        "treatment": "in the plan, not in the list file",
    }
    reason[groups.index.to_numpy()] = groups.map(words).to_numpy()
    listed = winback_list["customer_id"].astype(str)
    reason[listed[listed.isin(reason.index)].to_numpy()] = "on the list"
    return reason


def reach_table(scores: pd.DataFrame, reason: pd.Series) -> pd.DataFrame:
    """Customers per reason (rows) and status (columns), with the total."""
    status = pd.Series(scores["status"].astype(str).to_numpy(), index=reason.index)
    table = pd.crosstab(reason, status).reindex(index=list(REACH_REASONS), fill_value=0)
    table = table.loc[:, [c for c in table.columns if table[c].sum() > 0]]
    table["customers"] = table.sum(axis=1)
    return table[table["customers"] > 0]


def reach_section(
    scores: pd.DataFrame,
    winback_list: pd.DataFrame,
    plan: WinbackPlan,
    list_href: str | None,
) -> str:
    """How many customers the list reaches, what it leaves out and why, and the CSV link."""
    config = plan.config
    table = reach_table(scores, reach_by_reason(scores, winback_list, plan))
    reached = int(table["customers"].get("on the list", 0))
    link = (
        f'<p>The list file: <a id="list-link" href="{esc(list_href)}">{esc(list_href)}</a> '
        "(CSV, one row per contact, ready for a CRM import).</p>"
        if list_href
        else '<p id="list-link-missing">This list was computed for the report and not saved; '
        "<code>winback rank --out FILE</code> writes it as a CSV.</p>"
    )
    statuses = ", ".join(config.eligible_statuses)
    return f"""
<section id="reach" data-reached="{reached}" data-scored="{len(scores)}">
<h2>Whom the list reaches, and whom it leaves out</h2>
<p>The list reaches <b>{reached:,}</b> of the <b>{len(scores):,}</b> scored customers.</p>
{link}
{
        frame_table(
            table,
            index_label="reason",
            formats={c: _count for c in table.columns},
            attrs='id="reach-table"',
        )
    }
<p class="note">Each customer is counted once. Win-back statuses: {esc(statuses)}
(eligible_statuses). Not worth a contact: no channel's expected incremental value is above
{money(config.min_expected_value_per_contact, config.currency, 2)} per contact
(min_expected_value_per_contact). Beyond the budget: worth a contact, but the budget of
{
        money(plan.budget, config.currency, 0)
        if np.isfinite(plan.budget) and plan.budget < 1e17
        else "no limit"
    } was spent on better ones first. Control group: {config.holdout_share:.0%}
of each channel and status, held out at random to measure the contacts (holdout_share).
Waiting for evidence: in a channel and status no campaign has measured yet only
{config.exploration_share:.0%} is contacted first (exploration_share). No suppression or
consent list is applied by <code>winback rank</code>; rows removed from the list file after
it was written (or cut by <code>--limit</code>) show as "in the plan, not in the list file".
Settings in configs/channels.yaml.</p></section>"""
