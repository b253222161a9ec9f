"""A state machine posts random valid and invalid events; the API must answer as the reference fold."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from starlette.testclient import TestClient

from domain.knowledge import RecordedEvent, knowledge_at
from service.api import create_app
from service.application import Ledger
from service.routes_write import domain_event
from service.schemas import event_decoder
from service.settings import Settings
from service.tokens import create_token
from tests.service.wire import bearer
from tests.strategies import ALLOWED, BASE, CLAIMS, DOCUMENTS, SOURCES

TYPES = sorted(str(tag) for tag in ALLOWED)
DOCUMENT_TYPES = ("draft_leaked", "document_released")
BREAKAGES: dict[str, tuple[dict[str, Any], str]] = {
    "unknown claim": (
        {"type": "report_confirmed", "claims": [{"id": "zz", "stance": "confirms"}]},
        "/claims/0/id",
    ),
    "stance": ({"claims": [{"id": "c1", "stance": "retracts"}]}, "/claims/0/stance"),
    "cite": ({"cites": ["never-recorded"]}, "/cites/0"),
    "naive time": ({"published_at": "2020-10-01T00:00:00"}, "/published_at"),
    "unknown field": ({"recorded_by": "someone"}, "/recorded_by"),
    "no text": ({"claims": [{"id": "c1", "stance": "asserts"}]}, "/claims/0/text"),
}


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def app_client(database: str) -> Iterator[tuple[TestClient, str]]:
    """One app over a fresh database, and a writer token, for every run of the machine."""
    ledger = Ledger(database)
    token = create_token(ledger, "machine", "writer")
    try:
        with TestClient(create_app(Settings(database=database), ledger)) as client:
            yield client, token
    finally:
        ledger.close()


def test_the_api_answers_as_the_reference_fold(app_client: tuple[TestClient, str]) -> None:
    client, token = app_client

    class Newsroom(RuleBasedStateMachine):
        """Posts events to one story of its own and asks what was known."""

        def __init__(self) -> None:
            super().__init__()
            self.story = f"s-{uuid.uuid4().hex[:10]}"
            self.url = f"/v1/stories/{self.story}"
            self.recorded: list[RecordedEvent] = []
            self.bodies: dict[str, dict[str, Any]] = {}
            self.receipts: dict[str, Any] = {}
            self.asserted: set[str] = set()

        @initialize()
        def nothing_yet(self) -> None:
            assert client.get(f"{self.url}/knowledge").status_code == 404

        def post(self, body: Any) -> Any:
            return client.post(f"{self.url}/events", json=body, headers=bearer(token))

        def version(self) -> int:
            return len(self.recorded)

        @rule(data=st.data())
        def post_a_valid_event(self, data: st.DataObject) -> None:
            event_type = data.draw(st.sampled_from(TYPES))
            source = data.draw(st.sampled_from(SOURCES))
            claims = []
            for claim in data.draw(st.lists(st.sampled_from(CLAIMS), max_size=3, unique=True)):
                options = [
                    s for s in ALLOWED[event_type] if s == "asserts" or claim in self.asserted
                ]
                if options:
                    stance = data.draw(st.sampled_from(options))
                    entry = {"id": claim, "stance": stance}
                    if stance in ("asserts", "corrects"):
                        entry["text"] = f"{claim} {data.draw(st.sampled_from(['one', 'two']))}"
                    claims.append(entry)
            body: dict[str, Any] = {
                "id": f"e{len(self.bodies)}",
                "type": event_type,
                "source": source,
                "published_at": iso(BASE + timedelta(hours=data.draw(st.integers(0, 8)))),
                "claims": claims,
                "cites": data.draw(
                    st.lists(st.sampled_from(sorted(self.bodies)), max_size=2, unique=True)
                )
                if self.bodies
                else [],
            }
            if event_type in DOCUMENT_TYPES or data.draw(st.booleans()):
                body["document"] = {
                    "id": data.draw(st.sampled_from(DOCUMENTS)),
                    "title": data.draw(st.sampled_from(["A", "B"])),
                    "text": data.draw(st.sampled_from(["x", "y"])),
                    "author": data.draw(st.sampled_from([source, "doj-oig"])),
                }
            r = self.post(body)
            assert r.status_code == 201, r.text
            receipt = r.json()
            assert receipt["story_version"] == self.version() + 1
            assert receipt["recorded_by"] == "machine"
            self.bodies[body["id"]] = body
            self.receipts[body["id"]] = receipt
            self.asserted.update(c["id"] for c in claims if c["stance"] == "asserts")
            event = domain_event(event_decoder.decode(msgspec.json.encode(body)))
            self.recorded.append(
                RecordedEvent(
                    self.story,
                    event,
                    receipt["position"],
                    datetime.fromisoformat(receipt["recorded_at"]),
                    receipt["recorded_by"],
                )
            )

        @rule(breakage=st.sampled_from(sorted(BREAKAGES)))
        def post_an_invalid_event(self, breakage: str) -> None:
            body: dict[str, Any] = {
                "id": f"bad{len(self.bodies)}",
                "type": "story_published",
                "source": "nyt",
                "published_at": iso(BASE),
            }
            change, pointer = BREAKAGES[breakage]
            r = self.post({**body, **change})
            assert r.status_code == 422, r.text
            assert r.json()["errors"][0]["pointer"] == pointer

        @precondition(lambda self: self.bodies)
        @rule(data=st.data())
        def retry_an_event(self, data: st.DataObject) -> None:
            event_id = data.draw(st.sampled_from(sorted(self.bodies)))
            r = self.post(self.bodies[event_id])
            assert r.status_code == 200
            assert r.json() == self.receipts[event_id]

        @precondition(lambda self: self.bodies)
        @rule(data=st.data())
        def reuse_an_id_with_another_body(self, data: st.DataObject) -> None:
            event_id = data.draw(st.sampled_from(sorted(self.bodies)))
            r = self.post({**self.bodies[event_id], "note": "changed"})
            assert r.status_code == 409

        @precondition(lambda self: self.bodies)
        @rule()
        def write_against_a_stale_version(self) -> None:
            body = {
                "id": "stale",
                "type": "story_published",
                "source": "nyt",
                "published_at": iso(BASE),
            }
            r = client.post(
                f"{self.url}/events",
                json=body,
                headers={**bearer(token), "If-Match": f'"{self.version() - 1}"'},
            )
            assert r.status_code == 412
            assert r.json()["current_version"] == self.version()

        @precondition(lambda self: self.recorded)
        @rule(
            minutes=st.integers(-60, 9 * 60 + 60),
            data=st.data(),
        )
        def ask_what_was_known(self, minutes: int, data: st.DataObject) -> None:
            at = BASE + timedelta(minutes=minutes)
            recorded_before = data.draw(
                st.none() | st.sampled_from([r.recorded_at for r in self.recorded])
            )
            query = f"at={iso(at)}"
            if recorded_before is not None:
                query += f"&recorded_before={iso(recorded_before)}"
            r = client.get(f"{self.url}/knowledge?{query}")
            assert r.status_code == 200
            expected = knowledge_at(self.story, self.recorded, at, recorded_before)
            assert r.content == msgspec.json.encode(expected)

        @invariant()
        def the_story_version_counts_the_events(self) -> None:
            r = client.get(self.url)
            if not self.recorded:
                assert r.status_code == 404
                return
            assert r.headers["etag"] == f'"{self.version()}"'

    run_state_machine_as_test(
        Newsroom,
        settings=settings(
            max_examples=15,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
