"""The reporting events: what a newsroom, agency or person made public, as msgspec Structs.

The union is tagged on ``type`` with tags pinned by hand, so renaming a class never changes
stored data. These Structs tolerate unknown fields (old readers survive new fields); the
strict wire variants that reject them live in ``service.schemas``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta, Struct

ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
SOURCE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
URL_PATTERN = r"^https?://[^\s/?#@]+(?:[/?#][^\s]*)?$"
OCCURRED_AT_PATTERN = (
    r"^\d{4}-\d{2}-\d{2}"
    r"(?:[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2}))?$"
)
MAX_TEXT_BYTES = 1 << 20
MAX_CLAIMS = 1000

Id = Annotated[str, Meta(pattern=ID_PATTERN, description="1-128 of A-Za-z0-9._:-")]
SourceId = Annotated[str, Meta(pattern=SOURCE_PATTERN, description="a source id")]
Url = Annotated[str, Meta(pattern=URL_PATTERN, max_length=4096)]
Text = Annotated[str, Meta(max_length=MAX_TEXT_BYTES)]
Title = Annotated[str, Meta(max_length=1000)]
Note = Annotated[str, Meta(max_length=10_000)]
Timestamp = Annotated[datetime, Meta(tz=True, description="RFC 3339 with an offset")]
OccurredAt = Annotated[str, Meta(pattern=OCCURRED_AT_PATTERN, description="date or timestamp")]

Stance = Literal["asserts", "confirms", "disputes", "acknowledges", "corrects", "retracts"]
EventType = Literal[
    "draft_leaked",
    "story_published",
    "report_confirmed",
    "response_issued",
    "document_released",
    "correction_issued",
    "claim_retracted",
]

SUPPORTING_STANCES: frozenset[str] = frozenset({"asserts", "confirms", "corrects", "acknowledges"})
STANCES_WITH_TEXT: frozenset[str] = frozenset({"asserts", "corrects"})


class Document(Struct, frozen=True, omit_defaults=True):
    """A document an event makes public; the same id published again may be a new revision."""

    id: Id
    title: Title | None = None
    url: Url | None = None
    author: SourceId | None = None
    text: Text | None = None
    version_label: Annotated[str, Meta(max_length=200)] | None = None


class ClaimStance(Struct, frozen=True, omit_defaults=True):
    """An event's stance on one claim: asserting it, confirming it, disputing it, ..."""

    id: Id
    stance: Stance
    text: Text | None = None
    occurred_at: OccurredAt | None = None


class ReportingEvent(Struct, frozen=True, omit_defaults=True, tag_field="type"):
    """One public act in a story: the base of the tagged union below."""

    id: Id
    source: SourceId
    published_at: Timestamp
    document: Document | None = None
    claims: Annotated[tuple[ClaimStance, ...], Meta(max_length=MAX_CLAIMS)] = ()
    cites: Annotated[tuple[Id, ...], Meta(max_length=MAX_CLAIMS)] = ()
    note: Note | None = None

    allowed_stances: ClassVar[frozenset[Stance]] = frozenset()
    requires_document: ClassVar[bool] = False

    @property
    def type(self) -> EventType:
        """The wire tag of this event's class."""
        return self.__struct_config__.tag  # type: ignore[return-value]


class DraftLeaked(ReportingEvent, frozen=True, tag="draft_leaked"):
    """A document not meant to be public yet (a draft report) became public."""

    allowed_stances = frozenset({"asserts"})
    requires_document = True


class StoryPublished(ReportingEvent, frozen=True, tag="story_published"):
    """An outlet published a story."""

    allowed_stances = frozenset({"asserts", "confirms"})


class ReportConfirmed(ReportingEvent, frozen=True, tag="report_confirmed"):
    """Another outlet confirmed an earlier report."""

    allowed_stances = frozenset({"confirms", "asserts"})


class ResponseIssued(ReportingEvent, frozen=True, tag="response_issued"):
    """A party named in the story responded."""

    allowed_stances = frozenset({"disputes", "acknowledges", "asserts"})


class DocumentReleased(ReportingEvent, frozen=True, tag="document_released"):
    """A document was officially released by whoever holds it."""

    allowed_stances = frozenset({"asserts", "confirms"})
    requires_document = True


class CorrectionIssued(ReportingEvent, frozen=True, tag="correction_issued"):
    """An outlet corrected or retracted what it had said."""

    allowed_stances = frozenset({"corrects", "retracts"})


class ClaimRetracted(ReportingEvent, frozen=True, tag="claim_retracted"):
    """A source withdrew a claim."""

    allowed_stances = frozenset({"retracts"})


AnyReportingEvent = (
    DraftLeaked
    | StoryPublished
    | ReportConfirmed
    | ResponseIssued
    | DocumentReleased
    | CorrectionIssued
    | ClaimRetracted
)

EVENT_CLASSES: tuple[type[ReportingEvent], ...] = (
    DraftLeaked,
    StoryPublished,
    ReportConfirmed,
    ResponseIssued,
    DocumentReleased,
    CorrectionIssued,
    ClaimRetracted,
)


def normalized(event: ReportingEvent) -> ReportingEvent:
    """Return the event with ``published_at`` in UTC, the form that is stored and compared."""
    utc = event.published_at.astimezone(UTC)
    if utc == event.published_at and event.published_at.tzinfo is UTC:
        return event
    return msgspec.structs.replace(event, published_at=utc)


def rfc3339(moment: datetime) -> str:
    """``moment`` as an RFC 3339 timestamp in UTC with ``Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


_encoder = msgspec.json.Encoder()


def canonical_body(event: ReportingEvent) -> bytes:
    """The event's JSON in one fixed form, so equal events have equal bytes (idempotency)."""
    return _encoder.encode(normalized(event))
