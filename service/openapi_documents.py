"""The OpenAPI paths of the document and Memento endpoints, merged into ``service.openapi``.

Built from ``service.openapi_parts`` (not from ``service.openapi``, which imports it): the
schemas it names are the Structs in ``STRUCTS`` and the shared ``Problem``.
"""

from __future__ import annotations

from typing import Any

from service.documents import DocumentAt, DocumentList, RevisionList
from service.memento import LINK_FORMAT
from service.openapi_parts import (
    MOMENT,
    READ_SECURITY,
    STORY,
    component_json,
    header,
    param,
    path_id,
    query,
)
from service.openapi_parts import errors as problems
from service.openapi_parts import read as read_operation
from service.revisions import DocumentDiff, Revision

STRUCTS = (DocumentList, DocumentAt, RevisionList, Revision, DocumentDiff)
STATUS = {
    302: "Found: Location names the memento (URI-M)",
    400: "An unusable parameter or header (Accept-Datetime must be an RFC 1123 date in GMT)",
    401: "A bearer token is required for reads here, or the one sent is not valid",
    404: "No such story, document or revision; nothing public at that time; or an unknown URI-R",
    406: "Accept names neither text/x-diff nor application/json",
    503: "min_position was not reached in time (Retry-After), or the database does not answer",
}
LINK = header("RFC 8288 links: original, timegate, timemap and mementos (RFC 7089)")
URI_R = {
    "name": "uri_r",
    "in": "path",
    "required": True,
    "description": "The URI-R, appended as-is (it may hold '/', '://' and its own query): a "
    "document's url, or its service URI when it has none",
    "schema": {"type": "string"},
    "example": "https://oig.justice.gov/sites/default/files/reports/21-028_0.pdf",
}


def errors(*statuses: int) -> dict[str, Any]:
    """Problem responses for the given statuses, as these endpoints mean them."""
    return problems(STATUS, *statuses)


DOC = path_id("doc", "The document id", "oig-zero-tolerance-review")
AT = query("at", f"The moment; default now: {MOMENT}")
BEFORE = query("recorded_before", f"Only acts recorded before: {MOMENT}")
REVISION = {"type": "integer", "minimum": 1}


def read(summary: str, params: list[dict[str, Any]], content: dict[str, Any]) -> dict[str, Any]:
    """A GET operation answering 200 with ``content``, or a problem."""
    return read_operation(summary, params, content, errors(400, 401, 404, 503))


def memento_operations(summary: str, params: list[dict[str, Any]], ok: dict[str, Any]) -> Any:
    """GET and HEAD of a Memento endpoint (clients negotiate with HEAD alone). The query string
    is the URI-R's, so there is no ``min_position``."""
    responses = {**ok, **errors(400, 401, 404, 503)}
    responses["404"]["headers"] = {"Link": LINK}
    operation = {
        "summary": summary,
        "parameters": [*params, URI_R],
        "security": READ_SECURITY,
        "responses": responses,
    }
    head = {**operation, "summary": f"{summary} (headers only)"}
    head["responses"] = {
        status: {k: v for k, v in response.items() if k != "content"}
        for status, response in responses.items()
    }
    return {"get": operation, "head": head}


def paths() -> dict[str, Any]:
    """The document and Memento paths of the OpenAPI document."""
    document = "/v1/stories/{story}/documents/{doc}"
    one = read(
        "The latest revision public at a moment, with the document's metadata then",
        [STORY, DOC, AT, BEFORE],
        component_json("DocumentAt"),
    )
    one["get"]["responses"]["200"]["headers"]["Link"] = LINK
    diff = read(
        "The change between two revisions: a unified diff, or JSON operations (Accept)",
        [
            STORY,
            DOC,
            {**param("from", "query", "The revision to compare from", REVISION), "required": True},
            {**param("to", "query", "The revision to compare to", REVISION), "required": True},
            BEFORE,
        ],
        {"text/x-diff": {"schema": {"type": "string"}}, **component_json("DocumentDiff")},
    )
    diff["get"]["responses"].update(errors(406))
    redirect = {"Location": header("The URI-M"), "Vary": header("accept-datetime"), "Link": LINK}
    memento_headers = {"Memento-Datetime": header("The memento's datetime (RFC 1123, GMT)")}
    return {
        "/v1/stories/{story}/documents": read(
            "The story's documents public at a moment",
            [STORY, AT, BEFORE],
            component_json("DocumentList"),
        ),
        document: one,
        f"{document}/revisions": read(
            "Every revision of a document, in publication order",
            [STORY, DOC, BEFORE],
            component_json("RevisionList"),
        ),
        f"{document}/revisions/{{n}}": read(
            "One revision, with its text",
            [
                STORY,
                DOC,
                {**param("n", "path", "Revision number", REVISION), "required": True},
                BEFORE,
            ],
            component_json("Revision"),
        ),
        f"{document}/diff": diff,
        "/timegate/{uri_r}": memento_operations(
            "Memento TimeGate (RFC 7089): 302 to the latest memento at or before Accept-Datetime",
            [param("Accept-Datetime", "header", "An RFC 1123 date in GMT", {"type": "string"})],
            {"302": {"description": STATUS[302], "headers": redirect}},
        ),
        "/memento/{datetime}/{uri_r}": memento_operations(
            "A memento: the revision public at that second (302 to its own URI-M otherwise)",
            [
                {
                    **param(
                        "datetime",
                        "path",
                        "YYYYMMDDhhmmss (UTC)",
                        {"type": "string", "pattern": r"^\d{14}$"},
                    ),
                    "required": True,
                    "example": "20201007000000",
                }
            ],
            {
                "200": {
                    "description": "The revision's text",
                    "headers": {**memento_headers, "Link": LINK},
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "302": {"description": STATUS[302], "headers": {"Location": header("The URI-M")}},
            },
        ),
        "/timemap/link/{uri_r}": memento_operations(
            "The TimeMap: the original, the TimeGate and every memento, in link-format",
            [],
            {
                "200": {
                    "description": "An application/link-format TimeMap (RFC 7089 section 5)",
                    "content": {LINK_FORMAT: {"schema": {"type": "string"}}},
                }
            },
        ),
    }
