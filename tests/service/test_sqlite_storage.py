"""The SQLite file's page size (docs/decisions/015): new files take 16 KiB pages, older files
keep theirs and work as before. Writes leave deleted content unzeroed (decision 031). Stored
events go in many rows a statement, each at the position its rowid is."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest
from msgspec.json import decode

from domain.events import ReportingEvent
from service import persistence
from service.application import Ledger
from tests.builders import at, claim, event


def page_size(path: Path) -> int:
    with closing(sqlite3.connect(path)) as connection:
        return int(connection.execute("PRAGMA page_size").fetchone()[0])


def test_a_new_database_file_takes_16_kib_pages(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    Ledger(str(path)).close()

    assert page_size(path) == persistence.SQLITE_PAGE_SIZE == 16384


def test_a_file_made_with_4_kib_pages_keeps_them_and_serves(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA page_size=4096")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE older (a)")

    ledger = Ledger(str(path))
    try:
        published = event(
            "story_published", "e1", "wire", "2020-10-06T22:00", claim("c1", "asserts")
        )
        ledger.append("s", [published], "t")
        assert [decode(view.event)["id"] for view in ledger.reader.events("s")] == ["e1"]
        assert ledger.reader.claim_state("s", "c1", at("2020-10-07T00:00"), None) is not None
    finally:
        ledger.close()
    assert page_size(path) == 4096


def test_writes_do_not_zero_what_they_delete(tmp_path: Path) -> None:
    """Debian's and Ubuntu's SQLite is built with SECURE_DELETE on; the ledger turns it off, so
    replay's DROP of the old projection tables does not write every page it frees."""
    ledger = Ledger(str(tmp_path / "k.sqlite3"))
    try:
        datastore = ledger.recorder.datastore  # type: ignore[attr-defined]
        with datastore.transaction(commit=False) as cursor:
            cursor.execute("PRAGMA secure_delete")
            setting = int(cursor.fetchone()[0])
    finally:
        ledger.close()
    assert setting == 0


def many_events(prefix: str, count: int) -> list[ReportingEvent]:
    first = event(
        "story_published", f"{prefix}-0", "wire", "2020-10-06T22:00", claim("c", "asserts")
    )
    return [first] + [
        event(
            "report_confirmed", f"{prefix}-{n}", "wire", "2020-10-06T22:00", claim("c", "confirms")
        )
        for n in range(1, count)
    ]


def rowids_and_positions(path: Path) -> list[tuple[int, int]]:
    """Each stored reporting event's rowid beside the position ``kw_events`` has for it."""
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(
            "SELECT s.rowid, e.position FROM stored_events s JOIN kw_events e"
            " ON e.story = s.originator_id AND e.story_version = s.originator_version - 1"
            " ORDER BY s.rowid"
        ).fetchall()


@pytest.mark.parametrize("count", [1, 2, 3, 512, 513, 1000])
def test_stored_events_take_the_positions_their_rowids_are(tmp_path: Path, count: int) -> None:
    path = tmp_path / "many.sqlite3"
    ledger = Ledger(str(path))
    try:
        ledger.append("warm", many_events("w", 5), "t")  # rowids 1-6, its opening first
        result = ledger.append("s", many_events("e", count), "t")
        assert [r.position for r in result.receipts] == list(range(8, 8 + count))  # after "s" opens
    finally:
        ledger.close()
    pairs = rowids_and_positions(path)
    assert len(pairs) == 5 + count
    assert all(rowid == position for rowid, position in pairs)


def test_two_ledgers_appending_at_once_keep_positions_and_rowids_equal(tmp_path: Path) -> None:
    path = tmp_path / "racing.sqlite3"
    Ledger(str(path)).close()
    ledgers = [Ledger(str(path)) for _ in range(2)]

    def append(index: int) -> None:
        for round_ in range(4):
            story = f"s{index}-{round_}"
            ledgers[index].append(story, many_events(story, 700), "t")

    threads = [threading.Thread(target=append, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for ledger in ledgers:
        ledger.close()
    pairs = rowids_and_positions(path)
    assert len(pairs) == 2 * 4 * 700
    assert all(rowid == position for rowid, position in pairs)


def test_rowids_that_are_not_consecutive_refuse_the_append_and_store_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "guard.sqlite3"
    ledger = Ledger(str(path))
    try:
        recorder = ledger.recorder
        monkeypatch.setattr(
            recorder, "_rowid_statement", "SELECT -1 WHERE ? IS NOT NULL AND ? IS NOT NULL"
        )
        with pytest.raises(RuntimeError, match="consecutive rowids"):
            ledger.append("s", many_events("e", 3), "t")
        assert ledger.reader.story("s") is None
    finally:
        ledger.close()
    assert rowids_and_positions(path) == []
