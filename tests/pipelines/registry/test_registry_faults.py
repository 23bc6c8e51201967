"""Registry faults end in one line; killed and concurrent trainings leave no debris.

Issue 15, defects 4 and 5: with the champion's model files deleted ``score`` printed a
60-line traceback and with a truncated ``mlflow.db`` 107 lines; a training killed with
SIGKILL left its run RUNNING forever and a registered version with no promotion decision;
nothing stopped two trainings from both becoming champion; ``winback promote`` overwrote
the original promotion tags. The store here holds one small champion (2,000 CDNOW
customers, a few trees) so that every test runs in seconds.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import pytest
from typer.testing import CliRunner

from features.config import load_feature_config
from pipelines.cli import app
from pipelines.registry import housekeeping, promotion
from pipelines.registry import store as registry
from pipelines.training.fit import TrainingSettings
from pipelines.training.run import run_training

AS_OF = "1997-09-30"
RULES = load_feature_config()
TINY = TrainingSettings(
    max_snapshots=2, dormancy_params={"n_estimators": 10}, spend_params={"n_estimators": 10}
)
runner = CliRunner()


def _small(loaded):
    rows = loaded.transactions
    customers = sorted(rows["customer_id"].unique())[:2000]
    return dataclasses.replace(loaded, transactions=rows[rows["customer_id"].isin(customers)])


@pytest.fixture(scope="module")
def loaded(store):
    from features.contract import load_transactions

    return _small(load_transactions("cdnow"))


@pytest.fixture(scope="module")
def transactions_csv(loaded, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tx") / "tx.csv"
    loaded.transactions.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def champion(loaded):
    outcome = run_training(loaded, AS_OF, TINY, RULES)
    assert outcome.promoted
    return outcome


def _champion() -> str:
    return str(mlflow.MlflowClient().get_model_version_by_alias("winback", "champion").version)


def _one_line_exit_1(result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    errors = [line for line in result.output.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: "), result.output
    for needle in needles:
        assert needle in errors[0], errors[0]


def _score(transactions_csv: Path, out: Path | str):
    return runner.invoke(
        app, ["score", "-t", str(transactions_csv), "--as-of", AS_OF, "--out", str(out)]
    )


def test_deleted_model_files_are_one_line(champion, transactions_csv, tmp_path):
    models = Path(registry.tracking_uri().removeprefix("sqlite:///")).parent / "artifacts"
    hidden = tmp_path / "hidden"
    shutil.move(models / "models", hidden)
    try:
        result = _score(transactions_csv, tmp_path / "scores.parquet")
    finally:
        shutil.move(hidden, models / "models")
    _one_line_exit_1(result, f"model files of winback v{champion.version}", "winback promote")
    assert not (tmp_path / "scores.parquet").exists()


@pytest.mark.parametrize("size", [4096, 200_000])
def test_a_truncated_store_is_one_line(champion, transactions_csv, tmp_path, monkeypatch, size):
    database = Path(registry.tracking_uri().removeprefix("sqlite:///"))
    broken = tmp_path / "mlflow.db"
    broken.write_bytes(database.read_bytes()[:size])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{broken}")
    result = _score(transactions_csv, tmp_path / "scores.parquet")
    _one_line_exit_1(result, f"the model registry at sqlite:///{broken} cannot be read")
    trained = runner.invoke(app, ["train", "-t", str(transactions_csv), "--as-of", AS_OF])
    _one_line_exit_1(trained, "cannot be read", "MLFLOW_TRACKING_URI")


def test_score_to_a_full_device_is_one_line(champion, transactions_csv):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    _one_line_exit_1(
        _score(transactions_csv, "/dev/full"), "/dev/full: cannot write (No space left"
    )


KILLED_TRAINING = textwrap.dedent(
    """
    import dataclasses, os, signal, sys
    sys.path.insert(0, {tests!r})
    from features.config import load_feature_config
    from features.contract import load_transactions
    from pipelines.registry import store
    from pipelines.training.run import run_training
    from test_registry_faults import TINY, _small

    register = store.log_scorer

    def register_then_die(mlflow, scorer):  # SIGKILL after registration, before the decision
        info = register(mlflow, scorer)
        print("registered", info.registered_model_version, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    store.log_scorer = register_then_die
    run_training(_small(load_transactions("cdnow")), "1997-09-30", TINY, load_feature_config())
    """
)


def test_a_killed_training_is_marked_failed_and_the_champion_is_unchanged(champion, tmp_path):
    script = tmp_path / "killed.py"
    script.write_text(KILLED_TRAINING.format(tests=str(Path(__file__).parent)))
    killed = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=dict(os.environ)
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    version = killed.stdout.split("registered")[-1].strip()
    client = mlflow.MlflowClient()
    orphan = client.get_model_version("winback", version)
    assert client.get_run(orphan.run_id).info.status == "RUNNING"  # the debris
    assert "promoted" not in orphan.tags

    assert registry.settle_orphaned_runs() == [orphan.run_id]
    run = client.get_run(orphan.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["failure_reason"] == housekeeping.INTERRUPTED
    tags = client.get_model_version("winback", version).tags
    assert tags["promoted"] == "false" and tags["promotion_reason"] == housekeeping.INTERRUPTED
    assert _champion() == champion.version
    assert registry.settle_orphaned_runs() == []  # settled once


def test_a_live_training_is_not_an_orphan(champion):
    """The owner tags name this very process: its RUNNING run is left alone."""
    mlflow_module = registry.configure_mlflow()
    with mlflow_module.start_run(tags=housekeeping.owner_tags()) as run:
        assert run.info.run_id not in registry.settle_orphaned_runs()
        assert mlflow.MlflowClient().get_run(run.info.run_id).info.status == "RUNNING"


def test_the_champion_check_and_the_alias_move_hold_the_store_lock(champion, loaded, monkeypatch):
    lock = housekeeping.lock_path(registry.tracking_uri())
    seen = {}
    decide = promotion.decide

    def spy(*args, **kwargs):
        with lock.open("a") as other:  # another training trying to take the lock now
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                seen["locked"] = False
            except BlockingIOError:
                seen["locked"] = True
        seen["champion"] = _champion()
        return decide(*args, **kwargs)

    monkeypatch.setattr(promotion, "decide", spy)
    run_training(loaded, AS_OF, TINY, RULES)
    assert seen["locked"] is True
    with lock.open("a") as other:  # released afterwards
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_manual_promotion_keeps_the_automatic_decision_in_a_history(champion, loaded):
    challenger = run_training(loaded, AS_OF, TINY, RULES)
    assert not challenger.promoted  # the same model does not beat itself
    result = runner.invoke(
        app, ["promote", "--version", challenger.version, "--reason", "audited by hand"]
    )
    assert result.exit_code == 0, result.output
    tags = mlflow.MlflowClient().get_model_version("winback", challenger.version).tags
    assert tags["promotion"] == "manual" and tags["promotion_reason"] == "audited by hand"
    history = json.loads(tags[promotion.HISTORY_TAG])
    assert history == [{"promoted": "false", "promotion_reason": challenger.reason}]
    assert _champion() == challenger.version
