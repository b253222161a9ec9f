"""Answers questions from the projection tables: index probes, never a replay of the stream."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any, Protocol

import msgspec
from msgspec import Struct

from domain.knowledge import ClaimState, DocumentState, Knowledge, assemble, in_knowledge_order
from service.projections.dialect import Dialect, EventStore, state_at
from service.projections.rows import body_of, decode_claim_act, fields_of, from_micros, micros
from service.projections.snapshots import reading, tuple_rows
from service.schemas import (
    Change,
    HistoryEntry,
    Receipt,
    StoredEventView,
    StorySummary,
    TimelineEntry,
)

FOREVER = 2**62
decode_claim_state = msgspec.msgpack.Decoder(ClaimState).decode
decode_document_state = msgspec.msgpack.Decoder(DocumentState).decode


class Datastore(Protocol):
    """Either library datastore: both open a read transaction yielding a cursor."""

    def transaction(self, *, commit: bool) -> AbstractContextManager[Any]: ...


HELD_BATCH = 500
"""Event ids looked up in one statement by ``Reader.held``."""


class StoryTip(Struct, frozen=True):
    """A story's last stored event: its position and when it was recorded."""

    position: int
    recorded_at: datetime


TIP_COLUMNS = "(SELECT MAX(position) FROM kw_events) AS p, s.last_position, e.recorded_at"
TIP_ROW = " LEFT JOIN kw_events e ON e.position = s.last_position"


def position_and_tip_statement(dialect: Dialect) -> str:
    """One statement: the applied position (``p``) and a story's tip (``last_position``,
    ``recorded_at``; NULL for no such story); parameter: the story."""
    return dialect.sql(
        f"SELECT {TIP_COLUMNS} FROM (SELECT 1 AS one) o"
        f" LEFT JOIN kw_stories s ON s.story = ?{TIP_ROW}"
    )


POSTGRES_TIPS_STATEMENT = (
    f"SELECT {TIP_COLUMNS}, q.story FROM unnest(%s::text[]) AS q(story)"
    f" LEFT JOIN kw_stories s ON s.story = q.story{TIP_ROW}"
)
"""``position_and_tip_statement`` for many stories at once, one row each (``story`` names it),
on PostgreSQL; parameter: the stories, as an array."""


def known_of(row: Any) -> tuple[int, StoryTip | None]:
    """The applied position and the story's tip (None: no such story), from the row of
    ``position_and_tip_statement``."""
    position = int(row["p"] or 0)
    if row["last_position"] is None:
        return position, None
    return position, StoryTip(row["last_position"], from_micros(row["recorded_at"]))


def recorded_bound(recorded_before: datetime | None) -> int:
    """The ``recorded_at`` bound in table units (no bound: the far future)."""
    return FOREVER if recorded_before is None else micros(recorded_before)


DOCUMENT_STATES_UP_TO = (
    "SELECT document, state FROM kw_document_states"
    " WHERE story = ? AND published_at <= ? AND recorded_at < ?"
    " ORDER BY document, published_at, position, recorded_at"
)
"""The state rows of a story's documents that (T, R) admits, each document's in key order;
parameters (story, T, R). A document's last row is its state at (T, R) (decision 009), so one
scan of the story's rows answers for all its documents (decision 023): the bench's stories
hold ~1.2 state rows per document, and a probe per document cost about twice the scan."""


def document_states(rows: Iterable[tuple[str, bytes]]) -> list[DocumentState]:
    """Each document's state at (T, R): its last row of ``DOCUMENT_STATES_UP_TO``, read as
    tuples (``tuple_rows``)."""
    return [decode_document_state(state) for state in dict(rows).values()]


