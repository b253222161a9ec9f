"""Stories' tips the event loop remembers: kept while no commit happens, forgotten at any."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.freshness import Freshness, Known
from service.projections.reader import StoryTip

TIP = (7, StoryTip(7, datetime(2026, 1, 1, tzinfo=UTC)))


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection to a WAL-mode file, which commits."""
    connection = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE t (x INTEGER)")
    yield connection
    connection.close()


@pytest.fixture
def freshness(writer: sqlite3.Connection, tmp_path: Path) -> Iterator[Freshness]:
    """Tips over the writer's file."""
    found = Freshness.of(str(tmp_path / "db.sqlite3"))
    yield found
    found.close()


def test_a_tip_read_while_nothing_committed_is_known(freshness: Freshness) -> None:
    version = freshness.version()
    freshness.remember(version, "s", TIP)
    assert freshness.known(freshness.version(), "s") == TIP
    assert freshness.known(freshness.version(), "other") is None


def test_any_commit_by_another_connection_forgets_every_tip(
    freshness: Freshness, writer: sqlite3.Connection
) -> None:
    version = freshness.version()
    freshness.remember(version, "s", TIP)
    writer.execute("INSERT INTO t VALUES (1)")
    now = freshness.version()
    assert now != version
    assert freshness.known(now, "s") is None
    assert freshness.known(version, "s") is None


def test_a_tip_read_across_a_commit_is_not_remembered(
    freshness: Freshness, writer: sqlite3.Connection
) -> None:
    version = freshness.version()
    writer.execute("INSERT INTO t VALUES (1)")  # between the version and the read's end
    freshness.remember(version, "s", TIP)
    assert freshness.known(freshness.version(), "s") is None


def test_postgresql_knows_no_version() -> None:
    freshness = Freshness.of("postgresql://postgres@127.0.0.1:5432/test")
    assert freshness.version() is None
    freshness.remember(None, "s", TIP)
    assert freshness.known(None, "s") is None


def test_on_the_event_loop_the_version_is_read_once_per_turn_of_the_loop(
    freshness: Freshness, writer: sqlite3.Connection
) -> None:
    async def turns() -> tuple[int | None, int | None, int | None]:
        first = freshness.version()
        writer.execute("INSERT INTO t VALUES (1)")  # after this turn's I/O: seen next turn
        same_turn = freshness.version()
        await asyncio.sleep(0)
        return first, same_turn, freshness.version()

    first, same_turn, next_turn = asyncio.run(turns())
    assert same_turn == first
    assert next_turn != first
    assert freshness.version() == next_turn  # off the loop: read each time


def test_a_tip_read_across_turns_with_a_commit_between_is_not_remembered(
    freshness: Freshness, writer: sqlite3.Connection
) -> None:
    async def across() -> Known | None:
        version = freshness.version()
        writer.execute("INSERT INTO t VALUES (1)")
        await asyncio.sleep(0)  # the statement's thread hop: the answer comes in a later turn
        freshness.remember(version, "s", TIP)
        return freshness.known(freshness.version(), "s")

    assert asyncio.run(across()) is None
