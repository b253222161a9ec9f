"""SharedRuns: one run at a time; the callers that ask while one runs share the next."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from service.shared_runs import SharedRuns


class Gated:
    """A computation whose runs each wait for their own gate; it counts the runs begun, the
    runs cancelled, and the cancellations it finished cleaning up after."""

    def __init__(self, failing: frozenset[int] = frozenset()) -> None:
        self.begun = 0
        self.cancelled = 0
        self.cleaned = 0
        self.gates: list[asyncio.Event] = []
        self.failing = failing

    async def __call__(self) -> int:
        self.begun += 1
        number = self.begun
        gate = asyncio.Event()
        self.gates.append(gate)
        try:
            await gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            await asyncio.sleep(0.01)  # as a child is killed, then waited for
            self.cleaned += 1
            raise
        if number in self.failing:
            raise RuntimeError(f"run {number} failed")
        return number

    def finish(self, number: int) -> None:
        """Let run ``number`` (from 1) end."""
        self.gates[number - 1].set()


async def settle() -> None:
    """Let every task that can go on do so."""
    for _ in range(20):
        await asyncio.sleep(0)


def run_async(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 10))


def test_a_lone_caller_gets_a_run_of_its_own() -> None:
    async def test() -> None:
        runs: SharedRuns[int] = SharedRuns()
        computation = Gated()
        asked = asyncio.ensure_future(runs.result(computation))
        await settle()
        computation.finish(1)
        assert await asked == 1
        again = asyncio.ensure_future(runs.result(computation))
        await settle()
        computation.finish(2)
        assert (await again, computation.begun) == (2, 2)

    run_async(test)


def test_callers_that_ask_while_a_run_goes_share_the_next_which_begins_after_it() -> None:
    async def test() -> None:
        runs: SharedRuns[int] = SharedRuns()
        computation = Gated()
        first = asyncio.ensure_future(runs.result(computation))
        await settle()
        during = [asyncio.ensure_future(runs.result(computation)) for _ in range(3)]
        await settle()
        assert computation.begun == 1  # one at a time
        computation.finish(1)
        assert await first == 1
        await settle()
        assert computation.begun == 2
        later = asyncio.ensure_future(runs.result(computation))  # asked during run 2
        await settle()
        computation.finish(2)
        assert await asyncio.gather(*during) == [2, 2, 2]
        await settle()
        computation.finish(3)
        assert (await later, computation.begun, computation.cancelled) == (3, 3, 0)

    run_async(test)


def test_a_run_whose_callers_all_left_is_cancelled_before_the_last_one_goes() -> None:
    async def test() -> None:
        runs: SharedRuns[int] = SharedRuns()
        computation = Gated()
        callers = [asyncio.ensure_future(runs.result(computation)) for _ in range(2)]
        await settle()
        callers[0].cancel()
        await asyncio.wait([callers[0]])
        assert computation.cancelled == 0  # the other caller still waits
        callers[1].cancel()
        await asyncio.wait([callers[1]])
        assert (computation.cancelled, computation.cleaned) == (1, 1)
        fresh = asyncio.ensure_future(runs.result(computation))
        await settle()
        assert computation.begun == 2  # at once: nothing else runs
        computation.finish(2)
        assert await fresh == 2

    run_async(test)


def test_a_caller_that_leaves_a_shared_run_leaves_it_to_the_others() -> None:
    async def test() -> None:
        runs: SharedRuns[int] = SharedRuns()
        computation = Gated()
        first = asyncio.ensure_future(runs.result(computation))
        await settle()
        leaving, staying = (asyncio.ensure_future(runs.result(computation)) for _ in range(2))
        await settle()
        leaving.cancel()
        computation.finish(1)
        await settle()
        computation.finish(2)
        assert (await first, await staying) == (1, 2)
        assert leaving.cancelled() and computation.cancelled == 0

    run_async(test)


def test_a_run_abandoned_before_it_began_never_begins_and_the_next_still_waits() -> None:
    async def test() -> None:
        runs: SharedRuns[int] = SharedRuns()
        computation = Gated()
        first = asyncio.ensure_future(runs.result(computation))
        await settle()
        gone = asyncio.ensure_future(runs.result(computation))
        await settle()
        gone.cancel()
        await asyncio.wait([gone])
        later = asyncio.ensure_future(runs.result(computation))
        await settle()
        assert computation.begun == 1  # the later caller's run waits for the first
        computation.finish(1)
        assert await first == 1
        await settle()
        computation.finish(2)
        assert (await later, computation.begun, computation.cancelled) == (2, 2, 0)

    run_async(test)


def test_a_failed_run_fails_each_of_its_callers_and_the_next_caller_runs_anew() -> None:
    async def test() -> None:
        runs: SharedRuns[int] = SharedRuns()
        computation = Gated(failing=frozenset({2}))
        first = asyncio.ensure_future(runs.result(computation))
        await settle()
        during = [asyncio.ensure_future(runs.result(computation)) for _ in range(2)]
        await settle()
        computation.finish(1)
        await settle()
        computation.finish(2)
        for caller in during:
            with pytest.raises(RuntimeError, match="run 2 failed"):
                await caller
        assert await first == 1
        after = asyncio.ensure_future(runs.result(computation))
        await settle()
        computation.finish(3)
        assert await after == 3

    run_async(test)
