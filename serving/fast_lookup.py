"""The lean path of ``POST /score`` lookups by id: answered before BentoML's request stack.

Why: a single-id lookup is a dict access, yet through BentoML it cost about 1.4 ms of CPU
per request (issue 18's profile: OpenTelemetry tracing 29% of the worker's time, BentoML's
own code 17%, h11 + uvicorn 19%, winback 2.3%; for 1,000 ids pydantic's serialisation was
75%). The service reached about a fifth of the requests/s of a no-op Starlette route.

What it does: :class:`FastLookupApp` is the outermost ASGI app of the service's workers
(:func:`serve_lookups_first` makes BentoML's ``to_asgi`` return it, wrapped around BentoML's
own app, which keeps everything else: routing, validation, metrics, tracing, docs). A
``POST /score`` with a valid key whose body is exactly ``{"customers": [{"customer_id":
"<text>"}, ...]}`` (1 to :data:`serving.schemas.MAX_CUSTOMERS_PER_REQUEST` items, nothing
else) is answered from :class:`LookupTable`: every snapshot customer's JSON, serialised
once at start-up by the same pydantic models and serialiser BentoML uses, so the bytes are
those of the full path. An id not in the snapshot gets the service's own
``WinbackService._lookup`` error, serialised the same way.

Everything else goes to BentoML's app with the body replayed, so its answer is exactly
today's: a missing or invalid key (401 from :mod:`serving.auth`), transactions or
``as_of`` in the body, unknown fields, numbers as ids, ids with surrounding spaces or
non-ASCII characters that are not snapshot ids (pydantic strips and coerces them), a body
that is not a JSON object, over :data:`serving.schemas.MAX_BODY_BYTES` (413) or with more
customers than allowed.

What the lean answers skip, on purpose: OpenTelemetry spans (a sample rate of 0 for these
requests), BentoML's request metrics (``/metrics`` counts the requests that take the full
path; the lean ones are counted there in ``winback_score_requests_total{path="lean"}``,
and answered with ``X-Winback-Path: lookup``), and the in-flight limit of
:mod:`serving.connections` (a lean answer is computed in one step of the event loop and
cannot queue behind others). The connection guards (header timeout, connection limit)
work below the app and still apply.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from serving.auth import APIKeyMiddleware, ASGIApp, Receive, Scope, Send
from serving.http import replaying
from serving.schemas import MAX_BODY_BYTES, MAX_CUSTOMERS_PER_REQUEST, MAX_ID_LENGTH, ScoreResponse

LOOKUP_PATH = "/score"
#: The ``Server`` header BentoML gives every API answer, kept so that clients see no change.
SERVER_HEADER = b"BentoML Service/winback"
_JSON_WHITESPACE = b" \t\r\n"
#: Requests this worker answered on the lean path, and sent on to BentoML's (by reason).
LOOKUP_COUNTS: dict[str, int] = {"lean": 0, "full": 0}


def serialise(model: BaseModel) -> bytes:
    """A model's JSON exactly as BentoML's JSON serde writes it (``model_dump_json``)."""
    return model.model_dump_json().encode("utf-8")


def is_plain_id(customer_id: str) -> bool:
    """Whether pydantic's ``CustomerId`` would keep this text unchanged: printable ASCII,
    no surrounding whitespace, 1 to :data:`MAX_ID_LENGTH` characters. Other texts (which it
    strips, or refuses) take the full path, so its answer decides."""
    return (
        0 < len(customer_id) <= MAX_ID_LENGTH
        and customer_id.isascii()
        and customer_id.isprintable()
        and customer_id.strip() == customer_id
    )


@dataclass
class LookupTable:
    """The snapshot's answers as JSON bytes, built once per worker at start-up."""

    #: ``{"model_version":"<v>","results":[`` as the response model writes it.
    prefix: bytes
    suffix: bytes
    #: Customer id -> that customer's result, for the ids a request may name unchanged.
    by_id: dict[str, bytes]
    #: The full path's result for an id not in ``by_id`` (the service's own ``_lookup``).
    unknown: Callable[[str], BaseModel]

    @classmethod
    def build(
        cls,
        model_version: str,
        results: Iterable[tuple[str, BaseModel]],
        unknown: Callable[[str], BaseModel],
    ) -> LookupTable:
        empty = serialise(ScoreResponse(model_version=model_version, results=[]))
        # Cut the empty document at its results list: ...,"results":[ | ]}
        cut = empty.rindex(b"[]") + 1
        by_id = {cid: serialise(result) for cid, result in results if is_plain_id_key(cid)}
        return cls(prefix=empty[:cut], suffix=empty[cut:], by_id=by_id, unknown=unknown)

    def answer(self, ids: list[str]) -> bytes | None:
        """The response body for these ids, or None if the full path must answer."""
        by_id = self.by_id
        parts = []
        for customer_id in ids:
            part = by_id.get(customer_id)
            if part is None:
                if not is_plain_id(customer_id):
                    return None
                part = serialise(self.unknown(customer_id))
            parts.append(part)
        return self.prefix + b",".join(parts) + self.suffix


