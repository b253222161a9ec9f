"""Children of the service (fold workers, the log's worker): they send all they write, and end
when told to, together."""

from __future__ import annotations

import fcntl
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

from service.children import child_environment, stop

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


SENDS_8_MIB = """
import signal, sys
from service.children import write_all
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
