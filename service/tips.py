"""Stories' tips read on the event loop, for PostgreSQL, which has no data version to trust.

On SQLite a tip stays known while the data version holds (``service.freshness``). PostgreSQL
has no such counter, so every question whose answer could still change reads the story's tip:
here, on the event loop itself over an asynchronous connection (psycopg's, pooled, in
autocommit), so a cached answer is found without a thread hop.

One statement is in flight at a time, and it answers every read asked before it was sent,
whatever stories they name: a sender task, over a connection it keeps, sends a statement for
the reads waiting, then one for those asked meanwhile, and waits when none are. Each statement reads one
snapshot taken after every read it answers was asked, so a commit that ended before a request
arrived is still seen by it (decision 010's guarantee); under load one round trip serves the
requests that came during the previous one, instead of one each.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from service.freshness import Known
from service.projections.reader import POSTGRES_TIPS_STATEMENT, known_of

GENERIC_PLANS = "-c plan_cache_mode=force_generic_plan"
"""Left to choose, PostgreSQL planned the prepared statement afresh for every array of stories
(a custom plan each time: ~1.1 ms a statement here, against ~0.37 ms with the generic one)."""

Waiting = list[tuple[str, "asyncio.Future[Known]"]]


class AsyncTips:
    """Reads (position, tip) of stories over a small pool of asynchronous connections."""

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[dict[str, object]]]) -> None:
        self._pool = pool
        self._waiting: Waiting = []
        self._asked = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, url: str) -> AsyncTips:
        """A pool for the database at ``url``, open and checked: the sender's connection, a
        spare for when that one breaks, and one for token checks (decision 022)."""
        pool: AsyncConnectionPool[AsyncConnection[dict[str, object]]] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=3,
            kwargs={"autocommit": True, "row_factory": dict_row, "options": GENERIC_PLANS},
            open=False,
        )
        await pool.open(wait=True)
        return cls(pool)

    @property
    def pool(self) -> AsyncConnectionPool[AsyncConnection[dict[str, object]]]:
        """The pool, for other short reads on the loop (bearer tokens: ``service.tokens``)."""
        return self._pool

    async def close(self) -> None:
        """Stop the sender (reads still waiting are cancelled), close the pool."""
        if self._sender is not None:
            self._sender.cancel()
            with suppress(asyncio.CancelledError):
                await self._sender
        await self._pool.close()

    async def read(self, story: str) -> Known:
        """The applied position and ``story``'s tip (None: no such story), as committed at
        some moment after this call."""
        future: asyncio.Future[Known] = asyncio.get_running_loop().create_future()
        self._waiting.append((story, future))
        self._asked.set()
        if self._sender is None:
            self._sender = asyncio.create_task(self._send())
        return await future

    async def _send(self) -> None:
        """While reads come: over one connection, kept between them, send one statement for
        the reads waiting, then one for those asked meanwhile. An error fails the reads it
        leaves unanswered; the next read is sent over another connection."""
        sent: Waiting = []
        try:
            while True:
                await self._asked.wait()
                try:
                    async with self._pool.connection() as connection:
                        while True:
                            self._asked.clear()
                            sent, self._waiting = self._waiting, []
                            if sent:
                                await self._answer(connection, sent)
                            sent = []
                            await self._asked.wait()
                except Exception as error:
                    if not sent:  # no connection: fail the reads waiting for one
                        sent, self._waiting = self._waiting, []
                        self._asked.clear()
                    for _, future in sent:
                        if not future.done():
                            future.set_exception(error)
                    sent = []
        except asyncio.CancelledError:
            for _, future in (*sent, *self._waiting):
                future.cancel()
            raise

    @staticmethod
    async def _answer(connection: AsyncConnection[dict[str, object]], sent: Waiting) -> None:
        """One statement for the stories of ``sent``; each read gets its story's row."""
        stories = sorted({story for story, _ in sent})
        cursor = await connection.execute(POSTGRES_TIPS_STATEMENT, (stories,))
        found = {row["story"]: known_of(row) for row in await cursor.fetchall()}
        for story, future in sent:
            if not future.done():  # a cancelled request's future is done
                future.set_result(found[story])
