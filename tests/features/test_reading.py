"""Reading real exports: delimiters, encodings, BOMs, malformed lines, day/month dates, ids.

Every bad input ends in one line naming the file (and the fix) or in quarantined rows with
a reason; the counts always reconcile, malformed lines included.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from features.contract import load_transactions
from features.errors import TransactionsError
from features.reading import ReadOptions, detect_delimiter

NOW = dt.datetime(2026, 1, 1)
HEADER = "customer_id,timestamp,amount\n"


def load(path: Path, quarantine: Path | None = None, **options):
    return load_transactions(
        path, quarantine_path=quarantine, now=NOW, read_options=ReadOptions(**options)
    )


def refused(path: Path, **options) -> str:
    with pytest.raises(TransactionsError) as raised:
        load(path, **options)
    message = str(raised.value)
    assert "\n" not in message
    return message


def assert_reconciles(report) -> None:
    assert report.reconciles
    assert report.rows_read == report.rows_accepted + sum(report.quarantined_by_reason.values())


# --- encodings ---------------------------------------------------------------------------


def test_utf8_bom_is_tolerated(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(("\ufeff" + HEADER + "José,2024-01-01,1\n").encode("utf-8"))
    loaded = load(path)
    assert list(loaded.transactions["customer_id"]) == ["José"]


def test_latin1_without_encoding_names_byte_offset_and_the_option(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "José,2024-01-01,1\n").encode("latin-1"))
    message = refused(path)
    assert f"{path}: not valid UTF-8 text (byte 32)" in message
    assert "--encoding latin-1" in message


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("latin-1", HEADER + "José,2024-01-01,1\n"),
        ("cp1252", HEADER + "Zoë €,2024-01-01,1\n"),
        ("utf-16", "customer_id\ttimestamp\tamount\nJosé\t2024-01-01\t1\n"),
    ],
)
def test_encoding_option_transcodes(tmp_path, encoding, text):
    path = tmp_path / "export.csv"
    path.write_bytes(text.encode(encoding))
    loaded = load(path, encoding=encoding)
    expected = text.splitlines()[1].replace("\t", ",").split(",")[0]
    assert list(loaded.transactions["customer_id"]) == [expected]
    assert loaded.report.rows_accepted == 1


def test_wrong_encoding_names_file_and_offset(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "José,2024-01-01,1\n").encode("latin-1"))
    message = refused(path, encoding="utf-16")
    assert message.startswith(f"{path}: not valid utf-16 text (byte ")
    assert "check --encoding" in message


def test_unknown_encoding_and_bad_delimiter_are_one_line():
    with pytest.raises(TransactionsError, match="--encoding 'klingon': unknown encoding"):
        ReadOptions(encoding="klingon")
    with pytest.raises(TransactionsError, match="--delimiter ';;': give one character"):
        ReadOptions(delimiter=";;")
    with pytest.raises(TransactionsError, match="not a strptime format"):
        ReadOptions(date_format="dd/mm/yyyy")


def test_csv_options_are_refused_for_parquet(tmp_path):
    path = tmp_path / "tx.parquet"
    pd.DataFrame({"customer_id": ["a"], "timestamp": ["2024-01-01"], "amount": [1.0]}).to_parquet(
        path
    )
    assert "apply to CSV text files only" in refused(path, delimiter=";")


# --- delimiters --------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_detected_from_the_header(tmp_path, delimiter):
    rows = [["customer_id", "timestamp", "amount"], ["a", "2024-01-01", "1.5"], ["b", "x", "2"]]
    path = tmp_path / "tx.csv"
    path.write_text("".join(delimiter.join(row) + "\n" for row in rows))
    loaded = load(path)
    assert loaded.report.rows_accepted == 1
    assert loaded.report.quarantined_by_reason == {"unparseable_timestamp": 1}
    assert detect_delimiter(delimiter.join(rows[0])) == delimiter


def test_delimiter_option_overrides_detection(tmp_path):
    # The header has more commas than pipes, but the user knows the file is '|'-separated.
    path = tmp_path / "tx.csv"
    path.write_text("customer_id|timestamp|amount,with,commas\na|2024-01-01|1\n")
    loaded = load_transactions(
        path,
        column_map={"amount": "amount,with,commas"},
        now=NOW,
        read_options=ReadOptions(delimiter="|"),
    )
    assert loaded.transactions["amount"].tolist() == [1.0]


def test_wrong_delimiter_option_is_one_line(tmp_path):
    path = tmp_path / "tx.csv"
    path.write_text(HEADER + "a,2024-01-01,1\n")
    assert "missing required column(s)" in refused(path, delimiter=";")


def test_semicolon_export_with_decimal_commas_is_not_misread(tmp_path):
    path = tmp_path / "tx.csv"
    path.write_text("customer_id;timestamp;amount\na;2024-01-01;1,5\nb;2024-01-02;2\n")
    loaded = load(path)
    report = loaded.report
    assert report.rows_accepted == 1 and report.quarantined_by_reason == {"non_numeric_amount": 1}
    assert loaded.transactions["amount"].tolist() == [2.0]  # never 15, never 1
    assert any("'1,5'" in note and "decimal comma" in note for note in report.notes)
    assert_reconciles(report)


# --- the whole file, not a sample --------------------------------------------------------


def test_first_quoted_field_after_row_20480_reads_fine(tmp_path):
    path = tmp_path / "late_quote.csv"
    lines = [f"c{i % 97},2024-01-{1 + i % 28:02d},{i % 7}.5,sku{i % 5}" for i in range(25_000)]
    lines[22_000] = 'c1,2024-01-02,3.5,"shirt, blue"'
    path.write_text("customer_id,timestamp,amount,product\n" + "\n".join(lines) + "\n")
    loaded = load(path)
    assert loaded.report.rows_read == 25_000
    assert loaded.report.rows_accepted == 25_000
    assert loaded.transactions["product"].iloc[22_000] == "shirt, blue"


# --- malformed and ragged lines ----------------------------------------------------------


def test_malformed_lines_are_quarantined_with_line_numbers(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text(
        HEADER
        + "a,2024-01-01,1\n"  # row 1: good
        + "b,2024-01-02,2,extra\n"  # row 2: too many fields
        + "c,2024-01-03\n"  # row 3: too few fields
        + "d,2024-01-04,ten\n"  # row 4: well formed, bad amount
        + "e,2024-01-05,5\n"  # row 5: good
        + 'f,2024-01-06,"6\n'  # row 6: unterminated quote
        + "g,2024-01-07,7\n"  # row 7: good, not swallowed by row 6's quote
    )
    quarantine = tmp_path / "q.csv"
    loaded = load(path, quarantine)
    report = loaded.report
    assert report.rows_read == 7
    assert report.rows_accepted == 3
    assert report.quarantined_by_reason == {"malformed_line": 3, "non_numeric_amount": 1}
    assert_reconciles(report)
    written = pd.read_csv(quarantine)
    assert list(written["source_row"]) == [2, 3, 4, 6]
    assert list(written["reason"]) == [
        "malformed_line",
        "malformed_line",
        "non_numeric_amount",
        "malformed_line",
    ]
    assert written.loc[0, "raw_line"] == "b,2024-01-02,2,extra"
    assert "too many columns" in written.loc[0, "error"]
    assert "missing columns" in written.loc[1, "error"]
    assert "unterminated quote" in written.loc[3, "error"]
    assert written.loc[3, "raw_line"] == 'f,2024-01-06,"6'
    assert written.loc[2, "amount"] == "ten"  # the well-formed row keeps its raw values
    assert list(loaded.transactions["customer_id"]) == ["a", "e", "g"]


def test_an_unterminated_quote_costs_one_line_not_the_rest_of_the_file(tmp_path):
    path = tmp_path / "quotes.csv"
    lines = [f"c{i},2024-03-{1 + i % 28:02d},{i % 9}" for i in range(30_000)]
    lines[10] = 'c10,2024-03-11,"10'  # its quote would run to the quote of row 20,001
    lines[20_000] = 'c20000,2024-03-01,"3"'
    lines[25_000] = "c25000,2024-03-01,ten"  # numbered right across the re-read
    lines[29_990] = 'c29990,"2024-03-01,1'  # and this one to the end of the file
    path.write_text(HEADER + "\n".join(lines) + "\n")
    quarantine = tmp_path / "q.csv"
    loaded = load(path, quarantine)
    report = loaded.report
    assert report.rows_read == 30_000
    assert report.quarantined_by_reason == {"malformed_line": 2, "non_numeric_amount": 1}
    assert_reconciles(report)
    written = pd.read_csv(quarantine)
    assert list(written["source_row"]) == [11, 25_001, 29_991]
    assert list(written["raw_line"].fillna("")) == [lines[10], "", lines[29_990]]
    accepted = loaded.transactions
    assert accepted["customer_id"].iloc[-1] == "c29999"
    assert accepted.loc[accepted["customer_id"] == "c20000", "amount"].tolist() == [3.0]


def test_a_ragged_line_deep_in_a_large_file_does_not_sink_it(tmp_path):
    path = tmp_path / "ragged.csv"
    lines = [f"c{i % 50},2024-02-{1 + i % 28:02d},{i % 9}" for i in range(30_000)]
    lines[25_000] = "c1,2024-02-01,3,oops"
    lines[29_000] = "c2,not-a-date,3"
    path.write_text(HEADER + "\n".join(lines) + "\n")
    quarantine = tmp_path / "q.csv"
    report = load(path, quarantine).report
    assert report.quarantined_by_reason == {"malformed_line": 1, "unparseable_timestamp": 1}
    assert report.rows_read == 30_000
    assert_reconciles(report)
    # Rows after the rejected line keep their own row number in the file.
    assert list(pd.read_csv(quarantine)["source_row"]) == [25_001, 29_001]


def test_no_line_fits_the_header_is_one_line(tmp_path):
    path = tmp_path / "tx.csv"
    path.write_text(HEADER + "a,2024-01-01\nb,2024-01-02\n")
    message = refused(path)
    assert message.startswith(f"{path}: no line has the header's 3 fields separated by ','")
    assert "line 2: a,2024-01-01" in message


def test_duplicate_header_names_are_one_line(tmp_path):
    path = tmp_path / "tx.csv"
    path.write_text("customer_id,timestamp,amount,Amount\na,2024-01-01,1,2\n")
    assert "column 'Amount' appears twice in the header" in refused(path)


# --- day/month dates ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            ["05/10/1997 08:26"],
            "has dates like '05/10/1997 08:26', which read as day/month or month/day; give "
            "--date-format '%d/%m/%Y %H:%M' (day first) or '%m/%d/%Y %H:%M' (month first)",
        ),
        (
            ["05/10/1997 08:26", "13/10/1997 08:26"],
            "the data suggests day first ('13/10/1997 08:26'), but winback does not guess: "
            "give --date-format '%d/%m/%Y %H:%M'",
        ),
        (
            ["05.10.97", "10.13.97"],
            "the data suggests month first ('10.13.97'), but winback does not guess: give "
            "--date-format '%m.%d.%y'",
        ),
        (
            ["05/10/1997", "13/10/1997", "10/13/1997"],
            "both day first ('13/10/1997') and month first ('10/13/1997')",
        ),
    ],
)
def test_day_month_dates_are_refused_without_a_format(tmp_path, rows, expected):
    path = tmp_path / "tx.csv"
    path.write_text("cust,InvoiceDate,amount\n" + "".join(f"a,{r},1\n" for r in rows))
    with pytest.raises(TransactionsError) as raised:
        load_transactions(
            path, column_map={"customer_id": "cust", "timestamp": "InvoiceDate"}, now=NOW
        )
    message = str(raised.value)
    assert message.startswith(f"{path}: column 'InvoiceDate' has dates like ")
    assert expected in message


def test_date_format_reads_day_first_and_quarantines_what_does_not_fit(tmp_path):
    path = tmp_path / "tx.csv"
    path.write_text(HEADER + "a,05/10/1997 08:26,1\nb,13/10/1997 09:00,2\nc,1997-10-05,3\n")
    loaded = load(path, date_format="%d/%m/%Y %H:%M")
    assert list(loaded.transactions["timestamp"]) == [
        pd.Timestamp("1997-10-05 08:26"),
        pd.Timestamp("1997-10-13 09:00"),
    ]
    assert loaded.report.quarantined_by_reason == {"unparseable_timestamp": 1}
    assert_reconciles(loaded.report)


def test_bad_date_format_is_one_line(tmp_path):
    path = tmp_path / "tx.csv"
    path.write_text(HEADER + "a,05/10/1997,1\n")
    assert refused(path, date_format="%Q/%m").startswith("--date-format '%Q/%m': ")


def test_iso_and_yyyymmdd_dates_need_no_format(tmp_path):
    path = tmp_path / "tx.csv"
    path.write_text(HEADER + "a,1997-10-05,1\nb,19971005,2\n")
    assert load(path).report.rows_accepted == 2


# --- ids ---------------------------------------------------------------------------------


def test_integer_ids_in_disguise(tmp_path):
    path = tmp_path / "tx.csv"
    path.write_text(HEADER + "17850.0,2024-01-01,1\n00042.0,2024-01-02,2\n13047,2024-01-03,3\n")
    loaded = load(path, id_format="integer")
    assert list(loaded.transactions["customer_id"]) == ["17850", "42", "13047"]


@pytest.mark.parametrize("bad_id", ["17850.5", "C123"])
def test_integer_id_format_refuses_ids_that_are_not_integers(tmp_path, bad_id):
    path = tmp_path / "tx.csv"
    path.write_text(HEADER + f"17850.0,2024-01-01,1\n{bad_id},2024-01-02,2\n")
    message = refused(path, id_format="integer")
    assert message == (
        f"{path}: --id-format integer, but customer id '{bad_id}' is not an integer "
        "(1 of 2 ids are not); use --id-format text"
    )


def test_text_ids_are_kept_as_read_with_a_hint_for_decimals(tmp_path):
    path = tmp_path / "tx.csv"
    path.write_text(HEADER + " 17850.0 ,2024-01-01,1\n00042.0,2024-01-02,2\n")
    loaded = load(path)
    assert list(loaded.transactions["customer_id"]) == ["17850.0", "00042.0"]
    assert any("--id-format integer" in note for note in loaded.report.notes)
    path.write_text(HEADER + "00042,2024-01-01,1\nC7,2024-01-02,2\n")
    loaded = load(path)
    assert list(loaded.transactions["customer_id"]) == ["00042", "C7"]  # leading zeros kept
    assert loaded.report.notes == []


def test_columns_named_like_our_helpers_survive_a_re_read(tmp_path):
    path = tmp_path / "tx.csv"
    path.write_text(
        'customer_id,timestamp,amount,n,i\na,2024-01-01,1,x,y\nb,2024-01-02,"2,z,w\n'
        "c,2024-01-03,3,p,q\n"
    )
    loaded = load_transactions(path, now=NOW)
    assert loaded.report.quarantined_by_reason == {"malformed_line": 1}
    assert list(loaded.transactions["customer_id"]) == ["a", "c"]
