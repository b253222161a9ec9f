"""SQLite's WAL checkpointed by a thread of its own (docs/decisions/026): the writer's
connections leave it to that thread, which copies the WAL after a nudge, so the WAL starts
again from its beginning; a ledger that only reads starts no thread, and closing stops it."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from pathlib import Path

from service.application import Ledger
from service.checkpointer import BACKSTOP_PAGES, Checkpointer
from tests.builders import claim, event
from tests.polling import poll


def checkpointer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sqlite-checkpointer"]


def write_rows(connection: sqlite3.Connection, start: int, rows: int) -> None:
    connection.execute("BEGIN")
    connection.executemany(
        "INSERT INTO t VALUES (?, ?)", ((n, b"x" * 1000) for n in range(start, start + rows))
    )
    connection.execute("COMMIT")


def test_after_a_nudge_the_wal_is_copied_and_starts_again_from_its_beginning(
    tmp_path: Path,
) -> None:
    path = tmp_path / "wal.sqlite3"
    with closing(sqlite3.connect(path, isolation_level=None)) as writer:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, b BLOB)")
        write_rows(writer, 0, 2000)
        wal = path.with_name("wal.sqlite3-wal")
        after_one = wal.stat().st_size
        checkpointer = Checkpointer(str(path))
        try:
            checkpointer.nudge()
            poll(lambda: checkpointer.checkpoints == 1, "checkpointed once")
            write_rows(writer, 2000, 2000)
            # Copied whole, the WAL was written again from its start: no larger than before.
            assert wal.stat().st_size == after_one
            write_rows(writer, 4000, 2000)  # no nudge: it grows
            assert wal.stat().st_size > after_one
        finally:
            checkpointer.close()
        assert writer.execute("SELECT COUNT(*) FROM t").fetchone() == (6000,)


def test_a_ledger_that_appends_checkpoints_in_its_thread_and_closing_stops_it(
    tmp_path: Path,
) -> None:
    before = set(checkpointer_threads())
    ledger = Ledger(str(tmp_path / "k.sqlite3"))
    try:
        with ledger.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute("PRAGMA wal_autocheckpoint")
            assert cursor.fetchone()[0] == BACKSTOP_PAGES
        assert set(checkpointer_threads()) == before  # nothing written yet: no thread
        published = event(
            "story_published", "e1", "wire", "2020-10-06T22:00", claim("c1", "asserts")
        )
        ledger.append("s", [published], "t")
        checkpointer = ledger._checkpointer
        assert checkpointer is not None
        poll(lambda: checkpointer.checkpoints >= 1, "checkpointed")
        assert len(set(checkpointer_threads()) - before) == 1
    finally:
        ledger.close()
    assert set(checkpointer_threads()) <= before


def test_a_ledger_that_only_reads_starts_no_thread(tmp_path: Path) -> None:
    path = str(tmp_path / "k.sqlite3")
    Ledger(path).close()
    before = set(checkpointer_threads())
    ledger = Ledger(path)
    try:
        assert ledger.reader.stories() == []
        assert set(checkpointer_threads()) == before
    finally:
        ledger.close()


def test_a_nudge_after_close_starts_nothing(tmp_path: Path) -> None:
    checkpointer = Checkpointer(str(tmp_path / "k.sqlite3"))
    checkpointer.close()
    before = set(checkpointer_threads())
    checkpointer.nudge()
    assert set(checkpointer_threads()) == before
    assert checkpointer.checkpoints == 0
