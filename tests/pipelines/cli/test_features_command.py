"""`winback features` and `winback demo` as a user runs them."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
from typer.testing import CliRunner

from pipelines.cli import app

runner = CliRunner()


def test_features_on_cdnow_writes_one_row_per_customer(tmp_path):
    out = tmp_path / "features.parquet"
    result = runner.invoke(
        app, ["features", "--transactions", "cdnow", "--as-of", "1997-09-30", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    features = pd.read_parquet(out)
    assert len(features) == 23_570
    assert pq.read_schema(out).metadata[b"winback.as_of"] == b"1997-09-30"
    assert "69,659" in result.output and "20,573" in result.output  # read / after as-of


def test_bad_rows_are_counted_and_quarantined_next_to_the_output(tmp_path):
    source = tmp_path / "tx.csv"
    source.write_text(
        "cust,day,value\na,2024-01-01,5\na,2024-02-01,oops\nb,2024-01-15,7\n,2024-01-20,1\n"
    )
    out = tmp_path / "f.parquet"
    result = runner.invoke(
        app,
        [
            "features",
            "-t",
            str(source),
            "--as-of",
            "2024-03-01",
            "--out",
            str(out),
            "--map",
            "customer_id=cust,timestamp=day,amount=value",
        ],
    )
    assert result.exit_code == 0, result.output
    quarantine = pd.read_csv(tmp_path / "f.quarantine.csv")
    assert sorted(quarantine["reason"]) == ["missing_customer_id", "non_numeric_amount"]
    assert "non_numeric_amount" in result.output
    assert len(pd.read_parquet(out)) == 2


def test_missing_file_is_one_line_and_exit_code_2(tmp_path):
    missing = tmp_path / "nope.csv"
    result = runner.invoke(
        app, ["features", "-t", str(missing), "--as-of", "2024-01-01", "--out", "x.parquet"]
    )
    assert result.exit_code == 2
    assert f"error: {missing}: file not found" in result.output
    assert "Traceback" not in result.output


def test_as_of_before_all_data_is_explained(tmp_path):
    result = runner.invoke(
        app,
        ["features", "-t", "cdnow", "--as-of", "1990-01-01", "--out", str(tmp_path / "f.pq")],
    )
    assert result.exit_code == 2
    assert "no accepted transaction on or before as-of 1990-01-01" in result.output
    assert "1997-01-01" in result.output


def test_malformed_as_of_is_explained(tmp_path):
    result = runner.invoke(
        app, ["features", "-t", "cdnow", "--as-of", "30/09/1997", "--out", str(tmp_path / "f")]
    )
    assert result.exit_code == 2
    assert "not of the form YYYY-MM-DD" in result.output


def test_help_reads_like_documentation():
    result = runner.invoke(app, ["features", "--help"])
    assert result.exit_code == 0
    assert "--transactions" in result.output and "cdnow" in result.output
