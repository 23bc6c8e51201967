"""Shrinkage uplift per cell, the prior policy and the four groups."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.uplift import (
    ShrinkageUplift,
    beta_prior_strength,
    classify_uplift_groups,
    predict_options,
    prior_table,
    prior_uplift,
    uplift_model_from_dict,
)
from models.uplift_data import UpliftDataError
from models.uplift_prior import PriorUplift

RATES = {"email": 0.12, "sms": 0.14}
FACTORS = {"lost": 0.3}
P_ANYWAY = {"sleeping": 0.2, "lost": 0.05}


def campaign(
    n_treated: int,
    treated_rate: float,
    n_control: int,
    control_rate: float,
    segment: str = "sleeping",
    channel: str = "email",
) -> pd.DataFrame:
    """A log with exact return counts in one segment."""
    returned = np.r_[
        np.arange(n_treated) < round(n_treated * treated_rate),
        np.arange(n_control) < round(n_control * control_rate),
    ].astype(int)
    n = n_treated + n_control
    return pd.DataFrame(
        {
            "customer_id": [f"{segment}{channel}{i}" for i in range(n)],
            "channel": [channel] * n,
            "offer": ["none"] * n,
            "group": ["treatment"] * n_treated + ["control"] * n_control,
            "returned": returned,
            "status": [segment] * n,
        }
    )


def test_prior_table_follows_the_configured_rule() -> None:
    table = prior_table(P_ANYWAY, RATES, FACTORS).set_index(["channel", "segment"])
    assert table.loc[("email", "sleeping"), "p_if_contacted"] == pytest.approx(0.2 + 0.8 * 0.12)
    assert table.loc[("email", "lost"), "p_if_contacted"] == pytest.approx(0.05 + 0.95 * 0.12 * 0.3)
    assert len(table) == 4 and set(table["offer"]) == {"none"}


def test_cells_shrink_toward_their_own_prior_and_unseen_cells_keep_it() -> None:
    log = campaign(2000, 0.30, 1000, 0.20)
    model = ShrinkageUplift(prior_table(P_ANYWAY, RATES, FACTORS), prior_strength=100.0).fit(log)
    X = pd.DataFrame({"status": ["sleeping", "lost", "sleeping"]})
    out = model.predict(X, ["email", "email", "sms"])
    # Sleeping e-mail: (100 x 0.296 + 600) / 2100 treated, (100 x 0.2 + 200) / 1100 control.
    assert out["p_if_contacted"].iloc[0] == pytest.approx((29.6 + 600) / 2100)
    assert out["p_anyway"].iloc[0] == pytest.approx(220 / 1100)
    # Lost customers were never in the log: their prior, not the sleeping data.
    assert out["uplift"].iloc[1] == pytest.approx(0.95 * 0.12 * 0.3)
    assert out["p_anyway"].iloc[1] == pytest.approx(0.05)
    # SMS to sleepers was never tried: prior treatment rate, measured control rate.
    assert out["p_if_contacted"].iloc[2] == pytest.approx(0.2 + 0.8 * 0.14)
    assert (out["uplift_lower"] < out["uplift"]).all()
    assert list(out.index) == list(X.index)


def test_a_small_cell_stays_near_the_prior_and_a_big_one_follows_the_data() -> None:
    prior = prior_table(P_ANYWAY, RATES, FACTORS)
    X = pd.DataFrame({"status": ["sleeping"]})
    small = ShrinkageUplift(prior, prior_strength=100.0).fit(campaign(20, 0.0, 20, 0.2))
    big = ShrinkageUplift(prior, prior_strength=100.0).fit(campaign(20_000, 0.15, 20_000, 0.2))
    # 20 contacts, none returned (raw uplift -0.20): mostly the prior's +0.096 survives.
    assert small.predict(X, "email")["uplift"].iloc[0] == pytest.approx(29.6 / 120 - 24 / 120)
    harmful = big.predict(X, "email")
    assert harmful["uplift"].iloc[0] == pytest.approx(-0.05, abs=0.002)
    assert harmful["uplift_lower"].iloc[0] < harmful["uplift"].iloc[0] < 0


def test_empirical_bayes_strength() -> None:
    rng = np.random.default_rng(1)
    m = rng.uniform(0.1, 0.4, 400)
    p = rng.beta(50 * m, 50 * (1 - m))
    n = np.full(400, 2000)
    estimate = beta_prior_strength(rng.binomial(n, p), n, m)
    assert 35 < estimate < 70
    exact = beta_prior_strength(np.round(n * m), n, m, max_strength=500)
    assert exact == 500
    assert beta_prior_strength([1, 2], [10, 10], [0.1, 0.2], default=7.0) == 7.0


def test_fit_estimates_strengths_and_round_trips_through_json() -> None:
    log = pd.concat(
        [
            campaign(400, 0.3, 300, 0.2),
            campaign(300, 0.05, 200, 0.04, "lost"),
            campaign(300, 0.25, 1, 0.0, "sleeping", "sms").iloc[:300],
        ],
        ignore_index=True,
    )
    model = ShrinkageUplift(prior_table(P_ANYWAY, RATES, FACTORS)).fit(log)
    assert set(model.strength_) == {"control", "treatment"}
    assert all(2.0 <= v <= 1000.0 for v in model.strength_.values())
    again = uplift_model_from_dict(json.loads(json.dumps(model.to_dict())))
    assert isinstance(again, ShrinkageUplift)
    X = pd.DataFrame({"status": ["sleeping", "lost", "sleeping"]})
    pd.testing.assert_frame_equal(again.predict(X, "email"), model.predict(X, "email"))


def test_cells_without_a_prior_are_refused() -> None:
    prior = prior_table(P_ANYWAY, RATES, FACTORS)
    with pytest.raises(UpliftDataError, match="status 'active' has no prior"):
        ShrinkageUplift(prior).fit(campaign(10, 0.1, 10, 0.1, "active"))
    with pytest.raises(UpliftDataError, match="'phone|none|sleeping'"):
        ShrinkageUplift(prior).fit(campaign(10, 0.1, 10, 0.1, channel="phone"))
    model = ShrinkageUplift(prior).fit(campaign(10, 0.1, 10, 0.1))
    with pytest.raises(UpliftDataError, match="no prior for cell"):
        model.predict(pd.DataFrame({"status": ["vip"]}), "email")
    bad = prior.assign(p_if_contacted=1.5)
    with pytest.raises(UpliftDataError, match="p_if_contacted must be in"):
        ShrinkageUplift(bad).fit(campaign(10, 0.1, 10, 0.1))


def test_prior_uplift_is_todays_rule() -> None:
    uplift = prior_uplift(
        [0.2, 0.2, 0.9], ["sleeping", "lost", "active"], ["email", "email", "sms"], RATES, FACTORS
    )
    assert uplift.tolist() == pytest.approx([0.8 * 0.12, 0.8 * 0.12 * 0.3, 0.1 * 0.14])
    with pytest.raises(UpliftDataError, match="channel 'fax'"):
        prior_uplift([0.2], ["lost"], ["fax"], RATES)
    policy = uplift_model_from_dict(json.loads(json.dumps(PriorUplift(RATES, FACTORS).to_dict())))
    X = pd.DataFrame({"p_dormant": [0.8, 0.8], "status": ["sleeping", "lost"]})
    out = policy.fit().predict(X, "email")
    assert out["uplift"].tolist() == pytest.approx([0.8 * 0.12, 0.8 * 0.12 * 0.3])
    assert (out["uplift_lower"] == out["uplift"]).all()
    assert out["p_if_contacted"].tolist() == pytest.approx((0.2 + out["uplift"]).tolist())


def test_four_groups() -> None:
    groups = classify_uplift_groups(
        [0.9, 0.1, 0.8, 0.1, 0.5], [0.0, 0.005, -0.03, 0.04, 0.01], min_effect=0.01
    )
    assert groups.tolist() == [
        "sure_thing",
        "lost_cause",
        "sleeping_dog",
        "persuadable",
        "persuadable",
    ]


def test_predict_options_is_customer_major() -> None:
    model = ShrinkageUplift(prior_table(P_ANYWAY, RATES, FACTORS)).fit(campaign(50, 0.3, 50, 0.2))
    X = pd.DataFrame({"customer_id": ["a", "b"], "status": ["sleeping", "lost"]})
    long = predict_options(model, X, [("email", "none"), ("sms", "none")])
    assert long["customer_id"].tolist() == ["a", "a", "b", "b"]
    assert long["channel"].tolist() == ["email", "sms", "email", "sms"]
    assert {"p_anyway", "p_if_contacted", "uplift", "uplift_lower"} <= set(long.columns)
