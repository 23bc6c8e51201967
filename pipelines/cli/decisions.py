"""``winback rank`` and ``winback campaign``: whom to contact, and what campaigns measured.

Thin commands over :mod:`pipelines.economics`: they parse, call the stage, print.
``campaign import`` measures a campaign per cell; ``campaign learn`` fits an uplift model
on a campaign log (:mod:`pipelines.economics.uplift_stage`) and ``campaign predict``
applies it to customers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.table import Table

from pipelines.cli.console import console
from pipelines.cli.options import (
    CampaignResultsOption,
    ChannelsOption,
    ColumnMapOption,
    ConfigOption,
    TransactionsOption,
    user_errors_exit_2,
)
from pipelines.paths import DEFAULT_CAMPAIGN_RESULTS, DEFAULT_LIST

if TYPE_CHECKING:  # types only: the modules import pandas
    from pipelines.economics.channels import ChannelConfig
    from pipelines.economics.uplift_log import LearningLog

app = typer.Typer()
PANEL = "Decisions"


@app.command(rich_help_panel=PANEL)
@user_errors_exit_2
def rank(
    scores: Annotated[Path, typer.Option(help="Scores Parquet from `winback score`.")],
    budget: Annotated[
        float, typer.Option(help="Total budget (expected cost of contacts and offers).")
    ],
    out: Annotated[Path, typer.Option(help="Win-back list CSV.")] = DEFAULT_LIST,
    channels: ChannelsOption = None,
    limit: Annotated[
        int | None, typer.Option(help="Keep only the top N rows of the list.", min=1)
    ] = None,
    campaign_results: CampaignResultsOption = None,
    holdout_share: Annotated[
        float | None,
        typer.Option(
            help="Share of the chosen customers held out at random in each channel x status "
            "cell as the control group (default: holdout_share in the channels file, 0.10).",
            min=0.01,
            max=0.99,
        ),
    ] = None,
) -> None:
    """Whom to wake, by which channel, under a budget: the marketer's task list.

    For every sleeping, at-risk or lost customer and every channel: incremental value =
    (P(return | contacted) - P(return | not contacted)) x value if returned - cost. At most
    one contact per customer, capacities respected, best value first; a bigger budget never
    gives less. Columns: rank, customer_id, status, channel, offer, p_return_if_contacted,
    p_return_anyway, value_if_returned, cost, expected_incremental_value, contact_by, reason.

    Every list reserves a randomised **control group** (not in the list the CRM gets) and
    writes its campaign log beside it (`<out>.campaign.csv`: contacted and control
    customers, the format `winback campaign import` reads). Channels and statuses no
    campaign has measured yet are explored: only part of them is contacted.
    """
    from pipelines.economics.rank import channel_mix_lines, group_lines, rank_to_csv

    result = rank_to_csv(scores, budget, out, channels, limit, campaign_results, holdout_share)
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
    for line in group_lines(result.plan):
        console.print(line, highlight=False)
    console.print(f"[green]wrote[/green] {len(result.plan.list):,} rows to {result.out}")
    console.print(
        f"[green]wrote[/green] the campaign log ({len(result.plan.campaign):,} contacted and "
        f"control rows) to {result.campaign_log}"
    )


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
) -> None:
    """Measure a campaign: response and spend per channel and segment, treated vs control.

    Uplift with 95% confidence intervals (Newcombe for response, normal for spend), orders a
    month before vs after. The measured response rates replace the priors of
    configs/channels.yaml in later `winback rank` runs.
    """
    from features.config import load_feature_config
    from features.contract import parse_column_map
    from pipelines.economics.campaign import import_campaign

    results = import_campaign(
        log,
        transactions,
        load_feature_config(config),
        horizon_days,
        out,
        parse_column_map(column_map),
    )
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


LearnerOption = Annotated[
    Literal["xlearner", "offset_t", "tlearner", "class_transformation", "shrinkage"],
    typer.Option(
        help="Uplift learner: xlearner (default, best measured), offset_t, tlearner, "
        "class_transformation (pooled boosted trees on every feature, channel and offer as "
        "inputs) or shrinkage (empirical Bayes per channel x offer x segment cell)."
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
    learner: LearnerOption = "xlearner",
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
            "skips it: faster, same model)."
        ),
    ] = True,
) -> None:
    """Learn uplift per customer, channel and offer from a randomised campaign log.

    Prints the rows read and used, treatment and control per channel x offer, and a
    held-out evaluation (fit on 70% of the customers, normalised Qini and uplift@30% on the
    other 30%, beside the T-learner, class transformation and a random score); then refits
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
    learning_log = _learning_log(
        log, transactions, horizon_days, config, channel_config, column_map, log_map, features
    )
    check_learner(learner, segment, learning_log)
    _print_rows(learning_log)
    document = learn_uplift_model(learning_log, channel_config, learner, segment, seed, evaluate)
    _print_evaluation(document["evaluation"])
    save_uplift_model(document, out)
    console.print(
        f"[green]wrote[/green] {out}: {learner} on {len(document['features'])} feature(s), "
        f"{len(document['options'])} option(s), fitted on {learning_log.rows_used:,} rows",
        highlight=False,
    )


def _learning_log(
    log: Path,
    transactions: str | None,
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


def _print_rows(learning_log: LearningLog) -> None:
    """Rows read = used + left out (by reason), then treatment and control per option."""
    from rich import box

    from pipelines.economics.uplift_log import option_counts

    console.print(
        f"rows read {learning_log.rows_read:,}, used {learning_log.rows_used:,}", highlight=False
    )
    for reason, count in learning_log.rows_left_out.items():
        console.print(f"  left out: {count:,} ({reason})", highlight=False)
    table = Table(title="Rows per channel x offer", box=box.SIMPLE_HEAD)
    for column in ("channel", "offer", "treatment", "control"):
        table.add_column(column, justify="right" if column in ("treatment", "control") else "left")
    for row in option_counts(learning_log.data).itertuples(index=False):
        table.add_row(str(row.channel), str(row.offer), f"{row.treatment:,}", f"{row.control:,}")
    console.print(table)


def _print_evaluation(evaluation: dict | None) -> None:
    """Held-out Qini and uplift@30% per learner, or why there was no evaluation."""
    from rich import box

    if evaluation is None:
        console.print("held-out evaluation skipped (--no-evaluate)")
        return
    if not evaluation["results"]:
        console.print(evaluation["reason"], highlight=False)
        return
    table = Table(
        title=f"Held-out {evaluation['share']:.0%} of the customers: {evaluation['rows_test']:,} "
        f"rows (fitted on {evaluation['rows_train']:,})",
        box=box.SIMPLE_HEAD,
    )
    for column in ("learner", "Qini", "uplift@30%", "+/- se"):
        table.add_column(column, justify="left" if column == "learner" else "right")
    for row in evaluation["results"]:
        table.add_row(
            row["learner"],
            _number(row["qini"], "{:+.3f}"),
            _number(row["uplift_at_30"], "{:+.1%}"),
            _number(row["uplift_at_30_se"], "{:.1%}"),
        )
    console.print(table)
    console.print(
        f"random scores reach a Qini of {evaluation['random_qini_95']:+.3f} on these rows "
        "(95th percentile): smaller differences are noise",
        highlight=False,
    )


def _number(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


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


def campaign_table(results: dict, horizon_days: int) -> Table:
    """Treated vs control response per channel (and overall), with the uplift's interval."""
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
    return table


app.add_typer(campaign_app, rich_help_panel=PANEL)
