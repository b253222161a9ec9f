"""W3C PROV for every answer: why the ledger says what it says about a claim, or a whole story.

Built from the projection tables (``kw_events``, ``kw_claim_states``, ``kw_document_acts``
and the knowledge answer at (T, R)), never by replaying the stream. The result is a PROV-JSON document
(a dict); ``service.provn`` renders it as PROV-N. The mapping is in decision 004.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from domain.errors import UnknownClaim
from domain.knowledge import ClaimState, fold_document
from service.application import Ledger
from service.provenance_scope import EventRow, Scope, read_claim_scope, read_scope

BASE = "https://knewwhen.example/"
PRIMARY_SOURCE_TYPES = frozenset({"draft_leaked", "document_released"})

Json = dict[str, Any]


_UNSAFE = re.compile("[^A-Za-z0-9_-]")


def local(name: str) -> str:
    """An id as a PROV-N-safe local name: anything but ASCII letters, digits, - and _
    percent-encoded (its UTF-8 bytes). A story's provenance names thousands of ids, most of
    which need nothing: one regular-expression search finds so, not a loop over characters."""
    return name if _UNSAFE.search(name) is None else _escaped(name)


@lru_cache(maxsize=4096)
def _escaped(name: str) -> str:
    """``name`` percent-encoded: remembered, as the few such names (recorders such as
    ``cli:import``, sources) come again in every event."""
    return _UNSAFE.sub(_percent_encoded, name)


def _percent_encoded(unsafe: re.Match[str]) -> str:
    return "".join(f"%{b:02X}" for b in unsafe.group().encode())


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with ``Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@lru_cache(maxsize=256)
def qname(value: str) -> Json:
    """A PROV-JSON qualified-name value (e.g. for ``prov:type``): one object per name, shared
    by every record naming it (a story's provenance names a few types in ~10⁵ relations;
    nothing changes a record once added)."""
    return {"$": value, "type": "prov:QUALIFIED_NAME"}


def typed(value: str, datatype: str) -> Json:
    """A PROV-JSON typed literal."""
    return {"$": value, "type": datatype}


class ProvBuilder:
    """Accumulates PROV-JSON records; relations get blank ids in the order they are added."""

    def __init__(self, story: str) -> None:
        self.doc: Json = {
            "prefix": {
                "kw": f"{BASE}ns#",
                "st": f"{BASE}stories/{local(story)}/",
                "src": f"{BASE}sources/",
                "rec": f"{BASE}recorders/",
            },
            "entity": {},
            "activity": {},
            "agent": {},
        }
        self._relations = 0
        self._events: dict[str, str] = {}

    def event(self, event_id: str) -> str:
        """The activity id of an event: made once a document, as each event is named by
        several relations."""
        name = self._events.get(event_id)
        if name is None:
            name = self._events[event_id] = f"st:event/{local(event_id)}"
        return name

    def record(self, kind: str, identifier: str, attributes: Json) -> None:
        """Declare an entity, activity or agent (once)."""
        self.doc[kind].setdefault(identifier, attributes)

    def relate(self, kind: str, attributes: Json) -> None:
        """Add an anonymous relation of ``kind`` (``wasGeneratedBy``, ``used``, …)."""
        self._relations += 1
        self.doc.setdefault(kind, {})[f"_:r{self._relations}"] = attributes


def provenance_document(
    ledger: Ledger,
    story: str,
    claim: str | None = None,
    at: datetime | None = None,
    recorded_before: datetime | None = None,
) -> Json:
    """PROV-JSON for one claim (or, with ``claim`` None, the whole story) at (T, R).

    Raises ``StoryNotFound``, or ``UnknownClaim`` when the claim is not public at ``at``.
    """
    at = at or datetime.now(UTC)
    if claim is None:
        return prov_of(read_scope(ledger, story, at, recorded_before))
    scope = read_claim_scope(ledger, story, claim, at, recorded_before)
    if not scope.claims:
        raise UnknownClaim(f"story {story!r} has no claim {claim!r} public at {iso(at)}")
    return prov_of(scope)


def prov_of(scope: Scope) -> Json:
    """PROV-JSON of everything ``scope`` holds: its claims, its events in the order they were
    stored, the documents they published and the citations between them."""
    builder = ProvBuilder(scope.story)
    for claim in scope.claims:
        add_claim(builder, scope, claim)
    for event in sorted(scope.events.values(), key=lambda e: e.position):
        add_event(builder, event)
    add_documents(builder, scope)
    add_citations(builder, scope)
    return builder.doc


def add_claim(builder: ProvBuilder, scope: Scope, claim: ClaimState) -> None:
    """The claim entity, its first report, each event's stance, and its supporters."""
    claim_id = f"st:claim/{local(claim.id)}"
    attributes: Json = {
        "prov:type": qname("kw:Claim"),
        "kw:id": claim.id,
        "kw:status": claim.status,
    }
    if claim.text is not None:
        attributes["kw:text"] = claim.text
    if claim.occurred_at is not None:
        attributes["kw:occurredAt"] = claim.occurred_at
    if claim.first_reported_at is not None:
        attributes["kw:firstReportedAt"] = typed(iso(claim.first_reported_at), "xsd:dateTime")
    builder.record("entity", claim_id, attributes)
    acts = scope.claim_acts.get(claim.id, [])
    first = next((a for a in acts if a.stance == "asserts"), None)
    if first is not None:
        builder.relate(
            "wasGeneratedBy",
            {
                "prov:entity": claim_id,
                "prov:activity": builder.event(first.event_id),
                "prov:time": iso(first.published_at),
            },
        )
    for act in acts:
        builder.relate(
            "wasInfluencedBy",
            {
                "prov:influencee": claim_id,
                "prov:influencer": builder.event(act.event_id),
                "kw:stance": act.stance,
            },
        )
    for source in claim.supported_by:
        add_source(builder, source)
        builder.relate("wasAttributedTo", {"prov:entity": claim_id, "prov:agent": src(source)})


