"""The pure fold from recorded reporting events to the state of public knowledge.

``knowledge_at`` is the reference: the projections answer the same questions from indexed
tables, and the tests hold them to this fold. Per claim and per document the fold runs over
"acts" (one event's stance on one claim, one event's publication of one document), so the
projections can store acts as rows and re-fold a single claim without reading the stream.
A state holds what the next act needs and no more (a bounded size, whatever the history);
a claim's ``events`` in an answer are its applied acts, in order, read beside the state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Literal, TypeVar

from msgspec import Struct

from domain.events import SUPPORTING_STANCES, Document, ReportingEvent, Stance

ClaimStatus = Literal["reported", "corroborated", "confirmed", "retracted"]
Visibility = Literal["leaked", "published", "released"]

S = TypeVar("S")

VISIBILITY_STRENGTH: dict[str, int] = {"leaked": 1, "published": 2, "released": 3}


class RecordedEvent(Struct, frozen=True):
    """A reporting event as the store holds it: with its story, position and recording."""

    story: str
    event: ReportingEvent
    position: int
    recorded_at: datetime
    recorded_by: str


class ClaimAct(Struct, frozen=True, array_like=True):
    """One event's stance on one claim: the unit the claim fold applies."""

    event_id: str
    event_type: str
    source: str
    stance: Stance
    published_at: datetime
    position: int
    text: str | None = None
    occurred_at: str | None = None
    primary: bool = False


class ClaimState(Struct, frozen=True, array_like=True):
    """What was public about one claim after some acts were applied (stored by position)."""

    id: str
    visible: bool
    text: str | None
    status: ClaimStatus
    supported_by: tuple[str, ...]
    disputed_by: tuple[str, ...]
    first_reported_at: datetime | None
    first_reported_by: str | None
    occurred_at: str | None
    # The sources that ever released the claim in their own document: what a fold needs,
    # beside the supporters and disputers, to resume from this state.
    primary_sources: tuple[str, ...]


class DocumentAct(Struct, frozen=True, array_like=True):
    """One event's publication of one document."""

    event_id: str
    event_type: str
    source: str
    published_at: datetime
    position: int
    document: Document


class DocumentState(Struct, frozen=True, array_like=True):
    """What was public about one document after some acts were applied (stored by position)."""

    id: str
    title: str | None
    author: str
    url: str | None
    visibility: Visibility
    public_since: datetime
    revisions: int


class ClaimKnowledge(Struct, frozen=True):
    """A visible claim in the knowledge JSON."""

    id: str
    text: str | None
    status: ClaimStatus
    supported_by: tuple[str, ...]
    disputed_by: tuple[str, ...]
    first_reported_at: datetime | None
    first_reported_by: str | None
    occurred_at: str | None
    events: tuple[str, ...]


class DocumentKnowledge(Struct, frozen=True):
    """A public document in the knowledge JSON."""

    id: str
    title: str | None
    author: str
    visibility: Visibility
    public_since: datetime
    revisions: int


class Knowledge(Struct, frozen=True):
    """The state of public knowledge of one story at ``at``, as recorded before ``recorded_before``."""

    story: str
    at: datetime
    recorded_before: datetime | None
    claims: tuple[ClaimKnowledge, ...]
    documents: tuple[DocumentKnowledge, ...]
    events_applied: int


def claim_acts(event: ReportingEvent, position: int) -> Iterator[tuple[str, ClaimAct]]:
    """The claim acts one event contributes, keyed by claim id."""
    tag = event.type
    author = (event.document.author or event.source) if event.document else None
    primary_release = tag == "document_released" and author == event.source
    for claim in event.claims:
        yield (
            claim.id,
            ClaimAct(
                event_id=event.id,
                event_type=tag,
                source=event.source,
                stance=claim.stance,
                published_at=event.published_at,
                position=position,
                text=claim.text,
                occurred_at=claim.occurred_at,
                primary=primary_release and claim.stance in ("asserts", "confirms"),
            ),
        )


def document_act(event: ReportingEvent, position: int) -> DocumentAct | None:
    """The document act of one event, if it publishes a document."""
    if event.document is None:
        return None
    return DocumentAct(
        event_id=event.id,
        event_type=event.type,
        source=event.source,
        published_at=event.published_at,
        position=position,
        document=event.document,
    )


