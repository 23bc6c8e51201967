"""The ``winback`` command line: thin commands that parse, call a pipeline, print with Rich.

Every command accepts ``--transactions cdnow`` for the bundled CDNOW data. Bad input ends
with one line on stderr naming the file, row or field, and exit code 2.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from rich.table import Table

from features.errors import WinbackError
from pipelines.cli.console import advance, console, error_console, load_report_table, stage_progress
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
    engine: EngineOption = "duckdb",
    master: MasterOption = None,
    spark_conf: SparkConfOption = None,
) -> None:
    """Build the per-customer feature table at an as-of date.

    Recency, frequency and monetary value (identical to lifetimes), each customer's own
    purchase cadence and how many of their cycles they have missed, status (new, active,
    at_risk, sleeping, lost), ABC-XYZ class, loyalty-ladder stage and favourite product.

    With **--engine spark** the rows are still validated locally (DuckDB), then the same
    feature SQL runs on Spark: local mode by default, a cluster with --master.
    """
    from features.contract import parse_column_map
    from pipelines.featurize import load_and_build, status_summary

    settings = spark_settings(engine, master, spark_conf)
    quarantine = quarantine or quarantine_path_for(out)
    with stage_progress(3) as progress:
        step = functools.partial(advance, progress)
        loaded, table = load_and_build(
            transactions,
            as_of,
            column_map=parse_column_map(column_map),
            quarantine_path=quarantine,
            config_path=config,
            on_step=step,
            engine=engine,
            master=master,
            spark_conf=settings,
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
    from pipelines.training.evaluation import default_candidates
    from pipelines.training.evaluation import evaluate as run_evaluation

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
    for table in evaluation_tables(result):
        console.print(table)
    if out:
        result.write_json(out)
        console.print(f"[green]wrote[/green] metrics to {out}")


def candidates_for(names: tuple[str, ...], default_candidates: Callable[..., list]) -> list:
    import pipelines.training.fit  # noqa: F401  (registers the xgboost candidate)
    from pipelines.training.evaluation import DEFAULT_MODELS, MODEL_CANDIDATES

    unknown = [name for name in names if name not in MODEL_CANDIDATES]
    if unknown:
        raise WinbackError(
            f"--models: unknown model(s) {', '.join(unknown)}; known: "
            + ", ".join(MODEL_CANDIDATES)
        )
    return default_candidates(names or DEFAULT_MODELS)


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


@app.command()
@user_errors_exit_2
def train(
    transactions: TransactionsOption,
    as_of: Annotated[
        str, typer.Option("--as-of", help="Train on data up to this date (YYYY-MM-DD).")
    ],
    horizon_days: Annotated[
        int, typer.Option(help="Dormancy and spend horizon in days.", min=1)
    ] = 90,
    snapshot_step_days: Annotated[
        int, typer.Option(help="Days between training snapshots.", min=1)
    ] = 14,
    max_snapshots: Annotated[int, typer.Option(help="At most this many snapshots.", min=2)] = 12,
    column_map: ColumnMapOption = None,
) -> None:
    """Train XGBoost on time-split snapshots, log the run to MLflow, register it.

    The last complete window (as-of minus horizon, as-of] is held out: every model and
    baseline is judged on it. The new version becomes **champion** only if its held-out
    dormancy AUC beats the current champion's on the same window (the first model always
    does); otherwise it is tagged not promoted, with the reason. Tracking store:
    MLFLOW_TRACKING_URI, default sqlite under mlflow/.
    """
    from features.contract import load_transactions, parse_column_map
    from pipelines.training.fit import TrainingSettings
    from pipelines.training.run import run_training

    settings = TrainingSettings(
        horizon_days=horizon_days,
        snapshot_step_days=snapshot_step_days,
        max_snapshots=max_snapshots,
    )
    with stage_progress(6 + 2 * max_snapshots) as progress:
        advance(progress, "reading and validating transactions")
        loaded = load_transactions(transactions, column_map=parse_column_map(column_map))
        outcome = run_training(
            loaded, as_of, settings, on_step=lambda step: advance(progress, step)
        )
    for table in evaluation_tables(outcome.evaluation):
        console.print(table)
    verdict = "[green]promoted to champion[/green]" if outcome.promoted else "[yellow]not promoted"
    console.print(f"registered winback v{outcome.version} (run {outcome.run_id}): {verdict}")
    console.print(f"reason: {outcome.reason}", highlight=False)


@app.command()
@user_errors_exit_2
def score(
    transactions: TransactionsOption,
    as_of: Annotated[str, typer.Option("--as-of", help="Score at this date (YYYY-MM-DD).")],
    out: Annotated[Path, typer.Option(help="Output Parquet file.")] = DEFAULT_OUT_DIR
    / "scores.parquet",
    model_version: Annotated[
        int | None, typer.Option(help="Registered version to use (default: the champion).")
    ] = None,
    column_map: ColumnMapOption = None,
    engine: EngineOption = "duckdb",
    master: MasterOption = None,
    spark_conf: SparkConfOption = None,
) -> None:
    """Score every customer at an as-of date with the champion (or --model-version).

    Columns: customer_id, p_dormant, p_alive, expected_purchases, predicted_spend, clv,
    expected_next_order_date, status, model_version, then the feature columns.

    With **--engine spark** the rows are still validated locally (DuckDB), then the feature
    SQL runs on Spark and the model scores it there (mapInPandas); the scores are collected
    and written to the same file, with the same metadata, as with DuckDB.
    """
    from features.contract import load_transactions, parse_column_map
    from pipelines.paths import quarantine_path_for
    from pipelines.registry import store as registry
    from pipelines.training.run import score_to_parquet

    settings = spark_settings(engine, master, spark_conf)
    # Before reading millions of rows: a missing champion or version fails in a second.
    registry.resolve_version(model_version)
    with stage_progress(3) as progress:
        advance(progress, "reading and validating transactions")
        loaded = load_transactions(
            transactions,
            column_map=parse_column_map(column_map),
            quarantine_path=quarantine_path_for(out),
        )
        advance(
            progress, "loading the model and scoring" + (" on Spark" if engine == "spark" else "")
        )
        scores, version = score_to_parquet(
            loaded, as_of, out, model_version, engine=engine, master=master, spark_conf=settings
        )
    console.print(load_report_table(loaded.report))
    console.print(
        f"[green]scored[/green] {len(scores):,} customers with winback v{version} -> {out}"
    )


@app.command()
@user_errors_exit_2
def promote(
    version: Annotated[int, typer.Option(help="Registered version to make champion.")],
    reason: Annotated[str, typer.Option(help="Why, in words; recorded on the version.")],
) -> None:
    """Make a version champion by hand (recorded as a manual promotion with its reason)."""
    from pipelines.registry import store as registry

    if not reason.strip():
        raise WinbackError("--reason must say why the version is promoted")
    registry.promote(version, reason.strip(), manual=True)
    console.print(f"winback v{version} is now champion (manual: {reason.strip()})")


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


@app.command()
@user_errors_exit_2
def rank(
    scores: Annotated[Path, typer.Option(help="Scores Parquet from `winback score`.")],
    budget: Annotated[
        float, typer.Option(help="Total budget (expected cost of contacts and offers).")
    ],
    out: Annotated[Path, typer.Option(help="Win-back list CSV.")] = DEFAULT_OUT_DIR
    / "winback_list.csv",
    channels: ChannelsOption = None,
    limit: Annotated[
        int | None, typer.Option(help="Keep only the top N rows of the list.", min=1)
    ] = None,
    campaign_results: CampaignResultsOption = None,
) -> None:
    """Whom to wake, by which channel, under a budget: the marketer's task list.

    For every sleeping, at-risk or lost customer and every channel: incremental value =
    (P(return | contacted) - P(return | not contacted)) x value if returned - cost. At most
    one contact per customer, capacities respected, best value first; a bigger budget never
    gives less. Columns: rank, customer_id, status, channel, offer, p_return_if_contacted,
    p_return_anyway, value_if_returned, cost, expected_incremental_value, contact_by, reason.
    """
    from pipelines.economics.rank import channel_mix_lines, rank_to_csv

    result = rank_to_csv(scores, budget, out, channels, limit, campaign_results)
    summary = result.plan.summary
    cur = result.plan.config.currency
    console.print(
        f"{summary['eligible_customers']:,} eligible customers at {summary['as_of']}; "
        f"{summary['contacts']:,} worth contacting within {cur}{budget:,.2f}: expected cost "
        f"{cur}{summary['total_cost']:,.2f}, expected incremental value "
        f"{cur}{summary['total_expected_value']:,.2f}",
        highlight=False,
    )
    for line in channel_mix_lines(result.plan.list, cur):
        console.print(f"  {line}", highlight=False)
    if summary["measured_response_rates"]:
        console.print(f"response rates measured by campaign: {summary['measured_response_rates']}")
    console.print(
        f"every contact worth making costs {cur}{summary['saturation_budget']:,.2f} "
        f"(expected value {cur}{summary['max_expected_value']:,.2f})",
        highlight=False,
    )
    console.print(f"[green]wrote[/green] {len(result.plan.list):,} rows to {result.out}")


@app.command()
@user_errors_exit_2
def report(
    scores: Annotated[Path, typer.Option(help="Scores Parquet.")] = DEFAULT_OUT_DIR
    / "scores.parquet",
    transactions: Annotated[
        str,
        typer.Option(
            "--transactions",
            "-t",
            help="Transactions file (CSV or Parquet) or 'cdnow', for CRR by month.",
        ),
    ] = "cdnow",
    out: Annotated[Path, typer.Option(help="HTML file.")] = DEFAULT_OUT_DIR / "report.html",
    list_path: Annotated[
        Path | None,
        typer.Option(
            "--list",
            help="Win-back list CSV to report on (default: out/winback_list.csv when it "
            "exists, else the list of every contact worth making).",
        ),
    ] = None,
    channels: ChannelsOption = None,
    campaign_results: CampaignResultsOption = None,
) -> None:
    """One self-contained HTML page (works offline) for the marketer.

    Customers by status and ladder stage, cadence, ABC-XYZ, sleepers and lost revenue (rule of
    thumb and model), CRR by month, LTV by segment, expected value against budget, campaign
    results, and the top of the win-back list.
    """
    from pipelines.economics.rank import write_report
    from pipelines.paths import DEFAULT_LIST

    if list_path is None and DEFAULT_LIST.exists():
        list_path = DEFAULT_LIST
    path = write_report(scores, transactions, out, list_path, channels, campaign_results)
    console.print(f"[green]wrote[/green] {path} (open it in a browser; it works offline)")


campaign_app = typer.Typer(
    help="Learn from campaigns: measure response against a control group.",
    no_args_is_help=True,
)
app.add_typer(campaign_app, name="campaign")


@campaign_app.command("import")
@user_errors_exit_2
def campaign_import(
    log: Annotated[
        Path,
        typer.Option(
            help="Campaign log CSV: customer_id, contacted_at, channel, offer, group "
            "(treatment or control)."
        ),
    ],
    transactions: TransactionsOption,
    horizon_days: Annotated[
        int, typer.Option(help="Days after the contact in which a purchase counts.", min=1)
    ] = 90,
    out: Annotated[Path, typer.Option(help="Results JSON, read by later rankings.")] = (
        DEFAULT_OUT_DIR / "campaign_results.json"
    ),
    column_map: ColumnMapOption = None,
) -> None:
    """Measure a campaign: response and spend per channel and segment, treated vs control.

    Uplift with 95% confidence intervals (Newcombe for response, normal for spend), orders a
    month before vs after. The measured response rates replace the priors of
    configs/channels.yaml in later `winback rank` runs.
    """
    from features.contract import parse_column_map
    from pipelines.economics.campaign import import_campaign

    results = import_campaign(log, transactions, horizon_days, out, parse_column_map(column_map))
    from rich import box

    table = Table(
        title=f"Response within {horizon_days} days, treated (T) vs control (C); "
        "uplift in percentage points, spend uplift per contact",
        box=box.SIMPLE_HEAD,
    )
    columns = ("channel", "T", "C", "resp. T", "resp. C", "uplift")
    for column in (*columns, "95% CI", "spend"):
        table.add_column(column, justify="left" if column == "channel" else "right", no_wrap=True)
    for record in [dict(results["overall"], channel="all"), *results["by_channel"]]:
        if record.get("uplift") is None:
            continue
        lower, upper = record["uplift_ci"]
        table.add_row(
            str(record["channel"]),
            f"{record['n_treatment']:,}",
            f"{record['n_control']:,}",
            f"{record['response_treatment']:.1%}",
            f"{record['response_control']:.1%}",
            f"{record['uplift'] * 100:+.1f}",
            f"{lower * 100:+.1f}..{upper * 100:+.1f}",
            f"{record['spend_uplift']:+,.2f}",
        )
    console.print(table)
    for row in results["frequency"]:
        console.print(
            f"{row['group']}: {row['orders_per_month_before']:.2f} -> "
            f"{row['orders_per_month_after']:.2f} orders a month (before -> after)"
        )
    if results["contacts_window_not_over"]:
        console.print(
            f"[yellow]{results['contacts_window_not_over']:,} contacts left out: their "
            f"{horizon_days}-day window is not over yet[/yellow]"
        )
    console.print(f"[green]wrote[/green] {out}; later rankings use these response rates")


@app.command()
@user_errors_exit_2
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 3000,
    host: Annotated[
        str, typer.Option(help="Interface to bind; 0.0.0.0 exposes the service to the network.")
    ] = "127.0.0.1",
    scores: Annotated[
        Path | None,
        typer.Option(
            help="Scored snapshot for lookups by id and /rank (default: out/scores.parquet "
            "when it exists, as written by `winback demo` or `winback score`)."
        ),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Serve without API keys (trusted networks only). Without this flag the "
            "service refuses to start unless WINBACK_API_KEYS is set.",
        ),
    ] = False,
    model_version: Annotated[
        int | None, typer.Option(help="Registered version to serve (default: the champion).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Server worker processes (default 1).", min=1)
    ] = None,
) -> None:
    """Serve scores to CRM systems over HTTP (BentoML): POST /score, POST /rank, GET /metadata.

    Loads the **champion** from the MLflow registry (MLFLOW_TRACKING_URI) once at start-up,
    and the scored snapshot into memory. Clients authenticate with `Authorization: Bearer
    KEY` or `X-API-Key: KEY`; keys come from WINBACK_API_KEYS (comma-separated). OpenAPI
    schema at /docs.json; /healthz and /readyz need no key. Ctrl-C stops it.
    """
    from serving.cli import run_server, server_command, server_environment

    env = server_environment(scores, insecure, model_version, workers)
    console.print(
        f"serving winback on http://{host}:{port} (snapshot: "
        f"{env.get('WINBACK_SCORES', 'none')}; Ctrl-C stops it)",
        highlight=False,
    )
    code = run_server(server_command(host, port), env)
    if code != 0:
        raise typer.Exit(code=code)


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