def src(source: str) -> str:
    """The agent id of a source."""
    return f"src:{local(source)}"


def add_source(builder: ProvBuilder, source: str) -> None:
    """Declare a source agent."""
    builder.record("agent", src(source), {"prov:type": qname("kw:Source"), "kw:id": source})


def add_event(builder: ProvBuilder, event: EventRow) -> None:
    """The event as an activity at its ``published_at``, with its source and its recorder."""
    activity = builder.event(event.event_id)
    attributes: Json = {
        "prov:startTime": iso(event.published_at),
        "prov:type": qname(f"kw:{event.type}"),
        "kw:id": event.event_id,
        "kw:position": event.position,
        "kw:recordedAt": typed(iso(event.recorded_at), "xsd:dateTime"),
    }
    if event.note is not None:
        attributes["kw:note"] = event.note
    builder.record("activity", activity, attributes)
    add_source(builder, event.source)
    recorder = f"rec:{local(event.recorded_by)}"
    builder.record(
        "agent", recorder, {"prov:type": qname("kw:Recorder"), "kw:id": event.recorded_by}
    )
    for agent, role in ((src(event.source), "kw:source"), (recorder, "kw:recorder")):
        builder.relate(
            "wasAssociatedWith",
            {"prov:activity": activity, "prov:agent": agent, "prov:role": qname(role)},
        )


def revision_id(document: str, revision: int) -> str:
    """The entity id of one revision of a document."""
    return f"st:document/{local(document)}/revision/{revision}"


def add_documents(builder: ProvBuilder, scope: Scope) -> None:
    """Each document the scope's events published, and every revision of it, with who made
    each."""
    for doc_id, acts in scope.document_acts.items():
        general = f"st:document/{local(doc_id)}"
        builder.record("entity", general, {"prov:type": qname("kw:Document"), "kw:id": doc_id})
        previous = 0
        for act, state in zip(acts, fold_document(doc_id, acts), strict=True):
            activity = builder.event(act.event_id)
            revision = revision_id(doc_id, state.revisions)
            if state.revisions != previous:
                attributes: Json = {
                    "prov:type": qname("kw:DocumentRevision"),
                    "kw:revision": state.revisions,
                    "kw:visibility": state.visibility,
                }
                if state.title is not None:
                    attributes["kw:title"] = state.title
                if act.document.url is not None:
                    attributes["prov:location"] = typed(act.document.url, "xsd:anyURI")
                if act.document.version_label is not None:
                    attributes["kw:versionLabel"] = act.document.version_label
                builder.record("entity", revision, attributes)
                builder.relate(
                    "specializationOf",
                    {"prov:specificEntity": revision, "prov:generalEntity": general},
                )
                builder.relate(
                    "wasGeneratedBy",
                    {
                        "prov:entity": revision,
                        "prov:activity": activity,
                        "prov:time": iso(act.published_at),
                    },
                )
                add_source(builder, state.author)
                builder.relate(
                    "wasAttributedTo", {"prov:entity": revision, "prov:agent": src(state.author)}
                )
                if previous:
                    builder.relate(
                        "wasDerivedFrom",
                        {
                            "prov:generatedEntity": revision,
                            "prov:usedEntity": revision_id(doc_id, previous),
                            "prov:activity": activity,
                            "prov:type": qname("prov:Revision"),
                        },
                    )
                previous = state.revisions
            else:
                builder.relate(
                    "used",
                    {
                        "prov:activity": activity,
                        "prov:entity": revision,
                        "prov:time": iso(act.published_at),
                        "prov:type": qname(f"kw:{act.event_type}"),
                    },
                )


def published_revisions(scope: Scope) -> dict[str, str]:
    """For each event that published a document, the revision entity it published."""
    found: dict[str, str] = {}
    for doc_id, acts in scope.document_acts.items():
        for act, state in zip(acts, fold_document(doc_id, acts), strict=True):
            found[act.event_id] = revision_id(doc_id, state.revisions)
    return found


def add_citations(builder: ProvBuilder, scope: Scope) -> None:
    """``wasInformedBy`` for each citation within the scope; ``wasDerivedFrom`` between the
    documents involved."""
    revisions = published_revisions(scope)
    for event in sorted(scope.events.values(), key=lambda e: e.position):
        event_id = event.event_id
        for cited in event.cites:
            if cited not in scope.events:
                continue
            builder.relate(
                "wasInformedBy",
                {
                    "prov:informed": builder.event(event_id),
                    "prov:informant": builder.event(cited),
                    "prov:type": qname("kw:Citation"),
                },
            )
            article, source = revisions.get(event_id), revisions.get(cited)
            same_document = scope.events[cited].document == event.document
            if article is None or source is None or same_document:
                continue
            derivation: Json = {
                "prov:generatedEntity": article,
                "prov:usedEntity": source,
                "prov:activity": builder.event(event_id),
            }
            if scope.events[cited].type in PRIMARY_SOURCE_TYPES:
                derivation["prov:type"] = qname("prov:PrimarySource")
            builder.relate("wasDerivedFrom", derivation)
