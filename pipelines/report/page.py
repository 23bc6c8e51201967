"""The report page: one section per question a marketer asks, assembled into one HTML string.

Everything is inline (CSS, figures as base64 PNG, no external URL), so the page opens
offline and can be mailed as one file. Each ``*_section`` function answers one question
(who is asleep, what they were worth, what a budget buys, what the last campaign did, whom
to call first) from the measures of :mod:`pipelines.report.tables`, the figures of
:mod:`pipelines.report.charts` and the blocks of :mod:`pipelines.report.html`;
:func:`render_report` puts them in order. No file is read or written here
(:mod:`pipelines.report.build` does that).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pandas as pd

from features.config import FeatureConfig, StatusRules, load_feature_config
from pipelines.economics.channels import ChannelConfig
from pipelines.economics.money import money
from pipelines.economics.plan import WinbackPlan
from pipelines.report.accuracy_section import HeldOut, accuracy_section
from pipelines.report.campaign_table import campaign_table, small_cells_note
from pipelines.report.charts import (
    figure_abc_xyz,
    figure_budget_curve,
    figure_cadence,
    figure_campaign,
    figure_crr,
    figure_ltv,
    figure_status_ladder,
)
from pipelines.report.header import header_line, sources_footer
from pipelines.report.html import CHECK_SCRIPT, CSS, card, esc, frame_table, list_table
from pipelines.report.list_sections import channel_roi_section, reach_section
from pipelines.report.notes import abc_xyz_rules_text, crr_note, xyz_note
from pipelines.report.offers_section import offers_section
from pipelines.report.tables import (
    CRR_ACTIVE_WINDOW_DAYS,
    abc_xyz_matrix,
    crr_by_month,
    list_summary,
    lost_revenue,
    ltv_by_segment,
    status_by_ladder,
)
from pipelines.report.trend import status_by_month_end, trend_section

#: Rows of the list shown at the bottom of the page.
TOP_ROWS = 25


def _count(value: Any) -> str:
    """A whole number with thousands separators."""
    return f"{int(value):,}"


def render_report(
    scores: pd.DataFrame,
    transactions: pd.DataFrame,
    winback_list: pd.DataFrame,
    plan: WinbackPlan,
    config: ChannelConfig,
    campaign_results: Mapping[str, Any] | None = None,
    as_of: dt.date | None = None,
    horizon_days: int | None = None,
    sources: Mapping[str, str] | None = None,
    status_rules: StatusRules | None = None,
    feature_config: FeatureConfig | None = None,
    list_href: str | None = None,
    heldout: HeldOut | None = None,
    heldout_missing: str = "",
    generated_at: dt.datetime | None = None,
    data_scientists: str = "",  # HTML of pipelines.report.diagnostics_section
) -> str:
    """The whole page as one HTML string. ``winback_list`` is the list the page reports on;
    ``plan`` (for the same scores and config) gives the expected value vs budget curve.
    ``feature_config`` (default ``configs/features.yaml``; ``status_rules`` overrides its
    status part): the rules the features were built with, so the words on the page say
    what the data used, and the sleepers' trend is built with them. ``list_href``: the
    list file relative to the page; ``heldout``: the scoring version's held-out metrics
    (else ``heldout_missing`` says why there are none)."""
    cur = config.currency
    as_of = as_of or plan.as_of
    sources = dict(sources or {})
    summary = list_summary(winback_list)
    horizon_words = f"{horizon_days}-day horizon" if horizon_days else "the scorer's horizon"
    features = feature_config or load_feature_config()
    rules = status_rules or features.status
    sections = (
        status_section(scores, rules)
        + trend_section(status_by_month_end(transactions, as_of, features), rules)
        + cadence_section(scores, features, as_of)
        + lost_revenue_section(lost_revenue(scores, config), config, horizon_words)
        + crr_section(crr_by_month(transactions, as_of))
        + ltv_section(ltv_by_segment(scores, config), config)
        + budget_section(plan.curve(), summary, cur)
        + channel_roi_section(summary, config)
        + reach_section(scores, winback_list, plan, list_href)
        + offers_section(winback_list, plan)
        + control_section(plan)
        + "\n"
        + (campaign_section(campaign_results, config) if campaign_results else "")
        + (
            monitoring_section(campaign_results["monitoring"], cur)
            if campaign_results and campaign_results.get("monitoring")
            else ""
        )
        + accuracy_section(heldout, heldout_missing)
        + list_section(winback_list, summary, config, sources.get("list", ""))
        + data_scientists
    )
    title = f"Win-back report, {as_of.isoformat()}"
    subtitle = header_line(
        sources.get("transactions"),
        as_of,
        _model_version(scores),
        horizon_words,
        generated_at or dt.datetime.now(dt.UTC),
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title><style>{CSS}</style></head>
<body><main>
<h1>{esc(title)}</h1>{subtitle}
<div class="cards">{headline_cards(scores, summary, cur)}</div>
{sections}
{sources_footer(sources)}
</main>{CHECK_SCRIPT}</body></html>
"""


