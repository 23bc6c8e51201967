"""``winback features``: transactions in, the per-customer feature table out."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.console import (
    advance,
    console,
    print_load_report,
    spend_reconciliation_line,
    stage_progress,
    status_table,
)
from pipelines.cli.options import (
    ColumnMapOption,
    ConfigOption,
    DateFormatOption,
    DelimiterOption,
    EncodingOption,
    EngineOption,
    IdFormatOption,
    MasterOption,
    SparkConfOption,
    TransactionsOption,
    read_options,
    spark_settings,
    user_errors_exit_2,
)
from pipelines.paths import quarantine_path_for

app = typer.Typer()
PANEL = "Data"


@app.command(rich_help_panel=PANEL)
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
    engine: EngineOption = "duckdb",
    master: MasterOption = None,
    spark_conf: SparkConfOption = None,
    delimiter: DelimiterOption = None,
    encoding: EncodingOption = None,
    date_format: DateFormatOption = None,
    id_format: IdFormatOption = "text",
) -> None:
    """Build the per-customer feature table at an as-of date.

    Recency, frequency and monetary value (identical to lifetimes), each customer's own
    purchase cadence and how many of their cycles they have missed, status (new, active,
    at_risk, sleeping, lost), ABC-XYZ class, loyalty-ladder stage and favourite product.

    With **--engine spark** the rows are still validated locally (DuckDB), then the same
    feature SQL runs on Spark: local mode by default, a cluster with --master.
    """
    from features.config import load_feature_config
    from features.contract import parse_column_map
    from pipelines.featurize import load_and_build, status_summary

    settings = spark_settings(engine, master, spark_conf)
    quarantine = quarantine or quarantine_path_for(out)
    feature_config = load_feature_config(config)
    with stage_progress(3) as progress:
        step = functools.partial(advance, progress)
        report, table = load_and_build(
            transactions,
            as_of,
            feature_config,
            column_map=parse_column_map(column_map),
            quarantine_path=quarantine,
            on_step=step,
            engine=engine,
            master=master,
            spark_conf=settings,
            read_options=read_options(delimiter, encoding, date_format, id_format),
        )
        advance(progress, "writing Parquet")
        table.write_parquet(out)
    print_load_report(report, table.rows_after_as_of)
    console.print(status_table(status_summary(table.features)))
    console.print(spend_reconciliation_line(table), highlight=False, soft_wrap=True)
    console.print(f"[green]wrote[/green] {len(table.features):,} customers to {out}")
