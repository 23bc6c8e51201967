"""What every command shares: the option types, the one-line error rule, Spark settings.

An option that means the same thing in two commands is declared once here, so that
``--transactions``, ``--map`` and ``--config`` read the same in every ``--help``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import typer

from features.errors import WinbackError
from pipelines.cli.console import error_console

if TYPE_CHECKING:  # the type only: the reader imports pandas and duckdb
    from features.reading import ReadOptions

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

# How to read a transactions file (features.reading.ReadOptions), the same in every command
# that reads one; read_options() turns them into the contract's options.
DelimiterOption = Annotated[
    str | None,
    typer.Option(
        "--delimiter",
        help="CSV field separator: one character, or 'tab' (default: detected from the "
        "header line among , ; tab |).",
    ),
]
EncodingOption = Annotated[
    str | None,
    typer.Option(
        "--encoding",
        help="CSV text encoding, e.g. latin-1, cp1252, utf-16 (default: UTF-8, with or "
        "without a BOM).",
    ),
]
DateFormatOption = Annotated[
    str | None,
    typer.Option(
        "--date-format",
        help="strptime format of text timestamps, e.g. '%d/%m/%Y %H:%M'. Required when "
        "dates could be day/month or month/day (05/10/1997); values that do not fit are "
        "quarantined as unparseable_timestamp.",
    ),
]
ModelVersionOption = Annotated[
    int | None, typer.Option(help="Registered version to use (default: the champion).")
]
IdFormatOption = Annotated[
    Literal["text", "integer"],
    typer.Option(
        "--id-format",
        help="Customer ids: 'text' keeps them as read (default); 'integer' turns 17850.0 "
        "into 17850 and refuses ids that are not integers.",
    ),
]


def read_options(
    delimiter: str | None = None,
    encoding: str | None = None,
    date_format: str | None = None,
    id_format: str = "text",
) -> ReadOptions:
    """The ``--delimiter``, ``--encoding``, ``--date-format`` and ``--id-format`` values as
    :class:`features.reading.ReadOptions` (validated there: a bad value is one line)."""
    from features.reading import ReadOptions

    if delimiter is not None and delimiter.lower() in ("tab", "\\t"):
        delimiter = "\t"
    return ReadOptions(
        delimiter=delimiter,
        encoding=encoding,
        date_format=date_format,
        id_format=id_format,  # type: ignore[arg-type]
    )


def user_errors_exit_2(command: F) -> F:
    """Turn a :class:`WinbackError` into one line on stderr and exit code 2 (bad input),
    or the error's own ``exit_code`` (1 for a failed write or a damaged registry)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except WinbackError as error:
            from rich.markup import escape

            error_console.print(
                f"[bold red]error:[/bold red] {escape(one_line(str(error)))}",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(code=getattr(error, "exit_code", 2)) from None

    return wrapper  # type: ignore[return-value]


#: The longest error line printed; longer messages (a value quoted from a huge line) are cut.
MAX_ERROR_CHARACTERS = 600


def one_line(message: str) -> str:
    """The message on one line, at most :data:`MAX_ERROR_CHARACTERS` long."""
    text = " ".join(message.split())
    if len(text) <= MAX_ERROR_CHARACTERS:
        return text
    cut = len(text) - MAX_ERROR_CHARACTERS
    return f"{text[:MAX_ERROR_CHARACTERS]} ... ({cut:,} more characters)"


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
