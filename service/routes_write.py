"""The write endpoint: decode strictly, append atomically under optimistic concurrency, answer receipts."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from domain.errors import DomainError, VersionMismatch
from domain.events import ReportingEvent, canonical_body
from service.access import authorize, services
from service.application import Ledger
from service.params import check_json_content_type, expected_version, path_id, read_body
from service.problems import unprocessable
from service.routes_read import json_response
from service.schemas import Receipt, events_decoder


def domain_event(wire: Any) -> ReportingEvent:
    """The domain class of a strict wire event, so its canonical body matches the CLI's."""
    base: type[ReportingEvent] = type(wire).__mro__[1]
    return base(**{name: getattr(wire, name) for name in wire.__struct_fields__})


def already_recorded(ledger: Ledger, story: str, events: list[ReportingEvent]) -> bool:
    """True when every event is stored in ``story`` with this very body (a retried request)."""
    for event in events:
        stored = ledger.reader.event(story, event.id)
        if stored is None or bytes(stored.event) != canonical_body(event):
            return False
    return True


def receipts_if_recorded(
    ledger: Ledger, story: str, events: list[ReportingEvent]
) -> list[Receipt] | None:
    """The receipts of a retried request whose every event is stored with this very body."""
    if not already_recorded(ledger, story, events):
        return None
    return ledger.reader.receipts(story, [e.id for e in events])


async def post_events(request: Request) -> Response:
    """POST /v1/stories/{story}/events: one event (object) or an atomic batch (array)."""
    found = services(request)
    principal = await authorize(request, write=True)
    assert principal is not None
    story = path_id(request, "story")
    expected, must_exist = expected_version(request)
    check_json_content_type(request)
    body = await read_body(request, found.settings.max_body_bytes)
    decoded = events_decoder.decode(body)
    batch = isinstance(decoded, list)
    events = [domain_event(e) for e in (decoded if batch else [decoded])]
    if not events:
        raise unprocessable("", "a batch holds at least one event")
    if found.ledger.needs_loading(story):  # in a thread of its own: not the writer, no reader
        await run_in_threadpool(found.ledger.load_into_cache, story)
    try:
        written = await found.appends.append(story, events, principal.name, expected, must_exist)
        receipts, created = written.receipts, written.created
    except VersionMismatch:
        retried = await found.in_thread(receipts_if_recorded, found.ledger, story, events)
        if retried is None:
            raise
        receipts, created = retried, False
    except DomainError as error:
        if batch and error.index is not None:
            error.pointer = f"/{error.index}{error.pointer}"
        raise
    base = f"/v1/stories/{story}/events"
    if batch:
        first = min(r.position for r in receipts)
        location = f"{base}?after={first - 1}&limit={len(receipts)}"
        answer: Any = receipts
    else:
        location = f"{base}/{receipts[0].id}"
        answer = receipts[0]
    headers = {"Location": location}
    if created:
        headers["ETag"] = f'"{max(r.story_version for r in receipts)}"'
    return json_response(answer, 201 if created else 200, headers)