def _model_version(scores: pd.DataFrame) -> str:
    if "model_version" not in scores:
        return "unknown"
    return ", ".join(sorted(scores["model_version"].dropna().astype(str).unique()))


def headline_cards(scores: pd.DataFrame, summary: Mapping[str, Any], cur: str) -> str:
    """The numbers at the top: how many customers, how many asleep, what the list costs."""
    status_counts = scores["status"].value_counts()
    return "".join(
        [
            card("customers", _count(len(scores))),
            card("sleeping", _count(status_counts.get("sleeping", 0))),
            card("at risk", _count(status_counts.get("at_risk", 0))),
            card("lost", _count(status_counts.get("lost", 0))),
            card("contacts on the list", _count(summary["contacts"])),
            card("list cost (expected)", money(summary["total_cost"], cur, 0)),
            card("expected incremental value", money(summary["total_expected_value"], cur, 0)),
        ]
    )


def status_rules_text(rules: StatusRules) -> str:
    """The status rules in words, from the thresholds themselves (never written twice)."""
    return (
        f"A customer is <b>at risk</b> once {rules.at_risk_cycles:g} of <i>their own</i> "
        f"purchase cycles overdue, <b>sleeping</b> from {rules.sleeping_cycles:g} missed cycles "
        f"(up to {rules.lost_cycles:g}), <b>lost</b> from {rules.lost_cycles:g} missed cycles or "
        f"{rules.lost_days:g} days of silence (rules in configs/features.yaml)."
    )


def status_section(scores: pd.DataFrame, rules: StatusRules) -> str:
    """Who the customers are: status by loyalty-ladder stage."""
    ladder = status_by_ladder(scores)
    return f"""
<section id="status"><h2>Customers by status and loyalty-ladder stage</h2>
<div class="grid"><div>{figure_status_ladder(ladder)}</div>
<div>{
        frame_table(
            ladder.assign(total=ladder.sum(axis=1)),
            index_label="status",
            formats={c: _count for c in [*ladder.columns, "total"]},
        )
    }
<p class="note">{status_rules_text(rules)}</p></div></div></section>"""


def cadence_section(scores: pd.DataFrame, features: FeatureConfig, as_of: dt.date) -> str:
    """How often customers buy, and where the revenue sits (ABC-XYZ)."""
    counts, shares = abc_xyz_matrix(scores)
    return f"""
<section id="cadence"><h2>Cadence and ABC-XYZ</h2>
<div class="grid"><div>{figure_cadence(scores)}
<p class="note">One-time buyers get the median cycle of repeat customers and are not in this
histogram.</p></div>
<div>{figure_abc_xyz(counts, shares)}
<p class="note">{abc_xyz_rules_text(features.abc, features.xyz)}</p>
{xyz_note(scores, features.xyz, as_of)}</div>
</div></section>"""


def lost_revenue_section(lost: pd.DataFrame, config: ChannelConfig, horizon_words: str) -> str:
    """What the sleepers were worth: the rule of thumb next to the model."""
    cur = config.currency
    sleepers = lost.loc["sleeping"]
    return f"""
<section id="lost-revenue"><h2>Sleepers and lost revenue</h2>
<p><b>{int(sleepers["customers"]):,}</b> sleeping customers. Rule of thumb: sleepers x
{config.rule_of_thumb_win_back_rate:.0%} win-back rate x average check
({money(sleepers["average_check"], cur, 2)}) =
<b>{money(sleepers["rule_of_thumb"], cur, 0)}</b>. The model, contacting every sleeper by their
best channel: <b>{money(sleepers["model_if_all_contacted"], cur, 0)}</b> of revenue over the
{horizon_words}, of which <b>{money(sleepers["model_incremental"], cur, 0)}</b> would not come
back without the contact.</p>
{
        frame_table(
            lost,
            index_label="status",
            formats={
                "customers": _count,
                "average_check": lambda v: money(v, cur, 2),
                "rule_of_thumb": lambda v: money(v, cur, 0),
                "model_if_all_contacted": lambda v: money(v, cur, 0),
                "model_incremental": lambda v: money(v, cur, 0),
            },
            attrs='id="lost-revenue-table"',
        )
    }
<p class="note">Revenue, not margin. The model's figure uses each customer's own chance of
returning (1 - p_dormant), the channel response rates of configs/channels.yaml and
max(predicted spend, average order) as the spend of a return.</p></section>"""


