"""A whole buffer reaches the other end of a pipe though a signal interrupts the write, and the
reader takes it whole however little each read returns."""

from __future__ import annotations

import fcntl
import signal
import subprocess
import sys
import termios
import time

import pytest

from service.children import child_environment
from service.streams import read_exactly

SENDS_8_MIB = """
import signal, sys
from service.streams import write_all
signal.signal(signal.SIGUSR1, lambda *_: None)
write_all(sys.stdout.buffer, bytes(range(256)) * 32768)
sys.stdout.buffer.flush()
"""


def test_write_all_sends_everything_though_a_signal_interrupts_the_write() -> None:
    # A signal (as a debugger or py-spy attaching) interrupts the child's write blocked on a
    # full pipe; a plain buffered write then returns having sent 64 KiB, and the rest is lost.
    child = subprocess.Popen(
        [sys.executable, "-c", SENDS_8_MIB], stdout=subprocess.PIPE, env=child_environment()
    )
    try:
        assert child.stdout
        capacity = fcntl.fcntl(child.stdout.fileno(), fcntl.F_GETPIPE_SZ)
        deadline = time.monotonic() + 30
        waiting = bytearray(4)
        while time.monotonic() < deadline:  # until the pipe is full: the write is blocked
            fcntl.ioctl(child.stdout.fileno(), termios.FIONREAD, waiting)
            if int.from_bytes(waiting, sys.byteorder) >= capacity:
                break
            time.sleep(0.01)
        child.send_signal(signal.SIGUSR1)
        data = child.stdout.read()
        assert child.wait(timeout=30) == 0
        assert len(data) == 8 << 20
        assert data == bytes(range(256)) * 32768
    finally:
        child.kill()
        child.wait()


class Trickle:
    """A pipe's reading end as it may behave: at most ``step`` bytes a read, then the end."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step = data, step

    def readinto(self, buffer: memoryview, /) -> int:
        got = self.data[: min(self.step, len(buffer))]
        buffer[: len(got)] = got
        self.data = self.data[len(got) :]
        return len(got)


def test_read_exactly_gathers_short_reads_and_names_an_early_end() -> None:
    stream = Trickle(bytes(range(200)), step=7)
    assert read_exactly(stream, 150) == bytes(range(150))
    with pytest.raises(EOFError, match="after 50 of 60 bytes"):
        read_exactly(stream, 60)
