"""The log's leaves: each stored reporting event as canonical JSON, the bytes its Merkle leaf hashes.

A leaf is the reporting event's fields plus ``story``, ``recorded_at`` and ``recorded_by``,
encoded by msgspec with every object's keys sorted, no whitespace, UTF-8; times are RFC 3339
in UTC with ``Z`` (docs/decisions/004-verifiable-log-and-provenance.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from domain.story import Story
from service.projections.rows import fields_of, from_micros

_encode = msgspec.json.Encoder(order="sorted").encode


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
    """The leaf of a stored ``Story.EventRecorded`` (what ``knewwhen verify`` recomputes)."""
    return leaf_bytes(
        recorded.originator_id,
        msgspec.to_builtins(recorded.event),
        recorded.timestamp,
        recorded.recorded_by,
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
