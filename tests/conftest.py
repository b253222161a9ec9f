"""Shared fixtures: one suite, run against every storage backend.

``database`` yields a fresh SQLite file or a fresh PostgreSQL database (created on the local
server and dropped afterwards). PostgreSQL tests skip locally when no server answers, and
fail in CI (``CI=true``), where .ci/run has started the server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import psycopg
import pytest

PG_ADMIN_URL = os.environ.get("KNEWWHEN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)


def postgres_available() -> bool:
    """True when the local PostgreSQL server answers."""
    try:
        with _admin():
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of a reachable PostgreSQL server (skip locally, fail in CI)."""
    if not postgres_available():
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI and did not answer at {PG_ADMIN_URL}")
        pytest.skip(f"no PostgreSQL server answers at {PG_ADMIN_URL}")
    return PG_ADMIN_URL


def fresh_postgres_database(admin_url: str) -> Generator[str, None, None]:
    """Create a throwaway database, yield its URL, drop it."""
    name = f"kw_test_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database setting: a SQLite file path or a PostgreSQL URL."""
    if request.param == "sqlite":
        yield str(tmp_path / "knewwhen.sqlite3")
        return
    admin = request.getfixturevalue("postgres_server")
    yield from fresh_postgres_database(admin)
