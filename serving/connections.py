"""Shedding bad and excess clients: a header timeout, a connection limit, 503 when full.

Why: uvicorn (which BentoML runs) arms its keep-alive timer only *after* a response, so a
connection that sends half a request header is held open for ever; an audit held 3,000
such sockets for 30 s against an open-file limit of 20,000. And under overload requests
queue without bound (p99 1 s at 200 connections) where a CRM would rather be told to come
back. Three guards, each a setting (:mod:`serving.settings`):

* **header timeout** (``WINBACK_HEADER_TIMEOUT``, default 10 s): a new connection must
  complete its first request's headers within it, or it is closed. It reuses uvicorn's own
  keep-alive timer, armed at connection time and cancelled by uvicorn itself the moment a
  complete request arrives (:func:`install_connection_guards` wraps ``connection_made``
  of uvicorn's HTTP protocols; nothing else of uvicorn changes).
* **connection limit** (``WINBACK_MAX_CONNECTIONS``, default 1,000 per worker): a
  connection beyond it gets ``503 Service Unavailable`` with ``Retry-After`` and is
  closed at once.
* **in-flight limit** (``WINBACK_MAX_IN_FLIGHT``, default 64 per worker):
  :class:`LoadSheddingMiddleware` answers ``503`` with ``Retry-After: 1`` and a problem
  body when that many API requests are already being served, instead of queueing them.
  Health probes, ``/metrics`` and the docs are never shed.
"""

from __future__ import annotations

import json
from typing import Any

from serving.auth import ASGIApp, Receive, Scope, Send

#: Paths that are never shed: probes must answer under load, or an orchestrator restarts
#: a worker that is merely busy.
NEVER_SHED = frozenset({"/healthz", "/livez", "/readyz", "/metrics", "/", "/docs.json"})
RETRY_AFTER_SECONDS = 1
_REFUSED_BODY = b'{"error":"overloaded","message":"too many connections; retry later","errors":[]}'
_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\n"
    b"Connection: close\r\nContent-Length: "
    + str(len(_REFUSED_BODY)).encode()
    + b"\r\n\r\n"
    + _REFUSED_BODY
)
_installed: dict[str, Any] = {}


def install_connection_guards(header_timeout: float, max_connections: int) -> None:
    """Wrap uvicorn's h11 protocol (once per process): the connection limit and the
    header timeout. (httptools, uvicorn's optional faster parser, is not installed here;
    with it the guards would not apply.)"""
    _installed.update(header_timeout=float(header_timeout), max_connections=int(max_connections))
    from uvicorn.protocols.http.h11_impl import H11Protocol

    if getattr(H11Protocol.connection_made, "_winback_guarded", False):
        return
    H11Protocol.connection_made = _guarded(H11Protocol.connection_made)
    H11Protocol.data_received = _watching(H11Protocol.data_received)
    H11Protocol.connection_lost = _disarming(H11Protocol.connection_lost)


def _incomplete(protocol: Any) -> bool:
    """True while the connection has not sent a complete request (h11's client state)."""
    import h11

    return protocol.conn.their_state is h11.IDLE


def _arm(protocol: Any) -> None:
    if getattr(protocol, "_winback_header_timer", None) is None:
        protocol._winback_header_timer = protocol.loop.call_later(
            _installed["header_timeout"], _expire, protocol
        )


def _disarm(protocol: Any) -> None:
    timer = getattr(protocol, "_winback_header_timer", None)
    if timer is not None:
        timer.cancel()
        protocol._winback_header_timer = None


def _expire(protocol: Any) -> None:
    """The header timeout: close a connection whose request is still incomplete."""
    protocol._winback_header_timer = None
    if _incomplete(protocol) and not protocol.transport.is_closing():
        protocol.transport.close()


def _guarded(original: Any) -> Any:
    def connection_made(self: Any, transport: Any) -> None:
        original(self, transport)
        if len(self.connections) > _installed["max_connections"]:
            transport.write(_REFUSED)
            transport.close()
            return
        _arm(self)  # the first request's headers must arrive within the timeout

    connection_made._winback_guarded = True  # type: ignore[attr-defined]
    return connection_made


def _watching(original: Any) -> Any:
    def data_received(self: Any, data: bytes) -> None:
        original(self, data)
        if self.transport.is_closing():
            return
        if _incomplete(self):
            _arm(self)  # part of a request: the rest must follow within the timeout
        else:
            _disarm(self)  # a complete request: uvicorn's own timers take over

    return data_received


def _disarming(original: Any) -> Any:
    def connection_lost(self: Any, exc: Exception | None) -> None:
        _disarm(self)
        original(self, exc)

    return connection_lost


class LoadSheddingMiddleware:
    """503 with ``Retry-After`` once ``max_in_flight`` API requests are being served."""

    def __init__(self, app: ASGIApp, max_in_flight: int = 64) -> None:
        self.app = app
        self.max_in_flight = int(max_in_flight)
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in NEVER_SHED:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            await _overloaded(send, self.max_in_flight)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


async def _overloaded(send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "error": "overloaded",
            "message": f"the service is serving {limit} requests already; retry in "
            f"{RETRY_AFTER_SECONDS} s",
            "errors": [],
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
