"""The data contract: every bad input has a clear message; no row is ever lost silently."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from features.contract import load_transactions, parse_column_map
from features.errors import TransactionsError

NOW = dt.datetime(2026, 1, 1)


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_cdnow_loads_completely_and_reports_duplicates():
    loaded = load_transactions("cdnow")
    report = loaded.report
    assert report.rows_read == 69_659
    assert report.rows_accepted == 69_659
    assert report.rows_quarantined == 0
    assert report.duplicate_rows == 255  # same customer, day and amount: kept, reported
    assert loaded.transactions["customer_id"].nunique() == 23_570


def test_bad_rows_are_quarantined_with_reasons_and_counts_reconcile(tmp_path):
    source = write_csv(
        tmp_path / "tx.csv",
        "customer_id,timestamp,amount\n"
        "a,2024-01-05,10.5\n"  # row 1: good
        ",2024-01-06,3\n"  # row 2: missing id
        "b,not-a-date,4\n"  # row 3: bad date
        "c,2024-01-07,ten\n"  # row 4: bad amount
        "d,2031-01-01,5\n"  # row 5: future relative to the run
        "e,20240108,-2.5\n"  # row 6: YYYYMMDD and a return: accepted
        "f,2024-01-09T10:30:00,1e2\n",  # row 7: ISO datetime: accepted
    )
    quarantine = tmp_path / "q.csv"
    loaded = load_transactions(source, quarantine_path=quarantine, now=NOW)
    report = loaded.report
    assert report.rows_read == 7
    assert report.rows_accepted == 3
    assert report.quarantined_by_reason == {
        "future_timestamp": 1,
        "missing_customer_id": 1,
        "non_numeric_amount": 1,
        "unparseable_timestamp": 1,
    }
    assert report.reconciles
    assert report.return_rows == 1
    written = pd.read_csv(quarantine)
    assert list(written["source_row"]) == [2, 3, 4, 5]
    assert list(written["reason"]) == [
        "missing_customer_id",
        "unparseable_timestamp",
        "non_numeric_amount",
        "future_timestamp",
    ]
    assert written.loc[written["source_row"] == 4, "amount"].item() == "ten"  # raw value kept
    accepted = loaded.transactions.set_index("customer_id")
    assert accepted.loc["e", "timestamp"] == pd.Timestamp("2024-01-08")
    assert accepted.loc["f", "timestamp"] == pd.Timestamp("2024-01-09 10:30")
    assert accepted.loc["f", "amount"] == 100.0


def test_no_quarantine_file_when_every_row_is_good(tmp_path):
    source = write_csv(tmp_path / "tx.csv", "customer_id,timestamp,amount\na,2024-01-05,1\n")
    loaded = load_transactions(source, quarantine_path=tmp_path / "q.csv", now=NOW)
    assert loaded.report.quarantine_path is None
    assert not (tmp_path / "q.csv").exists()


def test_column_map_accepts_the_users_own_names(tmp_path):
    source = write_csv(
        tmp_path / "tx.csv", "cust;date;value;sku\nx;2024-02-01;9.99;book\nx;2024-03-01;5;pen\n"
    )
    mapping = parse_column_map("customer_id=cust,timestamp=date,amount=value,product=sku")
    loaded = load_transactions(source, column_map=mapping, now=NOW)
    assert list(loaded.transactions.columns) == ["customer_id", "timestamp", "amount", "product"]
    assert loaded.transactions["amount"].sum() == pytest.approx(14.99)


def test_parquet_with_typed_and_timezone_aware_columns(tmp_path):
    frame = pd.DataFrame(
        {
            "customer_id": [1, 2],
            "timestamp": pd.to_datetime(["2024-01-01 23:30", "2024-01-02 00:00"]).tz_localize(
                "Europe/Berlin"
            ),
            "amount": [1.0, 2.0],
        }
    )
    path = tmp_path / "tx.parquet"
    frame.to_parquet(path)
    loaded = load_transactions(path, now=NOW)
    assert loaded.report.rows_accepted == 2
    assert list(loaded.transactions["customer_id"]) == ["1", "2"]
    assert loaded.transactions["timestamp"].iloc[0] == pd.Timestamp("2024-01-01 22:30")  # UTC


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        ("", "file is empty"),
        ("customer_id,amount\na,1\n", "missing required column(s) timestamp"),
        ("customer_id,timestamp,amount\n", "has a header but no rows"),
    ],
)
def test_unusable_files_fail_with_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "tx.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(TransactionsError) as raised:
        load_transactions(path, now=NOW)
    text = str(raised.value)
    assert message in text
    assert str(path) in text
    assert "\n" not in text


def test_non_utf8_file_is_rejected_with_byte_offset(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("customer_id,timestamp,amount\nJosé,2024-01-01,1\n".encode("latin-1"))
    with pytest.raises(TransactionsError, match=r"not valid UTF-8 text \(byte 32\)"):
        load_transactions(path, now=NOW)


def test_bad_column_map_is_explained():
    with pytest.raises(TransactionsError, match="not of the form"):
        parse_column_map("customer_id")
    with pytest.raises(TransactionsError, match="unknown column 'client'"):
        parse_column_map("client=x")


def test_mapped_column_that_does_not_exist(tmp_path):
    source = write_csv(tmp_path / "tx.csv", "cust,timestamp,amount\na,2024-01-01,1\n")
    with pytest.raises(TransactionsError, match="mapped column 'client'"):
        load_transactions(source, column_map={"customer_id": "client"}, now=NOW)
