"""Checks the projection tables against a fresh fold of the snapshot's stored events.

The fold is replay's (``rebuild.fold_story``, which the property tests hold equal to what live
appends write): each story folded in memory into its rows of every table keyed by story
first, each table's rows in key order. Stories come in code point order, so each table's fold
rows arrive in that table's key order, and are merged at once with the table's live rows, read
in key order too: nothing of the fold is written. ``kw_events`` (keyed by position) is merged
with the stored events in position order; ``kw_document_urls`` (keyed by a URL's digest) alone
goes through a scratch SQLite file to be read back in its order. Text compares code point by
code point on both sides (PostgreSQL: ``COLLATE "C"``), so collations never matter. Memory
stays that of one story's rows, whatever the tables hold.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

from service.audit.snapshot import KeyColumn, Snapshot, counted
from service.projections.dialect import PROJECTION_TABLES, SQLITE
from service.projections.rebuild import StoryFolds, StoryRows, fold_story
from service.projections.rows import RECORDED_TOPIC, stored_event_row

EVENTS = "kw_events"
URLS = "kw_document_urls"
Row = tuple[Any, ...]


class TableDifference:
    """How one projection table differs from the fresh fold."""

    def __init__(self, table: str, live: int, fresh: int, example: str, position: int | None):
        self.table = table
        self.live = live
        self.fresh = fresh
        self.example = example
        self.position = position

    def describe(self) -> str:
        """One line naming the table, the row counts and one differing row."""
        return (
            f"projection table {self.table} differs from a fresh fold of the stored events "
            f"({self.live} rows, the fold has {self.fresh}); e.g. {self.example}"
        )


@dataclass(frozen=True)
class Layout:
    """A projection table's columns, its primary key, and where the key's columns are."""

    table: str
    columns: tuple[str, ...]
    key: tuple[KeyColumn, ...]
    key_indexes: tuple[int, ...]

    @classmethod
    def read(cls, cursor: Any, table: str) -> Layout:
        """``table``'s layout as a SQLite schema (``SQLITE``'s, the live one's) declares it."""
        columns = cursor.execute(f"PRAGMA table_info({table})").fetchall()
        keyed = sorted(
            (row["pk"], row["cid"], row["name"], row["type"].upper() == "TEXT")
            for row in columns
            if row["pk"] > 0
        )
        return cls(
            table,
            tuple(row["name"] for row in columns),
            tuple(KeyColumn(name, text) for _, _, name, text in keyed),
            tuple(cid for _, cid, _, _ in keyed),
        )


class TableCheck:
    """One table's live rows, in key order, merged with the fold's rows as they come."""

    def __init__(self, layout: Layout, live: Iterable[Row]) -> None:
        self.layout = layout
        self._key: Callable[[Row], Any] = itemgetter(*layout.key_indexes)
        self._live = iter(live)
        self._mine = next(self._live, None)
        self.live_rows = 0 if self._mine is None else 1
        self.fresh_rows = 0
        self._first: tuple[str, Row] | None = None
        self._mixed = False  # a live key of another type than the fold's: no order to merge by

    def take(self, fresh: Iterable[Sequence[Any]]) -> None:
        """Merge the next of the fold's rows (in key order) with the live rows before them."""
        key = self._key
        for row in fresh:
            theirs = tuple(row)
            self.fresh_rows += 1
            if self._mixed:
                continue
            wanted = key(theirs)
            try:
                while self._mine is not None and key(self._mine) < wanted:
                    self._differs("not in the fold", self._mine)
                    self._next_live()
            except TypeError:  # SQLite keeps whatever it is given, in any column
                self._differs("not in the fold", self._mine)
                self._mixed = True
                continue
            if self._mine is not None and key(self._mine) == wanted:
                if self._mine != theirs:
                    self._differs("not in the fold", self._mine)
                self._next_live()
            else:
                self._differs("missing from the table", theirs)

    def finish(self) -> tuple[str, int, TableDifference | None]:
        """The live rows after the fold's last: (table, live rows, the first difference)."""
        while self._mine is not None:
            self._differs("not in the fold", self._mine)
            self._next_live()
        table = self.layout.table
        if self._first is None:
            return table, self.live_rows, None
        label, values = self._first
        row = dict(zip(self.layout.columns, values, strict=True))
        example = f"{label}: {describe_row(row)}"
        position = row.get("position")
        difference = TableDifference(table, self.live_rows, self.fresh_rows, example, position)
        return table, self.live_rows, difference

    def _next_live(self) -> None:
        self._mine = next(self._live, None)
        if self._mine is not None:
            self.live_rows += 1

    def _differs(self, label: str, values: Row | None) -> None:
        if self._first is None and values is not None:
            self._first = (label, values)


