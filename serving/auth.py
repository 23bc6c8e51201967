"""API-key authentication for the scoring service, as ASGI middleware.

Keys come from ``WINBACK_API_KEYS`` (comma-separated, each at least
:data:`serving.settings.MIN_KEY_LENGTH` characters; parsed in :mod:`serving.settings`). A
client sends one as ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``. Every path answers
401 without a valid key except :data:`PUBLIC_PATHS`: the health probes, which
orchestrators call without credentials and which reveal nothing but "up" or "ready", and
the API documentation (the page at ``/``, its schema ``/docs.json`` and the Swagger UI
files under :data:`PUBLIC_PREFIXES`), which describe the API and hold no customer data, so
an integrator can read them in a browser and authorize from the page
(:mod:`serving.openapi`). ``/metrics`` needs a key: metrics describe traffic.

Keys are compared as SHA-256 digests with :func:`hmac.compare_digest` against every
configured key, so the time taken says nothing about how much of a key matched, nor which
key it was. No key, valid or not, is ever written to a log or an error message.

Without keys the service refuses to start, unless ``WINBACK_INSECURE=1`` (``winback serve
--insecure``) says that running open on a trusted network is intended.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from features.errors import ConfigError
from serving.settings import service_settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Paths answered without a key: liveness and readiness probes, and the documentation.
PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/", "/docs.json"})
#: Path prefixes answered without a key: Swagger UI's static files (shipped by BentoML).
PUBLIC_PREFIXES = ("/static_content/",)

_UNAUTHORIZED = json.dumps(
    {
        "error": "unauthorized",
        "message": "missing or invalid API key: send 'Authorization: Bearer <key>' or "
        "'X-API-Key: <key>'",
        "errors": [],
    }
).encode()


def _digest(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()


def presented_keys(headers: Sequence[tuple[bytes, bytes]]) -> list[bytes]:
    """Candidate keys from ``Authorization: Bearer`` and ``X-API-Key`` headers."""
    found = []
    for name, value in headers:
        if name == b"x-api-key":
            found.append(value.strip())
        elif name == b"authorization":
            scheme, _, credentials = value.strip().partition(b" ")
            if scheme.lower() == b"bearer":
                found.append(credentials.strip())
    return [key for key in found if key]


def is_public(path: str) -> bool:
    """Whether ``path`` is answered without a key (a prefix never matches ``..``)."""
    if path in PUBLIC_PATHS:
        return True
    return path.startswith(PUBLIC_PREFIXES) and ".." not in path


class APIKeyMiddleware:
    """Answer 401 to every request without a valid API key, except :data:`PUBLIC_PATHS`.

    ``keys=None`` takes the keys from the worker's settings (:mod:`serving.settings`) when
    the server builds its app, so keys never pass through BentoML's configuration or logs.
    """

    def __init__(
        self, app: ASGIApp, keys: Sequence[str] | None = None, insecure: bool | None = None
    ) -> None:
        self.app = app
        if keys is None:
            keys, env_insecure = service_settings().authentication()
            insecure = env_insecure if insecure is None else insecure
        self._digests = tuple(_digest(key.encode()) for key in keys)
        self._open = not self._digests and bool(insecure)
        if not self._digests and not self._open:
            raise ConfigError("APIKeyMiddleware needs at least one key, or insecure=True")

    def allows(self, headers: Sequence[tuple[bytes, bytes]]) -> bool:
        """Whether a request with these headers may reach a non-public path: the same
        decision :meth:`__call__` makes (used by :mod:`serving.fast_lookup`)."""
        return self._open or self.is_valid(headers)

    def is_valid(self, headers: Sequence[tuple[bytes, bytes]]) -> bool:
        valid = False
        for candidate in presented_keys(headers):
            digest = _digest(candidate)
            for expected in self._digests:
                # No short-circuit: every configured key is compared every time.
                valid |= hmac.compare_digest(digest, expected)
        return valid

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self._open:
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if is_public(path) or self.allows(scope.get("headers", ())):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(_UNAUTHORIZED)).encode()),
                    (b"www-authenticate", b'Bearer realm="winback"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _UNAUTHORIZED})
