"""Errors as RFC 9457 problems (404, 405, 500), the request log, and the OpenAPI document."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from service.api import create_app
from service.application import Ledger
from service.cli import bundled_story_path
from service.importer import import_file
from service.logs import JsonFormatter
from service.settings import Settings
from tests.service.wire import EVENTS, bearer, leak

BUNDLED = "doj-zero-tolerance"


def test_no_route_is_a_404_problem(client: TestClient) -> None:
    r = client.get("/v2/nothing")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "no resource at /v2/nothing",
    }


def test_a_wrong_method_is_a_405_problem_listing_the_allowed_ones(client: TestClient) -> None:
    r = client.delete(EVENTS)
    assert r.status_code == 405
    assert r.headers["content-type"] == "application/problem+json"
    assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
    assert r.json()["status"] == 405


def test_an_unexpected_error_is_a_bare_500_and_is_logged(
    database: str, ledger: Ledger, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> Any:
        raise RuntimeError("secret internals at /srv/db")

    monkeypatch.setattr(ledger.reader, "stories", broken)
    caplog.set_level(logging.INFO, logger="knewwhen.access")
    with TestClient(create_app(Settings(database=database), ledger)) as client:
        r = client.get("/v1/stories")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json() == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "the server failed to answer; the error has been logged",
    }
    assert "secret" not in r.text and "Traceback" not in r.text
    (logged,) = [rec for rec in caplog.records if rec.name == "knewwhen.access"]
    assert logged.levelname == "ERROR"
    line = json.loads(JsonFormatter().format(logged))
    assert line["status"] == 500
    assert "secret internals" in line["exception"]


def test_each_request_is_logged_once_as_json_without_its_token(
    client: TestClient, tokens: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="knewwhen.access")
    client.post(EVENTS, json=leak(), headers=bearer(tokens["writer"]))
    client.get("/v1/stories")
    records = [rec for rec in caplog.records if rec.name == "knewwhen.access"]
    lines = [JsonFormatter().format(rec) for rec in records]
    assert all("\n" not in line for line in lines)
    parsed = [json.loads(line) for line in lines]
    assert [(p["method"], p["path"], p["status"], p["principal"]) for p in parsed] == [
        ("POST", EVENTS, 201, "newsroom"),
        ("GET", "/v1/stories", 200, None),
    ]
    assert all(isinstance(p["duration_ms"], float) and p["duration_ms"] >= 0 for p in parsed)
    assert all(tokens["writer"] not in line for line in lines)
    assert tokens["writer"] not in caplog.text


def test_the_openapi_document_describes_every_route(client: TestClient) -> None:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    document = r.json()
    assert document["openapi"] == "3.1.0"
    routes = [route for route in client.app.routes if isinstance(route, Route)]  # type: ignore[attr-defined]
    for route in routes:
        operations = document["paths"][re.sub(r":\w+}", "}", route.path)]
        assert {m.lower() for m in route.methods or ()} - {"head"} == set(operations) - {"head"}
    post = document["paths"]["/v1/stories/{story}/events"]["post"]
    assert set(post["responses"]) == {
        "200",
        "201",
        "400",
        "401",
        "403",
        "404",
        "409",
        "412",
        "413",
        "415",
        "422",
    }
    assert post["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    problem = post["responses"]["422"]["content"]["application/problem+json"]["schema"]
    assert problem == {"$ref": "#/components/schemas/Problem"}


def test_every_reference_in_the_openapi_document_resolves(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    refs = set(re.findall(r'"\$ref": ?"#/components/schemas/([^"]+)"', json.dumps(document)))
    assert refs
    assert refs <= set(document["components"]["schemas"])
    knowledge = document["components"]["schemas"]["Knowledge"]
    assert set(knowledge["required"]) >= {"story", "at", "claims", "documents", "events_applied"}


CACHED_READS = [
    ("/v1/stories/{story}/knowledge", "/knowledge", {"at": "2021-02-01"}),
    ("/v1/stories/{story}/claims/{claim}/history", "/claims/{claim}/history", {}),
    ("/v1/stories/{story}/changes", "/changes", {"from": "2018-01-01", "to": "2021-02-01"}),
    ("/v1/stories/{story}/timeline", "/timeline", {}),
    ("/v1/stories/{story}/provenance", "/provenance", {"at": "2021-02-01"}),
]


@pytest.mark.parametrize(("template", "path", "params"), CACHED_READS)
def test_the_openapi_document_declares_what_a_cached_answer_sends(
    client: TestClient, ledger: Ledger, template: str, path: str, params: dict[str, str]
) -> None:
    import_file(ledger, bundled_story_path(), "cli:test")
    declared = client.get("/openapi.json").json()["paths"][template]["get"]
    url = f"/v1/stories/{BUNDLED}" + path.format(claim="sessions-take-away-children")
    sent = client.get(url, params=params, headers={"Accept-Encoding": "gzip"})
    assert sent.status_code == 200 and sent.headers["content-encoding"] == "gzip"
    answered = {"etag", "cache-control", "vary", "content-encoding", "knewwhen-position"}
    assert answered <= set(sent.headers)
    assert answered <= {name.lower() for name in declared["responses"]["200"]["headers"]}
    again = client.get(url, params=params, headers={"If-None-Match": sent.headers["etag"]})
    assert again.status_code == 304 and "304" in declared["responses"]
    assert "If-None-Match" in {p["name"] for p in declared["parameters"]}
