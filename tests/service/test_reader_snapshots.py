"""The reader's snapshots on both backends: statements inside one read one state of the
database, whatever commits meanwhile; a statement outside any sees the latest."""

from __future__ import annotations

from datetime import UTC, datetime

from service.application import Ledger
from tests.builders import claim, event


def record(ledger: Ledger, event_id: str, published_at: str) -> int:
    """Append one event to the story from ``ledger``; its position."""
    asserts = claim(f"claim-{event_id}", "asserts")
    result = ledger.append(
        "story", [event("story_published", event_id, "nyt", published_at, asserts)], "tests"
    )
    return result.receipts[0].position


def test_a_snapshot_does_not_see_a_commit_made_during_it(ledger: Ledger, database: str) -> None:
    first = record(ledger, "e1", "2020-10-07T18:00")
    at = datetime(2020, 10, 9, tzinfo=UTC)
    other = Ledger(database)  # another connection, as another worker or an import would be
    try:
        with ledger.reader.snapshot():
            assert ledger.reader.position() == first
            second = record(other, "e2", "2020-10-08T18:00")
            assert ledger.reader.position() == first
            assert ledger.reader.position_and_tip("story")[0] == first
            assert ledger.reader.knowledge("story", at, None).events_applied == 1
    finally:
        other.close()
    assert ledger.reader.position() == second
    assert ledger.reader.knowledge("story", at, None).events_applied == 2
