"""Cached answers, and repeated reads served from them before routing.

A cacheable read (knowledge at a given time, a claim's history, changes, a timeline, provenance
at a given time) is an ``Asked``: its cache key, its story and its ``recorded_before``. The
routes in ``routes_read`` and ``routes_audit`` parse a request into an ``Asked``, answer it and
cache the encoded answer; they also remember which raw request (path and query string) asked
it, unless ``Accept`` chose its answer's media type (provenance, decision 048). When that same
raw request comes again, with no token, no ``If-None-Match`` and no ``min_position``,
``RepeatedReads`` finds its answer in memory (its variant for gzip when the request's
``Accept-Encoding`` admits it: ``service.content_coding``) and sends it without routing, parsing
or a ``Request`` object (on PostgreSQL, after reading the story's tip on the event loop:
``service.tips``); anything else, and any miss, goes on to the routes.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from service.access import Services
from service.answer_cache import Asked, CachedAnswer, raw_request
from service.content_coding import accepts_gzip, variant_key
from service.freshness import Known

POSITION_HEADER = "Knewwhen-Position"
IMMUTABLE = "max-age=31536000, immutable"


def remembered(
    found: Services, asked: Asked, wanted: int | None, gzip: bool
) -> tuple[CachedAnswer, int] | None:
    """The cached answer to ``asked`` (its variant for gzip, with ``gzip``) and the position
    to report with it, when memory alone can tell (an immutable answer, or, on SQLite, a tip
    read since the last commit); None when the database must be asked."""
    settled = found.answers.get(variant_key(asked.key, gzip))
    if settled is not None and (wanted is None or wanted <= settled.position):
        return settled, settled.position
    known = found.freshness.known(found.freshness.version(), asked.story)
    return None if known is None else cached_at(found, asked, known, wanted, gzip)


async def cached_now(
    found: Services, asked: Asked, wanted: int | None, gzip: bool
) -> tuple[CachedAnswer, int] | None:
    """The cached answer to ``asked`` and its position without leaving the event loop:
    ``remembered``, else, on PostgreSQL, at the story's tip read now on the loop
    (``found.tips``); None when the routes must answer."""
    answered = remembered(found, asked, wanted, gzip)
    if answered is None and found.tips is not None:
        answered = cached_at(found, asked, await found.tips.read(asked.story), wanted, gzip)
    return answered


def cached_at(
    found: Services, asked: Asked, known: Known, wanted: int | None, gzip: bool
) -> tuple[CachedAnswer, int] | None:
    """The cached answer to ``asked`` (its variant for gzip, with ``gzip``) at a known
    (position, tip), and that position; None when there is no such story, the position is
    short of ``wanted``, or nothing is cached."""
    position, tip = known
    if tip is None or (wanted is not None and position < wanted):
        return None
    answer = found.answers.get(variant_key(asked.cache_key(tip)[0], gzip))
    return (answer, position) if answer is not None else None


def answer_headers(found: Services, answer: CachedAnswer, position: int) -> dict[str, str]:
    """The position, ETag, Cache-Control and Vary headers of a cached answer, and its
    Content-Encoding when it has one."""
    if not answer.immutable:
        cache_control = "no-cache"
    elif found.settings.read_token_required:
        cache_control = f"private, {IMMUTABLE}"
    else:
        cache_control = f"public, {IMMUTABLE}"
    headers = {
        POSITION_HEADER: str(position),
        "ETag": answer.etag,
        "Cache-Control": cache_control,
        "Vary": "Accept-Encoding",
    }
    if answer.encoding is not None:
        headers["Content-Encoding"] = answer.encoding
    return headers


PASS_ON = frozenset((b"authorization", b"if-none-match"))
"""Headers that need the routes: a token to check, or an ETag to compare."""


class RepeatedReads:
    """ASGI middleware: sends the cached answer to a GET the routes have answered before."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            found: Services | None = scope.get("state", {}).get("services")
            if found is not None and not found.settings.read_token_required:
                repeated = self.repeated(found, scope)
                if repeated is not None:
                    asked, gzip = repeated
                    answered = await cached_now(found, asked, None, gzip)
                    if answered is not None:
                        await self.send(found, asked, *answered, send)
                        return
        await self.app(scope, receive, send)

    @staticmethod
    def repeated(found: Services, scope: Scope) -> tuple[Asked, bool] | None:
        """What the request asks and whether it accepts gzip, when a route has answered it
        before and it needs nothing but its path, its query string and its
        ``Accept-Encoding`` (no token to check, no ETag to compare)."""
        asked = found.asked.get(raw_request(scope))
        if asked is None:
            return None
        encodings: list[str] = []
        for name, value in scope["headers"]:
            if name in PASS_ON:
                return None
            if name == b"accept-encoding":
                encodings.append(value.decode("latin-1"))
        return asked, accepts_gzip(encodings)

    @staticmethod
    async def send(
        found: Services, asked: Asked, answer: CachedAnswer, position: int, send: Send
    ) -> None:
        """Send ``answer`` to ``asked`` as ``routes_read.answer_response`` does."""
        headers = [
            (k.lower().encode(), v.encode())
            for k, v in answer_headers(found, answer, position).items()
        ]
        headers.append((b"content-length", str(len(answer.body)).encode()))
        headers.append((b"content-type", asked.media_type.encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})
