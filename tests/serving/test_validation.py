"""Bad input gets 4xx with the field path and the reason, never 5xx."""

from __future__ import annotations

import pytest
from serving_support import AS_OF

from serving.http import field_path
from serving.schemas import (
    MAX_BODY_BYTES,
    MAX_CUSTOMERS_PER_REQUEST,
    MAX_TRANSACTIONS_PER_CUSTOMER,
)

GOOD_TX = {"timestamp": "1997-03-01", "amount": 12.5}


def on_the_fly(*transactions, customer_id="new-1"):
    return {"customer_id": customer_id, "transactions": list(transactions)}


def problems(response):
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_request"
    return {p["field"]: p["reason"] for p in body["errors"]}


def test_a_bad_amount_is_named_by_its_full_path(client):
    customers = [{"customer_id": "00001"}] * 3 + [on_the_fly({**GOOD_TX, "amount": "12,5"})]
    response = client.post("/score", json={"customers": customers, "as_of": AS_OF})
    found = problems(response)
    assert list(found) == ["customers[3].transactions[0].amount"]
    assert "number" in found["customers[3].transactions[0].amount"]


@pytest.mark.parametrize(
    ("transaction", "field", "reason"),
    [
        ({"timestamp": "yesterday", "amount": 1}, "timestamp", "datetime"),
        ({"timestamp": "1997-03-01"}, "amount", "required"),
        ({"timestamp": "1997-03-01", "amount": 1, "ammount": 2}, "ammount", "not permitted"),
        ({"timestamp": "1997-03-01", "amount": 1e12}, "amount", "less than or equal"),
        ({"timestamp": "1850-03-01", "amount": 1}, "timestamp", "1900-01-01"),
        # Year 1 at +01:00 is year 0 in UTC: a 400, not Python's OverflowError as a 500.
        ({"timestamp": "0001-01-01T00:30:00+01:00", "amount": 1}, "timestamp", "range"),
        ({"timestamp": "1997-12-01", "amount": 1}, "timestamp", "after as_of"),
        # pydantic alone reads numbers as seconds since 1970 (19970301 -> 1970-08-20).
        ({"timestamp": 19970301, "amount": 1}, "timestamp", "send dates as text"),
        ({"timestamp": "867715200", "amount": 1}, "timestamp", "is not a date"),
        ({"timestamp": "19971301", "amount": 1}, "timestamp", "YYYYMMDD"),
    ],
)
def test_bad_transactions_name_the_field(client, transaction, field, reason):
    body = {"customers": [on_the_fly(GOOD_TX, transaction)], "as_of": AS_OF}
    found = problems(client.post("/score", json=body))
    path = f"customers[0].transactions[1].{field}"
    assert path in found and reason in found[path]


def test_eight_digits_are_a_date_as_the_files_read_them(client):
    """One rule with the CLI: "19970301" is 1 March 1997, in transactions and in as_of."""

    def first_purchase(timestamp, as_of):
        customer = on_the_fly({"timestamp": timestamp, "amount": 12.5}, GOOD_TX)
        response = client.post("/score", json={"customers": [customer], "as_of": as_of})
        assert response.status_code == 200, response.text
        (result,) = response.json()["results"]
        return result["as_of"], result["features"]["first_purchase"]

    compact = first_purchase("19970215", AS_OF.replace("-", ""))
    assert compact == first_purchase("1997-02-15", AS_OF) == (AS_OF, "1997-02-15")


def test_order_ids_on_some_lines_only_are_refused(client):
    body = {"customers": [on_the_fly({**GOOD_TX, "order_id": "o1"}, GOOD_TX)], "as_of": AS_OF}
    assert "customers[0].transactions[1].order_id" in problems(client.post("/score", json=body))


def test_the_same_customer_twice_with_transactions_is_refused(client):
    body = {"customers": [on_the_fly(GOOD_TX), on_the_fly(GOOD_TX)], "as_of": AS_OF}
    assert "customers[1].customer_id" in problems(client.post("/score", json=body))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"customers": []}, "customers"),
        ({}, "customers"),
        ({"customers": [{"customer_id": ""}]}, "customers[0].customer_id"),
        ({"customers": [{"customer_id": "1", "transactions": []}]},
         "customers[0].transactions"),
        ({"customers": [{"customer_id": "1"}], "as_of": "30/09/1997"}, "as_of"),
        ({"customers": [{"customer_id": "1"}], "as_of": "2999-01-01"}, "as_of"),
        ({"customers": "00001"}, "customers"),
    ],
)  # fmt: skip
def test_malformed_requests_name_the_field(client, body, field):
    assert field in problems(client.post("/score", json=body))


def test_invalid_json_is_400(client):
    response = client.post(
        "/score", content=b'{"customers": [', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["message"] == "the body is not valid JSON"


def test_too_many_customers_is_400_on_customers(client):
    body = {"customers": [{"customer_id": str(i)} for i in range(MAX_CUSTOMERS_PER_REQUEST + 1)]}
    found = problems(client.post("/score", json=body))
    assert "at most 1000" in found["customers"]


def test_too_many_transactions_for_one_customer_is_400(client):
    transactions = [GOOD_TX] * (MAX_TRANSACTIONS_PER_CUSTOMER + 1)
    body = {"customers": [on_the_fly(*transactions)], "as_of": AS_OF}
    found = problems(client.post("/score", json=body))
    assert "at most 10000" in found["customers[0].transactions"]


def test_a_body_over_the_limit_is_413(client):
    response = client.post(
        "/score",
        content=b" " * (MAX_BODY_BYTES + 1),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"budget": -1}, "budget"),
        ({"budget": "lots"}, "budget"),
        ({"budget": 10, "limit": 0}, "limit"),
        ({"budget": 10, "channels": {"email": -0.1}}, "channels.email"),
        ({"budget": 10, "channels": {"fax": 0.1}}, "channels.fax"),
    ],
)
def test_bad_rank_requests_name_the_field(client, body, field):
    assert field in problems(client.post("/rank", json=body))


def test_field_paths_read_like_the_json():
    assert field_path(("customers", 3, "transactions", 0, "amount")) == (
        "customers[3].transactions[0].amount"
    )
    assert field_path(()) == "body"


def test_json_is_read_whatever_the_declared_content_type(client):
    # curl -d declares application/x-www-form-urlencoded
    response = client.post(
        "/score",
        content=b'{"customers": [{"customer_id": "00001"}]}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200


def test_invalid_input_values_stay_out_of_the_server_log(client, server):
    marker = "private-value-4242"
    body = {"customers": [on_the_fly({"timestamp": "1997-03-01", "amount": marker})]}
    assert client.post("/score", json=body).status_code == 400
    log = server.log_path.read_text(errors="replace")
    assert marker not in log
    assert "invalid request on /score [POST]: 1 validation error(s)" in log
