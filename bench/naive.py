"""Naive knowledge at T: read the story's whole stream from the store and fold it, per query."""

from __future__ import annotations

from datetime import datetime

from domain.knowledge import Knowledge, RecordedEvent, knowledge_at
from domain.story import Story
from service.application import Ledger


def naive_knowledge(
    ledger: Ledger, story: str, at: datetime, recorded_before: datetime | None
) -> Knowledge:
    """The reference fold over every stored event of ``story`` (version order is position order)."""
    recorded = []
    for stored in ledger.recorder.select_events(story):
        domain_event = ledger.mapper.to_domain_event(stored)
        if isinstance(domain_event, Story.EventRecorded):
            recorded.append(
                RecordedEvent(
                    story=story,
                    event=domain_event.event,
                    position=domain_event.originator_version,
                    recorded_at=domain_event.timestamp,
                    recorded_by=domain_event.recorded_by,
                )
            )
    return knowledge_at(story, recorded, at, recorded_before)
