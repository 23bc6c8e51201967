"""Order lines: unit prices, returns, cancellations, non-product lines, absurd amounts; and
how returns enter the features (never a purchase day, never a negative monetary value)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from features.build import build_features
from features.config import ConfigError, FeatureConfig, LineRules, load_feature_config
from features.contract import load_transactions
from features.errors import TransactionsError

NOW = dt.datetime(2026, 1, 1)
RULES = load_feature_config()
EXPORT_MAP = {
    "customer_id": "CustomerID",
    "timestamp": "InvoiceDate",
    "order_id": "InvoiceNo",
    "product": "StockCode",
    "quantity": "Quantity",
    "unit_price": "UnitPrice",
}
HEADER = "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID\n"


def export(tmp_path: Path, lines: str, header: str = HEADER) -> Path:
    path = tmp_path / "export.csv"
    path.write_text(header + lines)
    return path


def with_prefix(prefix: str | None = "C") -> LineRules:
    return dataclasses.replace(RULES.lines, cancellation_order_prefix=prefix)


def test_amount_is_quantity_times_unit_price_and_returns_are_negative(tmp_path):
    source = export(
        tmp_path,
        "536365,85123A,6,2010-12-01 08:26,2.55,17850.0\n"
        "C536379,22633,-2,2010-12-01 09:41,1.85,17850.0\n"  # cancellation
        "C536380,22634,2,2010-12-01 09:42,1.00,17850.0\n",  # prefix only: a return with it
    )
    plain = load_transactions(source, column_map=EXPORT_MAP, now=NOW, lines=with_prefix(None))
    assert plain.transactions["amount"].tolist() == pytest.approx([15.3, -3.7, 2.0])
    prefixed = load_transactions(source, column_map=EXPORT_MAP, now=NOW, lines=with_prefix())
    assert prefixed.transactions["amount"].tolist() == pytest.approx([15.3, -3.7, -2.0])
    assert (plain.report.return_rows, prefixed.report.return_rows) == (1, 2)
    assert prefixed.report.accepted_amount == pytest.approx(15.3 - 3.7 - 2.0)


def test_amount_wins_over_unit_price_and_mismatches_are_counted(tmp_path):
    source = export(
        tmp_path,
        "1,A,2,2024-01-01,5.0,c1,10.0\n"  # agrees
        "2,A,2,2024-01-02,5.0,c1,12.0\n"  # disagrees: amount wins
        "3,A,-1,2024-01-03,5.0,c1,5.0\n",  # negative quantity: a return, counted negative
        header="InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID,Value\n",
    )
    mapping = {**EXPORT_MAP, "amount": "Value"}
    loaded = load_transactions(source, column_map=mapping, now=NOW)
    assert loaded.transactions["amount"].tolist() == [10.0, 12.0, -5.0]
    assert loaded.report.amount_mismatch_rows == 1


def test_no_amount_and_no_unit_price_names_both_ways_out(tmp_path):
    source = export(tmp_path, "1,A,2,2024-01-01,5.0,c1\n")
    mapping = {k: v for k, v in EXPORT_MAP.items() if k != "unit_price"}
    with pytest.raises(TransactionsError, match=r"amount \(or quantity and unit_price\)"):
        load_transactions(source, column_map=mapping, now=NOW)


def test_non_product_lines_and_absurd_amounts_are_quarantined_and_money_reconciles(tmp_path):
    source = export(
        tmp_path,
        "1,85123A,6,2024-01-01,2.50,c1\n"  # a purchase: 15
        "1,POST,1,2024-01-01,18.00,c1\n"  # postage
        "2,bank charges,1,2024-01-02,15.00,c1\n"  # a fee, any case
        "3,22,3,2024-01-02,0,c1\n"  # free line
        "4,B,1,2024-01-02,-11062.06,c1\n"  # bad-debt adjustment: negative price
        "5,22,1e300,2024-01-03,1e300,c1\n"  # overflows to inf
        "6,22,1,2024-01-03,2e9,c1\n"  # beyond max_abs_amount
        "7,22,2,2024-01-04,3.00,\n",  # missing id
    )
    quarantine = tmp_path / "q.csv"
    loaded = load_transactions(source, column_map=EXPORT_MAP, quarantine_path=quarantine, now=NOW)
    report = loaded.report
    assert report.quarantined_by_reason == {
        "absurd_amount": 2,
        "missing_customer_id": 1,
        "non_product_line": 4,
    }
    assert report.reconciles and report.rows_accepted == 1
    assert report.accepted_amount == pytest.approx(15.0)
    assert report.quarantined_amount_by_reason["non_product_line"] == pytest.approx(
        18.0 + 15.0 + 0.0 + -11062.06
    )
    written = pd.read_csv(quarantine)
    assert written.loc[written["StockCode"] == "POST", "reason"].item() == "non_product_line"


def test_huge_amount_column_values_are_absurd_not_infinite_spend(tmp_path):
    path = tmp_path / "tx.csv"
    path.write_text("customer_id,timestamp,amount\na,2024-01-01,1e308\na,2024-01-02,inf\n")
    loaded = load_transactions(path, now=NOW)
    assert loaded.report.quarantined_by_reason == {"absurd_amount": 2}
    limit = dataclasses.replace(RULES.lines, max_abs_amount=1e400)
    assert load_transactions(path, now=NOW, lines=limit).report.quarantined_by_reason == {
        "absurd_amount": 1  # inf stays absurd whatever the limit
    }


def test_line_rules_are_read_from_the_config(tmp_path):
    config = tmp_path / "features.yaml"
    config.write_text(
        "lines:\n  cancellation_order_prefix: C\n  non_product_codes: [FEE]\n"
        "  max_abs_amount: 1000\n"
    )
    rules = load_feature_config(config).lines
    assert rules == LineRules(
        cancellation_order_prefix="C", non_product_codes=("FEE",), max_abs_amount=1000
    )
    config.write_text("lines:\n  max_abs_amount: 0\n")
    with pytest.raises(ConfigError, match="max_abs_amount must be positive"):
        load_feature_config(config)


def tx(rows: list[tuple]) -> pd.DataFrame:
    """Transactions from (customer_id, date, amount[, order_id]) tuples."""
    columns = ["customer_id", "timestamp", "amount", "order_id"][: len(rows[0])]
    frame = pd.DataFrame(rows, columns=columns)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame


def test_a_return_never_makes_monetary_value_negative():
    """The audit's case: 10, 10 and -50, the last two on one day, crashed `score`."""
    rows = [("a", "2024-01-01", 10.0), ("a", "2024-01-05", 10.0), ("a", "2024-01-05", -50.0)]
    table = build_features(tx(rows), "2024-02-01", RULES)
    row = table.features.set_index("customer_id").loc["a"]
    assert (row["frequency"], row["monetary_value"], row["total_spend"]) == (1, 10.0, -30.0)
    assert table.spend_reconciles()


