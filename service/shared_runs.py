"""One run of a computation at a time, shared: the callers that ask while one runs share the next.

``GET /v1/log/verify`` verifies in a child process (~40 s and ~130 MB at a million events,
decision 021), one at a time. Each request used to run its own verification after the ones
before it, so the last of k requests asked together waited k verifications. A run reads the
store as it is when the run starts, so a caller that asks while one runs cannot take that run's
result (its snapshot may be older than a commit the caller saw before asking); every caller
that asks meanwhile can take the next run's: no caller waits more than two runs (decision 047).

A run every caller of which has gone is cancelled (a verification's child is then killed), and
the caller that leaves last waits for that cancellation to be done before it goes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Run(Generic[T]):
    """One run: its task, the callers waiting for it, and whether it has begun computing."""

    def __init__(self) -> None:
        self.task: asyncio.Task[T] | None = None
        self.callers = 0
        self.started = False
        self.abandoned = False

    @property
    def joinable(self) -> bool:
        """Whether a caller asking now may take this run's result: it has not read anything
        yet, and callers still wait for it."""
        return not self.started and not self.abandoned


class SharedRuns(Generic[T]):
    """Runs of a computation, one at a time, each shared by the callers that asked before it
    began."""

    def __init__(self) -> None:
        self._latest: _Run[T] | None = None
        self._one_at_a_time = asyncio.Lock()

    async def result(self, compute: Callable[[], Awaitable[T]]) -> T:
        """The result of a run of ``compute`` that begins after this call: the run waiting to
        begin, if there is one, else a new one (after the run going on, if any). Cancelled,
        the caller leaves its run, which is cancelled once no caller waits for it."""
        run = self._latest
        if run is None or not run.joinable:
            run = self._start(compute)
        assert run.task is not None
        run.callers += 1
        try:
            return await asyncio.shield(run.task)
        finally:
            run.callers -= 1
            if run.callers == 0 and not run.task.done():
                run.abandoned = True
                run.task.cancel()
                await asyncio.wait([run.task])  # the cancellation done (a child killed)

    def _start(self, compute: Callable[[], Awaitable[T]]) -> _Run[T]:
        run: _Run[T] = _Run()
        run.task = asyncio.ensure_future(self._run(run, compute))
        self._latest = run
        return run

    async def _run(self, run: _Run[T], compute: Callable[[], Awaitable[T]]) -> T:
        async with self._one_at_a_time:  # first come, first run; a cancelled run leaves the queue
            run.started = True
            return await compute()
