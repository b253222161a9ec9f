"""The reader threads of a server process: a read runs in a thread of their own and settles its
request's future with what it returned or raised; reads queued while the threads are busy run
one after another in the order queued, never more at once than there are threads; a read whose
request stopped awaiting it before it began is not run; closing runs what is queued and
refuses reads after it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from service.read_threads import ReadThreads


def run(test: Callable[[ReadThreads], Coroutine[Any, Any, None]], count: int = 1) -> None:
    """Run ``test`` on an event loop with ``count`` reader threads, closed after."""
    reads = ReadThreads(count)
    try:
        asyncio.run(test(reads))
    finally:
        reads.close()


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"never {what}"
        await asyncio.sleep(0.005)


def test_a_read_runs_in_a_reader_thread_and_returns_its_result() -> None:
    async def test(reads: ReadThreads) -> None:
        assert await reads.run(lambda a, b: (a + b, threading.current_thread().name), 2, 3) == (
            5,
            "knewwhen-reader-0",
        )

    run(test)


def test_what_a_read_raises_is_raised_to_its_request_and_the_thread_goes_on() -> None:
    def refuse() -> None:
        raise LookupError("no such story")

    async def test(reads: ReadThreads) -> None:
        with pytest.raises(LookupError, match="no such story"):
            await reads.run(refuse)
        assert await reads.run(lambda: "next") == "next"

    run(test)


def test_reads_queued_behind_a_busy_thread_run_in_order_one_at_a_time() -> None:
    gate = threading.Event()
    ran: list[int] = []
    running: list[int] = []
    most: list[int] = [0]

    def read(n: int) -> int:
        running.append(n)
        most[0] = max(most[0], len(running))
        if n == 0:
            gate.wait(10)
        ran.append(n)
        running.remove(n)
        return n * 10

    async def test(reads: ReadThreads) -> None:
        first = asyncio.ensure_future(reads.run(read, 0))
        await until(lambda: running == [0], "running the first read")
        rest = [asyncio.ensure_future(reads.run(read, n)) for n in range(1, 6)]
        await asyncio.sleep(0.05)
        assert ran == []
        gate.set()
        assert await asyncio.gather(first, *rest) == [0, 10, 20, 30, 40, 50]
        assert ran == [0, 1, 2, 3, 4, 5]
        assert most[0] == 1

    run(test)


def test_no_more_reads_at_once_than_threads() -> None:
    gate = threading.Event()
    running: list[int] = []
    most: list[int] = [0]
    lock = threading.Lock()

    def read(n: int) -> int:
        with lock:
            running.append(n)
            most[0] = max(most[0], len(running))
        gate.wait(10)
        with lock:
            running.remove(n)
        return n

    async def test(reads: ReadThreads) -> None:
        futures = [asyncio.ensure_future(reads.run(read, n)) for n in range(6)]
        await until(lambda: len(running) == 2, "two reads running")
        await asyncio.sleep(0.05)
        assert len(running) == 2
        gate.set()
        assert sorted(await asyncio.gather(*futures)) == list(range(6))
        assert most[0] == 2

    run(test, count=2)


def test_a_read_whose_request_was_cancelled_before_it_began_is_not_run() -> None:
    gate = threading.Event()
    ran: list[str] = []

    def read(name: str) -> str:
        if name == "first":
            gate.wait(10)
        ran.append(name)
        return name

    async def test(reads: ReadThreads) -> None:
        first = asyncio.ensure_future(reads.run(read, "first"))
        await asyncio.sleep(0.05)
        gone = asyncio.ensure_future(reads.run(read, "gone"))
        after = asyncio.ensure_future(reads.run(read, "after"))
        await asyncio.sleep(0.01)
        gone.cancel()
        gate.set()
        assert await first == "first"
        assert await after == "after"
        assert gone.cancelled()
        assert ran == ["first", "after"]

    run(test)


def test_closing_runs_the_reads_queued_then_stops_the_threads() -> None:
    gate = threading.Event()

    def read(n: int) -> int:
        gate.wait(10)
        return n

    reads = ReadThreads(1)

    async def test() -> None:
        futures = [asyncio.ensure_future(reads.run(read, n)) for n in range(3)]
        await asyncio.sleep(0.05)
        gate.set()
        reads.close()  # as the server's lifespan does, on the loop
        assert not any(t.name.startswith("knewwhen-reader") for t in threading.enumerate())
        assert await asyncio.gather(*futures) == [0, 1, 2]
        with pytest.raises(RuntimeError, match="shutting down"):
            await reads.run(read, 3)

    asyncio.run(test())
