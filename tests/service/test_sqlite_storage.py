"""The SQLite file's page size (docs/decisions/015): new files take 16 KiB pages, older files
keep theirs and work as before. Writes leave deleted content unzeroed (decision 031)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from msgspec.json import decode

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
