"""Stories' tips read on the event loop, for PostgreSQL, which has no data version to trust.

On SQLite a tip stays known while the data version holds (``service.freshness``). PostgreSQL
has no such counter, so every question whose answer could still change reads the story's tip:
before, in a worker thread; here, on the event loop itself over an asynchronous connection
(psycopg's, pooled, in autocommit), so a cached answer is found without a thread hop. The
statement is the reader's: the applied position and the tip in one statement, one snapshot.
"""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from service.freshness import Known
from service.projections.dialect import POSTGRES
from service.projections.reader import known_of, position_and_tip_statement


class AsyncTips:
    """Reads (position, tip) of a story over a small pool of asynchronous connections."""

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[dict[str, object]]]) -> None:
        self._pool = pool
        self._statement = position_and_tip_statement(POSTGRES)

    @classmethod
    async def open(cls, url: str, connections: int) -> AsyncTips:
        """A pool of ``connections`` to the database at ``url``, open and checked."""
        pool: AsyncConnectionPool[AsyncConnection[dict[str, object]]] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=connections,
            kwargs={"autocommit": True, "row_factory": dict_row},
            open=False,
        )
        await pool.open(wait=True)
        return cls(pool)

    async def close(self) -> None:
        """Close the pool's connections."""
        await self._pool.close()

    async def read(self, story: str) -> Known:
        """The applied position and ``story``'s tip (None: no such story), as committed now."""
        async with self._pool.connection() as connection:
            cursor = await connection.execute(self._statement, (story,))
            row = await cursor.fetchone()
        assert row is not None, "the statement always returns one row"
        return known_of(row)
