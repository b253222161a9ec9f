"""The rows a save contributes to the projection tables, and the codecs and units they use.

A save is one story's events recorded at one ``recorded_at``. Its event, document act and URL
rows depend on its events alone; its state rows (a claim's holding the acts the save added) on
the folds of what it touched. The live projector (``writer``) and replay (``rebuild``) both
build rows here, so they cannot write different ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import groupby
from types import MappingProxyType
from typing import Any

import msgspec
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.knowledge import (
    ClaimAct,
    ClaimState,
    DocumentAct,
    DocumentState,
    claim_acts,
    document_act,
)
from domain.stored import StoredRecord
from domain.story import Story

RECORDED_TOPIC = get_topic(Story.EventRecorded)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

decode_recorded = msgspec.json.Decoder(Story.EventRecorded).decode
# What folds read: the same event, its patterns and lengths not checked again (domain.stored).
decode_stored = msgspec.json.Decoder(StoredRecord).decode
encode_blob = msgspec.msgpack.Encoder().encode
decode_claim_act = msgspec.msgpack.Decoder(ClaimAct).decode
decode_document_act = msgspec.msgpack.Decoder(DocumentAct).decode

Batch = list[tuple[int, Story.EventRecorded]]
Start = tuple[datetime, int]
# kw_events: position, story, event_id, story_version, type, source, published_at,
# recorded_at, recorded_by, digest (the body stays in the stored event alone, decision 035)
EventRow = tuple[int, str, str, int, str, str, int, int, str, str]
# (story, document, published_at, position, recorded_at, event_id, act)
ActRow = tuple[str, str, int, int, int, str, bytes]
# (story, claim or document, recorded_at, published_at, position, state); a claim's row then
# (event_id, act), both None where a later append rewrote the state (decision 036)
StateRow = (
    tuple[str, str, int, int, int, bytes]
    | tuple[str, str, int, int, int, bytes, str | None, bytes | None]
)
# (url_sha256, story, document, url)
UrlRow = tuple[str, str, str, str]


def micros(moment: datetime) -> int:
    """Microseconds since the epoch: how the tables store a time."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    """The inverse of ``micros``: an aware datetime in UTC. Added to the epoch, ~0.7-0.9 µs;
    ``datetime.fromtimestamp(…, UTC)`` took ~2.5 (it is called for every log leaf rebuilt)."""
    return EPOCH + timedelta(0, 0, value)


def url_key(url: str) -> str:
    """The key of a document URL in ``kw_document_urls`` (a URL may be too long to index)."""
    return hashlib.sha256(url.encode()).hexdigest()


def recorded_of(stored: StoredEvent) -> Story.EventRecorded:
    """The reporting event a stored event records: the one it was encoded from, while an
    append still holds it (``service.persistence.MappedEvent``), else decoded as stored
    (``decode_stored``: it was checked when recorded)."""
    held = getattr(stored, "domain_event", None)
    return held if isinstance(held, Story.EventRecorded) else decode_stored(stored.state)


def batches(stored: Iterable[tuple[int, StoredEvent]]) -> Iterator[Batch]:
    """Reporting events grouped by (story, recorded_at): one group, one save."""
    recorded = ((position, recorded_of(s)) for position, s in stored if s.topic == RECORDED_TOPIC)
    for _, group in groupby(recorded, key=lambda r: (r[1].originator_id, r[1].timestamp)):
        yield list(group)


class EventHead(msgspec.Struct):
    """The fields of a stored reporting event that ``kw_events`` indexes."""

    type: str
    id: str
    source: str
    published_at: datetime


class RecordedHead(msgspec.Struct):
    """The fields of a stored ``Story.EventRecorded`` that ``kw_events`` keeps, its event's
    among them, decoded in one pass (the event first taken raw, then decoded again, cost
    1.90 µs an event against 1.48: the bench's 100k store, 50,000 events, best of seven)."""

    originator_id: str
    originator_version: int
    timestamp: datetime
    recorded_by: str
    digest: str
    event: EventHead


class RecordedBody(msgspec.Struct):
    """A stored ``Story.EventRecorded``'s event, as the bytes it was stored as (the mapper's
    msgspec JSON of it)."""

    event: msgspec.Raw


class RecordedObject(msgspec.Struct):
    """A stored ``Story.EventRecorded``'s event, as JSON-ready builtins."""

    event: dict[str, Any]


decode_recorded_head = msgspec.json.Decoder(RecordedHead).decode
_decode_recorded_body = msgspec.json.Decoder(RecordedBody).decode
_decode_recorded_object = msgspec.json.Decoder(RecordedObject).decode


def body_of(state: bytes) -> bytes:
    """The body of the reporting event a stored event's ``state`` records, as stored and as the
    API returns it (``kw_events`` rows reach it through ``EventStore.join``)."""
    return bytes(_decode_recorded_body(state).event)


def fields_of(state: bytes) -> dict[str, Any]:
    """The reporting event a stored event's ``state`` records, as builtins."""
    return _decode_recorded_object(state).event


def stored_event_row(position: int, state: bytes) -> tuple[str, EventRow]:
    """The story and ``kw_events`` row of a stored reporting event, read without validating
    it again (it was validated when recorded); equal to ``event_row`` of it decoded."""
    recorded = decode_recorded_head(state)
    head = recorded.event
    row = (
        position,
        recorded.originator_id,
        head.id,
        recorded.originator_version - 1,
        head.type,
        head.source,
        micros(head.published_at),
        micros(recorded.timestamp),
        recorded.recorded_by,
        recorded.digest,
    )
    return recorded.originator_id, row


def event_row(position: int, recorded: Story.EventRecorded) -> EventRow:
    """The ``kw_events`` row of one stored reporting event."""
    event = recorded.event
    return (
        position,
        recorded.originator_id,
        event.id,
        recorded.originator_version - 1,
        event.type,
        event.source,
        micros(event.published_at),
        micros(recorded.timestamp),
        recorded.recorded_by,
        recorded.digest,
    )


@dataclass
class SaveRows:
    """What one save writes before any state is re-folded, and where each re-fold starts."""

    story: str
    recorded_at: int
    events: list[EventRow] = field(default_factory=list)
    positions: set[int] = field(default_factory=set)
    document_acts: list[ActRow] = field(default_factory=list)
    urls: list[UrlRow] = field(default_factory=list)
    # The save's acts per claim and document (in save order), and each one's earliest.
    new_claim_acts: dict[str, list[ClaimAct]] = field(default_factory=dict)
    new_document_acts: dict[str, list[DocumentAct]] = field(default_factory=dict)
    claims_from: dict[str, Start] = field(default_factory=dict)
    documents_from: dict[str, Start] = field(default_factory=dict)


def save_rows(batch: Batch) -> SaveRows:
    """The event, document act and URL rows of one save, with the acts each claim and document
    got (a claim's act is written with its state: ``state_rows``)."""
    story = batch[0][1].originator_id
    rows = SaveRows(story, micros(batch[0][1].timestamp))
    for position, recorded in batch:
        row = event_row(position, recorded)
        rows.events.append(row)
        rows.positions.add(position)
        event, published = recorded.event, row[6]
        order = (event.published_at, position)
        for claim_id, claim_act in claim_acts(event, position):
            rows.new_claim_acts.setdefault(claim_id, []).append(claim_act)
            rows.claims_from[claim_id] = min(rows.claims_from.get(claim_id, order), order)
        doc_act = document_act(event, position)
        if doc_act is not None:
            doc_id = doc_act.document.id
            rows.document_acts.append(
                (
                    story,
                    doc_id,
                    published,
                    position,
                    rows.recorded_at,
                    event.id,
                    encode_blob(doc_act),
                )
            )
            rows.new_document_acts.setdefault(doc_id, []).append(doc_act)
            if doc_act.document.url:
                url = doc_act.document.url
                rows.urls.append((url_key(url), story, doc_id, url))
            rows.documents_from[doc_id] = min(rows.documents_from.get(doc_id, order), order)
    return rows


def document_state_rows(
    story: str,
    key: str,
    acts: Sequence[DocumentAct],
    states: Iterable[DocumentState],
    start: Start,
    recorded_at: int,
    fresh: Container[int],
    held: Mapping[Start, DocumentState] = MappingProxyType({}),
) -> list[StateRow]:
    """A document's rows of the states after each act from ``start`` on, as of this recording
    (its acts are kept apart, so the positions this save stored, ``fresh``, change nothing),
    but those its point already holds (``held``), as for claims (decision 049)."""
    return [
        (story, key, recorded_at, micros(act.published_at), act.position, encode_blob(state))
        for act, state in zip(acts, states, strict=True)
        if (act.published_at, act.position) >= start
        and held.get((act.published_at, act.position)) != state
    ]


def claim_state_rows(
    story: str,
    key: str,
    acts: Sequence[ClaimAct],
    states: Iterable[ClaimState],
    start: Start,
    recorded_at: int,
    fresh: Container[int],
    held: Mapping[Start, ClaimState] = MappingProxyType({}),
) -> list[StateRow]:
    """A claim's rows of the states after each act from ``start`` on, as of this recording;
    the acts at the positions this save stored (``fresh``) go in their rows, with their event's
    id (decision 036). An earlier act's state that is what its point already holds (``held``:
    the states after the acts stored before, by ``act_order``) is not written again: the row
    that holds it still answers every later question (decision 049)."""
    rows: list[StateRow] = []
    for act, state in zip(acts, states, strict=True):
        point = (act.published_at, act.position)
        if point < start:
            continue
        own = act.position in fresh
        if not own and held.get(point) == state:
            continue
        rows.append(
            (
                story,
                key,
                recorded_at,
                micros(act.published_at),
                act.position,
                encode_blob(state),
                act.event_id if own else None,
                encode_blob(act) if own else None,
            )
        )
    return rows
