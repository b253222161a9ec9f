"""The knewwhen application: appends reporting events to stories and answers from projections."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError
from eventsourcing.sqlite import SQLiteConnectionPool
from tqdm import tqdm

from domain.errors import DomainError, StoryNotFound, VersionMismatch
from domain.events import ReportingEvent
from domain.story import Held, Story, named, project_story
from service.checkpointer import Checkpointer
from service.collection import collector_paused
from service.group_commit import CommitQueue, Waiting
from service.persistence import environment, is_postgres_url
from service.projections.dialect import LOG_TABLES, POSTGRES, PROJECTION_TABLES, SQLITE, EventStore
from service.projections.fold_workers import story_folds
from service.projections.format import ProjectionsOutOfDate
from service.projections.reader import Reader
from service.projections.rebuild import Rebuild, story_statement
from service.projections.writer import RecordedOutOfOrder
from service.schemas import Receipt
from service.story_loading import load_story

Clock = Callable[[], datetime]
T = TypeVar("T")
MAX_ATTEMPTS = 8


def sqlite_checkpointer(datastore: Any) -> Checkpointer | None:
    """A checkpointer for the datastore's SQLite file (None: PostgreSQL, or SQLite in memory)."""
    pool = getattr(datastore, "pool", None)
    if not isinstance(pool, SQLiteConnectionPool) or pool.is_sqlite_memory_mode:
        return None
    return Checkpointer(pool.db_name)


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


class AppendResult:
    """The receipts of one append, and which of its events were newly stored."""

    def __init__(self, receipts: list[Receipt], created: list[bool]) -> None:
        self.receipts = receipts
        self.created = created


