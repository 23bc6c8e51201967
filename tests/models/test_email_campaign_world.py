"""The Hillstrom-shaped e-mail campaign: the public file's columns, rates and design."""

from __future__ import annotations

import numpy as np
import pytest

from models.email_campaign_world import (
    FEATURES,
    SEGMENTS,
    as_campaign_log,
    simulate_email_campaign,
)
from pipelines.economics.uplift_log import read_learning_log

PUBLIC_COLUMNS = [
    "recency",
    "history_segment",
    "history",
    "mens",
    "womens",
    "zip_code",
    "newbie",
    "channel",
    "segment",
    "visit",
]


@pytest.fixture(scope="module")
def campaign():
    return simulate_email_campaign(30_000, seed=3)


def test_columns_and_values_are_those_of_the_public_file(campaign) -> None:
    data = campaign.data
    assert list(data.columns) == PUBLIC_COLUMNS
    assert set(FEATURES) < set(data.columns)
    assert data["recency"].between(1, 12).all() and (data["history"] >= 29.99).all()
    assert ((data["mens"] == 1) | (data["womens"] == 1)).all()
    assert set(data["zip_code"]) == {"Surburban", "Urban", "Rural"}
    assert set(data["channel"]) == {"Phone", "Web", "Multichannel"}
    assert data["history_segment"].str.match(r"^[1-7]\) \$").all()


def test_a_third_per_segment_and_visit_rates_near_the_published_ones(campaign) -> None:
    data = campaign.data
    counts = data["segment"].value_counts()
    assert set(counts.index) == set(SEGMENTS) and counts.max() - counts.min() <= 1
    rates = data.groupby("segment")["visit"].mean()
    # Published: 10.6% without an e-mail, 18.3% men's, 15.1% women's.
    assert 0.09 < rates["No E-Mail"] < 0.12
    assert 0.15 < rates["Mens E-Mail"] < 0.19
    assert 0.125 < rates["Womens E-Mail"] < 0.16
    # The drawn visits follow the hidden truth of each customer's segment.
    tau = campaign.true_uplift()
    assert tau.mean() == pytest.approx(
        rates.drop("No E-Mail").mean() - rates["No E-Mail"], abs=0.01
    )
    assert (tau < 0).mean() > 0.02  # the annoyed newbies: a few sleeping dogs


def test_the_log_is_one_campaign_learn_reads(campaign, tmp_path) -> None:
    log = as_campaign_log(campaign.data.iloc[:3_000])
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    learning = read_learning_log(path, ["email"])
    assert learning.rows_used == 3_000
    assert "purchase_channel" in learning.features and "channel" not in learning.features
    controls = log[log["group"] == "control"]
    assert set(controls["offer"]) == {"mens", "womens"}
    email = campaign.data["segment"].iloc[:3_000].to_numpy() != "No E-Mail"
    np.testing.assert_array_equal(log["group"].to_numpy() == "treatment", email)


def test_the_steps_world_keeps_customers_and_baseline_and_moves_the_effects() -> None:
    smooth = simulate_email_campaign(20_000, seed=4)
    steps = simulate_email_campaign(20_000, seed=4, effects="steps")
    features = list(FEATURES)
    assert smooth.data[features].equals(steps.data[features])
    np.testing.assert_array_equal(smooth.p_no_email, steps.p_no_email)
    tau = steps.true_uplift()
    data = steps.data
    keen = (data["recency"] <= 4) & (data["history"] >= 200)
    assert tau[keen.to_numpy()].mean() > 3 * tau[~keen.to_numpy()].mean()
    rates = data.groupby("segment")["visit"].mean()
    assert 0.13 < rates["Mens E-Mail"] < 0.18 and 0.13 < rates["Womens E-Mail"] < 0.17
    with pytest.raises(ValueError, match="effects must be one of"):
        simulate_email_campaign(100, effects="linear")
