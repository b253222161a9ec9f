"""Memento (RFC 7089) against a real ``knewwhen serve`` process, header by header, with httpx."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import fresh_postgres_database

BIN = Path(sys.executable).parent
URL = "https://example.org/report?id=7"
STORY = "memento-e2e"
LINK_FORMAT = "application/link-format"
R1, R2, R3 = (
    "Thu, 01 Oct 2020 10:00:00 GMT",
    "Fri, 02 Oct 2020 10:00:00 GMT",
    "Sat, 03 Oct 2020 10:00:00 GMT",
)
M1, M2, M3 = "20201001100000", "20201002100000", "20201003100000"
LINK = re.compile(r'\s*<([^>]*)>((?:\s*;\s*[A-Za-z]+="[^"]*")*)\s*(?:,|$)')
PARAM = re.compile(r';\s*([A-Za-z]+)="([^"]*)"')


def line(event_id: str, published: str, document: dict[str, str]) -> str:
    """One import line publishing ``document``."""
    return json.dumps(
        {
            "story": STORY,
            "id": event_id,
            "type": "story_published",
            "source": "nyt",
            "published_at": published,
            "document": document,
        }
    )


STORY_LINES = [
    line("e3", "2020-10-03T10:00:00Z", {"id": "report", "title": "R", "url": URL, "text": "three"}),
    line("e1", "2020-10-01T10:00:00Z", {"id": "report", "title": "R", "url": URL, "text": "one"}),
    line("e2", "2020-10-02T10:00:00Z", {"id": "report", "title": "R", "url": URL, "text": "two"}),
    line("e2b", "2020-10-02T12:00:00Z", {"id": "report", "title": "R", "text": "two"}),
    line("m1", "2020-10-05T08:00:00Z", {"id": "memo", "title": "Memo", "text": "memo text"}),
]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Poll /healthz until it answers 200, the process dies, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"the server did not answer within {timeout}s")


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh database of each backend for the module's server."""
    if request.param == "sqlite":
        yield str(tmp_path_factory.mktemp("memento") / "knewwhen.sqlite3")
        return
    yield from fresh_postgres_database(request.getfixturevalue("postgres_server"))


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Import the small story with ``knewwhen import``, then run ``knewwhen serve``; its base URL."""
    env = {**os.environ, "KNEWWHEN_DATABASE": database_url}
    story = tmp_path_factory.mktemp("story") / "story.jsonl"
    story.write_text("\n".join(STORY_LINES) + "\n")
    imported = subprocess.run(
        [BIN / "knewwhen", "import", str(story)], env=env, capture_output=True, timeout=60
    )
    assert imported.returncode == 0, imported.stderr
    port = free_port()
    process = subprocess.Popen(
        [BIN / "knewwhen", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    """An httpx client on the server that does not follow redirects."""
    with httpx.Client(base_url=server, follow_redirects=False, timeout=10.0) as client:
        yield client


def links(header: str) -> dict[str, tuple[str, dict[str, str]]]:
    """Parse a Link header (or a link-format body) into {rel value: (uri, other params)}."""
    found: dict[str, tuple[str, dict[str, str]]] = {}
    consumed = 0
    for match in LINK.finditer(header):
        assert match.start() == consumed, f"unparsed link text at {consumed}: {header!r}"
        consumed = match.end()
        params = dict(PARAM.findall(match.group(2)))
        rel = params.pop("rel")
        assert rel not in found, f"rel={rel!r} appears twice"
        found[rel] = (match.group(1), params)
    assert consumed == len(header), f"unparsed link text at {consumed}: {header!r}"
    return found


def uri_m(server: str, stamp: str, uri_r: str = URL) -> str:
    return f"{server}/memento/{stamp}/{uri_r}"


def test_the_timegate_redirects_to_the_memento_at_or_before_accept_datetime(
    http: httpx.Client, server: str
) -> None:
    r = http.get(f"/timegate/{URL}", headers={"Accept-Datetime": "Fri, 02 Oct 2020 23:59:59 GMT"})
    assert r.status_code == 302
    assert r.headers["location"] == uri_m(server, M2)
    assert r.headers["vary"] == "accept-datetime"
    assert "memento-datetime" not in r.headers
    assert links(r.headers["link"]) == {
        "original": (URL, {}),
        "timemap": (f"{server}/timemap/link/{URL}", {"type": LINK_FORMAT}),
        "first prev memento": (uri_m(server, M1), {"datetime": R1}),
        "memento": (uri_m(server, M2), {"datetime": R2}),
        "last next memento": (uri_m(server, M3), {"datetime": R3}),
    }


def test_head_at_the_timegate_answers_the_same_headers_without_a_body(
    http: httpx.Client,
) -> None:
    asked = {"Accept-Datetime": "Fri, 02 Oct 2020 23:59:59 GMT"}
    got, head = (
        http.get(f"/timegate/{URL}", headers=asked),
        http.head(f"/timegate/{URL}", headers=asked),
    )
    assert head.status_code == 302
    assert head.content == b""
    for name in ("location", "vary", "link"):
        assert head.headers[name] == got.headers[name]


def test_without_accept_datetime_the_timegate_picks_the_last_memento(
    http: httpx.Client, server: str
) -> None:
    r = http.head(f"/timegate/{URL}")
    assert (r.status_code, r.headers["location"]) == (302, uri_m(server, M3))
    rels = links(r.headers["link"])
    assert rels["last memento"] == (uri_m(server, M3), {"datetime": R3})
    assert rels["prev memento"] == (uri_m(server, M2), {"datetime": R2})
    assert "next memento" not in " ".join(rels)


def test_the_exact_second_of_a_revision_selects_it(http: httpx.Client, server: str) -> None:
    r = http.head(f"/timegate/{URL}", headers={"Accept-Datetime": R1})
    assert r.headers["location"] == uri_m(server, M1)
    rels = links(r.headers["link"])
    assert rels["first memento"] == (uri_m(server, M1), {"datetime": R1})
    assert rels["next memento"] == (uri_m(server, M2), {"datetime": R2})
    assert "prev" not in " ".join(rels)


def test_before_the_first_revision_is_404_still_linking_original_and_timemap(
    http: httpx.Client, server: str
) -> None:
    for method in ("GET", "HEAD"):
        r = http.request(
            method, f"/timegate/{URL}", headers={"Accept-Datetime": "Wed, 30 Sep 2020 23:59:59 GMT"}
        )
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["vary"] == "accept-datetime"
        assert links(r.headers["link"]) == {
            "original": (URL, {}),
            "timemap": (f"{server}/timemap/link/{URL}", {"type": LINK_FORMAT}),
        }
    assert r.request.method == "HEAD" and r.content == b""


@pytest.mark.parametrize(
    "value",
    [
        "2020-10-02T10:00:00Z",
        "Fri, 02 Oct 2020 10:00:00 +0000",
        "Fri, 02 Oct 2020 10:00:00 EST",
        "Thu, 02 Oct 2020 10:00:00 GMT",
        "Fri, 31 Oct 2020 25:00:00 GMT",
        "yesterday",
    ],
)
def test_a_malformed_accept_datetime_is_400(http: httpx.Client, value: str) -> None:
    r = http.get(f"/timegate/{URL}", headers={"Accept-Datetime": value})
    assert r.status_code == 400
    problem = r.json()
    assert (problem["status"], problem["errors"][0]["header"]) == (400, "Accept-Datetime")
    assert "original" in links(r.headers["link"])


def test_an_unknown_uri_r_is_404_at_every_endpoint(http: httpx.Client) -> None:
    for path in (
        "/timegate/https://example.org/nothing",
        f"/memento/{M1}/https://example.org/nothing",
        "/timemap/link/https://example.org/nothing",
        "/timegate/https://example.org/report?id=8",
    ):
        for method in ("GET", "HEAD"):
            r = http.request(method, path)
            assert r.status_code == 404, (method, path)
            assert r.headers["content-type"] == "application/problem+json"


def test_the_first_memento_has_no_prev_and_names_itself_first(
    http: httpx.Client, server: str
) -> None:
    r = http.get(f"/memento/{M1}/{URL}")
    assert r.status_code == 200
    assert r.text == "one"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["memento-datetime"] == R1
    assert links(r.headers["link"]) == {
        "original": (URL, {}),
        "timegate": (f"{server}/timegate/{URL}", {}),
        "timemap": (f"{server}/timemap/link/{URL}", {"type": LINK_FORMAT}),
        "first memento": (uri_m(server, M1), {"datetime": R1}),
        "next memento": (uri_m(server, M2), {"datetime": R2}),
        "last memento": (uri_m(server, M3), {"datetime": R3}),
    }


def test_the_last_memento_has_no_next_and_names_itself_last(
    http: httpx.Client, server: str
) -> None:
    r = http.head(f"/memento/{M3}/{URL}")
    assert (r.status_code, r.content) == (200, b"")
    assert r.headers["memento-datetime"] == R3
    assert r.headers["content-length"] == str(len("three"))
    rels = links(r.headers["link"])
    assert rels["first memento"] == (uri_m(server, M1), {"datetime": R1})
    assert rels["prev memento"] == (uri_m(server, M2), {"datetime": R2})
    assert rels["last memento"] == (uri_m(server, M3), {"datetime": R3})
    assert not any("next" in rel for rel in rels)


def test_a_middle_memento_links_both_neighbours(http: httpx.Client, server: str) -> None:
    r = http.get(f"/memento/{M2}/{URL}")
    assert (r.status_code, r.text, r.headers["memento-datetime"]) == (200, "two", R2)
    rels = links(r.headers["link"])
    assert rels["first prev memento"] == (uri_m(server, M1), {"datetime": R1})
    assert rels["last next memento"] == (uri_m(server, M3), {"datetime": R3})


def test_a_memento_datetime_between_revisions_redirects_to_the_one_in_effect(
    http: httpx.Client, server: str
) -> None:
    r = http.get(f"/memento/20201002235959/{URL}")
    assert (r.status_code, r.headers["location"]) == (302, uri_m(server, M2))
    assert http.get(f"/memento/20200930000000/{URL}").status_code == 404
    assert http.get(f"/memento/2020/{URL}").status_code == 400


def test_a_client_following_the_timegate_lands_on_the_memento(server: str) -> None:
    with httpx.Client(follow_redirects=True, timeout=10.0) as client:
        r = client.get(f"{server}/timegate/{URL}", headers={"Accept-Datetime": R2})
    assert (r.status_code, r.text, r.headers["memento-datetime"]) == (200, "two", R2)
    assert [h.status_code for h in r.history] == [302]


def test_the_timemap_lists_every_memento_in_link_format(http: httpx.Client, server: str) -> None:
    r = http.get(f"/timemap/link/{URL}")
    assert r.status_code == 200
    assert r.headers["content-type"] == LINK_FORMAT
    body = r.text
    assert body.endswith("\n") and body.count(",\n") == 5
    assert links(body.rstrip("\n").replace(",\n", ", ")) == {
        "original": (URL, {}),
        "self": (f"{server}/timemap/link/{URL}", {"type": LINK_FORMAT, "from": R1, "until": R3}),
        "timegate": (f"{server}/timegate/{URL}", {}),
        "first memento": (uri_m(server, M1), {"datetime": R1}),
        "memento": (uri_m(server, M2), {"datetime": R2}),
        "last memento": (uri_m(server, M3), {"datetime": R3}),
    }
    assert http.head(f"/timemap/link/{URL}").headers["content-type"] == LINK_FORMAT


def test_a_document_without_url_is_its_own_original(http: httpx.Client, server: str) -> None:
    uri_r = f"{server}/v1/stories/{STORY}/documents/memo"
    original = http.get(f"/v1/stories/{STORY}/documents/memo")
    assert original.status_code == 200
    assert links(original.headers["link"]) == {
        "timegate": (f"{server}/timegate/{uri_r}", {}),
        "timemap": (f"{server}/timemap/link/{uri_r}", {"type": LINK_FORMAT}),
    }
    timemap = links(http.get(f"/timemap/link/{uri_r}").text.rstrip("\n").replace(",\n", ", "))
    when = "Mon, 05 Oct 2020 08:00:00 GMT"
    assert timemap["original"] == (uri_r, {})
    assert timemap["first last memento"] == (
        uri_m(server, "20201005080000", uri_r),
        {"datetime": when},
    )
    gate = http.head(f"/timegate/{uri_r}")
    assert gate.headers["location"] == uri_m(server, "20201005080000", uri_r)
    assert http.get(gate.headers["location"]).text == "memo text"


def test_the_memento_endpoints_are_in_the_openapi_document(http: httpx.Client) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    for path in ("/timegate/{uri_r}", "/memento/{datetime}/{uri_r}", "/timemap/link/{uri_r}"):
        assert {"get", "head"} <= set(paths[path]), path
