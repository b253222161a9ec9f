"""What a provenance document covers, read from the projection tables at (T, R).

Events from ``kw_events``, stances from ``kw_claim_states``, publications from
``kw_document_acts`` (each act row carries its ``recorded_at``) and the claims' states from the
knowledge answer — index reads, never a replay of the stream. A story's provenance reads the
whole story; a claim's reads only what its provenance names (decision 051).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.errors import StoryNotFound
from domain.knowledge import ClaimState, DocumentAct
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

EVENTS = (
    "SELECT e.position, e.event_id, e.type, e.source, e.published_at, e.recorded_at,"
    " e.recorded_by, r.state AS recorded FROM kw_events e"
)
"""``kw_events`` rows, each with its stored event's state (its body); the join follows."""


def events_in_scope(store: EventStore) -> str:
    """The story's events at (T, R) in public order; parameters (story, T, R)."""
    return (
        f"{EVENTS}{store.join()} WHERE e.story = ? AND e.published_at <= ? AND e.recorded_at < ?"
        " ORDER BY e.published_at, e.position"
    )


def events_named(store: EventStore, count: int) -> str:
    """``count`` of the story's events, by id, whenever published or recorded: by the index on
    (story, event_id), which SQLite would not choose with (T, R) in the statement (it searched
    the story's public index for the range of T instead, reading every event before T);
    parameters (story, *ids)."""
    return f"{EVENTS}{store.join()} WHERE e.story = ? AND e.event_id IN ({', '.join('?' * count)})"


@dataclass(slots=True)
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
    claims: list[ClaimState]
    claim_acts: dict[str, list[Any]]
    document_acts: dict[str, list[DocumentAct]]


IN_SCOPE = " AND a.published_at <= ? AND a.recorded_at < ? AND a.act IS NOT NULL"
"""Acts public at T and recorded before R: a claim's act is in the state row its own append
wrote (decision 036); a document's act rows all hold one."""


def read_scope(ledger: Ledger, story: str, at: datetime, recorded_before: datetime | None) -> Scope:
    """Everything public about ``story`` at ``at`` as recorded before ``recorded_before``."""
    q, t, r = ledger.dialect.sql, micros(at), recorded_bound(recorded_before)
    with ledger.reader.snapshot(), ledger.reader.cursor() as cursor:
        if ledger.reader.story(story) is None:
            raise StoryNotFound(f"no story {story!r}")
        claims = ledger.reader.public_claims(story, at, recorded_before)
        cursor.execute(q(events_in_scope(ledger.store)), (story, t, r))
        events = {e.event_id: e for e in map(event_row, cursor)}
        acts: list[dict[str, list[Any]]] = []
        for table, column, decode in (
            ("kw_claim_states", "claim", decode_claim_act),
            ("kw_document_acts", "document", decode_document_act),
        ):
            cursor.execute(
                q(
                    f"SELECT a.{column} AS k, a.act FROM {table} a WHERE a.story = ?{IN_SCOPE}"
                    f" ORDER BY a.{column}, a.published_at, a.position"
                ),
                (story, t, r),
            )
            acts.append(grouped_acts(cursor, decode))
    claim_acts, document_acts = acts
    return Scope(story, events, claims, claim_acts, in_order(document_acts))


BATCH = 500
"""Ids asked for in one statement while a claim's scope is read."""


def read_claim_scope(
    ledger: Ledger, story: str, claim: str, at: datetime, recorded_before: datetime | None
) -> Scope:
    """What the provenance of ``claim`` names at (T, R), and nothing else of ``story``: the
    claim, its acts, their events, the events those cite and every event publishing a document
    any of them publishes, until none is new. Read a wave at a time by ids, so it costs what
    the claim's provenance holds, not the story's length. The claims are empty when ``claim``
    is not public at (T, R)."""
    q, t, r = ledger.dialect.sql, micros(at), recorded_bound(recorded_before)
    with ledger.reader.snapshot(), ledger.reader.cursor() as cursor:
        if ledger.reader.story(story) is None:
            raise StoryNotFound(f"no story {story!r}")
        state = ledger.reader.claim_state(story, claim, at, recorded_before)
        if state is None or not state.visible:
            return Scope(story, {}, [], {}, {})
        cursor.execute(
            q(
                "SELECT a.act FROM kw_claim_states a WHERE a.story = ? AND a.claim = ?"
                f"{IN_SCOPE} ORDER BY a.published_at, a.position"
            ),
            (story, claim, t, r),
        )
        claim_acts = [decode_claim_act(bytes(row["act"])) for row in cursor.fetchall()]
        events: dict[str, EventRow] = {}
        document_acts: dict[str, list[DocumentAct]] = {}
        asked: set[str] = set()
        wanted = {act.event_id for act in claim_acts}
        while wanted:
            # A cited event published after T or recorded from R on is asked once, not found.
            asked |= wanted
            found = [
                event_row(row)
                for ids in batches(sorted(wanted))
                for row in fetched(cursor, q(events_named(ledger.store, len(ids))), (story, *ids))
                # R holds back no cited event (a story cites only what it holds already); T may
                if row["published_at"] <= t and row["recorded_at"] < r
            ]
            events.update((e.event_id, e) for e in found)
            documents = sorted({e.document for e in found if e.document} - document_acts.keys())
            published: dict[str, list[DocumentAct]] = {}
            for names in batches(documents):
                rows = fetched(cursor, q(document_acts_named(len(names))), (story, t, r, *names))
                published.update(grouped_acts(rows, decode_document_act))
            document_acts.update(published)
            wanted = {a.event_id for acts in published.values() for a in acts}
            wanted |= {cited for e in found for cited in e.cites}
            wanted -= asked
    return Scope(story, events, [state], {claim: claim_acts}, in_order(document_acts))


def in_order(document_acts: dict[str, list[DocumentAct]]) -> dict[str, list[DocumentAct]]:
    """Documents in the order of their ids' code points: a claim's scope reads them a few at
    a time, and PostgreSQL's ``ORDER BY`` follows its collation; so provenance declares them
    in one order whichever scope and database it is built from."""
    return dict(sorted(document_acts.items()))


def document_acts_named(count: int) -> str:
    """The acts in scope of ``count`` named documents; parameters (story, T, R, *documents)."""
    return (
        f"SELECT a.document AS k, a.act FROM kw_document_acts a WHERE a.story = ?{IN_SCOPE}"
        f" AND a.document IN ({', '.join('?' * count)})"
        " ORDER BY a.document, a.published_at, a.position"
    )


def fetched(cursor: Any, statement: str, parameters: Sequence[Any]) -> list[Any]:
    """The rows ``statement`` selects."""
    cursor.execute(statement, parameters)
    return list(cursor.fetchall())


def batches(names: Sequence[str]) -> Iterable[Sequence[str]]:
    """``names`` in runs of at most ``BATCH``."""
    return (names[i : i + BATCH] for i in range(0, len(names), BATCH))


def grouped_acts(rows: Iterable[Any], decode: Any) -> dict[str, list[Any]]:
    """Rows of (``k``, ``act``) as each ``k``'s decoded acts, in the rows' order."""
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row["k"], []).append(decode(bytes(row["act"])))
    return grouped


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
