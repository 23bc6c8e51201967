"""Trend of sleepers: customers sleeping and lost at each of the last month ends.

A status is only defined at an as-of date, by the feature rules (:mod:`features.sql`, the
thresholds of ``configs/features.yaml``). The trend therefore builds the feature table at
every month end with the project's one implementation, :func:`features.build.build_features`
(about 0.2 s per date on CDNOW), and counts the statuses: the page never re-implements a
status rule.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from features.build import build_features
from features.config import FeatureConfig, StatusRules
from features.sql import STATUSES
from pipelines.report.charts import _figure, _img, _png
from pipelines.report.html import frame_table

#: Month ends shown in the trend.
TREND_MONTHS = 12


def month_ends(as_of: dt.date, months: int = TREND_MONTHS) -> list[dt.date]:
    """The last ``months`` dates: the as-of date and the month ends before it."""
    ends = [d.date() for d in pd.date_range(end=pd.Timestamp(as_of), periods=months, freq="ME")]
    if not ends or ends[-1] != as_of:
        ends = [*ends[1:], as_of] if len(ends) >= months else [*ends, as_of]
    return ends[-months:]


def status_by_month_end(
    transactions: pd.DataFrame,
    as_of: dt.date,
    config: FeatureConfig,
    months: int = TREND_MONTHS,
) -> pd.DataFrame:
    """Customers per status (columns, life-cycle order) at each month end (rows, ``date``)."""
    first = transactions["timestamp"].min()
    rows = []
    for end in month_ends(as_of, months):
        if pd.isna(first) or pd.Timestamp(end) < first.normalize():
            continue
        features = build_features(transactions, end, config).features
        counts = features["status"].astype(str).value_counts()
        rows.append({"date": end.isoformat(), **{s: int(counts.get(s, 0)) for s in STATUSES}})
    return pd.DataFrame(rows, columns=["date", *STATUSES])


def figure_trend(trend: pd.DataFrame) -> str:
    fig, ax = _figure(6.4, 3.2)
    ax.plot(trend["date"], trend["sleeping"], marker="o", color="#3949ab", label="sleeping")
    ax.plot(trend["date"], trend["lost"], marker="o", color="#9e9e9e", label="lost")
    ax.plot(trend["date"], trend["at_risk"], marker=".", color="#ef6c00", label="at risk")
    ax.set_ylabel("customers")
    ax.set_title("Sleeping, lost and at-risk customers at each month end")
    ax.tick_params(axis="x", rotation=60)
    ax.legend(frameon=False, fontsize=8)
    return _img(_png(fig), "sleepers by month end")


def trend_section(trend: pd.DataFrame, rules: StatusRules) -> str:
    """The trend's plot and table, with what changed over the months shown."""
    if trend.empty:
        return (
            '<section id="sleepers-trend"><h2>Sleepers over the last months</h2>'
            "<p>No month end with transactions before the as-of date.</p></section>"
        )
    first, last = trend.iloc[0], trend.iloc[-1]
    change = int(last["sleeping"]) - int(first["sleeping"])
    words = (
        f"Sleeping customers went from <b>{int(first['sleeping']):,}</b> on {first['date']} to "
        f"<b>{int(last['sleeping']):,}</b> on {last['date']} ({change:+,}); lost customers from "
        f"{int(first['lost']):,} to {int(last['lost']):,}."
    )
    table = trend.set_index("date")[["at_risk", "sleeping", "lost"]]
    return f"""
<section id="sleepers-trend"><h2>Sleepers over the last months</h2>
<p>{words}</p>
<div class="grid"><div>{figure_trend(trend)}</div><div>
{
        frame_table(
            table,
            index_label="month end",
            formats={c: lambda v: f"{int(v):,}" for c in table.columns},
            attrs='id="trend-table"',
        )
    }
<p class="note">Each month end's statuses come from the feature table built at that date
with the rules of configs/features.yaml (sleeping from {rules.sleeping_cycles:g} missed
cycles, lost from {rules.lost_cycles:g} missed cycles or {rules.lost_days:g} days of
silence), the same computation as the scores.</p></div></div></section>"""