def act_order(act: ClaimAct | DocumentAct) -> tuple[datetime, int]:
    """The order the fold applies acts in: public time, then recorded position."""
    return (act.published_at, act.position)


def fold_claim(
    claim_id: str, acts: Iterable[ClaimAct], after: ClaimState | None = None
) -> Iterator[ClaimState]:
    """Apply acts (already in ``act_order``) and yield the claim's state after each one.

    ``after`` resumes the fold from the state after the acts that precede ``acts``, so a
    projection re-folds only from its earliest new act. A source whose latest stance is
    ``retracts`` counts like one never heard from, so the supporters and disputers of a state
    are all a resumed fold needs of the stances.
    """
    latest: dict[str, str] = {}
    supporters: set[str] = set()
    disputers: set[str] = set()
    primary_sources: set[str] = set()
    text: str | None = None
    occurred_at: str | None = None
    first_at: datetime | None = None
    first_by: str | None = None
    supported: tuple[str, ...] = ()
    disputed: tuple[str, ...] = ()
    primary: tuple[str, ...] = ()
    if after is not None:
        supported, disputed, primary = after.supported_by, after.disputed_by, after.primary_sources
        supporters, disputers, primary_sources = set(supported), set(disputed), set(primary)
        latest = dict.fromkeys(supported, "asserts")
        latest.update(dict.fromkeys(disputed, "disputes"))
        text, occurred_at = after.text, after.occurred_at
        first_at, first_by = after.first_reported_at, after.first_reported_by
    for act in acts:
        source, stance = act.source, act.stance
        before = latest.get(source)
        latest[source] = stance
        # The sorted tuples change only when a source moves in or out of a side.
        if (before in SUPPORTING_STANCES) != (stance in SUPPORTING_STANCES):
            (supporters.add if stance in SUPPORTING_STANCES else supporters.discard)(source)
            supported = tuple(sorted(supporters))
        if (before == "disputes") != (stance == "disputes"):
            (disputers.add if stance == "disputes" else disputers.discard)(source)
            disputed = tuple(sorted(disputers))
        if act.primary and source not in primary_sources:
            primary_sources.add(source)
            primary = tuple(sorted(primary_sources))
        if stance == "asserts":
            if first_at is None:
                # The first assertion's text shows unless a correction came before it.
                first_at, first_by = act.published_at, source
                text = act.text if text is None else text
            # A correction's occurred_at wins over any assertion's; the first assertion's
            # wins over later ones: either way, a set value stays.
            occurred_at = occurred_at or act.occurred_at
        elif stance == "corrects":
            text = act.text
            occurred_at = act.occurred_at or occurred_at
        yield ClaimState(
            id=claim_id,
            visible=first_at is not None,
            text=text,
            status=claim_status(supported, primary_sources),
            supported_by=supported,
            disputed_by=disputed,
            first_reported_at=first_at,
            first_reported_by=first_by,
            occurred_at=occurred_at,
            primary_sources=primary,
        )


def claim_status(supported_by: Sequence[str], primary_sources: set[str]) -> ClaimStatus:
    """The status rules: retracted, else confirmed by a primary release, else by headcount."""
    if not supported_by:
        return "retracted"
    if primary_sources and not primary_sources.isdisjoint(supported_by):
        return "confirmed"
    if len(supported_by) >= 2:
        return "corroborated"
    return "reported"


def visibility_of(event_type: str) -> Visibility:
    """How an event type makes a document public."""
    if event_type == "draft_leaked":
        return "leaked"
    if event_type == "document_released":
        return "released"
    return "published"


def fold_document(document_id: str, acts: Iterable[DocumentAct]) -> Iterator[DocumentState]:
    """Apply acts (already in ``act_order``) and yield the document's state after each one.

    A publication is a new revision when its title or text differs from the latest revision;
    an absent title or text keeps the previous one.
    """
    state: DocumentState | None = None
    text: str | None = None
    for act in acts:
        doc = act.document
        title = doc.title if doc.title is not None else (state.title if state else None)
        new_text = doc.text if doc.text is not None else text
        author = doc.author or act.source
        visibility = visibility_of(act.event_type)
        if state is None:
            state = DocumentState(
                id=document_id,
                title=title,
                author=author,
                url=doc.url,
                visibility=visibility,
                public_since=act.published_at,
                revisions=1,
            )
        else:
            changed = title != state.title or new_text != text
            stronger = VISIBILITY_STRENGTH[visibility] > VISIBILITY_STRENGTH[state.visibility]
            state = DocumentState(
                id=document_id,
                title=title,
                author=author if changed else state.author,
                url=doc.url or state.url,
                visibility=visibility if stronger else state.visibility,
                public_since=state.public_since,
                revisions=state.revisions + (1 if changed else 0),
            )
        text = new_text
        yield state


