"""The champion guard compares like with like: same held-out window, same customers.

Issue 15, defect 1: a challenger trained on an easy subset of customers showed a held-out
AUC far above the champion's (measured on everyone) and was promoted, yet it was worse on
the real population. Here the champion is trained on 5,000 CDNOW customers and a
deliberately weak challenger on the subset whose held-out outcome agrees with their
recency: its own AUC beats the champion's logged one by a wide margin, so only a guard
that re-scores the champion on the challenger's customers refuses it.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from features.build import build_features
from features.config import load_feature_config
from pipelines.registry import promotion
from pipelines.registry import store as registry
from pipelines.training.evaluation import window_labels
from pipelines.training.fit import TrainingSettings
from pipelines.training.run import run_training

AS_OF = "1997-09-30"
CUTOFF = "1997-07-02"  # AS_OF - 90 days: the held-out window's start
RULES = load_feature_config()
CHAMPION = TrainingSettings(
    max_snapshots=3, dormancy_params={"n_estimators": 40}, spend_params={"n_estimators": 40}
)
# One stump of depth one: a deliberately weak dormancy model.
WEAK = TrainingSettings(
    max_snapshots=3,
    dormancy_params={"n_estimators": 1, "max_depth": 1},
    spend_params={"n_estimators": 5},
)


@pytest.fixture(scope="module")
def loaded(store):
    """The first 5,000 CDNOW customers: the champion's "full data"."""
    from features.contract import load_transactions

    everything = load_transactions("cdnow")
    rows = everything.transactions
    customers = sorted(rows["customer_id"].unique())[:5000]
    return dataclasses.replace(everything, transactions=rows[rows["customer_id"].isin(customers)])


@pytest.fixture(scope="module")
def easy(loaded):
    """The same data restricted to the easy customers: dormant ones long silent at the
    cutoff, returning ones recently active (the hard cases are left out)."""
    rows = loaded.transactions
    past = rows[rows["timestamp"] <= pd.Timestamp(CUTOFF)]
    features = build_features(past, CUTOFF, RULES).features.set_index("customer_id")
    dormant = window_labels(rows, features.index, CUTOFF, 90)["dormant"].astype(bool)
    silence = features["days_since_last"]
    hard = (dormant & (silence < 60)) | (~dormant & (silence > 120))
    subset = rows[rows["customer_id"].isin(features.index[~hard])]
    return dataclasses.replace(loaded, transactions=subset)


@pytest.fixture(scope="module")
def champion(loaded):
    outcome = run_training(loaded, AS_OF, CHAMPION, RULES)
    assert outcome.promoted
    return outcome


def _champion_version() -> str:
    return str(mlflow.MlflowClient().get_model_version_by_alias("winback", "champion").version)


def test_a_challenger_on_an_easy_subset_is_judged_on_its_customers_and_refused(champion, easy):
    logged = champion.evaluation.metric("xgboost", "dormancy", "auc")
    challenger = run_training(easy, AS_OF, WEAK, RULES)
    own_auc = challenger.evaluation.metric("xgboost", "dormancy", "auc")
    assert own_auc > logged + 0.1  # the unfair comparison the old guard made would promote
    n_easy = challenger.evaluation.n_customers
    assert n_easy < champion.evaluation.n_customers
    assert not challenger.promoted, challenger.reason
    assert f"the same {n_easy:,} customers" in challenger.reason
    assert _champion_version() == champion.version
    client = mlflow.MlflowClient()
    run_tags = client.get_run(challenger.run_id).data.tags
    assert run_tags["promoted"] == "false" and run_tags["promotion_reason"] == challenger.reason
    version_tags = client.get_model_version("winback", challenger.version).tags
    assert version_tags["promoted"] == "false"


def test_the_champion_is_rescored_on_the_challengers_customers(champion, easy):
    """The champion's AUC in the comparison is its held-out model's on the easy customers,
    not the AUC it logged on everyone."""
    history = easy.transactions[easy.transactions["timestamp"] <= pd.Timestamp(AS_OF)]
    past = history[history["timestamp"] <= pd.Timestamp(CUTOFF)]
    customers = pd.Index(build_features(past, CUTOFF, RULES).features["customer_id"])
    labels = window_labels(history, customers, pd.Timestamp(CUTOFF).date(), 90)
    auc, why = promotion.champion_auc_on_window(history, pd.Timestamp(CUTOFF).date(), 90, labels)
    logged = champion.evaluation.metric("xgboost", "dormancy", "auc")
    assert auc is not None and auc > logged + 0.1, why
    assert f"the same {len(customers):,} customers" in why


def test_without_a_heldout_model_other_customers_mean_no_automatic_promotion(champion, easy, store):
    """A champion whose run has no held-out model to re-score (runs logged before the
    guard compared like with like) cannot be compared on other customers: refused."""
    run = mlflow.MlflowClient().get_run(champion.run_id)
    artifacts = Path(run.info.artifact_uri.removeprefix("file://"))
    shutil.rmtree(artifacts / "validation")
    challenger = run_training(easy, AS_OF, WEAK, RULES)
    assert not challenger.promoted
    assert "no fair comparison" in challenger.reason
    assert "winback promote" in challenger.reason
    assert _champion_version() == champion.version
    assert registry.PROMOTION_METRIC in run.data.metrics
