"""End to end: a real ``knewwhen serve`` process on a free loopback port, driven over HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import fresh_postgres_database

KNEWWHEN = str(Path(sys.executable).parent / "knewwhen")
STORY = "doj-zero-tolerance"
READY_WITHIN_SECONDS = 30.0


@dataclass
class Server:
    """A running server, its database and the tokens created for it."""

    url: str
    database: str
    writer: str
    reader: str
    process: subprocess.Popen[bytes]
    log: Path

    def events(self, story: str = STORY) -> str:
        """The events URL of a story."""
        return f"{self.url}/v1/stories/{story}/events"


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cli(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the knewwhen command on ``database``."""
    return subprocess.run(
        [KNEWWHEN, *args],
        env={**os.environ, "KNEWWHEN_DATABASE": database},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def create_token(database: str, name: str, role: str) -> str:
    """``knewwhen token create``: the token is alone on stdout."""
    out = cli(database, "token", "create", name, "--role", role).stdout
    assert out.count("\n") == 1 and out.startswith("kw_"), out
    return out.strip()


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll /healthz until it answers 200, the process dies, or the deadline passes."""
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        try:
            process.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"knewwhen serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
    pytest.fail(f"knewwhen serve did not answer within {READY_WITHIN_SECONDS}s")


def start(database: str, log: Path, *extra: str) -> Iterator[Server]:
    """Start ``knewwhen serve`` (its log to ``log``), yield it when ready, stop it afterwards."""
    writer = create_token(database, "wire-desk", "writer")
    reader = create_token(database, "archive", "reader")
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [KNEWWHEN, "serve", "--host", "127.0.0.1", "--port", str(port), *extra],
            env={**os.environ, "KNEWWHEN_DATABASE": database},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process, log)
        yield Server(url, database, writer, reader, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def server(database: str, tmp_path: Path) -> Iterator[Server]:
    """One server process over a fresh database."""
    yield from start(database, tmp_path / "server.log")


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


def event(
    event_id: str, type_: str, source: str, published_at: str, *claims: Any
) -> dict[str, Any]:
    """A reporting event as JSON."""
    return {
        "id": event_id,
        "type": type_,
        "source": source,
        "published_at": published_at,
        "claims": list(claims),
    }


LEAK = event(
    "nyt-leak",
    "story_published",
    "nyt",
    "2020-10-06T22:00:00Z",
    {"id": "c1", "stance": "asserts", "text": "Officials pushed the policy"},
)
CONFIRMATION = event(
    "nbc-confirms",
    "report_confirmed",
    "nbc",
    "2020-10-07T15:00:00Z",
    {"id": "c1", "stance": "confirms"},
)


def test_retries_are_idempotent_and_a_changed_body_conflicts(server: Server) -> None:
    with httpx.Client(headers=bearer(server.writer)) as client:
        first = client.post(server.events(), json=LEAK)
        assert first.status_code == 201
        assert first.headers["location"] == f"/v1/stories/{STORY}/events/nyt-leak"
        retries = [client.post(server.events(), json=LEAK) for _ in range(3)]
        assert [r.status_code for r in retries] == [200, 200, 200]
        assert all(r.json() == first.json() for r in retries)
        conflict = client.post(server.events(), json={**LEAK, "note": "rewritten"})
        assert conflict.status_code == 409
        assert conflict.headers["content-type"] == "application/problem+json"
        listed = client.get(server.events()).json()["events"]
        assert [e["event"]["id"] for e in listed] == ["nyt-leak"]


def race(server: Server, version: str, round_: int) -> list[int | str]:
    """Two writers post different events with the same If-Match at the same moment."""
    barrier = threading.Barrier(2)
    statuses: list[int | str] = []

    def write(writer: int) -> None:
        body = event(f"r{round_}-w{writer}", "story_published", "nbc", "2020-10-07T00:00:00Z")
        headers = {**bearer(server.writer), "If-Match": version}
        with httpx.Client(headers=headers, timeout=30) as client:
            barrier.wait(timeout=10)
            try:
                statuses.append(client.post(server.events(), json=body).status_code)
            except httpx.HTTPError as e:
                statuses.append(repr(e))

    threads = [threading.Thread(target=write, args=(w,)) for w in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return statuses


def test_two_writers_racing_on_one_version_never_both_win(server: Server) -> None:
    with httpx.Client(headers=bearer(server.writer)) as client:
        assert client.post(server.events(), json=LEAK).status_code == 201
    for round_ in range(5):
        version = httpx.get(f"{server.url}/v1/stories/{STORY}").headers["etag"]
        statuses = race(server, version, round_)
        assert sorted(map(str, statuses)) == ["201", "412"], (
            round_,
            statuses,
            server.log.read_text()[-3000:],
        )
    summary = httpx.get(f"{server.url}/v1/stories/{STORY}").json()
    assert summary["story_version"] == 6


def test_a_body_over_the_limit_is_413_and_stores_nothing(server: Server) -> None:
    big = {**LEAK, "note": "x" * (1 << 20)}
    with httpx.Client(headers=bearer(server.writer)) as client:
        r = client.post(server.events(), json=big)
        assert r.status_code == 413
        assert r.json()["type"] == "urn:knewwhen:problem:body-too-large"

        def chunks() -> Iterator[bytes]:
            yield b'{"id": "streamed", "note": "'
            for _ in range(40):
                yield b"y" * 65536
            yield b'"}'

        streamed = client.post(
            server.events(), content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
    assert httpx.get(f"{server.url}/v1/stories").json() == {"stories": []}


def test_tokens_decide_who_writes_and_recorded_by_is_the_token_name(server: Server) -> None:
    anonymous = httpx.post(server.events(), json=LEAK)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert httpx.post(server.events(), json=LEAK, headers=bearer("kw_forged")).status_code == 401
    assert httpx.post(server.events(), json=LEAK, headers=bearer(server.reader)).status_code == 403
    claimed = httpx.post(
        server.events(), json={**LEAK, "recorded_by": "someone-else"}, headers=bearer(server.writer)
    )
    assert claimed.status_code == 422
    assert claimed.json()["errors"][0]["pointer"] == "/recorded_by"
    receipt = httpx.post(server.events(), json=LEAK, headers=bearer(server.writer)).json()
    assert receipt["recorded_by"] == "wire-desk"
    stored = httpx.get(f"{server.events()}/nyt-leak").json()
    assert stored["recorded_by"] == "wire-desk"
    cli(server.database, "token", "revoke", "wire-desk")
    revoked = httpx.post(server.events(), json=CONFIRMATION, headers=bearer(server.writer))
    assert revoked.status_code == 401


def test_knowledge_sees_a_late_recorded_event_unless_asked_as_recorded_before(
    server: Server,
) -> None:
    knowledge = f"{server.url}/v1/stories/{STORY}/knowledge"
    with httpx.Client(headers=bearer(server.writer)) as client:
        assert client.post(server.events(), json=LEAK).status_code == 201
        before = client.get(knowledge, params={"at": "2020-10-08"}).json()
        assert before["claims"][0]["status"] == "reported"
        late = client.post(server.events(), json=CONFIRMATION).json()
        wait = client.get(knowledge, params={"at": "2020-10-08", "min_position": late["position"]})
        assert wait.status_code == 200
        assert int(wait.headers["knewwhen-position"]) >= late["position"]
        now = wait.json()
        assert now["claims"][0]["status"] == "corroborated"
        assert now["claims"][0]["supported_by"] == ["nbc", "nyt"]
        as_recorded = client.get(
            knowledge, params={"at": "2020-10-08", "recorded_before": late["recorded_at"]}
        ).json()
        assert as_recorded["claims"][0]["supported_by"] == ["nyt"]
        assert as_recorded["events_applied"] == 1
    cli_answer = cli(server.database, "knowledge", STORY, "--at", "2020-10-08", "--json").stdout
    assert httpx.get(knowledge, params={"at": "2020-10-08"}).json() == json.loads(cli_answer)


def logged_requests(log: Path, path: str, count: int) -> list[dict[str, Any]]:
    """The access log's lines for ``path``, once there are ``count`` (polled, bounded)."""
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    while True:
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        found = [line for line in lines if line.get("path") == path]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_a_repeated_read_gets_the_same_answer_and_is_logged_each_time(server: Server) -> None:
    path = f"/v1/stories/{STORY}/knowledge"
    receipt = httpx.post(server.events(), json=LEAK, headers=bearer(server.writer)).json()
    params = {"at": "2020-10-08", "recorded_before": receipt["recorded_at"]}
    with httpx.Client() as client:  # one connection, no token: the second GET skips routing
        first, second = (client.get(f"{server.url}{path}", params=params) for _ in range(2))
    assert (second.status_code, second.content) == (200, first.content)
    assert dict(second.headers) | {"date": ""} == dict(first.headers) | {"date": ""}
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    logged = logged_requests(server.log, path, 2)
    assert [(line["method"], line["status"], line["principal"]) for line in logged] == [
        ("GET", 200, None),
        ("GET", 200, None),
    ]


def test_the_log_and_provenance_are_served_and_verify_agrees(server: Server) -> None:
    with httpx.Client(headers=bearer(server.writer)) as client:
        receipt = client.post(server.events(), json=LEAK).json()
        head = client.get(f"{server.url}/v1/log", params={"min_position": receipt["position"]})
        assert head.status_code == 200
        assert head.json()["tree_size"] == 1
        entry = client.get(f"{server.url}/v1/log/entries/0").json()
        leaf_hash = hashlib.sha256(b"\x00" + entry["leaf"].encode()).hexdigest()
        assert leaf_hash == entry["leaf_hash"] == head.json()["root_hash"]
        prov_n = client.get(
            f"{server.url}/v1/stories/{STORY}/claims/c1/provenance",
            headers={"Accept": "text/provenance-notation"},
        )
        assert prov_n.status_code == 200
        assert prov_n.text.startswith("document\n")
        assert "activity(st:event/nyt-leak" in prov_n.text
    verified = cli(server.database, "verify").stdout.splitlines()
    assert verified[0] == "stored events: 2, of which 1 reporting events; 1 match their digests"
    assert verified[-1] == "OK: the log and the projections verify"
    admin = create_token(server.database, "auditor", "admin")
    # The server verifies in a child process (decision 021) and answers the same checks.
    over_http = httpx.get(f"{server.url}/v1/log/verify", headers=bearer(admin), timeout=60)
    assert over_http.status_code == 200, server.log.read_text()[-3000:]
    assert over_http.json()["checked"] == verified


def test_concurrent_writers_to_many_stories_are_all_stored_and_verify(server: Server) -> None:
    """Twelve connections post at once (two to each of six stories), so appends queue on the
    write lock and share transactions (decision 017): every event lands once, in each
    writer's order, and the log and projections verify."""
    stories = [f"story-{n}" for n in range(6)]
    barrier = threading.Barrier(12)
    failures: list[str] = []

    def write(writer: int) -> None:
        story = stories[writer % 6]
        with httpx.Client(headers=bearer(server.writer), timeout=30) as client:
            barrier.wait(timeout=10)
            for n in range(10):
                body = event(
                    f"w{writer}-{n}", "story_published", "nyt", f"2020-10-{n + 1:02}T00:00:00Z"
                )
                answer = client.post(server.events(story), json=body)
                if answer.status_code != 201:
                    failures.append(f"{writer}/{n}: {answer.status_code} {answer.text}")

    threads = [threading.Thread(target=write, args=(w,)) for w in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert failures == [], server.log.read_text()[-3000:]
    for index, story in enumerate(stories):
        listed = httpx.get(server.events(story), params={"limit": 100}).json()["events"]
        ids = [e["event"]["id"] for e in listed]
        assert [e["story_version"] for e in listed] == list(range(1, 21))
        for writer in (index, index + 6):
            assert [i for i in ids if i.startswith(f"w{writer}-")] == [
                f"w{writer}-{n}" for n in range(10)
            ]
    verified = cli(server.database, "verify").stdout.splitlines()
    assert (
        verified[0] == "stored events: 126, of which 120 reporting events; 120 match their digests"
    )
    assert verified[-1] == "OK: the log and the projections verify"


@pytest.fixture
def workers(postgres_server: str, tmp_path: Path) -> Iterator[Server]:
    """Two worker processes over one PostgreSQL database (PostgreSQL only: no SQLite variant)."""
    databases = fresh_postgres_database(postgres_server)
    try:
        yield from start(next(databases), tmp_path / "server.log", "--workers", "2")
    finally:
        databases.close()


def test_several_workers_serve_one_database(workers: Server) -> None:
    for i in range(12):
        with httpx.Client(headers=bearer(workers.writer)) as client:  # a new connection each time
            body = event(f"w{i}", "story_published", "nyt", "2020-10-06T00:00:00Z")
            r = client.post(workers.events(), json=body, headers={"If-Match": f'"{i}"'})
            assert r.status_code == 201, (i, r.text, workers.log.read_text()[-3000:])
            seen = httpx.get(f"{workers.url}/v1/stories/{STORY}").json()["story_version"]
            assert seen == i + 1
    for round_ in range(5):
        version = httpx.get(f"{workers.url}/v1/stories/{STORY}").headers["etag"]
        outcome = race(workers, version, round_)
        assert sorted(map(str, outcome)) == ["201", "412"], (
            round_,
            outcome,
            workers.log.read_text()[-3000:],
        )
    assert httpx.get(f"{workers.url}/v1/stories/{STORY}").json()["story_version"] == 17