def refold(
    snapshot: Snapshot,
    folds: StoryFolds | None = None,
    advance: Callable[[int], object] = lambda _: None,
    stories: Sequence[str] | None = None,
) -> list[tuple[str, int, TableDifference | None]]:
    """Fold the snapshot's stories afresh and merge every projection table with its fold;
    (table, live rows, the first difference) per table, in ``PROJECTION_TABLES`` order.
    ``folds`` folds stories elsewhere (fold workers reading with the snapshot's
    ``story_statement``), else each is read and folded here; ``advance`` is told of the stored
    events merged with ``kw_events`` (all of them, a page at a time), then of the reporting
    events folded, story by story; ``stories``: the snapshot's ``story_ids``, when read
    already."""
    stories = snapshot.story_ids() if stories is None else stories
    folded = folds(stories) if folds else (folded_here(snapshot, story) for story in stories)
    with tempfile.TemporaryDirectory(prefix="knewwhen-verify-") as folder:
        scratch = sqlite3.connect(Path(folder) / "urls.sqlite3", isolation_level=None)
        scratch.row_factory = sqlite3.Row
        try:
            return list(merged_tables(snapshot, folded, scratch, advance))
        finally:
            scratch.close()


def folded_here(snapshot: Snapshot, story: str) -> StoryRows:
    """``story`` read through the snapshot and folded in this process."""
    return fold_story(story, snapshot.story_events(story))


def merged_tables(
    snapshot: Snapshot,
    folded: Iterable[StoryRows],
    scratch: sqlite3.Connection,
    advance: Callable[[int], object],
) -> Iterator[tuple[str, int, TableDifference | None]]:
    """Every table's merge, in ``PROJECTION_TABLES`` order (see ``refold``)."""
    scratch.execute("PRAGMA journal_mode=OFF")
    scratch.execute("PRAGMA synchronous=OFF")
    for statement in SQLITE.create_statements():
        scratch.execute(statement)
    layouts = {table: Layout.read(scratch, table) for table in PROJECTION_TABLES}
    checks: dict[str, TableCheck] = {}
    events = checks[EVENTS] = live_check(snapshot, layouts[EVENTS])
    events.take(
        stored_event_row(position, event.state)[1]
        for position, event in counted(snapshot.stored_events(), advance)
        if event.topic == RECORDED_TOPIC
    )
    by_story = [t for t in PROJECTION_TABLES if t not in (EVENTS, URLS)]
    checks.update((table, live_check(snapshot, layouts[table])) for table in by_story)
    # The URL rows go unordered into a table without a key, in one transaction, and come
    # back sorted by SQLite's sorter: inserted into the keyed table, each row landed on a
    # page of its own (their key is a digest), 9 s of a 67 s verification at 1M.
    scratch.execute(f"CREATE TABLE fold_urls AS SELECT * FROM {URLS} WHERE 0")
    scratch.execute("BEGIN")
    for rows in folded:
        for table, table_rows in rows.tables:
            if table == URLS:
                scratch.executemany("INSERT INTO fold_urls VALUES (?, ?, ?, ?)", table_rows)
            else:
                checks[table].take(table_rows)
        advance(rows.events)
    scratch.execute("COMMIT")
    urls = checks[URLS] = live_check(snapshot, layouts[URLS])
    order = ", ".join(column.name for column in layouts[URLS].key)
    urls.take(tuple(row) for row in scratch.execute(f"SELECT * FROM fold_urls ORDER BY {order}"))
    for table in PROJECTION_TABLES:
        yield checks[table].finish()


def live_check(snapshot: Snapshot, layout: Layout) -> TableCheck:
    """A merge of ``layout``'s live table, read in key order, with rows yet to come."""
    return TableCheck(layout, snapshot.ordered(layout.table, layout.key))


def describe_row(row: dict[str, Any]) -> str:
    """The row's columns other than blobs, as ``name=value`` pairs."""
    return ", ".join(f"{k}={v!r}" for k, v in row.items() if not isinstance(v, bytes))
