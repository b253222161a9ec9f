"""The projector: turns newly stored events into rows of the time-indexed tables.

It runs inside the transaction that stores the events (live appends) and over the whole store
in position order (``knewwhen replay``); both paths call ``project``, so replay yields the same
tables. Appends are grouped into batches (one save: one story, one ``recorded_at``); a batch
re-folds only the claims and documents it touched, from their stored acts.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import msgspec
from eventsourcing.persistence import StoredEvent

from domain.knowledge import (
    ClaimState,
    DocumentAct,
    DocumentState,
    act_order,
    fold_claim,
    fold_document,
)
from service.projections.dialect import LATEST_STATE_FIRST, Dialect
from service.projections.rows import (
    ActRow,
    Batch,
    SaveRows,
    Start,
    StateRow,
    batches,
    claim_state_rows,
    decode_claim_act,
    decode_document_act,
    document_state_rows,
    micros,
    save_rows,
)


class RecordedOutOfOrder(Exception):
    """Another writer committed a later ``recorded_at`` first; the append retries with a new one."""


@dataclass(frozen=True)
class Subject:
    """What the projector keeps for one kind of thing acts are about: claims or documents.

    A resumable subject re-folds from the stored state before its earliest new act (claims:
    their acts accumulate); the others re-fold all their acts (documents have few each).
    Claims keep each act in the state row its own append wrote (decision 036): their ``acts``
    are the rows of ``states`` that hold one. Documents keep theirs in a table apart.
    """

    column: str
    things: str
    acts: str
    states: str
    decode_act: Callable[[bytes], Any]
    fold: Callable[[str, list[Any], Any], Iterator[Any]]
    # The rows of one thing's states from a start on (story, key, acts, states, start,
    # recorded_at, the positions this save stored, the states already held by act point):
    # claims' carry their own acts.
    state_rows: Callable[
        [str, str, Sequence[Any], Iterable[Any], Start, int, Container[int], Mapping[Start, Any]],
        list[StateRow],
    ]
    decode_state: Callable[[bytes], Any] | None = None

    @property
    def acts_in_states(self) -> bool:
        """Whether the acts are kept in the state rows (claims) rather than a table apart."""
        return self.acts == self.states

    @property
    def act_rows(self) -> str:
        """The condition (on alias ``a``) that picks the rows holding acts, after a WHERE."""
        return " AND a.act IS NOT NULL" if self.acts_in_states else ""

    @property
    def resumable(self) -> bool:
        """Whether a fold of this subject can resume from a stored state."""
        return self.decode_state is not None

    @property
    def prior_states(self) -> str:
        """Per start point, the state that holds just before it (act order), as recorded now."""
        return (
            "WITH starts(k, p, pos) AS (VALUES {values})"
            f" SELECT starts.k AS k, (SELECT s.state FROM {self.states} s"
            f" WHERE s.story = ? AND s.{self.column} = starts.k"
            " AND (s.published_at < starts.p OR (s.published_at = starts.p AND s.position < starts.pos))"
            f"{LATEST_STATE_FIRST}) AS state FROM starts"
        )

    @property
    def acts_after(self) -> str:
        """Per start point, the acts at or after it, in fold order."""
        return (
            "WITH starts(k, p, pos) AS (VALUES {values})"
            f" SELECT starts.k AS k, a.act FROM starts JOIN {self.acts} a"
            f" ON a.story = ? AND a.{self.column} = starts.k"
            " AND (a.published_at > starts.p OR (a.published_at = starts.p AND a.position >= starts.pos))"
            f"{self.act_rows} ORDER BY starts.k, a.published_at, a.position"
        )


def fold_document_whole(key: str, acts: list[DocumentAct], after: None) -> Iterator[DocumentState]:
    """Documents always re-fold from their first act."""
    return fold_document(key, acts)


CLAIMS = Subject(
    "claim",
    "kw_claims",
    "kw_claim_states",
    "kw_claim_states",
    decode_claim_act,
    fold_claim,
    claim_state_rows,
    msgspec.msgpack.Decoder(ClaimState).decode,
)
DOCUMENTS = Subject(
    "document",
    "kw_documents",
    "kw_document_acts",
    "kw_document_states",
    decode_document_act,
    fold_document_whole,
    document_state_rows,
)
IN_LIST_CHUNK = 500
POINTS_CHUNK = 300
ResumePoint = tuple[str, datetime, int]


class AppendHook(Protocol):
    """Rows written in the same transaction after a projection pass (the verifiable log)."""

    def after_append(self, cursor: Any, projected: Batch) -> None:
        """Write the hook's rows for the reporting events just projected, in position order."""


