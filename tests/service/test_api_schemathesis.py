"""schemathesis against /openapi.json: no 5xx, and every response matches the document."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service import openapi
from service.api import create_app
from service.application import Ledger
from service.cli import bundled_story_path
from service.importer import import_file
from service.settings import Settings
from service.tokens import create_token


@schemathesis.check
def only_the_documented_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx, except the documented 503 for a ``min_position`` the ledger has not reached."""
    if response.status_code == 503:
        body = response.json() if case.method.upper() != "HEAD" else None
        wanted = int((case.query or {}).get("min_position", -1))
        position = int(response.headers["knewwhen-position"][0])
        assert body is None or body["type"] == "urn:knewwhen:problem:position-not-reached", body
        assert wanted > position, (wanted, position)
        assert response.headers["retry-after"] == ["1"]
        return True
    return not_a_server_error(ctx, response, case)


CHECKS = [
    only_the_documented_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
OPERATIONS = [
    (path, method)
    for path, item in openapi.document()["paths"].items()
    for method in item
    if path != "/openapi.json"
]
EXAMPLES_PER_OPERATION = 30


@pytest.fixture
def ledger(database: str) -> Iterator[Ledger]:
    """A ledger holding the bundled story, so generated reads also find things."""
    opened = Ledger(database)
    import_file(opened, bundled_story_path(), "cli:test")
    try:
        yield opened
    finally:
        asgi.shutdown_lifespans()
        opened.close()


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_the_api_keeps_its_document(database: str, ledger: Ledger, path: str, method: str) -> None:
    token = create_token(ledger, "fuzzer", "writer")
    app = create_app(Settings(database=database, min_position_wait_seconds=0.05), ledger)
    operation = schemathesis.openapi.from_asgi("/openapi.json", app)[path][method]
    cases = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
        GenerationMode.NEGATIVE
    )

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def exercise(case: Any) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    exercise()
