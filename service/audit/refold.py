"""Checks the projection tables against a fresh fold of the stored events into a scratch database.

The same ``Projector`` that writes the live tables projects the snapshot's stored events into a
temporary SQLite file; each projection table must then hold exactly the same rows. Both sides
are read in primary-key order, text compared code point by code point (PostgreSQL: ``COLLATE
"C"``, so the two databases' collations never matter), and merged as they stream: memory does
not grow with the tables (it held every row of the largest, 938 MB at 300k events).
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent

from service.audit.snapshot import KeyColumn, Snapshot
from service.projections.dialect import PROJECTION_TABLES, SQLITE
from service.projections.writer import Projector


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


def plain(row: Any) -> dict[str, Any]:
    """A row as a dict of plain values (bytes for blobs), whichever database it came from."""
    return {k: bytes(v) if isinstance(v, memoryview) else v for k, v in dict(row).items()}


def values(row: Any) -> tuple[Any, ...]:
    """A row's values in column order."""
    return tuple(plain(row).values())


def primary_key(cursor: Any, table: str) -> tuple[KeyColumn, ...]:
    """The primary key of a table of the scratch database (the live schema's), in key order."""
    columns = cursor.execute(f"PRAGMA table_info({table})").fetchall()
    keyed = sorted((row["pk"], row["name"], row["type"].upper() == "TEXT") for row in columns)
    return tuple(KeyColumn(name, text) for pk, name, text in keyed if pk > 0)


def refold(
    snapshot: Snapshot, events: Iterable[tuple[int, StoredEvent]]
) -> Iterator[tuple[str, int, TableDifference | None]]:
    """Fold ``events`` into a scratch database; yield (table, rows, difference) per table."""
    with tempfile.TemporaryDirectory(prefix="knewwhen-verify-") as folder:
        scratch = sqlite3.connect(Path(folder) / "fold.sqlite3", isolation_level=None)
        scratch.row_factory = sqlite3.Row
        try:
            cursor = scratch.cursor()
            cursor.execute("BEGIN")
            for statement in SQLITE.create_statements():
                cursor.execute(statement)
            Projector(SQLITE).project(cursor, events)
            for table in PROJECTION_TABLES:
                key = primary_key(cursor, table)
                order = ", ".join(column.name for column in key)
                fresh = scratch.execute(f"SELECT * FROM {table} ORDER BY {order}")
                yield compare(table, key, snapshot.ordered(table, key), fresh)
            cursor.execute("ROLLBACK")
        finally:
            scratch.close()


def compare(
    table: str, key: Sequence[KeyColumn], live: Iterable[Any], fresh: Iterable[Any]
) -> tuple[str, int, TableDifference | None]:
    """Merge two row streams in ``key`` order; name the first row where they differ."""
    names = [column.name for column in key]
    lives, freshes = iter(live), iter(fresh)
    mine, theirs = next(lives, None), next(freshes, None)
    live_rows = fresh_rows = 0
    first: tuple[str, dict[str, Any]] | None = None
    while mine is not None or theirs is not None:
        mine_key = None if mine is None else tuple(mine[n] for n in names)
        theirs_key = None if theirs is None else tuple(theirs[n] for n in names)
        try:
            ahead = key_ahead(mine_key, theirs_key)
        except TypeError:  # a key of another type than the fold's (SQLite keeps what it is given)
            first = first or ("not in the fold", plain(mine))
            live_rows += 1 + sum(1 for _ in lives)
            fresh_rows += 1 + sum(1 for _ in freshes)
            break
        if ahead == "live":
            first = first or ("not in the fold", plain(mine))
            mine, live_rows = next(lives, None), live_rows + 1
        elif ahead == "fresh":
            first = first or ("missing from the table", plain(theirs))
            theirs, fresh_rows = next(freshes, None), fresh_rows + 1
        else:
            if first is None and values(mine) != values(theirs):
                first = ("not in the fold", plain(mine))
            mine, live_rows = next(lives, None), live_rows + 1
            theirs, fresh_rows = next(freshes, None), fresh_rows + 1
    if first is None:
        return table, live_rows, None
    label, row = first
    example = f"{label}: {describe_row(row)}"
    return (
        table,
        live_rows,
        TableDifference(table, live_rows, fresh_rows, example, row.get("position")),
    )


def key_ahead(live: tuple[Any, ...] | None, fresh: tuple[Any, ...] | None) -> str:
    """Which stream's row comes first in key order ("live", "fresh"), or "both" (one key; a
    stream at its end has none and comes last)."""
    if fresh is None or (live is not None and live < fresh):
        return "live"
    if live is None or fresh < live:
        return "fresh"
    return "both"


def describe_row(row: dict[str, Any]) -> str:
    """The row's columns other than blobs, as ``name=value`` pairs."""
    return ", ".join(f"{k}={v!r}" for k, v in row.items() if not isinstance(v, bytes))
