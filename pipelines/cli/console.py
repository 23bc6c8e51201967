"""Rich console helpers shared by the CLI commands: progress bars and result tables."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # the types only: the contract would pull in pandas and duckdb
    from rich.progress import Progress

    from features.contract import LoadReport

console = Console()
error_console = Console(stderr=True)


@contextmanager
def working(description: str) -> Iterator[None]:
    """A spinner with ``description`` while a long step runs (reading a big file), unless
    a progress bar already shows the command's steps: rich allows one live display."""
    from rich.errors import LiveError

    status = console.status(description)
    try:
        status.start()
    except LiveError:  # inside stage_progress: its bar names the step already
        yield
        return
    try:
        yield
    finally:
        status.stop()


@contextmanager
def stage_progress(total_steps: int) -> Iterator[Progress]:
    """A progress bar over the named steps of a command (shown on a terminal).

    ``rich.progress`` is imported here, not at the top: only ``demo`` draws a bar, and
    ``winback --help`` should not pay for it (issue 18's start-up target).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with progress:
        progress.add_task("starting", total=total_steps)
        yield progress


def advance(progress: Progress, description: str) -> None:
    """Mark the previous step done and name the next one."""
    task = progress.tasks[0]
    if task.description != "starting":
        progress.advance(task.id)
    progress.update(task.id, description=description)


def load_report_table(report: LoadReport, rows_after_as_of: int | None = None) -> Table:
    """Rows read / accepted / quarantined by reason; the counts always add up."""
    table = Table(title=f"Transactions from {report.source}", show_header=False)
    table.add_column("what")
    table.add_column("rows", justify="right")
    table.add_row("rows read", f"{report.rows_read:,}")
    table.add_row("accepted", f"{report.rows_accepted:,}")
    table.add_row("quarantined", f"{report.rows_quarantined:,}")
    for reason, count in report.quarantined_by_reason.items():
        table.add_row(f"  {reason}", f"{count:,}")
    if rows_after_as_of is not None:
        table.add_row("accepted but after the as-of date (not used)", f"{rows_after_as_of:,}")
    table.add_row("exact duplicate rows (kept, reported)", f"{report.duplicate_rows:,}")
    table.add_row("return rows (negative amounts, netted)", f"{report.return_rows:,}")
    if report.amount_mismatch_rows:
        table.add_row(
            "amount differs from quantity x unit_price (amount used)",
            f"{report.amount_mismatch_rows:,}",
        )
    non_product = report.quarantined_amount_by_reason.get("non_product_line")
    if non_product:
        table.add_row(
            "value of non-product lines (postage, fees; not spend)", f"${non_product:,.2f}"
        )
    if report.quarantine_path:
        table.caption = f"quarantined rows written to {report.quarantine_path}"
    return table


def print_load_report(report: LoadReport, rows_after_as_of: int | None = None) -> None:
    """The load table, then what reading noticed (one line each): every command that reads
    transactions prints this, so no row is dropped without a word."""
    console.print(load_report_table(report, rows_after_as_of))
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False, soft_wrap=True)


def spend_reconciliation_line(table: Any) -> str:
    """Money in = money out, for a :class:`features.table.FeatureTable`: the net spend of
    the lines used = the feature table's spend + the spend of the customers left out
    (lines, but no purchase: only returns), who are also left out of every model fit."""
    line = (
        f"net spend in {_money(table.net_spend)} = {_money(table.table_spend)} in the feature "
        f"table + {_money(table.excluded_spend)} of {table.customers_without_purchase:,} "
        "customer(s) with only returns (left out of the table and of every model fit)"
    )
    return line if table.spend_reconciles() else f"[red]{line} (does not reconcile)[/red]"


def _money(value: float) -> str:
    return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"


def status_table(summary: Any) -> Table:
    """Customers, share and past revenue by status (the output of ``status_summary``)."""
    table = Table(title="Customers by status")
    for column in ("status", "customers", "share", "past revenue"):
        table.add_column(column, justify="left" if column == "status" else "right")
    for status, row in summary.iterrows():
        table.add_row(
            str(status),
            f"{int(row['customers']):,}",
            f"{row['share']:.1%}",
            f"${row['past_revenue']:,.0f}",
        )
    return table


def evaluation_tables(result: Any) -> list[Table]:
    """Two narrow tables (dormancy, spend) that stay readable in an 80-column terminal."""
    window = f"({result.cutoff}, +{result.horizon_days} days]"

    def cell(value: float | None, pattern: str = "{:.3f}") -> str:
        return "-" if value is None else pattern.format(value)

    dormancy = Table(
        title=f"Dormancy in {window}: {result.n_customers:,} customers, "
        f"{result.dormant_share:.1%} dormant"
    )
    spend = Table(title=f"Spend in {window}: ${result.actual_spend:,.0f} actually spent")
    for table, headers in (
        (dormancy, ("candidate", "kind", "AUC", "avg precision", "Brier", "lift top 10%")),
        (spend, ("candidate", "kind", "Gini", "Spearman", "pred/actual", "top 10%", "top 20%")),
    ):
        for header in headers:
            table.add_column(
                header, justify="left" if header in ("candidate", "kind") else "right", no_wrap=True
            )
    for name, row in result.rows.items():
        if row["dormancy"]:
            d = row["dormancy"]
            dormancy.add_row(
                name,
                row["kind"],
                cell(d["auc"]),
                cell(d["average_precision"]),
                cell(d["brier"]),
                cell(d["lift_top_decile"], "{:.2f}"),
            )
        if row["spend"]:
            s = row["spend"]
            spend.add_row(
                name,
                row["kind"],
                cell(s["normalized_gini"]),
                cell(s["spearman"]),
                cell(s["predicted_over_actual"], "{:.2f}"),
                cell(s["revenue_captured_top10"], "{:.1%}"),
                cell(s["revenue_captured_top20"], "{:.1%}"),
            )
    return [dormancy, spend]
