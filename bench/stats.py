"""Summaries of repeated measurements: the median and the spread around it, and percentiles."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``samples`` (``fraction`` in 0..1)."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    rank = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def figure(runs: Sequence[float], unit: str) -> dict[str, Any]:
    """One figure over repeats: median, min, max, relative spread ((max - min) / median), runs."""
    if not runs:
        raise ValueError("a figure needs at least one run")
    median = statistics.median(runs)
    spread = (max(runs) - min(runs)) / median if median else 0.0
    return {
        "median": median,
        "min": min(runs),
        "max": max(runs),
        "spread": round(spread, 4),
        "runs": [round(r, 6) for r in runs],
        "unit": unit,
    }
