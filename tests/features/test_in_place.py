"""Validating and building on one DuckDB connection gives what loading into a frame gives.

``winback features`` validates the rows into DuckDB and builds on them there
(:func:`features.contract.validate_in_place`, :func:`features.build.
build_features_in_duckdb`); every other command loads a frame (:func:`features.contract.
load_transactions`) and builds from it. Same report, same quarantine file, same feature
table, on CDNOW, on an order-line export with cancellations, and on a CSV with every kind
of bad row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from feature_tables import assert_same_feature_table

from features.build import build_features, build_features_in_duckdb
from features.config import load_feature_config
from features.contract import (
    ACCEPTED_ROWS,
    load_transactions,
    parse_column_map,
    validate_in_place,
)
from features.duckdb_engine import connect
from features.reading import ReadOptions
from models.synthetic_orders import EXPORT_COLUMN_MAP, generate_order_lines

NOW = dt.datetime(2026, 1, 1)
RULES = load_feature_config()
MESSY_CSV = (
    "customer_id,timestamp,amount,product\n"
    "a,2024-01-05,10.5,tea\n"
    ",2024-01-06,3,tea\n"  # missing id
    "b,not-a-date,4,tea\n"  # bad date
    "c,2024-01-07,ten,tea\n"  # bad amount
    "d,2031-01-01,5,tea\n"  # future
    "a,2024-01-05,10.5,tea\n"  # exact duplicate of row 1
    "a,2024-01-05,-2.5,tea\n"  # a return, same day
    "a,2024-02-09,7,cake\n"
    "e,2024-01-20,1e12,tea\n"  # absurd amount
    "b,2024-01-02,4,tea,extra\n"  # malformed line: one field too many
    " f ,2024-02-01,8,\n"  # id with spaces, no product
    "g,2024-03-01,-5,tea\n"  # a customer with only a return
)


def _in_place(source, as_of, rules, quarantine, **options):
    con = connect(preserve_insertion_order=True)
    try:
        report = validate_in_place(
            con, source, quarantine_path=quarantine, now=NOW, lines=rules.lines, **options
        )
        return report, build_features_in_duckdb(con, ACCEPTED_ROWS, as_of, rules)
    finally:
        con.close()


def assert_same_load_and_build(source, as_of, rules, tmp_path: Path, **options) -> None:
    frame_quarantine, place_quarantine = tmp_path / "frame.csv", tmp_path / "place.csv"
    loaded = load_transactions(
        source, quarantine_path=frame_quarantine, now=NOW, lines=rules.lines, **options
    )
    frame_table = build_features(loaded.transactions, as_of, rules)
    report, place_table = _in_place(source, as_of, rules, place_quarantine, **options)

    expected = loaded.report.to_dict() | {"quarantine_path": None}
    assert report.to_dict() | {"quarantine_path": None} == expected
    assert frame_quarantine.exists() == place_quarantine.exists()
    if frame_quarantine.exists():
        assert place_quarantine.read_text() == frame_quarantine.read_text()
    assert_same_feature_table(place_table.features, frame_table.features)
    for field in ("rows_used", "rows_after_as_of", "customers_without_purchase"):
        assert getattr(place_table, field) == getattr(frame_table, field), field
    assert place_table.net_spend == pytest.approx(frame_table.net_spend)
    assert place_table.excluded_spend == pytest.approx(frame_table.excluded_spend)


@pytest.mark.parametrize("as_of", ["1997-03-31", "1998-06-30"])
def test_cdnow_in_place_equals_the_frame(tmp_path, as_of):
    assert_same_load_and_build("cdnow", as_of, RULES, tmp_path)


def test_an_order_line_export_in_place_equals_the_frame(tmp_path):
    export, _ = generate_order_lines(300, seed=4)
    rules = dataclasses.replace(
        RULES, lines=dataclasses.replace(RULES.lines, cancellation_order_prefix="C")
    )
    path = tmp_path / "export.csv"
    export.to_csv(path, index=False)
    column_map = parse_column_map(EXPORT_COLUMN_MAP)
    assert_same_load_and_build(path, "2011-10-01", rules, tmp_path, column_map=column_map)


def test_a_messy_csv_in_place_equals_the_frame(tmp_path):
    path = tmp_path / "messy.csv"
    path.write_text(MESSY_CSV)
    report, table = _in_place(path, "2024-06-30", RULES, tmp_path / "q.csv")
    # What the file holds, so that the equality below compares something.
    assert report.rows_read == 12 and report.rows_quarantined == 6
    assert report.duplicate_rows == 1 and report.return_rows == 2
    assert set(table.features["customer_id"]) == {"a", "f"}  # g has only a return
    assert table.customers_without_purchase == 1
    assert_same_load_and_build(path, "2024-06-30", RULES, tmp_path)


def test_ids_like_decimal_integers_get_the_same_note_in_place(tmp_path):
    path = tmp_path / "float_ids.csv"
    path.write_text("customer_id,timestamp,amount\n17850.0,2024-01-05,3\n12.0,2024-01-06,4\n")
    report, _ = _in_place(path, "2024-06-30", RULES, None)
    assert any("integers written as decimals" in note for note in report.notes)
    assert_same_load_and_build(path, "2024-06-30", RULES, tmp_path)


def test_in_place_refuses_ids_it_would_have_to_rewrite(tmp_path):
    con = connect(preserve_insertion_order=True)
    try:
        with pytest.raises(ValueError, match="keeps ids as read"):
            validate_in_place(con, "cdnow", read_options=ReadOptions(id_format="integer"))
    finally:
        con.close()


def test_a_frame_source_in_place_equals_the_frame(tmp_path):
    frame = pd.DataFrame(
        {
            "customer_id": ["x", "y", "x", None],
            "timestamp": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-02-01", "2024-01-01"]),
            "amount": [5.0, 6.0, 7.0, 1.0],
        }
    )
    assert_same_load_and_build(frame, "2024-03-01", RULES, tmp_path)
