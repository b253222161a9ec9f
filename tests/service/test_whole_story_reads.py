"""Reads of a whole story (provenance, a timeline, the documents) run in a thread of their own,
so the other reads do not wait behind one that takes seconds on a long story (decision 050)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from starlette.testclient import TestClient

from service import provenance, routes_audit
from service.application import Ledger
from service.cli import bundled_story_path
from service.documents import Documents
from service.importer import import_file
from service.projections.reader import Reader
from tests.polling import poll

STORY = "doj-zero-tolerance"
WHOLE_STORY_THREAD = "knewwhen-whole-story-reader-0"


def test_a_slow_whole_story_read_holds_up_no_other_read(
    client: TestClient, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_file(ledger, bundled_story_path(), "cli:test")
    started, release = threading.Event(), threading.Event()
    ran_in: list[str] = []

    def slow(*args: Any) -> dict[str, Any]:
        ran_in.append(threading.current_thread().name)
        started.set()
        assert release.wait(10), "never released"
        return provenance.provenance_document(*args)

    monkeypatch.setattr(routes_audit, "provenance_document", slow)
    with ThreadPoolExecutor(1) as pool:
        try:
            asked = pool.submit(client.get, f"/v1/stories/{STORY}/provenance")
            poll(started.is_set, "started the provenance")
            meanwhile = client.get(f"/v1/stories/{STORY}/knowledge", params={"at": "2021-02-01"})
            assert meanwhile.status_code == 200 and not release.is_set()
        finally:
            release.set()
        assert asked.result(timeout=30).status_code == 200
    assert ran_in == [WHOLE_STORY_THREAD]


def test_timelines_and_document_lists_are_whole_story_reads(
    client: TestClient, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_file(ledger, bundled_story_path(), "cli:test")
    ran_in: list[str] = []
    timeline = Reader.timeline

    def watched(self: Reader, *args: Any) -> Any:
        ran_in.append(threading.current_thread().name)
        return timeline(self, *args)

    documents = Documents.documents

    def listed(self: Documents, *args: Any) -> Any:
        ran_in.append(threading.current_thread().name)
        return documents(self, *args)

    monkeypatch.setattr(Reader, "timeline", watched)
    monkeypatch.setattr(Documents, "documents", listed)
    assert client.get(f"/v1/stories/{STORY}/timeline").status_code == 200
    assert client.get(f"/v1/stories/{STORY}/documents").json()["documents"]
    assert ran_in == [WHOLE_STORY_THREAD] * 2
