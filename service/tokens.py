"""Bearer tokens: created and revoked as rows of an append-only table; only SHA-256 digests kept.

The latest ``kw_tokens`` row of a name decides: a ``created`` row holds the digest of that
name's one valid token, a ``revoked`` row none (docs/decisions/003-tokens.md).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from msgspec import Struct
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from service.application import Ledger
from service.freshness import loop_connection
from service.projections.dialect import POSTGRES, Dialect
from service.projections.reader import Datastore
from service.projections.rows import micros

Role = Literal["reader", "writer", "admin"]
ROLES: tuple[Role, ...] = ("reader", "writer", "admin")
WRITE_ROLES: frozenset[str] = frozenset({"writer", "admin"})
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
TOKEN_PREFIX = "kw_"
MAX_TOKEN_LENGTH = 256

CREATE_TABLE = """CREATE TABLE IF NOT EXISTS kw_tokens (
    id {identity},
    name TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('created', 'revoked')),
    role TEXT,
    token_sha256 TEXT,
    at {int} NOT NULL)"""
IDENTITY = {
    "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "postgres": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
}


BY_DIGEST = (
    "SELECT t.name, t.role, t.token_sha256 FROM kw_tokens t"
    " WHERE t.token_sha256 = ? AND t.action = 'created'"
    " AND t.id = (SELECT MAX(l.id) FROM kw_tokens l WHERE l.name = t.name)"
)
"""A token's name and role if its digest (the parameter) is its name's latest created row."""
POSTGRES_BY_DIGEST = POSTGRES.sql(BY_DIGEST)


class Principal(Struct, frozen=True):
    """Who a request speaks for: a token's name (its ``recorded_by``) and role."""

    name: str
    role: Role

    @property
    def may_write(self) -> bool:
        """Writers and admins may append events."""
        return self.role in WRITE_ROLES


class BadTokenName(ValueError):
    """A token name that could be confused with another principal (e.g. ``cli:<user>``)."""


def digest(token: str) -> str:
    """The SHA-256 of a token, as stored."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """The ``kw_tokens`` table of one database."""

    def __init__(self, datastore: Datastore, dialect: Dialect) -> None:
        self.datastore = datastore
        self.dialect = dialect
        q = dialect.sql
        self.insert = q(
            "INSERT INTO kw_tokens (name, action, role, token_sha256, at) VALUES (?,?,?,?,?)"
        )
        self.latest = q("SELECT action FROM kw_tokens WHERE name = ? ORDER BY id DESC LIMIT 1")
        self.by_digest = q(BY_DIGEST)

    @classmethod
    def of(cls, ledger: Ledger) -> TokenStore:
        """The token table in the ledger's database, created if missing."""
        store = cls(ledger.recorder.datastore, ledger.dialect)  # type: ignore[attr-defined]
        store.create_table()
        return store

    def create_table(self) -> None:
        """CREATE TABLE IF NOT EXISTS, serialized across processes on PostgreSQL."""
        statements = [
            CREATE_TABLE.format(identity=IDENTITY[self.dialect.name], int=self.dialect.int_type),
            "CREATE INDEX IF NOT EXISTS kw_tokens_digest ON kw_tokens (token_sha256)",
            "CREATE INDEX IF NOT EXISTS kw_tokens_name ON kw_tokens (name, id)",
        ]
        with self.datastore.transaction(commit=True) as cursor:
            if self.dialect.name == "postgres":
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext('kw_tokens'))")
            for statement in statements:
                cursor.execute(statement)

    def create(self, name: str, role: Role) -> str:
        """Store a new token for ``name`` (replacing any earlier one) and return it, once."""
        if not NAME_PATTERN.match(name):
            raise BadTokenName(
                f"token name {name!r} must be 1-64 of a-z 0-9 . _ - (starting with a letter or digit)"
            )
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(self.insert, (name, "created", role, digest(token), now()))
        return token

    def revoke(self, name: str) -> bool:
        """Revoke ``name``'s token; False when it has no valid token."""
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(self.latest, (name,))
            row = cursor.fetchone()
            if row is None or row["action"] != "created":
                return False
            cursor.execute(self.insert, (name, "revoked", None, None, now()))
        return True

    def authenticate(self, token: str) -> Principal | None:
        """The principal of a valid token, or None; digests are compared in constant time."""
        presented = presented_digest(token)
        if presented is None:
            return None
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self.by_digest, (presented,))
            rows: list[Any] = list(cursor.fetchall())
        return matching_principal(rows, presented)


class LoopTokenCheck:
    """``TokenStore.authenticate`` on the event loop, for a SQLite file: the same statement
    over a read-only connection of this check's own, which never waits for a lock. An
    indexed probe of a small table takes microseconds, less than the hop to a read thread
    and back (decision 022); a revocation is still seen by the next request."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self._connection.row_factory = sqlite3.Row

    @classmethod
    def of(cls, database: str) -> LoopTokenCheck | None:
        """A check for ``database``; None for PostgreSQL or SQLite in memory."""
        connection = loop_connection(database, timeout=0)
        return None if connection is None else cls(connection)

    def close(self) -> None:
        """Close the check's connection."""
        self._connection.close()

    def authenticate(self, token: str) -> Principal | None:
        """As ``TokenStore.authenticate``; raises ``TokenCheckBusy`` rather than wait."""
        presented = presented_digest(token)
        if presented is None:
            return None
        try:
            rows = self._connection.execute(BY_DIGEST, (presented,)).fetchall()
        except sqlite3.OperationalError as busy:
            raise TokenCheckBusy(str(busy)) from busy
        return matching_principal(rows, presented)


class AsyncTokenCheck:
    """``TokenStore.authenticate`` on the event loop, for PostgreSQL: the same statement over
    an asynchronous connection of the loop's pool (``AsyncTips.pool``), so the request waits
    for the round trip without a thread (decision 022)."""

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[dict[str, object]]]) -> None:
        self._pool = pool

    async def authenticate(self, token: str) -> Principal | None:
        """As ``TokenStore.authenticate``."""
        presented = presented_digest(token)
        if presented is None:
            return None
        async with self._pool.connection() as connection:
            cursor = await connection.execute(POSTGRES_BY_DIGEST, (presented,))
            rows = await cursor.fetchall()
        return matching_principal(rows, presented)


class TokenCheckBusy(Exception):
    """The database could not be read at once; ask ``TokenStore.authenticate`` instead."""


def presented_digest(token: str) -> str | None:
    """The digest to look a presented token up by; None for one no table can hold (empty, or
    longer than any token made)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return digest(token)


def matching_principal(rows: Iterable[Any], presented: str) -> Principal | None:
    """The principal of the row whose digest is ``presented`` (compared in constant time)."""
    for row in rows:
        if hmac.compare_digest(row["token_sha256"], presented):
            return Principal(name=row["name"], role=row["role"])
    return None


def now() -> int:
    """The current time in table units."""
    return micros(datetime.now(UTC))


def create_token(ledger: Ledger, name: str, role: str) -> str:
    """Create a token for ``name`` with ``role``; the returned token is never stored or shown again."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    return TokenStore.of(ledger).create(name, role)


def revoke_token(ledger: Ledger, name: str) -> bool:
    """Revoke the token of ``name``; False when it had none."""
    return TokenStore.of(ledger).revoke(name)
