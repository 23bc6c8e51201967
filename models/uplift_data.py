"""Campaign logs that carry their own outcomes and features: checks and encoding.

Why a boundary of its own: every uplift learner reads the same log (issue 13, point 4):
``customer_id, contacted_at, channel, offer, group`` plus ``returned`` (0/1), optionally
``spend`` and any number of customer feature columns. Bad logs fail here with one line
that names the column or the first bad row (1-based data row, as a spreadsheet shows it),
as a :class:`UpliftDataError` (a ``WinbackError``: the CLI exits with code 2). Rows are
never dropped: a log either passes whole or is refused.

Normalisation (documented so nothing happens silently): ``group`` is stripped and
lower-cased; an empty ``offer`` (or no offer column) means ``"none"``; an empty ``spend`` on
a row that did not return means 0. Control rows may leave ``channel`` empty (a global
control group): they are then the controls of every channel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.errors import WinbackError

GROUPS = ("treatment", "control")
#: Offer of a row whose offer is empty.
NO_OFFER = "none"
#: Columns of a campaign log that are not customer features.
LOG_COLUMNS = ("customer_id", "contacted_at", "channel", "offer", "group", "campaign_id")
#: Separator of channel and offer in an option key (``"email|none"``).
OPTION_SEPARATOR = "|"
#: Level of a categorical feature that is empty in a row.
MISSING_LEVEL = "(missing)"
#: Level of a categorical feature value not seen when the encoder was fitted.
OTHER_LEVEL = "(other)"


class UpliftDataError(WinbackError):
    """A campaign log (or feature table) that the uplift learners cannot use."""


def option_key(channel: Any, offer: Any) -> np.ndarray:
    """``"channel|offer"`` per row: the arms the learners tell apart."""
    channel = pd.Series(np.asarray(channel, dtype=object).reshape(-1)).astype(str)
    offer = pd.Series(np.asarray(offer, dtype=object).reshape(-1)).astype(str)
    return (channel + OPTION_SEPARATOR + offer).to_numpy(dtype=object)


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds, so messages read ``2``, not ``np.int64(2)``."""
    return value.item() if isinstance(value, np.generic) else value


def _row(mask: Any) -> int:
    """1-based data row of the first true value."""
    return int(np.flatnonzero(np.asarray(mask, bool))[0]) + 1


def _text(values: pd.Series) -> pd.Series:
    """Stripped strings, with None for empty cells."""
    text = values.astype("object").where(values.notna(), None)
    return text.map(lambda v: None if v is None or str(v).strip() == "" else str(v).strip())


def _binary(log: pd.DataFrame, column: str, source: str) -> np.ndarray:
    """A 0/1 outcome column as int; anything else is refused, naming the row."""
    raw = log[column]
    words = {"true": 1, "false": 0}
    mapped = raw.map(lambda v: words.get(v.strip().lower(), v) if isinstance(v, str) else v)
    numeric = pd.to_numeric(mapped, errors="coerce")
    bad = ~numeric.isin([0, 1])
    if bad.any():
        value = _plain(raw[bad].iloc[0])
        raise UpliftDataError(
            f"{source}: row {_row(bad)}: {column} must be 0 or 1, got {value!r} "
            f"({int(bad.sum())} such rows)"
        )
    return numeric.to_numpy(int)


def _spend(log: pd.DataFrame, column: str, returned: np.ndarray, source: str) -> np.ndarray:
    """Spend as float: empty means 0 for non-returners; a returner needs a number."""
    raw = log[column]
    numeric = pd.to_numeric(raw, errors="coerce")
    unreadable = raw.notna() & numeric.isna() & (raw.astype(str).str.strip() != "")
    if unreadable.any():
        value = _plain(raw[unreadable].iloc[0])
        raise UpliftDataError(
            f"{source}: row {_row(unreadable)}: {column} {value!r} is not a number"
        )
    missing = numeric.isna().to_numpy() & (returned == 1)
    if missing.any():
        raise UpliftDataError(
            f"{source}: row {_row(missing)}: {column} is empty for a customer who returned"
        )
    values = numeric.fillna(0.0).to_numpy(float)
    if not np.isfinite(values).all():
        raise UpliftDataError(f"{source}: row {_row(~np.isfinite(values))}: {column} is infinite")
    spent_without_return = (values != 0) & (returned == 0)
    if spent_without_return.any():
        raise UpliftDataError(
            f"{source}: row {_row(spent_without_return)}: {column} is "
            f"{_plain(values[spent_without_return][0])} but returned is 0"
        )
    return values


