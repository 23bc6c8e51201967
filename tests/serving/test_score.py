"""POST /score: lookups by id, per-item errors, and on-the-fly scores equal to batch scores."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from serving_support import AS_OF, transactions_of

SCORE_FIELDS = ("p_dormant", "p_alive", "expected_purchases", "predicted_spend", "clv")


def batch_row(model, customer_id):
    return model.scores.set_index("customer_id").loc[customer_id]


def test_a_lookup_returns_the_snapshot_row(client, served_model):
    customer_id = str(served_model.scores["customer_id"].iloc[10])
    response = client.post("/score", json={"customers": [{"customer_id": customer_id}]})
    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == served_model.version
    (result,) = body["results"]
    expected = batch_row(served_model, customer_id)
    assert result["source"] == "snapshot" and result["as_of"] == AS_OF
    assert result["status"] == expected["status"]
    for name in SCORE_FIELDS:
        assert result[name] == pytest.approx(float(expected[name]), rel=1e-6)
    assert result["features"]["frequency"] == int(expected["frequency"])


def test_numeric_ids_are_read_as_text(client, served_model):
    body = {"customers": [{"customer_id": 123}]}
    (result,) = client.post("/score", json=body).json()["results"]
    assert result["customer_id"] == "123"


def test_unknown_ids_get_a_per_item_error_and_the_rest_is_scored(client, served_model):
    known = [str(c) for c in served_model.scores["customer_id"].iloc[:2]]
    customers = [{"customer_id": known[0]}, {"customer_id": "no-such-customer"},
                 {"customer_id": known[1]}]  # fmt: skip
    response = client.post("/score", json={"customers": customers})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["customer_id"] for r in results] == [known[0], "no-such-customer", known[1]]
    assert results[1]["error"] == "unknown_customer"
    assert "transactions" in results[1]["message"]
    assert "p_dormant" in results[0] and "p_dormant" in results[2]


def sample_customers(scores: pd.DataFrame) -> list[str]:
    """Ordinary customers plus the cases whose features depend on the population:
    one-time buyers (population cycle), top spenders (ABC class A) and advocates."""
    rng = np.random.default_rng(7)
    picked = list(rng.choice(scores["customer_id"].to_numpy(), 40, replace=False))
    picked += list(scores.loc[scores["frequency"] == 0, "customer_id"].head(3))
    picked += list(scores.nlargest(3, "total_spend")["customer_id"])
    picked += list(scores.loc[scores["ladder_stage"] == "advocate", "customer_id"].head(3))
    picked += list(scores.loc[scores["abc"] == "B", "customer_id"].head(3))
    return [str(c) for c in dict.fromkeys(picked)]


def test_on_the_fly_scores_equal_batch_scores(client, served_model):
    ids = sample_customers(served_model.scores)
    customers = [
        {"customer_id": c, "transactions": transactions_of(served_model.transactions, c)}
        for c in ids
    ]
    response = client.post("/score", json={"customers": customers, "as_of": AS_OF})
    assert response.status_code == 200, response.text
    for customer_id, result in zip(ids, response.json()["results"], strict=True):
        expected = batch_row(served_model, customer_id)
        assert result["source"] == "transactions"
        assert result["model_version"] == served_model.version
        for name in SCORE_FIELDS:
            assert result[name] == pytest.approx(float(expected[name]), rel=1e-9), (
                customer_id, name)  # fmt: skip
        assert result["status"] == expected["status"]
        for name, value in result["features"].items():
            want = expected[name]
            if isinstance(value, float):
                assert math.isclose(value, float(want), rel_tol=1e-9), (customer_id, name)
            elif name in ("first_purchase", "last_purchase"):
                assert value == pd.Timestamp(want).date().isoformat()
            elif value is None:
                assert want is None or pd.isna(want)
            else:
                assert value == want, (customer_id, name)


def test_on_the_fly_scoring_defaults_to_today(client):
    body = {"customers": [{"customer_id": "x", "transactions": [
        {"timestamp": "2024-01-05", "amount": 30.0},
        {"timestamp": "2024-03-05T10:00:00+02:00", "amount": 25.0},
    ]}]}  # fmt: skip
    (result,) = client.post("/score", json=body).json()["results"]
    assert result["as_of"] == pd.Timestamp.now(tz="UTC").date().isoformat()
    assert 0 <= result["p_dormant"] <= 1
    assert result["features"]["n_orders"] == 2


def test_a_customer_with_only_returns_gets_a_per_item_error(client):
    body = {"as_of": AS_OF, "customers": [
        {"customer_id": "r", "transactions": [{"timestamp": "1997-02-01", "amount": -10.0}]},
        {"customer_id": "ok", "transactions": [{"timestamp": "1997-02-01", "amount": 10.0}]},
    ]}  # fmt: skip
    response = client.post("/score", json=body)
    assert response.status_code == 200
    first, second = response.json()["results"]
    assert first["error"] == "no_purchase"
    assert second["source"] == "transactions"


def test_lookups_and_on_the_fly_mix_in_request_order(client, served_model):
    known = str(served_model.scores["customer_id"].iloc[0])
    body = {"as_of": AS_OF, "customers": [
        {"customer_id": "fresh", "transactions": [{"timestamp": "1997-05-01", "amount": 9.0}]},
        {"customer_id": known},
    ]}  # fmt: skip
    first, second = client.post("/score", json=body).json()["results"]
    assert (first["source"], second["source"]) == ("transactions", "snapshot")


def test_a_request_of_only_returns_is_not_a_server_error(client):
    body = {"as_of": AS_OF, "customers": [
        {"customer_id": "r", "transactions": [{"timestamp": "1997-02-01", "amount": -10.0}]},
    ]}  # fmt: skip
    response = client.post("/score", json=body)
    assert response.status_code == 200
    assert response.json()["results"][0]["error"] == "no_purchase"


def test_orders_are_counted_per_customer_with_or_without_order_ids(client):
    with_ids = [
        {"timestamp": "1997-02-01", "amount": 5.0, "order_id": "o1"},
        {"timestamp": "1997-02-01", "amount": 7.0, "order_id": "o1"},
        {"timestamp": "1997-04-01", "amount": 7.0, "order_id": "o2"},
    ]
    without_ids = [
        {"timestamp": "1997-02-01", "amount": 5.0},
        {"timestamp": "1997-02-01", "amount": 7.0},
    ]
    body = {"as_of": AS_OF, "customers": [
        {"customer_id": "a", "transactions": with_ids},
        {"customer_id": "b", "transactions": without_ids},
    ]}  # fmt: skip
    a, b = client.post("/score", json=body).json()["results"]
    assert a["features"]["n_orders"] == 2  # two lines of order o1 are one order
    assert b["features"]["n_orders"] == 2  # without ids every line is an order


def test_a_return_bigger_than_its_day_is_scored_not_a_server_error(client):
    """The audit's case: 10, 10 and -50, the last two on one day, answered 500."""
    body = {"as_of": AS_OF, "customers": [{"customer_id": "n", "transactions": [
        {"timestamp": "1997-02-01", "amount": 10.0},
        {"timestamp": "1997-03-01", "amount": 10.0},
        {"timestamp": "1997-03-01", "amount": -50.0},
    ]}]}  # fmt: skip
    response = client.post("/score", json=body)
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert result["features"]["monetary_value"] == 10.0
    assert result["features"]["total_spend"] == -30.0
    assert 0 <= result["p_dormant"] <= 1


def test_postage_lines_are_left_out_not_refused(client):
    lines = [
        {"timestamp": "1997-02-01", "amount": 20.0, "product": "tea"},
        {"timestamp": "1997-02-01", "amount": 4.5, "product": "POST"},
        {"timestamp": "1997-03-01", "amount": 30.0, "product": "tea"},
    ]
    body = {"as_of": AS_OF, "customers": [{"customer_id": "p", "transactions": lines}]}
    response = client.post("/score", json=body)
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert result["features"]["total_spend"] == 50.0  # postage is not spend
    assert result["features"]["monetary_value"] == 30.0
