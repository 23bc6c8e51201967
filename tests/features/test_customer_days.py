"""The DuckDB engine's one-pass kernel gives the table the feature SQL alone gives.

:func:`features.build.build_features` aggregates the purchase days in NumPy
(:mod:`features.customer_days`); :func:`features.build.build_features_in_sql` runs the
whole feature SQL, the text Spark runs. Both must agree on real data (CDNOW), on an
order-line export with linked and unlinked cancellations, and on random data with
returns, several lines a day, ids of one and of many lengths, and blocks split anywhere.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from feature_tables import assert_same_feature_table, order_line_export

import features.customer_days as customer_days
from features.build import build_features, build_features_in_sql
from features.config import load_feature_config

RULES = load_feature_config()


def assert_same_build(transactions: pd.DataFrame, as_of: str, rules=RULES) -> None:
    kernel = build_features(transactions, as_of, rules)
    sql = build_features_in_sql(transactions, as_of, rules)
    assert_same_feature_table(kernel.features, sql.features)
    assert (kernel.rows_used, kernel.rows_after_as_of, kernel.customers_without_purchase) == (
        sql.rows_used,
        sql.rows_after_as_of,
        sql.customers_without_purchase,
    )
    np.testing.assert_allclose(
        [kernel.net_spend, kernel.excluded_spend], [sql.net_spend, sql.excluded_spend], atol=1e-6
    )
    assert kernel.spend_reconciles()


@pytest.mark.parametrize("as_of", ["1997-02-15", "1997-09-30", "1998-06-30"])
def test_the_kernel_equals_the_sql_on_cdnow(cdnow_transactions, as_of):
    assert_same_build(cdnow_transactions, as_of)


def test_the_kernel_equals_the_sql_on_an_order_line_export_with_cancellations():
    transactions, rules = order_line_export(400, 11, RULES)
    assert {"order_id", "product"} <= set(transactions.columns)
    for as_of in ("2011-03-01", "2011-10-01"):
        assert_same_build(transactions, as_of, rules)


def random_transactions(seed: int, fixed_width_ids: bool) -> pd.DataFrame:
    """Customers with 1-40 lines over two years: several a day, returns, return-only ones."""
    rng = np.random.default_rng(seed)
    n_customers = 300
    lines = rng.integers(1, 40, n_customers)
    ids = (
        [f"{i:06d}" for i in range(n_customers)]
        if fixed_width_ids
        else [f"c{i}" + "x" * int(rng.integers(0, 5)) for i in range(n_customers)]
    )
    customer = np.repeat(np.arange(n_customers), lines)
    first = rng.integers(0, 600, n_customers)[customer]
    day = first + rng.integers(0, 130, len(customer)) * rng.integers(0, 2, len(customer))
    amount = np.round(rng.gamma(2.0, 20.0, len(customer)), 2)
    amount[rng.random(len(customer)) < 0.12] *= -1  # returns, some on their own day
    amount[rng.random(len(customer)) < 0.03] = 0.0  # zero-value purchases count
    frame = pd.DataFrame(
        {
            "customer_id": np.array(ids, dtype=object)[customer],
            "timestamp": pd.Timestamp("2022-01-01") + pd.to_timedelta(day, unit="D"),
            "amount": amount,
        }
    )
    only_returns = frame["customer_id"].isin(ids[:5])
    frame.loc[only_returns, "amount"] = -frame.loc[only_returns, "amount"].abs() - 1.0
    return frame.sample(frac=1.0, random_state=seed, ignore_index=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("fixed_width_ids", [True, False])
def test_the_kernel_equals_the_sql_on_random_data_in_small_blocks(
    monkeypatch, seed, fixed_width_ids
):
    monkeypatch.setattr(customer_days, "BLOCK_ROWS", 97)  # blocks end inside the table
    transactions = random_transactions(seed, fixed_width_ids)
    table = build_features(transactions, "2023-06-30", RULES)
    assert table.customers_without_purchase >= 1
    assert_same_build(transactions, "2023-06-30")
    assert_same_build(transactions, "2022-03-31")


def test_nothing_in_the_window_gives_an_empty_table():
    transactions = random_transactions(1, True)
    assert_same_build(transactions, "2021-06-30")
    assert build_features(transactions, "2021-06-30", RULES).features.empty


def test_customers_with_only_returns_give_an_empty_table_and_are_counted(monkeypatch):
    """A block (here the whole table) without a single purchase day."""
    monkeypatch.setattr(customer_days, "BLOCK_ROWS", 2)
    transactions = random_transactions(2, False)
    transactions["amount"] = -transactions["amount"].abs() - 0.5
    table = build_features(transactions, "2023-06-30", RULES)
    assert table.features.empty
    assert (
        table.customers_without_purchase
        == transactions["customer_id"][transactions["timestamp"] <= "2023-06-30"].nunique()
    )
    assert_same_build(transactions, "2023-06-30")


@pytest.mark.parametrize("streamed", [False, True])
def test_lines_out_of_customer_order_are_refused(streamed):
    """As a table, and as a stream of one-row batches (a customer split across batches)."""
    lines = pa.table(
        {
            "customer_id": ["a", "b", "a"],
            "day": pa.array([1, 1, 2], type=pa.int32()).cast(pa.date32()),
            "value_part": [1.0, 1.0, 1.0],
            "net_part": [1.0, 1.0, 1.0],
            "purchase_line": pa.array([1, 1, 1], type=pa.int8()),
        }
    )
    with pytest.raises(ValueError, match="not ordered by customer"):
        customer_days.aggregate_customer_days(iter(lines.to_batches(1)) if streamed else lines)


def test_partitions_of_the_customers_give_the_same_table(monkeypatch, cdnow_transactions):
    """Large tables are aggregated in hash partitions of the customers; each customer falls
    in one, so the table must be the one of a single pass."""
    import features.build as build

    monkeypatch.setattr(build, "PARTITION_ROWS", 1_000)
    assert build.line_partitions(len(cdnow_transactions)) > 5
    assert_same_build(cdnow_transactions, "1997-09-30")
    transactions, rules = order_line_export(400, 12, RULES)
    monkeypatch.setattr(build, "PARTITION_ROWS", len(transactions) // 3)
    assert build.line_partitions(len(transactions)) == 4
    assert_same_build(transactions, "2011-10-01", rules)


def day_lines(transactions: pd.DataFrame, as_of: str) -> pa.Table:
    from features.duckdb_engine import connect
    from features.sql import day_lines_sql
    from features.table import to_date

    con = connect()
    con.register("tx", transactions)
    return con.sql(day_lines_sql("tx", to_date(as_of), RULES, False)).to_arrow_table()


@pytest.mark.parametrize("batch_rows", [1, 2, 7, 1_000])
def test_lines_streamed_in_batches_give_the_aggregates_of_the_whole_table(monkeypatch, batch_rows):
    """Customers whose rows go on in the next batch (or the next several), days split
    across batches among them, are aggregated once they are whole; nothing is counted
    twice or lost."""
    monkeypatch.setattr(customer_days, "BLOCK_ROWS", 5)
    lines = day_lines(random_transactions(4, False), "2023-06-30")
    days = set(
        zip(lines.column("customer_id").to_pylist(), lines.column("day").to_pylist(), strict=True)
    )
    assert lines.num_rows > len(days)  # days of several lines
    whole = customer_days.aggregate_customer_days(lines)
    streamed = customer_days.aggregate_customer_days(iter(lines.to_batches(batch_rows)))
    assert streamed.aggregates.equals(whole.aggregates)
    assert streamed.customers_without_purchase == whole.customers_without_purchase >= 1
    assert streamed.excluded_spend == pytest.approx(whole.excluded_spend)
    assert whole.aggregates.num_rows == len(set(whole.aggregates.column("customer_id").to_pylist()))
