"""Rich console helpers shared by the CLI commands: progress, tables, one-line errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from features.contract import LoadReport

console = Console()
error_console = Console(stderr=True)


@contextmanager
def stage_progress(total_steps: int) -> Iterator[Progress]:
    """A progress bar over the named steps of a command (shown on a terminal)."""
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
    if report.quarantine_path:
        table.caption = f"quarantined rows written to {report.quarantine_path}"
    return table
