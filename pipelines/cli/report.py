"""``winback report``: the marketer's HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.console import console, print_load_report
from pipelines.cli.options import (
    CampaignResultsOption,
    ChannelsOption,
    ColumnMapOption,
    DateFormatOption,
    DelimiterOption,
    EncodingOption,
    IdFormatOption,
    read_options,
    user_errors_exit_2,
)
from pipelines.cli.transactions import load_for_command
from pipelines.paths import (
    DEFAULT_LIST,
    DEFAULT_REPORT,
    DEFAULT_SCORES,
    quarantine_path_for_command,
)

app = typer.Typer()
PANEL = "Decisions"


@app.command(rich_help_panel=PANEL)
@user_errors_exit_2
def report(
    scores: Annotated[Path, typer.Option(help="Scores Parquet.")] = DEFAULT_SCORES,
    transactions: Annotated[
        str,
        typer.Option(
            "--transactions",
            "-t",
            help="Transactions file (CSV or Parquet) or 'cdnow', for CRR by month.",
        ),
    ] = "cdnow",
    out: Annotated[Path, typer.Option(help="HTML file.")] = DEFAULT_REPORT,
    list_path: Annotated[
        Path | None,
        typer.Option(
            "--list",
            help="Win-back list CSV to report on (default: out/winback_list.csv when it "
            "exists, else the list of every contact worth making).",
        ),
    ] = None,
    channels: ChannelsOption = None,
    campaign_results: CampaignResultsOption = None,
    column_map: ColumnMapOption = None,
    delimiter: DelimiterOption = None,
    encoding: EncodingOption = None,
    date_format: DateFormatOption = None,
    id_format: IdFormatOption = "text",
) -> None:
    """One self-contained HTML page (works offline) for the marketer.

    Customers by status and ladder stage, cadence, ABC-XYZ, sleepers and lost revenue (rule of
    thumb and model), CRR by month, LTV by segment, expected value against budget, campaign
    results, and the top of the win-back list.
    """
    from pipelines.report.build import write_report

    if list_path is None and DEFAULT_LIST.exists():
        list_path = DEFAULT_LIST
    loaded = load_for_command(
        transactions,
        column_map,
        read_options(delimiter, encoding, date_format, id_format),
        quarantine_path_for_command("report", out),
    )
    path = write_report(scores, loaded, out, list_path, channels, campaign_results)
    print_load_report(loaded.report)
    console.print(f"[green]wrote[/green] {path} (open it in a browser; it works offline)")
