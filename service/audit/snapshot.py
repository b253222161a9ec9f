"""One consistent read of everything ``knewwhen verify`` checks: stored events, log, projections.

Verification must not mistake a concurrent append for tampering, so every table is read in a
single read transaction (PostgreSQL: REPEATABLE READ; SQLite: one deferred transaction).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple, TypeVar

from eventsourcing.persistence import StoredEvent
from psycopg.rows import tuple_row

from service.projections.dialect import Dialect, EventStore
from service.projections.rebuild import (
    PAGE,
    Rows,
    events_statement,
    paged_rows,
    stored_of,
    story_statement,
)
from service.projections.snapshots import reading

T = TypeVar("T")


class KeyColumn(NamedTuple):
    """A primary-key column: its name, and whether it holds text."""

    name: str
    text: bool


def paged_events(rows: Rows, statement: str) -> Iterator[tuple[int, StoredEvent]]:
    """Every stored event ``statement`` (``events_statement``'s) reads, with its position, in
    position order, a page at a time."""
    for row in paged_rows(rows, statement):
        yield (
            row["position"],
            StoredEvent(
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            ),
        )


def counted(items: Iterable[T], advance: Callable[[int], object], every: int = 1000) -> Iterator[T]:
    """``items`` passed through, ``advance`` told of them ``every`` at a time, then of the rest."""
    seen = 0
    for item in items:
        yield item
        seen += 1
        if seen == every:
            advance(seen)
            seen = 0
    advance(seen)


class Snapshot:
    """Paged reads through one open read transaction's cursor."""

    def __init__(self, cursor: Any, dialect: Dialect, store: EventStore) -> None:
        self.cursor = cursor
        self.dialect = dialect
        self.store = store
        self.select_events = events_statement(dialect, store)
        self.count_events = f"SELECT COUNT(*) AS n FROM {store.table}"
        self.select_story_ids = f"SELECT DISTINCT originator_id FROM {store.table}"
        self.select_last = f"SELECT MAX({store.position}) AS last FROM {store.table}"
        self._last: int | None = None
        self._select_story: str | None = None

    def rows(self, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """All rows of one query."""
        self.cursor.execute(self.dialect.sql(statement), params)
        return list(self.cursor.fetchall())

    def event_count(self) -> int:
        """How many stored events (reporting or not) the snapshot holds."""
        return int(self.rows(self.count_events)[0]["n"])

    def stored_events(self) -> Iterator[tuple[int, StoredEvent]]:
        """Every stored event with its position, in position order, a page at a time."""
        return paged_events(self.rows, self.select_events)

    def last_position(self) -> int:
        """The last stored event's position in the snapshot (0: none)."""
        if self._last is None:
            self._last = int(self.rows(self.select_last)[0]["last"] or 0)
        return self._last

    def events_statement(self) -> str:
        """``events_statement`` bounded by the snapshot's last position: another connection
        (the log worker's) pages with it through the snapshot's stored events and none stored
        since (events are only ever appended, at later positions)."""
        return events_statement(self.dialect, self.store, up_to=self.last_position())

    def story_ids(self) -> list[str]:
        """Every aggregate's id among the stored events (the stories'), in code point order."""
        return sorted(row["originator_id"] for row in self.rows(self.select_story_ids))

    def story_statement(self) -> str:
        """The SQL reading one story's stored events, as ``rebuild.story_statement`` makes it,
        bounded by the snapshot's last position: another connection (a fold worker's) reads
        with it the snapshot's events of the story and none stored since (events are only
        ever appended, at later positions)."""
        if self._select_story is None:
            self._select_story = story_statement(
                self.dialect, self.store, up_to=self.last_position()
            )
        return self._select_story

    def story_events(self, story: str) -> list[tuple[int, StoredEvent]]:
        """One story's stored events with their positions, in the story's order."""
        return stored_of(story, self.rows(self.story_statement(), (story,)))

    def paged(self, table: str, key: str, columns: str = "*") -> Iterator[Any]:
        """Every row of ``table`` in ``key`` order (an integer key), a page at a time."""
        after: int | None = None
        while True:
            where = "" if after is None else f" WHERE {key} > ?"
            page = self.rows(
                f"SELECT {columns} FROM {table}{where} ORDER BY {key} LIMIT {PAGE}",
                () if after is None else (after,),
            )
            yield from page
            if len(page) < PAGE:
                return
            after = page[-1][key]

    def ordered(self, table: str, key: Sequence[KeyColumn]) -> Iterator[tuple[Any, ...]]:
        """Every row of ``table`` as a tuple of its values in column order, in ``key`` order,
        text in code point order. PostgreSQL reads through a server-side cursor, a page at a
        time (psycopg's own cursors fetch a whole result at once); SQLite steps through the
        rows as they are fetched. Either reads with a cursor of its own, so several tables can
        be read at once, all in the one snapshot."""
        if self.dialect.name != "postgres":
            cursor = self.cursor.sqlite_cursor.connection.cursor()
            cursor.row_factory = None
            try:
                cursor.execute(f"SELECT * FROM {table} ORDER BY {order_by(key, False)}")
                while page := cursor.fetchmany(PAGE):
                    yield from page
            finally:
                cursor.close()
            return
        with self.cursor.connection.cursor(
            name=f"knewwhen_verify_{table}", row_factory=tuple_row
        ) as server_side:
            server_side.execute(f"SELECT * FROM {table} ORDER BY {order_by(key, True)}")
            while page := server_side.fetchmany(PAGE):
                yield from page


def order_by(key: Sequence[KeyColumn], postgres: bool) -> str:
    """An ORDER BY list for ``key``; on PostgreSQL, text by code point (``COLLATE "C"``),
    which is SQLite's order for UTF-8 text (``BINARY``) and Python's for ``str``."""
    return ", ".join(
        f'{column.name} COLLATE "C"' if postgres and column.text else column.name for column in key
    )


@contextmanager
def snapshot(datastore: Any, dialect: Dialect, store: EventStore) -> Iterator[Snapshot]:
    """Open one read transaction over the whole database (``reading``, decision 012); on
    SQLite, on one of the pool's connections, not the thread's reading one (decision 030):
    ``Snapshot.ordered`` opens more cursors on it, each a table read through in step."""
    if dialect.name == "postgres":
        with reading(datastore, dialect, snapshot=True) as cursor:
            dialect.may_wait_in(cursor)
            yield Snapshot(cursor, dialect, store)
        return
    with datastore.transaction(commit=False) as cursor:
        yield Snapshot(cursor, dialect, store)
