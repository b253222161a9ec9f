"""Replay: every projection table rebuilt from the event store, inside one transaction.

Live appends re-fold what a save touched from the rows already stored; replay has the whole
history, so it folds each story in memory, save by save, with the same ``save_rows`` and the
same folds, and writes the same rows (the property tests compare the tables). It writes in
key order, so every table grows at its end, and builds the secondary indexes after the rows:
1. the tables other than ``kw_events`` (keyed by story first) story by story, in story order,
   each story folded here or, for a large store, by worker processes meanwhile
   (``fold_workers``, decision 016); on SQLite, ``kw_document_urls`` (keyed by a URL's hash
   first, so a story's rows would land all over it) goes to a temporary table first, then in
   one ordered insert (decision 033);
2. ``kw_events`` (keyed by position) in position order, a page of the store at a time: with
   workers, each page while the next story's rows are not there yet (so neither process waits
   on the other while there is work), the rest after the stories.
Memory stays that of the largest story (a few, with workers); the stored events, the log and
the tokens are read, never written.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from eventsourcing.persistence import StoredEvent

from domain.knowledge import (
    ClaimAct,
    ClaimState,
    DocumentAct,
    act_order,
    fold_claim,
    fold_document,
)
from service.projections.dialect import (
    PROJECTION_INDEXES,
    PROJECTION_TABLES,
    RETIRED_TABLES,
    STAMP_FORMAT,
    Dialect,
    EventStore,
)
from service.projections.rows import (
    RECORDED_TOPIC,
    EventRow,
    SaveRows,
    StateRow,
    UrlRow,
    batches,
    claim_state_rows,
    document_state_rows,
    micros,
    save_rows,
    stored_event_row,
)

Advance = Callable[[int], object]
URLS = "kw_document_urls"
STAGED_URLS = "temp.kw_document_urls_staged"
A = TypeVar("A", ClaimAct, DocumentAct)
PAGE = 1000


@dataclass
class StoryFold:
    """One story's claims and documents, folded save by save in memory as live appends did."""

    story: str
    claim_acts: dict[str, list[ClaimAct]] = field(default_factory=dict)
    claim_states: dict[str, list[ClaimState]] = field(default_factory=dict)
    document_acts: dict[str, list[DocumentAct]] = field(default_factory=dict)
    claims_first: dict[str, int] = field(default_factory=dict)
    documents_first: dict[str, int] = field(default_factory=dict)
    urls: dict[UrlRow, None] = field(default_factory=dict)
    events: int = 0
    first_published_at: int | None = None
    last_published_at: int | None = None
    last_position: int = 0

    def apply(self, rows: SaveRows) -> tuple[list[StateRow], list[StateRow]]:
        """Take one save's acts; the claim and document state rows it (re)writes."""
        claims: list[StateRow] = []
        for key, new in rows.new_claim_acts.items():
            start = rows.claims_from[key]
            states = self.claim_states.setdefault(key, [])
            stored = self.claim_acts.get(key, [])
            cut = bisect_left(stored, start, key=act_order)  # the same once merged: new ≥ start
            held = dict(zip(map(act_order, stored[cut:]), states[cut:], strict=True))
            acts = merged(self.claim_acts, key, new)
            after = states[cut - 1] if cut else None
            states[cut:] = fold_claim(key, acts[cut:], after)
            claims.extend(
                claim_state_rows(
                    self.story,
                    key,
                    acts[cut:],
                    states[cut:],
                    start,
                    rows.recorded_at,
                    rows.positions,
                    held,
                )
            )
            self._lower(self.claims_first, key, start)
        documents: list[StateRow] = []
        for key, added in rows.new_document_acts.items():
            published = self.document_acts.get(key, [])
            had = dict(zip(map(act_order, published), fold_document(key, published), strict=True))
            acts_of = merged(self.document_acts, key, added)
            start = rows.documents_from[key]
            folded = list(fold_document(key, acts_of))
            documents.extend(
                document_state_rows(
                    self.story, key, acts_of, folded, start, rows.recorded_at, rows.positions, had
                )
            )
            self._lower(self.documents_first, key, start)
        self.urls.update(dict.fromkeys(rows.urls))
        public_times = [row[6] for row in rows.events]
        self.events += len(rows.events)
        low, high = min(public_times), max(public_times)
        self.first_published_at = min(low, self.first_published_at or low)
        self.last_published_at = max(high, self.last_published_at or high)
        self.last_position = rows.events[-1][0]
        return claims, documents

    @staticmethod
    def _lower(first: dict[str, int], key: str, start: tuple[Any, int]) -> None:
        published = micros(start[0])
        first[key] = min(first.get(key, published), published)


