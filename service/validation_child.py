"""Import's check of a large file, split by story with a child process (decision 032).

Checking a file before storing any of it (schema and story rules) took ~14 % of an import, on
one CPU, while the other waited. A story's lines are checked against that story alone, so the
stories split into parts (``Part``: a hash of the story id) that are checked independently: the
importing process checks one part while a child (``python -m service.validation_child``)
checks the other over a connection of its own, reading the same file.

The child reads its order (database, file, part) as JSON on its standard input, not its command
line (where any user could read a PostgreSQL password), and writes JSON lines on its standard
output: ``Progress`` every ``PROGRESS_EVERY`` lines it checked, then ``Checked`` (with the
lines it passed, so the import pass decodes them without checking them again: decision 038) or
``Rejected``. The first bad line of the file is the earliest either process rejects: when the
importing process rejects line N, it waits only until the child has checked past N.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import msgspec

from service.application import Ledger
from service.children import child_environment, opens_elsewhere, pipe, usable_cpus
from service.collection import collector_paused
from service.import_lines import CheckedLines, ImportRejected, ImportReport, Part, check_lines
from service.persistence import is_postgres_url
from service.streams import write_all

# Files smaller than this are checked in process: starting a child (a new interpreter
# importing the service) costs ~0.7 s, the check of ~20,000 of the bench's lines.
SPLIT_FROM_BYTES = 16 << 20
PROGRESS_EVERY = 1000
# How much of a failed child's standard error its exception carries.
STDERR_TAIL = 4000


class Order(msgspec.Struct, frozen=True):
    """What the child checks."""

    database: str
    path: str
    index: int
    count: int


class Progress(msgspec.Struct, frozen=True, tag="progress"):
    """The child checked ``lines`` more lines, the last one line ``through``."""

    lines: int
    through: int


class Checked(msgspec.Struct, frozen=True, tag="checked"):
    """Every line of the child's part passed: their numbers, and the CRC-32 of each
    (``CheckedLines``' arrays as bytes, base64 in JSON: ~5 MB for half a 1M-line file)."""

    read: int
    already_present: int
    stories: list[str]
    numbers: bytes
    sums: bytes


class Rejected(msgspec.Struct, frozen=True, tag="rejected"):
    """The first bad line of the child's part."""

    line: int
    pointer: str
    reason: str


Message = Progress | Checked | Rejected
_decode_message = msgspec.json.Decoder(Message).decode
_encode = msgspec.json.Encoder().encode


class ChildFailed(RuntimeError):
    """The child ended without an answer."""


def splits(database: str, path: Path) -> bool:
    """Whether checking ``path`` is worth a child: a large file, a database another process can
    open, and a CPU for each."""
    return (
        usable_cpus() >= 2 and opens_elsewhere(database) and path.stat().st_size >= SPLIT_FROM_BYTES
    )


class CheckingChild:
    """A child checking ``part`` of ``path`` in ``database``; ``advance`` is told how many of
    its lines it checked, from a thread of this process that reads its answers."""

    def __init__(
        self, database: str, path: Path, part: Part, advance: Callable[[int], object]
    ) -> None:
        if not is_postgres_url(database):
            database = str(Path(database).resolve())
        order = Order(database, str(path.resolve()), part.index, part.count)
        # A file, not a pipe: a child writing much there cannot block on a pipe no one reads.
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed by __exit__)
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            env=child_environment(),
        )
        stdin = pipe(self.process.stdin, "the checking child")
        try:
            stdin.write(_encode(order))
            stdin.close()
        except BrokenPipeError:
            pass  # it ended already: its output ends unanswered, and ``ChildFailed`` says so
        self.through = 0
        self.answer: Checked | Rejected | None = None
        self._advance = advance
        self._changed = threading.Condition()
        self._ended = False
        self._reader = threading.Thread(target=self._read, name="checking-child", daemon=True)
        self._reader.start()

    def __enter__(self) -> CheckingChild:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self._reader.join()
        self.process.wait()
        pipe(self.process.stdout, "the checking child").close()
        self.errors.close()

    def report(self) -> ImportReport:
        """The child's report, once it has checked its whole part; its rejection raised."""
        self._wait(lambda: False)
        if isinstance(self.answer, Rejected):
            raise ImportRejected(self.answer.line, self.answer.pointer, self.answer.reason)
        if self.answer is None:
            raise self._failed()
        checked = CheckedLines()
        checked.numbers.frombytes(self.answer.numbers)
        checked.sums.frombytes(self.answer.sums)
        return ImportReport(
            read=self.answer.read,
            already_present=self.answer.already_present,
            stories=set(self.answer.stories),
            checked=checked,
        )

    def raise_before(self, line: int) -> None:
        """Raise the child's rejection of a line before ``line``, if it has one: wait until it
        has checked past ``line`` or ended."""
        self._wait(lambda: self.through >= line)
        if isinstance(self.answer, Rejected) and self.answer.line < line:
            raise ImportRejected(self.answer.line, self.answer.pointer, self.answer.reason)
        if self.answer is None and self.through < line:
            raise self._failed()

    def _wait(self, enough: Callable[[], bool]) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._ended or enough())

    def _read(self) -> None:
        try:
            for raw in pipe(self.process.stdout, "the checking child"):
                message = _decode_message(raw)
                if isinstance(message, Progress):
                    self._advance(message.lines)
                    with self._changed:
                        self.through = message.through
                        self._changed.notify_all()
                else:
                    with self._changed:
                        self.answer = message
        finally:
            with self._changed:
                self._ended = True
                self._changed.notify_all()

    def _failed(self) -> ChildFailed:
        if self.process.poll() is None:  # it wrote what is not an answer, and goes on
            self.process.kill()
        code = self.process.wait()
        self.errors.seek(0)
        tail = self.errors.read().decode(errors="replace")[-STDERR_TAIL:]
        return ChildFailed(f"import's checking child exited with {code} before answering:\n{tail}")


class _Reporter:
    """The child's side of the protocol: progress in groups of lines, then the answer."""

    def __init__(self) -> None:
        self.lines = 0
        self.out = sys.stdout.buffer

    def checked(self, number: int) -> None:
        self.lines += 1
        if self.lines == PROGRESS_EVERY:
            self.send(Progress(self.lines, number))
            self.lines = 0

    def send(self, message: Message) -> None:
        write_all(self.out, _encode(message) + b"\n")
        self.out.flush()


@collector_paused()
def main() -> None:
    """The child: check the part named on standard input, answer on standard output."""
    order = msgspec.json.decode(sys.stdin.buffer.read(), type=Order)
    reporter = _Reporter()
    ledger = Ledger(order.database)
    try:
        report = check_lines(
            ledger, Path(order.path), Part(order.index, order.count), reporter.checked
        )
    except ImportRejected as rejected:
        reporter.send(Rejected(rejected.line, rejected.pointer, rejected.reason))
        return
    finally:
        ledger.close()
    reporter.send(Progress(reporter.lines, sys.maxsize))
    reporter.send(
        Checked(
            report.read,
            report.already_present,
            sorted(report.stories),
            report.checked.numbers.tobytes(),
            report.checked.sums.tobytes(),
        )
    )


if __name__ == "__main__":
    main()
