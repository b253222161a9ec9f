"""``knewwhen verify`` over the imported database: the log recomputed, every tree head and
projection table checked (decision 024), timed."""

from __future__ import annotations

from time import perf_counter
from typing import Any

from msgspec import Struct

from bench.children import ChildPeaks
from service.application import Ledger
from service.audit.verify import verify
from service.projections.fold_workers import fold_workers_for


class VerifyJob(Struct, frozen=True):
    """Verify one imported database."""

    database: str


def verify_store(job: VerifyJob) -> dict[str, Any]:
    """Time ``verify`` (with the fold workers it chooses, as ``knewwhen verify`` does); a store
    that does not verify fails the run. The fold workers' largest peak RSS (sampled,
    ``ChildPeaks``), beside this process's."""
    ledger = Ledger(job.database)
    try:
        events = ledger.recorder.max_notification_id() or 0
        workers = fold_workers_for(job.database, events)
        with ChildPeaks() as peaks:
            start = perf_counter()
            report = verify(ledger, workers=workers)
            seconds = perf_counter() - start
    finally:
        ledger.close()
    if not report.ok:
        raise RuntimeError(f"the imported database does not verify: {report.failure}")
    found: dict[str, Any] = {"seconds": seconds, "events": events, "events_per_s": events / seconds}
    found["fold_workers"] = workers
    if peaks.mib is not None:
        found["worker_peak_rss_mb"] = peaks.mib
    return found
