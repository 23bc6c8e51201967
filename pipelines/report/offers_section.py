"""Which offers each channel could carry, how many rows got each, and why the chosen one won.

When 99% of a list carries one offer, a marketer asks whether that is a decision or a bug.
The offer of a row comes from one of three places (see
:func:`pipelines.economics.options.contact_options`): the channel's own ``offer`` in
``configs/channels.yaml``; the first ``offer_rules`` entry whose conditions the customer
meets; or, once a campaign measured other offers on the channel (a learned response), the
offer with the highest value at the uplift's lower bound net of its cost. This section
counts the rows per (channel, offer) and names which of the three applied, with the rule's
conditions written from the config. The rule each customer met is found by the economics'
own :func:`~pipelines.economics.options.assign_offers`, run on the rules renamed to their
number, so the matching is never re-implemented here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from pipelines.economics.channels import ChannelConfig, OfferRule
from pipelines.economics.options import assign_offers
from pipelines.economics.plan import WinbackPlan
from pipelines.report.html import esc, frame_table


def rule_words(rule: OfferRule) -> str:
    """An offer rule's conditions in words, from its values."""
    parts = []
    for key, value in rule.when.items():
        if key == "min_days_since_last":
            parts.append(f"no order for at least {float(value):g} days")
        elif key == "min_orders":
            parts.append(f"at least {float(value):g} orders")
        elif key == "favorite_product":
            parts.append("has a favourite product" if value else "no favourite product")
        elif key == "min_favorite_share":
            parts.append(
                f"favourite product at least {float(value):.0%} of their lines (checked only "
                "when the scores carry favorite_product_share)"
            )
        else:
            values = value if isinstance(value, list | tuple) else [value]
            parts.append(f"{key.replace('_', ' ')} {' or '.join(str(v) for v in values)}")
    return " and ".join(parts) if parts else "everyone else (no conditions)"


def rule_of_each(customers: pd.DataFrame, config: ChannelConfig) -> np.ndarray:
    """The index of the offer rule that gives each customer their offer (-1: none)."""
    numbered = tuple(replace(rule, offer=str(k)) for k, rule in enumerate(config.offer_rules))
    found = assign_offers(customers.reset_index(drop=True), replace(config, offer_rules=numbered))
    return found.fillna(-1).astype(int).to_numpy()


def _eligible(channel: str, config: ChannelConfig, learned: bool) -> str:
    forced = config.channels[channel].offer if channel in config.channels else None
    if forced is not None:
        return forced
    names = list(dict.fromkeys(rule.offer for rule in config.offer_rules))
    return ", ".join(names) + (" (+ offers a campaign measured)" if learned else "")


def _why(channel: str, offer: str, rule: int, config: ChannelConfig) -> str:
    forced = config.channels[channel].offer if channel in config.channels else None
    if forced is not None:
        return f"the channel always carries it (channels.{channel}.offer)"
    if 0 <= rule < len(config.offer_rules) and config.offer_rules[rule].offer == offer:
        earlier = "" if rule == 0 else f" (rule{'s 1-' if rule > 1 else ' '}{rule} do not hold)"
        return f"offer rule {rule + 1}{earlier}: {rule_words(config.offer_rules[rule])}"
    return (
        "measured by a campaign on this channel: the highest value at the lower bound of "
        "the uplift, net of its cost"
    )


