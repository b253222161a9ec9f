"""knewwhen's own write and rebuild paths: ``import_file`` (projections and log included) and replay."""

from __future__ import annotations

from pathlib import Path
from time import perf_counter
from typing import Any

from msgspec import Struct

from service.application import Ledger
from service.importer import import_file


class ImportJob(Struct, frozen=True):
    """Import one JSONL file into one fresh database."""

    database: str
    file: str


class ReplayJob(Struct, frozen=True):
    """Rebuild every projection of one imported database."""

    database: str


def import_events(job: ImportJob) -> dict[str, Any]:
    """Time ``import_file`` (validation of the whole file, then batched appends)."""
    ledger = Ledger(job.database)
    try:
        start = perf_counter()
        report = import_file(ledger, Path(job.file), recorded_by="bench")
        seconds = perf_counter() - start
    finally:
        ledger.close()
    return {"seconds": seconds, "events": report.stored, "events_per_s": report.stored / seconds}


def replay(job: ReplayJob) -> dict[str, Any]:
    """Time ``Ledger.replay``: every stored event read, decoded and projected again."""
    ledger = Ledger(job.database)
    try:
        start = perf_counter()
        events = ledger.replay()
        seconds = perf_counter() - start
    finally:
        ledger.close()
    return {"seconds": seconds, "events": events, "events_per_s": events / seconds}
