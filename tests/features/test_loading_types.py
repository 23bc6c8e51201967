"""Loading keeps typed values exactly and counts duplicates as pandas does (issue 18).

The contract reads typed Parquet and DataFrame numbers without a round trip through text,
returns the accepted rows through Arrow and counts duplicates with a DuckDB GROUP BY; these
tests pin that none of it changes a value or a count.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.contract import load_transactions
from features.reading import ReadOptions

NOW = dt.datetime(2026, 1, 1)


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["1", "1", "2", "2", "17850.0", "17850", "3"],
            "timestamp": pd.to_datetime(["2024-01-05"] * 4 + ["2024-02-01"] * 2 + ["2024-03-01"]),
            "amount": [0.1 + 0.2, 0.1 + 0.2, 1e-300, 12.345678901234567, 5.0, 5.0, np.nan],
            "product": ["x", "x", None, None, "y", "y", "z"],
            "quantity": np.array([1, 1, 2, 2, 1, 1, 1], dtype="int32"),
        }
    )


def test_typed_doubles_and_integers_keep_their_values_exactly(tmp_path):
    source = frame()
    path = tmp_path / "tx.parquet"
    source.to_parquet(path, index=False)
    for loaded in (load_transactions(source, now=NOW), load_transactions(path, now=NOW)):
        accepted = loaded.transactions
        assert accepted["amount"].tolist() == source["amount"].iloc[:6].tolist()
        assert accepted["quantity"].tolist() == [1.0, 1.0, 2.0, 2.0, 1.0, 1.0]
        assert loaded.report.quarantined_by_reason == {"non_numeric_amount": 1}


def test_a_float32_column_is_read_as_its_decimal_text():
    source = frame().assign(amount=np.array([0.1] * 7, dtype="float32"))

    loaded = load_transactions(source, now=NOW)

    assert loaded.transactions["amount"].tolist() == [0.1] * 7  # not 0.10000000149011612


def test_duplicates_are_counted_as_pandas_counts_them():
    source = frame()

    as_text = load_transactions(source, now=NOW)
    as_integers = load_transactions(source, now=NOW, read_options=ReadOptions(id_format="integer"))

    # 1/1: one duplicate; the 2 rows differ in amount; 17850.0 and 17850 merge as integers.
    for loaded in (as_text, as_integers):
        assert loaded.report.duplicate_rows == int(loaded.transactions.duplicated().sum())
    assert as_text.report.duplicate_rows == 1
    assert as_integers.report.duplicate_rows == 2


def test_a_parquet_file_keeps_its_row_order_and_numbers_rejected_rows_as_the_file_does(
    tmp_path, monkeypatch
):
    """The file is read through a view numbered by its own row numbers, and the accepted
    rows are not sorted again: both must still give the file's order and numbering, over
    several row groups (DuckDB reads those in parallel)."""
    rng = np.random.default_rng(5)
    n = 50_000
    source = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 900, n).astype(str),
            "timestamp": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 700, n), "D"),
            "amount": rng.gamma(2.0, 10.0, n).round(2),
        }
    )
    bad = rng.choice(n, 37, replace=False)
    source.loc[bad, "amount"] = np.nan
    path = tmp_path / "tx.parquet"
    source.to_parquet(path, index=False, row_group_size=4_096)

    loaded = load_transactions(path, now=NOW)

    kept = source.drop(index=bad).reset_index(drop=True)
    pd.testing.assert_series_equal(loaded.transactions["amount"], kept["amount"])
    assert loaded.transactions["customer_id"].tolist() == kept["customer_id"].tolist()
    assert sorted(loaded.quarantine["source_row"]) == sorted(bad + 1)  # 1-based, as in a CSV
    assert loaded.report.reconciles


def test_a_parquet_file_with_its_own_file_row_number_column_loads_it_as_data(tmp_path):
    source = frame().iloc[:4].assign(file_row_number=[7, 7, 8, 9])
    path = tmp_path / "tx.parquet"
    source.to_parquet(path, index=False)

    loaded = load_transactions(path, now=NOW)

    assert loaded.report.rows_accepted == 4
    assert loaded.quarantine.empty


@pytest.mark.parametrize("seed", [1, 2])
def test_duplicates_of_many_kinds_are_counted_as_pandas_counts_them(seed):
    """Candidates come from repeated hashes, the count from an exact GROUP BY of them:
    copies once, twice and more, rows differing in one column only, missing products and
    signed zeros must all count as ``DataFrame.duplicated`` counts them."""
    rng = np.random.default_rng(seed)
    n = 4_000
    base = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 50, n).astype(str),
            "timestamp": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 5, n), "D"),
            "amount": rng.choice([0.0, -0.0, 1.5, 2.25, 10.0], n),
            "product": rng.choice(np.array(["x", "y", None], dtype=object), n),
        }
    )
    source = pd.concat([base, base.sample(900, random_state=seed)], ignore_index=True)
    for id_format in ("text", "integer"):
        loaded = load_transactions(source, now=NOW, read_options=ReadOptions(id_format=id_format))
        expected = int(loaded.transactions.duplicated().sum())
        assert expected > 900  # the sampled copies, and rows that repeat by chance
        assert loaded.report.duplicate_rows == expected


def test_a_table_without_duplicates_counts_none():
    source = frame().drop_duplicates().iloc[:3]
    assert load_transactions(source, now=NOW).report.duplicate_rows == 0
