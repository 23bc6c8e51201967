"""One seed of one scenario of the decision benchmark: world, pilot, learners, judgement.

The flow is the product's (issue 13), on :mod:`models.campaign_simulator`:

1. a population of ``n_customers`` with hidden truth; a randomised pilot on
   ``pilot_size`` of them (half treated, channel and offer uniform);
2. the pilot is split at random: two thirds train the learners, one third is the
   *held-out randomised part of the log* (never seen by a fit) on which the Qini is
   measured and the promotion guard (:func:`models.uplift_promotion.compare_policies`)
   compares the learned list with the prior's;
3. every customer outside the pilot gets a list from the model that was judged (no refit),
   decided with the product's rule (:func:`models.uplift_policy.choose_contacts` defaults:
   rank on the point expected value, send only what is positive at the learner's 30%
   lower bound), and the list is judged on the truth: its share of the oracle's true value
   and its share of contacts whose true value is negative, at "every worthwhile contact"
   and at a tight budget (10% of the oracle's contact cost);
4. the true Qini uses the known uplift of every customer outside the pilot and option.

Every policy values a return with the same observable inputs: the scorer-like
``predicted_spend_if_returned`` and ``avg_order_value`` (what winback's models give), so
policies differ only in their uplift. Learners use their defaults (chosen on seeds
101-103 when they were built); nothing here is tuned on the reported seeds.

Ceilings (:func:`ceilings`) bound what any learner of a kind can reach on the same
customers: the exact true mean uplift per channel x offer x status cell (a perfect cell
model such as :class:`models.uplift.ShrinkageUplift` with an infinite pilot), the exact
*expected* uplift given everything but the simulator's unobservable receptiveness and
per-channel noise (the best a learner that sees the features and the true baseline could
do), and the exact uplift of each customer (a perfect uplift model; value still uses the
scorer's spend estimate).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from models import campaign_simulator
from models.campaign_simulator import (
    DEFAULT_ECONOMICS,
    LEARNER_FEATURES,
    PRIOR_RESPONSE_RATES,
    PRIOR_STATUS_FACTORS,
    CampaignTruth,
    ListValue,
    SimulatedPopulation,
    run_pilot,
    simulate_population,
    split_log,
)
from models.uplift import PriorUplift, ShrinkageUplift, predict_options, prior_table
from models.uplift_learners import (
    ClassTransformationUplift,
    LogisticUplift,
    OffsetTLearner,
    TLearner,
    XLearner,
)
from models.uplift_metrics import qini_from_true_uplift
from models.uplift_policy import choose_contacts
from models.uplift_promotion import compare_policies, policy_on_log

RATES = PRIOR_RESPONSE_RATES
STATUS_FACTORS = PRIOR_STATUS_FACTORS
FEATURES = list(LEARNER_FEATURES)
#: Learners in report order; the first is the pre-registered challenger
#: (:mod:`models.uplift_learners` recommends it from the selection seeds 101-103).
LEARNERS = ("x_learner", "offset_t", "t_learner", "class_transformation", "logistic", "shrinkage")
PRIOR = "prior"
#: Share of the pilot held out for the Qini and the promotion guard.
HOLDOUT_SHARE = 1.0 / 3.0
#: The tight budget: this share of the oracle's contact cost at every worthwhile contact.
BUDGET_SHARE = 0.10
TREATMENT_SHARE = 0.5


@dataclass(frozen=True)
class Scenario:
    """A population size and a pilot size."""

    name: str
    n_customers: int
    pilot_size: int


@dataclass
class World:
    """One seed of a scenario: the pilot's two parts, the listed customers and the truth."""

    scenario: Scenario
    seed: int
    population: SimulatedPopulation
    train: pd.DataFrame
    holdout: pd.DataFrame
    rest: pd.DataFrame
    truth: CampaignTruth
    oracle_every: ListValue
    oracle_tight: ListValue
    budget: float

    @property
    def options(self) -> list[tuple[str, str]]:
        return self.truth.options


def build_world(scenario: Scenario, seed: int) -> World:
    """Population, pilot (train + held-out part), the customers to list and the oracle."""
    population = simulate_population(scenario.n_customers, seed=seed)
    pilot = run_pilot(
        population,
        pilot_size=scenario.pilot_size,
        treatment_share=TREATMENT_SHARE,
        seed=1000 * seed + 1,
    )
    train, holdout = split_log(pilot, HOLDOUT_SHARE, seed=1000 * seed + 2)
    customers = population.customers
    rest = customers[~customers["customer_id"].isin(pilot["customer_id"])]
    rest = rest.reset_index(drop=True)
    truth = population.truth.subset(rest["customer_id"])
    oracle_every = truth.value_of(truth.oracle())
    budget = oracle_every.contact_cost * BUDGET_SHARE
    oracle_tight = truth.value_of(truth.oracle(budget=budget))
    return World(
        scenario, seed, population, train, holdout, rest, truth, oracle_every, oracle_tight, budget
    )


def _segment_p_anyway(world: World) -> dict[str, float]:
    """The scorer's mean P(return anyway) per status over every scored customer."""
    customers = world.population.customers
    return (1.0 - customers.groupby("status")["p_dormant"].mean()).to_dict()


