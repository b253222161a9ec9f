"""The projector: turns newly stored events into rows of the time-indexed tables.

It runs inside the transaction that stores the events (live appends) and over the whole store
in position order (``knewwhen replay``); both paths call ``project``, so replay yields the same
tables. Appends are grouped into batches (one save: one story, one ``recorded_at``); a batch
re-folds only the claims and documents it touched, from their stored acts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import groupby
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
    fold_claim,
    fold_document,
)
from domain.story import Story
from service.projections.dialect import Dialect

RECORDED_TOPIC = get_topic(Story.EventRecorded)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

decode_recorded = msgspec.json.Decoder(Story.EventRecorded).decode
encode_body = msgspec.json.Encoder().encode
encode_blob = msgspec.msgpack.Encoder().encode
decode_claim_act = msgspec.msgpack.Decoder(ClaimAct).decode
decode_document_act = msgspec.msgpack.Decoder(DocumentAct).decode


class RecordedOutOfOrder(Exception):
    """Another writer committed a later ``recorded_at`` first; the append retries with a new one."""


def micros(moment: datetime) -> int:
    """Microseconds since the epoch: how the tables store a time."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    """The inverse of ``micros``."""
    return datetime.fromtimestamp(value // 1_000_000, UTC).replace(microsecond=value % 1_000_000)


Batch = list[tuple[int, Story.EventRecorded]]


def batches(stored: Iterable[tuple[int, StoredEvent]]) -> Iterator[Batch]:
    """Decode reporting events and group them by (story, recorded_at): one group, one save."""
    recorded = (
        (position, decode_recorded(s.state)) for position, s in stored if s.topic == RECORDED_TOPIC
    )
    for _, group in groupby(recorded, key=lambda r: (r[1].originator_id, r[1].timestamp)):
        yield list(group)


class Projector:
    """Writes the projection rows for batches of stored events, through any DB-API cursor."""

    def __init__(self, dialect: Dialect) -> None:
        q = dialect.sql
        self.last_recorded = q("SELECT recorded_at FROM kw_events ORDER BY position DESC LIMIT 1")
        self.insert_event = q("INSERT INTO kw_events VALUES (?,?,?,?,?,?,?,?,?,?,?)")
        self.insert_claim = q("INSERT INTO kw_claims VALUES (?,?) ON CONFLICT DO NOTHING")
        self.insert_claim_act = q("INSERT INTO kw_claim_acts VALUES (?,?,?,?,?)")
        self.select_claim_acts = q(
            "SELECT act FROM kw_claim_acts WHERE story=? AND claim=? ORDER BY published_at, position"
        )
        self.insert_claim_state = q("INSERT INTO kw_claim_states VALUES (?,?,?,?,?,?)")
        self.insert_document = q("INSERT INTO kw_documents VALUES (?,?) ON CONFLICT DO NOTHING")
        self.insert_document_act = q("INSERT INTO kw_document_acts VALUES (?,?,?,?,?)")
        self.select_document_acts = q(
            "SELECT act FROM kw_document_acts WHERE story=? AND document=?"
            " ORDER BY published_at, position"
        )
        self.insert_document_state = q("INSERT INTO kw_document_states VALUES (?,?,?,?,?,?)")
        least, greatest = ("min", "max") if dialect.name == "sqlite" else ("LEAST", "GREATEST")
        self.upsert_story = q(
            "INSERT INTO kw_stories VALUES (?,?,?,?,?,?,?) ON CONFLICT (story) DO UPDATE SET"
            " events = kw_stories.events + excluded.events,"
            " claims = kw_stories.claims + excluded.claims,"
            " documents = kw_stories.documents + excluded.documents,"
            f" first_published_at = {least}(kw_stories.first_published_at,"
            " excluded.first_published_at),"
            f" last_published_at = {greatest}(kw_stories.last_published_at,"
            " excluded.last_published_at),"
            " last_position = excluded.last_position"
        )

    def project(self, cursor: Any, stored: Iterable[tuple[int, StoredEvent]]) -> None:
        """Project stored events, given with their positions in commit order."""
        for batch in batches(stored):
            self.project_batch(cursor, batch)

    def project_batch(self, cursor: Any, batch: Batch) -> None:
        """Write one save's rows: events, acts, and the re-folded states they changed."""
        story = batch[0][1].originator_id
        recorded_at = micros(batch[0][1].timestamp)
        cursor.execute(self.last_recorded)
        last = cursor.fetchone()
        if last is not None and recorded_at <= last["recorded_at"]:
            raise RecordedOutOfOrder(
                f"recorded_at {recorded_at} is not after {last['recorded_at']}"
            )
        first_position = batch[0][0]
        event_rows, claim_rows, document_rows = [], [], []
        claims_from: dict[str, tuple[datetime, int]] = {}
        documents_from: dict[str, tuple[datetime, int]] = {}
        for position, recorded in batch:
            event = recorded.event
            published = micros(event.published_at)
            event_rows.append(
                (
                    position,
                    story,
                    event.id,
                    recorded.originator_version - 1,
                    event.type,
                    event.source,
                    published,
                    recorded_at,
                    recorded.recorded_by,
                    recorded.digest,
                    encode_body(event),
                )
            )
            order = (event.published_at, position)
            for claim_id, claim_act in claim_acts(event, position):
                claim_rows.append((story, claim_id, published, position, encode_blob(claim_act)))
                claims_from[claim_id] = min(claims_from.get(claim_id, order), order)
            doc_act = document_act(event, position)
            if doc_act is not None:
                doc_id = doc_act.document.id
                document_rows.append((story, doc_id, published, position, encode_blob(doc_act)))
                documents_from[doc_id] = min(documents_from.get(doc_id, order), order)
        cursor.executemany(self.insert_event, event_rows)
        if claim_rows:
            cursor.executemany(self.insert_claim_act, claim_rows)
        if document_rows:
            cursor.executemany(self.insert_document_act, document_rows)
        new_claims = sum(
            self.refold_claim(cursor, story, claim_id, start, recorded_at, first_position)
            for claim_id, start in claims_from.items()
        )
        new_documents = sum(
            self.refold_document(cursor, story, doc_id, start, recorded_at, first_position)
            for doc_id, start in documents_from.items()
        )
        public_times = [row[6] for row in event_rows]
        cursor.execute(
            self.upsert_story,
            (
                story,
                len(event_rows),
                new_claims,
                new_documents,
                min(public_times),
                max(public_times),
                batch[-1][0],
            ),
        )

    def refold_claim(
        self,
        cursor: Any,
        story: str,
        claim_id: str,
        start: tuple[datetime, int],
        recorded_at: int,
        first_position: int,
    ) -> bool:
        """Rewrite the claim's states from ``start`` on; True when the claim is new."""
        cursor.execute(self.select_claim_acts, (story, claim_id))
        acts = [decode_claim_act(row["act"]) for row in cursor.fetchall()]
        states = fold_claim(claim_id, acts)
        cursor.executemany(
            self.insert_claim_state, state_rows(story, claim_id, acts, states, start, recorded_at)
        )
        return self._register(cursor, self.insert_claim, story, claim_id, acts, first_position)

    def refold_document(
        self,
        cursor: Any,
        story: str,
        doc_id: str,
        start: tuple[datetime, int],
        recorded_at: int,
        first_position: int,
    ) -> bool:
        """Rewrite the document's states from ``start`` on; True when the document is new."""
        cursor.execute(self.select_document_acts, (story, doc_id))
        acts = [decode_document_act(row["act"]) for row in cursor.fetchall()]
        states = fold_document(doc_id, acts)
        cursor.executemany(
            self.insert_document_state, state_rows(story, doc_id, acts, states, start, recorded_at)
        )
        return self._register(cursor, self.insert_document, story, doc_id, acts, first_position)

    @staticmethod
    def _register(
        cursor: Any,
        statement: str,
        story: str,
        key: str,
        acts: Sequence[ClaimAct | DocumentAct],
        first_position: int,
    ) -> bool:
        """List a claim or document the first time a batch brings it; True when it did."""
        is_new = min(act.position for act in acts) >= first_position
        if is_new:
            cursor.execute(statement, (story, key))
        return is_new


def state_rows(
    story: str,
    key: str,
    acts: Sequence[ClaimAct | DocumentAct],
    states: Iterable[ClaimState | DocumentState],
    start: tuple[datetime, int],
    recorded_at: int,
) -> list[tuple[str, str, int, int, int, bytes]]:
    """The rows of the states after each act from ``start`` on, as of this recording."""
    return [
        (story, key, recorded_at, micros(act.published_at), act.position, encode_blob(state))
        for act, state in zip(acts, states, strict=True)
        if (act.published_at, act.position) >= start
    ]
