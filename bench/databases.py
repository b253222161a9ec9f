"""Throwaway databases for each measured run: SQLite files in the work folder, or PostgreSQL
databases created on the server named by ``--database`` and dropped afterwards."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from service.persistence import is_postgres_url

SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


class Databases:
    """Makes and removes fresh databases of one kind (the kind of ``setting``)."""

    def __init__(self, setting: str | None, folder: Path) -> None:
        self.server = setting if setting and is_postgres_url(setting) else None
        self.folder = folder
        self.made: list[str] = []

    @property
    def kind(self) -> str:
        """``postgres`` or ``sqlite``."""
        return "postgres" if self.server else "sqlite"

    def fresh(self, label: str) -> str:
        """A new, empty database; its setting (a file path or a URL)."""
        name = re.sub(r"[^a-z0-9_]", "_", f"kwbench_{label}_{os.getpid()}".lower())
        if self.server is None:
            path = self.folder / f"{name}.sqlite3"
            remove_sqlite(path)
            self.made.append(str(path))
            return str(path)
        with psycopg.connect(self.server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = urlsplit(self.server)
        setting = urlunsplit(url._replace(path=f"/{name}"))
        self.made.append(setting)
        return setting

    def copy(self, setting: str, label: str) -> str:
        """A new database holding what ``setting`` holds now, page for page (SQLite's backup;
        PostgreSQL's ``CREATE DATABASE … TEMPLATE``, which needs no one connected to it)."""
        copied = self.fresh(label)
        if self.server is None:
            with sqlite3.connect(setting) as source, sqlite3.connect(copied) as target:
                source.backup(target)
            return copied
        with psycopg.connect(self.server, autocommit=True) as conn:
            name, template = (urlsplit(url).path.lstrip("/") for url in (copied, setting))
            conn.execute(f'DROP DATABASE "{name}"')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return copied

    def size(self, setting: str) -> int:
        """Bytes on disk of one database."""
        if not is_postgres_url(setting):
            return sum(
                Path(setting + suffix).stat().st_size
                for suffix in SQLITE_SUFFIXES
                if Path(setting + suffix).exists()
            )
        with psycopg.connect(setting) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) if row else 0

    def drop(self, setting: str) -> None:
        """Remove one database made here."""
        if setting in self.made:
            self.made.remove(setting)
        if not is_postgres_url(setting):
            remove_sqlite(Path(setting))
            return
        assert self.server is not None
        name = urlsplit(setting).path.lstrip("/")
        with psycopg.connect(self.server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def drop_all(self) -> None:
        """Remove every database still standing."""
        for setting in list(self.made):
            self.drop(setting)


def remove_sqlite(path: Path) -> None:
    """Delete a SQLite file with its WAL and shared-memory files."""
    for suffix in SQLITE_SUFFIXES:
        Path(str(path) + suffix).unlink(missing_ok=True)
