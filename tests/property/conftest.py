"""What every property module shares: a ledger over each kind of database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service.application import Ledger


@pytest.fixture
def ledger(database: str) -> Iterator[Ledger]:
    """A ledger on a fresh SQLite file or PostgreSQL database, closed afterwards."""
    opened = Ledger(database)
    yield opened
    opened.close()
