"""Query parameters a route does not take, or takes once, are refused rather than ignored."""

from __future__ import annotations

import msgspec
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from service import openapi
from service.known_query import checked, query_parameters
from tests.service.wire import EVENTS, STORY, bearer, leak

KNOWLEDGE = f"/v1/stories/{STORY}/knowledge"


@pytest.fixture
def recorded(client: TestClient, tokens: dict[str, str]) -> None:
    r = client.post(EVENTS, json=leak(), headers=bearer(tokens["writer"]))
    assert r.status_code == 201, r.text


def refused(client: TestClient, path: str, parameter: str, **kw: object) -> str:
    """The detail of the 400 ``path`` gets, which must name ``parameter``."""
    r = client.get(path, **kw)  # type: ignore[arg-type]
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"] == "urn:knewwhen:problem:invalid-parameter"
    assert problem["errors"] == [{"detail": problem["detail"], "parameter": parameter}]
    return str(problem["detail"])


def test_a_misspelt_parameter_is_refused_not_ignored(client: TestClient, recorded: None) -> None:
    asked = f"{KNOWLEDGE}?at=2020-10-07&recorded_befor=2020-10-01"
    assert refused(client, asked, "recorded_befor") == (
        "unknown query parameter 'recorded_befor':"
        " this endpoint takes at, recorded_before, min_position"
    )
    spelt = client.get(f"{KNOWLEDGE}?at=2020-10-07&recorded_before=2020-10-01")
    assert spelt.status_code == 200
    assert spelt.json()["claims"] == []


def test_a_parameter_given_twice_is_refused(client: TestClient, recorded: None) -> None:
    detail = refused(client, f"{KNOWLEDGE}?at=2020-10-07&at=2020-10-08", "at")
    assert detail == "at is given more than once; give it once"


def test_a_route_without_parameters_says_so(client: TestClient) -> None:
    assert refused(client, "/healthz?verbose=1", "verbose") == (
        "unknown query parameter 'verbose': this endpoint takes no query parameters"
    )


def test_a_refused_write_stores_nothing(
    client: TestClient, tokens: dict[str, str], recorded: None
) -> None:
    r = client.post(
        f"{EVENTS}?expected_versoin=1",
        json=leak() | {"id": "other"},
        headers=bearer(tokens["writer"]),
    )
    assert r.status_code == 400
    assert r.json()["errors"][0]["parameter"] == "expected_versoin"
    assert client.get(f"/v1/stories/{STORY}").json()["story_version"] == 1


def test_each_method_takes_its_own_parameters(
    client: TestClient, tokens: dict[str, str], recorded: None
) -> None:
    assert client.get(f"{EVENTS}?after=0&limit=5").status_code == 200
    assert client.head(f"{KNOWLEDGE}?at=2020-10-07").status_code == 200
    refused(client, f"{EVENTS}?expected_version=1", "expected_version")
    r = client.post(f"{EVENTS}?limit=5", json=leak(), headers=bearer(tokens["writer"]))
    assert r.status_code == 400
    assert r.json()["errors"][0]["parameter"] == "limit"


def test_a_memento_route_keeps_its_query_for_the_uri(client: TestClient, recorded: None) -> None:
    r = client.get("/timemap/link/https://example.org/report?id=7", follow_redirects=False)
    assert r.status_code == 404
    assert "https://example.org/report?id=7" in r.json()["detail"]


def test_the_parameters_are_the_openapi_document_s() -> None:
    found = query_parameters(msgspec.json.decode(openapi.encoded()))
    assert found["/v1/stories/{story}/knowledge"]["GET"] == (
        "at",
        "recorded_before",
        "min_position",
    )
    assert found["/v1/stories/{story}/events"] == {
        "GET": ("after", "limit", "min_position"),
        "POST": ("expected_version",),
    }
    assert found["/v1/log/proof/inclusion"]["GET"] == ("index", "tree_size", "min_position")
    assert found["/healthz"]["GET"] == ()


def test_a_route_the_document_does_not_describe_is_refused_at_start() -> None:
    async def nothing(request: Request) -> Response:
        return Response()

    with pytest.raises(LookupError, match="does not describe the route /v1/elsewhere"):
        checked(Route("/v1/elsewhere", nothing), {"/healthz": {"GET": ()}})
