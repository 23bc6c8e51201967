"""Comparing two feature tables: what "the same table" means between engines and paths."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from features.config import FeatureConfig


def assert_same_feature_table(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Same customers, columns and dtypes; integers and strings exact, floats within 1e-9.

    Float sums may differ in their last bits (engines and threads add in different orders),
    hence the tolerance on floats.
    """
    left = left.sort_values("customer_id", ignore_index=True)
    right = right.sort_values("customer_id", ignore_index=True)
    assert list(left.columns) == list(right.columns)
    assert left.dtypes.to_dict() == right.dtypes.to_dict()
    assert len(left) == len(right)
    for column in left.columns:
        a, b = left[column], right[column]
        if pd.api.types.is_float_dtype(a):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-9, equal_nan=True, err_msg=column)
        else:  # integers, dates, strings (None where missing)
            assert a.equals(b), column


def order_line_export(
    n_customers: int, seed: int, rules: FeatureConfig
) -> tuple[pd.DataFrame, FeatureConfig]:
    """Clean transactions of a synthetic order-line export and ``rules`` with its
    cancellation prefix ("C"): linked and unlinked cancellations, customers with only
    returns or more returns than purchases."""
    from features.contract import load_transactions, parse_column_map
    from models.synthetic_orders import EXPORT_COLUMN_MAP, generate_order_lines

    export, _ = generate_order_lines(n_customers, seed=seed)
    rules = dataclasses.replace(
        rules, lines=dataclasses.replace(rules.lines, cancellation_order_prefix="C")
    )
    loaded = load_transactions(
        export, column_map=parse_column_map(EXPORT_COLUMN_MAP), lines=rules.lines
    )
    assert (loaded.transactions["amount"] < 0).any()
    return loaded.transactions, rules
