"""``winback forecast``: from a small registered champion, from transactions, and the
one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app

AS_OF = "1997-09-30"
runner = CliRunner()


@pytest.fixture(scope="module")
def champion(tmp_path_factory):
    """A small champion (two snapshots, tiny XGBoost) in a module-scoped store."""
    from features.config import load_feature_config
    from features.contract import load_transactions
    from models.boosting import MODEL_FEATURES
    from pipelines.registry import promotion
    from pipelines.registry import store as registry
    from pipelines.training.fit import TrainingSettings, train_scorer

    folder = tmp_path_factory.mktemp("forecast-store")
    patcher = pytest.MonkeyPatch()
    patcher.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
    settings = TrainingSettings(
        max_snapshots=2, dormancy_params={"n_estimators": 5}, spend_params={"n_estimators": 5}
    )
    rows = load_transactions("cdnow").transactions
    few = rows[rows["customer_id"].isin(rows["customer_id"].unique()[:4_000])]  # fast
    scorer, _ = train_scorer(few, AS_OF, settings, load_feature_config())
    mlflow = registry.configure_mlflow()
    with mlflow.start_run(run_name="forecast tests"):
        mlflow.log_params({"as_of": AS_OF, "feature_schema": json.dumps(list(MODEL_FEATURES))})
        info = registry.log_scorer(mlflow, scorer)
    promotion.promote(str(info.registered_model_version), "forecast tests", manual=True)
    yield scorer
    patcher.undo()


def test_forecast_from_the_champion_prints_and_writes_the_models_numbers(champion, tmp_path):
    from models.cohort_forecast import cohort_forecast_table

    out = tmp_path / "forecast.csv"
    result = runner.invoke(
        app,
        [
            *("forecast", "--cohort-size", "500", "--horizon-days", "100"),
            *("--acquired-over-days", "45", "--out", str(out)),
        ],
    )
    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.split())  # Rich wraps the title
    assert "500 new customers, acquired uniformly over 45 days" in shown
    assert "registry" in shown
    written = pd.read_csv(out)
    expected = cohort_forecast_table(
        champion.btyd.transaction_model_, champion.btyd.spend_model_, 500, 100, 45
    )
    pd.testing.assert_frame_equal(written, expected, check_exact=False, rtol=1e-12)
    np.testing.assert_array_equal(written["day"], [30, 60, 90, 100])


def test_forecast_from_transactions_fits_the_named_model(tmp_path):
    result = runner.invoke(
        app,
        [
            *("forecast", "--cohort-size", "100", "--horizon-days", "60", "-t", "cdnow"),
            *("--as-of", AS_OF, "--model", "pareto_nbd", "--out", str(tmp_path / "f.csv")),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "pareto_nbd fitted on 23,570 customers" in " ".join(result.output.split())
    assert len(pd.read_csv(tmp_path / "f.csv")) == 2


def test_no_champion_says_how_to_train_one(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
    result = runner.invoke(app, ["forecast", "--cohort-size", "10"])
    assert result.exit_code == 2
    assert "no champion" in result.output and "winback train" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--as-of", AS_OF], "need --transactions"),
        (["-t", "cdnow"], "needs --as-of"),
        (["-t", "cdnow", "--as-of", AS_OF, "--model-version", "1"], "not both"),
    ],
)
def test_inconsistent_options_are_one_line(arguments, message):
    result = runner.invoke(app, ["forecast", "--cohort-size", "10", *arguments])
    assert result.exit_code == 2 and message in result.output
