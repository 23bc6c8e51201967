"""What the campaign commands print: row counts, held-out evaluations, response tables.

Kept apart from :mod:`pipelines.cli.campaign` so the commands stay short; every function
here only formats numbers the stages computed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from pipelines.cli.console import console

if TYPE_CHECKING:  # types only: the module imports pandas
    from pipelines.economics.uplift_log import LearningLog


def print_rows(learning_log: LearningLog) -> None:
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


def print_evaluation(evaluation: dict | None) -> None:
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
            number(row["qini"], "{:+.3f}"),
            number(row["uplift_at_30"], "{:+.1%}"),
            number(row["uplift_at_30_se"], "{:.1%}"),
        )
    console.print(table)
    console.print(
        f"random scores reach a Qini of {evaluation['random_qini_95']:+.3f} on these rows "
        "(95th percentile): smaller differences are noise",
        highlight=False,
    )
    if evaluation.get("choice"):
        console.print(evaluation["choice"], highlight=False)


def number(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


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
