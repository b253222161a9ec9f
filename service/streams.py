"""Writing a whole buffer to a stream that may be a pipe: the children's answers to their parent
and the command line's output."""

from __future__ import annotations

import sys
from typing import IO


def write_all(out: IO[bytes], data: bytes | bytearray | memoryview) -> None:
    """Write the whole of ``data`` to ``out``. A buffered write returns the bytes it wrote,
    which may be fewer when a signal (or a debugger or sampling profiler attaching, as py-spy
    does) interrupts it blocked on a full pipe: 64 KiB of 8 MiB, in ``test_streams``; the
    rest is then silently not sent."""
    view = memoryview(data).cast("B")
    while view:
        view = view[out.write(view) :]


def write_text(text: str) -> None:
    """Write ``text`` to standard output whole (``write_all`` of its bytes, in the output's
    encoding), after whatever was printed before it."""
    sys.stdout.flush()
    write_all(sys.stdout.buffer, text.encode(sys.stdout.encoding or "utf-8", "replace"))
