"""Document endpoints: the documents of a story, a document at T, its revisions and their diffs.

``routes`` lists these and the Memento endpoints (``service.routes_memento``) for the app.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.events import rfc3339
from service import routes_memento
from service.application import Ledger
from service.documents import DocumentAt, DocumentList, Documents, RevisionList
from service.memento import Endpoints, link_header
from service.params import path_id, query_int, query_moment, qvalue
from service.problems import HTTPProblem, bad_parameter, not_found, problem
from service.revisions import Revision, revision_diff, revision_patch, summary
from service.routes_read import consult, json_response, require_story

DOCUMENT = "/v1/stories/{story}/documents/{doc}"
DIFF_TYPES = ("text/x-diff", "application/json")
MAX_REVISION = 2**31


def document_missing(story: str, document: str, when: str = "") -> HTTPProblem:
    """404 for a document the story does not hold (or not yet, ``when``)."""
    return not_found(
        f"story {story!r} has no document {document!r}{when}",
        "document-not-found",
        "Document not found",
    )


def require_revision(revisions: list[Revision], story: str, document: str, number: int) -> Revision:
    """Revision ``number`` (1, 2, …) of the document's revisions, or 404."""
    if not revisions:
        raise document_missing(story, document)
    if not 1 <= number <= len(revisions):
        raise not_found(
            f"document {document!r} of story {story!r} has {len(revisions)} revisions, "
            f"not a revision {number}",
            "revision-not-found",
            "Revision not found",
        )
    return revisions[number - 1]


async def list_documents(request: Request) -> Response:
    """GET /v1/stories/{story}/documents?at=&recorded_before=."""
    story = path_id(request, "story")
    at = query_moment(request, "at") or datetime.now(UTC)
    before = query_moment(request, "recorded_before")

    def documents(ledger: Ledger) -> DocumentList:
        require_story(ledger, story)
        found = Documents.of(ledger).documents(story, at, before)
        return DocumentList(story, at, before, tuple(found))

    answer, headers = await consult(request, documents, whole_story=True)
    return json_response(answer, headers=headers)


async def get_document(request: Request) -> Response:
    """GET /v1/stories/{story}/documents/{doc}?at=: the latest revision public at T."""
    story, doc = path_id(request, "story"), path_id(request, "doc")
    at = query_moment(request, "at") or datetime.now(UTC)
    before = query_moment(request, "recorded_before")

    def document(ledger: Ledger) -> tuple[DocumentAt | None, bool]:
        require_story(ledger, story)
        documents = Documents.of(ledger)
        latest = documents.latest(story, doc)
        if latest is None:
            raise document_missing(story, doc)
        return documents.at(story, doc, at, before), latest.url is None

    (found, is_original), headers = await consult(request, document)
    if is_original:
        uri_r = routes_memento.document_uri(str(request.base_url), story, doc)
        ends = Endpoints(str(request.base_url), uri_r)
        headers["Link"] = link_header(ends.original_links(timegate=True)[1:])
    if found is None:
        raise HTTPProblem(
            document_missing(story, doc, f" public at {rfc3339(at)}").problem, headers
        )
    return json_response(found, headers=headers)


async def list_revisions(request: Request) -> Response:
    """GET /v1/stories/{story}/documents/{doc}/revisions?recorded_before=."""
    story, doc = path_id(request, "story"), path_id(request, "doc")
    before = query_moment(request, "recorded_before")

    def revisions(ledger: Ledger) -> RevisionList:
        require_story(ledger, story)
        found = Documents.of(ledger).revisions(story, doc, before)
        if not found:
            raise document_missing(story, doc)
        return RevisionList(story, doc, before, tuple(summary(r) for r in found))

    answer, headers = await consult(request, revisions)
    return json_response(answer, headers=headers)


async def get_revision(request: Request) -> Response:
    """GET /v1/stories/{story}/documents/{doc}/revisions/{n}."""
    story, doc = path_id(request, "story"), path_id(request, "doc")
    number: int = request.path_params["n"]
    before = query_moment(request, "recorded_before")

    def revision(ledger: Ledger) -> Revision:
        require_story(ledger, story)
        return require_revision(
            Documents.of(ledger).revisions(story, doc, before), story, doc, number
        )

    answer, headers = await consult(request, revision)
    return json_response(answer, headers=headers)


def quality(accept: str, offer: str) -> float:
    """The q an Accept header gives a media type: that of its most specific matching range."""
    kind = offer.split("/", 1)[0]
    specificity, q = -1, 0.0
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        rank = {offer: 2, f"{kind}/*": 1, "*/*": 0}.get(media.lower(), -1)
        weight = qvalue(params)
        if rank <= specificity or weight is None:
            continue
        specificity, q = rank, weight
    return q


def negotiate(accept: str | None, offers: Sequence[str]) -> str | None:
    """The offer the Accept header prefers (the first on a tie or with no Accept), or None."""
    if not accept or not accept.strip():
        return offers[0]
    best, best_q = None, 0.0
    for offer in offers:
        q = quality(accept, offer)
        if q > best_q:
            best, best_q = offer, q
    return best


def required_revision_number(request: Request, name: str) -> int:
    """A revision number from the query (400 when absent or not a positive integer)."""
    found = query_int(request, name, 1, MAX_REVISION)
    if found is None:
        raise bad_parameter(name, f"{name} is required: a revision number (1, 2, …)")
    return found


async def get_diff(request: Request) -> Response:
    """GET …/documents/{doc}/diff?from=n&to=m: text/x-diff, or JSON operations on request."""
    story, doc = path_id(request, "story"), path_id(request, "doc")
    source = required_revision_number(request, "from")
    target = required_revision_number(request, "to")
    before = query_moment(request, "recorded_before")
    chosen = negotiate(request.headers.get("accept"), DIFF_TYPES)
    if chosen is None:
        offered = " or ".join(DIFF_TYPES)
        raise HTTPProblem(problem(406, f"this diff is available as {offered}", "not-acceptable"))

    def revisions(ledger: Ledger) -> tuple[Revision, Revision]:
        require_story(ledger, story)
        found = Documents.of(ledger).revisions(story, doc, before)
        return (
            require_revision(found, story, doc, source),
            require_revision(found, story, doc, target),
        )

    (old, new), headers = await consult(request, revisions)
    headers["Vary"] = "Accept"
    if chosen == "application/json":
        return json_response(revision_diff(old, new), headers=headers)
    body = revision_patch(old, new)
    return Response(body, headers=headers, media_type="text/x-diff; charset=utf-8")


routes = [
    Route("/v1/stories/{story}/documents", list_documents, methods=["GET"]),
    Route(DOCUMENT, get_document, methods=["GET"]),
    Route(f"{DOCUMENT}/revisions", list_revisions, methods=["GET"]),
    Route(f"{DOCUMENT}/revisions/{{n:int}}", get_revision, methods=["GET"]),
    Route(f"{DOCUMENT}/diff", get_diff, methods=["GET"]),
    Route("/timegate/{uri_r:path}", routes_memento.timegate, methods=["GET", "HEAD"]),
    Route("/memento/{datetime}/{uri_r:path}", routes_memento.memento, methods=["GET", "HEAD"]),
    Route("/timemap/link/{uri_r:path}", routes_memento.timemap, methods=["GET", "HEAD"]),
]
