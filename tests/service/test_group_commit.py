"""Group commit on both databases: appends to other stories that wait behind a write are
stored in one transaction (one recording time), each keeping its own outcome, and a failed
group transaction is retried append by append."""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

import msgspec
import pytest
from eventsourcing.persistence import IntegrityError

from domain.errors import EventConflict
from domain.events import ReportingEvent
from service.application import AppendResult, Ledger
from tests.builders import claim, event
from tests.polling import poll


def published(story: str, text: str = "first") -> ReportingEvent:
    """A story_published event with id ``{story}-1``; ``text`` changes its body."""
    return event(
        "story_published", f"{story}-1", "nyt", "2020-10-06T22:00", claim("c1", "asserts", text)
    )


class Appender(threading.Thread):
    """Appends one event in a thread of its own and keeps the result or the error."""

    def __init__(self, ledger: Ledger, story: str, e: ReportingEvent) -> None:
        super().__init__(daemon=True)
        self.ledger, self.story, self.e = ledger, story, e
        self.result: AppendResult | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.ledger.append(self.story, [self.e], "test")
        except BaseException as error:
            self.error = error


def queued(ledger: Ledger, count: int) -> bool:
    return len(ledger._commits._queue) == count


def held_then_released(ledger: Ledger, appends: list[tuple[str, ReportingEvent]]) -> list[Appender]:
    """Start the appends while the write lock is held: the first takes a group of itself and
    waits for the lock, the others queue behind it; then release the lock and let all finish."""
    threads = []
    with ledger._write_lock:
        for index, (story, e) in enumerate(appends):
            thread = Appender(ledger, story, e)
            thread.start()
            threads.append(thread)
            if index == 0:
                poll(lambda: ledger._commits._writing, "writing")
            else:
                poll(partial(queued, ledger, index), f"{index} appends queued")
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()
    return threads


def recorded_at(thread: Appender) -> object:
    assert thread.result is not None, thread.error
    return thread.result.receipts[0].recorded_at


def test_waiting_appends_share_a_transaction_and_a_refused_one_fails_alone(ledger: Ledger) -> None:
    ledger.append("s3", [published("s3")], "test")
    threads = held_then_released(
        ledger,
        [
            ("s0", published("s0")),
            ("s1", published("s1")),
            ("s2", published("s2")),
            ("s3", published("s3", "another body")),
            ("s4", published("s4")),
        ],
    )
    first, one, two, conflict, four = threads
    assert isinstance(conflict.error, EventConflict)
    assert recorded_at(one) == recorded_at(two) == recorded_at(four) != recorded_at(first)
    assert [t.result.created for t in (first, one, two, four) if t.result] == [[True]] * 4
    for story in ("s0", "s1", "s2", "s3", "s4"):
        assert ledger.reader.story(story).story_version == 1  # type: ignore[union-attr]
    (stored,) = ledger.reader.events("s3", after=0, limit=10)
    assert b'"first"' in bytes(stored.event)


def groups_fail_with(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> list[int]:
    """Make every save of more than one story raise ``error``; the sizes of the saves asked."""
    save = ledger.save
    calls: list[int] = []

    def save_failing_groups(*aggregates: Any, **kwargs: Any) -> Any:
        calls.append(len(aggregates))
        if len(aggregates) > 1:
            raise error
        return save(*aggregates, **kwargs)

    monkeypatch.setattr(ledger, "save", save_failing_groups)
    return calls


THREE = [("s0", published("s0")), ("s1", published("s1")), ("s2", published("s2"))]


def test_a_failed_group_transaction_is_retried_one_append_at_a_time(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = groups_fail_with(ledger, monkeypatch, IntegrityError("another writer was first"))
    threads = held_then_released(ledger, THREE)
    assert calls == [1, 2, 1, 1]
    assert len({recorded_at(t) for t in threads}) == 3
    for story in ("s0", "s1", "s2"):
        assert ledger.reader.story(story).story_version == 1  # type: ignore[union-attr]


def test_any_other_failure_of_a_group_is_every_appends_outcome_and_nothing_is_stored(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = groups_fail_with(ledger, monkeypatch, OSError("disk full"))
    first, *grouped = held_then_released(ledger, THREE)
    assert calls == [1, 2]
    assert first.result is not None and first.error is None
    assert [repr(t.error) for t in grouped] == [repr(OSError("disk full"))] * 2
    assert [ledger.reader.story(s) is None for s in ("s0", "s1", "s2")] == [False, True, True]
    monkeypatch.undo()
    assert ledger.append("s1", [published("s1")], "test").created == [True]


def test_a_refused_story_in_a_many_story_append_leaves_no_other_story_half_recorded(
    ledger: Ledger,
) -> None:
    ledger.append("s0", [published("s0")], "test")
    ledger.append("s1", [published("s1")], "test")
    second = event("story_published", "s0-2", "nyt", "2020-10-07T22:00", claim("c1", "asserts"))
    with pytest.raises(EventConflict):
        ledger.append_many({"s0": [second], "s1": [published("s1", "another body")]}, "test")
    assert ledger.reader.story("s0").story_version == 1  # type: ignore[union-attr]
    third = event("story_published", "s0-3", "nyt", "2020-10-08T22:00", claim("c1", "asserts"))
    assert ledger.append("s0", [third], "test").created == [True]
    stored = ledger.reader.events("s0", after=0, limit=10)
    assert [(e.story_version, msgspec.json.decode(e.event)["id"]) for e in stored] == [
        (1, "s0-1"),
        (2, "s0-3"),
    ]


def test_a_group_failing_while_deciding_leaves_no_story_half_recorded(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger.append("s0", [published("s0")], "test")
    decide = ledger._decide

    def decide_failing_on_s2(story_id: str, *args: Any) -> Any:
        if story_id == "s2":
            raise OSError("database gone")
        return decide(story_id, *args)

    monkeypatch.setattr(ledger, "_decide", decide_failing_on_s2)
    second = event("story_published", "s0-2", "nyt", "2020-10-07T22:00", claim("c1", "asserts"))
    _, grouped_s0, grouped_s2 = held_then_released(
        ledger, [("s1", published("s1")), ("s0", second), ("s2", published("s2"))]
    )
    assert [repr(t.error) for t in (grouped_s0, grouped_s2)] == [repr(OSError("database gone"))] * 2
    monkeypatch.undo()
    third = event("story_published", "s0-3", "nyt", "2020-10-08T22:00", claim("c1", "asserts"))
    assert ledger.append("s0", [third], "test").created == [True]
    stored = ledger.reader.events("s0", after=0, limit=10)
    assert [msgspec.json.decode(e.event)["id"] for e in stored] == ["s0-1", "s0-3"]