def state_key(row: StateRow) -> tuple[str, str, int, int, int]:
    """A state row's primary key, in its order: (story, key, published_at, position,
    recorded_at)."""
    return row[0], row[1], row[3], row[4], row[2]


def merged(acts_by_key: dict[str, list[A]], key: str, new: list[A]) -> list[A]:
    """``key``'s acts, with ``new`` ones put in fold order among them."""
    acts = acts_by_key.setdefault(key, [])
    for act in new:
        insort(acts, act, key=act_order)
    return acts


def story_statement(dialect: Dialect, store: EventStore, up_to: int | None = None) -> str:
    """The SQL reading one story's stored events (position, topic, state) in story order;
    with ``up_to``, only those at that position or before."""
    bound = "" if up_to is None else f" AND {store.position} <= {int(up_to)}"
    return dialect.sql(
        f"SELECT {store.position} AS position, topic, state FROM {store.table}"
        f" WHERE originator_id = ?{bound} ORDER BY originator_version"
    )


def events_statement(dialect: Dialect, store: EventStore, up_to: int | None = None) -> str:
    """The SQL reading a page of stored events after a position, in position order
    (parameters: the position, the page's size); with ``up_to``, only those at that position or
    before."""
    bound = "" if up_to is None else f" AND {store.position} <= {int(up_to)}"
    return dialect.sql(
        f"SELECT {store.position} AS position, originator_id, originator_version, topic, state"
        f" FROM {store.table} WHERE {store.position} > ?{bound}"
        f" ORDER BY {store.position} LIMIT ?"
    )


Rows = Callable[[str, tuple[Any, ...]], Sequence[Any]]
"""Runs one query (``?`` markers already rewritten for its database): its rows, by name."""


def paged_rows(rows: Rows, statement: str) -> Iterator[Any]:
    """Every row ``statement`` (``events_statement``'s) reads, in position order, a page at a
    time."""
    after = 0
    while True:
        page = rows(statement, (after, PAGE))
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1]["position"]


def cursor_rows(cursor: Any) -> Rows:
    """``Rows`` through ``cursor``."""

    def rows(statement: str, params: tuple[Any, ...]) -> Sequence[Any]:
        cursor.execute(statement, params)
        return list(cursor.fetchall())

    return rows


def stored_of(story: str, rows: Iterable[Any]) -> list[tuple[int, StoredEvent]]:
    """The rows ``story_statement`` read, as (position, stored event) pairs."""
    return [
        (row["position"], StoredEvent(story, 0, row["topic"], bytes(row["state"]))) for row in rows
    ]


@dataclass(frozen=True)
class StoryRows:
    """One story's rows of every table but ``kw_events``, each list in its table's key order."""

    story: str
    events: int
    tables: list[tuple[str, list[Any]]]


def fold_story(story: str, stored: list[tuple[int, StoredEvent]]) -> StoryRows:
    """Fold one story's saves in memory, as live appends did, into the rows they wrote."""
    fold = StoryFold(story)
    acts: dict[str, list[Any]] = {"kw_document_acts": []}
    states: dict[str, list[StateRow]] = {"kw_claim_states": [], "kw_document_states": []}
    for batch in batches(stored):
        rows = save_rows(batch)
        acts["kw_document_acts"].extend(rows.document_acts)
        claims, documents = fold.apply(rows)
        states["kw_claim_states"].extend(claims)
        states["kw_document_states"].extend(documents)
    if not fold.events:
        return StoryRows(story, 0, [])
    story_row = (
        story,
        fold.events,
        len(fold.claims_first),
        len(fold.documents_first),
        fold.first_published_at,
        fold.last_published_at,
        fold.last_position,
    )
    things: dict[str, list[Any]] = {
        "kw_stories": [story_row],
        "kw_claims": [(story, k, first) for k, first in sorted(fold.claims_first.items())],
        "kw_documents": [(story, k, first) for k, first in sorted(fold.documents_first.items())],
        "kw_document_urls": sorted(fold.urls),
    }
    tables = [(table, sorted(rows)) for table, rows in (*things.items(), *acts.items())]
    tables += [(table, sorted(rows, key=state_key)) for table, rows in states.items()]
    return StoryRows(story, fold.events, tables)


