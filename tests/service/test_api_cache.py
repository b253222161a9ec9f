"""Cached answers over HTTP: ETags and 304s, immutable only when no append can change the answer,
a write making a cached answer for "now" stale, and a cache bounded by bytes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from service.access import Services
from service.api import create_app
from service.application import Ledger
from service.settings import Settings
from tests.builders import claim
from tests.builders import event as built_event
from tests.service.wire import EVENTS, STORY, bearer, confirmation, leak, response

BASE = f"/v1/stories/{STORY}"
IMMUTABLE = "public, max-age=31536000, immutable"


def record(client: TestClient, token: str, *events: dict[str, Any]) -> list[dict[str, Any]]:
    """Record events one request each; their receipts."""
    receipts = []
    for event in events:
        r = client.post(EVENTS, json=event, headers=bearer(token))
        assert r.status_code == 201, r.text
        receipts.append(r.json())
    return receipts


def services_of(client: TestClient) -> Services:
    """The app's services, as its lifespan made them."""
    found: Services = client.app_state["services"]
    return found


@pytest.fixture
def story(client: TestClient, tokens: dict[str, str]) -> list[dict[str, Any]]:
    """Two of the story's three events, recorded a second apart."""
    return record(client, tokens["writer"], leak(), confirmation())


def knowledge(client: TestClient, recorded_before: str | None = None, **headers: str) -> Any:
    params = {"at": "2020-10-08T00:00:00Z"}
    if recorded_before is not None:
        params["recorded_before"] = recorded_before
    return client.get(f"{BASE}/knowledge", params=params, headers=headers)


def test_an_answer_recorded_before_the_story_last_recorded_is_immutable(
    client: TestClient, story: list[dict[str, Any]]
) -> None:
    r = knowledge(client, story[-1]["recorded_at"])
    assert r.status_code == 200
    assert r.headers["cache-control"] == IMMUTABLE
    assert r.headers["etag"].startswith('"') and len(r.headers["etag"]) == 34
    assert r.json()["events_applied"] == 1


@pytest.mark.parametrize("recorded_before", ["2026-01-01T00:00:30Z", "2100-01-01T00:00:00Z"])
def test_an_answer_a_later_append_can_still_change_is_not_immutable(
    client: TestClient, tokens: dict[str, str], story: list[dict[str, Any]], recorded_before: str
) -> None:
    first = knowledge(client, recorded_before)
    assert first.headers["cache-control"] == "no-cache"
    assert first.json()["events_applied"] == 2
    record(client, tokens["writer"], response())
    again = knowledge(client, recorded_before, **{"If-None-Match": first.headers["etag"]})
    assert again.status_code == 200
    assert again.json()["events_applied"] == 3
    assert again.headers["etag"] != first.headers["etag"]


