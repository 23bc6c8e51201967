"""An online shop's order-line export, end to end through every command a user runs.

The export (models.synthetic_orders) has what real ones have: unit prices and no line
value, ``C`` cancellation invoices, postage and fee lines, guest orders without a
customer id, ids like ``17850.0``, a customer with only returns and one whose returns
exceed their purchases. Read with the mapping a user of such an export would give.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.config import FeatureConfig
from models.synthetic_orders import EXPORT_COLUMN_MAP, FIRST_CUSTOMER_ID, generate_order_lines
from pipelines.cli import app

AS_OF = "2011-12-08"  # the export's last day: train's label windows end by it
CUTOFF = "2011-09-08"  # evaluate: 90 days of labels after it
runner = CliRunner()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder with the export, the feature rules (cancellation prefix C) and an MLflow
    store of its own; the commands run from it, so nothing lands in the repository."""
    folder = tmp_path_factory.mktemp("export")
    export, _ = generate_order_lines(1000, seed=3)
    export.to_csv(folder / "export.csv", index=False)
    (folder / "rules.yaml").write_text("lines:\n  cancellation_order_prefix: C\n")
    patcher = pytest.MonkeyPatch()
    patcher.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
    patcher.chdir(folder)
    yield folder
    patcher.undo()


def run(*arguments: str) -> str:
    result = runner.invoke(app, list(arguments))
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output


def reading(workdir, with_config: bool = True) -> list[str]:
    options = ["-t", str(workdir / "export.csv"), "--map", EXPORT_COLUMN_MAP]
    return options + (["--config", str(workdir / "rules.yaml")] if with_config else [])


@pytest.fixture(scope="module")
def features_run(workdir) -> tuple[str, pd.DataFrame]:
    out = workdir / "features.parquet"
    output = run("features", *reading(workdir), "--as-of", AS_OF, "--out", str(out))
    return output, pd.read_parquet(out)


def net_spend_by_customer(workdir) -> pd.Series:
    """Independently of the product: the value of the product lines with a customer id."""
    export = pd.read_csv(workdir / "export.csv", dtype={"CustomerID": str, "StockCode": str})
    codes = {code.upper() for code in FeatureConfig().lines.non_product_codes}
    goods = export[
        export["CustomerID"].notna()
        & ~export["StockCode"].str.upper().isin(codes)
        & (export["UnitPrice"] > 0)
        & (pd.to_datetime(export["InvoiceDate"]).dt.normalize() <= pd.Timestamp(AS_OF))
    ]
    value = goods["Quantity"] * goods["UnitPrice"]
    return value.groupby(goods["CustomerID"]).sum()


def test_features_reconcile_money_and_never_go_negative(workdir, features_run):
    output, features = features_run
    assert "non_product_line" in output and "missing_customer_id" in output
    assert "net spend in" in output and "does not reconcile" not in output
    assert (features["monetary_value"] >= 0).all()
    expected = net_spend_by_customer(workdir)
    in_table = expected.index.isin(features["customer_id"])
    excluded = expected[~in_table]
    assert len(excluded) >= 1  # the customer with only returns
    assert (excluded <= 0).all()
    reconciled = features["total_spend"].sum() + excluded.sum()
    assert abs(reconciled - expected.sum()) <= 0.005 * abs(expected.sum())


def test_returns_beyond_purchases_net_spend_not_the_value_of_a_purchase(features_run):
    _, features = features_run
    over_returner = features.set_index("customer_id").loc[f"{FIRST_CUSTOMER_ID - 2}.0"]
    assert over_returner["total_spend"] < 0
    assert over_returner["monetary_value"] >= 0
    assert f"{FIRST_CUSTOMER_ID - 1}.0" not in set(features["customer_id"])  # only returns


def test_evaluate_train_score_rank_and_report(workdir, features_run):
    metrics = workdir / "metrics.json"
    run("evaluate", *reading(workdir), "--cutoff", CUTOFF, "--out", str(metrics))
    rows = json.loads(metrics.read_text())["candidates"]
    assert np.isfinite(rows["bgnbd"]["dormancy"]["auc"])
    assert np.isfinite(rows["mbgnbd"]["spend"]["normalized_gini"])

    output = run(
        "train",
        *reading(workdir),
        "--as-of",
        AS_OF,
        "--max-snapshots",
        "2",
        "--snapshot-step-days",
        "28",
    )
    assert "registered winback v1" in output

    scores_path = workdir / "scores.parquet"
    run("score", *reading(workdir, with_config=False), "--as-of", AS_OF, "--out", str(scores_path))
    scores = pd.read_parquet(scores_path)
    assert (scores["monetary_value"] >= 0).all()
    assert scores["p_dormant"].between(0, 1).all()
    assert np.isfinite(scores["clv"]).all() and (scores["predicted_spend"] >= 0).all()
    # Read and built with the version's own rules (its cancellation prefix) though score
    # has no --config: the features are those `features --config` gave.
    built = features_run[1].set_index("customer_id")
    scored = scores.set_index("customer_id")
    assert set(scored.index) == set(built.index)
    for column in ("monetary_value", "total_spend", "n_orders"):
        np.testing.assert_allclose(
            scored[column], built.loc[scored.index, column], atol=1e-9, err_msg=column
        )

    list_path = workdir / "list.csv"
    run("rank", "--scores", str(scores_path), "--out", str(list_path), "--budget", "500")
    assert len(pd.read_csv(list_path)) > 0
    report = workdir / "report.html"
    run(
        "report",
        "--scores",
        str(scores_path),
        *reading(workdir, with_config=False),
        "--out",
        str(report),
        "--list",
        str(list_path),
    )
    assert report.stat().st_size > 0