def is_plain_id_key(customer_id: str) -> bool:
    """Whether a snapshot id can be named in a request as it is (pydantic strips
    surrounding whitespace and limits the length; such ids take the full path)."""
    return 0 < len(customer_id) <= MAX_ID_LENGTH and customer_id.strip() == customer_id


def lookup_ids(body: bytes) -> list[str] | None:
    """The ids of a lookups-only body, or None for anything else (the full path answers).

    Only a JSON object is read (a byte-order mark or UTF-16 text is left to pydantic, which
    refuses what :func:`json.loads` would decode). Exactly one field, ``customers``, with
    1 to :data:`MAX_CUSTOMERS_PER_REQUEST` objects of exactly one text field,
    ``customer_id``."""
    if body.lstrip(_JSON_WHITESPACE)[:1] != b"{":
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if type(data) is not dict or len(data) != 1:
        return None
    customers = data.get("customers")
    if type(customers) is not list or not 0 < len(customers) <= MAX_CUSTOMERS_PER_REQUEST:
        return None
    ids = []
    for customer in customers:
        if type(customer) is not dict or len(customer) != 1:
            return None
        customer_id = customer.get("customer_id")
        if type(customer_id) is not str:
            return None
        ids.append(customer_id)
    return ids


# The worker's table, installed by the service once its snapshot is loaded.
_table: list[LookupTable] = []


def install(table: LookupTable | None) -> None:
    """Serve lookups from ``table`` in this process (None: every request takes the full
    path, e.g. a service without a snapshot)."""
    _table.clear()
    if table is not None:
        _table.append(table)


def installed() -> LookupTable | None:
    return _table[0] if _table else None


def lookup_metrics() -> str:
    """This worker's :data:`LOOKUP_COUNTS` in Prometheus' text format, for ``/metrics``."""
    name = "winback_score_requests_total"
    lines = [
        f"# HELP {name} POST /score requests of this worker by path: 'lean' answered by "
        "serving.fast_lookup, 'full' passed on to BentoML.",
        f"# TYPE {name} counter",
        *(f'{name}{{path="{path}"}} {count}' for path, count in LOOKUP_COUNTS.items()),
    ]
    return "\n".join(lines) + "\n"


async def _read_body(receive: Receive) -> tuple[bytes, bool] | None:
    """The request body read so far, and whether that is all of it: reading stops past
    :data:`MAX_BODY_BYTES` (the full path then reads the rest and answers 413 as it always
    has). None if the client went away."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > MAX_BODY_BYTES:
            return b"".join(chunks), False


def _declared_too_large(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-length":
            return not value.strip().isdigit() or int(value) > MAX_BODY_BYTES
    return False


class FastLookupApp:
    """The lean path in front of BentoML's app (see the module docstring)."""

    def __init__(self, app: ASGIApp, keys: APIKeyMiddleware | None = None) -> None:
        self.app = app
        # The same keys and rules as the service's own authentication middleware.
        self.keys = keys or APIKeyMiddleware(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        table = installed()
        if (
            table is None
            or scope["type"] != "http"
            or scope["path"] != LOOKUP_PATH
            or scope["method"] != "POST"
        ):
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        if not self.keys.allows(headers) or _declared_too_large(headers):
            LOOKUP_COUNTS["full"] += 1
            await self.app(scope, receive, send)
            return
        read = await _read_body(receive)
        if read is None:
            return
        body, complete = read
        ids = lookup_ids(body) if complete and len(body) <= MAX_BODY_BYTES else None
        answer = table.answer(ids) if ids is not None else None
        if answer is None:
            LOOKUP_COUNTS["full"] += 1
            await self.app(scope, replaying(body, receive, more=not complete), send)
            return
        LOOKUP_COUNTS["lean"] += 1
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(answer)).encode()),
                    (b"content-type", b"application/json"),
                    (b"server", SERVER_HEADER),
                    (b"x-bentoml-request-id", b"%016x" % random.getrandbits(64)),
                    (b"x-winback-path", b"lookup"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})


def serve_lookups_first(service: Any) -> None:
    """Make ``service`` (a ``bentoml.Service``) build its workers' ASGI app with
    :class:`FastLookupApp` outermost.

    BentoML 1.4 has no hook in front of its middleware stack (``add_asgi_middleware``
    goes inside tracing and metrics, mounted apps behind its own ``/score`` route), and
    the service object is a slotted attrs class: its class is swapped for a subclass
    that adds nothing but this ``to_asgi``."""
    base = type(service)
    if getattr(base, "_winback_lookups_first", False):
        return

    class LookupsFirst(base):  # type: ignore[misc, valid-type]
        __slots__ = ()
        _winback_lookups_first = True

        def to_asgi(self, is_main: bool = True) -> ASGIApp:
            return FastLookupApp(super().to_asgi(is_main))

    LookupsFirst.__name__ = LookupsFirst.__qualname__ = base.__name__
    service.__class__ = LookupsFirst
