"""Read the scorer's ``scores.parquet`` (one row per customer) and write the win-back list.

The scores table is the feature table plus the scorer's columns (``p_dormant``,
``predicted_spend`` ...); its Parquet schema metadata carries ``winback.as_of`` and
``winback.horizon_days``. Only those contract columns are relied on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.economics.plan import LIST_COLUMNS, ScoresError, as_of_from_scores, validate_scores


@dataclass
class ScoresTable:
    scores: pd.DataFrame
    as_of: dt.date
    horizon_days: int | None
    source: str


def read_scores(path: str | Path) -> ScoresTable:
    """Read and validate a scores Parquet file; the as-of date comes from its metadata."""
    path = Path(path)
    if not path.exists():
        raise ScoresError(f"{path}: scores file not found (run `winback demo` or the scorer)")
    if path.is_dir():
        raise ScoresError(f"{path}: is a folder, expected a scores Parquet file")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "unreadable"
        raise ScoresError(f"{path}: not a readable Parquet file ({first_line})") from None
    scores = table.to_pandas()
    validate_scores(scores, str(path))
    metadata = {
        k.decode(): v.decode()
        for k, v in (table.schema.metadata or {}).items()
        if k.startswith(b"winback.")
    }
    as_of_text = metadata.get("winback.as_of")
    try:
        as_of = dt.date.fromisoformat(as_of_text) if as_of_text else as_of_from_scores(scores)
    except ValueError:
        raise ScoresError(
            f"{path}: metadata winback.as_of {as_of_text!r} is not a YYYY-MM-DD date"
        ) from None
    horizon_text = metadata.get("winback.horizon_days")
    horizon = int(float(horizon_text)) if horizon_text else None
    return ScoresTable(scores=scores, as_of=as_of, horizon_days=horizon, source=str(path))


def write_list(winback_list: pd.DataFrame, path: str | Path) -> Path:
    """Write the list as CSV for a CRM: probabilities to 6 decimals, money to cents."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = winback_list.loc[:, list(LIST_COLUMNS)].copy()
    for column in ("p_return_if_contacted", "p_return_anyway"):
        out[column] = out[column].round(6)
    for column in ("value_if_returned", "cost", "expected_incremental_value"):
        out[column] = out[column].round(2)
    out["contact_by"] = pd.to_datetime(out["contact_by"]).dt.strftime("%Y-%m-%d")
    out.to_csv(path, index=False)
    return path


def read_list(path: str | Path) -> pd.DataFrame:
    """Read a win-back list CSV written by :func:`write_list` (for the report)."""
    path = Path(path)
    if not path.exists():
        raise ScoresError(f"{path}: win-back list not found (run `winback rank` first)")
    frame = pd.read_csv(path, dtype={"customer_id": str})
    missing = [c for c in LIST_COLUMNS if c not in frame.columns]
    if missing:
        raise ScoresError(f"{path}: not a win-back list, missing column(s) {', '.join(missing)}")
    return frame
