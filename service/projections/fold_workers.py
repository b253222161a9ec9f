"""Replay's story folds in worker processes (decision 016).

A replay spends about half its time folding stories in Python and half in the database writing
the rows. Worker processes (``python -m service.projections.fold_workers``) read each story's
stored events over connections of their own and fold them, a few stories ahead, while the
replaying process writes the rows of the stories before, in the order a replay folding in
process writes them. The workers only read the stored events, which a replay never writes, so
they read what the replaying transaction sees.

Each worker reads, as JSON lines on its standard input, first the database setting and the
statement that reads a story (on stdin, not the command line, where any user could read a
PostgreSQL password), then story ids, and answers each story with one frame on its standard
output: 4 bytes of length (big-endian), then the story's ``StoryRows`` as MessagePack. A
thread of the worker writes the frames, so the worker folds on while the replay has yet to read
them (a story's frame is larger than a pipe holds); it blocks once ``AHEAD_PER_WORKER`` frames
wait, so at most a few stories' rows wait in memory whatever the writer's speed. The replaying
process sees whether a frame has begun to arrive (``select`` on the pipe, read unbuffered, which
Linux lets hold a whole frame), and does other work of its own (``meanwhile``) until one has.
Workers run at a lower priority than the replay, the slower side, which writes every row.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import select
import subprocess
import sys
import threading
import traceback
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import cycle, islice
from pathlib import Path
from typing import IO

import msgspec

from service.children import (
    child_environment,
    opens_elsewhere,
    pipe,
    reading_connection,
    stop,
    usable_cpus,
)
from service.collection import collector_paused
from service.persistence import is_postgres_url
from service.projections.rebuild import StoryFolds, StoryRows, fold_story, stored_of
from service.streams import read_exactly, write_all

if sys.platform == "linux":
    import fcntl

# Below this many stored events a replay folds in process: starting a worker (a new
# interpreter importing the service) costs a few tenths of a second, a few thousand events.
PARALLEL_FROM = 50_000
# Stories sent to each worker before its first answer is awaited.
AHEAD_PER_WORKER = 4
# How much a worker lowers its priority: the replaying process, which writes every row, is
# the slower side, and with as many workers as CPUs it would otherwise get ~2/3 of one.
WORKER_NICENESS = 10
# The pipe a worker's frames come through, where Linux lets it grow (a story's frame at 1M
# events is ~1.1 MB, the default pipe 64 KiB): a frame then moves in a write or two.
FRAME_PIPE_BYTES = 1 << 20
# What ``next`` gives for the caller's other work once it has run to its end.
DONE = object()

encode_rows = msgspec.msgpack.Encoder().encode
decode_rows = msgspec.msgpack.Decoder(StoryRows).decode


def fold_workers_for(database: str, events: int, cpus: int | None = None) -> int:
    """How many worker processes a replay of ``events`` in ``database`` folds with: as many as
    the CPUs this process may use (at most four; the writer mostly waits on the database), or
    none for a small store, one CPU, or a database other processes cannot open (SQLite in
    memory)."""
    cpus = usable_cpus() if cpus is None else cpus
    if events < PARALLEL_FROM or not cpus or cpus < 2:
        return 0
    if not opens_elsewhere(database):
        return 0
    return min(cpus, 4)


class StoredStories:
    """Reads a story's stored events over this process's own read-only connection."""

    def __init__(self, database: str, statement: str) -> None:
        self.statement = statement
        self.connection = reading_connection(database)

    def folded(self, story: str) -> StoryRows:
        """``story``'s rows, folded from its stored events."""
        rows = self.connection.execute(self.statement, (story,)).fetchall()
        return fold_story(story, stored_of(story, rows))


class Worker:
    """One worker process, and the stories sent to it not yet answered."""

    def __init__(self, database: str, statement: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service.projections.fold_workers"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=child_environment(),
        )
        self.sent: deque[str] = deque()
        # Frames are read from the descriptor itself, so nothing waits in a buffer that
        # ``select`` does not see.
        self.frames = io.FileIO(pipe(self.process.stdout, "a fold worker").fileno(), closefd=False)
        widen(self.frames.fileno(), FRAME_PIPE_BYTES)
        self._line([database, statement])

    def send(self, story: str) -> None:
        """Ask for ``story``'s rows."""
        self._line(story)
        self.sent.append(story)

    def _line(self, value: str | list[str]) -> None:
        stdin = pipe(self.process.stdin, "a fold worker")
        stdin.write(msgspec.json.encode(value) + b"\n")
        stdin.flush()

    def answering(self) -> bool:
        """Whether the next frame has begun to arrive (or the process ended), so ``answer``
        waits no longer than the rest of it takes. Where ``select`` cannot watch a pipe
        (Windows), never: the caller's other work runs to its end first."""
        if os.name != "posix":
            return False
        return bool(select.select([self.frames], [], [], 0)[0])

    def answer(self) -> StoryRows:
        """The rows of the oldest story sent."""
        story = self.sent.popleft()
        size = int.from_bytes(self._exactly(4), "big")
        rows = decode_rows(self._exactly(size))
        if rows.story != story:
            raise RuntimeError(f"fold worker answered story {rows.story!r} for {story!r}")
        return rows

    def _exactly(self, size: int) -> bytearray:
        try:
            return read_exactly(self.frames, size)
        except EOFError:
            code = self.process.wait()
            raise RuntimeError(
                f"a fold worker ended (exit status {code}) before answering"
            ) from None


