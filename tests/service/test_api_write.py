"""POST /v1/stories/{story}/events: receipts, idempotency, conflicts, concurrency, validation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request
from starlette.testclient import TestClient

from service.api import create_app
from service.application import Ledger
from service.params import read_body
from service.problems import HTTPProblem
from service.settings import Settings
from tests.service.wire import (
    EVENTS,
    STORY,
    asserts,
    bearer,
    confirmation,
    leak,
    response,
    stance,
    wire_event,
)


def post(client: TestClient, body: Any, token: str, **headers: str) -> Any:
    """POST events with a bearer token."""
    return client.post(EVENTS, json=body, headers={**bearer(token), **headers})


def test_a_new_event_is_recorded_with_a_receipt(client: TestClient, tokens: dict[str, str]) -> None:
    r = post(client, leak(), tokens["writer"])
    assert r.status_code == 201
    receipt = r.json()
    assert r.headers["location"] == f"{EVENTS}/nyt-leak"
    assert r.headers["etag"] == '"1"'
    assert receipt["story"] == STORY
    assert receipt["id"] == "nyt-leak"
    assert receipt["story_version"] == 1
    assert receipt["recorded_by"] == "newsroom"
    assert receipt["recorded_at"].endswith("Z")
    assert client.get(r.headers["location"]).json()["position"] == receipt["position"]


def test_a_batch_is_recorded_atomically_with_one_receipt_per_event(
    client: TestClient, tokens: dict[str, str]
) -> None:
    r = post(client, [leak(), confirmation(), response()], tokens["admin"])
    assert r.status_code == 201
    receipts = r.json()
    assert [x["id"] for x in receipts] == ["nyt-leak", "nbc-confirms", "doj-disputes"]
    assert [x["story_version"] for x in receipts] == [1, 2, 3]
    assert {x["recorded_by"] for x in receipts} == {"editor"}
    assert len({x["recorded_at"] for x in receipts}) == 1
    listed = client.get(r.headers["location"]).json()["events"]
    assert [e["event"]["id"] for e in listed] == ["nyt-leak", "nbc-confirms", "doj-disputes"]


def test_a_batch_with_one_bad_event_stores_nothing_and_names_it(
    client: TestClient, tokens: dict[str, str], ledger: Ledger
) -> None:
    bad = wire_event(
        "bad", "report_confirmed", "nbc", "2020-10-07T00:00:00Z", stance("nope", "confirms")
    )
    r = post(client, [leak(), bad], tokens["writer"])
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"] == "urn:knewwhen:problem:unknown-claim"
    assert problem["errors"] == [{"pointer": "/1/claims/0/id", "detail": problem["detail"]}]
    assert ledger.reader.position() == 0
    assert client.get(f"/v1/stories/{STORY}").status_code == 404


def test_an_identical_retry_answers_the_first_receipt_and_stores_nothing(
    client: TestClient, tokens: dict[str, str], ledger: Ledger
) -> None:
    first = post(client, leak(), tokens["writer"])
    position = ledger.reader.position()
    again = post(client, leak(), tokens["admin"])
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.json()["recorded_by"] == "newsroom"
    assert "etag" not in again.headers
    assert ledger.reader.position() == position


def test_a_retried_batch_answers_200_and_a_grown_batch_201(
    client: TestClient, tokens: dict[str, str]
) -> None:
    first = post(client, [leak(), confirmation()], tokens["writer"])
    again = post(client, [leak(), confirmation()], tokens["writer"])
    assert again.status_code == 200
    assert again.json() == first.json()
    grown = post(client, [leak(), confirmation(), response()], tokens["writer"])
    assert grown.status_code == 201
    assert grown.json()[:2] == first.json()
    assert grown.json()[2]["story_version"] == 3


def test_the_same_id_with_another_body_is_a_conflict(
    client: TestClient, tokens: dict[str, str]
) -> None:
    post(client, leak(), tokens["writer"])
    r = post(client, {**leak(), "note": "edited"}, tokens["writer"])
    assert r.status_code == 409
    assert r.json()["type"] == "urn:knewwhen:problem:event-conflict"
    assert "nyt-leak" in r.json()["detail"]
    assert client.get(f"{EVENTS}/nyt-leak").json()["event"].get("note") is None
    assert r.json()["errors"] == [{"detail": r.json()["detail"], "pointer": "/id"}]


def test_one_id_with_two_bodies_in_a_batch_is_a_conflict_naming_the_second(
    client: TestClient, tokens: dict[str, str]
) -> None:
    r = post(client, [leak(), confirmation(), {**leak(), "note": "edited"}], tokens["writer"])
    assert r.status_code == 409
    assert r.json()["detail"] == (
        "event id 'nyt-leak' is already used in this story with a different body"
    )
    assert r.json()["errors"][0]["pointer"] == "/2/id"
    assert client.get(f"/v1/stories/{STORY}").status_code == 404


def test_if_match_the_current_version_succeeds(client: TestClient, tokens: dict[str, str]) -> None:
    post(client, leak(), tokens["writer"])
    etag = client.get(f"/v1/stories/{STORY}").headers["etag"]
    assert etag == '"1"'
    r = post(client, confirmation(), tokens["writer"], **{"If-Match": etag})
    assert r.status_code == 201
    assert r.headers["etag"] == '"2"'


def test_if_match_a_stale_version_is_412(client: TestClient, tokens: dict[str, str]) -> None:
    post(client, [leak(), confirmation()], tokens["writer"])
    r = post(client, response(), tokens["writer"], **{"If-Match": '"1"'})
    assert r.status_code == 412
    assert r.json()["current_version"] == 2
    assert r.json()["type"] == "urn:knewwhen:problem:version-mismatch"
    assert client.get(f"{EVENTS}/doj-disputes").status_code == 404


def test_expected_version_in_the_query_works_like_if_match(
    client: TestClient, tokens: dict[str, str]
) -> None:
    assert (
        client.post(
            f"{EVENTS}?expected_version=0", json=leak(), headers=bearer(tokens["writer"])
        ).status_code
        == 201
    )
    stale = client.post(
        f"{EVENTS}?expected_version=0", json=confirmation(), headers=bearer(tokens["writer"])
    )
    assert stale.status_code == 412
    assert (
        client.post(
            f"{EVENTS}?expected_version=1", json=confirmation(), headers=bearer(tokens["writer"])
        ).status_code
        == 201
    )


def test_a_retry_of_an_applied_conditional_write_answers_200(
    client: TestClient, tokens: dict[str, str]
) -> None:
    post(client, leak(), tokens["writer"])
    first = post(client, confirmation(), tokens["writer"], **{"If-Match": '"1"'})
    retry = post(client, confirmation(), tokens["writer"], **{"If-Match": '"1"'})
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json() == first.json()


def test_if_match_star_needs_an_existing_story(client: TestClient, tokens: dict[str, str]) -> None:
    assert post(client, leak(), tokens["writer"], **{"If-Match": "*"}).status_code == 412
    assert post(client, leak(), tokens["writer"]).status_code == 201
    assert post(client, confirmation(), tokens["writer"], **{"If-Match": "*"}).status_code == 201


@pytest.mark.parametrize(
    ("url", "if_match"),
    [
        (EVENTS, "1"),
        (EVENTS, 'W/"1"'),
        (f"{EVENTS}?expected_version=2", '"1"'),
        (f"{EVENTS}?expected_version=x", None),
    ],
)
def test_unusable_preconditions_are_400(
    client: TestClient, tokens: dict[str, str], url: str, if_match: str | None
) -> None:
    headers = bearer(tokens["writer"]) | ({"If-Match": if_match} if if_match else {})
    r = client.post(url, json=leak(), headers=headers)
    assert r.status_code == 400
    item = r.json()["errors"][0]
    assert item.get("header") == "If-Match" or item.get("parameter") == "expected_version"


def test_malformed_json_is_400(client: TestClient, tokens: dict[str, str]) -> None:
    r = client.post(EVENTS, content=b'{"id": "x",', headers=bearer(tokens["writer"]))
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "urn:knewwhen:problem:malformed-json"
    assert r.json()["status"] == 400


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"published_at": "2020-10-06T22:00:00"}, "/published_at"),
        ({"recorded_by": "someone-else"}, "/recorded_by"),
        ({"source": "NYT"}, "/source"),
        ({"claims": [{"id": "c1", "stance": "claims", "text": "x"}]}, "/claims/0/stance"),
        ({"claims": [{"id": "c1", "stance": "asserts", "text": 5}]}, "/claims/0/text"),
        ({"claims": [{"id": "c1", "stance": "asserts", "txt": "x"}]}, "/claims/0/txt"),
        ({"type": "story_leaked"}, "/type"),
        ({"id": None}, "/id"),
        ({"document": {"id": "d", "url": "ftp://x"}}, "/document/url"),
    ],
)
def test_a_body_of_the_wrong_shape_is_422_with_a_pointer(
    client: TestClient, tokens: dict[str, str], change: dict[str, Any], pointer: str
) -> None:
    r = post(client, {**leak(), **change}, tokens["writer"])
    assert r.status_code == 422
    problem = r.json()
    assert problem["type"] == "urn:knewwhen:problem:invalid-body"
    assert [e["pointer"] for e in problem["errors"]] == [pointer]
    assert pointer in problem["detail"]


def test_a_missing_required_field_is_422_naming_it(
    client: TestClient, tokens: dict[str, str]
) -> None:
    body = leak()
    del body["source"]
    r = post(client, body, tokens["writer"])
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/source"


@pytest.mark.parametrize(
    ("event", "kind", "pointer"),
    [
        (
            wire_event("x", "draft_leaked", "nyt", "2020-10-06T00:00:00Z", asserts("c9")),
            "missing-field",
            "/document",
        ),
        (
            wire_event(
                "x", "story_published", "nyt", "2020-10-06T00:00:00Z", stance("c1", "disputes")
            ),
            "stance-not-allowed",
            "/claims/0/stance",
        ),
        (
            wire_event(
                "x",
                "story_published",
                "nyt",
                "2020-10-06T00:00:00Z",
                {"id": "c9", "stance": "asserts"},
            ),
            "missing-field",
            "/claims/0/text",
        ),
        (
            wire_event(
                "x", "story_published", "nyt", "2020-10-06T00:00:00Z", asserts("c9"), asserts("c9")
            ),
            "duplicate-in-event",
            "/claims/1/id",
        ),
        (
            wire_event(
                "x", "story_published", "nyt", "2020-10-06T00:00:00Z", cites=["nyt-leak", "ghost"]
            ),
            "unknown-citation",
            "/cites/1",
        ),
        (
            wire_event(
                "x", "report_confirmed", "nbc", "2020-10-06T00:00:00Z", stance("c9", "confirms")
            ),
            "unknown-claim",
            "/claims/0/id",
        ),
        (
            wire_event("x", "story_published", "nyt", "2120-10-06T00:00:00Z", asserts("c9")),
            "published-after-recording",
            "/published_at",
        ),
    ],
)
def test_each_story_rule_is_422_naming_the_field(
    client: TestClient,
    tokens: dict[str, str],
    ledger: Ledger,
    event: dict[str, Any],
    kind: str,
    pointer: str,
) -> None:
    post(client, leak(), tokens["writer"])
    position = ledger.reader.position()
    r = post(client, event, tokens["writer"])
    assert r.status_code == 422
    assert r.json()["type"] == f"urn:knewwhen:problem:{kind}"
    assert r.json()["errors"][0]["pointer"] == pointer
    assert ledger.reader.position() == position


def test_a_text_over_1_mib_is_422_when_the_body_limit_allows_it(
    database: str, ledger: Ledger, tokens: dict[str, str]
) -> None:
    text = "é" * 600_000  # 600,000 characters, 1.2 MB of UTF-8
    big = wire_event("big", "story_published", "nyt", "2020-10-06T00:00:00Z", asserts("c9", text))
    settings = Settings(database=database, max_body_bytes=4 << 20)
    with TestClient(create_app(settings, ledger)) as roomy:
        r = roomy.post(EVENTS, json=big, headers=bearer(tokens["writer"]))
    assert r.status_code == 422
    assert r.json()["type"] == "urn:knewwhen:problem:text-too-large"
    assert r.json()["errors"][0]["pointer"] == "/claims/0/text"


def test_an_empty_batch_is_422(client: TestClient, tokens: dict[str, str]) -> None:
    r = post(client, [], tokens["writer"])
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == ""


def test_a_batch_over_1000_events_is_422(client: TestClient, tokens: dict[str, str]) -> None:
    events = [
        wire_event(f"e{i}", "story_published", "nyt", "2020-10-06T00:00:00Z") for i in range(1001)
    ]
    r = post(client, events, tokens["writer"])
    assert r.status_code == 422
    assert "1000" in r.json()["detail"]


def test_a_body_over_the_limit_is_413(
    client: TestClient, tokens: dict[str, str], ledger: Ledger
) -> None:
    body = b'{"id": "x", "note": "' + b"a" * (1 << 20) + b'"}'
    r = client.post(EVENTS, content=body, headers=bearer(tokens["writer"]))
    assert r.status_code == 413
    assert r.json()["type"] == "urn:knewwhen:problem:body-too-large"
    assert ledger.reader.position() == 0


def test_a_streamed_body_is_read_no_further_than_the_limit() -> None:
    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * 1000, "more_body": True}

    request = Request({"type": "http", "method": "POST", "headers": []}, receive)
    with pytest.raises(HTTPProblem) as refused:
        asyncio.run(read_body(request, 10_000))
    assert refused.value.problem.status == 413
    assert pulled == 11


def test_a_body_that_is_not_json_is_415(client: TestClient, tokens: dict[str, str]) -> None:
    r = client.post(
        EVENTS,
        content=b"id=x",
        headers={**bearer(tokens["writer"]), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415
    assert r.json()["status"] == 415


def test_a_story_id_no_id_can_match_is_404(client: TestClient, tokens: dict[str, str]) -> None:
    r = client.post("/v1/stories/bad%20story/events", json=leak(), headers=bearer(tokens["writer"]))
    assert r.status_code == 404
