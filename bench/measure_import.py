"""knewwhen's own write and rebuild paths: ``import_file`` (projections and log included) and replay."""

from __future__ import annotations

from pathlib import Path
from time import perf_counter
from typing import Any

from msgspec import Struct

from bench.children import ChildPeaks
from service.application import Ledger
from service.importer import import_file
from service.projections.fold_workers import fold_workers_for


class ImportJob(Struct, frozen=True):
    """Import one JSONL file into one fresh database."""

    database: str
    file: str


class ReplayJob(Struct, frozen=True):
    """Rebuild every projection of one imported database."""

    database: str


def import_events(job: ImportJob) -> dict[str, Any]:
    """Time ``import_file`` (validation of the whole file, a large one's stories split with a
    child process, then batched appends); the child's peak RSS (``ChildPeaks``) beside this
    process's."""
    ledger = Ledger(job.database)
    try:
        with ChildPeaks() as peaks:
            start = perf_counter()
            report = import_file(ledger, Path(job.file), recorded_by="bench")
            seconds = perf_counter() - start
    finally:
        ledger.close()
    found = {"seconds": seconds, "events": report.stored, "events_per_s": report.stored / seconds}
    if peaks.mib is not None:
        found["checking_child_peak_rss_mb"] = peaks.mib
    return found


def replay(job: ReplayJob) -> dict[str, Any]:
    """Time ``Ledger.replay``: every stored event read, decoded and projected again, its stories
    folded by as many worker processes as it chooses (decision 016); the largest worker's peak
    RSS (its own, sampled: ``ChildPeaks``), beside this process's."""
    ledger = Ledger(job.database)
    try:
        workers = fold_workers_for(job.database, ledger.recorder.max_notification_id() or 0)
        with ChildPeaks() as peaks:
            start = perf_counter()
            events = ledger.replay(workers=workers)
            seconds = perf_counter() - start
    finally:
        ledger.close()
    found = {"seconds": seconds, "events": events, "events_per_s": events / seconds}
    found["fold_workers"] = workers
    if peaks.mib is not None:
        found["worker_peak_rss_mb"] = peaks.mib
    return found
