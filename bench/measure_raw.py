"""The limit: the same event bytes stored and read back with nothing but the database driver.

Insert: ``executemany`` into a plain table, one transaction per import batch (SQLite in WAL
mode and with the ledger's page size, as the ledger's store runs). Read: one ``SELECT`` in
order, each body decoded with a typed msgspec decoder of the reporting events (built once).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from time import perf_counter
from typing import Any

import msgspec
import psycopg
from msgspec import Struct

from domain.events import AnyReportingEvent
from service.importer import WINDOW_LINES, BatchLimit, batch_limit, in_batches, lines_by_story
from service.persistence import SQLITE_PAGE_SIZE, is_postgres_url

decode_event = msgspec.json.Decoder(AnyReportingEvent).decode
PAGE = 1000


class RawJob(Struct, frozen=True):
    """Insert or read the lines of one file in one fresh database."""

    database: str
    file: str = ""


def batches(path: Path, limit: BatchLimit, *, by_story: bool = False) -> Iterator[list[bytes]]:
    """The file's non-blank lines, without newlines, in the import's transactions: in file
    order, or with ``by_story`` in the order the import writes them (each story's lines
    together within its windows, decision 020)."""
    with path.open("rb") as stream:
        if by_story:
            found = (raw for _, _, raw in lines_by_story(stream, WINDOW_LINES))
        else:
            found = (raw for raw in stream if raw.strip())
        lines = (line.rstrip(b"\n") for line in found)
        yield from in_batches(lines, lambda line: len(line) + 1, limit)


def insert(job: RawJob) -> dict[str, Any]:
    """Rows per second of batched ``executemany`` inserts of the raw lines."""
    if is_postgres_url(job.database):
        return _insert_postgres(job)
    conn = sqlite3.connect(job.database, isolation_level=None)
    conn.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE raw_events (position INTEGER PRIMARY KEY, body BLOB NOT NULL)")
    rows = 0
    start = perf_counter()
    for chunk in batches(Path(job.file), batch_limit(job.database)):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO raw_events (body) VALUES (?)", [(b,) for b in chunk])
        conn.execute("COMMIT")
        rows += len(chunk)
    seconds = perf_counter() - start
    conn.close()
    return {"seconds": seconds, "rows": rows, "rows_per_s": rows / seconds}


def _insert_postgres(job: RawJob) -> dict[str, Any]:
    with psycopg.connect(job.database) as conn:
        conn.execute(
            "CREATE TABLE raw_events (position BIGSERIAL PRIMARY KEY, body BYTEA NOT NULL)"
        )
        conn.commit()
        rows = 0
        start = perf_counter()
        for chunk in batches(Path(job.file), batch_limit(job.database)):
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO raw_events (body) VALUES (%s)", [(b,) for b in chunk]
                )
            rows += len(chunk)
        seconds = perf_counter() - start
    return {"seconds": seconds, "rows": rows, "rows_per_s": rows / seconds}


def read(job: RawJob) -> dict[str, Any]:
    """Rows per second of one ordered ``SELECT`` with a typed decode of every body."""
    start = perf_counter()
    if is_postgres_url(job.database):
        rows = _read_postgres(job.database)
    else:
        rows = _read_sqlite(job.database)
    seconds = perf_counter() - start
    return {"seconds": seconds, "rows": rows, "rows_per_s": rows / seconds}


def _read_sqlite(database: str) -> int:
    rows = 0
    conn = sqlite3.connect(database)
    cursor = conn.execute("SELECT body FROM raw_events ORDER BY position")
    while page := cursor.fetchmany(PAGE):
        for (body,) in page:
            decode_event(body)
        rows += len(page)
    conn.close()
    return rows


def _read_postgres(database: str) -> int:
    rows = 0
    with psycopg.connect(database) as conn, conn.cursor(name="raw") as cursor:
        cursor.itersize = PAGE
        cursor.execute("SELECT body FROM raw_events ORDER BY position")
        for (body,) in cursor:
            decode_event(body)
            rows += 1
    return rows
