"""The reader's two kinds of read: several statements from one snapshot, or a single statement.

PostgreSQL's default isolation, READ COMMITTED, gives each statement its own snapshot, even
inside a transaction; a read of several statements that must agree (an answer and the position
it is reported at) runs in a REPEATABLE READ, READ ONLY transaction, asked for in psycopg's own
BEGIN (no extra round trip). A single statement is consistent on its own: it runs on the pooled
connection as it is, in autocommit, saving BEGIN and ROLLBACK (two round trips of three).
SQLite reads on the thread's own connection (``service.read_connections``, decision 030): a
single statement in autocommit, several in a deferred transaction, a snapshot from its first
read on; a database in memory has only the pool's connection, and reads in its transactions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from psycopg import IsolationLevel
from psycopg.rows import tuple_row

from service.projections.dialect import Dialect


@contextmanager
def reading(datastore: Any, dialect: Dialect, *, snapshot: bool) -> Iterator[Any]:
    """A read cursor: with ``snapshot``, for several statements that must read one state of
    the database; without, for a single statement (on PostgreSQL, outside any transaction)."""
    if dialect.name != "postgres":
        readers = getattr(datastore.pool, "readers", None)
        if readers is None:  # SQLite in memory: the pool's one connection
            with datastore.transaction(commit=False) as cursor:
                yield cursor
            return
        connection = readers.get()
        # A read inside this thread's snapshot joins it.
        begins = snapshot and not connection.in_transaction
        cursor = connection.cursor()
        if begins:
            cursor.execute("BEGIN")
        try:
            yield cursor
        finally:
            cursor.close()
            if begins:
                connection.rollback()
        return
    with datastore.get_connection() as connection:
        if not snapshot:
            with connection.cursor() as cursor:
                yield cursor
            return
        connection.isolation_level = IsolationLevel.REPEATABLE_READ
        connection.read_only = True
        try:
            with connection.transaction(force_rollback=True):
                yield connection.cursor()
        finally:
            connection.isolation_level = None
            connection.read_only = None


@contextmanager
def tuple_rows(cursor: Any, dialect: Dialect) -> Iterator[Any]:
    """``cursor`` (one of ``reading``'s) fetching plain tuples, in column order, for the block,
    not rows by name (``sqlite3.Row``, psycopg's dicts): for the ~150 document state rows of a
    knowledge answer, making and reading named rows took ~40 % of the statement's time."""
    target = cursor if dialect.name == "postgres" else getattr(cursor, "sqlite_cursor", cursor)
    named = target.row_factory
    target.row_factory = tuple_row if dialect.name == "postgres" else None
    try:
        yield cursor
    finally:
        target.row_factory = named
