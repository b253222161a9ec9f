"""The wire format: strict on the way in (with JSON pointers), stable and tolerant when stored."""

from __future__ import annotations

import msgspec
import pytest

from domain.story import Story
from service.persistence import MsgspecMapper
from service.schemas import event_decoder, events_decoder, line_decoder, pointer_of, without_story

VALID = (
    b'{"id":"e1","type":"story_published","source":"nyt","published_at":"2020-10-06T22:00:00Z",'
    b'"claims":[{"id":"c1","stance":"asserts","text":"t","occurred_at":"2018-05-11"}]}'
)


def rejection(body: bytes) -> tuple[str, str]:
    with pytest.raises((msgspec.ValidationError, msgspec.DecodeError)) as caught:
        event_decoder.decode(body)
    return pointer_of(caught.value)


def test_a_valid_event_decodes_with_its_type() -> None:
    event = event_decoder.decode(VALID)
    assert (event.type, event.claims[0].occurred_at) == ("story_published", "2018-05-11")


@pytest.mark.parametrize(
    ("body", "pointer", "reason"),
    [
        (
            VALID.replace(b'"2020-10-06T22:00:00Z"', b'"2020-10-06T22:00:00"'),
            "/published_at",
            "timezone",
        ),
        (
            VALID.replace(b'"asserts"', b'"guesses"'),
            "/claims/0/stance",
            "Invalid enum value 'guesses'",
        ),
        (
            VALID.replace(b'"story_published"', b'"rumour_heard"'),
            "/type",
            "Invalid value 'rumour_heard'",
        ),
        (VALID.replace(b'"nyt"', b'"NYT Inc"'), "/source", "regex"),
        (VALID.replace(b'"e1"', b'"has space"'), "/id", "regex"),
        (VALID.replace(b'"2018-05-11"', b'"last spring"'), "/claims/0/occurred_at", "regex"),
        (
            VALID.replace(b'"text":"t"', b'"text":"t","mood":"sure"'),
            "/claims/0/mood",
            "unknown field",
        ),
        (VALID[:-1] + b',"extra":1}', "/extra", "unknown field"),
        (VALID.replace(b'"id":"e1",', b""), "/id", "missing required field"),
        (VALID.replace(b'"nyt"', b"7"), "/source", "Expected `str`"),
        (
            VALID[:-1] + b',"document":{"id":"d","url":"ftp://x.org/a"}}',
            "/document/url",
            "regex",
        ),
    ],
)
def test_bad_fields_are_named_by_pointer(body: bytes, pointer: str, reason: str) -> None:
    got_pointer, got_reason = rejection(body)
    assert got_pointer == pointer
    assert reason in got_reason


def test_malformed_json_is_a_decode_error() -> None:
    with pytest.raises(msgspec.DecodeError):
        event_decoder.decode(b'{"id": ')


def test_a_batch_is_an_array_of_at_most_1000() -> None:
    assert len(events_decoder.decode(b"[" + b",".join([VALID] * 3) + b"]")) == 3
    with pytest.raises(msgspec.ValidationError, match="length <= 1000"):
        events_decoder.decode(b"[" + b",".join([VALID] * 1001) + b"]")


def test_an_import_line_carries_its_story() -> None:
    line = line_decoder.decode(VALID[:-1] + b',"story":"doj-zero-tolerance"}')
    assert line.story == "doj-zero-tolerance"
    event = without_story(line)
    assert not hasattr(event, "story")
    assert msgspec.json.encode(event) == msgspec.json.encode(event_decoder.decode(VALID))


# An aggregate event as stored by the first release; it must always decode.
STORED_V1 = (
    b'{"originator_id":"doj-zero-tolerance","originator_version":2,'
    b'"timestamp":"2026-11-28T17:21:42.372133Z","event":{"type":"story_published","id":"a",'
    b'"source":"nyt","published_at":"2020-10-06T22:00:00Z","claims":[{"id":"c1",'
    b'"stance":"asserts","text":"x"}]},"recorded_by":"cli:root","digest":"c439"}'
)


def test_events_stored_by_the_first_release_still_decode() -> None:
    from eventsourcing.persistence import StoredEvent
    from eventsourcing.utils import get_topic

    stored = StoredEvent("doj-zero-tolerance", 2, get_topic(Story.EventRecorded), STORED_V1)
    event = MsgspecMapper(transcoder=None).to_domain_event(stored)  # type: ignore[arg-type]
    assert isinstance(event, Story.EventRecorded)
    assert (event.event.id, event.event.claims[0].text, event.recorded_by) == ("a", "x", "cli:root")


def test_stored_events_tolerate_fields_added_later() -> None:
    from eventsourcing.persistence import StoredEvent
    from eventsourcing.utils import get_topic

    newer = STORED_V1.replace(b'"text":"x"}', b'"text":"x","confidence":0.9}')
    stored = StoredEvent("s", 2, get_topic(Story.EventRecorded), newer)
    event = MsgspecMapper(transcoder=None).to_domain_event(stored)  # type: ignore[arg-type]
    assert event.event.claims[0].text == "x"  # type: ignore[attr-defined]


def test_stored_events_round_trip() -> None:
    from datetime import UTC, datetime

    story = Story.open("s", datetime(2026, 1, 1, tzinfo=UTC))
    story.record(
        event_decoder.decode(VALID),
        recorded_at=datetime(2026, 1, 2, tzinfo=UTC),
        recorded_by="t",
        held={},
    )
    mapper = MsgspecMapper(transcoder=None)  # type: ignore[arg-type]
    for original in story.collect_events():
        stored = mapper.to_stored_event(original)
        again = mapper.to_stored_event(mapper.to_domain_event(stored))
        assert again == stored
