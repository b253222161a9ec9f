"""The OpenAPI paths of the audit endpoints (the verifiable log and W3C PROV), merged into
``service.openapi``.

Built from ``service.openapi_parts`` (not from ``service.openapi``, which imports it): the
schemas it names are the Structs in ``STRUCTS``, the hand-written ``SCHEMAS`` and the shared
``Problem``.
"""

from __future__ import annotations

from typing import Any

from service.audit.log import ConsistencyProof, InclusionProof, LogEntry, TreeHead
from service.cached_reads import POSITION_HEADER
from service.openapi_parts import (
    MOMENT,
    STORY,
    cached,
    component_json,
    header,
    param,
    path_id,
    query,
)
from service.openapi_parts import errors as problems
from service.openapi_parts import read as read_operation
from service.provn import MEDIA_TYPE as PROVN
from service.routes_audit import MAX_SIZE, VerifyAnswer

STRUCTS = (TreeHead, LogEntry, InclusionProof, ConsistencyProof, VerifyAnswer)
STATUS = {
    400: "An unusable parameter: not an integer, a leaf index or tree size the log does not "
    "have, or an unreadable time; errors[].parameter names it",
    401: "A bearer token is required here, or the one sent is not valid (WWW-Authenticate: Bearer)",
    403: "The token's role may not do this (verify needs admin)",
    404: "No such leaf, or story; or a claim not public at that moment",
    503: "min_position was not reached in time (Retry-After), or the database does not answer",
}
RECORDS = {"type": "object", "additionalProperties": {"type": "object"}}
SCHEMAS: dict[str, Any] = {
    "ProvDocument": {
        "title": "ProvDocument",
        "description": "A W3C PROV-JSON document (https://www.w3.org/submissions/prov-json/): "
        "its prefixes, then its records by kind (entity, activity, agent, wasGeneratedBy, "
        "used, …), each keyed by its identifier. The mapping is in decision 004.",
        "type": "object",
        "required": ["prefix", "entity", "activity", "agent"],
        "properties": {
            "prefix": {"type": "object", "additionalProperties": {"type": "string"}},
            "entity": RECORDS,
            "activity": RECORDS,
            "agent": RECORDS,
        },
        "additionalProperties": RECORDS,
    }
}


def errors(*statuses: int) -> dict[str, Any]:
    """Problem responses for the given statuses, as these endpoints mean them."""
    return problems(STATUS, *statuses)


def size(name: str, description: str, minimum: int) -> dict[str, Any]:
    """A required integer query parameter: a leaf index or a tree size."""
    schema = {"type": "integer", "minimum": minimum, "maximum": MAX_SIZE}
    return {**param(name, "query", description, schema), "required": True}


CLAIM = path_id("claim", "The claim id", "sessions-take-away-children")
AT = query("at", f"The moment of public knowledge; default now: {MOMENT}")
BEFORE = query("recorded_before", f"Only events recorded before this: {MOMENT}")


def read(
    summary: str, params: list[dict[str, Any]], content: dict[str, Any], *statuses: int
) -> dict[str, Any]:
    """A GET any reader may ask, answering 200 with ``content`` and ``Knewwhen-Position``."""
    return read_operation(summary, params, content, errors(*sorted({400, 401, 503, *statuses})))


def provenance(summary: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    """A provenance GET: PROV-JSON, or PROV-N when Accept names it."""
    content = {**component_json("ProvDocument"), PROVN: {"schema": {"type": "string"}}}
    operation = read(summary, [*params, AT, BEFORE], content, 404)
    operation["get"]["description"] = (
        f"PROV-JSON by default; PROV-N when Accept names {PROVN}. Covers what was public at "
        "`at`, as recorded before `recorded_before`."
    )
    return cached(operation, "when at is given", "Accept, Accept-Encoding (Accept without at)")


def paths() -> dict[str, Any]:
    """The verifiable log and provenance paths of the OpenAPI document."""
    verify = {
        "get": {
            "summary": "Verify (admins): recompute the log from the stored events, check every "
            "tree head and every projection table; the first failing leaf index",
            "description": "Runs in a child process of the server (~50 s at a million events,"
            " while the server goes on answering); one at a time per server process: requests"
            " that come while one runs share the next (decision 047). A report ready within 2 s"
            " is an ordinary answer; a later one follows a 200 sent at 2 s, whose body opens"
            " with a space every second (whitespace JSON allows before a value) so that no read"
            " timeout fires; should the verification fail after that, the answer ends"
            " unfinished (decision 045).",
            "security": [{"bearer": []}],
            "responses": {
                "200": {
                    "description": "What was checked, and the verdict",
                    "headers": {
                        POSITION_HEADER: header(
                            "The last reporting event's position in the snapshot verified"
                            " (as the body's position), on an answer that came within 2 s"
                        )
                    },
                    "content": component_json("VerifyAnswer"),
                },
                **errors(401, 403),
            },
        }
    }
    index = {
        **param("index", "path", "The leaf index (0, 1, …)", {"type": "integer", "minimum": 0}),
        "required": True,
        "example": 0,
    }
    return {
        "/v1/log": read(
            "The log's current tree head (RFC 9162): its size and root hash",
            [],
            component_json("TreeHead"),
        ),
        "/v1/log/entries/{index}": read(
            "One leaf: its canonical JSON and its RFC 9162 leaf hash",
            [index],
            component_json("LogEntry"),
            404,
        ),
        "/v1/log/proof/inclusion": read(
            "The RFC 9162 audit path of leaf `index` in the tree of `tree_size` leaves",
            [
                size("index", "The leaf index; below tree_size", 0),
                size("tree_size", "The tree size; at most the current size", 1),
            ],
            component_json("InclusionProof"),
        ),
        "/v1/log/proof/consistency": read(
            "The RFC 9162 consistency path from the tree of `first` leaves to `second`",
            [
                size("first", "The earlier tree size; at most second", 1),
                size("second", "The later tree size; at most the current size", 1),
            ],
            component_json("ConsistencyProof"),
        ),
        "/v1/log/verify": verify,
        "/v1/stories/{story}/claims/{claim}/provenance": provenance(
            "The W3C PROV of one claim: the events behind it, their sources, documents and citations",
            [STORY, CLAIM],
        ),
        "/v1/stories/{story}/provenance": provenance(
            "The W3C PROV of a whole story at a moment", [STORY]
        ),
    }