def widen(pipe_end: int, size: int) -> None:
    """Let the pipe hold ``size`` bytes, where the system allows it (Linux, up to
    ``/proc/sys/fs/pipe-max-size``); else leave it as it is."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            fcntl.fcntl(pipe_end, fcntl.F_SETPIPE_SZ, size)


def in_order(
    workers: Sequence[Worker], stories: Iterable[str], meanwhile: Iterable[object] = ()
) -> Iterator[StoryRows]:
    """``stories``' rows in the order given: story i goes to worker i mod n, answers are taken
    in the same turn, and each worker is kept ``AHEAD_PER_WORKER`` stories ahead. The first
    stories are sent at once, so the workers fold while the caller goes on; while an answer
    has not begun to arrive, a step of ``meanwhile`` runs, until it ends."""
    pending = iter(stories)
    turns = cycle(workers)
    for worker, story in zip(turns, islice(pending, AHEAD_PER_WORKER * len(workers)), strict=False):
        worker.send(story)
    return answers(workers, pending, iter(meanwhile))


def answers(
    workers: Sequence[Worker], pending: Iterator[str], meanwhile: Iterator[object]
) -> Iterator[StoryRows]:
    """``in_order``'s answers, once the first stories are sent."""
    for worker in cycle(workers):
        if not worker.sent:
            return
        while not worker.answering() and next(meanwhile, DONE) is not DONE:
            pass
        rows = worker.answer()
        for story in islice(pending, 1):
            worker.send(story)
        yield rows


@contextmanager
def fold_workers(database: str, statement: str, workers: int) -> Iterator[StoryFolds]:
    """``workers`` processes folding stories of ``database`` (read with ``statement``, as
    ``story_statement`` makes it); yields a function from stories to their rows, in order.
    The processes are stopped on leaving, whatever happened."""
    if not is_postgres_url(database):
        database = str(Path(database).resolve())
    started: list[Worker] = []
    try:
        for _ in range(workers):
            started.append(Worker(database, statement))

        def folds(stories: Iterable[str], meanwhile: Iterable[object] = ()) -> Iterator[StoryRows]:
            return in_order(started, stories, meanwhile)

        yield folds
    finally:
        stop(*(worker.process for worker in started))  # together, not one after another


@contextmanager
def story_folds(
    database: str, statement: str, events: int, workers: int | None = None
) -> Iterator[StoryFolds | None]:
    """``fold_workers`` for a pass over ``events`` stored events: ``workers`` of them (None: as
    many as ``fold_workers_for`` finds worth it), or None when there are none (the caller
    folds each story itself)."""
    if workers is None:
        workers = fold_workers_for(database, events)
    if not workers:
        yield None
        return
    with fold_workers(database, statement, workers) as folds:
        yield folds


@collector_paused()
def serve() -> None:
    """A worker's loop: the database and statement on the first input line, then a story id
    per line, each answered with a frame of its rows. A thread writes the frames, so the loop
    folds the next stories while the replay has yet to read the last one's (a story's frame
    is larger than the pipe holds): up to ``AHEAD_PER_WORKER`` frames wait."""
    if hasattr(os, "nice"):
        os.nice(WORKER_NICENESS)
    lines = iter(sys.stdin.buffer)
    database, statement = msgspec.json.decode(next(lines), type=tuple[str, str])
    stories = StoredStories(database, statement)
    frames: queue.Queue[bytes | None] = queue.Queue(maxsize=AHEAD_PER_WORKER)
    writer = threading.Thread(target=write_frames, args=(frames, sys.stdout.buffer))
    writer.start()
    try:
        for line in lines:
            frames.put(encode_rows(stories.folded(msgspec.json.decode(line, type=str))))
    finally:
        frames.put(None)
        writer.join()


def write_frames(frames: queue.Queue[bytes | None], out: IO[bytes]) -> None:
    """Write each frame (4 bytes of length, big-endian, then the frame) until None."""
    try:
        while (frame := frames.get()) is not None:
            write_all(out, len(frame).to_bytes(4, "big") + frame)
            out.flush()
    except BaseException as error:
        # The replay stopped reading (it failed or was interrupted; quietly then) or the write
        # failed: end the process, whose loop would wait on a full queue, with the output
        # pointed at /dev/null so no last flush has anywhere to fail.
        if not isinstance(error, BrokenPipeError):
            traceback.print_exc()
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        os._exit(1)


if __name__ == "__main__":
    serve()
