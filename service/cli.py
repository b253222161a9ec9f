"""The ``knewwhen`` command: import, ask, export, replay, audit, serve, and manage tokens."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec

from domain.errors import DomainError
from domain.events import rfc3339
from domain.knowledge import Knowledge
from service import settings as settings_module
from service.application import Ledger
from service.audit.commands import (
    add_provenance_arguments,
    add_verify_arguments,
    cmd_provenance,
    cmd_verify,
)
from service.import_lines import ImportRejected
from service.importer import export_lines, import_file
from service.projections.format import ProjectionsOutOfDate
from service.schemas import Changes, ClaimHistory, Timeline
from service.streams import write_all, write_text
from service.timeparse import BadTime, parse_moment, require_order

BUNDLED_STORY = "doj-zero-tolerance.jsonl"
_encode = msgspec.json.Encoder().encode


def bundled_story_path() -> Path:
    """The bundled story file shipped inside the package."""
    return Path(str(resources.files("service") / "stories" / BUNDLED_STORY))


# The commands that may create the configured SQLite file; the others only read a store, and
# one that does not exist is a mistyped path, not an empty store (verify would say OK).
CREATING_COMMANDS = frozenset({"import", "token"})


class NoDatabase(Exception):
    """A command that only reads named a SQLite file that does not exist."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"no database at {path} (KNEWWHEN_DATABASE); 'knewwhen import' creates one"
        )


def open_ledger(*, rebuild: bool = False, create: bool = True) -> Ledger:
    """The ledger on the configured database: a SQLite file and its folder are created when
    ``create``, else a missing file raises ``NoDatabase``; ``rebuild`` opens one whose
    projections are of an earlier format, to replay them."""
    database = settings_module.load().database
    if "://" not in database:
        path = Path(database).expanduser()
        if not create and not path.exists():
            raise NoDatabase(path)
        path.parent.mkdir(parents=True, exist_ok=True)
    return Ledger(database, rebuild=rebuild)