def learner_factories(world: World) -> dict[str, Callable[[], Any]]:
    """Each learner, unfitted, with its defaults (``random_state`` from the seed)."""
    shared = {"features": FEATURES, "random_state": world.seed}
    prior = prior_table(
        _segment_p_anyway(world), RATES, STATUS_FACTORS, offers=campaign_simulator.OFFERS
    )
    return {
        "x_learner": lambda: XLearner(**shared),
        "offset_t": lambda: OffsetTLearner(**shared),
        "t_learner": lambda: TLearner(**shared),
        "class_transformation": lambda: ClassTransformationUplift(**shared),
        "logistic": lambda: LogisticUplift(**shared),
        "shrinkage": lambda: ShrinkageUplift(prior, random_state=world.seed),
    }


def option_predictions(
    model: Any, customers: pd.DataFrame, options: list[tuple[str, str]]
) -> pd.DataFrame:
    """One row per customer and option, valued with the scorer's spend and order value."""
    predictions = predict_options(model, customers, options)
    predictions = predictions.drop(columns=["spend_if_returned"], errors="ignore")
    k = len(options)
    predictions["spend_if_returned"] = np.repeat(
        customers["predicted_spend_if_returned"].to_numpy(float), k
    )
    predictions["order_value"] = np.repeat(customers["avg_order_value"].to_numpy(float), k)
    return predictions


def judge_lists(world: World, predictions: pd.DataFrame) -> dict[str, Any]:
    """True value share and negative share of the product's lists, without and with budget."""
    out: dict[str, Any] = {}
    for name, budget, oracle in (
        ("every", None, world.oracle_every),
        ("tight", world.budget, world.oracle_tight),
    ):
        chosen = choose_contacts(predictions, DEFAULT_ECONOMICS, budget=budget)
        value = world.truth.value_of(chosen)
        out[f"{name}_share"] = value.total_value / oracle.total_value
        out[f"{name}_negative"] = value.negative_share
        out[f"{name}_contacts"] = value.n_contacts
        out[f"{name}_cost"] = value.contact_cost
        out[f"{name}_by_channel"] = value.contacts_by_channel
        out[f"{name}_value_by_channel"] = value_by_channel(world.truth, chosen)
    return out


def value_by_channel(truth: CampaignTruth, chosen: pd.DataFrame) -> dict[str, float]:
    """True expected value of a list's contacts, summed per channel."""
    if chosen.empty:
        return {}
    rows, options = truth.option_index(chosen)
    values = truth.expected_value()[rows, options]
    channel = np.array([c for c, _ in truth.options], dtype=object)[options]
    return {str(k): float(v) for k, v in pd.Series(values).groupby(channel).sum().items()}


def true_uplift(world: World) -> np.ndarray:
    """Known uplift of every listed customer and option, customer-major."""
    truth = world.truth
    return (truth.p_if_contacted - truth.p_anyway[:, None]).reshape(-1)


@dataclass
class Guard:
    """The prior's predictions and list on the held-out part: what a challenger must beat."""

    holdout: pd.DataFrame
    predictions: pd.DataFrame
    chosen: pd.DataFrame


def prior_guard(world: World) -> Guard:
    prior = PriorUplift(RATES, STATUS_FACTORS)
    predictions = option_predictions(prior, world.holdout, world.options)
    return Guard(world.holdout, predictions, choose_contacts(predictions, DEFAULT_ECONOMICS))


def guard_verdict(guard: Guard, model: Any, options: list[tuple[str, str]]) -> dict[str, Any]:
    """The promotion guard's verdict, learned list vs the prior's, on the held-out part."""
    predictions = option_predictions(model, guard.holdout, options)
    chosen = choose_contacts(predictions, DEFAULT_ECONOMICS)
    verdict = compare_policies(
        guard.holdout,
        policy_on_log(guard.holdout, chosen, "learned", predictions),
        policy_on_log(guard.holdout, guard.chosen, "prior", guard.predictions),
        DEFAULT_ECONOMICS,
    )
    numbers = verdict.numbers
    return {
        "promote": verdict.promote,
        "reason": verdict.reason,
        "difference": numbers["difference"],
        "difference_lower": numbers["difference_lower"],
        "holdout_qini": numbers.get("qini_learned", float("nan")),
        "holdout_qini_prior": numbers.get("qini_prior", float("nan")),
    }


def judge_policy(
    world: World, name: str, model: Any, guard: Guard, tau: np.ndarray
) -> dict[str, Any]:
    """Every number of one policy: lists on the truth, true Qini, and (learners) the guard."""
    predictions = option_predictions(model, world.rest, world.options)
    row: dict[str, Any] = {"policy": name}
    row.update(judge_lists(world, predictions))
    row["true_qini"] = qini_from_true_uplift(tau, predictions["uplift"].to_numpy(float))
    if name == PRIOR:
        row["holdout_qini"] = guard_verdict(guard, model, world.options)["holdout_qini_prior"]
        return row
    row.update(guard_verdict(guard, model, world.options))
    return row


def run_learner(world: World, name: str, factory: Callable[[], Any], guard: Guard, tau):
    """Fit one learner on the training part and judge it; a failed fit keeps the prior."""
    start = time.perf_counter()
    try:
        model = factory().fit(world.train)
    except (ValueError, KeyError) as error:  # UpliftDataError is a ValueError subclass too
        return {"policy": name, "error": f"{type(error).__name__}: {error}", "promote": False}
    seconds = time.perf_counter() - start
    row = judge_policy(world, name, model, guard, tau)
    row["fit_seconds"] = seconds
    return row
