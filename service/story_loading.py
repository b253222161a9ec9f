"""Loading a story: its first and last stored events, and the claims its projections hold.

The library rebuilds an aggregate by decoding every stored event and applying it. A ``Story``
keeps only the count of its events and the claims they assert (decision 052), and both are in
the store already: every stored event after the first (``Story.Opened``) records one reporting
event, so the last one's version counts them, and ``kw_claims`` holds each claim of the story,
which only an ``asserts`` may introduce. So a story of any length loads in a few index reads
(decision 053): the first event decoded whole and applied as the library would, the last one's
version and time, then the claims (``Story.resume``).
"""

from __future__ import annotations

from typing import Any

import msgspec
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import AggregateRecorder, Mapper

from domain.story import StoredTime, Story
from service.projections.reader import Reader
from service.projections.rows import RECORDED_TOPIC

decode_time = msgspec.json.Decoder(StoredTime).decode


def load_story(
    recorder: AggregateRecorder, mapper: Mapper[Any], reader: Reader, story_id: str
) -> Story:
    """The story ``story_id``'s stored events make; ``AggregateNotFoundError`` if none."""
    first = recorder.select_events(story_id, limit=1)
    if not first:
        raise AggregateNotFoundError(f"story {story_id!r} has no stored events")
    story: Story = mapper.to_domain_event(first[0]).mutate(None)  # type: ignore[attr-defined]
    (last,) = recorder.select_events(story_id, desc=True, limit=1)
    if last.originator_version == story.version:
        return story
    if last.topic != RECORDED_TOPIC:
        raise TypeError(f"story {story_id!r} ends in an event of an unknown kind: {last.topic}")
    # The claims are read after the version: a commit between the two can only add claims of
    # events past it, and an append decided on those fails to save at that version and is
    # decided again. Read the other way round, a claim asserted at the version could be missed.
    story.resume(
        version=last.originator_version,
        modified_on=decode_time(last.state).timestamp,
        claims=reader.claims_of(story_id),
    )
    return story
