"""Property-based requests from the served OpenAPI schema: the schema says what the
service enforces, and no answer is ever a 5xx.

Schemathesis reads ``/docs.json`` from the test server (loopback only) and generates
requests for every operation, valid (positive) and invalid (negative) ones, sent with a
valid API key. Examples are bounded per operation and derandomized, so the run is
repeatable and takes well under a minute. Every answer is checked:

* no 5xx, and every answer matches its documented response schema (a ``null`` the
  schema does not allow fails);
* a request the schema calls invalid is refused (a 2xx fails: the service accepts what the
  schema forbids, e.g. ``null`` for ``as_of``, or no body at all);
* a request the schema calls valid is accepted, or refused only for a rule the operation
  lists under ``x-winback-rules`` (rules no JSON schema can state, such as transactions not
  after ``as_of``); any other 400 is a rule the schema fails to state.

Schemathesis' own pytest integration (``schemathesis.pytest.from_fixture``) fails on
pytest 9 (it writes the private ``Function._nodeid``), so the strategies drive Hypothesis
directly.
"""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
)
from serving_support import API_KEY

from serving.openapi_models import CROSS_FIELD_RULES

AUTH = {"Authorization": f"Bearer {API_KEY}"}
#: Examples per operation and mode. Each valid /rank solves the whole snapshot's
#: selection (about a second), so it gets fewer. (GET operations without input give one.)
MAX_EXAMPLES = {"/score": 50, "/rank": 8}
DEFAULT_EXAMPLES = 30
CHECKS = [not_a_server_error, negative_data_rejection, response_schema_conformance]
#: How the service words each rule of CROSS_FIELD_RULES in a 400 (field, reason).
RULE_REASONS = {
    "/score": [
        (r"as_of", r"must be between 1900-01-01 and tomorrow"),
        (r"customers\[\d+\]\.transactions\[\d+\]\.timestamp", r" is after as_of "),
        (r"customers\[\d+\]\.transactions\[\d+\]\.order_id", r"on every line of a customer"),
        (r"customers\[\d+\]\.customer_id", r"is sent with transactions twice"),
        (r"customers", r"transactions in one request; at most"),
        (r"customers\[\d+\]\.transactions\[\d+\]", r"^[a-z_]+$"),  # a contract rule
    ],
    "/rank": [(r"(channels|daily_capacity|no_consent)\..*", r"^unknown channel; known: ")],
}


@pytest.fixture(scope="module")
def api_schema(server):
    assert server.base_url.startswith("http://127.0.0.1:")
    return schemathesis.openapi.from_url(f"{server.base_url}/docs.json", headers=AUTH, timeout=30)


def operations(schema) -> list:
    found = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in found} >= {"/score", "/rank", "/metadata"}
    return found


def undocumented_rejections(path: str, response) -> list[str]:
    """The errors of a 400 to a schema-valid request that no listed rule explains."""
    if response.status_code != 400:
        return []
    rules = RULE_REASONS.get(path, [])
    return [
        f"{error['field']}: {error['reason']}"
        for error in response.json().get("errors") or [{"field": "", "reason": response.text}]
        if not any(
            re.fullmatch(field, error["field"]) and re.search(reason, error["reason"])
            for field, reason in rules
        )
    ]


def test_every_rule_beyond_the_schema_is_documented_and_recognised(api_schema):
    raw = api_schema.raw_schema
    for path, rules in CROSS_FIELD_RULES.items():
        assert raw["paths"][path]["post"]["x-winback-rules"] == rules
        assert len(RULE_REASONS[path]) == len(rules)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_get_the_answer_the_schema_promises(api_schema, server, mode):
    failures: list[str] = []
    statuses: dict[tuple[str, int], int] = {}
    for operation in operations(api_schema):
        if mode is GenerationMode.NEGATIVE and operation.method.upper() == "GET":
            continue  # GET operations take no input to break

        @settings(
            max_examples=MAX_EXAMPLES.get(operation.path, DEFAULT_EXAMPLES),
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case):
            response = case.call(base_url=server.base_url, headers=AUTH, timeout=120)
            key = (case.path, response.status_code // 100)
            statuses[key] = statuses.get(key, 0) + 1
            request = f"{case.method} {case.path} body={str(case.body)[:300]!r}"
            try:
                case.validate_response(response, checks=CHECKS, headers=AUTH)
            except BaseException as failure:  # schemathesis raises a group of failures
                failures.append(f"{request} -> {response.status_code}: {str(failure)[:600]}")
            if mode is GenerationMode.POSITIVE:
                unexplained = undocumented_rejections(case.path, response)
                if unexplained:
                    failures.append(f"{request} -> 400 for a valid request: {unexplained[:3]}")

        check()
    assert not failures, "\n".join(failures[:20])
    if mode is GenerationMode.POSITIVE:  # the run is not vacuous: valid requests succeed
        assert statuses.get(("/score", 2), 0) > 0 and statuses.get(("/rank", 2), 0) > 0
    else:
        assert statuses.get(("/score", 4), 0) > 0
