"""Wires ``eventsourcing`` to SQLite or PostgreSQL, with msgspec for stored events.

The recorders are the library's own, extended at one point: inside the transaction that
inserts the stored events (after the positions are known, with the write lock held), they
hand the new events to the projector, so the time-indexed tables commit with the events or
not at all (docs/decisions/001-projections-in-the-write-transaction.md). SQLite connections
come from a pool that keeps each connection's prepared statements (``LedgerSQLiteFactory``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

import msgspec
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import InterfaceError, Mapper, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteFactory,
)
from eventsourcing.utils import Environment, EnvType, get_topic, resolve_topic
from psycopg.sql import SQL, Composed, Identifier

from service.audit.log import VerifiableLog
from service.audit.triggers import append_only_statements
from service.checkpointer import BACKSTOP_PAGES
from service.projections.dialect import POSTGRES, SQLITE, EventStore
from service.projections.format import stale_format
from service.projections.writer import Projector
from service.read_connections import ReadConnections
from service.sqlite_binding import bind_bytes_and_none_directly

SQLITE_POOL_SIZE = 10
CREATE_TABLES_LOCK = 0x6B6E_6577  # "knew": the advisory lock key of table creation
SQLITE_STATEMENT_CACHE = 256
SQLITE_SORT_THREADS = 2
# A new SQLite file's page size. Against SQLite's 4 KiB, imports of 300,000 and 1M events ran
# 8-14 % faster and a 1M replay 28 %, with knowledge at T and a claim's status as fast
# (docs/decisions/015).
SQLITE_PAGE_SIZE = 16 << 10
# Stored events a SQLite INSERT takes at most: 4 values each, 2,048 in all, as
# ``Dialect.insert_rows`` takes the projections' rows; a power of two, as its smaller
# statements are (decision 043).
STORED_EVENTS_PER_STATEMENT = 512


@dataclass(frozen=True)
class MappedEvent(StoredEvent):
    """A stored event on its way in, still holding the domain event it was encoded from, so
    the projector in the same transaction need not decode it again."""

    domain_event: Any = field(default=None, compare=False, repr=False)


class MsgspecMapper(Mapper[str]):
    """Stores each aggregate event as msgspec JSON of its dataclass (no transcoder, no __dict__ walk)."""

    _encoder = msgspec.json.Encoder()
    _decoders: ClassVar[dict[str, msgspec.json.Decoder[Any]]] = {}

    def to_stored_event(self, domain_event: DomainEventProtocol[str]) -> StoredEvent:
        """Encode the whole event dataclass; the topic names its class."""
        return MappedEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(type(domain_event)),
            state=self._encoder.encode(domain_event),
            domain_event=domain_event,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[str]:
        """Decode with a typed decoder built once per topic."""
        decoder = self._decoders.get(stored_event.topic)
        if decoder is None:
            decoder = msgspec.json.Decoder(resolve_topic(stored_event.topic))
            self._decoders[stored_event.topic] = decoder
        event: DomainEventProtocol[str] = decoder.decode(stored_event.state)
        return event


class LedgerSQLiteConnectionPool(SQLiteConnectionPool):
    """The library's pool, but each connection keeps its prepared statements.

    The library connects with ``cached_statements=True``, a cache of one statement, so every
    query was parsed and planned again (a 10 µs lookup took 140 µs in a transaction). Reads
    of a file run on each thread's own connection (``readers``, decision 030).
    """

    def __init__(self, **kwargs: Any) -> None:
        bind_bytes_and_none_directly()
        super().__init__(**kwargs)
        self.readers: ReadConnections | None = (
            None if self.is_sqlite_memory_mode else ReadConnections(self._connect_reader)
        )

    def _connect(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(
                database=self.db_name,
                uri=True,
                check_same_thread=False,
                isolation_level=None,
                cached_statements=SQLITE_STATEMENT_CACHE,
                timeout=self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT,
            )
        except (sqlite3.Error, TypeError) as e:
            raise InterfaceError(e) from e

    def _connect_reader(self) -> sqlite3.Connection:
        """A read-only connection for one thread's reads, rows by name."""
        connection = self._connect()
        connection.execute("PRAGMA query_only=ON")
        connection.row_factory = sqlite3.Row
        return connection

    def close(self) -> None:
        """Close the readers' connections and the pool's."""
        if self.readers is not None:
            self.readers.close()
        super().close()

    def _create_connection(self) -> SQLiteConnection:
        connection = self._connect()
        if not self.is_sqlite_memory_mode and not self.is_journal_mode_wal:
            # Takes effect on a new file only (before WAL mode writes its header); a file
            # keeps the page size it was created with.
            connection.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
            mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
            if mode.lower() != "wal":
                connection.execute("PRAGMA journal_mode=WAL")
                self.journal_mode_was_changed_to_wal = True
            self.is_journal_mode_wal = True
        if not self.is_sqlite_memory_mode:
            # The ledger's checkpointer thread copies the WAL after commits; this connection
            # checkpoints itself only if that thread falls behind (decision 026).
            connection.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        # Deleted content here is projection rows, derived from events the file keeps: zeroing
        # it hides nothing, and made replay write every page it dropped (decision 031).
        connection.execute("PRAGMA secure_delete=OFF")
        # A sort too large for memory (replay's index builds, its staged URL rows) may take a
        # helper thread: the 1M store's four indexes built in 2.05-2.12 s against 2.47-2.61.
        connection.execute(f"PRAGMA threads={SQLITE_SORT_THREADS}")
        connection.row_factory = sqlite3.Row
        return SQLiteConnection(sqlite_conn=connection, max_age=self.max_age)


