"""Stages ``winback rank`` and ``winback report``: read the inputs, call the pure economics,
write the CSV list and the HTML page. I/O lives here, the logic in
:mod:`pipelines.economics.plan` and :mod:`pipelines.report.render`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.economics.campaign import load_campaign_results, measured_response_rates
from pipelines.economics.channels import DEFAULT_CHANNELS_PATH, ChannelConfig, load_channel_config
from pipelines.economics.plan import WinbackPlan, plan_winback
from pipelines.paths import DEFAULT_CAMPAIGN_RESULTS
from pipelines.scoring.table import ScoresTable, read_list, read_scores, write_list


def economics_config(
    channels_path: str | Path | None = None,
    campaign_results_path: str | Path | None = None,
) -> tuple[ChannelConfig, dict[str, Any] | None]:
    """The channels config with campaign-measured response rates applied, and the results.

    ``campaign_results_path=None`` uses ``out/campaign_results.json`` when it exists; an
    explicit path must exist.
    """
    config = load_channel_config(channels_path)
    path = Path(campaign_results_path) if campaign_results_path else DEFAULT_CAMPAIGN_RESULTS
    if campaign_results_path is None and not path.exists():
        return config, None
    results = load_campaign_results(path)
    return config.with_measured_response_rates(measured_response_rates(results), str(path)), results


@dataclass
class RankResult:
    plan: WinbackPlan
    scores: ScoresTable
    out: Path
    campaign_results: dict[str, Any] | None


def rank_to_csv(
    scores_path: str | Path,
    budget: float,
    out: str | Path,
    channels_path: str | Path | None = None,
    limit: int | None = None,
    campaign_results_path: str | Path | None = None,
) -> RankResult:
    """Read scores, choose the list under ``budget``, write it as CSV."""
    table = read_scores(scores_path)
    config, results = economics_config(channels_path, campaign_results_path)
    plan = plan_winback(table.scores, budget, config, limit=limit, as_of=table.as_of)
    path = write_list(plan.list, out)
    return RankResult(plan=plan, scores=table, out=path, campaign_results=results)


def write_report(
    scores_path: str | Path,
    transactions: Any,
    out: str | Path,
    list_path: str | Path | None = None,
    channels_path: str | Path | None = None,
    campaign_results_path: str | Path | None = None,
    budget: float | None = None,
    plan: WinbackPlan | None = None,
) -> Path:
    """Write the self-contained HTML report.

    The list shown is ``list_path`` when given (as written by ``winback rank``); otherwise it
    is computed for ``budget`` (default: every contact worth making). ``plan``: the plan the
    list came from, when the caller has it (saves computing the budget curve again).
    """
    from features.contract import load_transactions
    from pipelines.report.render import render_report

    table = read_scores(scores_path)
    config, results = economics_config(channels_path, campaign_results_path)
    loaded = load_transactions(transactions)
    if list_path is not None:
        winback_list = read_list(list_path)
        spent = float(winback_list["cost"].sum())
        if plan is None:
            plan = plan_winback(
                table.scores, budget if budget is not None else spent, config, as_of=table.as_of
            )
        list_source = f"(from {list_path})"
    else:
        plan = plan_winback(
            table.scores, budget if budget is not None else float("1e18"), config, as_of=table.as_of
        )
        winback_list = plan.list
        list_source = (
            f"(budget {config.currency}{budget:,.0f})"
            if budget is not None
            else "(every contact worth making)"
        )
    page = render_report(
        table.scores,
        loaded.transactions,
        winback_list,
        plan,
        config,
        campaign_results=results,
        as_of=table.as_of,
        horizon_days=table.horizon_days,
        sources={
            "scores": str(scores_path),
            "transactions": loaded.report.source,
            "channels": str(channels_path or DEFAULT_CHANNELS_PATH.name),
            "list": list_source,
        },
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def channel_mix_lines(winback_list: pd.DataFrame, currency: str) -> list[str]:
    """One line per channel: contacts, cost, expected value (for the console)."""
    lines = []
    grouped = (
        winback_list.groupby("channel")
        .agg(
            contacts=("customer_id", "size"),
            cost=("cost", "sum"),
            value=("expected_incremental_value", "sum"),
        )
        .sort_values("contacts", ascending=False)
    )
    for channel, row in grouped.iterrows():
        lines.append(
            f"{channel}: {int(row['contacts']):,} contacts, cost {currency}{row['cost']:,.2f}, "
            f"expected value {currency}{row['value']:,.2f}"
        )
    return lines
