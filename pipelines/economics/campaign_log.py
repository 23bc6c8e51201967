"""The campaign log: who was contacted, when and how, and who was held out as the control.

A campaign log has one row per customer: ``customer_id``, ``contacted_at``, ``channel``,
``offer``, ``group`` (``treatment`` = contacted, ``control`` = held out, not contacted).
Control rows may name the channel the customer *would* have been contacted by (a holdout
drawn within each channel); then each channel is compared with its own controls, otherwise
with all controls (:mod:`pipelines.economics.campaign`).

The log comes from outside (a CRM export, a spreadsheet), so it is checked here, at the
boundary: every error names the column or the first bad row (1-based, after the header)
and what would be accepted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import WinbackError

CAMPAIGN_LOG_COLUMNS = ("customer_id", "contacted_at", "channel", "offer", "group")
GROUPS = ("treatment", "control")


class CampaignLogError(WinbackError):
    """A campaign log that cannot be measured."""


def read_log_file(
    path: str | Path, what: str = "campaign log", error: type[Exception] = CampaignLogError
) -> pd.DataFrame:
    """A CSV (every column as text, empty cells missing) or Parquet file, refused in one
    line (raising ``error``) when it is missing, empty, a folder or unreadable.

    Text keeps ids such as ``007`` intact; validation decides later what is numeric.
    """
    path = Path(path)
    if not path.exists():
        raise error(f"{path}: {what} not found")
    if path.is_dir() or path.stat().st_size == 0:
        raise error(f"{path}: is empty or a folder, expected a CSV file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (ValueError, OSError, UnicodeDecodeError) as problem:
        first_line = str(problem).strip().splitlines()[0] if str(problem).strip() else "unreadable"
        raise error(f"{path}: cannot be read ({first_line})") from None


def read_campaign_log(path: str | Path) -> pd.DataFrame:
    """Read a campaign log CSV (or Parquet) and validate it."""
    return validate_campaign_log(read_log_file(path), str(Path(path)))


#: Decision-time numbers a list's own log carries (``<list>.campaign.csv``); kept when
#: present so that the import can compare what was predicted with what happened.
DECISION_COLUMNS = ("p_anyway", "predicted_uplift", "expected_incremental_value")


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
    decided = [c for c in DECISION_COLUMNS if c in frame.columns]
    log = frame.loc[:, [*CAMPAIGN_LOG_COLUMNS, *decided]].copy()
    for column in decided:
        log[column] = pd.to_numeric(log[column], errors="coerce")
    log["customer_id"] = _customer_ids(log["customer_id"], source)
    log["group"] = _groups(log["group"], source)
    log["contacted_at"] = _contact_times(log["contacted_at"], source)
    for column in ("channel", "offer"):
        log[column] = _optional_text(log[column])
    _check_groups(log, source)
    return log.reset_index(drop=True)


def _customer_ids(raw: pd.Series, source: str) -> pd.Series:
    """Ids as trimmed text; an empty id is an error."""
    # pd.isna, not ``is None``: pandas 3 reads an empty cell as NaN, and str(NaN) is "nan".
    ids = raw.astype("object").map(lambda v: None if pd.isna(v) else str(v).strip())
    empty_id = ids.isna() | (ids == "")
    if empty_id.any():
        raise CampaignLogError(f"{source}: row {_row(empty_id)}: customer_id is empty")
    return ids


def _groups(raw: pd.Series, source: str) -> pd.Series:
    """``treatment`` or ``control``, whatever the case and the surrounding spaces."""
    group = raw.astype("object").map(lambda v: str(v).strip().lower() if isinstance(v, str) else v)
    bad_group = ~group.isin(GROUPS)
    if bad_group.any():
        value = raw[bad_group].iloc[0]
        raise CampaignLogError(
            f"{source}: row {_row(bad_group)}: group {value!r} is not 'treatment' or 'control'"
        )
    return group.astype(str)


#: Day/month text such as ``05/10/1997``: which comes first is the exporter's convention.
_DAY_MONTH = r"^\s*\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})\b"
#: A UTC offset or zone at the end of a time (``+02:00``, ``-0500``, ``Z``).
_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})\s*$"


def _contact_times(raw: pd.Series, source: str) -> pd.Series:
    """Contact times as naive UTC timestamps.

    ISO dates and times are read as they are. A time with a UTC offset is converted to UTC,
    and when some rows carry offsets the others are taken as UTC already (one rule for a log
    whose rows mix zones). Day/month text such as ``05/10/1997`` is refused: whether it is
    5 October or 10 May is the exporter's convention, and guessing it silently moves every
    contact window.
    """
    text = raw.astype("object").map(lambda v: "" if pd.isna(v) else str(v).strip())
    day_month = text.str.match(_DAY_MONTH)
    if day_month.any():
        raise CampaignLogError(
            f"{source}: row {_row(day_month)}: contacted_at {text[day_month].iloc[0]!r} is "
            "day/month text; whether the day or the month comes first is ambiguous: write "
            "dates as YYYY-MM-DD (or YYYY-MM-DD HH:MM)"
        )
    with_offset = text.str.contains(_OFFSET, regex=True)
    contacted = pd.to_datetime(raw, errors="coerce", format="mixed", utc=bool(with_offset.any()))
    bad_date = contacted.isna()
    if bad_date.any():
        value = raw[bad_date].iloc[0]
        raise CampaignLogError(
            f"{source}: row {_row(bad_date)}: contacted_at {value!r} is not a date "
            "(use YYYY-MM-DD or YYYY-MM-DD HH:MM)"
        )
    if getattr(contacted.dt, "tz", None) is not None:
        contacted = contacted.dt.tz_convert("UTC").dt.tz_localize(None)
    return contacted.astype("datetime64[us]")


def _optional_text(raw: pd.Series) -> pd.Series:
    """Trimmed text; empty cells are missing."""
    text = raw.astype("object")
    return text.map(lambda v: None if pd.isna(v) or str(v).strip() == "" else str(v).strip())


def _check_groups(log: pd.DataFrame, source: str) -> None:
    """Treatment rows name their channel, each customer appears once, both groups exist."""
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


def _row(mask: pd.Series) -> int:
    """1-based data row (after the header) of the first true value."""
    return int(np.flatnonzero(mask.to_numpy())[0]) + 1
