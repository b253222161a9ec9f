"""Python's cyclic garbage collector, paused for bulk work that makes no cyclic garbage.

Import, replay and verify allocate millions of tuples, rows and events, each freed by its
reference count as soon as it is written. The cyclic collector still counts every container
allocated and, every so often, walks every object alive (a full collection): measured with
``gc.callbacks`` on the bench's 300k file, 13 % of an import's time (4.9-6.0 s of 38-45 s),
7 % of replay's and 11 % of verify's. Run with the collector off, those same passes leave fewer
than 50 unreachable objects for it at their end (``tests/service/test_collection.py`` keeps it
so), so nothing piles up while it waits. Decision 028.
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
