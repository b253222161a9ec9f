"""How the SQLite file is laid out and checkpointed (docs/decisions/015): new files take
16 KiB pages, older files keep theirs, and an import leaves its WAL to grow across commits,
then copies it into the database once."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from msgspec.json import decode

from bench.generate import Shape, generate
from domain.events import ReportingEvent
from service import importer, persistence
from service.application import Ledger
from service.importer import batch_limit, import_file, in_batches, read_lines
from tests.builders import at, claim, event


def page_size(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute("PRAGMA page_size").fetchone()[0])


def wal_bytes(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_a_new_database_file_takes_16_kib_pages(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    Ledger(str(path)).close()

    assert page_size(path) == persistence.SQLITE_PAGE_SIZE == 16384


def test_a_file_made_with_4_kib_pages_keeps_them_and_serves(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as connection:
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


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A 600-event file, appended in ten transactions (~1 MB of WAL each); a live threshold of
    one page, so that outside bulk writing every commit checkpoints; WAL files cut to 1 MiB."""
    monkeypatch.setattr(persistence, "SQLITE_CHECKPOINT_PAGES", 1)
    monkeypatch.setattr(persistence, "SQLITE_WAL_KEPT_BYTES", 1 << 20)
    monkeypatch.setattr(importer, "BATCH_LINES", 60)
    yield generate(Shape(600, events_per_story=200, claims_per_story=20), tmp_path).path


def test_an_import_grows_the_wal_across_commits_then_checkpoints_it(
    small_batches: Path, tmp_path: Path
) -> None:
    # The same ten transactions, outside an import and inside one.
    live, bulk = tmp_path / "live.sqlite3", tmp_path / "bulk.sqlite3"
    ledger = Ledger(str(live))
    try:
        with small_batches.open("rb") as stream:
            lines = read_lines(stream)
            for batch in in_batches(lines, lambda line: line.size, batch_limit(str(live))):
                pending: dict[str, list[ReportingEvent]] = {}
                for line in batch:
                    pending.setdefault(line.story, []).append(line.event)
                ledger.append_many(pending, "t")
        live_wal = wal_bytes(live)  # the largest commit's: each reused the WAL from its start
    finally:
        ledger.close()

    ledger = Ledger(str(bulk))
    try:
        sizes: list[tuple[int, int]] = []
        original = ledger.append_many

        def append_and_measure(*args: object, **kwargs: object) -> dict[str, list[bool]]:
            created = original(*args, **kwargs)  # type: ignore[arg-type]
            sizes.append((wal_bytes(bulk), bulk.stat().st_size))
            return created

        ledger.append_many = append_and_measure  # type: ignore[method-assign]
        report = import_file(ledger, small_batches, recorded_by="t")
        after_import = bulk.stat().st_size
        ledger.append_many = original  # type: ignore[method-assign]
        ledger.append("late", [event("story_published", "e1", "wire", "2020-10-06T22:00")], "t")
        wal_after_next_commit = wal_bytes(bulk)
    finally:
        ledger.close()

    assert (report.stored, len(sizes)) == (600, 10)
    # Every commit of the import appended to the WAL; none copied it into the database ...
    wals, files = zip(*sizes, strict=True)
    assert list(wals) == sorted(wals) and wals[-1] > 5 * live_wal > 0
    assert len(set(files)) == 1
    # ... until the import ended; the next commit starts the WAL over and cuts the file back.
    assert after_import > files[-1]
    assert wal_after_next_commit <= persistence.SQLITE_WAL_KEPT_BYTES < wals[-1]