def _check_groups(log: pd.DataFrame, source: str) -> pd.Series:
    """Normalised group per row; unknown groups, or a missing group, are refused."""
    group = log["group"].map(lambda v: str(v).strip().lower() if isinstance(v, str) else v)
    bad = ~group.isin(GROUPS)
    if bad.any():
        raise UpliftDataError(
            f"{source}: row {_row(bad)}: group {_plain(log['group'][bad].iloc[0])!r} is not "
            "'treatment' or 'control'"
        )
    if not (group == "control").any():
        raise UpliftDataError(
            f"{source}: no control rows; uplift needs customers who were not contacted"
        )
    if not (group == "treatment").any():
        raise UpliftDataError(f"{source}: no treatment rows; nothing was contacted")
    return group.astype(object)


def _check_ids(log: pd.DataFrame, source: str) -> pd.Series:
    """Customer ids as text; empty or repeated ids (within a campaign) are refused."""
    ids = _text(log["customer_id"])
    if ids.isna().any():
        raise UpliftDataError(f"{source}: row {_row(ids.isna())}: customer_id is empty")
    keys = [ids]
    if "campaign_id" in log.columns:
        keys.insert(0, _text(log["campaign_id"]).fillna(""))
    duplicated = pd.DataFrame({str(k): v for k, v in enumerate(keys)}).duplicated()
    if duplicated.any():
        customer = _plain(ids[duplicated].iloc[0])
        raise UpliftDataError(
            f"{source}: row {_row(duplicated)}: customer {customer!r} is logged twice in one "
            "campaign; log each customer once per campaign"
        )
    return ids


def _check_known(
    values: pd.Series, allowed: Iterable[str] | None, column: str, source: str, rows: pd.Series
) -> None:
    """Refuse a channel or offer outside the ones the caller can cost or predict."""
    if allowed is None:
        return
    allowed = set(allowed)
    bad = rows & values.notna() & ~values.isin(allowed)
    if bad.any():
        raise UpliftDataError(
            f"{source}: row {_row(bad)}: unknown {column} {_plain(values[bad].iloc[0])!r}; known: "
            + ", ".join(sorted(allowed))
        )


def check_feature_columns(frame: pd.DataFrame, features: Sequence[str], source: str) -> None:
    """Every feature column must exist and hold at least one value."""
    absent = [c for c in features if c not in frame.columns]
    if absent:
        raise UpliftDataError(f"{source}: missing feature column(s) {', '.join(absent)}")
    for column in features:
        values = frame[column]
        empty = values.isna() | (values.astype(str).str.strip() == "")
        if len(frame) and empty.all():
            raise UpliftDataError(
                f"{source}: feature column {column!r} is empty in every row; drop it or fill it"
            )


