"""The penalised logistic uplift learner, on campaigns whose true uplift is known."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.email_campaign_world import LOG_FEATURES, as_campaign_log, simulate_email_campaign
from models.uplift import predict_options
from models.uplift_learners import LEARNERS, learner_from_dict
from models.uplift_logistic import DEFAULT_PENALTIES, LogisticUplift, fit_scaling, scaled
from models.uplift_metrics import qini_from_true_uplift

OPTIONS = [("email", "mens"), ("email", "womens")]


@pytest.fixture(scope="module")
def campaign():
    """12,000 customers: the first 8,000 learn, the other 4,000 are judged on the truth."""
    world = simulate_email_campaign(12_000, seed=7)
    log = as_campaign_log(world.data)
    return world, log.iloc[:8_000], log.iloc[8_000:].reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(campaign):
    _, train, _ = campaign
    return LogisticUplift(features=list(LOG_FEATURES)).fit(train)


def _true_uplift(world, rows: slice) -> np.ndarray:
    """Known uplift per customer and option, customer-major like predict_options."""
    return np.column_stack(
        [world.p_mens[rows] - world.p_no_email[rows], world.p_womens[rows] - world.p_no_email[rows]]
    ).reshape(-1)


def test_it_ranks_unseen_customers_by_their_true_uplift(campaign, fitted) -> None:
    world, _, test = campaign
    predictions = predict_options(fitted, test, OPTIONS)
    tau = _true_uplift(world, slice(8_000, None))
    qini = qini_from_true_uplift(tau, predictions["uplift"].to_numpy())
    random = [
        qini_from_true_uplift(tau, np.random.default_rng(s).random(len(tau))) for s in range(10)
    ]
    assert qini > 0.4 and qini > max(random) + 0.3
    # The men's e-mail works better for men's buyers, the women's for women's: learned.
    mens = predictions[predictions["offer"] == "mens"]["uplift"].to_numpy()
    buys_mens = test["mens"].to_numpy() == 1
    assert mens[buys_mens].mean() > mens[~buys_mens].mean() + 0.01


def test_the_lower_bound_is_below_the_point_and_the_state_survives_json(campaign, fitted) -> None:
    _, _, test = campaign
    predictions = fitted.predict(test, "email", "mens")
    assert (predictions["uplift_sd"] > 0).all()
    assert (predictions["uplift_lower"] < predictions["uplift"]).all()
    np.testing.assert_allclose(
        predictions["p_if_contacted"], predictions["p_anyway"] + predictions["uplift"], atol=1e-12
    )
    state = json.loads(json.dumps(fitted.to_dict()))
    assert state["kind"] == "logistic" and LEARNERS["logistic"] is LogisticUplift
    again = learner_from_dict(state).predict(test, "email", "mens")
    pd.testing.assert_frame_equal(again, predictions)


def test_with_no_effect_it_picks_the_strongest_penalty_and_predicts_no_uplift() -> None:
    world = simulate_email_campaign(9_000, seed=8)
    log = as_campaign_log(world.data)
    # Outcomes redrawn from the baseline alone: the e-mails change nothing.
    log["returned"] = (np.random.default_rng(9).random(len(log)) < world.p_no_email).astype(int)
    model = LogisticUplift(features=list(LOG_FEATURES)).fit(log)
    assert model.effect_penalty_ >= DEFAULT_PENALTIES[-2]
    uplift = predict_options(model, log.iloc[:3_000], OPTIONS)["uplift"]
    assert abs(uplift.mean()) < 0.01 and uplift.abs().quantile(0.9) < 0.03


def test_a_spend_column_gives_spend_and_incremental_spend(campaign) -> None:
    _, train, test = campaign
    train = train.assign(spend=np.where(train["returned"] == 1, 80.0, 0.0))
    model = LogisticUplift(features=list(LOG_FEATURES), penalties=(100.0,)).fit(
        train, spend="spend"
    )
    predictions = model.predict(test, "email", "womens")
    assert {"spend_if_returned", "incremental_spend"} <= set(predictions.columns)
    assert predictions["spend_if_returned"].between(70, 90).all()


def test_scaling_logs_skewed_amounts_and_keeps_flags_and_missing_values_at_the_mean() -> None:
    X = np.column_stack(
        [
            np.r_[np.exp(np.linspace(0, 8, 99)), np.nan],  # a skewed amount, one missing
            np.r_[np.tile([0.0, 1.0], 50)],  # a flag
            np.r_[np.linspace(0.01, 0.99, 100)],  # a share
        ]
    )
    scaling = fit_scaling(X)
    assert [kind for kind, _, _ in scaling] == ["log", "raw", "logit"]
    Z = scaled(X, scaling)
    assert Z[-1, 0] == 0.0 and np.abs(Z).max() <= 4.0
    assert set(np.round(Z[:, 1], 6)) == {-1.0, 1.0}


def test_penalties_must_be_positive(campaign) -> None:
    _, train, _ = campaign
    with pytest.raises(ValueError, match="penalties must be positive"):
        LogisticUplift(features=list(LOG_FEATURES), penalties=(0.0, 1.0)).fit(train)
