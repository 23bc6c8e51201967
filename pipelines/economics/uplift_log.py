"""Campaign logs the uplift learners read: checked, counted, with outcomes and features.

Why a stage of its own: ``winback campaign learn`` takes a campaign in two shapes (issue 13,
point 4), and both must end in the same checked table so the learners never see the
difference:

* a log that carries its own outcomes and features (a CRM export without transactions):
  ``customer_id, contacted_at, channel, offer, group, returned`` (0/1), optionally
  ``spend``, and any number of customer feature columns (numeric or categorical);
* a plain campaign log (:mod:`pipelines.economics.campaign_log`) plus transactions:
  ``returned`` and ``spend`` from :func:`pipelines.economics.campaign.campaign_outcomes`
  (the window ``campaign import`` measures), features from
  :func:`features.build.build_features` on the day before each contact, from transactions
  strictly before the contact day: the same code as scoring, so no feature is written twice.

Every check is :func:`models.uplift_data.validate_uplift_log` (one line naming the file,
row and column; exit code 2). Rows are never dropped silently: a log that carries its own
outcomes is used whole or refused; with transactions, contacts whose window is not over
yet are left out and counted (``rows_left_out``), as ``campaign import`` does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.sql import FEATURE_COLUMNS
from models.uplift_data import (
    LOG_COLUMNS,
    UpliftDataError,
    feature_columns,
    validate_uplift_log,
)
from pipelines.economics.campaign import campaign_outcomes, check_contacts_covered
from pipelines.economics.campaign_log import (
    CAMPAIGN_LOG_COLUMNS,
    read_campaign_log,
    read_log_file,
)
from pipelines.economics.campaign_results import NO_HISTORY

OUTCOME = "returned"
SPEND = "spend"
#: winback's own features a learner takes from transactions: the feature table without
#: the id, the calendar dates (a date is not comparable across campaigns) and the
#: favourite product (a vocabulary of product codes, empty when there is no product column).
TRANSACTION_FEATURES = tuple(
    c
    for c in FEATURE_COLUMNS
    if c not in ("customer_id", "first_purchase", "last_purchase", "favorite_product")
)
LEFT_OUT_WINDOW_NOT_OVER = "horizon after the contact not over yet"


@dataclass
class LearningLog:
    """A checked campaign log ready for the learners, and how its rows were accounted for."""

    data: pd.DataFrame
    features: list[str]
    spend: str | None
    rows_read: int
    rows_left_out: dict[str, int] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_used(self) -> int:
        """Rows the learners see: rows read minus the counted ones left out."""
        return len(self.data)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes: the model names exactly which log it learned from."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_table(path: str | Path, what: str = "campaign log") -> pd.DataFrame:
    """A CSV or Parquet file (see :func:`read_log_file`) with at least one row."""
    frame = read_log_file(path, what, UpliftDataError)
    frame = frame.rename(columns=lambda c: str(c).strip())
    if frame.empty:
        raise UpliftDataError(f"{path}: has a header but no rows")
    return frame


def parse_log_map(text: str | None) -> dict[str, str]:
    """``returned=visit,group=arm`` as ``{"returned": "visit", ...}`` (our name: theirs)."""
    mapping: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        ours, sep, theirs = (s.strip() for s in part.partition("="))
        if not sep or not ours or not theirs:
            raise UpliftDataError(
                f"--log-map entry {part.strip()!r} is not of the form our_name=your_column"
            )
        mapping[ours] = theirs
    return mapping


def apply_log_map(frame: pd.DataFrame, mapping: Mapping[str, str], source: str) -> pd.DataFrame:
    """The log with its own column names replaced by ours; a name it lacks is refused."""
    absent = [theirs for theirs in mapping.values() if theirs not in frame.columns]
    if absent:
        raise UpliftDataError(f"{source}: --log-map names column(s) it lacks: {', '.join(absent)}")
    renamed = frame.rename(columns={theirs: ours for ours, theirs in mapping.items()})
    if renamed.columns.duplicated().any():
        twice = renamed.columns[renamed.columns.duplicated()][0]
        raise UpliftDataError(f"{source}: --log-map gives two columns the name {twice!r}")
    return renamed


def _check_contact_times(raw: pd.Series, source: str) -> None:
    """Every ``contacted_at`` must read as a date (the model records the campaign's dates)."""
    parsed = pd.to_datetime(raw, errors="coerce", format="mixed")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0]) + 1
        raise UpliftDataError(
            f"{source}: row {row}: contacted_at {raw.iloc[row - 1]!r} is not a date "
            "(use YYYY-MM-DD or YYYY-MM-DD HH:MM)"
        )


def _chosen_features(
    available: Sequence[str], wanted: Sequence[str] | None, source: str
) -> list[str]:
    """``--features`` (or every available feature); a log or outcome column is no feature."""
    if not wanted:
        return list(available)
    not_features = sorted(set(wanted) & (set(LOG_COLUMNS) | {OUTCOME, SPEND, "treated"}))
    if not_features:
        raise UpliftDataError(
            f"--features names {', '.join(not_features)}: a column of the campaign itself "
            "(or its outcome) is not a customer feature"
        )
    return list(dict.fromkeys(wanted))


