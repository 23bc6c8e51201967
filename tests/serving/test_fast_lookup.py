"""The lean lookup path of POST /score (serving/fast_lookup.py) answers exactly as BentoML's.

Against the real server, every lean answer is compared with the full path's answer to the
same lookups: ``"as_of": null`` in the body changes nothing for lookups by id, but sends
the request through BentoML's validation and the service's ``score`` method. The parser and
the table are also checked on their own, for the bodies that must take the full path.
"""

from __future__ import annotations

import json

import pytest
from serving_support import API_KEY

from serving.fast_lookup import LookupTable, is_plain_id, lookup_ids
from serving.schemas import MAX_CUSTOMERS_PER_REQUEST, CustomerError

LEAN = "x-winback-path"


def known_ids(served_model, count: int) -> list[str]:
    return [str(c) for c in served_model.scores["customer_id"].iloc[:count]]


def both_paths(client, customers: list[dict]):
    """(lean response, full-path response) for the same lookups."""
    lean = client.post("/score", json={"customers": customers})
    full = client.post("/score", json={"customers": customers, "as_of": None})
    return lean, full


@pytest.mark.parametrize(
    "ids",
    [
        pytest.param(["KNOWN0"], id="one-known"),
        pytest.param(["KNOWN0", "KNOWN1", "KNOWN2"], id="known"),
        pytest.param(["no-such-customer"], id="unknown"),
        pytest.param(["2"], id="unpadded-id-gets-the-hint"),
        pytest.param(["KNOWN0", "no-such-customer", "KNOWN1", "KNOWN0"], id="mixed-duplicates"),
    ],
)
def test_lean_answers_equal_the_full_path_byte_for_byte(client, served_model, ids):
    known = known_ids(served_model, 3)
    ids = [known[int(i[-1])] if i.startswith("KNOWN") else i for i in ids]
    lean, full = both_paths(client, [{"customer_id": i} for i in ids])
    assert lean.headers.get(LEAN) == "lookup" and LEAN not in full.headers
    assert lean.status_code == full.status_code == 200
    assert lean.content == full.content
    assert json.loads(lean.content) == json.loads(full.content)
    for name in ("content-type", "server"):
        assert lean.headers[name] == full.headers[name]
    assert len(lean.headers["x-bentoml-request-id"]) == len(full.headers["x-bentoml-request-id"])


def test_a_full_snapshot_sweep_is_equal(client, served_model):
    """Every 25th snapshot customer, in batches of the largest allowed size."""
    ids = [str(c) for c in served_model.scores["customer_id"].iloc[::25]]
    for start in range(0, len(ids), MAX_CUSTOMERS_PER_REQUEST):
        chunk = [{"customer_id": i} for i in ids[start : start + MAX_CUSTOMERS_PER_REQUEST]]
        lean, full = both_paths(client, chunk)
        assert lean.headers.get(LEAN) == "lookup"
        assert lean.content == full.content


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-key"),
        pytest.param({"Authorization": "Bearer not-a-valid-key-at-all"}, id="wrong-bearer"),
        pytest.param({"X-API-Key": API_KEY[:-1]}, id="wrong-x-api-key"),
        pytest.param({"Authorization": f"Basic {API_KEY}"}, id="wrong-scheme"),
    ],
)
def test_auth_failures_are_the_services_401(anonymous, served_model, headers):
    body = {"customers": [{"customer_id": known_ids(served_model, 1)[0]}]}
    on_score = anonymous.post("/score", json=body, headers=headers)
    on_rank = anonymous.post("/rank", json={"budget": 100}, headers=headers)
    assert on_score.status_code == on_rank.status_code == 401
    assert on_score.content == on_rank.content
    assert on_score.headers["www-authenticate"] == on_rank.headers["www-authenticate"]
    assert LEAN not in on_score.headers


def test_both_key_headers_reach_the_lean_path(anonymous, served_model):
    body = {"customers": [{"customer_id": known_ids(served_model, 1)[0]}]}
    for headers in ({"Authorization": f"Bearer {API_KEY}"}, {"X-API-Key": API_KEY}):
        response = anonymous.post("/score", json=body, headers=headers)
        assert response.status_code == 200 and response.headers.get(LEAN) == "lookup"


def test_a_body_with_transactions_takes_the_full_path(client, served_model):
    from serving_support import transactions_of

    customer_id = known_ids(served_model, 1)[0]
    transactions = transactions_of(served_model.transactions, customer_id)
    response = client.post(
        "/score",
        json={"customers": [{"customer_id": customer_id, "transactions": transactions}],
              "as_of": "1997-09-30"},
    )  # fmt: skip
    assert response.status_code == 200 and LEAN not in response.headers
    assert response.json()["results"][0]["source"] == "transactions"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"customers": []}', id="empty-list"),
        pytest.param(b'{"customers": [{"customer_id": "x"}], "extra": 1}', id="unknown-field"),
        pytest.param(b'{"customers": [{"customer_id": ""}]}', id="empty-id"),
        pytest.param(b'{"customers": [{"customer_id": "x", "transactions": null}]}', id="null-tx"),
        pytest.param(b'{"customers": [{"customer_id": "x"}]', id="broken-json"),
        pytest.param(b"[]", id="not-an-object"),
        pytest.param(b"", id="empty-body"),
    ],
)
def test_refused_bodies_get_the_full_paths_answer(client, body):
    """Whatever the lean path does not take reaches BentoML unchanged (its status and body
    are the service's own; tests/serving/test_validation.py checks those)."""
    response = client.post("/score", content=body)
    assert LEAN not in response.headers
    assert response.status_code in (200, 400)


