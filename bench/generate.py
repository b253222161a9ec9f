"""A deterministic synthetic newsroom: stories of reporting events, written as import JSONL.

Every story has ``events_per_story`` events and about ``claims_per_story`` claims (so later
events confirm, dispute, correct and retract claims already made); ~3 claim stances per
event; 300-800 bytes per line; documents leaked and later released, or corrected (new
revisions); a fraction of events recorded late (published before events already in the file).
Stories are interleaved in runs, as a ledger fed by many desks would see them. The file is
written line by line: nothing but the per-story state is held in memory.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

TYPE_WEIGHTS: dict[str, float] = {
    "story_published": 0.46,
    "report_confirmed": 0.18,
    "response_issued": 0.14,
    "document_released": 0.08,
    "draft_leaked": 0.04,
    "correction_issued": 0.06,
    "claim_retracted": 0.04,
}
STANCES: dict[str, tuple[tuple[str, float], ...]] = {
    "draft_leaked": (("asserts", 1.0),),
    "story_published": (("asserts", 0.55), ("confirms", 0.45)),
    "report_confirmed": (("confirms", 0.8), ("asserts", 0.2)),
    "response_issued": (("disputes", 0.5), ("acknowledges", 0.3), ("asserts", 0.2)),
    "document_released": (("asserts", 0.5), ("confirms", 0.5)),
    "correction_issued": (("corrects", 0.7), ("retracts", 0.3)),
    "claim_retracted": (("retracts", 1.0),),
}
OUTLETS = (
    "nyt",
    "wapo",
    "nbc",
    "cbs",
    "abc",
    "cnn",
    "ap",
    "reuters",
    "guardian",
    "bbc",
    "npr",
    "propublica",
    "politico",
    "axios",
    "wsj",
    "latimes",
    "bloomberg",
    "vice",
    "intercept",
    "buzzfeed",
)
AGENCIES = (
    "doj",
    "dhs",
    "oig",
    "cbp",
    "ice",
    "hhs",
    "dos",
    "fbi",
    "gao",
    "senate",
    "house",
    "whitehouse",
)
WORDS = (
    "the",
    "department",
    "said",
    "report",
    "draft",
    "memo",
    "policy",
    "border",
    "children",
    "families",
    "separated",
    "officials",
    "inspector",
    "general",
    "prosecutors",
    "attorney",
    "court",
    "order",
    "review",
    "agency",
    "record",
    "according",
    "documents",
    "showed",
    "that",
    "was",
    "were",
    "had",
    "been",
    "would",
    "not",
    "before",
    "after",
    "during",
    "administration",
    "program",
    "pilot",
    "announced",
    "confirmed",
    "disputed",
    "later",
    "earlier",
    "statement",
    "internal",
    "email",
    "meeting",
    "vote",
    "senior",
    "staff",
    "office",
    "federal",
    "judge",
    "ruling",
    "data",
    "count",
    "number",
    "hundreds",
    "thousands",
    "weeks",
    "months",
    "public",
    "release",
    "version",
    "final",
    "leaked",
    "copy",
)
EPOCH = datetime(2015, 1, 1, tzinfo=UTC)
STORY_SPAN = 1000 * 21_600
"""About how long a story runs, in seconds (~250 days): its events come ~6 hours apart in a
story of 1,000, closer in a longer one, so that stories of any length begin within ten years
of ``EPOCH`` and end before 2026 (an event published after it is recorded is refused)."""

_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class Shape:
    """What to generate: how many events, in stories of what size, with what seed."""

    events: int
    events_per_story: int = 1000
    claims_per_story: int = 100
    late_fraction: float = 0.05
    seed: int = 1
    prefix: str = "story"

    @property
    def stories(self) -> int:
        """The number of stories (the last may be shorter)."""
        return max(1, math.ceil(self.events / self.events_per_story))


@dataclass
class Generated:
    """What a generated file holds, for the results file."""

    path: Path
    events: int = 0
    stories: int = 0
    bytes: int = 0
    min_line_bytes: int = 1 << 30
    max_line_bytes: int = 0
    late: int = 0
    revisions: int = 0
    stances: int = 0
    claims: int = 0
    documents: int = 0

    def summary(self) -> dict[str, Any]:
        """The figures of the file, JSON-ready."""
        n = max(self.events, 1)
        return {
            "events": self.events,
            "stories": self.stories,
            "claims": self.claims,
            "documents": self.documents,
            "bytes": self.bytes,
            "mean_line_bytes": round(self.bytes / n, 1),
            "min_line_bytes": self.min_line_bytes,
            "max_line_bytes": self.max_line_bytes,
            "late_fraction": round(self.late / n, 4),
            "document_revisions": self.revisions,
            "stances_per_event": round(self.stances / n, 3),
        }


@dataclass
class StoryDesk:
    """The generator's memory of one story: its claims, documents, clock and recent events."""

    id: str
    quota: int
    claim_target: int
    sources: tuple[str, ...]
    clock: datetime
    start: datetime
    written: int = 0
    claims: list[str] = field(default_factory=list)
    drafts: list[tuple[str, str]] = field(default_factory=list)
    documents: list[tuple[str, str]] = field(default_factory=list)
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=32))


