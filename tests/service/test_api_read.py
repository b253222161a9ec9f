"""The read endpoints: stories, events, knowledge, history, changes, timeline, positions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from starlette.testclient import TestClient

from domain.knowledge import RecordedEvent, knowledge_at
from service.application import Ledger
from service.routes_write import domain_event
from service.schemas import event_decoder
from tests.service.conftest import SteppingClock
from tests.service.wire import (
    EVENTS,
    STORY,
    asserts,
    bearer,
    confirmation,
    leak,
    response,
    wire_event,
)

BASE = f"/v1/stories/{STORY}"


def record(client: TestClient, token: str, *events: dict[str, Any]) -> list[dict[str, Any]]:
    """Record events one request each; their receipts."""
    receipts = []
    for event in events:
        r = client.post(EVENTS, json=event, headers=bearer(token))
        assert r.status_code == 201, r.text
        receipts.append(r.json())
    return receipts


@pytest.fixture
def story(client: TestClient, tokens: dict[str, str]) -> list[dict[str, Any]]:
    """The three-event story, recorded in public order."""
    return record(client, tokens["writer"], leak(), confirmation(), response())


def test_stories_lists_each_story_with_counts_and_span(
    client: TestClient, tokens: dict[str, str], story: Any
) -> None:
    other = wire_event("x1", "story_published", "nbc", "2018-06-01T12:00:00Z", asserts("k"))
    client.post("/v1/stories/another/events", json=other, headers=bearer(tokens["writer"]))
    r = client.get("/v1/stories")
    assert r.status_code == 200
    assert r.json() == {
        "stories": [
            {
                "story": "another",
                "events": 1,
                "claims": 1,
                "documents": 0,
                "first_published_at": "2018-06-01T12:00:00Z",
                "last_published_at": "2018-06-01T12:00:00Z",
                "story_version": 1,
            },
            {
                "story": STORY,
                "events": 3,
                "claims": 1,
                "documents": 0,
                "first_published_at": "2020-10-06T22:00:00Z",
                "last_published_at": "2020-10-07T18:00:00Z",
                "story_version": 3,
            },
        ]
    }


def test_a_story_summary_carries_its_version_as_etag(client: TestClient, story: Any) -> None:
    r = client.get(BASE)
    assert r.status_code == 200
    assert r.headers["etag"] == '"3"'
    assert r.json()["story_version"] == 3


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/events",
        "/events/nyt-leak",
        "/knowledge",
        "/claims/c1/history",
        "/changes?from=2020-01-01",
        "/timeline",
    ],
)
def test_an_unknown_story_is_404_everywhere(client: TestClient, path: str) -> None:
    r = client.get(f"/v1/stories/no-such-story{path}")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "urn:knewwhen:problem:story-not-found"


def test_events_are_paged_in_recorded_order(
    client: TestClient, story: list[dict[str, Any]]
) -> None:
    first = client.get(f"{EVENTS}?limit=2").json()
    assert [e["event"]["id"] for e in first["events"]] == ["nyt-leak", "nbc-confirms"]
    assert first["next_after"] == story[1]["position"]
    rest = client.get(f"{EVENTS}?after={first['next_after']}&limit=2").json()
    assert [e["event"]["id"] for e in rest["events"]] == ["doj-disputes"]
    assert rest["next_after"] is None
    shown = rest["events"][0]
    assert shown["position"] == story[2]["position"]
    assert shown["recorded_by"] == "newsroom"
    assert shown["recorded_at"] == story[2]["recorded_at"]
    assert shown["event"]["type"] == "response_issued"


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=1001", "limit=ten", "after=-1", "min_position=x"]
)
def test_bad_paging_parameters_are_400(client: TestClient, story: Any, query: str) -> None:
    r = client.get(f"{EVENTS}?{query}")
    assert r.status_code == 400
    assert r.json()["errors"][0]["parameter"] == query.split("=")[0]


def test_one_event_by_id(client: TestClient, story: list[dict[str, Any]]) -> None:
    r = client.get(f"{EVENTS}/nbc-confirms")
    assert r.status_code == 200
    body = r.json()
    assert body["story_version"] == 2
    assert body["event"] == {
        "type": "report_confirmed",
        "id": "nbc-confirms",
        "source": "nbc",
        "published_at": "2020-10-07T15:00:00Z",
        "claims": [{"id": "c1", "stance": "confirms"}],
    }
    missing = client.get(f"{EVENTS}/nope")
    assert missing.status_code == 404
    assert missing.json()["type"] == "urn:knewwhen:problem:event-not-found"
    assert missing.json()["title"] == "Event not found"


def test_knowledge_is_exactly_the_reader_answer_and_the_reference_fold(
    client: TestClient, ledger: Ledger, story: list[dict[str, Any]]
) -> None:
    r = client.get(f"{BASE}/knowledge?at=2020-10-07T16:00:00Z")
    assert r.status_code == 200
    at = datetime(2020, 10, 7, 16, tzinfo=UTC)
    assert r.content == msgspec.json.encode(ledger.reader.knowledge(STORY, at, None))
    recorded = [
        RecordedEvent(
            STORY,
            domain_event(event_decoder.decode(msgspec.json.encode(e))),
            receipt["position"],
            datetime.fromisoformat(receipt["recorded_at"]),
            receipt["recorded_by"],
        )
        for e, receipt in zip([leak(), confirmation(), response()], story, strict=True)
    ]
    assert r.content == msgspec.json.encode(knowledge_at(STORY, recorded, at))
    claim = r.json()["claims"][0]
    assert (claim["status"], claim["supported_by"], claim["disputed_by"]) == (
        "corroborated",
        ["nbc", "nyt"],
        [],
    )


def test_knowledge_at_a_date_means_the_end_of_that_day(client: TestClient, story: Any) -> None:
    r = client.get(f"{BASE}/knowledge?at=2020-10-06").json()
    assert r["at"] == "2020-10-06T23:59:59.999999Z"
    assert r["events_applied"] == 1
    assert r["claims"][0]["status"] == "reported"
    later = client.get(f"{BASE}/knowledge?at=2020-10-07").json()
    assert later["events_applied"] == 3
    assert later["claims"][0]["disputed_by"] == ["doj"]


def test_an_offset_s_unescaped_plus_is_read_as_a_plus(client: TestClient, story: Any) -> None:
    typed = client.get(f"{BASE}/knowledge?at=2020-10-07T01:30:00+02:00")
    escaped = client.get(f"{BASE}/knowledge?at=2020-10-07T01:30:00%2B02:00")
    assert typed.status_code == escaped.status_code == 200
    assert typed.json() == escaped.json()
    assert typed.json()["at"] == "2020-10-06T23:30:00Z"
    spaced = client.get(f"{BASE}/knowledge?at=2020-10-07T01:30:00%2002")
    assert spaced.status_code == 400


def test_knowledge_defaults_to_now(client: TestClient, story: Any) -> None:
    before = datetime.now(UTC)
    r = client.get(f"{BASE}/knowledge").json()
    assert before <= datetime.fromisoformat(r["at"]) <= datetime.now(UTC)
    assert r["events_applied"] == 3
    assert r["recorded_before"] is None


def test_recorded_before_leaves_out_a_late_recorded_event(
    client: TestClient, tokens: dict[str, str], clock: SteppingClock
) -> None:
    record(client, tokens["writer"], leak(), response())
    clock.jump_to(datetime(2026, 3, 1, tzinfo=UTC))
    record(client, tokens["writer"], confirmation())
    now = client.get(f"{BASE}/knowledge?at=2020-10-08").json()
    assert now["claims"][0]["supported_by"] == ["nbc", "nyt"]
    assert now["events_applied"] == 3
    then = client.get(f"{BASE}/knowledge?at=2020-10-08&recorded_before=2026-02-01").json()
    assert then["recorded_before"] == "2026-02-01T23:59:59.999999Z"
    assert then["claims"][0]["supported_by"] == ["nyt"]
    assert then["events_applied"] == 2


@pytest.mark.parametrize(
    "query", ["at=yesterday", "at=2020-10-07T00:00:00", "recorded_before=2020-13-01"]
)
def test_unusable_times_are_400_naming_the_parameter(
    client: TestClient, story: Any, query: str
) -> None:
    r = client.get(f"{BASE}/knowledge?{query}")
    assert r.status_code == 400
    assert r.json()["errors"][0]["parameter"] == query.split("=")[0]


def test_claim_history_lists_each_change(client: TestClient, story: Any) -> None:
    r = client.get(f"{BASE}/claims/c1/history")
    assert r.status_code == 200
    body = r.json()
    assert body["claim"] == "c1"
    assert [(h["event"], h["status"], h["disputed_by"]) for h in body["history"]] == [
        ("nyt-leak", "reported", []),
        ("nbc-confirms", "corroborated", []),
        ("doj-disputes", "corroborated", ["doj"]),
    ]
    missing = client.get(f"{BASE}/claims/c404/history")
    assert missing.status_code == 404
    assert missing.json()["type"] == "urn:knewwhen:problem:claim-not-found"
    assert missing.json()["title"] == "Claim not found"


def test_changes_in_an_interval(client: TestClient, story: Any) -> None:
    r = client.get(f"{BASE}/changes?from=2020-10-06&to=2020-10-08")
    assert r.status_code == 200
    body = r.json()
    assert body["from"] == "2020-10-06T23:59:59.999999Z"
    assert [(c["event"], c["kind"], c["status"]) for c in body["changes"]] == [
        ("nbc-confirms", "claim_status_changed", "corroborated")
    ]
    missing_from = client.get(f"{BASE}/changes")
    assert missing_from.status_code == 400
    assert missing_from.json()["errors"][0]["parameter"] == "from"
    swapped = client.get(f"{BASE}/changes?from=2020-10-08&to=2020-10-06")
    assert swapped.status_code == 400
    assert swapped.headers["content-type"] == "application/problem+json"
    assert swapped.json()["errors"] == [
        {
            "detail": "from: 2020-10-08T23:59:59.999999Z is after to"
            " (2020-10-06T23:59:59.999999Z); the interval is (from, to]",
            "parameter": "from",
        }
    ]
    assert client.get(f"{BASE}/changes?from=2020-10-08&to=2020-10-08").json()["changes"] == []


def test_timeline_in_public_order(client: TestClient, tokens: dict[str, str]) -> None:
    record(
        client,
        tokens["writer"],
        leak(),
        wire_event("early", "story_published", "nbc", "2018-06-01T00:00:00Z"),
    )
    r = client.get(f"{BASE}/timeline")
    assert r.status_code == 200
    assert [(e["id"], e["type"], e["source"]) for e in r.json()["events"]] == [
        ("early", "story_published", "nbc"),
        ("nyt-leak", "story_published", "nyt"),
    ]
    assert r.json()["events"][1]["summary"] == "asserts c1"


@pytest.mark.parametrize(
    "path", ["/v1/stories", BASE, f"{BASE}/events", f"{BASE}/knowledge", f"{BASE}/timeline"]
)
def test_reads_say_how_current_they_are(
    client: TestClient, ledger: Ledger, story: list[dict[str, Any]], path: str
) -> None:
    r = client.get(path)
    assert r.status_code == 200
    assert int(r.headers["knewwhen-position"]) == ledger.reader.position() == story[-1]["position"]


def test_min_position_reached_answers_at_once(
    client: TestClient, story: list[dict[str, Any]]
) -> None:
    r = client.get(f"{BASE}/knowledge?min_position={story[-1]['position']}")
    assert r.status_code == 200
    assert int(r.headers["knewwhen-position"]) >= story[-1]["position"]


def test_min_position_not_reached_is_503_with_retry_after(
    client: TestClient, story: list[dict[str, Any]]
) -> None:
    ahead = story[-1]["position"] + 10
    r = client.get(f"{BASE}/knowledge?min_position={ahead}")
    assert r.status_code == 503
    assert r.headers["retry-after"] == "1"
    assert r.headers["knewwhen-position"] == str(story[-1]["position"])
    assert r.json()["type"] == "urn:knewwhen:problem:position-not-reached"
    assert r.json()["title"] == "Position not reached"


def test_healthz(client: TestClient, story: list[dict[str, Any]]) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "position": story[-1]["position"]}
