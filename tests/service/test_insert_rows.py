"""Rows inserted in bulk: every table's columns as created, and the rows read back as given,
bytes and conflicts included, on both backends (PostgreSQL sends them as one array per
column; SQLite many rows per statement, the rest one by one)."""

from __future__ import annotations

from typing import Any

from service.application import Ledger
from service.projections.dialect import COLUMN_KINDS, SQLITE, SQLITE_ROWS_PER_STATEMENT


def columns(ledger: Ledger, table: str) -> int:
    """How many columns ``table`` has in the ledger's database."""
    with ledger.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        if ledger.dialect is SQLITE:
            cursor.execute("SELECT COUNT(*) AS n FROM pragma_table_info(?)", (table,))
        else:
            count = "SELECT COUNT(*) AS n FROM information_schema.columns WHERE table_name = %s"
            cursor.execute(count, (table,))
        return int(cursor.fetchone()["n"])


def plain(row: Any) -> tuple[Any, ...]:
    """A row of either backend as a tuple (PostgreSQL's are dicts, SQLite's sequences)."""
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)


def test_every_table_has_the_columns_its_create_statement_names(ledger: Ledger) -> None:
    for table, kinds in COLUMN_KINDS.items():
        assert columns(ledger, table) == len(kinds), table


def test_rows_come_back_as_inserted_bytes_and_conflicts_too(ledger: Ledger) -> None:
    dialect = ledger.dialect
    rows: list[tuple[Any, ...]] = [
        ("sha-1", "story", "doc-1", "https://example.org/a"),
        ("sha-2", "story", "doc-2", "https://example.org/b"),
    ]
    heads = [(1, b"\x00root\xff", 10), (2, b"", 20)]
    with ledger.recorder.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
        dialect.insert_rows(cursor, "kw_document_urls", rows)
        dialect.insert_rows(cursor, "kw_document_urls", rows[:1], " ON CONFLICT DO NOTHING")
        dialect.insert_rows(cursor, "kw_tree_heads", heads)
        dialect.insert_rows(cursor, "kw_tree_heads", [])
    with ledger.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        cursor.execute("SELECT * FROM kw_document_urls ORDER BY url_sha256")
        assert [plain(row) for row in cursor.fetchall()] == rows
        cursor.execute("SELECT * FROM kw_tree_heads ORDER BY tree_size")
        found = [plain(row) for row in cursor.fetchall()]
        assert [(size, bytes(root), at) for size, root, at in found] == heads


def test_rows_beyond_one_statement_come_back_in_full_conflicts_skipped(ledger: Ledger) -> None:
    step = SQLITE_ROWS_PER_STATEMENT["kw_document_urls"]
    rows = [
        (f"sha-{n:05}", "story", f"doc-{n}", f"https://example.org/{n}")
        for n in range(2 * step + 3)
    ]
    with ledger.recorder.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
        ledger.dialect.insert_rows(cursor, "kw_document_urls", rows[: step + 1])
        ledger.dialect.insert_rows(cursor, "kw_document_urls", rows, " ON CONFLICT DO NOTHING")
    with ledger.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        cursor.execute("SELECT * FROM kw_document_urls ORDER BY url_sha256")
        assert [plain(row) for row in cursor.fetchall()] == rows
