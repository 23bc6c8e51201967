"""Learning from campaigns: measure what contacts really did, against a control group.

The log's format is in :mod:`pipelines.economics.campaign_log`. For every logged customer,
over the horizon ``h`` after the contact:

* response: any purchase in ``(contacted_at, contacted_at + h]`` (a purchase on the contact
  day itself does not count: with daily timestamps it may have come before the contact);
* spend: the net amount of the customer's lines in that window;
* orders per month before and after: purchase days in ``(contacted_at - h, contacted_at]``
  and in the response window, divided by ``h / DAYS_PER_MONTH`` (the product's one month,
  the 30 days the CLV uses, :data:`models.gamma_gamma.DAYS_PER_MONTH`).

Contacts whose window is not over yet (ends after the last transaction) are left out and
counted. Uplift is treatment minus control: for the response rate with Newcombe's hybrid
score interval (method 10 of Newcombe, 1998; the Wald interval is reported beside it), for
spend per contact with a normal (Welch) interval (:mod:`pipelines.economics.intervals`).
The response rate a later ranking uses is ``uplift / (1 - control rate)``: the share of
those who would not have come back on their own whom the contact brought back, the quantity
``configs/channels.yaml`` calls ``response_rate``. The results are stored and read back by
:mod:`pipelines.economics.campaign_results`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from models.gamma_gamma import DAYS_PER_MONTH
from pipelines.economics.campaign_log import GROUPS, CampaignLogError, read_campaign_log
from pipelines.economics.campaign_results import NO_HISTORY, json_ready, write_campaign_results
from pipelines.economics.channels import ChannelConfig, load_channel_config
from pipelines.economics.intervals import (
    mean_difference_interval,
    newcombe_interval,
    wald_interval,
)
from pipelines.economics.monitoring import monitor_decisions


def campaign_outcomes(
    log: pd.DataFrame,
    transactions: pd.DataFrame,
    horizon_days: int,
    data_end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """One row per logged customer: response, spend, orders before and after.

    ``transactions`` are clean contract rows (``customer_id``, ``timestamp``, ``amount``).
    Adds ``complete`` (the window ended on or before ``data_end``, default: the last
    transaction).
    """
    horizon = pd.Timedelta(days=int(horizon_days))
    data_end = pd.Timestamp(data_end) if data_end is not None else transactions["timestamp"].max()
    outcomes = log.copy()
    tx = transactions.loc[:, ["customer_id", "timestamp", "amount"]].copy()
    tx["customer_id"] = tx["customer_id"].astype(str)
    tx = tx[tx["customer_id"].isin(set(outcomes["customer_id"]))]
    joined = tx.merge(outcomes[["customer_id", "contacted_at"]], on="customer_id")
    after = (joined["timestamp"] > joined["contacted_at"]) & (
        joined["timestamp"] <= joined["contacted_at"] + horizon
    )
    before = (joined["timestamp"] > joined["contacted_at"] - horizon) & (
        joined["timestamp"] <= joined["contacted_at"]
    )
    joined["day"] = joined["timestamp"].dt.normalize()
    purchase = joined["amount"] >= 0

    def purchase_days(mask: pd.Series) -> pd.Series:
        return joined[mask & purchase].groupby("customer_id")["day"].nunique()

    spend = joined[after].groupby("customer_id")["amount"].sum()
    orders_after = purchase_days(after)
    orders_before = purchase_days(before)
    ids = outcomes["customer_id"]
    outcomes["orders_after"] = ids.map(orders_after).fillna(0).astype("int64").to_numpy()
    outcomes["orders_before"] = ids.map(orders_before).fillna(0).astype("int64").to_numpy()
    outcomes["responded"] = outcomes["orders_after"] > 0
    outcomes["spend"] = ids.map(spend).fillna(0.0).astype(float).to_numpy()
    outcomes["complete"] = (outcomes["contacted_at"] + horizon) <= data_end
    outcomes["known_customer"] = ids.isin(set(tx["customer_id"]))
    return outcomes


def _compare(treatment: pd.DataFrame, control: pd.DataFrame) -> dict[str, Any]:
    """Treatment vs control on response and spend, with 95% intervals."""
    n_t, n_c = len(treatment), len(control)
    k_t, k_c = int(treatment["responded"].sum()), int(control["responded"].sum())
    record: dict[str, Any] = {
        "n_treatment": n_t,
        "n_control": n_c,
        "responders_treatment": k_t,
        "responders_control": k_c,
    }
    if n_t == 0 or n_c == 0:
        return record
    p_t, p_c = k_t / n_t, k_c / n_c
    lower, upper = newcombe_interval(k_t, n_t, k_c, n_c)
    wald_lower, wald_upper = wald_interval(k_t, n_t, k_c, n_c)
    spend_uplift, spend_lower, spend_upper = mean_difference_interval(
        treatment["spend"].to_numpy(), control["spend"].to_numpy()
    )
    uplift = p_t - p_c
    not_anyway = 1.0 - p_c
    record.update(
        {
            "response_treatment": p_t,
            "response_control": p_c,
            "uplift": uplift,
            "uplift_ci": [float(lower), float(upper)],
            "uplift_ci_wald": [float(wald_lower), float(wald_upper)],
            "spend_treatment": float(treatment["spend"].mean()),
            "spend_control": float(control["spend"].mean()),
            "spend_uplift": spend_uplift,
            "spend_uplift_ci": [spend_lower, spend_upper],
            "response_rate": uplift / not_anyway if not_anyway > 0 else None,
            "response_rate_ci": (
                [float(lower) / not_anyway, float(upper) / not_anyway] if not_anyway > 0 else None
            ),
        }
    )
    return record


def _controls_for(channel: str | None, controls: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    if channel is not None:
        same = controls[controls["channel"] == channel]
        if len(same):
            return same, "same channel"
    return controls, "all controls"


def measure_campaign(
    log: pd.DataFrame,
    transactions: pd.DataFrame,
    horizon_days: int = 90,
    segments: Mapping[str, str] | pd.Series | None = None,
    data_end: pd.Timestamp | None = None,
    channels: ChannelConfig | None = None,
) -> dict[str, Any]:
    """Measure response, spend and frequency, treatment vs control, overall, per channel,
    per segment and per channel x segment. Returns a JSON-ready dict.

    ``segments`` maps customer_id -> segment (the customer's status at the contact); missing
    customers are ``no_history``. With ``channels`` (margin and costs), a log that carries
    its list's decision-time numbers is also monitored (:mod:`pipelines.economics.monitoring`).
    """
    if int(horizon_days) < 1:
        raise CampaignLogError(f"horizon must be at least 1 day, got {horizon_days}")
    outcomes = campaign_outcomes(log, transactions, horizon_days, data_end)
    measured = _measurable(outcomes, transactions, horizon_days)
    segment_map = pd.Series(segments if segments is not None else {}, dtype="object")
    measured["segment"] = measured["customer_id"].map(segment_map).fillna(NO_HISTORY)
    treatment = measured[measured["group"] == "treatment"]
    controls = measured[measured["group"] == "control"]
    return json_ready(
        {
            "horizon_days": int(horizon_days),
            "contacts_logged": len(outcomes),
            "contacts_measured": len(measured),
            "contacts_window_not_over": int((~outcomes["complete"]).sum()),
            "customers_not_in_transactions": int((~outcomes["known_customer"]).sum()),
            "first_contact": pd.Timestamp(measured["contacted_at"].min()).date().isoformat(),
            "last_contact": pd.Timestamp(measured["contacted_at"].max()).date().isoformat(),
            "overall": _compare(treatment, controls),
            "by_channel": _by_channel(treatment, controls),
            "by_segment": _by_segment(measured, treatment, controls),
            "by_channel_segment": _by_channel_segment(treatment, controls),
            "frequency": _frequency(measured, horizon_days),
            "monitoring": monitor_decisions(measured, channels) if channels else None,
        }
    )


def _measurable(
    outcomes: pd.DataFrame, transactions: pd.DataFrame, horizon_days: int
) -> pd.DataFrame:
    """The contacts whose window is over; an error when the log cannot be measured at all."""
    if not outcomes["known_customer"].any():
        raise CampaignLogError(
            "none of the logged customer ids appears in the transactions; check that the log "
            "and the transactions use the same ids"
        )
    measured = outcomes[outcomes["complete"]].copy()
    if measured.empty:
        last = pd.Timestamp(transactions["timestamp"].max()).date()
        earliest = pd.Timestamp(outcomes["contacted_at"].min()).date()
        raise CampaignLogError(
            f"the {horizon_days}-day horizon is not over for any contact: the transactions end "
            f"on {last}, the first contact was on {earliest}; rerun with newer transactions or "
            "a shorter --horizon-days"
        )
    return measured


def _by_channel(treatment: pd.DataFrame, controls: pd.DataFrame) -> list[dict[str, Any]]:
    records = []
    for channel in sorted(treatment["channel"].dropna().unique()):
        control, basis = _controls_for(channel, controls)
        record = {"channel": channel, "control_basis": basis}
        record.update(_compare(treatment[treatment["channel"] == channel], control))
        records.append(record)
    return records


def _by_segment(
    measured: pd.DataFrame, treatment: pd.DataFrame, controls: pd.DataFrame
) -> list[dict[str, Any]]:
    records = []
    for segment in sorted(measured["segment"].unique()):
        record = {"segment": segment}
        record.update(
            _compare(
                treatment[treatment["segment"] == segment], controls[controls["segment"] == segment]
            )
        )
        records.append(record)
    return records


def _by_channel_segment(treatment: pd.DataFrame, controls: pd.DataFrame) -> list[dict[str, Any]]:
    records = []
    for (channel, segment), group in treatment.groupby(["channel", "segment"], sort=True):
        control, basis = _controls_for(channel, controls)
        control = control[control["segment"] == segment]
        record = {"channel": channel, "segment": segment, "control_basis": basis}
        record.update(_compare(group, control))
        records.append(record)
    return records


def _frequency(measured: pd.DataFrame, horizon_days: int) -> list[dict[str, Any]]:
    """Orders a month in the horizon before and after the contact, per group."""
    months = int(horizon_days) / DAYS_PER_MONTH
    frequency = []
    for group_name in GROUPS:
        group = measured[measured["group"] == group_name]
        frequency.append(
            {
                "group": group_name,
                "customers": len(group),
                "orders_per_month_before": float(group["orders_before"].mean() / months),
                "orders_per_month_after": float(group["orders_after"].mean() / months),
            }
        )
    return frequency


# --------------------------------------------------------------------------- I/O edges
def segments_at(transactions: pd.DataFrame, as_of: dt.date, config: FeatureConfig) -> pd.Series:
    """Each customer's status on ``as_of`` (features built with ``config`` from data up to
    that day)."""
    from features.build import build_features

    history = transactions[transactions["timestamp"] < pd.Timestamp(as_of) + pd.Timedelta(days=1)]
    if history.empty:
        return pd.Series(dtype="object")
    features = build_features(history, as_of, config).features
    return pd.Series(features["status"].to_numpy(), index=features["customer_id"].astype(str))


def check_contacts_covered(log: pd.DataFrame, transactions: pd.DataFrame, source: str) -> None:
    """Refuse contacts dated before the transactions begin.

    Such a contact has no history to segment on, and a window the transactions may not
    cover: measured, it reads as a 0% response, which would replace the channel's prior
    with zero. (Contacts whose window runs past the last transaction are left out and
    counted as "window not over", not refused.)
    """
    first = transactions["timestamp"].min()
    early = (log["contacted_at"] < first.normalize()).to_numpy()
    if early.any():
        row = int(np.flatnonzero(early)[0]) + 1
        raise CampaignLogError(
            f"{source}: row {row}: contacted_at {log['contacted_at'].iloc[row - 1].date()} is "
            f"before the first transaction ({first.date()}); {int(early.sum()):,} contact(s) "
            "fall outside the transactions: give transactions that cover the campaign"
        )


def import_campaign(
    log_path: str | Path,
    transactions: Any,
    config: FeatureConfig,
    horizon_days: int = 90,
    out_path: str | Path | None = None,
    column_map: Mapping[str, str] | None = None,
    channels: ChannelConfig | None = None,
) -> dict[str, Any]:
    """Read a log and transactions, measure, and store the results as JSON.

    Segments are the customers' statuses on the day before the first contact, by the
    feature rules ``config``.
    """
    from pipelines.featurize import ensure_loaded

    log = read_campaign_log(log_path)
    loaded = ensure_loaded(transactions, column_map)
    check_contacts_covered(log, loaded.transactions, str(log_path))
    first_contact = pd.Timestamp(log["contacted_at"].min()).date()
    segments = segments_at(loaded.transactions, first_contact - dt.timedelta(days=1), config)
    channels = channels or load_channel_config()
    results = measure_campaign(log, loaded.transactions, horizon_days, segments, channels=channels)
    results = {
        "log": str(log_path),
        "transactions": loaded.report.source,
        "segments_as_of": (first_contact - dt.timedelta(days=1)).isoformat(),
        "created_at": dt.datetime.now().isoformat(timespec="seconds"),
        **results,
    }
    if out_path is not None:
        write_campaign_results(results, out_path)
    return results
