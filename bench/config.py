"""What one benchmark run does: scales, story shape, repeats, database, and the ``--quick`` preset."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from msgspec import Struct

DEFAULT_SCALES = (10_000, 100_000)


class Config(Struct, frozen=True, kw_only=True):
    """Every knob of a run; the results file records it whole."""

    scales: tuple[int, ...] = DEFAULT_SCALES
    seed: int = 1
    events_per_story: int = 1000
    claims_per_story: int = 100
    repeats: int = 3
    write_repeats_above_100k: int = 1
    database: str | None = None
    knowledge_queries: int = 1000
    claim_queries: int = 5000
    naive_queries: int = 30
    http: bool = True
    http_seconds: int = 10
    http_warmup: int = 2
    http_connections: int = 16
    posts: int = 2000
    workdir: str | None = None
    keep: bool = False
    in_process: bool = False
    results: str = "bench/results"
    quick: bool = False

    def write_repeats(self, events: int) -> int:
        """Repeats of the whole-store runs (import, peer save, raw insert, replay) at a scale."""
        return (
            self.repeats if events <= 100_000 else min(self.repeats, self.write_repeats_above_100k)
        )


def quick(**overrides: object) -> Config:
    """The smoke preset: two tiny scales, one repeat, one-second HTTP runs."""
    settings: dict[str, object] = {
        "scales": (600, 2000),
        "events_per_story": 200,
        "claims_per_story": 20,
        "repeats": 1,
        "knowledge_queries": 200,
        "claim_queries": 1000,
        "naive_queries": 10,
        "http_seconds": 1,
        "http_warmup": 0,
        "posts": 200,
        "quick": True,
    }
    settings.update(overrides)
    return Config(**settings)  # type: ignore[arg-type]


def parser() -> argparse.ArgumentParser:
    """The ``scripts/bench`` command line."""
    p = argparse.ArgumentParser(
        prog="scripts/bench",
        description="Measure knewwhen beside the raw-SQLite limit, the bare eventsourcing peer "
        "and a naive fold, in one run; write bench/results/<date>-<events>.json.",
    )
    p.add_argument("--events", type=int, nargs="+", help="scales, in events (default 10000 100000)")
    p.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    p.add_argument(
        "--events-per-story",
        type=int,
        help="story length (default 1000: 1M events = 1000 stories; see bench/README.md)",
    )
    p.add_argument("--claims-per-story", type=int, help="claims per full story (default 100)")
    p.add_argument("--repeats", type=int, help="repeats of every measurement (default 3)")
    p.add_argument(
        "--write-repeats-above-100k",
        type=int,
        default=1,
        help="repeats of import/peer/raw/replay at scales above 100k events (default 1)",
    )
    p.add_argument("--database", help="a postgresql:// URL: measure PostgreSQL (default SQLite)")
    p.add_argument("--no-http", action="store_true", help="skip the HTTP measurements")
    p.add_argument("--http-seconds", type=int, help="seconds per HTTP load run (default 10)")
    p.add_argument("--workdir", help="folder for generated files and SQLite databases")
    p.add_argument("--keep", action="store_true", help="keep the work folder and databases")
    p.add_argument("--quick", action="store_true", help="a smoke run: tiny scales, one repeat")
    p.add_argument("--results", default="bench/results", help="folder for the results file")
    return p


def config_from(argv: Sequence[str]) -> Config:
    """Parse the command line into a Config."""
    args = parser().parse_args(argv)
    given: dict[str, object] = {
        "seed": args.seed,
        "write_repeats_above_100k": args.write_repeats_above_100k,
        "database": args.database,
        "http": not args.no_http,
        "workdir": args.workdir,
        "keep": args.keep,
        "results": args.results,
    }
    optional = {
        "scales": tuple(args.events) if args.events else None,
        "events_per_story": args.events_per_story,
        "claims_per_story": args.claims_per_story,
        "repeats": args.repeats,
        "http_seconds": args.http_seconds,
    }
    given.update({k: v for k, v in optional.items() if v is not None})
    return quick(**given) if args.quick else Config(**given)  # type: ignore[arg-type]