def test_a_linked_return_nets_into_its_order_day_floored_at_zero():
    rows = [
        ("a", "2024-01-01", 30.0, "100"),
        ("a", "2024-01-10", 40.0, "101"),
        ("a", "2024-01-10", 20.0, "101"),
        ("a", "2024-01-20", -25.0, "C101"),  # cancels part of order 101
        ("a", "2024-01-25", 50.0, "102"),
        ("a", "2024-01-26", -80.0, "102"),  # more than order 102 was worth
        ("a", "2024-01-27", -5.0, "C999"),  # no such order: spend only
    ]
    config = dataclasses.replace(RULES, lines=with_prefix())
    row = build_features(tx(rows), "2024-02-01", config).features.set_index("customer_id").loc["a"]
    assert row["frequency"] == 2  # return days are not purchase days
    assert row["monetary_value"] == pytest.approx((60.0 - 25.0 + 0.0) / 2)
    assert row["total_spend"] == pytest.approx(30 + 60 - 25 + 50 - 80 - 5)
    assert row["n_orders"] == 3
    without_prefix = build_features(tx(rows), "2024-02-01", RULES).features
    # C101 no longer links: order 101 keeps its value.
    assert without_prefix.loc[0, "monetary_value"] == pytest.approx((60.0 + 0.0) / 2)


def test_customers_with_only_returns_are_left_out_and_their_money_reported():
    rows = [
        ("buyer", "2024-01-02", 10.0),
        ("refunded", "2024-01-03", -5.0),
        ("refunded", "2024-01-04", -7.5),
        ("late", "2024-03-01", 9.0),  # after the cut
    ]
    table = build_features(tx(rows), "2024-01-31", RULES)
    assert table.features["customer_id"].tolist() == ["buyer"]
    assert table.customers_without_purchase == 1
    assert (table.net_spend, table.table_spend, table.excluded_spend) == (-2.5, 10.0, -12.5)
    assert table.spend_reconciles()


def test_feature_config_defaults_equal_the_shipped_file():
    assert load_feature_config() == FeatureConfig()
