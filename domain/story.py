"""The Story aggregate: the reporting events of one story, and the rules an append must obey."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, MutableMapping
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.domain import (
    BaseAggregate,
    CanInitAggregate,
    CanMutateAggregate,
    MetaDomainEvent,
    OriginatorVersionError,
)
from msgspec import Struct

from domain.errors import (
    DuplicateInEvent,
    EventConflict,
    MissingField,
    PublishedAfterRecording,
    StanceNotAllowed,
    TextTooLarge,
    UnknownCitation,
    UnknownClaim,
)
from domain.events import (
    MAX_TEXT_BYTES,
    STANCES_WITH_TEXT,
    AnyReportingEvent,
    ReportingEvent,
    canonical_body,
    normalized,
    rfc3339,
)

CLOCK_SKEW = timedelta(minutes=5)
"""How far ``published_at`` may lie past the time an event is recorded: a client's clock ahead
of the server's, not an event public only later (which the record cannot hold; rejected)."""


Held = MutableMapping[str, bytes]
"""Of the events a story holds, those a command may name, by id: each one's SHA-256 (32 raw
bytes). The caller looks up at least the ids the command records and cites (in the store, or
in a dry run's own record); recording an event adds it. A story keeps no such map itself, so
its memory does not grow with its length (decision 052)."""


def digest_of(event: ReportingEvent) -> str:
    """The SHA-256 of the event's canonical body: equal digests mean an idempotent retry."""
    return hashlib.sha256(canonical_body(event)).hexdigest()


class StoredTime(Struct):
    """Of a stored event of a story, its time alone: what taking a story up needs of its last."""

    timestamp: datetime


class StoryEvent(CanMutateAggregate[str], metaclass=MetaDomainEvent):
    """An event of a Story aggregate, whose ids are the story ids themselves (strings)."""

    originator_id: str
    originator_version: int
    timestamp: datetime


