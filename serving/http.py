"""HTTP details around the BentoML app: body size limit and one shape for every 4xx body.

BentoML validates a request against the pydantic models before our code runs and answers
400 with pydantic's error list (``loc`` tuples). :class:`RequestGuardMiddleware` rewrites
that body into the service's :class:`serving.schemas.Problem` shape, with field paths such
as ``customers[3].transactions[0].amount``, so a client handles one error format. It also
refuses bodies over :data:`serving.schemas.MAX_BODY_BYTES` with 413 before they are read
into memory by the parser, and reads every body as JSON whatever its declared
``Content-Type`` (``curl -d`` declares a form).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from serving.auth import ASGIApp, Message, Receive, Scope, Send
from serving.schemas import MAX_BODY_BYTES

#: Paths of the BentoML APIs whose 400 bodies are rewritten.
API_PATHS = frozenset({"/score", "/rank"})


def field_path(loc: Sequence[Any]) -> str:
    """``("customers", 3, "amount")`` -> ``customers[3].amount``; ``()`` -> ``body``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return path or "body"


def _reason(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def problem_body(error: str, message: str, errors: list[dict[str, str]]) -> bytes:
    return json.dumps({"error": error, "message": message, "errors": errors}).encode()


def rewrite_validation_body(body: bytes) -> bytes | None:
    """The Problem body for BentoML's pydantic 400 body, or None if it is not one."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    detail = data.get("detail") if isinstance(data, dict) else None
    if not isinstance(detail, list) or not all(isinstance(d, dict) for d in detail):
        return None
    errors = [
        {"field": field_path(d.get("loc") or ()), "reason": _reason(str(d.get("msg", "")))}
        for d in detail
    ]
    if any(d.get("type") == "json_invalid" for d in detail):
        message = "the body is not valid JSON"
    else:
        count = len(errors)
        message = f"{count} invalid field{'s' if count != 1 else ''}; see errors"
    return problem_body("invalid_request", message, errors)


async def _send_json(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def replaying(body: bytes, receive: Receive, more: bool) -> Receive:
    """A ``receive`` that gives the already-read ``body`` first (``more``: the client has
    more to send), then the client's own messages: a middleware that had to read the body
    passes the request on as if it had not."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": more}

    return replay


class RequestGuardMiddleware:
    """413 for oversized bodies, JSON bodies, and Problem-shaped 400s on the API paths."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") not in API_PATHS:
            await self.app(scope, receive, send)
            return
        too_large = problem_body(
            "body_too_large",
            f"request body over {self.max_body_bytes:,} bytes; send fewer customers or "
            "transactions per request",
            [],
        )
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.strip().isdigit():
                if int(value) > self.max_body_bytes:
                    await _send_json(send, 413, too_large)
                    return
        # The APIs speak JSON only. BentoML picks its parser by Content-Type, so a client
        # that omits it (curl -d sends a form type) would see its JSON parsed as a form.
        headers = [(k, v) for k, v in scope.get("headers", ()) if k != b"content-type"]
        scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        # Read the body here (BentoML reads it whole anyway) to enforce the limit on
        # chunked uploads too, then replay it to the app.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await _send_json(send, 413, too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replay = replaying(b"".join(chunks), receive, more=False)

        start: Message | None = None
        held: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] == 400:
                start = message
                return
            if start is None:
                await send(message)
                return
            held.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            original = b"".join(held)
            new_body = rewrite_validation_body(original) or original
            headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
            headers.append((b"content-length", str(len(new_body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": new_body})

        await self.app(scope, replay, rewrite)


class ValidationLogFilter(logging.Filter):
    """Keep customer data out of the logs.

    BentoML logs a client's invalid request as an error with the pydantic traceback, whose
    text quotes the offending input values (customer ids, amounts). This filter turns such
    a record into one warning line with the error count and types only.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or type(exc).__name__ != "ValidationError":
            return True
        try:
            types = sorted({str(e.get("type")) for e in exc.errors()})  # type: ignore[attr-defined]
            count = exc.error_count()  # type: ignore[attr-defined]
        except Exception:  # pragma: no cover - not a pydantic error after all
            return True
        # The original message is "Exception on <path> [<method>]" with those two args.
        prefix = "invalid request on %s [%s]: " if len(record.args or ()) == 2 else ""
        record.msg = prefix + f"{count} validation error(s), types {', '.join(types)}"
        record.exc_info = None
        record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
