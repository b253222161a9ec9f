"""Runs one measurement in a fresh process, so its time and peak memory are its own.

``python -m bench.worker TASK JOB_JSON`` prints one JSON object: the task's figures plus
``peak_rss_mb`` (the process's high-water resident set). In-process mode (the smoke test)
calls the same functions directly.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from bench import (
    measure_import,
    measure_long_story,
    measure_peer,
    measure_queries,
    measure_raw,
    measure_rows,
    measure_verify,
)

Task = tuple[type[Any], Callable[[Any], dict[str, Any]]]
TASKS: dict[str, Task] = {
    "import": (measure_import.ImportJob, measure_import.import_events),
    "replay": (measure_import.ReplayJob, measure_import.replay),
    "rows_write": (measure_rows.RowsJob, measure_rows.write_rows),
    "raw_insert": (measure_raw.RawJob, measure_raw.insert),
    "raw_read": (measure_raw.RawJob, measure_raw.read),
    "peer_save": (measure_peer.PeerJob, measure_peer.save),
    "peer_read": (measure_peer.PeerJob, measure_peer.read),
    "queries": (measure_queries.QueryJob, measure_queries.queries),
    "verify": (measure_verify.VerifyJob, measure_verify.verify_store),
    "long_story_reads": (measure_long_story.ReadsJob, measure_long_story.long_story_reads),
}
ROOT = Path(__file__).resolve().parent.parent


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MiB."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_task(name: str, job: Any, in_process: bool = False) -> dict[str, Any]:
    """Run a task on a job Struct, in a child process unless ``in_process``."""
    if in_process:
        return TASKS[name][1](job)
    done = subprocess.run(
        [sys.executable, "-m", "bench.worker", name, msgspec.json.encode(job).decode()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"bench worker {name} failed ({done.returncode}):\n{done.stderr[-4000:]}"
        )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str]) -> int:
    """Entry point of the child process."""
    name, raw = argv
    job_type, task = TASKS[name]
    result = task(msgspec.json.decode(raw, type=job_type))
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