def test_spaced_and_numeric_ids_are_left_to_pydantic(client, served_model):
    known = known_ids(served_model, 1)[0]
    spaced = client.post("/score", json={"customers": [{"customer_id": f" {known} "}]})
    assert LEAN not in spaced.headers
    assert spaced.json()["results"][0]["customer_id"] == known
    numeric = client.post("/score", json={"customers": [{"customer_id": 2}]})
    assert LEAN not in numeric.headers
    assert numeric.json()["results"][0]["customer_id"] == "2"


def test_metrics_count_the_lean_lookups(client, served_model):
    client.post("/score", json={"customers": [{"customer_id": known_ids(served_model, 1)[0]}]})
    text = client.get("/metrics").text
    assert 'winback_score_requests_total{path="lean"}' in text


# --------------------------------------------------------------------------- unit


def test_the_column_loader_builds_what_the_row_rule_builds(served_model):
    """Snapshot.load's column-by-column builder (serving.snapshot_load) equals
    score_from_row, the rule for one row, on every customer of the served snapshot."""
    from pipelines.scoring.table import read_scores
    from serving.ids import IdFormat
    from serving.scoring import Snapshot, score_from_row

    table = read_scores(served_model.scores_path)
    scores = table.scores
    scores["customer_id"] = scores["customer_id"].astype(str)
    rows = {
        str(row["customer_id"]): score_from_row(row, "snapshot", table.as_of)
        for row in scores.to_dict("records")
    }
    columns = Snapshot.load(served_model.scores_path)
    assert list(columns.by_id) == list(rows)
    for customer_id, expected in rows.items():
        assert columns.by_id[customer_id] == expected
        assert columns.by_id[customer_id].model_dump_json() == expected.model_dump_json()
    assert (columns.as_of, columns.horizon_days, columns.model_version, columns.id_format) == (
        table.as_of, table.horizon_days, table.model_version, IdFormat.of(rows)
    )  # fmt: skip
    assert columns.scores.equals(scores)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"customers": [{"customer_id": "a"}, {"customer_id": "b"}]}', ["a", "b"]),
        (b' \n{"customers":[{"customer_id":"a"}]} ', ["a"]),
        (b'\xef\xbb\xbf{"customers": [{"customer_id": "a"}]}', None),  # BOM: pydantic's call
        (b'{"customers": [{"customer_id": 1}]}', None),
        (b'{"customers": [{"customer_id": "a"}], "as_of": null}', None),
        (b'{"customers": "a"}', None),
        (b'{"customers": [["a"]]}', None),
        (b'{"customers": [{"customer_id": "a"}]} x', None),
        (b'{"customers": ' + b"[" * 100_000, None),
        (json.dumps({"customers": [{"customer_id": "a"}] * 1_001}).encode(), None),
    ],
)
def test_only_a_plain_lookup_body_is_parsed(body, expected):
    assert lookup_ids(body) == expected


def test_ids_pydantic_would_change_are_not_plain():
    assert is_plain_id("00042") and is_plain_id("a b")
    for changed in (" a", "a ", "", "x" * 129, "é", "a\x00", "\u00a0a"):
        assert not is_plain_id(changed)


def test_the_table_refuses_ids_it_cannot_answer_for():
    def unknown(customer_id: str) -> CustomerError:
        return CustomerError(customer_id=customer_id, error="unknown_customer", message="m")

    table = LookupTable.build("7", (), unknown)
    assert table.prefix == b'{"model_version":"7","results":[' and table.suffix == b"]}"
    assert json.loads(table.answer(["a"]))["results"][0]["error"] == "unknown_customer"
    assert table.answer(["a", " a"]) is None


def _call(app, body_chunks: list[bytes], headers: list[tuple[bytes, bytes]]):
    """Run one POST /score through an ASGI app; (messages sent, what the inner app read)."""
    import asyncio

    async def scenario():
        incoming = [
            {"type": "http.request", "body": chunk, "more_body": i < len(body_chunks) - 1}
            for i, chunk in enumerate(body_chunks)
        ]
        sent: list[dict] = []

        async def receive():
            return incoming.pop(0) if incoming else {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "path": "/score", "method": "POST", "headers": headers}
        await app(scope, receive, send)
        return sent

    return asyncio.run(scenario())


def test_the_asgi_app_answers_lookups_and_replays_everything_else(monkeypatch):
    from serving import fast_lookup
    from serving.auth import APIKeyMiddleware

    key = "k" * 20
    read_by_inner: list[bytes] = []

    async def inner(scope, receive, send):
        while True:
            message = await receive()
            read_by_inner.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 299, "headers": []})

    def unknown(customer_id: str) -> CustomerError:
        return CustomerError(customer_id=customer_id, error="unknown_customer", message="m")

    monkeypatch.setattr(fast_lookup, "_table", [LookupTable.build("7", (), unknown)])
    app = fast_lookup.FastLookupApp(inner, APIKeyMiddleware(inner, keys=[key]))
    authorised = [(b"x-api-key", key.encode())]
    body = b'{"customers": [{"customer_id": "a"}]}'

    lean = _call(app, [body[:10], body[10:]], authorised)
    assert lean[0]["status"] == 200 and read_by_inner == []
    assert json.loads(lean[1]["body"])["results"][0]["customer_id"] == "a"

    assert _call(app, [body], [])[0]["status"] == 299  # no key: the service's own 401
    assert read_by_inner == [body]

    read_by_inner.clear()
    big = [b" " * (8 * 1024 * 1024)] * 3  # chunked, over MAX_BODY_BYTES
    assert _call(app, big, authorised)[0]["status"] == 299
    assert b"".join(read_by_inner) == b"".join(big)  # replayed whole, then read on