class LedgerSQLiteFactory(SQLiteFactory):
    """The library's SQLite factory, with the pool above, keeping ``SQLITE_POOL_SIZE`` open."""

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        library_pool = self.datastore.pool
        self.datastore.pool = LedgerSQLiteConnectionPool(
            db_name=library_pool.db_name,
            lock_timeout=library_pool.lock_timeout,
            pool_size=SQLITE_POOL_SIZE,
        )
        library_pool.close()


class SQLiteLedgerRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder, projecting each append inside its transaction."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log = VerifiableLog(SQLITE, EventStore.of(SQLITE, self.events_table_name))
        self.projector = Projector(SQLITE, hooks=(self.log,))
        self.stale_format: int | None = None
        table = self.events_table_name
        self._insert_statements = {
            size: f"INSERT INTO {table} VALUES {','.join(['(?,?,?,?)'] * size)}"
            for size in (1 << n for n in range(STORED_EVENTS_PER_STATEMENT.bit_length()))
        }
        self._rowid_statement = (
            f"SELECT rowid FROM {table} WHERE originator_id = ? AND originator_version = ?"
        )

    def construct_create_table_statements(self) -> list[str]:
        """The stored events table, then the log and kw_meta, then the append-only triggers."""
        return [
            *super().construct_create_table_statements(),
            *SQLITE.shared_statements(),
            *append_only_statements(SQLITE, self.events_table_name),
        ]

    def _create_table(self, c: SQLiteCursor) -> None:
        """Create every table; the projection tables only when absent or of this format."""
        self.stale_format = stale_format(c, SQLITE)
        super()._create_table(c)
        if self.stale_format is None:
            for statement in SQLITE.projection_statements():
                c.execute(statement)

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        positions = self._insert_stored(c, stored_events)
        self.projector.project(c, list(zip(positions, stored_events, strict=True)))
        return positions

    def _insert_stored(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent]) -> list[int]:
        """Insert the stored events as the library does (their rowids are their positions),
        many rows a statement: chunks of ``STORED_EVENTS_PER_STATEMENT`` rows, then of the
        powers of two below it, so a few statements serve every count. A statement's rows take
        consecutive rowids (each one past the largest, with the write lock held), the last of
        them ``lastrowid``; the first row's rowid, looked up, confirms it."""
        positions: list[int] = []
        start, size = 0, STORED_EVENTS_PER_STATEMENT
        while start < len(stored_events):
            while start + size > len(stored_events):
                size //= 2
            chunk = stored_events[start : start + size]
            c.execute(
                self._insert_statements[size],
                tuple(
                    value
                    for s in chunk
                    for value in (s.originator_id, s.originator_version, s.topic, s.state)
                ),
            )
            last = c.lastrowid
            first = last - size + 1
            if size > 1:
                c.execute(
                    self._rowid_statement, (chunk[0].originator_id, chunk[0].originator_version)
                )
                if c.fetchone()[0] != first:
                    raise RuntimeError("the stored events did not take consecutive rowids")
            positions.extend(range(first, last + 1))
            start += size
        return positions


