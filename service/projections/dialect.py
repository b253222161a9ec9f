"""The projection tables, written once for SQLite and PostgreSQL.

Times are stored as integer microseconds since the epoch (UTC), so both databases compare
and index them the same way. Every ``*_states`` table is bitemporal: a row is the state of one
claim (or document) after the act at (``published_at``, ``position``), as rewritten by the
append recorded at ``recorded_at``. The state at (T, R) is the row with the greatest
(``recorded_at``, ``published_at``, ``position``) among rows with ``published_at`` ≤ T and
``recorded_at`` < R — one index probe (docs/decisions/002-bitemporal-state-rows.md).
"""

from __future__ import annotations

from dataclasses import dataclass

TABLES = (
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
        digest TEXT NOT NULL,
        body {blob} NOT NULL,
        UNIQUE (story, event_id))""",
    "CREATE INDEX IF NOT EXISTS kw_events_public"
    " ON kw_events (story, published_at, recorded_at, position)",
    "CREATE INDEX IF NOT EXISTS kw_events_version ON kw_events (story, story_version)",
    """CREATE TABLE IF NOT EXISTS kw_stories (
        story TEXT PRIMARY KEY,
        events {int} NOT NULL,
        claims {int} NOT NULL,
        documents {int} NOT NULL,
        first_published_at {int} NOT NULL,
        last_published_at {int} NOT NULL,
        last_position {int} NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS kw_claims (
        story TEXT NOT NULL,
        claim TEXT NOT NULL,
        PRIMARY KEY (story, claim)){without_rowid}""",
    """CREATE TABLE IF NOT EXISTS kw_claim_acts (
        story TEXT NOT NULL,
        claim TEXT NOT NULL,
        published_at {int} NOT NULL,
        position {int} NOT NULL,
        act {blob} NOT NULL,
        PRIMARY KEY (story, claim, published_at, position)){without_rowid}""",
    "CREATE INDEX IF NOT EXISTS kw_claim_acts_public ON kw_claim_acts (story, published_at)",
    """CREATE TABLE IF NOT EXISTS kw_claim_states (
        story TEXT NOT NULL,
        claim TEXT NOT NULL,
        recorded_at {int} NOT NULL,
        published_at {int} NOT NULL,
        position {int} NOT NULL,
        state {blob} NOT NULL,
        PRIMARY KEY (story, claim, recorded_at, published_at, position)){without_rowid}""",
    """CREATE TABLE IF NOT EXISTS kw_documents (
        story TEXT NOT NULL,
        document TEXT NOT NULL,
        PRIMARY KEY (story, document)){without_rowid}""",
    """CREATE TABLE IF NOT EXISTS kw_document_acts (
        story TEXT NOT NULL,
        document TEXT NOT NULL,
        published_at {int} NOT NULL,
        position {int} NOT NULL,
        act {blob} NOT NULL,
        PRIMARY KEY (story, document, published_at, position)){without_rowid}""",
    """CREATE TABLE IF NOT EXISTS kw_document_states (
        story TEXT NOT NULL,
        document TEXT NOT NULL,
        recorded_at {int} NOT NULL,
        published_at {int} NOT NULL,
        position {int} NOT NULL,
        state {blob} NOT NULL,
        PRIMARY KEY (story, document, recorded_at, published_at, position)){without_rowid}""",
    """CREATE TABLE IF NOT EXISTS kw_document_urls (
        url_sha256 TEXT NOT NULL,
        story TEXT NOT NULL,
        document TEXT NOT NULL,
        url TEXT NOT NULL,
        PRIMARY KEY (url_sha256, story, document)){without_rowid}""",
    # The verifiable log (service/audit, decision 004): append-only, never rebuilt by replay.
    """CREATE TABLE IF NOT EXISTS kw_log_leaves (
        leaf_index {int} PRIMARY KEY,
        position {int} NOT NULL UNIQUE,
        leaf_hash {blob} NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS kw_tree_heads (
        tree_size {int} PRIMARY KEY,
        root_hash {blob} NOT NULL,
        recorded_at {int} NOT NULL)""",
)

PROJECTION_TABLES = (
    "kw_events",
    "kw_stories",
    "kw_claims",
    "kw_claim_acts",
    "kw_claim_states",
    "kw_documents",
    "kw_document_acts",
    "kw_document_states",
    "kw_document_urls",
)


@dataclass(frozen=True)
class Dialect:
    """What differs between the two databases: column types and the parameter marker."""

    name: str
    int_type: str
    blob_type: str
    without_rowid: str
    placeholder: str

    def create_statements(self) -> list[str]:
        """CREATE statements for every projection table and index."""
        return [
            t.format(int=self.int_type, blob=self.blob_type, without_rowid=self.without_rowid)
            for t in TABLES
        ]

    def sql(self, statement: str) -> str:
        """Rewrite ``?`` markers for this database."""
        return statement if self.placeholder == "?" else statement.replace("?", self.placeholder)


SQLITE = Dialect("sqlite", "INTEGER", "BLOB", " WITHOUT ROWID", "?")
POSTGRES = Dialect("postgres", "BIGINT", "BYTEA", "", "%s")
