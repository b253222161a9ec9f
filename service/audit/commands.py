"""The ``knewwhen verify`` and ``knewwhen provenance`` commands, for ``service.cli`` to mount."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

import msgspec

from service.application import Ledger
from service.audit.verify import verify
from service.provenance import provenance_document
from service.provn import provn
from service.streams import write_all, write_text
from service.timeparse import parse_moment

TIMES = "RFC 3339 timestamp with an offset, or a date (the end of that day, UTC)"


def cmd_verify(args: argparse.Namespace, ledger: Ledger) -> int:
    """Verify the log and the projections: exit 0, or 1 naming the first index that fails."""
    report = verify(ledger, progress=sys.stderr.isatty() or bool(args.progress))
    for line in report.checked:
        print(line)
    if report.ok:
        print(report.lines()[-1])
        return 0
    print(f"knewwhen verify: {report.lines()[-1]}", file=sys.stderr)
    return 1


def cmd_provenance(args: argparse.Namespace, ledger: Ledger) -> int:
    """Print the W3C PROV of a story or one of its claims (PROV-JSON, or PROV-N)."""
    at = parse_moment(args.at, "--at") if args.at else datetime.now(UTC)
    before = (
        parse_moment(args.recorded_before, "--recorded-before") if args.recorded_before else None
    )
    document = provenance_document(ledger, args.story, args.claim, at, before)
    if args.format == "provn":
        write_text(provn(document))
    else:
        write_all(sys.stdout.buffer, msgspec.json.encode(document) + b"\n")
    return 0


def add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    """``knewwhen verify [--progress]``."""
    parser.add_argument("--progress", action="store_true", help="show progress even when piped")


def add_provenance_arguments(parser: argparse.ArgumentParser) -> None:
    """``knewwhen provenance STORY [CLAIM] [--at T] [--recorded-before R] [--format provn]``."""
    parser.add_argument("story")
    parser.add_argument("claim", nargs="?", help="one claim (default: the whole story)")
    parser.add_argument("--at", help=f"{TIMES}; default now")
    parser.add_argument("--recorded-before", help=f"only events recorded before this ({TIMES})")
    parser.add_argument("--format", choices=["json", "provn"], default="json")