class OwnCursorPerQuery:
    """The cursor the projector writes through inside a PostgreSQL append.

    The library runs appends in psycopg's pipeline mode, where a fetch from a cursor that has
    also run ``executemany()`` can meet one of those INSERTs' results instead of its query's
    ("the last operation didn't produce records (command status: INSERT 0 1)", importing the
    bench's 3,000-event file). Here each ``execute()`` runs on a cursor of its own, on the same
    connection and so in the same transaction, and the fetches read that cursor; the batched
    INSERTs stay on the library's cursor.
    """

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self._last = cursor

    def execute(self, statement: Any, params: Sequence[Any] = ()) -> None:
        """Run one statement on a new cursor, kept for the fetches that follow."""
        own = self._cursor.connection.cursor()
        own.execute(statement, params)
        self._last = own

    def executemany(self, statement: Any, rows: Sequence[Sequence[Any]]) -> None:
        """Run a batched INSERT on the library's cursor."""
        self._cursor.executemany(statement, rows)

    def fetchone(self) -> Any:
        """The next row of the last ``execute()``."""
        return self._last.fetchone()

    def fetchall(self) -> list[Any]:
        """The rows of the last ``execute()``."""
        rows: list[Any] = self._last.fetchall()
        return rows


class PostgresLedgerRecorder(PostgresApplicationRecorder):
    """The library's PostgreSQL recorder, projecting each append inside its transaction."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log = VerifiableLog(POSTGRES, EventStore.of(POSTGRES, self.events_table_name))
        self.projector = Projector(POSTGRES, hooks=(self.log,))
        self.stale_format: int | None = None
        self.insert_columns_statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state)"
            " SELECT * FROM unnest(%b::text[], %b::bigint[], %b::text[], %b::bytea[])"
            " RETURNING notification_id"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        self.sql_create_statements.extend(
            Composed([SQL(statement)])
            for statement in [
                *POSTGRES.shared_statements(),
                *append_only_statements(POSTGRES, self.events_table_name),
            ]
        )

    def _create_table(self, curs: Any) -> None:
        """Create every table; the projection tables only when absent or of this format.

        Workers starting together would race on the library's ``CREATE OR REPLACE FUNCTION``
        ("tuple concurrently updated"): a transaction-scoped advisory lock takes them in turn.
        """
        curs.execute("SELECT pg_advisory_xact_lock(%s)", (CREATE_TABLES_LOCK,), prepare=False)
        self.stale_format = stale_format(curs, POSTGRES)
        super()._create_table(curs)
        if self.stale_format is None:
            for statement in POSTGRES.projection_statements():
                curs.execute(SQL(statement), prepare=False)

    def _insert_stored_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        """As the library does (lock the table, notify, insert returning the positions in
        order), but the events go as four arrays in binary, not as one array of a composite
        type, which psycopg dumps as text in Python: ~50 µs an event, against ~2."""
        self._lock_table(curs)
        self._notify_channel(curs)
        columns = (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
        )
        curs.execute(self.insert_columns_statement, columns)

    def _fetch_ids_after_insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        positions = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        assert positions is not None
        stored = list(zip(positions, stored_events, strict=True))
        self.projector.project(OwnCursorPerQuery(curs), stored)
        return positions


def environment(database: str) -> dict[str, str]:
    """The ``eventsourcing`` environment for a database setting: a file path or a postgresql:// URL."""
    common = {
        "MAPPER_TOPIC": get_topic(MsgspecMapper),
        "ORIGINATOR_ID_TYPE": "text",
        "AGGREGATE_CACHE_MAXSIZE": "1000",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
    }
    if is_postgres_url(database):
        url = urlsplit(database)
        return {
            **common,
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "APPLICATION_RECORDER_TOPIC": get_topic(PostgresLedgerRecorder),
            "POSTGRES_DBNAME": unquote(url.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_ORIGINATOR_ID_TYPE": "text",
            "POSTGRES_LOCK_TIMEOUT": "10",
            # A server's four reader threads, its whole-story reader and its writer.
            "POSTGRES_POOL_SIZE": "6",
        }
    return {
        **common,
        "PERSISTENCE_MODULE": get_topic(LedgerSQLiteFactory),
        "APPLICATION_RECORDER_TOPIC": get_topic(SQLiteLedgerRecorder),
        "SQLITE_DBNAME": database,
        "SQLITE_LOCK_TIMEOUT": "10",
    }


def is_postgres_url(database: str) -> bool:
    """True when the setting names a PostgreSQL server rather than a SQLite file."""
    return database.startswith(("postgresql://", "postgres://"))
