"""Short builders for reporting events in tests."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from domain.events import EVENT_CLASSES, ClaimStance, Document, ReportingEvent
from domain.knowledge import RecordedEvent

BY_TAG = {str(cls.__struct_config__.tag): cls for cls in EVENT_CLASSES}
RECORDED = datetime(2026, 1, 1, tzinfo=UTC)


def at(text: str) -> datetime:
    """A UTC time from a short ISO string (``2020-10-06T22:00``)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def claim(
    claim_id: str, stance: str, text: str | None = None, occurred_at: str | None = None
) -> ClaimStance:
    """A claim stance; asserts and corrects get a default text."""
    if text is None and stance in ("asserts", "corrects"):
        text = f"{claim_id} ({stance})"
    return msgspec.convert(
        {"id": claim_id, "stance": stance, "text": text, "occurred_at": occurred_at}, ClaimStance
    )


def document(
    doc_id: str, author: str | None = None, text: str | None = "text", title: str | None = None
) -> Document:
    """A document with a default title."""
    return Document(id=doc_id, title=title or f"{doc_id} title", author=author, text=text)


def event(
    tag: str,
    event_id: str,
    source: str,
    published: str,
    *claims: ClaimStance,
    doc: Document | None = None,
    cites: tuple[str, ...] = (),
) -> ReportingEvent:
    """A reporting event of type ``tag``."""
    return BY_TAG[tag](
        id=event_id,
        source=source,
        published_at=at(published),
        document=doc,
        claims=tuple(claims),
        cites=cites,
    )


def recorded(story: str, *events: ReportingEvent) -> list[RecordedEvent]:
    """Events as recorded in the order given, positions 1, 2, …"""
    return [
        RecordedEvent(story, e, position=i, recorded_at=RECORDED, recorded_by="test")
        for i, e in enumerate(events, start=1)
    ]
