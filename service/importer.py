"""JSONL import and export: a story's events, one reporting event per line, with ``story`` added.

Import validates the whole file first (schema and story rules, line by line, against the
stories as stored), and writes only when every line passes, so a bad file stores nothing.
"""

from __future__ import annotations

import copy
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, TypeVar

import msgspec
from eventsourcing.application import AggregateNotFoundError
from tqdm import tqdm

from domain.errors import DomainError
from domain.events import ReportingEvent
from domain.story import Story, project_story
from service.application import Ledger
from service.collection import collector_paused
from service.persistence import is_postgres_url
from service.schemas import line_decoder, pointer_of, without_story

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


class ImportRejected(Exception):
    """A line of the file is invalid; nothing from the file was stored."""

    def __init__(self, line: int, pointer: str, reason: str) -> None:
        where = f"{pointer}: " if pointer else ""
        super().__init__(f"line {line}: {where}{reason}")
        self.line = line
        self.pointer = pointer
        self.reason = reason


@dataclass
class ImportReport:
    """What an import did: events read, newly stored, and already present."""

    read: int = 0
    stored: int = 0
    already_present: int = 0
    stories: set[str] = field(default_factory=set)


class Line(NamedTuple):
    """One decoded line of an import file: where it was, its story and event, its size."""

    number: int
    story: str
    event: ReportingEvent
    size: int


def numbered_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Each non-blank line of a file, with its number (from 1)."""
    for number, raw in enumerate(stream, start=1):
        if raw.strip():
            yield number, raw


def decode_line(number: int, raw: bytes) -> Line:
    """Decode one line; reject it naming its number and field."""
    try:
        line = line_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        pointer, reason = pointer_of(e)
        raise ImportRejected(number, pointer, reason) from None
    return Line(number, line.story, without_story(line), len(raw))


def read_lines(stream: BinaryIO) -> Iterator[Line]:
    """Decode each non-blank line; reject the first bad one (naming its number and field)."""
    for number, raw in numbered_lines(stream):
        yield decode_line(number, raw)


class StoryOfLine(msgspec.Struct):
    """Only the ``story`` of an import line (msgspec skips the rest without building it)."""

    story: str


_story_of_line = msgspec.json.Decoder(StoryOfLine).decode


def story_runs(stream: BinaryIO, window: int) -> Iterator[Line]:
    """The file's lines, decoded, with each story's lines brought together within windows of
    ``window`` lines (``lines_by_story``). The file is validated already; a line that no longer
    decodes is rejected by ``decode_line`` as in ``read_lines``."""
    for number, raw in lines_by_story(stream, window):
        yield decode_line(number, raw)


def lines_by_story(stream: BinaryIO, window: int) -> Iterator[tuple[int, bytes]]:
    """The file's non-blank lines with their numbers, each story's lines brought together within
    windows of ``window`` lines: a story's lines keep their order, the windows keep the file's. A
    transaction then holds fewer stories with more events each, and a story is re-folded fewer
    times. A window is read twice: once for each line's story and offset (all it holds), then
    story by story, seeking to each line."""
    offset, number = stream.tell(), 0
    while True:
        runs: dict[str, tuple[array[int], array[int]]] = {}
        lines = 0
        while lines < window and (raw := stream.readline()):
            number += 1
            if raw.strip():
                story = _story_of(number, raw)
                numbers, offsets = runs.setdefault(story, (array("q"), array("q")))
                numbers.append(number)
                offsets.append(offset)
                lines += 1
            offset += len(raw)
        if not runs:
            return
        for numbers, offsets in runs.values():
            for line_number, line_offset in zip(numbers, offsets, strict=True):
                stream.seek(line_offset)
                yield line_number, stream.readline()
        stream.seek(offset)


def _story_of(number: int, raw: bytes) -> str:
    """The story of a line, decoding only that field (``decode_line`` rejects a bad line)."""
    try:
        return _story_of_line(raw).story
    except (msgspec.ValidationError, msgspec.DecodeError):
        decode_line(number, raw)
        raise


def validate(ledger: Ledger, path: Path, progress: bool) -> ImportReport:
    """Check every line against the schema and the story rules, storing nothing."""
    report = ImportReport()
    stories: dict[str, Story] = {}
    checked_at = datetime.now(UTC)
    with path.open("rb") as stream, _bar(path, progress, "validate") as bar:
        for number, story_id, event, _ in read_lines(stream):
            bar.update(1)
            story = stories.get(story_id) or _dry_run_story(ledger, story_id, checked_at)
            stories[story_id] = story
            try:
                admitted = story.admit(event)
            except DomainError as e:
                raise ImportRejected(number, e.pointer, e.detail) from None
            report.read += 1
            report.stories.add(story_id)
            if admitted is None:
                report.already_present += 1
            else:
                story.remember(*admitted)
    return report


def _dry_run_story(ledger: Ledger, story_id: str, at: datetime) -> Story:
    try:
        stored: Story = ledger.repository.get(story_id, projector_func=project_story)
    except AggregateNotFoundError:
        return Story.open(story_id, at)
    return copy.deepcopy(stored)


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
        runs = story_runs(stream, WINDOW_LINES)
        for batch in in_batches(runs, lambda line: line.size, limit):
            pending: dict[str, list[ReportingEvent]] = {}
            for line in batch:
                pending.setdefault(line.story, []).append(line.event)
            report.stored += _append(ledger, pending, recorded_by)
            bar.update(len(batch))
    ledger.after_bulk_write()
    return report


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
