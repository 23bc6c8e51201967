"""Contact value in money and the choice of contacts, by hand and as properties."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.uplift_policy import (
    ContactEconomics,
    UpliftPolicyError,
    add_expected_values,
    choose_contacts,
    select_contacts,
)

ECONOMICS = ContactEconomics(
    margin=0.3,
    channel_costs={"email": 0.05, "phone": 2.5},
    offer_discounts={"discount": 0.10},
    offer_fixed_costs={"gift": 2.0},
)


def test_expected_value_by_hand() -> None:
    value = ECONOMICS.expected_value(
        [0.2, 0.2, 0.2],
        [0.3, 0.3, 0.3],
        [100.0] * 3,
        [40.0] * 3,
        ["email", "phone", "email"],
        ["none", "discount", "gift"],
    )
    # 0.1 x 0.3 x 100 = 3.0; the discount is 10% of one 40.0 order, paid by 30% of them.
    assert value.tolist() == pytest.approx([3.0 - 0.05, 3.0 - 2.5 - 0.3 * 4.0, 3.0 - 0.05 - 0.6])
    with pytest.raises(UpliftPolicyError, match="channel 'fax' has no cost"):
        ECONOMICS.expected_value([0.2], [0.3], [1.0], [1.0], ["fax"], ["none"])
    with pytest.raises(UpliftPolicyError, match="margin"):
        ContactEconomics(margin=0.0)


def test_realised_value_charges_contacts_and_redeemed_offers() -> None:
    value = ECONOMICS.realised_value(
        [1, 1, 0],
        [1, 0, 1],
        [50.0, 0.0, 80.0],
        [40.0, 40.0, 40.0],
        ["email", "phone", None],
        ["discount", "none", None],
    )
    assert value.tolist() == pytest.approx([15.0 - 0.05 - 4.0, -2.5, 24.0])
    again = ContactEconomics.from_dict(json.loads(json.dumps(ECONOMICS.to_dict())))
    assert again == ECONOMICS


def test_select_contacts_every_worthwhile_and_eligible() -> None:
    value = np.array([[1.0, 3.0], [-1.0, -0.5], [0.2, 0.1]])
    cost = np.array([[0.05, 2.5]])
    assert select_contacts(value, cost).tolist() == [1, -1, 0]
    assert select_contacts(value, cost, floor=0.5).tolist() == [1, -1, -1]
    eligible = np.array([[True, False], [True, True], [True, True]])
    assert select_contacts(value, cost, eligible=eligible).tolist() == [0, -1, 0]


def test_a_bigger_budget_never_gives_less_value() -> None:
    rng = np.random.default_rng(2)
    value = rng.normal(0.2, 1.0, (2000, 3))
    cost = np.array([[0.05, 0.2, 2.5]])
    previous = -np.inf
    for budget in (0.0, 1.0, 5.0, 20.0, 80.0, 1e9):
        chosen = select_contacts(value, cost, budget=budget)
        rows = np.flatnonzero(chosen >= 0)
        spent = cost[0, chosen[rows]].sum()
        total = value[rows, chosen[rows]].sum()
        assert spent <= budget + 1e-9
        assert total >= previous - 1e-9
        previous = total
    every = select_contacts(value, cost)
    assert np.array_equal(select_contacts(value, cost, budget=1e9), every)
    with pytest.raises(UpliftPolicyError, match="budget"):
        select_contacts(value, cost, budget=-1.0)


def test_choose_contacts_on_predictions() -> None:
    predictions = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b"],
            "channel": ["email", "phone"] * 2,
            "offer": ["none"] * 4,
            "p_anyway": [0.2, 0.2, 0.6, 0.6],
            "uplift": [0.02, 0.15, 0.01, -0.05],
            "uplift_lower": [0.01, -0.01, -0.01, -0.08],
            "spend_if_returned": [100.0] * 4,
            "order_value": [40.0] * 4,
        }
    )
    valued = add_expected_values(predictions, ECONOMICS)
    assert valued["expected_value"].tolist() == pytest.approx([0.55, 2.0, 0.25, -4.0])
    cautious = choose_contacts(predictions, ECONOMICS)
    assert cautious[["customer_id", "channel"]].values.tolist() == [["a", "email"]]
    point = choose_contacts(predictions, ECONOMICS, require_positive=None)
    assert point[["customer_id", "channel"]].values.tolist() == [["a", "phone"], ["b", "email"]]
    cheap = choose_contacts(predictions, ECONOMICS, require_positive=None, budget=1.0)
    assert cheap["channel"].tolist() == ["email", "email"]
    with pytest.raises(UpliftPolicyError, match="same options for every customer"):
        choose_contacts(predictions.iloc[:3], ECONOMICS)
    with pytest.raises(UpliftPolicyError, match="missing column"):
        choose_contacts(predictions.drop(columns="order_value"), ECONOMICS)
