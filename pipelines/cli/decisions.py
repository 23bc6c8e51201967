"""``winback rank``: whom to contact, by which channel, under a budget.

A thin command over :mod:`pipelines.economics.rank`: it parses, calls the stage, prints.
The campaign commands that learn from what a list did are in :mod:`pipelines.cli.campaign`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.console import console
from pipelines.cli.options import (
    CampaignResultsOption,
    ChannelsOption,
    user_errors_exit_2,
)
from pipelines.paths import DEFAULT_LIST

app = typer.Typer()
PANEL = "Decisions"


@app.command(rich_help_panel=PANEL)
@user_errors_exit_2
def rank(
    scores: Annotated[Path, typer.Option(help="Scores Parquet from `winback score`.")],
    budget: Annotated[
        float, typer.Option(help="Total budget (expected cost of contacts and offers).")
    ],
    out: Annotated[Path, typer.Option(help="Win-back list CSV.")] = DEFAULT_LIST,
    channels: ChannelsOption = None,
    limit: Annotated[
        int | None, typer.Option(help="Keep only the top N rows of the list.", min=1)
    ] = None,
    campaign_results: CampaignResultsOption = None,
    holdout_share: Annotated[
        float | None,
        typer.Option(
            help="Share of the chosen customers held out at random in each channel x status "
            "cell as the control group (default: holdout_share in the channels file, 0.10).",
            min=0.01,
            max=0.99,
        ),
    ] = None,
    uplift_model: Annotated[
        Path | None,
        typer.Option(
            help="Uplift model from `winback campaign learn` or `campaign import` (default: "
            "out/uplift_model.json when it exists). Used only when its promotion guard "
            "found it better than the prior on held-out randomised customers.",
        ),
    ] = None,
    xlsx: Annotated[
        bool,
        typer.Option(
            help="Also write the list as an Excel workbook beside the CSV (<out>.xlsx), with "
            "the ids as text so a spreadsheet keeps 00042 as 00042.",
        ),
    ] = False,
    force_uplift: Annotated[
        bool,
        typer.Option(
            help="Use the uplift model even though its guard did not promote it (the list "
            "says so). For experiments, not for production lists.",
        ),
    ] = False,
) -> None:
    """Whom to wake, by which channel, under a budget: the marketer's task list.

    For every sleeping, at-risk or lost customer and every channel: incremental value =
    (P(return | contacted) - P(return | not contacted)) x value if returned - cost. At most
    one contact per customer, capacities respected, best value first; a bigger budget never
    gives less. Columns: rank, customer_id, status, channel, offer, p_return_if_contacted,
    p_return_anyway, value_if_returned, cost, expected_incremental_value, contact_by, reason,
    then the context: as_of, model_version, list_id, abc, ladder_stage, last_order_date,
    days_since_last_order, clv, favorite_product, churn_risk (low/medium/high by P(dormant),
    thresholds in the channels file) and uplift_group (persuadable, sure_thing, lost_cause,
    sleeping_dog).

    Every list reserves a randomised **control group** (not in the list the CRM gets) and
    writes its campaign log beside it (`<out>.campaign.csv`: contacted and control
    customers, the format `winback campaign import` reads). Channels and statuses no
    campaign has measured yet are explored: only part of them is contacted.

    The uplift decided on is the prior of the channels file (with campaign-measured rates)
    unless a learned uplift model was promoted (see `--uplift-model`).
    """
    from pipelines.economics.rank import channel_mix_lines, group_lines, rank_to_csv

    result = rank_to_csv(
        scores,
        budget,
        out,
        channels,
        limit,
        campaign_results,
        holdout_share,
        uplift_model,
        force_uplift,
        xlsx,
    )
    if result.uplift is not None and result.uplift.note:
        from rich.markup import escape

        style = "green" if result.uplift.learned else "yellow"
        console.print(f"[{style}]{escape(result.uplift.note)}[/{style}]", highlight=False)
    summary = result.plan.summary
    cur = result.plan.config.currency
    console.print(
        f"{summary['eligible_customers']:,} eligible customers at {summary['as_of']}; "
        f"{summary['contacts']:,} worth contacting within {cur}{budget:,.2f}: expected cost "
        f"{cur}{summary['total_cost']:,.2f}, expected incremental value "
        f"{cur}{summary['total_expected_value']:,.2f}",
        highlight=False,
    )
    for line in channel_mix_lines(result.plan.list, cur):
        console.print(f"  {line}", highlight=False)
    if summary["measured_response_rates"]:
        console.print(f"response rates measured by campaign: {summary['measured_response_rates']}")
    console.print(
        f"every contact worth making costs {cur}{summary['saturation_budget']:,.2f} "
        f"(expected value {cur}{summary['max_expected_value']:,.2f})",
        highlight=False,
    )
    for line in group_lines(result.plan):
        console.print(line, highlight=False)
    console.print(f"[green]wrote[/green] {len(result.plan.list):,} rows to {result.out}")
    if result.workbook is not None:
        console.print(f"[green]wrote[/green] the same list as a workbook to {result.workbook}")
    console.print(
        f"[green]wrote[/green] the campaign log ({len(result.plan.campaign):,} contacted and "
        f"control rows) to {result.campaign_log}"
    )
