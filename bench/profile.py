"""Where import's (or replay's) time goes: py-spy over ``knewwhen import`` (or ``replay``) of a
generated file, the main thread's samples sorted into parts.

``python -m bench.profile import --events 100000`` (or ``replay``; ``--rate`` samples/s,
``--folder`` for the file, the store and the raw profile, kept; a temporary folder otherwise)
generates the bench's file (``bench.generate``, seed 1), imports it into a new SQLite file under
py-spy (for ``replay``: imports it first, then replays under py-spy) and prints a Markdown table:
each part's share of the main thread's samples, idle ones included (wall-clock time). A sample counts for the first part, in the
order of ``IMPORT_PARTS`` / ``REPLAY_PARTS``, whose frame is on its stack; threads (the WAL's
checkpoints, progress) are counted apart. Needs py-spy (``pip install py-spy``) beside the
Python that runs this.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from bench.generate import Shape, generate


class Part(NamedTuple):
    """A part of the work: the frames (``function (file``, as py-spy names them) that mark it."""

    name: str
    frames: tuple[str, ...]


IMPORT_PARTS = (
    Part(
        "checking the file before writing (this process's half, then waiting for its child's)",
        ("validate (service/importer.py",),
    ),
    Part("deciding again under the write lock", ("Ledger._decide (service/application.py",)),
    Part("the log's rows", ("VerifiableLog.after_append (service/audit/log.py",)),
    Part(
        "inserting the projection rows (`Dialect.insert_rows`)",
        ("Dialect.insert_rows (service/projections/dialect.py",),
    ),
    Part(
        "folding the projection rows, and the acts and states they resume from",
        ("Projector.project (service/projections/writer.py",),
    ),
    Part("the library's stored events and the commits", ("Ledger._save (service/application.py",)),
    Part(
        "reading and decoding each line again to write it",
        ("story_runs (service/importer.py", "in_batches (service/importer.py"),
    ),
)
REPLAY_PARTS = (
    Part(
        "`kw_events`: stored events read, decoded, inserted (in the workers' gaps too)",
        ("Rebuild.event_pages (service/projections/rebuild.py",),
    ),
    Part(
        "inserting the other tables' rows (`Dialect.insert_rows`)",
        ("Dialect.insert_rows (service/projections/dialect.py",),
    ),
    Part(
        "waiting for and reading the fold workers' rows",
        ("answers (service/projections/fold_workers.py",),
    ),
    Part("folding here (no workers)", ("Rebuild.fold_here (service/projections/rebuild.py",)),
    Part(
        "dropping the tables, indexing the rows, the staged URL rows",
        ("Rebuild.run (service/projections/rebuild.py",),
    ),
    Part("the commit", ("SQLiteConnection.commit (eventsourcing/sqlite.py",)),
    Part("closing (the last checkpoint)", ("Ledger.close (service/application.py",)),
)
OTHER = "other (start-up, batching, progress)"
THREADS = "threads beside the main one (WAL checkpoints, progress), not in the shares"


def stacks(raw: Iterable[str]) -> Iterable[tuple[list[str], int]]:
    """The (frames, samples) of each line of py-spy's ``raw`` output, root first."""
    for line in raw:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if count.isdigit():
            yield (stack.split(";") if stack.strip() else []), int(count)


def part_of(frames: Sequence[str], parts: Sequence[Part]) -> str:
    """The first of ``parts`` with a frame on the stack; ``THREADS`` for a thread's stack,
    ``OTHER`` when none."""
    if frames and frames[0].startswith("Thread._bootstrap ("):
        return THREADS
    for part in parts:
        if any(frame.startswith(part.frames) for frame in frames):
            return part.name
    return OTHER


def shares(raw: Iterable[str], parts: Sequence[Part]) -> Counter[str]:
    """Samples per part (``THREADS`` included)."""
    found: Counter[str] = Counter()
    for frames, count in stacks(raw):
        found[part_of(frames, parts)] += count
    return found


def table(found: Counter[str], parts: Sequence[Part]) -> str:
    """The Markdown table of the main thread's shares, then the threads' samples beside."""
    main = sum(count for name, count in found.items() if name != THREADS)
    lines = ["| part | share of the main thread's samples |", "| --- | --- |"]
    for name in [*(part.name for part in parts), OTHER]:
        lines.append(f"| {name} | {100 * found[name] / max(main, 1):.1f} % |")
    lines.append("")
    lines.append(f"{main} samples of the main thread; {found[THREADS]} of other threads.")
    return "\n".join(lines)


def knewwhen(*args: str) -> list[str]:
    """The command line of ``knewwhen`` with this Python."""
    return [sys.executable, "-m", "service.cli", *args]


def profile(what: str, events: int, folder: Path, rate: int) -> Path:
    """Generate, (import,) and record ``what`` under py-spy; the raw profile's path."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy not found: pip install py-spy")
    lines = generate(Shape(events=events), folder).path
    store = folder / f"profile-{what}-{events}.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    env = {**os.environ, "KNEWWHEN_DATABASE": str(store)}
    root = Path(__file__).resolve().parent.parent
    if what == "replay":
        subprocess.run(knewwhen("import", str(lines)), env=env, cwd=root, check=True)
    output = folder / f"profile-{what}-{events}.raw"
    # --idle: a wall-clock profile (waiting for the checking child or the disk counts).
    command = [spy, "record", "--idle", "-r", str(rate), "-f", "raw", "-o", str(output), "--"]
    target = knewwhen("import", str(lines)) if what == "import" else knewwhen("replay")
    subprocess.run([*command, *target], env=env, cwd=root, check=True)
    return output


def main(argv: list[str]) -> int:
    """Parse, profile, print."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("what", choices=("import", "replay"))
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=200, help="samples per second")
    parser.add_argument("--folder", type=Path, help="keep the file, store and profile here")
    args = parser.parse_args(argv)
    parts = IMPORT_PARTS if args.what == "import" else REPLAY_PARTS
    with tempfile.TemporaryDirectory(prefix="kw-profile-") as scratch:
        folder = args.folder or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        raw = profile(args.what, args.events, folder, args.rate)
        with raw.open() as lines:
            print(table(shares(lines, parts), parts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
