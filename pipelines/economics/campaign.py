"""Learning from campaigns: measure what contacts really did, against a control group.

A campaign log has one row per customer: ``customer_id``, ``contacted_at``, ``channel``,
``offer``, ``group`` (``treatment`` = contacted, ``control`` = held out, not contacted).
Control rows may name the channel the customer *would* have been contacted by (a holdout
drawn within each channel); then each channel is compared with its own controls, otherwise
with all controls.

For every logged customer, over the horizon ``h`` after the contact:

* response: any purchase in ``(contacted_at, contacted_at + h]`` (a purchase on the contact
  day itself does not count: with daily timestamps it may have come before the contact);
* spend: the net amount of the customer's lines in that window;
* orders per month before and after: purchase days in ``(contacted_at - h, contacted_at]``
  and in the response window, divided by ``h / 30.4375``.

Contacts whose window is not over yet (ends after the last transaction) are left out and
counted. Uplift is treatment minus control: for the response rate with Newcombe's hybrid
score interval (method 10 of Newcombe, 1998; the Wald interval is reported beside it), for
spend per contact with a normal (Welch) interval. The response rate a later ranking uses is
``uplift / (1 - control rate)``: the share of those who would not have come back on their
own whom the contact brought back, the quantity ``configs/channels.yaml`` calls
``response_rate``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import WinbackError

CAMPAIGN_LOG_COLUMNS = ("customer_id", "contacted_at", "channel", "offer", "group")
GROUPS = ("treatment", "control")
DAYS_PER_MONTH = 30.4375
#: Two-sided 95% normal quantile.
Z_95 = 1.959963984540054
#: Segment of a customer with no purchase before the contact.
NO_HISTORY = "no_history"


class CampaignLogError(WinbackError):
    """A campaign log that cannot be measured."""


# --------------------------------------------------------------------------- statistics
def wilson_interval(successes: Any, n: Any, z: float = Z_95) -> tuple[Any, Any]:
    """Wilson score interval of a proportion (vectorised; n > 0)."""
    successes = np.asarray(successes, float)
    n = np.asarray(n, float)
    p = successes / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def newcombe_interval(
    successes_1: Any, n_1: Any, successes_2: Any, n_2: Any, z: float = Z_95
) -> tuple[Any, Any]:
    """Newcombe's hybrid score interval for ``p1 - p2`` (method 10, Newcombe 1998).

    Built from the two Wilson intervals; unlike the Wald interval it keeps its coverage for
    small groups and rates near 0 or 1, which is where win-back response rates live.
    """
    p1 = np.asarray(successes_1, float) / np.asarray(n_1, float)
    p2 = np.asarray(successes_2, float) / np.asarray(n_2, float)
    l1, u1 = wilson_interval(successes_1, n_1, z)
    l2, u2 = wilson_interval(successes_2, n_2, z)
    difference = p1 - p2
    lower = difference - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = difference + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return lower, upper


def wald_interval(
    successes_1: Any, n_1: Any, successes_2: Any, n_2: Any, z: float = Z_95
) -> tuple[Any, Any]:
    """Wald interval for ``p1 - p2`` (shown for comparison; too narrow for small groups)."""
    n_1 = np.asarray(n_1, float)
    n_2 = np.asarray(n_2, float)
    p1 = np.asarray(successes_1, float) / n_1
    p2 = np.asarray(successes_2, float) / n_2
    half = z * np.sqrt(p1 * (1 - p1) / n_1 + p2 * (1 - p2) / n_2)
    return p1 - p2 - half, p1 - p2 + half


def mean_difference_interval(
    treatment: np.ndarray, control: np.ndarray, z: float = Z_95
) -> tuple[float, float, float]:
    """Difference of means with a normal (Welch) interval: (difference, lower, upper)."""
    treatment = np.asarray(treatment, float)
    control = np.asarray(control, float)
    difference = float(treatment.mean() - control.mean())
    variance = 0.0
    for sample in (treatment, control):
        if len(sample) > 1:
            variance += float(sample.var(ddof=1)) / len(sample)
    half = z * math.sqrt(variance)
    return difference, difference - half, difference + half


# --------------------------------------------------------------------------- the log
def validate_campaign_log(frame: pd.DataFrame, source: str = "campaign log") -> pd.DataFrame:
    """Check and type a campaign log; errors name the column or the first bad row (1-based)."""
    frame = frame.rename(columns=lambda c: str(c).strip())
    missing = [c for c in CAMPAIGN_LOG_COLUMNS if c not in frame.columns]
    if missing:
        raise CampaignLogError(
            f"{source}: missing column(s) {', '.join(missing)}; a campaign log needs "
            + ", ".join(CAMPAIGN_LOG_COLUMNS)
        )
    if frame.empty:
        raise CampaignLogError(f"{source}: has a header but no rows")
    log = frame.loc[:, list(CAMPAIGN_LOG_COLUMNS)].copy()
    log["customer_id"] = log["customer_id"].astype("object").where(log["customer_id"].notna())
    log["customer_id"] = log["customer_id"].map(lambda v: None if v is None else str(v).strip())
    empty_id = log["customer_id"].isna() | (log["customer_id"] == "")
    if empty_id.any():
        raise CampaignLogError(f"{source}: row {_row(empty_id)}: customer_id is empty")
    group = (
        log["group"]
        .astype("object")
        .map(lambda v: str(v).strip().lower() if isinstance(v, str) else v)
    )
    bad_group = ~group.isin(GROUPS)
    if bad_group.any():
        value = log["group"][bad_group].iloc[0]
        raise CampaignLogError(
            f"{source}: row {_row(bad_group)}: group {value!r} is not 'treatment' or 'control'"
        )
    log["group"] = group.astype(str)
    contacted = pd.to_datetime(log["contacted_at"], errors="coerce", format="mixed")
    bad_date = contacted.isna()
    if bad_date.any():
        value = log["contacted_at"][bad_date].iloc[0]
        raise CampaignLogError(
            f"{source}: row {_row(bad_date)}: contacted_at {value!r} is not a date "
            "(use YYYY-MM-DD or YYYY-MM-DD HH:MM)"
        )
    if getattr(contacted.dt, "tz", None) is not None:
        contacted = contacted.dt.tz_convert("UTC").dt.tz_localize(None)
    log["contacted_at"] = contacted.astype("datetime64[us]")
    for column in ("channel", "offer"):
        text = log[column].astype("object").where(log[column].notna())
        log[column] = text.map(
            lambda v: None if v is None or str(v).strip() == "" else str(v).strip()
        )
    no_channel = (log["group"] == "treatment") & log["channel"].isna()
    if no_channel.any():
        raise CampaignLogError(
            f"{source}: row {_row(no_channel)}: a treatment row needs its channel"
        )
    duplicated = log["customer_id"].duplicated()
    if duplicated.any():
        raise CampaignLogError(
            f"{source}: row {_row(duplicated)}: customer {log['customer_id'][duplicated].iloc[0]!r}"
            " is logged twice; log each customer once per campaign"
        )
    if not (log["group"] == "control").any():
        raise CampaignLogError(
            f"{source}: no control rows; uplift needs a control group that was not contacted"
        )
    if not (log["group"] == "treatment").any():
        raise CampaignLogError(f"{source}: no treatment rows")
    return log.reset_index(drop=True)


def _row(mask: pd.Series) -> int:
    """1-based data row (after the header) of the first true value."""
    return int(np.flatnonzero(mask.to_numpy())[0]) + 1


def read_campaign_log(path: str | Path) -> pd.DataFrame:
    """Read a campaign log CSV (or Parquet) and validate it."""
    path = Path(path)
    if not path.exists():
        raise CampaignLogError(f"{path}: campaign log not found")
    if path.is_dir() or path.stat().st_size == 0:
        raise CampaignLogError(f"{path}: is empty or a folder, expected a CSV file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (ValueError, OSError, UnicodeDecodeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "unreadable"
        raise CampaignLogError(f"{path}: cannot be read ({first_line})") from None
    return validate_campaign_log(frame, str(path))


# --------------------------------------------------------------------------- measurement
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
) -> dict[str, Any]:
    """Measure response, spend and frequency, treatment vs control, overall, per channel,
    per segment and per channel x segment. Returns a JSON-ready dict.

    ``segments`` maps customer_id -> segment (the customer's status at the contact); missing
    customers are ``no_history``.
    """
    if int(horizon_days) < 1:
        raise CampaignLogError(f"horizon must be at least 1 day, got {horizon_days}")
    outcomes = campaign_outcomes(log, transactions, horizon_days, data_end)
    if not outcomes["known_customer"].any():
        raise CampaignLogError(
            "none of the logged customer ids appears in the transactions; check that the log "
            "and the transactions use the same ids"
        )
    incomplete = int((~outcomes["complete"]).sum())
    measured = outcomes[outcomes["complete"]].copy()
    if measured.empty:
        last = pd.Timestamp(transactions["timestamp"].max()).date()
        earliest = pd.Timestamp(outcomes["contacted_at"].min()).date()
        raise CampaignLogError(
            f"the {horizon_days}-day horizon is not over for any contact: the transactions end "
            f"on {last}, the first contact was on {earliest}; rerun with newer transactions or "
            "a shorter --horizon-days"
        )
    segment_map = pd.Series(segments if segments is not None else {}, dtype="object")
    measured["segment"] = measured["customer_id"].map(segment_map).fillna(NO_HISTORY)
    treatment = measured[measured["group"] == "treatment"]
    controls = measured[measured["group"] == "control"]

    by_channel = []
    for channel in sorted(treatment["channel"].dropna().unique()):
        control, basis = _controls_for(channel, controls)
        record = {"channel": channel, "control_basis": basis}
        record.update(_compare(treatment[treatment["channel"] == channel], control))
        by_channel.append(record)
    by_segment = []
    for segment in sorted(measured["segment"].unique()):
        record = {"segment": segment}
        record.update(
            _compare(
                treatment[treatment["segment"] == segment], controls[controls["segment"] == segment]
            )
        )
        by_segment.append(record)
    by_channel_segment = []
    for (channel, segment), group in treatment.groupby(["channel", "segment"], sort=True):
        control, basis = _controls_for(channel, controls)
        control = control[control["segment"] == segment]
        record = {"channel": channel, "segment": segment, "control_basis": basis}
        record.update(_compare(group, control))
        by_channel_segment.append(record)

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
    overall = _compare(treatment, controls)
    return _json_ready(
        {
            "horizon_days": int(horizon_days),
            "contacts_logged": len(outcomes),
            "contacts_measured": len(measured),
            "contacts_window_not_over": incomplete,
            "customers_not_in_transactions": int((~outcomes["known_customer"]).sum()),
            "first_contact": pd.Timestamp(measured["contacted_at"].min()).date().isoformat(),
            "last_contact": pd.Timestamp(measured["contacted_at"].max()).date().isoformat(),
            "overall": overall,
            "by_channel": by_channel,
            "by_segment": by_segment,
            "by_channel_segment": by_channel_segment,
            "frequency": frequency,
        }
    )


def measured_response_rates(results: Mapping[str, Any]) -> dict[str, dict[str, dict]]:
    """channel -> segment (status, or ``"all"``) -> response rate and group sizes.

    What :meth:`pipelines.economics.channels.ChannelConfig.with_measured_response_rates` takes.
    """
    rates: dict[str, dict[str, dict]] = {}
    for record in results.get("by_channel", []):
        if record.get("response_rate") is not None:
            rates.setdefault(record["channel"], {})["all"] = _rate_entry(record)
    for record in results.get("by_channel_segment", []):
        if record.get("response_rate") is not None and record["segment"] != NO_HISTORY:
            rates.setdefault(record["channel"], {})[record["segment"]] = _rate_entry(record)
    return rates


def _rate_entry(record: Mapping[str, Any]) -> dict:
    return {
        "response_rate": record["response_rate"],
        "n_treatment": record["n_treatment"],
        "n_control": record["n_control"],
    }


def _json_ready(value: Any) -> Any:
    """Plain JSON types; NaN and infinities become null."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


# --------------------------------------------------------------------------- I/O edges
def segments_at(transactions: pd.DataFrame, as_of: dt.date) -> pd.Series:
    """Each customer's status on ``as_of`` (features built from data up to that day)."""
    from features.build import build_features

    history = transactions[transactions["timestamp"] < pd.Timestamp(as_of) + pd.Timedelta(days=1)]
    if history.empty:
        return pd.Series(dtype="object")
    features = build_features(history, as_of).features
    return pd.Series(features["status"].to_numpy(), index=features["customer_id"].astype(str))


def import_campaign(
    log_path: str | Path,
    transactions: Any,
    horizon_days: int = 90,
    out_path: str | Path | None = None,
    column_map: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Read a log and transactions, measure, and store the results as JSON.

    Segments are the customers' statuses on the day before the first contact.
    """
    from features.contract import load_transactions

    log = read_campaign_log(log_path)
    loaded = load_transactions(transactions, column_map=column_map)
    first_contact = pd.Timestamp(log["contacted_at"].min()).date()
    segments = segments_at(loaded.transactions, first_contact - dt.timedelta(days=1))
    results = measure_campaign(log, loaded.transactions, horizon_days, segments)
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


def write_campaign_results(results: Mapping[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_json_ready(results), indent=2) + "\n")
    return path


def load_campaign_results(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise CampaignLogError(
            f"{path}: campaign results not found (run `winback campaign import` first)"
        )
    try:
        results = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CampaignLogError(f"{path}: not a campaign results file ({error})") from None
    if not isinstance(results, dict) or "by_channel" not in results:
        raise CampaignLogError(f"{path}: not a campaign results file (no by_channel)")
    return results
