"""The pieces the OpenAPI document is built from: references, headers, parameters, problem
responses and the shape of a read. ``service.openapi`` and its two parts (documents and
Memento, the audit endpoints) describe their paths with these, each with its own wording of
what a status means there."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.events import ID_PATTERN
from service.cached_reads import POSITION_HEADER
from service.problems import MEDIA_TYPE as PROBLEM

REF = "#/components/schemas/{name}"
MOMENT = "an RFC 3339 timestamp with an offset, or a date (meaning the end of that day, UTC)"
READ_SECURITY: list[dict[str, list[str]]] = [{}, {"bearer": []}]


def ref(name: str) -> dict[str, str]:
    """A reference to a component schema."""
    return {"$ref": REF.format(name=name)}


def json_content(schema: dict[str, Any], media_type: str = "application/json") -> dict[str, Any]:
    """A content map with one media type."""
    return {media_type: {"schema": schema}}


def component_json(name: str) -> dict[str, Any]:
    """JSON content of a component schema."""
    return json_content(ref(name))


def header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """A response header object (a string, unless a schema is given)."""
    return {"description": description, "schema": schema or {"type": "string"}}


PROBLEM_HEADERS = {
    401: {"WWW-Authenticate": header("Bearer challenge (RFC 6750)")},
    503: {"Retry-After": header("Seconds to wait before retrying")},
}


def errors(descriptions: Mapping[int, str], *statuses: int) -> dict[str, Any]:
    """Problem responses for ``statuses``, described as ``descriptions`` says, with the headers
    a 401 (``WWW-Authenticate``) and a 503 (``Retry-After``) carry."""
    found: dict[str, Any] = {}
    for status in statuses:
        response: dict[str, Any] = {
            "description": descriptions[status],
            "content": json_content(ref("Problem"), PROBLEM),
        }
        if status in PROBLEM_HEADERS:
            response["headers"] = dict(PROBLEM_HEADERS[status])
        found[str(status)] = response
    return found


def param(name: str, where: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """An optional parameter."""
    return {
        "name": name,
        "in": where,
        "required": False,
        "description": description,
        "schema": schema,
    }


def query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """An optional query parameter (a time, unless a schema is given)."""
    return param(name, "query", description, schema or {"type": "string"})


def path_id(name: str, description: str, example: str) -> dict[str, Any]:
    """A required id in the path."""
    schema = {"type": "string", "pattern": ID_PATTERN}
    return {**param(name, "path", description, schema), "required": True, "example": example}


STORY = path_id("story", "The story id", "doj-zero-tolerance")
POSITION = header("The last ledger position the projections had applied when answering")
MIN_POSITION = query(
    "min_position",
    "Wait (bounded) until the projections have applied this position; 503 if they do not in time",
    {"type": "integer", "minimum": 0},
)


def read(
    summary: str, params: list[dict[str, Any]], content: dict[str, Any], problems: dict[str, Any]
) -> dict[str, Any]:
    """A GET any reader may ask (``min_position`` added), answering 200 with ``content`` and
    ``Knewwhen-Position``, or one of ``problems``."""
    return {
        "get": {
            "summary": summary,
            "parameters": [*params, MIN_POSITION],
            "security": READ_SECURITY,
            "responses": {
                "200": {
                    "description": summary,
                    "headers": {POSITION_HEADER: POSITION},
                    "content": content,
                },
                **problems,
            },
        }
    }


IF_NONE_MATCH = param(
    "If-None-Match",
    "header",
    "An ETag this answer had: 304 while it still has it",
    {"type": "string"},
)


def cached(operation: dict[str, Any], when: str, vary: str = "Accept-Encoding") -> dict[str, Any]:
    """``operation`` (a ``read``) as a GET whose answer is cached (``when`` says on which
    requests, decision 006): its ETag, Cache-Control, Vary and Content-Encoding, and a 304."""
    get = operation["get"]
    get["parameters"].append(IF_NONE_MATCH)
    get["responses"]["200"]["headers"].update(
        {
            "ETag": header(f"A strong ETag of the answer as sent, on a cached answer ({when})"),
            "Cache-Control": header(
                "no-cache while a later append could change the answer; public (private when"
                " reads need a token), max-age one year, immutable once recorded_before bounds it"
            ),
            "Vary": header(vary),
            "Content-Encoding": header(
                "gzip, on a cached answer of 1 KiB or more to a request whose Accept-Encoding"
                " admits it (decision 046)"
            ),
        }
    )
    get["responses"]["304"] = {
        "description": "Not modified: If-None-Match names the answer's ETag",
        "headers": {POSITION_HEADER: POSITION, "ETag": header("The answer's ETag")},
    }
    return operation
