"""Audit endpoints: the verifiable log with RFC 9162 proofs, its verification, and W3C PROV.

Mounted by ``service.api`` from ``routes``. Reads are authorized like every other read;
``GET /v1/log/verify`` needs an admin token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from msgspec import Struct
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.errors import UnknownClaim
from service.access import authorize, services, unauthorized
from service.answer_cache import JSON, Asked
from service.answered_later import answer_in_time
from service.application import Ledger
from service.audit.log import OutOfRange, VerifiableLog
from service.audit.verify import VerifyReport
from service.audit.verify_child import verify_apart
from service.cached_reads import POSITION_HEADER
from service.params import path_id, query_int, query_moment
from service.problems import HTTPProblem, bad_parameter, not_found, problem
from service.provenance import provenance_document
from service.provn import MEDIA_TYPE as PROVN_MEDIA_TYPE
from service.provn import provn
from service.routes_read import consult, consult_cached, json_response

T = TypeVar("T")
MAX_SIZE = 2**62
STORY = "/v1/stories/{story}"
PROVN_TEXT = f"{PROVN_MEDIA_TYPE}; charset=utf-8"


VERIFY_GRACE_SECONDS = 2.0
"""How long ``GET /v1/log/verify`` holds back its status for the report: one ready by then is
an ordinary answer; a later one (~50 s at a million events) follows a 200 sent then, whose
body opens with a space every ``VERIFY_HEARTBEAT_SECONDS`` (decision 045)."""
VERIFY_HEARTBEAT_SECONDS = 1.0


class VerifyAnswer(Struct, frozen=True):
    """The result of ``GET /v1/log/verify``: what was checked, the first failure, and the
    last reporting event's position in the snapshot verified."""

    ok: bool
    checked: list[str]
    failure: str | None
    failure_index: int | None
    position: int

    @classmethod
    def of(cls, report: VerifyReport) -> VerifyAnswer:
        """The answer that tells ``report``."""
        return cls(report.ok, report.lines(), report.failure, report.failure_index, report.position)


def log_answer(ledger: Ledger, ask: Callable[[VerifiableLog, Any], T]) -> T:
    """Ask the ledger's log a question through its datastore."""
    recorder: Any = ledger.recorder
    return ask(recorder.log, recorder.datastore)


def required_int(request: Request, name: str, minimum: int = 0) -> int:
    """A required integer query parameter."""
    value = query_int(request, name, minimum, MAX_SIZE)
    if value is None:
        raise bad_parameter(name, f"{name} is required: an integer")
    return value


async def get_log(request: Request) -> Response:
    """GET /v1/log: the current tree size and root hash."""
    head, headers = await consult(request, lambda ledger: log_answer(ledger, VerifiableLog.head))
    return json_response(head, headers=headers)


async def get_log_entry(request: Request) -> Response:
    """GET /v1/log/entries/{index}: the leaf's canonical JSON and its leaf hash."""
    index: int = request.path_params["index"]

    def entry(ledger: Ledger) -> Any:
        try:
            return log_answer(ledger, lambda log, store: log.entry(store, index))
        except OutOfRange as e:
            raise not_found(str(e), "leaf-not-found", "Log leaf not found") from None

    answer, headers = await consult(request, entry)
    return json_response(answer, headers=headers)


async def get_inclusion_proof(request: Request) -> Response:
    """GET /v1/log/proof/inclusion?index=&tree_size=: the RFC 9162 audit path."""
    index, size = required_int(request, "index"), required_int(request, "tree_size", 1)

    def proof(ledger: Ledger) -> Any:
        try:
            return log_answer(ledger, lambda log, store: log.inclusion(store, index, size))
        except OutOfRange as e:
            raise bad_parameter(e.parameter, str(e)) from None

    answer, headers = await consult(request, proof)
    return json_response(answer, headers=headers)


async def get_consistency_proof(request: Request) -> Response:
    """GET /v1/log/proof/consistency?first=&second=: the RFC 9162 consistency path."""
    first, second = required_int(request, "first", 1), required_int(request, "second", 1)

    def proof(ledger: Ledger) -> Any:
        try:
            return log_answer(ledger, lambda log, store: log.consistency(store, first, second))
        except OutOfRange as e:
            raise bad_parameter(e.parameter, str(e)) from None

    answer, headers = await consult(request, proof)
    return json_response(answer, headers=headers)


async def get_verify(request: Request) -> Response:
    """GET /v1/log/verify (admins): recompute the log, check the heads and the projections."""
    principal = await authorize(request, write=False)
    if principal is None:
        raise unauthorized("verifying the log needs an admin token")
    if principal.role != "admin":
        raise HTTPProblem(
            problem(
                403,
                f"token {principal.name!r} has the {principal.role} role; verify needs admin",
                "forbidden",
            )
        )
    found = services(request)

    return await answer_in_time(
        found.verifications.result(lambda: verify_apart(found.ledger)),
        lambda report: json_response(
            VerifyAnswer.of(report), headers={POSITION_HEADER: str(report.position)}
        ),
        lambda report: msgspec.json.encode(VerifyAnswer.of(report)),
        VERIFY_GRACE_SECONDS,
        VERIFY_HEARTBEAT_SECONDS,
    )


async def provenance_response(request: Request, claim: str | None) -> Response:
    """The provenance of a claim or a story, as PROV-JSON or (when accepted) PROV-N."""
    story = path_id(request, "story")
    at = query_moment(request, "at")
    recorded_before = query_moment(request, "recorded_before")

    def document(ledger: Ledger) -> dict[str, Any]:
        try:
            return provenance_document(ledger, story, claim, at, recorded_before)
        except UnknownClaim as e:
            raise not_found(e.detail, "claim-not-found", "Claim not found") from None

    as_provn = PROVN_MEDIA_TYPE in request.headers.get("accept", "")
    media_type = PROVN_TEXT if as_provn else JSON
    encode = encode_provn if as_provn else msgspec.json.encode
    if at is not None:  # else at "now": an answer for this instant alone
        key = ("provenance", story, claim, at, recorded_before, media_type)
        asked = Asked(key, story, recorded_before, media_type, negotiated=True)
        return await consult_cached(request, asked, document, encode, whole_story=True)
    answer, headers = await consult(request, document, whole_story=True)
    headers["Vary"] = "Accept"
    return Response(encode(answer), headers=headers, media_type=media_type)


def encode_provn(document: dict[str, Any]) -> bytes:
    """A PROV-JSON document as PROV-N text, UTF-8."""
    return provn(document).encode()


async def get_claim_provenance(request: Request) -> Response:
    """GET /v1/stories/{story}/claims/{claim}/provenance?at=&recorded_before=."""
    return await provenance_response(request, path_id(request, "claim"))


async def get_story_provenance(request: Request) -> Response:
    """GET /v1/stories/{story}/provenance?at=&recorded_before=."""
    return await provenance_response(request, None)


routes = [
    Route("/v1/log", get_log, methods=["GET"]),
    Route("/v1/log/entries/{index:int}", get_log_entry, methods=["GET"]),
    Route("/v1/log/proof/inclusion", get_inclusion_proof, methods=["GET"]),
    Route("/v1/log/proof/consistency", get_consistency_proof, methods=["GET"]),
    Route("/v1/log/verify", get_verify, methods=["GET"]),
    Route(f"{STORY}/claims/{{claim}}/provenance", get_claim_provenance, methods=["GET"]),
    Route(f"{STORY}/provenance", get_story_provenance, methods=["GET"]),
]
