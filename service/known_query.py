"""Routes that refuse query parameters they do not take, as the OpenAPI document lists them.

Left alone, ``?recorded_befor=2020-01-01`` (a typo) or ``?at=…&at=…`` (which ``at``?) would be
ignored or half-read, and the answer would be to another question than the one asked. Each
route's parameters come from the OpenAPI document, so what a route takes and what the document
says it takes cannot drift apart. The Memento routes are left as they are: their query string
belongs to the URI they are given (``/timegate/https://example.com/page?id=3``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.params import only_query

Endpoint = Callable[[Request], Awaitable[Response]]
Allowed = Mapping[str, tuple[str, ...]]
"""Per method (upper case), the query parameters an operation takes, in the document's order."""

_CONVERTOR = re.compile(r":\w+}")


def query_parameters(document: Mapping[str, Any]) -> dict[str, dict[str, tuple[str, ...]]]:
    """Per path template and method, the names of the query parameters the OpenAPI
    ``document`` gives that operation (the path item's own included)."""
    found: dict[str, dict[str, tuple[str, ...]]] = {}
    for path, item in document["paths"].items():
        shared = item.get("parameters", [])
        found[path] = {
            method.upper(): tuple(
                p["name"] for p in [*shared, *operation.get("parameters", [])] if p["in"] == "query"
            )
            for method, operation in item.items()
            if method != "parameters"
        }
    return found


def checked(route: Route, parameters: Mapping[str, Allowed]) -> Route:
    """``route`` with an endpoint that first refuses a query parameter its operation does not
    list, or one given twice; a Memento route (its path ends in a URI) as it is."""
    if route.path.endswith(":path}"):
        return route
    allowed = parameters.get(_CONVERTOR.sub("}", route.path))
    if allowed is None:
        raise LookupError(f"the OpenAPI document does not describe the route {route.path}")
    return Route(
        route.path,
        refusing_unknown_query(route.endpoint, allowed),
        methods=sorted(route.methods or ()),
        name=route.name,
    )


def refusing_unknown_query(endpoint: Endpoint, allowed: Allowed) -> Endpoint:
    """``endpoint``, after ``only_query`` with the parameters of the request's method (a HEAD
    takes its GET's)."""

    @functools.wraps(endpoint)
    async def endpoint_of_known_query(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        only_query(request, allowed.get(method, ()))
        return await endpoint(request)

    return endpoint_of_known_query
