"""The ``winback`` command line: thin commands that parse, call a pipeline, print with Rich.

Every command accepts ``--transactions cdnow`` for the bundled CDNOW data. Bad input ends
with one line on stderr naming the file, row or field, and exit code 2.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from features.errors import WinbackError
from pipelines.console import advance, console, error_console, load_report_table, stage_progress
from pipelines.paths import DEFAULT_OUT_DIR, quarantine_path_for

app = typer.Typer(
    name="winback",
    help=(
        "Find the customers who have gone to sleep, predict which of them are worth waking, "
        "and tell a marketer who to contact, how and why.\n\n"
        "Start with **winback demo**: it runs everything on the bundled CDNOW data "
        "into out/."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])

TransactionsOption = Annotated[
    str,
    typer.Option(
        "--transactions",
        "-t",
        help="Transactions file (CSV or Parquet) or the bundled data set name 'cdnow'.",
    ),
]
ColumnMapOption = Annotated[
    str | None,
    typer.Option(
        "--map",
        help="Your column names, e.g. customer_id=cust,timestamp=date,amount=value.",
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(help="Feature rules YAML (default: configs/features.yaml)."),
]


def user_errors_exit_2(command: F) -> F:
    """Turn a :class:`WinbackError` into one line on stderr and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except WinbackError as error:
            error_console.print(
                f"[bold red]error:[/bold red] {error}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


@app.command()
@user_errors_exit_2
def features(
    transactions: TransactionsOption,
    as_of: Annotated[
        str, typer.Option("--as-of", help="Feature date YYYY-MM-DD; later rows are not used.")
    ],
    out: Annotated[Path, typer.Option(help="Output Parquet file, one row per customer.")],
    column_map: ColumnMapOption = None,
    quarantine: Annotated[
        Path | None,
        typer.Option(help="Where rejected rows go (default: next to --out, .quarantine.csv)."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Build the per-customer feature table at an as-of date.

    Recency, frequency and monetary value (identical to lifetimes), each customer's own
    purchase cadence and how many of their cycles they have missed, status (new, active,
    at_risk, sleeping, lost), ABC-XYZ class, loyalty-ladder stage and favourite product.
    """
    from features.contract import parse_column_map
    from pipelines.featurize import load_and_build, status_summary

    quarantine = quarantine or quarantine_path_for(out)
    with stage_progress(3) as progress:
        loaded, table = load_and_build(
            transactions,
            as_of,
            column_map=parse_column_map(column_map),
            quarantine_path=quarantine,
            config_path=config,
            on_step=lambda step: advance(progress, step),
        )
        advance(progress, "writing Parquet")
        table.write_parquet(out)
    console.print(load_report_table(loaded.report, table.rows_after_as_of))
    console.print(status_table(status_summary(table.features)))
    console.print(f"[green]wrote[/green] {len(table.features):,} customers to {out}")


@app.command()
@user_errors_exit_2
def evaluate(
    transactions: TransactionsOption,
    cutoff: Annotated[
        str, typer.Option(help="Models see data up to this date (YYYY-MM-DD) and nothing after.")
    ],
    horizon_days: Annotated[
        int, typer.Option(help="Label window: (cutoff, cutoff + horizon].", min=1)
    ] = 90,
    out: Annotated[Path | None, typer.Option(help="Write the metrics as JSON here.")] = None,
    models: Annotated[
        str, typer.Option(help="Comma-separated models to evaluate beside the baselines.")
    ] = "bgnbd,mbgnbd",
    column_map: ColumnMapOption = None,
    config: ConfigOption = None,
) -> None:
    """Judge models out-of-time against the simple baselines.

    Features and fits use only transactions up to the cutoff; labels come only from the
    following window. Dormancy (no purchase in the window): AUC, average precision, Brier
    score, calibration, top-decile lift. Spend in the window: normalized Gini, Spearman,
    predicted/actual total, revenue captured by the top 10% and 20%. Baselines:
    days_since_last (dormancy) and past_spend (spend).
    """
    from features.config import load_feature_config
    from features.contract import load_transactions, parse_column_map
    from pipelines.evaluate import default_candidates
    from pipelines.evaluate import evaluate as run_evaluation

    names = tuple(name.strip() for name in models.split(",") if name.strip())
    with stage_progress(2 + len(names) + 2) as progress:
        advance(progress, "reading and validating transactions")
        loaded = load_transactions(transactions, column_map=parse_column_map(column_map))
        result = run_evaluation(
            loaded.transactions,
            cutoff,
            horizon_days,
            candidates=candidates_for(names, default_candidates),
            config=load_feature_config(config),
            on_step=lambda step: advance(progress, step),
        )
    console.print(evaluation_table(result))
    if out:
        result.write_json(out)
        console.print(f"[green]wrote[/green] metrics to {out}")


def candidates_for(names: tuple[str, ...], default_candidates: Callable[..., list]) -> list:
    from pipelines.evaluate import DEFAULT_MODELS, MODEL_CANDIDATES

    unknown = [name for name in names if name not in MODEL_CANDIDATES]
    if unknown:
        raise WinbackError(
            f"--models: unknown model(s) {', '.join(unknown)}; known: "
            + ", ".join(MODEL_CANDIDATES)
        )
    return default_candidates(names or DEFAULT_MODELS)


def evaluation_table(result: Any) -> Table:
    table = Table(
        title=(
            f"Out-of-time at cutoff {result.cutoff}, next {result.horizon_days} days: "
            f"{result.n_customers:,} customers, {result.dormant_share:.1%} dormant, "
            f"${result.actual_spend:,.0f} spent"
        )
    )
    headers = (
        "candidate",
        "AUC",
        "AP",
        "Brier",
        "lift@10%",
        "Gini",
        "Spearman",
        "pred/actual",
        "top10% rev",
        "top20% rev",
    )
    for header in headers:
        table.add_column(header, justify="left" if header == "candidate" else "right")

    def cell(value: float | None, pattern: str = "{:.3f}") -> str:
        return "-" if value is None else pattern.format(value)

    for name, row in result.rows.items():
        d, s = row["dormancy"] or {}, row["spend"] or {}
        table.add_row(
            f"{name} ({row['kind']})",
            cell(d.get("auc")),
            cell(d.get("average_precision")),
            cell(d.get("brier")),
            cell(d.get("lift_top_decile"), "{:.2f}"),
            cell(s.get("normalized_gini")),
            cell(s.get("spearman")),
            cell(s.get("predicted_over_actual"), "{:.2f}"),
            cell(s.get("revenue_captured_top10"), "{:.1%}"),
            cell(s.get("revenue_captured_top20"), "{:.1%}"),
        )
    return table


@app.command()
@user_errors_exit_2
def demo(
    out_dir: Annotated[Path, typer.Option(help="Folder for every output.")] = DEFAULT_OUT_DIR,
) -> None:
    """Run the whole pipeline on the bundled CDNOW data into out/ and print a summary."""
    from pipelines.demo import run_demo

    summary = run_demo(out_dir)
    console.print(status_table(summary.status))
    for line in summary.lines:
        console.print(line)


def status_table(summary: Any) -> Table:
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


def print_json(data: Any) -> None:
    console.print_json(json.dumps(data, default=str))


if __name__ == "__main__":  # pragma: no cover
    app()
