"""Qini, uplift@k and IPW policy values on examples small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from models.uplift_metrics import (
    NO_CONTACT,
    action_propensity,
    ipw_policy_difference,
    ipw_policy_value,
    perfect_qini_curve,
    qini_auc_score,
    qini_curve,
    qini_from_true_uplift,
    uplift_at_k,
)

# Six customers, already in the order of their (distinct) scores.
Y = np.array([1, 0, 1, 0, 1, 0])
T = np.array([1, 1, 0, 0, 1, 0])
SCORE = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])


def test_qini_curve_by_hand() -> None:
    # Y_T - Y_C x N_T / N_C after each customer (ratio 0 while there is no control).
    x, q = qini_curve(Y, SCORE, T)
    assert x.tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert q.tolist() == pytest.approx([0, 1, 1, -1, 0, 0.5, 1])


def test_perfect_qini_curve_groups_tied_scores() -> None:
    # Perfect score y*t - y*(1-t) = [1, 0, -1, 0, 1, 0]: three distinct values.
    x, q = perfect_qini_curve(Y, T)
    assert x.tolist() == [0, 2, 5, 6]
    assert q.tolist() == pytest.approx([0, 2, 2, 1])


def test_qini_auc_score_by_hand() -> None:
    # Areas: model 2.0, random line to (6, 1) 3.0, perfect 9.5 -> (2 - 3) / (9.5 - 3).
    assert qini_auc_score(Y, SCORE, T) == pytest.approx(-1 / 6.5)
    perfect = Y * T - Y * (1 - T)
    assert qini_auc_score(Y, perfect, T) == pytest.approx(1.0)


def test_qini_auc_score_of_a_random_score_is_near_zero() -> None:
    rng = np.random.default_rng(0)
    t = rng.integers(0, 2, 20_000)
    y = (rng.random(20_000) < 0.2 + 0.1 * t).astype(int)
    assert abs(qini_auc_score(y, rng.random(20_000), t)) < 0.05


def test_uplift_at_k_by_hand() -> None:
    at_k = uplift_at_k(Y, SCORE, T, k=0.5)
    # Top 3: treated [1, 0] -> 0.5, control [1] -> 1.0.
    assert at_k.value == pytest.approx(-0.5)
    assert at_k.se == pytest.approx(np.sqrt(0.25 / 2))
    assert at_k.n == 3
    with pytest.raises(ValueError, match="share"):
        uplift_at_k(Y, SCORE, T, k=0)
    with pytest.raises(ValueError, match="0 and 1"):
        uplift_at_k([2, 0, 1, 0, 1, 0], SCORE, T)


def test_qini_from_true_uplift_by_hand() -> None:
    tau = np.array([0.3, -0.1, 0.1])
    # Model order 2, 1, 0: area 0.25; random 0.45; perfect (0, 2, 1) 0.85.
    assert qini_from_true_uplift(tau, [1, 2, 3]) == pytest.approx(-0.5)
    assert qini_from_true_uplift(tau, tau) == pytest.approx(1.0)


def test_ipw_policy_value_and_difference_by_hand() -> None:
    reward = np.array([2.0, 1.0, 0.0, 3.0])
    logged = np.array(["email|none", NO_CONTACT, "email|none", NO_CONTACT])
    propensity = np.full(4, 0.5)
    everyone = np.full(4, "email|none")
    nobody = np.full(4, NO_CONTACT)
    assert ipw_policy_value(reward, logged, everyone, propensity).value == pytest.approx(1.0)
    assert ipw_policy_value(reward, logged, nobody, propensity).value == pytest.approx(2.0)
    difference = ipw_policy_difference(reward, logged, everyone, nobody, propensity)
    assert difference.value == pytest.approx(-1.0)
    assert difference.se > 0 and difference.n == 4
    lower, upper = difference.interval(0.9)
    assert lower < -1.0 < upper
    with pytest.raises(ValueError, match="propensities"):
        ipw_policy_value(reward, logged, everyone, np.zeros(4))


def test_ipw_recovers_a_known_policy_value() -> None:
    rng = np.random.default_rng(4)
    n = 40_000
    actions = np.array([NO_CONTACT, "email|none", "sms|none"])
    logged = actions[rng.choice(3, n, p=[0.5, 0.25, 0.25])]
    x = rng.random(n)
    means = {NO_CONTACT: 1.0, "email|none": 1.0 + x, "sms|none": 2.0 - x}
    reward = np.select(
        [logged == a for a in actions], [np.broadcast_to(means[a], n) for a in actions]
    ) + rng.normal(0, 1, n)
    policy = np.where(x > 0.5, "email|none", "sms|none")
    truth = np.where(x > 0.5, 1.0 + x, 2.0 - x).mean()
    propensity = action_propensity(logged)
    estimate = ipw_policy_value(reward, logged, policy, propensity)
    assert abs(estimate.value - truth) < 3 * estimate.se
    baseline = ipw_policy_value(reward, logged, np.full(n, NO_CONTACT), propensity)
    difference = ipw_policy_difference(reward, logged, policy, np.full(n, NO_CONTACT), propensity)
    assert abs(difference.value - (truth - 1.0)) < 3 * difference.se
    assert difference.value == pytest.approx(estimate.value - baseline.value, abs=0.05)


def test_action_propensity_within_strata() -> None:
    actions = ["a", "b", "a", "a", "b", "b"]
    assert action_propensity(actions).tolist() == pytest.approx([0.5] * 6)
    strata = ["x", "x", "x", "y", "y", "y"]
    assert action_propensity(actions, strata).tolist() == pytest.approx(
        [2 / 3, 1 / 3, 2 / 3, 1 / 3, 2 / 3, 2 / 3]
    )
