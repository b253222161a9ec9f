"""A server process's database reads, in threads of their own fed from one queue (decision 039).

A request puts its read on the queue with a future and awaits the future, holding no thread.
Each reader thread takes the next read as soon as it has finished the last: while reads wait,
one follows another without a turn of the event loop between them. (Through a capacity
limiter and a pool of worker threads, the next read could start only once the loop had run
the finished read's callback, released the limiter and handed the read over: at one reader
thread, a quarter of its time went idle that way under load.)
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class Read:
    """A read queued by a request: the work, its arguments, and the future the request awaits."""

    work: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


class ReadThreads:
    """``count`` threads that run queued reads, one at a time each, in the order queued."""

    def __init__(self, count: int, name: str = "knewwhen-reader") -> None:
        self._reads: queue.SimpleQueue[Read | None] = queue.SimpleQueue()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True)
            for i in range(max(1, count))
        ]
        for thread in self._threads:
            thread.start()

    async def run(self, work: Callable[..., T], *args: object) -> T:
        """``work(*args)`` in a reader thread; its result, or what it raised. A request
        cancelled while its read waits cancels the read; one already running finishes and
        its result is dropped. Raises ``RuntimeError`` once the threads are closed."""
        if self._closed:
            raise RuntimeError("the server is shutting down: no more reads")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._reads.put(Read(work, args, future, loop))
        return await future

    def close(self) -> None:
        """Run the reads queued so far, then stop the threads."""
        self._closed = True
        for _ in self._threads:
            self._reads.put(None)
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        while (read := self._reads.get()) is not None:
            if read.future.cancelled():
                continue
            try:
                outcome: tuple[Any, BaseException | None] = (read.work(*read.args), None)
            except Exception as error:
                outcome = (None, error)
            with contextlib.suppress(RuntimeError):  # the loop closed: none awaits
                read.loop.call_soon_threadsafe(_settle, read.future, *outcome)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    """On the request's loop: the read's outcome, unless the request stopped awaiting it."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
