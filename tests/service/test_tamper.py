"""Tamper drills on real SQLite and PostgreSQL databases: the triggers refuse rewrites, and once an
attacker drops them, ``verify`` still catches each rewrite and names the first bad index."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import msgspec
import psycopg
import pytest

from bench.generate import Shape, generate
from domain.story import digest_of
from service.application import Ledger
from service.audit import log as log_module
from service.audit import verify_child
from service.audit.commands import cmd_verify
from service.audit.log_worker import log_worker
from service.audit.recompute import recompute
from service.audit.refold import folded_here
from service.audit.snapshot import snapshot
from service.audit.triggers import append_only_statements, trigger_name
from service.audit.verify import VerifyReport, verify
from service.audit.verify_child import VerifyFailed, verify_apart
from service.importer import import_file
from service.merkle import MerkleTree
from service.persistence import is_postgres_url
from service.projections.dialect import LOG_TABLES
from service.projections.fold_workers import fold_workers
from service.projections.rebuild import events_statement, story_statement
from service.projections.rows import decode_recorded
from tests.builders import claim, event
from tests.service.conftest import SteppingClock
from tests.service.test_log import append_some


class Raw:
    """Direct access to the database, as an attacker with database credentials has it."""

    def __init__(self, database: str) -> None:
        self.postgres = is_postgres_url(database)
        self.events = "knewwhen_events" if self.postgres else "stored_events"
        self.position = "notification_id" if self.postgres else "rowid"
        self.conn: Any = (
            psycopg.connect(database, autocommit=True)
            if self.postgres
            else sqlite3.connect(database)
        )

    def run(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Execute one statement (``?`` markers) and commit; its rows, if any."""
        cursor = self.conn.execute(
            statement.replace("?", "%s") if self.postgres else statement, params
        )
        found = list(cursor.fetchall()) if cursor.description else []
        if not self.postgres:
            self.conn.commit()
        return found

    def drop_triggers(self) -> None:
        """What an attacker does first."""
        for table in (self.events, *LOG_TABLES):
            for op in ("update", "delete", "truncate"):
                name = trigger_name(table, op)
                self.run(
                    f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if self.postgres else "")
                )

    def position_of(self, index: int) -> int:
        """The store position of leaf ``index``."""
        return int(
            self.run("SELECT position FROM kw_log_leaves WHERE leaf_index = ?", (index,))[0][0]
        )

    def row(self, position: int) -> tuple[Any, ...]:
        """(originator_id, originator_version, topic, state) of one stored event."""
        found = self.run(
            f"SELECT originator_id, originator_version, topic, state FROM {self.events}"
            f" WHERE {self.position} = ?",
            (position,),
        )[0]
        return (*found[:3], bytes(found[3]))

    def set_state(self, position: int, state: bytes) -> None:
        self.run(f"UPDATE {self.events} SET state = ? WHERE {self.position} = ?", (state, position))

    def delete(self, position: int) -> None:
        self.run(f"DELETE FROM {self.events} WHERE {self.position} = ?", (position,))

    def put(self, position: int, row: tuple[Any, ...]) -> None:
        self.run(
            f"INSERT INTO {self.events} ({self.position}, originator_id, originator_version, topic,"
            " state) VALUES (?, ?, ?, ?, ?)",
            (position, *row),
        )

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(autouse=True)
def blocks_of_four(monkeypatch: pytest.MonkeyPatch) -> None:
    """Log blocks of 4 leaves, so the 10 leaves below close two (their roots are stored)."""
    monkeypatch.setattr(log_module, "BLOCK_HEIGHT", 2)


@pytest.fixture
def ledger(database: str) -> Iterator[Ledger]:
    opened = Ledger(database, clock=SteppingClock(datetime(2026, 1, 1, tzinfo=UTC)))
    try:
        append_some(opened, "a")  # leaves 0..4, heads at sizes 1, 2, 3, 5
        append_some(opened, "b")  # leaves 5..9, heads at sizes 6, 7, 8, 10
        yield opened
    finally:
        opened.close()


@pytest.fixture
def raw(database: str, ledger: Ledger) -> Iterator[Raw]:
    found = Raw(database)
    try:
        yield found
    finally:
        found.close()


@contextmanager
def attacker(raw: Raw) -> Iterator[Raw]:
    raw.drop_triggers()
    yield raw


