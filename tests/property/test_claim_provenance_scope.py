"""A claim's provenance, read narrowly (its acts' events, what they cite, what publishes the same
documents, a wave at a time), is the document the whole story's scope would give it (decision
051): for any history, batching, (T, R) and claim, public or not."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from hypothesis import given

from domain.errors import UnknownClaim
from domain.events import ReportingEvent
from service.application import Ledger
from service.provenance import Json, prov_of, provenance_document
from service.provenance_scope import Scope, read_scope
from tests.property.test_projection_matches_fold import CUTS, PROBES, PROPERTY, record_in_batches
from tests.strategies import BASE, CLAIMS, histories


def closure(scope: Scope, start: Iterable[str]) -> set[str]:
    """The events, the events they cite, and every event publishing the same documents, found
    in the whole story's scope (provenance's own search before decision 051)."""
    by_document = {d: {a.event_id for a in acts} for d, acts in scope.document_acts.items()}
    found: set[str] = set()
    todo = [e for e in start if e in scope.events]
    while todo:
        event_id = todo.pop()
        if event_id in found:
            continue
        found.add(event_id)
        event = scope.events[event_id]
        todo.extend(c for c in event.cites if c in scope.events)
        if event.document is not None:
            todo.extend(by_document.get(event.document, ()))
    return found


def from_the_whole_story(
    ledger: Ledger, story: str, claim: str, at: datetime, recorded_before: datetime | None
) -> Json | None:
    """The claim's provenance cut from the story's scope; None when the claim is not public."""
    whole = read_scope(ledger, story, at, recorded_before)
    claims = [c for c in whole.claims if c.id == claim]
    if not claims:
        return None
    acts = whole.claim_acts.get(claim, [])
    events = closure(whole, (a.event_id for a in acts))
    cut = Scope(
        story,
        {e: row for e, row in whole.events.items() if e in events},
        claims,
        {claim: acts},
        {
            d: document_acts
            for d, document_acts in whole.document_acts.items()
            if any(a.event_id in events for a in document_acts)
        },
    )
    return prov_of(cut)


def narrowly(
    ledger: Ledger, story: str, claim: str, at: datetime, recorded_before: datetime | None
) -> Json | None:
    """The claim's provenance as the service answers it; None when it says the claim is not
    public."""
    try:
        return provenance_document(ledger, story, claim, at, recorded_before)
    except UnknownClaim:
        return None


@PROPERTY
@given(events=histories(), cuts=CUTS, probes=PROBES)
def test_a_claim_s_provenance_is_the_whole_story_s_cut_to_it(
    ledger: Ledger, events: list[ReportingEvent], cuts: list[int], probes: list[tuple[int, int]]
) -> None:
    story = f"s-{uuid.uuid4().hex[:8]}"
    stored = record_in_batches(ledger, story, events, cuts)
    recorded_times = sorted({r.recorded_at for r in stored})
    for minutes, r_index in probes:
        at = BASE + timedelta(minutes=minutes)
        before = recorded_times[r_index] if r_index < len(recorded_times) else None
        for claim in CLAIMS:
            expected = from_the_whole_story(ledger, story, claim, at, before)
            assert narrowly(ledger, story, claim, at, before) == expected
