"""``scripts/bench``: run the benchmark, write the results file, print the Markdown tables."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import msgspec

from bench.config import config_from
from bench.machine import machine
from bench.report import build, markdown, write
from bench.run import run


def main(argv: list[str]) -> int:
    """Parse, measure, write, print."""
    config = config_from(argv)
    about = machine()
    measured = run(config)
    command = shlex.join(["scripts/bench", *argv])
    results = build(measured, msgspec.to_builtins(config), about, command)
    path = write(results, Path(config.results))
    load = results.get("load_generator")
    http = f", HTTP load from {load}" if load else ""
    print(f"\n`{command}` — {results['database']}, {about['cpu']}, {about['cores']} cores{http}")
    print(f"results: {path}\n")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