def failed_at(report: VerifyReport, index: int, *words: str) -> None:
    assert not report.ok, report.lines()
    assert report.failure_index == index, report.failure
    assert report.failure is not None and report.failure.startswith(f"index {index}:")
    for word in words:
        assert word in report.failure


def edited_text(state: bytes, recompute_digest: bool) -> bytes:
    """The stored event with its claim text changed (and, for a careful attacker, its digest)."""
    stored = msgspec.json.decode(state)
    for stance in stored["event"]["claims"]:
        stance["text"] = "rewritten"
    if recompute_digest:
        stored["digest"] = digest_of(decode_recorded(msgspec.json.encode(stored)).event)
    return msgspec.json.encode(stored)


def test_an_untouched_database_verifies(ledger: Ledger) -> None:
    report = verify(ledger)
    assert report.ok, report.lines()
    assert report.failure is None and report.failure_index is None
    assert report.lines()[-1].startswith("OK")


@pytest.mark.parametrize("table", ["events", *LOG_TABLES])
@pytest.mark.parametrize("operation", ["UPDATE", "DELETE"])
def test_the_database_refuses_to_rewrite_history(raw: Raw, table: str, operation: str) -> None:
    name = raw.events if table == "events" else table
    column = {"events": "topic", "kw_log_leaves": "position", "kw_log_blocks": "root_hash"}.get(
        table, "recorded_at"
    )
    statement = (
        f"UPDATE {name} SET {column} = {column}" if operation == "UPDATE" else f"DELETE FROM {name}"
    )
    error = psycopg.Error if raw.postgres else sqlite3.Error
    with pytest.raises(error, match="append-only"):
        raw.run(statement)
    assert raw.run(f"SELECT COUNT(*) FROM {name}")[0][0] > 0


def test_postgres_refuses_truncate_too(raw: Raw) -> None:
    if not raw.postgres:
        pytest.skip("SQLite has no TRUNCATE")
    for table in (raw.events, *LOG_TABLES):
        with pytest.raises(psycopg.Error, match="append-only"):
            raw.run(f"TRUNCATE {table}")


def test_creating_the_triggers_again_is_harmless(raw: Raw) -> None:
    from service.projections.dialect import POSTGRES, SQLITE

    for statement in append_only_statements(POSTGRES if raw.postgres else SQLITE, raw.events):
        raw.run(statement)
    with pytest.raises(psycopg.Error if raw.postgres else sqlite3.Error, match="append-only"):
        raw.run(f"DELETE FROM {raw.events}")


@pytest.mark.parametrize("workers", [0, 2])
def test_an_edited_payload_is_named(ledger: Ledger, raw: Raw, workers: int) -> None:
    with attacker(raw):
        position = raw.position_of(6)
        raw.set_state(position, edited_text(raw.row(position)[3], recompute_digest=False))
    failed_at(verify(ledger, workers=workers), 6, f"position {position}", "digest")


@pytest.mark.parametrize("workers", [0, 2])
def test_an_edit_with_a_recomputed_digest_is_still_named(
    ledger: Ledger, raw: Raw, workers: int
) -> None:
    with attacker(raw):
        position = raw.position_of(3)
        raw.set_state(position, edited_text(raw.row(position)[3], recompute_digest=True))
    failed_at(verify(ledger, workers=workers), 3, "does not hash to its leaf")


def test_an_edit_that_also_rewrites_the_leaf_is_caught_by_the_tree_heads(
    ledger: Ledger, raw: Raw
) -> None:
    from service.audit.leaves import leaf_of_recorded
    from service.merkle import leaf_hash

    with attacker(raw):
        position = raw.position_of(1)
        state = edited_text(raw.row(position)[3], recompute_digest=True)
        raw.set_state(position, state)
        new_hash = leaf_hash(leaf_of_recorded(decode_recorded(state)))
        raw.run("UPDATE kw_log_leaves SET leaf_hash = ? WHERE leaf_index = 1", (new_hash,))
    failed_at(verify(ledger), 1, "tree head of size 2")


@pytest.mark.parametrize("workers", [0, 2])
def test_a_deleted_row_is_named(ledger: Ledger, raw: Raw, workers: int) -> None:
    with attacker(raw):
        raw.delete(raw.position_of(4))
    failed_at(verify(ledger, workers=workers), 4, "deleted or moved")


