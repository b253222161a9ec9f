"""SQLite page sizes side by side: one generated file imported, then replayed, into a fresh
database of each page size in turn, round after round (decision 015's table).

    .venv/bin/python -m bench.pages --events 300000 --page-sizes 4096 16384 [--rounds 2]

Each database file is made with its page size before the ledger opens it (a file keeps the
page size it was made with). Printed per page size and round: import events/s (validation and
batched appends, as ``knewwhen import``), the bytes the import wrote (``/proc/self/io``, this
process), replay events/s, and the file's size.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from time import perf_counter

from msgspec import Struct

from bench.generate import Shape, generate
from service.application import Ledger
from service.importer import import_file


class PageRun(Struct, frozen=True):
    """One import and replay into a database of one page size."""

    page_size: int
    import_events_per_s: float
    import_written_mb: float
    replay_events_per_s: float
    file_mb: float


def written_bytes() -> int:
    """Bytes this process has caused to be written to storage so far."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError("/proc/self/io has no write_bytes")


def made_with_pages(path: Path, page_size: int) -> Path:
    """A new, empty WAL-mode SQLite file at ``path`` with pages of ``page_size`` bytes."""
    with closing(sqlite3.connect(path)) as connection:
        connection.execute(f"PRAGMA page_size={page_size}")
        connection.execute("PRAGMA journal_mode=WAL")
    return path


def measure(events: Path, database: Path, page_size: int) -> PageRun:
    """Import ``events`` into a new file of ``page_size`` pages, then replay it."""
    made_with_pages(database, page_size)
    ledger = Ledger(str(database))
    try:
        before, start = written_bytes(), perf_counter()
        stored = import_file(ledger, events, recorded_by="bench").stored
        import_seconds, written = perf_counter() - start, written_bytes() - before
        start = perf_counter()
        replayed = ledger.replay()
        replay_seconds = perf_counter() - start
    finally:
        ledger.close()
    return PageRun(
        page_size,
        stored / import_seconds,
        written / 1e6,
        replayed / replay_seconds,
        database.stat().st_size / 1e6,
    )


def compare(events: int, page_sizes: Sequence[int], rounds: int, folder: Path) -> list[PageRun]:
    """``rounds`` rounds, each importing the same generated file once per page size."""
    path = generate(Shape(events), folder).path
    found = []
    for round_number in range(rounds):
        for page_size in page_sizes:
            database = folder / f"pages-{page_size}-{round_number}.sqlite3"
            found.append(measure(path, database, page_size))
            for leftover in folder.glob(f"{database.name}*"):
                leftover.unlink()
    return found


def report(found: Sequence[PageRun]) -> str:
    """A Markdown table, one row per import, in the order they ran."""
    lines = [
        "| page size | import events/s | import wrote MB | replay events/s | file MB |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in found:
        lines.append(
            f"| {run.page_size:,} | {run.import_events_per_s:,.0f} | {run.import_written_mb:,.0f}"
            f" | {run.replay_events_per_s:,.0f} | {run.file_mb:,.1f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, compare, print the table."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.pages", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--page-sizes", type=int, nargs="+", default=[4096, 16384])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="knewwhen-pages-") as scratch:
        found = compare(args.events, args.page_sizes, args.rounds, Path(scratch))
    print(report(found))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
