"""Given a story's events, when one more is recorded, then it is stored or refused with the field."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from eventsourcing.domain import OriginatorVersionError
from hypothesis import given as for_all
from hypothesis import strategies as st

from domain import errors
from domain.events import ReportingEvent
from domain.story import (
    CLOCK_SKEW,
    Held,
    Story,
    digest_of,
    named,
    project_story,
)
from tests.builders import RECORDED, at, claim, document, event

NYT = event("story_published", "nyt-1", "nyt", "2020-10-06T22:00", claim("c1", "asserts"))


class Desk:
    """A story and what it holds, as a ledger would look it up for each command: the digests
    of every event recorded so far (the story itself keeps none of them)."""

    def __init__(self, story: Story) -> None:
        self.story = story
        self.held: Held = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.story, name)

    def record(
        self, e: ReportingEvent, *, recorded_at: datetime = RECORDED, recorded_by: str = "test"
    ) -> bool:
        return self.story.record(
            e, recorded_at=recorded_at, recorded_by=recorded_by, held=self.held
        )

    def admit(self, e: ReportingEvent, recorded_at: datetime) -> tuple[ReportingEvent, str] | None:
        return self.story.admit(e, recorded_at, self.held)

    def take(self, e: ReportingEvent, digest: str) -> None:
        self.story.take(e, digest, self.held)


def given(*events: ReportingEvent) -> Desk:
    """A story that has recorded ``events``."""
    desk = Desk(Story.open("s", RECORDED))
    for e in events:
        assert desk.record(e)
    return desk


def refused(story: Desk, e: ReportingEvent) -> errors.DomainError:
    """Record ``e`` and return the error it raised (failing if none)."""
    with pytest.raises(errors.DomainError) as caught:
        story.record(e, recorded_at=RECORDED, recorded_by="test")
    return caught.value


def test_a_new_event_is_recorded_and_counted() -> None:
    story = given()
    assert story.record(NYT, recorded_at=RECORDED, recorded_by="test") is True
    assert story.story_version == 1
    assert story.claims == {"c1"}


def test_the_same_id_and_body_again_records_nothing() -> None:
    story = given(NYT)
    assert story.record(NYT, recorded_at=RECORDED, recorded_by="test") is False
    assert story.story_version == 1
    assert story.collect_events()[-1].originator_version == 2


def test_the_same_event_with_another_offset_is_the_same_body() -> None:
    shifted = msgspec.structs.replace(
        NYT, published_at=at("2020-10-06T22:00").astimezone(timezone(timedelta(hours=2)))
    )
    assert given(NYT).record(shifted, recorded_at=RECORDED, recorded_by="test") is False


def test_admit_changes_nothing_and_take_takes_what_it_admitted() -> None:
    story = given()
    admitted = story.admit(NYT, RECORDED)
    assert admitted is not None
    assert (story.story_version, story.claims, story.held) == (0, set(), {})
    story.take(*admitted)
    assert (story.story_version, story.claims) == (1, {"c1"})
    assert story.held == {"nyt-1": bytes.fromhex(digest_of(admitted[0]))}
    assert story.admit(NYT, RECORDED) is None
    confirms = event("story_published", "nbc-1", "nbc", "2020-10-07T09:00", claim("c1", "confirms"))
    assert story.admit(confirms, RECORDED) is not None


def test_the_same_id_with_another_body_is_a_conflict() -> None:
    other = event("story_published", "nyt-1", "nyt", "2020-10-06T23:00", claim("c1", "asserts"))
    error = refused(given(NYT), other)
    assert isinstance(error, errors.EventConflict)
    assert error.pointer == "/id"


@pytest.mark.parametrize(
    ("tag", "stance"),
    [
        ("draft_leaked", "confirms"),
        ("story_published", "disputes"),
        ("report_confirmed", "retracts"),
        ("response_issued", "confirms"),
        ("document_released", "disputes"),
        ("correction_issued", "asserts"),
        ("claim_retracted", "corrects"),
    ],
)
def test_a_stance_the_event_type_does_not_allow_is_refused(tag: str, stance: str) -> None:
    doc = document("d") if tag in ("draft_leaked", "document_released") else None
    e = event(tag, "e2", "x", "2020-10-07T00:00", claim("c1", stance), doc=doc)
    error = refused(given(NYT), e)
    assert isinstance(error, errors.StanceNotAllowed)
    assert error.pointer == "/claims/0/stance"
    assert tag in error.detail


@pytest.mark.parametrize("stance", ["confirms", "disputes", "acknowledges", "corrects", "retracts"])
def test_a_stance_on_an_unknown_claim_is_refused(stance: str) -> None:
    tag = {
        "confirms": "report_confirmed",
        "disputes": "response_issued",
        "acknowledges": "response_issued",
        "corrects": "correction_issued",
        "retracts": "claim_retracted",
    }[stance]
    e = event(
        tag,
        "e2",
        "doj",
        "2020-10-07T00:00",
        claim("c1", "asserts" if tag == "response_issued" else stance),
        claim("nope", stance),
    )
    error = refused(given(NYT), e)
    assert isinstance(error, errors.UnknownClaim)
    assert error.pointer == "/claims/1/id"
    assert "unknown claim 'nope'" in error.detail


@pytest.mark.parametrize("tag", ["draft_leaked", "document_released"])
def test_leaks_and_releases_must_name_their_document(tag: str) -> None:
    error = refused(given(), event(tag, "e1", "doj", "2020-10-07T00:00", claim("c1", "asserts")))
    assert isinstance(error, errors.MissingField)
    assert error.pointer == "/document"


def test_an_event_published_after_it_is_recorded_is_refused_naming_the_times() -> None:
    story = given(NYT)
    future = msgspec.structs.replace(
        NYT, id="nyt-2", published_at=RECORDED + CLOCK_SKEW + timedelta(microseconds=1)
    )
    error = refused(story, future)
    assert isinstance(error, errors.PublishedAfterRecording)
    assert error.pointer == "/published_at"
    assert "published_at 2026-01-01T00:05:00.000001Z is later than" in error.detail
    assert "recorded (2026-01-01T00:00:00Z)" in error.detail
    assert story.story_version == 1


@for_all(ahead=st.integers(-(10**9), 10**9))
def test_an_event_is_admitted_up_to_the_clock_skew_after_its_recording(ahead: int) -> None:
    published = RECORDED + timedelta(microseconds=ahead)
    e = msgspec.structs.replace(NYT, published_at=published)
    story = given()
    if published <= RECORDED + CLOCK_SKEW:
        assert story.record(e, recorded_at=RECORDED, recorded_by="test") is True
    else:
        assert isinstance(refused(story, e), errors.PublishedAfterRecording)
        assert story.story_version == 0


def test_a_retry_of_a_stored_event_is_answered_whatever_the_time() -> None:
    story = given(NYT)
    earlier = at("2020-10-06T21:00")
    assert story.record(NYT, recorded_at=earlier, recorded_by="test") is False


@pytest.mark.parametrize("stance", ["asserts", "corrects"])
def test_asserting_or_correcting_needs_a_text(stance: str) -> None:

    from domain.events import ClaimStance

    tag = "story_published" if stance == "asserts" else "correction_issued"
    bare = msgspec.convert({"id": "c1", "stance": stance}, ClaimStance)
    error = refused(given(NYT), event(tag, "e2", "nyt", "2020-10-07T00:00", bare))
    assert isinstance(error, errors.MissingField)
    assert error.pointer == "/claims/0/text"


def test_a_citation_of_an_unknown_event_is_refused() -> None:
    e = event(
        "report_confirmed",
        "nbc-1",
        "nbc",
        "2020-10-07T00:00",
        claim("c1", "confirms"),
        cites=("nyt-1", "ghost"),
    )
    error = refused(given(NYT), e)
    assert isinstance(error, errors.UnknownCitation)
    assert error.pointer == "/cites/1"


def test_an_event_cannot_cite_itself() -> None:
    e = event("story_published", "self", "nbc", "2020-10-07T00:00", cites=("self",))
    assert isinstance(refused(given(), e), errors.UnknownCitation)


def test_the_same_claim_twice_in_one_event_is_refused() -> None:
    e = event(
        "story_published",
        "e1",
        "nyt",
        "2020-10-07T00:00",
        claim("c1", "asserts"),
        claim("c1", "confirms"),
    )
    error = refused(given(), e)
    assert isinstance(error, errors.DuplicateInEvent)
    assert error.pointer == "/claims/1/id"


def test_a_text_over_one_mebibyte_of_utf8_is_refused() -> None:
    big = "é" * (600 * 1024)  # 1.2 MB in UTF-8, 600 Ki characters
    e = event("document_released", "e1", "doj", "2020-10-07T00:00", doc=document("d", text=big))
    error = refused(given(), e)
    assert isinstance(error, errors.TextTooLarge)
    assert error.pointer == "/document/text"


def test_a_refused_event_leaves_the_story_unchanged() -> None:
    story = given(NYT)
    refused(
        story,
        event("report_confirmed", "nbc-1", "nbc", "2020-10-07T00:00", claim("zz", "confirms")),
    )
    assert story.story_version == 1
    assert "nbc-1" not in story.held


def test_events_of_one_batch_may_refer_to_earlier_ones_in_it() -> None:
    story = given()
    story.record(NYT, recorded_at=RECORDED, recorded_by="t")
    nbc = event(
        "report_confirmed",
        "nbc-1",
        "nbc",
        "2020-10-07T00:00",
        claim("c1", "confirms"),
        cites=("nyt-1",),
    )
    assert story.record(nbc, recorded_at=RECORDED, recorded_by="t") is True
    assert story.story_version == 2


def test_a_story_projected_from_its_events_is_the_story_that_recorded_them() -> None:
    cited = event("report_confirmed", "wp-1", "wp", "2020-10-07T10:00", claim("c1", "confirms"))
    story = given(
        NYT,
        cited,
        event("story_published", "ap-1", "ap", "2020-10-07T11:00", claim("c2", "asserts")),
    )
    events = story.collect_events()

    projected = project_story(None, events)

    assert projected is not None
    assert (projected.id, projected.version, projected.story_version) == ("s", 4, 3)
    assert projected.claims == story.claims == {"c1", "c2"}
    assert not hasattr(projected, "digests")
    assert project_story(None, []) is None
    later = event(
        "report_confirmed",
        "ap-2",
        "ap",
        "2020-10-08T10:00",
        claim("c2", "confirms"),
        cites=("wp-1",),
    )
    held = {k: v for k, v in story.held.items() if k in named([later])}
    assert projected.record(later, recorded_at=RECORDED, recorded_by="test", held=held) is True
    assert held.keys() == {"wp-1", "ap-2"}
    resumed = project_story(project_story(None, events[:2]), events[2:])
    assert resumed is not None
    assert (resumed.version, resumed.story_version, resumed.claims) == (4, 3, {"c1", "c2"})


def test_a_story_resumed_from_its_projections_is_the_story_that_recorded_them() -> None:
    asserting = event("story_published", "ap-1", "ap", "2020-10-07T11:00", claim("c2", "asserts"))
    story = given(NYT, asserting)
    events = story.collect_events()
    opened = project_story(None, events[:1])
    assert opened is not None

    opened.resume(version=3, modified_on=events[-1].timestamp, claims=["c1", "c2"])

    assert vars(opened) == vars(project_story(None, events))


def test_a_story_is_not_resumed_at_or_before_its_version() -> None:
    story = given(NYT).story
    with pytest.raises(OriginatorVersionError):
        story.resume(version=2, modified_on=RECORDED, claims=[])
    assert (story.version, story.story_version, story.claims) == (2, 1, {"c1"})
