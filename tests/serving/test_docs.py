"""The API documentation: public, titled winback with the package version, every endpoint
described and tagged, a bearer scheme for the Authorize button, and examples."""

from __future__ import annotations

import json
import re
from importlib import metadata

import pytest
from serving_support import API_KEY

from serving.auth import is_public
from serving.openapi import customise_spec

DATA_OPERATIONS = {("/score", "post"), ("/rank", "post"), ("/metadata", "get")}


@pytest.fixture(scope="module")
def spec(server):
    import httpx

    response = httpx.get(f"{server.base_url}/docs.json", timeout=60)  # no key: it is public
    assert response.status_code == 200, response.text
    return response.json()


def operations(spec):
    return [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


def test_the_docs_page_is_public_and_ours(anonymous):
    page = anonymous.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>winback API</title>" in page.text and "./docs.json" in page.text
    assert "googletagmanager" not in page.text and "BentoML" not in page.text
    script = anonymous.get("/static_content/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000


def test_the_data_stays_behind_the_key(anonymous):
    for method, path in [("GET", "/metadata"), ("GET", "/metrics"), ("POST", "/rank")]:
        assert anonymous.request(method, path).status_code == 401
    assert anonymous.get("/static_content/../metadata").status_code in (401, 404)


def test_public_paths_are_the_probes_and_the_docs_only():
    assert all(is_public(p) for p in ["/", "/docs.json", "/readyz", "/static_content/x.css"])
    for path in ["/metadata", "/metrics", "/score", "/rank", "/static_content/../metadata",
                 "/docs.json/x", "/static_contentx"]:  # fmt: skip
        assert not is_public(path), path


def test_title_version_and_description(spec):
    assert spec["info"]["title"] == "winback"
    assert spec["info"]["version"] == metadata.version("winback")
    description = spec["info"]["description"]
    assert "Authorize" in description and "BentoML" not in json.dumps(spec["info"])
    assert "contact" not in spec["info"]


def test_every_endpoint_is_tagged_and_described(spec):
    tags = {tag["name"] for tag in spec["tags"]}
    found = set()
    for path, method, operation in operations(spec):
        found.add((path, method))
        assert operation["tags"] and set(operation["tags"]) <= tags, path
        assert "default" not in operation["tags"]
        assert operation["summary"] and operation.get("description"), path
    assert DATA_OPERATIONS <= found
    assert {"/readyz", "/livez", "/healthz", "/metrics"} <= set(spec["paths"])
    assert spec["paths"]["/metadata"]["get"]["tags"] == ["model"]


def test_the_data_endpoints_declare_the_bearer_scheme(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKeyHeader"]["name"] == "X-API-Key"
    for path, method, operation in operations(spec):
        if (path, method) in DATA_OPERATIONS or path == "/metrics":
            assert {"bearer": []} in operation["security"], path
            assert operation["responses"]["401"]["content"]["application/json"]["example"]
        elif path in ("/readyz", "/livez", "/healthz"):
            assert operation["security"] == [], path


def test_requests_have_examples_and_errors_their_shape(spec):
    for path in ("/score", "/rank"):
        operation = spec["paths"][path]["post"]
        media = operation["requestBody"]["content"]["application/json"]
        assert len(media["examples"]) >= 2
        for status in ("400", "413"):
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}
    assert "NotFound" not in spec["components"]["schemas"]
    assert "TaskStatusResponse" not in spec["components"]["schemas"]
    properties = spec["components"]["schemas"]["RankRequest"]["properties"]
    assert {"offset", "exclude", "no_consent", "frequency_cap", "channels"} <= set(properties)


def test_the_authorize_button_works_with_a_key_from_the_page(server, spec):
    """What Swagger UI sends after Authorize: the bearer header the scheme declares."""
    import httpx

    example = spec["paths"]["/rank"]["post"]["requestBody"]["content"]["application/json"][
        "examples"
    ]["first_page"]["value"]
    response = httpx.post(
        f"{server.base_url}/rank",
        json=example,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=120,
    )
    assert response.status_code == 200, response.text


def test_customise_spec_keeps_its_input():
    original = {"info": {"title": "x"}, "paths": {"/score": {"post": {"responses": {200: {}}}}}}
    before = json.dumps(original, sort_keys=True)
    customised = customise_spec(original, "9.9")
    assert json.dumps(original, sort_keys=True) == before
    assert customised["info"]["version"] == "9.9"
    assert set(customised["paths"]["/score"]["post"]["responses"]) == {"200", "400", "401", "413"}


def _component(spec, name):
    return spec["components"]["schemas"][name]


def test_request_bodies_are_required_and_come_from_the_models(spec):
    for path in ("/score", "/rank"):
        body = spec["paths"][path]["post"]["requestBody"]
        assert body["required"] is True
        name = path.strip("/").capitalize()
        assert body["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{name}Request"
        }
        assert "examples" in body["content"]["application/json"]


def test_what_the_service_accepts_or_answers_as_null_is_nullable(spec):
    """BentoML's own copies keep the first branch of every anyOf: as_of, channels and
    next_offset were documented as never null, although the service accepts or answers it."""
    assert _component(spec, "ScoreRequest")["properties"]["as_of"]["nullable"] is True
    rank = _component(spec, "RankRequest")["properties"]
    assert rank["channels"]["nullable"] is True and rank["channels"]["type"] == "object"
    assert rank["budget"].get("nullable") is None  # required, never null
    response = _component(spec, "RankResponse")["properties"]
    assert response["next_offset"]["nullable"] is True
    assert "anyOf" not in response["next_offset"]  # OpenAPI 3.0 has no null type
    assert '"type": "null"' not in json.dumps(spec)


def test_dates_state_the_earliest_year_and_rules_beyond_the_schema_are_listed(spec):
    timestamp = _component(spec, "Transaction")["properties"]["timestamp"]
    assert timestamp["pattern"] == "^(19|[2-9][0-9])[0-9]{2}-"
    assert {branch["format"] for branch in timestamp["anyOf"]} == {"date", "date-time"}
    score = spec["paths"]["/score"]["post"]
    assert any("after as_of" in rule for rule in score["x-winback-rules"])
    assert "Rules beyond the schema" in score["description"]


def test_every_reference_resolves_and_no_component_is_unused(spec):
    text = json.dumps(spec)
    schemas = spec["components"]["schemas"]
    for name in schemas:
        assert f'"#/components/schemas/{name}"' in text, name
    for ref in set(re.findall(r'"#/components/schemas/([^"]+)"', text)):
        assert ref in schemas, ref