def cli_user() -> str:
    """``recorded_by`` for writes made from the command line."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def moment(text: str | None, field: str) -> datetime | None:
    """Parse an optional time argument."""
    return None if text is None else parse_moment(text, field)


def emit_json(value: Any) -> None:
    """Print one JSON document."""
    write_all(sys.stdout.buffer, _encode(value) + b"\n")


def iso(value: datetime | None) -> str:
    """A time as RFC 3339 in UTC with ``Z``."""
    return "-" if value is None else rfc3339(value)


def listed(names: list[str], shown: int = 5) -> str:
    """``names`` for one line of output: the first ``shown`` and how many more."""
    if not names:
        return "none"
    if len(names) <= shown:
        return ", ".join(names)
    return f"{len(names)} in all: {', '.join(names[:shown])} and {len(names) - shown} more"


def cmd_import(args: argparse.Namespace, ledger: Ledger) -> int:
    path = bundled_story_path() if args.bundled else Path(args.file)
    if not path.is_file():
        print(f"knewwhen import: no such file: {path}", file=sys.stderr)
        return 1
    try:
        report = import_file(ledger, path, cli_user(), progress=sys.stderr.isatty())
    except ImportRejected as e:
        if e.stored == 1:
            kept = "the event written before it stays stored"
        elif e.stored:
            kept = f"the {e.stored} events written before it stay stored"
        else:
            kept = "nothing was stored"
        if e.cause:
            kept += f" ({e.cause})"
        print(f"knewwhen import: {path}: {e} — {kept}", file=sys.stderr)
        return 1
    stories = listed(sorted(report.stories))
    if report.stored == 0:
        print(
            f"{path.name}: {report.read} events read, all already stored; nothing new (stories: {stories})"
        )
    else:
        print(
            f"{path.name}: {report.read} events read, {report.stored} stored, "
            f"{report.already_present} already present (stories: {stories})"
        )
    return 0


def cmd_knowledge(args: argparse.Namespace, ledger: Ledger) -> int:
    ledger.require_story(args.story)
    at = moment(args.at, "--at") or datetime.now(UTC)
    knowledge = ledger.reader.knowledge(
        args.story, at, moment(args.recorded_before, "--recorded-before")
    )
    if args.json:
        emit_json(knowledge)
    else:
        print_knowledge(knowledge)
    return 0


def print_knowledge(k: Knowledge) -> None:
    """The knowledge answer as a readable table."""
    recorded = f", as recorded before {iso(k.recorded_before)}" if k.recorded_before else ""
    print(f"{k.story} at {iso(k.at)}{recorded}: {k.events_applied} events applied")
    print(f"\nCLAIMS ({len(k.claims)})")
    for c in k.claims:
        print(f"  {c.status:<13} {c.id}")
        print(f"  {'':<13} {c.text}")
        disputed = f" · disputed by {', '.join(c.disputed_by)}" if c.disputed_by else ""
        occurred = f" · happened {c.occurred_at}" if c.occurred_at else ""
        print(
            f"  {'':<13} supported by {', '.join(c.supported_by) or 'no one'}{disputed}"
            f" · first reported {iso(c.first_reported_at)} by {c.first_reported_by}{occurred}"
        )
    print(f"\nDOCUMENTS ({len(k.documents)})")
    for d in k.documents:
        revisions = f"{d.revisions} revision{'s' if d.revisions != 1 else ''}"
        print(f"  {d.visibility:<13} {d.id}: {d.title or '(untitled)'}")
        print(f"  {'':<13} by {d.author} · public since {iso(d.public_since)} · {revisions}")


def cmd_timeline(args: argparse.Namespace, ledger: Ledger) -> int:
    ledger.require_story(args.story)
    before = moment(args.recorded_before, "--recorded-before")
    timeline = Timeline(args.story, before, tuple(ledger.reader.timeline(args.story, before)))
    if args.json:
        emit_json(timeline)
        return 0
    for e in timeline.events:
        print(f"{iso(e.published_at)}  {e.type:<18} {e.source:<12} {e.id}  {e.summary}")
    return 0


def cmd_history(args: argparse.Namespace, ledger: Ledger) -> int:
    ledger.require_story(args.story)
    before = moment(args.recorded_before, "--recorded-before")
    entries = tuple(ledger.reader.history(args.story, args.claim, before))
    if not entries:
        print(
            f"knewwhen history: story {args.story!r} has no claim {args.claim!r}", file=sys.stderr
        )
        return 1
    if args.json:
        emit_json(ClaimHistory(args.story, args.claim, before, entries))
        return 0
    for h in entries:
        shown = h.status if h.visible else "(not yet asserted)"
        disputed = f", disputed by {', '.join(h.disputed_by)}" if h.disputed_by else ""
        print(
            f"{iso(h.at)}  {h.source} {h.stance} ({h.event}) → {shown}: "
            f"supported by {', '.join(h.supported_by) or 'no one'}{disputed}"
        )
    return 0


def cmd_changes(args: argparse.Namespace, ledger: Ledger) -> int:
    ledger.require_story(args.story)
    start = parse_moment(args.start, "--from")
    end = moment(args.end, "--to") or datetime.now(UTC)
    require_order(start, end, "--from", "--to")
    before = moment(args.recorded_before, "--recorded-before")
    changes = tuple(ledger.reader.changes(args.story, start, end, before))
    if args.json:
        emit_json(Changes(args.story, start, end, before, changes))
        return 0
    for c in changes:
        was = f" (was {c.previous_status})" if c.previous_status else ""
        print(f"{iso(c.at)}  {c.kind:<21} {c.claim or c.document}: {c.status}{was}  [{c.event}]")
    if not changes:
        print(f"nothing became known or changed status in ({iso(start)}, {iso(end)}]")
    return 0


def cmd_export(args: argparse.Namespace, ledger: Ledger) -> int:
    ledger.require_story(args.story)
    out = sys.stdout.buffer
    for line in export_lines(ledger, args.story):
        write_all(out, line)
    return 0


def cmd_document(args: argparse.Namespace, ledger: Ledger) -> int:
    from service.documents import Documents

    ledger.require_story(args.story)
    documents = Documents.of(ledger)
    if args.revision is not None:
        found: Any = documents.revision(args.story, args.doc, args.revision)
        missing = f"has no revision {args.revision}"
    else:
        at = moment(args.at, "--at") or datetime.now(UTC)
        found = documents.at(args.story, args.doc, at)
        missing = f"was not public at {iso(at)}"
    if found is None:
        if documents.latest(args.story, args.doc) is None:
            missing = "is not in the story"
        print(f"knewwhen document: document {args.doc!r} {missing}", file=sys.stderr)
        return 1
    if args.json:
        emit_json(found)
        return 0
    print(
        f"{found.title or '(untitled)'} — by {found.author}{f' · {found.url}' if found.url else ''}"
    )
    print(
        f"revision {found.revision} · published {iso(found.published_at)} by {found.event}"
        f" · sha256 {found.sha256 or '-'}\n"
    )
    print(found.text or "")
    return 0


def cmd_diff(args: argparse.Namespace, ledger: Ledger) -> int:
    from service.documents import Documents
    from service.revisions import revision_diff, revision_patch

    ledger.require_story(args.story)
    revisions = Documents.of(ledger).revisions(args.story, args.doc)
    for number in (args.n, args.m):
        if not 1 <= number <= len(revisions):
            print(
                f"knewwhen diff: document {args.doc!r} has {len(revisions)} revisions, "
                f"not a revision {number}",
                file=sys.stderr,
            )
            return 1
    old, new = revisions[args.n - 1], revisions[args.m - 1]
    if args.json:
        emit_json(revision_diff(old, new))
    else:
        write_text(revision_patch(old, new))
    return 0


def worker_count(text: str) -> int:
    """``--workers``: a whole number, 0 or more."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of processes (0 or more)")
    return int(text)


def cmd_replay(args: argparse.Namespace, ledger: Ledger) -> int:
    replayed = ledger.replay(progress=sys.stderr.isatty() or args.progress, workers=args.workers)
    print(
        f"replayed {replayed} stored events; projections rebuilt at position {ledger.reader.position()}"
    )
    return 0


