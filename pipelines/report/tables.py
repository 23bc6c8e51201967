"""The report's measures as plain DataFrames, so tests and notebooks check what the page shows.

The measures are the ones win-back marketers already use: status by loyalty-ladder stage,
ABC-XYZ, lost revenue by the rule of thumb next to the model, CRR by month, LTV by segment,
and the totals of the win-back list. Each is a function of the scores (or transactions) and the
channels config, with no HTML in it; :mod:`pipelines.report.page` lays them out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from features.sql import LADDER_STAGES, STATUSES
from models.gamma_gamma import DAYS_PER_MONTH
from pipelines.economics.channels import ChannelConfig
from pipelines.economics.options import contact_options
from pipelines.economics.plan import channel_totals

#: CRR counts a customer "on the books" while their last purchase is at most this old.
CRR_ACTIVE_WINDOW_DAYS = 180


def status_by_ladder(scores: pd.DataFrame) -> pd.DataFrame:
    """Customers by status (rows, life-cycle order) and ladder stage (columns)."""
    table = pd.crosstab(scores["status"], scores["ladder_stage"])
    return table.reindex(index=list(STATUSES), columns=list(LADDER_STAGES), fill_value=0)


def abc_xyz_matrix(scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(customers, share of past revenue) per ABC (rows) x XYZ (columns) cell."""
    counts = pd.crosstab(scores["abc"], scores["xyz"]).reindex(
        index=["A", "B", "C"], columns=["X", "Y", "Z"], fill_value=0
    )
    revenue = (
        scores.assign(revenue=scores["total_spend"].clip(lower=0))
        .pivot_table(index="abc", columns="xyz", values="revenue", aggfunc="sum", fill_value=0.0)
        .reindex(index=["A", "B", "C"], columns=["X", "Y", "Z"], fill_value=0.0)
    )
    total = float(revenue.to_numpy().sum()) or 1.0
    return counts, revenue / total


def lost_revenue(scores: pd.DataFrame, config: ChannelConfig) -> pd.DataFrame:
    """Revenue a win-back could recover, per status: rule of thumb next to the model.

    * rule of thumb: customers x ``rule_of_thumb_win_back_rate`` x their average check;
    * model, if all contacted: sum over customers of ``p_return_if_contacted x
      spend_if_returned`` with each customer's best channel (highest expected incremental
      value), i.e. the same quantity the rule of thumb estimates;
    * of which incremental: ``(p_return_if_contacted - p_return_anyway) x
      spend_if_returned``: what the contacts add over the customers' own returns.
    """
    statuses = ("at_risk", "sleeping", "lost")
    options = contact_options(scores, replace(config, eligible_statuses=statuses))
    best = np.argmax(options.expected_incremental_value, axis=1) if len(options.customers) else []
    rows = np.arange(len(options.customers))
    p_best = options.p_return_if_contacted[rows, best] if len(rows) else np.array([])
    frame = pd.DataFrame(
        {
            "status": options.customers["status"].astype(str).to_numpy(),
            "average_check": options.customers["avg_order_value"].to_numpy(float),
            "if_all_contacted": p_best * options.spend_if_returned,
            "incremental": (p_best - options.p_return_anyway) * options.spend_if_returned,
        }
    )
    grouped = frame.groupby("status").agg(
        customers=("status", "size"),
        average_check=("average_check", "mean"),
        model_if_all_contacted=("if_all_contacted", "sum"),
        model_incremental=("incremental", "sum"),
    )
    grouped = grouped.reindex(list(statuses)).fillna(0.0)
    grouped["customers"] = grouped["customers"].astype("int64")
    grouped["rule_of_thumb"] = (
        grouped["customers"] * config.rule_of_thumb_win_back_rate * grouped["average_check"]
    )
    return grouped[
        [
            "customers",
            "average_check",
            "rule_of_thumb",
            "model_if_all_contacted",
            "model_incremental",
        ]
    ]


