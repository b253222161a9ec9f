"""HTTP appends wait on the event loop; one thread per server process writes them (decision 019).

A request's append is queued with a future and the request's coroutine awaits it, holding no
thread. The writer thread takes every append queued so far and hands them to the ledger's
commit queue, which writes appends of distinct stories together (decision 017); then it reads
the receipts of those stored and settles the futures on their event loop, in one call per
batch. Sixteen waiting POSTs cost one thread and one connection, not sixteen.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from domain.errors import VersionMismatch
from domain.events import ReportingEvent
from service.application import Ledger
from service.group_commit import Waiting
from service.schemas import Receipt


@dataclass(frozen=True)
class Written:
    """A stored append's receipts, and whether it stored anything new."""

    receipts: list[Receipt]
    created: bool


@dataclass(eq=False)
class Queued:
    """An append queued by a request: what to write, whether its story must exist already
    (``If-Match: *``), and the future its request awaits."""

    append: Waiting
    must_exist: bool
    future: asyncio.Future[Written]
    loop: asyncio.AbstractEventLoop
    written: Written | None = None


class AppendWriter:
    """One writer thread for the appends of a server process's requests."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._arrived = threading.Condition()
        self._queued: list[Queued] = []
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="knewwhen-writer", daemon=True)
        self._thread.start()

    async def append(
        self,
        story: str,
        events: Sequence[ReportingEvent],
        recorded_by: str,
        expected_version: int | None,
        must_exist: bool,
    ) -> Written:
        """Append events to one story (see ``Ledger.append``) and return its receipts. Raises
        what refused it; ``VersionMismatch`` too when ``must_exist`` and the story has none."""
        loop = asyncio.get_running_loop()
        append = Waiting(story, events, recorded_by, expected_version)
        queued = Queued(append, must_exist, loop.create_future(), loop)
        with self._arrived:
            if self._closing:
                raise RuntimeError("the server is shutting down: no more appends")
            self._queued.append(queued)
            self._arrived.notify()
        # A request cancelled while it waits (its client gone) cancels the future only: the
        # append is still written, and ``settle`` passes it by.
        return await queued.future

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        with self._arrived:
            self._closing = True
            self._arrived.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._arrived:
                while not self._queued and not self._closing:
                    self._arrived.wait()
                if not self._queued:
                    return
                batch, self._queued = self._queued, []
            self._write(batch)

    def _write(self, batch: list[Queued]) -> None:
        """Write a batch; every append in it gets its outcome, whatever fails."""
        try:
            for queued in batch:
                if queued.must_exist and self.ledger.reader.story(queued.append.story) is None:
                    story = queued.append.story
                    queued.append.error = VersionMismatch(
                        f"story {story!r} does not exist (If-Match: *)", -1, 0
                    )
            self.ledger.write_each([q.append for q in batch if not q.append.done])
            for queued in batch:
                if queued.append.error is None:
                    queued.written = self._receipts(queued.append)
        except Exception as error:
            for queued in batch:
                if queued.written is None and queued.append.error is None:
                    queued.append.error = error
        finally:
            loops = {queued.loop for queued in batch}
            for loop in loops:
                settled = [queued for queued in batch if queued.loop is loop]
                with contextlib.suppress(RuntimeError):  # the loop closed: none awaits
                    loop.call_soon_threadsafe(settle, settled)

    def _receipts(self, append: Waiting) -> Written:
        created = append.outcome()
        receipts = self.ledger.reader.receipts(append.story, [e.id for e in append.events])
        return Written(receipts, any(created))


def settle(batch: list[Queued]) -> None:
    """On the requests' event loop: give each awaiting request its append's outcome."""
    for queued in batch:
        if queued.future.done():
            continue
        if queued.written is not None:
            queued.future.set_result(queued.written)
        else:
            error = queued.append.error or RuntimeError("the append was not written")
            queued.future.set_exception(error)
