"""RFC 9457 problem details: every error the API answers, and the one place errors get statuses."""

from __future__ import annotations

import re
from collections.abc import Mapping
from http import HTTPStatus

import msgspec
from msgspec import Struct
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from domain.errors import DomainError, EventConflict, StoryNotFound, VersionMismatch
from service.schemas import pointer_of

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:knewwhen:problem:"

_encode = msgspec.json.Encoder().encode


class ProblemItem(Struct, frozen=True, omit_defaults=True):
    """One reason a request was refused, and where: a JSON pointer into the body, or a parameter."""

    detail: str
    pointer: str | None = None
    parameter: str | None = None
    header: str | None = None


class Problem(Struct, frozen=True, omit_defaults=True):
    """An RFC 9457 problem details object, with ``errors`` and ``current_version`` extensions."""

    type: str
    title: str
    status: int
    detail: str
    errors: tuple[ProblemItem, ...] = ()
    current_version: int | None = None


class HTTPProblem(Exception):
    """Raised by an endpoint to answer with a problem (and headers such as WWW-Authenticate)."""

    def __init__(self, problem: Problem, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(problem.detail)
        self.problem = problem
        self.headers = dict(headers or {})


def slug(name: str) -> str:
    """``UnknownClaim`` → ``unknown-claim``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def problem(
    status: int,
    detail: str,
    kind: str | None = None,
    title: str | None = None,
    errors: tuple[ProblemItem, ...] = (),
) -> Problem:
    """A problem; without ``kind`` its type is ``about:blank`` and its title the status phrase."""
    return Problem(
        type=f"{TYPE_PREFIX}{kind}" if kind else "about:blank",
        title=title or HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        errors=errors,
    )


def respond(found: Problem, headers: Mapping[str, str] | None = None) -> Response:
    """Encode a problem as ``application/problem+json``."""
    return Response(_encode(found), found.status, headers=headers, media_type=MEDIA_TYPE)


def bad_parameter(name: str, detail: str) -> HTTPProblem:
    """A query, path or header parameter that cannot be used (400)."""
    item = ProblemItem(detail=detail, parameter=name)
    return HTTPProblem(problem(400, detail, "invalid-parameter", "Invalid parameter", (item,)))


def bad_header(name: str, detail: str) -> HTTPProblem:
    """A request header that cannot be used (400)."""
    item = ProblemItem(detail=detail, header=name)
    return HTTPProblem(problem(400, detail, "invalid-header", "Invalid header", (item,)))


def not_found(detail: str, kind: str = "not-found", title: str | None = None) -> HTTPProblem:
    """A story, event or claim the ledger does not hold (404); ``title`` names what is missing
    (the status phrase, "Not Found", without it)."""
    return HTTPProblem(problem(404, detail, kind, title))


def unprocessable(pointer: str, detail: str, kind: str = "invalid-body") -> HTTPProblem:
    """A well-formed body that fails validation (422)."""
    item = ProblemItem(detail=detail, pointer=pointer)
    return HTTPProblem(problem(422, detail, kind, "Invalid request body", (item,)))


DOMAIN_STATUSES: dict[type[DomainError], int] = {
    EventConflict: 409,
    StoryNotFound: 404,
    VersionMismatch: 412,
}


def of_domain_error(error: DomainError) -> Problem:
    """The problem for a rule the story refused: 404, 412, or 409 and 422 naming the field."""
    status = next((s for cls, s in DOMAIN_STATUSES.items() if isinstance(error, cls)), 422)
    named = status == 422 or (status == 409 and error.pointer)
    errors = (ProblemItem(detail=error.detail, pointer=error.pointer),) if named else ()
    found = Problem(
        type=f"{TYPE_PREFIX}{slug(type(error).__name__)}",
        title=error.title,
        status=status,
        detail=error.detail,
        errors=errors,
    )
    if isinstance(error, VersionMismatch):
        found = msgspec.structs.replace(found, current_version=error.actual)
    return found


def of_decode_error(error: msgspec.DecodeError) -> Problem:
    """Malformed JSON is 400; JSON of the wrong shape is 422 with the JSON pointer at fault."""
    if not isinstance(error, msgspec.ValidationError):
        return problem(
            400, f"the body is not valid JSON: {error}", "malformed-json", "Malformed JSON"
        )
    pointer, reason = pointer_of(error)
    where = f" at {pointer}" if pointer else ""
    return problem(
        422,
        f"{reason}{where}",
        "invalid-body",
        "Invalid request body",
        (ProblemItem(detail=reason, pointer=pointer),),
    )


async def on_domain_error(request: Request, exc: Exception) -> Response:
    """Exception handler for ``DomainError``."""
    assert isinstance(exc, DomainError)
    return respond(of_domain_error(exc))


async def on_decode_error(request: Request, exc: Exception) -> Response:
    """Exception handler for msgspec decoding errors."""
    assert isinstance(exc, msgspec.DecodeError)
    return respond(of_decode_error(exc))


async def on_http_problem(request: Request, exc: Exception) -> Response:
    """Exception handler for problems raised by endpoints."""
    assert isinstance(exc, HTTPProblem)
    return respond(exc.problem, exc.headers)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 (no route) and 405 (wrong method), as problems."""
    assert isinstance(exc, HTTPException)
    detail = {
        404: f"no resource at {request.url.path}",
        405: f"{request.method} is not allowed on {request.url.path}",
    }.get(exc.status_code, HTTPStatus(exc.status_code).description)
    return respond(problem(exc.status_code, detail), exc.headers)


def internal_error() -> Response:
    """The answer to an unexpected error: nothing about its cause leaves the server."""
    return respond(problem(500, "the server failed to answer; the error has been logged"))


EXCEPTION_HANDLERS = {
    HTTPProblem: on_http_problem,
    DomainError: on_domain_error,
    msgspec.DecodeError: on_decode_error,
    HTTPException: on_http_exception,
}
