"""The scores file, ``scores.parquet``: written once per scoring run, read by everyone after.

The scores table is the feature table plus the scorer's columns (``p_dormant``,
``predicted_spend`` ...), one row per customer. Its Parquet schema metadata carries the
as-of date, the horizon of the scores and the model version that scored them, under the
keys below; :func:`write_scores_parquet` is the only writer (DuckDB and Spark scoring
alike) and :func:`read_scores` the only reader (``winback rank``, ``report``, the service).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.table import AS_OF_METADATA_KEY, write_frame_parquet
from pipelines.economics.options import ScoresError, as_of_from_scores, validate_scores

HORIZON_METADATA_KEY = b"winback.horizon_days"
MODEL_VERSION_METADATA_KEY = b"winback.model_version"


@dataclass
class ScoresTable:
    scores: pd.DataFrame
    as_of: dt.date
    horizon_days: int | None
    source: str
    #: The registered version that scored the file (None for files written without one).
    model_version: str | None = None


def write_scores_parquet(
    scores: pd.DataFrame, out: str | Path, as_of: dt.date, horizon_days: int, model_version: str
) -> Path:
    """Write scores with the ``winback.*`` metadata that :func:`read_scores` reads."""
    metadata = {
        AS_OF_METADATA_KEY: as_of.isoformat().encode(),
        HORIZON_METADATA_KEY: str(horizon_days).encode(),
        MODEL_VERSION_METADATA_KEY: model_version.encode(),
    }
    return write_frame_parquet(scores, out, metadata)


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
        k: v.decode() for k, v in (table.schema.metadata or {}).items() if k.startswith(b"winback.")
    }
    as_of_text = metadata.get(AS_OF_METADATA_KEY)
    try:
        as_of = dt.date.fromisoformat(as_of_text) if as_of_text else as_of_from_scores(scores)
    except ValueError:
        raise ScoresError(
            f"{path}: metadata {AS_OF_METADATA_KEY.decode()} {as_of_text!r} is not a "
            "YYYY-MM-DD date"
        ) from None
    horizon = _horizon(metadata.get(HORIZON_METADATA_KEY), path)
    return ScoresTable(
        scores=scores,
        as_of=as_of,
        horizon_days=horizon,
        source=str(path),
        model_version=metadata.get(MODEL_VERSION_METADATA_KEY) or None,
    )


def _horizon(text: str | None, path: Path) -> int | None:
    """The scores' horizon in whole days from the metadata; anything else in one line."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value >= 1 and value == int(value) and value < 100_000):
        raise ScoresError(
            f"{path}: metadata {HORIZON_METADATA_KEY.decode()} {text!r} is not a whole number "
            "of days; score the snapshot again with `winback score`"
        )
    return int(value)
