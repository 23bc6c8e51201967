"""Slow and excess clients are shed (issue 15, defect 6).

On the real server: a connection that never completes its request headers is closed after
the header timeout, while complete requests are served. In process: the in-flight limit
answers 503 with Retry-After instead of queueing, never for health probes; a connection
past the connection limit gets 503 and is closed.
"""

from __future__ import annotations

import asyncio
import socket
import time
from types import SimpleNamespace
from urllib.parse import urlparse

import httpx
from serving_support import HEADER_TIMEOUT_SECONDS

from serving.connections import LoadSheddingMiddleware, _guarded, _installed


def _connect(server) -> socket.socket:
    url = urlparse(server.base_url)
    return socket.create_connection((url.hostname, url.port), timeout=HEADER_TIMEOUT_SECONDS + 8)


def test_a_partial_header_is_closed_after_the_header_timeout(server) -> None:
    slow = _connect(server)
    slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: winback\r\n")  # never finishes
    started = time.monotonic()
    assert slow.recv(1024) == b""  # the server closed the connection
    waited = time.monotonic() - started
    assert HEADER_TIMEOUT_SECONDS - 0.5 <= waited < HEADER_TIMEOUT_SECONDS + 6
    slow.close()


def test_slow_clients_do_not_starve_others(server) -> None:
    slow = [_connect(server) for _ in range(50)]
    for connection in slow:
        connection.sendall(b"POST /score HTTP/1.1\r\nHost: winback\r\nContent-")
    try:
        answered = httpx.get(f"{server.base_url}/readyz", timeout=10)
        assert answered.status_code == 200
    finally:
        for connection in slow:
            connection.close()


def test_a_complete_request_on_a_fresh_connection_is_served(server) -> None:
    fresh = _connect(server)
    time.sleep(HEADER_TIMEOUT_SECONDS / 4)
    fresh.sendall(b"GET /healthz HTTP/1.1\r\nHost: winback\r\nConnection: close\r\n\r\n")
    assert fresh.recv(64).startswith(b"HTTP/1.1 200")
    fresh.close()


def _app(release: asyncio.Event):
    async def app(scope, receive, send):
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


async def _call(middleware, path: str) -> dict:
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    await middleware({"type": "http", "path": path}, receive, send)
    start = sent[0]
    return {"status": start["status"], "headers": dict(start["headers"]), "body": sent[1]["body"]}


def test_requests_past_the_in_flight_limit_get_503_with_retry_after() -> None:
    async def scenario():
        release = asyncio.Event()
        middleware = LoadSheddingMiddleware(_app(release), max_in_flight=2)
        busy = [asyncio.create_task(_call(middleware, "/score")) for _ in range(2)]
        await asyncio.sleep(0)
        shed = await _call(middleware, "/rank")
        probe = asyncio.create_task(_call(middleware, "/readyz"))
        await asyncio.sleep(0)
        release.set()
        served = await asyncio.gather(*busy, probe)
        after = await _call(middleware, "/score")
        return shed, served, after, middleware.in_flight

    shed, served, after, in_flight = asyncio.run(scenario())
    assert shed["status"] == 503 and shed["headers"][b"retry-after"] == b"1"
    assert b'"error": "overloaded"' in shed["body"]
    assert [r["status"] for r in served] == [200, 200, 200]  # the probe is never shed
    assert after["status"] == 200 and in_flight == 0


def test_a_connection_past_the_limit_gets_503_and_is_closed(monkeypatch) -> None:
    monkeypatch.setitem(_installed, "max_connections", 2)
    monkeypatch.setitem(_installed, "header_timeout", 5.0)
    written: list[bytes] = []
    transport = SimpleNamespace(write=written.append, close=lambda: written.append(b"<closed>"))

    def original(self, transport):
        self.connections.add(self)

    guarded = _guarded(original)
    timers: list[float] = []
    loop = SimpleNamespace(call_later=lambda delay, *args: timers.append(delay) or "timer")
    connections: set = {object(), object()}

    class Protocol:  # hashable, as uvicorn's protocol objects are
        pass

    protocol = Protocol()
    protocol.connections, protocol.loop = connections, loop
    guarded(protocol, transport)  # the third connection
    assert written[0].startswith(b"HTTP/1.1 503") and b"Retry-After: 1" in written[0]
    assert written[-1] == b"<closed>" and timers == []
    connections.clear()
    written.clear()
    guarded(protocol, transport)  # under the limit: served, with the header timer armed
    assert written == [] and timers == [5.0]
