"""Read endpoints: decode the question, ask the projections (in a reader thread), encode the answer.

Every answer carries ``Knewwhen-Position``, the last position the projections had applied
when the question was asked (for an immutable answer from the cache: when it was first
read); ``?min_position=N`` waits (bounded) until they reach N. Knowledge at a given time,
history, changes up to a given time and timelines are cached (``consult_cached``), and so is
provenance at a given time (``routes_audit``, decision 048).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from msgspec import Struct
from starlette.requests import Request
from starlette.responses import Response

from domain.errors import StoryNotFound
from service.access import Services, authorize, services
from service.answer_cache import Asked, CachedAnswer, entity_tag, raw_request
from service.application import Ledger
from service.cached_reads import POSITION_HEADER, answer_headers, cached_now
from service.content_coding import accepts_gzip, for_gzip, variant_key
from service.freshness import Known
from service.params import if_none_match, path_id, query_int, query_moment
from service.problems import HTTPProblem, bad_parameter, not_found, problem, respond
from service.schemas import (
    Changes,
    ClaimHistory,
    StoredEventView,
    StorySummary,
    Timeline,
)
from service.timeparse import BadTime, require_order

T = TypeVar("T")
DEFAULT_PAGE = 100
MAX_PAGE = 1000
MAX_POSITION = 2**62
log = logging.getLogger("knewwhen.api")
_encode = msgspec.json.Encoder().encode


class StoryList(Struct, frozen=True):
    """Every story the ledger holds."""

    stories: tuple[StorySummary, ...]


class EventPage(Struct, frozen=True):
    """A page of a story's stored events in recorded order; ``next_after`` continues it."""

    story: str
    events: tuple[StoredEventView, ...]
    next_after: int | None


