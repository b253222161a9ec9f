"""``knewwhen verify``'s log recompute in a worker process, beside the projection check
(decision 025).

Verify recomputes every leaf hash from the stored events (decoding each event, its canonical
JSON, two SHA-256s): ~17 s of a 64 s verification at 1M, while one CPU sat idle, before the
projection check began. The worker (``python -m service.audit.log_worker``) does it over a
connection of its own while verify's process checks the projections. It reads, as one JSON
line on its standard input, the database setting and the statement that pages through the
snapshot's stored events (``Snapshot.events_statement``, bounded by the snapshot's last
position), and answers on its standard output with the recomputed log (``write_log``): the tree
whole, so that verify's process hashes nothing again, each level read straight into the buffer
it is kept in.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, cast

import msgspec

from service.audit.recompute import Finding, Recomputed, recompute
from service.audit.snapshot import paged_events
from service.children import child_environment, pipe, reading_connection, stop
from service.collection import collector_paused
from service.merkle import MerkleTree
from service.streams import Readable, read_exactly, write_all


class LogHead(msgspec.Struct, array_like=True, frozen=True):
    """What the worker sends before the tree's levels: the positions (8-byte integers), the
    findings as (index, detail), the counts, and each level's size in bytes."""

    positions: bytes
    findings: list[tuple[int, str]]
    other_events: int
    bad_digests: int
    level_sizes: list[int]


encode_head = msgspec.msgpack.Encoder().encode
decode_head = msgspec.msgpack.Decoder(LogHead).decode


def write_log(out: IO[bytes], log: Recomputed) -> None:
    """Send ``log``: 8 bytes of the head's length (big-endian), the head (MessagePack), then
    each level of the tree as it is packed, written from its own buffer."""
    levels = log.tree.packed_levels()
    head = encode_head(
        LogHead(
            log.positions.tobytes(),
            [(finding.index, finding.detail) for finding in log.findings],
            log.other_events,
            log.bad_digests,
            [len(level) for level in levels],
        )
    )
    write_all(out, len(head).to_bytes(8, "big"))
    write_all(out, head)
    for level in levels:
        write_all(out, level)
    out.flush()


def read_log(stream: Readable) -> Recomputed:
    """The log ``write_log`` sent, each level read straight into the buffer the tree keeps."""
    head = decode_head(read_exactly(stream, int.from_bytes(read_exactly(stream, 8), "big")))
    levels = [read_exactly(stream, size) for size in head.level_sizes]
    positions = array("q")
    positions.frombytes(head.positions)
    return Recomputed(
        MerkleTree.from_packed_levels(levels),
        positions,
        [Finding(index, detail) for index, detail in head.findings],
        head.other_events,
        head.bad_digests,
    )


@contextmanager
def log_worker(database: str, statement: str) -> Iterator[Callable[[], Recomputed]]:
    """A worker process recomputing the log of ``database`` from the stored events that
    ``statement`` pages through; yields a function that waits for its answer. The process is
    stopped on leaving, whatever happened."""
    process = subprocess.Popen(
        [sys.executable, "-m", "service.audit.log_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=child_environment(),
    )
    try:
        stdin = pipe(process.stdin, "the log worker")
        stdin.write(msgspec.json.encode([database, statement]) + b"\n")
        stdin.close()

        def answer() -> Recomputed:
            try:
                # Popen's pipes are buffered readers (its default bufsize).
                return read_log(cast(io.BufferedReader, pipe(process.stdout, "the log worker")))
            except EOFError:
                code = process.wait()
                raise RuntimeError(
                    f"the log worker ended (exit status {code}) before answering"
                ) from None

        yield answer
    finally:
        stop(process)


@collector_paused()
def serve() -> None:
    """The worker: the database and statement on the one input line, the frame on output."""
    database, statement = msgspec.json.decode(sys.stdin.buffer.readline(), type=tuple[str, str])
    connection = reading_connection(database)
    try:
        log = recompute(
            paged_events(
                lambda query, params: connection.execute(query, params).fetchall(), statement
            )
        )
    finally:
        connection.close()
    try:
        write_log(sys.stdout.buffer, log)
    except BrokenPipeError:
        # Verify stopped waiting (it failed or was interrupted): end quietly, with the output
        # pointed at /dev/null so the interpreter's last flush has nowhere to fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


if __name__ == "__main__":
    serve()
