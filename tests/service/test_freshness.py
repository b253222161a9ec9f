"""Stories' tips the event loop remembers: kept while no commit happens, forgotten at any."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.freshness import Freshness
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
