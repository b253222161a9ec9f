"""Who may do what: the app's services per request, and bearer-token checks for reads and writes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import psycopg
from starlette.requests import Request

from service.answer_cache import AnswerCache, AskedBefore
from service.append_writer import AppendWriter
from service.application import Ledger
from service.audit.verify import VerifyReport
from service.freshness import Freshness
from service.problems import HTTPProblem, problem
from service.read_threads import ReadThreads
from service.settings import Settings
from service.shared_runs import SharedRuns
from service.tips import AsyncTips
from service.tokens import (
    AsyncTokenCheck,
    LoopTokenCheck,
    Principal,
    TokenCheckBusy,
    TokenStore,
)

REALM = 'Bearer realm="knewwhen"'
T = TypeVar("T")


@dataclass(frozen=True)
class Services:
    """What every endpoint uses, created once per app by its lifespan."""

    settings: Settings
    ledger: Ledger
    tokens: TokenStore
    tips: AsyncTips | None = None  # PostgreSQL: tips read on the event loop
    reads: ReadThreads = field(init=False)
    # Reads of a whole story (provenance, a timeline, the documents), which take seconds on a
    # long one, in a thread of their own: the other reads do not wait behind them.
    whole_story_reads: ReadThreads = field(init=False)
    appends: AppendWriter = field(init=False)
    answers: AnswerCache = field(init=False)
    asked: AskedBefore = field(init=False)
    freshness: Freshness = field(init=False)
    # One verification at a time (each is a child process of ~130 MB at a million events),
    # shared by the requests that came before it began (decision 047).
    verifications: SharedRuns[VerifyReport] = field(init=False)
    # Tokens checked on the event loop: SQLite over a connection of the check's own,
    # PostgreSQL over the tips' pool (decision 022).
    loop_tokens: LoopTokenCheck | None = field(init=False)
    async_tokens: AsyncTokenCheck | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reads", ReadThreads(self.settings.reads_at_once))
        whole_story = ReadThreads(1, name="knewwhen-whole-story-reader")
        object.__setattr__(self, "whole_story_reads", whole_story)
        object.__setattr__(self, "appends", AppendWriter(self.ledger))
        object.__setattr__(self, "answers", AnswerCache(self.settings.answer_cache_bytes))
        object.__setattr__(self, "asked", AskedBefore())
        object.__setattr__(self, "freshness", Freshness.of(self.ledger.database))
        object.__setattr__(self, "verifications", SharedRuns())
        object.__setattr__(self, "loop_tokens", LoopTokenCheck.of(self.ledger.database))
        pooled = None if self.tips is None else AsyncTokenCheck(self.tips.pool)
        object.__setattr__(self, "async_tokens", pooled)

    def close(self) -> None:
        """Release what the services opened (not the ledger, which their maker owns): the
        writer thread stops once it has written what is queued, the reader threads once they
        have run the reads queued."""
        self.appends.close()
        self.reads.close()
        self.whole_story_reads.close()
        self.freshness.close()
        if self.loop_tokens is not None:
            self.loop_tokens.close()

    async def in_thread(
        self, work: Callable[..., T], *args: object, whole_story: bool = False
    ) -> T:
        """Run blocking database work in one of the ``reads_at_once`` reader threads, or, for
        a read of a ``whole_story``, in the thread kept for those (decision 050).

        The bound keeps every reader on a connection of its own (SQLite, decision 030) or a
        pooled one (the library's pool keeps 6 and closes any beyond), so a read never pays
        for a new connection and a cold cache.
        """
        threads = self.whole_story_reads if whole_story else self.reads
        return await threads.run(work, *args)


def services(request: Request) -> Services:
    """The app's services, from the lifespan state."""
    found: Services = request.state.services
    return found


def unauthorized(detail: str, error: str | None = None) -> HTTPProblem:
    """401 with the ``WWW-Authenticate: Bearer`` challenge (RFC 6750)."""
    challenge = f'{REALM}, error="{error}"' if error else REALM
    return HTTPProblem(
        problem(401, detail, "unauthorized"), headers={"WWW-Authenticate": challenge}
    )


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header; None when the header is absent."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise unauthorized("the Authorization header must be 'Bearer <token>'", "invalid_request")
    return token


async def principal_of(found: Services, token: str) -> Principal | None:
    """The principal of ``token``, or None: on the event loop where it can be read there (a
    SQLite file not locked; PostgreSQL with the loop's pool up), else in a read thread."""
    if found.loop_tokens is not None:
        with contextlib.suppress(TokenCheckBusy):
            return found.loop_tokens.authenticate(token)
    elif found.async_tokens is not None:
        with contextlib.suppress(psycopg.OperationalError):
            return await found.async_tokens.authenticate(token)
    return await found.in_thread(found.tokens.authenticate, token)


async def authorize(request: Request, *, write: bool) -> Principal | None:
    """Check the request's token for a read or a write; the principal is kept for the log."""
    found = services(request)
    token = bearer_token(request)
    if token is None:
        if write or found.settings.read_token_required:
            raise unauthorized("this request needs a bearer token")
        return None
    principal = await principal_of(found, token)
    if principal is None:
        raise unauthorized("the bearer token is not valid (unknown or revoked)", "invalid_token")
    request.state.principal = principal
    if write and not principal.may_write:
        raise HTTPProblem(
            problem(
                403,
                f"token {principal.name!r} has the {principal.role} role; "
                "writing needs writer or admin",
                "forbidden",
            )
        )
    return principal
