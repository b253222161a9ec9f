"""The projector: turns newly stored events into rows of the time-indexed tables.

It runs inside the transaction that stores the events (live appends) and over the whole store
in position order (``knewwhen replay``); both paths call ``project``, so replay yields the same
tables. Appends are grouped into batches (one save: one story, one ``recorded_at``); a batch
re-folds only the claims and documents it touched, from their stored acts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from eventsourcing.persistence import StoredEvent

from domain.knowledge import act_order
from service.projections.dialect import Dialect
from service.projections.rows import (
    ActRow,
    Batch,
    SaveRows,
    Start,
    StateRow,
    batches,
    micros,
    save_rows,
)
from service.projections.subjects import CLAIMS, DOCUMENTS, Subject


class RecordedOutOfOrder(Exception):
    """Another writer committed a later ``recorded_at`` first; the append retries with a new one."""


IN_LIST_CHUNK = 500
POINTS_CHUNK = 300
REFOLD_CHUNK = 100
"""Things re-folded together: a save touching more (a long story's late acts) reads, folds and
writes them a hundred at a time, so their acts are not all in memory at once."""
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
        story = rows.story
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
        for i in range(0, len(keys), REFOLD_CHUNK):
            chunk = keys[i : i + REFOLD_CHUNK]
            written = self._refolded(cursor, subject, rows, chunk, known, new_acts, starts)
            self.dialect.insert_rows(cursor, subject.states, written)
        # After every read of the stored acts: a document's are kept in a table apart.
        self.dialect.insert_rows(cursor, subject.acts, act_rows)
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

    def _refolded(
        self,
        cursor: Any,
        subject: Subject,
        rows: SaveRows,
        keys: list[str],
        known: set[str],
        new_acts: dict[str, list[Any]],
        starts: dict[str, Start],
    ) -> list[StateRow]:
        """The state rows of ``keys``, re-folded from the acts stored before this save (and
        the states they resume from) with the save's own acts. ``keys`` are a part of what the
        save touched: the acts and states read for them alone are in memory at once."""
        story = rows.story
        stored: dict[str, list[Any]] = {key: [] for key in keys}
        resumed: dict[str, Any] = {}
        mine = known.intersection(keys)
        if subject.resumable and mine:
            points = [(key, *starts[key]) for key in sorted(mine)]
            resumed = self._resumable_states(cursor, subject, story, points)
            stored.update(
                self._acts_from(cursor, subject, story, [p for p in points if p[0] in resumed])
            )
        whole = sorted(mine.difference(resumed))
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
                    story,
                    key,
                    key_acts,
                    states,
                    starts[key],
                    rows.recorded_at,
                    rows.positions,
                    held,
                )
            )
        return written

    @staticmethod
    def _held(subject: Subject, key: str, old_acts: list[Any], resumed: Any) -> Mapping[Start, Any]:
        """The state each stored act's point holds now: the fold of the acts stored before this
        save, from the same start (decision 049)."""
        if not old_acts:
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
