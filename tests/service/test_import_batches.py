"""Importing a file of many interleaved stories, in batches of many stories per transaction,
on both databases: everything is stored, and knowledge agrees with the reference fold.

On PostgreSQL this is the case that failed inside psycopg's pipeline mode (a fetch met an
INSERT's result: "the last operation didn't produce records") until the projector's queries
got cursors of their own (``service.persistence.OwnCursorPerQuery``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from bench.generate import Shape, generate
from bench.naive import naive_knowledge
from bench.questions import sample_questions
from service import importer
from service.application import Ledger
from service.importer import BatchLimit, batch_limit, import_file, in_batches
from tests.conftest import fresh_postgres_database


def knewwhen_import(database: str, path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``knewwhen import PATH`` in its own process on ``database`` (bounded: a hang fails)."""
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "import", str(path)],
        env={**os.environ, "KNEWWHEN_DATABASE": database, **env},
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_a_many_story_file_imports_whole_and_answers_like_the_fold(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Many transactions on the same pooled connections: psycopg prepares a statement on its
    # fifth execution, and the failure showed only once statements were prepared.
    monkeypatch.setattr(importer, "BATCH_LINES", 150)
    generated = generate(Shape(3000, events_per_story=500, claims_per_story=40), tmp_path)

    report = import_file(ledger, generated.path, recorded_by="test")

    assert (report.read, report.stored, len(report.stories)) == (3000, 3000, 6)
    assert ledger.reader.position() == 3006  # one Opened per story, then the events
    encode = msgspec.json.encode
    for q in sample_questions(ledger, seed=5, count=12):
        expected = naive_knowledge(ledger, q.story, q.at, q.recorded_before)
        assert encode(ledger.reader.knowledge(q.story, q.at, q.recorded_before)) == encode(expected)


@pytest.mark.postgres
@pytest.mark.parametrize("hash_seed", ["2", "3", "5"])
def test_knewwhen_import_of_a_many_story_file_succeeds_on_postgres(
    postgres_server: str, tmp_path: Path, hash_seed: str
) -> None:
    # Whether psycopg's pipeline mishandled a fetch depended on the order of the statements
    # of a transaction, which followed Python's string hashing: these seeds failed before.
    generated = generate(Shape(3000, events_per_story=500, claims_per_story=40), tmp_path)
    for url in fresh_postgres_database(postgres_server):
        done = knewwhen_import(url, generated.path, PYTHONHASHSEED=hash_seed)
        assert done.returncode == 0, done.stderr[-2000:]
        ledger = Ledger(url)
        try:
            assert ledger.reader.position() == 3006
        finally:
            ledger.close()


def test_batches_close_at_the_line_limit_or_before_the_byte_limit() -> None:
    sizes = [3, 3, 3, 9, 1, 1, 1, 1]
    batches = list(in_batches(sizes, lambda size: size, BatchLimit(lines=3, bytes=7)))
    # 3+3 fits, a third 3 would pass 7 bytes; 9 alone is over the limit but a batch holds
    # at least one line; then three lines of 1, then the last one.
    assert batches == [[3, 3], [3], [9], [1, 1, 1], [1]]
    assert list(in_batches([], lambda size: size, BatchLimit(3, 7))) == []


def test_postgres_imports_take_smaller_transactions() -> None:
    assert batch_limit("/tmp/x.sqlite3") == BatchLimit(10_000, 32 << 20)
    assert batch_limit("postgresql://u@h/db") == BatchLimit(10_000, 2 << 20)


@pytest.mark.postgres
def test_a_file_past_the_size_that_hung_psycopgs_pipeline_imports_on_postgres(
    postgres_server: str, tmp_path: Path
) -> None:
    # 8,000 bench lines (~4.7 MB) in one transaction never returned from the library's
    # append in pipeline mode (7,000 did not either, 5,000 did); the byte bound splits it.
    generated = generate(Shape(8000, events_per_story=2000, claims_per_story=100), tmp_path)
    for url in fresh_postgres_database(postgres_server):
        done = knewwhen_import(url, generated.path)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "8000 events read, 8000 stored" in done.stdout


@pytest.mark.postgres
def test_an_import_and_a_replay_leave_postgres_tables_vacuumed_and_analyzed(
    postgres_server: str, tmp_path: Path
) -> None:
    # With autovacuum off (as on this machine's server) or not yet run, the planner had no
    # statistics and index-only scans fetched every heap row after a bulk load.
    generated = generate(Shape(600, events_per_story=300, claims_per_story=30), tmp_path)
    stats = "SELECT relallvisible, reltuples FROM pg_class WHERE relname = %s"
    for url in fresh_postgres_database(postgres_server):
        ledger = Ledger(url)
        try:
            import_file(ledger, generated.path, recorded_by="test")
            datastore = ledger.recorder.datastore  # type: ignore[attr-defined]
            for step in ("import", "replay"):
                if step == "replay":
                    ledger.replay()
                with datastore.transaction(commit=False) as cursor:
                    for table in ("kw_claim_acts", "kw_claim_states", "kw_events"):
                        cursor.execute(stats, (table,))
                        row = cursor.fetchone()
                        assert row["relallvisible"] > 0 and row["reltuples"] > 0, (step, table)
        finally:
            ledger.close()
