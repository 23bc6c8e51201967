"""The feature frame built from Arrow (DuckDB's result) and from pandas (Spark's) has the
table's dtypes and the same values."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

from features.sql import FEATURE_COLUMNS
from features.table import feature_frame, normalise_feature_types


def engine_result(n: int, products: bool) -> pa.Table:
    """An Arrow result as DuckDB gives it: dates, nullable floats and text, labels."""
    columns = {
        name: pa.array(range(n), pa.int64())
        for name in ("frequency", "recency", "T", "n_orders", "days_since_last")
    }
    columns.update(
        {
            name: pa.array([float(k) / 3 for k in range(n)], pa.float64())
            for name in ("monetary_value", "total_spend", "typical_gap_days", "overdue_cycles")
        }
    )
    columns["avg_order_value"] = pa.array([None if k % 4 == 0 else 1.5 * k for k in range(n)])
    for name in ("first_purchase", "last_purchase"):
        columns[name] = pa.array([dt.date(2020, 1, 1) + dt.timedelta(k) for k in range(n)])
    text = pa.string()
    columns["customer_id"] = pa.array([f"c{k:04d}" for k in range(n)], text)
    columns["status"] = pa.array([("new", "lost", "active")[k % 3] for k in range(n)], text)
    columns["abc"] = pa.array([("A", "B", None)[k % 3] for k in range(n)], text)  # a null
    columns["xyz"] = pa.array(["X"] * n, text)
    columns["ladder_stage"] = pa.array([("buyer", "loyal")[k % 2] for k in range(n)], text)
    columns["favorite_product"] = (
        pa.array([None if k % 5 == 0 else f"p{k % 7}" for k in range(n)], text)
        if products
        else pa.nulls(n)  # DuckDB's type of a column of NULLs
    )
    # Reversed column order: the frame takes the contract's order.
    return pa.table({name: columns[name] for name in reversed(FEATURE_COLUMNS)})


@pytest.mark.parametrize("n", [0, 1, 50])
@pytest.mark.parametrize("products", [True, False])
def test_the_frame_from_arrow_equals_the_normalised_pandas_route(n, products):
    arrow = engine_result(n, products)
    direct = feature_frame(arrow)
    through_pandas = normalise_feature_types(arrow.to_pandas(date_as_object=False))
    assert list(direct.columns) == list(FEATURE_COLUMNS)
    assert {str(dtype) for dtype in direct.dtypes} == {
        "int64",
        "float64",
        "datetime64[us]",
        "object",
    }
    assert direct.dtypes.to_dict() == through_pandas.dtypes.to_dict()
    pd.testing.assert_frame_equal(direct, through_pandas)
    for name in ("customer_id", "status", "abc", "favorite_product"):
        assert direct[name].dtype == object
        assert all(value is None or type(value) is str for value in direct[name])
    assert direct["abc"].isna().sum() == len(range(2, n, 3))
    if n > 2:
        assert direct["abc"][2] is None


def test_a_missing_count_is_refused_not_cast():
    arrow = engine_result(3, True)
    broken = arrow.set_column(
        arrow.schema.get_field_index("frequency"),
        "frequency",
        pa.array([1, None, 2], pa.int64()),
    )
    with pytest.raises(ValueError, match="'frequency' has 1 nulls"):
        feature_frame(broken)
