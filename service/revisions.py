"""A document's revisions: the publications that changed its title or text, and their diffs.

``fold_revisions`` runs the domain's ``fold_document`` over one document's acts (the fold the
projections use) while keeping the text, so each revision carries what it said. Revisions are
numbered in publication order: a later revision recorded first is renumbered once the earlier
one is recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime

import msgspec
from msgspec import Struct

from domain.knowledge import DocumentAct, DocumentState, fold_document
from service.diff import Operation, operations, unified


class Revision(Struct, frozen=True):
    """One revision of a document: a publication that changed its title or text."""

    story: str
    document: str
    revision: int
    published_at: datetime
    event: str
    recorded_at: datetime
    title: str | None
    author: str
    url: str | None
    sha256: str | None
    text: str | None


class RevisionSummary(Struct, frozen=True):
    """A revision without its text."""

    revision: int
    published_at: datetime
    event: str
    recorded_at: datetime
    title: str | None
    author: str
    url: str | None
    sha256: str | None
    length: int


class DocumentDiff(Struct, frozen=True):
    """The change from revision ``from`` to revision ``to``: equal/insert/delete runs ([] if none)."""

    story: str
    document: str
    from_: int = msgspec.field(name="from")
    to: int
    operations: tuple[Operation, ...]


def sha256(text: str | None) -> str | None:
    """The hex SHA-256 of a text's UTF-8 bytes (None for no text)."""
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


Step = tuple[DocumentAct, DocumentState, Revision]


def revision_diff(old: Revision, new: Revision) -> DocumentDiff:
    """The change between two revisions of one document, as JSON operations."""
    runs = operations(old.text or "", new.text or "")
    return DocumentDiff(old.story, old.document, old.revision, new.revision, tuple(runs))


def revision_patch(old: Revision, new: Revision) -> str:
    """The change between two revisions of one document, as a unified diff."""
    return unified(
        old.text or "",
        new.text or "",
        f"{old.document}/revisions/{old.revision}",
        f"{new.document}/revisions/{new.revision}",
        rfc3339(old.published_at),
        rfc3339(new.published_at),
    )


def rfc3339(moment: datetime) -> str:
    """A time as RFC 3339 in UTC with ``Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def fold_revisions(
    story: str, document: str, acts: Sequence[tuple[DocumentAct, datetime]]
) -> Iterator[Step]:
    """Fold (act, recorded_at) pairs in act order: each act, the state and revision after it."""
    text: str | None = None
    current: Revision | None = None
    states = fold_document(document, (act for act, _ in acts))
    for (act, recorded_at), state in zip(acts, states, strict=True):
        if act.document.text is not None:
            text = act.document.text
        if current is None or state.revisions != current.revision:
            current = Revision(
                story=story,
                document=document,
                revision=state.revisions,
                published_at=act.published_at,
                event=act.event_id,
                recorded_at=recorded_at,
                title=state.title,
                author=state.author,
                url=state.url,
                sha256=sha256(text),
                text=text,
            )
        yield act, state, current


def distinct(steps: Iterable[Step]) -> list[Revision]:
    """Each revision once, in order."""
    found: list[Revision] = []
    for _, _, revision in steps:
        if not found or found[-1].revision != revision.revision:
            found.append(revision)
    return found


def summary(revision: Revision) -> RevisionSummary:
    """A revision without its text."""
    return RevisionSummary(
        revision=revision.revision,
        published_at=revision.published_at,
        event=revision.event,
        recorded_at=revision.recorded_at,
        title=revision.title,
        author=revision.author,
        url=revision.url,
        sha256=revision.sha256,
        length=len(revision.text or ""),
    )
