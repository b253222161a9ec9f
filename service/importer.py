"""JSONL import and export: a story's events, one reporting event per line, with ``story`` added.

Import validates the whole file first (schema and story rules, line by line, against the
stories as stored), and writes only when every line passes, so a bad file stores nothing.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, TypeVar

import msgspec
from tqdm import tqdm

from domain.errors import DomainError
from domain.events import ReportingEvent
from service.application import Ledger
from service.collection import collector_paused
from service.import_lines import (
    WHOLE,
    CheckedLines,
    ImportRejected,
    ImportReport,
    Line,
    Part,
    PassedLines,
    check_lines,
    decode_again,
    story_of,
)
from service.persistence import is_postgres_url
from service.validation_child import CheckingChild, splits

T = TypeVar("T")

BATCH_LINES = 10_000
BATCH_BYTES = 32 << 20
# PostgreSQL: eventsourcing appends in psycopg's pipeline mode, where an append of ~4 MB of
# stored events (7,000 bench lines) never returned, both for the bare library and for us,
# the server waiting for the rest of the INSERT (psycopg 3.3.9, both its Python and C
# implementations); 5,000 lines (~3 MB) did. Transactions stay well below that.
POSTGRES_BATCH_BYTES = 2 << 20


# The import pass writes each story's lines together within windows of this many lines,
# keeping a line number and an offset (16 bytes) per line of a window. The first 300k lines of
# the bench's 1M file (1,000 stories interleaved in runs of 1-40 lines), by hand: in file order
# 5,660-5,722 events/s, peak RSS 138 MB; windows of 50,000 lines 6,525; of 200,000 7,127-7,272;
# one window for the file 8,820 at 97 MB (fewer stories per transaction hold less).
WINDOW_LINES = 1_000_000


class BatchLimit(NamedTuple):
    """How much of a file one import transaction takes: lines, and bytes of those lines."""

    lines: int
    bytes: int


def batch_limit(database: str) -> BatchLimit:
    """The transaction size of an import into ``database`` (at least one line each)."""
    return BatchLimit(
        BATCH_LINES, POSTGRES_BATCH_BYTES if is_postgres_url(database) else BATCH_BYTES
    )


def in_batches(
    items: Iterable[T], size: Callable[[T], int], limit: BatchLimit
) -> Iterator[list[T]]:
    """``items`` in consecutive lists within ``limit`` (a list holds at least one item)."""
    batch: list[T] = []
    held = 0
    for item in items:
        item_size = size(item)
        if batch and (len(batch) >= limit.lines or held + item_size > limit.bytes):
            yield batch
            batch, held = [], 0
        batch.append(item)
        held += item_size
    if batch:
        yield batch


_encode_story = msgspec.json.Encoder().encode


NOTHING_CHECKED = PassedLines(CheckedLines())


def story_runs(
    stream: BinaryIO, window: int, passed: PassedLines = NOTHING_CHECKED
) -> Iterator[Line]:
    """The file's lines, decoded, with each story's lines brought together within windows of
    ``window`` lines (``lines_by_story``). A line ``passed`` says was checked as it is now is
    decoded without checking it again; any other line strictly, so one that no longer decodes
    is rejected as in the check (``decode_again``)."""
    for number, story, raw in lines_by_story(stream, window):
        yield decode_again(number, story, raw, passed)


def lines_by_story(stream: BinaryIO, window: int) -> Iterator[tuple[int, str, bytes]]:
    """The file's non-blank lines with their numbers and stories, each story's lines brought
    together within windows of ``window`` lines: a story's lines keep their order, the windows
    keep the file's. A transaction then holds fewer stories with more events each, and a story
    is re-folded fewer times. A window is read twice: once for each line's story and offset
    (all it holds), then story by story, seeking to each line."""
    offset, number = stream.tell(), 0
    while True:
        runs: dict[str, tuple[array[int], array[int]]] = {}
        lines = 0
        while lines < window and (raw := stream.readline()):
            number += 1
            if not raw.isspace():
                story = story_of(number, raw)
                numbers, offsets = runs.setdefault(story, (array("q"), array("q")))
                numbers.append(number)
                offsets.append(offset)
                lines += 1
            offset += len(raw)
        if not runs:
            return
        for story, (numbers, offsets) in runs.items():
            for line_number, line_offset in zip(numbers, offsets, strict=True):
                stream.seek(line_offset)
                yield line_number, story, stream.readline()
        stream.seek(offset)


def validate(ledger: Ledger, path: Path, progress: bool) -> ImportReport:
    """Check every line against the schema and the story rules, storing nothing; a large file's
    stories split with a child process that checks its part meanwhile (decision 032)."""
    lock = threading.Lock()
    with _bar(path, progress, "validate") as bar:

        def advance(lines: int) -> None:
            with lock:
                bar.update(lines)

        if not splits(ledger.database, path):
            return check_lines(ledger, path, WHOLE, lambda _: advance(1))
        with CheckingChild(ledger.database, path, Part(1, 2), advance) as child:
            try:
                mine = check_lines(ledger, path, Part(0, 2), lambda _: advance(1))
            except ImportRejected as rejected:
                child.raise_before(rejected.line)
                raise
            theirs = child.report()
    return mine + theirs


@collector_paused()
def import_file(
    ledger: Ledger, path: Path, recorded_by: str, progress: bool = False
) -> ImportReport:
    """Validate ``path`` whole, then append its events, many stories per transaction.

    Each story keeps the order of its lines; lines of different stories may share a transaction,
    and within a window of lines (``WINDOW_LINES``) each story's lines are written together.
    """
    report = validate(ledger, path, progress)
    if report.read == report.already_present:
        return report
    limit = batch_limit(ledger.database)
    with path.open("rb") as stream, _bar(path, progress, "import") as bar:
        runs = story_runs(stream, WINDOW_LINES, PassedLines(report.checked))
        try:
            for batch in in_batches(runs, lambda line: line.size, limit):
                pending: dict[str, list[ReportingEvent]] = {}
                for line in batch:
                    pending.setdefault(line.story, []).append(line.event)
                try:
                    report.stored += _append(ledger, pending, recorded_by)
                except DomainError as e:  # another writer appended to the story meanwhile
                    rejected = ImportRejected(_line_of(batch, e), e.pointer, e.detail)
                    rejected.cause = "its story changed after the file was checked"
                    raise rejected from e
                bar.update(len(batch))
        except ImportRejected as rejected:
            rejected.stored = report.stored
            rejected.cause = rejected.cause or "the file changed after it was checked"
            raise
    ledger.after_bulk_write()
    return report


def _line_of(batch: list[Line], error: DomainError) -> int:
    """The number of the line whose event ``error`` refused, of a batch's lines (its story's
    ``error.index``-th), or the batch's first line where the error does not say."""
    lines = [line for line in batch if line.story == error.story]
    if error.index is None or not 0 <= error.index < len(lines):
        return batch[0].number
    return lines[error.index].number


def _append(ledger: Ledger, pending: dict[str, list[ReportingEvent]], recorded_by: str) -> int:
    created = ledger.append_many(pending, recorded_by)
    return sum(sum(flags) for flags in created.values())


def _bar(path: Path, progress: bool, desc: str) -> tqdm[Any]:
    return tqdm(unit="ev", disable=not progress, desc=f"{desc} {path.name}", leave=False)


def export_lines(ledger: Ledger, story: str) -> Iterator[bytes]:
    """The story's events as import lines, in recorded order (so they import again)."""
    prefix = b'{"story":' + _encode_story(story) + b","
    after = 0
    while True:
        page = ledger.reader.events(story, after=after, limit=1000)
        if not page:
            return
        for view in page:
            yield prefix + bytes(view.event)[1:] + b"\n"
        after = page[-1].position