class Reader:
    """Read queries over the projection tables of one database."""

    def __init__(self, datastore: Datastore, dialect: Dialect, store: EventStore) -> None:
        self.datastore = datastore
        self.dialect = dialect
        self._snapshots = threading.local()
        q = dialect.sql
        self.claims_at = q(
            f"SELECT ({state_at('claim')}) AS state,"
            f" {applied_event_ids(dialect)} AS events"
            " FROM kw_claims c WHERE c.story = ? AND c.first_published_at <= ?"
        )
        self.claim_states_at = q(
            f"SELECT ({state_at('claim')}) AS state"
            " FROM kw_claims c WHERE c.story = ? AND c.first_published_at <= ?"
        )
        self.claim_at = q(
            f"SELECT ({state_at('claim')}) AS state FROM kw_claims c WHERE c.story = ? AND c.claim = ?"
        )
        self.documents_at = q(DOCUMENT_STATES_UP_TO)
        self.count_applied = q(
            "SELECT COUNT(*) AS n FROM kw_events"
            " WHERE story = ? AND published_at <= ? AND recorded_at < ?"
        )
        self.claim_rows = q(
            "SELECT s.published_at, s.position, s.state, a.act"
            " FROM kw_claim_states s"
            " JOIN kw_claim_states a ON a.story = s.story AND a.claim = s.claim"
            " AND a.published_at = s.published_at AND a.position = s.position"
            " AND a.act IS NOT NULL"
            " WHERE s.story = ? AND s.claim = ? AND s.recorded_at < ?"
            " ORDER BY s.published_at, s.position, s.recorded_at DESC"
        )
        self.claims_touched = q(
            "SELECT DISTINCT claim FROM kw_claim_states"
            " WHERE story = ? AND published_at > ? AND published_at <= ?"
        )
        # kw_events with each event's stored state, which holds its body (decision 035).
        events = (
            "SELECT e.position, e.story, e.event_id, e.story_version, e.type, e.source,"
            " e.published_at, e.recorded_at, e.recorded_by, r.state AS recorded"
            f" FROM kw_events e{store.join()}"
        )
        self.timeline_rows = q(
            f"{events} WHERE e.story = ? AND e.recorded_at < ? ORDER BY e.published_at, e.position"
        )
        self.events_after = q(
            f"{events} WHERE e.story = ? AND e.position > ? ORDER BY e.position LIMIT ?"
        )
        self.event_by_id = q(f"{events} WHERE e.story = ? AND e.event_id = ?")
        self.receipt_by_id = q(
            "SELECT position, story_version, recorded_at, recorded_by FROM kw_events"
            " WHERE story = ? AND event_id = ?"
        )
        self.story_claims = q("SELECT claim FROM kw_claims WHERE story = ?")
        self.story_rows = q("SELECT * FROM kw_stories ORDER BY story")
        self.story_row = q("SELECT * FROM kw_stories WHERE story = ?")
        self.max_position = q("SELECT MAX(position) AS p FROM kw_events")
        self.position_and_story_tip = position_and_tip_statement(dialect)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Answer every query this thread makes inside the block from one snapshot."""
        if getattr(self._snapshots, "cursor", None) is not None:
            yield
            return
        with reading(self.datastore, self.dialect, snapshot=True) as cursor:
            self._snapshots.cursor = cursor
            try:
                yield
            finally:
                self._snapshots.cursor = None

    @contextmanager
    def cursor(self, *, single: bool = False) -> Iterator[Any]:
        """The thread's snapshot cursor, or a snapshot of its own; with ``single``, for one
        statement, which needs no snapshot beyond its own."""
        cursor = getattr(self._snapshots, "cursor", None)
        if cursor is not None:
            yield cursor
            return
        with reading(self.datastore, self.dialect, snapshot=not single) as cursor:
            yield cursor

    def _rows(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        with self.cursor(single=True) as cursor:
            cursor.execute(statement, params)
            return list(cursor.fetchall())

    def position(self) -> int:
        """The last position the projections have applied (0 for an empty store)."""
        rows = self._rows(self.max_position)
        return int(rows[0]["p"] or 0)

    def position_and_tip(self, story: str) -> tuple[int, StoryTip | None]:
        """The applied position and the story's last stored event (None: no such story), in
        one statement, so one consistent read even outside a snapshot.

        Every later append to the story is recorded after the tip's ``recorded_at`` (checked
        under the write lock), so answers bounded by a ``recorded_before`` ≤ it cannot change.
        """
        return known_of(self._rows(self.position_and_story_tip, (story,))[0])

    def knowledge(self, story: str, at: datetime, recorded_before: datetime | None) -> Knowledge:
        """Knowledge of ``story`` at ``at`` as recorded before ``recorded_before``."""
        t, r = micros(at), recorded_bound(recorded_before)
        with self.cursor() as named, tuple_rows(named, self.dialect) as cursor:
            cursor.execute(self.claims_at, (r, t, t, r, story, t))
            claims = [
                (decode_claim_state(state), events.split(","))
                for state, events in cursor.fetchall()
                if state
            ]
            cursor.execute(self.documents_at, (story, t, r))
            documents = document_states(cursor.fetchall())
            cursor.execute(self.count_applied, (story, t, r))
            applied = int(cursor.fetchone()[0])
        return assemble(story, at, recorded_before, claims, documents, applied)

    def public_claims(
        self, story: str, at: datetime, recorded_before: datetime | None
    ) -> list[ClaimState]:
        """The states of the claims public at (T, R), in the knowledge answer's order, without
        the events applied to each (what provenance needs of them)."""
        t, r = micros(at), recorded_bound(recorded_before)
        with self.cursor() as named, tuple_rows(named, self.dialect) as cursor:
            cursor.execute(self.claim_states_at, (r, t, story, t))
            states = [decode_claim_state(state) for (state,) in cursor.fetchall() if state]
        return in_knowledge_order(states)

    def claim_state(
        self, story: str, claim: str, at: datetime, recorded_before: datetime | None
    ) -> ClaimState | None:
        """One claim's state at (T, R), or None when nothing about it was public."""
        rows = self._rows(
            self.claim_at, (recorded_bound(recorded_before), micros(at), story, claim)
        )
        if not rows or not rows[0]["state"]:
            return None
        return decode_claim_state(rows[0]["state"])

    def claim_states(
        self, story: str, claim: str, recorded_before: datetime | None
    ) -> Iterator[tuple[datetime, str, str, str, ClaimState]]:
        """(published_at, event, source, stance, state after it) per act, in public order."""
        previous: tuple[int, int] | None = None
        for row in self._rows(self.claim_rows, (story, claim, recorded_bound(recorded_before))):
            key = (row["published_at"], row["position"])
            if key == previous:
                continue
            previous = key
            act = decode_claim_act(row["act"])
            yield (
                from_micros(row["published_at"]),
                act.event_id,
                act.source,
                act.stance,
                decode_claim_state(row["state"]),
            )

    def history(
        self, story: str, claim: str, recorded_before: datetime | None
    ) -> list[HistoryEntry]:
        """The claim's state after each event that changed it."""
        entries: list[HistoryEntry] = []
        last: tuple[Any, ...] | None = None
        for at, event_id, source, stance, state in self.claim_states(story, claim, recorded_before):
            shape = (state.visible, state.status, state.text, state.supported_by, state.disputed_by)
            if shape == last:
                continue
            last = shape
            entries.append(
                HistoryEntry(
                    at=at,
                    event=event_id,
                    source=source,
                    stance=stance,
                    visible=state.visible,
                    status=state.status,
                    text=state.text,
                    supported_by=state.supported_by,
                    disputed_by=state.disputed_by,
                )
            )
        return entries

    def changes(
        self, story: str, start: datetime, end: datetime, recorded_before: datetime | None
    ) -> list[Change]:
        """Claims that became known or changed status in (``start``, ``end``]."""
        touched = self._rows(self.claims_touched, (story, micros(start), micros(end)))
        found: list[Change] = []
        for claim in sorted(row["claim"] for row in touched):
            status: str | None = None
            for at, event_id, _, _, state in self.claim_states(story, claim, recorded_before):
                if at > end:
                    break
                now_status = state.status if state.visible else None
                if at > start and now_status != status:
                    found.append(
                        Change(
                            at=at,
                            event=event_id,
                            kind="claim_reported" if status is None else "claim_status_changed",
                            claim=claim,
                            status=now_status,
                            previous_status=status,
                        )
                    )
                status = now_status
        found.sort(key=lambda c: (c.at, c.event, c.claim or ""))
        return found

    def timeline(self, story: str, recorded_before: datetime | None) -> list[TimelineEntry]:
        """The story's events in public order, each with a one-line summary."""
        return [
            TimelineEntry(
                published_at=from_micros(row["published_at"]),
                id=row["event_id"],
                type=row["type"],
                source=row["source"],
                summary=summary_of(fields_of(bytes(row["recorded"]))),
                position=row["position"],
                recorded_at=from_micros(row["recorded_at"]),
            )
            for row in self._rows(self.timeline_rows, (story, recorded_bound(recorded_before)))
        ]

    def events(self, story: str, after: int = 0, limit: int = 100) -> list[StoredEventView]:
        """Stored events of a story in recorded order, after a position."""
        return [event_view(row) for row in self._rows(self.events_after, (story, after, limit))]

    def event(self, story: str, event_id: str) -> StoredEventView | None:
        """One stored event by id."""
        rows = self._rows(self.event_by_id, (story, event_id))
        return event_view(rows[0]) if rows else None

    def receipts(self, story: str, event_ids: Sequence[str]) -> list[Receipt]:
        """The receipts of recorded events, in the order asked."""
        with self.cursor() as cursor:
            found = []
            for event_id in event_ids:
                cursor.execute(self.receipt_by_id, (story, event_id))
                row = cursor.fetchone()
                found.append(
                    Receipt(
                        story=story,
                        id=event_id,
                        position=row["position"],
                        story_version=row["story_version"],
                        recorded_at=from_micros(row["recorded_at"]),
                        recorded_by=row["recorded_by"],
                    )
                )
        return found

    def held(self, story: str, event_ids: Iterable[str]) -> dict[str, bytes]:
        """Of ``event_ids``, those ``story`` holds, each with its digest: what a command naming
        them needs (``domain.story.Held``), by the index on (story, event_id): ``kw_events``
        keeps each event's digest beside its id."""
        names = sorted(event_ids)
        found: dict[str, bytes] = {}
        with self.cursor() as cursor:
            for lo in range(0, len(names), HELD_BATCH):
                ids = names[lo : lo + HELD_BATCH]
                cursor.execute(
                    self.dialect.sql(
                        "SELECT event_id, digest FROM kw_events"
                        f" WHERE story = ? AND event_id IN ({', '.join('?' * len(ids))})"
                    ),
                    (story, *ids),
                )
                for row in cursor.fetchall():
                    found[row["event_id"]] = bytes.fromhex(row["digest"])
        return found

    def claims_of(self, story: str) -> set[str]:
        """Every claim of ``story``: each was introduced by an ``asserts`` (the story's rule)."""
        return {row["claim"] for row in self._rows(self.story_claims, (story,))}

    def stories(self) -> list[StorySummary]:
        """Every story's summary."""
        return [story_summary(row) for row in self._rows(self.story_rows)]

    def story(self, story: str) -> StorySummary | None:
        """One story's summary, or None."""
        rows = self._rows(self.story_row, (story,))
        return story_summary(rows[0]) if rows else None


