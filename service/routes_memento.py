"""Memento endpoints (RFC 7089): the TimeGate, the Mementos and the link-format TimeMap.

The URI-R is appended to the endpoint's path as-is, like web archives take it; it is read from
the raw path and query of the request, so a URI-R's own ``?query`` and escapes survive. A URI-R
names a document by its ``url``, or by the document's service URI when it has none.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import unquote

from msgspec import Struct
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from service.application import Ledger
from service.documents import Documents
from service.memento import (
    LINK_FORMAT,
    BadDatetime,
    Endpoints,
    Memento,
    http_date,
    link_format,
    link_header,
    mementos_of,
    parse_http_date,
    parse_stamp,
    select,
    stamp,
)
from service.problems import HTTPProblem, bad_header, bad_parameter, not_found
from service.revisions import Revision
from service.routes_read import consult

_SERVICE_URI = re.compile(
    r"^/v1/stories/([A-Za-z0-9._:-]{1,128})/documents/([A-Za-z0-9._:-]{1,128})$"
)
_COLLAPSED = re.compile(r"^(https?):/(?!/)", re.IGNORECASE)
VARY = {"Vary": "accept-datetime"}


class Resource(Struct, frozen=True):
    """A URI-R resolved: its document, canonical URI-R, and the revisions public now."""

    story: str
    document: str
    original: str
    revisions: tuple[Revision, ...]
    mementos: tuple[Memento, ...]


def document_uri(base: str, story: str, document: str) -> str:
    """The service URI of a document: the URI-R of a document without a ``url``."""
    return f"{base.rstrip('/')}/v1/stories/{story}/documents/{document}"


def requested_uri_r(request: Request, skip: int) -> str:
    """The URI-R after the first ``skip`` path segments, from the raw path and query."""
    raw: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    path = raw.decode("utf-8", "replace")
    root = request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    rest = path.split("/", skip + 1)[-1]
    query = request.scope.get("query_string", b"").decode("utf-8", "replace")
    return f"{rest}?{query}" if query else rest


def candidates(uri_r: str) -> list[str]:
    """The URI-R as given, unescaped, and with a proxy-collapsed ``https:/`` repaired."""
    found: list[str] = []
    for text in (uri_r, unquote(uri_r)):
        for variant in (text, _COLLAPSED.sub(r"\1://", text)):
            if variant not in found:
                found.append(variant)
    return found


def resolve(ledger: Ledger, uri_r: str, base: str, now: datetime) -> Resource | None:
    """The document a URI-R names, with at least one revision public now; or None."""
    documents = Documents.of(ledger)
    base = base.rstrip("/")
    for candidate in candidates(uri_r):
        named = documents.by_url(candidate)
        local = candidate[len(base) :] if candidate.startswith(f"{base}/") else candidate
        match = _SERVICE_URI.match(local)
        if match:
            named.append((match.group(1), match.group(2)))
        for story, document in named:
            revisions = [r for r in documents.revisions(story, document) if r.published_at <= now]
            latest = documents.latest(story, document)
            if not revisions or latest is None:
                continue
            return Resource(
                story=story,
                document=document,
                original=latest.url or document_uri(base, story, document),
                revisions=tuple(revisions),
                mementos=tuple(mementos_of(revisions)),
            )
    return None


async def resource_of(request: Request, skip: int) -> tuple[Resource, Endpoints, dict[str, str]]:
    """Resolve the request's URI-R (404 when no document has it) and its Memento URIs."""
    uri_r = requested_uri_r(request, skip)
    base = str(request.base_url)
    now = datetime.now(UTC)
    found, headers = await consult(
        request, lambda ledger: resolve(ledger, uri_r, base, now), waits=False
    )
    if found is None:
        raise not_found(
            f"no document has the URI-R {uri_r!r}", "unknown-uri-r", "Unknown original resource"
        )
    return found, Endpoints(base, found.original), headers


def no_memento(ends: Endpoints, detail: str, extra: dict[str, str]) -> HTTPProblem:
    """404 for a datetime before the first memento, still linking the original and TimeMap."""
    problem = not_found(detail, "no-memento", "No memento at that time").problem
    return HTTPProblem(problem, {**extra, "Link": link_header(ends.original_links())})


async def timegate(request: Request) -> Response:
    """GET|HEAD /timegate/{URI-R}: 302 to the memento selected by ``Accept-Datetime``."""
    resource, ends, headers = await resource_of(request, 1)
    headers.update(VARY)
    asked = request.headers.get("accept-datetime")
    try:
        moment = None if asked is None else parse_http_date(asked)
    except BadDatetime as e:
        refused = bad_header("Accept-Datetime", str(e))
        refused.headers.update({**headers, "Link": link_header(ends.original_links())})
        raise refused from None
    index = select(resource.mementos, moment)
    if index is None:
        first = http_date(resource.mementos[0].datetime)
        raise no_memento(ends, f"nothing of this resource was public before {first}", headers)
    links = [*ends.original_links(), *ends.neighbours(resource.mementos, index, itself=True)]
    headers["Link"] = link_header(links)
    return RedirectResponse(ends.memento(resource.mementos[index]), 302, headers)


async def memento(request: Request) -> Response:
    """GET|HEAD /memento/{YYYYMMDDhhmmss}/{URI-R}: the revision with ``Memento-Datetime``."""
    text = request.path_params["datetime"]
    try:
        moment = parse_stamp(text)
    except BadDatetime as e:
        raise bad_parameter("datetime", str(e)) from None
    resource, ends, headers = await resource_of(request, 2)
    index = select(resource.mementos, moment)
    if index is None:
        raise no_memento(ends, f"nothing of this resource was public at {text}", headers)
    chosen = resource.mementos[index]
    links = [
        *ends.original_links(timegate=True),
        *ends.neighbours(resource.mementos, index, itself=False),
    ]
    headers["Link"] = link_header(links)
    if stamp(chosen.datetime) != text:
        return RedirectResponse(ends.memento(chosen), 302, headers)
    revision = resource.revisions[chosen.revision - 1]
    headers["Memento-Datetime"] = http_date(chosen.datetime)
    return Response(revision.text or "", headers=headers, media_type="text/plain; charset=utf-8")


async def timemap(request: Request) -> Response:
    """GET|HEAD /timemap/link/{URI-R}: every memento, in ``application/link-format``."""
    resource, ends, headers = await resource_of(request, 2)
    body = link_format(ends.timemap_links(resource.mementos))
    return Response(body, headers=headers, media_type=LINK_FORMAT)
