"""The root command group, which imports a command's module only when that command runs.

Why: Typer builds every command of every module before it can print ``winback --help``,
and its Rich help imports Markdown and traceback rendering: 3x a bare ``import typer,
rich`` (issue 18 asks for at most 2x). Here the root help is printed from :data:`COMMANDS`,
a table of names, modules, panels and one-line summaries, with the same Rich panels; a
command's module is imported when it is invoked or asked for its own ``--help``, which
Typer then renders as before. ``tests/pipelines/cli/test_lazy_commands.py`` checks that the table
says what the modules define, so the summaries cannot drift from the docstrings.
"""

from __future__ import annotations

import functools
import importlib
import re
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperGroup


@dataclass(frozen=True)
class LazyCommand:
    """One root command: where it is defined and what the root help says of it."""

    name: str
    module: str
    panel: str
    summary: str


#: Every root command, in the order the help lists them (panels in first-seen order).
COMMANDS = (
    LazyCommand(
        "demo",
        "pipelines.cli.demo",
        "Start here",
        "Run the whole pipeline on the bundled CDNOW data into out/ and print a summary.",
    ),
    LazyCommand(
        "features",
        "pipelines.cli.data",
        "Data",
        "Build the per-customer feature table at an as-of date.",
    ),
    LazyCommand(
        "evaluate",
        "pipelines.cli.modelling",
        "Models",
        "Judge models out-of-time against the simple baselines.",
    ),
    LazyCommand(
        "train",
        "pipelines.cli.modelling",
        "Models",
        "Train XGBoost on time-split snapshots, log the run to MLflow, register it.",
    ),
    LazyCommand(
        "score",
        "pipelines.cli.modelling",
        "Models",
        "Score every customer at an as-of date with the champion (or --model-version).",
    ),
    LazyCommand(
        "promote",
        "pipelines.cli.modelling",
        "Models",
        "Make a version champion by hand (recorded as a manual promotion with its reason).",
    ),
    LazyCommand(
        "models",
        "pipelines.cli.models",
        "Models",
        "The registered scorer versions: list them, show one.",
    ),
    LazyCommand(
        "forecast",
        "pipelines.cli.forecast",
        "Models",
        "Forecast the purchases and spend of a cohort of new customers.",
    ),
    LazyCommand(
        "rank",
        "pipelines.cli.decisions",
        "Decisions",
        "Whom to wake, by which channel, under a budget: the marketer's task list.",
    ),
    LazyCommand(
        "campaign",
        "pipelines.cli.campaign",
        "Decisions",
        "Learn from campaigns: measure response against a control group.",
    ),
    LazyCommand(
        "report",
        "pipelines.cli.report",
        "Decisions",
        "One self-contained HTML page (works offline) for the marketer.",
    ),
    LazyCommand(
        "serve",
        "pipelines.cli.serve",
        "Service",
        "Serve scores to CRM systems over HTTP (BentoML): POST /score, POST /rank, GET /metadata.",
    ),
)


@functools.cache
def module_commands(module: str) -> dict[str, Any]:
    """The click commands a module's Typer app defines, by name (built once)."""
    built = typer.main.get_command(importlib.import_module(module).app)
    if isinstance(built, TyperGroup):
        return dict(built.commands)
    return {built.name: built}


class LazyGroup(TyperGroup):
    """The root group: lists :data:`COMMANDS`, imports a module when its command is used."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [command.name for command in COMMANDS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = _BY_NAME.get(cmd_name)
        if entry is None:
            return None
        return module_commands(entry.module)[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        print_root_help(self, ctx)


_BY_NAME = {command.name: command for command in COMMANDS}


def _markdown_bold(text: str) -> str:
    """``**x**`` as Rich markup, the only Markdown the root help text uses."""
    from rich.markup import escape

    return re.sub(r"\*\*(.+?)\*\*", r"[bold]\1[/bold]", escape(text))


def print_root_help(group: TyperGroup, ctx: Any) -> None:
    """Usage, the app's help, its options and the command panels, styled as Typer's own
    help (``typer.rich_utils``: bold cyan names, dim panel borders)."""
    import os

    from rich.console import Console
    from rich.padding import Padding
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    width = os.environ.get("TERMINAL_WIDTH")
    force = bool(os.environ.get("FORCE_COLOR") or os.environ.get("PY_COLORS")) or None
    console = Console(width=int(width) if width else None, force_terminal=force, emoji=False)
    console.print(Padding(Text(group.get_usage(ctx), style="bold"), 1))
    if group.help:
        paragraphs = [" ".join(p.split()) for p in group.help.split("\n\n")]
        console.print(Padding("\n\n".join(map(_markdown_bold, paragraphs)), (0, 1, 1, 1)))

    def panel(title: str, rows: list[tuple[str, str]], first_width: int) -> None:
        table = Table(
            highlight=False,
            show_header=False,
            expand=True,
            box=None,
            padding=(0, 1),
            pad_edge=False,
        )
        table.add_column(style="bold cyan", no_wrap=True, width=first_width)
        table.add_column(justify="left", no_wrap=False, ratio=10)
        for name, text in rows:
            table.add_row(name, text)
        console.print(Panel(table, border_style="dim", title=title, title_align="left"))

    options = []
    for param in group.get_params(ctx):
        if getattr(param, "hidden", False) or not getattr(param, "opts", None):
            continue
        options.append((", ".join(param.opts), getattr(param, "help", None) or ""))
    panel("Options", options, max(len(name) for name, _ in options))
    panels: dict[str, list[tuple[str, str]]] = {}
    for command in COMMANDS:
        panels.setdefault(command.panel, []).append((command.name, command.summary))
    name_width = max(len(command.name) for command in COMMANDS)
    for title, rows in panels.items():
        panel(title, rows, name_width)
