"""Child Python processes of this checkout that open the same database: replay's fold workers
(decision 016), the server's verifications (decision 021) and verify's log worker (decision
025)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg.rows import dict_row

from service.persistence import is_postgres_url

ROOT = Path(__file__).resolve().parent.parent


def opens_elsewhere(database: str) -> bool:
    """Whether another process can open ``database``: PostgreSQL, or an SQLite file that exists
    (not SQLite in memory)."""
    return is_postgres_url(database) or Path(database).is_file()


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity where the system keeps one (a container
    or ``taskset`` may allow fewer than the machine has), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def child_environment() -> dict[str, str]:
    """This process's environment, with this checkout first on ``PYTHONPATH`` so that a child
    imports the same service. The database setting goes to a child on its standard input, not
    its command line, where any user could read a PostgreSQL password."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def reading_connection(database: str) -> Any:
    """A child's own connection for reading ``database``, rows by column name: PostgreSQL in
    autocommit (each statement its own snapshot), SQLite read-only."""
    if is_postgres_url(database):
        return psycopg.connect(database, autocommit=True, row_factory=dict_row)
    uri = Path(database).resolve().as_uri() + "?mode=ro"
    connection = sqlite3.connect(uri, uri=True)
    connection.row_factory = sqlite3.Row
    return connection


def stop(*processes: subprocess.Popen[bytes]) -> None:
    """End children: all their pipes closed first (a child blocked on either then ends), so
    they end together; each killed if it lingers."""
    for process in processes:
        for pipe in (process.stdin, process.stdout):
            if pipe:
                pipe.close()
    for process in processes:
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def pipe(stream: IO[bytes] | None, whose: str) -> IO[bytes]:
    """A child's standard input or output, which ``Popen`` made (``whose``: the child, named)."""
    if stream is None:
        raise RuntimeError(f"{whose} has no pipe")
    return stream
