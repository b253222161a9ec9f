"""Waiting, bounded, for something another thread or process does: no test sleeps to wait."""

from __future__ import annotations

import time
from collections.abc import Callable


def poll(condition: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    """Return once ``condition`` holds; fail, saying it never did ``what``, after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.005)
