"""``python -m bench.long_story``: what one long story costs, measured in one run.

The bench's stories are 1,000 events long; this generates one story of ``--events`` events and
``--claims`` claims (``bench.generate``'s shape otherwise: late events, revisions, citations),
imports it into a fresh database in a child process, then, in another fresh one, asks what a
long story makes expensive: taking the story up for an append, its first append, knowledge at
T, a claim's provenance, and the answers that list the whole story (their sizes and times). It
writes ``bench/results/<date>-long-<events>[-postgres].json`` and prints a Markdown table.
These are figures to watch, not targets: the issue's targets are the bench's.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.databases import Databases
from bench.generate import Shape, generate
from bench.machine import machine
from bench.measure_import import ImportJob
from bench.measure_long_story import ReadsJob
from bench.report import without_nan
from bench.worker import run_task
from service.application import Ledger

STORY = "long-00000"


def measure(
    events: int, claims: int, seed: int, setting: str | None, folder: Path
) -> dict[str, Any]:
    """Generate, import in a child, read in another; the figures of both."""
    generated = generate(
        Shape(
            events=events,
            events_per_story=events,
            claims_per_story=claims,
            seed=seed,
            prefix="long",
        ),
        folder,
    )
    databases = Databases(setting, folder)
    try:
        database = databases.fresh("long")
        imported = run_task("import", ImportJob(database, str(generated.path)))
        rows = claim_state_rows(database)
        reads = run_task("long_story_reads", ReadsJob(database, seed=seed))
    finally:
        databases.drop_all()
    return {
        "database": databases.kind,
        "generated": {"events": generated.events, "bytes": generated.bytes, "late": generated.late},
        "import": {
            "seconds": imported["seconds"],
            "events_per_s": imported["events_per_s"],
            "peak_rss_mb": imported["peak_rss_mb"],
            "checking_child_peak_rss_mb": imported.get("checking_child_peak_rss_mb"),
            "claim_state_rows": rows,
        },
        "reads": reads,
    }


def claim_state_rows(database: str) -> int:
    """The rows of ``kw_claim_states``: a claim's state after each act, and each later state a
    late act changed (decision 049)."""
    ledger = Ledger(database)
    try:
        with ledger.reader.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) AS n FROM kw_claim_states")
            return int(cursor.fetchone()["n"])
    finally:
        ledger.close()


ROWS: tuple[tuple[str, str, Callable[[dict[str, Any]], float | None]], ...] = (
    ("import", "events/s", lambda m: m["import"]["events_per_s"]),
    ("import, importing process's peak RSS", "MiB", lambda m: m["import"]["peak_rss_mb"]),
    (
        "import, checking child's peak RSS",
        "MiB",
        lambda m: m["import"]["checking_child_peak_rss_mb"],
    ),
    ("claim state rows", "rows", lambda m: m["import"]["claim_state_rows"]),
    (
        "story taken up for an append (load_story), median of 5",
        "ms",
        lambda m: m["reads"]["load_ms"]["median"],
    ),
    ("first append in a fresh process", "ms", lambda m: m["reads"]["first_append_ms"]),
    ("knowledge at T, median", "ms", lambda m: m["reads"]["knowledge_at_t_ms"]["median"]),
    ("a claim's provenance, median", "ms", lambda m: m["reads"]["claim_provenance_ms"]["median"]),
    ("knowledge now", "ms", lambda m: m["reads"]["knowledge_now_ms"]),
    ("knowledge now, encoded", "bytes", lambda m: m["reads"]["knowledge_now_bytes"]),
    ("timeline", "ms", lambda m: m["reads"]["timeline_ms"]),
    ("timeline, encoded", "bytes", lambda m: m["reads"]["timeline_bytes"]),
    ("the story's provenance", "ms", lambda m: m["reads"]["story_provenance_ms"]),
    ("the story's provenance, encoded", "bytes", lambda m: m["reads"]["story_provenance_bytes"]),
    ("reads' process peak RSS", "MiB", lambda m: m["reads"]["peak_rss_mb"]),
)


def markdown(results: dict[str, Any]) -> str:
    """The figures as a Markdown table."""
    measured = results["measured"]
    lines = [
        f"One story of {measured['reads']['events']:,} events and {measured['reads']['claims']:,}"
        f" claims, {measured['database']}:",
        "",
        "| figure | value | unit |",
        "| --- | ---: | --- |",
    ]
    for name, unit, value_of in ROWS:
        value = value_of(measured)
        shown = "—" if value is None else f"{value:,.3g}" if value < 100 else f"{value:,.0f}"
        lines.append(f"| {name} | {shown} | {unit} |")
    return "\n".join(lines)


def write(results: dict[str, Any], folder: Path) -> Path:
    """``<date>-long-<events>[-postgres].json`` in ``folder``, not overwriting an earlier run's
    (its name then ends with the commit measured, and a count if need be)."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = "-postgres" if results["measured"]["database"] == "postgres" else ""
    stem = f"{results['date'][:10]}-long-{results['events']}{suffix}"
    commit = str(results["machine"].get("commit") or "run")[:7]
    path, taken = folder / f"{stem}.json", 1
    while path.exists():
        taken += 1
        path = folder / f"{stem}-{commit}{'' if taken == 2 else f'-{taken}'}.json"
    path.write_text(json.dumps(without_nan(results), indent=1) + "\n")
    return path


def main(argv: Sequence[str]) -> int:
    """Parse, measure, write, print."""
    parser = argparse.ArgumentParser(prog="python -m bench.long_story", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000, help="events in the one story")
    parser.add_argument("--claims", type=int, default=1000, help="claims in the story")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database", help="a PostgreSQL URL (default: a SQLite file)")
    parser.add_argument("--results", default="bench/results", help="folder of the results file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="knewwhen-long-") as folder:
        measured = measure(args.events, args.claims, args.seed, args.database, Path(folder))
    results = {
        "date": datetime.now(UTC).isoformat(),
        "command": shlex.join(["python", "-m", "bench.long_story", *argv]),
        "events": args.events,
        "machine": machine(),
        "measured": measured,
    }
    path = write(results, Path(args.results))
    print(f"\n`{results['command']}`\nresults: {path}\n")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
