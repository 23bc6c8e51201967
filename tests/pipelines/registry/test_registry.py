"""MLflow tracking, the registry and the champion guard, on a temporary store."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.config import load_feature_config
from pipelines.cli import app
from pipelines.registry import store as registry
from pipelines.training.fit import TrainingSettings
from pipelines.training.run import run_training

AS_OF = "1997-09-30"
RULES = load_feature_config()
runner = CliRunner()
GOOD = TrainingSettings()  # the shipped defaults
# One stump of depth one: a deliberately worse dormancy model.
WORSE = TrainingSettings(
    max_snapshots=3,
    dormancy_params={"n_estimators": 1, "max_depth": 1},
    spend_params={"n_estimators": 5},
)


@pytest.fixture(scope="module")
def loaded(store):
    from features.contract import load_transactions

    return load_transactions("cdnow")


@pytest.fixture(scope="module")
def first_run(loaded):
    return run_training(loaded, AS_OF, GOOD, RULES)


def test_first_model_becomes_champion_and_the_run_is_complete(first_run):
    assert first_run.promoted and first_run.reason.startswith("first model")
    client = mlflow.MlflowClient()
    champion = client.get_model_version_by_alias("winback", "champion")
    assert str(champion.version) == first_run.version
    run = client.get_run(first_run.run_id)
    assert run.data.params["as_of"] == AS_OF
    assert run.data.params["validation_cutoff"] == "1997-07-02"
    assert len(run.data.params["data.sha256"]) == 64
    assert run.data.params["data.rows"] == "49086"  # rows on or before the as-of date
    for name in ("xgboost", "bgnbd", "mbgnbd", "days_since_last"):
        assert f"heldout.{name}.dormancy.auc" in run.data.metrics
    assert "heldout.past_spend.spend.normalized_gini" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(first_run.run_id, "evaluation")}
    assert {
        "evaluation/roc.png",
        "evaluation/calibration.png",
        "evaluation/gains.png",
        "evaluation/importance.png",
    } <= artifacts


def test_a_worse_model_does_not_take_the_alias(first_run, loaded):
    worse = run_training(loaded, AS_OF, WORSE, RULES)
    assert not worse.promoted
    assert "does not beat" in worse.reason
    client = mlflow.MlflowClient()
    champion = client.get_model_version_by_alias("winback", "champion")
    assert str(champion.version) == first_run.version
    tags = client.get_model_version("winback", worse.version).tags
    assert tags["promoted"] == "false" and "does not beat" in tags["promotion_reason"]


def test_manual_promotion_is_recorded(first_run, loaded):
    result = CliRunner().invoke(
        app, ["promote", "--version", first_run.version, "--reason", "audited by hand"]
    )
    assert result.exit_code == 0, result.output
    tags = mlflow.MlflowClient().get_model_version("winback", first_run.version).tags
    assert tags["promotion"] == "manual" and tags["promotion_reason"] == "audited by hand"


def test_pyfunc_round_trip_from_the_registry(first_run, loaded):
    model = mlflow.pyfunc.load_model("models:/winback@champion")
    sample = loaded.transactions[loaded.transactions["customer_id"].isin(["00001", "00005"])]
    via_pyfunc = model.predict(sample, params={"as_of": AS_OF})
    scorer, _ = registry.load_scorer()
    direct = scorer.score(sample, AS_OF)
    pd.testing.assert_frame_equal(via_pyfunc, direct)
    assert list(via_pyfunc["customer_id"]) == ["00001", "00005"]


def test_score_command_writes_the_contract_columns(first_run, tmp_path):
    out = tmp_path / "scores.parquet"
    result = CliRunner().invoke(app, ["score", "-t", "cdnow", "--as-of", AS_OF, "--out", str(out)])
    assert result.exit_code == 0, result.output
    scores = pd.read_parquet(out)
    expected = [
        "customer_id",
        "p_dormant",
        "p_alive",
        "expected_purchases",
        "predicted_spend",
        "clv",
        "expected_next_order_date",
        "status",
        "model_version",
    ]
    assert list(scores.columns[: len(expected)]) == expected
    assert len(scores) == 23_570
    assert scores["p_dormant"].between(0, 1).all()


def test_champion_beats_the_baselines_on_data_it_never_saw(first_run, loaded, tmp_path):
    """Issue 5's bar: trained up to 1997-09-30, judged on the following 90 and 273 days."""
    from sklearn.metrics import roc_auc_score

    from pipelines.scoring.batch import score_to_parquet
    from pipelines.training.candidates import default_candidates
    from pipelines.training.evaluation import evaluate, window_labels
    from pipelines.training.metrics import normalized_gini

    scores, _ = score_to_parquet(loaded, AS_OF, tmp_path / "scores.parquet")
    scores = scores.set_index("customer_id")
    for horizon in (90, 273):
        labels = window_labels(loaded.transactions, scores.index, AS_OF, horizon)
        reference = evaluate(
            loaded.transactions, AS_OF, horizon, default_candidates(), config=RULES
        )
        auc = roc_auc_score(labels["dormant"], scores["p_dormant"])
        gini = normalized_gini(labels["future_spend"].to_numpy(), scores["predicted_spend"])
        for rival in ("days_since_last", "bgnbd", "mbgnbd"):
            assert auc > reference.metric(rival, "dormancy", "auc"), (horizon, rival, auc)
        assert gini > reference.metric("past_spend", "spend", "normalized_gini"), (horizon, gini)


