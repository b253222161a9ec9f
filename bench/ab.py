"""A/B over HTTP: ``knewwhen serve`` from several git revisions over one database, loaded in
turn by the bench's load generator, round after round.

    .venv/bin/python -m bench.ab --database DB HEAD~1 HEAD [--rounds 6 --seconds 4]
    .venv/bin/python -m bench.ab --database DB HEAD~1 HEAD --posts 2000 [--connections 16]

Each revision is checked out in a temporary git worktree and served from there (the venv of
this checkout runs it, so dependencies must agree). Every round loads each server once with
the same 1,000 knowledge paths, after each path was asked of each server once (so the answer
caches hold what they can). With ``--posts N``, each load is N single-event POSTs instead,
each connection writing a new story of its own, in order (the bench's POST load; the database
grows by N events per server and round); any answer but 201 stops the comparison.
Printed per revision: requests/s and the server's CPU time per request (user + system, from
/proc), which moves less than requests/s on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from msgspec import Struct

from bench.loadgen import Load
from bench.measure_http import (
    HttpPlan,
    free_port,
    get_load,
    new_token,
    post_requests,
    python_load,
    serving,
)
from bench.questions import knowledge_paths
from bench.stats import percentile

ROOT = Path(__file__).resolve().parent.parent


class Round(Struct, frozen=True):
    """One load of one server: its rate and the server's CPU per request."""

    requests_per_s: float
    cpu_us_per_request: float


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def worktree(revision: str, folder: Path) -> Iterator[Path]:
    """``revision`` checked out in a worktree under ``folder``, removed afterwards."""
    path = folder / revision.replace("/", "_").replace("~", "-")
    git = ["git", "-C", str(ROOT)]
    subprocess.run([*git, "worktree", "add", "-q", "--detach", str(path), revision], check=True)
    try:
        yield path
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(path)], check=True)


def compare(
    database: str,
    revisions: Sequence[str],
    rounds: int,
    seconds: int,
    connections: int = 16,
    posts: int = 0,
) -> dict[str, list[Round]]:
    """Serve each revision over ``database`` and load them in turn for ``rounds`` rounds:
    GETs of knowledge for ``seconds``, or ``posts`` single-event POSTs."""
    paths = knowledge_paths(database, 1, 1000)
    env = {**os.environ, "KNEWWHEN_DATABASE": database}
    token = new_token(env) if posts else ""
    run = secrets.token_hex(3)  # new stories each invocation: a second one must not re-send
    found: dict[str, list[Round]] = {revision: [] for revision in revisions}
    with tempfile.TemporaryDirectory(prefix="knewwhen-ab-") as scratch, ExitStack() as stack:
        folder = Path(scratch)
        servers: dict[str, tuple[int, int]] = {}
        for revision in revisions:
            checkout = stack.enter_context(worktree(revision, folder))
            port = free_port()
            command = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1"]
            command += ["--port", str(port)]
            log = folder / f"serve-{port}.log"
            process = stack.enter_context(serving(command, port, "/healthz", env, log, checkout))
            servers[revision] = (port, process.pid)
        for port, _ in servers.values():
            for path in paths[: 0 if posts else None]:
                ask(port, path)
        for number in range(rounds):
            for index, (revision, (port, pid)) in enumerate(servers.items()):
                before = cpu_seconds(pid)
                if posts:
                    plan = HttpPlan(posts=posts)
                    stories = post_requests(plan, f"ab{run}-{number}-{index}", token, connections)
                    load = python_load(Load(port, stories))
                    if set(load["statuses"]) != {"201"}:
                        raise RuntimeError(f"{revision}: POSTs answered {load['statuses']}")
                else:
                    load = get_load(port, paths, seconds, connections, folder)
                used = cpu_seconds(pid) - before
                per_request = used / max(load["requests"], 1) * 1e6
                found[revision].append(Round(load["requests_per_s"], per_request))
    return found


def ask(port: int, path: str) -> None:
    """GET ``path`` once (an error status raises)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        response.read()


class Figure(NamedTuple):
    """A column pair of ``revisions_table``: a figure's name, how to read it off a run, and
    its format."""

    name: str
    of: Callable[[Any], float]
    spec: str


def revisions_table(found: Mapping[str, Sequence[Any]], figures: Sequence[Figure]) -> str:
    """A Markdown table: per revision, each figure's median and range over its runs."""
    header = "".join(f" {f.name} median | {f.name} min-max |" for f in figures)
    lines = [f"| revision |{header}", "| --- |" + " ---: | ---: |" * len(figures)]
    for revision, runs in found.items():
        cells = ""
        for figure in figures:
            values = [figure.of(run) for run in runs]
            low, middle, high = min(values), percentile(values, 0.5), max(values)
            cells += f" {middle:{figure.spec}} | {low:{figure.spec}} to {high:{figure.spec}} |"
        lines.append(f"| {revision} |{cells}")
    return "\n".join(lines)


def report(found: dict[str, list[Round]]) -> str:
    """Per revision, the medians and the range of requests/s and server CPU per request."""
    return revisions_table(
        found,
        [
            Figure("req/s", lambda r: r.requests_per_s, ",.0f"),
            Figure("server CPU µs/request", lambda r: r.cpu_us_per_request, ".0f"),
        ],
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, compare, print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n")[0])
    parser.add_argument("revisions", nargs="+", help="git revisions to serve (e.g. HEAD~1 HEAD)")
    parser.add_argument("--database", required=True, help="a SQLite file or a PostgreSQL URL")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    parser.add_argument(
        "--posts", type=int, default=0, help="load with this many single-event POSTs, not GETs"
    )
    args = parser.parse_args(argv)
    found = compare(
        args.database, args.revisions, args.rounds, args.seconds, args.connections, args.posts
    )
    print(report(found))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