def offers_by_channel(winback_list: pd.DataFrame, plan: WinbackPlan) -> pd.DataFrame:
    """Per (channel, offer) of the list's rows: eligible offers, rows, share, and why."""
    config = plan.config
    rows = plan.chosen[plan.chosen["group"] == "treatment"]
    listed = set(winback_list["customer_id"].astype(str))
    rows = rows[rows["customer_id"].astype(str).isin(listed)]
    customers = plan.options.customers.set_index(plan.options.customers["customer_id"].astype(str))
    rule = rule_of_each(customers.loc[rows["customer_id"].astype(str)], config)
    forced = [config.channels[c].offer is not None for c in rows["channel"]]
    rule = np.where(forced, -1, rule)  # a channel's own offer overrides every rule
    frame = pd.DataFrame(
        {
            "channel": rows["channel"].to_numpy(),
            "offer": rows["offer_name"].to_numpy(),
            "rule": rule,
        }
    )
    learned = plan.options.response_source != "prior"
    records = []
    for (channel, offer, rule_index), group in frame.groupby(["channel", "offer", "rule"]):
        records.append(
            {
                "channel": channel,
                "eligible offers": _eligible(channel, config, learned),
                "offer": offer,
                "rows": len(group),
                "share of the list": len(group) / max(len(frame), 1),
                "why it wins": _why(channel, offer, int(rule_index), config),
            }
        )
    columns = ["channel", "eligible offers", "offer", "rows", "share of the list", "why it wins"]
    table = pd.DataFrame(records, columns=columns)
    return table.sort_values(["rows", "channel"], ascending=[False, True]).reset_index(drop=True)


def _rules_alone(winback_list: pd.DataFrame, plan: WinbackPlan) -> list[tuple[int, int]]:
    """For each offer rule: how many listed customers meet its conditions on their own."""
    config = plan.config
    customers = plan.options.customers
    customers = customers[
        customers["customer_id"].astype(str).isin(set(winback_list["customer_id"].astype(str)))
    ]
    counts = []
    for k, rule in enumerate(config.offer_rules):
        alone = assign_offers(
            customers.reset_index(drop=True), replace(config, offer_rules=(rule,))
        )
        counts.append((k, int(alone.notna().sum())))
    return counts


def offers_section(winback_list: pd.DataFrame, plan: WinbackPlan) -> str:
    """Offers per channel: eligible, chosen, and why; the rules in order with their reach."""
    config = plan.config
    table = offers_by_channel(winback_list, plan)
    if table.empty:
        return ""
    top = table.groupby("offer")["rows"].sum().sort_values(ascending=False)
    top_share = float(top.iloc[0]) / max(int(table["rows"].sum()), 1)
    rules = "".join(
        f"<li><b>{esc(config.offer_rules[k].offer)}</b> "
        f"(&ldquo;{esc(config.offers[config.offer_rules[k].offer].text)}&rdquo;): "
        f"{esc(rule_words(config.offer_rules[k]))}; holds for {n:,} of the list's customers</li>"
        for k, n in _rules_alone(winback_list, plan)
    )
    if plan.options.response_source == "prior":
        how = (
            "No campaign has measured offers yet: the response rates (the prior, or a "
            "campaign's rates by channel and status) are the same whatever the offer, so "
            "offers are not compared on value and the first offer rule a customer meets "
            "decides. Once <code>winback campaign "
            "import</code> has measured offers on a channel, each customer gets the one with "
            "the highest value net of its cost."
        )
    else:
        how = (
            "A campaign has measured offers: where it did, each customer gets the offer with "
            "the highest value at the lower bound of the uplift, net of its cost; elsewhere "
            "the offer rules decide."
        )
    formats: dict[str, Any] = {"rows": lambda v: f"{int(v):,}"}
    formats["share of the list"] = lambda v: f"{v:.1%}"
    return f"""
<section id="offers"><h2>Offers: which were eligible, and why this one</h2>
<p><b>{esc(top.index[0])}</b> goes to <b>{top_share:.0%}</b> of the list. {how}</p>
{
        frame_table(
            table.set_index("channel"),
            index_label="channel",
            text_columns=("eligible offers", "offer", "why it wins"),
            formats=formats,
            attrs='id="offers-table"',
        )
    }
<p class="note">Offer rules, checked in this order (configs/channels.yaml, offer_rules; the
first that holds wins, a channel with its own offer overrides them):</p>
<ol class="note" id="offer-rules">{rules}</ol></section>"""
