"""API keys: every path but the health probes needs one; both header styles work."""

from __future__ import annotations

import pytest
from serving_support import API_KEY, SECOND_KEY

from features.errors import ConfigError
from serving.auth import APIKeyMiddleware, presented_keys
from serving.settings import ServiceSettings, parse_api_keys

BODY = {"customers": [{"customer_id": "00001"}]}


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/score"), ("POST", "/rank"), ("GET", "/metadata"), ("GET", "/metrics")],
)  # fmt: skip
def test_no_key_is_401_with_a_json_reason(anonymous, method, path):
    response = anonymous.request(method, path, json=BODY if method == "POST" else None)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer wrong-key-0123456789abcdef"},
        {"X-API-Key": "wrong-key-0123456789abcdef"},
        {"Authorization": f"Basic {API_KEY}"},
        {"Authorization": f"Bearer {API_KEY[:-1]}"},
        {"Authorization": "Bearer"},
    ],
)
def test_a_wrong_key_is_401_and_never_echoed(anonymous, headers):
    response = anonymous.post("/score", json=BODY, headers=headers)
    assert response.status_code == 401
    assert API_KEY not in response.text and "wrong-key" not in response.text


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {API_KEY}"},
        {"Authorization": f"bearer {SECOND_KEY}"},
        {"X-API-Key": API_KEY},
        {"X-API-Key": SECOND_KEY},
    ],
)
def test_either_header_with_any_configured_key_is_accepted(anonymous, headers):
    response = anonymous.post("/score", json=BODY, headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz"])
def test_health_probes_need_no_key(anonymous, path):
    assert anonymous.get(path).status_code == 200


def test_keys_never_reach_the_server_log(client, anonymous, server):
    anonymous.post("/score", json=BODY, headers={"X-API-Key": "wrong-key-0123456789abcdef"})
    client.post("/score", json=BODY)
    log = server.log_path.read_text(errors="replace")
    assert API_KEY not in log and SECOND_KEY not in log and "wrong-key" not in log


def test_without_keys_the_service_refuses_to_start_unless_insecure():
    with pytest.raises(ConfigError, match="--insecure"):
        ServiceSettings.from_environment({}).authentication()
    assert ServiceSettings.from_environment({"WINBACK_INSECURE": "1"}).authentication() == (
        (),
        True,
    )


def test_short_keys_are_refused():
    with pytest.raises(ConfigError, match="key number 2 is shorter than 16"):
        parse_api_keys("a-long-enough-key-123, short")
    assert parse_api_keys(" k-0123456789abcdef , ,") == ("k-0123456789abcdef",)


def test_keys_are_read_from_both_headers():
    headers = [(b"authorization", b"Bearer one"), (b"x-api-key", b"two"), (b"x-other", b"3")]
    assert presented_keys(headers) == [b"one", b"two"]


def test_middleware_without_keys_must_be_told_it_is_insecure():
    with pytest.raises(ConfigError):
        APIKeyMiddleware(app=None, keys=[], insecure=False)
    assert APIKeyMiddleware(app=None, keys=[], insecure=True)._open
