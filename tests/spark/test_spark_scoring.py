"""Full scores on Spark (features in Spark SQL, the scorer in ``mapInPandas``) equal the
DuckDB/pandas scores, and ``winback score --engine spark`` writes the same file."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from features.build import build_features
from features.spark import feature_dataframe_spark
from models.scorer import SCORE_COLUMNS, WinbackScorer
from pipelines.cli import app
from pipelines.scoring.spark import score_dataframe_spark, scores_like_pandas

AS_OF = "1997-09-30"
WINBACK_METADATA = (b"winback.as_of", b"winback.horizon_days", b"winback.model_version")


@pytest.fixture(scope="module")
def champion(tmp_path_factory, cdnow_transactions) -> tuple[WinbackScorer, str]:
    """A small scorer trained once on CDNOW, registered as champion in a temporary store.

    The short path of the serving tests (``train_scorer`` with two snapshots and small
    boosters, then log and promote), not ``run_training``: only a registered scorer is
    needed here, not its held-out evaluation.
    """
    from features.config import load_feature_config
    from models.boosting import MODEL_FEATURES
    from pipelines.registry import promotion
    from pipelines.registry import store as registry
    from pipelines.training.fit import TrainingSettings, train_scorer

    patcher = pytest.MonkeyPatch()
    store = tmp_path_factory.mktemp("mlflow")
    patcher.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store / 'mlflow.db'}")
    # BG/NBD: its one-time buyers of long standing have no next-order date, so the nulls'
    # trip through Arrow is exercised (the chosen model may give every customer a date).
    settings = TrainingSettings(
        max_snapshots=2,
        transaction_model="bgnbd",
        dormancy_params={"n_estimators": 40},
        spend_params={"n_estimators": 40},
    )
    try:
        scorer, _ = train_scorer(cdnow_transactions, AS_OF, settings, load_feature_config())
        mlflow = registry.configure_mlflow()
        with mlflow.start_run(run_name="spark scoring tests"):
            mlflow.log_params({"as_of": AS_OF, "feature_schema": json.dumps(MODEL_FEATURES)})
            version = str(registry.log_scorer(mlflow, scorer).registered_model_version)
        promotion.promote(version, "spark scoring tests", manual=True)
        yield scorer, version
    finally:
        patcher.undo()


def assert_same_scores(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Same columns in the same order, same dtypes, same customers; floats to 1e-9 relative."""
    assert list(left.columns) == list(right.columns)
    assert left.dtypes.to_dict() == right.dtypes.to_dict()
    left = left.sort_values("customer_id", ignore_index=True)
    right = right.sort_values("customer_id", ignore_index=True)
    assert left["customer_id"].tolist() == right["customer_id"].tolist()
    for column in left.columns:
        a, b = left[column], right[column]
        if pd.api.types.is_float_dtype(a):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=0, equal_nan=True, err_msg=column)
        else:  # integers, dates (NaT where empty), strings (None where missing)
            assert a.equals(b), column


def spark_type_of(dtype: np.dtype) -> tuple[str, bool]:
    """The Spark type and nullability that a pandas column of ``dtype`` should travel as."""
    if pd.api.types.is_integer_dtype(dtype):
        return "bigint", False  # int64 cannot hold a null
    if pd.api.types.is_float_dtype(dtype):  # float32 (XGBoost's spend) stays float
        return ("float" if dtype == np.float32 else "double"), True
    if pd.api.types.is_datetime64_dtype(dtype):
        return "timestamp_ntz", True
    return "string", True


@pytest.mark.spark
def test_spark_scores_equal_pandas_scores_on_cdnow(
    spark, champion, cdnow_transactions, monkeypatch
):
    scorer, _ = champion
    features = build_features(cdnow_transactions, AS_OF, scorer.feature_config).features
    expected = scorer.score_features(features, AS_OF, model_version="7")

    def refuse_pickle(self, protocol):  # workers must get to_dict(), not the object
        raise AssertionError("the scorer object was pickled for the workers")

    monkeypatch.setattr(WinbackScorer, "__reduce_ex__", refuse_pickle)
    # Small Arrow batches: many per task, so any dependence between rows would show.
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "1000")
    try:
        features_sdf = feature_dataframe_spark(cdnow_transactions, AS_OF, scorer.feature_config)
        scored = score_dataframe_spark(features_sdf, scorer, AS_OF, model_version="7")
        on_spark = scored.toPandas()
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")

    assert list(scored.columns) == list(expected.columns)
    assert list(expected.columns[: len(SCORE_COLUMNS)]) == list(SCORE_COLUMNS)
    spark_types = {f.name: (f.dataType.simpleString(), f.nullable) for f in scored.schema.fields}
    assert spark_types == {name: spark_type_of(dtype) for name, dtype in expected.dtypes.items()}
    assert len(on_spark) == 23_570
    assert (on_spark["model_version"] == "7").all()
    assert on_spark["expected_next_order_date"].isna().any()  # the nulls survive the trip

    assert_same_scores(scores_like_pandas(on_spark), expected)


@pytest.mark.spark
def test_cli_score_on_spark_writes_the_file_duckdb_writes(spark, champion, tmp_path):
    from pipelines.scoring.table import read_scores

    _, version = champion

    def run(engine_options: list[str], name: str) -> str:
        out = tmp_path / name
        result = CliRunner().invoke(
            app, ["score", "-t", "cdnow", "--as-of", AS_OF, "--out", str(out)] + engine_options
        )
        assert result.exit_code == 0, result.output
        return result.output.replace(str(out), "<out>")

    printed_spark = run(["--engine", "spark", "--master", "local[2]"], "spark.parquet")
    printed_duckdb = run([], "duckdb.parquet")

    assert printed_spark == printed_duckdb
    assert f"scored 23,570 customers with winback v{version}" in printed_spark
    on_spark = pq.read_table(tmp_path / "spark.parquet")
    on_duckdb = pq.read_table(tmp_path / "duckdb.parquet")
    assert on_spark.schema.remove_metadata() == on_duckdb.schema.remove_metadata()
    metadata = on_spark.schema.metadata
    assert {k: metadata[k] for k in WINBACK_METADATA} == {
        b"winback.as_of": AS_OF.encode(),
        b"winback.horizon_days": b"90",
        b"winback.model_version": version.encode(),
    }
    assert all(metadata[k] == on_duckdb.schema.metadata[k] for k in WINBACK_METADATA)
    assert_same_scores(on_spark.to_pandas(), on_duckdb.to_pandas())
    downstream = read_scores(tmp_path / "spark.parquet")  # what `winback rank` and `report` read
    assert (downstream.as_of.isoformat(), downstream.horizon_days) == (AS_OF, 90)


@pytest.mark.parametrize("option", [["--master", "local[4]"], ["--spark-conf", "spark.a=b"]])
def test_score_refuses_spark_options_without_the_spark_engine(option, tmp_path):
    result = CliRunner().invoke(
        app, ["score", "-t", "cdnow", "--as-of", AS_OF, "--out", str(tmp_path / "s.pq"), *option]
    )
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: --master and --spark-conf apply only with --engine spark"
    )
    assert not (tmp_path / "s.pq").exists()


@pytest.mark.spark
@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_score_before_the_first_purchase_is_one_line(spark, champion, engine, tmp_path):
    out = tmp_path / "s.parquet"
    result = CliRunner().invoke(
        app,
        ["score", "-t", "cdnow", "--as-of", "1996-12-31", "--out", str(out), "--engine", engine],
    )
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1] == (
        "error: cdnow: no accepted transaction on or before as-of 1996-12-31 "
        "(the first is on 1997-01-01)"
    )
    assert not out.exists()
