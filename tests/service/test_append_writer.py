"""The writer thread of HTTP appends, on both databases: requests queued while it writes go
together in its next group (one recording time), each with its own outcome on its own future;
a cancelled request's append is still written; closing writes what is queued."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from domain.errors import EventConflict, VersionMismatch
from domain.events import ReportingEvent
from service.append_writer import AppendWriter, Written
from service.application import Ledger
from tests.builders import claim, event


def published(story: str, text: str = "first") -> ReportingEvent:
    """A story_published event with id ``{story}-1``; ``text`` changes its body."""
    return event(
        "story_published", f"{story}-1", "nyt", "2020-10-06T22:00", claim("c1", "asserts", text)
    )


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"never {what}"
        await asyncio.sleep(0.005)


def run(test: Callable[[AppendWriter], Coroutine[Any, Any, None]], ledger: Ledger) -> None:
    """Run ``test`` on an event loop with a writer over ``ledger``, closed after."""
    writer = AppendWriter(ledger)
    try:
        asyncio.run(test(writer))
    finally:
        writer.close()


def append(writer: AppendWriter, story: str, e: ReportingEvent, must_exist: bool = False) -> Any:
    return asyncio.ensure_future(writer.append(story, [e], "test", None, must_exist))


async def queued_behind_a_held_lock(
    writer: AppendWriter, ledger: Ledger, appends: list[tuple[str, ReportingEvent]]
) -> list[Any]:
    """Hold the write lock while the first append is being written, queue the rest behind it,
    then release: the rest are the writer's next batch."""
    with ledger._write_lock:
        first = append(writer, *appends[0])
        await until(lambda: ledger._commits._writing, "writing")
        rest = [append(writer, story, e) for story, e in appends[1:]]
        await until(lambda: len(writer._queued) == len(rest), "queued")
    return [first, *rest]


def test_requests_queued_behind_a_write_share_the_next_transaction(ledger: Ledger) -> None:
    ledger.append("s3", [published("s3")], "test")

    async def test(writer: AppendWriter) -> None:
        tasks = await queued_behind_a_held_lock(
            writer,
            ledger,
            [
                ("s0", published("s0")),
                ("s1", published("s1")),
                ("s2", published("s2")),
                ("s3", published("s3", "another body")),
                ("s1", published("s1")),
            ],
        )
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        first, s1, s2, refused, s1_again = outcomes
        assert isinstance(refused, EventConflict)
        written = [each for each in (first, s1, s2, s1_again) if isinstance(each, Written)]
        assert len(written) == 4, outcomes
        assert [each.created for each in written] == [True, True, True, False]
        times = [each.receipts[0].recorded_at for each in written]
        assert times[1] == times[2] != times[0]
        assert times[3] == times[1]  # the retry of s1 is the same stored event

    run(test, ledger)
    assert ledger.reader.story("s3") is not None
    assert ledger.reader.story("s3").story_version == 1  # type: ignore[union-attr]


def test_if_match_star_is_refused_for_a_story_without_events(ledger: Ledger) -> None:
    ledger.append("old", [published("old")], "test")

    async def test(writer: AppendWriter) -> None:
        with pytest.raises(VersionMismatch, match="does not exist"):
            await append(writer, "new", published("new"), must_exist=True)
        later = event(
            "report_confirmed", "old-2", "wapo", "2020-10-07T10:00", claim("c1", "confirms")
        )
        written = await append(writer, "old", later, must_exist=True)
        assert written.created and written.receipts[0].story_version == 2

    run(test, ledger)
    assert ledger.reader.story("new") is None


def test_a_cancelled_request_s_append_is_still_written(ledger: Ledger) -> None:
    async def test(writer: AppendWriter) -> None:
        tasks = await queued_behind_a_held_lock(
            writer, ledger, [("s0", published("s0")), ("s1", published("s1"))]
        )
        tasks[1].cancel()
        await until(lambda: not writer._queued and not ledger._commits._writing, "written")
        assert (await tasks[0]).created
        with pytest.raises(asyncio.CancelledError):
            await tasks[1]

    run(test, ledger)
    assert ledger.reader.story("s1") is not None


def test_a_failure_after_the_write_reaches_every_request_and_the_writer_goes_on(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise OSError("disk gone")

    async def test(writer: AppendWriter) -> None:
        with monkeypatch.context() as patched:
            patched.setattr(ledger.reader, "receipts", broken)
            tasks = [append(writer, f"s{n}", published(f"s{n}")) for n in range(3)]
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        assert [str(each) for each in outcomes] == ["disk gone"] * 3
        assert (await append(writer, "s9", published("s9"))).created

    run(test, ledger)


def test_closing_writes_what_is_queued_then_refuses_more(ledger: Ledger) -> None:
    writer = AppendWriter(ledger)

    async def test() -> None:
        with ledger._write_lock:
            first = append(writer, "s0", published("s0"))
            await until(lambda: ledger._commits._writing, "writing")
            second = append(writer, "s1", published("s1"))
            await until(lambda: len(writer._queued) == 1, "queued")
            writer._closing = True  # as close() does, without joining while the lock is held
        assert (await first).created and (await second).created
        with pytest.raises(RuntimeError, match="shutting down"):
            await writer.append("s2", [published("s2")], "test", None, False)

    asyncio.run(test())
    writer.close()
    assert ledger.reader.story("s1") is not None
