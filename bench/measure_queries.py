"""In-process reads: knowledge at (T, R), one claim's status and history, and the naive fold,
per query."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from time import perf_counter_ns
from typing import Any

import msgspec
from msgspec import Struct

from bench.naive import naive_knowledge
from bench.questions import Question, sample_questions
from bench.stats import percentile
from service.application import Ledger

encode = msgspec.json.Encoder().encode


class QueryJob(Struct, frozen=True):
    """How many questions of each kind to ask of one database."""

    database: str
    seed: int
    knowledge: int = 1000
    claims: int = 5000
    histories: int = 1000
    naive: int = 30
    warmup: int = 50


def latencies_us(questions: Sequence[Question], ask: Callable[[Question], object]) -> list[float]:
    """Microseconds per question, each timed alone."""
    found = []
    for question in questions:
        start = perf_counter_ns()
        ask(question)
        found.append((perf_counter_ns() - start) / 1000)
    return found


def summary(samples: Sequence[float]) -> dict[str, float]:
    """p50 and p99 in microseconds, and the count."""
    return {
        "p50_us": percentile(samples, 0.5),
        "p99_us": percentile(samples, 0.99),
        "count": len(samples),
    }


def queries(job: QueryJob) -> dict[str, Any]:
    """Latencies of each kind of read, and whether the naive fold agrees with the projections."""
    ledger = Ledger(job.database)
    try:
        asked = sample_questions(ledger, job.seed, max(job.knowledge, job.claims) + job.warmup)
        reader = ledger.reader

        def knowledge(q: Question) -> object:
            return reader.knowledge(q.story, q.at, q.recorded_before)

        def claim(q: Question) -> object:
            return reader.claim_state(q.story, q.claim, q.at, q.recorded_before)

        def history(q: Question) -> object:
            return reader.history(q.story, q.claim, q.recorded_before)

        def naive(q: Question) -> object:
            return naive_knowledge(ledger, q.story, q.at, q.recorded_before)

        latencies_us(asked[: job.warmup], knowledge)
        latencies_us(asked[: job.warmup], claim)
        latencies_us(asked[: job.warmup], history)
        latencies_us(asked[:2], naive)
        timed = asked[job.warmup :]
        shown = [reader.knowledge(q.story, q.at, q.recorded_before) for q in timed[:200]]
        claims_shown = [len(answer.claims) for answer in shown]
        event_ids_shown = [sum(len(c.events) for c in answer.claims) for answer in shown]
        answer_bytes = [len(encode(answer)) for answer in shown]
        mismatches = sum(encode(naive(q)) != encode(knowledge(q)) for q in timed[: job.naive])
        return {
            "knowledge": summary(latencies_us(timed[: job.knowledge], knowledge)),
            "claim_status": summary(latencies_us(timed[: job.claims], claim)),
            "claim_history": summary(latencies_us(timed[: job.histories], history)),
            "naive": summary(latencies_us(timed[: job.naive], naive)),
            "naive_mismatches": mismatches,
            "mean_claims_per_answer": sum(claims_shown) / max(len(claims_shown), 1),
            "mean_event_ids_per_answer": sum(event_ids_shown) / max(len(event_ids_shown), 1),
            "mean_answer_bytes": sum(answer_bytes) / max(len(answer_bytes), 1),
        }
    finally:
        ledger.close()
