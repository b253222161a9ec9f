"""Which projection format a database holds, and the refusal to read one of another format.

The projection tables are derived data: when their layout changes, ``PROJECTION_FORMAT``
changes, and a database written in an earlier format is refused (with what to run) until
``knewwhen replay`` rebuilds them from the stored events, which it never changes.
"""

from __future__ import annotations

from typing import Any

from service.projections.dialect import PROJECTION_FORMAT, Dialect


class ProjectionsOutOfDate(Exception):
    """The database's projection tables were written in another format than this release's."""

    def __init__(self, found: int) -> None:
        super().__init__(
            f"the projection tables of this database are format {found}; this release reads "
            f"format {PROJECTION_FORMAT}: run `knewwhen replay` to rebuild them from the stored "
            "events (the events and the log are not changed)"
        )
        self.found = found


def stored_format(cursor: Any, dialect: Dialect) -> int | None:
    """The format of the database's projection tables; None when it has none yet.

    Databases from before the format was recorded (no ``kw_meta`` row) are format 1.
    """
    if not table_exists(cursor, dialect, "kw_events"):
        return None
    if not table_exists(cursor, dialect, "kw_meta"):
        return 1
    cursor.execute("SELECT value FROM kw_meta WHERE name = 'projection_format'")
    row = cursor.fetchone()
    return 1 if row is None else int(row["value"])


def stale_format(cursor: Any, dialect: Dialect) -> int | None:
    """The database's projection format when it is not this release's, else None."""
    found = stored_format(cursor, dialect)
    return None if found in (None, PROJECTION_FORMAT) else found


def table_exists(cursor: Any, dialect: Dialect, table: str) -> bool:
    """Whether ``table`` exists in the database (PostgreSQL: in the current schema)."""
    if dialect.name == "sqlite":
        statement = "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?"
    else:
        statement = (
            "SELECT COUNT(*) AS n FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_name = %s"
        )
    cursor.execute(statement, (table,))
    return int(cursor.fetchone()["n"]) > 0