def applied_event_ids(dialect: Dialect) -> str:
    """A correlated subquery: the ids of the events applied to claim ``c`` at (T, R), in fold
    order, comma-separated (ids cannot hold a comma); parameters T, then R. Each act's own row
    holds its event's id; rows rewritten later hold NULL, which both aggregates skip (decision
    036), so the search reads the covering index ``kw_claim_events`` alone."""
    acts = (
        "FROM kw_claim_states a WHERE a.story = c.story AND a.claim = c.claim"
        " AND a.published_at <= ? AND a.recorded_at < ?"
    )
    if dialect.name == "postgres":
        # An ordered subquery reads the covering index in order; PostgreSQL 15's
        # ``string_agg(… ORDER BY …)`` sorted each claim's ids again (0.98 against 0.41 ms
        # of execution for a 69-claim answer, decision 007).
        return (
            f"array_to_string(ARRAY(SELECT a.event_id {acts}"
            " ORDER BY a.published_at, a.position), ',')"
        )
    # SQLite before 3.44 has no ORDER BY inside an aggregate; it concatenates in the order
    # it visits the rows. Both b-trees of kw_claim_states (its primary key and the covering
    # index) hold a claim's rows in (published_at, position) order, so a search of either
    # visits them in fold order; ``test_applied_ids_read_one_b_tree_in_order`` checks that the
    # plan searches one and sorts nothing. An ordered subquery around it (a co-routine per
    # claim) made the claims statement slower: 786 against 646 µs p50 over 600 questions to
    # the bench's 300k store, alternated.
    return f"(SELECT group_concat(a.event_id) {acts})"


