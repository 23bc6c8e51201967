"""``winback evaluate``, ``train``, ``score`` and ``promote``: the data scientist's commands.

Each command reads its settings once (``--config`` for the feature rules, the training
options) and passes them down to :mod:`pipelines.training`, :mod:`pipelines.scoring` and
:mod:`pipelines.registry`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer

from features.errors import WinbackError
from pipelines.cli.console import (
    advance,
    console,
    evaluation_tables,
    print_load_report,
    stage_progress,
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
    ModelVersionOption,
    SparkConfOption,
    TransactionsOption,
    read_options,
    spark_settings,
    user_errors_exit_2,
)
from pipelines.cli.transactions import check_quarantine_share, load_for_command
from pipelines.paths import DEFAULT_SCORES, quarantine_path_for_command

app = typer.Typer()
PANEL = "Models"

PenalizerOption = Annotated[
    float,
    typer.Option(
        help="L2 penalizer of the BG/NBD, MBG/NBD and Gamma-Gamma fits (lifetimes' "
        "penalizer_coef). 0: plain maximum likelihood, retried once with 0.001 if it does "
        "not converge; raise it (e.g. 0.01) when a fit says it did not converge.",
        min=0.0,
    ),
]


@app.command(rich_help_panel=PANEL)
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
        str,
        typer.Option(
            help="Comma-separated models to evaluate beside the baselines (bgnbd, mbgnbd, xgboost)."
        ),
    ] = "bgnbd,mbgnbd",
    column_map: ColumnMapOption = None,
    config: ConfigOption = None,
    delimiter: DelimiterOption = None,
    encoding: EncodingOption = None,
    date_format: DateFormatOption = None,
    id_format: IdFormatOption = "text",
    penalizer: PenalizerOption = 0.0,
) -> None:
    """Judge models out-of-time against the simple baselines.

    Features and fits use only transactions up to the cutoff; labels come only from the
    following window. Dormancy (no purchase in the window): AUC, average precision, Brier
    score, calibration, top-decile lift. Spend in the window: normalized Gini, Spearman,
    predicted/actual total, revenue captured by the top 10% and 20%. Baselines:
    days_since_last (dormancy) and past_spend (spend).
    """
    from features.config import load_feature_config
    from pipelines.training.evaluation import evaluate as run_evaluation

    names = tuple(name.strip() for name in models.split(",") if name.strip())
    candidates = candidates_for(names, penalizer)
    feature_config = load_feature_config(config)
    with stage_progress(2 + len(names) + 2) as progress:
        advance(progress, "reading and validating transactions")
        loaded = load_for_command(
            transactions,
            column_map,
            read_options(delimiter, encoding, date_format, id_format),
            quarantine_path_for_command("evaluate", out),
            lines=feature_config.lines,
        )
        result = run_evaluation(
            loaded.transactions,
            cutoff,
            horizon_days,
            candidates,
            config=feature_config,
            on_step=lambda step: advance(progress, step),
        )
    print_load_report(loaded.report)
    for table in evaluation_tables(result):
        console.print(table)
    if out:
        result.write_json(out)
        console.print(f"[green]wrote[/green] metrics to {out}")


def candidates_for(names: tuple[str, ...], penalizer_coef: float = 0.0) -> list:
    """The named model candidates followed by the baselines; unknown names are refused."""
    from pipelines.training.candidates import DEFAULT_MODELS, MODEL_CANDIDATES, default_candidates

    unknown = [name for name in names if name not in MODEL_CANDIDATES]
    if unknown:
        raise WinbackError(
            f"--models: unknown model(s) {', '.join(unknown)}; known: "
            + ", ".join(MODEL_CANDIDATES)
        )
    return default_candidates(names or DEFAULT_MODELS, penalizer_coef)


@app.command(rich_help_panel=PANEL)
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
    config: ConfigOption = None,
    delimiter: DelimiterOption = None,
    encoding: EncodingOption = None,
    date_format: DateFormatOption = None,
    id_format: IdFormatOption = "text",
    allow_quarantine_share: Annotated[
        float | None,
        typer.Option(
            help="Train even when up to this share of rows (0-1) is quarantined (default: "
            "reading.max_quarantine_share of --config, 0.05).",
            min=0.0,
            max=1.0,
        ),
    ] = None,
    penalizer: PenalizerOption = 0.0,
    transaction_model: Annotated[
        str,
        typer.Option(
            help="BTYD model behind p_alive, expected purchases and CLV: bgnbd, mbgnbd, "
            "pareto_nbd, or auto (the lowest out-of-time Brier at the newest snapshot).",
        ),
    ] = "auto",
) -> None:
    """Train XGBoost on time-split snapshots, log the run to MLflow, register it.

    The last complete window (as-of minus horizon, as-of] is held out: every model and
    baseline is judged on it. The new version becomes **champion** only if its held-out
    dormancy AUC beats the current champion's on the same window (the first model always
    does); otherwise it is tagged not promoted, with the reason. The feature rules
    (--config) travel with the model: scoring builds the same features. Tracking store:
    MLFLOW_TRACKING_URI, default sqlite under mlflow/. Refuses a file with more than
    reading.max_quarantine_share of its rows quarantined, unless --allow-quarantine-share.
    """
    from features.config import load_feature_config
    from pipelines.training.fit import TrainingSettings
    from pipelines.training.model_choice import validate_transaction_model
    from pipelines.training.run import run_training

    settings = TrainingSettings(
        horizon_days=horizon_days,
        snapshot_step_days=snapshot_step_days,
        max_snapshots=max_snapshots,
        penalizer_coef=penalizer,
        transaction_model=validate_transaction_model(transaction_model),
    )
    feature_config = load_feature_config(config)
    with stage_progress(8 + 2 * max_snapshots) as progress:
        advance(progress, "reading and validating transactions")
        loaded = load_for_command(
            transactions,
            column_map,
            read_options(delimiter, encoding, date_format, id_format),
            quarantine_path_for_command("train"),
            lines=feature_config.lines,
        )
        check_quarantine_share(
            loaded.report,
            feature_config.reading.max_quarantine_share,
            allow_quarantine_share,
            tuple(feature_config.reading.expected_reasons),
        )
        outcome = run_training(
            loaded, as_of, settings, feature_config, on_step=lambda step: advance(progress, step)
        )
    print_load_report(loaded.report)
    for table in evaluation_tables(outcome.evaluation):
        console.print(table)
    orphans = getattr(outcome, "orphans_failed", [])  # killed trainings settled first
    if orphans:
        console.print(
            f"marked {len(orphans)} interrupted training run(s) failed: " + ", ".join(orphans),
            highlight=False,
        )
    choice = getattr(outcome.report, "model_choice", None)
    if choice is not None:
        console.print(f"transaction model: {choice.reason}", highlight=False)
    verdict = "[green]promoted to champion[/green]" if outcome.promoted else "[yellow]not promoted"
    console.print(f"registered winback v{outcome.version} (run {outcome.run_id}): {verdict}")
    console.print(f"reason: {outcome.reason}", highlight=False)


@app.command(rich_help_panel=PANEL)
@user_errors_exit_2
def score(
    transactions: TransactionsOption,
    as_of: Annotated[str, typer.Option("--as-of", help="Score at this date (YYYY-MM-DD).")],
    out: Annotated[Path, typer.Option(help="Output Parquet file.")] = DEFAULT_SCORES,
    model_version: ModelVersionOption = None,
    column_map: ColumnMapOption = None,
    engine: EngineOption = "duckdb",
    master: MasterOption = None,
    spark_conf: SparkConfOption = None,
    delimiter: DelimiterOption = None,
    encoding: EncodingOption = None,
    date_format: DateFormatOption = None,
    id_format: IdFormatOption = "text",
) -> None:
    """Score every customer at an as-of date with the champion (or --model-version).

    Columns: customer_id, p_dormant, p_alive, expected_purchases, predicted_spend, clv,
    expected_next_order_date, status, model_version, then the feature columns. The feature
    rules are the ones the model was trained with.

    With **--engine spark** the rows are still validated locally (DuckDB), then the feature
    SQL runs on Spark and the model scores it there (mapInPandas); the scores are collected
    and written to the same file, with the same metadata, as with DuckDB.
    """
    from features.contract import parse_column_map
    from features.table import to_date
    from pipelines.featurize import load_and_build
    from pipelines.registry import store
    from pipelines.scoring.batch import score_features_to_parquet, score_to_parquet

    settings = spark_settings(engine, master, spark_conf)
    # Before reading millions of rows: a missing champion or version fails first.
    registered = store.load_registered(model_version)
    trained_as_of = registered.metadata.get("trained_as_of")
    # The rows are read with the version's own rules, as they are built.
    rules = registered.scorer.feature_config
    options = read_options(delimiter, encoding, date_format, id_format)
    quarantine = quarantine_path_for_command("score", out)
    with stage_progress(3) as progress:
        if engine == "spark":
            advance(progress, "reading and validating transactions")
            loaded = load_for_command(transactions, column_map, options, quarantine, rules.lines)
            advance(progress, "loading the model and scoring on Spark")
            scores, version = score_to_parquet(
                loaded,
                as_of,
                out,
                model_version,
                engine=engine,
                master=master,
                spark_conf=settings,
                registered=registered,
            )
            report = loaded.report
        else:  # validated and built on one DuckDB connection, then scored
            report, table = load_and_build(
                transactions,
                as_of,
                rules,
                column_map=parse_column_map(column_map),
                quarantine_path=quarantine,
                on_step=functools.partial(advance, progress),
                read_options=options,
            )
            advance(progress, "scoring")
            scores, version = score_features_to_parquet(table, out, registered)
    print_load_report(report)
    console.print(
        f"[green]scored[/green] {len(scores):,} customers with winback v{version} -> {out}"
    )
    if trained_as_of and str(to_date(as_of)) < trained_as_of:
        console.print(
            f"[yellow]warning:[/yellow] scored as of {as_of} with a model trained on data up "
            f"to {trained_as_of}: it has seen what happened after {as_of}, so these scores "
            "are not what it would have predicted then (use an earlier version for a "
            "back-test; `winback models list`)",
            highlight=False,
        )


@app.command(rich_help_panel=PANEL)
@user_errors_exit_2
def promote(
    version: Annotated[int, typer.Option(help="Registered version to make champion.")],
    reason: Annotated[str, typer.Option(help="Why, in words; recorded on the version.")],
) -> None:
    """Make a version champion by hand (recorded as a manual promotion with its reason)."""
    from pipelines.registry import promotion, store
    from pipelines.registry.housekeeping import promotion_lock

    if not reason.strip():
        raise WinbackError("--reason must say why the version is promoted")
    with promotion_lock(store.tracking_uri()):  # not while a training decides
        promotion.promote(version, reason.strip(), manual=True)
    console.print(f"winback v{version} is now champion (manual: {reason.strip()})")