def claim_knowledge(state: ClaimState, events: Sequence[str]) -> ClaimKnowledge:
    """The public view of a visible claim's state and the events applied to it, in order."""
    return ClaimKnowledge(
        id=state.id,
        text=state.text,
        status=state.status,
        supported_by=state.supported_by,
        disputed_by=state.disputed_by,
        first_reported_at=state.first_reported_at,
        first_reported_by=state.first_reported_by,
        occurred_at=state.occurred_at,
        events=tuple(events),
    )


def document_knowledge(state: DocumentState) -> DocumentKnowledge:
    """The public view of a document's state."""
    return DocumentKnowledge(
        id=state.id,
        title=state.title,
        author=state.author,
        visibility=state.visibility,
        public_since=state.public_since,
        revisions=state.revisions,
    )


def assemble(
    story: str,
    at: datetime,
    recorded_before: datetime | None,
    claims: Iterable[tuple[ClaimState, Sequence[str]]],
    documents: Iterable[DocumentState],
    events_applied: int,
) -> Knowledge:
    """Sort and shape final claim states (each with its applied events) and document states
    into the knowledge answer."""
    visible = sorted((c for c in claims if c[0].visible), key=lambda c: answer_order(c[0]))
    return Knowledge(
        story=story,
        at=at,
        recorded_before=recorded_before,
        claims=tuple(claim_knowledge(state, events) for state, events in visible),
        documents=tuple(
            document_knowledge(d) for d in sorted(documents, key=lambda d: (d.public_since, d.id))
        ),
        events_applied=events_applied,
    )


def answer_order(state: ClaimState) -> tuple[datetime | None, str]:
    """Where a visible claim comes in a knowledge answer: first reported first, then by id."""
    return (state.first_reported_at, state.id)


def in_knowledge_order(states: Iterable[ClaimState]) -> list[ClaimState]:
    """The visible ones of ``states``, in the order a knowledge answer lists them."""
    return sorted((s for s in states if s.visible), key=answer_order)


def applicable(
    recorded: Iterable[RecordedEvent], at: datetime, recorded_before: datetime | None
) -> list[RecordedEvent]:
    """The events public at ``at`` and recorded before ``recorded_before``, in fold order."""
    chosen = [
        r
        for r in recorded
        if r.event.published_at <= at
        and (recorded_before is None or r.recorded_at < recorded_before)
    ]
    chosen.sort(key=lambda r: (r.event.published_at, r.position))
    return chosen


def knowledge_at(
    story: str,
    recorded: Iterable[RecordedEvent],
    at: datetime,
    recorded_before: datetime | None = None,
) -> Knowledge:
    """The reference fold: knowledge of ``story`` at ``at`` as recorded before ``recorded_before``."""
    chosen = [r for r in applicable(recorded, at, recorded_before) if r.story == story]
    claim_acts_by_id: dict[str, list[ClaimAct]] = {}
    document_acts_by_id: dict[str, list[DocumentAct]] = {}
    for r in chosen:
        for claim_id, act in claim_acts(r.event, r.position):
            claim_acts_by_id.setdefault(claim_id, []).append(act)
        doc_act = document_act(r.event, r.position)
        if doc_act is not None:
            document_acts_by_id.setdefault(doc_act.document.id, []).append(doc_act)
    claims = [
        (last(fold_claim(cid, acts)), [a.event_id for a in acts])
        for cid, acts in claim_acts_by_id.items()
    ]
    documents = [last(fold_document(did, acts)) for did, acts in document_acts_by_id.items()]
    return assemble(story, at, recorded_before, claims, documents, len(chosen))


def last(states: Iterator[S]) -> S:
    """The final state of a non-empty fold."""
    result: S | None = None
    for result in states:  # noqa: B007
        pass
    assert result is not None
    return result
