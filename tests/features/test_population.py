"""The population-relative rules are written once: the SQL and Python evaluations of
:mod:`features.rules` agree on all of CDNOW, and customers rebuilt on their own against the
table's population get exactly their rows of the table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.config import AbcRules, FeatureConfig, LadderRules, load_feature_config
from features.population import PopulationReference, features_against_population
from features.rules import abc_class, ladder_stage, typical_gap_days
from features.table import to_date

RULES = load_feature_config()
AS_OFS = ["1997-03-31", "1997-09-30", "1998-06-30"]


@pytest.fixture(scope="module", params=AS_OFS)
def table(request, cdnow_transactions) -> tuple[str, pd.DataFrame]:
    return request.param, build_features(cdnow_transactions, request.param, RULES).features


def own_median_gaps(transactions: pd.DataFrame, as_of: str) -> pd.Series:
    """Each customer's median gap in days between purchase days (NaN for one-time buyers),
    computed here with pandas, independently of the feature SQL."""
    lines = transactions[transactions["timestamp"].dt.normalize() <= pd.Timestamp(as_of)]
    days = lines.assign(day=lines["timestamp"].dt.normalize())
    purchase_days = days.loc[days["amount"] >= 0, ["customer_id", "day"]].drop_duplicates()
    purchase_days = purchase_days.sort_values(["customer_id", "day"])
    gaps = purchase_days.groupby("customer_id")["day"].diff().dt.days
    return gaps.groupby(purchase_days["customer_id"]).median()


def test_python_and_sql_give_every_cdnow_customer_the_same_abc_class(table):
    _, features = table
    population = PopulationReference.from_features(features)
    abc = population.abc_classes(features["customer_id"], features["total_spend"], RULES.abc)
    assert (features["abc"].value_counts() > 1000).all()  # all three classes, well filled
    np.testing.assert_array_equal(abc, features["abc"].to_numpy())


def test_python_and_sql_give_every_cdnow_customer_the_same_ladder_stage(table):
    _, features = table
    stages = ladder_stage(RULES.ladder).evaluate(
        {
            "purchase_days": features["frequency"].to_numpy() + 1,
            "T": features["T"].to_numpy(),
            "abc": features["abc"].to_numpy(),
            "status": features["status"].to_numpy(),
        }
    )
    np.testing.assert_array_equal(stages, features["ladder_stage"].to_numpy())


def test_python_and_sql_give_every_cdnow_customer_the_same_typical_gap(table, cdnow_transactions):
    as_of, features = table
    medians = own_median_gaps(cdnow_transactions, as_of).reindex(features["customer_id"])
    assert medians.isna().sum() == (features["frequency"] == 0).sum()
    gaps = typical_gap_days(RULES.cadence).evaluate(
        {"median_gap": medians.to_numpy(), "population_gap": float(np.nanmedian(medians))}
    )
    np.testing.assert_allclose(gaps, features["typical_gap_days"], rtol=1e-12)


@pytest.mark.parametrize(
    "config",
    [
        FeatureConfig(abc=AbcRules(a_share=0.5, b_share=0.7)),
        FeatureConfig(ladder=LadderRules(loyal_min_purchase_days=3, advocate_abc="B")),
    ],
    ids=["abc-shares", "ladder"],
)
def test_python_and_sql_agree_under_other_thresholds(cdnow_transactions, config):
    features = build_features(cdnow_transactions, "1997-09-30", config).features
    population = PopulationReference.from_features(features)
    abc = population.abc_classes(features["customer_id"], features["total_spend"], config.abc)
    np.testing.assert_array_equal(abc, features["abc"].to_numpy())
    stages = ladder_stage(config.ladder).evaluate(
        {
            "purchase_days": features["frequency"].to_numpy() + 1,
            "T": features["T"].to_numpy(),
            "abc": abc,
            "status": features["status"].to_numpy(),
        }
    )
    np.testing.assert_array_equal(stages, features["ladder_stage"].to_numpy())


def sample_ids(features: pd.DataFrame) -> list[str]:
    """Ordinary customers plus those whose values depend on the population most."""
    rng = np.random.default_rng(11)
    picked = list(rng.choice(features["customer_id"].to_numpy(), 60, replace=False))
    picked += list(features.loc[features["frequency"] == 0, "customer_id"].head(5))
    picked += list(features.nlargest(3, "total_spend")["customer_id"])
    picked += list(features.loc[features["ladder_stage"] == "advocate", "customer_id"].head(3))
    picked += list(features.loc[features["abc"] == "B", "customer_id"].head(3))
    return list(dict.fromkeys(picked))


def test_customers_built_against_the_population_get_their_table_rows(table, cdnow_transactions):
    as_of, features = table
    ids = sample_ids(features)
    few = cdnow_transactions[cdnow_transactions["customer_id"].isin(ids)]
    population = PopulationReference.from_features(features)
    alone = features_against_population(few, to_date(as_of), RULES, population)
    expected = features.set_index("customer_id").loc[sorted(ids)]
    pd.testing.assert_frame_equal(
        alone.set_index("customer_id").sort_index(), expected, check_exact=False, rtol=1e-12
    )


def test_without_a_population_the_customers_are_their_own(cdnow_transactions):
    few = cdnow_transactions[cdnow_transactions["customer_id"].isin(["00001", "00002", "00003"])]
    alone = features_against_population(few, to_date("1997-09-30"), RULES, None)
    pd.testing.assert_frame_equal(alone, build_features(few, "1997-09-30", RULES).features)


def test_the_sql_embeds_the_rules_of_the_python_module():
    from features.sql import feature_sql

    sql = feature_sql("tx", to_date("1997-09-30"), RULES, False, False)
    assert ladder_stage(RULES.ladder).to_sql() in sql
    assert abc_class(RULES.abc).to_sql({c: f"k.{c}" for c in
        ("total_spend", "revenue_before", "revenue_total")}) in sql  # fmt: skip
