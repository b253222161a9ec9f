"""The projection tables, written once for SQLite and PostgreSQL.

Times are stored as integer microseconds since the epoch (UTC), so both databases compare
and index them the same way. Every ``*_states`` table is bitemporal: a row is the state of one
claim (or document) after the act at (``published_at``, ``position``), as rewritten by the
append recorded at ``recorded_at``. The state at (T, R) is the row with the greatest
(``published_at``, ``position``, ``recorded_at``) among rows with ``published_at`` ≤ T and
``recorded_at`` < R: a seek to T in the primary key (docs/decisions/002-bitemporal-state-rows.md,
009-state-rows-keyed-by-public-time.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import chain
from typing import Any

# The layout of the projection tables and their blobs. A database whose projections were
# written in another format is refused until ``knewwhen replay`` rebuilds them (decision 007).
PROJECTION_FORMAT = 6

LATEST_STATE_FIRST = " ORDER BY s.published_at DESC, s.position DESC, s.recorded_at DESC LIMIT 1"
"""Closes a query on a ``*_states`` table aliased ``s``: of the rows it admits, the one that
holds (decision 009)."""


def state_at(thing: str) -> str:
    """A subquery: the state of claim or document ``c`` (``thing`` names which) at (T, R);
    parameters (R, T)."""
    return (
        f"SELECT s.state FROM kw_{thing}_states s WHERE s.story = c.story AND s.{thing} = c.{thing}"
        " AND s.recorded_at < ? AND s.published_at <= ?" + LATEST_STATE_FIRST
    )


PROJECTION_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS kw_events (
        position {int} PRIMARY KEY,
        story TEXT NOT NULL,
        event_id TEXT NOT NULL,
        story_version {int} NOT NULL,
        type TEXT NOT NULL,
        source TEXT NOT NULL,
        published_at {int} NOT NULL,
        recorded_at {int} NOT NULL,
        recorded_by TEXT NOT NULL,
        digest TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS kw_stories (
        story TEXT PRIMARY KEY,
        events {int} NOT NULL,
        claims {int} NOT NULL,
        documents {int} NOT NULL,
        first_published_at {int} NOT NULL,
        last_published_at {int} NOT NULL,
        last_position {int} NOT NULL)""",
    # A claim's or document's earliest public act as recorded so far (lowered when an earlier
    # one is recorded late): a knowledge answer at T probes only those public by T.
    """CREATE TABLE IF NOT EXISTS kw_claims (
        story TEXT NOT NULL,
        claim TEXT NOT NULL,
        first_published_at {int} NOT NULL,
        PRIMARY KEY (story, claim)){without_rowid}""",
    # A claim's state after each of its acts, as each append (re)wrote it. The row the act's own
    # append wrote also carries the act and its event's id (``event_id``, ``act``); the rows
    # later appends rewrote leave both NULL (decision 036). So the events applied to a claim at
    # (T, R) are one range of its rows (those with an event id), and no list of them is kept
    # in any state.
    """CREATE TABLE IF NOT EXISTS kw_claim_states (
        story TEXT NOT NULL,
        claim TEXT NOT NULL,
        recorded_at {int} NOT NULL,
        published_at {int} NOT NULL,
        position {int} NOT NULL,
        state {blob} NOT NULL,
        event_id TEXT,
        act {blob},
        PRIMARY KEY (story, claim, published_at, position, recorded_at)){without_rowid}""",
    """CREATE TABLE IF NOT EXISTS kw_documents (
        story TEXT NOT NULL,
        document TEXT NOT NULL,
        first_published_at {int} NOT NULL,
        PRIMARY KEY (story, document)){without_rowid}""",
    """CREATE TABLE IF NOT EXISTS kw_document_acts (
        story TEXT NOT NULL,
        document TEXT NOT NULL,
        published_at {int} NOT NULL,
        position {int} NOT NULL,
        recorded_at {int} NOT NULL,
        event_id TEXT NOT NULL,
        act {blob} NOT NULL,
        PRIMARY KEY (story, document, published_at, position)){without_rowid}""",
    """CREATE TABLE IF NOT EXISTS kw_document_states (
        story TEXT NOT NULL,
        document TEXT NOT NULL,
        recorded_at {int} NOT NULL,
        published_at {int} NOT NULL,
        position {int} NOT NULL,
        state {blob} NOT NULL,
        PRIMARY KEY (story, document, published_at, position, recorded_at)){without_rowid}""",
    """CREATE TABLE IF NOT EXISTS kw_document_urls (
        url_sha256 TEXT NOT NULL,
        story TEXT NOT NULL,
        document TEXT NOT NULL,
        url TEXT NOT NULL,
        PRIMARY KEY (url_sha256, story, document)){without_rowid}""",
)