def read_learning_log(
    path: str | Path,
    channels: Iterable[str],
    features: Sequence[str] | None = None,
    log_map: Mapping[str, str] | None = None,
) -> LearningLog:
    """A log that carries its own ``returned`` (and ``spend``) and feature columns."""
    source = str(path)
    frame = apply_log_map(read_table(path), log_map or {}, source)
    required = [*CAMPAIGN_LOG_COLUMNS, OUTCOME]
    absent = [c for c in required if c not in frame.columns]
    if absent:
        raise UpliftDataError(
            f"{source}: missing column(s) {', '.join(absent)}; a log to learn from needs "
            + ", ".join(required)
            + " (or --transactions to take the outcomes from)"
        )
    spend = SPEND if SPEND in frame.columns else None
    chosen = _chosen_features(feature_columns(frame, [OUTCOME, SPEND]), features, source)
    if not chosen:
        raise UpliftDataError(f"{source}: no customer feature columns besides the campaign's own")
    data = validate_uplift_log(
        frame, outcome=OUTCOME, spend=spend, features=chosen, channels=channels, source=source
    )
    _check_contact_times(frame["contacted_at"], source)
    return LearningLog(
        data=data,
        features=chosen,
        spend=spend,
        rows_read=len(frame),
        source={"log": source, "log_sha256": file_sha256(path)},
    )


def winback_features_at_contact(
    log: pd.DataFrame, transactions: pd.DataFrame, config: FeatureConfig
) -> pd.DataFrame:
    """:data:`TRANSACTION_FEATURES` per log row, as scoring would have built them for the
    day before the contact, from transactions strictly before the contact day.

    One feature table per distinct contact day (on the whole history, since ABC classes
    compare customers with each other); customers with no purchase before their contact
    get empty features and the status ``no_history``.
    """
    from features.build import build_features

    days = pd.to_datetime(log["contacted_at"]).dt.normalize()
    out = pd.DataFrame(index=log.index, columns=list(TRANSACTION_FEATURES), dtype=object)
    parts = []
    for day in sorted(days.unique()):
        history = transactions[transactions["timestamp"] < day]
        if history.empty:
            continue
        as_of = (pd.Timestamp(day) - pd.Timedelta(days=1)).date()
        table = build_features(history, as_of, config).features.set_index("customer_id")
        rows = log.index[days == day]
        part = table.reindex(log.loc[rows, "customer_id"].astype(str).to_numpy())
        parts.append(part.loc[:, list(TRANSACTION_FEATURES)].set_axis(rows))
    if parts:
        out = pd.concat(parts).reindex(log.index)
    out["status"] = out["status"].astype(object).where(out["status"].notna(), NO_HISTORY)
    return out


def learning_log_from_transactions(
    path: str | Path,
    transactions: Any,
    config: FeatureConfig,
    channels: Iterable[str],
    horizon_days: int = 90,
    column_map: Mapping[str, str] | None = None,
    features: Sequence[str] | None = None,
) -> LearningLog:
    """A plain campaign log whose outcomes and features come from the transactions."""
    from pipelines.featurize import ensure_loaded

    source = str(path)
    chosen = _chosen_features(TRANSACTION_FEATURES, features, source)
    unknown = [c for c in chosen if c not in TRANSACTION_FEATURES]
    if unknown:
        raise UpliftDataError(
            f"--features {', '.join(unknown)}: with --transactions the features are winback's "
            "own: " + ", ".join(TRANSACTION_FEATURES)
        )
    log = read_campaign_log(path)
    loaded = ensure_loaded(transactions, column_map)
    check_contacts_covered(log, loaded.transactions, source)
    outcomes = campaign_outcomes(log, loaded.transactions, horizon_days)
    if not outcomes["known_customer"].any():
        raise UpliftDataError(
            f"{source}: none of the logged customer ids appears in the transactions; check "
            "that the log and the transactions use the same ids"
        )
    frame = log.copy()
    frame[OUTCOME] = outcomes["responded"].astype(int).to_numpy()
    # A window with only refunds is no return; its negative net amount is not spend.
    frame[SPEND] = np.where(outcomes["responded"], outcomes["spend"], 0.0)
    frame = pd.concat(
        [frame, winback_features_at_contact(log, loaded.transactions, config)], axis=1
    )
    if not frame["frequency"].notna().any():
        raise UpliftDataError(
            f"{source}: none of the logged customers bought anything before their contact "
            "day, so there are no features to learn from"
        )
    kwargs = {"outcome": OUTCOME, "spend": SPEND, "features": chosen, "channels": channels}
    validate_uplift_log(frame, source=source, **kwargs)
    complete = outcomes["complete"].to_numpy()
    if not complete.any():
        raise UpliftDataError(
            f"{source}: the {horizon_days}-day horizon is not over for any contact (the "
            f"transactions end on {loaded.transactions['timestamp'].max().date()}); rerun "
            "with newer transactions or a shorter --horizon-days"
        )
    window = f"{source} (contacts whose {horizon_days}-day window is over)"
    data = validate_uplift_log(frame.loc[complete], source=window, **kwargs)
    left_out = int((~complete).sum())
    return LearningLog(
        data=data.reset_index(drop=True),
        features=chosen,
        spend=SPEND,
        rows_read=len(frame),
        rows_left_out={LEFT_OUT_WINDOW_NOT_OVER: left_out} if left_out else {},
        source={
            "log": source,
            "log_sha256": file_sha256(path),
            "transactions": loaded.report.source,
            "horizon_days": int(horizon_days),
            "customers_without_history": int((frame["status"] == NO_HISTORY).sum()),
        },
    )


def option_counts(data: pd.DataFrame) -> pd.DataFrame:
    """Treatment and control rows per channel x offer (controls without a channel: ``-``)."""
    channel = data["channel"].astype(object).where(data["channel"].notna(), "-")
    frame = pd.DataFrame(
        {"channel": channel, "offer": data["offer"], "group": data["group"].astype(str)}
    )
    counts = frame.groupby(["channel", "offer", "group"]).size().unstack("group", fill_value=0)
    counts = counts.reindex(columns=["treatment", "control"], fill_value=0)
    return counts.reset_index().rename_axis(columns=None)