def words(rng: random.Random, low: int, high: int) -> str:
    """A sentence of ``low``..``high`` words from the vocabulary."""
    return " ".join(rng.choices(WORDS, k=rng.randint(low, high))).capitalize() + "."


def stamp(moment: datetime) -> str:
    """RFC 3339 in UTC with ``Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Newsroom:
    """Writes the events of all stories, interleaved, deterministically from the seed."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.rng = random.Random(shape.seed)
        self.types = list(TYPE_WEIGHTS)
        self.type_weights = list(TYPE_WEIGHTS.values())

    def desks(self) -> list[StoryDesk]:
        """One desk per story, each with its own sources and start date."""
        rng, shape = self.rng, self.shape
        found = []
        left = shape.events
        for index in range(shape.stories):
            quota = min(shape.events_per_story, left)
            left -= quota
            start = EPOCH + timedelta(days=rng.uniform(0, 3650))
            sources = (*rng.sample(OUTLETS, 8), *rng.sample(AGENCIES, 4))
            target = max(1, round(shape.claims_per_story * quota / shape.events_per_story))
            found.append(
                StoryDesk(f"{shape.prefix}-{index:05d}", quota, target, sources, start, start)
            )
        return found

    def lines(self, generated: Generated) -> Iterator[bytes]:
        """Every event as one JSONL line, stories interleaved in runs of 1-40 events."""
        rng = self.rng
        active = self.desks()
        generated.stories = len(active)
        while active:
            slot = rng.randrange(len(active))
            desk = active[slot]
            for _ in range(min(desk.quota - desk.written, rng.randint(1, 40))):
                line = _encode(self.event(desk, generated)) + b"\n"
                generated.events += 1
                generated.bytes += len(line)
                generated.min_line_bytes = min(generated.min_line_bytes, len(line))
                generated.max_line_bytes = max(generated.max_line_bytes, len(line))
                yield line
            if desk.written >= desk.quota:
                active[slot] = active[-1]
                active.pop()

    def write(self, path: Path) -> Generated:
        """Write the JSONL file and return its figures."""
        generated = Generated(path)
        with path.open("wb") as out:
            out.writelines(self.lines(generated))
        return generated

    def event(self, desk: StoryDesk, generated: Generated) -> dict[str, Any]:
        """The next event of ``desk``, as an import line."""
        rng = self.rng
        kind = "story_published" if not desk.claims else self.pick_type()
        source = rng.choice(desk.sources[:8] if kind != "response_issued" else desk.sources[8:])
        if kind in ("document_released", "claim_retracted") and rng.random() < 0.5:
            source = rng.choice(desk.sources)
        desk.clock += timedelta(seconds=rng.expovariate(self.shape.events_per_story / STORY_SPAN))
        published = desk.clock
        if desk.written > 10 and rng.random() < self.shape.late_fraction:
            published = desk.start + (desk.clock - desk.start) * rng.random()
            generated.late += 1
        line: dict[str, Any] = {
            "story": desk.id,
            "id": f"ev-{desk.written:06d}-{source}",
            "type": kind,
            "source": source,
            "published_at": stamp(published),
        }
        document = self.document(desk, kind, source, generated)
        if document is not None:
            line["document"] = document
        line["claims"] = self.claims(desk, kind, published, generated)
        if desk.recent and rng.random() < 0.3:
            line["cites"] = sorted(set(rng.sample(list(desk.recent), min(2, len(desk.recent)))))
        self.fit(line, rng.randint(300, 800))
        desk.recent.append(line["id"])
        desk.written += 1
        return line

    def pick_type(self) -> str:
        """A type from the mix."""
        return self.rng.choices(self.types, self.type_weights)[0]

    def document(
        self, desk: StoryDesk, kind: str, source: str, generated: Generated
    ) -> dict[str, Any] | None:
        """The document the event makes public, if any: new, released after a leak, or revised."""
        rng = self.rng
        if kind == "draft_leaked":
            author = rng.choice(desk.sources[8:])
            doc_id = f"{author}-draft-{desk.written:06d}"
            desk.drafts.append((doc_id, author))
            generated.documents += 1
            return {"id": doc_id, "title": words(rng, 4, 9), "author": author, "text": ""}
        if kind == "document_released":
            if desk.drafts and rng.random() < 0.5:
                doc_id, author = desk.drafts.pop(rng.randrange(len(desk.drafts)))
                generated.revisions += 1
                return {"id": doc_id, "title": words(rng, 4, 9), "author": author, "text": ""}
            doc_id = f"{source}-release-{desk.written:06d}"
            desk.documents.append((doc_id, source))
            generated.documents += 1
            return {"id": doc_id, "title": words(rng, 4, 9), "author": source, "text": ""}
        if kind == "correction_issued" and desk.documents and rng.random() < 0.6:
            doc_id, author = rng.choice(desk.documents)
            generated.revisions += 1
            return {"id": doc_id, "title": words(rng, 4, 9), "author": author, "text": ""}
        if kind == "story_published" and rng.random() < 0.6:
            doc_id = f"{source}-article-{desk.written:06d}"
            desk.documents.append((doc_id, source))
            generated.documents += 1
            return {
                "id": doc_id,
                "title": words(rng, 4, 9),
                "url": f"https://{source}.example/{desk.id}/{desk.written}",
                "text": "",
            }
        return None

    def claims(
        self, desk: StoryDesk, kind: str, published: datetime, generated: Generated
    ) -> list[dict[str, Any]]:
        """About three distinct claim stances allowed for the type; claims grow toward the target.

        The first event of a story (always ``story_published``) asserts only.
        """
        rng = self.rng
        stances, weights = zip(*STANCES[kind], strict=True)
        count = rng.choice((1, 2, 3, 3, 3, 4, 5))
        chosen: dict[str, dict[str, Any]] = {}
        for _ in range(count):
            stance = rng.choices(stances, weights)[0]
            if not desk.claims:
                stance = "asserts"
            due = desk.claim_target * (desk.written + 1) / desk.quota
            if stance == "asserts" and (not desk.claims or len(desk.claims) < due):
                claim_id = f"claim-{len(desk.claims):04d}"
                desk.claims.append(claim_id)
                generated.claims += 1
            else:
                claim_id = self.existing_claim(desk)
            if claim_id in chosen:
                continue
            claim: dict[str, Any] = {"id": claim_id, "stance": stance}
            if stance in ("asserts", "corrects"):
                claim["text"] = words(rng, 4, 10)
                if rng.random() < 0.4:
                    occurred = published - timedelta(days=rng.randint(1, 400))
                    claim["occurred_at"] = occurred.strftime("%Y-%m-%d")
            chosen[claim_id] = claim
        generated.stances += len(chosen)
        return list(chosen.values())

    def existing_claim(self, desk: StoryDesk) -> str:
        """A claim already made: recent ones more often, as news follows the latest turn."""
        rng = self.rng
        if rng.random() < 0.5:
            back = min(len(desk.claims) - 1, int(rng.expovariate(1 / 8)))
            return desk.claims[-1 - back]
        return rng.choice(desk.claims)

    def fit(self, line: dict[str, Any], target: int) -> None:
        """Pad the document text (or add a note) so the line is about ``target`` bytes."""
        room = target - len(_encode(line))
        document = line.get("document")
        if document is not None:
            document["text"] = self.filler(max(room, 24))
        elif room > 0:
            line["note"] = self.filler(room - 10)

    def filler(self, size: int) -> str:
        """About ``size`` bytes of prose (nothing when ``size`` is small)."""
        parts: list[str] = []
        total = 0
        while not parts or total < size - 8:
            word = self.rng.choice(WORDS)
            parts.append(word)
            total += len(word) + 1
        return " ".join(parts)


def generate(shape: Shape, folder: Path) -> Generated:
    """Write the events of ``shape`` to a JSONL file in ``folder``."""
    path = folder / f"events-{shape.events}-seed{shape.seed}.jsonl"
    return Newsroom(shape).write(path)
