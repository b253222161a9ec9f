"""Checks the projection tables against a fresh fold of the stored events into a scratch database.

The same ``Projector`` that writes the live tables projects the snapshot's stored events into a
temporary SQLite file; each projection table must then hold exactly the same rows (as a
multiset, so the two databases' collations never matter).
"""

from __future__ import annotations

import hashlib
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent

from service.audit.snapshot import Snapshot
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


def fingerprint(row: tuple[Any, ...]) -> bytes:
    """A short digest of a row's values, to count rows without holding them."""
    return hashlib.blake2b(repr(row).encode(), digest_size=16).digest()


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
                live = lambda t=table: snapshot.rows(f"SELECT * FROM {t}")  # noqa: E731
                fresh = lambda t=table: cursor.execute(f"SELECT * FROM {t}").fetchall()  # noqa: E731
                yield compare(table, live, fresh)
            cursor.execute("ROLLBACK")
        finally:
            scratch.close()


def compare(
    table: str, live: Callable[[], Iterable[Any]], fresh: Callable[[], Iterable[Any]]
) -> tuple[str, int, TableDifference | None]:
    """Compare two row sources as multisets; name one differing row when they differ."""
    counts = Counter(fingerprint(values(row)) for row in live())
    live_rows = sum(counts.values())
    fresh_rows = 0
    for row in fresh():
        counts[fingerprint(values(row))] -= 1
        fresh_rows += 1
    extra = {key for key, n in counts.items() if n != 0}
    if not extra:
        return table, live_rows, None
    example, position = "", None
    for source, label in ((live, "not in the fold"), (fresh, "missing from the table")):
        for row in source():
            found = plain(row)
            key = fingerprint(tuple(found.values()))
            if key in extra and (counts[key] > 0) == (label == "not in the fold"):
                example = f"{label}: {describe_row(found)}"
                position = found.get("position")
                break
        if example:
            break
    return table, live_rows, TableDifference(table, live_rows, fresh_rows, example, position)


def describe_row(row: dict[str, Any]) -> str:
    """The row's columns other than blobs, as ``name=value`` pairs."""
    return ", ".join(f"{k}={v!r}" for k, v in row.items() if not isinstance(v, bytes))
