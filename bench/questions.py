"""The random questions asked of an imported database: (story, T, R) and one claim of the story."""

from __future__ import annotations

import random
from datetime import datetime
from urllib.parse import quote

from msgspec import Struct

from service.application import Ledger
from service.projections.rows import from_micros


class Question(Struct, frozen=True):
    """Knowledge of ``story`` at ``at`` as recorded before ``recorded_before``; ``claim`` for status."""

    story: str
    at: datetime
    recorded_before: datetime | None
    claim: str


def sample_questions(ledger: Ledger, seed: int, count: int) -> list[Question]:
    """``count`` questions: a random story, T uniform over its public span, R unset half the time.

    When set, R is a recording time of one of the story's events (or just after it), so both
    sides of an append are asked about.
    """
    rng = random.Random(seed)
    stories = ledger.reader.stories()
    q = ledger.dialect.sql
    recorded_at_of = q(
        "SELECT recorded_at FROM kw_events WHERE story = ? ORDER BY position LIMIT 1 OFFSET ?"
    )
    claim_at = q("SELECT claim FROM kw_claims WHERE story = ? ORDER BY claim LIMIT 1 OFFSET ?")
    found = []
    with ledger.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        for _ in range(count):
            summary = rng.choice(stories)
            span = summary.last_published_at - summary.first_published_at
            at = summary.first_published_at + span * rng.random()
            recorded_before = None
            if rng.random() < 0.5:
                cursor.execute(recorded_at_of, (summary.story, rng.randint(0, summary.events - 1)))
                row = cursor.fetchone()
                if row is not None:
                    recorded_before = from_micros(row["recorded_at"] + rng.choice((0, 1)))
            cursor.execute(claim_at, (summary.story, rng.randrange(max(summary.claims, 1))))
            row = cursor.fetchone()
            claim = row["claim"] if row is not None else "claim-0000"
            found.append(Question(summary.story, at, recorded_before, claim))
    return found


def rfc3339(moment: datetime) -> str:
    """A UTC timestamp with microseconds and ``Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def knowledge_path(question: Question) -> str:
    """The HTTP path asking ``question``."""
    path = f"/v1/stories/{quote(question.story)}/knowledge?at={rfc3339(question.at)}"
    if question.recorded_before is not None:
        path += f"&recorded_before={rfc3339(question.recorded_before)}"
    return path


def knowledge_paths(database: str, seed: int, count: int) -> list[str]:
    """The knowledge paths of ``count`` sampled questions about the stories in ``database``."""
    ledger = Ledger(database)
    try:
        return [knowledge_path(q) for q in sample_questions(ledger, seed, count)]
    finally:
        ledger.close()
