"""Documents as versioned resources over HTTP (and the CLI): revisions, ?at, lists, diffs, 404s."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from starlette.testclient import TestClient

from domain.events import Document, ReportingEvent
from service.application import Ledger
from service.cli import main
from service.diff import Operation, apply
from tests.builders import event

STORY = "s"
REPORT = f"/v1/stories/{STORY}/documents/report"
URL = "https://example.org/report?id=7"


def publication(
    event_id: str, published: str, text: str | None, title: str | None = "The report", **kw: Any
) -> ReportingEvent:
    """A story_published event that publishes the document ``report``."""
    doc = Document(id="report", title=title, author="oig", text=text, **kw)
    return event("story_published", event_id, "nyt", published, doc=doc)


def record(ledger: Ledger, *events: ReportingEvent) -> None:
    """Record each event in its own append, in the order given."""
    for e in events:
        ledger.append(STORY, [e], "test")


def texts(client: TestClient, path: str = REPORT) -> list[tuple[int, str, str]]:
    """(revision, published_at, event) of each revision."""
    r = client.get(f"{path}/revisions")
    assert r.status_code == 200, r.text
    return [(v["revision"], v["published_at"], v["event"]) for v in r.json()["revisions"]]


def test_changed_text_is_a_new_revision_and_unchanged_text_is_not(
    client: TestClient, ledger: Ledger
) -> None:
    record(
        ledger,
        publication("e1", "2020-10-01T10:00", "draft\n"),
        publication("e2", "2020-10-02T10:00", "draft\n"),
        publication("e3", "2020-10-03T10:00", None),
        publication("e4", "2020-10-04T10:00", "final\n"),
        publication("e5", "2020-10-05T10:00", "final\n", title="The final report"),
    )
    assert texts(client) == [
        (1, "2020-10-01T10:00:00Z", "e1"),
        (2, "2020-10-04T10:00:00Z", "e4"),
        (3, "2020-10-05T10:00:00Z", "e5"),
    ]
    r = client.get(f"{REPORT}/revisions/2")
    assert r.status_code == 200
    body = r.json()
    assert (body["revision"], body["text"], body["event"]) == (2, "final\n", "e4")
    assert body["sha256"] == hashlib.sha256(b"final\n").hexdigest()


def test_at_picks_the_latest_revision_public_then(client: TestClient, ledger: Ledger) -> None:
    record(
        ledger,
        publication("e1", "2020-10-01T10:00", "one"),
        publication("e2", "2020-10-03T10:00", "two"),
    )
    answers = {
        when: client.get(REPORT, params={"at": when}).json()
        for when in ("2020-10-01T10:00:00Z", "2020-10-02", "2020-10-03T10:00:00Z")
    }
    assert [(a["revision"], a["text"], a["revisions"]) for a in answers.values()] == [
        (1, "one", 1),
        (1, "one", 1),
        (2, "two", 2),
    ]
    latest = client.get(REPORT).json()
    assert (latest["revision"], latest["event"], latest["published_at"]) == (
        2,
        "e2",
        "2020-10-03T10:00:00Z",
    )
    assert latest["sha256"] == hashlib.sha256(b"two").hexdigest()


def test_a_later_revision_recorded_first_is_renumbered_when_the_earlier_arrives(
    client: TestClient, ledger: Ledger
) -> None:
    record(ledger, publication("late", "2020-10-03T10:00", "final"))
    record(ledger, publication("early", "2020-10-01T10:00", "draft"))

    between = client.get(REPORT, params={"at": "2020-10-02"}).json()
    assert (between["revision"], between["text"], between["event"]) == (1, "draft", "early")
    after = client.get(REPORT, params={"at": "2020-10-04"}).json()
    assert (after["revision"], after["text"], after["event"]) == (2, "final", "late")
    revisions = client.get(f"{REPORT}/revisions").json()["revisions"]
    assert [r["event"] for r in revisions] == ["early", "late"]

    late_recorded, early_recorded = revisions[1]["recorded_at"], revisions[0]["recorded_at"]
    assert late_recorded < early_recorded
    before_early = {"recorded_before": early_recorded}
    assert client.get(REPORT, params={"at": "2020-10-02", **before_early}).status_code == 404
    then = client.get(REPORT, params={"at": "2020-10-04", **before_early}).json()
    assert (then["revision"], then["revisions"], then["event"]) == (1, 1, "late")
    listed = client.get(f"{REPORT}/revisions", params=before_early).json()["revisions"]
    assert [(r["revision"], r["event"]) for r in listed] == [(1, "late")]
    before_any = {"recorded_before": late_recorded}
    assert client.get(f"{REPORT}/revisions", params=before_any).status_code == 404


def test_documents_lists_what_was_public_at_t(client: TestClient, ledger: Ledger) -> None:
    leak = Document(id="draft", title="Draft", author="oig", text="x", url="https://oig.example/d")
    record(
        ledger,
        event("draft_leaked", "leak", "nyt", "2020-10-01T10:00", doc=leak),
        publication("e1", "2020-10-02T10:00", "one"),
        publication("e2", "2020-10-03T10:00", "two"),
    )
    r = client.get(f"/v1/stories/{STORY}/documents", params={"at": "2020-10-02"})
    assert r.status_code == 200
    assert r.json()["documents"] == [
        {
            "id": "draft",
            "title": "Draft",
            "author": "oig",
            "url": "https://oig.example/d",
            "visibility": "leaked",
            "public_since": "2020-10-01T10:00:00Z",
            "revisions": 1,
        },
        {
            "id": "report",
            "title": "The report",
            "author": "oig",
            "url": None,
            "visibility": "published",
            "public_since": "2020-10-02T10:00:00Z",
            "revisions": 1,
        },
    ]
    now = client.get(f"/v1/stories/{STORY}/documents").json()["documents"]
    assert [(d["id"], d["revisions"]) for d in now] == [("draft", 1), ("report", 2)]
    assert (
        client.get(f"/v1/stories/{STORY}/documents", params={"at": "2020-09-30"}).json()[
            "documents"
        ]
        == []
    )


def test_a_document_without_url_links_its_timegate_and_timemap(
    client: TestClient, ledger: Ledger
) -> None:
    record(
        ledger,
        publication("e1", "2020-10-01T10:00", "one"),
        publication("e2", "2020-10-02T10:00", "two", url=URL),
    )
    plain_doc = Document(id="plain", text="plain")
    record(ledger, event("story_published", "e3", "nyt", "2020-10-01T10:00", doc=plain_doc))
    plain = client.get(f"/v1/stories/{STORY}/documents/plain")
    uri_r = f"http://testserver/v1/stories/{STORY}/documents/plain"
    assert plain.headers["link"] == (
        f'<http://testserver/timegate/{uri_r}>; rel="timegate", '
        f'<http://testserver/timemap/link/{uri_r}>; rel="timemap"; type="application/link-format"'
    )
    assert "link" not in client.get(REPORT).headers


def test_404s_name_what_is_missing(client: TestClient, ledger: Ledger) -> None:
    record(ledger, publication("e1", "2020-10-02T10:00", "one"))
    cases = {
        "/v1/stories/nope/documents": "story-not-found",
        "/v1/stories/nope/documents/report": "story-not-found",
        f"/v1/stories/{STORY}/documents/nope": "document-not-found",
        f"/v1/stories/{STORY}/documents/nope/revisions": "document-not-found",
        f"{REPORT}?at=2020-10-01": "document-not-found",
        f"{REPORT}/revisions/2": "revision-not-found",
        f"{REPORT}/revisions/0": "revision-not-found",
        f"{REPORT}/diff?from=1&to=2": "revision-not-found",
    }
    for path, kind in cases.items():
        r = client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"] == f"urn:knewwhen:problem:{kind}", path
        assert r.json()["title"].lower().replace(" ", "-") == kind, path
    detail = client.get(f"{REPORT}?at=2020-10-01").json()["detail"]
    assert (
        detail == f"story {STORY!r} has no document 'report' public at 2020-10-01T23:59:59.999999Z"
    )


def test_bad_parameters_are_400_and_unservable_accept_is_406(
    client: TestClient, ledger: Ledger
) -> None:
    record(ledger, publication("e1", "2020-10-02T10:00", "one"))
    for query in ("from=1", "to=1", "from=x&to=1", "from=0&to=1"):
        r = client.get(f"{REPORT}/diff?{query}")
        assert r.status_code == 400, query
        assert r.json()["errors"][0]["parameter"] in ("from", "to")
    assert client.get(REPORT, params={"at": "yesterday"}).status_code == 400
    r = client.get(f"{REPORT}/diff?from=1&to=1", headers={"accept": "image/png"})
    assert (r.status_code, r.headers["content-type"]) == (406, "application/problem+json")


@pytest.fixture
def two_revisions(ledger: Ledger) -> None:
    record(
        ledger,
        publication("e1", "2020-10-01T10:00", "alpha\nbeta\ngamma"),
        publication("e2", "2020-10-02T10:00", "alpha\nBETA\ngamma\ndelta\n"),
    )


def test_diff_is_a_unified_diff_by_default(client: TestClient, two_revisions: None) -> None:
    r = client.get(f"{REPORT}/diff", params={"from": 1, "to": 2})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/x-diff; charset=utf-8"
    assert r.headers["vary"] == "Accept"
    assert r.text == (
        "--- report/revisions/1\t2020-10-01T10:00:00Z\n"
        "+++ report/revisions/2\t2020-10-02T10:00:00Z\n"
        "@@ -1,3 +1,4 @@\n"
        " alpha\n"
        "-beta\n"
        "-gamma\n"
        "\\ No newline at end of file\n"
        "+BETA\n"
        "+gamma\n"
        "+delta\n"
    )
    same = client.get(f"{REPORT}/diff", params={"from": 2, "to": 2})
    assert (same.status_code, same.text) == (200, "")


def test_diff_as_json_operations_rebuilds_the_target(
    client: TestClient, two_revisions: None
) -> None:
    accept = {"accept": "text/x-diff;q=0.5, application/json"}
    r = client.get(f"{REPORT}/diff", params={"from": 1, "to": 2}, headers=accept)
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert (body["from"], body["to"]) == (1, 2)
    ops = [Operation(o["op"], o["text"]) for o in body["operations"]]
    assert ops == [
        Operation("equal", "alpha\n"),
        Operation("delete", "beta\ngamma"),
        Operation("insert", "BETA\ngamma\ndelta\n"),
    ]
    assert apply("alpha\nbeta\ngamma", ops) == "alpha\nBETA\ngamma\ndelta\n"
    back = client.get(
        f"{REPORT}/diff", params={"from": 2, "to": 1}, headers={"accept": "application/json"}
    )
    assert (
        apply("alpha\nBETA\ngamma\ndelta\n", [Operation(**o) for o in back.json()["operations"]])
        == "alpha\nbeta\ngamma"
    )


def test_the_cli_prints_a_revision_and_a_diff(
    database: str,
    ledger: Ledger,
    two_revisions: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KNEWWHEN_DATABASE", database)
    assert main(["document", STORY, "report", "--at", "2020-10-01T12:00:00Z"]) == 0
    out = capsys.readouterr().out
    assert "revision 1 · published 2020-10-01T10:00:00Z by e1" in out
    assert out.endswith("alpha\nbeta\ngamma\n")
    assert main(["document", STORY, "report", "--revision", "2", "--json"]) == 0
    assert '"revision":2' in capsys.readouterr().out
    assert main(["document", STORY, "report", "--revision", "3"]) == 1
    assert "has no revision 3" in capsys.readouterr().err
    assert main(["document", STORY, "report", "--at", "2020-09-01"]) == 1
    assert "'report' was not public at 2020-09-01T23:59:59.999999Z" in capsys.readouterr().err
    assert main(["document", STORY, "nope"]) == 1
    assert capsys.readouterr().err == "knewwhen document: document 'nope' is not in the story\n"
    assert main(["diff", STORY, "report", "1", "2"]) == 0
    assert capsys.readouterr().out.startswith("--- report/revisions/1\t2020-10-01T10:00:00Z\n")
    assert main(["diff", STORY, "report", "2", "2", "--json"]) == 0
    assert capsys.readouterr().out.strip().endswith('"operations":[]}')


def test_a_uri_r_s_own_min_position_is_part_of_it(client: TestClient, ledger: Ledger) -> None:
    odd = "https://example.org/feed?min_position=soon"
    record(ledger, publication("e1", "2020-10-02T10:00", "one", url=odd))
    r = client.get(f"/timemap/link/{odd}")
    assert r.status_code == 200, r.text
    assert f"<{odd}>" in r.text
    missing = client.get("/timemap/link/https://example.org/feed?min_position=99")
    assert missing.status_code == 404
    assert missing.json()["type"] == "urn:knewwhen:problem:unknown-uri-r"