def crr_section(crr: pd.DataFrame) -> str:
    """Whether the customer base holds: CRR by month, the last 12 months in the table."""
    crr_table = (
        frame_table(
            crr.tail(12).set_index("month"),
            index_label="month",
            formats={
                "S": _count,
                "E": _count,
                "N": _count,
                "crr": lambda v: "-" if pd.isna(v) else f"{v:.1f}%",
                "returned": _count,
            },
        )
        if len(crr)
        else ""
    )
    return f"""
<section id="crr"><h2>Customer retention rate by month</h2>
<div class="grid"><div>{figure_crr(crr) if len(crr) else "<p>Not enough months.</p>"}</div>
<div>{crr_table}
<p class="note">S: customers on the books at the start of the month, E: at its end, N: new
customers in the month, returned: lapsed customers back on the books. On the books = bought
in the last {CRR_ACTIVE_WINDOW_DAYS} days. Last 12 months shown.</p>
{crr_note(crr, CRR_ACTIVE_WINDOW_DAYS)}</div></div></section>"""


def ltv_section(ltv: pd.DataFrame, config: ChannelConfig) -> str:
    """What a customer is worth per segment: the field's formula next to the model's CLV."""
    cur = config.currency
    ltv_formats = {
        "customers": _count,
        "purchases_per_month": lambda v: f"{v:.2f}",
        "average_check": lambda v: money(v, cur, 2),
        "ltv": lambda v: money(v, cur, 2),
        "model_clv": lambda v: money(v, cur, 2),
    }
    return f"""
<section id="ltv"><h2>Lifetime value by segment</h2>
<div class="grid"><div>{figure_ltv(ltv, cur)}</div>
<div>{frame_table(ltv, index_label="ladder stage", formats=ltv_formats)}
<p class="note">Field formula: LTV = average check x purchases per month x margin
({config.margin:.0%}) x lifetime ({config.ltv_lifetime_months:g} months). Model CLV: the
scorer's mean per customer (revenue over its configured lifetime).</p></div></div></section>"""


def budget_section(curve: pd.DataFrame, summary: Mapping[str, Any], cur: str) -> str:
    """What a budget buys: expected value against budget, and where spending stops paying."""
    top = float(curve["expected_value"].iloc[-1])
    saturation = float(curve["budget"].iloc[-1])
    spent, value = summary["total_cost"], summary["total_expected_value"]
    return f"""
<section id="budget"><h2>Expected value against budget</h2>
{figure_budget_curve(curve, spent, value, cur)}
<p>Every contact worth making costs <b>{money(saturation, cur, 0)}</b> in all and is expected to
bring <b>{money(top, cur, 0)}</b> of margin above its cost; beyond that, spending more stops
paying. The list below spends <b>{money(spent, cur, 0)}</b> for
<b>{money(value, cur, 0)}</b>. Each budget's list is a prefix of one
ordering, so a larger budget never yields less.</p></section>"""


def control_section(plan: WinbackPlan) -> str:
    """Who is held out, who waits for evidence, and which cells can show their effect;
    after a campaign, whether the predicted uplift happened."""
    summary = plan.summary
    cells = plan.cells
    if len(cells):
        cells = cells.assign(cell=cells["channel"] + " / " + cells["status"]).set_index("cell")
        cells = cells.drop(columns=["channel", "status"])
    return f"""
<section id="control-group"><h2>Control group and exploration</h2>
<p>Of the <b>{summary["chosen"]:,}</b> customers chosen, <b>{summary["control"]:,}</b> are held
out at random ({summary["holdout_share"]:.0%} in every channel and status) and must not be
contacted: comparing them with the contacted customers is how the next campaign import
measures what the contacts did. <b>{summary["deferred"]:,}</b> wait: no campaign has measured
their channel and status yet, so only {summary["exploration_share"]:.0%} of each such cell is
contacted first. The list's campaign log (<code>&lt;list&gt;.campaign.csv</code>) holds the
contacted and the control customers for <code>winback campaign import</code>.</p>
{
        frame_table(
            cells,
            index_label="channel / status",
            formats={
                "treatment": _count,
                "control": _count,
                "deferred": _count,
                "predicted_uplift": lambda v: f"{v * 100:+.1f} pp",
                "minimal_detectable_uplift": lambda v: f"{v * 100:.1f} pp",
                "measurable": lambda v: "yes" if v else "too small",
            },
            attrs='id="control-cells"',
        )
        if len(cells)
        else ""
    }
<p class="note">A cell can show its effect when its groups are large enough to detect the
predicted uplift (5% test, 80% power); smaller cells are still logged and add up over
campaigns.</p></section>"""


