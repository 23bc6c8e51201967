"""The API's documentation: the OpenAPI schema at ``/docs.json`` and its page at ``/``.

BentoML 1.4 generates the schema from the ``@bentoml.api`` signatures and the mounted
FastAPI app, but offers no hook to change it: its title is the service name, its version
``None`` outside a Bento, its description vendor badges, and it declares no security
scheme, so Swagger UI has no Authorize button. :class:`DocsMiddleware` asks BentoML for
its schema once, rewrites it with :func:`customise_spec` (title, package version, a
description of authentication and errors, tags, bearer and ``X-API-Key`` schemes per
operation, request examples, the service's own error shape) and answers ``/docs.json``
with that; ``/`` gets :data:`INDEX_HTML`, a Swagger UI page built from the files BentoML
ships (no tag manager, no network access).

The two documents describe the API and hold no customer data, so they are public
(:data:`serving.auth.PUBLIC_PATHS`); every data endpoint still needs a key, which the
page's Authorize button sends.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from pydantic import BaseModel

from serving.auth import ASGIApp, Message, Receive, Scope, Send
from serving.openapi_models import (
    CROSS_FIELD_RULES,
    openapi_schema,
    referenced_components,
    to_openapi_30,
)
from serving.rank_schemas import RankResponse
from serving.schemas import MAX_BODY_BYTES, MAX_RANK_LIMIT, Problem, ScoreResponse

#: The documentation paths this module answers (public: see serving.auth).
DOCS_PATHS = frozenset({"/", "/docs.json"})
#: Swagger UI's scripts and styles, shipped with BentoML and served by it.
STATIC_PREFIX = "/static_content/"

BEARER = "bearer"
API_KEY_HEADER = "apiKeyHeader"
#: Either scheme authenticates a request (OpenAPI: alternatives in one list).
KEY_REQUIRED: list[dict[str, list[str]]] = [{BEARER: []}, {API_KEY_HEADER: []}]

SECURITY_SCHEMES = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key of WINBACK_API_KEYS, sent as `Authorization: Bearer <key>`.",
    },
    API_KEY_HEADER: {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The same key, sent as `X-API-Key: <key>`.",
    },
}

TAGS = [
    {"name": "scoring", "description": "Scores per customer, by id or from transactions."},
    {"name": "win-back list", "description": "Whom to contact within a budget, page by page."},
    {"name": "model", "description": "Which model and snapshot the service runs."},
    {"name": "infrastructure", "description": "Health probes (no key) and metrics (key)."},
]

#: path -> (tag, summary, whether a key is needed).
OPERATIONS: dict[str, tuple[str, str, bool]] = {
    "/score": ("scoring", "Score customers by id or from their transactions", True),
    "/rank": ("win-back list", "The win-back list for a budget, with suppressions", True),
    "/metadata": ("model", "The model version and snapshot being served", True),
    "/metrics": ("infrastructure", "Prometheus metrics", True),
    "/healthz": ("infrastructure", "Alive (deprecated name of /livez)", False),
    "/livez": ("infrastructure", "Alive", False),
    "/readyz": ("infrastructure", "Ready: the model is loaded", False),
}

DESCRIPTION = f"""Scores customers for CRM systems: who is going to sleep, what they are
worth, and whom to wake within a budget.

**Authentication.** Every endpoint but the health probes and this documentation needs an
API key: `Authorization: Bearer <key>` or `X-API-Key: <key>`. Click **Authorize** and
paste a key to try the endpoints from this page.

