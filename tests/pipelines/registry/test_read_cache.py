"""Reading the champion without MLflow while the store is unchanged, and never after it
changed (issue 18: ``winback score`` and ``serve`` paid 5-8 s of MLflow per start)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_registry_faults import AS_OF, TINY, _small
from typer.testing import CliRunner

from features.config import load_feature_config
from features.errors import RegistryError
from pipelines.cli import app
from pipelines.registry import read_cache
from pipelines.registry import store as registry
from pipelines.training.run import run_training

runner = CliRunner()
READ_IN_A_FRESH_PROCESS = """
import json, sys
from pipelines.registry import store
registered = store.load_registered()
print(json.dumps({"version": registered.version, "metadata": registered.metadata,
                  "scorer": registered.scorer.to_dict(), "mlflow": "mlflow" in sys.modules,
                  "optimizer": "scipy.optimize" in sys.modules}))
"""


@pytest.fixture(scope="module")
def loaded(store):
    from features.contract import load_transactions

    return _small(load_transactions("cdnow"))


@pytest.fixture(scope="module")
def champion(loaded):
    outcome = run_training(loaded, AS_OF, TINY, load_feature_config())
    assert outcome.promoted
    return outcome


def _read_in_a_fresh_process() -> dict:
    done = subprocess.run(
        [sys.executable, "-c", READ_IN_A_FRESH_PROCESS],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_second_read_of_an_unchanged_store_needs_no_mlflow(champion):
    first = registry.load_registered()  # through MLflow: nothing cached yet for this store
    again = _read_in_a_fresh_process()
    assert again["mlflow"] is False
    assert again["optimizer"] is False  # a scorer only reads fitted parameters
    assert again["version"] == first.version == champion.version
    assert again["metadata"] == first.metadata
    assert again["metadata"]["trained_as_of"] == AS_OF
    assert again["scorer"] == json.loads(json.dumps(first.scorer.to_dict()))


def test_a_moved_champion_alias_is_seen_at_once(champion, loaded):
    registry.load_registered()
    challenger = run_training(loaded, AS_OF, TINY, load_feature_config())
    assert not challenger.promoted  # the same model does not beat itself
    assert registry.load_registered().version == champion.version
    moved = runner.invoke(app, ["promote", "--version", challenger.version, "--reason", "test"])
    assert moved.exit_code == 0, moved.output
    again = _read_in_a_fresh_process()
    assert again["version"] == challenger.version
    assert again["mlflow"] is True  # the promotion wrote the store: read through MLflow
    assert _read_in_a_fresh_process()["mlflow"] is False  # and cached again
    back = runner.invoke(app, ["promote", "--version", champion.version, "--reason", "test"])
    assert back.exit_code == 0, back.output


def test_deleted_model_files_are_reported_as_without_the_cache(champion, tmp_path):
    registry.load_registered()
    models = Path(registry.tracking_uri().removeprefix("sqlite:///")).parent / "artifacts"
    shutil.move(models / "models", tmp_path / "hidden")
    try:
        with pytest.raises(RegistryError, match="model files of winback"):
            registry.load_registered()
    finally:
        shutil.move(tmp_path / "hidden", models / "models")
    assert registry.load_registered().version == champion.version


def test_the_switch_turns_the_cache_off(champion, monkeypatch):
    registry.load_registered()
    monkeypatch.setenv(read_cache.CACHE_ENV, "0")
    assert read_cache.lookup(registry.tracking_uri(), registry.CHAMPION) is None
    assert _read_in_a_fresh_process()["mlflow"] is True


def test_only_local_sqlite_stores_and_local_artifacts_are_cached():
    assert read_cache.database_path("http://tracking:5000") is None
    assert read_cache.database_path("sqlite:////data/mlflow.db") == Path("/data/mlflow.db")
    assert read_cache.local_artifacts("s3://bucket/models/m-1/artifacts") is None
    assert read_cache.local_artifacts("file:///data/a%20b/artifacts") == Path("/data/a b/artifacts")
    assert read_cache.local_artifacts("/data/artifacts") == Path("/data/artifacts")
