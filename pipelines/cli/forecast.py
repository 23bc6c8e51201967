"""``winback forecast``: what a cohort of customers not acquired yet will buy and spend.

The math is :mod:`models.cohort_forecast`; this command only finds the fitted BTYD models
(the registry's champion, a ``--model-version``, or a fit on ``--transactions`` at
``--as-of``) and prints the cumulative table, so that an acquisition plan uses the same
models as the scores.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from features.errors import WinbackError
from pipelines.cli.console import console, print_load_report
from pipelines.cli.options import (
    ColumnMapOption,
    ConfigOption,
    DateFormatOption,
    DelimiterOption,
    EncodingOption,
    IdFormatOption,
    ModelVersionOption,
    read_options,
    user_errors_exit_2,
)

if TYPE_CHECKING:  # types only: pandas and the models load slowly, --help stays fast
    import pandas as pd

    from features.reading import ReadOptions
    from models.btyd import BTYDModel

app = typer.Typer()
PANEL = "Models"


@app.command(rich_help_panel=PANEL)
@user_errors_exit_2
def forecast(
    cohort_size: Annotated[
        int, typer.Option(help="Customers in the cohort (new customers acquired).", min=1)
    ],
    horizon_days: Annotated[
        int, typer.Option(help="Days after the cohort's first acquisition to forecast.", min=1)
    ] = 365,
    acquired_over_days: Annotated[
        int,
        typer.Option(
            help="Customers arrive uniformly over this many days (0: all on day 0); each "
            "buys for the time left after their own first purchase.",
            min=0,
        ),
    ] = 0,
    step_days: Annotated[
        int, typer.Option(help="Days per row of the table (30: a month).", min=1)
    ] = 30,
    model_version: ModelVersionOption = None,
    transactions: Annotated[
        str | None,
        typer.Option(
            "--transactions",
            "-t",
            help="Fit BG/NBD (or --model) and Gamma-Gamma on these transactions (CSV, "
            "Parquet or 'cdnow') instead of using the registry's model.",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="With --transactions: fit on data up to this date."),
    ] = None,
    model: Annotated[
        Literal["bgnbd", "mbgnbd", "pareto_nbd"],
        typer.Option(help="With --transactions: the transaction model to fit."),
    ] = "bgnbd",
    out: Annotated[Path | None, typer.Option(help="Also write the table as CSV here.")] = None,
    column_map: ColumnMapOption = None,
    config: ConfigOption = None,
    delimiter: DelimiterOption = None,
    encoding: EncodingOption = None,
    date_format: DateFormatOption = None,
    id_format: IdFormatOption = "text",
) -> None:
    """Forecast the purchases and spend of a cohort of new customers.

    Expected purchase days per new customer from the fitted BG/NBD, MBG/NBD or Pareto/NBD
    (lifetimes' expected_number_of_purchases_up_to_time), times the cohort; spend at
    Gamma-Gamma's mean value per purchase. Cumulative every --step-days; purchases
    include each customer's first one.
    """
    from models.cohort_forecast import cohort_forecast_table

    if transactions is None:
        if as_of or column_map or config or delimiter or encoding or date_format:
            raise WinbackError("--as-of, --map, --config and reading options need --transactions")
        btyd, source = _registered_btyd(model_version)
    else:
        if model_version is not None:
            raise WinbackError("use either --model-version or --transactions, not both")
        if not as_of:
            raise WinbackError("--transactions needs --as-of: the date to fit the models at")
        options = read_options(delimiter, encoding, date_format, id_format)
        btyd, source = _fitted_btyd(transactions, as_of, model, column_map, config, options, out)
    model_pair = (btyd.transaction_model_, btyd.spend_model_)
    try:
        table = cohort_forecast_table(
            *model_pair, cohort_size, horizon_days, acquired_over_days, step_days
        )
    except ValueError as error:  # a Gamma-Gamma fit without a mean value per purchase
        raise WinbackError(str(error)) from None
    _print_table(table, cohort_size, acquired_over_days, source)
    if out:
        from features.atomic import write_text_atomic

        write_text_atomic(out, table.to_csv(index=False))
        console.print(f"[green]wrote[/green] the forecast to {out}")


def _registered_btyd(model_version: int | None) -> tuple[BTYDModel, str]:
    """The BTYD models of the champion (or a version), with a one-line answer when the
    registry has none."""
    from pipelines.registry import store

    if model_version is None and store.champion_version(store.client()) is None:
        raise WinbackError(
            f"no champion model in the registry at {store.tracking_uri()}: train one with "
            "`winback train --transactions FILE --as-of YYYY-MM-DD`, or forecast from data "
            "with `winback forecast --transactions FILE --as-of YYYY-MM-DD ...`"
        )
    scorer, version = store.load_scorer(model_version)
    btyd = scorer.btyd
    return btyd, f"winback v{version.version} ({btyd.transaction_model}, registry)"


def _fitted_btyd(
    transactions: str,
    as_of: str,
    model: str,
    column_map: str | None,
    config: Path | None,
    options: ReadOptions,
    out: Path | None,
) -> tuple[BTYDModel, str]:
    """BTYD fitted on the features at ``as_of``, as training fits it (with its retry)."""
    from features.build import build_features
    from features.config import load_feature_config
    from pipelines.cli.transactions import load_for_command
    from pipelines.paths import quarantine_path_for_command
    from pipelines.training.fit import fit_btyd

    feature_config = load_feature_config(config)
    loaded = load_for_command(
        transactions,
        column_map,
        options,
        quarantine_path_for_command("forecast", out),
        lines=feature_config.lines,
    )
    table = build_features(loaded.transactions, as_of, feature_config)
    print_load_report(loaded.report, table.rows_after_as_of)
    features = table.features.set_index("customer_id")
    btyd = fit_btyd(features, model)
    return btyd, f"{model} fitted on {len(features):,} customers as of {as_of}"


def _print_table(
    table: pd.DataFrame, cohort_size: int, acquired_over_days: int, source: str
) -> None:
    from rich import box
    from rich.table import Table

    arrival = (
        "all acquired on day 0"
        if acquired_over_days == 0
        else f"acquired uniformly over {acquired_over_days} days"
    )
    shown = Table(title=f"{cohort_size:,} new customers, {arrival} ({source})", box=box.SIMPLE_HEAD)
    for column in ("day", "customers", "repeat purchases", "purchases", "spend"):
        shown.add_column(column, justify="right")
    for row in table.itertuples(index=False):
        shown.add_row(
            f"{row.day:g}",
            f"{row.customers:,.0f}",
            f"{row.repeat_purchases:,.1f}",
            f"{row.purchases:,.1f}",
            f"{row.spend:,.2f}",
        )
    console.print(shown)
    console.print(
        "cumulative since the first acquisition; purchases include each customer's first",
        highlight=False,
    )
