"""Replay with its story folds in worker processes (decision 016), on both databases: the
tables come out as live appends and an in-process replay wrote them, and a worker that fails
fails the replay, leaving the tables it would have replaced."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from bench.generate import Shape, generate
from service.application import Ledger
from service.children import child_environment, stop
from service.importer import import_file
from service.projections.fold_workers import (
    AHEAD_PER_WORKER,
    FRAME_PIPE_BYTES,
    PARALLEL_FROM,
    WORKER_NICENESS,
    Worker,
    fold_workers,
    fold_workers_for,
    in_order,
)
from service.projections.rebuild import story_statement
from tests.property.test_projection_matches_fold import dump


@pytest.fixture
def imported(ledger: Ledger, tmp_path: Path) -> Ledger:
    """A ledger holding 12 interleaved stories of 60 events each, documents revised."""
    path = generate(Shape(720, 60, 20, seed=3), tmp_path).path
    assert import_file(ledger, path, recorded_by="test").stored == 720
    return ledger


@pytest.mark.parametrize("workers", [1, 3])
def test_replay_folding_in_workers_writes_the_tables_live_appends_wrote(
    imported: Ledger, workers: int
) -> None:
    live = dump(imported)
    assert sum(len(rows) for rows in live.values()) > 3 * 720
    assert live["kw_document_urls"]  # staged on SQLite, then inserted in order (decision 033)
    assert imported.replay(workers=workers) == imported.recorder.max_notification_id()
    assert dump(imported) == live
    imported.replay(workers=0)
    assert dump(imported) == live


def test_a_failing_worker_fails_the_replay_and_leaves_the_tables(
    imported: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = dump(imported)
    monkeypatch.setattr(
        "service.application.story_statement", lambda dialect, store: "SELECT no_such_column"
    )
    with pytest.raises(RuntimeError, match="fold worker ended"):
        imported.replay(workers=2)
    assert dump(imported) == before
    assert imported.reader.story(str(before["kw_stories"][0][0])) is not None
    monkeypatch.undo()
    imported.replay(workers=0)  # nothing of the failed one's staging is left in the way
    assert dump(imported) == before


def test_workers_answer_stories_in_the_order_asked(imported: Ledger) -> None:
    statement = story_statement(imported.dialect, imported.store)
    stories = sorted(str(row[0]) for row in dump(imported)["kw_stories"])
    asked = [*reversed(stories), "no-such-story", stories[0]]
    with fold_workers(imported.database, statement, 2) as folds:
        answered = list(folds(asked))
    assert [rows.story for rows in answered] == asked
    assert [rows.events for rows in answered[-2:]] == [0, 60]
    with fold_workers(imported.database, statement, 2) as folds:
        assert list(folds([])) == []


def test_the_caller_works_meanwhile_until_an_answer_arrives(imported: Ledger) -> None:
    statement = story_statement(imported.dialect, imported.store)
    stories = sorted(str(row[0]) for row in dump(imported)["kw_stories"])
    happened: list[str] = []

    def steps() -> Iterator[None]:
        for _ in range(5):
            happened.append("step")
            yield

    with fold_workers(imported.database, statement, 2) as folds:
        answered = folds(stories, steps())
        assert happened == []  # the stories are sent, but nothing else runs before it is asked
        for rows in answered:
            happened.append(rows.story)
    # No worker answers before its interpreter has started, so the steps ran first.
    assert happened == ["step"] * 5 + stories


def test_the_first_stories_go_out_when_asked_not_when_first_read(imported: Ledger) -> None:
    # So the workers fold while replay drops the old tables (decision 016).
    statement = story_statement(imported.dialect, imported.store)
    stories = sorted(str(row[0]) for row in dump(imported)["kw_stories"])
    worker = Worker(imported.database, statement)
    try:
        answered = in_order([worker], stories)
        assert list(worker.sent) == stories[:AHEAD_PER_WORKER]
        assert [rows.story for rows in answered] == stories
    finally:
        stop(worker.process)


def test_a_worker_runs_below_the_replay_s_priority_and_its_pipe_holds_a_frame(
    imported: Ledger,
) -> None:
    statement = story_statement(imported.dialect, imported.store)
    story = str(dump(imported)["kw_stories"][0][0])
    worker = Worker(imported.database, statement)
    try:
        worker.send(story)
        assert worker.answer().story == story  # the worker has set its priority by now
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, worker.process.pid) == min(
            19, mine + WORKER_NICENESS
        )
        assert fcntl.fcntl(worker.frames.fileno(), fcntl.F_GETPIPE_SZ) >= FRAME_PIPE_BYTES
    finally:
        stop(worker.process)


def test_a_worker_whose_replay_stops_reading_ends_quietly(imported: Ledger) -> None:
    statement = story_statement(imported.dialect, imported.store)
    stories = [str(row[0]) for row in dump(imported)["kw_stories"]]
    worker = subprocess.Popen(
        [sys.executable, "-m", "service.projections.fold_workers"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_environment(),
    )
    try:
        assert worker.stdin and worker.stdout
        lines = [[imported.database, statement], *stories]
        worker.stdin.write(b"".join(msgspec.json.encode(line) + b"\n" for line in lines))
        worker.stdin.flush()
        size = int.from_bytes(worker.stdout.read(4), "big")
        assert msgspec.msgpack.decode(worker.stdout.read(size))["story"] == stories[0]
        worker.stdout.close()  # the replay stops reading with the other stories' frames unread
        worker.stdin.close()
        assert worker.wait(timeout=30) == 1
        assert worker.stderr and worker.stderr.read() == b""
    finally:
        worker.kill()  # a worker that hangs instead is not left behind
        worker.wait()


def test_a_worker_is_told_the_database_on_stdin_not_on_its_command_line() -> None:
    secret = "postgresql://kw:s3cret@127.0.0.1:1/none"
    worker = Worker(secret, "SELECT 1")
    try:
        assert worker.process.args == [sys.executable, "-m", "service.projections.fold_workers"]
        worker.send("story")
        with pytest.raises(RuntimeError, match="fold worker ended"):
            worker.answer()
    finally:
        stop(worker.process)


def test_workers_are_used_only_where_they_pay_and_can_open_the_database(tmp_path: Path) -> None:
    file = tmp_path / "db.sqlite3"
    file.write_bytes(b"")
    big = PARALLEL_FROM
    assert fold_workers_for(str(file), big, cpus=2) == 2
    assert fold_workers_for(str(file), big, cpus=16) == 4
    assert fold_workers_for(str(file), big - 1, cpus=16) == 0
    assert fold_workers_for(str(file), big, cpus=1) == 0
    assert fold_workers_for(":memory:", big, cpus=16) == 0
    assert fold_workers_for(str(tmp_path / "absent.sqlite3"), big, cpus=16) == 0
    assert fold_workers_for("postgresql://127.0.0.1/x", big, cpus=3) == 3
