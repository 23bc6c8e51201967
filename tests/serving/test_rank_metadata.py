"""POST /rank returns a budgeted list; GET /metadata reports the exact model version."""

from __future__ import annotations

import pytest
from serving_support import AS_OF


@pytest.fixture(scope="module")
def ranked(server):
    import httpx
    from serving_support import API_KEY

    response = httpx.post(
        f"{server.base_url}/rank",
        json={"budget": 50.0},
        headers={"X-API-Key": API_KEY},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_the_list_fits_the_budget(ranked):
    costs = [row["cost"] for row in ranked["rows"]]
    assert ranked["contacts"] == len(costs) > 0
    # The budget bounds the expected cost as sent; the drawn list's own total is near it.
    assert 0 < ranked["expected_cost_as_sent"] <= 50.0
    assert ranked["total_cost"] == pytest.approx(sum(costs))
    assert sum(costs) <= 50.0 * 1.1


def test_the_list_reserves_a_control_group(ranked):
    """The API, like `winback rank`, holds out a randomised control group: never contacted."""
    control = set(ranked["control"])
    contacted = {row["customer_id"] for row in ranked["rows"]}
    assert control and not control & contacted
    assert ranked["list_id"].startswith("wb-")
    assert ranked["deferred"] >= 0


def test_the_list_is_best_first(ranked, served_model):
    rows = ranked["rows"]
    assert [row["rank"] for row in rows] == list(range(1, len(rows) + 1))
    values = [row["expected_incremental_value"] for row in rows]
    assert values == sorted(values, reverse=True) and values[-1] > 0
    assert ranked["as_of"] == AS_OF
    assert ranked["model_version"] == served_model.version
    assert {row["status"] for row in rows} <= {"sleeping", "at_risk", "lost"}


def test_limit_keeps_the_top_rows(client, ranked):
    top = client.post("/rank", json={"budget": 50.0, "limit": 5}).json()
    assert top["rows"] == ranked["rows"][:5]
    assert top["contacts"] == ranked["contacts"]


def test_channel_costs_can_be_overridden(client):
    rows = client.post(
        "/rank", json={"budget": 5.0, "limit": 20, "channels": {"email": 0.5, "sms": 0.5}}
    ).json()["rows"]
    assert rows
    for row in rows:
        if row["channel"] in ("email", "sms"):
            assert row["cost"] >= 0.5


def test_metadata_names_the_loaded_version(client, served_model):
    response = client.get("/metadata")
    assert response.status_code == 200
    meta = response.json()
    assert meta["model_name"] == "winback"
    assert meta["model_version"] == served_model.version
    assert "champion" in meta["aliases"]
    assert meta["trained_as_of"] == AS_OF and meta["horizon_days"] == 90
    assert "p_alive" in meta["feature_schema"]
    assert meta["snapshot"]["customers"] == len(served_model.scores)
    assert meta["snapshot"]["model_version"] == served_model.version
    assert meta["limits"]["max_customers_per_request"] == 1000
    assert meta["authentication"] == "api_key"


def test_openapi_schema_describes_the_endpoints(client):
    spec = client.get("/docs.json").json()
    assert {"/score", "/rank", "/metadata", "/readyz"} <= set(spec["paths"])
    customer = spec["components"]["schemas"]["CustomerRequest"]
    assert customer["properties"]["transactions"]["description"]
