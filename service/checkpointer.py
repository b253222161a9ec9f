"""SQLite's write-ahead log copied into the database file by a thread of its own.

By default SQLite checkpoints on the connection that commits, once the WAL holds 1,000 pages:
the writer copies every page again into the file and syncs it before it goes on (py-spy put
three quarters of an import's commit time, ~8 % of the import, there). Here the ledger nudges
a ``Checkpointer`` after each commit, and its thread runs ``PRAGMA wal_checkpoint(PASSIVE)``
on a connection of its own, at most every ``INTERVAL`` seconds. SQLite releases the GIL
meanwhile, so the copy runs on another CPU while the writer prepares its next transaction
(docs/decisions/026-checkpoints-in-a-thread-of-their-own.md).

A passive checkpoint never waits on readers or the writer, and the WAL starts again from its
beginning once a checkpoint has copied all of it. Should the thread fall behind a writer that
never pauses, the writer's connections still checkpoint themselves, from ``BACKSTOP_PAGES``
(``persistence.LedgerSQLiteConnectionPool``), so the WAL stays bounded.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

INTERVAL = 0.1
"""The least time, in seconds, from one checkpoint to the next: commits nudging meanwhile
share the next one."""

BACKSTOP_PAGES = 16_384
"""``wal_autocheckpoint`` of the writer's connections: 256 MiB of 16 KiB pages, reached only
if this thread falls behind."""

log = logging.getLogger("knewwhen.checkpointer")


class Checkpointer:
    """A thread that checkpoints one SQLite database's WAL after it is nudged; it starts at
    the first nudge, so a process that only reads never starts one."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._nudged = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.checkpoints = 0

    def nudge(self) -> None:
        """Say that a transaction committed: the thread checkpoints soon."""
        if self._thread is None:
            self._start()
        self._nudged.set()

    def close(self) -> None:
        """Stop the thread, after the checkpoint it may be running; closing the database's
        last connection then checkpoints what is left, as SQLite always does."""
        self._closing.set()
        self._nudged.set()
        with self._start_lock:
            if self._thread is not None:
                self._thread.join()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._closing.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="sqlite-checkpointer", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        connection = sqlite3.connect(
            self._path, uri=True, isolation_level=None, check_same_thread=False
        )
        try:
            while True:
                self._nudged.wait()
                self._nudged.clear()
                if self._closing.is_set():
                    return
                self._checkpoint(connection)
                self._closing.wait(INTERVAL)
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as e:
            # The writer's own checkpoints (BACKSTOP_PAGES) bound the WAL until this works.
            log.warning("checkpoint of %s failed: %s", self._path, e)
            return
        self.checkpoints += 1
