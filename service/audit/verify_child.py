"""``verify`` in a child process, for ``GET /v1/log/verify`` (decision 021).

A verification recomputes the whole log and refolds every story: at a million events it
computes for minutes holding the GIL and takes ~130 MB. In the server's own process it would
stall every other request for that long and add its memory to the server's; in a child it
shares the CPUs like any other process and returns its memory when it ends.

The child reads the database setting on its standard input and writes the ``VerifyReport`` as
JSON on its standard output.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile

import anyio
import msgspec
from anyio.abc import ByteReceiveStream
from starlette.concurrency import run_in_threadpool

from service.application import Ledger
from service.audit.verify import VerifyReport, verify
from service.children import child_environment, opens_elsewhere
from service.streams import write_all

# How much of a failed child's standard error its exception carries (and the server logs).
STDERR_TAIL = 4000

_decode_report = msgspec.json.Decoder(VerifyReport).decode


class VerifyFailed(RuntimeError):
    """The child process ended without a report."""


async def verify_apart(ledger: Ledger, scratch_in: str | None = None) -> VerifyReport:
    """``verify(ledger)`` in a child process over the same database; in a thread of this one
    when no other process can open the database (SQLite in memory). If the caller is
    cancelled, the child is killed.

    The child's temporary files (its scratch file of the fold's URL rows) go into a
    directory this process makes (in ``scratch_in``, default the system's) and removes when the
    child has ended, however it ended: a killed child cannot remove its own."""
    if not opens_elsewhere(ledger.database):
        return await run_in_threadpool(verify, ledger)
    with tempfile.TemporaryDirectory(prefix="knewwhen-verify-child-", dir=scratch_in) as scratch:
        env = {**child_environment(), "TMPDIR": scratch}
        returncode, out, err = await run_killed_if_cancelled(
            child_command(), msgspec.json.encode(ledger.database), env
        )
    if returncode != 0:
        errors = err.decode(errors="replace")[-STDERR_TAIL:]
        raise VerifyFailed(f"verify's child process exited with {returncode}:\n{errors}")
    return _decode_report(out)


def child_command() -> list[str]:
    """The command that runs ``main`` in a child process."""
    return [sys.executable, "-m", __name__]


async def run_killed_if_cancelled(
    command: list[str], given: bytes, env: dict[str, str]
) -> tuple[int, bytes, bytes]:
    """Run ``command`` with ``given`` on its standard input: its exit code, standard output
    and standard error. Cancelled (by an anyio scope, or once, as asyncio's ``Task.cancel``
    does), it kills the process and every process it started (its log and fold workers: the
    process leads a session of its own) before waiting for it. ``anyio.run_process`` kills only
    when a second cancellation interrupts its wait, and would let the child run to its end; and
    killing the child alone would leave its workers computing on."""
    async with await anyio.open_process(command, env=env, start_new_session=True) as process:
        assert process.stdin and process.stdout and process.stderr
        kept: tuple[bytearray, bytearray] = (bytearray(), bytearray())
        try:
            async with anyio.create_task_group() as group:
                for stream, into in zip((process.stdout, process.stderr), kept, strict=True):
                    group.start_soon(drain, stream, into)
                await process.stdin.send(given)
                await process.stdin.aclose()
                returncode = await process.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            raise
    return returncode, bytes(kept[0]), bytes(kept[1])


async def drain(stream: ByteReceiveStream, into: bytearray) -> None:
    """Read ``stream`` to its end into ``into``."""
    async for chunk in stream:
        into += chunk


def main() -> None:
    """The child: verify the database named on standard input, print the report."""
    database = msgspec.json.decode(sys.stdin.buffer.read(), type=str)
    ledger = Ledger(database)
    try:
        report = verify(ledger)
    finally:
        ledger.close()
    write_all(sys.stdout.buffer, msgspec.json.encode(report))


if __name__ == "__main__":
    main()
