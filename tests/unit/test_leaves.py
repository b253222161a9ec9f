"""A log leaf encoded from the recorded event's struct (``leaf_of_recorded``) is byte for byte
the leaf ``leaf_bytes`` makes of the event as builtins: every event class, strict and as
stored, with every optional field set or left out, and recording times in any offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.events import EVENT_CLASSES, ClaimStance, Document, ReportingEvent
from domain.story import Story, digest_of
from service.audit.leaves import leaf_bytes, leaf_class, leaf_of_recorded
from service.persistence import MsgspecMapper
from service.projections.rows import decode_stored
from tests.builders import RECORDED
from tests.strategies import histories


def recorded_as(
    story: str, reporting: ReportingEvent, at: datetime, by: str
) -> Story.EventRecorded:
    return Story.EventRecorded(  # type: ignore[call-arg]
        originator_id=story,
        originator_version=2,
        timestamp=at,
        event=reporting,
        recorded_by=by,
        digest=digest_of(reporting),
    )


def as_builtins(recorded: Story.EventRecorded) -> bytes:
    """The leaf as ``leaf_bytes`` makes it from the event's builtins (the definition)."""
    return leaf_bytes(
        recorded.originator_id,
        msgspec.to_builtins(recorded.event),
        recorded.timestamp,
        recorded.recorded_by,
    )


def as_stored(recorded: Story.EventRecorded) -> Story.EventRecorded:
    """The same record as a fold reads it back: its event one of the unchecked twins."""
    mapper = MsgspecMapper(transcoder=None)  # type: ignore[arg-type]
    stored = decode_stored(mapper.to_stored_event(recorded).state)
    assert isinstance(stored, Story.EventRecorded)
    return stored


@settings(max_examples=80, deadline=None)
@given(
    events=histories(),
    offset=st.integers(-12, 12),
    story=st.sampled_from(["s", "story-00001", "Zoë's story"]),
)
def test_a_recorded_event_s_leaf_is_the_leaf_of_its_builtins(
    events: list[ReportingEvent], offset: int, story: str
) -> None:
    at = RECORDED.astimezone(timezone(timedelta(hours=offset))) + timedelta(microseconds=7)
    for reporting in events:
        recorded = recorded_as(story, reporting, at, "newsroom")
        for each in (recorded, as_stored(recorded)):
            assert leaf_of_recorded(each) == as_builtins(each)


def test_every_optional_field_set_or_left_out_gives_the_same_leaf() -> None:
    full_claim = ClaimStance(id="c", stance="asserts", text="said", occurred_at="2020-01-02")
    full_document = Document(
        id="d", title="T", url="https://example.org/d?x=1", author="doj", text="x",
        version_label="v2",
    )  # fmt: skip
    published = datetime(2020, 10, 6, 22, 0, tzinfo=UTC)
    for cls in EVENT_CLASSES:
        full = cls(
            id="e", source="nyt", published_at=published, document=full_document,
            claims=(full_claim,), cites=("a", "b"), note="a note",
        )  # fmt: skip
        bare = cls(id="e", source="nyt", published_at=published)
        for reporting in (full, bare):
            recorded = recorded_as("s", reporting, RECORDED, "newsroom")
            for each in (recorded, as_stored(recorded)):
                assert leaf_of_recorded(each) == as_builtins(each), cls.__name__


def test_the_leaf_keys_are_the_event_s_and_the_recording_s_in_order() -> None:
    published = datetime(2020, 10, 6, 22, 0, tzinfo=UTC)
    reporting = EVENT_CLASSES[1](id="e", source="nyt", published_at=published)
    leaf = msgspec.json.decode(leaf_of_recorded(recorded_as("s", reporting, RECORDED, "me")))
    assert list(leaf) == sorted(leaf)
    assert leaf == {
        "id": "e",
        "published_at": "2020-10-06T22:00:00Z",
        "recorded_at": "2026-01-01T00:00:00Z",
        "recorded_by": "me",
        "source": "nyt",
        "story": "s",
        "type": "story_published",
    }
    assert leaf_class(type(reporting)) is leaf_class(type(reporting))  # made once a class
