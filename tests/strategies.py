"""Hypothesis strategies: valid story histories, in the order they are recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from domain.events import ClaimStance, Document, ReportingEvent, Stance
from tests.builders import BY_TAG

SOURCES = ("nyt", "nbc", "doj", "doj-oig", "guardian")
CLAIMS = ("c1", "c2", "c3", "c4")
DOCUMENTS = ("d1", "d2")
BASE = datetime(2020, 10, 1, tzinfo=UTC)
ALLOWED: dict[str, list[Stance]] = {tag: sorted(cls.allowed_stances) for tag, cls in BY_TAG.items()}


@st.composite
def histories(draw: st.DrawFn, max_events: int = 12) -> list[ReportingEvent]:
    """A list of events valid when recorded in list order; public times are shuffled."""
    events: list[ReportingEvent] = []
    asserted: set[str] = set()
    for index in range(draw(st.integers(1, max_events))):
        tag = draw(st.sampled_from(sorted(BY_TAG)))
        source = draw(st.sampled_from(SOURCES))
        stances = [s for s in ALLOWED[tag] if s == "asserts" or asserted]
        claims: list[ClaimStance] = []
        if stances:
            for claim_id in draw(st.lists(st.sampled_from(CLAIMS), max_size=3, unique=True)):
                options = [s for s in stances if s == "asserts" or claim_id in asserted]
                if not options:
                    continue
                stance = draw(st.sampled_from(options))
                text = (
                    draw(st.sampled_from(["one", "two"]))
                    if stance in ("asserts", "corrects")
                    else None
                )
                claims.append(
                    ClaimStance(
                        id=claim_id, stance=stance, text=f"{claim_id} {text}" if text else None
                    )
                )
        document = None
        if BY_TAG[tag].requires_document or draw(st.booleans()):
            document = Document(
                id=draw(st.sampled_from(DOCUMENTS)),
                title=draw(st.sampled_from(["A", "B"])),
                author=draw(st.sampled_from([None, source, "doj-oig"])),
                text=draw(st.sampled_from(["x", "y", None])),
            )
        published = BASE + timedelta(hours=draw(st.integers(0, 8)))
        cites = (
            tuple(draw(st.lists(st.sampled_from([e.id for e in events]), max_size=2, unique=True)))
            if events
            else ()
        )
        events.append(
            BY_TAG[tag](
                id=f"e{index}",
                source=source,
                published_at=published,
                document=document,
                claims=tuple(claims),
                cites=cites,
            )
        )
        asserted.update(c.id for c in claims if c.stance == "asserts")
    return events


def moments() -> st.SearchStrategy[datetime]:
    """Times around the public times ``histories`` uses."""
    return st.integers(-1, 9 * 60).map(lambda minutes: BASE + timedelta(minutes=minutes * 1))
