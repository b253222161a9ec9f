"""A/B of the bulk commands: ``knewwhen import`` of the bench's generated file (or, with
``--replay``, ``knewwhen replay`` of the store it makes) from several git revisions in turn,
round after round.

    .venv/bin/python -m bench.ab_bulk HEAD~1 HEAD --events 100000 [--rounds 3] [--replay]
    .venv/bin/python -m bench.ab_bulk HEAD~1 HEAD --database postgresql://…/postgres

The file is ``bench.generate``'s for ``--events`` (seed 1), made once in a scratch folder.
Each revision is checked out in a temporary git worktree, as ``bench.ab`` does, compiled, and
run by this checkout's venv. A round runs each revision once, in the order given, the next
round in the reverse order: an import into a new database (a SQLite file in the scratch
folder, or a database made on the PostgreSQL server of ``--database``), removed after it;
with ``--replay``, a replay of the store each revision imported once before the rounds.
Printed per revision: the command's wall time and its CPU time (the process and the children
it waited for, from ``getrusage``), median and range. Runs alternated this way are the
measure of a change smaller than the machine's drift between two ``scripts/bench`` runs
(README's performance section). Two revisions with the same import and
replay code (cb2fb60 and a1a53d0, the bench's 100k file, 4 rounds) came out 2.6 % apart in
import's wall time and 3.1 % in replay's; in the order given every round, without compiling
first (cb2fb60 and fb5a321, 3 rounds), 2.0 % and 6.3 % in import's wall and CPU time.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from msgspec import Struct

from bench.ab import Figure, revisions_table, worktree
from bench.databases import Databases
from bench.generate import Shape, generate

# How much of a failed command's standard error the exception carries.
STDERR_TAIL = 3000


class Timed(Struct, frozen=True):
    """One run of one command: its wall time, and the CPU time of it and its children."""

    wall_s: float
    cpu_s: float


def children_cpu_seconds() -> float:
    """User + system CPU time of this process's children that have ended and been waited for
    (and of theirs, which they waited for)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed_cli(checkout: Path, database: str, *arguments: str) -> Timed:
    """``knewwhen <arguments>`` over ``database``, with the code of ``checkout``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["KNEWWHEN_DATABASE"] = database
    before, start = children_cpu_seconds(), time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", *arguments],
        cwd=checkout,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        errors = done.stderr.decode(errors="replace")[-STDERR_TAIL:]
        raise RuntimeError(f"knewwhen {' '.join(arguments)} ({checkout.name}) failed:\n{errors}")
    return Timed(wall, children_cpu_seconds() - before)


def compare_bulk(
    revisions: Sequence[str],
    shape: Shape,
    rounds: int,
    replay: bool = False,
    database: str | None = None,
) -> dict[str, list[Timed]]:
    """Import (or replay) ``shape``'s generated file with each revision in turn, ``rounds``
    times; each revision's runs in order."""
    found: dict[str, list[Timed]] = {revision: [] for revision in revisions}
    with tempfile.TemporaryDirectory(prefix="knewwhen-ab-bulk-") as scratch, ExitStack() as stack:
        folder = Path(scratch)
        databases = Databases(database, folder)
        stack.callback(databases.drop_all)
        events = str(generate(shape, folder).path)
        checkouts = {r: stack.enter_context(worktree(r, folder)) for r in revisions}
        for checkout in checkouts.values():  # no round pays for compiling a new worktree
            compiled = [sys.executable, "-m", "compileall", "-q", "domain", "service"]
            subprocess.run(compiled, cwd=checkout, check=True, stdout=subprocess.DEVNULL)
        stores = {}
        if replay:
            for index, (revision, checkout) in enumerate(checkouts.items()):
                stores[revision] = databases.fresh(f"ab_store_{index}")
                timed_cli(checkout, stores[revision], "import", events)
        for number in range(rounds):
            order = list(enumerate(checkouts.items()))
            for index, (revision, checkout) in order[:: -1 if number % 2 else 1]:
                if replay:
                    found[revision].append(timed_cli(checkout, stores[revision], "replay"))
                    continue
                store = databases.fresh(f"ab_{number}_{index}")
                found[revision].append(timed_cli(checkout, store, "import", events))
                databases.drop(store)
    return found


def report(found: dict[str, list[Timed]]) -> str:
    """Per revision, the medians and the range of the wall time and the CPU time."""
    return revisions_table(
        found,
        [Figure("wall s", lambda r: r.wall_s, ".2f"), Figure("CPU s", lambda r: r.cpu_s, ".2f")],
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, compare, print the table."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.ab_bulk", description=__doc__.split("\n")[0]
    )
    parser.add_argument("revisions", nargs="+", help="git revisions to run (e.g. HEAD~1 HEAD)")
    parser.add_argument("--events", type=int, default=100_000, help="events in the file")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replay", action="store_true", help="time replays, not imports")
    parser.add_argument("--database", help="a PostgreSQL URL (default: SQLite files)")
    args = parser.parse_args(argv)
    found = compare_bulk(
        args.revisions, Shape(events=args.events), args.rounds, args.replay, args.database
    )
    print(report(found))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