def test_a_deleted_last_row_is_named_even_after_a_replay(ledger: Ledger, raw: Raw) -> None:
    with attacker(raw):
        raw.delete(raw.position_of(9))
    ledger.replay()
    failed_at(verify(ledger), 9)


def test_two_swapped_rows_are_named_by_the_first(ledger: Ledger, raw: Raw) -> None:
    with attacker(raw):
        p, q = raw.position_of(2), raw.position_of(7)
        first, second = raw.row(p), raw.row(q)
        raw.delete(p)
        raw.delete(q)
        raw.put(p, second)
        raw.put(q, first)
    failed_at(verify(ledger), 2)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_rewritten_tree_head_is_named(ledger: Ledger, raw: Raw, workers: int) -> None:
    with attacker(raw):
        raw.run("UPDATE kw_tree_heads SET root_hash = ? WHERE tree_size = 7", (b"\x00" * 32,))
    failed_at(verify(ledger, workers=workers), 6, "tree head of size 7")


@pytest.mark.parametrize("workers", [0, 2])
def test_a_doctored_projection_is_caught_by_the_fresh_fold(
    ledger: Ledger, raw: Raw, workers: int
) -> None:
    assert verify(ledger, workers=workers).ok
    position = raw.position_of(8)
    raw.run("DELETE FROM kw_claim_states WHERE position = ?", (position,))
    failed_at(verify(ledger, workers=workers), 8, "kw_claim_states")


