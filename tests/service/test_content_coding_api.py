"""Cached answers compressed for clients that accept gzip, through the app: by the routes and
by ``RepeatedReads`` alike, with an ETag of their own and ``Vary: Accept-Encoding``."""

from __future__ import annotations

import gzip

from starlette.testclient import TestClient

from service.application import Ledger
from service.cli import bundled_story_path
from service.content_coding import GZIP_FROM
from service.importer import import_file
from tests.service.conftest import Parses

KNOWLEDGE = "/v1/stories/doj-zero-tolerance/knowledge?at=2020-10-06T23:59:59Z"
GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}


def raw(
    client: TestClient, headers: dict[str, str] | list[tuple[str, str]]
) -> tuple[bytes, dict[str, str], int]:
    """The body as sent (not decoded), the headers and the status."""
    with client.stream("GET", KNOWLEDGE, headers=headers) as r:
        return b"".join(r.iter_raw()), dict(r.headers), r.status_code


def test_a_client_that_accepts_gzip_gets_the_answer_compressed(
    client: TestClient, ledger: Ledger, parses: Parses
) -> None:
    import_file(ledger, bundled_story_path(), "cli:test")
    plain, plain_headers, _ = raw(client, IDENTITY)
    assert len(plain) >= GZIP_FROM and "content-encoding" not in plain_headers
    for through in ("the routes", "RepeatedReads"):
        calls = parses.calls
        body, headers, status = raw(client, GZIP)
        assert status == 200, through
        assert headers["content-encoding"] == "gzip"
        assert headers["content-length"] == str(len(body)) and len(body) < len(plain) / 2
        assert gzip.decompress(body) == plain
        assert headers["etag"] != plain_headers["etag"]
        assert headers["vary"] == plain_headers["vary"] == "Accept-Encoding"
        assert headers["knewwhen-position"] == plain_headers["knewwhen-position"]
        assert headers["cache-control"] == plain_headers["cache-control"]
    assert parses.calls == calls  # the second came from memory, before routing
    again, again_headers, _ = raw(client, IDENTITY)
    assert (again, again_headers["etag"]) == (plain, plain_headers["etag"])


def test_each_variant_is_revalidated_by_its_own_etag(client: TestClient, ledger: Ledger) -> None:
    import_file(ledger, bundled_story_path(), "cli:test")
    _, compressed, _ = raw(client, GZIP)
    _, plain, _ = raw(client, IDENTITY)
    body, headers, status = raw(client, {**GZIP, "If-None-Match": compressed["etag"]})
    assert (status, body, headers["etag"]) == (304, b"", compressed["etag"])
    assert "content-encoding" not in headers and headers["vary"] == "Accept-Encoding"
    _, _, status = raw(client, {**IDENTITY, "If-None-Match": compressed["etag"]})
    assert status == 200  # another representation
    _, _, status = raw(client, {**IDENTITY, "If-None-Match": plain["etag"]})
    assert status == 304


def test_gzip_refused_by_quality_zero_gets_the_answer_as_it_is(
    client: TestClient, ledger: Ledger
) -> None:
    import_file(ledger, bundled_story_path(), "cli:test")
    body, headers, _ = raw(client, {"Accept-Encoding": "gzip;q=0, *"})
    assert "content-encoding" not in headers
    assert body == raw(client, IDENTITY)[0]


def test_accept_encoding_on_two_lines_is_one_list(
    client: TestClient, ledger: Ledger, parses: Parses
) -> None:
    import_file(ledger, bundled_story_path(), "cli:test")
    for at, lines in (
        ("2020-10-06T23:59:58Z", [("Accept-Encoding", "identity"), ("Accept-Encoding", "gzip")]),
        ("2020-10-06T23:59:57Z", [("Accept-Encoding", "gzip"), ("Accept-Encoding", "identity")]),
    ):
        url = KNOWLEDGE.replace("2020-10-06T23:59:59Z", at)
        for through in ("the routes", "RepeatedReads"):
            calls = parses.calls
            with client.stream("GET", url, headers=lines) as r:
                assert r.headers.get("content-encoding") == "gzip", (lines, through)
        assert parses.calls == calls, lines  # the second came from memory, before routing