def test_if_none_match_with_the_etag_is_304_without_a_body(
    client: TestClient, story: list[dict[str, Any]]
) -> None:
    r = knowledge(client, story[-1]["recorded_at"])
    etag = r.headers["etag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        cached = knowledge(client, story[-1]["recorded_at"], **{"If-None-Match": header})
        assert cached.status_code == 304
        assert cached.content == b""
        assert cached.headers["etag"] == etag
        assert cached.headers["cache-control"] == IMMUTABLE
    other = knowledge(client, story[-1]["recorded_at"], **{"If-None-Match": '"other"'})
    assert other.status_code == 200
    assert other.content == r.content


def test_a_write_makes_a_cached_answer_for_now_stale(
    client: TestClient, tokens: dict[str, str], story: list[dict[str, Any]]
) -> None:
    before = knowledge(client)
    assert before.headers["cache-control"] == "no-cache"
    assert knowledge(client, **{"If-None-Match": before.headers["etag"]}).status_code == 304
    receipt = record(client, tokens["writer"], response())[0]
    after = knowledge(client, **{"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.json()["events_applied"] == before.json()["events_applied"] + 1
    assert after.headers["knewwhen-position"] == str(receipt["position"])


def test_an_immutable_answer_is_served_from_the_cache(
    client: TestClient, ledger: Ledger, story: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = knowledge(client, story[0]["recorded_at"])
    monkeypatch.setattr(ledger.reader, "knowledge", None)
    monkeypatch.setattr(ledger.reader, "position_and_tip", None)
    again = knowledge(client, story[0]["recorded_at"])
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["knewwhen-position"] == str(story[-1]["position"])


def test_a_cached_answer_still_waits_for_min_position(
    client: TestClient, story: list[dict[str, Any]]
) -> None:
    assert knowledge(client, story[-1]["recorded_at"]).status_code == 200
    ahead = story[-1]["position"] + 1
    r = client.get(
        f"{BASE}/knowledge",
        params={
            "at": "2020-10-08",
            "recorded_before": story[-1]["recorded_at"],
            "min_position": ahead,
        },
    )
    assert r.status_code == 503


def test_knowledge_at_now_is_not_cached(client: TestClient, story: list[dict[str, Any]]) -> None:
    r = client.get(f"{BASE}/knowledge")
    assert r.status_code == 200
    assert "etag" not in r.headers
    assert len(services_of(client).answers) == 0


@pytest.mark.parametrize(
    "path", ["/claims/c1/history", "/changes?from=2020-01-01&to=2020-12-31", "/timeline"]
)
def test_history_changes_and_timeline_carry_etags_too(
    client: TestClient, story: list[dict[str, Any]], path: str
) -> None:
    separator = "&" if "?" in path else "?"
    immutable = client.get(f"{BASE}{path}{separator}recorded_before={story[-1]['recorded_at']}")
    assert immutable.headers["cache-control"] == IMMUTABLE
    live = client.get(f"{BASE}{path}")
    assert live.headers["cache-control"] == "no-cache"
    assert live.json() != immutable.json()
    again = client.get(f"{BASE}{path}", headers={"If-None-Match": live.headers["etag"]})
    assert again.status_code == 304


def test_a_read_token_makes_immutable_answers_private(
    database: str, ledger: Ledger, tokens: dict[str, str]
) -> None:
    settings = Settings(database=database, read_token_required=True)
    with TestClient(create_app(settings, ledger)) as client:
        receipts = record(client, tokens["writer"], leak(), confirmation())
        headers = bearer(tokens["reader"])
        r = client.get(
            f"{BASE}/knowledge",
            params={"at": "2020-10-08", "recorded_before": receipts[-1]["recorded_at"]},
            headers=headers,
        )
        assert r.headers["cache-control"] == "private, max-age=31536000, immutable"
        assert client.get(f"{BASE}/knowledge", params={"at": "2020-10-08"}).status_code == 401
        again = {"at": "2020-10-08", "recorded_before": receipts[-1]["recorded_at"]}
        assert client.get(f"{BASE}/knowledge", params=again).status_code == 401  # no fast path


@pytest.fixture
def small_cache(database: str, ledger: Ledger) -> Iterator[TestClient]:
    """An app whose answer cache holds about three knowledge answers."""
    with TestClient(create_app(Settings(database=database, answer_cache_bytes=2500), ledger)) as c:
        yield c


def test_the_cache_is_bounded_by_bytes(small_cache: TestClient, tokens: dict[str, str]) -> None:
    record(small_cache, tokens["writer"], leak(), confirmation(), response())
    cache = services_of(small_cache).answers
    sizes = []
    for day in range(1, 29):
        r = small_cache.get(f"{BASE}/knowledge", params={"at": f"2020-10-{day:02d}"})
        assert r.status_code == 200
        sizes.append(len(r.content))
        assert cache.held_bytes <= 2500
    assert 2 <= len(cache) < 28
    assert cache.held_bytes == sum(len(e.body) + 256 for e in cache._entries.values())


def test_a_repeated_question_for_now_takes_no_worker_thread(
    client: TestClient, ledger: Ledger, story: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = knowledge(client, "2100-01-01T00:00:00Z")
    assert first.headers["cache-control"] == "no-cache"
    # SQLite: the tip, read with no commit since, is remembered (``found.freshness``);
    # PostgreSQL: the tip is read again, on the event loop (``found.tips``).
    assert (services_of(client).tips is None) == (ledger.dialect.name == "sqlite")
    monkeypatch.setattr(ledger.reader, "knowledge", None)
    monkeypatch.setattr(ledger.reader, "position_and_tip", None)
    for headers in ({}, {"If-None-Match": first.headers["etag"]}):  # around the routes, and in
        again = knowledge(client, "2100-01-01T00:00:00Z", **headers)
        assert again.status_code == (304 if headers else 200)
        assert again.headers["knewwhen-position"] == str(story[-1]["position"])
        assert again.headers["etag"] == first.headers["etag"]
    assert again.status_code == 304
    assert knowledge(client, "2100-01-01T00:00:00Z").content == first.content


def test_a_commit_by_another_connection_makes_a_remembered_tip_stale(
    client: TestClient, database: str, story: list[dict[str, Any]]
) -> None:
    before = knowledge(client)
    assert knowledge(client).content == before.content  # served from what the loop remembered
    other = Ledger(database)  # as `knewwhen import` would, beside the server
    try:
        disputes = claim("c1", "disputes")
        other.append(
            STORY,
            [built_event("response_issued", "doj-x", "doj", "2020-10-07T18:00", disputes)],
            "cli",
        )
    finally:
        other.close()
    after = knowledge(client)
    assert after.json()["events_applied"] == before.json()["events_applied"] + 1
    assert int(after.headers["knewwhen-position"]) > int(before.headers["knewwhen-position"])
