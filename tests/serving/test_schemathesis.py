"""Property-based requests from the served OpenAPI schema: no answer is ever a 5xx.

Schemathesis reads ``/docs.json`` from the test server (loopback only) and generates
requests for every operation, valid (positive) and invalid (negative) ones, sent with a
valid API key. Examples are bounded per operation and derandomized, so the run is
repeatable and takes well under a minute.

Schemathesis' own pytest integration (``schemathesis.pytest.from_fixture``) fails on
pytest 9 (it writes the private ``Function._nodeid``), so the strategies drive Hypothesis
directly.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from serving_support import API_KEY

AUTH = {"Authorization": f"Bearer {API_KEY}"}
#: Examples per operation and mode. Each valid /rank solves the whole snapshot's
#: selection (about a second), so it gets fewer. (GET operations without input give one.)
MAX_EXAMPLES = {"/score": 50, "/rank": 8}
DEFAULT_EXAMPLES = 30


@pytest.fixture(scope="module")
def api_schema(server):
    assert server.base_url.startswith("http://127.0.0.1:")
    return schemathesis.openapi.from_url(f"{server.base_url}/docs.json", headers=AUTH, timeout=30)


def operations(schema) -> list:
    found = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in found} >= {"/score", "/rank", "/metadata"}
    return found


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_request_gets_a_server_error(api_schema, server, mode):
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
            statuses[(case.path, response.status_code // 100)] = (
                statuses.get((case.path, response.status_code // 100), 0) + 1
            )
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.path} body={str(case.body)[:300]!r} -> "
                    f"{response.status_code}: {response.text[:300]}"
                )

        check()
    assert not failures, "\n".join(failures)
    if mode is GenerationMode.POSITIVE:  # the run is not vacuous: valid requests succeed
        assert statuses.get(("/score", 2), 0) > 0 and statuses.get(("/rank", 2), 0) > 0
    else:
        assert statuses.get(("/score", 4), 0) > 0
