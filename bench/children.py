"""The peak resident memory of this process's children (fold workers), sampled while they run.

``getrusage(RUSAGE_CHILDREN).ru_maxrss`` does not measure a worker's own memory: at exec, Linux
keeps the high-water mark of the memory the child started from, its parent's, so a worker of a
128 MiB verify reported 114 MiB while its own ``VmHWM`` read 54. This reads each child's
``VmHWM`` (which counts only the exec'd program's memory) from ``/proc`` every ``every``
seconds; the last sample of a child is at most that long before it ends.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType


def children_of(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (from its threads' ``children`` lists)."""
    found: set[int] = set()
    for listing in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.update(int(child) for child in listing.read_text().split())
        except OSError:
            continue
    return found


def peak_kib(pid: int) -> int | None:
    """A process's peak resident set (``VmHWM``) in KiB; None once it has ended."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class ChildPeaks:
    """While entered, samples the peak RSS of every child of this process; ``mib`` is the
    largest seen (None if no child was seen, or no ``/proc``)."""

    def __init__(self, every: float = 0.2) -> None:
        self.every = every
        self.mib: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="child-peaks", daemon=True)

    def __enter__(self) -> ChildPeaks:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = os.getpid()
        while not self._stop.wait(self.every):
            for child in children_of(me):
                kib = peak_kib(child)
                if kib is not None:
                    self.mib = max(self.mib or 0.0, kib / 1024)
