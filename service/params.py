"""Reading a request's parameters and body, each refusal naming the parameter at fault."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from starlette.requests import Request

from domain.events import ID_PATTERN
from service.problems import HTTPProblem, bad_header, bad_parameter, not_found, problem
from service.timeparse import BadTime, parse_moment

_ID = re.compile(ID_PATTERN)
_ETAG = re.compile(r'^"(\d{1,18})"$')
JSON_TYPES = re.compile(r"^application/(?:[\w.+-]+\+)?json$")


def path_id(request: Request, name: str) -> str:
    """A story, event or claim id from the path; one that no id can match is a 404."""
    value: str = request.path_params[name]
    if not _ID.match(value):
        raise not_found(f"no {name} {value!r}: ids are 1-128 of A-Za-z0-9._:-")
    return value


def only_query(request: Request, names: tuple[str, ...]) -> None:
    """Refuse a query parameter not among ``names``, or one given more than once (400)."""
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        if name not in names:
            takes = f"takes {', '.join(names)}" if names else "takes no query parameters"
            raise bad_parameter(name, f"unknown query parameter {name!r}: this endpoint {takes}")
        if name in seen:
            raise bad_parameter(name, f"{name} is given more than once; give it once")
        seen.add(name)


def query_int(request: Request, name: str, minimum: int, maximum: int) -> int | None:
    """An optional integer query parameter within [minimum, maximum]."""
    text = request.query_params.get(name)
    if text is None:
        return None
    if not re.fullmatch(r"-?\d{1,19}", text.strip()):
        raise bad_parameter(name, f"{name} must be an integer, not {text!r}")
    value = int(text)
    if not minimum <= value <= maximum:
        raise bad_parameter(name, f"{name} must be between {minimum} and {maximum}")
    return value


_PLUS_DECODED_AS_SPACE = re.compile(
    r"^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?) (\d{2}:\d{2})$"
)


def query_moment(request: Request, name: str) -> datetime | None:
    """An optional time parameter: an RFC 3339 timestamp with an offset, or a date (end of day).

    A ``+`` left unescaped in a query string decodes to a space (``?at=…T00:00:00+02:00``, as
    typed into a browser); before an ``HH:MM`` at the end, only a ``+`` offset fits, so it is
    read as one."""
    text = request.query_params.get(name)
    if text is None:
        return None
    text = _PLUS_DECODED_AS_SPACE.sub(r"\1+\2", text)
    try:
        return parse_moment(text, name)
    except BadTime as e:
        raise bad_parameter(name, str(e)) from None


def expected_version(request: Request) -> tuple[int | None, bool]:
    """(expected story_version, story must exist) from ``If-Match`` or ``?expected_version``."""
    from_query = query_int(request, "expected_version", 0, 2**62)
    header = request.headers.get("if-match")
    if header is None:
        return from_query, False
    header = header.strip()
    if header == "*":
        if from_query is not None:
            raise bad_header("If-Match", "give either If-Match or expected_version, not both")
        return None, True
    match = _ETAG.match(header)
    if match is None:
        raise bad_header("If-Match", 'If-Match must be a story_version ETag such as "3", or *')
    version = int(match.group(1))
    if from_query is not None and from_query != version:
        raise bad_header("If-Match", "If-Match and expected_version disagree")
    return version, False


_QVALUE = re.compile(r"^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$")


def qvalue(parameters: Iterable[str]) -> float | None:
    """The weight among a header list element's parameters (``q``, RFC 9110 section 12.4.2):
    1 when it has none, None when it is not a valid qvalue (the element is then ignored)."""
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            value = value.strip()
            return float(value) if _QVALUE.match(value) else None
    return 1.0


def if_none_match(request: Request, etag: str) -> bool:
    """True when ``If-None-Match`` is ``*`` or lists ``etag`` (weak comparison, RFC 9110 §13.1.2)."""
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    return any(t == "*" or t.removeprefix("W/") == etag for t in map(str.strip, header.split(",")))


def check_json_content_type(request: Request) -> None:
    """A body must be JSON when its type is declared (415 otherwise)."""
    declared = request.headers.get("content-type")
    if declared is None:
        return
    media_type = declared.split(";", 1)[0].strip().lower()
    if not JSON_TYPES.match(media_type):
        raise HTTPProblem(
            problem(415, f"send application/json, not {media_type or 'an empty type'}")
        )


def too_large(limit: int) -> HTTPProblem:
    """413: the body is over the configured limit."""
    return HTTPProblem(problem(413, f"the body is larger than {limit} bytes", "body-too-large"))


async def read_body(request: Request, limit: int) -> bytes:
    """The body, read no further than ``limit`` bytes (413 past it)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise bad_header("Content-Length", "Content-Length must be a byte count")
        if int(declared) > limit:
            raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)