class Story(BaseAggregate[str]):
    """One story's ledger. Commands check the rules, then trigger events; nothing is undone."""

    Event = StoryEvent

    class Opened(StoryEvent, CanInitAggregate[str]):
        """The story received its first reporting event."""

        originator_topic: str

    class EventRecorded(StoryEvent):
        """A reporting event was recorded in the story by ``recorded_by``."""

        event: AnyReportingEvent
        recorded_by: str
        digest: str

        def apply(self, aggregate: Any) -> None:
            """Count the event and remember the claims it asserts."""
            story: Story = aggregate
            story.remember(self.event)

    def __init__(self) -> None:
        self.story_version = 0
        """How many reporting events the story holds."""
        self.claims: set[str] = set()
        """The claims its events assert: only an ``asserts`` may introduce one."""

    @classmethod
    def open(cls, story_id: str, opened_at: datetime) -> Story:
        """Start a story; its first reporting event follows in the same save."""
        return cls._create(cls.Opened, id=story_id, timestamp=opened_at)

    def record(
        self, event: ReportingEvent, *, recorded_at: datetime, recorded_by: str, held: Held
    ) -> bool:
        """Record ``event``; False when the same id with the same body is already recorded.
        ``held`` has at least the event's id and the ids it cites, if the story holds them.

        Raises a ``DomainError`` naming the field when the event breaks a rule.
        """
        admitted = self.admit(event, recorded_at, held)
        if admitted is None:
            return False
        event, digest = admitted
        self.trigger_event(
            self.EventRecorded,
            event=event,
            recorded_by=recorded_by,
            digest=digest,
            timestamp=recorded_at,
        )
        held[event.id] = bytes.fromhex(digest)
        return True

    def admit(
        self, event: ReportingEvent, recorded_at: datetime, held: Held
    ) -> tuple[ReportingEvent, str] | None:
        """The event as it would be recorded at ``recorded_at``, and its digest; None when the
        same id with the same body is already recorded (``held`` as ``record`` takes it).
        Raises a ``DomainError`` naming the field when the event breaks a rule. Changes
        nothing: a dry run ``take``s what it admits."""
        event = normalized(event)
        digest = digest_of(event)
        known = held.get(event.id)
        if known is not None and known.hex() == digest:
            return None
        if known is not None:
            raise EventConflict(
                f"event id {event.id!r} is already used in this story with a different body",
                "/id",
            )
        self.check(event, recorded_at, held)
        return event, digest

    def take(self, event: ReportingEvent, digest: str, held: Held) -> None:
        """Take what a dry run ``admit``ted as if recorded: counted, its claims remembered and
        its digest ``held``."""
        self.remember(event)
        held[event.id] = bytes.fromhex(digest)

    def remember(self, event: ReportingEvent) -> None:
        """Count a recorded event and take the claims it asserts into the story's state."""
        self.story_version += 1
        self.claims.update(c.id for c in event.claims if c.stance == "asserts")

    def resume(self, *, version: int, modified_on: datetime, claims: Iterable[str]) -> None:
        """Take the story up at ``version``, its last stored event made at ``modified_on``, from
        what its projections hold: every event after ``Opened`` records one reporting event,
        so the version counts them, and ``claims`` are those they assert. The library's
        ``mutate`` of each event would come to the same state (decision 053)."""
        if version <= self.version:
            raise OriginatorVersionError(version, self.version + 1)
        self.story_version = version - 1
        self.claims = set(claims)
        self.version = version
        self.modified_on = modified_on

    def check(self, event: ReportingEvent, recorded_at: datetime, held: Held) -> None:
        """Raise the first rule ``event``, recorded at ``recorded_at``, breaks against this
        story and the events of it ``held``, or return."""
        if event.published_at > recorded_at + CLOCK_SKEW:
            raise PublishedAfterRecording(
                f"published_at {rfc3339(event.published_at)} is later than the time this event"
                f" is recorded ({rfc3339(recorded_at)}): an event is recorded once it"
                f" is public (a clock up to {CLOCK_SKEW.seconds // 60} minutes ahead is allowed)",
                "/published_at",
            )
        if event.requires_document and event.document is None:
            raise MissingField(
                f"a {event.type} event must name the document it makes public", "/document"
            )
        if event.document is not None and event.document.text is not None:
            check_text_size(event.document.text, "/document/text")
        seen: set[str] = set()
        for i, claim in enumerate(event.claims):
            if claim.id in seen:
                raise DuplicateInEvent(
                    f"claim {claim.id!r} appears twice in this event", f"/claims/{i}/id"
                )
            seen.add(claim.id)
            if claim.stance not in event.allowed_stances:
                allowed = ", ".join(sorted(event.allowed_stances))
                raise StanceNotAllowed(
                    f"a {event.type} event cannot {claim.stance.removesuffix('s')} a claim "
                    f"(allowed: {allowed})",
                    f"/claims/{i}/stance",
                )
            if claim.stance in STANCES_WITH_TEXT and not claim.text:
                raise MissingField(
                    f"a claim that {claim.stance} needs its text", f"/claims/{i}/text"
                )
            if claim.text is not None:
                check_text_size(claim.text, f"/claims/{i}/text")
            if claim.stance != "asserts" and claim.id not in self.claims:
                raise UnknownClaim(
                    f"unknown claim {claim.id!r}: only an asserts may introduce a claim",
                    f"/claims/{i}/id",
                )
        for i, cited in enumerate(event.cites):
            if cited not in held:
                raise UnknownCitation(f"unknown cited event {cited!r} in this story", f"/cites/{i}")


def named(events: Iterable[ReportingEvent]) -> set[str]:
    """The ids ``events`` record or cite: what a command on them looks up as ``held``."""
    return {name for e in events for name in (e.id, *e.cites)}


def check_text_size(text: str, pointer: str) -> None:
    """Texts are limited to 1 MiB of UTF-8."""
    if len(text) * 4 > MAX_TEXT_BYTES and len(text.encode()) > MAX_TEXT_BYTES:
        raise TextTooLarge(f"text is larger than {MAX_TEXT_BYTES} bytes", pointer)


def project_story(story: Story | None, events: Iterable[CanMutateAggregate[str]]) -> Story | None:
    """The story its events make, each applied in turn to the one before (None: no events):
    the library's ``project_aggregate`` without its per-event ``isinstance`` check against a
    runtime ``Protocol``, which took more than half the time of loading a story on Python 3.11:
    the bench's 1,000-event stories loaded in 62.4 ms against 25.0 (medians of 40, alternated)."""
    for event in events:
        story = event.mutate(story)
    return story
