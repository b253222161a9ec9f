"""A story taken up from its first and last stored events and its projected claims (decision
053), on both databases: the same story the library rebuilds by decoding every event whole, and
one a new process goes on appending to."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.application import AggregateNotFoundError
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from domain.events import ReportingEvent
from domain.story import Story, project_story
from service import application
from service.application import Ledger
from service.story_loading import load_story
from tests.builders import claim, event
from tests.property.test_projection_matches_fold import PROPERTY, record_in_batches
from tests.service.wire import bearer
from tests.strategies import histories


def state(story: Story) -> dict[str, object]:
    """Everything the story holds, the library's attributes included."""
    return dict(vars(story))


@settings(PROPERTY, max_examples=15)
@given(events=histories(), cuts=st.lists(st.integers(0, 20), max_size=4))
def test_a_story_loads_as_the_library_rebuilds_it(
    ledger: Ledger, events: list[ReportingEvent], cuts: list[int]
) -> None:
    story_id = f"s-{uuid.uuid4().hex[:8]}"
    record_in_batches(ledger, story_id, events, cuts)

    loaded = load_story(ledger.recorder, ledger.mapper, ledger.reader, story_id)
    # With a version the library rebuilds it from its events, each decoded whole.
    rebuilt: Story = ledger.repository.get(
        story_id, version=len(events) + 1, projector_func=project_story
    )

    assert state(loaded) == state(rebuilt)
    assert loaded.story_version == len(events)


def test_a_story_holds_nothing_per_event_only_its_claims(ledger: Ledger) -> None:
    """Decision 052: what a cached story keeps does not grow with its events (the store is
    asked for the ids a command names), only with the claims they assert."""
    asserted = event("story_published", "e0", "nyt", "2020-10-06T10:00", claim("c", "asserts"))
    confirming = [
        event("report_confirmed", f"e{n}", "ap", "2020-10-06T11:00", claim("c", "confirms"))
        for n in range(1, 50)
    ]
    ledger.append("s", [asserted, *confirming[:20]], "t")
    ledger.append("s", confirming[20:], "t")
    for story in (
        ledger.story("s"),
        load_story(ledger.recorder, ledger.mapper, ledger.reader, "s"),
    ):
        assert story.story_version == 50
        sizes = [len(v) for v in state(story).values() if isinstance(v, (dict, set, list, tuple))]
        assert max(sizes, default=0) <= 1, state(story)


def test_a_story_with_no_events_is_not_found(ledger: Ledger) -> None:
    with pytest.raises(AggregateNotFoundError):
        load_story(ledger.recorder, ledger.mapper, ledger.reader, "never-written")
    with pytest.raises(AggregateNotFoundError):
        ledger.story("never-written")


def test_a_new_process_loads_a_story_and_appends_to_it(tmp_path: Path) -> None:
    path = str(tmp_path / "k.sqlite3")
    first = Ledger(path)
    try:
        asserted = event("story_published", "e1", "nyt", "2020-10-06T10:00", claim("c", "asserts"))
        first.append("s", [asserted], "t")
    finally:
        first.close()
    second = Ledger(path)  # its aggregate cache is empty: the story is loaded
    try:
        confirmed = event(
            "report_confirmed", "e2", "ap", "2020-10-06T11:00", claim("c", "confirms")
        )
        assert second.append("s", [confirmed, asserted], "t").created == [True, False]
        story = second.story("s")
        assert (story.story_version, story.version, story.claims) == (2, 3, {"c"})
    finally:
        second.close()


def test_a_story_is_loaded_into_the_cache_ahead_of_its_append(ledger: Ledger) -> None:
    published = event("story_published", "e1", "a", "2020-10-06T10:00", claim("c1", "asserts"))
    ledger.append("s", [published], "t")
    ledger._forget("s")
    assert ledger.needs_loading("s") and ledger.needs_loading("never-written")
    ledger.load_into_cache("s")
    ledger.load_into_cache("never-written")  # nothing to load: the writer opens it
    assert not ledger.needs_loading("s") and ledger.needs_loading("never-written")
    assert ledger.story("s").story_version == 1


def test_a_post_loads_its_story_off_the_writer_thread(
    client: TestClient, ledger: Ledger, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    published = event("story_published", "e1", "a", "2020-10-06T10:00", claim("c1", "asserts"))
    ledger.append("s", [published], "t")
    ledger._forget("s")
    loaded_in: list[str] = []

    def watched(*args: Any) -> Story:
        loaded_in.append(threading.current_thread().name)
        return load_story(*args)

    monkeypatch.setattr(application, "load_story", watched)
    confirmed = {
        "id": "e2",
        "type": "report_confirmed",
        "source": "b",
        "published_at": "2020-10-06T11:00:00Z",
        "claims": [{"id": "c1", "stance": "confirms"}],
    }
    posted = client.post("/v1/stories/s/events", json=confirmed, headers=bearer(tokens["writer"]))
    assert posted.status_code == 201
    assert len(loaded_in) == 1 and loaded_in[0] != "knewwhen-writer"
