"""The commit queue: appends waiting behind a write go together in the next group, a story's
appends in arrival order, and a group's failure reaches every append in it."""

from __future__ import annotations

import threading
from functools import partial

import pytest

from service.group_commit import CommitQueue, Waiting
from tests.polling import poll


class SlowWriter:
    """Records each group's stories; the first group waits until released."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.release = threading.Event()
        self.fail_with: BaseException | None = None

    def __call__(self, group: list[Waiting]) -> None:
        if not self.groups:
            self.release.wait(timeout=10)
        self.groups.append([each.story for each in group])
        if self.fail_with is not None:
            raise self.fail_with
        for each in group:
            each.created = [True] * len(each.events)


def queued(queue: CommitQueue, count: int) -> bool:
    return len(queue._queue) == count


def submit_all(
    queue: CommitQueue, stories: list[str]
) -> tuple[list[Waiting], list[threading.Thread]]:
    """One thread per append, started in turn: the first writes (and waits in the writer),
    each other one is queued before the next starts."""
    appends = [Waiting(story, [], "test", None) for story in stories]
    threads = []
    for index, append in enumerate(appends):
        thread = threading.Thread(target=queue.submit, args=(append,), daemon=True)
        thread.start()
        threads.append(thread)
        if index == 0:
            poll(lambda: queue._writing, "writing")
        else:
            poll(partial(queued, queue, index), f"{index} appends queued")
    return appends, threads


def test_appends_waiting_behind_a_write_share_the_next_group_in_order() -> None:
    writer = SlowWriter()
    queue = CommitQueue(writer, most=3)
    appends, threads = submit_all(queue, ["a", "b", "a", "c", "d", "e"])
    writer.release.set()
    for thread in threads:
        thread.join(timeout=10)
    assert writer.groups == [["a"], ["b", "a", "c"], ["d", "e"]]
    assert all(append.done and append.outcome() == [] for append in appends)


def test_a_story_is_never_twice_in_one_group() -> None:
    writer = SlowWriter()
    queue = CommitQueue(writer)
    _, threads = submit_all(queue, ["a", "b", "b", "a", "b"])
    writer.release.set()
    for thread in threads:
        thread.join(timeout=10)
    assert writer.groups == [["a"], ["b", "a"], ["b"], ["b"]]


def test_a_failed_group_fails_each_append_in_it_and_the_queue_goes_on() -> None:
    writer = SlowWriter()
    writer.release.set()
    writer.fail_with = OSError("disk full")
    queue = CommitQueue(writer)
    first = Waiting("a", [], "test", None)
    second = Waiting("b", [], "test", None)
    queue.submit(first, second)
    for append in (first, second):
        with pytest.raises(OSError, match="disk full"):
            append.outcome()
    writer.fail_with = None
    third = Waiting("a", [], "test", None)
    queue.submit(third)
    assert third.outcome() == []


def test_an_append_no_group_wrote_says_so() -> None:
    queue = CommitQueue(lambda group: None)
    append = Waiting("a", [], "test", None)
    queue.submit(append)
    with pytest.raises(RuntimeError, match="was not written"):
        append.outcome()


def test_one_thread_submitting_several_appends_of_one_story_writes_them_in_turn() -> None:
    groups: list[list[str]] = []

    def write(group: list[Waiting]) -> None:
        groups.append([each.recorded_by for each in group])
        for each in group:
            each.created = []

    queue = CommitQueue(write)
    appends = [Waiting(story, [], by, None) for story, by in [("a", "1"), ("b", "2"), ("a", "3")]]
    queue.submit(*appends)
    assert groups == [["1", "2"], ["3"]]
    assert all(append.outcome() == [] for append in appends)
