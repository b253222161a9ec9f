"""Importing a file of many interleaved stories, in batches of many stories per transaction,
on both databases: everything is stored, and knowledge agrees with the reference fold.

On PostgreSQL this is the case that failed inside psycopg's pipeline mode (a fetch met an
INSERT's result: "the last operation didn't produce records") until the projector's queries
got cursors of their own (``service.persistence.OwnCursorPerQuery``).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.generate import Shape, generate
from bench.measure_raw import batches
from bench.naive import naive_knowledge
from bench.questions import sample_questions
from service import importer
from service.application import Ledger
from service.import_lines import CheckedLines, ImportRejected, PassedLines
from service.importer import (
    BatchLimit,
    batch_limit,
    export_lines,
    import_file,
    in_batches,
    story_runs,
)
from tests.conftest import fresh_postgres_database
from tests.service.conftest import BetweenCheckAndWrite


def knewwhen_import(database: str, path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``knewwhen import PATH`` in its own process on ``database`` (bounded: a hang fails)."""
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "import", str(path)],
        env={**os.environ, "KNEWWHEN_DATABASE": database, **env},
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.parametrize("window", [1, 1_000_000])
def test_a_many_story_file_imports_whole_and_answers_like_the_fold(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    # Many transactions on the same pooled connections: psycopg prepares a statement on its
    # fifth execution, and the failure showed only once statements were prepared. A window of
    # one line writes in file order (six stories a transaction); the default, story by story.
    monkeypatch.setattr(importer, "BATCH_LINES", 150)
    monkeypatch.setattr(importer, "WINDOW_LINES", window)
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
                    for table in ("kw_document_acts", "kw_claim_states", "kw_events"):
                        cursor.execute(stats, (table,))
                        row = cursor.fetchone()
                        assert row["relallvisible"] > 0 and row["reltuples"] > 0, (step, table)
        finally:
            ledger.close()


def lines_of(stories: list[str]) -> bytes:
    """An import file: one valid line per entry, the story named, ids numbered in file order."""
    lines = []
    for n, story in enumerate(stories):
        kind = "story_published" if n == stories.index(story) else "report_confirmed"
        stance = "asserts" if kind == "story_published" else "confirms"
        line = {
            "story": story,
            "id": f"e{n}",
            "type": kind,
            "source": "nyt",
            "published_at": f"2020-10-06T{n % 24:02d}:00:00Z",
            "claims": [{"id": "c", "stance": stance, "text": "a claim"}],
        }
        lines.append(msgspec.json.encode(line) + b"\n")
    return b"".join(lines)


def test_a_window_brings_each_story_s_lines_together_in_their_order() -> None:
    data = lines_of(["a", "b", "a", "c", "b", "a", "c"]).replace(b"\n", b"\n\n", 1)
    runs = list(story_runs(io.BytesIO(data), window=4))
    # Windows of 4 lines (the blank line not counted): lines 1,3,4,5 then 6,7,8.
    assert [(line.story, line.number) for line in runs] == [
        ("a", 1), ("a", 4), ("b", 3), ("c", 5), ("b", 6), ("a", 7), ("c", 8),
    ]  # fmt: skip
    assert [line.event.id for line in runs] == ["e0", "e2", "e1", "e3", "e4", "e5", "e6"]


@given(st.lists(st.sampled_from("abcd"), max_size=30), st.integers(1, 8))
def test_story_runs_keep_every_line_and_each_story_s_order_within_windows(
    stories: list[str], window: int
) -> None:
    runs = list(story_runs(io.BytesIO(lines_of(stories)), window))
    assert sorted(line.number for line in runs) == list(range(1, len(stories) + 1))
    for story in set(stories):
        numbers = [line.number for line in runs if line.story == story]
        assert numbers == sorted(numbers)
    for start in range(0, len(runs), window):  # no line leaves its window
        chunk = runs[start : start + window]
        assert {(line.number - 1) // window for line in chunk} == {start // window}


def test_a_line_that_no_longer_decodes_is_rejected_with_its_number() -> None:
    data = lines_of(["a", "b"]) + b'{"story": 7}\n'
    with pytest.raises(ImportRejected) as rejected:
        list(story_runs(io.BytesIO(data), window=10))
    assert rejected.value.line == 3


def test_a_line_is_decoded_unchecked_only_while_its_bytes_are_those_checked() -> None:
    data = lines_of(["a", "b"]).replace(b'"e1"', b'"not an id!"')
    checked = CheckedLines()
    for number, raw in enumerate(io.BytesIO(data), start=1):
        checked.add(number, raw)

    # As checked (here: as said to be), the line is read as stored, its id's pattern unchecked.
    runs = list(story_runs(io.BytesIO(data), window=10, passed=PassedLines(checked)))
    assert [line.event.id for line in runs] == ["e0", "not an id!"]

    # Any other bytes there are decoded strictly again: rejected, naming the line.
    changed = data.replace(b'"nyt"', b'"ap"')
    with pytest.raises(ImportRejected) as rejected:
        list(story_runs(io.BytesIO(changed), window=10, passed=PassedLines(checked)))
    assert (rejected.value.line, rejected.value.pointer) == (2, "/id")


def test_a_line_changed_after_the_check_is_checked_again_before_it_is_stored(
    ledger: Ledger, tmp_path: Path, between_check_and_write: BetweenCheckAndWrite
) -> None:
    path = tmp_path / "changing.jsonl"
    path.write_bytes(lines_of(["a", "b", "c"]))
    changed = lines_of(["a", "b", "c"]).replace(b'"e2"', b'"not an id!"')
    between_check_and_write(lambda _, path: path.write_bytes(changed))

    with pytest.raises(ImportRejected) as rejected:
        import_file(ledger, path, recorded_by="test")

    assert (rejected.value.line, rejected.value.pointer) == (3, "/id")
    assert rejected.value.cause == "the file changed after it was checked"
    # One line a transaction, each written once the next line is read: a's, not b's.
    assert rejected.value.stored == 1
    assert [msgspec.json.decode(line)["id"] for line in export_lines(ledger, "a")] == ["e0"]
    assert list(export_lines(ledger, "b")) == []


def test_lines_read_unchecked_are_the_events_read_strictly(tmp_path: Path) -> None:
    generated = generate(Shape(2000, events_per_story=200, claims_per_story=20), tmp_path)
    checked = CheckedLines()
    with generated.path.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            checked.add(number, raw)
    with generated.path.open("rb") as stream:
        unchecked = list(story_runs(stream, 700, PassedLines(checked)))
    with generated.path.open("rb") as stream:
        strict = list(story_runs(stream, 700))
    assert all(
        isinstance(u.event, type(s.event)) and type(u.event) is not type(s.event)
        for u, s in zip(unchecked, strict, strict=True)
    )  # the same classes, read as stored (domain.stored)
    assert [(line.number, line.story, line.size) for line in unchecked] == [
        (line.number, line.story, line.size) for line in strict
    ]
    encode = msgspec.json.encode
    assert [encode(line.event) for line in unchecked] == [encode(line.event) for line in strict]


def test_an_interleaved_file_stores_each_story_together_in_its_order(
    ledger: Ledger, tmp_path: Path
) -> None:
    path = tmp_path / "interleaved.jsonl"
    path.write_bytes(lines_of(["a", "b", "a", "b", "a"]))
    import_file(ledger, path, recorded_by="test")
    a = [msgspec.json.decode(line)["id"] for line in export_lines(ledger, "a")]
    b = [msgspec.json.decode(line)["id"] for line in export_lines(ledger, "b")]
    assert (a, b) == (["e0", "e2", "e4"], ["e1", "e3"])
    positions = [view.position for view in ledger.reader.events("a", after=0, limit=10)]
    assert positions == list(range(positions[0], positions[0] + 3))  # written together


def test_the_bench_peer_saves_in_the_order_the_import_writes(tmp_path: Path) -> None:
    """The peer's save rate depends on the order (the bench's 300k file, file order against
    story by story: ~11-14k against ~20-24k events/s), so it gets the import's."""
    path = tmp_path / "interleaved.jsonl"
    path.write_bytes(lines_of(["a", "b", "a", "c", "b", "a"]))
    limit = importer.BatchLimit(lines=4, bytes=1 << 20)
    saved = [
        msgspec.json.decode(line)["id"]
        for chunk in batches(path, limit, by_story=True)
        for line in chunk
    ]
    with path.open("rb") as stream:
        written = [line.event.id for line in story_runs(stream, importer.WINDOW_LINES)]
    assert saved == written == ["e0", "e2", "e5", "e1", "e4", "e3"]
    in_file_order = [
        msgspec.json.decode(line)["id"] for chunk in batches(path, limit) for line in chunk
    ]
    assert in_file_order == [f"e{n}" for n in range(6)]