def crr_by_month(
    transactions: pd.DataFrame, as_of: dt.date, active_window_days: int = CRR_ACTIVE_WINDOW_DAYS
) -> pd.DataFrame:
    """CRR = (E - N) / S x 100 per calendar month up to ``as_of``.

    S: customers on the books at the start of the month, E: at its end (or at ``as_of`` for
    the last, partial month), N: customers whose first purchase falls in the month. A
    customer is on the books on a day when they bought within the ``active_window_days``
    before it. The first month has no S and is left out. ``returned``: customers on the
    books at the end who were neither on them at the start nor new, i.e. lapsed customers
    who came back; they count in E but not in S, which is how CRR can exceed 100%.
    """
    end = pd.Timestamp(as_of)
    tx = transactions.loc[
        transactions["timestamp"] < end + pd.Timedelta(days=1),
        ["customer_id", "timestamp", "amount"],
    ]
    tx = tx[tx["amount"] >= 0]
    days = tx.assign(day=tx["timestamp"].dt.normalize()).drop_duplicates(["customer_id", "day"])
    if days.empty:
        return pd.DataFrame(columns=["month", "S", "E", "N", "crr", "returned"])
    first = days.groupby("customer_id")["day"].min()
    window = pd.Timedelta(days=int(active_window_days))
    day_values = days["day"].to_numpy()
    customers = days["customer_id"].to_numpy()

    def on_books(day: pd.Timestamp) -> set:
        mask = (day_values > (day - window).to_datetime64()) & (day_values <= day.to_datetime64())
        return set(pd.unique(customers[mask]))

    months = pd.period_range(days["day"].min(), end, freq="M")
    rows = []
    for month in months[1:]:
        start = month.start_time.normalize()
        month_end = min(month.end_time.normalize(), end)
        at_start, at_end = on_books(start - pd.Timedelta(days=1)), on_books(month_end)
        new = set(first.index[(first >= start) & (first <= month_end)])
        s, e, n = len(at_start), len(at_end), len(new)
        rows.append(
            {
                "month": str(month),
                "S": s,
                "E": e,
                "N": n,
                "crr": (e - n) / s * 100 if s else np.nan,
                "returned": len(at_end - at_start - new),
            }
        )
    return pd.DataFrame(rows, columns=["month", "S", "E", "N", "crr", "returned"])


def ltv_by_segment(scores: pd.DataFrame, config: ChannelConfig) -> pd.DataFrame:
    """LTV = average check x purchases per month x margin x lifetime months, per ladder stage.

    Average check: the segment's spend over its orders. Purchases per month: the segment's
    mean of ``n_orders / months since first purchase`` (at least one month), a month being
    the product's :data:`~models.gamma_gamma.DAYS_PER_MONTH` days, the month of the CLV it
    is shown next to (the model's mean ``clv``, when the scores carry it).
    """
    months = np.maximum(scores["T"].to_numpy(float) / DAYS_PER_MONTH, 1.0)
    frame = scores.assign(per_month=scores["n_orders"].to_numpy(float) / months)
    grouped = frame.groupby("ladder_stage").agg(
        customers=("customer_id", "size"),
        spend=("total_spend", "sum"),
        orders=("n_orders", "sum"),
        purchases_per_month=("per_month", "mean"),
    )
    grouped = grouped.reindex([s for s in LADDER_STAGES if s in grouped.index])
    grouped["average_check"] = grouped["spend"] / grouped["orders"].where(grouped["orders"] > 0)
    grouped["ltv"] = (
        grouped["average_check"]
        * grouped["purchases_per_month"]
        * config.margin
        * config.ltv_lifetime_months
    )
    if "clv" in scores:
        grouped["model_clv"] = frame.groupby("ladder_stage")["clv"].mean()
    return grouped.drop(columns=["spend", "orders"])


def list_summary(winback_list: pd.DataFrame) -> dict[str, Any]:
    """Totals of a win-back list; the report shows exactly these."""
    return {
        "contacts": len(winback_list),
        "total_cost": float(winback_list["cost"].sum()),
        "total_expected_value": float(winback_list["expected_incremental_value"].sum()),
        "by_channel": channel_totals(winback_list),
        "by_status": winback_list["status"].value_counts(),
    }