def test_the_command_exits_0_then_1_naming_the_index(
    ledger: Ledger, raw: Raw, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(progress=False)
    assert cmd_verify(args, ledger) == 0
    out = capsys.readouterr()
    assert "tree heads: 8 recorded, 8 match" in out.out
    assert out.out.rstrip().endswith("OK: the log and the projections verify")
    with attacker(raw):
        raw.delete(raw.position_of(5))
    assert cmd_verify(args, ledger) == 1
    assert "FAILED: index 5:" in capsys.readouterr().err


def refuse_here(ledger: Ledger) -> VerifyReport:
    raise AssertionError("verify ran in the server's own process")


def test_a_verification_apart_runs_in_a_child_and_names_the_index(
    ledger: Ledger, raw: Raw, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify_child, "verify", refuse_here)  # the child imports its own
    assert anyio.run(verify_apart, ledger).lines() == verify(ledger).lines()
    raw.run("DELETE FROM kw_claim_states WHERE position = ?", (raw.position_of(8),))
    failed_at(anyio.run(verify_apart, ledger), 8, "kw_claim_states")


def test_a_child_that_fails_raises_with_its_error(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database, " * 512)
    monkeypatch.setattr(ledger, "database", str(garbage))
    with pytest.raises(VerifyFailed, match="exited with 1") as failed:
        anyio.run(verify_apart, ledger)
    assert "file is not a database" in str(failed.value)


def test_a_database_in_memory_is_verified_in_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    in_memory = Ledger(":memory:", clock=SteppingClock(datetime(2026, 1, 1, tzinfo=UTC)))
    try:
        append_some(in_memory, "a")
        assert anyio.run(verify_apart, in_memory).ok
        monkeypatch.setattr(verify_child, "verify", refuse_here)
        with pytest.raises(AssertionError, match="own process"):
            anyio.run(verify_apart, in_memory)
    finally:
        in_memory.close()


@pytest.mark.parametrize("workers", [0, 2])
def test_a_changed_state_row_is_named_with_its_index(
    ledger: Ledger, raw: Raw, workers: int
) -> None:
    position = raw.position_of(7)
    raw.run("UPDATE kw_claim_states SET state = ? WHERE position = ?", (b"{}", position))
    report = verify(ledger, workers=workers)
    failed_at(report, 7, "kw_claim_states", "not in the fold", f"position={position}")


def test_a_key_of_another_type_is_a_difference_not_a_crash(tmp_path: Path) -> None:
    # SQLite only: PostgreSQL refuses text in an integer column.
    database = str(tmp_path / "typed.sqlite3")
    opened = Ledger(database, clock=SteppingClock(datetime(2026, 1, 1, tzinfo=UTC)))
    raw = Raw(database)
    try:
        append_some(opened, "a")
        position = raw.position_of(3)
        raw.run("UPDATE kw_claim_states SET position = 'x' WHERE position = ?", (position,))
        report = verify(opened)
        assert not report.ok and report.failure is not None
        assert "kw_claim_states" in report.failure and "position='x'" in report.failure
    finally:
        raw.close()
        opened.close()


def test_a_row_no_event_made_is_named(ledger: Ledger, raw: Raw) -> None:
    raw.run("INSERT INTO kw_claims (story, claim, first_published_at) VALUES ('a', 'c0', 1)")
    report = verify(ledger)
    assert verify(ledger, workers=2).lines() == report.lines()
    assert not report.ok and report.failure is not None
    assert "kw_claims" in report.failure and "(3 rows, the fold has 2)" in report.failure
    assert "not in the fold: story='a', claim='c0'" in report.failure


@pytest.mark.postgres
def test_stories_ordered_apart_by_collation_and_code_point_verify(postgres_server: str) -> None:
    """A PostgreSQL database sorting text by an ICU collation (story-a, story-A, story-b)
    rather than by code point (story-A, story-a, story-b) still verifies: both sides are
    compared in code point order."""
    with icu_database(postgres_server) as database:
        opened = Ledger(database, clock=SteppingClock(datetime(2026, 1, 1, tzinfo=UTC)))
        try:
            for story in ("story-b", "story-A", "story-a", "Story-z", "story-0"):
                append_some(opened, story)
            report = verify(opened)
            assert report.ok, report.lines()
        finally:
            opened.close()


@contextmanager
def icu_database(admin_url: str) -> Iterator[str]:
    """A throwaway PostgreSQL database whose default collation is ICU's English one."""
    name = f"kw_test_icu_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en'"
            " LOCALE 'C.UTF-8'"
        )
        order = admin.execute(
            "SELECT s FROM (VALUES ('story-A'), ('story-a')) v(s) ORDER BY s COLLATE \"en-x-icu\""
        ).fetchall()
        assert order == [("story-a",), ("story-A",)], "ICU's English order is not code point's"
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def cancel_once_folding(ledger: Ledger, scratch: Path) -> bool:
    """Start a verification apart, cancel it once its child has made its scratch file (where
    the fold's URL rows go); whether the file was seen."""
    seen = False
    async with anyio.create_task_group() as group:

        async def verifying() -> None:
            await verify_apart(ledger, str(scratch))

        group.start_soon(verifying)
        with anyio.move_on_after(60):
            while not seen:
                seen = any(scratch.glob("*/*/urls.sqlite3"))
                await anyio.sleep(0.002)
        group.cancel_scope.cancel()
    return seen


def test_a_cancelled_verification_leaves_no_scratch_files(database: str, tmp_path: Path) -> None:
    """The child is killed, so it cannot remove its scratch file: this process does."""
    lines = generate(Shape(events=3000, events_per_story=300), tmp_path).path
    ledger = Ledger(database)
    try:
        import_file(ledger, lines, recorded_by="test")
        scratch = tmp_path / "scratch"
        scratch.mkdir()
        assert anyio.run(cancel_once_folding, ledger, scratch)
        assert list(scratch.iterdir()) == []
        assert anyio.run(verify_apart, ledger, str(scratch)).ok
        assert list(scratch.iterdir()) == []
    finally:
        ledger.close()


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_verification_cancelled_once_kills_its_child_and_its_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncio's ``Task.cancel`` cancels once (as a client gone from a late answer does,
    decision 045): the child and the worker it started are killed then, not waited for."""
    worker_pid = tmp_path / "worker.pid"
    child = (
        "import subprocess, sys, time\n"
        "worker = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(worker_pid)!r}, 'w').write(str(worker.pid))\n"
        "time.sleep(60)\n"
    )
    monkeypatch.setattr(verify_child, "child_command", lambda: [sys.executable, "-c", child])
    ledger = Ledger(str(tmp_path / "k.db"))

    async def cancelled_once_started() -> float:
        verifying = asyncio.ensure_future(verify_apart(ledger))
        while not worker_pid.exists() or not worker_pid.read_text():
            await asyncio.sleep(0.01)
        verifying.cancel()
        cancelled = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await verifying
        return time.monotonic() - cancelled

    try:
        assert asyncio.run(asyncio.wait_for(cancelled_once_started(), 120)) < 10
        pid = int(worker_pid.read_text())
        deadline = time.monotonic() + 10
        while running(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not running(pid), "the child's worker computes on"
    finally:
        ledger.close()


def test_fold_workers_read_the_snapshot_not_what_was_appended_since(ledger: Ledger) -> None:
    recorder: Any = ledger.recorder
    with snapshot(recorder.datastore, ledger.dialect, ledger.store) as snap:
        bounded = snap.story_statement()
        in_snapshot = folded_here(snap, "a")
        later = event(
            "report_confirmed", "a-later", "ap", "2020-10-10T12:00", claim("c", "confirms")
        )
        ledger.append("a", [later], "w")  # committed while the snapshot is open
        unbounded = story_statement(ledger.dialect, snap.store)
        with fold_workers(ledger.database, bounded, 1) as folds:
            (rows,) = folds(["a"])
        with fold_workers(ledger.database, unbounded, 1) as folds:
            (everything,) = folds(["a"])
    assert (in_snapshot.events, rows.events, everything.events) == (5, 5, 6)
    assert [(t, [tuple(r) for r in table_rows]) for t, table_rows in rows.tables] == [
        (t, [tuple(r) for r in table_rows]) for t, table_rows in in_snapshot.tables
    ]


def test_the_log_worker_reads_the_snapshot_not_what_was_appended_since(ledger: Ledger) -> None:
    recorder: Any = ledger.recorder
    with snapshot(recorder.datastore, ledger.dialect, ledger.store) as snap:
        bounded = snap.events_statement()
        here = recompute(snap.stored_events())
        later = event(
            "report_confirmed", "a-later", "ap", "2020-10-10T12:00", claim("c", "confirms")
        )
        ledger.append("a", [later], "w")  # committed while the snapshot is open
        with log_worker(ledger.database, bounded) as answer:
            apart = answer()
        with log_worker(ledger.database, events_statement(ledger.dialect, snap.store)) as answer:
            everything = answer()
    assert (len(here.tree), len(apart.tree), len(everything.tree)) == (10, 10, 11)
    assert list(apart.tree.leaf_hashes) == list(here.tree.leaf_hashes)
    assert apart.tree.root(7) == here.tree.root(7) and apart.tree.root() == here.tree.root()
    assert (apart.positions, apart.other_events) == (here.positions, here.other_events)


def test_the_log_worker_sends_its_findings(ledger: Ledger, raw: Raw) -> None:
    with attacker(raw):
        position = raw.position_of(6)
        raw.set_state(position, edited_text(raw.row(position)[3], recompute_digest=False))
    recorder: Any = ledger.recorder
    with snapshot(recorder.datastore, ledger.dialect, ledger.store) as snap:
        here = recompute(snap.stored_events())
        with log_worker(ledger.database, snap.events_statement()) as answer:
            apart = answer()
    assert apart.findings == here.findings and len(here.findings) == 1
    assert (apart.bad_digests, here.bad_digests) == (1, 1)


def test_a_log_worker_that_fails_says_so(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database, " * 512)
    with (
        log_worker(str(garbage), "SELECT 1") as answer,
        pytest.raises(RuntimeError, match="exit status 1"),
    ):
        answer()


@pytest.mark.parametrize("workers", [0, 2])
def test_a_rewritten_block_root_is_named_by_its_last_leaf(
    ledger: Ledger, raw: Raw, workers: int
) -> None:
    with attacker(raw):
        raw.run("UPDATE kw_log_blocks SET root_hash = ? WHERE block = 0", (b"\x00" * 32,))
    failed_at(verify(ledger, workers=workers), 3, "block 0 root", "leaves 0-3")


def test_a_process_does_not_take_up_the_tree_from_a_last_root_its_leaves_deny(
    database: str, ledger: Ledger, raw: Raw
) -> None:
    with attacker(raw):
        raw.run("UPDATE kw_log_blocks SET root_hash = ? WHERE block = 1", (b"\x00" * 32,))
    later = Ledger(database, clock=SteppingClock(datetime(2026, 2, 1, tzinfo=UTC)))
    try:
        append_some(later, "c")
        leaves = [
            bytes(r[0]) for r in raw.run("SELECT leaf_hash FROM kw_log_leaves ORDER BY leaf_index")
        ]
        heads = raw.run("SELECT tree_size, root_hash FROM kw_tree_heads ORDER BY tree_size")
        assert all(bytes(root) == MerkleTree(leaves).root(size) for size, root in heads)
        failed_at(verify(later), 7, "block 1 root", "leaves 4-7")
    finally:
        later.close()