def cmd_serve(args: argparse.Namespace, ledger: Ledger | None) -> int:
    from service.serve import run

    try:
        run(settings_module.load(), args.host, args.port, args.workers)
    except ProjectionsOutOfDate as e:
        print(f"knewwhen serve: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_token(args: argparse.Namespace, ledger: Ledger) -> int:
    from service.tokens import create_token, revoke_token

    if args.token_command == "create":
        print(create_token(ledger, args.name, args.role))
        return 0
    if revoke_token(ledger, args.name):
        print(f"token {args.name!r} revoked", file=sys.stderr)
        return 0
    print(f"knewwhen token revoke: no active token named {args.name!r}", file=sys.stderr)
    return 1


def parser() -> argparse.ArgumentParser:
    """The command line grammar."""
    p = argparse.ArgumentParser(
        prog="knewwhen",
        description="What was publicly known, and when. Database: $KNEWWHEN_DATABASE "
        f"(a file path or a postgresql:// URL; default {settings_module.DEFAULT_DATABASE}).",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[..., int], help_text: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help_text, description=help_text)
        c.set_defaults(handler=handler)
        return c

    times = "RFC 3339 timestamp with an offset, or a date (the end of that day, UTC)"
    c = command("import", cmd_import, "validate a JSONL file whole, then store its events")
    source = c.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", help='one reporting event per line, with "story"')
    source.add_argument(
        "--bundled", action="store_true", help="the bundled story doj-zero-tolerance"
    )
    for name, handler, help_text in (
        ("knowledge", cmd_knowledge, "what was publicly known about a story at a time"),
        ("timeline", cmd_timeline, "a story's events in public order"),
        ("history", cmd_history, "a claim's status after each event that changed it"),
        ("changes", cmd_changes, "what became known or changed status in (from, to]"),
    ):
        c = command(name, handler, help_text)
        c.add_argument("story")
        if name == "history":
            c.add_argument("claim")
        if name == "knowledge":
            c.add_argument("--at", help=f"{times}; default now")
        if name == "changes":
            c.add_argument("--from", dest="start", required=True, help=times)
            c.add_argument("--to", dest="end", help=f"{times}; default now")
        c.add_argument("--recorded-before", help=f"only events recorded before this ({times})")
        c.add_argument("--json", action="store_true", help="print JSON")
    c = command("export", cmd_export, "print a story's events as JSONL (re-importable)")
    c.add_argument("story")
    c = command("document", cmd_document, "a document's text at a time, or one revision of it")
    c.add_argument("story")
    c.add_argument("doc")
    which = c.add_mutually_exclusive_group()
    which.add_argument("--at", help=f"the latest revision public then ({times}); default now")
    which.add_argument("--revision", type=int, help="revision N (1, 2, … in publication order)")
    c.add_argument("--json", action="store_true", help="print JSON")
    c = command("diff", cmd_diff, "the change between revisions N and M of a document")
    c.add_argument("story")
    c.add_argument("doc")
    c.add_argument("n", type=int)
    c.add_argument("m", type=int)
    c.add_argument("--json", action="store_true", help="print equal/insert/delete operations")
    c = command("replay", cmd_replay, "rebuild every projection from the event store")
    c.add_argument("--progress", action="store_true", help="show a progress bar even when piped")
    c.add_argument(
        "--workers",
        type=worker_count,
        help="processes folding stories beside the one writing (0: none; default: one per CPU,"
        " at most 4, for a store of 50,000 events or more)",
    )
    c = command("verify", cmd_verify, "check the log, its tree heads and the projections")
    add_verify_arguments(c)
    c = command("provenance", cmd_provenance, "the W3C PROV of a story, or of one of its claims")
    add_provenance_arguments(c)
    c = command("serve", cmd_serve, "serve the HTTP API with uvicorn")
    c.add_argument("--host", default="127.0.0.1")
    c.add_argument("--port", type=int, default=8000)
    c.add_argument("--workers", type=int, default=1)
    c = command("token", cmd_token, "create or revoke API tokens")
    tokens = c.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = tokens.add_parser("create", help="create a token; prints it once, alone on stdout")
    create.add_argument("name")
    create.add_argument("--role", choices=["writer", "reader", "admin"], required=True)
    revoke = tokens.add_parser("revoke", help="revoke a token by name")
    revoke.add_argument("name")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; exit 0 on success, 1 on a refused request, 2 on a usage error."""
    args = parser().parse_args(argv)
    if args.command == "serve":
        return cmd_serve(args, None)
    try:
        ledger = open_ledger(
            rebuild=args.command == "replay", create=args.command in CREATING_COMMANDS
        )
    except (ProjectionsOutOfDate, NoDatabase) as e:
        print(f"knewwhen {args.command}: {e}", file=sys.stderr)
        return 1
    try:
        result: int = args.handler(args, ledger)
        return result
    except BadTime as e:
        print(f"knewwhen {args.command}: {e}", file=sys.stderr)
        return 2
    except DomainError as e:
        print(f"knewwhen {args.command}: {e.detail}", file=sys.stderr)
        return 1
    finally:
        ledger.close()


if __name__ == "__main__":
    sys.exit(main())
