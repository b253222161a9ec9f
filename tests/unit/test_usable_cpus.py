"""Children are counted against the CPUs this process may use, not the machine's."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from service.children import ROOT, usable_cpus

PINNED = """
import os
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
from service.children import usable_cpus
from service.projections.fold_workers import fold_workers_for
print(usable_cpus(), os.cpu_count(), fold_workers_for("postgresql://127.0.0.1/x", 10**6))
"""


def test_usable_cpus_are_at_most_the_machines() -> None:
    assert 1 <= usable_cpus() <= (os.cpu_count() or 1)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_a_process_pinned_to_one_cpu_folds_without_workers() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PINNED], cwd=ROOT, capture_output=True, text=True, check=True
    )
    usable, machine, workers = map(int, done.stdout.split())
    assert usable == 1
    assert workers == 0, f"{machine} CPUs on the machine, one usable"
