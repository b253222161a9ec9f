"""Fixtures for the API tests: a ledger on each backend, tokens of each role, a TestClient."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from service import importer, routes_read
from service.api import create_app
from service.application import Ledger
from service.import_lines import ImportReport
from service.params import query_moment
from service.settings import Settings
from service.tokens import create_token


class SteppingClock:
    """A clock for ``recorded_at`` that the test moves; each reading advances it by a second."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def jump_to(self, moment: datetime) -> None:
        """Make the next recordings happen from ``moment`` on."""
        self.now = moment


@pytest.fixture
def clock() -> SteppingClock:
    """Recording starts on 2026-01-01 UTC."""
    return SteppingClock(datetime(2026, 1, 1, tzinfo=UTC))


@pytest.fixture
def ledger(database: str, clock: SteppingClock) -> Iterator[Ledger]:
    """A ledger on a fresh database of each backend."""
    opened = Ledger(database, clock=clock)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def tokens(ledger: Ledger) -> dict[str, str]:
    """One token per role, named after the role's holder."""
    return {
        "writer": create_token(ledger, "newsroom", "writer"),
        "reader": create_token(ledger, "archive", "reader"),
        "admin": create_token(ledger, "editor", "admin"),
    }


@pytest.fixture
def settings(database: str) -> Settings:
    """Settings with a short min_position wait, so a 503 comes quickly."""
    return Settings(database=database, min_position_wait_seconds=0.3)


@pytest.fixture
def client(settings: Settings, ledger: Ledger, tokens: dict[str, str]) -> Iterator[TestClient]:
    """A TestClient (lifespan run) over the app on ``ledger``."""
    with TestClient(create_app(settings, ledger)) as test_client:
        yield test_client


BetweenCheckAndWrite = Callable[[Callable[[Ledger, Path], object]], None]


@pytest.fixture
def between_check_and_write(monkeypatch: pytest.MonkeyPatch) -> BetweenCheckAndWrite:
    """Arrange for ``knewwhen import`` to run an action (given the ledger and the file) after
    its check and before it writes, one line a transaction."""

    def arrange(action: Callable[[Ledger, Path], object]) -> None:
        check = importer.validate

        def check_then_act(ledger: Ledger, path: Path, progress: bool) -> ImportReport:
            report = check(ledger, path, progress)
            action(ledger, path)
            return report

        monkeypatch.setattr(importer, "validate", check_then_act)
        monkeypatch.setattr(importer, "BATCH_LINES", 1)

    return arrange


class Parses:
    """Counts the time parameters the routes parse: a request that reaches a route parses ``at``."""

    def __init__(self, parse: Callable[..., datetime | None]) -> None:
        self.parse = parse
        self.calls = 0

    def __call__(self, *args: Any) -> datetime | None:
        self.calls += 1
        return self.parse(*args)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Parses:
    """The routes' ``query_moment``, counted."""
    counted = Parses(query_moment)
    monkeypatch.setattr(routes_read, "query_moment", counted)
    return counted