def monitoring_section(monitoring: Mapping[str, Any], currency: str) -> str:
    """Predicted vs realised uplift by decile, and predicted vs realised value."""
    deciles = pd.DataFrame(monitoring.get("uplift_by_decile", []))
    value = monitoring.get("value")
    if deciles.empty and not value:
        return ""
    words = ""
    if value:
        predicted = money(value["predicted_value"], currency, 0)
        realised = money(value["realised_value"], currency, 0)
        cost = money(value["contact_cost"], currency, 0)
        words = (
            f"<p>The contacted customers were predicted to bring {predicted} and brought "
            f"{realised} (contacts cost {cost}).</p>"
        )
    table = (
        frame_table(
            deciles.set_index("decile"),
            index_label="decile of predicted uplift",
            formats={
                "n_treatment": _count,
                "n_control": _count,
                "predicted_uplift": lambda v: f"{v * 100:+.1f} pp",
                "realised_uplift": lambda v: "too few" if pd.isna(v) else f"{v * 100:+.1f} pp",
            },
            attrs='id="monitoring-deciles"',
        )
        if len(deciles)
        else ""
    )
    return f"""
<section id="monitoring"><h2>Did the last list decide right?</h2>{words}{table}
<p class="note">Realised uplift = response of the contacted minus response of the control
group within each slice of predicted uplift; both groups were drawn at random from the same
chosen customers, so the comparison is fair.</p></section>"""


def list_section(
    winback_list: pd.DataFrame, summary: Mapping[str, Any], config: ChannelConfig, source: str
) -> str:
    """Whom to contact: the list's totals and its top rows with reasons (the channel mix is
    :func:`pipelines.report.list_sections.channel_roi_section`)."""
    cur = config.currency
    top_rows = winback_list.sort_values("rank").head(TOP_ROWS)
    list_formats = {
        "p_return_if_contacted": lambda v: f"{v:.0%}",
        "p_return_anyway": lambda v: f"{v:.0%}",
        "value_if_returned": lambda v: money(v, cur, 2),
        "cost": lambda v: money(v, cur, 2),
        "expected_incremental_value": lambda v: money(v, cur, 2),
    }
    return f"""
<section id="list" data-contacts="{summary["contacts"]}"
 data-total-cost="{summary["total_cost"]:.2f}"
 data-total-expected-value="{summary["total_expected_value"]:.2f}">
<h2>The win-back list</h2>
<p><b>{summary["contacts"]:,}</b> contacts, expected cost <b>{money(summary["total_cost"], cur, 0)}
</b>, expected incremental value <b>{money(summary["total_expected_value"], cur, 0)}</b>
{esc(source)}; by channel in "Channel mix and ROI" above.</p>
<h2 style="margin-top:18px">Top {len(top_rows)}</h2>
{list_table(top_rows, list_formats)}
</section>"""


def campaign_section(results: Mapping[str, Any], config: ChannelConfig) -> str:
    """What the last campaign did: uplift by channel against the control group; cells below
    ``min_campaign_group_size`` are shown as ignored."""
    minimum = int(config.min_campaign_group_size)
    frame = campaign_table(results, config.currency, minimum)
    frequency = pd.DataFrame(results.get("frequency", [])).set_index("group")
    figure = figure_campaign(results, minimum) or ""
    return f"""
<section id="campaign"><h2>Campaign results</h2>
<p>Contacts {results.get("first_contact")} to {results.get("last_contact")}:
{results.get("contacts_measured", 0):,} measured over {results.get("horizon_days")} days
({results.get("contacts_window_not_over", 0):,} not yet over). Measured response rates
replace the prior in new rankings.</p>
<div class="grid"><div>{figure}</div><div>
{
        frame_table(
            frequency,
            index_label="group",
            formats={
                "customers": _count,
                "orders_per_month_before": lambda v: f"{v:.2f}",
                "orders_per_month_after": lambda v: f"{v:.2f}",
            },
            attrs='id="campaign-frequency"',
        )
    }
<p class="note">Orders a month in the {results.get("horizon_days")} days before the contact
and after it: the campaign's effect is the treated group's change minus the control
group's.</p></div></div>
{frame_table(frame, index_label="channel", attrs='id="campaign-table"')}
{small_cells_note(results, minimum)}</section>"""
