"""Who may write and read: bearer tokens, roles, revocation, and what the token table keeps."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import psycopg
import pytest
from starlette.testclient import TestClient

from service.api import create_app
from service.application import Ledger
from service.persistence import is_postgres_url
from service.settings import Settings
from service.tips import AsyncTips
from service.tokens import (
    AsyncTokenCheck,
    BadTokenName,
    LoopTokenCheck,
    Principal,
    TokenCheckBusy,
    TokenStore,
    create_token,
    digest,
    revoke_token,
)
from tests.service.wire import EVENTS, bearer, leak


def test_a_write_without_a_token_is_401_with_a_bearer_challenge(client: TestClient) -> None:
    r = client.post(EVENTS, json=leak())
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="knewwhen"'
    assert r.json()["type"] == "urn:knewwhen:problem:unauthorized"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer kw_not-a-real-token", "Basic dXNlcjpwYXNz", "Bearer", "Bearer a b"],
)
def test_a_bad_token_is_401(client: TestClient, authorization: str) -> None:
    r = client.post(EVENTS, json=leak(), headers={"Authorization": authorization})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith('Bearer realm="knewwhen", error="invalid_')


def test_a_reader_may_not_write(client: TestClient, tokens: dict[str, str], ledger: Ledger) -> None:
    r = client.post(EVENTS, json=leak(), headers=bearer(tokens["reader"]))
    assert r.status_code == 403
    assert "archive" in r.json()["detail"]
    assert ledger.reader.position() == 0


@pytest.mark.parametrize(("role", "name"), [("writer", "newsroom"), ("admin", "editor")])
def test_writers_and_admins_write_under_their_own_name(
    client: TestClient, tokens: dict[str, str], role: str, name: str
) -> None:
    r = client.post(EVENTS, json=leak(), headers=bearer(tokens[role]))
    assert r.status_code == 201
    assert r.json()["recorded_by"] == name


def test_a_revoked_token_stops_working(
    client: TestClient, tokens: dict[str, str], ledger: Ledger
) -> None:
    assert revoke_token(ledger, "newsroom") is True
    assert revoke_token(ledger, "newsroom") is False
    r = client.post(EVENTS, json=leak(), headers=bearer(tokens["writer"]))
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_creating_a_token_again_replaces_the_old_one(
    client: TestClient, tokens: dict[str, str], ledger: Ledger
) -> None:
    fresh = create_token(ledger, "newsroom", "writer")
    assert fresh != tokens["writer"]
    assert client.post(EVENTS, json=leak(), headers=bearer(tokens["writer"])).status_code == 401
    assert client.post(EVENTS, json=leak(), headers=bearer(fresh)).status_code == 201


def test_only_digests_are_stored(ledger: Ledger, tokens: dict[str, str]) -> None:
    store = TokenStore.of(ledger)
    with store.datastore.transaction(commit=False) as cursor:
        cursor.execute("SELECT name, action, role, token_sha256 FROM kw_tokens ORDER BY id")
        rows = [
            (row["name"], row["action"], row["role"], row["token_sha256"])
            for row in cursor.fetchall()
        ]
    assert rows == [
        ("newsroom", "created", "writer", digest(tokens["writer"])),
        ("archive", "created", "reader", digest(tokens["reader"])),
        ("editor", "created", "admin", digest(tokens["admin"])),
    ]
    assert all(len(token) > 40 and token.startswith("kw_") for token in tokens.values())
    assert store.authenticate(tokens["reader"]) is not None
    assert store.authenticate(tokens["reader"] + "x") is None


@pytest.mark.parametrize("name", ["cli:alice", "Upper", "", "-dash", "x" * 65])
def test_token_names_that_could_pass_for_another_principal_are_refused(
    ledger: Ledger, name: str
) -> None:
    with pytest.raises(BadTokenName):
        create_token(ledger, name, "writer")


def test_an_unknown_role_is_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="role"):
        create_token(ledger, "someone", "owner")


def test_reads_are_open_by_default(client: TestClient) -> None:
    assert client.get("/v1/stories").status_code == 200


@pytest.fixture
def guarded(database: str, ledger: Ledger, tokens: dict[str, str]) -> Iterator[TestClient]:
    """A client of an app with KNEWWHEN_READ_TOKEN_REQUIRED=1."""
    settings = Settings(database=database, read_token_required=True)
    with TestClient(create_app(settings, ledger)) as client:
        yield client


def test_reads_can_require_a_token(guarded: TestClient, tokens: dict[str, str]) -> None:
    anonymous = guarded.get("/v1/stories")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="knewwhen"'
    assert guarded.get("/v1/stories", headers=bearer("kw_wrong")).status_code == 401
    for role in ("reader", "writer", "admin"):
        assert guarded.get("/v1/stories", headers=bearer(tokens[role])).status_code == 200


def test_health_and_the_api_document_stay_open(guarded: TestClient) -> None:
    assert guarded.get("/healthz").status_code == 200
    assert guarded.get("/openapi.json").status_code == 200


def test_tokens_are_checked_on_the_event_loop_where_the_database_allows(
    client: TestClient,
    tokens: dict[str, str],
    ledger: Ledger,
    database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On the loop, no read thread asked: SQLite over a connection of its own, PostgreSQL over
    the loop's pool (what ``create_app`` opens)."""
    in_threads: list[str] = []
    in_thread = TokenStore.authenticate

    def counted(self: TokenStore, token: str) -> Principal | None:
        in_threads.append(token)
        return in_thread(self, token)

    monkeypatch.setattr(TokenStore, "authenticate", counted)
    assert client.post(EVENTS, json=leak(), headers=bearer(tokens["writer"])).status_code == 201
    assert client.post(EVENTS, json=leak(), headers=bearer("kw_wrong")).status_code == 401
    assert revoke_token(ledger, "newsroom") is True  # over another connection: seen at once
    assert client.post(EVENTS, json=leak(), headers=bearer(tokens["writer"])).status_code == 401
    assert in_threads == []