def validate_uplift_log(
    log: pd.DataFrame,
    *,
    outcome: str = "returned",
    spend: str | None = None,
    features: Sequence[str] = (),
    channels: Iterable[str] | None = None,
    offers: Iterable[str] | None = None,
    source: str = "campaign log",
) -> pd.DataFrame:
    """A checked copy of the log with ``treated`` (0/1) and typed outcome columns.

    Returns the same rows in the same order (index reset) with ``customer_id``,
    ``channel``, ``offer``, ``group`` normalised, ``treated``, ``outcome`` as int, ``spend``
    (when named) as float, and the ``features`` columns as given.
    """
    frame = log.rename(columns=lambda c: str(c).strip()).reset_index(drop=True)
    required = ["customer_id", "channel", "group", outcome] + ([spend] if spend else [])
    absent = [c for c in required if c not in frame.columns]
    if absent:
        raise UpliftDataError(f"{source}: missing column(s) {', '.join(absent)}")
    if frame.empty:
        raise UpliftDataError(f"{source}: has a header but no rows")
    out = frame.copy()
    out["customer_id"] = _check_ids(frame, source)
    out["group"] = _check_groups(frame, source)
    treated = (out["group"] == "treatment").to_numpy()
    out["channel"] = _text(frame["channel"])
    no_channel = treated & out["channel"].isna().to_numpy()
    if no_channel.any():
        raise UpliftDataError(f"{source}: row {_row(no_channel)}: a treatment row needs a channel")
    offer = _text(frame["offer"]) if "offer" in frame else pd.Series(None, index=frame.index)
    out["offer"] = offer.where(offer.notna(), NO_OFFER).astype(object)
    _check_known(out["channel"], channels, "channel", source, pd.Series(True, out.index))
    _check_known(out["offer"], offers, "offer", source, out["channel"].notna())
    out["treated"] = treated.astype(int)
    out[outcome] = _binary(frame, outcome, source)
    if spend:
        out[spend] = _spend(frame, spend, out[outcome].to_numpy(), source)
    check_feature_columns(frame, features, source)
    return out


def feature_columns(log: pd.DataFrame, exclude: Iterable[str] = ()) -> list[str]:
    """Columns of a log that are customer features: all but the log's own and ``exclude``."""
    skip = set(LOG_COLUMNS) | {"treated"} | set(exclude)
    return [c for c in log.columns if c not in skip]


class FeatureEncoder:
    """Numeric columns as floats, categorical ones one-hot, with a vocabulary fitted once.

    A column is numeric when every non-empty value reads as a number (CSV logs arrive as
    text); otherwise categorical, with its ``max_levels`` most frequent values as levels,
    ``(missing)`` for empty cells and ``(other)`` for rare or unseen values, so a value
    first seen at prediction time is encoded, never refused or dropped.
    """

    def __init__(self, max_levels: int = 30) -> None:
        self.max_levels = max_levels

    def fit(self, frame: pd.DataFrame, columns: Sequence[str]) -> FeatureEncoder:
        """Learn which columns are numeric and the levels of the categorical ones."""
        self.numeric_: list[str] = []
        self.levels_: dict[str, list[str]] = {}
        for column in columns:
            values = frame[column]
            if pd.api.types.is_bool_dtype(values):
                values = values.astype(float)
            numeric = pd.to_numeric(values, errors="coerce")
            if (numeric.notna() | values.isna()).all():
                self.numeric_.append(column)
                continue
            text = _text(values).fillna(MISSING_LEVEL)
            top = text.value_counts().index[: self.max_levels]
            self.levels_[column] = [str(v) for v in top] + [OTHER_LEVEL]
        return self

    @property
    def names_(self) -> list[str]:
        """Names of the encoded columns, in order."""
        names = list(self.numeric_)
        for column, levels in self.levels_.items():
            names += [f"{column}={level}" for level in levels]
        return names

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Float matrix ``(n_rows, len(names_))``; NaN stays NaN (the trees route it)."""
        absent = [c for c in [*self.numeric_, *self.levels_] if c not in frame.columns]
        if absent:
            raise UpliftDataError(f"features: missing column(s) {', '.join(absent)}")
        numeric = frame[self.numeric_].astype(object).apply(pd.to_numeric, errors="coerce")
        blocks = [numeric.to_numpy(float).reshape(len(frame), len(self.numeric_))]
        for column, levels in self.levels_.items():
            text = _text(frame[column]).fillna(MISSING_LEVEL)
            codes = pd.Categorical(text, categories=levels[:-1]).codes
            codes = np.where(codes < 0, len(levels) - 1, codes)
            blocks.append(np.eye(len(levels))[codes])
        return np.hstack(blocks) if blocks else np.empty((len(frame), 0))

    def to_dict(self) -> dict[str, Any]:
        """Plain state for MLflow."""
        return {"max_levels": self.max_levels, "numeric": self.numeric_, "levels": self.levels_}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureEncoder:
        """Inverse of :meth:`to_dict`."""
        encoder = cls(int(data["max_levels"]))
        encoder.numeric_ = list(data["numeric"])
        encoder.levels_ = {k: list(v) for k, v in data["levels"].items()}
        return encoder
