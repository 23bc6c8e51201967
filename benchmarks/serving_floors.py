"""The two floors :mod:`benchmarks.serving_wrk` sets the service against: servers that do
no work at all on ``POST /score``.

* :data:`starlette_app`: a Starlette route under uvicorn (``uvicorn
  benchmarks.serving_floors:starlette_app``): what the ASGI stack itself costs.
* :class:`NoopService`: a BentoML 1.4 service with one ``@bentoml.api`` taking the same
  body (``bentoml serve benchmarks.serving_floors:NoopService``): what BentoML's request
  path costs (tracing, metrics, routing, pydantic), with access logs off as in the service.

Both read the body and answer a constant JSON object, so the load generator sends the
same requests to them as to the service.
"""

from __future__ import annotations

import os

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

import bentoml  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

#: Worker processes of the BentoML floor (the benchmark sets it to the service's count).
WORKERS_ENV = "WINBACK_FLOOR_WORKERS"
_ANSWER = b'{"ok":true}'


async def _score(request: Request) -> Response:
    await request.body()
    return Response(_ANSWER, media_type="application/json")


starlette_app = Starlette(routes=[Route("/score", _score, methods=["POST"])])


@bentoml.service(
    name="noop",
    workers=int(os.environ.get(WORKERS_ENV, "1")),
    logging={"access": {"enabled": False}},
)
class NoopService:
    """Does nothing with the customers it is sent."""

    @bentoml.api
    async def score(self, customers: list[dict[str, str]]) -> dict[str, bool]:
        return {"ok": True}
