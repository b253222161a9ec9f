"""Repeated reads answered before routing: the same answer and headers as the routes give, and
only for requests whose answer cannot depend on anything but the path and query string."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from service.answer_cache import MAX_REQUESTS, Asked, AskedBefore
from service.application import Ledger
from tests.service.conftest import Parses
from tests.service.test_api_cache import BASE, knowledge, record
from tests.service.wire import bearer, confirmation, leak, response


@pytest.fixture
def story(client: TestClient, tokens: dict[str, str]) -> list[dict[str, Any]]:
    """Two of the story's three events."""
    return record(client, tokens["writer"], leak(), confirmation())


def test_a_repeated_request_gets_the_routes_answer_without_reaching_them(
    client: TestClient, story: list[dict[str, Any]], parses: Parses
) -> None:
    first = knowledge(client, story[-1]["recorded_at"])
    assert first.status_code == 200 and parses.calls == 2  # at, recorded_before
    again = knowledge(client, story[-1]["recorded_at"])
    assert parses.calls == 2
    assert again.status_code == 200
    assert again.content == first.content
    assert dict(again.headers) == dict(first.headers)
    assert again.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_a_repeated_question_for_now_reaches_the_routes_only_after_a_write(
    client: TestClient,
    ledger: Ledger,
    tokens: dict[str, str],
    story: list[dict[str, Any]],
    parses: Parses,
) -> None:
    first = knowledge(client)
    second = knowledge(client)
    assert second.content == first.content
    assert dict(second.headers) == dict(first.headers)
    # SQLite: the tip is remembered until a commit; PostgreSQL: read again, on the event loop.
    assert parses.calls == 2  # at, recorded_before: the first request only
    receipt = record(client, tokens["writer"], response())[0]
    after = knowledge(client)
    assert after.json()["events_applied"] == first.json()["events_applied"] + 1
    assert after.headers["knewwhen-position"] == str(receipt["position"])
    assert after.headers["etag"] != first.headers["etag"]


def test_a_token_an_etag_or_min_position_takes_a_repeated_request_to_the_routes(
    client: TestClient, tokens: dict[str, str], story: list[dict[str, Any]], parses: Parses
) -> None:
    recorded_before = story[-1]["recorded_at"]
    etag = knowledge(client, recorded_before).headers["etag"]
    assert knowledge(client, recorded_before, **{"If-None-Match": etag}).status_code == 304
    assert knowledge(client, recorded_before, **bearer("not-a-token")).status_code == 401
    assert knowledge(client, recorded_before, **bearer(tokens["reader"])).status_code == 200
    assert parses.calls == 4 * 2
    params = {"at": "2020-10-08T00:00:00Z", "recorded_before": recorded_before}
    ahead = {**params, "min_position": str(story[-1]["position"] + 1)}
    for _ in range(2):
        assert client.get(f"{BASE}/knowledge", params=ahead).status_code == 503
    assert parses.calls == 6 * 2


@pytest.mark.parametrize(
    "path", ["/claims/c1/history", "/changes?from=2020-01-01&to=2020-12-31", "/timeline"]
)
def test_history_changes_and_timeline_are_answered_again_too(
    client: TestClient, story: list[dict[str, Any]], parses: Parses, path: str
) -> None:
    separator = "&" if "?" in path else "?"
    url = f"{BASE}{path}{separator}recorded_before={story[-1]['recorded_at']}"
    first = client.get(url)
    calls = parses.calls
    again = client.get(url)
    assert parses.calls == calls
    assert (again.status_code, again.content, dict(again.headers)) == (
        200,
        first.content,
        dict(first.headers),
    )


def test_requests_remembered_are_bounded() -> None:
    asked = AskedBefore()
    question = Asked(("timeline", "s", None), "s", None)
    for n in range(MAX_REQUESTS):
        asked.remember((f"/v1/stories/s/timeline/{n}", b""), question)
    assert len(asked) == MAX_REQUESTS
    asked.remember(("/v1/stories/s/timeline", b"x"), question)
    assert len(asked) == 1
    assert asked.get(("/v1/stories/s/timeline", b"x")) == question
    assert asked.get(("/v1/stories/s/timeline/0", b"")) is None