**Errors.** Every 4xx answer has one shape (`Problem`): a short `error` code, a `message`,
and one entry per offending field in `errors`, e.g.
`{{"field": "customers[3].transactions[0].amount", "reason": "Input should be a valid
number"}}`. Unknown fields are refused, so a typo never passes silently. Bodies over
{MAX_BODY_BYTES // (1024 * 1024)} MiB get 413.

**Ids** are text: `2` and `"00002"` are different customers. `/metadata` reports the
snapshot, its as-of date and the limits per request.

**The win-back list** (`/rank`) is computed once per budget, cost overrides and
suppressions, and kept for the life of the snapshot: page through it with `limit` (at most
{MAX_RANK_LIMIT:,}) and `offset`; `next_offset` is null on the last page.
"""

SCORE_EXAMPLES = {
    "by_id": {
        "summary": "Look customers up in the latest snapshot",
        "value": {"customers": [{"customer_id": "00002"}, {"customer_id": "00042"}]},
    },
    "on_the_fly": {
        "summary": "Score a customer from their transactions",
        "value": {
            "as_of": "1997-09-30",
            "customers": [
                {
                    "customer_id": "crm-123",
                    "transactions": [
                        {"timestamp": "1997-01-12", "amount": 29.97},
                        {"timestamp": "1997-03-02", "amount": 15.49, "product": "cd-4711"},
                    ],
                }
            ],
        },
    },
}

RANK_EXAMPLES = {
    "first_page": {
        "summary": "First page of the list for a budget",
        "value": {"budget": 200, "limit": 50, "offset": 0},
    },
    "crm": {
        "summary": "Next page, with cost overrides and the CRM's suppressions",
        "value": {
            "budget": 200,
            "limit": 50,
            "offset": 50,
            "channels": {"email": 0.03},
            "exclude": ["00017", "00342"],
            "no_consent": {"phone": ["00002"], "sms": ["00002", "00007"]},
            "frequency_cap": {
                "days": 30,
                "contacts": [{"customer_id": "00005", "contacted_at": "1998-06-20"}],
            },
        },
    },
}

PROBLEM_EXAMPLES = {
    400: {
        "error": "invalid_request",
        "message": "1 invalid field; see errors",
        "errors": [{"field": "no_consent.fax", "reason": "unknown channel; known: email, sms"}],
    },
    401: {
        "error": "unauthorized",
        "message": "missing or invalid API key: send 'Authorization: Bearer <key>' or "
        "'X-API-Key: <key>'",
        "errors": [],
    },
    404: {
        "error": "no_snapshot",
        "message": "the service runs without a scored snapshot; start it with --scores",
        "errors": [],
    },
    413: {
        "error": "body_too_large",
        "message": f"request body over {MAX_BODY_BYTES:,} bytes; send fewer customers or "
        "transactions per request",
        "errors": [],
    },
}
PROBLEM_DESCRIPTIONS = {
    400: "Invalid request: every offending field with the reason.",
    401: "Missing or invalid API key.",
    404: "The service runs without a scored snapshot.",
    413: "Request body too large.",
}
#: Path -> (request model, response model) of an operation whose schemas come from the
#: models themselves (see serving.openapi_models).
OperationModels = Mapping[str, tuple[type[BaseModel], type[BaseModel]]]


def package_version() -> str:
    """The installed winback version (pyproject's), as the schema's ``info.version``."""
    try:
        return metadata.version("winback")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare copy
        return "unknown"


def operation_models(service: Any) -> dict[str, tuple[type[BaseModel], type[BaseModel]]]:
    """The request model BentoML built from each POST endpoint's signature, and the
    response model it returns, of the service class ``service``."""
    return {
        "/score": (service.apis["score"].input_spec, ScoreResponse),
        "/rank": (service.apis["rank"].input_spec, RankResponse),
    }


def _problem_response(status: int) -> dict[str, Any]:
    return {
        "description": PROBLEM_DESCRIPTIONS[status],
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/Problem"},
                "example": PROBLEM_EXAMPLES[status],
            }
        },
    }


def _problem_components() -> dict[str, Any]:
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})
    return {"Problem": schema, **definitions}


def _describe_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    """Tag, summary, security, error responses and examples of one operation, in place."""
    tag, summary, needs_key = OPERATIONS[path]
    operation["tags"] = [tag]
    operation["summary"] = summary
    operation["operationId"] = "winback_" + path.strip("/")
    operation["security"] = KEY_REQUIRED if needs_key else []
    # BentoML keys responses by int status, JSON by text: one spelling, or keys repeat.
    responses = {str(status): value for status, value in operation.get("responses", {}).items()}
    operation["responses"] = responses
    if needs_key:
        responses["401"] = _problem_response(401)
    if method != "post":
        return
    for status in ("400", "404"):
        responses.pop(status, None)
    responses["400"] = _problem_response(400)
    responses["413"] = _problem_response(413)
    if path == "/rank":
        responses["404"] = _problem_response(404)
    examples = SCORE_EXAMPLES if path == "/score" else RANK_EXAMPLES
    media = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if media is not None:
        media["examples"] = copy.deepcopy(examples)


def _use_model_schemas(spec: dict[str, Any], models: OperationModels) -> None:
    """Request and response schemas of each POST operation in ``models`` from its pydantic
    models, in place: BentoML's flattened copies drop every ``null`` the service accepts
    or answers. The request body is required, and the rules no schema can state are listed
    in the description and under ``x-winback-rules``."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for path, (request_model, response_model) in models.items():
        operation = spec.get("paths", {}).get(path, {}).get("post")
        if operation is None:
            continue
        name = path.strip("/").capitalize()
        request, request_parts = openapi_schema(request_model, f"{name}Request")
        response, response_parts = openapi_schema(response_model, f"{name}Response")
        schemas.update({**request_parts, **response_parts})
        schemas[f"{name}Request"] = request
        schemas[f"{name}Response"] = response
        body = operation.setdefault("requestBody", {})
        body["required"] = True
        media = body.setdefault("content", {}).setdefault("application/json", {})
        media["schema"] = {"$ref": f"#/components/schemas/{name}Request"}
        success = operation.setdefault("responses", {}).setdefault("200", {})
        success.setdefault("description", "Successful Response")
        success["content"] = {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{name}Response"}}
        }
        rules = CROSS_FIELD_RULES.get(path, [])
        if rules:
            operation["x-winback-rules"] = list(rules)
            listed = "\n".join(f"- {rule}" for rule in rules)
            operation["description"] = (
                f"{operation.get('description', '').strip()}\n\n"
                f"**Rules beyond the schema** (a 400 names the field):\n{listed}"
            )


def _as_openapi_30(spec: dict[str, Any]) -> None:
    """Every schema in OpenAPI 3.0 form, in place: the mounted FastAPI app (``/metadata``)
    writes ``null`` branches as JSON Schema does, which 3.0 readers do not know."""
    schemas = spec.get("components", {}).get("schemas", {})
    for name, schema in schemas.items():
        schemas[name] = to_openapi_30(schema)
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            bodies = [operation.get("requestBody", {})] + list(
                operation.get("responses", {}).values()
            )
            for body in bodies:
                for media in body.get("content", {}).values():
                    if "schema" in media:
                        media["schema"] = to_openapi_30(media["schema"])
            for parameter in operation.get("parameters", []):
                if "schema" in parameter:
                    parameter["schema"] = to_openapi_30(parameter["schema"])


def _drop_unused_components(spec: dict[str, Any]) -> None:
    """Keep only the components the paths reach: BentoML's own request and response
    copies are replaced by :func:`_use_model_schemas`."""
    schemas = spec.get("components", {}).get("schemas", {})
    reached: set[str] = set()
    frontier = referenced_components(spec.get("paths", {}))
    while frontier:
        name = frontier.pop()
        if name in reached or name not in schemas:
            continue
        reached.add(name)
        frontier |= referenced_components(schemas[name]) - reached
    for name in list(schemas):
        if name not in reached:
            del schemas[name]


def customise_spec(
    spec: dict[str, Any], version: str, models: OperationModels | None = None
) -> dict[str, Any]:
    """BentoML's generated schema as winback documents it (a new dict; ``spec`` is kept).

    Every path of :data:`OPERATIONS` is tagged, summarised and given its security; paths
    BentoML adds that winback does not know keep their description but need a key. The
    operations in ``models`` get their schemas from those models.
    """
    spec = copy.deepcopy(spec)
    if models:
        _use_model_schemas(spec, models)
    spec["info"] = {"title": "winback", "version": version, "description": DESCRIPTION}
    spec["tags"] = copy.deepcopy(TAGS)
    components = spec.setdefault("components", {})
    components["securitySchemes"] = copy.deepcopy(SECURITY_SCHEMES)
    components.setdefault("schemas", {}).update(_problem_components())
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if path in OPERATIONS:
                _describe_operation(path, method, operation)
            else:
                operation["security"] = KEY_REQUIRED
    _drop_unused_components(spec)
    _as_openapi_30(spec)
    return spec


INDEX_HTML = b"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>winback API</title>
    <link rel="stylesheet" type="text/css" href="./static_content/swagger-ui.css" />
    <link rel="icon" type="image/png" href="./static_content/favicon-light-32x32.png" />
    <style>body { margin: 0; background: #fafafa; }</style>
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="./static_content/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script>
      window.onload = function () {
        window.ui = SwaggerUIBundle({
          url: "./docs.json",
          dom_id: "#swagger-ui",
          deepLinking: true,
          presets: [SwaggerUIBundle.presets.apis],
          layout: "BaseLayout",
        });
      };
    </script>
  </body>
</html>
"""


async def _send(send: Send, status: int, content_type: bytes, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class DocsMiddleware:
    """Answers ``GET /`` with :data:`INDEX_HTML` and ``GET /docs.json`` with the customised
    schema, built from BentoML's own answer on first use and kept (it cannot change while
    the process runs)."""

    def __init__(self, app: ASGIApp, models: OperationModels | None = None) -> None:
        self.app = app
        self.models = dict(models or {})
        self._spec: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if scope["type"] != "http" or scope.get("method") != "GET" or path not in DOCS_PATHS:
            await self.app(scope, receive, send)
            return
        if path == "/":
            await _send(send, 200, b"text/html; charset=utf-8", INDEX_HTML)
            return
        if self._spec is None:
            status, body = await self._bentoml_spec(scope, receive)
            if status != 200:
                await _send(send, status, b"application/json", body)
                return
            spec = customise_spec(json.loads(body), package_version(), self.models)
            self._spec = json.dumps(spec).encode()
        await _send(send, 200, b"application/json", self._spec)

    async def _bentoml_spec(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        """BentoML's own ``/docs.json`` answer: (status, body)."""
        status = 500
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        return status, b"".join(chunks)
