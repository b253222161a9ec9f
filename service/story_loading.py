"""Loading a story from its stored events, decoding of each only what the story keeps.

The library rebuilds an aggregate by decoding every stored event whole and applying it. A
``Story`` keeps only a count of its events and the claims they assert (decision 052), so for its
recorded events this decodes a ``KeptRecord`` (no digest, no document, no texts, no patterns
checked: they were when the event was recorded) and applies that (``Story.remember_record``);
any other event is decoded and applied as the library would (decision 034).
"""

from __future__ import annotations

from typing import Any

import msgspec
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import AggregateRecorder, Mapper

from domain.story import KeptRecord, Story
from service.projections.rows import RECORDED_TOPIC

decode_kept = msgspec.json.Decoder(KeptRecord).decode


PAGE = 1000
"""Stored events read at a time: the library's ``select_events`` reads all a story has at once,
and one story of 500,000 events took ~580 MiB to load so (the rows, then the aggregate)."""


def load_story(recorder: AggregateRecorder, mapper: Mapper[Any], story_id: str) -> Story:
    """The story ``story_id``'s stored events make; ``AggregateNotFoundError`` if none."""
    story: Story | None = None
    version: int | None = None
    while True:
        page = recorder.select_events(story_id, gt=version, limit=PAGE)
        for stored in page:
            if story is not None and stored.topic == RECORDED_TOPIC:
                story.remember_record(decode_kept(stored.state))
            else:
                story = mapper.to_domain_event(stored).mutate(story)  # type: ignore[attr-defined]
        if len(page) < PAGE:
            break
        version = page[-1].originator_version
    if story is None:
        raise AggregateNotFoundError(f"story {story_id!r} has no stored events")
    return story
