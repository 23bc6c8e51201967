"""What every command shares: the option types, the one-line error rule, Spark settings.

An option that means the same thing in two commands is declared once here, so that
``--transactions``, ``--map`` and ``--config`` read the same in every ``--help``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer

from features.errors import WinbackError
from pipelines.cli.console import error_console

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
ChannelsOption = Annotated[
    Path | None,
    typer.Option(
        "--channels",
        help="Channels, costs, response rates and offers (default: configs/channels.yaml).",
    ),
]
CampaignResultsOption = Annotated[
    Path | None,
    typer.Option(
        "--campaign-results",
        help="Measured response rates from `winback campaign import`; they replace the "
        "priors (default: out/campaign_results.json when it exists).",
    ),
]
EngineOption = Annotated[
    Literal["duckdb", "spark"],
    typer.Option(
        help="Where the feature SQL runs: 'duckdb' in-process (default; tens of millions of "
        "rows on one machine) or 'spark' (the same SQL on PySpark, for data beyond one "
        "machine). Both give the same result.",
    ),
]
MasterOption = Annotated[
    str | None,
    typer.Option(
        help="Spark master with --engine spark: local[N] (default local[2]) or a cluster "
        "URL such as spark://host:7077, yarn, k8s://https://host:443.",
    ),
]
SparkConfOption = Annotated[
    list[str] | None,
    typer.Option(
        "--spark-conf",
        help="A Spark setting key=value, repeatable, e.g. --spark-conf "
        "spark.executor.memory=8g (with --engine spark).",
    ),
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


def spark_settings(
    engine: str, master: str | None, spark_conf: list[str] | None
) -> dict[str, str] | None:
    """The parsed ``--spark-conf`` pairs; refuses Spark options without ``--engine spark``."""
    if engine != "spark":
        if master or spark_conf:
            raise WinbackError("--master and --spark-conf apply only with --engine spark")
        return None
    from features.spark import parse_spark_conf

    return parse_spark_conf(spark_conf)
