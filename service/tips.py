"""Stories' tips read on the event loop, for PostgreSQL, which has no data version to trust.

On SQLite a tip stays known while the data version holds (``service.freshness``). PostgreSQL
has no such counter, so every question whose answer could still change reads the story's tip:
here, on the event loop itself over an asynchronous connection (psycopg's, pooled, in
autocommit), so a cached answer is found without a thread hop.

One statement is in flight at a time, and it answers every read asked before it was sent,
whatever stories they name: the first read starts a sender, which sends a statement for the
reads waiting, then one for those asked meanwhile, until none wait. Each statement reads one
snapshot taken after every read it answers was asked, so a commit that ended before a request
arrived is still seen by it (decision 010's guarantee); under load one round trip serves the
requests that came during the previous one, instead of one each.
"""

from __future__ import annotations

import asyncio

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from service.freshness import Known
from service.projections.reader import known_of

TIPS_STATEMENT = (
    "SELECT (SELECT MAX(position) FROM kw_events) AS p, q.story, s.last_position, e.recorded_at"
    " FROM unnest(%s::text[]) AS q(story) LEFT JOIN kw_stories s ON s.story = q.story"
    " LEFT JOIN kw_events e ON e.position = s.last_position"
)
"""The applied position and each named story's tip (``reader.position_and_tip_statement``,
for many stories at once); parameter: the stories, as an array."""

Waiting = list[tuple[str, "asyncio.Future[Known]"]]


class AsyncTips:
    """Reads (position, tip) of stories over a small pool of asynchronous connections."""

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[dict[str, object]]]) -> None:
        self._pool = pool
        self._waiting: Waiting = []
        self._sender: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, url: str) -> AsyncTips:
        """A pool for the database at ``url``, open and checked: the sender's connection, and
        a second for the moment a new sender starts while the last returns its own."""
        pool: AsyncConnectionPool[AsyncConnection[dict[str, object]]] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=2,
            kwargs={"autocommit": True, "row_factory": dict_row},
            open=False,
        )
        await pool.open(wait=True)
        return cls(pool)

    async def close(self) -> None:
        """Close the pool's connections."""
        await self._pool.close()

    async def read(self, story: str) -> Known:
        """The applied position and ``story``'s tip (None: no such story), as committed at
        some moment after this call."""
        future: asyncio.Future[Known] = asyncio.get_running_loop().create_future()
        self._waiting.append((story, future))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_while_waiting())
        return await future

    async def _send_while_waiting(self) -> None:
        """Over one connection, send one statement for the reads waiting, then one for those
        asked meanwhile, until none wait; an error fails the reads it leaves unanswered."""
        sent: Waiting = []
        try:
            async with self._pool.connection() as connection:
                while self._waiting:
                    sent, self._waiting = self._waiting, []
                    stories = sorted({story for story, _ in sent})
                    cursor = await connection.execute(TIPS_STATEMENT, (stories,))
                    found = {row["story"]: known_of(row) for row in await cursor.fetchall()}
                    for story, future in sent:
                        if not future.done():  # a cancelled request's future is done
                            future.set_result(found[story])
                    sent = []
                self._sender = None  # a read asked from now on starts another sender
        except BaseException as error:
            if self._sender is asyncio.current_task():
                self._sender = None
                sent, self._waiting = sent + self._waiting, []
            for _, future in sent:
                if future.done():
                    continue
                if isinstance(error, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(error)
            if not isinstance(error, Exception):
                raise  # cancelled (shutdown); an error went to the readers, who raise it
