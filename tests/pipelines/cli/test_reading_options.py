"""Every command that reads transactions reads them the same way and says what it dropped.

The same options (--map, --delimiter, --encoding, --date-format, --id-format), the same
read / accepted / quarantined table, the quarantine file next to the command's output, and
one line with exit code 2 for a file that cannot be used.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.config import load_feature_config
from features.contract import LoadedTransactions
from features.errors import WinbackError
from features.table import FeatureTable
from pipelines import paths
from pipelines.cli import app

runner = CliRunner()
HEADER = "customer_id,timestamp,amount\n"


class StageReached(WinbackError):
    """Raised by a stand-in for the stage after reading: the command got that far."""


def commands(tmp_path: Path, source: Path) -> dict[str, list[str]]:
    """Each reading command with the arguments it needs to reach its reading step."""
    out = tmp_path / "out"
    return {
        "features": ["features", "-t", str(source), "--as-of", "2024-03-01",
                     "--out", str(out / "f.parquet")],
        "evaluate": ["evaluate", "-t", str(source), "--cutoff", "2024-02-01",
                     "--out", str(out / "metrics.json")],
        "train": ["train", "-t", str(source), "--as-of", "2024-03-01"],
        "score": ["score", "-t", str(source), "--as-of", "2024-03-01",
                  "--out", str(out / "scores.parquet")],
        "report": ["report", "-t", str(source), "--out", str(out / "report.html"),
                   "--scores", str(out / "none.parquet")],
        "campaign import": ["campaign", "import", "--log", str(tmp_path / "log.csv"),
                            "-t", str(source), "--out", str(out / "results.json")],
        "campaign learn": ["campaign", "learn", "--log", str(tmp_path / "log.csv"),
                           "-t", str(source), "--out", str(out / "uplift.json")],
    }  # fmt: skip


#: Where each command writes its quarantine file (relative to tmp_path).
QUARANTINE = {
    "evaluate": "out/metrics.quarantine.csv",
    "train": "default_out/train.quarantine.csv",
    "score": "out/scores.quarantine.csv",
    "report": "out/report.quarantine.csv",
    "campaign import": "out/results.quarantine.csv",
    "campaign learn": "out/uplift.quarantine.csv",
}


@pytest.fixture
def default_out(tmp_path, monkeypatch) -> Path:
    """Commands without an output file write their quarantine file here."""
    monkeypatch.setattr(paths, "DEFAULT_OUT_DIR", tmp_path / "default_out")
    return tmp_path / "default_out"


def _stand_ins(monkeypatch, stage_for) -> dict[str, object]:
    """Replace the stage after reading in every command; ``stage_for(name)`` builds each."""
    import pipelines.economics.campaign as campaign
    import pipelines.economics.uplift_log as uplift_log
    import pipelines.registry.store as store
    import pipelines.report.build as build
    import pipelines.scoring.batch as batch
    import pipelines.training.evaluation as evaluation
    import pipelines.training.run as run

    monkeypatch.setattr(store, "resolve_version", lambda version: 1)
    monkeypatch.setattr(store, "version_metadata", lambda version: {})
    # ``score`` loads the registered version before reading (one call, cached or not),
    # and reads and builds with its feature rules.
    version = store.RegisteredScorer(SimpleNamespace(feature_config=load_feature_config()), "1", {})
    monkeypatch.setattr(store, "load_registered", lambda version_asked: version)
    for module, attribute, name in (
        (evaluation, "evaluate", "evaluate"),
        (run, "run_training", "train"),
        (batch, "score_features_to_parquet", "score"),
        (build, "write_report", "report"),
        (campaign, "import_campaign", "campaign import"),
        (uplift_log, "learning_log_from_transactions", "campaign learn"),
    ):
        monkeypatch.setattr(module, attribute, stage_for(name))
    return {}


#: Which argument of each stage holds the transactions the command read.
TRANSACTIONS_ARGUMENT = {
    "evaluate": 0,
    "train": 0,
    "score": 0,
    "report": 1,
    "campaign import": 1,
    "campaign learn": 1,
}


@pytest.fixture
def stages(monkeypatch) -> dict[str, object]:
    """Stand-ins that fail at once; they record what they were given."""
    received: dict[str, object] = {}

    def stage_for(name: str):
        def stage(*args, **kwargs):
            received[name] = args[TRANSACTIONS_ARGUMENT[name]]
            raise StageReached(f"{name} reached")

        return stage

    _stand_ins(monkeypatch, stage_for)
    return received


@pytest.fixture
def fakes(monkeypatch) -> dict[str, object]:
    """Stand-ins that succeed at once with a minimal result; they record what they got."""
    import pipelines.cli.campaign as campaign
    import pipelines.cli.modelling as modelling
    import pipelines.economics.uplift_stage as uplift_stage
    from pipelines.training.run import TrainingOutcome

    results = {
        "evaluate": SimpleNamespace(write_json=lambda path: None),
        "train": TrainingOutcome(
            run_id="r", version="1", promoted=True, reason="ok", evaluation=None, report=None
        ),
        "score": (pd.DataFrame({"customer_id": ["c0"]}), 1),
        "report": Path("report.html"),
        "campaign import": {"frequency": [], "contacts_window_not_over": 0},
        "campaign learn": SimpleNamespace(rows_used=40),
    }
    received: dict[str, object] = {}

    def stage_for(name: str):
        def stage(*args, **kwargs):
            received[name] = args[TRANSACTIONS_ARGUMENT[name]]
            return results[name]

        return stage

    _stand_ins(monkeypatch, stage_for)
    monkeypatch.setattr(modelling, "evaluation_tables", lambda result: [])
    monkeypatch.setattr(campaign, "campaign_table", lambda results, horizon_days: "")
    monkeypatch.setattr(campaign, "print_rows", lambda log: None)
    document = {
        "learner": "xlearner",
        "evaluation": None,
        "promotion": {"promote": False, "reason": "stand-in"},
        "features": [],
        "options": [],
    }
    monkeypatch.setattr(uplift_stage, "learn_uplift_model", lambda *args: document)
    monkeypatch.setattr(uplift_stage, "save_uplift_model", lambda document, out: out)
    return received


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize(
    "command",
    ["features", "evaluate", "train", "score", "report", "campaign import", "campaign learn"],
)
def test_every_reading_command_has_the_same_options(command):
    result = runner.invoke(app, [*command.split(), "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--map", "--delimiter", "--encoding", "--date-format", "--id-format"):
        assert option in result.output, f"{command} lacks {option}"


@pytest.mark.parametrize(
    "command",
    ["features", "evaluate", "train", "score", "report", "campaign import", "campaign learn"],
)
def test_ambiguous_dates_are_one_line_and_exit_2_in_every_command(
    tmp_path, command, stages, default_out
):
    source = tmp_path / "tx.csv"
    source.write_text(HEADER + "a,05/10/1997 08:26,1\nb,06/10/1997 09:00,2\n")
    result = runner.invoke(app, commands(tmp_path, source)[command])
    line = one_line_error(result)
    assert line == (
        f"error: {source}: column 'timestamp' has dates like '05/10/1997 08:26', which read "
        "as day/month or month/day; give --date-format '%d/%m/%Y %H:%M' (day first) or "
        "'%m/%d/%Y %H:%M' (month first)"
    )
    assert command not in stages  # refused before any stage ran


RAGGED = (
    "cust;day;value\n"
    + "".join(f"c{i};05/10/1997;{i}\n" for i in range(40))
    + "x;06/10/1997;1;extra\n"  # row 41: ragged
    + "y;31/10/1997;oops\n"  # row 42: non-numeric amount
)
READING = ["--map", "customer_id=cust,timestamp=day,amount=value", "--date-format", "%d/%m/%Y"]
#: What each command needs beside its reading options to finish with the stand-ins.
FINISHING = {
    "train": ["--allow-quarantine-share", "0.1"],
    "campaign import": ["--no-learn"],
    "campaign learn": ["--no-mlflow"],
}
EVERY_COMMAND_BUT_FEATURES = [
    "evaluate", "train", "score", "report", "campaign import", "campaign learn"
]  # fmt: skip


@pytest.mark.parametrize("command", EVERY_COMMAND_BUT_FEATURES)
def test_every_command_prints_the_counts_and_writes_the_quarantine_file(
    tmp_path, command, fakes, default_out
):
    source = tmp_path / "tx.csv"
    source.write_text(RAGGED)
    args = [*commands(tmp_path, source)[command], *READING, *FINISHING.get(command, [])]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    output = result.output
    for row in ("rows read", "42", "accepted", "40", "quarantined", "malformed_line"):
        assert row in output, output
    assert "non_numeric_amount" in output
    assert "quarantined rows written to" in output  # the path wraps with the table
    quarantine = pd.read_csv(tmp_path / QUARANTINE[command])
    assert list(quarantine["source_row"]) == [41, 42]
    assert list(quarantine["reason"]) == ["malformed_line", "non_numeric_amount"]
    received = fakes[command]
    if command == "score":  # validated and built in DuckDB: its stage takes the features
        assert isinstance(received, FeatureTable) and received.rows_used == 40
        first = received.features["first_purchase"].min()
    else:  # evaluate's stage takes the clean rows; the others all of what was read, once
        if command != "evaluate":
            assert isinstance(received, LoadedTransactions)
            assert received.report.rows_read == 42 and received.report.reconciles
            received = received.transactions
        assert len(received) == 40
        first = received["timestamp"].min()
    assert first == pd.Timestamp("1997-10-05")  # day first, as told


@pytest.mark.parametrize("command", EVERY_COMMAND_BUT_FEATURES)
def test_a_stage_failing_after_reading_is_still_one_line(tmp_path, command, stages, default_out):
    source = tmp_path / "tx.csv"
    source.write_text(RAGGED)
    args = [*commands(tmp_path, source)[command], *READING, *FINISHING.get(command, [])]
    result = runner.invoke(app, args)
    assert one_line_error(result) == f"error: {command} reached"
    assert len(result.output.strip().splitlines()) == 1
    assert (tmp_path / QUARANTINE[command]).exists()  # the rejected rows are still kept


def test_evaluate_end_to_end_reports_a_malformed_line(tmp_path):
    from features.datasets import load_cdnow_raw

    source = tmp_path / "cdnow.csv"
    load_cdnow_raw().to_csv(source, index=False)
    with source.open("a") as handle:
        handle.write("99999,1997-02-01,1,1,extra\n")
    out = tmp_path / "metrics.json"
    result = runner.invoke(
        app,
        ["evaluate", "-t", str(source), "--cutoff", "1997-09-30", "--models", "bgnbd",
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "69,660" in result.output and "malformed_line" in result.output
    quarantine = pd.read_csv(tmp_path / "metrics.quarantine.csv")
    assert list(quarantine["source_row"]) == [69_660]
    assert out.exists()


def test_train_refuses_when_too_much_is_quarantined(tmp_path, stages, default_out):
    source = tmp_path / "tx.csv"
    source.write_text(HEADER + "".join(f"c{i},2024-01-0{1 + i % 9},1\n" for i in range(18)))
    with source.open("a") as handle:
        handle.write("bad,2024-01-02,ten\nbad,someday,1\n")  # 2 of 20 rows: 10%
    args = ["train", "-t", str(source), "--as-of", "2024-03-01"]
    line = one_line_error(runner.invoke(app, args))
    assert line == (
        f"error: {source}: 2 of 20 rows (10.0%) were quarantined as unreadable, more than "
        "reading.max_quarantine_share (5.0%) allows; see "
        f"{default_out / 'train.quarantine.csv'}; fix the file, or pass "
        "--allow-quarantine-share 0.1"
    )
    assert "train" not in stages
    line = one_line_error(runner.invoke(app, [*args, "--allow-quarantine-share", "0.05"]))
    assert "more than --allow-quarantine-share (5.0%) allows" in line
    result = runner.invoke(app, [*args, "--allow-quarantine-share", "0.1"])
    assert one_line_error(result) == "error: train reached"


def test_guest_orders_and_postage_lines_do_not_count_toward_the_share(tmp_path, stages):
    """An online shop's export holds orders without a customer id by design (a quarter of the
    lines of a real one): quarantined and counted, but not a sign of a misread file."""
    source = tmp_path / "tx.csv"
    source.write_text(HEADER + "".join(f"c{i},2024-01-0{1 + i % 9},1\n" for i in range(18)))
    with source.open("a") as handle:
        handle.write(",2024-01-02,10\n,2024-01-03,12\n")  # 2 of 20 rows: 10%, no id
    result = runner.invoke(app, ["train", "-t", str(source), "--as-of", "2024-03-01"])
    assert one_line_error(result) == "error: train reached"


def test_train_share_comes_from_the_config(tmp_path, stages, default_out):
    config = tmp_path / "features.yaml"
    config.write_text("reading:\n  max_quarantine_share: 0.5\n")
    source = tmp_path / "tx.csv"
    source.write_text(HEADER + "a,2024-01-01,1\nb,2024-01-02,ten\n")
    args = ["train", "-t", str(source), "--as-of", "2024-03-01", "--config", str(config)]
    assert one_line_error(runner.invoke(app, args)) == "error: train reached"


def test_features_reads_a_tab_separated_latin1_export_with_integer_ids(tmp_path):
    source = tmp_path / "export.txt"
    source.write_bytes(
        "CustomerID\tInvoiceDate\tValue\tDescription\n"
        "17850.0\t2024-01-05\t10.5\tcafé\n"
        "13047.0\t2024-01-06\t3\tthé\n".encode("latin-1")
    )
    out = tmp_path / "f.parquet"
    result = runner.invoke(
        app,
        ["features", "-t", str(source), "--as-of", "2024-02-01", "--out", str(out),
         "--map", "customer_id=CustomerID,timestamp=InvoiceDate,amount=Value,product=Description",
         "--delimiter", "tab", "--encoding", "latin-1", "--id-format", "integer"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    features = pd.read_parquet(out)
    assert sorted(features["customer_id"]) == ["13047", "17850"]
    assert set(features["favorite_product"]) == {"café", "thé"}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--id-format", "integer"], "customer id 'C7' is not an integer (1 of 2 ids are not)"),
        (["--encoding", "utf-16"], "not valid utf-16 text (byte 0); check --encoding"),
        (["--encoding", "ebcdic-klingon"], "--encoding 'ebcdic-klingon': unknown encoding"),
        (["--delimiter", "::"], "--delimiter '::': give one character"),
        (["--date-format", "%Q"], "--date-format '%Q': "),
    ],
)
def test_bad_reading_options_are_one_line(tmp_path, extra, expected):
    source = tmp_path / "tx.csv"
    source.write_text(HEADER + "17850.0,2024-01-05,1\nC7,2024-01-06,2\n")
    args = ["features", "-t", str(source), "--as-of", "2024-02-01",
            "--out", str(tmp_path / "f.parquet"), *extra]  # fmt: skip
    assert expected in one_line_error(runner.invoke(app, args))


def test_features_prints_the_id_hint(tmp_path):
    source = tmp_path / "tx.csv"
    source.write_text(HEADER + "17850.0,2024-01-05,1\n13047.0,2024-01-06,2\n")
    args = ["features", "-t", str(source), "--as-of", "2024-02-01",
            "--out", str(tmp_path / "f.parquet")]  # fmt: skip
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "note: customer ids look like integers written as decimals" in result.output


def test_campaign_learn_refuses_reading_options_without_transactions(tmp_path):
    args = ["campaign", "learn", "--log", str(tmp_path / "log.csv"),
            "--out", str(tmp_path / "u.json"), "--delimiter", ";"]  # fmt: skip
    line = one_line_error(runner.invoke(app, args))
    assert "apply to --transactions" in line


def test_score_reads_with_the_line_rules_of_the_version_it_scores_with(
    tmp_path, fakes, default_out, monkeypatch
):
    """``score`` has no --config: the version's feature rules decide which lines are
    absurd (here amounts above 20.5), as they decide how its features are built."""
    import dataclasses

    import pipelines.registry.store as store

    rules = load_feature_config()
    strict = dataclasses.replace(rules, lines=dataclasses.replace(rules.lines, max_abs_amount=20.5))
    version = store.RegisteredScorer(SimpleNamespace(feature_config=strict), "1", {})
    monkeypatch.setattr(store, "load_registered", lambda version_asked: version)
    source = tmp_path / "tx.csv"
    source.write_text(RAGGED)
    args = [*commands(tmp_path, source)["score"], *READING]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    quarantine = pd.read_csv(tmp_path / QUARANTINE["score"])
    assert (quarantine["reason"] == "absurd_amount").sum() == 19  # amounts 21 to 39
    assert fakes["score"].rows_used == 21
