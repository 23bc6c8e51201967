"""A snapshot's customers, converted column by column: what :meth:`Snapshot.load` serves.

Why: converting the table row by row (``DataFrame.to_dict("records")`` and
:func:`serving.scoring.plain_value` on every cell, then :func:`serving.scoring.score_from_row`
per customer) took 3.5-4.5 s of a worker's start-up for CDNOW's 23,570 customers, the
largest part of the worker's own work (issue 18: ``winback serve`` ready within 10 s). Here
each column becomes Python values in one numpy pass, with the same rules as ``plain_value``
(NaN, infinities and NaT become None, numpy scalars Python ones, timestamps dates), and
pydantic still validates every customer, so the models are equal to ``score_from_row``'s
(``tests/serving/test_fast_lookup.py`` compares both on the served snapshot).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from pydantic import TypeAdapter

from serving.schemas import CustomerScore
from serving.scoring import FEATURE_FIELDS, SCORE_FIELDS, plain_value

_SCORES = TypeAdapter(list[CustomerScore])


def plain_column(column: pd.Series) -> list[Any]:
    """The column's values as :func:`serving.scoring.plain_value` gives them, cell by cell."""
    dtype = column.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        missing = column.isna().to_numpy()
        days = column.to_numpy().astype("datetime64[D]").astype(object).tolist()
        return [None if gone else day for day, gone in zip(days, missing, strict=True)]
    if pd.api.types.is_float_dtype(dtype):
        array = column.to_numpy()
        values = array.tolist()
        for i in np.flatnonzero(~np.isfinite(array)).tolist():
            values[i] = None
        return values
    if pd.api.types.is_integer_dtype(dtype) and not column.hasnans:
        return column.to_numpy().tolist()
    if pd.api.types.is_bool_dtype(dtype) and not column.hasnans:
        return column.to_numpy().tolist()
    return [plain_value(value) for value in column.tolist()]


def snapshot_scores(scores: pd.DataFrame, as_of: dt.date) -> dict[str, CustomerScore]:
    """Customer id -> its :class:`CustomerScore`, as :func:`serving.scoring.score_from_row`
    builds it (one pydantic validation call for the whole table rather than two per
    customer)."""
    ids = [str(c) for c in scores["customer_id"].tolist()]
    count = len(ids)
    versions = (
        [str(v or "") for v in plain_column(scores["model_version"])]
        if "model_version" in scores
        else [""] * count
    )
    # .get in score_from_row: snapshots scored before the interval columns lack them.
    score_rows = zip(
        *(plain_column(scores[n]) if n in scores else [None] * count for n in SCORE_FIELDS),
        strict=True,
    )
    feature_rows = zip(*(plain_column(scores[n]) for n in FEATURE_FIELDS), strict=True)
    rows = [
        {
            "customer_id": customer_id,
            "source": "snapshot",
            "as_of": as_of,
            "model_version": version,
            **dict(zip(SCORE_FIELDS, score_values, strict=True)),
            "features": dict(zip(FEATURE_FIELDS, feature_values, strict=True)),
        }
        for customer_id, version, score_values, feature_values in zip(
            ids, versions, score_rows, feature_rows, strict=True
        )
    ]
    return dict(zip(ids, _SCORES.validate_python(rows), strict=True))