def test_unknown_version_is_a_one_line_error(first_run, tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "score",
            "-t",
            "cdnow",
            "--as-of",
            AS_OF,
            "--out",
            str(tmp_path / "s.parquet"),
            "--model-version",
            "999",
        ],
    )
    assert result.exit_code == 2
    assert "model version 999 of 'winback' not found" in result.output


def test_a_missing_model_is_reported_before_the_transactions_are_read(first_run, tmp_path):
    """A wrong --model-version fails at once, not after validating a large file."""
    missing_file = tmp_path / "not-yet-exported.csv"
    result = CliRunner().invoke(
        app,
        ["score", "-t", str(missing_file), "--as-of", AS_OF, "--model-version", "999"],
    )
    assert result.exit_code == 2
    assert "model version 999 of 'winback' not found" in result.output
    assert "not-yet-exported" not in result.output


def test_mlflow_shows_the_experiment_the_dataset_and_a_described_version(first_run):
    """What a data scientist sees in MLflow: a classical-ML experiment with a description
    (not the GenAI overview), the training data as the run's dataset, a version page that
    says what it learned from, how it did and why it was (not) promoted, rounded metrics."""
    client = mlflow.MlflowClient()
    experiment = mlflow.get_experiment_by_name(registry.EXPERIMENT)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert "champion" in experiment.tags["mlflow.note.content"]
    run = client.get_run(first_run.run_id)
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.digest == run.data.params["data.sha256"][:36]
    assert {t.value for t in dataset_input.tags} >= {"training"}
    description = client.get_model_version("winback", first_run.version).description
    auc = run.data.metrics[registry.PROMOTION_METRIC]
    assert f"as of {AS_OF}" in description and "49,086 rows" in description
    assert f"dormancy AUC {auc:.4f}" in description
    assert "Promoted to champion: first model" in description
    assert all(len(repr(v)) <= 12 for v in run.data.metrics.values())


def test_models_list_and_show_tell_versions_apart(first_run, loaded):
    listed = runner.invoke(app, ["models", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    import json

    versions = {v["version"]: v for v in json.loads(listed.output)}
    assert first_run.version in versions
    champion = [v for v in versions.values() if "champion" in v["aliases"]]
    assert len(champion) == 1
    assert champion[0]["trained_as_of"] == AS_OF and champion[0]["heldout_auc"] > 0.5
    refused = [v for v in versions.values() if v["promoted"] == "false"]
    assert all(v["reason"] for v in refused)
    shown = runner.invoke(app, ["models", "show", first_run.version])
    assert shown.exit_code == 0, shown.output
    assert f"winback v{first_run.version}" in shown.output
    assert "trained as of: 1997-09-30" in shown.output and "heldout.xgboost" in shown.output
    table = runner.invoke(app, ["models", "list"])
    assert table.exit_code == 0 and "champion" in table.output
    missing = runner.invoke(app, ["models", "show", "999"])
    assert missing.exit_code == 2 and "model version 999" in missing.output


def test_scoring_before_the_training_as_of_warns(first_run, tmp_path):
    out = tmp_path / "scores.parquet"
    args = ["score", "-t", "cdnow", "--as-of", "1997-06-30", "--out", str(out)]
    result = runner.invoke(app, [*args, "--model-version", first_run.version])
    assert result.exit_code == 0, result.output
    assert "warning: scored as of 1997-06-30 with a model trained on data up to 1997-09-30" in (
        " ".join(result.output.split())
    )
