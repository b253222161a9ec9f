"""Python's cyclic garbage collector, paused for bulk work that makes no cyclic garbage.

Import, replay and verify allocate millions of tuples, rows and events, each freed by its
reference count as soon as it is written. The cyclic collector still counts every container
allocated and, every so often, walks every object alive (a full collection): measured with
``gc.callbacks`` on the bench's 300k file, 13 % of an import's time (4.9-6.0 s of 38-45 s),
7 % of replay's and 11 % of verify's. Run with the collector off, those same passes leave fewer
than 50 unreachable objects for it at their end (``tests/service/test_collection.py`` keeps it
so), so nothing piles up while it waits. Decision 028.

A server process keeps its collector on, but frozen at start and with a higher threshold for
its youngest generation (``tune_for_serving``, decision 040).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_resume = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the cyclic collector off. Blocks may nest, or overlap in threads: the
    last to end turns it back on, if it was on when the first began."""
    global _depth, _resume
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                gc.enable()


# A server process's thresholds (decision 040): the youngest generation is collected once
# 20,000 more containers are alive than when it was last collected (Python's default: 700).
# An uncached knowledge answer allocates thousands and frees them by reference count once
# it is encoded; at 700, collections ran inside answers, ~280 a second under load.
SERVING_THRESHOLDS = (20_000, 50, 1_000)


def tune_for_serving() -> None:
    """Set up a server process's collector once it has started: collect, move every object
    alive (modules, the app, the ledger and its connections) to the permanent generation,
    which no collection walks, and raise the thresholds to ``SERVING_THRESHOLDS``."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_THRESHOLDS)
