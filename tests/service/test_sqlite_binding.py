"""SQLite binds bytes and None through identity adapters (decision 041)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.application import Ledger
from service.sqlite_binding import bind_bytes_and_none_directly

KEYS: list[tuple[type[Any], type[Any]]] = [
    (bytes, sqlite3.PrepareProtocol),
    (type(None), sqlite3.PrepareProtocol),
]


@pytest.fixture
def no_adapters() -> Iterator[None]:
    """The two adapters unregistered for the test, and registered again after it."""
    for key in KEYS:
        sqlite3.adapters.pop(key, None)
    yield
    bind_bytes_and_none_directly()


def test_the_adapters_hand_each_value_back_unchanged(no_adapters: None) -> None:
    bind_bytes_and_none_directly()
    blob = b"\x00\xffblob"
    assert sqlite3.adapters[KEYS[0]](blob) is blob
    assert sqlite3.adapters[KEYS[1]](None) is None


def test_blobs_and_nulls_round_trip_as_they_are(no_adapters: None) -> None:
    bind_bytes_and_none_directly()
    with sqlite3.connect(":memory:") as connection:
        connection.execute("CREATE TABLE t (b BLOB, n TEXT)")
        connection.executemany("INSERT INTO t VALUES (?, ?)", [(b"\x00\x01", None), (b"", None)])
        rows = connection.execute("SELECT b, n, typeof(b), typeof(n) FROM t").fetchall()
    assert rows == [(b"\x00\x01", None, "blob", "null"), (b"", None, "blob", "null")]


def test_a_ledger_on_sqlite_registers_them(no_adapters: None, tmp_path: Path) -> None:
    ledger = Ledger(str(tmp_path / "store.sqlite3"))
    try:
        assert all(key in sqlite3.adapters for key in KEYS)
    finally:
        ledger.close()
