"""Each thread reads on a connection of its own: the same one each time, gone with the thread,
and closed with the rest when the database closes."""

from __future__ import annotations

import gc
import sqlite3
import threading
from pathlib import Path

import pytest

from service.read_connections import ReadConnections


def opener(path: Path, opened: list[sqlite3.Connection]) -> ReadConnections:
    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(path, check_same_thread=False)
        opened.append(connection)
        return connection

    return ReadConnections(connect)


def test_a_thread_keeps_its_connection_and_another_thread_gets_its_own(tmp_path: Path) -> None:
    opened: list[sqlite3.Connection] = []
    readers = opener(tmp_path / "db", opened)
    mine = readers.get()
    assert readers.get() is mine
    theirs: list[sqlite3.Connection] = []
    thread = threading.Thread(target=lambda: theirs.append(readers.get()))
    thread.start()
    thread.join()
    assert theirs[0] is not mine and opened == [mine, theirs[0]]
    readers.close()


def test_close_closes_every_open_connection_and_refuses_new_ones(tmp_path: Path) -> None:
    opened: list[sqlite3.Connection] = []
    readers = opener(tmp_path / "db", opened)
    readers.get().execute("SELECT 1")
    readers.close()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        opened[0].execute("SELECT 1")
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        threading_get(readers)


def threading_get(readers: ReadConnections) -> None:
    """``readers.get()`` in a new thread, raising what it raised."""
    raised: list[BaseException] = []

    def get() -> None:
        try:
            readers.get()
        except BaseException as error:  # handed back to the caller
            raised.append(error)

    thread = threading.Thread(target=get)
    thread.start()
    thread.join()
    if raised:
        raise raised[0]


def test_a_finished_threads_connection_is_not_kept(tmp_path: Path) -> None:
    opened: list[sqlite3.Connection] = []
    readers = opener(tmp_path / "db", opened)
    for _ in range(3):
        threading_get(readers)
    opened.clear()
    gc.collect()
    assert len(readers._open) == 0
    readers.close()
