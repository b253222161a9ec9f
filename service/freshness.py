"""What the event loop may know without asking the database: the stories' tips as last read.

SQLite's ``PRAGMA data_version`` changes whenever any other connection commits, in this
process or another; reading it costs microseconds and no thread hop. A tip read while the
version held still is current until the version moves, so a repeated question whose answer
is cached can be served from memory. Any commit by anyone forgets every tip. PostgreSQL has
no such counter: there, every question reads its story's tip (on the event loop:
``service.tips``).

On the event loop the version is read once per turn of the loop and kept until the turn
ends: every request handled in a turn arrived before the turn's I/O poll, which came before
that read, so a commit that ended before a request arrived is still seen by it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from service.persistence import is_postgres_url
from service.projections.reader import StoryTip

MAX_TIPS = 100_000
"""Tips held at most; past it, all are forgotten (they are cheap to read again)."""

Known = tuple[int, StoryTip | None]
"""The applied position and a story's tip (None: no such story)."""


def loop_connection(database: str, timeout: float = 5.0) -> sqlite3.Connection | None:
    """A read-only connection to the SQLite file ``database`` for reads on the event loop: it
    never holds a transaction open, and waits at most ``timeout`` seconds for a lock; None for
    PostgreSQL or an in-memory database (those reads then go to the database another way)."""
    if is_postgres_url(database) or database.startswith(":memory:") or "mode=memory" in database:
        return None
    uri = Path(database).expanduser().resolve().as_uri() + "?mode=ro"
    try:
        return sqlite3.connect(
            uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error:
        return None


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, if any."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Freshness:
    """Stories' tips, each as read at a data version that has not moved since."""

    def __init__(self, connection: sqlite3.Connection | None) -> None:
        self._connection = connection
        self._version: int | None = None
        self._tips: dict[str, Known] = {}
        self._kept_on: asyncio.AbstractEventLoop | None = None

    @classmethod
    def of(cls, database: str) -> Freshness:
        """Tips for ``database`` (a SQLite file, or a PostgreSQL URL: none ever known)."""
        return cls(loop_connection(database))  # None: every question asks the database

    def close(self) -> None:
        """Close the connection the version is read on."""
        if self._connection is not None:
            self._connection.close()

    def version(self) -> int | None:
        """The database's data version now (on the event loop: as read in this turn of the
        loop); None when it cannot be known."""
        if self._connection is None:
            return None
        loop = running_loop()
        if loop is not None and loop is self._kept_on:
            return self._version
        try:
            version = int(self._connection.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            self._version = None
            self._tips.clear()
            return None
        if version != self._version:
            self._version = version
            self._tips.clear()
        if loop is not None:  # kept until the loop runs the callbacks of its next turn
            self._kept_on = loop
            loop.call_soon(self._end_turn)
        return version

    def _end_turn(self) -> None:
        self._kept_on = None

    def known(self, version: int | None, story: str) -> Known | None:
        """``story``'s position and tip, if read at ``version`` (which must be current)."""
        if version is None or version != self._version:
            return None
        return self._tips.get(story)

    def remember(self, version: int | None, story: str, known: Known) -> None:
        """Keep ``known``, read after ``version`` was taken, if the version has not moved."""
        if version is None or self.version() != version:
            return
        if len(self._tips) >= MAX_TIPS:
            self._tips.clear()
        self._tips[story] = known
