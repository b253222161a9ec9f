"""What a long story makes expensive, asked in a fresh process over the imported store
(``python -m bench.long_story`` runs it through ``bench.worker``)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from msgspec import Struct

from bench.stats import figure
from domain.events import StoryPublished
from service.application import Ledger
from service.provenance import provenance_document
from service.schemas import Timeline
from service.story_loading import load_story

STORY = "long-00000"
"""The one story ``bench.generate`` writes with the prefix ``long``."""


class ReadsJob(Struct, frozen=True):
    """The reads and the one append asked of an imported long story."""

    database: str
    story: str = STORY
    samples: int = 20
    seed: int = 1


def timed(action: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    """Seconds ``action(*args)`` took, and what it returned."""
    start = time.perf_counter()
    value = action(*args)
    return time.perf_counter() - start, value


def long_story_reads(job: ReadsJob) -> dict[str, Any]:
    """In a fresh process over the imported store: the story taken up (``load_story``), its
    first append, knowledge at sampled times, sampled claims' provenance, then the whole-story
    answers once each (knowledge now, the timeline, the story's provenance), each as its
    encoded size and time."""
    ledger = Ledger(job.database)
    try:
        loads = [
            timed(lambda: load_story(ledger.recorder, ledger.mapper, ledger.reader, job.story))[0]
            for _ in range(5)
        ]
        imported = ledger.reader.story(job.story)
        assert imported is not None, f"no story {job.story!r}"
        appended = StoryPublished(
            id="long-story-bench-append",
            source="bench",
            published_at=datetime.now(UTC) - timedelta(minutes=1),
        )
        first_append, _ = timed(lambda: ledger.append(job.story, [appended], "bench"))
        rng = random.Random(job.seed)
        span = (imported.last_published_at - imported.first_published_at).total_seconds()
        times = [
            imported.first_published_at + timedelta(seconds=rng.uniform(0, span))
            for _ in range(job.samples)
        ]
        knowledge = [timed(ledger.reader.knowledge, job.story, at, None)[0] for at in times]
        now = datetime.now(UTC)
        claims = [c.id for c in ledger.reader.knowledge(job.story, now, None).claims]
        asked = rng.sample(claims, min(job.samples, len(claims)))
        claim_provenance = [
            timed(provenance_document, ledger, job.story, claim, now)[0] for claim in asked
        ]
        whole = {
            "knowledge_now": lambda: msgspec.json.encode(
                ledger.reader.knowledge(job.story, now, None)
            ),
            "timeline": lambda: msgspec.json.encode(
                Timeline(job.story, None, tuple(ledger.reader.timeline(job.story, None)))
            ),
            "story_provenance": lambda: msgspec.json.encode(
                provenance_document(ledger, job.story, None, now)
            ),
        }
        found: dict[str, Any] = {
            "events": imported.story_version,
            "claims": len(claims),
            "load_ms": figure([s * 1000 for s in loads], "ms"),
            "first_append_ms": round(first_append * 1000, 3),
            "knowledge_at_t_ms": figure([s * 1000 for s in knowledge], "ms"),
            "claim_provenance_ms": figure([s * 1000 for s in claim_provenance], "ms"),
        }
        for name, answer in whole.items():
            seconds, body = timed(answer)
            found[f"{name}_ms"] = round(seconds * 1000, 3)
            found[f"{name}_bytes"] = len(body)
    finally:
        ledger.close()
    return found