class StoryFolds(Protocol):
    """Folds stories elsewhere: their rows, in the order given. While the next story's rows
    are not there yet, ``meanwhile`` (the caller's other work) is run a step at a time, until
    it ends."""

    def __call__(
        self, stories: Iterable[str], meanwhile: Iterable[object] = ...
    ) -> Iterator[StoryRows]: ...


class Rebuild:
    """Writes every projection table afresh through one cursor of an open write transaction.

    ``folds`` folds stories elsewhere (``service.projections.fold_workers``), in the order
    given; without it each story is read through the cursor and folded here.
    """

    def __init__(
        self, dialect: Dialect, store: EventStore, folds: StoryFolds | None = None
    ) -> None:
        self.dialect = dialect
        self.story_events = story_statement(dialect, store)
        self.story_ids = f"SELECT DISTINCT originator_id FROM {store.table}"
        self.events = events_statement(dialect, store)
        self.folds = folds

    def run(self, cursor: Any, advance: Advance) -> None:
        """Drop and create the tables, write every row, index them, stamp the format;
        ``advance`` is told of each event written, twice (once per pass). Folds elsewhere
        start first, so they run while the old tables are dropped; ``kw_events`` is written a
        page at a time while the next story's rows are not there yet, the rest after."""
        cursor.execute(self.story_ids)
        stories = sorted(row["originator_id"] for row in cursor.fetchall())
        pages = self.event_pages(cursor, advance)
        folded = self.folds(stories, pages) if self.folds else self.fold_here(cursor, stories)
        for table in (*PROJECTION_TABLES, *RETIRED_TABLES):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute("DELETE FROM kw_meta WHERE name = 'projection_format'")
        for statement in self.dialect.projection_tables():
            cursor.execute(statement)
        staged = self.dialect.name == "sqlite"
        if staged:
            cursor.execute(f"DROP TABLE IF EXISTS {STAGED_URLS}")
            cursor.execute(f"CREATE TABLE {STAGED_URLS} AS SELECT * FROM {URLS} WHERE 0")
        for rows in folded:
            for table, table_rows in rows.tables:
                if staged and table == URLS:
                    cursor.executemany(f"INSERT INTO {STAGED_URLS} VALUES (?,?,?,?)", table_rows)
                else:
                    self.dialect.insert_rows(cursor, table, table_rows)
            advance(rows.events)
        for _ in pages:
            pass
        if staged:
            cursor.execute(
                f"INSERT INTO {URLS} SELECT * FROM {STAGED_URLS} ORDER BY url_sha256, story, document"
            )
            cursor.execute(f"DROP TABLE {STAGED_URLS}")
        for statement in (*PROJECTION_INDEXES, STAMP_FORMAT):
            cursor.execute(statement)

    def event_pages(self, cursor: Any, advance: Advance) -> Iterator[None]:
        """``kw_events`` in position order, from the stored events read as plain rows a page at
        a time through ``cursor`` (the library's notifications cost ~2-4 µs an event more):
        each step writes one page, so the caller can write the table in the gaps of its other
        work (the tables must exist by the first step)."""
        page: list[EventRow] = []
        for row in paged_rows(cursor_rows(cursor), self.events):
            if row["topic"] == RECORDED_TOPIC:
                page.append(stored_event_row(row["position"], row["state"])[1])
            if len(page) >= PAGE:
                self.dialect.insert_rows(cursor, "kw_events", page)
                advance(len(page))
                page = []
                yield
        self.dialect.insert_rows(cursor, "kw_events", page)
        advance(len(page))

    def fold_here(self, cursor: Any, stories: Iterable[str]) -> Iterator[StoryRows]:
        """Each story read through ``cursor`` and folded in this process."""
        for story in stories:
            cursor.execute(self.story_events, (story,))
            yield fold_story(story, stored_of(story, cursor.fetchall()))
