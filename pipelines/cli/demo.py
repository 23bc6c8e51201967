"""``winback demo``: everything, end to end, on the bundled CDNOW data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.console import advance, console, stage_progress, status_table
from pipelines.cli.options import user_errors_exit_2
from pipelines.paths import DEFAULT_OUT_DIR

app = typer.Typer()
PANEL = "Start here"


@app.command(rich_help_panel=PANEL)
@user_errors_exit_2
def demo(
    out_dir: Annotated[Path, typer.Option(help="Folder for every output.")] = DEFAULT_OUT_DIR,
) -> None:
    """Run the whole pipeline on the bundled CDNOW data into out/ and print a summary."""
    from pipelines.demo import demo_step_count, run_demo

    with stage_progress(demo_step_count()) as progress:
        summary = run_demo(out_dir, on_step=lambda step: advance(progress, step))
    console.print(status_table(summary.status))
    for line in summary.lines:
        console.print(line)
