"""Each reading thread's own connection to a SQLite file (decision 030).

The library's pool hands a connection to each read under a lock, in a transaction of its own
(BEGIN, then ROLLBACK), through several context managers: ~40 µs a read, on this machine more
than the indexed lookup of a claim's status itself (63 µs p50 through the pool, 22 µs on a
connection of the thread's own, on the bench's 300k store). The reader's statements run on a
connection each thread keeps instead: read-only, in autocommit (a single statement reads one
state of the database), or in a transaction of its own for a snapshot of several.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Callable


class Held:
    """One thread's connection (``sqlite3.Connection`` takes no weak reference; this does)."""

    __slots__ = ("__weakref__", "connection")

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection


class ReadConnections:
    """The connection of each thread that reads, opened on its first read.

    A thread's connection goes with the thread (its thread-local holder is dropped, and the
    connection closed with it); ``close`` closes those still open, as the pool closes.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._local = threading.local()
        self._open: weakref.WeakSet[Held] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._closed = False

    def get(self) -> sqlite3.Connection:
        """This thread's connection."""
        held: Held | None = getattr(self._local, "held", None)
        if held is None:
            with self._lock:
                if self._closed:
                    raise sqlite3.ProgrammingError("the database's connections are closed")
                held = Held(self._connect())
                self._open.add(held)
            self._local.held = held
        return held.connection

    def close(self) -> None:
        """Close every thread's connection; later reads raise."""
        with self._lock:
            self._closed = True
            for held in list(self._open):
                held.connection.close()
