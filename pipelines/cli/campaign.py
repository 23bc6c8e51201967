"""``winback campaign``: learn from campaigns a list made.

Thin commands over :mod:`pipelines.economics`: they parse, call the stage, print.
``campaign import`` measures a campaign per cell and learns the uplift model later
rankings use once its guard promoted it (:mod:`pipelines.economics.campaign_uplift`);
``campaign learn`` fits an uplift model on any randomised campaign log
(:mod:`pipelines.economics.uplift_stage`) and ``campaign predict`` applies it to customers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from pipelines.cli.campaign_tables import campaign_table, print_evaluation, print_rows
from pipelines.cli.console import console, print_load_report
from pipelines.cli.options import (
    ChannelsOption,
    ColumnMapOption,
    ConfigOption,
    DateFormatOption,
    DelimiterOption,
    EncodingOption,
    IdFormatOption,
    TransactionsOption,
    read_options,
    user_errors_exit_2,
)
from pipelines.paths import DEFAULT_CAMPAIGN_RESULTS

if TYPE_CHECKING:  # types only: the modules import pandas
    from features.config import FeatureConfig
    from features.contract import LoadedTransactions
    from features.reading import ReadOptions
    from pipelines.economics.channels import ChannelConfig
    from pipelines.economics.uplift_log import LearningLog

PANEL = "Decisions"


MlflowOption = Annotated[
    bool,
    typer.Option(
        help="Log the uplift model, its held-out evaluation and the guard's verdict as a run "
        "of the MLflow experiment winback-uplift (the scorer's store).",
    ),
]


campaign_app = typer.Typer(
    name="campaign",
    help="Learn from campaigns: measure response against a control group.",
    no_args_is_help=True,
)


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
    out: Annotated[
        Path, typer.Option(help="Results JSON, read by later rankings.")
    ] = DEFAULT_CAMPAIGN_RESULTS,
    column_map: ColumnMapOption = None,
    config: ConfigOption = None,
    learn: Annotated[
        bool,
        typer.Option(
            help="Also learn the uplift model later rankings use when its guard promotes it "
            "(--no-learn: measure only).",
        ),
    ] = True,
    uplift_out: Annotated[
        Path | None,
        typer.Option(help="Uplift model JSON (default: uplift_model.json beside --out)."),
    ] = None,
    mlflow: MlflowOption = True,
    delimiter: DelimiterOption = None,
    encoding: EncodingOption = None,
    date_format: DateFormatOption = None,
    id_format: IdFormatOption = "text",
) -> None:
    """Measure a campaign: response and spend per channel and segment, treated vs control.

    Uplift with 95% confidence intervals (Newcombe for response, normal for spend), orders a
    month before vs after. The measured response rates replace the priors of
    configs/channels.yaml in later `winback rank` runs.

    Then learns uplift per customer, channel and offer from the same log (the X-learner or
    the logistic learner, whichever ranks a held-out part better, on winback's features at
    each contact day), judges it against the prior on a held-out
    30% of the customers, and stores it with the verdict: `winback rank` uses it only when
    it was promoted.
    """
    from features.config import load_feature_config
    from features.contract import parse_column_map
    from pipelines.cli.transactions import load_for_command
    from pipelines.economics.campaign import import_campaign
    from pipelines.paths import quarantine_path_for_command

    feature_config = load_feature_config(config)  # once: reading, measuring and learning
    loaded = load_for_command(
        transactions,
        column_map,
        read_options(delimiter, encoding, date_format, id_format),
        quarantine_path_for_command("campaign import", out),
        lines=feature_config.lines,
    )
    results = import_campaign(
        log,
        loaded,
        feature_config,
        horizon_days,
        out,
        parse_column_map(column_map),
    )
    print_load_report(loaded.report)
    console.print(campaign_table(results, horizon_days))
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
    if results.get("monitoring"):
        from pipelines.economics.channels import load_channel_config
        from pipelines.economics.monitoring import monitoring_lines

        for line in monitoring_lines(results["monitoring"], load_channel_config().currency):
            console.print(line, highlight=False)
    console.print(f"[green]wrote[/green] {out}; later rankings use these response rates")
    if learn:
        document = _learn_from_import(
            log, loaded, feature_config, horizon_days, out, uplift_out, column_map
        )
        if mlflow and document is not None:
            _log_to_mlflow(document, results.get("monitoring"))


def _learn_from_import(
    log: Path,
    transactions: LoadedTransactions | str,
    feature_config: FeatureConfig,
    horizon_days: int,
    out: Path,
    uplift_out: Path | None,
    column_map: str | None,
) -> dict | None:
    """The uplift half of ``campaign import`` (:mod:`pipelines.economics.campaign_uplift`);
    returns the stored model document (None when no model was stored)."""
    from features.contract import parse_column_map
    from pipelines.economics.campaign_uplift import imported_uplift_lines, learn_from_import
    from pipelines.economics.channels import load_channel_config
    from pipelines.paths import UPLIFT_MODEL_FILE

    with console.status("learning the uplift model from the campaign ..."):
        outcome = learn_from_import(
            log,
            transactions,
            feature_config,
            load_channel_config(),
            horizon_days,
            uplift_out or out.with_name(UPLIFT_MODEL_FILE),
            parse_column_map(column_map),
        )
    for line in imported_uplift_lines(outcome):
        console.print(line, highlight=False)
    return outcome.document


def _log_to_mlflow(document: dict, monitoring: dict | None = None) -> None:
    """One MLflow run for the uplift model (:mod:`pipelines.registry.uplift_runs`)."""
    from pipelines.registry.uplift_runs import UPLIFT_EXPERIMENT, log_uplift_model

    with console.status("logging the uplift model to MLflow ..."):
        run_id = log_uplift_model(document, monitoring)
    console.print(
        f"logged to MLflow: experiment {UPLIFT_EXPERIMENT}, run {run_id}", highlight=False
    )


LearnerOption = Annotated[
    Literal[
        "auto", "xlearner", "logistic", "offset_t", "tlearner", "class_transformation", "shrinkage"
    ],
    typer.Option(
        help="Uplift learner: auto (default: xlearner and logistic compared on part of the "
        "training customers, the better Qini kept; xlearner with --no-evaluate), xlearner, "
        "offset_t, tlearner, class_transformation (pooled boosted trees on every feature, "
        "channel and offer as inputs), logistic (penalised logistic model with contact x feature "
        "interactions) or shrinkage (empirical Bayes per channel x offer x segment cell)."
    ),
]
LogMapOption = Annotated[
    str | None,
    typer.Option(
        "--log-map",
        help="The log's own column names, e.g. returned=visit,customer_id=cust.",
    ),
]


def _names(text: str | None) -> list[str] | None:
    """``a,b,c`` as a list (None when not given)."""
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    return names or None


@campaign_app.command("learn")
@user_errors_exit_2
def campaign_learn(
    log: Annotated[
        Path,
        typer.Option(
            help="Campaign log CSV: customer_id, contacted_at, channel, offer, group, "
            "returned (0/1), optionally spend, and customer feature columns."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Uplift model JSON, read by `campaign predict`.")],
    learner: LearnerOption = "auto",
    features: Annotated[
        str | None,
        typer.Option(help="Feature columns to learn from, e.g. a,b,c (default: all of them)."),
    ] = None,
    segment: Annotated[
        str | None, typer.Option(help="Segment column of --learner shrinkage (default: status).")
    ] = None,
    transactions: Annotated[
        str | None,
        typer.Option(
            "--transactions",
            "-t",
            help="Take returned, spend and winback's own features from these transactions "
            "(CSV, Parquet or 'cdnow') instead of the log's columns.",
        ),
    ] = None,
    horizon_days: Annotated[
        int, typer.Option(help="With --transactions: days after the contact that count.", min=1)
    ] = 90,
    config: ConfigOption = None,
    channels: ChannelsOption = None,
    column_map: ColumnMapOption = None,
    log_map: LogMapOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the held-out split and the learners.")] = 0,
    evaluate: Annotated[
        bool,
        typer.Option(
            help="Judge the learners on a held-out 30% before the final fit (--no-evaluate "
            "skips it: faster, same model, but no promotion verdict, so `rank` keeps the prior)."
        ),
    ] = True,
    mlflow: MlflowOption = True,
    delimiter: DelimiterOption = None,
    encoding: EncodingOption = None,
    date_format: DateFormatOption = None,
    id_format: IdFormatOption = "text",
) -> None:
    """Learn uplift per customer, channel and offer from a randomised campaign log.

    Prints the rows read and used, treatment and control per channel x offer, and a
    held-out evaluation (fit on 70% of the customers, normalised Qini and uplift@30% on the
    other 30%, beside the T-learner, class transformation and a random score; `auto` first
    keeps the better of the X-learner and the logistic learner, compared on part of the
    70%); then refits
    on every row and saves the model with its learner, features, options, counts, source
    file and SHA-256.
    """
    from pipelines.economics.channels import load_channel_config
    from pipelines.economics.uplift_stage import (
        check_learner,
        learn_uplift_model,
        save_uplift_model,
    )

    channel_config = load_channel_config(channels)
    source = _read_transactions(
        transactions,
        column_map,
        read_options(delimiter, encoding, date_format, id_format),
        out,
        config,
    )
    learning_log = _learning_log(
        log, source, horizon_days, config, channel_config, column_map, log_map, features
    )
    check_learner(learner, segment, learning_log)
    if source is not None:
        print_load_report(source.report)
    print_rows(learning_log)
    document = learn_uplift_model(learning_log, channel_config, learner, segment, seed, evaluate)
    print_evaluation(document["evaluation"])
    promotion = document["promotion"]
    style = "green" if promotion["promote"] else "yellow"
    console.print(f"[{style}]guard:[/{style}] {promotion['reason']}", highlight=False)
    save_uplift_model(document, out)
    console.print(
        f"[green]wrote[/green] {out}: {document['learner']} on "
        f"{len(document['features'])} feature(s), "
        f"{len(document['options'])} option(s), fitted on {learning_log.rows_used:,} rows",
        highlight=False,
    )
    if mlflow:
        _log_to_mlflow(document)


def _read_transactions(
    transactions: str | None,
    column_map: str | None,
    options: ReadOptions,
    out: Path,
    config: Path | None = None,
) -> LoadedTransactions | None:
    """``--transactions`` read, reported and quarantined as every command reads them, with
    the line rules of the feature config."""
    from features.config import load_feature_config
    from features.errors import WinbackError
    from pipelines.cli.transactions import load_for_command
    from pipelines.paths import quarantine_path_for_command

    if transactions is None:
        if options != type(options)():
            raise WinbackError(
                "--delimiter, --encoding, --date-format and --id-format apply to --transactions"
            )
        return None
    return load_for_command(
        transactions,
        column_map,
        options,
        quarantine_path_for_command("campaign learn", out),
        lines=load_feature_config(config).lines,
    )


def _learning_log(
    log: Path,
    transactions: LoadedTransactions | None,
    horizon_days: int,
    config: Path | None,
    channel_config: ChannelConfig,
    column_map: str | None,
    log_map: str | None,
    features: str | None,
) -> LearningLog:
    """The log with its own outcomes, or with outcomes and features from ``--transactions``
    (the feature rules are loaded here, once, as scoring loads them)."""
    from features.config import load_feature_config
    from features.contract import parse_column_map
    from features.errors import WinbackError
    from pipelines.economics.uplift_log import (
        learning_log_from_transactions,
        parse_log_map,
        read_learning_log,
    )

    if transactions is None:
        if column_map:
            raise WinbackError("--map names the transactions' columns; use --log-map for the log")
        return read_learning_log(
            log, channel_config.channels, _names(features), parse_log_map(log_map)
        )
    if log_map:
        raise WinbackError("--log-map applies to a log with its own outcomes, not with -t")
    return learning_log_from_transactions(
        log,
        transactions,
        load_feature_config(config),
        channel_config.channels,
        horizon_days,
        parse_column_map(column_map),
        _names(features),
    )


@campaign_app.command("predict")
@user_errors_exit_2
def campaign_predict(
    model: Annotated[Path, typer.Option(help="Uplift model JSON from `campaign learn`.")],
    log: Annotated[
        Path,
        typer.Option(help="Customers CSV (or Parquet): customer_id and the model's features."),
    ],
    out: Annotated[Path, typer.Option(help="Predictions CSV.")],
    log_map: LogMapOption = None,
) -> None:
    """Predicted uplift per customer, channel and offer, and the customer's uplift group.

    Columns: customer_id, channel, offer, uplift (the change in P(return) a contact makes),
    uplift_lower (the bound decisions use), p_if_contacted, p_anyway, incremental_spend
    (empty when the model learned no spend) and uplift_group (sure_thing, persuadable,
    lost_cause, sleeping_dog). Columns other than the features are ignored.
    """
    from pipelines.economics.uplift_log import parse_log_map
    from pipelines.economics.uplift_stage import predict_uplift

    predictions, document = predict_uplift(model, log, out, parse_log_map(log_map))
    customers = predictions["customer_id"].nunique()
    console.print(
        f"{customers:,} customers x {len(document['options'])} option(s) "
        f"({document['learner']}, learned {document['created_at']})",
        highlight=False,
    )
    groups = predictions["uplift_group"].value_counts()
    console.print(
        "  " + ", ".join(f"{name}: {count:,}" for name, count in groups.items()), highlight=False
    )
    console.print(f"[green]wrote[/green] {len(predictions):,} rows to {out}", highlight=False)


app = typer.Typer()
app.add_typer(campaign_app, rich_help_panel=PANEL)