class Ledger(Application[str]):
    """Stories of reporting events, stored append-only, projected for reading."""

    name = "knewwhen"

    def __init__(self, database: str, clock: Clock = utc_now, *, rebuild: bool = False) -> None:
        """Open the database. Its projections must be of this release's format, unless
        ``rebuild`` says the caller is about to ``replay`` them (``ProjectionsOutOfDate``)."""
        self._checkpointer: Checkpointer | None = None
        super().__init__(env=environment(database))
        stale = self.recorder.stale_format  # type: ignore[attr-defined]
        if stale is not None and not rebuild:
            self.close()
            raise ProjectionsOutOfDate(stale)
        self.database = database
        self.dialect = POSTGRES if is_postgres_url(database) else SQLITE
        self.clock = clock
        self.store: EventStore = self.recorder.log.store  # type: ignore[attr-defined]
        self.reader = Reader(self.recorder.datastore, self.dialect, self.store)  # type: ignore[attr-defined]
        self._write_lock = threading.Lock()
        self._commits = CommitQueue(self._write_group)
        self._last_recorded_at = datetime.min.replace(tzinfo=UTC)
        self._checkpointer = sqlite_checkpointer(self.recorder.datastore)  # type: ignore[attr-defined]

    def append(
        self,
        story_id: str,
        events: Sequence[ReportingEvent],
        recorded_by: str,
        expected_version: int | None = None,
        *,
        with_receipts: bool = True,
    ) -> AppendResult:
        """Record events in one story atomically; idempotent by event id.

        Raises ``VersionMismatch`` when ``expected_version`` is given and the story has moved
        on, and a ``DomainError`` naming the field when an event breaks a rule (nothing stored).
        """
        waiting = Waiting(story_id, events, recorded_by, expected_version)
        self._commits.submit(waiting)
        created = waiting.outcome()
        if not with_receipts:
            return AppendResult([], created)
        receipts = self.reader.receipts(story_id, [e.id for e in events])
        return AppendResult(receipts, created)

    def write_each(self, appends: Sequence[Waiting]) -> None:
        """Write appends, each to one story and with an outcome of its own (several may be
        to one story: they are written in order), grouped as the commit queue forms groups."""
        self._commits.submit(*appends)

    def append_many(
        self,
        batches: Mapping[str, Sequence[ReportingEvent]],
        recorded_by: str,
        expected_versions: Mapping[str, int | None] | None = None,
    ) -> dict[str, list[bool]]:
        """Record events in several stories in one transaction, all or nothing.

        Returns, per story, which events were newly stored (False: already there, same body).
        """
        with self._write_lock:
            return self._append_many_locked(batches, recorded_by, expected_versions or {})

    def _write_group(self, group: list[Waiting]) -> None:
        """Write appends to distinct stories in one transaction, each with its own outcome:
        one that breaks a rule is refused alone. If another process stored first, each is
        tried again on its own (with ``append_many``'s retries), so one cannot fail the others;
        any other failure of the transaction (the database locked too long, the disk full) is
        every one's outcome, as retrying each alone would only meet it again, one by one."""
        with self._write_lock:
            recorded_at = self._next_recorded_at()
            decided: list[tuple[Waiting, Story, list[bool]]] = []
            for each in group:
                try:
                    story, created = self._decide(
                        each.story,
                        each.events,
                        each.recorded_by,
                        each.expected_version,
                        recorded_at,
                    )
                except (DomainError, VersionMismatch) as error:
                    each.error = error
                    continue
                except BaseException:
                    self._forget(*(decided_each.story for decided_each, _, _ in decided))
                    raise
                decided.append((each, story, created))
            changed = [story for _, story, created in decided if any(created)]
            try:
                self._save([each.story for each, _, _ in decided], changed)
            except (IntegrityError, RecordedOutOfOrder):
                self._write_each_alone([each for each, _, _ in decided])
                return
            except BaseException as error:
                for each, _, _ in decided:
                    each.error = error
                return
            for each, _, created in decided:
                each.created = created

    def _save(self, story_ids: Sequence[str], changed: Sequence[Story]) -> None:
        """Save the stories that recorded something; on failure, forget every story decided
        on (the cache holds them with events that were never stored), then raise."""
        try:
            if changed:
                self.save(*changed)
        except BaseException:
            self._forget(*story_ids)
            raise
        if changed and self._checkpointer is not None:
            self._checkpointer.nudge()

    def _write_each_alone(self, appends: list[Waiting]) -> None:
        """Each append in a transaction of its own (the write lock held), each outcome its own."""
        for each in appends:
            try:
                batch = {each.story: each.events}
                expected = {each.story: each.expected_version}
                each.created = self._append_many_locked(batch, each.recorded_by, expected)[
                    each.story
                ]
            except Exception as error:
                each.error = error

    def _append_many_locked(
        self,
        batches: Mapping[str, Sequence[ReportingEvent]],
        recorded_by: str,
        expected: Mapping[str, int | None],
    ) -> dict[str, list[bool]]:
        """``append_many``, the write lock held."""
        for attempt in range(MAX_ATTEMPTS):
            recorded_at = self._next_recorded_at()
            try:
                decided = {
                    story_id: self._decide(
                        story_id, events, recorded_by, expected.get(story_id), recorded_at
                    )
                    for story_id, events in batches.items()
                }
            except BaseException:
                # All or nothing: stories decided before the refused one hold unsaved events.
                self._forget(*batches)
                raise
            changed = [story for story, created in decided.values() if any(created)]
            try:
                self._save(list(batches), changed)
                return {story_id: created for story_id, (_, created) in decided.items()}
            except (IntegrityError, RecordedOutOfOrder):
                if attempt == MAX_ATTEMPTS - 1:
                    raise
                for story_id, version in expected.items():
                    actual = self._stored_version(story_id)
                    if version is not None and actual != version:
                        raise VersionMismatch(
                            f"story {story_id!r} is at version {actual}, not {version}",
                            version,
                            actual,
                        ) from None
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _decide(
        self,
        story_id: str,
        events: Sequence[ReportingEvent],
        recorded_by: str,
        expected_version: int | None,
        recorded_at: datetime,
    ) -> tuple[Story, list[bool]]:
        try:
            story = self.story(story_id)
        except AggregateNotFoundError:
            story = Story.open(story_id, recorded_at)
        try:
            held = self.held(story, events)
            if expected_version is not None and story.story_version != expected_version:
                raise VersionMismatch(
                    f"story {story_id!r} is at version {story.story_version}, "
                    f"not {expected_version}",
                    expected_version,
                    story.story_version,
                )
            created = []
            for index, e in enumerate(events):
                try:
                    created.append(
                        story.record(e, recorded_at=recorded_at, recorded_by=recorded_by, held=held)
                    )
                except DomainError as error:
                    error.index, error.story = index, story_id
                    raise
        except BaseException:
            self._forget(story_id)
            raise
        return story, created

    def held(self, story: Story, events: Sequence[ReportingEvent]) -> Held:
        """What ``events`` name of what ``story`` holds (none, if it holds no event yet): the
        store's lookup, since a story keeps no ids itself (decision 052)."""
        if not story.story_version:
            return {}
        return self.reader.held(story.id, named(events))

    def story(self, story_id: str) -> Story:
        """The story as stored: the aggregate cache's (brought up to date with any events stored
        since), or on a miss taken up from its first and last events and its claims
        (``load_story``, decision 053). Raises ``AggregateNotFoundError`` when it has none."""
        if self.repository.cache is None:
            return load_story(self.recorder, self.mapper, self.reader, story_id)
        self.load_into_cache(story_id)  # none stored: the library's get raises, as it would
        story: Story = self.repository.get(story_id, projector_func=project_story)
        return story

    def needs_loading(self, story_id: str) -> bool:
        """Whether an append to ``story_id`` would load it first (not in the aggregate cache)."""
        cache = self.repository.cache
        if cache is None:
            return False
        try:
            cache.get(story_id)
        except KeyError:
            return True
        return False

    def load_into_cache(self, story_id: str) -> None:
        """Load a stored story into the aggregate cache, outside the write lock: the writer
        would otherwise load it while every other append waits (one story of 100,000 events
        took 0.85 s). The writer brings it up to date with whatever is stored meanwhile, as it
        does any cached story; a story with no events is left to the writer to open."""
        cache = self.repository.cache
        if cache is None or not self.needs_loading(story_id):
            return
        with contextlib.suppress(AggregateNotFoundError):
            cache.put(story_id, load_story(self.recorder, self.mapper, self.reader, story_id))

    def _next_recorded_at(self) -> datetime:
        """Strictly increasing recording times within this process (the store checks across)."""
        now = self.clock().astimezone(UTC)
        if now <= self._last_recorded_at:
            now = self._last_recorded_at + timedelta(microseconds=1)
        self._last_recorded_at = now
        return now

    def _forget(self, *story_ids: str) -> None:
        """Drop stories from the aggregate cache after a failed command or save."""
        cache = self.repository.cache
        if cache is None:
            return
        for story_id in story_ids:
            with contextlib.suppress(KeyError):
                cache.get(story_id, evict=True)

    def _stored_version(self, story_id: str) -> int:
        summary = self.reader.story(story_id)
        return summary.story_version if summary else 0

    def require_story(self, story_id: str) -> None:
        """Raise ``StoryNotFound`` unless the story holds events."""
        if self.reader.story(story_id) is None:
            raise StoryNotFound(f"no story {story_id!r}", "")

    @collector_paused()
    def replay(self, progress: bool = False, workers: int | None = None) -> int:
        """Rebuild every projection table from the event store; returns the events replayed.

        One transaction: readers see the old tables until it commits (decision 007). Stories
        are folded by ``workers`` processes beside this one (decision 016; None: as many as
        ``fold_workers_for`` finds worth it, 0: here).
        """
        total = self.recorder.max_notification_id() or 0
        datastore = self.recorder.datastore  # type: ignore[attr-defined]
        with contextlib.ExitStack() as stack:
            statement = story_statement(self.dialect, self.store)
            folds = stack.enter_context(story_folds(self.database, statement, total, workers))
            stack.enter_context(self._write_lock)
            cursor = stack.enter_context(datastore.transaction(commit=True))
            self.dialect.may_wait_in(cursor)
            bar = stack.enter_context(
                tqdm(total=2 * total, unit="ev", disable=not progress, desc="replay")
            )
            Rebuild(self.dialect, self.store, folds).run(cursor, bar.update)
        self.recorder.stale_format = None  # type: ignore[attr-defined]
        self.after_bulk_write()
        return total

    def close(self) -> None:
        """Stop the checkpointer thread, then close the database's connections."""
        if self._checkpointer is not None:
            self._checkpointer.close()
        super().close()

    def after_bulk_write(self) -> None:
        """On PostgreSQL, ``VACUUM (ANALYZE)`` the tables an import or a replay wrote: the
        planner gets statistics, and index-only scans a visibility map, without waiting for
        autovacuum (which may be off). Nothing on SQLite, whose plans need neither."""
        if self.dialect is not POSTGRES:
            return
        tables = [self.recorder.events_table_name, *PROJECTION_TABLES, *LOG_TABLES]  # type: ignore[attr-defined]
        with self.recorder.datastore.get_connection() as connection:  # type: ignore[attr-defined]
            connection.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")
