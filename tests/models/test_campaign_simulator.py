"""The campaign simulator's truth is self-consistent and its pilot follows the truth."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from models.campaign_simulator import (
    CUSTOMER_COLUMNS,
    LOG_COLUMNS,
    SimulatedPopulation,
    run_pilot,
    simulate_population,
    split_log,
)


@pytest.fixture(scope="module")
def population() -> SimulatedPopulation:
    return simulate_population(20_000, seed=3)


def test_customers_have_the_documented_columns_and_statuses(
    population: SimulatedPopulation,
) -> None:
    customers = population.customers
    assert list(customers.columns) == list(CUSTOMER_COLUMNS)
    assert customers["customer_id"].is_unique
    assert set(customers["status"]) == {"active", "at_risk", "sleeping", "lost"}
    overdue = customers["days_since_last"] / customers["typical_gap_days"]
    assert np.allclose(overdue, customers["overdue_cycles"])
    lost = customers["status"] == "lost"
    assert (
        (customers.loc[lost, "overdue_cycles"] >= 6)
        | (customers.loc[lost, "days_since_last"] >= 365)
    ).all()
    assert (customers["n_orders"] >= 1).all()


def test_truth_is_consistent(population: SimulatedPopulation) -> None:
    truth = population.truth
    n = len(population.customers)
    assert truth.p_if_contacted.shape == (n, len(truth.options))
    for p in (truth.p_anyway, truth.p_if_contacted):
        assert ((p > 0) & (p < 1)).all()
    table = truth.table()
    assert len(table) == n * len(truth.options)
    assert np.allclose(table.uplift_true, table.p_if_contacted_true - table.p_anyway_true)
    economics = truth.economics
    recomputed = (
        table.uplift_true * economics.margin * table.spend_if_returned_true
        - table.channel.map(economics.channel_costs)
        - table.p_if_contacted_true
        * np.where(table.offer == "discount", 0.10, 0.0)
        * np.repeat(truth.order_value, len(truth.options))
    )
    assert np.allclose(table.value_true, recomputed)


def test_realistic_rates_and_all_four_groups(population: SimulatedPopulation) -> None:
    truth = population.truth
    status = population.customers["status"].to_numpy()
    assert 0.15 < truth.p_anyway.mean() < 0.40
    by_status = pd.Series(truth.p_anyway).groupby(status).mean()
    assert by_status["lost"] < 0.12 < by_status["sleeping"] < by_status["active"]
    uplift = truth.p_if_contacted - truth.p_anyway[:, None]
    assert 0.005 < uplift.mean() < 0.05
    phone = truth.options.index(("phone", "none"))
    sleeping_dogs = uplift[:, phone] < -0.02
    assert 0.02 < sleeping_dogs.mean() < 0.30
    overdue = population.customers["overdue_cycles"].to_numpy()
    assert (overdue[sleeping_dogs] < 1.5).mean() > 0.95
    lost = status == "lost"
    assert np.abs(uplift[lost]).mean() < np.abs(uplift[status == "sleeping"]).mean() / 2
    persuadable = uplift[:, phone] > 0.05
    assert persuadable.mean() > 0.05


def test_oracle_lists_are_worthwhile_and_grow_with_budget(
    population: SimulatedPopulation,
) -> None:
    truth = population.truth
    every = truth.oracle()
    value = truth.value_of(every)
    assert value.n_negative == 0 and value.n_contacts == len(every) > 0
    assert sum(value.contacts_by_channel.values()) == value.n_contacts
    previous = 0.0
    for share in (0.05, 0.2, 0.5):
        budget = value.contact_cost * share
        listed = truth.value_of(truth.oracle(budget=budget))
        assert listed.contact_cost <= budget + 1e-9
        assert previous <= listed.total_value <= value.total_value + 1e-9
        previous = listed.total_value


def test_value_of_rejects_unknown_or_repeated_customers(
    population: SimulatedPopulation,
) -> None:
    truth = population.truth
    with pytest.raises(ValueError, match="not in the simulated population"):
        truth.value_of(pd.DataFrame({"customer_id": ["nope"], "channel": ["email"]}))
    first = population.customers["customer_id"].iloc[0]
    twice = pd.DataFrame({"customer_id": [first, first], "channel": ["email", "sms"]})
    with pytest.raises(ValueError, match="at most once"):
        truth.value_of(twice)


def test_pilot_is_randomised_and_outcomes_follow_the_truth(
    population: SimulatedPopulation,
) -> None:
    log = run_pilot(population, pilot_size=12_000, treatment_share=0.4, seed=5)
    assert list(log.columns[: len(LOG_COLUMNS)]) == list(LOG_COLUMNS)
    assert len(log) == 12_000 and log["customer_id"].is_unique
    treated = log["group"] == "treatment"
    assert abs(treated.mean() - 0.4) < 0.02
    assert set(log["channel"]) == {"email", "sms", "phone"}
    assert ((log["spend"] > 0) == (log["returned"] == 1)).all()
    truth = population.truth
    rows = pd.Index(truth.customer_id).get_indexer(log["customer_id"])
    option = [truth.options.index((c, o)) for c, o in zip(log.channel, log.offer, strict=True)]
    expected = np.where(treated, truth.p_if_contacted[rows, option], truth.p_anyway[rows])
    for group in (treated, ~treated):
        gap = log.loc[group, "returned"].mean() - expected[group.to_numpy()].mean()
        assert abs(gap) < 3 * np.sqrt(0.25 / group.sum())
    features = population.customers.set_index("customer_id").loc[log["customer_id"]]
    assert np.array_equal(features["status"].to_numpy(), log["status"].to_numpy())


def test_pilot_is_seeded_and_can_draw_from_given_customers(
    population: SimulatedPopulation,
) -> None:
    first = run_pilot(population, pilot_size=500, seed=9, with_features=False)
    again = run_pilot(population, pilot_size=500, seed=9, with_features=False)
    pd.testing.assert_frame_equal(first, again)
    assert list(first.columns) == list(LOG_COLUMNS)
    pool = population.customers["customer_id"].iloc[:1000]
    drawn = run_pilot(population, customer_ids=pool, seed=1)
    assert set(drawn["customer_id"]) == set(pool)
    with pytest.raises(ValueError, match="pilot_size"):
        run_pilot(population, pilot_size=0)
    with pytest.raises(ValueError, match="treatment_share"):
        run_pilot(population, treatment_share=1.0)
    train, holdout = split_log(first, 0.3, seed=2)
    assert len(train) + len(holdout) == len(first)
    assert not set(train.customer_id) & set(holdout.customer_id)


def test_fifty_thousand_customers_are_fast() -> None:
    start = time.perf_counter()
    population = simulate_population(50_000, seed=1)
    run_pilot(population, pilot_size=15_000, seed=2)
    population.truth.oracle()
    # Measured about 0.2 s; the bound leaves room for a loaded CI machine.
    assert time.perf_counter() - start < 3.0
