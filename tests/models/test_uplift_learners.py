"""Pooled uplift learners: they find a strong effect, bound it, and survive a round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.uplift_data import UpliftDataError
from models.uplift_learners import (
    ClassTransformationUplift,
    OffsetTLearner,
    TLearner,
    XLearner,
    learner_from_dict,
)
from models.uplift_metrics import qini_from_true_uplift

LEARNERS = (TLearner, OffsetTLearner, XLearner, ClassTransformationUplift)
SMALL = dict(n_estimators=40, effect_n_estimators=20, n_bags=3, min_child_weight=20)


def true_uplift(x: np.ndarray, channel: np.ndarray) -> np.ndarray:
    """E-mail helps with x, SMS hurts regulars (segment 'regular')."""
    return np.where(channel == "email", 0.30 * x, -0.15 * (x > 0.5))


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 6000
    x = rng.random(n)
    channel = rng.choice(np.array(["email", "sms"], dtype=object), n)
    treated = rng.random(n) < 0.6
    p = 0.3 + 0.1 * x + np.where(treated, true_uplift(x, channel), 0.0)
    returned = (rng.random(n) < p).astype(int)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "channel": channel,
            "offer": "none",
            "group": np.where(treated, "treatment", "control"),
            "returned": returned,
            "spend": np.where(returned == 1, 50.0 + 40.0 * x, 0.0),
            "x": x,
            "segment": np.where(x > 0.5, "regular", "buyer").astype(object),
        }
    )


@pytest.mark.parametrize("learner", LEARNERS, ids=lambda c: c.kind)
def test_learners_rank_a_strong_effect_and_bound_it(learner, log: pd.DataFrame) -> None:
    model = learner(**SMALL).fit(log, spend="spend")
    assert model.features_ == ["x", "segment"]
    assert set(model.options_) == {"email|none", "sms|none"}
    assert model.propensity_["control"] == pytest.approx((log.group == "control").mean())
    grid = pd.DataFrame({"x": np.linspace(0.01, 0.99, 50), "segment": "buyer"})
    grid.loc[grid.x > 0.5, "segment"] = "regular"
    for channel in ("email", "sms"):
        out = model.predict(grid, channel)
        assert list(out.columns[:5]) == [
            "p_anyway",
            "p_if_contacted",
            "uplift",
            "uplift_lower",
            "uplift_sd",
        ]
        assert out["p_anyway"].between(0, 1).all() and out["p_if_contacted"].between(0, 1).all()
        assert (out["uplift_lower"] <= out["uplift"] + 1e-12).all()
        truth = true_uplift(grid.x.to_numpy(), np.array([channel] * 50))
        assert qini_from_true_uplift(truth, out["uplift"]) > 0.5
    sms = model.predict(grid, "sms")
    assert sms.loc[grid.x > 0.6, "uplift"].mean() < -0.03  # sleeping dogs: do not text them
    assert {"spend_if_returned", "incremental_spend"} <= set(sms.columns)


@pytest.mark.parametrize("learner", LEARNERS, ids=lambda c: c.kind)
def test_state_round_trips_through_json(learner, log: pd.DataFrame) -> None:
    model = learner(**SMALL, features=["x"]).fit(log.iloc[:2000], spend="spend")
    state = json.loads(json.dumps(model.to_dict()))
    again = learner_from_dict(state)
    assert type(again) is learner and again.get_params() == model.get_params()
    X = log.iloc[2000:2100]
    pd.testing.assert_frame_equal(again.predict(X, "email"), model.predict(X, "email"))
    with pytest.raises(ValueError, match="not"):
        (TLearner if learner is not TLearner else XLearner).from_dict(state)


def test_options_never_tried_and_too_few_bags_are_refused(log: pd.DataFrame) -> None:
    model = TLearner(**SMALL).fit(log.iloc[:1500])
    with pytest.raises(UpliftDataError, match="'phone|none' .* never tried"):
        model.predict(log.iloc[:5], "phone")
    with pytest.raises(ValueError, match="n_bags"):
        TLearner(n_bags=1).fit(log)
    with pytest.raises(UpliftDataError, match="feature column 'x' is empty"):
        TLearner(**SMALL).fit(log.assign(x=np.nan))
