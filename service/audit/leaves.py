"""The log's leaves: each stored reporting event as canonical JSON, the bytes its Merkle leaf hashes.

A leaf is the reporting event's fields plus ``story``, ``recorded_at`` and ``recorded_by``,
encoded by msgspec with every object's keys sorted, no whitespace, UTF-8; times are RFC 3339
in UTC with ``Z`` (docs/decisions/004-verifiable-log-and-provenance.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

import msgspec

from domain.events import ReportingEvent
from domain.story import Story
from service.projections.rows import fields_of, from_micros

_encode = msgspec.json.Encoder(order="sorted").encode
_fields = msgspec.structs.astuple


def leaf_bytes(
    story: str, event: Mapping[str, Any], recorded_at: datetime, recorded_by: str
) -> bytes:
    """The canonical JSON of one stored reporting event (``event`` as JSON-ready builtins)."""
    return _encode(
        {
            **event,
            "story": story,
            "recorded_at": recorded_at.astimezone(UTC),
            "recorded_by": recorded_by,
        }
    )


def leaf_of_recorded(recorded: Story.EventRecorded) -> bytes:
    """The leaf of a stored ``Story.EventRecorded`` (what ``knewwhen verify`` recomputes):
    ``leaf_bytes`` of it, encoded from a struct of the event's class with the recording's
    fields beside its own (``leaf_class``), without building the event as builtins first
    (decision 044)."""
    event = recorded.event
    return _encode(
        leaf_class(type(event))(
            recorded.originator_id,
            recorded.timestamp.astimezone(UTC),
            recorded.recorded_by,
            *_fields(event),
        )
    )


@cache
def leaf_class(event_class: type[ReportingEvent]) -> type[msgspec.Struct]:
    """A struct of ``event_class``'s fields and tag, its defaults omitted as the event's are,
    with ``story``, ``recorded_at`` and ``recorded_by`` before them: sorted, it encodes to the
    bytes ``leaf_bytes`` makes of the event as builtins (the same keys and values)."""
    config = event_class.__struct_config__
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
        ("story", str),
        ("recorded_at", datetime),
        ("recorded_by", str),
    ]
    for field in msgspec.structs.fields(event_class):
        if field.required:
            fields.append((field.name, Any))
        elif field.default is not msgspec.NODEFAULT:
            fields.append((field.name, Any, field.default))
        else:
            fields.append((field.name, Any, msgspec.field(default_factory=field.default_factory)))
    return msgspec.defstruct(
        f"{event_class.__name__}Leaf",
        fields,
        tag_field=config.tag_field,
        tag=config.tag,
        omit_defaults=config.omit_defaults,
        frozen=True,
    )


def leaf_of_row(row: Any) -> bytes:
    """The leaf of a ``kw_events`` row (story, recorded_at, recorded_by) with its stored
    event's state (``recorded``: ``EventStore.join``)."""
    return leaf_bytes(
        row["story"],
        fields_of(bytes(row["recorded"])),
        from_micros(row["recorded_at"]),
        row["recorded_by"],
    )