class Projector:
    """Writes the projection rows for batches of stored events, through any DB-API cursor."""

    def __init__(self, dialect: Dialect, hooks: Sequence[AppendHook] = ()) -> None:
        self.dialect = dialect
        self.hooks = tuple(hooks)
        q = dialect.sql
        self.last_recorded = q(
            "SELECT e.recorded_at FROM kw_stories s JOIN kw_events e"
            " ON e.position = s.last_position WHERE s.story = ?"
        )
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
        projected: Batch = []
        for batch in batches(stored):
            self.project_batch(cursor, batch)
            projected.extend(batch)
        for hook in self.hooks:
            hook.after_append(cursor, projected)

    def project_batch(self, cursor: Any, batch: Batch) -> None:
        """Write one save's rows: events, acts, and the re-folded states they changed."""
        rows = save_rows(batch)
        cursor.execute(self.last_recorded, (rows.story,))
        last = cursor.fetchone()
        if last is not None and rows.recorded_at <= last["recorded_at"]:
            raise RecordedOutOfOrder(
                f"recorded_at {rows.recorded_at} is not after {last['recorded_at']}"
            )
        insert = self.dialect.insert_rows
        insert(cursor, "kw_events", rows.events)
        insert(cursor, "kw_document_urls", rows.urls, " ON CONFLICT DO NOTHING")
        new_claims = self.refold(cursor, CLAIMS, rows, [], rows.new_claim_acts, rows.claims_from)
        new_documents = self.refold(
            cursor, DOCUMENTS, rows, rows.document_acts, rows.new_document_acts, rows.documents_from
        )
        public_times = [row[6] for row in rows.events]
        cursor.execute(
            self.upsert_story,
            (
                rows.story,
                len(rows.events),
                new_claims,
                new_documents,
                min(public_times),
                max(public_times),
                batch[-1][0],
            ),
        )

    def refold(
        self,
        cursor: Any,
        subject: Subject,
        rows: SaveRows,
        act_rows: list[ActRow],
        new_acts: dict[str, list[Any]],
        starts: dict[str, Start],
    ) -> int:
        """Re-fold what a save's acts touched from the acts stored before it, write the acts
        (``act_rows``, or with their states) and the states; count the things new to the story."""
        if not new_acts:
            return 0
        story, recorded_at = rows.story, rows.recorded_at
        q = self.dialect.sql
        keys = list(starts)
        first_public = {
            row["k"]: row["first_published_at"]
            for row in self._select_in(
                cursor,
                subject,
                f"SELECT a.{subject.column} AS k, a.first_published_at FROM {subject.things} a",
                story,
                keys,
                "",
                whole_rows=True,
            )
        }
        known = set(first_public)
        stored: dict[str, list[Any]] = {key: [] for key in keys}
        resumed: dict[str, Any] = {}
        if subject.resumable and known:
            points = [(key, *starts[key]) for key in sorted(known)]
            resumed = self._resumable_states(cursor, subject, story, points)
            stored.update(
                self._acts_from(cursor, subject, story, [p for p in points if p[0] in resumed])
            )
        whole = sorted(known.difference(resumed))
        if whole:
            for row in self._select_in(
                cursor,
                subject,
                f"SELECT a.{subject.column} AS k, a.act FROM {subject.acts} a",
                story,
                whole,
                f"{subject.act_rows} ORDER BY a.{subject.column}, a.published_at, a.position",
                whole_rows=True,
            ):
                stored[row["k"]].append(subject.decode_act(row["act"]))
        written: list[StateRow] = []
        for key in keys:
            old_acts = sorted(stored[key], key=act_order)
            key_acts = sorted([*old_acts, *new_acts[key]], key=act_order)
            states = subject.fold(key, key_acts, resumed.get(key))
            held = self._held(subject, key, old_acts, resumed.get(key))
            written.extend(
                subject.state_rows(
                    story, key, key_acts, states, starts[key], recorded_at, rows.positions, held
                )
            )
        self.dialect.insert_rows(cursor, subject.acts, act_rows)
        self.dialect.insert_rows(cursor, subject.states, written)
        new = [(story, key, micros(starts[key][0])) for key in keys if key not in known]
        self.dialect.insert_rows(cursor, subject.things, new)
        earlier = [
            (micros(starts[key][0]), story, key)
            for key, published in first_public.items()
            if micros(starts[key][0]) < published
        ]
        if earlier:
            cursor.executemany(
                q(
                    f"UPDATE {subject.things} SET first_published_at = ?"
                    f" WHERE story = ? AND {subject.column} = ?"
                ),
                earlier,
            )
        return len(new)

    @staticmethod
    def _held(subject: Subject, key: str, old_acts: list[Any], resumed: Any) -> Mapping[Start, Any]:
        """For a resumable subject (claims), the state each stored act's point holds now: the
        fold of the acts stored before this save, from the same start (decision 049). None
        for documents, whose every state is written again (few acts each)."""
        if not subject.resumable or not old_acts:
            return {}
        return dict(
            zip(map(act_order, old_acts), subject.fold(key, old_acts, resumed), strict=True)
        )

    def _resumable_states(
        self, cursor: Any, subject: Subject, story: str, points: list[ResumePoint]
    ) -> dict[str, Any]:
        """For each (key, start), the current state just before ``start``, where resumable.

        The latest-recorded row among those before ``start`` is that state (decision 002: the
        last append that touched an earlier act rewrote every state from there on). Keys with
        nothing before ``start`` are left out: they re-fold whole.
        """
        decode = subject.decode_state
        assert decode is not None, "only resumable subjects have states to resume from"
        found: dict[str, Any] = {}
        for rows in self._with_points(cursor, subject.prior_states, story, points):
            for row in rows:
                if row["state"] is not None:
                    found[row["k"]] = decode(row["state"])
        return found

    def _acts_from(
        self, cursor: Any, subject: Subject, story: str, points: list[ResumePoint]
    ) -> dict[str, list[Any]]:
        """Each key's acts at or after its start (this batch's included), in fold order."""
        acts: dict[str, list[Any]] = {key: [] for key, _, _ in points}
        for rows in self._with_points(cursor, subject.acts_after, story, points):
            for row in rows:
                acts[row["k"]].append(subject.decode_act(row["act"]))
        return acts

    def _with_points(
        self, cursor: Any, template: str, story: str, points: list[ResumePoint]
    ) -> Iterator[list[Any]]:
        """Run a query over ``WITH starts(k, p, pos) AS (VALUES …)`` in chunks; yield the rows."""
        for i in range(0, len(points), POINTS_CHUNK):
            chunk = points[i : i + POINTS_CHUNK]
            values = ",".join(["(?,?,?)"] * len(chunk))
            params: list[Any] = []
            for key, published_at, position in chunk:
                params.extend((key, micros(published_at), position))
            params.append(story)
            cursor.execute(self.dialect.sql(template.format(values=values)), params)
            yield cursor.fetchall()

    def _select_in(
        self,
        cursor: Any,
        subject: Subject,
        select: str,
        story: str,
        keys: list[str],
        suffix: str,
        *,
        whole_rows: bool = False,
    ) -> Iterator[Any]:
        """Run ``select … WHERE story = ? AND <column> IN (keys)`` in chunks (``select`` names
        its table ``a``); yield rows or keys."""
        for i in range(0, len(keys), IN_LIST_CHUNK):
            chunk = keys[i : i + IN_LIST_CHUNK]
            marks = ",".join("?" * len(chunk))
            cursor.execute(
                self.dialect.sql(
                    f"{select} WHERE a.story = ? AND a.{subject.column} IN ({marks}){suffix}"
                ),
                (story, *chunk),
            )
            for row in cursor.fetchall():
                yield row if whole_rows else row["k"]
