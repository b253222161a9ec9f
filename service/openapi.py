"""The OpenAPI 3.1 document, generated from the msgspec schemas the endpoints decode and encode."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from domain.events import AnyReportingEvent
from domain.knowledge import Knowledge
from service import openapi_audit, openapi_documents
from service.openapi_parts import MOMENT, REF, STORY, cached, header, json_content, query, ref
from service.openapi_parts import errors as problems
from service.openapi_parts import path_id as path_param
from service.openapi_parts import read as read_operation
from service.problems import Problem
from service.routes_read import MAX_PAGE, EventPage, Health, StoryList
from service.schemas import (
    Changes,
    ClaimHistory,
    Receipt,
    StoredEventView,
    StorySummary,
    StrictEvent,
    Timeline,
)

NAMED: dict[str, Any] = {
    "Event": StrictEvent,
    "EventBatch": Annotated[list[StrictEvent], Meta(min_length=1, max_length=1000)],  # type: ignore[valid-type]
    "ReceiptBatch": list[Receipt],
    "ReportingEvent": AnyReportingEvent,
}
STRUCTS = (
    Receipt,
    StoryList,
    StorySummary,
    EventPage,
    StoredEventView,
    Knowledge,
    ClaimHistory,
    Changes,
    Timeline,
    Health,
    Problem,
    *openapi_documents.STRUCTS,
    *openapi_audit.STRUCTS,
)
ERRORS = {
    400: "A malformed body (not JSON) or an unusable parameter or header",
    401: "No bearer token, or one that is unknown or revoked (WWW-Authenticate: Bearer)",
    403: "The token's role may not do this (readers may not write)",
    404: "No such story, event or claim",
    409: "An event id already used in this story (stored, or earlier in the batch) with a different body; errors[].pointer names it",
    412: "If-Match / expected_version: the story is at another version (current_version says which)",
    413: "The body is larger than the configured limit (1 MiB by default)",
    415: "The body is not JSON",
    422: "JSON that breaks the schema or the story's rules; errors[].pointer names each field",
    503: "min_position was not reached in time (Retry-After), or the database does not answer",
}
READ_ERRORS = (400, 401, 404, 503)


def components() -> dict[str, Any]:
    """Schemas of every request and response body, keyed by name."""
    types = [*NAMED.values(), *STRUCTS]
    schemas, found = msgspec.json.schema_components(types, ref_template=REF)
    for name, schema in zip(NAMED, schemas[: len(NAMED)], strict=True):
        found[name] = schema
    for name, schema in found.items():
        if name.startswith("Strict") and "description" not in schema:
            schema["description"] = f"{name.removeprefix('Strict')}, as a request carries it."
    found["StoredEventView"]["properties"]["event"] = {"$ref": REF.format(name="ReportingEvent")}
    found.update(openapi_audit.SCHEMAS)
    encoded: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(found))
    return encoded


def errors(*statuses: int) -> dict[str, Any]:
    """Problem responses for the given statuses, as these endpoints mean them."""
    return problems(ERRORS, *statuses)


RECORDED_BEFORE = query("recorded_before", f"Only events recorded before this: {MOMENT}")


def read(summary: str, schema: dict[str, Any], params: list[dict[str, Any]], *extra: int) -> Any:
    """A GET operation answering ``schema`` with ``Knewwhen-Position``."""
    problems_of_read = errors(*sorted({*READ_ERRORS, *extra}))
    return read_operation(summary, params, json_content(schema), problems_of_read)


def post_events() -> dict[str, Any]:
    """The write operation."""
    receipts = {"oneOf": [ref("Receipt"), ref("ReceiptBatch")]}
    location = header("The new event, or for a batch the page of events it stored")
    return {
        "summary": "Record one reporting event (object) or an atomic batch of up to 1,000 (array)",
        "description": "Event ids are idempotency keys: the same id with an identical body answers "
        "200 with the first receipt and stores nothing; with a different body, 409. "
        'Optimistic concurrency: If-Match: "<story_version>" (or ?expected_version=N) answers 412 '
        "when the story has moved on. recorded_by is the token's name. An event whose "
        "published_at is more than five minutes after the time it is recorded is refused (422, "
        "published-after-recording): it was not public yet.",
        "parameters": [
            STORY,
            {
                "name": "If-Match",
                "in": "header",
                "required": False,
                "description": 'The story_version the write expects, as an ETag ("3"), or *',
                "schema": {"type": "string"},
            },
            query(
                "expected_version",
                "The story_version the write expects (as If-Match)",
                {"type": "integer", "minimum": 0},
            ),
        ],
        "security": [{"bearer": []}],
        "requestBody": {
            "required": True,
            "content": json_content({"oneOf": [ref("Event"), ref("EventBatch")]}),
        },
        "responses": {
            "201": {
                "description": "Recorded: the receipt (an array of receipts for a batch)",
                "headers": {"Location": location, "ETag": header("The story_version now")},
                "content": json_content(receipts),
            },
            "200": {
                "description": "Already recorded with this body: the first receipt(s)",
                "headers": {"Location": location},
                "content": json_content(receipts),
            },
            **errors(400, 401, 403, 404, 409, 412, 413, 415, 422),
        },
    }


def document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    story = "/v1/stories/{story}"
    event = path_param("event", "The event id", "doj-2018-04-06-zero-tolerance-memo")
    claim = path_param("claim", "The claim id", "zero-tolerance-announced")
    at = query("at", f"The moment of public knowledge; default now: {MOMENT}")
    page = [
        query("after", "Only events after this position", {"type": "integer", "minimum": 0}),
        query("limit", "At most this many", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
    ]
    changes = [
        {**query("from", f"Start (exclusive; not after to, else 400): {MOMENT}"), "required": True},
        query("to", f"End (inclusive); default now: {MOMENT}"),
        RECORDED_BEFORE,
    ]
    stories = read("Every story, with its counts and public time span", ref("StoryList"), [])
    one_story = read("One story's summary; ETag is its story_version", ref("StorySummary"), [STORY])
    one_story["get"]["responses"]["200"]["headers"]["ETag"] = header('"<story_version>"')
    events = read("A story's stored events, in recorded order", ref("EventPage"), [STORY, *page])
    events["post"] = post_events()
    health = {
        "get": {
            "summary": "The service and its database answer",
            "security": [{}],
            "responses": {
                "200": {"description": "Healthy", "content": json_content(ref("Health"))},
                **errors(503),
            },
        }
    }
    spec = {
        "get": {
            "summary": "This document",
            "security": [{}],
            "responses": {"200": {"description": "OpenAPI 3.1", "content": json_content({})}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "knewwhen",
            "version": "1",
            "description": "What was publicly known about a story, and when. Every error is "
            "application/problem+json (RFC 9457).",
        },
        "paths": {
            "/v1/stories": stories,
            story: one_story,
            f"{story}/events": events,
            f"{story}/events/{{event}}": read(
                "One stored event", ref("StoredEventView"), [STORY, event]
            ),
            f"{story}/knowledge": cached(
                read(
                    "The state of public knowledge at a moment, as recorded before another",
                    ref("Knowledge"),
                    [STORY, at, RECORDED_BEFORE],
                ),
                "when at is given",
            ),
            f"{story}/claims/{{claim}}/history": cached(
                read(
                    "A claim's state after each event that changed it",
                    ref("ClaimHistory"),
                    [STORY, claim, RECORDED_BEFORE],
                ),
                "always",
            ),
            f"{story}/changes": cached(
                read(
                    "What became known or changed status in (from, to]",
                    ref("Changes"),
                    [STORY, *changes],
                ),
                "when to is given",
            ),
            f"{story}/timeline": cached(
                read(
                    "The story's events in public order",
                    ref("Timeline"),
                    [STORY, RECORDED_BEFORE],
                ),
                "always",
            ),
            **openapi_documents.paths(),
            **openapi_audit.paths(),
            "/healthz": health,
            "/openapi.json": spec,
        },
        "components": {
            "schemas": components(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `knewwhen token create NAME --role ...`",
                }
            },
        },
    }


def encoded() -> bytes:
    """The document as JSON bytes (built once per app)."""
    return msgspec.json.encode(document())
