"""``winback rank`` and ``winback campaign``: whom to contact, and what campaigns measured.

Thin commands over :mod:`pipelines.economics`: they parse, call the stage, print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipelines.cli.console import console
from pipelines.cli.options import (
    CampaignResultsOption,
    ChannelsOption,
    ColumnMapOption,
    ConfigOption,
    TransactionsOption,
    user_errors_exit_2,
)
from pipelines.paths import DEFAULT_CAMPAIGN_RESULTS, DEFAULT_LIST

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
) -> None:
    """Whom to wake, by which channel, under a budget: the marketer's task list.

    For every sleeping, at-risk or lost customer and every channel: incremental value =
    (P(return | contacted) - P(return | not contacted)) x value if returned - cost. At most
    one contact per customer, capacities respected, best value first; a bigger budget never
    gives less. Columns: rank, customer_id, status, channel, offer, p_return_if_contacted,
    p_return_anyway, value_if_returned, cost, expected_incremental_value, contact_by, reason.
    """
    from pipelines.economics.rank import channel_mix_lines, rank_to_csv

    result = rank_to_csv(scores, budget, out, channels, limit, campaign_results)
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
    console.print(f"[green]wrote[/green] {len(result.plan.list):,} rows to {result.out}")


campaign_app = typer.Typer(
    name="campaign",
    help="Learn from campaigns: measure response against a control group.",
    no_args_is_help=True,
)


@campaign_app.command("import")
@user_errors_exit_2
def campaign_import(
    log: Annotated[
        Path,
        typer.Option(
            help="Campaign log CSV: customer_id, contacted_at, channel, offer, group "
            "(treatment or control)."
        ),
    ],
    transactions: TransactionsOption,
    horizon_days: Annotated[
        int, typer.Option(help="Days after the contact in which a purchase counts.", min=1)
    ] = 90,
    out: Annotated[
        Path, typer.Option(help="Results JSON, read by later rankings.")
    ] = DEFAULT_CAMPAIGN_RESULTS,
    column_map: ColumnMapOption = None,
    config: ConfigOption = None,
) -> None:
    """Measure a campaign: response and spend per channel and segment, treated vs control.

    Uplift with 95% confidence intervals (Newcombe for response, normal for spend), orders a
    month before vs after. The measured response rates replace the priors of
    configs/channels.yaml in later `winback rank` runs.
    """
    from features.config import load_feature_config
    from features.contract import parse_column_map
    from pipelines.economics.campaign import import_campaign

    results = import_campaign(
        log,
        transactions,
        load_feature_config(config),
        horizon_days,
        out,
        parse_column_map(column_map),
    )
    console.print(campaign_table(results, horizon_days))
    for row in results["frequency"]:
        console.print(
            f"{row['group']}: {row['orders_per_month_before']:.2f} -> "
            f"{row['orders_per_month_after']:.2f} orders a month (before -> after)"
        )
    if results["contacts_window_not_over"]:
        console.print(
            f"[yellow]{results['contacts_window_not_over']:,} contacts left out: their "
            f"{horizon_days}-day window is not over yet[/yellow]"
        )
    console.print(f"[green]wrote[/green] {out}; later rankings use these response rates")


def campaign_table(results: dict, horizon_days: int) -> Table:
    """Treated vs control response per channel (and overall), with the uplift's interval."""
    from rich import box

    table = Table(
        title=f"Response within {horizon_days} days, treated (T) vs control (C); "
        "uplift in percentage points, spend uplift per contact",
        box=box.SIMPLE_HEAD,
    )
    columns = ("channel", "T", "C", "resp. T", "resp. C", "uplift")
    for column in (*columns, "95% CI", "spend"):
        table.add_column(column, justify="left" if column == "channel" else "right", no_wrap=True)
    for record in [dict(results["overall"], channel="all"), *results["by_channel"]]:
        if record.get("uplift") is None:
            continue
        lower, upper = record["uplift_ci"]
        table.add_row(
            str(record["channel"]),
            f"{record['n_treatment']:,}",
            f"{record['n_control']:,}",
            f"{record['response_treatment']:.1%}",
            f"{record['response_control']:.1%}",
            f"{record['uplift'] * 100:+.1f}",
            f"{lower * 100:+.1f}..{upper * 100:+.1f}",
            f"{record['spend_uplift']:+,.2f}",
        )
    return table


app.add_typer(campaign_app, rich_help_panel=PANEL)
