"""``winback models list`` and ``winback models show N``: the registry without opening MLflow.

Thin commands over :mod:`pipelines.registry.versions`: which version is champion, what each
learned from, its held-out AUC, and why it was or was not promoted.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from pipelines.cli.console import console
from pipelines.cli.options import user_errors_exit_2

PANEL = "Models"
models_app = typer.Typer(
    name="models",
    help="The registered scorer versions: list them, show one.",
    no_args_is_help=True,
)


@models_app.command("list")
@user_errors_exit_2
def list_models(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every registered version, newest first: alias, as-of date, data, held-out AUC, and
    whether it was promoted (or why not)."""
    from rich import box

    from pipelines.registry.store import tracking_uri
    from pipelines.registry.versions import list_versions

    versions = list_versions()
    if as_json:
        typer.echo(json.dumps([v.to_dict() for v in versions], indent=1))
        return
    if not versions:
        console.print(f"no registered versions at {tracking_uri()}; run `winback train` first")
        return
    table = Table(title=f"winback versions at {tracking_uri()}", box=box.SIMPLE_HEAD)
    for column in ("version", "alias", "as of", "trained on", "AUC", "promoted", "why"):
        table.add_column(column, justify="right" if column in ("version", "AUC") else "left")
    for v in versions:
        table.add_row(
            v.version,
            ", ".join(v.aliases),
            v.trained_as_of or "",
            v.data,
            "" if v.heldout_auc is None else f"{v.heldout_auc:.4f}",
            v.promoted,
            v.reason,
        )
    console.print(table)


@models_app.command("show")
@user_errors_exit_2
def show_model(
    version: Annotated[
        str | None, typer.Argument(help="Version number (default: the champion).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """One version in full: training data and as-of, held-out metrics, the promotion
    decision, its history and the version's description."""
    from pipelines.registry.versions import show_version

    shown = show_version(version)
    if as_json:
        typer.echo(json.dumps(shown, indent=1, default=str))
        return
    alias = f" ({', '.join(shown['aliases'])})" if shown["aliases"] else ""
    console.print(f"[bold]winback v{shown['model_version']}{alias}[/bold]", highlight=False)
    for label, key in (
        ("trained at", "trained_at"),
        ("trained as of", "trained_as_of"),
        ("trained on", "data"),
        ("validation cutoff", "validation_cutoff"),
        ("horizon (days)", "horizon_days"),
        ("promoted", "promoted"),
        ("why", "promotion_reason"),
        ("run", "run_id"),
    ):
        console.print(f"  {label}: {shown.get(key) or ''}", highlight=False)
    for entry in shown["promotion_history"]:
        console.print(f"  earlier decision: {json.dumps(entry)}", highlight=False)
    metrics = shown["heldout_metrics"]
    if metrics:
        console.print("  held-out metrics:")
        for name in sorted(metrics):
            console.print(f"    {name}: {metrics[name]:.4f}", highlight=False)


app = typer.Typer()
app.add_typer(models_app, rich_help_panel=PANEL)
