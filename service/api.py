"""The HTTP service, composed in one place: routes, middleware, exception handlers, lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service import openapi, routes_audit, routes_documents
from service import settings as settings_module
from service.access import Services
from service.application import Ledger
from service.cached_reads import RepeatedReads
from service.collection import tune_for_serving
from service.known_query import checked, query_parameters
from service.logs import AccessLog
from service.persistence import is_postgres_url
from service.problems import EXCEPTION_HANDLERS
from service.routes_read import (
    get_changes,
    get_claim_history,
    get_event,
    get_knowledge,
    get_story,
    get_timeline,
    healthz,
    list_events,
    list_stories,
)
from service.routes_write import post_events
from service.settings import Settings
from service.tips import AsyncTips
from service.tokens import TokenStore

STORY = "/v1/stories/{story}"


def create_app(
    settings: Settings, ledger: Ledger | None = None, *, serving: bool = False
) -> Starlette:
    """The knewwhen API over ``ledger`` (or a ledger it opens, and closes, on ``settings.database``);
    ``serving``: the app of a server process, whose collector it tunes once started."""
    document = openapi.encoded()
    parameters = query_parameters(msgspec.json.decode(document))

    async def openapi_json(request: Request) -> Response:
        return Response(document, media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        owned = ledger is None
        opened = await run_in_threadpool(open_ledger, settings.database) if owned else ledger
        assert opened is not None
        tips: AsyncTips | None = None
        try:
            tokens = await run_in_threadpool(TokenStore.of, opened)
            if is_postgres_url(settings.database):
                tips = await AsyncTips.open(settings.database)
            found = Services(settings, opened, tokens, tips)
            if serving:
                tune_for_serving()
            try:
                yield {"services": found}
            finally:
                found.close()
        finally:
            if tips is not None:
                await tips.close()
            if owned:
                await run_in_threadpool(opened.close)

    routes = [
        Route("/v1/stories", list_stories, methods=["GET"]),
        Route(STORY, get_story, methods=["GET"]),
        Route(f"{STORY}/events", events, methods=["GET", "POST"]),
        Route(f"{STORY}/events/{{event}}", get_event, methods=["GET"]),
        Route(f"{STORY}/knowledge", get_knowledge, methods=["GET"]),
        Route(f"{STORY}/claims/{{claim}}/history", get_claim_history, methods=["GET"]),
        Route(f"{STORY}/changes", get_changes, methods=["GET"]),
        Route(f"{STORY}/timeline", get_timeline, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        *routes_documents.routes,
        *routes_audit.routes,
    ]
    return Starlette(
        routes=[checked(route, parameters) for route in routes],
        middleware=[Middleware(AccessLog), Middleware(RepeatedReads)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )


async def events(request: Request) -> Response:
    """GET lists a story's events; POST records new ones."""
    if request.method == "POST":
        return await post_events(request)
    return await list_events(request)


def open_ledger(database: str) -> Ledger:
    """A ledger on ``database``, creating a SQLite file's folder if needed."""
    if "://" not in database:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return Ledger(database)


def app_from_environment() -> Starlette:
    """The app factory uvicorn workers call: settings from the environment."""
    return create_app(settings_module.load(), serving=True)
