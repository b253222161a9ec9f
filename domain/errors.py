"""Why the domain refuses a command: one class per rejection reason, each naming the field."""

from __future__ import annotations


class DomainError(Exception):
    """A command the story's rules refuse; ``pointer`` is the JSON pointer of the field at fault."""

    title = "The event breaks a rule of the story"
    index: int | None = None  # which event of an appended batch broke the rule
    story: str | None = None  # and of which story, when an append wrote to several

    def __init__(self, detail: str, pointer: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.pointer = pointer


class UnknownClaim(DomainError):
    """A stance other than asserts/corrects names a claim the story does not hold."""

    title = "Unknown claim"


class UnknownCitation(DomainError):
    """``cites`` names an event the story does not hold."""

    title = "Unknown cited event"


class StanceNotAllowed(DomainError):
    """The event type does not allow this stance."""

    title = "Stance not allowed for this event type"


class MissingField(DomainError):
    """A field the rules require for this event or stance is absent."""

    title = "Missing field"


class DuplicateInEvent(DomainError):
    """The same claim or document appears twice where it may appear once."""

    title = "Duplicate entry in one event"


class TextTooLarge(DomainError):
    """A text is larger than the 1 MiB limit."""

    title = "Text too large"


class PublishedAfterRecording(DomainError):
    """``published_at`` is later than the time the event is recorded (beyond the clock skew
    allowed): a record of what was public cannot hold an event that was not public yet."""

    title = "Published after it was recorded"


class EventConflict(DomainError):
    """The event id is already used in the story, stored or earlier in the same append or file,
    with a different body (ids are idempotency keys)."""

    title = "Event id already used with a different body"


class StoryNotFound(DomainError):
    """No story has this id."""

    title = "Story not found"


class VersionMismatch(DomainError):
    """The story has moved on from the version the writer expected."""

    title = "Story version does not match"

    def __init__(self, detail: str, expected: int, actual: int) -> None:
        super().__init__(detail)
        self.expected = expected
        self.actual = actual
