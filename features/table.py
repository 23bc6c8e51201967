"""The feature table as both engines return it: its columns' types, its file, its as-of date.

Shared by :mod:`features.build` (DuckDB) and :mod:`features.spark` so that neither engine
imports the other: ``build`` dispatches to ``spark`` lazily, ``spark`` never imports
``build``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.atomic import atomic_output
from features.errors import WinbackError
from features.sql import FEATURE_COLUMNS

INTEGER_COLUMNS = ("frequency", "recency", "T", "n_orders", "days_since_last")
FLOAT_COLUMNS = (
    "monetary_value",
    "total_spend",
    "avg_order_value",
    "typical_gap_days",
    "overdue_cycles",
)
DATE_COLUMNS = ("first_purchase", "last_purchase")
STRING_COLUMNS = ("customer_id", "status", "abc", "xyz", "ladder_stage", "favorite_product")
#: Text columns with a few distinct values (labels), whatever the number of customers.
_LABEL_COLUMNS = ("status", "abc", "xyz", "ladder_stage")
#: Parquet schema metadata key of the as-of date, in feature and in scores files.
AS_OF_METADATA_KEY = b"winback.as_of"


@dataclass
class FeatureTable:
    """The feature table plus the row accounting of the as-of cut."""

    features: pd.DataFrame
    as_of: dt.date
    rows_used: int
    rows_after_as_of: int
    #: Customers with lines on or before the as-of date but no purchase among them (only
    #: returns): they are not in the table, so no model is fitted on or scores them.
    customers_without_purchase: int
    #: Net value of the lines on or before the as-of date (returns negative), and the part
    #: of it belonging to the customers left out: money in = table + excluded.
    net_spend: float = 0.0
    excluded_spend: float = 0.0

    @property
    def table_spend(self) -> float:
        """Net spend of the customers in the table."""
        return float(self.features["total_spend"].sum()) if len(self.features) else 0.0

    def spend_reconciles(self, relative_tolerance: float = 1e-9) -> bool:
        """``net_spend == table_spend + excluded_spend`` up to float rounding."""
        gap = abs(self.net_spend - self.table_spend - self.excluded_spend)
        return gap <= relative_tolerance * max(abs(self.net_spend), 1.0)

    def write_parquet(self, path: str | Path) -> Path:
        """Write the table; the as-of date travels in the Parquet metadata."""
        metadata = {AS_OF_METADATA_KEY: self.as_of.isoformat().encode()}
        return write_frame_parquet(self.features, path, metadata)


def write_frame_parquet(
    frame: pd.DataFrame, path: str | Path, metadata: dict[bytes, bytes]
) -> Path:
    """Write a per-customer table (features or scores) with ``metadata`` added to its schema.

    Never a truncated file (:func:`features.atomic.atomic_output`); pyarrow gets an open
    file, because it deletes a path it failed to write (even a device such as /dev/full).
    Dictionary encoding only for text columns: numbers per customer are nearly all
    distinct, and trying dictionaries on them made the write of 300,000 scores 0.37 s
    instead of 0.14 s for a file 5% smaller (issue 18).
    """
    path = Path(path)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    text = [
        f.name
        for f in table.schema
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]
    with atomic_output(path) as temporary, temporary.open("wb") as handle:
        pq.write_table(table, handle, use_dictionary=text)
    return path


def to_date(value: str | dt.date | dt.datetime | pd.Timestamp) -> dt.date:
    """Accept 'YYYY-MM-DD', a date, a datetime or a Timestamp; return a date."""
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise WinbackError(f"as-of date {value!r} is not of the form YYYY-MM-DD") from None


def normalise_feature_types(features: pd.DataFrame) -> pd.DataFrame:
    """Same dtypes whichever engine produced the table: a pandas frame (Spark's) takes
    the route of an Arrow result, :func:`feature_frame`."""
    table = pa.Table.from_pandas(features.loc[:, list(FEATURE_COLUMNS)], preserve_index=False)
    return feature_frame(table)


def feature_frame(table: pa.Table) -> pd.DataFrame:
    """The feature table of an engine's Arrow result in the table's dtypes (int64,
    float64, datetime64[us], object text with None for missing), built column by column.

    The round trip through pandas' string dtype cost 0.45 s at 1M customers, most of it
    making a Python string of every label of every row; a label column here is its few
    distinct strings taken by index, and the columns are not copied again (0.1 s for the
    whole table).
    """
    columns: dict[str, pd.Series] = {}
    for name in FEATURE_COLUMNS:
        column = table.column(name)
        if name in _LABEL_COLUMNS:
            values: np.ndarray = _labels_as_objects(column)
        elif name in STRING_COLUMNS:
            values = column.to_numpy(zero_copy_only=False)  # None for a null
        elif name in DATE_COLUMNS:
            values = column.cast(pa.timestamp("us")).to_numpy()
        elif name in INTEGER_COLUMNS:
            if column.null_count:  # a count or a day difference is never missing
                raise ValueError(f"feature column {name!r} has {column.null_count} nulls")
            values = column.to_numpy().astype(np.int64, copy=False)
        else:
            values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)  # NaN for null
        # Writeable (a zero-copy view of Arrow's memory is not), and an explicit object
        # dtype: pandas would make an object array of text its own string dtype.
        values = np.require(values, requirements="W")
        dtype = object if name in STRING_COLUMNS else None
        columns[name] = pd.Series(values, dtype=dtype, copy=False)
    # Not copied into consolidated blocks: that copy alone cost 0.18 s at 1M customers.
    return pd.DataFrame(columns, copy=False)


def _labels_as_objects(column: pa.ChunkedArray) -> np.ndarray:
    """A text column of few distinct values as an object array (None for a null)."""
    encoded = pc.dictionary_encode(column.cast(pa.string())).combine_chunks()
    labels = np.append(encoded.dictionary.to_numpy(zero_copy_only=False), None)
    # Null positions index the None appended after the labels.
    positions = encoded.indices.fill_null(len(labels) - 1).to_numpy()
    return labels[positions]
