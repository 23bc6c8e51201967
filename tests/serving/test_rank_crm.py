"""POST /rank as a CRM uses it: pages, suppression lists, consent per channel, a frequency
cap, capacity overrides, and 400s that name the field."""

from __future__ import annotations

import datetime as dt

import pytest
from serving_support import AS_OF

BUDGET = 50.0


@pytest.fixture(scope="module")
def full(server):
    import httpx
    from serving_support import API_KEY

    response = httpx.post(
        f"{server.base_url}/rank",
        json={"budget": BUDGET},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    return response.json()


def rank(client, **body):
    response = client.post("/rank", json={"budget": BUDGET} | body)
    assert response.status_code == 200, response.text
    return response.json()


def ids(answer) -> set[str]:
    return {row["customer_id"] for row in answer["rows"]}


def test_pages_put_together_are_the_whole_list(client, full):
    assert full["total_rows"] == full["contacts"] == len(full["rows"]) > 20
    assert full["offset"] == 0 and full["next_offset"] is None
    rows, offset, pages = [], 0, 0
    while offset is not None:
        page = rank(client, limit=7, offset=offset)
        assert page["total_rows"] == full["total_rows"] and page["list_id"] == full["list_id"]
        assert page["offset"] == offset and len(page["rows"]) <= 7
        rows += page["rows"]
        offset, pages = page["next_offset"], pages + 1
    assert rows == full["rows"]
    assert pages == -(-full["total_rows"] // 7)


def test_a_page_past_the_end_is_empty(client, full):
    page = rank(client, limit=5, offset=full["total_rows"] + 10)
    assert page["rows"] == [] and page["next_offset"] is None


def test_paging_computes_the_list_once(client):
    """The second and third pages are slices of the list the first one computed; another
    budget is another list."""
    budget = 37.125  # a budget no other test asks for
    pages = [rank(client, budget=budget, limit=3, offset=offset) for offset in (0, 3, 6)]
    assert len({page["computed_at"] for page in pages}) == 1
    other = rank(client, budget=budget + 1, limit=3)
    computed = [dt.datetime.fromisoformat(a["computed_at"]) for a in (pages[0], other)]
    assert computed[1] > computed[0]


def test_excluded_customers_are_removed_before_the_selection(client, full):
    excluded = [row["customer_id"] for row in full["rows"][:3]] + [full["control"][0]]
    answer = rank(client, exclude=excluded)
    assert not set(excluded) & (ids(answer) | set(answer["control"]))
    assert answer["suppressed"]["excluded"] == answer["suppressed"]["total"] == 4
    assert answer["eligible_customers"] == full["eligible_customers"] - 4
    assert answer["expected_cost_as_sent"] <= BUDGET  # the budget goes to others


def test_integer_ids_are_suppressed_and_reported(client, full):
    # CDNOW ids are zero-padded to 5 digits: "00042" is customer 42.
    first = next(row["customer_id"] for row in full["rows"] if row["customer_id"][0] == "0")
    answer = rank(client, exclude=[int(first)])
    assert first not in ids(answer)
    assert answer["suppressed"]["ids_matched_after_zero_padding"] == 1
    assert "zero-padded" in answer["suppressed"]["note"]


def test_no_consent_moves_a_customer_to_another_channel_or_off_the_list(client, full):
    by_channel: dict[str, list[str]] = {}
    for row in full["rows"]:
        by_channel.setdefault(row["channel"], []).append(row["customer_id"])
    channel, customers = max(by_channel.items(), key=lambda item: len(item[1]))
    blocked = customers[:5]
    answer = rank(client, no_consent={channel: blocked})
    for row in answer["rows"]:
        assert not (row["customer_id"] in blocked and row["channel"] == channel)
    assert answer["suppressed"]["restricted_channels"] == {channel: 5}
    assert answer["suppressed"]["no_consent"] == 0


def test_no_consent_on_every_channel_removes_the_customer(client, full):
    meta_channels = ["email", "sms", "mass_mailing", "special_offer", "phone", "call_centre"]
    first = full["rows"][0]["customer_id"]
    answer = rank(client, no_consent={name: [first] for name in meta_channels})
    assert first not in ids(answer)
    assert answer["suppressed"]["no_consent"] == answer["suppressed"]["total"] == 1


def test_recently_contacted_customers_are_capped(client, full):
    recent, old = full["rows"][0]["customer_id"], full["rows"][1]["customer_id"]
    contacts = [
        {"customer_id": recent, "contacted_at": AS_OF},
        {"customer_id": old, "contacted_at": "1997-06-01"},
    ]
    answer = rank(client, frequency_cap={"days": 30, "contacts": contacts})
    assert recent not in ids(answer) and old in ids(answer)
    assert answer["suppressed"]["frequency_cap"] == 1
    assert answer["suppressed"]["frequency_cap_since"] == "1997-09-01"


def test_a_capacity_override_closes_a_channel(client, full):
    channel = full["rows"][0]["channel"]
    answer = rank(client, daily_capacity={channel: 0})
    assert answer["rows"] and channel not in {row["channel"] for row in answer["rows"]}


def test_cost_overrides_still_apply(client):
    answer = rank(client, limit=20, channels={"email": 0.5, "sms": 0.5})
    assert all(row["cost"] >= 0.5 for row in answer["rows"] if row["channel"] in ("email", "sms"))


def problems(response):
    assert response.status_code == 400, response.text
    return {p["field"]: p["reason"] for p in response.json()["errors"]}


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"offset": -1}, "offset", "greater than or equal to 0"),
        ({"limit": 0}, "limit", "greater than or equal to 1"),
        ({"no_consent": {"fax": ["00001"]}}, "no_consent.fax", "unknown channel; known: email"),
        ({"daily_capacity": {"fax": 3}}, "daily_capacity.fax", "unknown channel"),
        ({"daily_capacity": {"email": -3}}, "daily_capacity.email", "greater than or equal"),
        ({"exclude": [True]}, "exclude[0]", "valid string"),
        ({"exclude": "00001"}, "exclude", "valid array"),
        ({"exclude": [""]}, "exclude[0]", "at least 1 character"),
        ({"frequency_cap": {"days": 0, "contacts": []}}, "frequency_cap.days", "greater than"),
        ({"frequency_cap": {"days": 30}}, "frequency_cap.contacts", "required"),
        ({"frequency_cap": {"days": 30, "contacts": [{"customer_id": "1",
          "contacted_at": "last week"}]}}, "frequency_cap.contacts[0].contacted_at", "datetime"),
        ({"frequency_cap": {"days": 30, "contacts": [{"customer_id": "1", "contacted_at":
          "9999-12-31T23:59:00-05:00"}]}}, "frequency_cap.contacts[0].contacted_at", "range"),
        ({"exlude": ["00001"]}, "exlude", "not permitted"),
    ],
)  # fmt: skip
def test_bad_crm_fields_are_named(client, body, field, reason):
    found = problems(client.post("/rank", json={"budget": BUDGET, **body}))
    assert field in found and reason in found[field], found


def test_an_integer_id_gets_a_hint_with_the_padded_id(client, served_model):
    padded = next(c for c in served_model.scores["customer_id"].astype(str) if c.startswith("00"))
    body = {"customers": [{"customer_id": int(padded)}]}
    (result,) = client.post("/score", json=body).json()["results"]
    assert result["error"] == "unknown_customer" and result["customer_id"] == str(int(padded))
    assert f"did you mean {padded!r}?" in result["message"]
    assert "ids in this snapshot are text like '00001'" in result["message"]
