"""``verify`` in a child process, for ``GET /v1/log/verify`` (decision 021).

A verification recomputes the whole log and refolds every story: at a million events it
computes for minutes holding the GIL and takes ~130 MB. In the server's own process it would
stall every other request for that long and add its memory to the server's; in a child it
shares the CPUs like any other process and returns its memory when it ends.

The child reads the database setting on its standard input and writes the ``VerifyReport`` as
JSON on its standard output.
"""

from __future__ import annotations

import sys
import tempfile

import anyio
import msgspec
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
        done = await anyio.run_process(
            [sys.executable, "-m", __name__],
            input=msgspec.json.encode(ledger.database),
            env={**child_environment(), "TMPDIR": scratch},
            check=False,
        )
    if done.returncode != 0:
        errors = done.stderr.decode(errors="replace")[-STDERR_TAIL:]
        raise VerifyFailed(f"verify's child process exited with {done.returncode}:\n{errors}")
    return _decode_report(done.stdout)


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
