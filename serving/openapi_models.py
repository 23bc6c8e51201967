"""Request and response schemas of the documented operations, from the pydantic models.

BentoML builds each operation's schema by flattening the pydantic JSON schema and keeping
the *first* branch of every ``anyOf``: ``as_of: date | None`` is documented as a date that
may not be null, although the service accepts null (and answers ``next_offset: null``).
A client generated from that schema, or a contract test such as schemathesis, then
disagrees with the service. The schema must say what the service enforces, so the
documented operations take their schemas straight from the models the service validates
with, converted to OpenAPI 3.0 (the version BentoML declares):

* a ``null`` branch of ``anyOf`` becomes ``nullable: true``;
* ``$defs`` become ``components/schemas`` and references point there;
* ``const`` becomes a one-value ``enum``, and ``examples`` the schema's ``example``.

Rules that JSON Schema cannot state (one field compared with another, the date today)
are listed per operation under ``x-winback-rules`` (see :data:`CROSS_FIELD_RULES`); every
other 400 the service gives is a schema violation.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from serving.schemas import MAX_TRANSACTIONS_PER_REQUEST

REF_TEMPLATE = "#/components/schemas/{model}"
_REF_PREFIX = "#/components/schemas/"

#: Rules the service enforces that a JSON schema cannot express, by operation path. The
#: service's 400 reasons for them say the same thing in words.
CROSS_FIELD_RULES: dict[str, list[str]] = {
    "/score": [
        "as_of is not later than tomorrow (UTC).",
        "A transaction's timestamp is not after as_of.",
        "order_id is given on every line of a customer or on none.",
        "A customer sent with transactions appears once per request.",
        f"At most {MAX_TRANSACTIONS_PER_REQUEST:,} transactions per request, over all customers.",
        "Transactions break the data contract as a file would (the reason names the rule).",
    ],
    "/rank": [
        "Channel names (keys of channels, daily_capacity and no_consent) are the "
        "configured channels; /metadata and the 400 answer list them.",
    ],
}


def openapi_schema(model: type[BaseModel], title: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``model``'s JSON schema, titled ``title``, referring to ``components/schemas``, and
    the components it refers to (name -> schema). Still pydantic's dialect:
    :func:`to_openapi_30` converts the whole document once it is assembled."""
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    definitions = schema.pop("$defs", {})
    schema["title"] = title
    return schema, definitions


def to_openapi_30(schema: Any) -> Any:
    """A JSON schema (pydantic's dialect) as an OpenAPI 3.0 schema object (a new object)."""
    if isinstance(schema, list):
        return [to_openapi_30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    node = {key: _convert_keyword(key, value) for key, value in schema.items()}
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if isinstance(node.get("examples"), list):
        examples = node.pop("examples")
        if examples:
            node.setdefault("example", examples[0])
    branches = node.get("anyOf")
    if isinstance(branches, list) and {"type": "null"} in branches:
        node = _nullable(node, [b for b in branches if b != {"type": "null"}])
    return node


def _convert_keyword(key: str, value: Any) -> Any:
    if key in ("properties", "patternProperties"):  # maps of names to schemas
        return {name: to_openapi_30(sub) for name, sub in value.items()}
    if key in ("default", "example", "enum", "const", "examples", "required"):
        return copy.deepcopy(value)  # values, not schemas
    return to_openapi_30(value)


def _nullable(node: dict[str, Any], others: list[dict[str, Any]]) -> dict[str, Any]:
    """``anyOf: [X, null]`` as ``X`` with ``nullable: true``. OpenAPI 3.0 ignores keywords
    beside a ``$ref``, so a reference is wrapped in ``allOf``."""
    del node["anyOf"]
    if len(others) != 1:
        return {**node, "anyOf": others, "nullable": True}
    (only,) = others
    if "$ref" in only:
        return {**node, "allOf": [only], "nullable": True}
    return {**only, **node, "nullable": True}


def referenced_components(schema: Any) -> set[str]:
    """Names of the components ``schema`` refers to, directly."""
    found: set[str] = set()
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
            found.add(ref[len(_REF_PREFIX) :])
        for value in schema.values():
            found |= referenced_components(value)
    elif isinstance(schema, list):
        for item in schema:
            found |= referenced_components(item)
    return found
