"""Time and number edge cases (issue 15, defect 8): one rule everywhere, one line on error.

* a CSV time with a UTC offset is converted to UTC, as Parquet and the API convert it;
* a placeholder year (0001) is quarantined, as a year after the run's clock is;
* a file that is not CSV (a JSON document) is one short line, not 90,000 characters;
* training before any transaction is one line, not a TypeError.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.contract import load_transactions
from pipelines.cli import app
from pipelines.cli.options import MAX_ERROR_CHARACTERS, one_line

runner = CliRunner()


def _csv(tmp_path, timestamps: list[str]):
    path = tmp_path / "tx.csv"
    pd.DataFrame({"customer_id": "a", "timestamp": timestamps, "amount": "1"}).to_csv(
        path, index=False
    )
    return path


def test_csv_times_with_a_utc_offset_are_converted_to_utc(tmp_path) -> None:
    path = _csv(
        tmp_path,
        [
            "2024-01-01 10:00:00+02:00",
            "2024-01-01T08:00:00Z",
            "2024-01-01 03:00:00.5-05:00",
            "2024-01-01 08:00",
        ],
    )
    times = load_transactions(path).transactions["timestamp"]
    assert list(times) == [pd.Timestamp("2024-01-01 08:00")] * 2 + [
        pd.Timestamp("2024-01-01 08:00:00.5"),
        pd.Timestamp("2024-01-01 08:00"),
    ]


def test_the_same_instant_reads_the_same_from_csv_and_parquet(tmp_path) -> None:
    csv = _csv(tmp_path, ["2024-03-05 23:30:00+01:00"])
    parquet = tmp_path / "tx.parquet"
    pd.DataFrame(
        {
            "customer_id": ["a"],
            "timestamp": [pd.Timestamp("2024-03-05 23:30", tz="Europe/Paris")],
            "amount": [1.0],
        }
    ).to_parquet(parquet)
    from_csv = load_transactions(csv).transactions["timestamp"].iloc[0]
    from_parquet = load_transactions(parquet).transactions["timestamp"].iloc[0]
    assert from_csv == from_parquet == pd.Timestamp("2024-03-05 22:30")


def test_placeholder_years_are_quarantined(tmp_path) -> None:
    path = _csv(tmp_path, ["0001-01-01", "2024-01-01", "9999-12-31"])
    report = load_transactions(path).report
    assert report.quarantined_by_reason == {
        "implausible_timestamp": 1,
        "future_timestamp": 1,
    }
    assert report.rows_accepted == 1 and report.reconciles


def test_a_json_document_given_as_transactions_is_one_short_line(tmp_path) -> None:
    path = tmp_path / "tx.json"
    path.write_text(json.dumps([{"customer_id": i, "note": "x" * 50} for i in range(2_000)]))
    result = runner.invoke(
        app,
        [
            "features",
            "-t",
            str(path),
            "--as-of",
            "2024-02-01",
            "--out",
            str(tmp_path / "f.parquet"),
        ],
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) < 400
    assert "not a CSV header" in lines[0] and "Traceback" not in result.output


def test_long_messages_are_cut_to_one_line() -> None:
    text = one_line("first\nsecond " + "y" * 5_000)
    assert "\n" not in text and text.startswith("first second y")
    assert len(text) < MAX_ERROR_CHARACTERS + 40 and "more characters" in text


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_learning_before_any_transaction_is_one_line(command, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    date = ["--as-of", "1990-01-01"] if command == "train" else ["--cutoff", "1989-10-01"]
    result = runner.invoke(app, [command, "-t", "cdnow", *date])
    assert result.exit_code == 2, result.output
    assert "no transaction" in result.output and "1989-10-0" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("horizon", ["abc", "nan", "-5", "2.5"])
def test_a_bad_horizon_in_the_scores_metadata_is_one_line(
    horizon, cdnow_scores, scores_writer, tmp_path
) -> None:
    import pyarrow.parquet as pq

    path = scores_writer(cdnow_scores.head(50), tmp_path / "scores.parquet")
    table = pq.read_table(path)
    metadata = dict(table.schema.metadata)
    metadata[b"winback.horizon_days"] = horizon.encode()
    pq.write_table(table.replace_schema_metadata(metadata), path)
    result = runner.invoke(
        app, ["rank", "--scores", str(path), "--budget", "10", "--out", str(tmp_path / "l.csv")]
    )
    assert result.exit_code == 2, result.output
    assert f"winback.horizon_days {horizon!r} is not a whole number of days" in result.output
    assert len(result.output.strip().splitlines()) == 1
