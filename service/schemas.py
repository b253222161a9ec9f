"""Wire schemas: strict request types derived from the domain events, and the response Structs.

Requests reject unknown fields (``forbid_unknown_fields``); the strict classes subclass the
domain's lenient ones, so the domain matches on them unchanged. Decoders are built once.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

from domain import events as ev
from domain.knowledge import ClaimStatus

StoryId = Annotated[str, Meta(pattern=ev.ID_PATTERN, description="a story id")]


class StrictDocument(ev.Document, frozen=True, forbid_unknown_fields=True):
    """A document as a request carries it."""


class StrictClaimStance(ev.ClaimStance, frozen=True, forbid_unknown_fields=True):
    """A claim stance as a request carries it."""


def _strict(cls: type[ev.ReportingEvent], extra: list[tuple[str, Any]]) -> type[Any]:
    """A strict subclass of one reporting event class (with ``extra`` fields prepended)."""
    config = cls.__struct_config__
    return msgspec.defstruct(
        f"Strict{cls.__name__}{'Line' if extra else ''}",
        [
            *extra,
            ("document", StrictDocument | None, None),
            (
                "claims",
                Annotated[tuple[StrictClaimStance, ...], Meta(max_length=ev.MAX_CLAIMS)],
                (),
            ),
        ],
        bases=(cls,),
        module=__name__,
        frozen=True,
        omit_defaults=True,
        forbid_unknown_fields=True,
        kw_only=True,
        tag=config.tag,
        tag_field=config.tag_field,
    )


STRICT_EVENTS = tuple(_strict(cls, []) for cls in ev.EVENT_CLASSES)
STRICT_LINES = tuple(_strict(cls, [("story", StoryId)]) for cls in ev.EVENT_CLASSES)

StrictEvent = STRICT_EVENTS[0]
for _cls in STRICT_EVENTS[1:]:
    StrictEvent = StrictEvent | _cls  # type: ignore[assignment]
StrictLine = STRICT_LINES[0]
for _cls in STRICT_LINES[1:]:
    StrictLine = StrictLine | _cls  # type: ignore[assignment]

event_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(StrictEvent)
events_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(
    StrictEvent | Annotated[list[StrictEvent], Meta(max_length=1000)]  # type: ignore[valid-type]
)
line_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(StrictLine)


def _field_order(line_class: type[Any]) -> tuple[type[ev.ReportingEvent], tuple[int, ...]]:
    """The reporting event class of a line class, and where each of its fields sits in a line."""
    base: type[ev.ReportingEvent] = line_class.__mro__[1]
    fields = line_class.__struct_fields__
    return base, tuple(fields.index(name) for name in base.__struct_fields__)


_LINE_FIELDS = {cls: _field_order(cls) for cls in STRICT_LINES}


def without_story(line: Any) -> ev.ReportingEvent:
    """The reporting event of an import line: the same fields, less ``story``."""
    base, order = _LINE_FIELDS[type(line)]
    values = msgspec.structs.astuple(line)
    return base(*[values[i] for i in order])


_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
_AT_PATH = re.compile(r" - at `\$([^`]*)`$")


def pointer_of(error: msgspec.ValidationError | msgspec.DecodeError) -> tuple[str, str]:
    """Split a msgspec error into (JSON pointer, reason): ``$.claims[0].stance`` → ``/claims/0/stance``."""
    message = str(error)
    match = _AT_PATH.search(message)
    if match is None:
        field = re.search(r"missing required field `([^`]+)`|unknown field `([^`]+)`", message)
        name = (field.group(1) or field.group(2)) if field else ""
        return (f"/{name}" if name else "", message)
    path = "".join(f"/{m.group(1) or m.group(2)}" for m in _PATH_PART.finditer(match.group(1)))
    reason = message[: match.start()]
    field = re.search(r"missing required field `([^`]+)`|unknown field `([^`]+)`", reason)
    if field:
        path += f"/{field.group(1) or field.group(2)}"
    return (path, reason)


class Receipt(Struct, frozen=True):
    """What an append answers for each event: where and when it was recorded, and by whom."""

    story: str
    id: str
    position: int
    story_version: int
    recorded_at: datetime
    recorded_by: str


class StoredEventView(Struct, frozen=True):
    """A stored reporting event with its metadata."""

    story: str
    position: int
    story_version: int
    recorded_at: datetime
    recorded_by: str
    event: msgspec.Raw


class StorySummary(Struct, frozen=True):
    """One story's counts, public time span and version."""

    story: str
    events: int
    claims: int
    documents: int
    first_published_at: datetime
    last_published_at: datetime
    story_version: int


class HistoryEntry(Struct, frozen=True):
    """A claim's state right after an event that changed it."""

    at: datetime
    event: str
    source: str
    stance: str
    visible: bool
    status: ClaimStatus
    text: str | None
    supported_by: tuple[str, ...]
    disputed_by: tuple[str, ...]


class ClaimHistory(Struct, frozen=True):
    """Every change of one claim, in public order."""

    story: str
    claim: str
    recorded_before: datetime | None
    history: tuple[HistoryEntry, ...]


class Change(Struct, frozen=True, omit_defaults=True):
    """Something that became known, or changed, at ``at``."""

    at: datetime
    event: str
    kind: str
    claim: str | None = None
    document: str | None = None
    status: str | None = None
    previous_status: str | None = None
    revision: int | None = None


class Changes(Struct, frozen=True):
    """What became known or changed status in (``from``, ``to``]."""

    story: str
    from_: datetime = msgspec.field(name="from")
    to: datetime | None = None
    recorded_before: datetime | None = None
    changes: tuple[Change, ...] = ()


class TimelineEntry(Struct, frozen=True):
    """One event of a story's timeline."""

    published_at: datetime
    id: str
    type: str
    source: str
    summary: str
    position: int
    recorded_at: datetime


class Timeline(Struct, frozen=True):
    """A story's events in public order."""

    story: str
    recorded_before: datetime | None
    events: tuple[TimelineEntry, ...]
