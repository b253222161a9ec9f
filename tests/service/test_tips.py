"""PostgreSQL tips read on the event loop: reads asked together share one statement, each
gets its own story's tip as committed after it was asked, and an error reaches every one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from psycopg import AsyncConnection

from service.application import Ledger
from service.freshness import Known
from service.tips import AsyncTips
from tests.builders import claim, event
from tests.conftest import fresh_postgres_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def url(postgres_server: str) -> Iterator[str]:
    """A fresh PostgreSQL database with the ledger's tables."""
    for found in fresh_postgres_database(postgres_server):
        Ledger(found).close()
        yield found


def record(url: str, story: str, event_id: str) -> int:
    """Append one event to ``story``; its position."""
    ledger = Ledger(url)
    try:
        stance = claim(f"claim-{event_id}", "asserts")
        published = event("story_published", event_id, "nyt", "2020-10-07T18:00", stance)
        return ledger.append(story, [published], "tests").receipts[0].position
    finally:
        ledger.close()


class ProbedConnection:
    """A connection that counts its statements, and can hold back a statement's rows (after
    the database answered it) until ``release`` is set."""

    def __init__(self, connection: AsyncConnection[Any], probe: ProbedPool) -> None:
        self.connection = connection
        self.probe = probe

    async def execute(self, statement: str, params: Any) -> Any:
        self.probe.statements += 1
        cursor = await self.connection.execute(statement, params)
        rows = await cursor.fetchall()
        self.probe.executed.set()
        await self.probe.release.wait()
        return Rows(rows)


class Rows:
    """The rows of an executed statement, as a cursor hands them."""

    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows

    async def fetchall(self) -> list[Any]:
        return self.rows


class ProbedPool:
    """A pool whose connections are probed, and which can fail instead."""

    def __init__(self, pool: Any, failure: Exception | None = None) -> None:
        self.pool = pool
        self.failure = failure
        self.statements = 0
        self.executed = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[ProbedConnection]:
        if self.failure is not None:
            raise self.failure
        async with self.pool.connection() as connection:
            yield ProbedConnection(connection, self)

    async def close(self) -> None:
        await self.pool.close()


async def probed(url: str, failure: Exception | None = None) -> tuple[AsyncTips, ProbedPool]:
    """Tips over a probed pool."""
    opened = await AsyncTips.open(url)
    probe = ProbedPool(opened._pool, failure)
    return AsyncTips(probe), probe  # type: ignore[arg-type]


async def reads(url: str, asked: list[str], failure: Exception | None = None) -> Any:
    """Ask ``asked`` at once; the answers (or errors) and how many statements were sent."""
    tips, probe = await probed(url, failure)
    try:
        found = await asyncio.gather(*(tips.read(s) for s in asked), return_exceptions=True)
        return found, probe.statements
    finally:
        await tips.close()


def test_reads_asked_together_share_one_statement_and_each_gets_its_story(url: str) -> None:
    first = record(url, "a", "e1")
    second = record(url, "b", "e2")
    found, statements = asyncio.run(reads(url, ["a", "b", "a", "missing"]))
    a, b, a_again, missing = found
    assert statements == 1
    assert a == a_again == (second, a[1])
    assert a[1] is not None and a[1].position == first
    assert b[1] is not None and b[1].position == second
    assert missing == (second, None)


def test_a_read_asked_while_a_statement_is_out_waits_for_the_next_one(url: str) -> None:
    """The statement out was answered before the commit; the read asked after the commit
    must not take its rows."""

    async def around_a_commit() -> tuple[Known, Known, int]:
        tips, probe = await probed(url)
        probe.release.clear()
        try:
            first = asyncio.create_task(tips.read("a"))
            await probe.executed.wait()  # answered by the database, rows held back
            await asyncio.to_thread(record, url, "a", "e2")
            second = asyncio.create_task(tips.read("a"))
            await asyncio.sleep(0)
            probe.release.set()
            return await first, await second, probe.statements
        finally:
            await tips.close()

    committed = record(url, "a", "e1")
    first, second, statements = asyncio.run(around_a_commit())
    assert first[0] == committed
    assert second[0] == committed + 1
    assert second[1] is not None and second[1].position == committed + 1
    assert statements == 2


def test_a_failed_statement_fails_every_read_that_shared_it(url: str) -> None:
    record(url, "a", "e1")
    found, _ = asyncio.run(reads(url, ["a", "b"], failure=RuntimeError("connection lost")))
    assert [str(error) for error in found] == ["connection lost", "connection lost"]
    again, statements = asyncio.run(reads(url, ["a"]))
    assert statements == 1 and again[0][1] is not None
