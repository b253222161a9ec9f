"""Documents as versioned resources: revisions at (T, R), folded from one document's stored acts.

A document's revisions are never read from the stream: its acts (``kw_document_acts``, each
with its ``recorded_at``) are folded by ``service.revisions``. Lists of documents are
one scan of the story's rows of the bitemporal ``kw_document_states``; a URL is one probe of
``kw_document_urls``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from msgspec import Struct

from domain.knowledge import DocumentState, Visibility
from service.application import Ledger
from service.projections.dialect import LATEST_STATE_FIRST, Dialect
from service.projections.reader import (
    DOCUMENT_STATES_UP_TO,
    Datastore,
    decode_document_state,
    document_states,
    recorded_bound,
)
from service.projections.rows import decode_document_act, from_micros, micros, url_key
from service.projections.snapshots import reading, tuple_rows
from service.revisions import Revision, RevisionSummary, Step, distinct, fold_revisions


class RevisionList(Struct, frozen=True):
    """Every revision of a document, in publication order."""

    story: str
    document: str
    recorded_before: datetime | None
    revisions: tuple[RevisionSummary, ...]


class DocumentSummary(Struct, frozen=True):
    """A public document: its metadata and how many revisions it had."""

    id: str
    title: str | None
    author: str
    url: str | None
    visibility: Visibility
    public_since: datetime
    revisions: int


class DocumentList(Struct, frozen=True):
    """The documents of a story public at ``at``, as recorded before ``recorded_before``."""

    story: str
    at: datetime
    recorded_before: datetime | None
    documents: tuple[DocumentSummary, ...]


class DocumentAt(Struct, frozen=True):
    """The latest revision of a document public at ``at``, with the document's metadata then."""

    story: str
    id: str
    at: datetime
    recorded_before: datetime | None
    title: str | None
    author: str
    url: str | None
    visibility: Visibility
    public_since: datetime
    revisions: int
    revision: int
    published_at: datetime
    event: str
    sha256: str | None
    text: str | None


def document_summary(state: DocumentState) -> DocumentSummary:
    """A document's state as the documents list shows it."""
    return DocumentSummary(
        id=state.id,
        title=state.title,
        author=state.author,
        url=state.url,
        visibility=state.visibility,
        public_since=state.public_since,
        revisions=state.revisions,
    )


class Documents:
    """Revision queries over the document tables of one database."""

    def __init__(self, datastore: Datastore, dialect: Dialect) -> None:
        self.datastore = datastore
        self.dialect = dialect
        q = dialect.sql
        self.acts = q(
            "SELECT act, recorded_at FROM kw_document_acts"
            " WHERE story = ? AND document = ? AND recorded_at < ?"
            " ORDER BY published_at, position"
        )
        self.states_at = q(DOCUMENT_STATES_UP_TO)
        self.latest_state = q(
            "SELECT s.state FROM kw_document_states s WHERE s.story = ? AND s.document = ?"
            + LATEST_STATE_FIRST
        )
        self.by_url_key = q(
            "SELECT story, document, url FROM kw_document_urls WHERE url_sha256 = ?"
            " ORDER BY story, document"
        )

    @classmethod
    def of(cls, ledger: Ledger) -> Documents:
        """The document queries of a ledger's database."""
        return cls(ledger.reader.datastore, ledger.dialect)

    def _rows(self, statement: str, params: Sequence[Any]) -> list[Any]:
        with reading(self.datastore, self.dialect, snapshot=False) as cursor:
            cursor.execute(statement, params)
            return list(cursor.fetchall())

    def steps(self, story: str, document: str, recorded_before: datetime | None) -> list[Step]:
        """The document's state and current revision after each act recorded before R."""
        rows = self._rows(self.acts, (story, document, recorded_bound(recorded_before)))
        acts = [(decode_document_act(row["act"]), from_micros(row["recorded_at"])) for row in rows]
        return list(fold_revisions(story, document, acts))

    def revisions(
        self, story: str, document: str, recorded_before: datetime | None = None
    ) -> list[Revision]:
        """Every revision of the document as recorded before R, in publication order."""
        return distinct(self.steps(story, document, recorded_before))

    def revision(
        self, story: str, document: str, number: int, recorded_before: datetime | None = None
    ) -> Revision | None:
        """Revision ``number`` (1, 2, …), or None."""
        found = self.revisions(story, document, recorded_before)
        return found[number - 1] if 1 <= number <= len(found) else None

    def at(
        self, story: str, document: str, at: datetime, recorded_before: datetime | None = None
    ) -> DocumentAt | None:
        """The latest revision public at ``at`` (as recorded before R), or None."""
        public = [
            (state, revision)
            for act, state, revision in self.steps(story, document, recorded_before)
            if act.published_at <= at
        ]
        if not public:
            return None
        state, revision = public[-1]
        return DocumentAt(
            story=story,
            id=document,
            at=at,
            recorded_before=recorded_before,
            title=state.title,
            author=state.author,
            url=state.url,
            visibility=state.visibility,
            public_since=state.public_since,
            revisions=state.revisions,
            revision=revision.revision,
            published_at=revision.published_at,
            event=revision.event,
            sha256=revision.sha256,
            text=revision.text,
        )

    def documents(
        self, story: str, at: datetime, recorded_before: datetime | None = None
    ) -> list[DocumentSummary]:
        """The story's documents public at ``at``, by (public_since, id)."""
        params = (story, micros(at), recorded_bound(recorded_before))
        with (
            reading(self.datastore, self.dialect, snapshot=False) as named,
            tuple_rows(named, self.dialect) as cursor,
        ):
            cursor.execute(self.states_at, params)
            states = document_states(cursor.fetchall())
        states.sort(key=lambda s: (s.public_since, s.id))
        return [document_summary(s) for s in states]

    def latest(self, story: str, document: str) -> DocumentState | None:
        """The document's state after all its acts as recorded now, or None if it has none."""
        rows = self._rows(self.latest_state, (story, document))
        return decode_document_state(rows[0]["state"]) if rows else None

    def by_url(self, url: str) -> list[tuple[str, str]]:
        """The (story, document) pairs ever published with this exact URL."""
        rows = self._rows(self.by_url_key, (url_key(url),))
        return [(row["story"], row["document"]) for row in rows if row["url"] == url]
