"""The audit endpoints through the real app (``service.api.create_app``): mounted and answering."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from prov.model import ProvActivity, ProvDocument, ProvEntity
from starlette.testclient import TestClient

from service import routes_audit
from service.application import Ledger
from service.audit.verify import VerifyReport
from service.audit.verify_child import verify_apart
from service.cli import bundled_story_path
from service.importer import import_file
from service.shared_runs import SharedRuns
from tests.polling import poll
from tests.service.wire import bearer
from tests.unit.test_merkle import verify_inclusion

STORY = "doj-zero-tolerance"
CLAIM = "sessions-take-away-children"
CONFIRMATION = {
    "id": "ap-2021-01-15-confirms",
    "type": "report_confirmed",
    "source": "ap",
    "published_at": "2021-01-15T12:00:00Z",
    "claims": [{"id": CLAIM, "stance": "confirms"}],
}


def test_the_log_counts_every_append_and_proves_the_new_leaf(
    client: TestClient, ledger: Ledger, tokens: dict[str, str]
) -> None:
    assert client.get("/v1/log").json() == {
        "tree_size": 0,
        "root_hash": hashlib.sha256(b"").hexdigest(),
    }
    import_file(ledger, bundled_story_path(), "cli:test")
    assert client.get("/v1/log").json()["tree_size"] == 15
    posted = client.post(
        f"/v1/stories/{STORY}/events", json=CONFIRMATION, headers=bearer(tokens["writer"])
    )
    assert posted.status_code == 201, posted.text
    head = client.get("/v1/log", params={"min_position": posted.json()["position"]})
    assert head.status_code == 200
    assert head.json()["tree_size"] == 16
    assert int(head.headers["knewwhen-position"]) >= posted.json()["position"]
    entry = client.get("/v1/log/entries/15").json()
    leaf = json.loads(entry["leaf"])
    assert (leaf["id"], leaf["story"], leaf["recorded_by"]) == (
        CONFIRMATION["id"],
        STORY,
        "newsroom",
    )
    proof = client.get("/v1/log/proof/inclusion", params={"index": 15, "tree_size": 16}).json()
    path = [bytes.fromhex(h) for h in proof["audit_path"]]
    root = bytes.fromhex(head.json()["root_hash"])
    assert verify_inclusion(bytes.fromhex(entry["leaf_hash"]), 15, 16, path, root)
    consistency = client.get("/v1/log/proof/consistency", params={"first": 15, "second": 16})
    assert consistency.status_code == 200
    assert consistency.json()["consistency_path"]


def test_the_bundled_story_provenance_parses_as_prov(client: TestClient, ledger: Ledger) -> None:
    import_file(ledger, bundled_story_path(), "cli:test")
    story = client.get(f"/v1/stories/{STORY}/provenance", params={"at": "2021-02-01"})
    assert story.status_code == 200
    assert story.headers["content-type"] == "application/json"
    assert story.headers["vary"] == "Accept, Accept-Encoding"  # cached: decision 048
    document = ProvDocument.deserialize(content=story.text, format="json")
    bundled = [json.loads(line) for line in bundled_story_path().read_text().splitlines() if line]
    activities = {str(a.identifier) for a in document.get_records(ProvActivity)}
    assert activities == {f"st:event/{e['id']}" for e in bundled}
    entities = {str(e.identifier) for e in document.get_records(ProvEntity)}
    assert f"st:claim/{CLAIM}" in entities
    claim = client.get(
        f"/v1/stories/{STORY}/claims/{CLAIM}/provenance",
        headers={"Accept": "text/provenance-notation"},
    )
    assert claim.status_code == 200
    assert claim.headers["content-type"] == "text/provenance-notation; charset=utf-8"
    assert claim.text.startswith("document\n")
    assert f"entity(st:claim/{CLAIM}" in claim.text
    missing = client.get(f"/v1/stories/{STORY}/claims/no-such-claim/provenance")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_verify_answers_admins_through_the_app(
    client: TestClient, ledger: Ledger, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routes_audit, "VERIFY_GRACE_SECONDS", 60.0)  # an ordinary answer
    import_file(ledger, bundled_story_path(), "cli:test")
    assert client.get("/v1/log/verify", headers=bearer(tokens["reader"])).status_code == 403
    r = client.get("/v1/log/verify", headers=bearer(tokens["admin"]))
    assert r.status_code == 200
    assert r.headers["content-length"] == str(len(r.content))
    body = r.json()
    assert (body["ok"], body["failure"], body["failure_index"]) == (True, None, None)
    assert r.headers["Knewwhen-Position"] == client.get("/v1/log").headers["Knewwhen-Position"]
    assert int(r.headers["Knewwhen-Position"]) == body["position"] == 16
    assert (
        "stored events: 16, of which 15 reporting events; 15 match their digests" in body["checked"]
    )


def test_a_verification_past_its_grace_answers_200_then_heartbeats_then_the_report(
    client: TestClient, ledger: Ledger, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import_file(ledger, bundled_story_path(), "cli:test")
    at_once = client.get("/v1/log/verify", headers=bearer(tokens["admin"])).json()

    async def slow(ledger: Ledger) -> VerifyReport:
        await asyncio.sleep(0.2)
        return await verify_apart(ledger)

    monkeypatch.setattr(routes_audit, "verify_apart", slow)
    monkeypatch.setattr(routes_audit, "VERIFY_GRACE_SECONDS", 0.0)
    monkeypatch.setattr(routes_audit, "VERIFY_HEARTBEAT_SECONDS", 0.02)
    r = client.get("/v1/log/verify", headers=bearer(tokens["admin"]))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert "content-length" not in r.headers and "Knewwhen-Position" not in r.headers
    assert r.content.startswith(b"  ") and r.content.lstrip().startswith(b"{")
    assert r.json() == at_once
    assert at_once["position"] == 16


def test_verifications_asked_while_one_runs_share_the_next(
    client: TestClient, ledger: Ledger, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import_file(ledger, bundled_story_path(), "cli:test")
    begun: list[float] = []
    asked: list[float] = []
    verified, release = threading.Event(), threading.Event()

    async def gated(ledger: Ledger) -> VerifyReport:
        begun.append(time.monotonic())
        report = await verify_apart(ledger)
        verified.set()
        while len(begun) == 1 and not release.is_set():  # the first run ends when let go
            await asyncio.sleep(0.01)
        return report

    async def counted(runs: SharedRuns[VerifyReport], compute: Any) -> VerifyReport:
        asked.append(time.monotonic())  # then joins a run before it awaits anything
        return await shared_result(runs, compute)

    shared_result = SharedRuns.result
    monkeypatch.setattr(routes_audit, "verify_apart", gated)
    monkeypatch.setattr(SharedRuns, "result", counted)
    monkeypatch.setattr(routes_audit, "VERIFY_GRACE_SECONDS", 60.0)  # ordinary answers
    admin = bearer(tokens["admin"])
    with ThreadPoolExecutor(4) as pool:
        try:
            first = pool.submit(client.get, "/v1/log/verify", headers=admin)
            poll(verified.is_set, "read the first run's snapshot")  # then it waits
            posted = client.post(f"/v1/stories/{STORY}/events", json=CONFIRMATION, headers=admin)
            assert posted.status_code == 201
            during = [pool.submit(client.get, "/v1/log/verify", headers=admin) for _ in range(3)]
            poll(lambda: len(asked) == 4, "joined")  # each joins a run while the first waits
        finally:
            release.set()  # a failed wait leaves no request waiting
        answers = [future.result(timeout=60) for future in (first, *during)]
    assert [r.status_code for r in answers] == [200] * 4
    assert len(begun) == 2  # one run for the first request, one shared by the other three
    assert answers[0].json()["position"] == 16
    assert [r.json()["position"] for r in answers[1:]] == [17, 17, 17]  # after the append
