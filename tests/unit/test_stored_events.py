"""Stored reporting events decoded for folds (``domain.stored``): the strict classes' twins,
the same bytes, and no pattern checked again; and the ``kw_events`` row replay reads from a
stored event's head."""

from __future__ import annotations

import typing

import msgspec
import pytest
from hypothesis import given, settings

from domain.events import EVENT_CLASSES, Document, ReportingEvent
from domain.stored import AnyStoredEvent
from domain.story import Story, digest_of
from service.persistence import MsgspecMapper
from service.projections.rows import decode_recorded, decode_stored, event_row, stored_event_row
from tests.builders import RECORDED, claim, event
from tests.strategies import histories

STORED_CLASSES: tuple[type[ReportingEvent], ...] = typing.get_args(AnyStoredEvent)


def stored_state(reporting: ReportingEvent, version: int = 2) -> bytes:
    """The bytes the ledger stores for ``reporting`` recorded in story ``s``."""
    recorded = Story.EventRecorded(  # type: ignore[call-arg]
        originator_id="s",
        originator_version=version,
        timestamp=RECORDED,
        event=reporting,
        recorded_by="tester",
        digest=digest_of(reporting),
    )
    mapper = MsgspecMapper(transcoder=None)  # type: ignore[arg-type]
    return mapper.to_stored_event(recorded).state


def test_each_event_class_has_a_stored_twin_with_its_tag_and_fields() -> None:
    twins = {cls.__struct_config__.tag: cls for cls in STORED_CLASSES}
    assert set(twins) == {cls.__struct_config__.tag for cls in EVENT_CLASSES}
    for strict in EVENT_CLASSES:
        twin = twins[strict.__struct_config__.tag]
        assert issubclass(twin, strict)
        assert twin.__struct_fields__ == strict.__struct_fields__
        assert twin.__struct_config__.omit_defaults


@settings(max_examples=60, deadline=None)
@given(events=histories())
def test_a_stored_event_decodes_to_its_class_and_encodes_to_the_stored_bytes(
    events: list[ReportingEvent],
) -> None:
    for version, reporting in enumerate(events, start=2):
        state = stored_state(reporting, version)

        stored = decode_stored(state)

        assert isinstance(stored, Story.EventRecorded)
        assert isinstance(stored.event, type(reporting))
        assert stored.event.type == reporting.type
        assert msgspec.json.encode(stored) == state
        assert msgspec.msgpack.encode(stored.event) == msgspec.msgpack.encode(
            decode_recorded(state).event
        )


def test_every_optional_field_survives() -> None:
    reporting = msgspec.structs.replace(
        event(
            "document_released",
            "e2",
            "doj-oig",
            "2020-10-06T12:00",
            claim("c", "asserts", occurred_at="2018-05-07"),
            cites=("e1",),
        ),
        document=Document(
            id="report",
            title="The report",
            url="https://oig.example/report.pdf",
            author="doj-oig",
            text="what it says",
            version_label="final",
        ),
        note="released in full",
    )
    state = stored_state(reporting)

    stored = decode_stored(state)

    assert msgspec.json.encode(stored) == state
    assert stored.event.document is not None
    assert stored.event.document.url == "https://oig.example/report.pdf"
    assert stored.event.claims[0].occurred_at == "2018-05-07"


def test_a_stored_event_is_not_checked_against_the_patterns_again() -> None:
    state = stored_state(event("story_published", "e1", "nyt", "2020-10-06T10:00")).replace(
        b'"id":"e1"', b'"id":"not an id"'
    )

    with pytest.raises(msgspec.ValidationError, match="id"):
        decode_recorded(state)
    assert decode_stored(state).event.id == "not an id"


@settings(max_examples=40, deadline=None)
@given(events=histories())
def test_a_stored_event_s_kw_events_row_read_from_its_head_is_the_folded_one(
    events: list[ReportingEvent],
) -> None:
    for position, reporting in enumerate(events, start=7):
        state = stored_state(reporting, position - 5)

        story, row = stored_event_row(position, state)

        assert story == "s"
        assert row == event_row(position, decode_recorded(state))
