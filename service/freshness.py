"""What the event loop may know without asking the database: the stories' tips as last read.

SQLite's ``PRAGMA data_version`` changes whenever any other connection commits, in this
process or another; reading it costs microseconds and no thread hop. A tip read while the
version held still is current until the version moves, so a repeated question whose answer
is cached can be served from memory. Any commit by anyone forgets every tip. PostgreSQL has
no such counter: there, every question asks the database.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from service.persistence import is_postgres_url
from service.projections.reader import StoryTip

MAX_TIPS = 100_000
"""Tips held at most; past it, all are forgotten (they are cheap to read again)."""

Known = tuple[int, StoryTip | None]
"""The applied position and a story's tip (None: no such story)."""


def data_version_connection(database: str) -> sqlite3.Connection | None:
    """A read-only connection to the SQLite file ``database`` that never holds a transaction
    open; None for PostgreSQL or an in-memory database."""
    if is_postgres_url(database) or database.startswith(":memory:") or "mode=memory" in database:
        return None
    uri = Path(database).expanduser().resolve().as_uri() + "?mode=ro"
    try:
        return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error:
        return None  # every question asks the database, as on PostgreSQL


class Freshness:
    """Stories' tips, each as read at a data version that has not moved since."""

    def __init__(self, connection: sqlite3.Connection | None) -> None:
        self._connection = connection
        self._version: int | None = None
        self._tips: dict[str, Known] = {}

    @classmethod
    def of(cls, database: str) -> Freshness:
        """Tips for ``database`` (a SQLite file, or a PostgreSQL URL: none ever known)."""
        return cls(data_version_connection(database))

    def close(self) -> None:
        """Close the connection the version is read on."""
        if self._connection is not None:
            self._connection.close()

    def version(self) -> int | None:
        """The database's data version now; None when it cannot be known."""
        if self._connection is None:
            return None
        try:
            version = int(self._connection.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            self._version = None
            self._tips.clear()
            return None
        if version != self._version:
            self._version = version
            self._tips.clear()
        return version

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