def busy(self: LoopTokenCheck, token: str) -> Principal | None:
    raise TokenCheckBusy("database is locked")


async def unreachable(self: AsyncTokenCheck, token: str) -> Principal | None:
    raise psycopg.OperationalError("the pool has no connection")


def test_a_busy_or_unreachable_loop_check_asks_a_read_thread(
    client: TestClient, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LoopTokenCheck, "authenticate", busy)
    monkeypatch.setattr(AsyncTokenCheck, "authenticate", unreachable)
    r = client.post(EVENTS, json=leak(), headers=bearer(tokens["admin"]))
    assert r.status_code == 201
    assert r.json()["recorded_by"] == "editor"
    assert client.post(EVENTS, json=leak(), headers=bearer("kw_wrong")).status_code == 401


async def loop_answers(database: str, tokens: list[str]) -> list[Principal | None]:
    """What the loop's check (SQLite's or PostgreSQL's, as the services pick) says of each."""
    if not is_postgres_url(database):
        check = LoopTokenCheck.of(database)
        assert check is not None
        try:
            return [check.authenticate(token) for token in tokens]
        finally:
            check.close()
    assert LoopTokenCheck.of(database) is None
    tips = await AsyncTips.open(database)
    try:
        pooled = AsyncTokenCheck(tips.pool)
        return [await pooled.authenticate(token) for token in tokens]
    finally:
        await tips.close()


def test_the_loop_check_answers_as_the_token_store(database: str, ledger: Ledger) -> None:
    store = TokenStore.of(ledger)
    first = create_token(ledger, "desk", "writer")
    second = create_token(ledger, "desk", "admin")  # replaces the first
    other = create_token(ledger, "other", "reader")
    revoke_token(ledger, "other")
    asked = [first, second, other, second + "x", "", "kw_" + "a" * 300]
    answers = anyio.run(loop_answers, database, asked)
    assert answers == [store.authenticate(token) for token in asked]
    assert answers[1] == Principal(name="desk", role="admin")
    assert LoopTokenCheck.of(":memory:") is None