class Health(Struct, frozen=True):
    """The service answers and its database does."""

    status: str
    position: int


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Encode ``value`` with msgspec as ``application/json``."""
    return Response(_encode(value), status, headers=headers, media_type="application/json")


Attempt = tuple[int, tuple[T] | None]
"""The applied position, and the answer, or None when the position is short of ``min_position``."""


async def until_reached(
    found: Services,
    wanted: int | None,
    read: Callable[[Ledger], Attempt[T]],
    whole_story: bool = False,
) -> tuple[int, T]:
    """Run ``read`` in a reader thread; while it finds the projections short of ``wanted``,
    retry (bounded by ``min_position_wait_seconds``, then 503)."""
    deadline = time.monotonic() + found.settings.min_position_wait_seconds
    pause = 0.01
    while True:
        position, answer = await found.in_thread(read, found.ledger, whole_story=whole_story)
        if answer is not None:
            return position, answer[0]
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise HTTPProblem(
                problem(
                    503,
                    f"the projections are at position {position}, not yet {wanted}; retry later",
                    "position-not-reached",
                    "Position not reached",
                ),
                headers={"Retry-After": "1", POSITION_HEADER: str(position)},
            )
        await asyncio.sleep(min(pause, remaining))
        pause = min(pause * 2, 0.25)


async def consult(
    request: Request,
    question: Callable[[Ledger], T],
    *,
    waits: bool = True,
    whole_story: bool = False,
) -> tuple[T, dict[str, str]]:
    """Authorize a read, wait for ``min_position`` (unless not ``waits``: the Memento routes,
    whose query string is their URI-R's), then answer ``question`` off the event loop: the
    position and the answer in one read snapshot, in one worker-thread hop (the whole-story
    reads' thread for a ``whole_story`` question)."""
    found = services(request)
    await authorize(request, write=False)
    wanted = query_int(request, "min_position", 0, MAX_POSITION) if waits else None

    def read(ledger: Ledger) -> Attempt[T]:
        with ledger.reader.snapshot():
            position = ledger.reader.position()
            if wanted is not None and position < wanted:
                return position, None
            return position, (question(ledger),)

    position, answer = await until_reached(found, wanted, read, whole_story)
    return answer, {POSITION_HEADER: str(position)}


async def consult_cached(
    request: Request,
    asked: Asked,
    question: Callable[[Ledger], Any],
    encode: Callable[[Any], bytes] = _encode,
    *,
    whole_story: bool = False,
) -> Response:
    """Like ``consult``, but the answer, ``encode``d (as JSON unless said), is cached
    (``Asked.cache_key``).

    An immutable answer is found without touching the database and served as immutable; any
    other is found under the story's last position (one statement reads it: on PostgreSQL on
    the event loop, ``found.tips``; on SQLite in a reader thread, or ``found.freshness`` while
    no commit has happened since it last read it) and served with ``no-cache``. Both carry an
    ``ETag``; a matching ``If-None-Match`` gets 304. The raw request is remembered as asking
    ``asked``, so ``RepeatedReads`` can answer it next time.
    """
    found = services(request)
    await authorize(request, write=False)
    wanted = query_int(request, "min_position", 0, MAX_POSITION)
    gzip = accepts_gzip(request.headers.getlist("accept-encoding"))
    ready = await cached_now(found, asked, wanted, gzip)
    if ready is not None:
        return answer_response(request, found, asked, *ready)
    version = found.freshness.version()
    seen: list[Known] = []

    def read(ledger: Ledger) -> Attempt[CachedAnswer]:
        # One snapshot from the tip on: an answer not cached is computed from the state the
        # tip was read in, without reading the tip again.
        with ledger.reader.snapshot():
            position, tip = ledger.reader.position_and_tip(asked.story)
            seen.append((position, tip))
            if wanted is not None and position < wanted:
                return position, None
            full_key, immutable = asked.cache_key(tip)
            cached = found.answers.get(variant_key(full_key, gzip))
            if cached is None:
                # Each variant is cached when a client asks for it: an answer only ever sent
                # compressed does not hold its plain bytes in memory too.
                plain = found.answers.get(full_key) if gzip else None
                if plain is None:
                    body = encode(question(ledger))
                    plain = CachedAnswer(body, entity_tag(body), position, immutable)
                cached = for_gzip(plain) if gzip else plain
                found.answers.put(variant_key(full_key, gzip), cached)
        return position, (cached,)

    position, cached = await until_reached(found, wanted, read, whole_story)
    found.freshness.remember(version, asked.story, seen[-1])
    return answer_response(request, found, asked, cached, position)


def answer_response(
    request: Request, found: Services, asked: Asked, answer: CachedAnswer, position: int
) -> Response:
    """The cached answer, or 304 when ``If-None-Match`` names its ETag; a request without
    ``min_position`` is remembered as asking ``asked`` (unless its answer was negotiated)."""
    if "min_position" not in request.query_params and not asked.negotiated:
        found.asked.remember(raw_request(request.scope), asked)
    headers = answer_headers(found, answer, position)
    if asked.negotiated:
        headers["Vary"] = "Accept, Accept-Encoding"
    if if_none_match(request, answer.etag):
        headers.pop("Content-Encoding", None)  # no body to decode
        return Response(status_code=304, headers=headers)
    return Response(answer.body, headers=headers, media_type=asked.media_type)


def require_story(ledger: Ledger, story: str) -> StorySummary:
    """The story's summary, or ``StoryNotFound`` (404)."""
    summary = ledger.reader.story(story)
    if summary is None:
        raise StoryNotFound(f"no story {story!r}")
    return summary


async def list_stories(request: Request) -> Response:
    """GET /v1/stories."""
    stories, headers = await consult(request, lambda ledger: ledger.reader.stories())
    return json_response(StoryList(tuple(stories)), headers=headers)


async def get_story(request: Request) -> Response:
    """GET /v1/stories/{story}: the summary, with ``story_version`` as the ETag."""
    story = path_id(request, "story")
    summary, headers = await consult(request, lambda ledger: require_story(ledger, story))
    headers["ETag"] = f'"{summary.story_version}"'
    return json_response(summary, headers=headers)


async def list_events(request: Request) -> Response:
    """GET /v1/stories/{story}/events?after=&limit=."""
    story = path_id(request, "story")
    after = query_int(request, "after", 0, MAX_POSITION) or 0
    limit = query_int(request, "limit", 1, MAX_PAGE) or DEFAULT_PAGE

    def page(ledger: Ledger) -> EventPage:
        require_story(ledger, story)
        events = ledger.reader.events(story, after=after, limit=limit)
        full = len(events) == limit
        return EventPage(story, tuple(events), events[-1].position if full else None)

    answer, headers = await consult(request, page)
    return json_response(answer, headers=headers)


async def get_event(request: Request) -> Response:
    """GET /v1/stories/{story}/events/{event}."""
    story, event_id = path_id(request, "story"), path_id(request, "event")

    def one(ledger: Ledger) -> StoredEventView:
        require_story(ledger, story)
        view = ledger.reader.event(story, event_id)
        if view is None:
            raise not_found(
                f"story {story!r} has no event {event_id!r}", "event-not-found", "Event not found"
            )
        return view

    answer, headers = await consult(request, one)
    return json_response(answer, headers=headers)


async def get_knowledge(request: Request) -> Response:
    """GET /v1/stories/{story}/knowledge?at=&recorded_before= (``at`` defaults to now)."""
    story = path_id(request, "story")
    asked_at = query_moment(request, "at")
    at = asked_at or datetime.now(UTC)
    recorded_before = query_moment(request, "recorded_before")

    def knowledge(ledger: Ledger) -> Any:
        require_story(ledger, story)
        return ledger.reader.knowledge(story, at, recorded_before)

    if asked_at is not None:
        asked = Asked(("knowledge", story, at, recorded_before), story, recorded_before)
        return await consult_cached(request, asked, knowledge)
    answer, headers = await consult(request, knowledge)
    return json_response(answer, headers=headers)


async def get_claim_history(request: Request) -> Response:
    """GET /v1/stories/{story}/claims/{claim}/history?recorded_before=."""
    story, claim = path_id(request, "story"), path_id(request, "claim")
    recorded_before = query_moment(request, "recorded_before")

    def history(ledger: Ledger) -> ClaimHistory:
        require_story(ledger, story)
        entries = ledger.reader.history(story, claim, recorded_before)
        if not entries:
            raise not_found(
                f"story {story!r} has no claim {claim!r}", "claim-not-found", "Claim not found"
            )
        return ClaimHistory(story, claim, recorded_before, tuple(entries))

    asked = Asked(("history", story, claim, recorded_before), story, recorded_before)
    return await consult_cached(request, asked, history)


async def get_changes(request: Request) -> Response:
    """GET /v1/stories/{story}/changes?from=&to=&recorded_before= (``to`` defaults to now)."""
    story = path_id(request, "story")
    start = query_moment(request, "from")
    if start is None:
        raise bad_parameter("from", "from is required: a timestamp or a date")
    asked_end = query_moment(request, "to")
    end = asked_end or datetime.now(UTC)
    try:
        require_order(start, end, "from", "to")
    except BadTime as e:
        raise bad_parameter("from", str(e)) from None
    recorded_before = query_moment(request, "recorded_before")

    def changes(ledger: Ledger) -> Changes:
        require_story(ledger, story)
        found = ledger.reader.changes(story, start, end, recorded_before)
        return Changes(story, start, end, recorded_before, tuple(found))

    if asked_end is not None:
        asked = Asked(("changes", story, start, end, recorded_before), story, recorded_before)
        return await consult_cached(request, asked, changes)
    answer, headers = await consult(request, changes)
    return json_response(answer, headers=headers)


async def get_timeline(request: Request) -> Response:
    """GET /v1/stories/{story}/timeline?recorded_before=."""
    story = path_id(request, "story")
    recorded_before = query_moment(request, "recorded_before")

    def timeline(ledger: Ledger) -> Timeline:
        require_story(ledger, story)
        entries = ledger.reader.timeline(story, recorded_before)
        return Timeline(story, recorded_before, tuple(entries))

    asked = Asked(("timeline", story, recorded_before), story, recorded_before)
    return await consult_cached(request, asked, timeline, whole_story=True)


async def healthz(request: Request) -> Response:
    """GET /healthz: 200 when the database answers, else 503."""
    found = services(request)
    try:
        position = await found.in_thread(found.ledger.reader.position)
    except Exception:
        log.exception("health check failed")
        return respond(problem(503, "the database does not answer"), {"Retry-After": "1"})
    return json_response(Health("ok", position), headers={POSITION_HEADER: str(position)})
