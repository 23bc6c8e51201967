"""On the simulator: the learned policy beats the prior on true value, and the promotion
guard keeps the prior until randomised evidence says otherwise."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.campaign_simulator import (
    DEFAULT_ECONOMICS,
    LEARNER_FEATURES,
    PRIOR_RESPONSE_RATES,
    PRIOR_STATUS_FACTORS,
    SimulatedPopulation,
    run_pilot,
    simulate_population,
    split_log,
)
from models.uplift import PriorUplift, predict_options
from models.uplift_data import UpliftDataError
from models.uplift_learners import XLearner
from models.uplift_metrics import NO_CONTACT
from models.uplift_policy import choose_contacts
from models.uplift_promotion import PolicyOnLog, compare_policies, policy_on_log, verdict_to_dict

RATES = PRIOR_RESPONSE_RATES
STATUS_FACTORS = PRIOR_STATUS_FACTORS
FEATURES = list(LEARNER_FEATURES)


def contact_list(model, customers: pd.DataFrame, population: SimulatedPopulation, **rule):
    """Predictions for every option and the list chosen from them."""
    options = population.truth.options
    predictions = predict_options(model, customers, options)
    repeat = len(options)
    predictions["spend_if_returned"] = np.repeat(
        customers["predicted_spend_if_returned"].to_numpy(), repeat
    )
    predictions["order_value"] = np.repeat(customers["avg_order_value"].to_numpy(), repeat)
    return predictions, choose_contacts(predictions, DEFAULT_ECONOMICS, **rule)


@pytest.fixture(scope="module")
def realistic() -> tuple[SimulatedPopulation, pd.DataFrame]:
    population = simulate_population(20_000, seed=7)
    return population, run_pilot(population, pilot_size=6_000, seed=8)


def test_learned_policy_beats_the_prior_on_true_value(
    realistic: tuple[SimulatedPopulation, pd.DataFrame],
) -> None:
    population, pilot = realistic
    rest = population.customers[~population.customers.customer_id.isin(pilot.customer_id)]
    rest = rest.reset_index(drop=True)
    truth = population.truth.subset(rest.customer_id)
    learned = XLearner(features=FEATURES).fit(pilot, spend="spend")
    prior = PriorUplift(RATES, STATUS_FACTORS)
    _, learned_list = contact_list(learned, rest, population)
    _, prior_list = contact_list(prior, rest, population, require_positive=None)
    learned_value, prior_value = truth.value_of(learned_list), truth.value_of(prior_list)
    # Today's rule overstates every wake rate: it contacts everyone and loses money.
    assert prior_value.total_value < 0 < learned_value.total_value
    assert learned_value.negative_share < prior_value.negative_share
    budget = truth.value_of(truth.oracle()).contact_cost * 0.10
    _, learned_tight = contact_list(learned, rest, population, budget=budget)
    _, prior_tight = contact_list(prior, rest, population, require_positive=None, budget=budget)
    tight, prior_tight_value = truth.value_of(learned_tight), truth.value_of(prior_tight)
    assert tight.contact_cost <= budget + 1e-9 and tight.total_value > 0
    assert tight.negative_share < prior_tight_value.negative_share


def _guard(population: SimulatedPopulation, pilot: pd.DataFrame):
    train, holdout = split_log(pilot, 1 / 3, seed=1)
    challenger = XLearner(features=FEATURES, n_bags=3).fit(train, spend="spend")
    prior = PriorUplift(RATES, STATUS_FACTORS)
    new_predictions, new_list = contact_list(challenger, holdout, population, require_positive=None)
    old_predictions, old_list = contact_list(prior, holdout, population, require_positive=None)
    return compare_policies(
        holdout,
        policy_on_log(holdout, new_list, "learned", new_predictions),
        policy_on_log(holdout, old_list, "prior", old_predictions),
        DEFAULT_ECONOMICS,
    )


def test_the_guard_keeps_the_prior_when_the_pilot_is_too_small() -> None:
    population = simulate_population(20_000, seed=11)
    verdict = _guard(population, run_pilot(population, pilot_size=300, seed=12))
    assert not verdict.promote
    assert verdict.reason.startswith("keep prior")
    assert verdict.numbers["n_rows"] < 150
    assert verdict.numbers["difference_lower"] < 0
    assert {"qini_learned", "qini_prior", "uplift_at_k_learned", "value_learned"} <= set(
        verdict.numbers
    )


def test_the_guard_promotes_a_policy_that_clearly_wins() -> None:
    # Phone calls cost 2.50 and change nothing; the challenger stops making them.
    holdout, current, challenger = _phone_calls_that_change_nothing(6000, seed=3)
    verdict = compare_policies(holdout, challenger, current, DEFAULT_ECONOMICS)
    assert verdict.promote and verdict.reason.startswith("promote nobody")
    assert verdict.numbers["difference"] == pytest.approx(2.5, abs=0.6)
    assert verdict.numbers["difference_lower"] > 0
    assert json.loads(json.dumps(verdict_to_dict(verdict)))["promote"] is True
    backwards = compare_policies(holdout, current, challenger, DEFAULT_ECONOMICS)
    assert not backwards.promote and "is not better" in backwards.reason
    without_orders = holdout.drop(columns="avg_order_value")
    assert compare_policies(
        without_orders, challenger, current, DEFAULT_ECONOMICS, order_value=None
    ).promote
    with pytest.raises(UpliftDataError, match="'discount' is a discount"):
        compare_policies(
            without_orders.assign(offer="discount"),
            challenger,
            current,
            DEFAULT_ECONOMICS,
            order_value=None,
        )
    with pytest.raises(ValueError, match="actions for"):
        compare_policies(
            holdout, PolicyOnLog("short", current.action[:10]), current, DEFAULT_ECONOMICS
        )


def test_policy_on_log_maps_lists_to_actions() -> None:
    holdout = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "channel": ["email", "sms", None],
            "offer": ["none", "none", None],
        }
    )
    chosen = pd.DataFrame({"customer_id": ["b"], "channel": ["phone"], "offer": ["none"]})
    predictions = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"] * 1,
            "channel": ["email", "sms", "email"],
            "offer": ["none"] * 3,
            "uplift": [0.1, 0.2, 0.3],
        }
    )
    policy = policy_on_log(holdout, chosen, "x", predictions)
    assert policy.action.tolist() == [NO_CONTACT, "phone|none", NO_CONTACT]
    assert policy.uplift[:2].tolist() == [0.1, 0.2] and np.isnan(policy.uplift[2])


def test_a_clear_win_on_too_few_rows_is_not_promoted() -> None:
    """The IPW interval is not trusted below ``min_rows_per_action`` logged rows per action:
    the same clear win as above, on 240 rows (about 70 per action), keeps the current."""
    holdout, current, challenger = _phone_calls_that_change_nothing(240, seed=5)
    verdict = compare_policies(holdout, challenger, current, DEFAULT_ECONOMICS)
    assert not verdict.promote
    assert verdict.reason.startswith("keep phone_all: too few held-out rows")
    assert "phone|none logged" in verdict.reason
    assert compare_policies(
        holdout, challenger, current, DEFAULT_ECONOMICS, min_rows_per_action=20
    ).promote


def _phone_calls_that_change_nothing(
    n: int, seed: int
) -> tuple[pd.DataFrame, PolicyOnLog, PolicyOnLog]:
    """A randomised log where nothing changes the 30% return rate, the current policy that
    phones everyone (2.50 a call) and the challenger that contacts nobody."""
    rng = np.random.default_rng(seed)
    action = rng.choice(np.array(["control", "email", "phone"], dtype=object), n, p=[0.4, 0.3, 0.3])
    returned = (rng.random(n) < 0.3).astype(int)
    holdout = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "channel": np.where(action == "control", "email", action),
            "offer": "none",
            "group": np.where(action == "control", "control", "treatment"),
            "returned": returned,
            "spend": returned * 50.0,
            "avg_order_value": 40.0,
        }
    )
    current = PolicyOnLog("phone_all", np.full(n, "phone|none", dtype=object))
    challenger = PolicyOnLog("nobody", np.full(n, NO_CONTACT, dtype=object))
    return holdout, current, challenger
