"""Provenance at a given time is a cached answer, one per media type (decision 048)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from service import provenance, routes_audit
from service.application import Ledger
from service.cli import bundled_story_path
from service.importer import import_file
from tests.service.test_api_audit import CLAIM, CONFIRMATION, STORY
from tests.service.wire import bearer

PROVENANCE = f"/v1/stories/{STORY}/provenance"
AT = {"at": "2021-02-01"}
PROVN = {"Accept": "text/provenance-notation"}


@pytest.fixture
def built(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The bundled story imported; each provenance document the routes build, recorded."""
    import_file(ledger, bundled_story_path(), "cli:test")
    calls: list[tuple[Any, ...]] = []
    real = provenance.provenance_document

    def counted(*args: Any) -> dict[str, Any]:
        calls.append(args[1:])
        return real(*args)

    monkeypatch.setattr(routes_audit, "provenance_document", counted)
    return calls


def test_provenance_at_a_time_is_built_once_and_then_served_from_the_cache(
    client: TestClient, built: list[tuple[Any, ...]]
) -> None:
    first = client.get(PROVENANCE, params=AT)
    again = client.get(PROVENANCE, params=AT)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert len(built) == 1
    assert first.headers["content-type"] == "application/json"
    assert first.headers["vary"] == "Accept, Accept-Encoding"
    assert first.headers["cache-control"] == "no-cache"  # the story may still change
    unchanged = client.get(PROVENANCE, params=AT, headers={"If-None-Match": first.headers["etag"]})
    assert (unchanged.status_code, unchanged.content) == (304, b"")


def test_each_media_type_is_its_own_answer_and_a_plain_request_never_gets_prov_n(
    client: TestClient, built: list[tuple[Any, ...]]
) -> None:
    as_json = client.get(PROVENANCE, params=AT)
    as_provn = client.get(PROVENANCE, params=AT, headers=PROVN)
    assert as_provn.headers["content-type"] == "text/provenance-notation; charset=utf-8"
    assert as_provn.text.startswith("document\n")
    assert as_provn.headers["etag"] != as_json.headers["etag"]
    assert as_provn.headers["vary"] == "Accept, Accept-Encoding"
    assert client.get(PROVENANCE, params=AT, headers=PROVN).content == as_provn.content
    plain = client.get(PROVENANCE, params=AT)  # the same path and query, asked last for PROV-N
    assert plain.headers["content-type"] == "application/json"
    assert plain.content == as_json.content
    assert len(built) == 2


def test_an_append_the_answer_covers_is_in_the_next_answer(
    client: TestClient, built: list[tuple[Any, ...]], tokens: dict[str, str]
) -> None:
    before = client.get(PROVENANCE, params=AT).json()
    posted = client.post(
        f"/v1/stories/{STORY}/events", json=CONFIRMATION, headers=bearer(tokens["admin"])
    )
    assert posted.status_code == 201
    after = client.get(PROVENANCE, params=AT).json()
    added = f"st:event/{CONFIRMATION['id']}"
    assert added not in before["activity"] and added in after["activity"]
    assert len(built) == 2


def test_a_large_answer_goes_compressed_to_a_client_that_accepts_gzip(
    client: TestClient, built: list[tuple[Any, ...]]
) -> None:
    plain = client.get(PROVENANCE, params=AT, headers={"Accept-Encoding": "identity"})
    compressed = client.get(PROVENANCE, params=AT, headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.content == plain.content  # as httpx decodes it
    assert int(compressed.headers["content-length"]) < len(plain.content) / 3


def test_a_claim_not_public_at_the_time_is_still_not_found(
    client: TestClient, built: list[tuple[Any, ...]]
) -> None:
    url = f"/v1/stories/{STORY}/claims/{CLAIM}/provenance"
    assert client.get(url, params=AT).status_code == 200
    early = client.get(url, params={"at": "2000-01-01"})
    assert early.status_code == 404
    assert early.headers["content-type"] == "application/problem+json"
