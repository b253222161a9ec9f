"""The bench's sampling of its children's peak memory: a child's own, not its parent's."""

from __future__ import annotations

import subprocess
import sys

from bench.children import ChildPeaks

CHILD = "import time; held = b'x' * (30 << 20); time.sleep(1)"


def test_a_childs_peak_is_its_own_not_its_parents() -> None:
    ballast = b"x" * (200 << 20)  # what getrusage(RUSAGE_CHILDREN) would report for the child
    with ChildPeaks(every=0.05) as peaks:
        subprocess.run([sys.executable, "-c", CHILD], check=True)
    assert len(ballast) == 200 << 20
    assert peaks.mib is not None and 30 <= peaks.mib < 100, peaks.mib


def test_no_child_no_peak() -> None:
    with ChildPeaks(every=0.01) as peaks:
        pass
    assert peaks.mib is None
