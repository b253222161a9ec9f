"""Children of the service (fold workers, the log's worker) end when told to, together."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from service.children import stop

WAITS_FOR_EOF_THEN = """
import pathlib, sys, time
sys.stdin.read()
{then}
"""


def child(then: str) -> subprocess.Popen[bytes]:
    code = WAITS_FOR_EOF_THEN.format(then=then)
    return subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )


def test_children_stopped_together_each_see_the_end_of_their_input_first(
    tmp_path: Path,
) -> None:
    # The first ends only once the second has seen its input end: stopped one after the
    # other, the first would wait out stop's grace and be killed.
    marker = tmp_path / "second-saw-eof"
    first = child(
        f"deadline = time.monotonic() + 30\n"
        f"while not pathlib.Path({str(marker)!r}).exists() and time.monotonic() < deadline:\n"
        f"    time.sleep(0.01)\n"
        f"sys.exit(0 if pathlib.Path({str(marker)!r}).exists() else 3)"
    )
    second = child(f"pathlib.Path({str(marker)!r}).touch()")
    stop(first, second)
    assert (first.returncode, second.returncode) == (0, 0)
    assert first.stdin and first.stdin.closed and second.stdout and second.stdout.closed
