"""Whole buffers through a stream that may be a pipe: the children's answers to their parent,
written and read, and the command line's output. A pipe moves what it holds, so one call may
move less than asked."""

from __future__ import annotations

import sys
from typing import IO, Protocol


class Readable(Protocol):
    """A stream that reads into a buffer (a buffered reader, or a raw ``FileIO``)."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


def write_all(out: IO[bytes], data: bytes | bytearray | memoryview) -> None:
    """Write the whole of ``data`` to ``out``. A buffered write returns the bytes it wrote,
    which may be fewer when a signal (or a debugger or sampling profiler attaching, as py-spy
    does) interrupts it blocked on a full pipe: 64 KiB of 8 MiB, in ``test_streams``; the
    rest is then silently not sent."""
    view = memoryview(data).cast("B")
    while view:
        view = view[out.write(view) :]


def fill(stream: Readable, buffer: memoryview) -> None:
    """Read into the whole of ``buffer``; ``EOFError`` if the stream ends first."""
    filled = 0
    while filled < len(buffer):
        got = stream.readinto(buffer[filled:])
        if not got:
            raise EOFError(f"the stream ended after {filled} of {len(buffer)} bytes")
        filled += got


def read_exactly(stream: Readable, size: int) -> bytearray:
    """The next ``size`` bytes of ``stream`` (``fill``)."""
    data = bytearray(size)
    fill(stream, memoryview(data))
    return data


def write_text(text: str) -> None:
    """Write ``text`` to standard output whole (``write_all`` of its bytes, in the output's
    encoding), after whatever was printed before it."""
    sys.stdout.flush()
    write_all(sys.stdout.buffer, text.encode(sys.stdout.encoding or "utf-8", "replace"))
