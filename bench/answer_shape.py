"""Why ``naive_vs_knewwhen`` tracks the answer, not the history: knowledge at T and the naive
fold of the same stories, at T early and late in each story's public span.

``python -m bench.answer_shape --database PATH_OR_URL [--stories 10] [--repeats 5]`` prints,
for T at 5, 25, 50 and 100 % of each story's span (means over the stories): the events applied
by T, the event ids the answer lists (each visible claim names the events applied to it), the
claims, knewwhen's time and the naive fold's (medians of the repeats), their quotient, and
knewwhen's time per event id listed. The naive fold reads and decodes the whole story whatever T
is; knewwhen's answer grows with the events applied by T. Read-only: any imported store will do.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from functools import partial
from time import perf_counter_ns
from typing import NamedTuple

from bench.naive import naive_knowledge
from service.application import Ledger

FRACTIONS = (0.05, 0.25, 0.5, 1.0)


class Shape(NamedTuple):
    """One story asked at one T: what the answer holds and what each side took."""

    applied: float
    event_ids: float
    claims: float
    knewwhen_us: float
    naive_us: float


def median_us(ask: Callable[[], object], repeats: int) -> float:
    """The median of ``repeats`` timings of ``ask``, in microseconds."""
    times = []
    for _ in range(repeats):
        start = perf_counter_ns()
        ask()
        times.append((perf_counter_ns() - start) / 1000)
    return statistics.median(times)


def shapes(ledger: Ledger, fraction: float, stories: int, repeats: int) -> list[Shape]:
    """Each of the first ``stories`` stories asked at ``fraction`` of its public span."""
    found = []
    for summary in ledger.reader.stories()[:stories]:
        span = summary.last_published_at - summary.first_published_at
        at = summary.first_published_at + span * fraction
        answer = ledger.reader.knowledge(summary.story, at, None)
        found.append(
            Shape(
                answer.events_applied,
                sum(len(claim.events) for claim in answer.claims),
                len(answer.claims),
                median_us(partial(ledger.reader.knowledge, summary.story, at, None), repeats),
                median_us(partial(naive_knowledge, ledger, summary.story, at, None), repeats),
            )
        )
    return found


def table(ledger: Ledger, stories: int, repeats: int) -> str:
    """The Markdown table, one row per fraction of the span."""
    lines = [
        "| T in span | events applied | event ids listed | claims | knewwhen µs | naive µs"
        " | naive ÷ knewwhen | knewwhen µs per event id |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for fraction in FRACTIONS:
        rows = shapes(ledger, fraction, stories, repeats)
        mean = Shape(*(statistics.fmean(column) for column in zip(*rows, strict=True)))
        lines.append(
            f"| {fraction:.0%} | {mean.applied:,.0f} | {mean.event_ids:,.0f} | {mean.claims:.0f}"
            f" | {mean.knewwhen_us:,.0f} | {mean.naive_us:,.0f}"
            f" | {mean.naive_us / mean.knewwhen_us:.1f}"
            f" | {mean.knewwhen_us / max(mean.event_ids, 1):.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Parse, ask, print."""
    parser = argparse.ArgumentParser(prog="python -m bench.answer_shape", description=__doc__)
    parser.add_argument("--database", required=True, help="an imported store (file or URL)")
    parser.add_argument("--stories", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    ledger = Ledger(args.database)
    try:
        print(table(ledger, args.stories, args.repeats))
    finally:
        ledger.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