def event_view(row: Any) -> StoredEventView:
    """A kw_events row, with its stored event's state, as the API shows it."""
    return StoredEventView(
        story=row["story"],
        position=row["position"],
        story_version=row["story_version"],
        recorded_at=from_micros(row["recorded_at"]),
        recorded_by=row["recorded_by"],
        event=msgspec.Raw(body_of(bytes(row["recorded"]))),
    )


def story_summary(row: Any) -> StorySummary:
    """A kw_stories row as the API shows it."""
    return StorySummary(
        story=row["story"],
        events=row["events"],
        claims=row["claims"],
        documents=row["documents"],
        first_published_at=from_micros(row["first_published_at"]),
        last_published_at=from_micros(row["last_published_at"]),
        story_version=row["events"],
    )


def summary_of(body: dict[str, Any]) -> str:
    """One line on what an event did: its document and its stances."""
    parts = []
    document = body.get("document")
    if document:
        parts.append(f"{document.get('title') or document['id']}")
    stances: dict[str, list[str]] = {}
    for claim in body.get("claims", ()):
        stances.setdefault(claim["stance"], []).append(claim["id"])
    parts.extend(f"{stance} {', '.join(ids)}" for stance, ids in stances.items())
    return "; ".join(parts) or (body.get("note") or "")
