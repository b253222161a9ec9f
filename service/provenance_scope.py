"""What a provenance document covers, read from the projection tables at (T, R).

Events from ``kw_events``, stances from ``kw_claim_states``, publications from
``kw_document_acts`` (each act row carries its ``recorded_at``) and the claims' states from the
knowledge answer — index reads, never a replay of the stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.errors import StoryNotFound
from domain.knowledge import ClaimKnowledge, DocumentAct
from service.application import Ledger
from service.projections.dialect import EventStore
from service.projections.reader import recorded_bound
from service.projections.rows import (
    decode_claim_act,
    decode_document_act,
    fields_of,
    from_micros,
    micros,
)


def events_in_scope(store: EventStore) -> str:
    """The story's events at (T, R), each with its stored event's state (its body); parameters
    (story, T, R)."""
    return (
        "SELECT e.position, e.event_id, e.type, e.source, e.published_at, e.recorded_at,"
        f" e.recorded_by, r.state AS recorded FROM kw_events e{store.join()}"
        " WHERE e.story = ? AND e.published_at <= ? AND e.recorded_at < ?"
        " ORDER BY e.published_at, e.position"
    )


@dataclass
class EventRow:
    """One reporting event as ``kw_events`` holds it."""

    position: int
    event_id: str
    type: str
    source: str
    published_at: datetime
    recorded_at: datetime
    recorded_by: str
    cites: tuple[str, ...]
    document: str | None
    note: str | None


@dataclass
class Scope:
    """What one provenance document covers: events, claims and document acts at (T, R)."""

    story: str
    events: dict[str, EventRow]
    claims: list[ClaimKnowledge]
    claim_acts: dict[str, list[Any]]
    document_acts: dict[str, list[DocumentAct]]


def read_scope(ledger: Ledger, story: str, at: datetime, recorded_before: datetime | None) -> Scope:
    """Everything public about ``story`` at ``at`` as recorded before ``recorded_before``."""
    q, t, r = ledger.dialect.sql, micros(at), recorded_bound(recorded_before)
    # A claim's act is in the state row its own append wrote (decision 036); a document's act
    # rows all hold one.
    in_scope = (
        " WHERE a.story = ? AND a.published_at <= ? AND a.recorded_at < ? AND a.act IS NOT NULL"
    )
    with ledger.reader.snapshot(), ledger.reader.cursor() as cursor:
        if ledger.reader.story(story) is None:
            raise StoryNotFound(f"no story {story!r}")
        knowledge = ledger.reader.knowledge(story, at, recorded_before)
        cursor.execute(q(events_in_scope(ledger.store)), (story, t, r))
        events = [event_row(row) for row in cursor.fetchall()]
        acts: list[dict[str, list[Any]]] = []
        for table, column, decode in (
            ("kw_claim_states", "claim", decode_claim_act),
            ("kw_document_acts", "document", decode_document_act),
        ):
            cursor.execute(
                q(
                    f"SELECT a.{column} AS k, a.act FROM {table} a{in_scope}"
                    f" ORDER BY a.{column}, a.published_at, a.position"
                ),
                (story, t, r),
            )
            grouped: dict[str, list[Any]] = {}
            for row in cursor.fetchall():
                grouped.setdefault(row["k"], []).append(decode(bytes(row["act"])))
            acts.append(grouped)
    return Scope(story, {e.event_id: e for e in events}, list(knowledge.claims), *acts)


def event_row(row: Any) -> EventRow:
    """A ``kw_events`` row, with the body fields provenance needs."""
    body = fields_of(bytes(row["recorded"]))
    document = body.get("document")
    return EventRow(
        position=row["position"],
        event_id=row["event_id"],
        type=row["type"],
        source=row["source"],
        published_at=from_micros(row["published_at"]),
        recorded_at=from_micros(row["recorded_at"]),
        recorded_by=row["recorded_by"],
        cites=tuple(body.get("cites", ())),
        document=document["id"] if document else None,
        note=body.get("note"),
    )
