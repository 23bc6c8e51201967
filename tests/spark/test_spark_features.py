"""The Spark engine: the same feature SQL as DuckDB gives the same table (scoring on Spark
is checked in ``test_spark_scoring.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from feature_tables import assert_same_feature_table, order_line_export
from typer.testing import CliRunner

from features.build import build_features
from features.config import load_feature_config
from features.spark import (
    SparkEngineError,
    build_features_spark,
    parse_spark_conf,
)
from pipelines.cli import app

RULES = load_feature_config()


@pytest.mark.spark
@pytest.mark.parametrize("as_of", ["1997-09-30", "1998-03-31"])
def test_spark_features_equal_duckdb_features_on_cdnow(spark, cdnow_transactions, as_of):
    on_spark = build_features_spark(cdnow_transactions, as_of, RULES)
    on_duckdb = build_features(cdnow_transactions, as_of, RULES)

    assert len(on_spark.features) == 23_570
    assert_same_feature_table(on_spark.features, on_duckdb.features)
    assert (on_spark.rows_used, on_spark.rows_after_as_of, on_spark.customers_without_purchase) == (
        on_duckdb.rows_used,
        on_duckdb.rows_after_as_of,
        on_duckdb.customers_without_purchase,
    )


@pytest.mark.spark
def test_a_reference_population_gap_reaches_the_spark_sql_too(spark, cdnow_transactions):
    few = cdnow_transactions[cdnow_transactions["customer_id"].isin(["00001", "00002", "00003"])]
    on_spark = build_features_spark(few, "1997-09-30", RULES, population_gap_days=41.5)
    on_duckdb = build_features(few, "1997-09-30", RULES, population_gap_days=41.5)
    assert_same_feature_table(on_spark.features, on_duckdb.features)
    one_time = on_duckdb.features["frequency"] == 0
    assert one_time.any() and (on_duckdb.features.loc[one_time, "typical_gap_days"] == 41.5).all()


@pytest.mark.spark
def test_cli_features_on_spark_prints_and_writes_what_duckdb_does(spark, tmp_path):
    def run(engine_options: list[str], out: Path) -> str:
        result = CliRunner().invoke(
            app,
            ["features", "-t", "cdnow", "--as-of", "1997-12-31", "--out", str(out)]
            + engine_options,
        )
        assert result.exit_code == 0, result.output
        return result.output.replace(str(out), "<out>")

    on_spark = run(["--engine", "spark", "--master", "local[2]"], tmp_path / "spark.parquet")
    on_duckdb = run([], tmp_path / "duckdb.parquet")

    assert on_spark == on_duckdb
    assert "wrote 23,570 customers" in on_spark
    assert_same_feature_table(
        pd.read_parquet(tmp_path / "spark.parquet"), pd.read_parquet(tmp_path / "duckdb.parquet")
    )


def test_spark_settings_are_parsed_from_key_value_pairs():
    assert parse_spark_conf(["spark.executor.memory=8g", " spark.a = b=c "]) == {
        "spark.executor.memory": "8g",
        "spark.a": "b=c",
    }
    with pytest.raises(SparkEngineError, match="key=value"):
        parse_spark_conf(["spark.executor.memory"])


def test_spark_options_without_the_spark_engine_are_refused(tmp_path):
    result = CliRunner().invoke(
        app,
        ["features", "-t", "cdnow", "--as-of", "1997-12-31", "--out", str(tmp_path / "f.pq")]
        + ["--master", "local[4]"],
    )
    assert result.exit_code == 2
    assert "--engine spark" in result.output


@pytest.mark.spark
def test_spark_nets_returns_and_cancellations_as_duckdb_does(spark):
    """An order-line export: linked and unlinked cancellations, customers with only returns
    or more returns than purchases; the same table and the same money on both engines."""
    transactions, rules = order_line_export(300, 5, RULES)
    on_spark = build_features_spark(transactions, "2011-10-01", rules)
    on_duckdb = build_features(transactions, "2011-10-01", rules)
    assert_same_feature_table(on_spark.features, on_duckdb.features)
    assert on_duckdb.customers_without_purchase >= 1
    assert on_spark.customers_without_purchase == on_duckdb.customers_without_purchase
    np.testing.assert_allclose(
        [on_spark.net_spend, on_spark.excluded_spend],
        [on_duckdb.net_spend, on_duckdb.excluded_spend],
        rtol=1e-12,
    )
    assert on_spark.spend_reconciles() and on_duckdb.spend_reconciles()
