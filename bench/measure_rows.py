"""Replay's floor: the rows replay writes, written by nothing but the database driver.

Every projection table of an imported (and replayed) store is read in key order and written
into a fresh database of the same schema as replay writes it: the tables without their
secondary indexes, the rows by ``Dialect.insert_rows`` a page at a time, in key order, then
the indexes, the format stamp and one commit (PostgreSQL: then ``VACUUM (ANALYZE)`` of the
tables written, as replay ends). Only the writing is timed, not the reads of the source. What
replay does beyond this (reading and decoding the stored events, folding them, moving rows
between processes) is what its Python costs; this rate is the most replay could reach with
these tables.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from functools import cache
from time import perf_counter
from typing import Any

import psycopg
from msgspec import Struct

from service.audit.refold import Layout
from service.audit.snapshot import order_by
from service.persistence import SQLITE_PAGE_SIZE, SQLITE_SORT_THREADS, is_postgres_url
from service.projections.dialect import (
    POSTGRES,
    PROJECTION_INDEXES,
    PROJECTION_TABLES,
    SQLITE,
    STAMP_FORMAT,
    Dialect,
)
from service.sqlite_binding import bind_bytes_and_none_directly

PAGE = 10_000


class RowsJob(Struct, frozen=True):
    """Copy the projection rows of ``source`` into the fresh database ``target``."""

    source: str
    target: str


def write_rows(job: RowsJob) -> dict[str, Any]:
    """Seconds spent writing every projection row of ``source`` into ``target``, and the rate
    in the source's events per second."""
    dialect = POSTGRES if is_postgres_url(job.source) else SQLITE
    with closing(connect(job.source)) as source, closing(connect(job.target)) as target:
        events = int(source.execute("SELECT COUNT(*) FROM kw_events").fetchone()[0])
        cursor = prepared(target, dialect)
        clock, rows = Stopwatch(), 0
        with clock:
            if dialect is SQLITE:
                cursor.execute("BEGIN")
            for statement in dialect.projection_tables():
                cursor.execute(statement)
        for table in PROJECTION_TABLES:
            for page in rows_in_key_order(source, dialect, table):
                with clock:
                    dialect.insert_rows(cursor, table, page)
                rows += len(page)
        with clock:
            for statement in (*PROJECTION_INDEXES, STAMP_FORMAT):
                cursor.execute(statement)
            target.commit()
            if dialect is POSTGRES:
                target.autocommit = True
                target.execute(f"VACUUM (ANALYZE) {', '.join(PROJECTION_TABLES)}")
    seconds = clock.seconds
    return {"seconds": seconds, "rows": rows, "events": events, "events_per_s": events / seconds}


class Stopwatch:
    """Adds up the time spent inside its ``with`` blocks."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.seconds += perf_counter() - self._started


def prepared(target: Any, dialect: Dialect) -> Any:
    """A cursor on ``target`` with the tables replay leaves alone (``kw_meta``, the log's) made,
    and SQLite's page size, journal, sort threads and binding as the ledger sets them."""
    if dialect is SQLITE:
        bind_bytes_and_none_directly()
        target.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
        target.execute("PRAGMA journal_mode=WAL")
        target.execute(f"PRAGMA threads={SQLITE_SORT_THREADS}")
    cursor = target.cursor()
    for statement in dialect.shared_statements():
        cursor.execute(statement)
    target.commit()
    return cursor


def connect(database: str) -> Any:
    """A plain driver connection; SQLite's without the module's implicit transactions."""
    if is_postgres_url(database):
        return psycopg.connect(database)
    return sqlite3.connect(database, isolation_level=None)


def rows_in_key_order(connection: Any, dialect: Dialect, table: str) -> Iterator[list[Any]]:
    """Every row of ``table`` in its primary key's order as verify reads it (text by code
    point: replay's order), ``PAGE`` rows at a time."""
    order = key_orders(dialect is POSTGRES)[table]
    # PostgreSQL: a server-side cursor, so the client holds a page, not the whole table.
    cursor = connection.cursor(name=f"rows_{table}") if dialect is POSTGRES else connection.cursor()
    cursor.execute(f"SELECT * FROM {table} ORDER BY {order}")
    while page := cursor.fetchmany(PAGE):
        yield page


@cache
def key_orders(postgres: bool) -> dict[str, str]:
    """Each projection table's ``ORDER BY`` list for its primary key (``refold.Layout`` read off
    the tables' SQLite schema, ``snapshot.order_by`` for the database)."""
    with closing(sqlite3.connect(":memory:")) as schema:
        schema.row_factory = sqlite3.Row
        for statement in SQLITE.projection_tables():
            schema.execute(statement)
        return {
            table: order_by(Layout.read(schema, table).key, postgres) for table in PROJECTION_TABLES
        }