# Secondary indexes: created with the tables, and by replay only after it wrote the rows.
PROJECTION_INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS kw_events_id ON kw_events (story, event_id)",
    "CREATE INDEX IF NOT EXISTS kw_events_public"
    " ON kw_events (story, published_at, recorded_at, position)",
    "CREATE INDEX IF NOT EXISTS kw_events_story ON kw_events (story, position)",
    # Covers the read of a claim's applied events, which then never visits the wide rows.
    "CREATE INDEX IF NOT EXISTS kw_claim_events ON kw_claim_states"
    " (story, claim, published_at, position, recorded_at, event_id)",
)

STAMP_FORMAT = (
    f"INSERT INTO kw_meta VALUES ('projection_format', '{PROJECTION_FORMAT}')"
    " ON CONFLICT (name) DO NOTHING"
)

SHARED_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS kw_meta (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL)""",
    # The verifiable log (service/audit, decision 004): append-only, never rebuilt by replay.
    """CREATE TABLE IF NOT EXISTS kw_log_leaves (
        leaf_index {int} PRIMARY KEY,
        position {int} NOT NULL UNIQUE,
        leaf_hash {blob} NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS kw_tree_heads (
        tree_size {int} PRIMARY KEY,
        root_hash {blob} NOT NULL,
        recorded_at {int} NOT NULL)""",
    # The roots of the tree's complete blocks of 2**height leaves, so a process takes up the
    # tree from them instead of hashing every leaf again (decision 029).
    """CREATE TABLE IF NOT EXISTS kw_log_blocks (
        height {int} NOT NULL,
        block {int} NOT NULL,
        root_hash {blob} NOT NULL,
        PRIMARY KEY (height, block)){without_rowid}""",
)

LOG_TABLES = ("kw_log_leaves", "kw_tree_heads", "kw_log_blocks")
"""The verifiable log's tables (in ``SHARED_SCHEMA``): appended to, never rebuilt."""

RETIRED_TABLES = ("kw_claim_acts",)
"""Projection tables of earlier formats (``kw_claim_acts``: format 4 and before), which replay
drops with the current ones."""

PROJECTION_TABLES = (
    "kw_events",
    "kw_stories",
    "kw_claims",
    "kw_claim_states",
    "kw_documents",
    "kw_document_acts",
    "kw_document_states",
    "kw_document_urls",
)


COLUMN = re.compile(r"^\s*(\w+) (TEXT|\{int\}|\{blob\})", re.MULTILINE)


def column_kinds(schema: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Each table's column types as its CREATE statement in ``schema`` writes them (``TEXT``,
    ``{int}``, ``{blob}``), in order."""
    return {
        statement.split("EXISTS", 1)[1].split("(", 1)[0].strip(): tuple(
            kind for _, kind in COLUMN.findall(statement)
        )
        for statement in schema
        if statement.startswith("CREATE TABLE")
    }


COLUMN_KINDS = column_kinds((*PROJECTION_SCHEMA, *SHARED_SCHEMA))
"""The columns of every table rows are inserted into, read off the CREATE statements."""


@dataclass(frozen=True)
class EventStore:
    """Where the library keeps the stored events: its table and its position column."""

    table: str
    position: str

    @classmethod
    def of(cls, dialect: Dialect, table: str) -> EventStore:
        """The library's ``table`` on ``dialect``'s database: SQLite numbers the stored events
        by ``rowid``, PostgreSQL by ``notification_id``."""
        return cls(table, "rowid" if dialect.name == "sqlite" else "notification_id")

    def join(self, events: str = "e", stored: str = "r") -> str:
        """A join giving each ``kw_events`` row (aliased ``events``) its stored event (aliased
        ``stored``), whose ``state`` holds the event's body (``kw_events`` keeps no copy of it,
        decision 035)."""
        return f" JOIN {self.table} {stored} ON {stored}.{self.position} = {events}.position"


@dataclass(frozen=True)
class Dialect:
    """What differs between the two databases: column types and the parameter marker."""

    name: str
    int_type: str
    blob_type: str
    without_rowid: str
    placeholder: str

    def create_statements(self) -> list[str]:
        """CREATE statements for every table and index: shared ones, then the projections."""
        return [*self.shared_statements(), *self.projection_statements()]

    def shared_statements(self) -> list[str]:
        """CREATE statements for the tables replay never touches: the log and kw_meta."""
        return [self._typed(t) for t in SHARED_SCHEMA]

    def projection_statements(self) -> list[str]:
        """CREATE statements for the projection tables and indexes, then the format stamp."""
        return [*self.projection_tables(), *PROJECTION_INDEXES, STAMP_FORMAT]

    def projection_tables(self) -> list[str]:
        """CREATE statements for the projection tables alone (replay indexes them after)."""
        return [self._typed(t) for t in PROJECTION_SCHEMA]

    def _typed(self, statement: str) -> str:
        return statement.format(
            int=self.int_type, blob=self.blob_type, without_rowid=self.without_rowid
        )

    def sql(self, statement: str) -> str:
        """Rewrite ``?`` markers for this database."""
        return statement if self.placeholder == "?" else statement.replace("?", self.placeholder)

    def may_wait_in(self, cursor: Any) -> None:
        """Let the open transaction of ``cursor`` wait as long as it must between statements:
        replay's and verify's wait for their workers (a long story's fold, the log recomputed)
        for seconds. On PostgreSQL the library ends a connection idle in a transaction after
        ``POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT`` (5 s unless set), which ended them
        mid-way; this transaction alone now has no such limit. SQLite has none."""
        if self.name == "postgres":
            cursor.execute("SET LOCAL idle_in_transaction_session_timeout = 0")

    def insert_rows(
        self, cursor: Any, table: str, rows: Sequence[Sequence[Any]], suffix: str = ""
    ) -> None:
        """Insert ``rows`` (whole rows of ``table``, none absent) with ``suffix`` (an ``ON
        CONFLICT`` clause) after the values. SQLite: statements of many rows each
        (``SQLITE_ROWS_PER_STATEMENT``), the rest by ``executemany`` of a one-row statement, so
        a table has two statements whatever the count. PostgreSQL: one statement, the rows
        sent as one binary array per column and ``unnest``-ed back into rows, where
        ``executemany`` would bind and execute each row in turn (psycopg dumping its
        parameters in Python each time)."""
        if not rows:
            return
        if self.name == "sqlite":
            step = SQLITE_ROWS_PER_STATEMENT[table]
            whole = insert_statement(self, table, suffix, step)
            end = len(rows) - len(rows) % step
            for start in range(0, end, step):
                cursor.execute(whole, tuple(chain.from_iterable(rows[start : start + step])))
            if end < len(rows):
                cursor.executemany(insert_statement(self, table, suffix), rows[end:])
        else:
            statement = insert_statement(self, table, suffix)
            cursor.execute(statement, [list(column) for column in zip(*rows, strict=True)])


# Rows per SQLite INSERT: ~2,000 values, well below SQLite's 32,766. Inserting the claim
# state rows of the bench's 100k store (279,472, in key order, into a fresh file) took 0.54 s
# 256 rows a statement against 0.67 by ``executemany``, one step per row (three rounds).
SQLITE_ROWS_PER_STATEMENT = {table: 2048 // len(kinds) for table, kinds in COLUMN_KINDS.items()}


@cache
def insert_statement(dialect: Dialect, table: str, suffix: str, rows: int = 1) -> str:
    """``Dialect.insert_rows``'s statement for ``table``."""
    kinds = COLUMN_KINDS[table]
    if dialect.name == "sqlite":
        values = ",".join([f"({','.join('?' * len(kinds))})"] * rows)
        return f"INSERT INTO {table} VALUES {values}{suffix}"
    types = {"TEXT": "text", "{int}": dialect.int_type, "{blob}": dialect.blob_type}
    arrays = ", ".join(f"%b::{types[kind]}[]" for kind in kinds)
    return f"INSERT INTO {table} SELECT * FROM unnest({arrays}){suffix}"


SQLITE = Dialect("sqlite", "INTEGER", "BLOB", " WITHOUT ROWID", "?")
POSTGRES = Dialect("postgres", "BIGINT", "BYTEA", "", "%s")
